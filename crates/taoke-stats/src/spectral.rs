//! Spectral signatures (GhostSpec-style, AAAI 2026): singular values of the
//! reparameterisation-invariant attention products `W_qᵀ W_k` (QK circuit) and `W_o W_v`
//! (OV circuit), top-k by randomized SVD, normalisation and spectrum distances.
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
//! **Cost.** Never forms the `d × d` product when the inner dimension `r` is smaller than `d`:
//! with thin QR factorizations `F = Q_F R_F` (`d × r`) and `Gᵀ = Q_G R_G`,
//! `F G = Q_F (R_F R_Gᵀ) Q_Gᵀ`, so `sv(F G) = sv(R_F R_Gᵀ)`, an `r × r` problem:
//! `O(d r²)` instead of `O(d² r + d³)`. For large square matrices
//! [`top_singular_values`] gives the top `k` by a randomized range finder with power
//! iterations (Halko, Martinsson & Tropp 2011), `O(d² (k + p) (2q + 2))`.

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

/// Thin `R` factor of `m` (`min(rows, cols) × cols`).
fn thin_r(m: MatRef<'_, f64>) -> Mat<f64> {
    m.qr().thin_R().to_owned()
}

/// Singular values (descending) of the product `A · B` (`A: m × r`, `B: r × n`) without
/// forming it when `r < min(m, n)` (see module docs). Returns `min(m, n, r)` values (the
/// product has rank at most `r`; the remaining ones are zero).
pub fn product_singular_values(a: MatrixRef<'_>, b: MatrixRef<'_>) -> Result<Vec<f64>> {
    if a.cols() != b.rows() {
        return Err(StatsError::ShapeMismatch {
            what: "product singular values",
            a_rows: a.rows(),
            a_cols: a.cols(),
            b_rows: b.rows(),
            b_cols: b.cols(),
        });
    }
    a.check_finite("product singular values: left factor")?;
    b.check_finite("product singular values: right factor")?;
    let (fa, fb) = (to_faer(a), to_faer(b));
    let r = a.cols();
    if r < a.rows().min(b.cols()) {
        let ra = thin_r(fa.as_ref()); // r × r
        let rb = thin_r(fb.as_ref().transpose()); // r × r
        let core = matmul(ra.as_ref(), rb.as_ref().transpose());
        svd_values(core.as_ref(), "product singular values")
    } else {
        let p = matmul(fa.as_ref(), fb.as_ref());
        svd_values(p.as_ref(), "product singular values")
    }
}

fn check_same_rows(what: &'static str, a: MatrixRef<'_>, b: MatrixRef<'_>) -> Result<()> {
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

/// Singular values of the QK circuit `W_qᵀ W_k` for Hugging Face–layout `W_q`, `W_k`
/// (both `r × d`, same shape; expand grouped K heads first).
pub fn qk_singular_values(w_q: MatrixRef<'_>, w_k: MatrixRef<'_>) -> Result<Vec<f64>> {
    check_same_rows("qk circuit", w_q, w_k)?;
    let qt = w_q.transpose();
    product_singular_values(qt.view(), w_k)
}

/// Singular values of the OV circuit `W_o W_v` for Hugging Face–layout `W_v` (`r × d`) and
/// `W_o` (`d × r`).
pub fn ov_singular_values(w_v: MatrixRef<'_>, w_o: MatrixRef<'_>) -> Result<Vec<f64>> {
    product_singular_values(w_o, w_v)
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

/// Top-`k` singular values of `m` by randomized SVD (descending). Exact to rounding when
/// `k + oversample ≥ min(rows, cols)`.
pub fn top_singular_values(m: MatrixRef<'_>, k: usize, opts: RsvdOptions) -> Result<Vec<f64>> {
    m.check_finite("randomized svd")?;
    let f = to_faer(m);
    let fr = f.as_ref();
    randomized_top(m.rows(), m.cols(), k, opts, &|x| matmul(fr, x), &|x| {
        matmul(fr.transpose(), x)
    })
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

/// How to normalise a spectrum before comparing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpectrumNorm {
    /// Divide by the largest value (scale-free shape in `[0, 1]`).
    Max,
    /// Divide by the sum (a distribution over components).
    Sum,
    /// Divide by the Euclidean norm.
    L2,
    /// `(σ − min)/(max − min)` (GhostSpec's min-max normalisation).
    MinMax,
}

/// Normalised copy of a spectrum; all zeros stay zeros.
pub fn normalize_spectrum(sv: &[f64], norm: SpectrumNorm) -> Vec<f64> {
    let max = sv.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = sv.iter().copied().fold(f64::INFINITY, f64::min);
    let scale = match norm {
        SpectrumNorm::Max => max,
        SpectrumNorm::Sum => sv.iter().sum(),
        SpectrumNorm::L2 => sv.iter().map(|v| v * v).sum::<f64>().sqrt(),
        SpectrumNorm::MinMax => max - min,
    };
    let shift = if norm == SpectrumNorm::MinMax {
        min
    } else {
        0.0
    };
    if (scale.is_nan() || scale <= 0.0) || !scale.is_finite() {
        return vec![0.0; sv.len()];
    }
    sv.iter().map(|v| (v - shift) / scale).collect()
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
    let na = normalize_spectrum(&a[..k], SpectrumNorm::Max);
    let nb = normalize_spectrum(&b[..k], SpectrumNorm::Max);
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
    use crate::matrix::from_faer;
    use crate::Matrix;

    fn mm(a: &Matrix, b: &Matrix) -> Matrix {
        from_faer(matmul(to_faer(a.view()).as_ref(), to_faer(b.view()).as_ref()).as_ref())
    }

    #[test]
    fn product_svs_match_explicit_product() {
        let mut r = SplitMix64::new(1);
        let a = r.gaussian_matrix(40, 6, 1.0);
        let b = r.gaussian_matrix(6, 30, 1.0);
        let fast = product_singular_values(a.view(), b.view()).unwrap();
        let slow = singular_values(mm(&a, &b).view()).unwrap();
        assert_eq!(fast.len(), 6);
        for (x, y) in fast.iter().zip(&slow) {
            assert!((x - y).abs() < 1e-4 * y.max(1.0), "{x} vs {y}");
        }
        assert!(slow[6] < 1e-4 * slow[0]);
    }

    #[test]
    fn qk_invariant_to_head_mixing_and_residual_rotation() {
        let mut r = SplitMix64::new(2);
        let (d, h) = (24, 8);
        let wq = r.gaussian_matrix(h, d, 1.0);
        let wk = r.gaussian_matrix(h, d, 1.0);
        // Head-space orthogonal mixing M: W_q → M W_q, W_k → M W_k (M⁻ᵀ = M).
        let g = r.gaussian_matrix(h, h, 1.0);
        let m = from_faer(to_faer(g.view()).qr().compute_Q().as_ref());
        // Residual rotation R (d × d): W → W R.
        let gr = r.gaussian_matrix(d, d, 1.0);
        let rot = from_faer(to_faer(gr.view()).qr().compute_Q().as_ref());
        let wq2 = mm(&mm(&m, &wq), &rot);
        let wk2 = mm(&mm(&m, &wk), &rot);
        let s1 = qk_singular_values(wq.view(), wk.view()).unwrap();
        let s2 = qk_singular_values(wq2.view(), wk2.view()).unwrap();
        for (x, y) in s1.iter().zip(&s2) {
            assert!((x - y).abs() < 1e-3 * s1[0], "{x} vs {y}");
        }
        let dist = spectrum_distance(&s1, &s2, None).unwrap();
        assert!(dist.mse < 1e-8 && dist.log_pearson > 0.9999);
    }

    #[test]
    fn randomized_matches_full_on_low_rank_plus_noise() {
        let mut r = SplitMix64::new(3);
        let u = r.gaussian_matrix(120, 5, 1.0);
        let v = r.gaussian_matrix(5, 100, 1.0);
        let mut m = mm(&u, &v);
        for x in &mut m.data {
            *x += (r.normal() * 0.01) as f32;
        }
        let full = singular_values(m.view()).unwrap();
        let top = top_singular_values(m.view(), 5, RsvdOptions::default()).unwrap();
        for (x, y) in top.iter().zip(&full) {
            assert!((x - y).abs() < 1e-5 * full[0], "{x} vs {y}");
        }
        let a = r.gaussian_matrix(60, 10, 1.0);
        let b = r.gaussian_matrix(10, 50, 1.0);
        let tp =
            top_singular_values_of_product(a.view(), b.view(), 4, RsvdOptions::default()).unwrap();
        let exact = product_singular_values(a.view(), b.view()).unwrap();
        for (x, y) in tp.iter().zip(&exact) {
            assert!((x - y).abs() < 1e-6 * exact[0], "{x} vs {y}");
        }
    }

    #[test]
    fn normalisations() {
        let s = [4.0, 2.0, 1.0, 1.0];
        assert_eq!(
            normalize_spectrum(&s, SpectrumNorm::Max),
            vec![1.0, 0.5, 0.25, 0.25]
        );
        assert_eq!(
            normalize_spectrum(&s, SpectrumNorm::Sum),
            vec![0.5, 0.25, 0.125, 0.125]
        );
        assert_eq!(
            normalize_spectrum(&s, SpectrumNorm::MinMax),
            vec![1.0, 1.0 / 3.0, 0.0, 0.0]
        );
        assert_eq!(
            normalize_spectrum(&[0.0, 0.0], SpectrumNorm::Max),
            vec![0.0, 0.0]
        );
    }
}
