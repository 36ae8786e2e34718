//! Derivation kinds: how B relates to A (storage changes, output-preserving disguises,
//! structural changes, training), read from the measurements once the verdict is known.
//!
//! Kinds are named only for `same-weights` and `related` pairs. Storage kinds compare the two
//! checkpoints' containers, names and element types; disguises come from the residual
//! alignment, the unit tests and element-wise triage of tensors at the same role; structural
//! kinds from the layer map, unit counts, experts and the tokenizer; training kinds from the
//! size and shape of the change between matched blocks.

use std::collections::BTreeSet;

use taoke_anatomy::{Param, Role};

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
        // A rotation of the residual stream fits the shared-token embeddings almost exactly
        // where the identity and signed permutations leave residuals of order 1 (zoo: 0.02 vs
        // 1.2–1.4). A fine-tune that moved the embeddings a lot (tied embeddings, BERT) can make
        // the rotation, with its many more degrees of freedom, fit a little better than the
        // identity (0.06 vs 0.07, 0.17 vs 0.23): that is no rotation.
        let (fit_id, fit_perm, fit_rot) = m.fit;
        let rotated = m.transform.name() == "rotation" && fit_rot < 0.5 * fit_id.min(fit_perm);
        match m.transform.name() {
            "signed-permutation" => {
                kinds.insert(Kind::Permuted);
            }
            "rotation" if rotated => {
                kinds.insert(Kind::Rotated);
            }
            _ => {}
        }
        // Units matched away from their place, in blocks whose two sides hold the same number of
        // units (after width pruning the kept units shift to lower indices).
        let same_width =
            |i: u32| m.hidden_units.0.get(i as usize) == m.hidden_units.1.get(i as usize);
        if la == lb
            && m.block_tests.iter().any(|(i, j, t)| {
                i == j && t.identity_fraction < 0.9 && t.ln_p < -20.0 && same_width(*i)
            })
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
        // Blocks also count as derived through the calibrated CKA (permuted units) or their
        // experts' units (MoE up-cycling, where blocks have no dense MLP to test).
        let blocks_derived = block_related > 0
            || cka_tests.iter().any(|(_, _, t)| t.ln_p < opts.alpha.ln())
            || m.expert_tests
                .iter()
                .any(|(_, _, lnp, _)| *lnp < opts.alpha.ln());
        if emb_related && !blocks_derived && la > 0 {
            kinds.insert(Kind::SharedComponents);
        }
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
        // Gains only: a norm's bias sits near 0, where any training change is a large ratio.
        let gain = |p: &&crate::triage::PairDelta| p.role.is_norm() && p.param == Param::Weight;
        let gains_rescaled = m.pairs.iter().filter(gain).any(|p| {
            ((p.scale_spread > 0.15 && p.row_cos > 0.5) || (p.all_ones.0 != p.all_ones.1))
                && derived(p.block)
        });
        // Row norms of the up-projections survive a rotation or permutation of the residual
        // stream, so the rows only need to correspond: parallel in place, or the units matched
        // in place by the unit test (which runs after the residual alignment).
        let units_matched_in_place = |b: Option<u32>| {
            m.block_tests.iter().any(|(i, j, t)| {
                Some(*i) == b && i == j && t.identity_fraction >= 0.9 && t.mean_cos > 0.9
            })
        };
        let units_rescaled = la == lb
            && m.pairs
                .iter()
                .filter(|p| {
                    matches!(p.role, Role::MlpUp | Role::MlpGate) && p.param == Param::Weight
                })
                .any(|p| {
                    p.scale_spread > 0.25
                        && (p.row_cos > 0.5 && residual_kept || units_matched_in_place(p.block))
                        && derived(p.block)
                });
        // Permuted heads: attention rows of a derived block no longer correspond (fine-tunes
        // keep row cosines near 1; column rescaling keeps them above 0.9).
        let heads_permuted = residual_kept
            && m.pairs
                .iter()
                .filter(|p| matches!(p.role, Role::AttnQ | Role::AttnK | Role::AttnV))
                .filter(|p| p.param == Param::Weight)
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
            matches!((unit, cka), (Some(u), Some(c)) if u > (1e-2f64).ln() && c < opts.alpha.ln())
                && same_width(i)
        });
        // Experts up-cycled from a dense MLP keep its unit order (their rows stay near the
        // dense rows in place, zoo: cosine ≈ 0.9 after training); reordered units do not.
        let experts_permuted = kinds.contains(&Kind::MoeUpcycled)
            && m.transform.name() == "identity"
            && crate::triage::expert_rows_in_place(a, b)
                .or_else(|| crate::triage::expert_rows_in_place(b, a))
                .is_some_and(|c| c < 0.5);
        if experts_permuted {
            kinds.insert(Kind::Permuted);
        }
        // Across a depth change the same element-wise rules run on the mapped block pairs
        // (every link of the layer map is significant), and the unit and CKA tests of those
        // pairs replace the diagonal ones.
        let (mut mapped_permuted, mut mapped_rescaled) = (false, false);
        if la != lb && m.transform.name() == "identity" && layer_map.len() >= 2 {
            let links: Vec<(u32, u32)> = layer_map.iter().map(|l| (l.a, l.b)).collect();
            let mapped = crate::triage::mapped_block_deltas(a, b, &links, 1 << 26);
            let heads = mapped
                .iter()
                .filter(|p| matches!(p.role, Role::AttnQ | Role::AttnK | Role::AttnV))
                .filter(|p| p.param == Param::Weight)
                .any(|p| p.row_cos < 0.75);
            let units = links.iter().any(|&(i, j)| {
                let unit = m
                    .block_tests
                    .iter()
                    .find(|(x, y, _)| (*x, *y) == (i, j))
                    .map(|t| t.2.ln_p);
                let cka = cka_tests
                    .iter()
                    .find(|(x, y, _)| (*x, *y) == (i, j))
                    .map(|t| t.2.ln_p);
                let width = m.hidden_units.0.get(i as usize) == m.hidden_units.1.get(j as usize);
                width
                    && matches!((unit, cka), (Some(u), Some(c)) if u > (1e-2f64).ln() && c < opts.alpha.ln())
            });
            mapped_permuted = heads || units;
            mapped_rescaled = mapped
                .iter()
                .filter(|p| matches!(p.role, Role::MlpUp | Role::MlpGate))
                .filter(|p| p.param == Param::Weight)
                .any(|p| p.scale_spread > 0.25 && p.row_cos > 0.5);
        }
        // MLP units that moved (permuted) can still be rescaled: compare the norms of the
        // matched units instead of the units in place (units matched closely, though not in
        // place, so the test against the identity is not significant).
        let matched_rescaled = m.transform.name() == "identity"
            && la == lb
            && m.block_tests.iter().any(|(i, j, t)| {
                i == j
                    && t.mean_cos > 0.9
                    && t.identity_fraction < 0.9
                    && crate::triage::matched_rows_scale_spread(a, *i, b, *j, &t.pairs)
                        .is_some_and(|s| s > 0.25)
            });
        if gains_rescaled || units_rescaled || mapped_rescaled || matched_rescaled {
            kinds.insert(Kind::Rescaled);
        }
        if !rotated && (heads_permuted || units_permuted || mapped_permuted) {
            kinds.insert(Kind::Permuted);
        }
        if verdict == Verdict::SameWeights {
            let mats = || {
                m.pairs
                    .iter()
                    .filter(|p| !p.role.is_norm() && p.role != Role::Unknown)
                    .filter(|p| p.param == Param::Weight)
            };
            // Norm gains changed, or matrix rows rescaled (parallel rows, different norms),
            // while the products agree. Under a signed permutation of the residual stream the
            // gains are permuted too, so their sorted magnitudes are compared instead.
            let permuted_residual = m.transform.name() == "signed-permutation";
            let gains_differ = m.pairs.iter().any(|p| {
                let rel = match p.sorted_rel {
                    Some(r) if permuted_residual => r,
                    _ => p.delta.rel,
                };
                gain(&p) && !p.equal && rel > 10.0 * tol.max(1e-6)
            });
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
            // MLP units reordered where no unit test runs (experts): in the same residual
            // coordinates, with the products equal, rows at the same place no longer
            // correspond (row cosines near 0) — a rescaling keeps them parallel.
            if m.transform.name() == "identity"
                && mats().any(|p| {
                    matches!(
                        p.role,
                        Role::MlpUp
                            | Role::MlpGate
                            | Role::MlpDown
                            | Role::ExpertUp
                            | Role::ExpertGate
                            | Role::ExpertDown
                    ) && p.row_cos < 0.5
                })
            {
                kinds.insert(Kind::Permuted);
            }
            if noise_like(m, tol) {
                kinds.insert(Kind::NoiseWashed);
            }
        } else if !kinds.contains(&Kind::SharedComponents) {
            // Trained derivative: size of the change between the mapped blocks (their
            // function-invariant products; the tensors at the same role without them). A
            // structural change (blocks removed or duplicated, units removed, experts or tokens
            // added) is trained afterwards in practice (healing), and that training is a
            // fine-tune of the kept weights: it is named when the mapped blocks' products moved
            // by more than half the pair's copy tolerance (a bare cut that kept the weights
            // shows no training; copies of `a1` on the zoo stay at or below 0.36 of it (medians
            // of the `invariant-product` rows of `taoke compare --format json`): Q4_K
            // 0.30, Q8_0 0.23, bf16 0.28, f16 0.08, a noise wash 0.36, while healing alone
            // moves the products by 0.19, 0.93 of a Q4_K copy's tolerance). Next
            // to removed MLP units only the attention products are read (the MLP product
            // changes by the removed units' share).
            let width = kinds.contains(&Kind::PrunedWidth);
            let rels: Vec<f64> = m
                .products
                .iter()
                .flat_map(|(_, _, ps)| ps.iter())
                .filter(|(name, _)| !(width && *name == "mlp-down-up"))
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
            let structural = [
                Kind::MoeUpcycled,
                Kind::VocabExtended,
                Kind::PrunedWidth,
                Kind::PrunedDepth,
                Kind::DepthUpscaled,
            ]
            .iter()
            .any(|k| kinds.contains(k));
            // Across a change of depth or width the products also differ by what the cut
            // removed, so their size does not tell a long training from a short one.
            let cut = [Kind::PrunedWidth, Kind::PrunedDepth, Kind::DepthUpscaled]
                .iter()
                .any(|k| kinds.contains(k));
            if med.is_finite() {
                if med > 0.5 && !cut {
                    kinds.insert(Kind::ContinuedPretraining);
                } else if !structural || med > 0.5 * tol {
                    kinds.insert(Kind::FineTune);
                    // A low-rank change (LoRA merged into the weights): the delta's effective
                    // rank is a small fraction of the possible rank in most matrices.
                    if la == lb && m.delta_rank.len() >= 2 && median(m.delta_rank.clone()) < 0.15 {
                        kinds.insert(Kind::LowRankUpdate);
                    }
                }
            }
            // Across a depth change a low-rank update still shows next to the healing: healing
            // moves every direction, an adapter few. The change between the first
            // and last mapped block pairs is then mostly of low rank.
            if la != lb && m.transform.name() == "identity" && layer_map.len() >= 2 {
                let ends = [&layer_map[0], &layer_map[layer_map.len() - 1]];
                let ranks: Vec<f64> = ends
                    .iter()
                    .flat_map(|l| crate::triage::delta_ranks(a, l.a, b, l.b))
                    .collect();
                if ranks.len() >= 2 && median(ranks) < 0.15 {
                    kinds.insert(Kind::FineTune);
                    kinds.insert(Kind::LowRankUpdate);
                }
            }
            // A sparse update: most changed block matrices keep a large share of their weights
            // bit-identical while the rest moved — the trace of a TIES or DARE merge, which
            // resets most entries of each task vector to the base (or keeps one parent's
            // entries). Training moves every weight.
            // Matrices rescaled or permuted by a disguise on one side are not comparable in
            // place, hence a quarter.
            if sparse_update(a, b, m).is_some_and(|s| s.sparse >= 3 && 4 * s.sparse >= s.moved) {
                kinds.insert(Kind::Merge);
            }
        }
    }
    kinds
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
    let us: Vec<f64> = if m.transform.name() == "signed-permutation" && m.blocks.0 == m.blocks.1 {
        permuted_unchanged(a, b, &m.transform)
    } else {
        m.pairs
            .iter()
            .filter(|p| p.block.is_some() && !p.role.is_norm() && p.role != Role::Unknown)
            .filter(|p| p.param == Param::Weight)
            .filter_map(|p| p.unchanged)
            .collect()
    };
    let us: Vec<f64> = us.into_iter().filter(|&u| u < 0.99).collect();
    (!us.is_empty()).then(|| SparseUpdate {
        moved: us.len(),
        sparse: us.iter().filter(|&&u| u >= SPARSE_UNCHANGED).count(),
        median_unchanged: median(us.clone()),
    })
}

/// [`crate::triage::PairDelta::unchanged`] of the attention and MLP matrices of each block, B
/// mapped to A's residual coordinates by `t` (readers: columns; writers: rows). Models above
/// the large threshold are skipped (whole matrices are read).
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
            || ta.n_elements() > crate::compare::LARGE
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
