//! Centred Pearson correlation.
//!
//! Always centred: raw cosine between two norm-gain vectors is ≈ 0.99 even for unrelated
//! models (the Solar/GLM case); the centred Pearson correlation is what carries evidence.

use crate::{Result, StatsError};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
