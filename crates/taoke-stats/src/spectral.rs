//! Spectral signatures (GhostSpec-style, AAAI 2026): singular values of the
//! reparameterisation-invariant attention products `W_qᵀ W_k` (QK circuit) and `W_o W_v`
//! (OV circuit), top-k by randomized SVD, and the distance between two spectra.
//!
//! Layout convention: weights as stored by Hugging Face, `W_q, W_k, W_v` are
//! `(heads·head_dim) × d_model` (rows = output features) and `W_o` is `d_model × (heads·head_dim)`.
//! The bilinear attention form is `xᵀ W_qᵀ W_k y`, so the QK circuit is `W_qᵀ W_k`
//! (`d × d`) and the OV circuit is `W_o W_v` (`d × d`). Both products are invariant to any
//! invertible mixing inside the head dimension that the model compensates (`W_q → M W_q`,
//! `W_k → M⁻ᵀ W_k`), and their singular values are invariant to orthogonal rotations and
//! permutations of the residual stream. For grouped-query attention repeat each K/V head
//! for its query group first, so that `W_q` and `W_k` have the same number of rows.
//!
//! **Cost.** [`top_singular_values_of_product`] never forms the `d × d` product: a randomized
//! range finder with power iterations (Halko, Martinsson & Tropp 2011) applies the two
//! factors in turn, `O(d r (k + p) (2q + 2))` for factors of inner dimension `r`, `k` values,
//! `p` oversampling columns and `q` power iterations. [`singular_values`] is the full `f64` SVD.

use crate::matrix::{matmul, to_faer};
use crate::rng::SplitMix64;
use crate::{correlation, MatrixRef, Result, StatsError};
use faer::{Mat, MatRef};

fn svd_values(m: MatRef<'_, f64>, what: &'static str) -> Result<Vec<f64>> {
    if m.nrows() == 0 || m.ncols() == 0 {
        return Ok(Vec::new());
    }
    m.singular_values()
        .map_err(|_| StatsError::NoConvergence { what })
}

/// All singular values of `m`, descending (`f64` SVD). `O(mn·min(m,n))`.
pub fn singular_values(m: MatrixRef<'_>) -> Result<Vec<f64>> {
    m.check_finite("singular values")?;
    svd_values(to_faer(m).as_ref(), "singular values")
}

/// Options of the randomized SVD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RsvdOptions {
    /// Extra sketch columns beyond `k` (Halko et al. recommend 5–10).
    pub oversample: usize,
    /// Power (subspace) iterations; 2–4 make the top values accurate for slowly decaying
    /// spectra.
    pub power_iters: usize,
    /// Seed of the Gaussian test matrix.
    pub seed: u64,
}

impl Default for RsvdOptions {
    fn default() -> Self {
        Self {
            oversample: 10,
            power_iters: 3,
            seed: 0x7a0_4e5,
        }
    }
}

fn thin_q(y: MatRef<'_, f64>) -> Mat<f64> {
    y.qr().compute_thin_Q()
}

fn randomized_top(
    rows: usize,
    cols: usize,
    k: usize,
    opts: RsvdOptions,
    apply: &dyn Fn(MatRef<'_, f64>) -> Mat<f64>,
    apply_t: &dyn Fn(MatRef<'_, f64>) -> Mat<f64>,
) -> Result<Vec<f64>> {
    let full = rows.min(cols);
    let l = (k + opts.oversample).min(full);
    if l == 0 {
        return Ok(Vec::new());
    }
    let mut rng = SplitMix64::new(opts.seed);
    let omega = Mat::from_fn(cols, l, |_, _| rng.normal());
    let mut q = thin_q(apply(omega.as_ref()).as_ref());
    for _ in 0..opts.power_iters {
        let z = thin_q(apply_t(q.as_ref()).as_ref());
        q = thin_q(apply(z.as_ref()).as_ref());
    }
    // B = Qᵀ M  (l × cols), computed as (Mᵀ Q)ᵀ.
    let bt = apply_t(q.as_ref());
    let mut sv = svd_values(bt.as_ref(), "randomized svd")?;
    sv.truncate(k.min(full));
    Ok(sv)
}

/// Top-`k` singular values of the product `A · B` by randomized SVD, applying the factors in
/// turn (the product is never formed).
pub fn top_singular_values_of_product(
    a: MatrixRef<'_>,
    b: MatrixRef<'_>,
    k: usize,
    opts: RsvdOptions,
) -> Result<Vec<f64>> {
    if a.cols() != b.rows() {
        return Err(StatsError::ShapeMismatch {
            what: "randomized product svd",
            a_rows: a.rows(),
            a_cols: a.cols(),
            b_rows: b.rows(),
            b_cols: b.cols(),
        });
    }
    a.check_finite("randomized product svd: left factor")?;
    b.check_finite("randomized product svd: right factor")?;
    let (fa, fb) = (to_faer(a), to_faer(b));
    let (ar, br) = (fa.as_ref(), fb.as_ref());
    randomized_top(
        a.rows(),
        b.cols(),
        k,
        opts,
        &|x| matmul(ar, matmul(br, x).as_ref()),
        &|x| matmul(br.transpose(), matmul(ar.transpose(), x).as_ref()),
    )
}

/// The spectrum divided by its largest value (a scale-free shape in `[0, 1]`); all zeros
/// when that is not a positive finite number.
fn normalize_max(sv: &[f64]) -> Vec<f64> {
    let max = sv.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if (max.is_nan() || max <= 0.0) || !max.is_finite() {
        return vec![0.0; sv.len()];
    }
    sv.iter().map(|v| v / max).collect()
}

/// Distance between two spectra.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpectrumDistance {
    /// Number of leading values compared (`min` of both lengths and the requested `k`).
    pub k: usize,
    /// Mean squared difference of the max-normalised leading values (GhostSpec-style; 0 for
    /// identical shapes, scale-invariant).
    pub mse: f64,
    /// Pearson correlation of `ln σ` over the compared values (centred; values ≤ 1e-300 are
    /// clamped). Spectra of unrelated matrices of the same shape are also correlated, so
    /// calibrate before reading it as evidence.
    pub log_pearson: f64,
}

/// Compares the leading `k` (or all common) values of two descending spectra.
pub fn spectrum_distance(a: &[f64], b: &[f64], k: Option<usize>) -> Result<SpectrumDistance> {
    let k = a.len().min(b.len()).min(k.unwrap_or(usize::MAX));
    if k < 2 {
        return Err(StatsError::TooSmall {
            what: "spectrum distance",
            needed: 2,
            got: k,
            unit: "singular values",
        });
    }
    let na = normalize_max(&a[..k]);
    let nb = normalize_max(&b[..k]);
    let mse = na
        .iter()
        .zip(&nb)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        / k as f64;
    let la: Vec<f64> = a[..k].iter().map(|v| v.max(1e-300).ln()).collect();
    let lb: Vec<f64> = b[..k].iter().map(|v| v.max(1e-300).ln()).collect();
    let log_pearson = correlation::pearson(&la, &lb)?;
    Ok(SpectrumDistance {
        k,
        mse,
        log_pearson,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Matrix;

    fn mm(a: &Matrix, b: &Matrix) -> Matrix {
        let p = matmul(to_faer(a.view()).as_ref(), to_faer(b.view()).as_ref());
        Matrix::from_fn(p.nrows(), p.ncols(), |i, j| p[(i, j)] as f32)
    }

    #[test]
    fn randomized_product_matches_the_explicit_product() {
        let mut r = SplitMix64::new(3);
        // Low rank plus noise, as a product of 120×8 and 8×100 factors.
        let u = r.gaussian_matrix(120, 8, 1.0);
        let v = r.gaussian_matrix(8, 100, 1.0);
        let full = singular_values(mm(&u, &v).view()).unwrap();
        let top =
            top_singular_values_of_product(u.view(), v.view(), 4, RsvdOptions::default()).unwrap();
        assert_eq!(top.len(), 4);
        for (x, y) in top.iter().zip(&full) {
            assert!((x - y).abs() < 1e-6 * full[0], "{x} vs {y}");
        }
        // Rank 8: the ninth value of the explicit product is zero to rounding.
        assert!(full[8] < 1e-4 * full[0]);
        let a = r.gaussian_matrix(60, 10, 1.0);
        let b = r.gaussian_matrix(10, 50, 1.0);
        assert!(
            top_singular_values_of_product(a.view(), a.view(), 2, RsvdOptions::default()).is_err()
        );
        let tp =
            top_singular_values_of_product(a.view(), b.view(), 4, RsvdOptions::default()).unwrap();
        let exact = singular_values(mm(&a, &b).view()).unwrap();
        for (x, y) in tp.iter().zip(&exact) {
            assert!((x - y).abs() < 1e-6 * exact[0], "{x} vs {y}");
        }
    }

    #[test]
    fn spectrum_distance_is_scale_free() {
        let a = [4.0, 2.0, 1.0, 1.0];
        let b = [40.0, 20.0, 10.0, 10.0];
        let d = spectrum_distance(&a, &b, None).unwrap();
        assert_eq!((d.k, d.mse), (4, 0.0));
        assert!((d.log_pearson - 1.0).abs() < 1e-12);
        let d = spectrum_distance(&a, &[4.0, 1.0, 1.0], Some(2)).unwrap();
        assert_eq!(d.k, 2);
        assert!((d.mse - 0.031_25).abs() < 1e-15);
        assert!(spectrum_distance(&a, &[1.0], None).is_err());
        assert_eq!(normalize_max(&[0.0, 0.0]), vec![0.0, 0.0]);
        assert_eq!(normalize_max(&a), vec![1.0, 0.5, 0.25, 0.25]);
    }
}
