//! Combining p-values, all in natural-log space.
//!
//! - [`fisher`]: `X = −2 Σ ln p_i ~ χ²(2k)` under H0 when the `k` p-values are independent and
//!   uniform (Zhu et al. combine the per-block φ_U p-values this way; blocks are independent
//!   under their H0, Theorem 3). Closed form for even degrees of freedom, log-sum-exp.
//! - [`stouffer`]: `Z = Σ w_i z_i / √Σ w_i²` with `z_i = Φ̄⁻¹(p_i)`; same independence
//!   assumption, less dominated by a single tiny p-value than Fisher.
//! - [`holm`]: Holm–Bonferroni step-down adjustment, valid under **any** dependence; controls
//!   the family-wise error rate. Use it across tests that share data (e.g. φ_U and AWM on the
//!   same pair).

use crate::special::{chi2_even_ln_sf, norm_ln_isf, norm_ln_sf};
use crate::{Result, StatsError};

fn check_ln_ps(what: &'static str, ln_ps: &[f64]) -> Result<()> {
    if ln_ps.is_empty() {
        return Err(StatsError::TooSmall {
            what,
            needed: 1,
            got: 0,
            unit: "p-values",
        });
    }
    if let Some(index) = ln_ps.iter().position(|v| v.is_nan() || *v > 1e-12) {
        return Err(StatsError::InvalidArgument {
            what,
            message: format!("ln p at index {index} is {} (must be <= 0)", ln_ps[index]),
        });
    }
    Ok(())
}

/// Fisher's method: returns `(X, ln p)` with `X = −2 Σ ln p_i` and `ln p = ln P(χ²(2k) > X)`.
/// A `-inf` input gives `X = inf` and `ln p = -inf`.
pub fn fisher(ln_ps: &[f64]) -> Result<(f64, f64)> {
    check_ln_ps("fisher combination", ln_ps)?;
    let x = -2.0 * ln_ps.iter().map(|v| v.min(0.0)).sum::<f64>();
    if x == f64::INFINITY {
        return Ok((x, f64::NEG_INFINITY));
    }
    Ok((x, chi2_even_ln_sf(x, ln_ps.len())))
}

/// Stouffer's weighted Z method: returns `(Z, ln p)`; `weights = None` means equal weights.
/// One-sided p-values in, one-sided combined p-value out.
pub fn stouffer(ln_ps: &[f64], weights: Option<&[f64]>) -> Result<(f64, f64)> {
    check_ln_ps("stouffer combination", ln_ps)?;
    let w: Vec<f64> = match weights {
        Some(w) if w.len() == ln_ps.len() => w.to_vec(),
        Some(w) => {
            return Err(StatsError::ShapeMismatch {
                what: "stouffer weights",
                a_rows: ln_ps.len(),
                a_cols: 1,
                b_rows: w.len(),
                b_cols: 1,
            })
        }
        None => vec![1.0; ln_ps.len()],
    };
    let norm = w.iter().map(|v| v * v).sum::<f64>().sqrt();
    if (norm.is_nan() || norm <= 0.0) || w.iter().any(|v| !v.is_finite()) {
        return Err(StatsError::InvalidArgument {
            what: "stouffer weights",
            message: "weights must be finite and not all zero".into(),
        });
    }
    let z = ln_ps
        .iter()
        .zip(&w)
        .map(|(l, wi)| wi * norm_ln_isf(l.min(0.0)))
        .sum::<f64>()
        / norm;
    Ok((z, norm_ln_sf(z)))
}

/// Holm–Bonferroni adjusted `ln p` values, in the input order:
/// sort ascending, `adj_(i) = max_{j ≤ i} min(1, (m − j + 1) p_(j))` (1-based `j`).
/// Reject H0_i at family-wise level `α` iff `adj_i ≤ α`.
pub fn holm(ln_ps: &[f64]) -> Result<Vec<f64>> {
    check_ln_ps("holm adjustment", ln_ps)?;
    let m = ln_ps.len();
    let mut idx: Vec<usize> = (0..m).collect();
    idx.sort_by(|&a, &b| ln_ps[a].total_cmp(&ln_ps[b]));
    let mut out = vec![0.0; m];
    let mut running = f64::NEG_INFINITY;
    for (j, &k) in idx.iter().enumerate() {
        let adj = (((m - j) as f64).ln() + ln_ps[k]).min(0.0);
        running = running.max(adj);
        out[k] = running;
    }
    Ok(out)
}

/// Which hypotheses Holm rejects at family-wise level `alpha` (`0 < alpha < 1`).
pub fn holm_reject(ln_ps: &[f64], alpha: f64) -> Result<Vec<bool>> {
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(StatsError::InvalidArgument {
            what: "holm level",
            message: format!("alpha {alpha} is not in (0, 1)"),
        });
    }
    let ln_a = alpha.ln();
    Ok(holm(ln_ps)?.into_iter().map(|l| l <= ln_a).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fisher_single_p_is_identity() {
        // k = 1: P(χ²(2) > −2 ln p) = p.
        let (_, l) = fisher(&[(0.03f64).ln()]).unwrap();
        assert!((l - (0.03f64).ln()).abs() < 1e-14);
    }

    #[test]
    fn fisher_of_tiny_values_stays_finite() {
        let (x, l) = fisher(&[-800.0, -900.0, -0.5]).unwrap();
        assert_eq!(x, 3401.0);
        assert!(l.is_finite() && l < -1600.0, "{l}");
        assert_eq!(
            fisher(&[f64::NEG_INFINITY, -1.0]).unwrap().1,
            f64::NEG_INFINITY
        );
        assert!(fisher(&[]).is_err());
        assert!(fisher(&[0.5]).is_err());
    }

    #[test]
    fn holm_example() {
        let ps = [0.01f64, 0.04, 0.03, 0.005];
        let ln: Vec<f64> = ps.iter().map(|p| p.ln()).collect();
        let adj: Vec<f64> = holm(&ln).unwrap().iter().map(|l| l.exp()).collect();
        // sorted: .005*4=.02, .01*3=.03, .03*2=.06, .04*1=.04→max .06
        let want = [0.03, 0.06, 0.06, 0.02];
        for (a, w) in adj.iter().zip(want) {
            assert!((a - w).abs() < 1e-12, "{adj:?}");
        }
        assert_eq!(
            holm_reject(&ln, 0.05).unwrap(),
            vec![true, false, false, true]
        );
    }

    #[test]
    fn stouffer_basic() {
        let (z, l) = stouffer(&[(0.5f64).ln(), (0.5f64).ln()], None).unwrap();
        assert!(z.abs() < 1e-9 && (l - (0.5f64).ln()).abs() < 1e-9);
        let (z, l) = stouffer(&[-1000.0, -1000.0], None).unwrap();
        assert!(z > 60.0 && l < -1900.0, "{z} {l}");
    }
}
