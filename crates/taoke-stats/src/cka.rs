//! Unbiased linear CKA (used on hidden-unit activations of two models, AWM, Zeng et al.,
//! ICLR 2026).
//!
//! For `X` (`n × p`) and `Y` (`n × q`) with the same `n` examples (rows), `K = XXᵀ`,
//! `L = YYᵀ`, and `K̃`, `L̃` the same with zeroed diagonals, the unbiased HSIC estimator
//! (Song et al. 2012; used for CKA by Nguyen et al. 2021) is
//!
//! ```text
//! HSIC_u(K, L) = [ tr(K̃L̃) + (1ᵀK̃1)(1ᵀL̃1)/((n−1)(n−2)) − 2/(n−2) · 1ᵀK̃L̃1 ] / (n(n−3))
//! CKA_u(X, Y)  = HSIC_u(K, L) / √(HSIC_u(K, K) · HSIC_u(L, L))
//! ```
//!
//! It is invariant to orthogonal transforms and isotropic scaling of the *features*
//! (columns) of either side, and, unlike the biased estimator, ≈ 0 for independent inputs
//! (it can be slightly negative). It is a similarity, not a test: calibrate it against
//! independent pairs (AWM reports a negative-pair mean of 0.375 % ± 0.28 %).
//!
//! **Cost.** Every term except `tr(K̃L̃)` is `O(n(p+q))` via `K̃1 = X(Xᵀ1) − diag(K)`;
//! `tr(KL) = ‖XᵀY‖_F²` is one `p × q` GEMM over the examples (`O(npq)`, memory `pq`), so the
//! `n × n` Gram matrices are never formed. [`CkaPrepared`] computes each side's parts and
//! self-HSIC once, for the many pairs of a block × block comparison.

use crate::{Matrix, MatrixRef, Result, StatsError};
use faer::{Mat, MatRef};

struct HsicParts {
    n: f64,
    diag: Vec<f64>,
    row_sum: Vec<f64>, // K̃1
    total: f64,        // 1ᵀK̃1
}

/// [`HsicParts`] of an `n`-row matrix with column sums `col_sum`, whose entry `(i, j)` is
/// `at(i, j)` (any layout and element type).
fn hsic_parts_with(n: usize, col_sum: &[f64], at: impl Fn(usize, usize) -> f64) -> HsicParts {
    let mut diag = vec![0.0; n];
    let mut row_sum = vec![0.0; n];
    for i in 0..n {
        let (mut d, mut s) = (0.0, 0.0);
        for (j, &c) in col_sum.iter().enumerate() {
            let v = at(i, j);
            d += v * v;
            s += v * c;
        }
        diag[i] = d;
        row_sum[i] = s - d;
    }
    let total = row_sum.iter().sum();
    HsicParts {
        n: n as f64,
        diag,
        row_sum,
        total,
    }
}

/// The unbiased HSIC from `tr(KL)` and the two sides' [`HsicParts`].
fn hsic_combine(trace_kl: f64, px: &HsicParts, py: &HsicParts) -> f64 {
    let n = px.n;
    let tr = trace_kl
        - px.diag
            .iter()
            .zip(&py.diag)
            .map(|(a, b)| a * b)
            .sum::<f64>();
    let kl: f64 = px.row_sum.iter().zip(&py.row_sum).map(|(a, b)| a * b).sum();
    (tr + px.total * py.total / ((n - 1.0) * (n - 2.0)) - 2.0 / (n - 2.0) * kl) / (n * (n - 3.0))
}

fn check_cka(what: &'static str, x: MatrixRef<'_>, y: MatrixRef<'_>) -> Result<()> {
    if x.rows() != y.rows() {
        return Err(StatsError::ShapeMismatch {
            what,
            a_rows: x.rows(),
            a_cols: x.cols(),
            b_rows: y.rows(),
            b_cols: y.cols(),
        });
    }
    if x.rows() < 4 {
        return Err(StatsError::TooSmall {
            what,
            needed: 4,
            got: x.rows(),
            unit: "rows (examples)",
        });
    }
    x.check_finite("cka: first operand")?;
    y.check_finite("cka: second operand")?;
    Ok(())
}

/// A matrix prepared for repeated CKA computations (its values, centring parts and self-HSIC
/// computed once), e.g. for a block × block CKA matrix. The cross products `XᵀY` run as `f32`
/// GEMMs (half the bytes, twice the SIMD width of `f64`; each entry is a dot product over the
/// examples, accurate to ~1e-6 relative) and are squared and summed in `f64`; the centring
/// parts are accumulated in `f64`. CKA values agree with an `f64` evaluation of the kernel
/// form to ~1e-6 (tested).
pub struct CkaPrepared {
    x: Vec<f32>,
    n: usize,
    p: usize,
    parts: HsicParts,
    self_hsic: f64,
}

/// `‖XᵀY‖²_F` of two row-major `f32` matrices with `n` rows (`tr(KL)` for linear kernels).
fn trace_kl_f32(x: &[f32], y: &[f32], n: usize, p: usize, q: usize) -> f64 {
    if n == 0 || p == 0 || q == 0 {
        return 0.0;
    }
    let fx = MatRef::from_row_major_slice(x, n, p);
    let fy = MatRef::from_row_major_slice(y, n, q);
    let mut c = Mat::<f32>::zeros(p, q);
    faer::linalg::matmul::matmul(
        c.as_mut(),
        faer::Accum::Replace,
        fx.transpose(),
        fy,
        1.0f32,
        crate::matrix::par(),
    );
    let mut s = 0.0f64;
    for j in 0..q {
        for v in c.col(j).iter() {
            s += f64::from(*v) * f64::from(*v);
        }
    }
    s
}

fn hsic_parts_f32(x: &[f32], n: usize, p: usize) -> HsicParts {
    let mut col_sum = vec![0.0f64; p];
    for i in 0..n {
        for (c, &v) in col_sum.iter_mut().zip(&x[i * p..(i + 1) * p]) {
            *c += f64::from(v);
        }
    }
    hsic_parts_with(n, &col_sum, |i, j| f64::from(x[i * p + j]))
}

fn hsic_prepared(x: &CkaPrepared, y: &CkaPrepared) -> f64 {
    hsic_combine(trace_kl_f32(&x.x, &y.x, x.n, x.p, y.p), &x.parts, &y.parts)
}

impl CkaPrepared {
    /// Prepares `x` (`n × p`, `n ≥ 4`, finite).
    pub fn new(x: MatrixRef<'_>) -> Result<Self> {
        Self::from_matrix(x.to_owned())
    }

    /// [`CkaPrepared::new`] taking ownership of the values (no copy).
    pub fn from_matrix(x: Matrix) -> Result<Self> {
        check_cka("unbiased cka", x.view(), x.view())?;
        let (n, p) = (x.rows, x.cols);
        let parts = hsic_parts_f32(&x.data, n, p);
        let mut out = Self {
            x: x.data,
            n,
            p,
            parts,
            self_hsic: 0.0,
        };
        out.self_hsic = hsic_prepared(&out, &out);
        Ok(out)
    }

    /// Number of rows (examples).
    pub fn rows(&self) -> usize {
        self.n
    }

    /// Unbiased CKA with another prepared matrix of the same number of rows.
    pub fn cka(&self, other: &CkaPrepared) -> Result<f64> {
        if self.rows() != other.rows() {
            return Err(StatsError::ShapeMismatch {
                what: "unbiased cka",
                a_rows: self.rows(),
                a_cols: self.p,
                b_rows: other.rows(),
                b_cols: other.p,
            });
        }
        if self.self_hsic.is_nan()
            || other.self_hsic.is_nan()
            || self.self_hsic <= 0.0
            || other.self_hsic <= 0.0
        {
            return Ok(0.0);
        }
        let xy = hsic_prepared(self, other);
        Ok(xy / (self.self_hsic * other.self_hsic).sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    /// The unbiased HSIC straight from its kernel form, in `f64` with `n × n` Gram matrices.
    fn hsic_kernel_form(x: &Matrix, y: &Matrix) -> f64 {
        let n = x.rows;
        let gram = |m: &Matrix| -> Vec<f64> {
            let mut k = vec![0.0; n * n];
            for i in 0..n {
                for j in 0..n {
                    if i != j {
                        k[i * n + j] = (0..m.cols)
                            .map(|c| f64::from(m.get(i, c)) * f64::from(m.get(j, c)))
                            .sum();
                    }
                }
            }
            k
        };
        let (k, l) = (gram(x), gram(y));
        let tr: f64 = (0..n * n).map(|t| k[t] * l[t]).sum(); // K̃, L̃ symmetric
        let (sk, sl): (f64, f64) = (k.iter().sum(), l.iter().sum());
        let kl: f64 = (0..n)
            .map(|i| {
                let ki: f64 = (0..n).map(|j| k[i * n + j]).sum();
                let li: f64 = (0..n).map(|j| l[i * n + j]).sum();
                ki * li
            })
            .sum();
        let nf = n as f64;
        (tr + sk * sl / ((nf - 1.0) * (nf - 2.0)) - 2.0 / (nf - 2.0) * kl) / (nf * (nf - 3.0))
    }

    fn cka_kernel_form(x: &Matrix, y: &Matrix) -> f64 {
        hsic_kernel_form(x, y) / (hsic_kernel_form(x, x) * hsic_kernel_form(y, y)).sqrt()
    }

    fn cka(x: &Matrix, y: &Matrix) -> f64 {
        let px = CkaPrepared::new(x.view()).unwrap();
        px.cka(&CkaPrepared::new(y.view()).unwrap()).unwrap()
    }

    #[test]
    fn prepared_agrees_with_the_kernel_form() {
        let mut r = SplitMix64::new(6);
        for &(n, p, q) in &[(12usize, 30usize, 25usize), (30, 8, 5), (40, 3, 12)] {
            let x = r.gaussian_matrix(n, p, 1.0);
            let mut y = r.gaussian_matrix(n, q, 1.0);
            for i in 0..n {
                for c in 0..q {
                    y.data[i * q + c] += x.get(i, c % p);
                }
            }
            let (got, want) = (cka(&x, &y), cka_kernel_form(&x, &y));
            // f32 cross products against the f64 kernel form.
            assert!((got - want).abs() < 1e-5, "{n}x{p}x{q}: {got} vs {want}");
            assert!(want > 0.05, "{want}");
        }
    }

    #[test]
    fn invariant_to_feature_rotation_and_scale() {
        let mut r = SplitMix64::new(2);
        let x = r.gaussian_matrix(100, 16, 1.0);
        let g = faer::Mat::<f64>::from_fn(16, 16, |_, _| r.normal());
        let q = g.qr().compute_Q();
        // y = 3 · x · Q
        let y = Matrix::from_fn(100, 16, |i, j| {
            (3.0 * (0..16)
                .map(|k| f64::from(x.get(i, k)) * q[(k, j)])
                .sum::<f64>()) as f32
        });
        let c = cka(&x, &y);
        assert!((c - 1.0).abs() < 1e-5, "{c}");
    }

    #[test]
    fn independent_inputs_near_zero() {
        let mut r = SplitMix64::new(3);
        let x = r.gaussian_matrix(400, 40, 1.0);
        let y = r.gaussian_matrix(400, 30, 1.0);
        let c = cka(&x, &y);
        assert!(c.abs() < 0.02, "{c}");
    }

    #[test]
    fn rejects_bad_shapes() {
        let a = Matrix::zeros(3, 2);
        assert!(CkaPrepared::new(a.view()).is_err());
        let x = CkaPrepared::new(Matrix::from_fn(5, 2, |i, j| (i * j) as f32).view()).unwrap();
        let y = CkaPrepared::new(Matrix::from_fn(6, 2, |i, j| (i + j) as f32).view()).unwrap();
        assert!(x.cka(&y).is_err());
        // A constant input has no positive self-HSIC: CKA 0, no evidence.
        let z = CkaPrepared::new(Matrix::zeros(5, 2).view()).unwrap();
        assert_eq!(x.cka(&z).unwrap(), 0.0);
    }
}
