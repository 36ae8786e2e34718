//! Dense row-major `f32` matrices and their conversion to `faer` (`f64`).

use crate::{Result, StatsError};
use faer::{Accum, Mat, MatMut, MatRef as FaerRef, Par};

/// An owned dense matrix, row-major `f32`: element `(i, j)` is `data[i * cols + j]`.
///
/// The public API of the crate speaks this type (and its view [`MatrixRef`]); `faer` and
/// `ndarray` stay internal. Weights are kept in `f32` (half the memory of `f64`); all
/// arithmetic on them runs in `f64`.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Row-major values, `rows * cols` of them.
    pub data: Vec<f32>,
}

/// A borrowed row-major `f32` matrix. Build it with [`MatrixRef::new`] (checked) or
/// [`Matrix::view`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatrixRef<'a> {
    rows: usize,
    cols: usize,
    data: &'a [f32],
}

impl Matrix {
    /// Wraps a row-major buffer, checking `data.len() == rows * cols`.
    pub fn new(rows: usize, cols: usize, data: Vec<f32>) -> Result<Self> {
        check_len("matrix", rows, cols, data.len())?;
        Ok(Self { rows, cols, data })
    }

    /// An all-zero matrix. For sizes chosen by the program (not read from files): an
    /// overflowing `rows * cols` panics on allocation, so check sizes from files first.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self {
            rows,
            cols,
            data: vec![0.0; rows.saturating_mul(cols)],
        }
    }

    /// Builds a matrix from a function of `(row, col)` (same size caveat as [`Matrix::zeros`]).
    pub fn from_fn(rows: usize, cols: usize, mut f: impl FnMut(usize, usize) -> f32) -> Self {
        let mut data = Vec::with_capacity(rows.saturating_mul(cols));
        for i in 0..rows {
            for j in 0..cols {
                data.push(f(i, j));
            }
        }
        Self { rows, cols, data }
    }

    /// A borrowed view.
    pub fn view(&self) -> MatrixRef<'_> {
        MatrixRef {
            rows: self.rows,
            cols: self.cols,
            data: &self.data,
        }
    }

    /// Element `(i, j)`; panics when out of range (programming error, not data error).
    pub fn get(&self, i: usize, j: usize) -> f32 {
        self.view().get(i, j)
    }

    /// Row `i` as a slice.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
}

impl<'a> MatrixRef<'a> {
    /// A view over a row-major buffer, checking `data.len() == rows * cols`.
    pub fn new(rows: usize, cols: usize, data: &'a [f32]) -> Result<Self> {
        check_len("matrix view", rows, cols, data.len())?;
        Ok(Self { rows, cols, data })
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The row-major values.
    pub fn data(&self) -> &'a [f32] {
        self.data
    }

    /// Element `(i, j)`; panics when out of range (programming error, not data error).
    pub fn get(&self, i: usize, j: usize) -> f32 {
        assert!(i < self.rows && j < self.cols, "index out of range");
        self.data[i * self.cols + j]
    }

    /// Row `i` as a slice.
    pub fn row(&self, i: usize) -> &'a [f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// An owned copy.
    pub fn to_owned(&self) -> Matrix {
        Matrix {
            rows: self.rows,
            cols: self.cols,
            data: self.data.to_vec(),
        }
    }

    /// The transpose, as an owned matrix (copied in 32 × 32 tiles, so both sides are read and
    /// written a cache line at a time).
    pub fn transpose(&self) -> Matrix {
        const T: usize = 32;
        let (r, c) = (self.rows, self.cols);
        let mut data = vec![0.0f32; r * c];
        for i0 in (0..r).step_by(T) {
            for j0 in (0..c).step_by(T) {
                for i in i0..(i0 + T).min(r) {
                    let row = &self.data[i * c..(i + 1) * c];
                    for j in j0..(j0 + T).min(c) {
                        data[j * r + i] = row[j];
                    }
                }
            }
        }
        Matrix {
            rows: c,
            cols: r,
            data,
        }
    }

    /// The rows listed in `idx` (in that order), as an owned matrix.
    pub fn select_rows(&self, idx: &[usize]) -> Result<Matrix> {
        let mut data = Vec::with_capacity(idx.len().saturating_mul(self.cols));
        for &i in idx {
            if i >= self.rows {
                return Err(StatsError::InvalidArgument {
                    what: "select_rows",
                    message: format!("row {i} out of range for {} rows", self.rows),
                });
            }
            data.extend_from_slice(self.row(i));
        }
        Ok(Matrix {
            rows: idx.len(),
            cols: self.cols,
            data,
        })
    }

    /// Index of the first non-finite value, if any.
    pub fn first_non_finite(&self) -> Option<usize> {
        self.data.iter().position(|v| !v.is_finite())
    }

    /// Fails with [`StatsError::NonFinite`] naming `what` when a value is NaN or infinite.
    pub fn check_finite(&self, what: &'static str) -> Result<()> {
        match self.first_non_finite() {
            Some(index) => Err(StatsError::NonFinite { what, index }),
            None => Ok(()),
        }
    }

    /// Frobenius norm, accumulated in `f64`.
    pub fn frobenius_norm(&self) -> f64 {
        self.data
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            .sqrt()
    }
}

impl<'a> From<&'a Matrix> for MatrixRef<'a> {
    fn from(m: &'a Matrix) -> Self {
        m.view()
    }
}

fn check_len(what: &'static str, rows: usize, cols: usize, len: usize) -> Result<()> {
    let needed = rows.checked_mul(cols);
    if needed != Some(len) {
        return Err(StatsError::BufferLength {
            what,
            rows,
            cols,
            needed: needed.unwrap_or(usize::MAX),
            len,
        });
    }
    Ok(())
}

/// Parallelism used for every `faer` call of the crate (the global rayon pool).
pub(crate) fn par() -> Par {
    Par::rayon(0)
}

/// Converts to a `faer` `f64` matrix.
pub(crate) fn to_faer(m: MatrixRef<'_>) -> Mat<f64> {
    Mat::from_fn(m.rows, m.cols, |i, j| f64::from(m.data[i * m.cols + j]))
}

/// Rows scaled to unit Euclidean norm (norms accumulated in `f64`; zero rows stay zero), as a
/// row-major `f32` buffer: the operand of the cosine GEMMs. `f32` halves the bytes and doubles
/// the SIMD width of the products; a cosine of `d`-dimensional unit rows is then accurate to
/// about `√d · 6e-8` (4e-6 at `d = 4096`), far below any gap an assignment acts on.
pub(crate) fn unit_rows_f32(m: MatrixRef<'_>) -> Vec<f32> {
    let mut out = Vec::with_capacity(m.data.len());
    for i in 0..m.rows {
        let row = &m.data[i * m.cols..(i + 1) * m.cols];
        let ss: f64 = row.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
        let inv = if ss > 0.0 {
            (1.0 / ss.sqrt()) as f32
        } else {
            0.0
        };
        out.extend(row.iter().map(|&v| v * inv));
    }
    out
}

/// `scale · a·bᵀ` of two row-major `f32` buffers (`ra × c` and `rb × c`), as a new row-major
/// `ra × rb` buffer (`f32` GEMM on the global pool).
pub(crate) fn gemm_abt_f32(
    a: &[f32],
    ra: usize,
    b: &[f32],
    rb: usize,
    c: usize,
    scale: f32,
) -> Vec<f32> {
    let mut buf = vec![0.0f32; ra * rb];
    if ra > 0 && rb > 0 {
        let lhs = FaerRef::from_row_major_slice(a, ra, c);
        let rhs = FaerRef::from_row_major_slice(b, rb, c);
        let dst = MatMut::from_row_major_slice_mut(&mut buf, ra, rb);
        faer::linalg::matmul::matmul(dst, Accum::Replace, lhs, rhs.transpose(), scale, par());
    }
    buf
}

/// `lhs * rhs` as a `faer` matrix.
pub(crate) fn matmul(lhs: FaerRef<'_, f64>, rhs: FaerRef<'_, f64>) -> Mat<f64> {
    let mut out = Mat::<f64>::zeros(lhs.nrows(), rhs.ncols());
    faer::linalg::matmul::matmul(out.as_mut(), Accum::Replace, lhs, rhs, 1.0, par());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_checks_length() {
        let v = [1.0f32; 6];
        assert!(MatrixRef::new(2, 3, &v).is_ok());
        let err = MatrixRef::new(2, 4, &v).unwrap_err();
        assert!(matches!(
            err,
            StatsError::BufferLength {
                needed: 8,
                len: 6,
                ..
            }
        ));
        assert!(MatrixRef::new(usize::MAX, 2, &v).is_err());
    }

    #[test]
    fn transpose_tiles() {
        for (r, c) in [(0, 3), (1, 1), (33, 70), (64, 31)] {
            let a = Matrix::from_fn(r, c, |i, j| (i * 1000 + j) as f32);
            let t = a.view().transpose();
            assert_eq!((t.rows, t.cols), (c, r));
            for i in 0..r {
                for j in 0..c {
                    assert_eq!(t.get(j, i), a.get(i, j));
                }
            }
        }
    }

    #[test]
    fn gemm_abt_matches_manual() {
        let a = Matrix::from_fn(2, 3, |i, j| (i * 3 + j) as f32);
        let b = Matrix::from_fn(2, 3, |i, j| (2 * i + j) as f32);
        // a·bᵀ: [0 1 2]·[0 1 2] = 5, [0 1 2]·[2 3 4] = 11, [3 4 5]·[0 1 2] = 14, ·[2 3 4] = 38
        assert_eq!(
            gemm_abt_f32(&a.data, 2, &b.data, 2, 3, 1.0),
            vec![5.0, 11.0, 14.0, 38.0]
        );
    }

    #[test]
    fn unit_rows() {
        let a = Matrix::from_fn(2, 2, |i, j| if i == 0 { 3.0 + j as f32 } else { 0.0 });
        let u = unit_rows_f32(a.view());
        assert!((u[0] - 0.6).abs() < 1e-7 && (u[1] - 0.8).abs() < 1e-7);
        assert_eq!(u[2], 0.0);
        let c = gemm_abt_f32(&u, 2, &u, 2, 2, -1.0);
        assert!((c[0] + 1.0).abs() < 1e-6 && c[1] == 0.0 && c[3] == 0.0);
    }
}
