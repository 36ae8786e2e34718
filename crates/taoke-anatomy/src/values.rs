//! Value-level relations between two tensors: equal, equal once transposed, same multiset of
//! values in another order, correlated, or unrelated.
//!
//! The multiset case matters: an early llama.cpp converter stored some stories260K matrices with
//! their values scrambled. Sorted values are then equal while element-wise correlation is ≈ 0,
//! and the honest report is "value-multiset equal, layout unknown", never "equal".

use serde::{Deserialize, Serialize};

/// Smallest |r| reported as [`TensorValueRelation::Correlated`] (besides significance).
pub const CORRELATED_MIN_R: f64 = 0.1;
/// Fisher z-score (`atanh(r) × sqrt(n − 3)`) needed for [`TensorValueRelation::Correlated`].
pub const CORRELATED_MIN_Z: f64 = 5.0;

/// How two tensors' values relate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "relation")]
pub enum TensorValueRelation {
    /// Element-wise equal (`==`, so `0.0 == -0.0`; NaNs equal NaNs at the same place).
    Equal,
    /// Element-wise equal after transposing one of them.
    EqualTransposed,
    /// Same multiset of values (sorted arrays equal), but not element-wise equal in any tried
    /// layout: same numbers, unknown layout.
    MultisetEqual,
    /// Significantly correlated (Pearson `r`, best of the tried layouts).
    Correlated {
        /// Pearson correlation.
        r: f64,
        /// Whether the correlation is with one of them transposed.
        transposed: bool,
    },
    /// Not significantly correlated.
    Unrelated {
        /// Pearson correlation (best of the tried layouts).
        r: f64,
    },
    /// Different element counts: nothing to compare element-wise.
    Incomparable,
}

fn equal_elementwise(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x == y || (x.is_nan() && y.is_nan()))
}

fn multiset_equal(a: &[f32], b: &[f32]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut x = a.to_vec();
    let mut y = b.to_vec();
    x.sort_unstable_by(f32::total_cmp);
    y.sort_unstable_by(f32::total_cmp);
    // Treat -0.0 and 0.0 alike, like `==`.
    x.iter()
        .zip(&y)
        .all(|(p, q)| p == q || (p.is_nan() && q.is_nan()))
}

/// Pearson correlation of two equally long slices (`None` when lengths differ, fewer than two
/// values, or one is constant). Accumulates in `f64`; non-finite values are skipped pairwise.
pub fn pearson(a: &[f32], b: &[f32]) -> Option<f64> {
    if a.len() != b.len() {
        return None;
    }
    pearson_iter(a.iter().copied().zip(b.iter().copied()))
}

fn pearson_iter(pairs: impl Iterator<Item = (f32, f32)> + Clone) -> Option<f64> {
    let (mut n, mut sa, mut sb) = (0u64, 0f64, 0f64);
    for (x, y) in pairs.clone() {
        if x.is_finite() && y.is_finite() {
            n += 1;
            sa += f64::from(x);
            sb += f64::from(y);
        }
    }
    if n < 2 {
        return None;
    }
    let (ma, mb) = (sa / n as f64, sb / n as f64);
    let (mut sab, mut saa, mut sbb) = (0f64, 0f64, 0f64);
    for (x, y) in pairs {
        if x.is_finite() && y.is_finite() {
            let (dx, dy) = (f64::from(x) - ma, f64::from(y) - mb);
            sab += dx * dy;
            saa += dx * dx;
            sbb += dy * dy;
        }
    }
    if saa <= 0.0 || sbb <= 0.0 {
        return None;
    }
    Some(sab / (saa.sqrt() * sbb.sqrt()))
}

fn classify_r(r: Option<f64>, n: usize, transposed: bool) -> TensorValueRelation {
    let r = r.unwrap_or(0.0);
    let z = r.clamp(-0.999_999, 0.999_999).atanh().abs() * ((n as f64) - 3.0).max(0.0).sqrt();
    if r.abs() >= CORRELATED_MIN_R && z >= CORRELATED_MIN_Z {
        TensorValueRelation::Correlated { r, transposed }
    } else {
        TensorValueRelation::Unrelated { r }
    }
}

/// Relates two flat value arrays without shape information: equal, multiset-equal, correlated
/// or unrelated. Use [`compare_matrix_values`] when the shape is known, to also try transposition.
pub fn compare_tensor_values(a: &[f32], b: &[f32]) -> TensorValueRelation {
    if a.len() != b.len() {
        return TensorValueRelation::Incomparable;
    }
    if equal_elementwise(a, b) {
        return TensorValueRelation::Equal;
    }
    if multiset_equal(a, b) {
        return TensorValueRelation::MultisetEqual;
    }
    classify_r(pearson(a, b), a.len(), false)
}

/// Relates `a` (row-major `[rows, cols]`) to `b`, read either as `[rows, cols]` or as the
/// transpose `[cols, rows]`: equal, equal-transposed, multiset-equal, correlated (best layout)
/// or unrelated.
pub fn compare_matrix_values(
    a: &[f32],
    b: &[f32],
    rows: usize,
    cols: usize,
) -> TensorValueRelation {
    if a.len() != b.len() || rows.checked_mul(cols) != Some(a.len()) {
        return compare_tensor_values(a, b);
    }
    if equal_elementwise(a, b) {
        return TensorValueRelation::Equal;
    }
    // b as [cols, rows]: a[r][c] vs b[c][r].
    let bt = |r: usize, c: usize| b[c * rows + r];
    let eq_t = (0..rows).all(|r| {
        (0..cols).all(|c| {
            let (x, y) = (a[r * cols + c], bt(r, c));
            x == y || (x.is_nan() && y.is_nan())
        })
    });
    if eq_t {
        return TensorValueRelation::EqualTransposed;
    }
    if multiset_equal(a, b) {
        return TensorValueRelation::MultisetEqual;
    }
    let r_direct = pearson(a, b);
    let r_t = if rows > 1 && cols > 1 {
        pearson_iter((0..rows * cols).map(|k| (a[k], bt(k / cols, k % cols))))
    } else {
        None
    };
    let abs = |r: Option<f64>| r.map(f64::abs).unwrap_or(0.0);
    if abs(r_t) > abs(r_direct) {
        classify_r(r_t, a.len(), true)
    } else {
        classify_r(r_direct, a.len(), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use taoke_test::xorshift_noise as noise;

    /// Tests built on [`noise`] must not change: the first values for seed 1.
    #[test]
    fn noise_is_pinned() {
        assert_eq!(
            noise(4, 1),
            [0.719_588_16, -0.211_397_41, -0.038_824_32, -0.622_100_23]
        );
    }

    #[test]
    fn relations() {
        let a = noise(12 * 7, 1);
        assert_eq!(compare_tensor_values(&a, &a), TensorValueRelation::Equal);
        let t = crate::layout::transpose(&a, 12, 7).expect("transpose");
        assert_eq!(
            compare_matrix_values(&a, &t, 12, 7),
            TensorValueRelation::EqualTransposed
        );
        // Without shape, a transposed copy is only multiset-equal.
        assert_eq!(
            compare_tensor_values(&a, &t),
            TensorValueRelation::MultisetEqual
        );
        // A scrambled copy (reversed blocks of 5) is multiset-equal, never equal.
        let mut s = a.clone();
        for chunk in s.chunks_mut(5) {
            chunk.reverse();
        }
        s.rotate_left(3);
        assert_eq!(
            compare_matrix_values(&a, &s, 12, 7),
            TensorValueRelation::MultisetEqual
        );
        // Noisy copy: correlated.
        let big = noise(4000, 2);
        let n = noise(4000, 3);
        let noisy: Vec<f32> = big.iter().zip(&n).map(|(x, e)| x + 0.1 * e).collect();
        match compare_tensor_values(&big, &noisy) {
            TensorValueRelation::Correlated { r, transposed } => {
                assert!(r > 0.99, "r = {r}");
                assert!(!transposed);
            }
            other => panic!("{other:?}"),
        }
        // Noisy transposed copy: correlated, transposed.
        let nt = crate::layout::transpose(&noisy, 80, 50).expect("transpose");
        match compare_matrix_values(&big, &nt, 80, 50) {
            TensorValueRelation::Correlated { r, transposed } => {
                assert!(r > 0.99, "r = {r}");
                assert!(transposed);
            }
            other => panic!("{other:?}"),
        }
        // Independent: unrelated.
        match compare_tensor_values(&big, &n) {
            TensorValueRelation::Unrelated { r } => assert!(r.abs() < 0.1, "r = {r}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            compare_tensor_values(&a, &big),
            TensorValueRelation::Incomparable
        );
    }

    #[test]
    fn pearson_edge_cases() {
        assert_eq!(pearson(&[1.0, 1.0], &[1.0, 2.0]), None);
        assert_eq!(pearson(&[1.0], &[1.0]), None);
        assert_eq!(pearson(&[1.0, 2.0], &[1.0]), None);
        let r = pearson(&[1.0, 2.0, 3.0, f32::NAN], &[2.0, 4.0, 6.0, 1.0]).expect("r");
        assert!((r - 1.0).abs() < 1e-12);
    }
}
