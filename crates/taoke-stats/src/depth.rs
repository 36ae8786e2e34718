//! Depth alignment: which block of `B` each block of `A` corresponds to, given a
//! block-to-block score matrix (e.g. `−ln p` of a per-block-pair test).
//!
//! [`monotone_map`] is a dynamic programme over monotone paths: block `i` of `A` maps to a
//! block `j(i)` of `B` with `j` non-decreasing in `i`, maximizing `Σ_i score[i, j(i)]`.
//! Repeats (several blocks of `A` on one block of `B`, as after depth up-scaling by block
//! duplication) and gaps (blocks of `B` that no block of `A` maps to, as after depth pruning
//! of `A`'s source) cost nothing; a caller that wants only confident links filters the path
//! afterwards.

/// The monotone map maximizing the total score: `path[i]` is the block of `B` chosen for
/// block `i` of `A`, non-decreasing in `i`. `scores` is row-major `n_a × n_b` (row = block of
/// `A`); empty when `n_a` or `n_b` is 0.
///
/// Recurrence: `dp[0][j] = s(0, j)`, `dp[i][j] = s(i, j) + max_{k ≤ j} dp[i−1][k]`, `O(n_a n_b)`.
/// Ties, fixed so that the path is reproducible: the running maximum over `k ≤ j` keeps the
/// **first** (lowest) `k` reaching it (only a strictly greater value replaces it), and the end
/// of the path is the **last** `j` with the largest `dp[n_a−1][j]` (`Iterator::max_by` with
/// `f64::total_cmp`).
///
/// # Panics
/// When `scores.len() != n_a * n_b` (a caller bug: the matrix is built by the caller).
pub fn monotone_map(scores: &[f64], n_a: usize, n_b: usize) -> Vec<usize> {
    assert_eq!(
        Some(scores.len()),
        n_a.checked_mul(n_b),
        "monotone_map: the score matrix must have n_a × n_b entries"
    );
    if n_a == 0 || n_b == 0 {
        return Vec::new();
    }
    let s = scores;
    // dp[i][j]: best total for blocks 0..=i of A with block i mapped to j.
    let mut dp = vec![f64::NEG_INFINITY; n_a * n_b];
    let mut from = vec![0usize; n_a * n_b];
    dp[..n_b].copy_from_slice(&s[..n_b]);
    for i in 1..n_a {
        let mut best = f64::NEG_INFINITY;
        let mut arg = 0;
        for j in 0..n_b {
            if dp[(i - 1) * n_b + j] > best {
                best = dp[(i - 1) * n_b + j];
                arg = j;
            }
            dp[i * n_b + j] = best + s[i * n_b + j];
            from[i * n_b + j] = arg;
        }
    }
    let mut j = (0..n_b)
        .max_by(|&x, &y| dp[(n_a - 1) * n_b + x].total_cmp(&dp[(n_a - 1) * n_b + y]))
        .unwrap_or(0);
    let mut path = vec![0usize; n_a];
    for i in (0..n_a).rev() {
        path[i] = j;
        if i > 0 {
            j = from[i * n_b + j];
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    /// Every non-decreasing path of length `n_a` over `0..n_b`, by brute force.
    fn best_total(s: &[f64], n_a: usize, n_b: usize) -> f64 {
        fn rec(s: &[f64], n_b: usize, i: usize, lo: usize, n_a: usize) -> f64 {
            if i == n_a {
                return 0.0;
            }
            (lo..n_b)
                .map(|j| s[i * n_b + j] + rec(s, n_b, i + 1, j, n_a))
                .fold(f64::NEG_INFINITY, f64::max)
        }
        rec(s, n_b, 0, 0, n_a)
    }

    fn total(s: &[f64], n_b: usize, path: &[usize]) -> f64 {
        path.iter().enumerate().map(|(i, &j)| s[i * n_b + j]).sum()
    }

    #[test]
    fn pruned_and_upscaled_depth_is_recovered() {
        // A = B with B's blocks 3 and 8 dropped and block 5 duplicated:
        // A's 11 blocks map to B's [0,1,2,4,5,5,6,7,9,10,11].
        let truth = [0usize, 1, 2, 4, 5, 5, 6, 7, 9, 10, 11];
        let (n_a, n_b) = (truth.len(), 12);
        let mut rng = SplitMix64::new(8);
        let mut s = vec![0.0; n_a * n_b];
        for (i, &t) in truth.iter().enumerate() {
            for j in 0..n_b {
                let base = match t.abs_diff(j) {
                    0 => 40.0,
                    1 => 8.0,
                    _ => 0.0,
                };
                s[i * n_b + j] = base + rng.next_f64();
            }
        }
        let path = monotone_map(&s, n_a, n_b);
        assert_eq!(path, truth);
        assert!((total(&s, n_b, &path) - best_total(&s, n_a, n_b)).abs() < 1e-9);
    }

    #[test]
    fn optimal_on_random_scores() {
        let mut rng = SplitMix64::new(21);
        for &(n_a, n_b) in &[(1usize, 1usize), (1, 5), (5, 1), (4, 6), (6, 4), (7, 7)] {
            let s: Vec<f64> = (0..n_a * n_b).map(|_| rng.next_f64() * 10.0).collect();
            let path = monotone_map(&s, n_a, n_b);
            assert_eq!(path.len(), n_a);
            assert!(path.windows(2).all(|w| w[0] <= w[1]), "{path:?}");
            let got = total(&s, n_b, &path);
            let want = best_total(&s, n_a, n_b);
            assert!((got - want).abs() < 1e-9, "{n_a}x{n_b}: {got} vs {want}");
        }
    }

    #[test]
    fn ties_are_broken_as_documented() {
        // All zero: the running maximum keeps k = 0, the end is the last column, so the path
        // ends on the last column and every earlier block falls back to column 0.
        assert_eq!(monotone_map(&[0.0; 12], 3, 4), vec![0, 0, 3]);
        // One row: the last maximum.
        assert_eq!(monotone_map(&[1.0, 5.0, 5.0, 2.0], 1, 4), vec![2]);
        // Forward pass: block 0 ties on columns 1 and 2; block 1 reaches column 2 from the
        // first of them.
        let s = [0.0, 5.0, 5.0, 0.0, 0.0, 9.0];
        assert_eq!(monotone_map(&s, 2, 3), vec![1, 2]);
        assert!(monotone_map(&[], 0, 3).is_empty());
        assert!(monotone_map(&[], 3, 0).is_empty());
    }

    #[test]
    #[should_panic(expected = "n_a × n_b")]
    fn wrong_matrix_size_is_a_bug() {
        monotone_map(&[0.0; 5], 2, 3);
    }
}
