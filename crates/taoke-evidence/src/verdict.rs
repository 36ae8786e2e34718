//! From measurements to a verdict: combined p-value, same-weights test, kinds, direction,
//! per-component verdicts, and the decisive evidence in words.
//!
//! # Decision rules
//! - `identical`: every weight file byte-identical (same format).
//! - `same-weights`: the embeddings (after residual alignment) and every block's invariant
//!   products agree within the copy tolerance of the coarser dtype of the pair, the depths
//!   agree, and the exact tests reject independence. Covers format changes, recasts,
//!   quantization, renames, transposition, permutations, rotations, rescaling and small added
//!   noise.
//! - `related`: the combined p-value of independence is below α (default 1e-6).
//! - `independent`: the combined p-value is at least `independent_above` (default 0.01) and at
//!   least one exact test ran on ≥ 32 units.
//! - `inconclusive`: otherwise.
//!
//! The combined p-value: exact unit-matching p-values are independent under the null across
//! the embedding columns and every block's MLP units (each family has its own exchangeable
//! order). With equal depths, Fisher's method combines the embedding test and the diagonal
//! block pairs; in general, Bonferroni over every test run (all block pairs) bounds the
//! minimum. The reported value is `2 · min(Fisher, Bonferroni)` (Bonferroni over the two).

use std::collections::BTreeSet;

use crate::cka::{block_cka_stat, CKA_DERIVED};
use crate::context::SideMerge;
use crate::measure::{BlockTest, Measurements};
use crate::options::Options;
use crate::report::*;
use crate::triage::is_quantized;
use crate::units::UnitTest;
use crate::view::ModelView;
use crate::words::{fmt_p, pct};
use taoke_stats::median;

const LN10: f64 = std::f64::consts::LN_10;

/// An exact test counts as having power with at least this many units (a permutation of 32
/// units can reach p = 1/32! ≈ 4e-36).
const POWER_UNITS: usize = 32;

/// Bonferroni (or the calibrated product test) joins Fisher's combination only this far below
/// α, so independent pairs keep the exact tests' uniform p-values.
const FAR_BELOW_ALPHA: f64 = 1e-3;

/// Relative difference of products allowed to a copy, as a multiple of the pair's storage
/// tolerance.
const PRODUCTS_OVER_TOL: f64 = 2.0;

/// Smallest copy tolerance: added noise at weight std / 700 stays well below 1e-2; light
/// fine-tunes usually do not.
const MIN_TOLERANCE: f64 = 5e-3;

/// A copy keeps its values inside the coarser side's rounding cells (zoo re-quantized copies:
/// at most 1 %, from the f16 block scales' own rounding); a light fine-tune of the original
/// moves several percent of them out.
const GRID_COPY: f64 = 0.02;

/// A change that stays inside the cells is training when most values moved off their centre
/// ([`GRID_IN_CELL`]), stayed in the inner half ([`GRID_INNER`]: re-rounding a finer original
/// spreads them over the cell, ≈ 0.5) and by more than a noise wash ([`GRID_CHANGE`] of the
/// row's standard deviation: noise at std/700 moves values by 0.1 %, a light fine-tune by 2–3 %).
const GRID_IN_CELL: f64 = 0.5;

/// Values crossing cells count as training only when they cross by this much on average
/// (over all values, in row standard deviations): noise at std/700 crosses Q8_0 cells at their
/// edges by ≈ 1e-5; a light fine-tune crosses them by ≈ 1e-3 and more.
const GRID_EXCESS: f64 = 3e-4;
const GRID_INNER: f64 = 0.8;
const GRID_CHANGE: f64 = 5e-3;

/// Whether the rounding-grid test shows a trained change under the rounding.
fn trained_under_rounding(g: crate::measure::GridTest) -> bool {
    (g.outside > GRID_COPY && g.excess >= GRID_EXCESS)
        || (g.in_cell >= GRID_IN_CELL
            && g.inner.is_some_and(|i| i >= GRID_INNER)
            && g.change >= GRID_CHANGE)
}

/// The verdict stage's result before the context is consulted ([`conclude`] finishes it).
pub(crate) struct Judged {
    pub verdict: Verdict,
    pub kinds: BTreeSet<Kind>,
    pub direction: Direction,
    /// Combined natural-log p-value of independence.
    pub combined: Option<f64>,
    pub evidence: Vec<Evidence>,
    pub components: Vec<ComponentVerdict>,
    pub layer_map: Vec<LayerLink>,
    /// Copy tolerance of the pair.
    pub tol: f64,
}

/// Judges the pair from its measurements: p-value combination, block components, layer
/// map, same-weights test, evidence rows, verdict, kinds and direction.
pub(crate) fn judge(
    a: &ModelView<'_>,
    b: &ModelView<'_>,
    m: &Measurements,
    opts: &Options,
) -> Judged {
    let (la, lb) = m.blocks;
    let mut evidence = exact_rows(m);
    let exact = combine_exact(m, opts);
    let (components, block_rows) = components(m, opts);
    evidence.extend(block_rows);
    let cka_tests = cka_tests(m);
    let unit_map = crate::layers::layer_map(&m.block.tests, la, lb);
    // Layer map from the exact unit tests; when units were permuted those see nothing, and the
    // calibrated CKA (permutation-invariant) maps the blocks instead.
    let (layer_map, map_tests) = if unit_map.len() < 2 && la != lb {
        let cka_map = crate::layers::layer_map(&cka_tests, la, lb);
        if cka_map.len() > unit_map.len() {
            (cka_map, &cka_tests[..])
        } else {
            (unit_map, &m.block.tests[..])
        }
    } else {
        (unit_map, &m.block.tests[..])
    };
    let tol = pair_tolerance(a, b);
    let products = product_findings(m, tol);
    evidence.extend(products.rows);
    let combined = with_products(exact, products.ln_p, opts);
    let alignment = alignment_finding(m);
    let alignment_ln_p = alignment.as_ref().map(|(_, p)| *p);
    evidence.extend(alignment.map(|(row, _)| row));
    let combined = with_products(combined, alignment_ln_p, opts);
    let significant = combined.is_some_and(|c| c < opts.ln_alpha());
    let emb_ok = m.anchor.emb_delta.is_some_and(|d| d.rel <= tol);
    let grid_trained = m.grid.is_some_and(trained_under_rounding);
    evidence.extend(m.grid.map(grid_row));
    let same_weights = la == lb
        && !grid_trained
        && products.ok
        && (emb_ok || m.anchor.emb_delta.is_none())
        && (significant || m.identical_files);
    evidence.extend(pair_rows(a, b, m));
    let verdict = verdict_of(m, combined, alignment_ln_p, same_weights, significant, opts);
    let kinds = crate::kinds::kinds(&crate::kinds::KindInputs {
        a,
        b,
        m,
        opts,
        verdict,
        components: &components,
        layer_map: &layer_map,
        map_tests,
        cka_tests: &cka_tests,
        tol,
        trained_under_rounding: grid_trained,
    });
    let direction = direction(a, b, &kinds, la, lb);
    Judged {
        verdict,
        kinds,
        direction,
        combined,
        evidence,
        components,
        layer_map,
        tol,
    }
}

/// Finishes the comparison: merges found from the context (a `merge-fit` row per side, the
/// `merge` kind, the direction towards a parent), then the decisive sentence from the final
/// findings, the caveats and the report.
pub(crate) fn conclude(
    a: &ModelView<'_>,
    b: &ModelView<'_>,
    m: &Measurements,
    opts: &Options,
    mut j: Judged,
    merges: &[SideMerge],
) -> Comparison {
    let mut named = None;
    for sm in merges {
        j.evidence.push(merge_row(sm));
        if j.kinds.insert(Kind::Merge) {
            named = Some(sm);
        }
        if j.direction == Direction::Unknown && sm.other_is_parent {
            j.direction = match sm.side {
                Side::A => Direction::AFromB,
                Side::B => Direction::BFromA,
            };
        }
    }
    let mut decisive = crate::words::decisive(j.verdict, m, j.combined, opts, &j.kinds, j.tol);
    if let Some(sm) = named {
        decisive.push_str(&format!(
            "; {} is {}",
            sm.side.as_str(),
            sm.finding.describe()
        ));
    }
    let (la, lb) = m.blocks;
    let (p_value, log10_p_value) = j.combined.map_or((None, None), p_pair);
    Comparison {
        schema_version: 1,
        a: side(a),
        b: side(b),
        verdict: j.verdict,
        kinds: j.kinds.into_iter().collect(),
        direction: j.direction,
        p_value,
        log10_p_value,
        alpha: opts.alpha,
        decisive,
        evidence: j.evidence,
        components: j.components,
        layer_map: j.layer_map,
        block_matrix: block_matrix(&m.block.tests, la, lb),
        tokenizer: m.tokenizer.as_ref().map(|t| TokenizerEvidence {
            relation: t.relation.name().to_owned(),
            jaccard: t.jaccard,
            equal_id_fraction: t.equal_id_fraction,
            summary: t.summary(),
        }),
        caveats: caveats(m, j.verdict),
    }
}

fn side(v: &ModelView<'_>) -> ModelSide {
    let d = &v.anatomy.description;
    ModelSide {
        path: v.ck.path.display().to_string(),
        format: v.ck.format.name().to_owned(),
        architecture: serde_json::to_value(d.family.value)
            .ok()
            .and_then(|x| x.as_str().map(str::to_owned))
            .unwrap_or_else(|| "unknown".into()),
        parameters: v.ck.parameter_count(),
        blocks: v.n_blocks(),
        hidden: d.hidden.as_ref().map(|h| h.value),
        vocab: v.vocab.as_ref().map(|x| x.tokens.len()),
    }
}

/// The rows of the exact tests that are not per block: the embedding test and the experts.
fn exact_rows(m: &Measurements) -> Vec<Evidence> {
    let mut rows = Vec::new();
    if let Some(t) = &m.anchor.emb_test {
        rows.push(Evidence::new(
            TestId::EmbeddingColumns,
            Scope::Embeddings,
            t.rho,
            Some(t.ln_p),
            format!(
                "matching the {} hidden dimensions of the two token embeddings over {} shared tokens gives Spearman ρ = {:.3} against the identity ({} of units matched in place); p = {}",
                t.n,
                m.anchor.tokens_shared,
                t.rho,
                pct(t.identity_fraction),
                fmt_p(t.ln_p)
            ),
        ));
    }
    for e in &m.block.experts {
        rows.push(Evidence::new(
            TestId::ExpertUnits,
            Scope::Experts { a: e.a, b: e.b },
            e.experts as f64,
            Some(e.ln_p),
            format!(
                "the MLP units of {} experts match the dense MLP's units; combined p = {}",
                e.experts,
                fmt_p(e.ln_p)
            ),
        ));
    }
    rows
}

/// The combined natural-log p-value of the exact tests: Fisher on the embedding test and the
/// diagonal block pairs (equal depths), Bonferroni over every test run; Bonferroni steps in
/// only far below α (then the reported value is 2·min, still valid), so p-values of
/// independent pairs stay uniform.
fn combine_exact(m: &Measurements, opts: &Options) -> Option<f64> {
    let (la, lb) = m.blocks;
    let mut diag: Vec<f64> = Vec::new();
    let mut all: Vec<f64> = Vec::new();
    if let Some(t) = &m.anchor.emb_test {
        diag.push(t.ln_p);
        all.push(t.ln_p);
    }
    for t in &m.block.tests {
        all.push(t.test.ln_p);
        if la == lb && t.a == t.b {
            diag.push(t.test.ln_p);
        }
    }
    all.extend(m.block.experts.iter().map(|e| e.ln_p));
    let fisher = if la == lb && diag.len() >= 2 {
        taoke_stats::combine::fisher(&diag).ok().map(|x| x.1)
    } else if la == lb && diag.len() == 1 {
        Some(diag[0])
    } else {
        None
    };
    let bonf = all
        .iter()
        .copied()
        .reduce(f64::min)
        .map(|x| (x + (all.len() as f64).ln()).min(0.0));
    match (fisher, bonf) {
        (Some(f), Some(b)) if b < far(opts) && b < f => Some((b + std::f64::consts::LN_2).min(0.0)),
        (Some(f), _) => Some(f),
        (None, Some(b)) => Some(b),
        (None, None) => None,
    }
}

/// `ln` of the level far below α at which a second family of tests may join the combination.
fn far(opts: &Options) -> f64 {
    opts.ln_alpha() + FAR_BELOW_ALPHA.ln()
}

/// The calibrated product test joins the exact tests only far below α (Bonferroni over the
/// two then), so independent-pair p-values keep the exact tests' distribution.
fn with_products(exact: Option<f64>, product_ln_p: Option<f64>, opts: &Options) -> Option<f64> {
    let far = far(opts);
    match (exact, product_ln_p) {
        (Some(c), Some(q)) if q < far && q < c => Some((q + std::f64::consts::LN_2).min(0.0)),
        (None, Some(q)) if q < far => Some((q + std::f64::consts::LN_2).min(0.0)),
        (c, _) => c,
    }
}

fn component_verdict(ln_p: f64, opts: &Options) -> Verdict {
    if ln_p < opts.ln_alpha() {
        Verdict::Related
    } else if ln_p >= opts.independent_above.ln() {
        Verdict::Independent
    } else {
        Verdict::Inconclusive
    }
}

fn component(a: String, b: String, ln_p: f64, opts: &Options) -> ComponentVerdict {
    let (p_value, log10_p_value) = p_pair(ln_p);
    ComponentVerdict {
        a,
        b,
        verdict: component_verdict(ln_p, opts),
        p_value,
        log10_p_value,
    }
}

/// Per-component verdicts (the embeddings, each block of A with its best partner) and the
/// per-block evidence rows (`awm-cka`, `mlp-units`), in block order.
fn components(m: &Measurements, opts: &Options) -> (Vec<ComponentVerdict>, Vec<Evidence>) {
    let mut components = Vec::new();
    let mut rows = Vec::new();
    if let Some(t) = &m.anchor.emb_test {
        components.push(component(
            "embeddings".into(),
            "embeddings".into(),
            t.ln_p,
            opts,
        ));
    }
    let cka_null = crate::calibration::cka_null();
    for i in 0..m.blocks.0 {
        let best = m
            .block
            .tests
            .iter()
            .filter(|t| t.a == i)
            .min_by(|x, y| x.test.ln_p.total_cmp(&y.test.ln_p));
        // The block's best CKA partner (calibrated, Bonferroni over the partners tried).
        let cka_best = m
            .block
            .cka
            .iter()
            .filter(|c| c.a == i)
            .filter_map(|c| block_cka_stat(&c.cka).map(|s| (c.b, s, c.cka)))
            .max_by(|x, y| x.1.total_cmp(&y.1));
        let cka_tried = m.block.cka.iter().filter(|c| c.a == i).count() as f64;
        let cka_lnp = cka_best.map(|(_, s, _)| {
            (crate::calibration::ln_normal_sf((s - cka_null.mean) / cka_null.std)
                + cka_tried.max(1.0).ln())
            .min(0.0)
        });
        if let (Some((j, s, c)), Some(lnp)) = (cka_best, cka_lnp) {
            rows.push(Evidence::new(
                TestId::AwmCka,
                Scope::BlockPair { a: i, b: j },
                s,
                Some(lnp),
                format!(
                    "after vocabulary-anchored alignment, unbiased CKA of the MLP units {} and of the attention readers {}; independent pairs on the zoo give {:.3} ± {:.3} (n = {}); calibrated p = {} (normal tail fit)",
                    c.mlp.map_or("n/a".into(), |x| format!("{x:.3}")),
                    c.attn.map_or("n/a".into(), |x| format!("{x:.3}")),
                    cka_null.mean,
                    cka_null.std,
                    cka_null.n,
                    fmt_p(lnp)
                ),
            ));
        }
        let Some(best) = best else { continue };
        // A block's own p: the best partner, Bonferroni over the partners tried; the
        // calibrated CKA (which survives unit permutations) can only strengthen it, and then
        // Bonferroni over the two. Below CKA_DERIVED the CKA is reported but cannot make the
        // block related.
        let t = &best.test;
        let tried = m.block.tests.iter().filter(|x| x.a == i).count() as f64;
        let unit_lnp = (t.ln_p + tried.ln()).min(0.0);
        let cka_decides = cka_best.is_some_and(|(_, s, _)| s >= CKA_DERIVED);
        let (lnp, j) = match (cka_lnp, cka_best) {
            (Some(c), Some((cj, _, _))) if cka_decides && c < unit_lnp && c < opts.ln_alpha() => {
                ((c + std::f64::consts::LN_2).min(0.0), cj)
            }
            _ => (unit_lnp, best.b),
        };
        components.push(component(format!("blk.{i}"), format!("blk.{j}"), lnp, opts));
        rows.push(Evidence::new(
            TestId::MlpUnits,
            Scope::BlockPair { a: i, b: j },
            t.rho,
            Some(t.ln_p),
            format!(
                "{} MLP units matched with Spearman ρ = {:.3} ({} in place, mean cosine {:.3}); p = {}",
                t.n,
                t.rho,
                pct(t.identity_fraction),
                t.mean_cos,
                fmt_p(t.ln_p)
            ),
        ));
    }
    (components, rows)
}

/// The calibrated block CKA as tests, for the layer map and the kinds: `ln p` from the null's
/// normal tail at CKA ≥ [`CKA_DERIVED`], else 0.
fn cka_tests(m: &Measurements) -> Vec<BlockTest> {
    let cka_null = crate::calibration::cka_null();
    m.block
        .cka
        .iter()
        .filter_map(|c| {
            let s = block_cka_stat(&c.cka)?;
            let ln_p = if s >= CKA_DERIVED {
                crate::calibration::ln_normal_sf((s - cka_null.mean) / cka_null.std)
            } else {
                0.0
            };
            Some(BlockTest {
                a: c.a,
                b: c.b,
                test: UnitTest {
                    ln_p,
                    rho: s,
                    n: 0,
                    identity_fraction: 0.0,
                    mean_cos: s,
                    pairs: Vec::new(),
                },
            })
        })
        .collect()
}

/// What the invariant products say: their rows, the calibrated product-match `ln p`, and
/// whether every product agrees within the copy tolerance.
struct ProductFindings {
    rows: Vec<Evidence>,
    ln_p: Option<f64>,
    ok: bool,
}

fn product_findings(m: &Measurements, tol: f64) -> ProductFindings {
    let mut rows = Vec::new();
    let mut prod_rel: Vec<f64> = Vec::new();
    for bp in &m.products {
        for (p, d) in &bp.products {
            prod_rel.push(d.rel);
            rows.push(Evidence::new(
                TestId::InvariantProduct,
                Scope::Product {
                    a: bp.a,
                    b: bp.b,
                    product: *p,
                },
                d.rel,
                None,
                format!(
                    "{} products differ by {:.2e} relative (r = {:.5})",
                    p.as_str(),
                    d.rel,
                    d.r
                ),
            ));
        }
    }
    let max_prod = prod_rel.iter().copied().fold(0f64, f64::max);
    // Calibrated product-match test: mean Fisher-z of the sketch correlations, against the
    // null measured on the zoo's independent pairs (a fitted normal tail, labelled as such).
    let zs: Vec<f64> = m
        .product_deltas()
        .map(|(_, d)| d.r)
        .filter(|r| r.is_finite())
        .map(|r| r.clamp(-0.999_999, 0.999_999).atanh())
        .collect();
    let mut ln_p = None;
    if !zs.is_empty() {
        let zbar = zs.iter().sum::<f64>() / zs.len() as f64;
        let null = crate::calibration::product_null();
        let lnp = crate::calibration::ln_normal_sf((zbar - null.mean) / null.std);
        ln_p = Some(lnp);
        rows.push(Evidence::new(
            TestId::ProductMatch,
            Scope::Blocks,
            zbar,
            Some(lnp),
            format!(
                "attention and MLP products of matched blocks correlate with mean Fisher z = {zbar:.3} (r = {:.3}); independent pairs measured on the zoo give z = {:.3} ± {:.3} (n = {}); calibrated p = {} (normal tail fit)",
                zbar.tanh(),
                null.mean,
                null.std,
                null.n,
                fmt_p(lnp)
            ),
        ));
    }
    if let Some(row) = spectral_row(m) {
        rows.push(row);
    }
    ProductFindings {
        rows,
        ln_p,
        ok: !prod_rel.is_empty() && max_prod <= PRODUCTS_OVER_TOL * tol,
    }
}

/// Spectral signatures (GhostSpec-style): supporting evidence only, never decisive.
fn spectral_row(m: &Measurements) -> Option<Evidence> {
    let mses: Vec<f64> = m
        .product_deltas()
        .filter_map(|(_, d)| d.spectral_mse)
        .filter(|x| x.is_finite())
        .collect();
    if mses.is_empty() {
        return None;
    }
    let mean = mses.iter().sum::<f64>() / mses.len() as f64;
    let null = crate::calibration::spectral_null();
    Some(Evidence::new(
        TestId::Spectral,
        Scope::Blocks,
        mean,
        None,
        format!(
            "the top {} singular values of the attention and MLP products (invariant to rotations and permutations of the residual stream), max-normalised, differ by a mean squared {mean:.2e} over {} products of the mapped blocks; independent pairs on the zoo give {:.2e} ± {:.2e} (n = {}); supporting evidence only (spectra of unrelated models of one shape are alike too)",
            crate::products::SPECTRUM_K,
            mses.len(),
            null.mean,
            null.std,
            null.n
        ),
    ))
}

/// The rounding-grid row.
fn grid_row(g: crate::measure::GridTest) -> Evidence {
    Evidence::new(
        TestId::RoundingGrid,
        Scope::Blocks,
        g.outside,
        None,
        format!(
            "of {} sampled MLP weights, {} lie outside the rounding cell of the coarser storage (a copy: none, up to {}) and {} inside it but off its centre{}; they moved by {} of the row's standard deviation on average; a copy re-rounded from a finer original spreads over the cell, a trained change of the quantized values stays near its centre or crosses cells",
            g.values,
            pct(g.outside),
            pct(GRID_COPY),
            pct(g.in_cell),
            g.inner.map_or(String::new(), |i| format!(" ({} of these in the inner half)", pct(i))),
            pct(g.change)
        ),
    )
}

/// The held-out alignment row and its calibrated `ln p`.
fn alignment_finding(m: &Measurements) -> Option<(Evidence, f64)> {
    let t = m.anchor.alignment?;
    let null = crate::calibration::alignment_null(t.kind);
    let ln_p = crate::calibration::ln_normal_sf((t.median_z - null.mean) / null.std);
    let row = Evidence::new(
        TestId::HeldOutAlignment,
        Scope::Embeddings,
        t.median_z,
        Some(ln_p),
        format!(
            "the {} map of B's hidden coordinates, fitted on half of the shared tokens, predicts the other {} tokens with a median Fisher z of {:.3} over {} hidden dimensions (r = {:.3}); independent pairs give {:.3} ± {:.3} (n = {}); calibrated p = {} (normal tail fit)",
            t.kind.as_str(),
            t.held_out,
            t.median_z,
            t.dims,
            t.median_z.tanh(),
            null.mean,
            null.std,
            null.n,
            fmt_p(ln_p)
        ),
    );
    Some((row, ln_p))
}

/// The rows of the pair as a whole: the embedding alignment, element-wise triage, sparse
/// updates, file identity and the tokenizer relation.
fn pair_rows(a: &ModelView<'_>, b: &ModelView<'_>, m: &Measurements) -> Vec<Evidence> {
    let mut rows = Vec::new();
    if let Some(d) = m.anchor.emb_delta {
        let f = m.anchor.fit;
        rows.push(Evidence::new(
            TestId::EmbeddingAlignment,
            Scope::Embeddings,
            d.rel,
            None,
            format!(
                "after the {} map of B's hidden coordinates, the shared-token embeddings differ by {:.2e} relative (r = {:.5}); residuals of identity / signed permutation / rotation: {:.3} / {:.3} / {:.3}",
                m.anchor.transform.name(),
                d.rel,
                d.r,
                f.identity,
                f.permutation,
                f.rotation
            ),
        ));
    }
    let n_pairs = m.pairs.len();
    let n_equal = m.pairs.iter().filter(|p| p.equal).count();
    if n_pairs > 0 {
        let med = median(m.pairs.iter().map(|p| p.delta.rel).collect());
        rows.push(Evidence::new(
            TestId::TensorEquality,
            Scope::Model,
            n_equal as f64 / n_pairs as f64,
            None,
            format!(
                "{n_equal} of {n_pairs} tensors at the same role and shape are bit-identical; median relative difference {:.2e}",
                med
            ),
        ));
    }
    if let Some(s) = crate::kinds::sparse_update(a, b, m) {
        rows.push(Evidence::new(
            TestId::SparseUpdate,
            Scope::Blocks,
            s.median_unchanged,
            None,
            format!(
                "of {} block matrices that changed, {} keep at least {} of their weights bit-identical (median share unchanged {}); training moves every weight, a TIES or DARE merge leaves most of each task vector at the base",
                s.moved,
                s.sparse,
                pct(crate::kinds::SPARSE_UNCHANGED),
                pct(s.median_unchanged)
            ),
        ));
    }
    if m.identical_files {
        rows.push(Evidence::new(
            TestId::FileIdentity,
            Scope::Model,
            1.0,
            None,
            format!(
                "all {} weight file(s) are byte-for-byte identical",
                a.ck.files.len()
            ),
        ));
    }
    if let Some(tc) = &m.tokenizer {
        rows.push(Evidence::new(
            TestId::Tokenizer,
            Scope::Vocabulary,
            tc.jaccard,
            None,
            tc.summary(),
        ));
    }
    rows
}

/// The verdict: identical, same-weights, related (combined p < α), independent (p at or
/// above `independent_above` with a test that had power after the residual alignment, and the
/// held-out alignment agreeing), else inconclusive.
fn verdict_of(
    m: &Measurements,
    combined: Option<f64>,
    alignment_ln_p: Option<f64>,
    same_weights: bool,
    significant: bool,
    opts: &Options,
) -> Verdict {
    if m.identical_files {
        Verdict::Identical
    } else if same_weights {
        Verdict::SameWeights
    } else if significant {
        Verdict::Related
    } else {
        // The embedding-columns test compares B's coordinates as they are: it has power only
        // when the residual map is the identity. The held-out alignment has power whatever
        // the map; a map that predicts unseen tokens better than chance forbids
        // `independent` even when it is not significant.
        let power = (m.residual_identity()
            && m.anchor
                .emb_test
                .as_ref()
                .is_some_and(|t| t.n >= POWER_UNITS))
            || m.anchor.alignment.is_some_and(|t| t.dims >= POWER_UNITS)
            || m.block.tests.iter().any(|t| t.test.n >= POWER_UNITS);
        let above = opts.independent_above.ln();
        let alignment_agrees = alignment_ln_p.is_none_or(|p| p >= above);
        match combined {
            Some(c) if power && alignment_agrees && c >= above => Verdict::Independent,
            _ => Verdict::Inconclusive,
        }
    }
}

/// What the verdict does not prove, and the assumptions made.
fn caveats(m: &Measurements, verdict: Verdict) -> Vec<String> {
    let mut caveats = Vec::new();
    if m.anchor.tokens_assumed {
        caveats.push("no tokenizer on one side: token ids were assumed to correspond".into());
    }
    caveats.push(
        "weights-only tests cannot see distillation or training on another model's outputs; a distilled model is reported independent".into(),
    );
    if verdict == Verdict::Related {
        caveats.push("related means a shared weight ancestor; it does not say who copied whom or whether reuse was licensed".into());
    }
    caveats
}

fn block_matrix(tests: &[BlockTest], la: u32, lb: u32) -> Vec<Vec<Option<f64>>> {
    let mut mtx = vec![vec![None; lb as usize]; la as usize];
    for t in tests {
        mtx[t.a as usize][t.b as usize] = Some(t.test.ln_p / LN10);
    }
    mtx
}

/// The `merge-fit` row of a merge found from the context.
fn merge_row(sm: &SideMerge) -> Evidence {
    let (side, f) = (sm.side.as_str(), &sm.finding);
    let summary = match f.method {
        crate::context::MergeMethod::Linear => format!(
            "{side} = {:.2}·{} + {:.2}·{} in every block matrix up to a residual of {:.1e} \
             of its distance to the nearer one: a linear or spherical merge of the two",
            f.weights[0], f.parents[0], f.weights[1], f.parents[1], f.residual
        ),
        crate::context::MergeMethod::Sparse => format!(
            "{side} keeps {:.0} % of its changed block weights bit-identical to {} and \
             {:.0} % to {}, which share {:.0} % with each other: a sparse (TIES/DARE) merge \
             of the two",
            100.0 * f.weights[0],
            f.parents[0],
            100.0 * f.weights[1],
            f.parents[1],
            100.0 * f.residual
        ),
    };
    Evidence::new(
        TestId::MergeFit,
        Scope::Side(sm.side),
        f.residual,
        None,
        summary,
    )
}

/// Copy tolerance of the pair: the coarser dtype's expected relative error.
fn pair_tolerance(a: &ModelView<'_>, b: &ModelView<'_>) -> f64 {
    let worst = |v: &ModelView<'_>| {
        v.ck.tensors
            .iter()
            .filter(|t| t.shape.len() == 2)
            .map(|t| crate::triage::precision_tolerance(t.dtype))
            .fold(1e-6, f64::max)
    };
    worst(a).max(worst(b)).max(MIN_TOLERANCE)
}

/// Which way the derivation goes: depth changes to the pruned or up-scaled side, MoE
/// up-cycling to the MoE side, vocabulary extension to the larger vocabulary, and otherwise
/// quantization to the quantized side.
fn direction(
    a: &ModelView<'_>,
    b: &ModelView<'_>,
    kinds: &BTreeSet<Kind>,
    la: u32,
    lb: u32,
) -> Direction {
    let b_derived = |yes: bool| {
        if yes {
            Direction::BFromA
        } else {
            Direction::AFromB
        }
    };
    if kinds.contains(&Kind::PrunedDepth) || kinds.contains(&Kind::DepthUpscaled) {
        // Up-scaled: the deeper one derives; pruned: the shallower one derives.
        let deeper_is_a = la > lb;
        let derived_is_a = kinds.contains(&Kind::DepthUpscaled) == deeper_is_a;
        return b_derived(!derived_is_a);
    }
    if kinds.contains(&Kind::MoeUpcycled) {
        return b_derived(
            b.anatomy
                .tensors
                .iter()
                .any(|t| t.canonical.expert.is_some()),
        );
    }
    if kinds.contains(&Kind::VocabExtended) {
        let n = |v: &ModelView<'_>| v.vocab.as_ref().map_or(0, |v| v.tokens.len());
        return b_derived(n(b) > n(a));
    }
    // Storage last: a structural change says more about who derives than which side was
    // quantized (a model up-scaled from a dequantized GGUF is the derived one).
    if kinds.contains(&Kind::Quantized) {
        return b_derived(b.ck.tensors.iter().any(|t| is_quantized(t.dtype)));
    }
    Direction::Unknown
}
