//! Delta analysis of two aligned weight matrices `A` (candidate) and `B` (reference):
//! how big the change is, how low-rank, and whether it looks like noise.
//!
//! - [`relative_norm`]: `‖A − B‖_F / ‖B‖_F`.
//! - [`effective_rank`] (Roy & Vetterli 2007): `exp(H(p))` with `p_k = σ_k / Σσ`; equals the
//!   rank for a flat spectrum, ≈ 1 for a rank-1-dominated one. A LoRA-merged fine-tune has a
//!   delta of effective rank ≈ the LoRA rank; i.i.d. noise has one close to `min(m, n)`.
//! - [`energy_fraction`]: share of `‖Δ‖_F² = Σσ²` in the top `r` singular values.
//! - [`Moments`], [`jarque_bera`], [`dagostino_k2`]: Gaussianity of the delta's entries.
//!   H0 of both tests: the entries are i.i.d. normal. With millions of entries they reject
//!   any visible departure, so read them with the effect sizes (skewness, excess kurtosis):
//!   fine-tuning deltas are heavy-tailed (excess kurtosis ≫ 0), noise-washing deltas are not.
//! - [`isotropy`]: the largest singular values of the delta against the Marchenko–Pastur bulk
//!   edge `σ̂ (√m + √n)` of an i.i.d. matrix with the same entry RMS `σ̂`. Pure noise has
//!   `edge_ratio ≈ 1` and no energy above the edge; a structured (fine-tuning) delta has
//!   spikes far above it.
//!
//! Caveat for half-precision checkpoints: a noise of 1/700 of the weight scale is below the
//! bf16 resolution (2⁻⁸ relative), so after rounding the delta is dominated by quantization
//! (many exact zeros, values on the ulp grid) and is not Gaussian. Analyse such deltas in
//! units of the local ulp, or on the rounding pattern, rather than with these tests alone.

use crate::spectral::{singular_values, top_singular_values, RsvdOptions};
use crate::{Matrix, MatrixRef, Result, StatsError};

fn check_same_shape(what: &'static str, a: MatrixRef<'_>, b: MatrixRef<'_>) -> Result<()> {
    if a.rows() != b.rows() || a.cols() != b.cols() {
        return Err(StatsError::ShapeMismatch {
            what,
            a_rows: a.rows(),
            a_cols: a.cols(),
            b_rows: b.rows(),
            b_cols: b.cols(),
        });
    }
    Ok(())
}

/// `A − B`, element-wise (same shapes).
pub fn difference(a: MatrixRef<'_>, b: MatrixRef<'_>) -> Result<Matrix> {
    check_same_shape("delta", a, b)?;
    let data = a.data().iter().zip(b.data()).map(|(x, y)| x - y).collect();
    Matrix::new(a.rows(), a.cols(), data)
}

/// `‖A − B‖_F / ‖B‖_F` in `f64`; 0 when both are zero, `inf` when only `B` is.
pub fn relative_norm(a: MatrixRef<'_>, b: MatrixRef<'_>) -> Result<f64> {
    check_same_shape("relative norm", a, b)?;
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (x, y) in a.data().iter().zip(b.data()) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        num += (x - y) * (x - y);
        den += y * y;
    }
    Ok(if num == 0.0 {
        0.0
    } else if den == 0.0 {
        f64::INFINITY
    } else {
        (num / den).sqrt()
    })
}

/// Roy–Vetterli effective rank `exp(−Σ p_k ln p_k)`, `p_k = σ_k/Σσ`, from **all** singular
/// values. 0 for an all-zero spectrum.
pub fn effective_rank(sv: &[f64]) -> f64 {
    let total: f64 = sv.iter().filter(|v| **v > 0.0).sum();
    if total.is_nan() || total <= 0.0 {
        return 0.0;
    }
    let h: f64 = sv
        .iter()
        .filter(|v| **v > 0.0)
        .map(|v| {
            let p = v / total;
            -p * p.ln()
        })
        .sum();
    h.exp()
}

/// Fraction of `Σσ²` in the top `r` values of a full descending spectrum.
pub fn energy_fraction(sv: &[f64], r: usize) -> f64 {
    let total: f64 = sv.iter().map(|v| v * v).sum();
    energy_fraction_of_total(sv, r, total)
}

/// Fraction of `total_energy` (use `‖Δ‖_F²`) in the top `r` of `top_sv` (a possibly
/// truncated descending spectrum, e.g. from randomized SVD).
pub fn energy_fraction_of_total(top_sv: &[f64], r: usize, total_energy: f64) -> f64 {
    if total_energy.is_nan() || total_energy <= 0.0 {
        return 0.0;
    }
    let top: f64 = top_sv.iter().take(r).map(|v| v * v).sum();
    (top / total_energy).min(1.0)
}

/// Sample moments of a set of values (population / biased definitions, as scipy's defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moments {
    /// Number of values.
    pub n: usize,
    /// Mean.
    pub mean: f64,
    /// Standard deviation `√m₂` (divisor `n`).
    pub std: f64,
    /// Skewness `g₁ = m₃ / m₂^{3/2}`.
    pub skewness: f64,
    /// Excess kurtosis `g₂ = m₄ / m₂² − 3`.
    pub excess_kurtosis: f64,
}

fn moments_impl<I>(n: usize, values: impl Fn() -> I) -> Result<Moments>
where
    I: Iterator<Item = f64>,
{
    if n < 2 {
        return Err(StatsError::TooSmall {
            what: "moments",
            needed: 2,
            got: n,
            unit: "values",
        });
    }
    if let Some(index) = values().position(|v| !v.is_finite()) {
        return Err(StatsError::NonFinite {
            what: "moments",
            index,
        });
    }
    let nf = n as f64;
    let mean = values().sum::<f64>() / nf;
    let (mut m2, mut m3, mut m4) = (0.0, 0.0, 0.0);
    for x in values() {
        let d = x - mean;
        let d2 = d * d;
        m2 += d2;
        m3 += d2 * d;
        m4 += d2 * d2;
    }
    let (m2, m3, m4) = (m2 / nf, m3 / nf, m4 / nf);
    if m2.is_nan() || m2 <= 0.0 {
        return Err(StatsError::InvalidArgument {
            what: "moments",
            message: "values are constant".into(),
        });
    }
    Ok(Moments {
        n,
        mean,
        std: m2.sqrt(),
        skewness: m3 / m2.powf(1.5),
        excess_kurtosis: m4 / (m2 * m2) - 3.0,
    })
}

/// Moments of `f32` values, accumulated in `f64` (two passes). Needs 2 values and a
/// non-zero variance.
pub fn moments(values: &[f32]) -> Result<Moments> {
    moments_impl(values.len(), || values.iter().map(|&v| f64::from(v)))
}

/// Moments of `f64` values (same definitions as [`moments`]).
pub fn moments_f64(values: &[f64]) -> Result<Moments> {
    moments_impl(values.len(), || values.iter().copied())
}

/// A normality test result (χ²(2) statistic, so `ln p = −statistic/2` exactly).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NormalityTest {
    /// The χ²(2) statistic.
    pub statistic: f64,
    /// `ln p`.
    pub ln_p: f64,
}

/// Jarque–Bera: `JB = n/6 (g₁² + g₂²/4) ~ χ²(2)` asymptotically under H0 (i.i.d. normal).
pub fn jarque_bera(m: &Moments) -> NormalityTest {
    let jb =
        m.n as f64 / 6.0 * (m.skewness * m.skewness + 0.25 * m.excess_kurtosis * m.excess_kurtosis);
    NormalityTest {
        statistic: jb,
        ln_p: -0.5 * jb,
    }
}

/// D'Agostino–Pearson omnibus `K² = Z₁² + Z₂²` (`~ χ²(2)` under H0), with `Z₁` the
/// D'Agostino (1970) transform of the skewness and `Z₂` the Anscombe–Glynn (1983) transform
/// of the kurtosis (as in D'Agostino, Belanger & D'Agostino 1990). Needs `n ≥ 20`.
pub fn dagostino_k2(m: &Moments) -> Result<NormalityTest> {
    if m.n < 20 {
        return Err(StatsError::TooSmall {
            what: "d'agostino k2 test",
            needed: 20,
            got: m.n,
            unit: "values",
        });
    }
    let n = m.n as f64;
    // Skewness.
    let y = m.skewness * ((n + 1.0) * (n + 3.0) / (6.0 * (n - 2.0))).sqrt();
    let beta2 = 3.0 * (n * n + 27.0 * n - 70.0) * (n + 1.0) * (n + 3.0)
        / ((n - 2.0) * (n + 5.0) * (n + 7.0) * (n + 9.0));
    let w2 = -1.0 + (2.0 * (beta2 - 1.0)).sqrt();
    let delta = 1.0 / (0.5 * w2.ln()).sqrt();
    let alpha = (2.0 / (w2 - 1.0)).sqrt();
    let z1 = delta * (y / alpha).asinh();
    // Kurtosis.
    let b2 = m.excess_kurtosis + 3.0;
    let e = 3.0 * (n - 1.0) / (n + 1.0);
    let var_b2 = 24.0 * n * (n - 2.0) * (n - 3.0) / ((n + 1.0).powi(2) * (n + 3.0) * (n + 5.0));
    let x = (b2 - e) / var_b2.sqrt();
    let sqrt_beta1 = 6.0 * (n * n - 5.0 * n + 2.0) / ((n + 7.0) * (n + 9.0))
        * (6.0 * (n + 3.0) * (n + 5.0) / (n * (n - 2.0) * (n - 3.0))).sqrt();
    let a = 6.0
        + 8.0 / sqrt_beta1 * (2.0 / sqrt_beta1 + (1.0 + 4.0 / (sqrt_beta1 * sqrt_beta1)).sqrt());
    let term1 = 1.0 - 2.0 / (9.0 * a);
    let denom = 1.0 + x * (2.0 / (a - 4.0)).sqrt();
    let term2 = denom.signum() * ((1.0 - 2.0 / a) / denom.abs()).cbrt();
    let z2 = (term1 - term2) / (2.0 / (9.0 * a)).sqrt();
    let k2 = z1 * z1 + z2 * z2;
    Ok(NormalityTest {
        statistic: k2,
        ln_p: -0.5 * k2,
    })
}

/// Isotropy of a delta against an i.i.d. Gaussian matrix of the same shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Isotropy {
    /// Entry RMS `σ̂ = ‖Δ‖_F / √(mn)`.
    pub rms: f64,
    /// Marchenko–Pastur bulk edge of the largest singular value, `σ̂ (√m + √n)`.
    pub mp_edge: f64,
    /// The leading singular values computed (descending).
    pub top: Vec<f64>,
    /// `σ₁ / mp_edge`: ≈ 1 for i.i.d. noise (Tracy–Widom fluctuations of order
    /// `n^{-2/3}`), ≫ 1 for structured deltas.
    pub edge_ratio: f64,
    /// How many computed values exceed `margin · mp_edge` (a lower bound when all computed
    /// values exceed it).
    pub n_above_edge: usize,
    /// Share of `‖Δ‖_F²` in the values above `margin · mp_edge`.
    pub energy_above_edge: f64,
}

/// Compares the top `k` singular values of `delta` with the Marchenko–Pastur edge
/// (`margin`, e.g. 1.05, absorbs finite-size fluctuations). Uses randomized SVD when
/// `k` is small compared with the matrix.
pub fn isotropy(delta: MatrixRef<'_>, k: usize, margin: f64) -> Result<Isotropy> {
    delta.check_finite("isotropy")?;
    let (m, n) = (delta.rows() as f64, delta.cols() as f64);
    let fro2 = delta
        .data()
        .iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>();
    let rms = if m * n > 0.0 {
        (fro2 / (m * n)).sqrt()
    } else {
        0.0
    };
    let mp_edge = rms * (m.sqrt() + n.sqrt());
    let full = delta.rows().min(delta.cols());
    let top = if 4 * (k + 10) >= full {
        let mut s = singular_values(delta)?;
        s.truncate(k.min(full));
        s
    } else {
        top_singular_values(delta, k, RsvdOptions::default())?
    };
    let edge_ratio = match top.first() {
        Some(&s1) if mp_edge > 0.0 => s1 / mp_edge,
        _ => 0.0,
    };
    let above: Vec<f64> = top
        .iter()
        .copied()
        .filter(|&s| s > margin * mp_edge)
        .collect();
    Ok(Isotropy {
        rms,
        mp_edge,
        n_above_edge: above.len(),
        energy_above_edge: energy_fraction_of_total(&above, above.len(), fro2),
        top,
        edge_ratio,
    })
}

/// A bundle of delta statistics between a candidate `A` and a reference `B`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeltaReport {
    /// `‖A − B‖_F / ‖B‖_F`.
    pub relative_norm: f64,
    /// Moments of the delta's entries.
    pub moments: Moments,
    /// `delta std / std of B's entries` (Llama3-V: ≈ 1/700).
    pub std_ratio: f64,
    /// Jarque–Bera on the delta's entries.
    pub jarque_bera: NormalityTest,
    /// D'Agostino K² on the delta's entries.
    pub dagostino: NormalityTest,
    /// Spectrum against the Marchenko–Pastur edge.
    pub isotropy: Isotropy,
    /// Effective rank, when the full spectrum was computed (`min(m, n) ≤ full_svd_max`).
    pub effective_rank: Option<f64>,
    /// Fraction of `‖Δ‖_F²` in the top `energy_rank` singular values.
    pub energy_top: f64,
    /// The `r` used for `energy_top`.
    pub energy_rank: usize,
}

/// Options of [`analyze_delta`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeltaOptions {
    /// Leading singular values to compute for isotropy (default 16).
    pub top_k: usize,
    /// Rank for the energy fraction (default 8, a typical LoRA rank).
    pub energy_rank: usize,
    /// Compute the full spectrum (for the effective rank) when `min(m, n)` is at most this
    /// (default 1024; the full SVD is `O(mn·min(m,n))`).
    pub full_svd_max: usize,
    /// Margin over the Marchenko–Pastur edge (default 1.05).
    pub margin: f64,
}

impl Default for DeltaOptions {
    fn default() -> Self {
        Self {
            top_k: 16,
            energy_rank: 8,
            full_svd_max: 1024,
            margin: 1.05,
        }
    }
}

/// Computes a [`DeltaReport`] for `A − B`. Fails on an all-zero delta (nothing to analyse:
/// the tensors are equal) and on fewer than 20 entries.
pub fn analyze_delta(
    a: MatrixRef<'_>,
    b: MatrixRef<'_>,
    opts: DeltaOptions,
) -> Result<DeltaReport> {
    let d = difference(a, b)?;
    let mom = moments(&d.data)?;
    let b_mom = moments(b.data())?;
    let full = d.rows.min(d.cols);
    let (iso, erank, energy_top) = if full <= opts.full_svd_max {
        let sv = singular_values(d.view())?;
        let erank = effective_rank(&sv);
        let energy = energy_fraction(&sv, opts.energy_rank);
        let iso = isotropy(d.view(), opts.top_k.max(opts.energy_rank), opts.margin)?;
        (iso, Some(erank), energy)
    } else {
        let iso = isotropy(d.view(), opts.top_k.max(opts.energy_rank), opts.margin)?;
        let fro2 = d.view().frobenius_norm().powi(2);
        let energy = energy_fraction_of_total(&iso.top, opts.energy_rank, fro2);
        (iso, None, energy)
    };
    Ok(DeltaReport {
        relative_norm: relative_norm(a, b)?,
        std_ratio: mom.std / b_mom.std,
        jarque_bera: jarque_bera(&mom),
        dagostino: dagostino_k2(&mom)?,
        moments: mom,
        isotropy: iso,
        effective_rank: erank,
        energy_top,
        energy_rank: opts.energy_rank,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_rank_basics() {
        assert!((effective_rank(&[1.0, 1.0, 1.0, 1.0]) - 4.0).abs() < 1e-12);
        assert!((effective_rank(&[5.0, 0.0, 0.0]) - 1.0).abs() < 1e-12);
        assert_eq!(effective_rank(&[]), 0.0);
        assert!((energy_fraction(&[3.0, 4.0], 1) - 9.0 / 25.0).abs() < 1e-15);
    }

    #[test]
    fn relative_norm_cases() {
        let a = Matrix::from_fn(2, 2, |i, j| (i + j) as f32);
        let z = Matrix::zeros(2, 2);
        assert_eq!(relative_norm(a.view(), a.view()).unwrap(), 0.0);
        assert_eq!(relative_norm(a.view(), z.view()).unwrap(), f64::INFINITY);
        assert!((relative_norm(z.view(), a.view()).unwrap() - 1.0).abs() < 1e-12);
    }
}
