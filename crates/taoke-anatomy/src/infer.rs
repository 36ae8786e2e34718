//! Roles when names do not tell: from graph position, from shapes, and from content.
//!
//! - [`assign_from_graph`]: an anonymous ONNX matrix (`onnx::MatMul_470`) takes the role of the
//!   named bias its `MatMul` feeds (the next `Add` in graph order), or, failing that, its place in
//!   the per-block sequence of matrices (Q, K, V, O, up, down for BERT-like blocks; Q, K, V, O,
//!   gate, up, down for gated MLPs).
//! - [`assign_from_shapes`]: the token embedding from its `[vocab, hidden]` shape.
//! - [`match_by_content`]: each target tensor is matched to the reference tensor it correlates
//!   with best (Pearson on values, as stored or transposed, among tensors of equal or transposed
//!   shape), by an optimal one-to-one assignment.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::describe::{Family, ModelDescription};
use crate::layout::expected_dims;
use crate::role::{CanonicalName, Param, Role};
use crate::{AnatomyError, GraphHint, TensorDesc, TensorSource};

/// ONNX operators that consume a weight matrix.
pub const MATMUL_OPS: &[&str] = &[
    "MatMul",
    "Gemm",
    "MatMulInteger",
    "DequantizeLinear",
    "Mul",
    "Cast",
];

/// ONNX initializers with at most this many elements, consumed by an operator other than a
/// matrix product, are graph constants ([`Role::GraphConstant`]), not weights.
pub const MAX_GRAPH_CONSTANT_ELEMS: u64 = 64;

fn numel(shape: &[u64]) -> Option<u64> {
    shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d))
}

/// Assigns roles to anonymous 2-D tensors from their ONNX graph position. `roles[i]` is the role
/// known so far (from names); returns the new assignments `(tensor index, canonical name)` in
/// tensor order. Matrices consumed by `MatMul` are taken as `[in, out]`.
pub fn assign_from_graph(
    tensors: &[TensorDesc],
    roles: &[Option<CanonicalName>],
    hints: &[Option<GraphHint>],
    d: &ModelDescription,
) -> Vec<(usize, CanonicalName)> {
    if hints.len() != tensors.len() || roles.len() != tensors.len() {
        return Vec::new();
    }
    let mut order: Vec<(usize, usize, usize)> = hints
        .iter()
        .enumerate()
        .filter_map(|(i, h)| h.as_ref().map(|h| (h.order, h.input_slot, i)))
        .collect();
    order.sort_unstable();
    let is_candidate = |i: usize| {
        roles.get(i).is_some_and(Option::is_none)
            && tensors[i].shape.len() == 2
            && hints[i]
                .as_ref()
                .is_some_and(|h| MATMUL_OPS.contains(&h.consumer_op.as_str()))
    };
    let mut out: BTreeMap<usize, CanonicalName> = BTreeMap::new();
    pair_with_biases(tensors, roles, &order, &is_candidate, &mut out);
    graph_constants(tensors, roles, hints, &mut out);
    block_sequence(tensors, roles, d, &order, &is_candidate, &mut out);
    out.into_iter().collect()
}

/// Stage 1 of [`assign_from_graph`]: each anonymous matrix takes the role of the named bias
/// consumed right after it.
fn pair_with_biases(
    tensors: &[TensorDesc],
    roles: &[Option<CanonicalName>],
    order: &[(usize, usize, usize)],
    is_candidate: &dyn Fn(usize) -> bool,
    out: &mut BTreeMap<usize, CanonicalName>,
) {
    for (pos, &(ord, _, i)) in order.iter().enumerate() {
        if !is_candidate(i) {
            continue;
        }
        let next = order[pos + 1..].iter().find(|&&(o, _, _)| o > ord);
        let Some(&(_, _, j)) = next else { continue };
        let Some(bias) = roles.get(j).copied().flatten() else {
            continue;
        };
        if bias.param != Param::Bias || !bias.role.is_linear() {
            continue;
        }
        let len = numel(&tensors[j].shape);
        let shape = &tensors[i].shape;
        if len == Some(shape[1]) || len == Some(shape[0]) {
            out.insert(
                i,
                CanonicalName {
                    param: Param::Weight,
                    ..bias
                },
            );
        }
    }
}

/// Stage 2 of [`assign_from_graph`]: small constants feeding plumbing operators.
fn graph_constants(
    tensors: &[TensorDesc],
    roles: &[Option<CanonicalName>],
    hints: &[Option<GraphHint>],
    out: &mut BTreeMap<usize, CanonicalName>,
) {
    for (i, h) in hints.iter().enumerate() {
        let Some(h) = h else { continue };
        if roles.get(i).is_some_and(Option::is_none)
            && !MATMUL_OPS[..3].contains(&h.consumer_op.as_str())
            && numel(&tensors[i].shape).is_some_and(|n| n <= MAX_GRAPH_CONSTANT_ELEMS)
        {
            out.insert(i, CanonicalName::global(Role::GraphConstant, Param::Buffer));
        }
    }
}

/// Stage 3 of [`assign_from_graph`]: the remaining matrices as a per-block sequence in graph
/// order, when their count and shapes fit the block template.
fn block_sequence(
    tensors: &[TensorDesc],
    roles: &[Option<CanonicalName>],
    d: &ModelDescription,
    order: &[(usize, usize, usize)],
    is_candidate: &dyn Fn(usize) -> bool,
    out: &mut BTreeMap<usize, CanonicalName>,
) {
    let rest: Vec<usize> = order
        .iter()
        .map(|&(_, _, i)| i)
        .filter(|&i| {
            is_candidate(i)
                && !out.contains_key(&i)
                && numel(&tensors[i].shape).is_some_and(|n| n > MAX_GRAPH_CONSTANT_ELEMS)
        })
        .fold(Vec::new(), |mut v, i| {
            if !v.contains(&i) {
                v.push(i);
            }
            v
        });
    let gated = roles
        .iter()
        .any(|r| r.is_some_and(|r| r.role == Role::MlpGate))
        || matches!(
            d.family.value,
            Family::Llama | Family::Mistral | Family::Qwen2 | Family::Gemma | Family::Mixtral
        );
    let template: &[Role] = if gated {
        &[
            Role::AttnQ,
            Role::AttnK,
            Role::AttnV,
            Role::AttnO,
            Role::MlpGate,
            Role::MlpUp,
            Role::MlpDown,
        ]
    } else {
        &[
            Role::AttnQ,
            Role::AttnK,
            Role::AttnV,
            Role::AttnO,
            Role::MlpUp,
            Role::MlpDown,
        ]
    };
    let layers = d.layers.as_ref().map(|l| l.value);
    if !rest.is_empty()
        && rest.len().is_multiple_of(template.len())
        && layers.is_none_or(|l| {
            usize::try_from(l)
                .ok()
                .and_then(|l| l.checked_mul(template.len()))
                == Some(rest.len())
        })
    {
        let fits = rest.iter().enumerate().all(|(k, &i)| {
            let role = template[k % template.len()];
            match expected_dims(role, d) {
                Some([o, n]) => {
                    let s = &tensors[i].shape;
                    (s[0] == n && s[1] == o) || (s[0] == o && s[1] == n)
                }
                None => true,
            }
        });
        if fits {
            for (k, &i) in rest.iter().enumerate() {
                let block = u32::try_from(k / template.len()).unwrap_or(u32::MAX);
                out.insert(
                    i,
                    CanonicalName::block(block, template[k % template.len()], Param::Weight),
                );
            }
        }
    }
}

/// Assigns roles from shapes alone where they are unambiguous: the token embedding as the only
/// unknown `[vocab, hidden]` matrix when none is named.
pub fn assign_from_shapes(
    tensors: &[TensorDesc],
    roles: &[Option<CanonicalName>],
    d: &ModelDescription,
) -> Vec<(usize, CanonicalName)> {
    let mut out = Vec::new();
    let has_emb = roles
        .iter()
        .any(|r| r.is_some_and(|r| r.role == Role::TokenEmbedding));
    if let (false, Some(v), Some(h)) = (
        has_emb,
        d.vocab.as_ref().map(|x| x.value),
        d.hidden.as_ref().map(|x| x.value),
    ) {
        let cands: Vec<usize> = (0..tensors.len())
            .filter(|&i| roles[i].is_none() && tensors[i].shape == [v, h])
            .collect();
        if let [i] = cands[..] {
            out.push((
                i,
                CanonicalName::global(Role::TokenEmbedding, Param::Weight),
            ));
        }
    }
    out
}

/// One content match: target tensor `target` is reference tensor `reference`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentMatch {
    /// Index of the target tensor.
    pub target: usize,
    /// Index of the matched reference tensor.
    pub reference: usize,
    /// Pearson correlation of the values in the matched layout.
    pub r: f64,
    /// Whether the target is stored transposed relative to the reference.
    pub transposed: bool,
}

/// Options of [`match_by_content`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ContentOptions {
    /// Smallest correlation accepted as a match.
    pub min_r: f64,
    /// Tensors with fewer elements are not matched (short vectors correlate by chance).
    pub min_elements: u64,
}

impl Default for ContentOptions {
    fn default() -> Self {
        ContentOptions {
            min_r: 0.5,
            min_elements: 256,
        }
    }
}

/// Standardized values: `(x − mean) / sd`, non-finite values as 0; `None` if constant.
fn standardize(v: &[f32]) -> Option<Vec<f32>> {
    let fin = v.iter().filter(|x| x.is_finite());
    let n = fin.clone().count();
    if n < 2 {
        return None;
    }
    let mean = fin.clone().map(|&x| f64::from(x)).sum::<f64>() / n as f64;
    let var = fin.map(|&x| (f64::from(x) - mean).powi(2)).sum::<f64>() / n as f64;
    if var <= 0.0 {
        return None;
    }
    let sd = var.sqrt();
    Some(
        v.iter()
            .map(|&x| {
                if x.is_finite() {
                    ((f64::from(x) - mean) / sd) as f32
                } else {
                    0.0
                }
            })
            .collect(),
    )
}

/// Positions of the correlation screen of [`match_by_content`]: a seeded sample of this many
/// positions gives r within ±0.011 (one standard deviation) of the exact value.
const SCREEN_POSITIONS: usize = 8192;

/// Screened correlations this far below [`ContentOptions::min_r`] are recomputed exactly
/// (13 standard deviations of the screen).
const SCREEN_MARGIN: f64 = 0.15;

/// Seeded sorted positions for the screen (`None` when the tensor is small enough to
/// correlate whole).
fn screen_positions(n: usize) -> Option<Vec<usize>> {
    (n > 4 * SCREEN_POSITIONS)
        .then(|| taoke_stats::rng::SplitMix64::new(0x5c7e_e115).sample_sorted(n, SCREEN_POSITIONS))
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    // Fixed-order chunked reduction: deterministic and f64-accurate enough.
    a.chunks(1024)
        .zip(b.chunks(1024))
        .map(|(x, y)| {
            x.iter()
                .zip(y)
                .map(|(p, q)| f64::from(*p) * f64::from(*q))
                .sum::<f64>()
        })
        .sum()
}

pub(crate) fn read_checked(
    src: &dyn TensorSource,
    t: &TensorDesc,
    index: usize,
) -> Result<Vec<f32>, AnatomyError> {
    let v = src.read_f32(index).map_err(|source| AnatomyError::Read {
        name: t.name.clone(),
        source,
    })?;
    let want = numel(&t.shape);
    if want != Some(v.len() as u64) {
        return Err(AnatomyError::ValueCount {
            name: t.name.clone(),
            got: v.len(),
            shape: t.shape.clone(),
        });
    }
    Ok(v)
}

/// Matches the `targets` (indices into `target`) to tensors of `reference` by content.
///
/// Candidates are reference tensors with the same shape or, for 2-D tensors, the transposed
/// shape (square matrices are tried both ways). Correlations are computed on standardized values,
/// the one-to-one assignment maximizing the total correlation is solved per shape class, and
/// pairs below [`ContentOptions::min_r`] are dropped. Every candidate tensor is read once; the
/// standardized values of a shape class are held in memory together.
pub fn match_by_content(
    reference: &[TensorDesc],
    ref_src: &dyn TensorSource,
    target: &[TensorDesc],
    tgt_src: &dyn TensorSource,
    targets: &[usize],
    opts: &ContentOptions,
) -> Result<Vec<ContentMatch>, AnatomyError> {
    // Shape class: sorted dims.
    let class = |s: &[u64]| {
        let mut c = s.to_vec();
        c.sort_unstable();
        c
    };
    let mut classes: BTreeMap<Vec<u64>, (Vec<usize>, Vec<usize>)> = BTreeMap::new();
    for &t in targets {
        let Some(td) = target.get(t) else { continue };
        if numel(&td.shape).is_none_or(|n| n < opts.min_elements) {
            continue;
        }
        classes.entry(class(&td.shape)).or_default().0.push(t);
    }
    for (i, rd) in reference.iter().enumerate() {
        if let Some(c) = classes.get_mut(&class(&rd.shape)) {
            c.1.push(i);
        }
    }
    let mut out = Vec::new();
    for (_, (ts, rs)) in classes {
        if rs.is_empty() {
            continue;
        }
        let mut zr = Vec::with_capacity(rs.len());
        for &i in &rs {
            zr.push(standardize(&read_checked(ref_src, &reference[i], i)?));
        }
        // Screen on seeded positions (the same count of elements across a shape class), then
        // the exact correlation where the screen comes near `min_r`: every accepted match
        // carries its exact r.
        let idx = ts
            .first()
            .and_then(|&t| numel(&target[t].shape))
            .and_then(|n| screen_positions(n as usize));
        let gather = |z: &[f32]| -> Option<Vec<f32>> {
            idx.as_ref().map(|idx| {
                idx.iter()
                    .map(|&k| z.get(k).copied().unwrap_or(0.0))
                    .collect()
            })
        };
        let zr_s: Vec<Option<Vec<f32>>> =
            zr.iter().map(|z| z.as_deref().and_then(gather)).collect();
        // score[t][r] = (r, transposed); None = not a candidate.
        let mut score = vec![vec![None; rs.len()]; ts.len()];
        for (a, &t) in ts.iter().enumerate() {
            let td = &target[t];
            let v = read_checked(tgt_src, td, t)?;
            let Some(z) = standardize(&v) else { continue };
            let zt = match td.shape[..] {
                [p, q] if p > 1 && q > 1 => {
                    crate::layout::transpose(&z, p as usize, q as usize).ok()
                }
                _ => None,
            };
            let n = z.len() as f64;
            let (z_s, zt_s) = (gather(&z), zt.as_deref().and_then(gather));
            for (b, &ri) in rs.iter().enumerate() {
                let Some(zref) = &zr[b] else { continue };
                let rshape = &reference[ri].shape;
                let screened = |x: &[f32], x_s: Option<&Vec<f32>>| {
                    if let (Some(x_s), Some(r_s)) = (x_s, &zr_s[b]) {
                        let r = dot(x_s, r_s) / x_s.len() as f64;
                        if r < opts.min_r - SCREEN_MARGIN {
                            return r;
                        }
                    }
                    dot(x, zref) / n
                };
                let mut best: Option<(f64, bool)> = None;
                if *rshape == td.shape {
                    best = Some((screened(&z, z_s.as_ref()), false));
                }
                let reversed: Vec<u64> = td.shape.iter().rev().copied().collect();
                if let (Some(zt), true) = (&zt, *rshape == reversed) {
                    let r = screened(zt, zt_s.as_ref());
                    if best.is_none_or(|(b0, _)| r > b0) {
                        best = Some((r, true));
                    }
                }
                score[a][b] = best;
            }
        }
        // Minimum cost = maximum total r; 1e9 marks a pair that is not a candidate (these
        // matrices hold many equal costs: the solver's tie rule depends only on the matrix).
        let cost: Vec<f64> = score
            .iter()
            .flat_map(|row| row.iter().map(|s| s.map_or(1e9, |(r, _)| -r)))
            .collect();
        let Ok(assignment) = taoke_stats::lap::assign_min_hungarian(&cost, ts.len(), rs.len())
        else {
            continue; // a non-finite r: no match in this class rather than a wrong one
        };
        for (a, b) in assignment.pairs() {
            if let Some((r, transposed)) = score[a][b] {
                if r >= opts.min_r {
                    out.push(ContentMatch {
                        target: ts[a],
                        reference: rs[b],
                        r,
                        transposed,
                    });
                }
            }
        }
    }
    out.sort_by_key(|m| m.target);
    Ok(out)
}
