//! Layout normalization: rotary Q/K row order, transposed storage, fused tensors.
//!
//! - **Q/K row order.** Meta's original checkpoints, llama2.c and llama.cpp GGUF (for the
//!   llama-family architectures) keep each head's rotary pairs interleaved (rows `0,1` rotate
//!   together); Hugging Face permuted them into two halves (rows `i` and `i + d/2`). The HF→GGUF
//!   converter does `w.reshape(n_head, 2, rows/n_head/2, cols).swapaxes(1, 2)`;
//!   [`interleave_qk_rows`] is that map and [`halve_qk_rows`] its inverse. Use `n_head` for Q and
//!   `n_head_kv` for K.
//! - **Orientation.** [`orientation`] says whether a 2-D tensor is stored `[out, in]` as expected
//!   for its role and the model's dimensions, or transposed.
//! - **Fused tensors.** [`split_fused`] gives the row ranges of Q, K, V in a fused QKV tensor and
//!   of gate and up in a fused gate-up tensor.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::describe::{Family, ModelDescription};
use crate::role::Role;
use crate::scheme::{FusedQkvLayout, LinearStorage, SchemeId};

/// Errors of the layout functions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LayoutError {
    /// The buffer length is not `rows × cols`.
    #[error("{what}: {len} values do not form a {rows}x{cols} matrix")]
    Size {
        /// What was being reshaped.
        what: &'static str,
        /// Values given.
        len: usize,
        /// Rows expected.
        rows: usize,
        /// Columns expected.
        cols: usize,
    },
    /// The rows do not split into `n_head` heads of an even number of rows.
    #[error("{rows} rows do not split into {n_head} heads of an even number of rows")]
    Heads {
        /// Rows of the matrix.
        rows: usize,
        /// Head count given.
        n_head: usize,
    },
}

fn check_qk(len: usize, rows: usize, cols: usize, n_head: usize) -> Result<usize, LayoutError> {
    if rows.checked_mul(cols) != Some(len) {
        return Err(LayoutError::Size {
            what: "q/k permutation",
            len,
            rows,
            cols,
        });
    }
    if n_head == 0 || !rows.is_multiple_of(n_head) || !(rows / n_head).is_multiple_of(2) {
        return Err(LayoutError::Heads { rows, n_head });
    }
    Ok(rows / n_head / 2)
}

/// Row `r` of the interleaved layout comes from which row of the half-split layout.
fn interleaved_source_row(r: usize, half: usize) -> usize {
    let per_head = 2 * half;
    let (h, within) = (r / per_head, r % per_head);
    let (i, j) = (within / 2, within % 2);
    h * per_head + j * half + i
}

/// HF (half-split) → interleaved rows, as llama.cpp's converter permutes Q (`n_head`) and K
/// (`n_head_kv`). `w` is row-major `[rows, cols]`.
pub fn interleave_qk_rows(
    w: &[f32],
    rows: usize,
    cols: usize,
    n_head: usize,
) -> Result<Vec<f32>, LayoutError> {
    let half = check_qk(w.len(), rows, cols, n_head)?;
    let mut out = vec![0.0f32; w.len()];
    for r in 0..rows {
        let src = interleaved_source_row(r, half);
        out[r * cols..(r + 1) * cols].copy_from_slice(&w[src * cols..(src + 1) * cols]);
    }
    Ok(out)
}

/// Interleaved (GGUF, Meta, llama2.c) → HF half-split rows: the inverse of
/// [`interleave_qk_rows`]. Use `n_head` for Q and `n_head_kv` for K.
pub fn halve_qk_rows(
    w: &[f32],
    rows: usize,
    cols: usize,
    n_head: usize,
) -> Result<Vec<f32>, LayoutError> {
    let half = check_qk(w.len(), rows, cols, n_head)?;
    let mut out = vec![0.0f32; w.len()];
    for r in 0..rows {
        let dst = interleaved_source_row(r, half);
        out[dst * cols..(dst + 1) * cols].copy_from_slice(&w[r * cols..(r + 1) * cols]);
    }
    Ok(out)
}

/// Brings a Q or K matrix (row-major `[rows, cols]`, `[out, in]`) into Hugging Face half-split
/// row order, so checkpoints of different origins compare element-wise. Uses `heads` for
/// [`Role::AttnQ`] and `kv_heads` for [`Role::AttnK`]; other roles, and matrices already
/// half-split or not rotary, are returned unchanged (`Ok(None)`).
pub fn normalize_qk_rows(
    role: Role,
    w: &[f32],
    rows: usize,
    cols: usize,
    d: &ModelDescription,
    order: QkRowOrder,
) -> Result<Option<Vec<f32>>, LayoutError> {
    if order != QkRowOrder::Interleaved {
        return Ok(None);
    }
    let n = match role {
        Role::AttnQ => d.heads.as_ref().map(|h| h.value),
        Role::AttnK => d.kv_heads.as_ref().or(d.heads.as_ref()).map(|h| h.value),
        _ => return Ok(None),
    };
    let Some(n) = n.and_then(|n| usize::try_from(n).ok()) else {
        return Err(LayoutError::Heads { rows, n_head: 0 });
    };
    halve_qk_rows(w, rows, cols, n).map(Some)
}

/// How a checkpoint orders the rotary rows inside each Q/K head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QkRowOrder {
    /// Rotary pairs adjacent (Meta original, llama2.c, llama.cpp GGUF of llama-family models).
    Interleaved,
    /// Rotary pairs half a head apart (Hugging Face).
    HalfSplit,
    /// Not a rotary Q/K or not known.
    NotApplicable,
}

/// GGUF architectures whose Q/K rows llama.cpp's HF converter permutes.
pub const GGUF_PERMUTED_ARCHS: &[&str] = &["llama", "baichuan", "granite", "granitemoe", "deci"];

/// The Q/K row order of a checkpoint: GGUF of a permuted architecture and llama2.c are
/// interleaved; Hugging Face names of rotary families are half-split.
pub fn qk_row_order(
    scheme: Option<SchemeId>,
    gguf_arch: Option<&str>,
    family: Family,
) -> QkRowOrder {
    match scheme {
        Some(SchemeId::Gguf) => match gguf_arch {
            Some(a) if GGUF_PERMUTED_ARCHS.contains(&a) => QkRowOrder::Interleaved,
            Some(_) => QkRowOrder::HalfSplit,
            None => QkRowOrder::NotApplicable,
        },
        Some(SchemeId::MetaLlama) => QkRowOrder::Interleaved,
        Some(SchemeId::Bert | SchemeId::Gpt2) => QkRowOrder::NotApplicable,
        Some(_) => match family {
            Family::Bert | Family::Gpt2 => QkRowOrder::NotApplicable,
            _ => QkRowOrder::HalfSplit,
        },
        None => QkRowOrder::NotApplicable,
    }
}

/// How a 2-D tensor is stored relative to its role's expected `[out, in]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Orientation {
    /// `[out, in]` as expected (for non-square shapes: proven by the dimensions).
    Expected,
    /// `[in, out]`: transposed (for non-square shapes: proven by the dimensions).
    Transposed,
    /// Square, and no convention says which way it is stored.
    Ambiguous,
    /// No expectation for this role, or the dimensions fit neither way.
    Unknown,
    /// Not a 2-D tensor.
    NotMatrix,
}

/// The expected `[out, in]` of a 2-D tensor of `role`, from the model dimensions.
pub fn expected_dims(role: Role, d: &ModelDescription) -> Option<[u64; 2]> {
    let h = d.hidden.as_ref()?.value;
    let q = d.q_width().unwrap_or(h);
    // Without head counts, assume multi-head attention (K/V as wide as Q).
    let kv = d.kv_width().or(Some(q));
    let i = d.intermediate.as_ref().map(|x| x.value);
    let v = d.vocab.as_ref().map(|x| x.value);
    Some(match role {
        Role::TokenEmbedding | Role::LmHead | Role::MlmDecoder => [v?, h],
        Role::PositionEmbedding => [d.max_positions.as_ref()?.value, h],
        Role::AttnQ => [q, h],
        Role::AttnK | Role::AttnV => [kv?, h],
        Role::AttnO => [h, q],
        Role::AttnQkv => [q.checked_add(kv?.checked_mul(2)?)?, h],
        Role::MlpGate | Role::MlpUp => [i?, h],
        Role::MlpDown => [h, i?],
        Role::MlpGateUp => [i?.checked_mul(2)?, h],
        Role::Pooler | Role::MlmTransform => [h, h],
        _ => return None,
    })
}

/// Whether `shape` is stored as expected for `role`. Square matrices fall back to the scheme's
/// storage convention (`None` → [`Orientation::Ambiguous`]).
pub fn orientation(
    role: Role,
    shape: &[u64],
    d: &ModelDescription,
    storage: Option<LinearStorage>,
) -> Orientation {
    let [a, b] = shape else {
        return Orientation::NotMatrix;
    };
    let Some([o, i]) = expected_dims(role, d) else {
        return Orientation::Unknown;
    };
    if o == i && *a == o && *b == i {
        return match storage {
            Some(LinearStorage::OutIn) => Orientation::Expected,
            Some(LinearStorage::InOut) => Orientation::Transposed,
            None => Orientation::Ambiguous,
        };
    }
    if [*a, *b] == [o, i] {
        Orientation::Expected
    } else if [*a, *b] == [i, o] {
        Orientation::Transposed
    } else {
        Orientation::Unknown
    }
}

/// Most heads (or KV groups) [`split_fused`] lists ranges for; more is not a real model.
pub const MAX_FUSED_PARTS: u64 = 1 << 16;

/// One role's rows inside a fused tensor (in `[out, in]` orientation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FusedPart {
    /// The role of these rows.
    pub role: Role,
    /// Row ranges, in order (one for contiguous layouts, one per head or group otherwise).
    pub rows: Vec<Range<u64>>,
}

/// Splits a fused QKV or gate-up tensor of `rows` output rows into roles.
///
/// QKV needs `heads`, `kv_heads` and `head_dim`; gate-up splits in halves (gate first, as in
/// Phi-3). Returns `None` when the dimensions do not add up to `rows`.
pub fn split_fused(
    role: Role,
    rows: u64,
    d: &ModelDescription,
    layout: FusedQkvLayout,
) -> Option<Vec<FusedPart>> {
    match role {
        Role::MlpGateUp => {
            if !rows.is_multiple_of(2) {
                return None;
            }
            let half = rows / 2;
            Some(vec![
                FusedPart {
                    role: Role::MlpGate,
                    rows: std::iter::once(0..half).collect(),
                },
                FusedPart {
                    role: Role::MlpUp,
                    rows: std::iter::once(half..rows).collect(),
                },
            ])
        }
        Role::AttnQkv => {
            let nh = d.heads.as_ref()?.value;
            let nkv = d.kv_heads.as_ref().map(|x| x.value).unwrap_or(nh);
            let hd = d.head_dim.as_ref()?.value;
            if nh.checked_add(nkv.checked_mul(2)?)?.checked_mul(hd)? != rows || nkv == 0 {
                return None;
            }
            let mut q = Vec::new();
            let mut k = Vec::new();
            let mut v = Vec::new();
            match layout {
                FusedQkvLayout::Contiguous => {
                    q.push(0..nh * hd);
                    k.push(nh * hd..(nh + nkv) * hd);
                    v.push((nh + nkv) * hd..rows);
                }
                FusedQkvLayout::PerHead => {
                    if nh != nkv {
                        return None;
                    }
                    if nh > MAX_FUSED_PARTS {
                        return None;
                    }
                    for h in 0..nh {
                        let base = 3 * h * hd;
                        q.push(base..base + hd);
                        k.push(base + hd..base + 2 * hd);
                        v.push(base + 2 * hd..base + 3 * hd);
                    }
                }
                FusedQkvLayout::PerGroup => {
                    if !nh.is_multiple_of(nkv) {
                        return None;
                    }
                    if nkv > MAX_FUSED_PARTS {
                        return None;
                    }
                    let per = nh / nkv;
                    let group = (per + 2) * hd;
                    for g in 0..nkv {
                        let base = g * group;
                        q.push(base..base + per * hd);
                        k.push(base + per * hd..base + (per + 1) * hd);
                        v.push(base + (per + 1) * hd..base + group);
                    }
                }
            }
            Some(vec![
                FusedPart {
                    role: Role::AttnQ,
                    rows: q,
                },
                FusedPart {
                    role: Role::AttnK,
                    rows: k,
                },
                FusedPart {
                    role: Role::AttnV,
                    rows: v,
                },
            ])
        }
        _ => None,
    }
}

/// Transposes a row-major `[rows, cols]` matrix.
pub fn transpose(w: &[f32], rows: usize, cols: usize) -> Result<Vec<f32>, LayoutError> {
    if rows.checked_mul(cols) != Some(w.len()) {
        return Err(LayoutError::Size {
            what: "transpose",
            len: w.len(),
            rows,
            cols,
        });
    }
    let mut out = vec![0.0f32; w.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = w[r * cols + c];
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::describe::{describe, Field, FieldSource};

    fn ramp(n: usize) -> Vec<f32> {
        (0..n).map(|i| i as f32).collect()
    }

    /// The converter's numpy expression written out directly:
    /// `w.reshape(n_head, 2, half, cols).swapaxes(1, 2).reshape(rows, cols)`.
    fn numpy_permute(w: &[f32], rows: usize, cols: usize, n_head: usize) -> Vec<f32> {
        let half = rows / n_head / 2;
        let mut out = Vec::with_capacity(w.len());
        for h in 0..n_head {
            for i in 0..half {
                for j in 0..2 {
                    let src = ((h * 2 + j) * half + i) * cols;
                    out.extend_from_slice(&w[src..src + cols]);
                }
            }
        }
        out
    }

    #[test]
    fn qk_permutation_round_trips_with_gqa() {
        // 9 query heads and 3 KV heads of head_dim 8 over 24 columns (SmolLM2-like GQA ratio).
        let (hd, cols) = (8usize, 24usize);
        for n_head in [9usize, 3] {
            let rows = n_head * hd;
            let w = ramp(rows * cols);
            let p = interleave_qk_rows(&w, rows, cols, n_head).expect("permute");
            assert_eq!(p, numpy_permute(&w, rows, cols, n_head));
            assert_ne!(p, w);
            let back = halve_qk_rows(&p, rows, cols, n_head).expect("unpermute");
            assert_eq!(back, w);
        }
        // Undoing with the wrong head count does not give the original back.
        let w = ramp(24 * 4);
        let p = interleave_qk_rows(&w, 24, 4, 3).expect("permute");
        assert_ne!(halve_qk_rows(&p, 24, 4, 2).expect("unpermute"), w);
        // Row 1 of head 0 in GGUF order is HF row `half` (the rotary partner of row 0).
        let w = ramp(8);
        let p = interleave_qk_rows(&w, 8, 1, 1).expect("permute");
        assert_eq!(p, vec![0.0, 4.0, 1.0, 5.0, 2.0, 6.0, 3.0, 7.0]);
    }

    #[test]
    fn normalize_uses_kv_heads_for_k() {
        let d = dims(64, 8, 4, 172);
        let k = ramp(32 * 64);
        let gguf = interleave_qk_rows(&k, 32, 64, 4).expect("permute");
        let back = normalize_qk_rows(Role::AttnK, &gguf, 32, 64, &d, QkRowOrder::Interleaved)
            .expect("ok")
            .expect("changed");
        assert_eq!(back, k);
        let q = ramp(64 * 64);
        let gguf = interleave_qk_rows(&q, 64, 64, 8).expect("permute");
        let back = normalize_qk_rows(Role::AttnQ, &gguf, 64, 64, &d, QkRowOrder::Interleaved)
            .expect("ok")
            .expect("changed");
        assert_eq!(back, q);
        assert_eq!(
            normalize_qk_rows(Role::AttnV, &k, 32, 64, &d, QkRowOrder::Interleaved),
            Ok(None)
        );
        assert_eq!(
            normalize_qk_rows(Role::AttnK, &k, 32, 64, &d, QkRowOrder::HalfSplit),
            Ok(None)
        );
    }

    #[test]
    fn qk_permutation_rejects_bad_sizes() {
        assert!(matches!(
            halve_qk_rows(&[0.0; 10], 3, 3, 1),
            Err(LayoutError::Size { .. })
        ));
        assert!(matches!(
            halve_qk_rows(&[0.0; 12], 6, 2, 2),
            Err(LayoutError::Heads { rows: 6, n_head: 2 })
        ));
        assert!(halve_qk_rows(&[0.0; 12], 6, 2, 0).is_err());
    }

    fn dims(h: u64, heads: u64, kv: u64, inter: u64) -> ModelDescription {
        let mut d = describe(&[], &[], None, None);
        let f = |v| {
            Some(Field {
                value: v,
                source: FieldSource::Config,
            })
        };
        d.hidden = f(h);
        d.heads = f(heads);
        d.kv_heads = f(kv);
        d.head_dim = f(h / heads);
        d.intermediate = f(inter);
        d
    }

    #[test]
    fn orientation_from_dims() {
        let d = dims(576, 9, 3, 1536);
        assert_eq!(
            orientation(Role::AttnK, &[192, 576], &d, None),
            Orientation::Expected
        );
        assert_eq!(
            orientation(Role::AttnK, &[576, 192], &d, None),
            Orientation::Transposed
        );
        assert_eq!(
            orientation(Role::MlpDown, &[1536, 576], &d, None),
            Orientation::Transposed
        );
        assert_eq!(
            orientation(Role::AttnQ, &[576, 576], &d, None),
            Orientation::Ambiguous
        );
        assert_eq!(
            orientation(Role::AttnQ, &[576, 576], &d, Some(LinearStorage::InOut)),
            Orientation::Transposed
        );
        assert_eq!(
            orientation(Role::AttnQ, &[100, 576], &d, None),
            Orientation::Unknown
        );
        assert_eq!(
            orientation(Role::AttnNorm, &[576], &d, None),
            Orientation::NotMatrix
        );
        assert_eq!(
            orientation(Role::AttnNorm, &[576, 2], &d, None),
            Orientation::Unknown
        );
    }

    #[test]
    fn fused_splits() {
        let d = dims(64, 8, 4, 172);
        let parts = split_fused(Role::AttnQkv, 128, &d, FusedQkvLayout::Contiguous).expect("split");
        assert_eq!(parts[0].rows, vec![0..64]);
        assert_eq!(parts[1].rows, vec![64..96]);
        assert_eq!(parts[2].rows, vec![96..128]);
        let g = split_fused(Role::AttnQkv, 128, &d, FusedQkvLayout::PerGroup).expect("split");
        assert_eq!(g[0].rows[0], 0..16);
        assert_eq!(g[1].rows[0], 16..24);
        assert_eq!(g[2].rows[0], 24..32);
        assert_eq!(g[0].rows.len(), 4);
        assert!(split_fused(Role::AttnQkv, 128, &d, FusedQkvLayout::PerHead).is_none());
        let d = dims(64, 8, 8, 172);
        let p = split_fused(Role::AttnQkv, 192, &d, FusedQkvLayout::PerHead).expect("split");
        assert_eq!(p[1].rows[1], 32..40);
        assert!(split_fused(Role::AttnQkv, 100, &d, FusedQkvLayout::Contiguous).is_none());
        let gu = split_fused(Role::MlpGateUp, 344, &d, FusedQkvLayout::Contiguous).expect("split");
        assert_eq!((gu[0].role, gu[0].rows[0].clone()), (Role::MlpGate, 0..172));
        assert_eq!((gu[1].role, gu[1].rows[0].clone()), (Role::MlpUp, 172..344));
    }

    #[test]
    fn transpose_works() {
        let w = ramp(6);
        assert_eq!(
            transpose(&w, 2, 3).expect("ok"),
            vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
        );
        assert!(transpose(&w, 4, 2).is_err());
    }
}
