//! Combining p-values in natural-log space.
//!
//! [`fisher`]: `X = −2 Σ ln p_i ~ χ²(2k)` under H0 when the `k` p-values are independent and
//! uniform (Zhu et al. combine the per-block φ_U p-values this way; blocks are independent
//! under their H0, Theorem 3). Closed form for even degrees of freedom, log-sum-exp.

use crate::special::chi2_even_ln_sf;
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
}
