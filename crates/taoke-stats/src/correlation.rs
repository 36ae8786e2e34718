//! Correlation helpers: centred Pearson, Spearman (average ranks for ties) and the t-test of a
//! correlation coefficient, in log space.
//!
//! Always centred: raw cosine between two norm-gain vectors is ≈ 0.99 even for unrelated
//! models (the Solar/GLM case); the centred Pearson correlation is what carries evidence.

use crate::special::t_ln_sf;
use crate::{Alternative, Result, StatsError};

fn check_pair(what: &'static str, x: &[f64], y: &[f64], min: usize) -> Result<()> {
    if x.len() != y.len() {
        return Err(StatsError::ShapeMismatch {
            what,
            a_rows: x.len(),
            a_cols: 1,
            b_rows: y.len(),
            b_cols: 1,
        });
    }
    if x.len() < min {
        return Err(StatsError::TooSmall {
            what,
            needed: min,
            got: x.len(),
            unit: "observations",
        });
    }
    if let Some(index) = x.iter().chain(y).position(|v| !v.is_finite()) {
        return Err(StatsError::NonFinite { what, index });
    }
    Ok(())
}

/// Pearson correlation `Σ(x−x̄)(y−ȳ) / √(Σ(x−x̄)² Σ(y−ȳ)²)`, two-pass in `f64`.
/// Returns 0 when either input is constant (no evidence either way). Needs `n ≥ 2`.
pub fn pearson(x: &[f64], y: &[f64]) -> Result<f64> {
    check_pair("pearson correlation", x, y, 2)?;
    let n = x.len() as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx == 0.0 || syy == 0.0 {
        return Ok(0.0);
    }
    Ok((sxy / (sxx.sqrt() * syy.sqrt())).clamp(-1.0, 1.0))
}

/// Ranks `1..=n` with ties given their average rank (as in `scipy.stats.rankdata`).
/// NaN compares as the largest value; callers reject non-finite input first.
pub fn average_ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut ranks = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && x[idx[j + 1]] == x[idx[i]] {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            ranks[k] = r;
        }
        i = j + 1;
    }
    ranks
}

/// Spearman rank correlation: Pearson correlation of the average ranks. Needs `n ≥ 2`.
pub fn spearman(x: &[f64], y: &[f64]) -> Result<f64> {
    check_pair("spearman correlation", x, y, 2)?;
    pearson(&average_ranks(x), &average_ranks(y))
}

/// A correlation coefficient with its t statistic and `ln p`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CorrelationTest {
    /// The coefficient `r`.
    pub r: f64,
    /// Number of pairs `n`.
    pub n: usize,
    /// `t = r √((n−2)/(1−r²))` (`±inf` at `|r| = 1`).
    pub t: f64,
    /// Natural log of the p-value (t distribution, `n − 2` degrees of freedom).
    pub ln_p: f64,
}

/// `ln p` of a correlation coefficient `r` over `n ≥ 3` pairs under H0 "no correlation":
/// `t = r √((n−2)/(1−r²))` against Student's t with `n − 2` degrees of freedom. This is exact
/// for Pearson on bivariate-normal data and the standard (scipy) approximation for Spearman.
/// `|r| = 1` gives `ln p = -inf`; callers with a discrete null floor it (see
/// [`crate::matching`]).
pub fn correlation_test(r: f64, n: usize, alternative: Alternative) -> Result<CorrelationTest> {
    if n < 3 {
        return Err(StatsError::TooSmall {
            what: "correlation t-test",
            needed: 3,
            got: n,
            unit: "pairs",
        });
    }
    if !r.is_finite() || r.abs() > 1.0 + 1e-12 {
        return Err(StatsError::InvalidArgument {
            what: "correlation t-test",
            message: format!("coefficient {r} is not in [-1, 1]"),
        });
    }
    let r = r.clamp(-1.0, 1.0);
    let dof = (n - 2) as f64;
    let denom = (1.0 - r) * (1.0 + r);
    let t = if denom <= 0.0 {
        f64::INFINITY.copysign(r)
    } else {
        r * (dof / denom).sqrt()
    };
    let ln_p = match alternative {
        Alternative::Greater => t_ln_sf(t, dof),
        Alternative::TwoSided => {
            // 2 P(T > |t|), capped at 1.
            let l = std::f64::consts::LN_2 + t_ln_sf(t.abs(), dof);
            l.min(0.0)
        }
    };
    Ok(CorrelationTest { r, n, t, ln_p })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_with_ties() {
        assert_eq!(
            average_ranks(&[10.0, 20.0, 10.0, 5.0]),
            vec![2.5, 4.0, 2.5, 1.0]
        );
    }

    #[test]
    fn pearson_is_centred() {
        // Two vectors with raw cosine ≈ 1 but no centred correlation pattern.
        let x = [1.0, 1.01, 0.99, 1.0, 1.02];
        let y = [1.0, 0.99, 1.01, 1.0, 0.98];
        let r = pearson(&x, &y).unwrap();
        assert!(r < -0.99, "{r}");
        assert_eq!(pearson(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).unwrap(), 0.0);
        assert!(pearson(&[1.0], &[1.0]).is_err());
        assert!(pearson(&[1.0, f64::NAN], &[1.0, 2.0]).is_err());
    }

    #[test]
    fn perfect_correlation_is_minus_infinity() {
        let c = correlation_test(1.0, 10, Alternative::Greater).unwrap();
        assert_eq!(c.ln_p, f64::NEG_INFINITY);
        let c = correlation_test(0.0, 10, Alternative::TwoSided).unwrap();
        assert!(c.ln_p.abs() < 1e-12);
    }
}
