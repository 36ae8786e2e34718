//! Training under rounding: a quantized copy against a quantized fine-tune.
//!
//! A copy stored at another precision differs from the original by rounding alone: every
//! value of the finer side lies inside the rounding cell of the coarser side's code (half a
//! quantization step of its block, plus the finer side's own half step). A trained delta of a
//! few percent does not respect the grid: it moves a share of the values across cell
//! boundaries, about its mean size over the step (Q4_1 steps are ≈ 0.4 weight standard
//! deviations, so a 3 % change moves ≈ 5 % of the values out of their cells), whatever the
//! rounding noise. The test reads a seeded sample of rows of the MLP readers of the first,
//! middle and last blocks, element-aligned (B's columns mapped to A's residual coordinates;
//! rows through the unit matching when the units moved).

use taoke_anatomy::{Param, Role};
use taoke_dtype::Dtype;
use taoke_stats::rng::SplitMix64;
use taoke_stats::Matrix;

use crate::measure::GridTest;
use crate::triage::is_quantized;
use crate::view::ModelView;

/// Values per quantization block of the legacy and K-quant formats (K-quants' sub-blocks).
const QBLOCK: usize = 32;

/// Rows sampled per matrix.
const ROWS: usize = 64;

/// Seed of the row sample.
const SEED_ROWS: u64 = 0x6d1d;

/// Slack on the cell's half width (relative), for the f16 scales' own rounding.
const CELL_SLACK: f64 = 1e-3;

/// Half of a float format's relative step (bf16 keeps 8 significant bits, f16 11).
fn float_half_step(d: Dtype) -> Option<f64> {
    match d {
        Dtype::F32 | Dtype::F64 => Some(0.0),
        Dtype::BF16 => Some(2f64.powi(-8)),
        Dtype::F16 => Some(2f64.powi(-11)),
        _ => None,
    }
}

/// Half the quantization step of each block of `row` stored as `d`: from the block's values
/// by the format's rule (Q8_0: max |x| / 127; Q4_0: max |x| / 8; Q4_1: range / 15; Q5_0:
/// max |x| / 16; Q5_1: range / 31), else the smallest gap between the block's distinct values.
fn half_steps(row: &[f32], d: Dtype) -> Vec<f64> {
    row.chunks(QBLOCK)
        .map(|b| {
            let max_abs = b.iter().fold(0f64, |m, &x| m.max(f64::from(x).abs()));
            let (lo, hi) = b.iter().fold((f64::MAX, f64::MIN), |(l, h), &x| {
                (l.min(f64::from(x)), h.max(f64::from(x)))
            });
            let step = match d {
                Dtype::Q8_0 => max_abs / 127.0,
                Dtype::Q4_0 => max_abs / 8.0,
                Dtype::Q4_1 => (hi - lo) / 15.0,
                Dtype::Q5_0 => max_abs / 16.0,
                Dtype::Q5_1 => (hi - lo) / 31.0,
                _ => {
                    let mut v: Vec<f64> = b.iter().map(|&x| f64::from(x)).collect();
                    v.sort_unstable_by(f64::total_cmp);
                    v.windows(2)
                        .map(|w| w[1] - w[0])
                        .filter(|&g| g > 0.0)
                        .fold(f64::INFINITY, f64::min)
                }
            };
            if step.is_finite() {
                step / 2.0
            } else {
                0.0
            }
        })
        .collect()
}

/// The storage element type of a tensor.
fn dtype(v: &ModelView<'_>, i: usize) -> Dtype {
    v.ck.tensors[i].dtype
}

/// The grid test of the pair, when one side is block-quantized and the residual map is known.
pub(crate) fn grid_test(
    a: &ModelView<'_>,
    b: &ModelView<'_>,
    transform: &crate::align::Transform,
    tests: &[crate::measure::BlockTest],
) -> Option<GridTest> {
    // A rotation mixes every coordinate: B's values are no longer A's values moved, so cells
    // cannot be compared value by value.
    if transform.kind() == crate::align::TransformKind::Rotation {
        return None;
    }
    let (la, lb) = (a.n_blocks(), b.n_blocks());
    if la == 0 || lb == 0 {
        return None;
    }
    // Equal depths: the first, middle and last blocks; otherwise the first, middle and last
    // links of the layer map.
    let links: Vec<(u32, u32)> = if la == lb {
        vec![(0, 0), (la / 2, la / 2), (la - 1, la - 1)]
    } else {
        let map = crate::layers::layer_map(tests, la, lb);
        if map.is_empty() {
            return None;
        }
        let n = map.len();
        [0, n / 2, n - 1]
            .iter()
            .map(|&k| (map[k].a, map[k].b))
            .collect()
    };
    let mut links = links;
    links.dedup();
    let mut acc = Tally::default();
    for (blk_a, blk_b) in links {
        for role in [Role::MlpUp, Role::MlpGate] {
            let (Some(ia), Some(ib)) = (
                a.index(Some(blk_a), role, Param::Weight),
                b.index(Some(blk_b), role, Param::Weight),
            ) else {
                continue;
            };
            let (da, db) = (dtype(a, ia), dtype(b, ib));
            if !(is_quantized(da) || is_quantized(db)) {
                return None;
            }
            if let Some(t) = tally(a, ia, b, ib, transform) {
                acc.add(&t);
            }
        }
    }
    (acc.values > 0).then(|| GridTest {
        outside: acc.outside as f64 / acc.values as f64,
        in_cell: acc.in_cell as f64 / acc.values as f64,
        inner: (acc.graded > 0).then(|| acc.inner as f64 / acc.graded as f64),
        change: acc.change / acc.values as f64,
        excess: acc.excess / acc.values as f64,
        values: acc.values,
    })
}

/// Counts of one comparison of sampled rows.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    values: usize,
    /// Outside the pair's cells.
    outside: usize,
    /// Inside the coarser side's cell but farther from its centre than the finer side's own
    /// rounding.
    in_cell: usize,
    /// In-cell values whose cell position is exactly known (formula formats).
    graded: usize,
    /// Of those, in the inner half of the cell.
    inner: usize,
    /// Sum over values of |difference| / the row's standard deviation.
    change: f64,
    /// Sum over values outside their cells of the distance beyond the cell / the row's std.
    excess: f64,
}

impl Tally {
    fn add(&mut self, t: &Tally) {
        self.values += t.values;
        self.outside += t.outside;
        self.in_cell += t.in_cell;
        self.graded += t.graded;
        self.inner += t.inner;
        self.change += t.change;
        self.excess += t.excess;
    }
}

/// Formats whose cell step is known exactly from a block's values ([`half_steps`]), so that a
/// value's position inside its cell is measured, not estimated.
fn exact_cells(d: Dtype) -> bool {
    matches!(
        d,
        Dtype::Q8_0 | Dtype::Q4_0 | Dtype::Q4_1 | Dtype::Q5_0 | Dtype::Q5_1 | Dtype::Q4_K
    )
}

/// Matched rows must agree at least this well (cosine) to be compared value by value: a copy
/// or light fine-tune under Q4 rounding keeps ≈ 0.99.
const ROWS_MATCH: f64 = 0.9;

/// Where the values of the sampled rows of A's tensor `ia` fall in the pair's rounding cells.
/// Each sampled row of A is compared with B's row that matches it best (cosine, in A's
/// residual coordinates), so permuted units are found again.
fn tally(
    a: &ModelView<'_>,
    ia: usize,
    b: &ModelView<'_>,
    ib: usize,
    transform: &crate::align::Transform,
) -> Option<Tally> {
    let n = a.canonical_rows(ia);
    let rows_a = SplitMix64::new(SEED_ROWS ^ n as u64).sample_sorted(n, ROWS.min(n));
    let xa = a.matrix_rows(ia, &rows_a).ok()?;
    // B's cells are measured in B's own layout (its quantization blocks run along its own
    // columns), then moved with its values to A's coordinates.
    let raw_b = b.matrix(ib).ok()?;
    let db = dtype(b, ib);
    let mut cells_b = Matrix::zeros(raw_b.rows, raw_b.cols);
    for r in 0..raw_b.rows {
        let row = raw_b.row(r);
        let h = cell(row, db);
        for (c, &v) in row.iter().enumerate() {
            cells_b.data[r * raw_b.cols + c] = h(c, f64::from(v)) as f32;
        }
    }
    let xb: Matrix = transform.apply_owned(raw_b, xa.cols);
    let cells_b = transform.apply_owned(cells_b, xa.cols);
    if xa.cols != xb.cols || xb.rows == 0 {
        return None;
    }
    let cos = taoke_stats::matching::cosine_matrix(xa.view(), xb.view()).ok()?;
    let best: Vec<(usize, f64)> = (0..xa.rows)
        .map(|r| {
            let row = &cos[r * xb.rows..(r + 1) * xb.rows];
            row.iter().enumerate().fold(
                (0, f64::NEG_INFINITY),
                |m, (k, &c)| if c > m.1 { (k, c) } else { m },
            )
        })
        .collect();
    let mean = best.iter().map(|b| b.1).sum::<f64>() / best.len().max(1) as f64;
    if mean < ROWS_MATCH {
        return None;
    }
    let da = dtype(a, ia);
    // Values compare one to one only when no output-preserving rescaling (folded or rescaled
    // norm gains, scaled units) changed the rows' or columns' scale.
    if rescaled(&xa, &xb, &best) {
        return None;
    }
    // The coarser side's cells grade the position of the finer side's value.
    let a_coarse = crate::triage::precision_tolerance(da) >= crate::triage::precision_tolerance(db);
    let graded = exact_cells(if a_coarse { da } else { db });
    let mut t = Tally::default();
    for (r, &(k, _)) in best.iter().enumerate() {
        let (ra, rb) = (xa.row(r), xb.row(k));
        let ha = cell(ra, da);
        let hb_row = cells_b.row(k);
        let std = row_std(ra).max(f64::MIN_POSITIVE);
        for c in 0..ra.len() {
            let (x, y) = (f64::from(ra[c]), f64::from(rb[c]));
            let (hx, hy) = (ha(c, x), f64::from(hb_row[c]).abs());
            let (coarse, fine) = if a_coarse { (hx, hy) } else { (hy, hx) };
            let d = (x - y).abs();
            t.values += 1;
            t.change += d / std;
            let cell = (coarse + fine) * (1.0 + CELL_SLACK) + f64::EPSILON;
            if d > cell {
                t.outside += 1;
                t.excess += (d - cell) / std;
            } else if d > fine * (1.0 + CELL_SLACK) + f64::EPSILON {
                t.in_cell += 1;
                if graded && coarse > 0.0 {
                    t.graded += 1;
                    if d <= coarse / 2.0 {
                        t.inner += 1;
                    }
                }
            }
        }
    }
    Some(t)
}

/// Spread (median absolute deviation of the log ratios) of the matched rows' or the columns'
/// norms above which the two sides were rescaled (rounding and light fine-tunes spread them by
/// well under 0.5 %).
const RESCALED: f64 = 0.005;

/// Whether the matched rows (`best[r].0` of `xb` for row `r` of `xa`) differ in scale by rows
/// or by columns.
fn rescaled(xa: &Matrix, xb: &Matrix, best: &[(usize, f64)]) -> bool {
    let norm =
        |v: &mut dyn Iterator<Item = f32>| v.map(|x| f64::from(x).powi(2)).sum::<f64>().sqrt();
    let mut rows = Vec::new();
    let mut ca = vec![0f64; xa.cols];
    let mut cb = vec![0f64; xa.cols];
    for (r, &(k, _)) in best.iter().enumerate() {
        let (ra, rb) = (xa.row(r), xb.row(k));
        let (na, nb) = (norm(&mut ra.iter().copied()), norm(&mut rb.iter().copied()));
        if na > 0.0 && nb > 0.0 {
            rows.push((nb / na).ln());
        }
        for c in 0..xa.cols {
            ca[c] += f64::from(ra[c]).powi(2);
            cb[c] += f64::from(rb[c]).powi(2);
        }
    }
    let cols: Vec<f64> = ca
        .iter()
        .zip(&cb)
        .filter(|(a, b)| **a > 0.0 && **b > 0.0)
        .map(|(a, b)| (b / a).sqrt().ln().abs())
        .collect();
    let spread = |v: Vec<f64>| {
        if v.is_empty() {
            0.0
        } else {
            taoke_stats::median(v)
        }
    };
    spread(rows) > RESCALED || spread(cols) > RESCALED
}

fn row_std(x: &[f32]) -> f64 {
    let n = x.len().max(1) as f64;
    let m = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    (x.iter().map(|&v| (f64::from(v) - m).powi(2)).sum::<f64>() / n).sqrt()
}

/// The half width of the rounding cell of value `c` (`x`) of a row stored as `d`.
fn cell(row: &[f32], d: Dtype) -> Box<dyn Fn(usize, f64) -> f64> {
    if let Some(h) = float_half_step(d) {
        return Box::new(move |_, x| h * x.abs());
    }
    if is_quantized(d) {
        let halves = half_steps(row, d);
        return Box::new(move |c, _| halves.get(c / QBLOCK).copied().unwrap_or(0.0));
    }
    Box::new(|_, _| 0.0)
}

/// Share of sampled MLP weights of the float32 side outside the rounding cell of the other
/// side's value, when the other side is bf16 or f16 and the residual stream kept its
/// coordinates: a recast between the two formats rounds (every value inside its cell: 0);
/// noise added after a recast to f32 (a Llama3-V-style wash at std/700) moves the values of
/// small magnitude, about a third of them, out of their cells.
pub(crate) fn recast_outside_cells(a: &ModelView<'_>, b: &ModelView<'_>) -> Option<f64> {
    let (ia, ib) = (
        a.index(Some(0), Role::MlpUp, Param::Weight)?,
        b.index(Some(0), Role::MlpUp, Param::Weight)?,
    );
    let (da, db) = (dtype(a, ia), dtype(b, ib));
    let coarse = match (da, db) {
        (Dtype::F32, Dtype::BF16 | Dtype::F16) => db,
        (Dtype::BF16 | Dtype::F16, Dtype::F32) => da,
        _ => return None,
    };
    let n = a.canonical_rows(ia);
    if n != b.canonical_rows(ib) {
        return None;
    }
    let rows = SplitMix64::new(SEED_ROWS ^ n as u64).sample_sorted(n, ROWS.min(n));
    let (x, y) = (
        a.matrix_rows(ia, &rows).ok()?,
        b.matrix_rows(ib, &rows).ok()?,
    );
    if x.data.len() != y.data.len() || x.data.is_empty() {
        return None;
    }
    let half = float_half_step(coarse)?;
    let outside = x
        .data
        .iter()
        .zip(&y.data)
        .filter(|(&p, &q)| {
            let (p, q) = (f64::from(p), f64::from(q));
            // The coarse side's value is the cell's centre; its half step is relative.
            let c = if da == coarse { p } else { q };
            (p - q).abs() > half * c.abs() * (1.0 + CELL_SLACK) + f64::MIN_POSITIVE
        })
        .count();
    Some(outside as f64 / x.data.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q4_1_step_from_the_block_range() {
        let row: Vec<f32> = (0..32).map(|i| -1.0 + (i % 16) as f32 * 0.1).collect();
        let h = half_steps(&row, Dtype::Q4_1);
        assert_eq!(h.len(), 1);
        assert!((h[0] - 0.05).abs() < 1e-6);
        // Unknown formats: the smallest gap between distinct values.
        let g = half_steps(&row, Dtype::Q4_K);
        assert!((g[0] - 0.05).abs() < 1e-6);
    }
}
