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

use crate::measure::{BlockTest, GridTest};
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
    tests: &[BlockTest],
) -> Option<GridTest> {
    let (la, lb) = (a.n_blocks(), b.n_blocks());
    if la != lb || la == 0 {
        return None;
    }
    let mut blocks = vec![0, la / 2, la - 1];
    blocks.dedup();
    let mut outside = 0usize;
    let mut total = 0usize;
    for blk in blocks {
        for role in [Role::MlpUp, Role::MlpGate] {
            let (Some(ia), Some(ib)) = (
                a.index(Some(blk), role, Param::Weight),
                b.index(Some(blk), role, Param::Weight),
            ) else {
                continue;
            };
            let (da, db) = (dtype(a, ia), dtype(b, ib));
            if !(is_quantized(da) || is_quantized(db)) {
                return None;
            }
            let unit_pairs = tests
                .iter()
                .find(|t| t.a == blk && t.b == blk && t.test.identity_fraction < 0.9)
                .map(|t| &t.test.pairs);
            let Some((o, n)) = count_outside(a, ia, b, ib, transform, unit_pairs) else {
                continue;
            };
            outside += o;
            total += n;
        }
    }
    (total > 0).then(|| GridTest {
        outside: outside as f64 / total as f64,
        values: total,
    })
}

/// Values of the sampled rows of A's tensor `ia` outside the pair's rounding cells, and the
/// values compared.
fn count_outside(
    a: &ModelView<'_>,
    ia: usize,
    b: &ModelView<'_>,
    ib: usize,
    transform: &crate::align::Transform,
    unit_pairs: Option<&Vec<(usize, usize)>>,
) -> Option<(usize, usize)> {
    let n = a.canonical_rows(ia);
    let rows_a = SplitMix64::new(SEED_ROWS ^ n as u64).sample_sorted(n, ROWS.min(n));
    let rows_b: Vec<usize> = match unit_pairs {
        Some(pairs) => {
            let map: std::collections::HashMap<usize, usize> = pairs.iter().copied().collect();
            rows_a
                .iter()
                .map(|r| map.get(r).copied())
                .collect::<Option<_>>()?
        }
        None => rows_a.clone(),
    };
    if rows_b.iter().any(|&r| r >= b.canonical_rows(ib)) {
        return None;
    }
    let xa = a.matrix_rows(ia, &rows_a).ok()?;
    // B's rows in the order of A's sample, then mapped to A's residual coordinates.
    let mut sorted_b = rows_b.clone();
    sorted_b.sort_unstable();
    sorted_b.dedup();
    let raw = b.matrix_rows(ib, &sorted_b).ok()?;
    let pos: std::collections::HashMap<usize, usize> =
        sorted_b.iter().enumerate().map(|(k, &r)| (r, k)).collect();
    let ordered = raw
        .view()
        .select_rows(&rows_b.iter().map(|r| pos[r]).collect::<Vec<_>>())
        .ok()?;
    let xb: Matrix = transform.apply(&ordered, xa.cols);
    if (xa.rows, xa.cols) != (xb.rows, xb.cols) {
        return None;
    }
    let (da, db) = (dtype(a, ia), dtype(b, ib));
    let mut outside = 0;
    for r in 0..xa.rows {
        let (ra, rb) = (xa.row(r), xb.row(r));
        let ha = cell(ra, da);
        let hb = cell(rb, db);
        for c in 0..ra.len() {
            let (x, y) = (f64::from(ra[c]), f64::from(rb[c]));
            let half = ha(c, x) + hb(c, y);
            if (x - y).abs() > half * (1.0 + CELL_SLACK) + f64::EPSILON {
                outside += 1;
            }
        }
    }
    Some((outside, xa.rows * xa.cols))
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
