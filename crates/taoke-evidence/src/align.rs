//! Residual-stream alignment anchored on the vocabulary (after AWM): pick the tokens both
//! models share (by normalized string), take their embedding rows, and find the map from B's
//! hidden coordinates to A's: identity, a signed permutation (assignment on |cos| between
//! embedding columns) or an orthogonal rotation (Procrustes).
//!
//! The alignment only prepares B's matrices for comparison; it is never itself a test of
//! relatedness (two independently trained embeddings of one vocabulary align well by
//! Procrustes — that is how cross-lingual embedding alignment works). The exact tests run on
//! units whose order stays exchangeable under the null whatever the alignment.

pub use taoke_stats::align::{matmul, matmul_tn, procrustes_f32 as procrustes};
use taoke_stats::Matrix;

/// How B's residual coordinates map to A's.
#[derive(Debug, Clone)]
pub enum Transform {
    /// Same coordinates (same width).
    Identity,
    /// Column `j` of B maps to column `map[j].0` of A with sign `map[j].1` (None: dropped).
    SignedPermutation(Vec<Option<(usize, f32)>>),
    /// Dense `d_b × d_a` orthogonal map: `X_B · M` is in A's coordinates.
    Rotation(Matrix),
}

/// What kind of map a [`Transform`] is (a signed permutation that moves nothing is the
/// identity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransformKind {
    /// B's coordinates are A's.
    Identity,
    /// Coordinates moved and possibly negated.
    SignedPermutation,
    /// A dense orthogonal map.
    Rotation,
}

impl TransformKind {
    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            TransformKind::Identity => "identity",
            TransformKind::SignedPermutation => "signed-permutation",
            TransformKind::Rotation => "rotation",
        }
    }
}

impl Transform {
    /// What kind of map this is.
    pub fn kind(&self) -> TransformKind {
        match self {
            Transform::Identity => TransformKind::Identity,
            Transform::SignedPermutation(m) => {
                let identity = m
                    .iter()
                    .enumerate()
                    .all(|(j, x)| matches!(x, Some((i, s)) if *i == j && *s > 0.0));
                if identity {
                    TransformKind::Identity
                } else {
                    TransformKind::SignedPermutation
                }
            }
            Transform::Rotation(_) => TransformKind::Rotation,
        }
    }

    /// A short name for reports.
    pub fn name(&self) -> &'static str {
        self.kind().as_str()
    }

    /// [`Transform::apply`] taking ownership: the identity on equal widths returns `x` itself.
    pub fn apply_owned(&self, x: Matrix, d_a: usize) -> Matrix {
        match self {
            Transform::Identity if x.cols == d_a => x,
            _ => self.apply(&x, d_a),
        }
    }

    /// Maps `x` (`rows × d_b`, columns in B's residual coordinates) to `rows × d_a`.
    pub fn apply(&self, x: &Matrix, d_a: usize) -> Matrix {
        match self {
            Transform::Identity => {
                if x.cols == d_a {
                    x.clone()
                } else {
                    // Different widths without a map: keep the common leading columns.
                    Matrix::from_fn(
                        x.rows,
                        d_a,
                        |i, j| if j < x.cols { x.get(i, j) } else { 0.0 },
                    )
                }
            }
            Transform::SignedPermutation(map) => {
                let mut out = Matrix::zeros(x.rows, d_a);
                for (j, m) in map.iter().enumerate() {
                    if let Some((i, s)) = m {
                        if *i < d_a && j < x.cols {
                            for r in 0..x.rows {
                                out.data[r * d_a + i] = s * x.data[r * x.cols + j];
                            }
                        }
                    }
                }
                out
            }
            Transform::Rotation(m) => matmul(x.view(), m.view()),
        }
    }
}

/// Centres each column of `x` (subtracts the column mean).
pub fn center_columns(x: &mut Matrix) {
    for j in 0..x.cols {
        let mean = (0..x.rows)
            .map(|i| f64::from(x.data[i * x.cols + j]))
            .sum::<f64>()
            / x.rows.max(1) as f64;
        for i in 0..x.rows {
            x.data[i * x.cols + j] -= mean as f32;
        }
    }
}

/// Relative residual ‖B·M − A‖ / ‖A‖ of a transform.
pub fn fit_residual(a: &Matrix, b: &Matrix, t: &Transform) -> f64 {
    let bm = t.apply(b, a.cols);
    let mut num = 0f64;
    let mut den = 0f64;
    for (x, y) in a.data.iter().zip(&bm.data) {
        num += f64::from(x - y).powi(2);
        den += f64::from(*x).powi(2);
    }
    if den == 0.0 {
        return f64::INFINITY;
    }
    (num / den).sqrt()
}
