//! Derivation kinds: how B relates to A (storage changes, output-preserving disguises,
//! structural changes, training), read from the measurements once the verdict is known.
//!
//! Kinds are named only for `same-weights` and `related` pairs. Storage kinds compare the two
//! checkpoints' containers, names and element types; disguises come from the residual
//! alignment, the unit tests and element-wise triage of tensors at the same role; structural
//! kinds from the layer map, unit counts, experts and the tokenizer; training kinds from the
//! size and shape of the change between matched blocks.

use std::collections::BTreeSet;

use taoke_anatomy::Role;

use crate::compare::{Measurements, Options};
use crate::report::{ComponentVerdict, Kind, LayerLink, Verdict};
use crate::triage::is_quantized;
use crate::units::UnitTest;
use crate::verdict::median;
use crate::view::ModelView;

/// What the kinds are read from: the two models, the measurements and what [`crate::verdict`]
/// derived from them.
pub(crate) struct KindInputs<'x, 'c> {
    pub a: &'x ModelView<'c>,
    pub b: &'x ModelView<'c>,
    pub m: &'x Measurements,
    pub opts: &'x Options,
    pub verdict: Verdict,
    /// Per-component verdicts (embeddings, blocks).
    pub components: &'x [ComponentVerdict],
    /// The reported layer map.
    pub layer_map: &'x [LayerLink],
    /// The tests the layer map was built from (unit tests, or calibrated CKA).
    pub map_tests: &'x [(u32, u32, UnitTest)],
    /// Calibrated block CKA as tests (ln p below `CKA_DERIVED` is 0).
    pub cka_tests: &'x [(u32, u32, UnitTest)],
    /// Relative differences of the invariant products of the mapped blocks.
    pub prod_rel: &'x [f64],
    /// Copy tolerance of the pair.
    pub tol: f64,
}

/// The derivation kinds of a pair.
pub(crate) fn kinds(x: &KindInputs<'_, '_>) -> BTreeSet<Kind> {
    let KindInputs {
        a,
        b,
        m,
        opts,
        verdict,
        components,
        layer_map,
        map_tests,
        cka_tests,
        prod_rel,
        tol,
    } = *x;
    let (la, lb) = m.blocks;
    let mut kinds = BTreeSet::new();
    if matches!(verdict, Verdict::SameWeights | Verdict::Related) {
        // Sharding is container-only: it changes no verdict, kind or report field.
        if a.ck.format != b.ck.format {
            kinds.insert(Kind::FormatChange);
        }
        // Storage element types of the weight matrices (norm gains and biases are often kept
        // in f32 by converters, which is no recast).
        let mats = |v: &ModelView<'_>, quant: bool| -> BTreeSet<String> {
            v.ck.tensors
                .iter()
                .filter(|t| t.shape.len() == 2 && is_quantized(t.dtype) == quant)
                .filter(|t| quant || t.dtype.is_float())
                .map(|t| t.dtype.name().to_owned())
                .collect()
        };
        let (qa, qb) = (mats(a, true), mats(b, true));
        if qa != qb {
            kinds.insert(Kind::Quantized);
        }
        if qa.is_empty() && qb.is_empty() && mats(a, false) != mats(b, false) {
            kinds.insert(Kind::DtypeRecast);
        }
        let renamed_pairs = m.pairs.iter().filter(|p| p.renamed).count();
        if m.roles_recovered > 0 || renamed_pairs > 0 || a.roles_inferred() + b.roles_inferred() > 0
        {
            kinds.insert(Kind::Renamed);
        }
        if m.pairs.iter().any(|p| p.transposed) || !b.reinterpret.is_empty() {
            kinds.insert(Kind::Transposed);
        }
        match m.transform.name() {
            "signed-permutation" => {
                kinds.insert(Kind::Permuted);
            }
            "rotation" => {
                kinds.insert(Kind::Rotated);
            }
            _ => {}
        }
        if la == lb
            && m.block_tests
                .iter()
                .any(|(i, j, t)| i == j && t.identity_fraction < 0.9 && t.ln_p < -20.0)
        {
            kinds.insert(Kind::Permuted);
        }
        // Depth changes, only when several blocks really map across: duplicated blocks in the
        // deeper model (several of its blocks share a partner) mean up-scaling; otherwise the
        // shallower model lost blocks.
        if la != lb && la > 0 && lb > 0 && layer_map.len() >= 2 {
            if depth_repeats(map_tests, la > lb) {
                kinds.insert(Kind::DepthUpscaled);
            } else {
                kinds.insert(Kind::PrunedDepth);
            }
        }
        let (ha, hb) = (&m.hidden_units.0, &m.hidden_units.1);
        if (m.emb_dims.0 != m.emb_dims.1 && m.emb_dims.0 > 0 && m.emb_dims.1 > 0)
            || (!ha.is_empty()
                && !hb.is_empty()
                && ha.iter().sum::<usize>() * hb.len() != hb.iter().sum::<usize>() * ha.len())
        {
            kinds.insert(Kind::PrunedWidth);
        }
        if !m.expert_tests.is_empty() {
            kinds.insert(Kind::MoeUpcycled);
        }
        if let Some(tc) = &m.tokenizer {
            if tc.relation.name() == "extended" {
                kinds.insert(Kind::VocabExtended);
            }
        }
        let block_related = components
            .iter()
            .filter(|c| c.a.starts_with("blk."))
            .filter(|c| c.verdict == Verdict::Related)
            .count();
        let emb_related = m
            .emb_test
            .as_ref()
            .is_some_and(|t| t.ln_p < opts.alpha.ln());
        if emb_related && block_related == 0 && la > 0 {
            kinds.insert(Kind::SharedComponents);
        }
        let rotated = m.transform.name() == "rotation";
        // Element-wise rules compare tensors at the same role and block index, so they need the
        // same residual coordinates and the same depth.
        let residual_kept = m.transform.name() == "identity" && la == lb;
        // A block is derived when its CKA is that of a derived block, or (for `derived`) its
        // units also match in place (exact test); element-wise kinds are only read on those.
        let block_derived = |i: u32| {
            cka_tests
                .iter()
                .any(|(x, y, t)| *x == i && *y == i && t.ln_p < opts.alpha.ln())
        };
        let units_in_place = |i: u32| {
            m.block_tests
                .iter()
                .any(|(x, y, t)| *x == i && *y == i && t.ln_p < opts.alpha.ln())
        };
        let derived = |b: Option<u32>| match b {
            Some(i) => block_derived(i) || units_in_place(i),
            None => (0..la).any(|i| block_derived(i) || units_in_place(i)),
        };
        // Rescaled: norm gains multiplied by spread-out factors, or folded into the matrices
        // (all exactly 1 on one side only), or MLP unit rows rescaled by spread-out factors
        // (up to 4× in the zoo); fine-tunes move these by ~1 % (spread ≈ 0.01).
        let gains_rescaled = m.pairs.iter().filter(|p| p.role.is_norm()).any(|p| {
            ((p.scale_spread > 0.15 && p.row_cos > 0.5) || (p.all_ones.0 != p.all_ones.1))
                && derived(p.block)
        });
        let units_rescaled = residual_kept
            && m.pairs
                .iter()
                .filter(|p| matches!(p.role, Role::MlpUp | Role::MlpGate))
                .any(|p| p.scale_spread > 0.25 && p.row_cos > 0.5 && derived(p.block));
        // Permuted heads: attention rows of a derived block no longer correspond (fine-tunes
        // keep row cosines near 1; column rescaling keeps them above 0.9).
        let heads_permuted = residual_kept
            && m.pairs
                .iter()
                .filter(|p| matches!(p.role, Role::AttnQ | Role::AttnK | Role::AttnV))
                .any(|p| p.row_cos < 0.75 && p.block.is_some_and(block_derived));
        // Permuted MLP units: a block related by the calibrated CKA whose units do not match
        // in place (the unit test against the identity sees nothing) though both sides have
        // the same number of units.
        let units_permuted = residual_kept && la == lb && (0..la).any(|i| {
            let unit = m
                .block_tests
                .iter()
                .find(|(x, y, _)| *x == i && *y == i)
                .map(|t| t.2.ln_p);
            let cka = cka_tests
                .iter()
                .find(|(x, y, _)| *x == i && *y == i)
                .map(|t| t.2.ln_p);
            let same_width = m.hidden_units.0.get(i as usize) == m.hidden_units.1.get(i as usize);
            matches!((unit, cka), (Some(u), Some(c)) if u > (1e-2f64).ln() && c < opts.alpha.ln())
                && same_width
        });
        if gains_rescaled || units_rescaled {
            kinds.insert(Kind::Rescaled);
        }
        if !rotated && (heads_permuted || units_permuted) {
            kinds.insert(Kind::Permuted);
        }
        if verdict == Verdict::SameWeights {
            let mats = || {
                m.pairs
                    .iter()
                    .filter(|p| !p.role.is_norm() && p.role != Role::Unknown)
            };
            // Norm gains changed, or matrix rows rescaled (parallel rows, different norms),
            // while the products agree.
            let gains_differ = m
                .pairs
                .iter()
                .any(|p| p.role.is_norm() && !p.equal && p.delta.rel > 10.0 * tol.max(1e-6));
            let rows_rescaled = mats().any(|p| p.row_cos > 0.999 && p.delta.rel > 10.0 * tol);
            if gains_differ || rows_rescaled {
                kinds.insert(Kind::Rescaled);
            }
            // Units reordered inside blocks: the units match, but not in place.
            if !rotated
                && la == lb
                && m.block_tests
                    .iter()
                    .any(|(i, j, t)| i == j && t.identity_fraction < 0.5 && t.mean_cos > 0.9)
            {
                kinds.insert(Kind::Permuted);
            }
            if noise_like(m, tol) {
                kinds.insert(Kind::NoiseWashed);
            }
        } else if !kinds.contains(&Kind::SharedComponents) {
            // Trained derivative: size of the change.
            let med = if prod_rel.is_empty() {
                median(m.pairs.iter().map(|p| p.delta.rel).collect())
            } else {
                median(prod_rel.to_vec())
            };
            if med.is_finite() && la == lb {
                if med > 0.5 {
                    kinds.insert(Kind::ContinuedPretraining);
                } else {
                    kinds.insert(Kind::FineTune);
                    // A low-rank change (LoRA merged into the weights): the delta's effective
                    // rank is a small fraction of the possible rank in most matrices.
                    if m.delta_rank.len() >= 2 && median(m.delta_rank.clone()) < 0.15 {
                        kinds.insert(Kind::LowRankUpdate);
                    }
                }
            }
        }
    }
    kinds
}

/// Whether the deeper model (`a_deeper`) has several blocks whose best significant partner is
/// the same block of the other model.
fn depth_repeats(tests: &[(u32, u32, crate::units::UnitTest)], a_deeper: bool) -> bool {
    let thresh = (1e-4f64).ln();
    let mut best: std::collections::BTreeMap<u32, (u32, f64)> = std::collections::BTreeMap::new();
    for (i, j, t) in tests {
        if t.ln_p >= thresh {
            continue;
        }
        let (deep, shallow) = if a_deeper { (*i, *j) } else { (*j, *i) };
        let e = best.entry(deep).or_insert((shallow, t.ln_p));
        if t.ln_p < e.1 {
            *e = (shallow, t.ln_p);
        }
    }
    let mut partners: Vec<u32> = best.values().map(|v| v.0).collect();
    let n = partners.len();
    partners.sort_unstable();
    partners.dedup();
    partners.len() < n
}

fn noise_like(m: &Measurements, tol: f64) -> bool {
    // Same float storage on both sides (so no recast or quantization explains a difference),
    // and every block product differs a little — neither exactly nor by training-sized amounts.
    let same_storage = !m.pairs.is_empty()
        && m.pairs
            .iter()
            .all(|p| p.dtypes.0 == p.dtypes.1 && p.dtypes.0.is_float());
    let rels: Vec<f64> = m
        .products
        .iter()
        .flat_map(|(_, _, ps)| ps.iter().map(|(_, d)| d.rel))
        .collect();
    same_storage && !rels.is_empty() && rels.iter().all(|&r| r > 2e-4 && r <= 2.0 * tol)
}
