//! Residual-stream alignment numerics: `f32` matrix products and the orthogonal Procrustes
//! map between two models' hidden coordinates.
//!
//! Given the embedding rows of the same `n` tokens in both models (`A`: `n × d`, `B`: `n × d`),
//! [`procrustes_f32`] returns the orthogonal `M` (`d × d`) minimizing `‖B M − A‖_F`:
//! `M = U Vᵀ` from the thin SVD `Bᵀ A = U Σ Vᵀ` (Schönemann 1966). `B M` is then in `A`'s
//! coordinates: a rotation of the residual stream is undone. The cross product `Bᵀ A` is an
//! `f32` GEMM (the operands stay `f32`), the SVD and `U Vᵀ` run in `f64`, and `M` is rounded to
//! `f32` once at the end.

use crate::{Matrix, MatrixRef};

fn faer_view(m: MatrixRef<'_>) -> faer::MatRef<'_, f32> {
    faer::MatRef::from_row_major_slice(m.data(), m.rows(), m.cols())
}

/// `a · b` (`f32` GEMM by faer). `a.cols()` must equal `b.rows()` (faer panics otherwise).
pub fn matmul(a: MatrixRef<'_>, b: MatrixRef<'_>) -> Matrix {
    let c = faer_view(a) * faer_view(b);
    Matrix::from_fn(a.rows(), b.cols(), |i, j| c[(i, j)])
}

/// `aᵀ · b` (`f32` GEMM by faer). `a.rows()` must equal `b.rows()` (faer panics otherwise).
pub fn matmul_tn(a: MatrixRef<'_>, b: MatrixRef<'_>) -> Matrix {
    let c = faer_view(a).transpose() * faer_view(b);
    Matrix::from_fn(a.cols(), b.cols(), |i, j| c[(i, j)])
}

/// Orthogonal Procrustes (see the module docs): the orthogonal `M` (`d × d`) minimizing
/// `‖B·M − A‖_F` for `a` and `b` of the same shape `n × d`. `None` when the shapes differ or
/// the SVD does not converge.
pub fn procrustes_f32(a: MatrixRef<'_>, b: MatrixRef<'_>) -> Option<Matrix> {
    if a.cols() != b.cols() || a.rows() != b.rows() {
        return None;
    }
    let c = matmul_tn(b, a); // d_b × d_a = Bᵀ A
    let fc = faer::Mat::<f64>::from_fn(c.rows, c.cols, |i, j| f64::from(c.get(i, j)));
    let svd = fc.thin_svd().ok()?;
    let m = svd.U() * svd.V().transpose();
    Some(Matrix::from_fn(m.nrows(), m.ncols(), |i, j| {
        m[(i, j)] as f32
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    /// A random orthogonal `d × d` matrix (Q of a Gaussian matrix's QR).
    fn random_orthogonal(d: usize, rng: &mut SplitMix64) -> Matrix {
        let g = faer::Mat::<f64>::from_fn(d, d, |_, _| rng.normal());
        let q = g.qr().compute_Q();
        Matrix::from_fn(d, d, |i, j| q[(i, j)] as f32)
    }

    #[test]
    fn products_match_naive_loops() {
        let mut r = SplitMix64::new(2);
        let a = r.gaussian_matrix(7, 5, 1.0);
        let b = r.gaussian_matrix(5, 3, 1.0);
        let c = r.gaussian_matrix(7, 4, 1.0);
        let ab = matmul(a.view(), b.view());
        let atc = matmul_tn(a.view(), c.view());
        assert_eq!((ab.rows, ab.cols, atc.rows, atc.cols), (7, 3, 5, 4));
        for i in 0..7 {
            for j in 0..3 {
                let want: f32 = (0..5).map(|k| a.get(i, k) * b.get(k, j)).sum();
                assert!((ab.get(i, j) - want).abs() < 1e-5);
            }
        }
        for i in 0..5 {
            for j in 0..4 {
                let want: f32 = (0..7).map(|k| a.get(k, i) * c.get(k, j)).sum();
                assert!((atc.get(i, j) - want).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn recovers_a_rotation_of_the_residual_stream() {
        let mut r = SplitMix64::new(5);
        let (n, d) = (400, 24);
        let a = r.gaussian_matrix(n, d, 1.0);
        let rot = random_orthogonal(d, &mut r);
        // B = A Rᵀ (+ noise), so B R ≈ A: Procrustes must return R.
        let rt = rot.view().transpose();
        let mut b = matmul(a.view(), rt.view());
        for v in &mut b.data {
            *v += (r.normal() * 0.01) as f32;
        }
        let m = procrustes_f32(a.view(), b.view()).expect("converges");
        let err = m
            .data
            .iter()
            .zip(&rot.data)
            .map(|(x, y)| f64::from(x - y).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(err < 1e-2, "{err}");
        // M is orthogonal.
        let mtm = matmul_tn(m.view(), m.view());
        for i in 0..d {
            for j in 0..d {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((mtm.get(i, j) - want).abs() < 1e-5);
            }
        }
        assert!(procrustes_f32(a.view(), a.view().select_rows(&[0, 1]).unwrap().view()).is_none());
    }
}
