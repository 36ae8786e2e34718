//! Raw weight samples: a seeded, fixed-position sample of the stored values of each block
//! matrix, kept by fingerprints of algorithm `anchored-units/3`, and the exact-equality share
//! between two models' samples ([`unchanged_share`]).
//!
//! Training moves every weight (a fine-tune shares no stored value with its base), and so do
//! linear and SLERP merges, noise and rescaling. A sparse update does not: a TIES or DARE merge
//! is the base plus a trimmed or dropped task vector, so in every matrix it changes a large
//! share of the values stay bit-identical to the base (about half at TIES density 0.3) and,
//! where one parent's task vector alone was kept, to that parent. These shares orient a
//! parallelogram of base, fine-tunes and merge that distances cannot ([`crate::identify`]).
//!
//! Positions are a function of the matrix's canonical shape, role and block only, so two
//! models of the same shape sample the same weights. Values are stored as f32 bit patterns
//! (exact for f32, f16 and bf16 storage) with the mantissa bits of their storage type, so that
//! equality between an f32 model and an f16 copy of a relative is judged at f16's resolution.
//! Quantized storage keeps no samples (equality means nothing there).

use serde::{Deserialize, Serialize};
use taoke_anatomy::{Param, Role};
use taoke_evidence::view::ModelView;

use crate::{Error, Result};

/// Most sampled values per matrix.
pub const PER_MATRIX: usize = taoke_evidence::context::PER_MATRIX;
/// Rows a matrix's samples are drawn from (at least; more when rows are short), so that only
/// those rows are read.
pub const SAMPLE_ROWS: usize = taoke_evidence::context::SAMPLE_ROWS;
/// Block matrices sampled.
pub const ROLES: [Role; 7] = taoke_evidence::context::ROLES;
/// A matrix whose share of unchanged sampled values is at least this did not move.
pub const UNMOVED: f64 = 0.99;

/// The sampled values of one block matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampledMatrix {
    /// Block index.
    pub block: u32,
    /// Role (`attn_q`, `ffn_down`, …: [`Role::as_str`]).
    pub role: String,
    /// Canonical `[out, in]` shape.
    pub rows: u32,
    /// Canonical columns.
    pub cols: u32,
    /// Mantissa bits of the storage type (52, 23, 10 or 7).
    pub bits: u8,
    /// Number of sampled values.
    pub n: u32,
    /// The values at [`positions`], row-major (not serialized in the JSON metadata).
    #[serde(skip)]
    pub values: Vec<f32>,
}

/// Every sampled block matrix of a model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WeightSamples {
    /// The matrices, in block then role order.
    pub matrices: Vec<SampledMatrix>,
}

/// Sampled positions of a `rows × cols` matrix of `role` in `block`: (row, columns) pairs,
/// rows ascending. At least [`SAMPLE_ROWS`] rows (all of them when fewer), at most
/// [`PER_MATRIX`] values in all ([`taoke_evidence::context::sample_positions`], shared with
/// `taoke compare --context`, so fingerprints serve as merge context).
pub fn positions(rows: usize, cols: usize, block: u32, role: &str) -> Vec<(usize, Vec<usize>)> {
    taoke_evidence::context::sample_positions(rows, cols, block, role)
}

/// Mantissa bits of a float storage type (`None` for quantized and integer types).
fn mantissa_bits(d: taoke_dtype::Dtype) -> Option<u8> {
    taoke_evidence::triage::mantissa_bits(d).and_then(|b| u8::try_from(b).ok())
}

/// The samples of block `block`'s matrices (float storage only), reading only the sampled
/// rows where the storage allows.
pub(crate) fn sample_block(view: &ModelView<'_>, block: u32) -> Result<Vec<SampledMatrix>> {
    let mut out = Vec::new();
    for role in ROLES {
        let Some(i) = view.index(Some(block), role, Param::Weight) else {
            continue;
        };
        let Some(bits) = mantissa_bits(view.ck.tensors[i].dtype) else {
            continue;
        };
        let Some((values, rows, cols)) =
            taoke_evidence::context::read_matrix_samples(view, i, block, role)
                .map_err(Error::evidence)?
        else {
            continue;
        };
        out.push(SampledMatrix {
            block,
            role: role.as_str().to_owned(),
            rows: rows as u32,
            cols: cols as u32,
            bits,
            n: values.len() as u32,
            values,
        });
    }
    Ok(out)
}

/// Share of the sampled values of one matrix pair left unchanged: bit-identical, or equal
/// after rounding to the coarser storage of the two. As in `taoke compare`, only values whose
/// storage resolution can show a typical change (an eighth of the median moved magnitude)
/// count, so updates too small for a coarse dtype do not count as unchanged, and values zero
/// on both sides are left out. 1 when nothing moved; `None` below 16 eligible values.
pub fn matrix_unchanged(a: &[f32], b: &[f32], bits: (u8, u8)) -> Option<f64> {
    if a.is_empty() {
        return None;
    }
    taoke_evidence::triage::unchanged_fraction_bits(a, b, (i32::from(bits.0), i32::from(bits.1)))
}

/// The exact-equality evidence between two models' samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Share {
    /// Matrices compared (same block, role and shape on both sides, float storage).
    pub compared: usize,
    /// Of those, the ones that moved (less than [`UNMOVED`] of their values unchanged).
    pub moved: usize,
    /// Median share of unchanged values over the moved matrices (1 when none moved).
    pub unchanged: f64,
}

/// Exact-equality share between two models' samples (`None` when no matrix is comparable).
pub fn unchanged_share(a: &WeightSamples, b: &WeightSamples) -> Option<Share> {
    let mut us = Vec::new();
    let mut compared = 0;
    for x in &a.matrices {
        let Some(y) = b.matrices.iter().find(|y| {
            y.block == x.block && y.role == x.role && y.rows == x.rows && y.cols == x.cols
        }) else {
            continue;
        };
        if let Some(u) = matrix_unchanged(&x.values, &y.values, (x.bits, y.bits)) {
            compared += 1;
            if u < UNMOVED {
                us.push(u);
            }
        }
    }
    if compared == 0 {
        return None;
    }
    let moved = us.len();
    let unchanged = if us.is_empty() {
        1.0
    } else {
        us.sort_by(f64::total_cmp);
        let n = us.len();
        if n % 2 == 1 {
            us[n / 2]
        } else {
            0.5 * (us[n / 2 - 1] + us[n / 2])
        }
    };
    Some(Share {
        compared,
        moved,
        unchanged,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_fixed_distinct_and_bounded() {
        let p = positions(4096, 4096, 3, "attn_q");
        assert_eq!(p, positions(4096, 4096, 3, "attn_q"));
        assert_eq!(p.len(), SAMPLE_ROWS);
        assert_eq!(p.iter().map(|r| r.1.len()).sum::<usize>(), PER_MATRIX);
        assert!(p.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(p.iter().all(|r| r.1.windows(2).all(|w| w[0] < w[1])));
        assert_ne!(p, positions(4096, 4096, 4, "attn_q"));
        // Short rows: more rows, every column.
        let q = positions(256, 64, 0, "ffn_down");
        assert_eq!((q.len(), q[0].1.len()), (16, 64));
        // A tiny matrix: every value.
        let t = positions(12, 12, 0, "attn_k");
        assert_eq!(t.iter().map(|r| r.1.len()).sum::<usize>(), 144);
    }

    #[test]
    fn resolution_is_the_spacing_of_the_type() {
        use taoke_evidence::triage::resolution;
        assert_eq!(resolution(1.0, 23), f64::from(f32::EPSILON));
        assert_eq!(resolution(-3.0, 10), 2.0f64.powi(-9));
        assert_eq!(resolution(0.1, 7), 2.0f64.powi(-11));
        assert_eq!(resolution(0.0, 7), 0.0);
    }

    #[test]
    fn unchanged_share_sees_a_sparse_update_and_not_training() {
        let base: Vec<f32> = (0..1024)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 400.0)
            .collect();
        // Training moves every value a little.
        let trained: Vec<f32> = base
            .iter()
            .enumerate()
            .map(|(i, x)| x + 1e-3 * ((i % 7) as f32 - 3.1))
            .collect();
        // A sparse update keeps every other value.
        let sparse: Vec<f32> = base
            .iter()
            .zip(&trained)
            .enumerate()
            .map(|(i, (b, t))| if i % 2 == 0 { *b } else { *t })
            .collect();
        assert_eq!(matrix_unchanged(&base, &trained, (23, 23)), Some(0.0));
        let u = matrix_unchanged(&base, &sparse, (23, 23)).unwrap();
        assert!((u - 0.5).abs() < 0.01, "{u}");
        assert_eq!(matrix_unchanged(&base, &base, (23, 23)), Some(1.0));
        // An f16 copy of the sparse update against the f32 base: judged at f16 resolution.
        let sparse16: Vec<f32> = sparse
            .iter()
            .map(|&x| half::f16::from_f32(x).to_f32())
            .collect();
        let u16 = matrix_unchanged(&base, &sparse16, (23, 10)).unwrap();
        assert!((u16 - 0.5).abs() < 0.02, "{u16}");
        // An f16 copy of the base is the base.
        let base16: Vec<f32> = base
            .iter()
            .map(|&x| half::f16::from_f32(x).to_f32())
            .collect();
        assert_eq!(matrix_unchanged(&base, &base16, (23, 10)), Some(1.0));
    }
}
