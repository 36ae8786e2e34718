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

use crate::compare::{Measurements, Options};
use crate::report::*;
use crate::triage::is_quantized;
use crate::view::ModelView;

const LN10: f64 = std::f64::consts::LN_10;

/// Monotone layer map: each block of the deeper-or-equal side's partner chosen to maximize the
/// total −ln p, with `j` non-decreasing in `i` (repeats and gaps allowed). Only links whose
/// unit test has p < 1e-4 are returned.
pub fn layer_map(tests: &[(u32, u32, crate::units::UnitTest)], la: u32, lb: u32) -> Vec<LayerLink> {
    if la == 0 || lb == 0 || tests.is_empty() {
        return Vec::new();
    }
    let (la, lb) = (la as usize, lb as usize);
    let mut s = vec![0f64; la * lb];
    for (i, j, t) in tests {
        s[*i as usize * lb + *j as usize] = (-t.ln_p).max(0.0);
    }
    // dp[i][j]: best total for blocks 0..=i of A with block i mapped to j.
    let mut dp = vec![f64::NEG_INFINITY; la * lb];
    let mut from = vec![0usize; la * lb];
    dp[..lb].copy_from_slice(&s[..lb]);
    for i in 1..la {
        let mut best = f64::NEG_INFINITY;
        let mut arg = 0;
        for j in 0..lb {
            if dp[(i - 1) * lb + j] > best {
                best = dp[(i - 1) * lb + j];
                arg = j;
            }
            dp[i * lb + j] = best + s[i * lb + j];
            from[i * lb + j] = arg;
        }
    }
    let mut j = (0..lb)
        .max_by(|&x, &y| dp[(la - 1) * lb + x].total_cmp(&dp[(la - 1) * lb + y]))
        .unwrap_or(0);
    let mut path = vec![0usize; la];
    for i in (0..la).rev() {
        path[i] = j;
        if i > 0 {
            j = from[i * lb + j];
        }
    }
    let ln_thresh = (1e-4f64).ln();
    path.iter()
        .enumerate()
        .filter_map(|(i, &j)| {
            let t = tests
                .iter()
                .find(|(a, b, _)| *a as usize == i && *b as usize == j)?;
            (t.2.ln_p < ln_thresh).then(|| LayerLink {
                a: i as u32,
                b: j as u32,
                log10_p_value: t.2.ln_p / LN10,
            })
        })
        .collect()
}

fn ev(test: &str, scope: &str, statistic: f64, ln_p: Option<f64>, summary: String) -> Evidence {
    let (p, l) = ln_p.map_or((None, None), crate::report::p_pair);
    Evidence {
        test: test.to_owned(),
        scope: scope.to_owned(),
        statistic,
        p_value: p,
        log10_p_value: l,
        summary,
    }
}

fn fmt_p(ln_p: f64) -> String {
    let l = ln_p / LN10;
    if l > -4.0 {
        format!("{:.3}", ln_p.exp())
    } else {
        format!("1e{:.0}", l.floor())
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

/// Builds the comparison from the measurements.
pub(crate) fn decide(
    a: &ModelView<'_>,
    b: &ModelView<'_>,
    m: &Measurements,
    opts: &Options,
) -> Comparison {
    let mut evidence = Vec::new();
    let mut caveats = Vec::new();
    let (la, lb) = m.blocks;

    // --- exact tests and their combination
    let mut diag: Vec<f64> = Vec::new();
    let mut all: Vec<f64> = Vec::new();
    if let Some(t) = &m.emb_test {
        diag.push(t.ln_p);
        all.push(t.ln_p);
        evidence.push(ev(
            "embedding-columns",
            "embeddings",
            t.rho,
            Some(t.ln_p),
            format!(
                "matching the {} hidden dimensions of the two token embeddings over {} shared tokens gives Spearman ρ = {:.3} against the identity ({} of units matched in place); p = {}",
                t.n,
                m.tokens_shared,
                t.rho,
                pct(t.identity_fraction),
                fmt_p(t.ln_p)
            ),
        ));
    }
    for (i, j, t) in &m.block_tests {
        all.push(t.ln_p);
        if la == lb && i == j {
            diag.push(t.ln_p);
        }
    }
    for (i, j, lnp, n) in &m.expert_tests {
        all.push(*lnp);
        evidence.push(ev(
            "expert-units",
            &format!("blk.{i} ↔ blk.{j} experts"),
            *n as f64,
            Some(*lnp),
            format!(
                "the MLP units of {n} experts match the dense MLP's units; combined p = {}",
                fmt_p(*lnp)
            ),
        ));
    }
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
    // Fisher on the diagonal is exact under the null; Bonferroni over every pair only steps in
    // far below α (then the reported value is 2·min, still valid), so p-values of independent
    // pairs stay uniform.
    let far = opts.alpha.ln() + 1e-3f64.ln();
    let combined = match (fisher, bonf) {
        (Some(f), Some(b)) if b < far && b < f => Some((b + std::f64::consts::LN_2).min(0.0)),
        (Some(f), _) => Some(f),
        (None, Some(b)) => Some(b),
        (None, None) => None,
    };
    // Per-block summary evidence (diagonal or best partner).
    let mut components = Vec::new();
    if let Some(t) = &m.emb_test {
        let (p, l) = p_pair(t.ln_p);
        components.push(ComponentVerdict {
            a: "embeddings".into(),
            b: "embeddings".into(),
            verdict: component_verdict(t.ln_p, opts),
            p_value: p,
            log10_p_value: l,
        });
    }
    let cka_null = crate::calibration::cka_null();
    for i in 0..la {
        let best = m
            .block_tests
            .iter()
            .filter(|(x, _, _)| *x == i)
            .min_by(|x, y| x.2.ln_p.total_cmp(&y.2.ln_p));
        // The block's best CKA partner (calibrated, Bonferroni over the partners tried).
        let cka_best = m
            .block_cka
            .iter()
            .filter(|(x, _, _)| *x == i)
            .filter_map(|(_, j, c)| block_cka_stat(c).map(|s| (*j, s, *c)))
            .max_by(|x, y| x.1.total_cmp(&y.1));
        let cka_tried = m.block_cka.iter().filter(|(x, _, _)| *x == i).count() as f64;
        let cka_lnp = cka_best.map(|(_, s, _)| {
            (crate::calibration::ln_normal_sf((s - cka_null.mean) / cka_null.std)
                + cka_tried.max(1.0).ln())
            .min(0.0)
        });
        // Below CKA_DERIVED the CKA is reported but cannot make the block related.
        let cka_decides = cka_best.is_some_and(|(_, s, _)| s >= CKA_DERIVED);
        if let (Some((j, s, c)), Some(lnp)) = (cka_best, cka_lnp) {
            evidence.push(ev(
                "awm-cka",
                &format!("blk.{i} ↔ blk.{j}"),
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
        if let Some((_, j, t)) = best {
            // A block's own p: the best partner, Bonferroni over the partners tried; the
            // calibrated CKA (which survives unit permutations) can only strengthen it, and
            // then Bonferroni over the two.
            let tried = m.block_tests.iter().filter(|(x, _, _)| *x == i).count() as f64;
            let unit_lnp = (t.ln_p + tried.ln()).min(0.0);
            let (lnp, j) = match (cka_lnp, cka_best) {
                (Some(c), Some((cj, _, _)))
                    if cka_decides && c < unit_lnp && c < opts.alpha.ln() =>
                {
                    ((c + std::f64::consts::LN_2).min(0.0), cj)
                }
                _ => (unit_lnp, *j),
            };
            let (p, l) = p_pair(lnp);
            components.push(ComponentVerdict {
                a: format!("blk.{i}"),
                b: format!("blk.{j}"),
                verdict: component_verdict(lnp, opts),
                p_value: p,
                log10_p_value: l,
            });
            evidence.push(ev(
                "mlp-units",
                &format!("blk.{i} ↔ blk.{j}"),
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
    }
    // Layer map from the exact unit tests; when units were permuted those see nothing, and the
    // calibrated CKA (permutation-invariant) maps the blocks instead.
    let cka_tests: Vec<(u32, u32, crate::units::UnitTest)> = m
        .block_cka
        .iter()
        .filter_map(|(i, j, c)| {
            let s = block_cka_stat(c)?;
            Some((
                *i,
                *j,
                crate::units::UnitTest {
                    ln_p: if s >= CKA_DERIVED {
                        crate::calibration::ln_normal_sf((s - cka_null.mean) / cka_null.std)
                    } else {
                        0.0
                    },
                    rho: s,
                    n: 0,
                    identity_fraction: 0.0,
                    mean_cos: s,
                    pairs: Vec::new(),
                },
            ))
        })
        .collect();
    let unit_map = layer_map(&m.block_tests, la, lb);
    let (layer_map, map_tests) = if unit_map.len() < 2 && la != lb {
        let cka_map = layer_map(&cka_tests, la, lb);
        if cka_map.len() > unit_map.len() {
            (cka_map, &cka_tests)
        } else {
            (unit_map, &m.block_tests)
        }
    } else {
        (unit_map, &m.block_tests)
    };

    // --- same-weights test
    let tol = pair_tolerance(a, b);
    let emb_ok = m.emb_delta.is_some_and(|d| d.rel <= tol);
    let mut prod_rel: Vec<f64> = Vec::new();
    for (i, j, ps) in &m.products {
        for (name, d) in ps {
            prod_rel.push(d.rel);
            evidence.push(ev(
                "invariant-product",
                &format!("blk.{i} ↔ blk.{j} {name}"),
                d.rel,
                None,
                format!(
                    "{name} products differ by {:.2e} relative (r = {:.5})",
                    d.rel, d.r
                ),
            ));
        }
    }
    let max_prod = prod_rel.iter().copied().fold(0f64, f64::max);
    // Calibrated product-match test: mean Fisher-z of the sketch correlations, against the
    // null measured on the zoo's independent pairs (a fitted normal tail, labelled as such).
    let zs: Vec<f64> = m
        .products
        .iter()
        .flat_map(|(_, _, ps)| ps.iter().map(|(_, d)| d.r))
        .filter(|r| r.is_finite())
        .map(|r| r.clamp(-0.999_999, 0.999_999).atanh())
        .collect();
    let product_test = (!zs.is_empty()).then(|| {
        let zbar = zs.iter().sum::<f64>() / zs.len() as f64;
        let null = crate::calibration::product_null();
        let x = (zbar - null.mean) / null.std;
        (zbar, crate::calibration::ln_normal_sf(x), null)
    });
    if let Some((zbar, lnp, null)) = &product_test {
        evidence.push(ev(
            "product-match",
            "blocks",
            *zbar,
            Some(*lnp),
            format!(
                "attention and MLP products of matched blocks correlate with mean Fisher z = {zbar:.3} (r = {:.3}); independent pairs measured on the zoo give z = {:.3} ± {:.3} (n = {}); calibrated p = {} (normal tail fit)",
                zbar.tanh(),
                null.mean,
                null.std,
                null.n,
                fmt_p(*lnp)
            ),
        ));
    }
    // Spectral signatures (GhostSpec-style): supporting evidence only, never decisive.
    let mses: Vec<f64> = m
        .products
        .iter()
        .flat_map(|(_, _, ps)| ps.iter().filter_map(|(_, d)| d.spectral_mse))
        .filter(|x| x.is_finite())
        .collect();
    if !mses.is_empty() {
        let mean = mses.iter().sum::<f64>() / mses.len() as f64;
        let null = crate::calibration::spectral_null();
        evidence.push(ev(
            "spectral",
            "blocks",
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
        ));
    }
    let product_ln_p = product_test.as_ref().map(|t| t.1);
    let products_ok = !prod_rel.is_empty() && max_prod <= 2.0 * tol;
    // The calibrated product test joins the exact tests only far below α (Bonferroni over the
    // two then), so independent-pair p-values keep the exact tests' distribution.
    let combined = match (combined, product_ln_p) {
        (Some(c), Some(q)) if q < far && q < c => Some((q + std::f64::consts::LN_2).min(0.0)),
        (None, Some(q)) if q < far => Some((q + std::f64::consts::LN_2).min(0.0)),
        (c, _) => c,
    };
    let significant = combined.is_some_and(|c| c < opts.alpha.ln());
    let same_weights = la == lb
        && products_ok
        && (emb_ok || m.emb_delta.is_none())
        && (significant || m.identical_files);
    if let Some(d) = m.emb_delta {
        evidence.push(ev(
            "embedding-alignment",
            "embeddings",
            d.rel,
            None,
            format!(
                "after the {} map of B's hidden coordinates, the shared-token embeddings differ by {:.2e} relative (r = {:.5}); residuals of identity / signed permutation / rotation: {:.3} / {:.3} / {:.3}",
                m.transform.name(),
                d.rel,
                d.r,
                m.fit.0,
                m.fit.1,
                m.fit.2
            ),
        ));
    }

    // --- element-wise triage evidence
    let n_pairs = m.pairs.len();
    let n_equal = m.pairs.iter().filter(|p| p.equal).count();
    if n_pairs > 0 {
        let med = median(m.pairs.iter().map(|p| p.delta.rel).collect());
        evidence.push(ev(
            "tensor-equality",
            "model",
            n_equal as f64 / n_pairs as f64,
            None,
            format!(
                "{n_equal} of {n_pairs} tensors at the same role and shape are bit-identical; median relative difference {:.2e}",
                med
            ),
        ));
    }
    if let Some(s) = crate::kinds::sparse_update(a, b, m) {
        evidence.push(ev(
            "sparse-update",
            "blocks",
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
        evidence.push(ev(
            "file-identity",
            "model",
            1.0,
            None,
            format!(
                "all {} weight file(s) are byte-for-byte identical",
                a.ck.files.len()
            ),
        ));
    }
    if let Some(tc) = &m.tokenizer {
        evidence.push(ev(
            "tokenizer",
            "vocabulary",
            tc.jaccard,
            None,
            tc.summary(),
        ));
    }

    // --- verdict
    let verdict = if m.identical_files {
        Verdict::Identical
    } else if same_weights {
        Verdict::SameWeights
    } else if significant {
        Verdict::Related
    } else {
        let power = m.emb_test.as_ref().is_some_and(|t| t.n >= 32)
            || m.block_tests.iter().any(|(_, _, t)| t.n >= 32);
        match combined {
            Some(c) if power && c >= opts.independent_above.ln() => Verdict::Independent,
            _ => Verdict::Inconclusive,
        }
    };

    // --- kinds
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
    });

    // --- direction
    let direction = direction(a, b, &kinds, la, lb);

    // --- words
    let decisive = decisive_words(verdict, m, combined, opts, &kinds, tol);
    if m.tokens_assumed {
        caveats.push("no tokenizer on one side: token ids were assumed to correspond".into());
    }
    caveats.push(
        "weights-only tests cannot see distillation or training on another model's outputs; a distilled model is reported independent".into(),
    );
    if verdict == Verdict::Related {
        caveats.push("related means a shared weight ancestor; it does not say who copied whom or whether reuse was licensed".into());
    }
    let tokenizer = m.tokenizer.as_ref().map(|t| TokenizerEvidence {
        relation: t.relation.name().to_owned(),
        jaccard: t.jaccard,
        equal_id_fraction: t.equal_id_fraction,
        summary: t.summary(),
    });
    let (p_value, log10_p_value) = combined.map_or((None, None), p_pair);
    Comparison {
        schema_version: 1,
        a: side(a),
        b: side(b),
        verdict,
        kinds: kinds.into_iter().collect(),
        direction,
        p_value,
        log10_p_value,
        alpha: opts.alpha,
        decisive,
        evidence,
        components,
        layer_map,
        block_matrix: {
            let mut mtx = vec![vec![None; lb as usize]; la as usize];
            for (i, j, t) in &m.block_tests {
                mtx[*i as usize][*j as usize] = Some(t.ln_p / LN10);
            }
            mtx
        },
        tokenizer,
        caveats,
    }
}

fn pct(x: f64) -> String {
    format!("{:.0} %", 100.0 * x)
}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Least block CKA that can make a block related. Significance alone is not enough: blocks
/// trained independently on a shared embedding read the same residual basis, and CKA sees
/// that (all-MiniLM-L6-v2 vs paraphrase-MiniLM-L3-v2, whose block weights are element-wise
/// independent, give block CKAs of 0.15–0.58), while copied or fine-tuned blocks give ≥ 0.98
/// on the zoo, permuted or not.
pub(crate) const CKA_DERIVED: f64 = 0.8;

/// The block CKA statistic: the mean of the available MLP and attention CKAs.
fn block_cka_stat(c: &crate::cka::BlockCka) -> Option<f64> {
    let v: Vec<f64> = [c.mlp, c.attn].into_iter().flatten().collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn component_verdict(ln_p: f64, opts: &Options) -> Verdict {
    if ln_p < opts.alpha.ln() {
        Verdict::Related
    } else if ln_p >= opts.independent_above.ln() {
        Verdict::Independent
    } else {
        Verdict::Inconclusive
    }
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
    // Added noise at weight std / 700 stays well below 1e-2; light fine-tunes usually do not.
    worst(a).max(worst(b)).max(5e-3)
}

fn direction(
    a: &ModelView<'_>,
    b: &ModelView<'_>,
    kinds: &BTreeSet<Kind>,
    la: u32,
    lb: u32,
) -> Direction {
    let qb = b.ck.tensors.iter().any(|t| is_quantized(t.dtype));
    if kinds.contains(&Kind::Quantized) {
        return if qb {
            Direction::BFromA
        } else {
            Direction::AFromB
        };
    }
    if kinds.contains(&Kind::PrunedDepth) || kinds.contains(&Kind::DepthUpscaled) {
        // Up-scaled: the deeper one derives; pruned: the shallower one derives.
        let deeper_is_a = la > lb;
        let derived_is_a = kinds.contains(&Kind::DepthUpscaled) == deeper_is_a;
        return if derived_is_a {
            Direction::AFromB
        } else {
            Direction::BFromA
        };
    }
    if kinds.contains(&Kind::MoeUpcycled) {
        let moe_b = b
            .anatomy
            .tensors
            .iter()
            .any(|t| t.canonical.expert.is_some());
        return if moe_b {
            Direction::BFromA
        } else {
            Direction::AFromB
        };
    }
    if kinds.contains(&Kind::VocabExtended) {
        let (na, nb) = (
            a.vocab.as_ref().map_or(0, |v| v.tokens.len()),
            b.vocab.as_ref().map_or(0, |v| v.tokens.len()),
        );
        return if nb > na {
            Direction::BFromA
        } else {
            Direction::AFromB
        };
    }
    Direction::Unknown
}

fn decisive_words(
    verdict: Verdict,
    m: &Measurements,
    combined: Option<f64>,
    opts: &Options,
    kinds: &BTreeSet<Kind>,
    tol: f64,
) -> String {
    let p = combined.map(fmt_p).unwrap_or_else(|| "n/a".into());
    let best_block = m
        .block_tests
        .iter()
        .min_by(|x, y| x.2.ln_p.total_cmp(&y.2.ln_p));
    match verdict {
        Verdict::Identical => "the same tensors with the same bytes (only the container may differ)".into(),
        Verdict::SameWeights => format!(
            "the weights are the same: after mapping hidden coordinates, {} attention and MLP products agree within {:.0e} relative error (what {} storage allows), and the chance that independently trained models would line up like this is p = {p}{}",
            if m.products.len() as u32 >= m.blocks.0 {
                "every block's".to_owned()
            } else {
                format!(
                    "the {} compared blocks' (of {}; large models sample blocks)",
                    m.products.len(),
                    m.blocks.0
                )
            },
            2.0 * tol,
            if tol > 1e-2 { "quantized" } else { "this" },
            kind_words(kinds)
        ),
        Verdict::Related => {
            let what = if kinds.contains(&Kind::SharedComponents) {
                "the token embeddings are shared (their hidden dimensions line up one-to-one), while no transformer block matches".to_owned()
            } else if let Some((i, j, t)) =
                best_block.filter(|b| b.2.ln_p < opts.alpha.ln())
            {
                format!(
                    "the MLP units of block {i} of A line up with those of block {j} of B (Spearman ρ = {:.2} over {} units)",
                    t.rho, t.n
                )
            } else if let Some(n) = Some(
                m.block_cka
                    .iter()
                    .filter(|(_, _, c)| block_cka_stat(c).is_some_and(|s| s >= CKA_DERIVED))
                    .count(),
            )
            .filter(|&n| n > 0)
            {
                let (la, _) = m.blocks;
                format!(
                    "the hidden dimensions of the token embeddings line up one-to-one, and {n} of {la} blocks read the residual stream like derived blocks (vocabulary-anchored CKA ≥ {CKA_DERIVED}) though their units are not in the same order"
                )
            } else if m.emb_test.as_ref().is_some_and(|t| t.ln_p < opts.alpha.ln()) {
                "the hidden dimensions of the token embeddings line up one-to-one".to_owned()
            } else {
                "the hidden units line up".to_owned()
            };
            format!(
                "{what}; if the two models had been initialised independently, a match this strong would happen with probability p = {p} (threshold {:.0e}){}",
                opts.alpha,
                kind_words(kinds)
            )
        }
        Verdict::Independent => format!(
            "no shared weights: hidden units of embeddings and blocks match no better than chance (combined p = {p})"
        ),
        Verdict::Inconclusive => format!(
            "the evidence is not strong enough either way (combined p = {p}); taoke abstains"
        ),
    }
}

fn kind_words(kinds: &BTreeSet<Kind>) -> String {
    if kinds.is_empty() {
        String::new()
    } else {
        format!(
            "; how: {}",
            kinds
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}
