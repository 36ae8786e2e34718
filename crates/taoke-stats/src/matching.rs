//! Zhu et al.'s permutation-equivariant weight test φ_U (ICML 2025, arXiv 2502.12292) and its
//! rectangular and subset variants.
//!
//! # The test
//!
//! Rows of `A` (`h_a × d`) and `B` (`h_b × d`) are hidden units (e.g. MLP up-projection rows)
//! expressed in the same `d` input coordinates. Steps:
//!
//! 1. cosine matrix `C_ij = cos(a_i, b_j)` (one `f32` GEMM of row-normalized matrices, norms
//!    in `f64`; cosines accurate to ~1e-6, ample for an assignment);
//! 2. `MATCH`: the assignment `π` maximizing `Σ_i C_{i,π(i)}` ([`crate::lap`]);
//! 3. Spearman's `ρ` between the unit index `i` and its match `π(i)` over the matched pairs,
//!    i.e. `ρ = 1 − 6 Σ d² / (n(n²−1))` with `d` the rank differences (no ties);
//! 4. `ln p` of `ρ`.
//!
//! **Null hypothesis H0**: the two weight sets are independent, and the law of (at least) the
//! one whose rows are fully matched is invariant under permutations of its hidden units. This
//! holds when initialisation is permutation-invariant and training permutation-equivariant
//! (SGD, Adam), for independently initialised models (Zhu et al., Theorem 2). Under H0, `π` is
//! a uniformly random bijection onto the matched set, so `ρ` has exactly the null distribution
//! of Spearman's coefficient for `n` pairs. A model derived from the other without permuting
//! its units gives `π ≈ identity`, `ρ ≈ 1`.
//!
//! **Which tail.** [`Alternative::Greater`] (one-sided, the default recommended here): derivation
//! predicts `ρ > 0`, and a strongly negative `ρ` is no evidence of derivation, so the one-sided
//! p-value is the right one and is half the two-sided one. [`Alternative::TwoSided`] reproduces
//! the published numbers (`scipy.stats.spearmanr` is two-sided). Both are uniform under H0.
//!
//! **p-value.** As in the paper, `t = ρ √((n−2)/(1−ρ²))` against Student's t with `n − 2`
//! degrees of freedom, computed in log space so it never underflows. That approximation is
//! good in the bulk but *anti-conservative in the extreme tail* (for `π` = identity it gives
//! `p = 0`, while no permutation null can go below `1/n!`). We therefore also compute a
//! rigorous upper bound of the exact permutation p-value: every permutation with
//! `Σ d² ≤ s` has an integer displacement vector with `Σ|d_i| ≤ s`, and there are at most
//! `U(s) = Σ_k C(n,k) 2^k C(s,k)` of those, so `P(Σd² ≤ s) ≤ U(s)/n!`. The reported
//! `ln p` is `max(ln p_t, ln(U/n!))` whenever the bound is below 1, else `ln p_t`: in the
//! extreme tail it is the (valid, conservative) bound, never less than `−ln n!`.
//!
//! # Rectangular (pruned) case
//!
//! When `h_a ≠ h_b` the smaller set is matched injectively into the larger (padded
//! assignment). All rows of the smaller side are matched; permuting them (exchangeable under
//! H0) permutes the order of the matched sequence uniformly, while the *set* of matched rows
//! of the larger side is unchanged. Spearman between the smaller side's index and the rank of
//! its match *among the matched rows* therefore still has the exact Spearman null with
//! `n = min(h_a, h_b)`. A width-pruned model that kept the order of surviving units gives
//! `ρ ≈ 1`.
//!
//! # Subset (sketch) mode for large `h`
//!
//! [`phi_u_subset`] draws a seeded random index set `S` (`|S| = k`) *independently of the
//! weights*. With `h_a = h_b` it matches `A[S]` against `B[S]` (the **same** indices on both
//! sides): a sub-vector of an exchangeable sequence, taken at positions chosen independently of
//! the values, is exchangeable, and it stays independent of `B[S]`; so the matching of the
//! `k × k` problem is uniform under H0 and the p-value is exact with `n = k`. Under the
//! alternative unit `s` of `A` still corresponds to unit `s` of `B`, so `π` is the identity on
//! `S`. Cost drops from `h² d + LAP(h)` to `k² d + LAP(k)`. (Matching a subset of `A`
//! against a *different* random subset of `B` would destroy the correspondence; choosing the
//! subset from the weights, e.g. the largest rows, would break exchangeability.) With
//! `h_a ≠ h_b` the subset is drawn from the smaller side and matched into *all* rows of the
//! larger one (rectangular case above), which keeps validity but not the cost saving.
//!
//! # Permuted copies
//!
//! A copy whose hidden units were permuted (`B = P A`) defeats the identity-based test: `π`
//! recovers `P`, but `ρ` against the identity is null. The engine handles such copies by
//! aligning units before testing (and Zhu et al.'s unconstrained φ_MATCH compares two
//! matchings of the same units instead).

use crate::lap::Costs;
use crate::matrix::{gemm_abt_f32, unit_rows_f32};
use crate::rng::SplitMix64;
use crate::special::{ln_factorial, log_sum_exp, t_ln_sf};
use crate::{Alternative, MatrixRef, Result, StatsError};

/// Row-wise cosine similarities `C_ij = cos(a_i, b_j)`, row-major `a.rows() × b.rows()`
/// (computed in `f32`, returned as `f64`). Zero rows have cosine 0 with everything. Cost: one
/// `h_a × d × h_b` GEMM.
pub fn cosine_matrix(a: MatrixRef<'_>, b: MatrixRef<'_>) -> Result<Vec<f64>> {
    if a.cols() != b.cols() {
        return Err(StatsError::ShapeMismatch {
            what: "row cosine matrix",
            a_rows: a.rows(),
            a_cols: a.cols(),
            b_rows: b.rows(),
            b_cols: b.cols(),
        });
    }
    a.check_finite("row cosine matrix: first operand")?;
    b.check_finite("row cosine matrix: second operand")?;
    let (an, bn) = (unit_rows_f32(a), unit_rows_f32(b));
    let c = gemm_abt_f32(&an, a.rows(), &bn, b.rows(), a.cols(), 1.0);
    Ok(c.into_iter().map(f64::from).collect())
}

/// The optimal matching of rows of `A` to rows of `B`.
#[derive(Debug, Clone, PartialEq)]
pub struct RowMatching {
    /// Rows of `A`.
    pub rows_a: usize,
    /// Rows of `B`.
    pub rows_b: usize,
    /// Matched `(row of A, row of B)` pairs in increasing `A` order; `min(h_a, h_b)` of them.
    pub pairs: Vec<(usize, usize)>,
    /// Cosine similarity of each pair (same order as `pairs`).
    pub similarities: Vec<f64>,
    /// Sum of the matched cosines (the maximized objective).
    pub total_similarity: f64,
}

impl RowMatching {
    /// Mean matched cosine.
    pub fn mean_similarity(&self) -> f64 {
        if self.pairs.is_empty() {
            0.0
        } else {
            self.total_similarity / self.pairs.len() as f64
        }
    }
}

/// Matches the rows of `a` to the rows of `b` maximizing the total cosine similarity
/// (rectangular allowed: the smaller side is matched injectively into the larger).
///
/// Memory: one `h_a × h_b` `f64` matrix (the solver's costs) and the `f32` cosines: 1.45 GB
/// for `h_a = h_b = 11008`.
pub fn match_rows(a: MatrixRef<'_>, b: MatrixRef<'_>) -> Result<RowMatching> {
    if a.cols() != b.cols() {
        return Err(StatsError::ShapeMismatch {
            what: "row matching",
            a_rows: a.rows(),
            a_cols: a.cols(),
            b_rows: b.rows(),
            b_cols: b.cols(),
        });
    }
    a.check_finite("row matching: first operand")?;
    b.check_finite("row matching: second operand")?;
    let (ha, hb) = (a.rows(), b.rows());
    let mut costs = Costs::zeros(ha, hb);
    if ha > 0 && hb > 0 {
        // costs = −cos: the solver minimizes.
        let (an, bn) = (unit_rows_f32(a), unit_rows_f32(b));
        let c = gemm_abt_f32(&an, ha, &bn, hb, a.cols(), -1.0);
        for i in 0..ha {
            for j in 0..hb {
                costs.m[(i, j)] = f64::from(c[i * hb + j]);
            }
        }
    }
    let row_to_col = costs.solve()?;
    let pairs: Vec<(usize, usize)> = row_to_col
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.map(|c| (i, c)))
        .collect();
    let similarities: Vec<f64> = pairs.iter().map(|&(i, j)| -costs.m[(i, j)]).collect();
    Ok(RowMatching {
        rows_a: ha,
        rows_b: hb,
        total_similarity: similarities.iter().sum(),
        pairs,
        similarities,
    })
}

/// A rank-correlation test of a matching (Spearman of the matched indices).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatchingTest {
    /// Number of matched pairs `n`.
    pub n: usize,
    /// Spearman's `ρ`.
    pub rho: f64,
    /// `Σ d²` of the rank differences against the identity (integer-valued).
    pub sum_sq_rank_diff: f64,
    /// `t = ρ √((n−2)/(1−ρ²))`.
    pub t: f64,
    /// `ln p` from the t approximation (may be `-inf` at `ρ = 1`).
    pub ln_p_t: f64,
    /// `ln` of the rigorous upper bound of the exact permutation p-value (≥ `−ln n!`;
    /// may exceed 0, i.e. be uninformative).
    pub ln_p_bound: f64,
    /// The reported `ln p`: `max(ln_p_t, ln_p_bound)` when the bound is below 1, else `ln_p_t`.
    pub ln_p: f64,
    /// The tail of the test.
    pub alternative: Alternative,
}

/// Result of φ_U on one pair of matrices.
#[derive(Debug, Clone, PartialEq)]
pub struct PhiU {
    /// The optimal matching.
    pub matching: RowMatching,
    /// The rank test of the matching against the identity.
    pub test: MatchingTest,
}

/// `ln` of the bound `U(s)/n!` on `P(Σd² ≤ s)` (see the module docs).
fn ln_permutation_tail_bound(n: usize, s: f64) -> f64 {
    let kmax = if s < n as f64 { s as usize } else { n };
    let ln_n_fact = ln_factorial(n);
    let ln_s_fact = statrs::function::gamma::ln_gamma(s + 1.0);
    let terms: Vec<f64> = (0..=kmax)
        .map(|k| {
            let kf = k as f64;
            let ln_c_nk = ln_n_fact - ln_factorial(k) - ln_factorial(n - k);
            let ln_c_sk =
                ln_s_fact - ln_factorial(k) - statrs::function::gamma::ln_gamma(s - kf + 1.0);
            ln_c_nk + kf * std::f64::consts::LN_2 + ln_c_sk
        })
        .collect();
    log_sum_exp(&terms) - ln_n_fact
}

/// Ranks (0-based) of distinct values.
fn distinct_ranks(v: &[usize]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by_key(|&k| v[k]);
    let mut r = vec![0; v.len()];
    for (rank, &k) in idx.iter().enumerate() {
        r[k] = rank;
    }
    r
}

/// Spearman test of paired **distinct** indices `(x_k, y_k)` (each side without repeats):
/// the core of φ_U. Needs `n ≥ 3`.
pub fn rank_pairs_test(pairs: &[(usize, usize)], alternative: Alternative) -> Result<MatchingTest> {
    let n = pairs.len();
    if n < 3 {
        return Err(StatsError::TooSmall {
            what: "matching rank test",
            needed: 3,
            got: n,
            unit: "matched pairs",
        });
    }
    let xs: Vec<usize> = pairs.iter().map(|p| p.0).collect();
    let ys: Vec<usize> = pairs.iter().map(|p| p.1).collect();
    let (rx, ry) = (distinct_ranks(&xs), distinct_ranks(&ys));
    for (what, v) in [("first", &xs), ("second", &ys)] {
        let mut s = v.clone();
        s.sort_unstable();
        if s.windows(2).any(|w| w[0] == w[1]) {
            return Err(StatsError::InvalidArgument {
                what: "matching rank test",
                message: format!("{what} indices repeat; a matching is injective"),
            });
        }
    }
    // Exact integer sums (u128: n up to ~1e9 fine).
    let mut s_pos: u128 = 0;
    let mut s_neg: u128 = 0;
    for k in 0..n {
        let d = rx[k].abs_diff(ry[k]) as u128;
        s_pos += d * d;
        let d2 = rx[k].abs_diff(n - 1 - ry[k]) as u128;
        s_neg += d2 * d2;
    }
    let nf = n as f64;
    let denom = nf * (nf * nf - 1.0);
    let one_minus_rho = 6.0 * s_pos as f64 / denom; // in [0, 2]
    let rho = 1.0 - one_minus_rho;
    let one_plus_rho = 2.0 - one_minus_rho;
    let dof = nf - 2.0;
    let prod = one_minus_rho * one_plus_rho;
    let t = if prod <= 0.0 {
        f64::INFINITY.copysign(rho)
    } else {
        rho * (dof / prod).sqrt()
    };
    let (ln_p_t, ln_p_bound) = match alternative {
        Alternative::Greater => (t_ln_sf(t, dof), ln_permutation_tail_bound(n, s_pos as f64)),
        Alternative::TwoSided => {
            let lt = (std::f64::consts::LN_2 + t_ln_sf(t.abs(), dof)).min(0.0);
            let s_min = s_pos.min(s_neg) as f64;
            (
                lt,
                std::f64::consts::LN_2 + ln_permutation_tail_bound(n, s_min),
            )
        }
    };
    let ln_p = if ln_p_bound < 0.0 {
        ln_p_t.max(ln_p_bound)
    } else {
        ln_p_t
    };
    Ok(MatchingTest {
        n,
        rho,
        sum_sq_rank_diff: s_pos as f64,
        t,
        ln_p_t,
        ln_p_bound,
        ln_p,
        alternative,
    })
}

/// φ_U of Zhu et al. on one pair of matrices (rows = hidden units, same column space):
/// optimal cosine matching and Spearman test of the matching against the identity. See the
/// module docs for H0, the tail and the rectangular case.
pub fn phi_u(a: MatrixRef<'_>, b: MatrixRef<'_>, alternative: Alternative) -> Result<PhiU> {
    let matching = match_rows(a, b)?;
    let test = rank_pairs_test(&matching.pairs, alternative)?;
    Ok(PhiU { matching, test })
}

/// φ_U on a seeded random subset of `k` rows (see "Subset mode" in the module docs for why
/// the p-value stays exact). Returned pairs use the original row indices. `k` is clamped to
/// the smaller row count.
pub fn phi_u_subset(
    a: MatrixRef<'_>,
    b: MatrixRef<'_>,
    k: usize,
    seed: u64,
    alternative: Alternative,
) -> Result<PhiU> {
    let mut rng = SplitMix64::new(seed);
    if a.rows() == b.rows() {
        let s = rng.sample_sorted(a.rows(), k);
        let sa = a.select_rows(&s)?;
        let sb = b.select_rows(&s)?;
        let m = match_rows(sa.view(), sb.view())?;
        let test = rank_pairs_test(&m.pairs, alternative)?;
        let matching = RowMatching {
            rows_a: a.rows(),
            rows_b: b.rows(),
            pairs: m.pairs.iter().map(|&(i, j)| (s[i], s[j])).collect(),
            similarities: m.similarities,
            total_similarity: m.total_similarity,
        };
        Ok(PhiU { matching, test })
    } else if a.rows() < b.rows() {
        let s = rng.sample_sorted(a.rows(), k);
        let sa = a.select_rows(&s)?;
        let m = match_rows(sa.view(), b)?;
        let test = rank_pairs_test(&m.pairs, alternative)?;
        let matching = RowMatching {
            rows_a: a.rows(),
            rows_b: b.rows(),
            pairs: m.pairs.iter().map(|&(i, j)| (s[i], j)).collect(),
            similarities: m.similarities,
            total_similarity: m.total_similarity,
        };
        Ok(PhiU { matching, test })
    } else {
        let s = rng.sample_sorted(b.rows(), k);
        let sb = b.select_rows(&s)?;
        let m = match_rows(a, sb.view())?;
        let test = rank_pairs_test(&m.pairs, alternative)?;
        let matching = RowMatching {
            rows_a: a.rows(),
            rows_b: b.rows(),
            pairs: m.pairs.iter().map(|&(i, j)| (i, s[j])).collect(),
            similarities: m.similarities,
            total_similarity: m.total_similarity,
        };
        Ok(PhiU { matching, test })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;
    use crate::Matrix;

    fn noisy_copy(a: &Matrix, sigma: f64, rng: &mut SplitMix64) -> Matrix {
        Matrix::from_fn(a.rows, a.cols, |i, j| {
            a.get(i, j) + (rng.normal() * sigma) as f32
        })
    }

    #[test]
    fn identity_pairs_hit_the_factorial_floor() {
        let pairs: Vec<(usize, usize)> = (0..20).map(|i| (i, i)).collect();
        let t = rank_pairs_test(&pairs, Alternative::Greater).unwrap();
        assert_eq!(t.rho, 1.0);
        assert_eq!(t.ln_p_t, f64::NEG_INFINITY);
        assert!((t.ln_p - (-ln_factorial(20))).abs() < 1e-9, "{}", t.ln_p);
        let t2 = rank_pairs_test(&pairs, Alternative::TwoSided).unwrap();
        assert!((t2.ln_p - (std::f64::consts::LN_2 - ln_factorial(20))).abs() < 1e-9);
    }

    #[test]
    fn bound_is_conservative_against_exact_small_n() {
        // Exact null of Σd² for n = 7 by enumeration of all 5040 permutations.
        let n = 7usize;
        let mut counts = std::collections::BTreeMap::new();
        let mut perm: Vec<usize> = (0..n).collect();
        fn heap(k: usize, p: &mut Vec<usize>, out: &mut std::collections::BTreeMap<u64, u64>) {
            if k == 1 {
                let s: u64 = p
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| (i.abs_diff(v) as u64).pow(2))
                    .sum();
                *out.entry(s).or_insert(0) += 1;
                return;
            }
            for i in 0..k {
                heap(k - 1, p, out);
                if k.is_multiple_of(2) {
                    p.swap(i, k - 1)
                } else {
                    p.swap(0, k - 1)
                }
            }
        }
        heap(n, &mut perm, &mut counts);
        let total: u64 = counts.values().sum();
        assert_eq!(total, 5040);
        let mut cum = 0u64;
        for (&s, &c) in &counts {
            cum += c;
            let exact = cum as f64 / total as f64;
            let bound = ln_permutation_tail_bound(n, s as f64).exp();
            assert!(
                bound >= exact * (1.0 - 1e-12),
                "s={s}: bound {bound} < exact {exact}"
            );
        }
    }

    #[test]
    fn related_rows_are_recovered_and_significant() {
        let mut rng = SplitMix64::new(5);
        let a = rng.gaussian_matrix(128, 64, 1.0);
        let b = noisy_copy(&a, 0.5, &mut rng);
        let r = phi_u(a.view(), b.view(), Alternative::Greater).unwrap();
        assert!(r.matching.pairs.iter().all(|&(i, j)| i == j));
        assert!(r.test.ln_p < (1e-30f64).ln());
        assert!((r.test.ln_p + ln_factorial(128)).abs() < 1e-6);
    }

    #[test]
    fn subset_mode_uses_same_indices() {
        let mut rng = SplitMix64::new(9);
        let a = rng.gaussian_matrix(300, 32, 1.0);
        let b = noisy_copy(&a, 0.3, &mut rng);
        let r = phi_u_subset(a.view(), b.view(), 50, 77, Alternative::Greater).unwrap();
        assert_eq!(r.test.n, 50);
        assert!(r.matching.pairs.iter().all(|&(i, j)| i == j));
        assert!(r.test.ln_p < -100.0);
        // Deterministic in the seed.
        let r2 = phi_u_subset(a.view(), b.view(), 50, 77, Alternative::Greater).unwrap();
        assert_eq!(r.matching.pairs, r2.matching.pairs);
    }

    #[test]
    fn pruned_width_keeps_order() {
        // B keeps 80 of A's 128 units, in order, with noise: match B into A.
        let mut rng = SplitMix64::new(21);
        let a = rng.gaussian_matrix(128, 48, 1.0);
        let kept = rng.sample_sorted(128, 80);
        let b0 = a.view().select_rows(&kept).unwrap();
        let b = noisy_copy(&b0, 0.4, &mut rng);
        let r = phi_u(a.view(), b.view(), Alternative::Greater).unwrap();
        assert_eq!(r.matching.pairs.len(), 80);
        for &(i, j) in &r.matching.pairs {
            assert_eq!(i, kept[j]);
        }
        assert!(r.test.rho > 0.999 && r.test.ln_p < -100.0);
        // Subset mode in the rectangular case.
        let s = phi_u_subset(a.view(), b.view(), 40, 3, Alternative::Greater).unwrap();
        assert_eq!(s.test.n, 40);
        assert!(s.matching.pairs.iter().all(|&(i, j)| i == kept[j]));
    }

    #[test]
    fn matching_similarities_are_the_cosines_and_optimal() {
        let mut rng = SplitMix64::new(13);
        for &(ha, hb) in &[(9usize, 9usize), (7, 12), (12, 7)] {
            let a = rng.gaussian_matrix(ha, 5, 1.0);
            let b = rng.gaussian_matrix(hb, 5, 1.0);
            let c = cosine_matrix(a.view(), b.view()).unwrap();
            let m = match_rows(a.view(), b.view()).unwrap();
            assert_eq!(m.pairs.len(), ha.min(hb));
            for (&(i, j), s) in m.pairs.iter().zip(&m.similarities) {
                assert!((c[i * hb + j] - s).abs() < 1e-12);
            }
            let best = crate::lap::assign_max(&c, ha, hb).unwrap();
            assert!((best.total - m.total_similarity).abs() < 1e-9);
        }
    }

    #[test]
    fn errors_on_bad_shapes() {
        let a = Matrix::zeros(4, 3);
        let b = Matrix::zeros(4, 2);
        assert!(phi_u(a.view(), b.view(), Alternative::Greater).is_err());
        let mut c = Matrix::zeros(4, 3);
        c.data[5] = f32::NAN;
        assert!(matches!(
            phi_u(a.view(), c.view(), Alternative::Greater),
            Err(StatsError::NonFinite { index: 5, .. })
        ));
    }
}
