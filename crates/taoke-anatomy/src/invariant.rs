//! Roles by invariant statistics: matching a disguised model's tensors to a reference model's
//! when names tell nothing and the values were permuted or rotated.
//!
//! [`crate::match_by_content`] correlates values position by position, so it cannot see a
//! tensor whose rows or columns were reordered (a residual-stream, head or MLP-unit
//! permutation) or whose residual axis was rotated. The statistics here survive those edits:
//!
//! - the distribution of the values (quantiles of a seeded sample): invariant to any
//!   reordering of rows and columns, and nearly so to a rotation of near-Gaussian weights;
//! - the distribution of the norms along each axis (quantiles of the sorted row norms and
//!   column norms): the norms of the rows are invariant to any reordering of the rows and to a
//!   rotation or reordering of the columns, and likewise for the columns.
//!
//! Along the reference tensor's residual axis (the axis a residual rotation mixes), the norms
//! count for less. Each target takes the reference tensor of its shape class (equal or
//! transposed shape) at the smallest distance, by an optimal one-to-one assignment; the margin
//! (second-best distance over the best) says how sure the match is.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{AnatomyError, TensorDesc, TensorSource};

/// Quantiles per distribution.
const QUANTILES: usize = 32;

/// Values sampled (evenly, by position) for the value quantiles.
const VALUE_SAMPLE: usize = 1 << 14;

/// Weight of the norms along the reference's residual axis (a residual rotation mixes them).
const RESIDUAL_AXIS_WEIGHT: f64 = 0.25;

/// Fewest elements of a matched tensor (vectors of a few values match by chance).
pub const MIN_ELEMENTS: u64 = 16;

/// Which stored axis of a reference tensor indexes the residual stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResidualAxis {
    /// The rows (dimension 0).
    Rows,
    /// The columns (dimension 1).
    Cols,
}

/// One invariant match: target tensor `target` takes the role of reference tensor `reference`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvariantMatch {
    /// Index of the target tensor.
    pub target: usize,
    /// Index of the matched reference tensor.
    pub reference: usize,
    /// Distance of the two signatures (0 for equal distributions; relative, summed over the
    /// value and norm distributions).
    pub distance: f64,
    /// Second-best distance over the best one among the target's candidates (∞ with a single
    /// candidate): above ≈ 2 the match stands out.
    pub margin: f64,
    /// Whether the target is stored transposed relative to the reference.
    pub transposed: bool,
}

/// Quantile profile of a tensor.
#[derive(Debug, Clone)]
struct Signature {
    values: Vec<f64>,
    /// Row norms' quantiles (2-D only).
    rows: Vec<f64>,
    /// Column norms' quantiles (2-D only).
    cols: Vec<f64>,
}

fn quantiles(mut v: Vec<f64>) -> Vec<f64> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return vec![0.0; QUANTILES];
    }
    v.sort_unstable_by(f64::total_cmp);
    (0..QUANTILES)
        .map(|k| {
            let pos = (k as f64 + 0.5) / QUANTILES as f64 * (v.len() - 1) as f64;
            v[pos.round() as usize]
        })
        .collect()
}

fn signature(v: &[f32], shape: &[u64]) -> Signature {
    let step = v.len().div_ceil(VALUE_SAMPLE).max(1);
    let values = quantiles(v.iter().step_by(step).map(|&x| f64::from(x)).collect());
    let (rows, cols) = match shape {
        [p, q] if *p > 0 && *q > 0 && (*p * *q) as usize == v.len() => {
            let (p, q) = (*p as usize, *q as usize);
            let mut col = vec![0f64; q];
            let mut row = vec![0f64; p];
            for (r, chunk) in v.chunks_exact(q).enumerate() {
                for (c, &x) in chunk.iter().enumerate() {
                    let x2 = if x.is_finite() {
                        f64::from(x).powi(2)
                    } else {
                        0.0
                    };
                    row[r] += x2;
                    col[c] += x2;
                }
            }
            (
                quantiles(row.into_iter().map(f64::sqrt).collect()),
                quantiles(col.into_iter().map(f64::sqrt).collect()),
            )
        }
        _ => (Vec::new(), Vec::new()),
    };
    Signature { values, rows, cols }
}

/// Relative L2 distance of two quantile profiles (0 when equal).
fn rel(a: &[f64], b: &[f64]) -> f64 {
    if a.len() != b.len() {
        return f64::INFINITY;
    }
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    let den: f64 = a.iter().chain(b).map(|x| x * x).sum::<f64>() / 2.0;
    if den <= 0.0 {
        return if num == 0.0 { 0.0 } else { f64::INFINITY };
    }
    (num / den).sqrt()
}

/// Distance of target `t` (stored transposed relative to the reference when `transposed`) to
/// reference `r`, whose residual axis is `axis`.
fn distance(t: &Signature, r: &Signature, transposed: bool, axis: Option<ResidualAxis>) -> f64 {
    let d_values = rel(&t.values, &r.values);
    if r.rows.is_empty() {
        return d_values;
    }
    let (t_rows, t_cols) = if transposed {
        (&t.cols, &t.rows)
    } else {
        (&t.rows, &t.cols)
    };
    let (d_rows, d_cols) = (rel(t_rows, &r.rows), rel(t_cols, &r.cols));
    let (w_rows, w_cols) = match axis {
        Some(ResidualAxis::Rows) => (RESIDUAL_AXIS_WEIGHT, 1.0),
        Some(ResidualAxis::Cols) => (1.0, RESIDUAL_AXIS_WEIGHT),
        None => (1.0, 1.0),
    };
    d_values + w_rows * d_rows + w_cols * d_cols
}

fn numel(shape: &[u64]) -> Option<u64> {
    shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d))
}

/// Matches `targets` (indices into `target`) to the `candidates` (indices into `reference`) by
/// the invariant statistics of the module docs. `axis[i]` is reference tensor `i`'s residual
/// axis, when known. Every target of a shape class with candidates gets one (the best
/// one-to-one assignment), whatever its distance: the distance and margin say how sure.
pub fn match_by_invariants(
    reference: &[TensorDesc],
    ref_src: &dyn TensorSource,
    axis: &[Option<ResidualAxis>],
    candidates: &[usize],
    target: &[TensorDesc],
    tgt_src: &dyn TensorSource,
    targets: &[usize],
) -> Result<Vec<InvariantMatch>, AnatomyError> {
    let class = |s: &[u64]| {
        let mut c = s.to_vec();
        c.sort_unstable();
        c
    };
    let big = |s: &[u64]| numel(s).is_some_and(|n| n >= MIN_ELEMENTS);
    let mut classes: BTreeMap<Vec<u64>, (Vec<usize>, Vec<usize>)> = BTreeMap::new();
    for &t in targets {
        if let Some(td) = target.get(t).filter(|d| big(&d.shape)) {
            classes.entry(class(&td.shape)).or_default().0.push(t);
        }
    }
    for &i in candidates {
        if let Some(c) = reference
            .get(i)
            .and_then(|rd| classes.get_mut(&class(&rd.shape)))
        {
            c.1.push(i);
        }
    }
    let sig =
        |src: &dyn TensorSource, d: &TensorDesc, i: usize| -> Result<Signature, AnatomyError> {
            let v = crate::infer::read_checked(src, d, i)?;
            Ok(signature(&v, &d.shape))
        };
    let mut out = Vec::new();
    for (ts, rs) in classes.into_values() {
        if rs.is_empty() {
            continue;
        }
        let rsig: Vec<Signature> = rs
            .iter()
            .map(|&i| sig(ref_src, &reference[i], i))
            .collect::<Result<_, _>>()?;
        // cost[a][b] = (distance, transposed)
        let mut cost = vec![(f64::INFINITY, false); ts.len() * rs.len()];
        for (a, &t) in ts.iter().enumerate() {
            let td = &target[t];
            let s = sig(tgt_src, td, t)?;
            let reversed: Vec<u64> = td.shape.iter().rev().copied().collect();
            for (b, &ri) in rs.iter().enumerate() {
                let rshape = &reference[ri].shape;
                let ax = axis.get(ri).copied().flatten();
                let mut best = (f64::INFINITY, false);
                if *rshape == td.shape {
                    best = (distance(&s, &rsig[b], false, ax), false);
                }
                if td.shape.len() == 2 && *rshape == reversed {
                    let d = distance(&s, &rsig[b], true, ax);
                    if d < best.0 {
                        best = (d, true);
                    }
                }
                cost[a * rs.len() + b] = best;
            }
        }
        let flat: Vec<f64> = cost
            .iter()
            .map(|&(d, _)| if d.is_finite() { d } else { 1e9 })
            .collect();
        let Ok(assignment) = taoke_stats::lap::assign_min_hungarian(&flat, ts.len(), rs.len())
        else {
            continue;
        };
        for (a, b) in assignment.pairs() {
            let (d, transposed) = cost[a * rs.len() + b];
            if !d.is_finite() {
                continue;
            }
            let second = (0..rs.len())
                .filter(|&k| k != b)
                .map(|k| cost[a * rs.len() + k].0)
                .fold(f64::INFINITY, f64::min);
            out.push(InvariantMatch {
                target: ts[a],
                reference: rs[b],
                distance: d,
                margin: if d > 0.0 { second / d } else { f64::INFINITY },
                transposed,
            });
        }
    }
    out.sort_by_key(|m| m.target);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_keeps_the_signature() {
        let v: Vec<f32> = (0..64 * 16)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
            .collect();
        let s = signature(&v, &[64, 16]);
        // Reverse the rows and the columns.
        let mut p = vec![0f32; v.len()];
        for r in 0..64 {
            for c in 0..16 {
                p[(63 - r) * 16 + (15 - c)] = v[r * 16 + c];
            }
        }
        let t = signature(&p, &[64, 16]);
        assert!(distance(&t, &s, false, None) < 1e-12);
        // Transposed storage is found as such.
        let tr: Vec<f32> = (0..16 * 64).map(|k| v[(k % 64) * 16 + k / 64]).collect();
        let u = signature(&tr, &[16, 64]);
        assert!(distance(&u, &s, true, None) < 1e-12);
    }
}
