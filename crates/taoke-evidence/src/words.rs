//! The decisive evidence in words, built from the findings (never edited afterwards).

use std::collections::BTreeSet;

use crate::cka::{block_cka_stat, CKA_DERIVED};
use crate::measure::Measurements;
use crate::options::Options;
use crate::report::{Kind, Verdict};

/// The decisive sentence of a verdict.
pub(crate) fn decisive(
    verdict: Verdict,
    m: &Measurements,
    combined: Option<f64>,
    opts: &Options,
    kinds: &BTreeSet<Kind>,
    tol: f64,
) -> String {
    let p = combined.map(fmt_p).unwrap_or_else(|| "n/a".into());
    match verdict {
        Verdict::Identical => {
            "the same tensors with the same bytes (only the container may differ)".into()
        }
        Verdict::SameWeights => same_weights(m, &p, kinds, tol),
        Verdict::Related => format!(
            "{}; if the two models had been initialised independently, a match this strong would happen with probability p = {p} (threshold {:.0e}){}",
            related_what(m, opts, kinds),
            opts.alpha,
            kind_words(kinds)
        ),
        Verdict::Independent => format!(
            "no shared weights: hidden units of embeddings and blocks match no better than chance (combined p = {p})"
        ),
        Verdict::Inconclusive => format!(
            "the evidence is not strong enough either way (combined p = {p}); taoke abstains"
        ),
    }
}

fn same_weights(m: &Measurements, p: &str, kinds: &BTreeSet<Kind>, tol: f64) -> String {
    format!(
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
    )
}

/// What lines up, for a related pair: shared embeddings only, a block's units, blocks by CKA,
/// or the embeddings.
fn related_what(m: &Measurements, opts: &Options, kinds: &BTreeSet<Kind>) -> String {
    let best_block = m
        .block
        .tests
        .iter()
        .min_by(|x, y| x.test.ln_p.total_cmp(&y.test.ln_p))
        .filter(|b| b.test.ln_p < opts.ln_alpha());
    let cka_blocks = m
        .block
        .cka
        .iter()
        .filter(|c| block_cka_stat(&c.cka).is_some_and(|s| s >= CKA_DERIVED))
        .count();
    if kinds.contains(&Kind::SharedComponents) {
        "the token embeddings are shared (their hidden dimensions line up one-to-one), while no transformer block matches".to_owned()
    } else if let Some(b) = best_block {
        format!(
            "the MLP units of block {} of A line up with those of block {} of B (Spearman ρ = {:.2} over {} units)",
            b.a, b.b, b.test.rho, b.test.n
        )
    } else if cka_blocks > 0 {
        format!(
            "the hidden dimensions of the token embeddings line up one-to-one, and {cka_blocks} of {} blocks read the residual stream like derived blocks (vocabulary-anchored CKA ≥ {CKA_DERIVED}) though their units are not in the same order",
            m.blocks.0
        )
    } else if m
        .anchor
        .emb_test
        .as_ref()
        .is_some_and(|t| t.ln_p < opts.ln_alpha())
    {
        "the hidden dimensions of the token embeddings line up one-to-one".to_owned()
    } else {
        "the hidden units line up".to_owned()
    }
}

/// "; how: k1, k2" (nothing without kinds).
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

/// A p-value for text: three decimals down to 1e-4, then its power of ten.
pub(crate) fn fmt_p(ln_p: f64) -> String {
    let l = ln_p / std::f64::consts::LN_10;
    if l > -4.0 {
        format!("{:.3}", ln_p.exp())
    } else {
        format!("1e{:.0}", l.floor())
    }
}

pub(crate) fn pct(x: f64) -> String {
    format!("{:.0} %", 100.0 * x)
}
