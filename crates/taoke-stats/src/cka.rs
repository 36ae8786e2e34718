//! Unbiased linear CKA and vocabulary-anchored alignment of hidden dimensions (AWM,
//! Zeng et al., ICLR 2026).
//!
//! # Unbiased linear CKA
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
//! **Cost.** Every term except `tr(KL)`, `tr(KK)`, `tr(LL)` is `O(n(p+q))` via `K̃1 = X(Xᵀ1) − diag(K)`.
//! The traces are computed in feature space, `tr(KL) = ‖XᵀY‖_F²`
//! (`O(n(p+q)²)`, memory `(p+q)²`), or in example space, `Σ K∘L` (`O(n²(p+q))`, memory
//! `2n²`), whichever is cheaper; the `n × n` Gram matrices are never formed when `p + q < n`.
//!
//! # Vocabulary-anchored alignment
//!
//! Two models' hidden dimensions are aligned through their embedding rows of the **same**
//! tokens (`E_A`: `n × d_a`, `E_B`: `n × d_b`, row `t` = shared token `t`; intersect
//! vocabularies by normalized token string first):
//!
//! - [`align_hidden_dims`]: cost `1 − |cos|` between **columns** (hidden dimensions), solved
//!   as an assignment (rectangular when `d_a ≠ d_b`, e.g. width pruning); each pair also
//!   gets the sign of its cosine, undoing sign flips. Recovers permutation + sign
//!   reparameterisations.
//! - [`procrustes`]: the orthogonal `R` minimizing `‖E_A R − E_B‖_F`, `R = U Vᵀ` from the thin
//!   SVD of `E_Aᵀ E_B`. Recovers rotations of the residual stream.
//!
//! Then compare weights that read from the residual stream, e.g. `W_q` (`r × d`): in B's
//! coordinates A's matrix is `W_q^A R` (or the signed column selection), and CKA runs over the
//! `d` hidden dimensions as examples: `cka_unbiased((W_q^A R)ᵀ, (W_q^B)ᵀ)`.

use crate::lap::assign_max;
use crate::matrix::{from_faer, matmul, to_faer};
use crate::{Matrix, MatrixRef, Result, StatsError};
use faer::{Mat, MatRef};

struct HsicParts {
    n: f64,
    diag: Vec<f64>,
    row_sum: Vec<f64>, // K̃1
    total: f64,        // 1ᵀK̃1
}

fn hsic_parts(x: MatRef<'_, f64>) -> HsicParts {
    let (n, p) = (x.nrows(), x.ncols());
    let col_sum: Vec<f64> = (0..p).map(|j| (0..n).map(|i| x[(i, j)]).sum()).collect();
    hsic_parts_with(n, &col_sum, |i, j| x[(i, j)])
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

/// `tr(KL)` with `K = XXᵀ`, `L = YYᵀ`, in the cheaper space.
fn trace_kl(x: MatRef<'_, f64>, y: MatRef<'_, f64>) -> f64 {
    let (n, p, q) = (x.nrows(), x.ncols(), y.ncols());
    let feature_cost = (n as f64) * (p as f64) * (q as f64);
    let example_cost = (n as f64) * (n as f64) * ((p + q) as f64);
    if feature_cost <= example_cost {
        let c = matmul(x.transpose(), y);
        let mut s = 0.0;
        for j in 0..c.ncols() {
            for i in 0..c.nrows() {
                s += c[(i, j)] * c[(i, j)];
            }
        }
        s
    } else {
        let k = matmul(x, x.transpose());
        let l = matmul(y, y.transpose());
        let mut s = 0.0;
        for j in 0..n {
            for i in 0..n {
                s += k[(i, j)] * l[(i, j)];
            }
        }
        s
    }
}

fn hsic_from(x: MatRef<'_, f64>, y: MatRef<'_, f64>, px: &HsicParts, py: &HsicParts) -> f64 {
    hsic_combine(trace_kl(x, y), px, py)
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

/// Unbiased HSIC estimate (linear kernels) between `x` (`n × p`) and `y` (`n × q`), `n ≥ 4`.
pub fn hsic_unbiased(x: MatrixRef<'_>, y: MatrixRef<'_>) -> Result<f64> {
    check_cka("unbiased hsic", x, y)?;
    let (fx, fy) = (to_faer(x), to_faer(y));
    let (px, py) = (hsic_parts(fx.as_ref()), hsic_parts(fy.as_ref()));
    Ok(hsic_from(fx.as_ref(), fy.as_ref(), &px, &py))
}

/// Unbiased linear CKA between `x` (`n × p`) and `y` (`n × q`), `n ≥ 4` (see module docs).
/// Returns 0 when either self-HSIC is not positive (a degenerate input carries no evidence).
pub fn cka_unbiased(x: MatrixRef<'_>, y: MatrixRef<'_>) -> Result<f64> {
    check_cka("unbiased cka", x, y)?;
    let (fx, fy) = (to_faer(x), to_faer(y));
    Ok(cka_faer(fx.as_ref(), fy.as_ref()))
}

fn cka_faer(x: MatRef<'_, f64>, y: MatRef<'_, f64>) -> f64 {
    let (px, py) = (hsic_parts(x), hsic_parts(y));
    let xy = hsic_from(x, y, &px, &py);
    let xx = hsic_from(x, x, &px, &px);
    let yy = hsic_from(y, y, &py, &py);
    if xx.is_nan() || yy.is_nan() || xx <= 0.0 || yy <= 0.0 {
        return 0.0;
    }
    xy / (xx * yy).sqrt()
}

/// A matrix prepared for repeated CKA computations (its values, centring parts and self-HSIC
/// computed once), e.g. for a block × block CKA matrix. The cross products `XᵀY` run as `f32`
/// GEMMs (half the bytes, twice the SIMD width of `f64`; each entry is a dot product over the
/// examples, accurate to ~1e-6 relative) and are squared and summed in `f64`; the centring
/// parts are accumulated in `f64`. CKA values agree with [`cka_unbiased`] to ~1e-6.
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

/// Block × block unbiased CKA matrix, row-major `xs.len() × ys.len()` (row = block of A):
/// the input to [`crate::depth`]. Each matrix is prepared once, so the cost is one cross
/// term per pair plus one self term per matrix.
pub fn cka_matrix(xs: &[MatrixRef<'_>], ys: &[MatrixRef<'_>]) -> Result<Vec<f64>> {
    let px = xs
        .iter()
        .map(|x| CkaPrepared::new(*x))
        .collect::<Result<Vec<_>>>()?;
    let py = ys
        .iter()
        .map(|y| CkaPrepared::new(*y))
        .collect::<Result<Vec<_>>>()?;
    let mut out = Vec::with_capacity(px.len() * py.len());
    for a in &px {
        for b in &py {
            out.push(a.cka(b)?);
        }
    }
    Ok(out)
}

/// Alignment of hidden dimensions of two models (see module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct DimAlignment {
    /// Hidden size of A.
    pub dims_a: usize,
    /// Hidden size of B.
    pub dims_b: usize,
    /// Aligned `(dimension of A, dimension of B)` pairs, increasing in A; `min(d_a, d_b)`.
    pub pairs: Vec<(usize, usize)>,
    /// Sign of the column cosine of each pair (`±1`): A's dimension times the sign
    /// corresponds to B's.
    pub signs: Vec<f32>,
    /// `|cos|` of each pair.
    pub abs_cos: Vec<f64>,
}

impl DimAlignment {
    /// Mean `|cos|` of the aligned pairs (≈ 1 for a reparameterised copy).
    pub fn mean_abs_cos(&self) -> f64 {
        if self.abs_cos.is_empty() {
            0.0
        } else {
            self.abs_cos.iter().sum::<f64>() / self.abs_cos.len() as f64
        }
    }

    /// For a weight `w` of A whose **columns** are A's hidden dimensions (e.g. `W_q`,
    /// `r × d_a`): a `k × r` matrix whose row `t` is `signs[t] ·` column `pairs[t].0`.
    /// Feed it with [`DimAlignment::rows_b`] to [`cka_unbiased`].
    pub fn rows_a(&self, w: MatrixRef<'_>) -> Result<Matrix> {
        self.gather(w, self.dims_a, true)
    }

    /// For a weight `w` of B whose columns are B's hidden dimensions: row `t` is column
    /// `pairs[t].1`.
    pub fn rows_b(&self, w: MatrixRef<'_>) -> Result<Matrix> {
        self.gather(w, self.dims_b, false)
    }

    fn gather(&self, w: MatrixRef<'_>, dims: usize, side_a: bool) -> Result<Matrix> {
        if w.cols() != dims {
            return Err(StatsError::InvalidArgument {
                what: "aligned weight",
                message: format!(
                    "weight has {} columns but the model's hidden size is {dims}",
                    w.cols()
                ),
            });
        }
        let k = self.pairs.len();
        let mut out = Matrix::zeros(k, w.rows());
        for (t, &(ia, ib)) in self.pairs.iter().enumerate() {
            let (col, sign) = if side_a {
                (ia, self.signs[t])
            } else {
                (ib, 1.0)
            };
            for i in 0..w.rows() {
                out.data[t * w.rows() + i] = sign * w.get(i, col);
            }
        }
        Ok(out)
    }
}

fn check_embeddings(what: &'static str, ea: MatrixRef<'_>, eb: MatrixRef<'_>) -> Result<()> {
    if ea.rows() != eb.rows() {
        return Err(StatsError::ShapeMismatch {
            what,
            a_rows: ea.rows(),
            a_cols: ea.cols(),
            b_rows: eb.rows(),
            b_cols: eb.cols(),
        });
    }
    if ea.rows() < 2 {
        return Err(StatsError::TooSmall {
            what,
            needed: 2,
            got: ea.rows(),
            unit: "shared tokens",
        });
    }
    ea.check_finite("embedding of a")?;
    eb.check_finite("embedding of b")?;
    Ok(())
}

/// Columns of `e` as `f64`, optionally centred, scaled to unit norm (zero columns stay 0).
fn unit_columns(e: MatrixRef<'_>, centre: bool) -> Mat<f64> {
    let mut f = to_faer(e);
    let n = f.nrows();
    for j in 0..f.ncols() {
        let mean = if centre {
            (0..n).map(|i| f[(i, j)]).sum::<f64>() / n as f64
        } else {
            0.0
        };
        let mut ss = 0.0;
        for i in 0..n {
            f[(i, j)] -= mean;
            ss += f[(i, j)] * f[(i, j)];
        }
        let inv = if ss > 0.0 { 1.0 / ss.sqrt() } else { 0.0 };
        for i in 0..n {
            f[(i, j)] *= inv;
        }
    }
    f
}

/// Aligns hidden dimensions by an assignment on `|cos|` between embedding **columns** over
/// shared tokens (AWM). `centre = true` uses centred columns (Pearson correlation; recommended:
/// a common offset of all embeddings otherwise inflates every cosine). Works for `d_a ≠ d_b`.
/// Memory: both embeddings in `f64` plus the `d_a × d_b` cosine matrix.
pub fn align_hidden_dims(
    ea: MatrixRef<'_>,
    eb: MatrixRef<'_>,
    centre: bool,
) -> Result<DimAlignment> {
    check_embeddings("hidden-dimension alignment", ea, eb)?;
    let (fa, fb) = (unit_columns(ea, centre), unit_columns(eb, centre));
    let cos = matmul(fa.as_ref().transpose(), fb.as_ref());
    let (da, db) = (ea.cols(), eb.cols());
    let mut abs = vec![0.0f64; da * db];
    for i in 0..da {
        for j in 0..db {
            abs[i * db + j] = cos[(i, j)].abs();
        }
    }
    let asg = assign_max(&abs, da, db)?;
    let pairs = asg.pairs();
    let signs = pairs
        .iter()
        .map(|&(i, j)| if cos[(i, j)] < 0.0 { -1.0 } else { 1.0 })
        .collect();
    let abs_cos = pairs.iter().map(|&(i, j)| abs[i * db + j]).collect();
    Ok(DimAlignment {
        dims_a: da,
        dims_b: db,
        pairs,
        signs,
        abs_cos,
    })
}

/// Orthogonal Procrustes: `R` (`d_a × d_b`, orthonormal columns or rows) minimizing
/// `‖E_A R − E_B‖_F`, from the thin SVD `E_Aᵀ E_B = U Σ Vᵀ`, `R = U Vᵀ`. Maps A's hidden
/// coordinates into B's: `W^A R` for weights whose columns are A's hidden dimensions.
pub fn procrustes(ea: MatrixRef<'_>, eb: MatrixRef<'_>) -> Result<Matrix> {
    check_embeddings("orthogonal procrustes", ea, eb)?;
    let (fa, fb) = (to_faer(ea), to_faer(eb));
    let m = matmul(fa.as_ref().transpose(), fb.as_ref());
    let svd = m.thin_svd().map_err(|_| StatsError::NoConvergence {
        what: "orthogonal procrustes svd",
    })?;
    let r = matmul(svd.U(), svd.V().transpose());
    Ok(from_faer(r.as_ref()))
}

/// `w · r` (e.g. A's `W_q` mapped to B's hidden coordinates with a Procrustes `r`).
pub fn rotate_columns(w: MatrixRef<'_>, r: MatrixRef<'_>) -> Result<Matrix> {
    if w.cols() != r.rows() {
        return Err(StatsError::ShapeMismatch {
            what: "rotate columns",
            a_rows: w.rows(),
            a_cols: w.cols(),
            b_rows: r.rows(),
            b_cols: r.cols(),
        });
    }
    let p = matmul(to_faer(w).as_ref(), to_faer(r).as_ref());
    Ok(from_faer(p.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    fn random_orthogonal(d: usize, rng: &mut SplitMix64) -> Matrix {
        let g = rng.gaussian_matrix(d, d, 1.0);
        from_faer(to_faer(g.view()).qr().compute_Q().as_ref())
    }

    #[test]
    fn feature_and_example_space_agree() {
        let mut r = SplitMix64::new(1);
        // n = 12 < p + q: example space; transpose-shaped case uses feature space.
        let x = r.gaussian_matrix(12, 30, 1.0);
        let y = r.gaussian_matrix(12, 25, 1.0);
        let (fx, fy) = (to_faer(x.view()), to_faer(y.view()));
        let c = matmul(fx.as_ref().transpose(), fy.as_ref());
        let feat: f64 = (0..30)
            .flat_map(|i| (0..25).map(move |j| (i, j)))
            .map(|(i, j)| c[(i, j)] * c[(i, j)])
            .sum();
        let ex = trace_kl(fx.as_ref(), fy.as_ref());
        assert!((feat - ex).abs() < 1e-9 * feat, "{feat} vs {ex}");
    }

    #[test]
    fn invariant_to_feature_rotation_and_scale() {
        let mut r = SplitMix64::new(2);
        let x = r.gaussian_matrix(100, 16, 1.0);
        let q = random_orthogonal(16, &mut r);
        let mut y = rotate_columns(x.view(), q.view()).unwrap();
        for v in &mut y.data {
            *v *= 3.0;
        }
        let c = cka_unbiased(x.view(), y.view()).unwrap();
        assert!((c - 1.0).abs() < 1e-5, "{c}");
    }

    #[test]
    fn prepared_matrix_agrees_with_direct() {
        let mut r = SplitMix64::new(6);
        let xs: Vec<Matrix> = (0..3).map(|_| r.gaussian_matrix(30, 8, 1.0)).collect();
        let ys: Vec<Matrix> = (0..2)
            .map(|k| {
                let mut y = xs[k].clone();
                for v in &mut y.data {
                    *v += (r.normal() * 0.5) as f32;
                }
                y
            })
            .collect();
        let xv: Vec<MatrixRef<'_>> = xs.iter().map(|m| m.view()).collect();
        let yv: Vec<MatrixRef<'_>> = ys.iter().map(|m| m.view()).collect();
        let m = cka_matrix(&xv, &yv).unwrap();
        assert_eq!(m.len(), 6);
        for i in 0..3 {
            for j in 0..2 {
                let direct = cka_unbiased(xv[i], yv[j]).unwrap();
                // f32 cross products against the f64 direct path.
                assert!(
                    (m[i * 2 + j] - direct).abs() < 1e-5,
                    "{} vs {direct}",
                    m[i * 2 + j]
                );
            }
        }
        assert!(m[0] > 0.6 && m[3] > 0.6 && m[1].abs() < 0.3);
    }

    #[test]
    fn independent_inputs_near_zero() {
        let mut r = SplitMix64::new(3);
        let x = r.gaussian_matrix(400, 40, 1.0);
        let y = r.gaussian_matrix(400, 30, 1.0);
        let c = cka_unbiased(x.view(), y.view()).unwrap();
        assert!(c.abs() < 0.02, "{c}");
    }

    #[test]
    fn recovers_permutation_and_signs_with_extra_dims() {
        let mut r = SplitMix64::new(4);
        let (n, da, db) = (600, 48, 60);
        let ea = r.gaussian_matrix(n, da, 1.0);
        let perm = r.permutation(db); // A dim i -> B dim perm[i]
        let signs: Vec<f32> = (0..da)
            .map(|_| if r.next_f64() < 0.5 { -1.0 } else { 1.0 })
            .collect();
        let mut eb = r.gaussian_matrix(n, db, 1.0); // extra dims stay random
        for t in 0..n {
            for i in 0..da {
                eb.data[t * db + perm[i]] = signs[i] * ea.get(t, i) + (r.normal() * 0.3) as f32;
            }
        }
        let al = align_hidden_dims(ea.view(), eb.view(), true).unwrap();
        assert_eq!(al.pairs.len(), da);
        for (t, &(i, j)) in al.pairs.iter().enumerate() {
            assert_eq!(j, perm[i]);
            assert_eq!(al.signs[t], signs[i]);
        }
        assert!(al.mean_abs_cos() > 0.9);
    }

    #[test]
    fn procrustes_recovers_rotation() {
        let mut r = SplitMix64::new(5);
        let (n, d) = (500, 32);
        let ea = r.gaussian_matrix(n, d, 1.0);
        let rot = random_orthogonal(d, &mut r);
        let mut eb = rotate_columns(ea.view(), rot.view()).unwrap();
        for v in &mut eb.data {
            *v += (r.normal() * 0.05) as f32;
        }
        let est = procrustes(ea.view(), eb.view()).unwrap();
        let err: f64 = est
            .data
            .iter()
            .zip(&rot.data)
            .map(|(a, b)| f64::from(a - b).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(err < 0.05, "{err}");
    }
}
