//! Dense linear assignment (maximize or minimize a total score), rectangular allowed.
//!
//! Solver: shortest augmenting paths with dual potentials (the Hungarian method in the
//! Jonker–Volgenant/Dijkstra form), written here because the assignment crate the project
//! used before, `lapjv`, takes only square matrices: a unit subset of one model matched into
//! every unit of a wider one (1,024 × 4,864) had to be padded to 4,864², O(n³) time and
//! 181 MiB, 22 s per block pair, against 0.03 s for this solver on the rectangle. On square
//! row-cosine costs it is as fast as `lapjv` on unrelated rows and 3–10× faster on related
//! ones (`cargo run --release -p taoke-stats --example lap-rectangular`), and every report of
//! the small zoo and the real pairs stayed byte-identical when it replaced `lapjv`.
//!
//! Rows are added in order and within a scan the lowest column index reaching the minimum
//! wins, so ties break by a rule that depends only on the cost matrix.
//!
//! Complexity: O(k² n) worst case for `k = min(rows, cols)`, `n = max(rows, cols)`, far less on
//! cosine costs (each new row usually augments along a short path). Memory: `rows × cols × 8`
//! bytes for the costs (plus a copy of the input for [`assign_min`]/[`assign_max`]).

use crate::{Result, StatsError};

/// An optimal assignment.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// For each row, its column, or `None` when the row is left unassigned (only when
    /// `rows > cols`).
    pub row_to_col: Vec<Option<usize>>,
    /// The total score (sum over assigned pairs) of the optimum, in the input's sense
    /// (maximized for [`assign_max`], minimized for [`assign_min`]).
    pub total: f64,
}

impl Assignment {
    /// Assigned `(row, col)` pairs in increasing row order.
    pub fn pairs(&self) -> Vec<(usize, usize)> {
        self.row_to_col
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.map(|c| (i, c)))
            .collect()
    }
}

/// A dense `rows × cols` cost matrix, the form the solvers read. Crate-internal so that
/// callers (row matching) can write their costs into it directly, without another copy.
pub(crate) struct Costs {
    pub(crate) m: ndarray::Array2<f64>,
    pub(crate) rows: usize,
    pub(crate) cols: usize,
}

impl Costs {
    pub(crate) fn zeros(rows: usize, cols: usize) -> Self {
        Self {
            m: ndarray::Array2::<f64>::zeros((rows, cols)),
            rows,
            cols,
        }
    }

    /// Solves the minimization; row `i` gets `Some(col)` (every row when `rows ≤ cols`, every
    /// column is used when `rows ≥ cols`).
    pub(crate) fn solve(&self) -> Result<Vec<Option<usize>>> {
        let (rows, cols) = (self.rows, self.cols);
        if let Some(index) = self.m.iter().position(|v| !v.is_finite()) {
            return Err(StatsError::NonFinite {
                what: "assignment costs",
                index,
            });
        }
        if rows == 0 || cols == 0 {
            return Ok(vec![None; rows]);
        }
        let block: std::borrow::Cow<'_, [f64]> = match self.m.as_slice() {
            Some(s) => std::borrow::Cow::Borrowed(s),
            None => std::borrow::Cow::Owned(self.m.iter().copied().collect()),
        };
        Ok(solve_sap(&block, rows, cols))
    }
}

fn check_buffer(costs: &[f64], rows: usize, cols: usize) -> Result<()> {
    let needed = rows.checked_mul(cols);
    if needed != Some(costs.len()) {
        return Err(StatsError::BufferLength {
            what: "assignment costs",
            rows,
            cols,
            needed: needed.unwrap_or(usize::MAX),
            len: costs.len(),
        });
    }
    if let Some(index) = costs.iter().position(|v| !v.is_finite()) {
        return Err(StatsError::NonFinite {
            what: "assignment costs",
            index,
        });
    }
    Ok(())
}

fn assign_signed(values: &[f64], rows: usize, cols: usize, sign: f64) -> Result<Assignment> {
    check_buffer(values, rows, cols)?;
    let mut p = Costs::zeros(rows, cols);
    for i in 0..rows {
        for j in 0..cols {
            p.m[(i, j)] = sign * values[i * cols + j];
        }
    }
    let row_to_col = p.solve()?;
    let total = row_to_col
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.map(|c| values[i * cols + c]))
        .sum();
    Ok(Assignment { row_to_col, total })
}

/// Assignment maximizing `Σ scores[i, π(i)]`; `scores` is row-major `rows x cols`.
/// Every row is assigned when `rows ≤ cols`, every column when `rows ≥ cols`.
pub fn assign_max(scores: &[f64], rows: usize, cols: usize) -> Result<Assignment> {
    assign_signed(scores, rows, cols, -1.0)
}

/// Assignment minimizing `Σ costs[i, π(i)]`; `costs` is row-major `rows x cols`.
pub fn assign_min(costs: &[f64], rows: usize, cols: usize) -> Result<Assignment> {
    assign_signed(costs, rows, cols, 1.0)
}

/// Assignment minimizing `Σ costs[i, π(i)]` (`costs` row-major `rows × cols`), without the
/// extra copy of [`assign_min`]. `total` is the sum of the assigned costs.
pub fn assign_min_hungarian(costs: &[f64], rows: usize, cols: usize) -> Result<Assignment> {
    check_buffer(costs, rows, cols)?;
    if rows == 0 || cols == 0 {
        return Ok(Assignment {
            row_to_col: vec![None; rows],
            total: 0.0,
        });
    }
    let row_to_col = solve_sap(costs, rows, cols);
    let total = row_to_col
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.map(|c| costs[i * cols + c]))
        .sum();
    Ok(Assignment { row_to_col, total })
}

/// Shortest augmenting path with dual potentials (the classical O(n²m) Hungarian method,
/// Kuhn–Munkres in the Jonker–Volgenant/Dijkstra form), for `rows ≤ cols` after an internal
/// transpose. Rows are added in order; within a scan the first column reaching the minimum
/// wins.
fn solve_sap(costs: &[f64], rows: usize, cols: usize) -> Vec<Option<usize>> {
    if rows > cols {
        // Transpose: assign every column to a row, then invert.
        let t: Vec<f64> = (0..cols)
            .flat_map(|j| (0..rows).map(move |i| (i, j)))
            .map(|(i, j)| costs[i * cols + j])
            .collect();
        let col_to_row = solve_sap(&t, cols, rows);
        let mut out = vec![None; rows];
        for (j, r) in col_to_row.iter().enumerate() {
            if let Some(i) = r {
                out[*i] = Some(j);
            }
        }
        return out;
    }
    let (n, m) = (rows, cols);
    // 1-based arrays, index 0 is the virtual root.
    let mut u = vec![0.0f64; n + 1];
    let mut v = vec![0.0f64; m + 1];
    let mut p = vec![0usize; m + 1]; // p[j]: row matched to column j (0 = none)
    let mut way = vec![0usize; m + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0usize;
        let mut minv = vec![f64::INFINITY; m + 1];
        let mut used = vec![false; m + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = f64::INFINITY;
            let mut j1 = 0usize;
            for j in 1..=m {
                if !used[j] {
                    let cur = costs[(i0 - 1) * m + (j - 1)] - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            if j1 == 0 {
                // Cannot happen with finite costs; guard against an infinite loop anyway.
                break;
            }
            for j in 0..=m {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut out = vec![None; n];
    for j in 1..=m {
        if p[j] != 0 {
            out[p[j] - 1] = Some(j - 1);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    fn brute_force_min(costs: &[f64], n: usize) -> f64 {
        fn rec(costs: &[f64], n: usize, i: usize, used: &mut Vec<bool>, acc: f64, best: &mut f64) {
            if i == n {
                *best = best.min(acc);
                return;
            }
            for j in 0..n {
                if !used[j] {
                    used[j] = true;
                    rec(costs, n, i + 1, used, acc + costs[i * n + j], best);
                    used[j] = false;
                }
            }
        }
        let mut best = f64::INFINITY;
        rec(costs, n, 0, &mut vec![false; n], 0.0, &mut best);
        best
    }

    #[test]
    fn small_square_against_brute_force() {
        let mut r = SplitMix64::new(3);
        for _ in 0..20 {
            let n = 6;
            let c: Vec<f64> = (0..n * n).map(|_| r.next_f64()).collect();
            let a = assign_min(&c, n, n).unwrap();
            let want = brute_force_min(&c, n);
            assert!((a.total - want).abs() < 1e-12);
            let s = solve_sap(&c, n, n);
            let t: f64 = s
                .iter()
                .enumerate()
                .map(|(i, j)| c[i * n + j.unwrap()])
                .sum();
            assert!((t - want).abs() < 1e-12);
        }
    }

    #[test]
    fn rectangular_both_ways_agree_with_sap() {
        let mut r = SplitMix64::new(11);
        for &(rows, cols) in &[(5usize, 9usize), (9, 5), (1, 7), (30, 40)] {
            let c: Vec<f64> = (0..rows * cols).map(|_| r.next_f64()).collect();
            let a = assign_min(&c, rows, cols).unwrap();
            assert_eq!(a.pairs().len(), rows.min(cols));
            let s = solve_sap(&c, rows, cols);
            let t: f64 = s
                .iter()
                .enumerate()
                .filter_map(|(i, j)| j.map(|j| c[i * cols + j]))
                .sum();
            assert!(
                (a.total - t).abs() < 1e-10,
                "{rows}x{cols}: {} vs {t}",
                a.total
            );
        }
    }

    #[test]
    fn ties_and_constant_matrices() {
        let c = vec![0.0f64; 64 * 64];
        let a = assign_min(&c, 64, 64).unwrap();
        assert_eq!(a.pairs().len(), 64);
        let c: Vec<f64> = (0..50 * 50).map(|k| (k % 3) as f64).collect();
        let a = assign_min(&c, 50, 50).unwrap();
        let s = solve_sap(&c, 50, 50);
        let t: f64 = s
            .iter()
            .enumerate()
            .map(|(i, j)| c[i * 50 + j.unwrap()])
            .sum();
        assert_eq!(a.total, t);
    }

    #[test]
    fn hungarian_finds_the_optimum() {
        let pairs = |c: &[f64], r, k| assign_min_hungarian(c, r, k).unwrap().pairs();
        // Greedy would take (0,0)=1 then (1,1)=10: total 11; optimum is 2+3 = 5.
        assert_eq!(pairs(&[1.0, 2.0, 3.0, 10.0], 2, 2), vec![(0, 1), (1, 0)]);
        let c = [4.0, 1.0, 3.0, 2.0, 0.0, 5.0, 3.0, 2.0, 2.0];
        assert_eq!(assign_min_hungarian(&c, 3, 3).unwrap().total, 5.0);
        // Rectangular both ways.
        assert_eq!(pairs(&[5.0, 1.0, 9.0], 1, 3), vec![(0, 1)]);
        assert_eq!(pairs(&[5.0, 1.0, 9.0], 3, 1), vec![(1, 0)]);
        assert!(pairs(&[], 0, 0).is_empty());
        assert_eq!(
            assign_min_hungarian(&[], 2, 0).unwrap().row_to_col,
            vec![None, None]
        );
        // Ties: all-equal costs give the identity (first column wins each scan).
        assert_eq!(pairs(&[1e9; 9], 3, 3), vec![(0, 0), (1, 1), (2, 2)]);
        assert!(assign_min_hungarian(&[f64::NAN], 1, 1).is_err());
        // The copying entry point gives the same optimum.
        let mut r = SplitMix64::new(17);
        for &(rows, cols) in &[(6usize, 6usize), (4, 9), (9, 4)] {
            let c: Vec<f64> = (0..rows * cols).map(|_| r.next_f64()).collect();
            let h = assign_min_hungarian(&c, rows, cols).unwrap();
            let l = assign_min(&c, rows, cols).unwrap();
            assert!((h.total - l.total).abs() < 1e-12);
        }
    }

    #[test]
    fn rejects_bad_input() {
        assert!(assign_min(&[1.0, f64::NAN], 1, 2).is_err());
        assert!(assign_min(&[1.0, 2.0], 2, 2).is_err());
        assert_eq!(assign_min(&[], 0, 3).unwrap().total, 0.0);
    }
}
