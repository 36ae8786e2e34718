//! Derivation kinds: how B relates to A (storage changes, output-preserving disguises,
//! structural changes, training), read from the measurements once the verdict is known.
//!
//! Kinds are named only for `same-weights` and `related` pairs, in four stages:
//! [`storage_kinds`] compare the two checkpoints' containers, names and element types;
//! [`structure_kinds`] read the layer map, unit counts, experts and the tokenizer;
//! [`disguise_kinds`] come from the residual alignment, the unit tests and element-wise triage
//! of tensors at the same role; [`training_kinds`] from the size and shape of the change
//! between matched blocks (or, for same-weights pairs, [`copy_kinds`]: what a copy changed).

use std::collections::BTreeSet;

use taoke_anatomy::{Param, Role};

use crate::align::TransformKind;
use crate::layers::depth_repeats;
use crate::measure::{BlockTest, Measurements};
use crate::options::Options;
use crate::report::{ComponentVerdict, Kind, LayerLink, Product, Verdict};
use crate::triage::{is_quantized, PairDelta};
use crate::view::ModelView;
use taoke_stats::median;

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
    pub map_tests: &'x [BlockTest],
    /// Calibrated block CKA as tests (ln p below `CKA_DERIVED` is 0).
    pub cka_tests: &'x [BlockTest],
    /// Copy tolerance of the pair.
    pub tol: f64,
    /// The rounding-grid test saw a trained change under the storage rounding.
    pub trained_under_rounding: bool,
}

/// A rotation fits the shared-token embeddings: its residual is below this fraction of the
/// identity's and the permutation's (zoo: rotated copies 0.02 against 1.2–1.4; a fine-tune
/// that moved the embeddings a lot gives 0.06 against 0.07, or 0.17 against 0.23).
const ROTATION_FITS: f64 = 0.5;

/// A diagonal unit test this far below 1 in ln p, matched mostly away from the identity, is a
/// permutation of units (ln p < −20: p < 2e-9).
const PERMUTED_UNITS_LN_P: f64 = -20.0;

/// Units matched in place: the share of (i, i) pairs in the matching (zoo copies and
/// fine-tunes: ≥ 0.98; permuted: ≈ 1/units).
const IN_PLACE: f64 = 0.9;

/// Matched units that correspond closely: mean cosine of the matched pairs (copies and light
/// fine-tunes ≥ 0.95; independent blocks ≈ 0.1).
const UNITS_CLOSE: f64 = 0.9;

/// A unit test no better than this (p ≥ 0.01) sees nothing in place.
const NOT_IN_PLACE_P: f64 = 1e-2;

/// Spread of `ln(‖b_r‖/‖a_r‖)` over norm gains that means a rescaling (fine-tunes move gains
/// by ~1 %: spread ≈ 0.01).
const GAIN_SPREAD: f64 = 0.15;

/// Spread over MLP unit rows that means a rescaling (the zoo scales units by up to 4×).
const UNIT_SPREAD: f64 = 0.25;

/// Mean row cosine above which rows still correspond (fine-tunes keep ≈ 1).
const ROWS_CORRESPOND: f64 = 0.5;

/// Mean attention-row cosine below which heads were permuted (fine-tunes keep near 1, column
/// rescaling above 0.9).
const HEADS_MOVED: f64 = 0.75;

/// Up-cycled experts keep the dense MLP's unit order (row cosine ≈ 0.9 after training);
/// below this they were reordered.
const EXPERTS_IN_PLACE: f64 = 0.5;

/// Rows parallel up to this cosine are the same rows rescaled.
const PARALLEL: f64 = 0.999;

/// Differences of norm gains or rows above this multiple of the copy tolerance are rescaling,
/// not rounding.
const RESCALE_OVER_TOL: f64 = 10.0;

/// Units matched mostly away from their place (same-weights pairs).
const MOSTLY_MOVED: f64 = 0.5;

/// Median relative change of the mapped blocks' products above which training is continued
/// pre-training rather than a fine-tune (zoo: fine-tunes 0.05–0.3, continued pre-training
/// 0.6–1.1).
const CONTINUED: f64 = 0.5;

/// Next to a structural change, training is named when the products moved by more than this
/// share of the copy tolerance: copies of `a1` on the zoo stay at or below 0.36 of it
/// (medians of the `invariant-product` rows of `taoke compare --format json`: Q4_K 0.30, Q8_0
/// 0.23, bf16 0.28, f16 0.08, a noise wash 0.36), while healing alone moves the products by
/// 0.19, 0.93 of a Q4_K copy's tolerance.
const HEALED_OVER_TOL: f64 = 0.5;

/// Median effective rank of the weight change (fraction of the possible rank) below which the
/// update is low-rank: a rank-4 LoRA gives ≈ 0.05 on the zoo, full fine-tunes 0.3–0.7.
const LOW_RANK: f64 = 0.15;

/// Matrices keeping at least this share unchanged are not counted as moved.
const MOVED: f64 = 0.99;

/// A noise wash moves every product by more than this relative amount (float rounding alone
/// stays below 1e-6; noise at std/700 gives ≈ 2e-3).
const NOISE_FLOOR: f64 = 2e-4;

/// Share of f32 values outside the other side's bf16/f16 rounding cells above which values
/// changed after a recast (a plain recast: 0; noise at std/700: about a third).
const RECAST_OUTSIDE: f64 = 0.05;

/// The derivation kinds of a pair.
pub(crate) fn kinds(x: &KindInputs<'_, '_>) -> BTreeSet<Kind> {
    let mut kinds = BTreeSet::new();
    if !matches!(x.verdict, Verdict::SameWeights | Verdict::Related) {
        return kinds;
    }
    storage_kinds(x, &mut kinds);
    structure_kinds(x, &mut kinds);
    let rotated = disguise_kinds(x, &mut kinds);
    if x.verdict == Verdict::SameWeights {
        copy_kinds(x, rotated, &mut kinds);
    } else if !kinds.contains(&Kind::SharedComponents) {
        training_kinds(x, &mut kinds);
    }
    kinds
}

/// Container, element types, names and storage orientation.
fn storage_kinds(x: &KindInputs<'_, '_>, kinds: &mut BTreeSet<Kind>) {
    let (a, b, m) = (x.a, x.b, x.m);
    // Sharding is container-only: it changes no verdict, kind or report field.
    if a.ck.format != b.ck.format {
        kinds.insert(Kind::FormatChange);
    }
    // Storage element types of the weight matrices (norm gains and biases are often kept in
    // f32 by converters, which is no recast).
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
    if m.roles_recovered > 0 || renamed_pairs > 0 || a.roles_inferred() + b.roles_inferred() > 0 {
        kinds.insert(Kind::Renamed);
    }
    if m.pairs.iter().any(|p| p.transposed) || !b.reinterpret.is_empty() {
        kinds.insert(Kind::Transposed);
    }
}

/// Depth, width, experts, vocabulary, and components shared without their blocks.
fn structure_kinds(x: &KindInputs<'_, '_>, kinds: &mut BTreeSet<Kind>) {
    let m = x.m;
    let (la, lb) = m.blocks;
    // Depth changes, only when several blocks really map across: duplicated blocks in the
    // deeper model (several of its blocks share a partner) mean up-scaling; otherwise the
    // shallower model lost blocks.
    if la != lb && la > 0 && lb > 0 && x.layer_map.len() >= 2 {
        if depth_repeats(x.map_tests, la > lb) {
            kinds.insert(Kind::DepthUpscaled);
        } else {
            kinds.insert(Kind::PrunedDepth);
        }
    }
    let (ha, hb) = (&m.block.hidden_units.0, &m.block.hidden_units.1);
    let (ea, eb) = m.anchor.emb_dims;
    if (ea != eb && ea > 0 && eb > 0)
        || (!ha.is_empty()
            && !hb.is_empty()
            && ha.iter().sum::<usize>() * hb.len() != hb.iter().sum::<usize>() * ha.len())
    {
        kinds.insert(Kind::PrunedWidth);
    }
    if !m.block.experts.is_empty() {
        kinds.insert(Kind::MoeUpcycled);
    }
    if let Some(tc) = &m.tokenizer {
        if tc.relation.name() == "extended" {
            kinds.insert(Kind::VocabExtended);
        }
    }
    let ln_alpha = x.opts.ln_alpha();
    let block_related = x
        .components
        .iter()
        .filter(|c| c.a.starts_with("blk."))
        .filter(|c| c.verdict == Verdict::Related)
        .count();
    let emb_related = m
        .anchor
        .emb_test
        .as_ref()
        .is_some_and(|t| t.ln_p < ln_alpha);
    // Blocks also count as derived through the calibrated CKA (permuted units) or their
    // experts' units (MoE up-cycling, where blocks have no dense MLP to test).
    let blocks_derived = block_related > 0
        || x.cka_tests.iter().any(|t| t.test.ln_p < ln_alpha)
        || m.block.experts.iter().any(|e| e.ln_p < ln_alpha);
    if emb_related && !blocks_derived && la > 0 {
        kinds.insert(Kind::SharedComponents);
    }
}

/// The diagonal test of block `i` in `tests`, when it ran.
fn diagonal(tests: &[BlockTest], i: u32) -> Option<&BlockTest> {
    tests.iter().find(|t| t.a == i && t.b == i)
}

/// Helpers over the measurements shared by the disguise rules.
struct Blocks<'x, 'c> {
    x: &'x KindInputs<'x, 'c>,
    ln_alpha: f64,
}

impl Blocks<'_, '_> {
    /// Both sides hold the same number of MLP units in block `i`.
    fn same_width(&self, i: u32) -> bool {
        let h = &self.x.m.block.hidden_units;
        h.0.get(i as usize) == h.1.get(i as usize)
    }

    /// Block `i` is derived by its calibrated CKA.
    fn cka_derived(&self, i: u32) -> bool {
        diagonal(self.x.cka_tests, i).is_some_and(|t| t.test.ln_p < self.ln_alpha)
    }

    /// Block `i`'s units match in place (exact test).
    fn units_in_place(&self, i: u32) -> bool {
        diagonal(&self.x.m.block.tests, i).is_some_and(|t| t.test.ln_p < self.ln_alpha)
    }

    /// The block (or, for a tensor outside blocks, any block) is derived.
    fn derived(&self, b: Option<u32>) -> bool {
        match b {
            Some(i) => self.cka_derived(i) || self.units_in_place(i),
            None => (0..self.x.m.blocks.0).any(|i| self.cka_derived(i) || self.units_in_place(i)),
        }
    }

    /// Block `b`'s units were matched in place and closely by the unit test (which runs
    /// after the residual alignment).
    fn units_matched_in_place(&self, b: Option<u32>) -> bool {
        self.x.m.block.tests.iter().any(|t| {
            Some(t.a) == b
                && t.a == t.b
                && t.test.identity_fraction >= IN_PLACE
                && t.test.mean_cos > UNITS_CLOSE
        })
    }

    /// A block pair related by the calibrated CKA whose units do not match in place, though
    /// both sides have the same number of units.
    fn units_moved(&self, a: u32, b: u32, same_width: bool) -> bool {
        let find = |tests: &[BlockTest]| {
            tests
                .iter()
                .find(|t| (t.a, t.b) == (a, b))
                .map(|t| t.test.ln_p)
        };
        let (unit, cka) = (find(&self.x.m.block.tests), find(self.x.cka_tests));
        same_width
            && matches!((unit, cka), (Some(u), Some(c)) if u > NOT_IN_PLACE_P.ln() && c < self.ln_alpha)
    }
}

fn is_gain(p: &PairDelta) -> bool {
    p.role.is_norm() && p.param == Param::Weight
}

fn is_unit_reader(p: &PairDelta) -> bool {
    matches!(p.role, Role::MlpUp | Role::MlpGate) && p.param == Param::Weight
}

fn is_attn_reader(p: &PairDelta) -> bool {
    matches!(p.role, Role::AttnQ | Role::AttnK | Role::AttnV) && p.param == Param::Weight
}

/// Residual maps, permutations and rescalings (output-preserving disguises). Returns whether
/// the residual stream was rotated.
fn disguise_kinds(x: &KindInputs<'_, '_>, kinds: &mut BTreeSet<Kind>) -> bool {
    let m = x.m;
    let (la, lb) = m.blocks;
    let ctx = Blocks {
        x,
        ln_alpha: x.opts.ln_alpha(),
    };
    let fit = m.anchor.fit;
    let kind = m.anchor.transform.kind();
    let rotated = kind == TransformKind::Rotation
        && fit.rotation < ROTATION_FITS * fit.identity.min(fit.permutation);
    if kind == TransformKind::SignedPermutation {
        kinds.insert(Kind::Permuted);
    } else if rotated {
        kinds.insert(Kind::Rotated);
    }
    // Units matched away from their place, in blocks whose two sides hold the same number of
    // units (after width pruning the kept units shift to lower indices).
    if la == lb
        && m.block.tests.iter().any(|t| {
            t.a == t.b
                && t.test.identity_fraction < IN_PLACE
                && t.test.ln_p < PERMUTED_UNITS_LN_P
                && ctx.same_width(t.a)
        })
    {
        kinds.insert(Kind::Permuted);
    }
    // Experts up-cycled from a dense MLP keep its unit order; reordered units do not.
    let experts_permuted = kinds.contains(&Kind::MoeUpcycled)
        && kind == TransformKind::Identity
        && crate::triage::expert_rows_in_place(x.a, x.b)
            .or_else(|| crate::triage::expert_rows_in_place(x.b, x.a))
            .is_some_and(|c| c < EXPERTS_IN_PLACE);
    if experts_permuted {
        kinds.insert(Kind::Permuted);
    }
    let (mapped_permuted, mapped_rescaled) = mapped_disguises(x, &ctx);
    if rescaled_in_place(x, &ctx) || mapped_rescaled {
        kinds.insert(Kind::Rescaled);
    }
    if !rotated && (permuted_in_place(x, &ctx) || mapped_permuted) {
        kinds.insert(Kind::Permuted);
    }
    rotated
}

/// Rescaled: norm gains multiplied by spread-out factors, or folded into the matrices (all
/// exactly 1 on one side only), or MLP unit rows rescaled by spread-out factors, or matched
/// (moved) units with spread-out norms.
fn rescaled_in_place(x: &KindInputs<'_, '_>, ctx: &Blocks<'_, '_>) -> bool {
    let m = x.m;
    let (la, lb) = m.blocks;
    let residual_kept = m.residual_identity() && la == lb;
    // Gains only: a norm's bias sits near 0, where any training change is a large ratio.
    let gains = m.pairs.iter().filter(|p| is_gain(p)).any(|p| {
        ((p.scale_spread > GAIN_SPREAD && p.row_cos > ROWS_CORRESPOND)
            || (p.all_ones.0 != p.all_ones.1))
            && ctx.derived(p.block)
    });
    // Row norms of the up-projections survive a rotation or permutation of the residual
    // stream, so the rows only need to correspond: parallel in place, or the units matched
    // in place by the unit test.
    let units = la == lb
        && m.pairs.iter().filter(|p| is_unit_reader(p)).any(|p| {
            p.scale_spread > UNIT_SPREAD
                && (p.row_cos > ROWS_CORRESPOND && residual_kept
                    || ctx.units_matched_in_place(p.block))
                && ctx.derived(p.block)
        });
    // MLP units that moved (permuted) can still be rescaled: compare the norms of the matched
    // units instead of the units in place.
    let matched = m.residual_identity()
        && la == lb
        && m.block.tests.iter().any(|t| {
            t.a == t.b
                && t.test.mean_cos > UNITS_CLOSE
                && t.test.identity_fraction < IN_PLACE
                && crate::triage::matched_rows_scale_spread(x.a, t.a, x.b, t.b, &t.test.pairs)
                    .is_some_and(|s| s > UNIT_SPREAD)
        });
    gains || units || matched
}

/// Permuted heads (attention rows of a derived block no longer correspond) or permuted MLP
/// units (a block related by CKA whose units do not match in place).
fn permuted_in_place(x: &KindInputs<'_, '_>, ctx: &Blocks<'_, '_>) -> bool {
    let m = x.m;
    let (la, lb) = m.blocks;
    let residual_kept = m.residual_identity() && la == lb;
    let heads = residual_kept
        && m.pairs
            .iter()
            .filter(|p| is_attn_reader(p))
            .any(|p| p.row_cos < HEADS_MOVED && p.block.is_some_and(|i| ctx.cka_derived(i)));
    let units =
        residual_kept && la == lb && (0..la).any(|i| ctx.units_moved(i, i, ctx.same_width(i)));
    heads || units
}

/// Across a depth change the same element-wise rules run on the mapped block pairs (every
/// link of the layer map is significant), and the unit and CKA tests of those pairs replace
/// the diagonal ones: (permuted, rescaled).
fn mapped_disguises(x: &KindInputs<'_, '_>, ctx: &Blocks<'_, '_>) -> (bool, bool) {
    let m = x.m;
    let (la, lb) = m.blocks;
    if la == lb || !m.residual_identity() || x.layer_map.len() < 2 {
        return (false, false);
    }
    let links: Vec<(u32, u32)> = x.layer_map.iter().map(|l| (l.a, l.b)).collect();
    let mapped = crate::triage::mapped_block_deltas(x.a, x.b, &links, 1 << 26, x.opts.large_above);
    let heads = mapped
        .iter()
        .filter(|p| is_attn_reader(p))
        .any(|p| p.row_cos < HEADS_MOVED);
    let h = &m.block.hidden_units;
    let units = links.iter().any(|&(i, j)| {
        let width = h.0.get(i as usize) == h.1.get(j as usize);
        ctx.units_moved(i, j, width)
    });
    let rescaled = mapped
        .iter()
        .filter(|p| matches!(p.role, Role::MlpUp | Role::MlpGate))
        .filter(|p| p.param == Param::Weight)
        .any(|p| p.scale_spread > UNIT_SPREAD && p.row_cos > ROWS_CORRESPOND);
    (heads || units, rescaled)
}

/// What a copy (same-weights) changed: gains or rows rescaled, units reordered, noise added.
fn copy_kinds(x: &KindInputs<'_, '_>, rotated: bool, kinds: &mut BTreeSet<Kind>) {
    let (m, tol) = (x.m, x.tol);
    let (la, lb) = m.blocks;
    let mats = || {
        m.pairs
            .iter()
            .filter(|p| !p.role.is_norm() && p.role != Role::Unknown)
            .filter(|p| p.param == Param::Weight)
    };
    // Norm gains changed, or matrix rows rescaled (parallel rows, different norms), while the
    // products agree. Under a signed permutation of the residual stream the gains are
    // permuted too, so their sorted magnitudes are compared instead.
    let permuted_residual = m.anchor.transform.kind() == TransformKind::SignedPermutation;
    let gains_differ = m.pairs.iter().any(|p| {
        let rel = match p.sorted_rel {
            Some(r) if permuted_residual => r,
            _ => p.delta.rel,
        };
        is_gain(p) && !p.equal && rel > RESCALE_OVER_TOL * tol.max(1e-6)
    });
    let rows_rescaled =
        mats().any(|p| p.row_cos > PARALLEL && p.delta.rel > RESCALE_OVER_TOL * tol);
    if gains_differ || rows_rescaled {
        kinds.insert(Kind::Rescaled);
    }
    // Units reordered inside blocks: the units match, but not in place.
    if !rotated
        && la == lb
        && m.block.tests.iter().any(|t| {
            t.a == t.b && t.test.identity_fraction < MOSTLY_MOVED && t.test.mean_cos > UNITS_CLOSE
        })
    {
        kinds.insert(Kind::Permuted);
    }
    // MLP units reordered where no unit test runs (experts): in the same residual
    // coordinates, with the products equal, rows at the same place no longer correspond (row
    // cosines near 0) — a rescaling keeps them parallel.
    if m.residual_identity()
        && mats().any(|p| {
            matches!(
                p.role,
                Role::MlpUp
                    | Role::MlpGate
                    | Role::MlpDown
                    | Role::ExpertUp
                    | Role::ExpertGate
                    | Role::ExpertDown
            ) && p.row_cos < ROWS_CORRESPOND
        })
    {
        kinds.insert(Kind::Permuted);
    }
    // Noise added after a recast to f32 fills the mantissa bits the source format lacks.
    // Only where values compare in place: no unit permutation or rescaling on the path.
    let in_place = m.residual_identity()
        && !rotated
        && !kinds.contains(&Kind::Permuted)
        && !kinds.contains(&Kind::Rescaled);
    let washed_recast = in_place
        && crate::rounding::recast_outside_cells(x.a, x.b).is_some_and(|f| f > RECAST_OUTSIDE);
    if noise_like(m, tol) || washed_recast {
        kinds.insert(Kind::NoiseWashed);
    }
}

/// Trained derivative: size of the change between the mapped blocks (their
/// function-invariant products; the tensors at the same role without them). A structural
/// change (blocks removed or duplicated, units removed, experts or tokens added) is trained
/// afterwards in practice (healing), and that training is a fine-tune of the kept weights: it
/// is named when the mapped blocks' products moved by more than [`HEALED_OVER_TOL`] of the
/// pair's copy tolerance. Next to removed MLP units only the attention products are read (the
/// MLP product changes by the removed units' share).
fn training_kinds(x: &KindInputs<'_, '_>, kinds: &mut BTreeSet<Kind>) {
    let (a, b, m, tol) = (x.a, x.b, x.m, x.tol);
    let (la, lb) = m.blocks;
    let width = kinds.contains(&Kind::PrunedWidth);
    let rels: Vec<f64> = m
        .product_deltas()
        .filter(|(p, _)| !(width && *p == Product::MlpDownUp))
        .map(|(_, d)| d.rel)
        .collect();
    let med = if rels.is_empty() {
        median(
            m.pairs
                .iter()
                .filter(|p| !(width && p.block.is_some()))
                .map(|p| p.delta.rel)
                .collect(),
        )
    } else {
        median(rels)
    };
    let has = |ks: &[Kind]| ks.iter().any(|k| kinds.contains(k));
    let structural = has(&[
        Kind::MoeUpcycled,
        Kind::VocabExtended,
        Kind::PrunedWidth,
        Kind::PrunedDepth,
        Kind::DepthUpscaled,
    ]);
    // Across a change of depth or width the products also differ by what the cut removed, so
    // their size does not tell a long training from a short one.
    let cut = has(&[Kind::PrunedWidth, Kind::PrunedDepth, Kind::DepthUpscaled]);
    if med.is_finite() {
        if med > CONTINUED && !cut {
            kinds.insert(Kind::ContinuedPretraining);
        } else if !structural || med > HEALED_OVER_TOL * tol || x.trained_under_rounding {
            kinds.insert(Kind::FineTune);
            // A low-rank change (LoRA merged into the weights): the delta's effective rank is
            // a small fraction of the possible rank in most matrices.
            if la == lb && m.delta_rank.len() >= 2 && median(m.delta_rank.clone()) < LOW_RANK {
                kinds.insert(Kind::LowRankUpdate);
            }
        }
    }
    // Across a depth change a low-rank update still shows next to the healing: healing moves
    // every direction, an adapter few. The change between the first and last mapped block
    // pairs is then mostly of low rank.
    if la != lb && m.residual_identity() && x.layer_map.len() >= 2 {
        let ends = [&x.layer_map[0], &x.layer_map[x.layer_map.len() - 1]];
        let ranks: Vec<f64> = ends
            .iter()
            .flat_map(|l| crate::triage::delta_ranks(a, l.a, b, l.b))
            .collect();
        if ranks.len() >= 2 && median(ranks) < LOW_RANK {
            kinds.insert(Kind::FineTune);
            kinds.insert(Kind::LowRankUpdate);
        }
    }
    // A sparse update: most changed block matrices keep a large share of their weights
    // bit-identical while the rest moved — the trace of a TIES or DARE merge, which resets
    // most entries of each task vector to the base (or keeps one parent's entries). Training
    // moves every weight. Matrices rescaled or permuted by a disguise on one side are not
    // comparable in place, hence a quarter.
    if sparse_update(a, b, m).is_some_and(|s| s.sparse >= 3 && 4 * s.sparse >= s.moved) {
        kinds.insert(Kind::Merge);
    }
}

/// Same float storage on both sides (so no recast or quantization explains a difference), and
/// every block product differs a little — neither exactly nor by training-sized amounts.
fn noise_like(m: &Measurements, tol: f64) -> bool {
    let same_storage = !m.pairs.is_empty()
        && m.pairs
            .iter()
            .all(|p| p.dtypes.0 == p.dtypes.1 && p.dtypes.0.is_float());
    let rels: Vec<f64> = m.product_deltas().map(|(_, d)| d.rel).collect();
    same_storage && !rels.is_empty() && rels.iter().all(|&r| r > NOISE_FLOOR && r <= 2.0 * tol)
}

/// Block matrices (not norm gains) that changed between the two models, compared element-wise
/// at the same role and block: how many, how many of them keep a large share of their weights
/// bit-identical (a sparse update), and the median share kept.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SparseUpdate {
    pub moved: usize,
    pub sparse: usize,
    pub median_unchanged: f64,
}

/// Least share of unchanged weights that makes a moved matrix's update sparse. Training moves
/// every weight (the zoo's fine-tunes leave none unchanged in float storage); a TIES merge at
/// density 0.3 keeps about half of each matrix at the base, DARE at drop rate p about p.
pub(crate) const SPARSE_UNCHANGED: f64 = 0.1;

/// The sparse-update measurement of the pair: element-wise at the same role and block, after
/// mapping B's block matrices to A's residual coordinates when the residual stream was
/// permuted (a signed permutation moves and negates weights exactly, so unchanged weights stay
/// bit-identical).
pub(crate) fn sparse_update(
    a: &ModelView<'_>,
    b: &ModelView<'_>,
    m: &Measurements,
) -> Option<SparseUpdate> {
    let permuted = m.anchor.transform.kind() == TransformKind::SignedPermutation;
    let us: Vec<f64> = if permuted && m.blocks.0 == m.blocks.1 {
        permuted_unchanged(a, b, &m.anchor.transform)
    } else {
        m.pairs
            .iter()
            .filter(|p| p.block.is_some() && !p.role.is_norm() && p.role != Role::Unknown)
            .filter(|p| p.param == Param::Weight)
            .filter_map(|p| p.unchanged)
            .collect()
    };
    let us: Vec<f64> = us.into_iter().filter(|&u| u < MOVED).collect();
    (!us.is_empty()).then(|| SparseUpdate {
        moved: us.len(),
        sparse: us.iter().filter(|&&u| u >= SPARSE_UNCHANGED).count(),
        median_unchanged: median(us.clone()),
    })
}

/// [`crate::triage::PairDelta::unchanged`] of the attention and MLP matrices of each block, B
/// mapped to A's residual coordinates by `t` (readers: columns; writers: rows). Matrices above
/// [`PERMUTED_UNCHANGED_MAX`] values are skipped (whole matrices are read).
/// Largest matrix (values) read whole by [`permuted_unchanged`]: 16 MiB as `f32` per side.
const PERMUTED_UNCHANGED_MAX: u64 = 1 << 22;

fn permuted_unchanged(
    a: &ModelView<'_>,
    b: &ModelView<'_>,
    t: &crate::align::Transform,
) -> Vec<f64> {
    let mut out = Vec::new();
    for (k, &ia) in &a.by_key {
        let (Some(_), None, role, Param::Weight) = *k else {
            continue;
        };
        let reader = matches!(
            role,
            Role::AttnQ | Role::AttnK | Role::AttnV | Role::MlpUp | Role::MlpGate
        );
        let writer = matches!(role, Role::AttnO | Role::MlpDown);
        let Some(&ib) = b.by_key.get(k) else { continue };
        let (ta, tb) = (&a.ck.tensors[ia], &b.ck.tensors[ib]);
        if !(reader || writer)
            || ta.n_elements() != tb.n_elements()
            || ta.n_elements() > PERMUTED_UNCHANGED_MAX
        {
            continue;
        }
        let (Ok(x), Ok(y)) = (a.matrix(ia), b.matrix(ib)) else {
            continue;
        };
        let y = if reader {
            t.apply(&y, x.cols)
        } else {
            t.apply(&y.view().transpose(), x.rows).view().transpose()
        };
        if (x.rows, x.cols) == (y.rows, y.cols) {
            out.extend(crate::triage::unchanged_fraction(
                &x.data,
                &y.data,
                (ta.dtype, tb.dtype),
            ));
        }
    }
    out
}
