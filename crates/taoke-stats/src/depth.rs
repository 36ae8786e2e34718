//! Depth alignment: which block of the reference `A` each block of the candidate `B` came
//! from, given a block-to-block score matrix (e.g. CKA, or a centred spectral similarity).
//!
//! - [`align_depth_monotone`]: dynamic programming over a monotone path that allows
//!   **gaps** (blocks of `A` dropped by depth pruning, blocks of `B` that match nothing) and
//!   **repeats** (several consecutive blocks of `B` mapped to the same block of `A`, as in
//!   depth up-scaling by block duplication). POSA-like (GhostSpec) with explicit penalties.
//! - [`align_depth_lap`]: one-to-one, non-monotone assignment (AWM's layer matching), for
//!   comparison; reorderings show up as crossings.
//! - [`align_depth_argmax`]: each block of `B` to its best block of `A`, independently
//!   (many-to-one, non-monotone; captures SOLAR-style "0..24 + 8..32" up-scaling that no
//!   monotone path can).
//!
//! Scores should be **centred**: positive = evidence for correspondence, negative = against
//! (e.g. `similarity − null mean`). With uncentred scores (all positive) the DP prefers to
//! match everything.

use crate::lap::assign_max;
use crate::{Result, StatsError};

/// A block mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct DepthAlignment {
    /// For each block of `B`, the block of `A` it maps to, or `None`.
    pub b_to_a: Vec<Option<usize>>,
    /// Objective value: sum of matched scores minus penalties (DP), or sum of matched scores.
    pub score: f64,
}

impl DepthAlignment {
    /// Blocks of `A` that no block of `B` maps to (e.g. pruned blocks).
    pub fn unmatched_a(&self, n_a: usize) -> Vec<usize> {
        let mut used = vec![false; n_a];
        for a in self.b_to_a.iter().flatten() {
            if *a < n_a {
                used[*a] = true;
            }
        }
        (0..n_a).filter(|&i| !used[i]).collect()
    }
}

/// Penalties of [`align_depth_monotone`] (all ≥ 0, subtracted from the objective).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DepthPenalties {
    /// Per block of `A` left unmatched.
    pub gap_a: f64,
    /// Per block of `B` left unmatched.
    pub gap_b: f64,
    /// Per extra block of `B` mapped to the same block of `A` (a repeat).
    pub repeat: f64,
}

impl Default for DepthPenalties {
    fn default() -> Self {
        Self {
            gap_a: 0.0,
            gap_b: 0.0,
            repeat: 0.0,
        }
    }
}

fn check_scores(scores: &[f64], n_a: usize, n_b: usize) -> Result<()> {
    let needed = n_a.checked_mul(n_b);
    if needed != Some(scores.len()) {
        return Err(StatsError::BufferLength {
            what: "depth score matrix",
            rows: n_a,
            cols: n_b,
            needed: needed.unwrap_or(usize::MAX),
            len: scores.len(),
        });
    }
    if let Some(index) = scores.iter().position(|v| !v.is_finite()) {
        return Err(StatsError::NonFinite {
            what: "depth score matrix",
            index,
        });
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum Step {
    None,
    // D cell
    Fresh,
    Repeat,
    // P cell
    Match,
    SkipA,
    SkipB,
}

/// Monotone depth alignment maximizing `Σ score[a, b]` over matched pairs minus penalties.
/// `scores` is row-major `n_a × n_b` (row = block of A). `B`'s blocks map in order to
/// non-decreasing blocks of `A`; consecutive `B` blocks may share an `A` block (repeat).
///
/// Recurrences over prefixes (`i` blocks of A, `j` of B):
/// `D[i][j]` = best with `B_{j−1}` matched to `A_{i−1}`,
/// `P[i][j]` = best overall;
/// `D[i][j] = s(i−1, j−1) + max(P[i−1][j−1], D[i][j−1] − repeat)`,
/// `P[i][j] = max(D[i][j], P[i−1][j] − gap_a, P[i][j−1] − gap_b)`. `O(n_a n_b)`.
pub fn align_depth_monotone(
    scores: &[f64],
    n_a: usize,
    n_b: usize,
    penalties: DepthPenalties,
) -> Result<DepthAlignment> {
    check_scores(scores, n_a, n_b)?;
    let w = n_b + 1;
    let neg = f64::NEG_INFINITY;
    let mut d = vec![neg; (n_a + 1) * w];
    let mut p = vec![0.0f64; (n_a + 1) * w];
    let mut d_step = vec![Step::None; (n_a + 1) * w];
    let mut p_step = vec![Step::None; (n_a + 1) * w];
    for i in 1..=n_a {
        p[i * w] = p[(i - 1) * w] - penalties.gap_a;
        p_step[i * w] = Step::SkipA;
    }
    for j in 1..=n_b {
        p[j] = p[j - 1] - penalties.gap_b;
        p_step[j] = Step::SkipB;
    }
    for i in 1..=n_a {
        for j in 1..=n_b {
            let s = scores[(i - 1) * n_b + (j - 1)];
            let fresh = p[(i - 1) * w + (j - 1)];
            let rep = d[i * w + (j - 1)] - penalties.repeat;
            let (best, step) = if rep > fresh {
                (rep, Step::Repeat)
            } else {
                (fresh, Step::Fresh)
            };
            d[i * w + j] = s + best;
            d_step[i * w + j] = step;
            let mut pb = d[i * w + j];
            let mut ps = Step::Match;
            let sa = p[(i - 1) * w + j] - penalties.gap_a;
            if sa > pb {
                pb = sa;
                ps = Step::SkipA;
            }
            let sb = p[i * w + (j - 1)] - penalties.gap_b;
            if sb > pb {
                pb = sb;
                ps = Step::SkipB;
            }
            p[i * w + j] = pb;
            p_step[i * w + j] = ps;
        }
    }
    // Traceback.
    let mut b_to_a = vec![None; n_b];
    let (mut i, mut j) = (n_a, n_b);
    let mut in_d = false;
    while i > 0 || j > 0 {
        if in_d {
            b_to_a[j - 1] = Some(i - 1);
            match d_step[i * w + j] {
                Step::Repeat => {
                    j -= 1;
                }
                _ => {
                    i -= 1;
                    j -= 1;
                    in_d = false;
                }
            }
        } else {
            match p_step[i * w + j] {
                Step::Match => in_d = true,
                Step::SkipA => i -= 1,
                Step::SkipB => j -= 1,
                _ => {
                    // Border cells: i == 0 or j == 0.
                    if i > 0 {
                        i -= 1;
                    } else {
                        j -= 1;
                    }
                }
            }
        }
    }
    Ok(DepthAlignment {
        b_to_a,
        score: p[n_a * w + n_b],
    })
}

/// One-to-one (non-monotone) assignment maximizing the total score; pairs scoring below
/// `min_score` are dropped afterwards (reported as unmatched).
pub fn align_depth_lap(
    scores: &[f64],
    n_a: usize,
    n_b: usize,
    min_score: f64,
) -> Result<DepthAlignment> {
    check_scores(scores, n_a, n_b)?;
    // Assign B's blocks (rows of the transposed matrix) to A's blocks.
    let t: Vec<f64> = (0..n_b)
        .flat_map(|j| (0..n_a).map(move |i| (i, j)))
        .map(|(i, j)| scores[i * n_b + j])
        .collect();
    let asg = assign_max(&t, n_b, n_a)?;
    let mut score = 0.0;
    let b_to_a = asg
        .row_to_col
        .iter()
        .enumerate()
        .map(|(j, a)| {
            a.filter(|&i| scores[i * n_b + j] >= min_score)
                .inspect(|&i| {
                    score += scores[i * n_b + j];
                })
        })
        .collect();
    Ok(DepthAlignment { b_to_a, score })
}

/// Each block of `B` to its highest-scoring block of `A` (ties: the lowest index), dropped
/// when below `min_score`.
pub fn align_depth_argmax(
    scores: &[f64],
    n_a: usize,
    n_b: usize,
    min_score: f64,
) -> Result<DepthAlignment> {
    check_scores(scores, n_a, n_b)?;
    let mut score = 0.0;
    let b_to_a = (0..n_b)
        .map(|j| {
            let mut best: Option<(usize, f64)> = None;
            for i in 0..n_a {
                let s = scores[i * n_b + j];
                if best.is_none_or(|(_, b)| s > b) {
                    best = Some((i, s));
                }
            }
            best.filter(|&(_, s)| s >= min_score).map(|(i, s)| {
                score += s;
                i
            })
        })
        .collect();
    Ok(DepthAlignment { b_to_a, score })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    /// A has 12 blocks; B drops A's blocks 3 and 8 and duplicates block 5:
    /// B = [0,1,2,4,5,5,6,7,9,10,11] (11 blocks).
    fn pruned_and_upscaled() -> (Vec<usize>, Vec<f64>, usize, usize) {
        let truth = vec![0, 1, 2, 4, 5, 5, 6, 7, 9, 10, 11];
        let (n_a, n_b) = (12, truth.len());
        let mut rng = SplitMix64::new(8);
        let mut s = vec![0.0; n_a * n_b];
        for i in 0..n_a {
            for (j, &t) in truth.iter().enumerate() {
                // related pair ≈ 0.8, neighbouring blocks 0.3 (adjacent layers look alike),
                // others ≈ 0; centred by subtracting a null level of 0.1.
                let base = if i == t {
                    0.8
                } else if i.abs_diff(t) == 1 {
                    0.3
                } else {
                    0.0
                };
                s[i * n_b + j] = base + 0.05 * rng.normal() - 0.1;
            }
        }
        (truth, s, n_a, n_b)
    }

    #[test]
    fn dp_recovers_gaps_and_repeat() {
        let (truth, s, n_a, n_b) = pruned_and_upscaled();
        let al = align_depth_monotone(
            &s,
            n_a,
            n_b,
            DepthPenalties {
                gap_a: 0.0,
                gap_b: 0.2,
                repeat: 0.05,
            },
        )
        .unwrap();
        let got: Vec<usize> = al.b_to_a.iter().map(|a| a.unwrap()).collect();
        assert_eq!(got, truth);
        assert_eq!(al.unmatched_a(n_a), vec![3, 8]);
        // The objective equals the sum of the chosen scores minus one repeat penalty.
        let manual: f64 = truth
            .iter()
            .enumerate()
            .map(|(j, &i)| s[i * n_b + j])
            .sum::<f64>()
            - 0.05;
        assert!((al.score - manual).abs() < 1e-12);
    }

    #[test]
    fn lap_cannot_express_the_repeat() {
        let (truth, s, n_a, n_b) = pruned_and_upscaled();
        let al = align_depth_lap(&s, n_a, n_b, 0.2).unwrap();
        let distinct: std::collections::BTreeSet<_> = al.b_to_a.iter().flatten().collect();
        assert_eq!(distinct.len(), al.b_to_a.iter().flatten().count());
        let correct = al
            .b_to_a
            .iter()
            .zip(&truth)
            .filter(|(a, t)| **a == Some(**t))
            .count();
        assert_eq!(correct, n_b - 1);
        let am = align_depth_argmax(&s, n_a, n_b, 0.2).unwrap();
        let got: Vec<usize> = am.b_to_a.iter().map(|a| a.unwrap()).collect();
        assert_eq!(got, truth);
    }

    #[test]
    fn negative_scores_leave_gaps() {
        // Nothing related: every score negative, zero penalties → all unmatched, score 0.
        let s = vec![-0.1; 4 * 5];
        let al = align_depth_monotone(&s, 4, 5, DepthPenalties::default()).unwrap();
        assert!(al.b_to_a.iter().all(|a| a.is_none()));
        assert_eq!(al.score, 0.0);
        assert!(align_depth_monotone(&s, 4, 4, DepthPenalties::default()).is_err());
    }
}
