//! `identify`: which known model is inside this one?
//!
//! 1. **Prescreen** every entry with the Gram signature ([`Screen::score`]): invariant to
//!    residual permutations and rotations, microseconds per entry.
//! 2. **Exact tests** ([`crate::compare::compare`]) on the top `candidates` by screen score.
//!    Each p-value is Bonferroni-corrected for the number of candidates tested; an entry is
//!    `related` when the corrected p-value is below α (default 1e-6), `same-weights` when, in
//!    addition, every block matches its counterpart at the same depth with closeness ≥ 0.998,
//!    `independent` when it is ≥ 0.01, else `inconclusive`.
//! 3. **Answer**: the related entries ranked by closeness (copies first), or "no known
//!    ancestor" when none passes. A false accusation is worse than a miss.

use serde::Serialize;

use crate::compare::{compare, Screen, Test};
use crate::fingerprint::{Fingerprint, ModelInfo};
use crate::Result;

/// JSON schema version of [`Identification`].
pub const SCHEMA_VERSION: u32 = 1;

/// Options of [`identify`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Significance level for `related` (after correction for the candidates tested).
    pub alpha: f64,
    /// Entries given the exact tests (top by prescreen).
    pub candidates: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            alpha: 1e-6,
            candidates: 32,
        }
    }
}

/// One registry entry as identify sees it.
#[derive(Debug, Clone)]
pub struct EntryRef {
    /// Entry id (registry row id or position).
    pub id: i64,
    /// Name.
    pub name: String,
    /// Publisher, if known.
    pub publisher: Option<String>,
    /// Prescreen signature.
    pub screen: Screen,
    /// Whether the entry holds weights (not only a tokenizer).
    pub has_weights: bool,
    /// Tokenizer set hash, if any.
    pub tokenizer_hash: Option<String>,
}

/// One ranked match.
#[derive(Debug, Clone, Serialize)]
pub struct Match {
    /// Entry name.
    pub name: String,
    /// Publisher.
    pub publisher: Option<String>,
    /// `identical`, `same-weights`, `related`, `independent` or `inconclusive`.
    pub verdict: &'static str,
    /// log10 of the combined p-value of independence (uncorrected).
    pub log10_p: Option<f64>,
    /// log10 of the p-value corrected for the candidates tested.
    pub log10_p_corrected: Option<f64>,
    /// Prescreen score (Gram correlation).
    pub screen: f64,
    /// Closeness (mean cosine of matched units).
    pub closeness: f64,
    /// Anchor tokens shared.
    pub shared_anchors: usize,
    /// Layer map `[query block, entry block]`.
    pub layer_map: Vec<(u32, u32)>,
    /// The entry's container format and dominant dtype.
    pub format: String,
    /// Dominant dtype of the entry.
    pub dtype: Option<String>,
    /// Whether the entry's hidden coordinates and MLP unit order are the query's own (the
    /// matchings are near the identity): among equally close copies, the undisguised one
    /// ranks first.
    pub aligned: bool,
    /// The tests behind the verdict.
    pub evidence: Vec<Test>,
}

/// Precision rank of a dtype name: full precision first.
fn precision_rank(d: Option<&str>) -> u8 {
    match d.unwrap_or("") {
        "F64" | "F32" => 4,
        "BF16" | "F16" => 3,
        "Q8_0" | "Q8_1" | "Q8_K" | "I8" | "int8" => 2,
        "" => 0,
        _ => 1,
    }
}

/// Closeness window within which copies count as equally close: rounding to f16/bf16, 8-bit
/// quantization and Llama3-V-style noise stay inside (measured on the zoo: ≤ 1.6e-5); training
/// does not (≥ 1e-3).
pub const TIE_WINDOW: f64 = 2e-5;

fn aligned(tests: &[Test]) -> bool {
    let emb = tests
        .iter()
        .find(|t| t.test == "embedding-columns")
        .is_some_and(|t| t.rho > 0.9);
    let blocks: Vec<f64> = tests
        .iter()
        .filter(|t| t.test == "block-units")
        .map(|t| t.rho)
        .collect();
    emb && !blocks.is_empty() && blocks.iter().sum::<f64>() / blocks.len() as f64 > 0.9
}

/// A tokenizer signature match (context, never evidence of weight reuse).
#[derive(Debug, Clone, Serialize)]
pub struct TokenizerMatch {
    /// Entry name.
    pub name: String,
    /// Publisher.
    pub publisher: Option<String>,
}

/// The answer of `identify`.
#[derive(Debug, Clone, Serialize)]
pub struct Identification {
    /// Always 1.
    pub schema_version: u32,
    /// The query's signatures.
    pub query: ModelInfo,
    /// `known-ancestor` or `no-known-ancestor`.
    pub verdict: &'static str,
    /// One line in words.
    pub summary: String,
    /// Entries in the registry.
    pub entries: usize,
    /// Entries given the exact tests.
    pub tested: usize,
    /// α used.
    pub alpha: f64,
    /// Matches: related ones first (by closeness), then the rest of the tested (by screen).
    pub matches: Vec<Match>,
    /// Entries whose tokenizer has the same set of token strings.
    pub same_tokenizer: Vec<TokenizerMatch>,
}

/// Ranks entries by prescreen score; returns indices into `entries` of the top `k` with
/// weights.
pub fn prescreen(query: &Screen, entries: &[EntryRef], k: usize) -> Vec<(usize, f64)> {
    let mut s: Vec<(usize, f64)> = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.has_weights)
        .map(|(i, e)| (i, query.score(&e.screen)))
        .collect();
    s.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    s.truncate(k);
    s
}

fn identical(a: &Fingerprint, b: &Fingerprint) -> bool {
    a.emb == b.emb && a.canon == b.canon && a.blocks == b.blocks && a.anchors == b.anchors
}

/// Identifies `query` among `entries`; `load` fetches an entry's fingerprint by index.
pub fn identify(
    query: &Fingerprint,
    entries: &[EntryRef],
    load: &mut dyn FnMut(usize) -> Result<Fingerprint>,
    opts: &Options,
) -> Result<Identification> {
    let qs = Screen::of(query);
    let top = prescreen(&qs, entries, opts.candidates);
    let tested = top.len();
    let ln_alpha = opts.alpha.log10();
    let corr = (tested.max(1) as f64).log10();
    let mut matches = Vec::new();
    let loaded: Vec<(usize, f64, Fingerprint)> = top
        .into_iter()
        .map(|(i, s)| load(i).map(|fp| (i, s, fp)))
        .collect::<Result<_>>()?;
    use rayon::prelude::*;
    let compared: Vec<(
        usize,
        f64,
        bool,
        crate::compare::FpComparison,
        String,
        Option<String>,
    )> = loaded
        .par_iter()
        .map(|(i, s, fp)| {
            compare(fp, query).map(|c| {
                (
                    *i,
                    *s,
                    identical(fp, query),
                    c,
                    fp.info.format.clone(),
                    fp.info.dtype.clone(),
                )
            })
        })
        .collect::<Result<_>>()?;
    for (i, score, same, c, format, dtype) in compared {
        let corrected = c.log10_p.map(|l| (l + corr).min(0.0));
        let verdict = match corrected {
            Some(l) if l < ln_alpha => {
                if same {
                    "identical"
                } else if c.copy_like {
                    "same-weights"
                } else {
                    "related"
                }
            }
            Some(l) if l >= -2.0 => "independent",
            _ => "inconclusive",
        };
        let e = &entries[i];
        matches.push(Match {
            name: e.name.clone(),
            publisher: e.publisher.clone(),
            verdict,
            log10_p: c.log10_p,
            log10_p_corrected: corrected,
            screen: score,
            closeness: c.closeness,
            shared_anchors: c.shared_anchors,
            layer_map: c.layer_map,
            format,
            aligned: aligned(&c.tests),
            dtype,
            evidence: c.tests,
        });
    }
    rank(&mut matches, &query.info);
    let known = matches.first().is_some_and(rel);
    let summary = match matches.first() {
        Some(m) if known => format!(
            "{}: {} (p ≤ 1e{:.0} after testing {} candidates, closeness {:.4})",
            m.name,
            m.verdict,
            m.log10_p_corrected.unwrap_or(0.0).ceil(),
            tested,
            m.closeness
        ),
        _ => format!(
            "no known ancestor among {} entries ({} tested exactly; none below α = {:e})",
            entries.len(),
            tested,
            opts.alpha
        ),
    };
    let same_tokenizer = match query.info.tokenizer.as_ref() {
        Some(t) => entries
            .iter()
            .filter(|e| e.tokenizer_hash.as_deref() == Some(t.set_hash.as_str()))
            .map(|e| TokenizerMatch {
                name: e.name.clone(),
                publisher: e.publisher.clone(),
            })
            .collect(),
        None => Vec::new(),
    };
    Ok(Identification {
        schema_version: SCHEMA_VERSION,
        query: query.info.clone(),
        verdict: if known {
            "known-ancestor"
        } else {
            "no-known-ancestor"
        },
        summary,
        entries: entries.len(),
        tested,
        alpha: opts.alpha,
        matches,
        same_tokenizer,
    })
}

fn rel(m: &Match) -> bool {
    matches!(m.verdict, "identical" | "same-weights" | "related")
}

/// Orders matches: related first, lossy copies of the query last among them; among the rest, equally close copies (within [`TIE_WINDOW`] of
/// the best closeness) by precision (a lossy copy is rarely the original), then undisguised
/// coordinates, then the shorter name (releases derived from a model usually append to its
/// name), then format (a GGUF is
/// usually a conversion), then closeness; the others by screen score.
pub fn rank(matches: &mut [Match], query: &ModelInfo) {
    // A lossy copy of the query (lower precision, or a GGUF conversion of a non-GGUF query,
    // within quantization distance) cannot be its original: such matches rank after the
    // other related ones (they stay in the list, with their verdict).
    let q_prec = precision_rank(query.dtype.as_deref());
    let lossy_copy = |m: &Match| {
        rel(m)
            && m.closeness >= 1.0 - 2e-3
            && (precision_rank(m.dtype.as_deref()) < q_prec
                || (m.format == "gguf" && query.format != "gguf"))
    };
    let best = matches
        .iter()
        .filter(|m| rel(m))
        .map(|m| m.closeness)
        .fold(f64::NEG_INFINITY, f64::max);
    let tie = |m: &Match| rel(m) && m.closeness >= best - TIE_WINDOW;
    let key = |m: &Match| {
        (
            rel(m),
            !lossy_copy(m),
            tie(m),
            if tie(m) {
                precision_rank(m.dtype.as_deref())
            } else {
                0
            },
            tie(m) && m.aligned,
            tie(m) && m.format != "gguf",
            if tie(m) { usize::MAX - m.name.len() } else { 0 },
        )
    };
    matches.sort_by(|a, b| {
        key(b)
            .cmp(&key(a))
            .then(if rel(a) {
                b.closeness.total_cmp(&a.closeness)
            } else {
                b.screen.total_cmp(&a.screen)
            })
            .then(a.name.cmp(&b.name))
    });
}

/// An in-memory entry list from fingerprints (for tests, census and evaluation).
pub fn entries_of(fps: &[(String, Fingerprint)]) -> Vec<EntryRef> {
    fps.iter()
        .enumerate()
        .map(|(i, (name, fp))| EntryRef {
            id: i as i64,
            name: name.clone(),
            publisher: None,
            screen: Screen::of(fp),
            has_weights: fp.has_weights(),
            tokenizer_hash: fp.info.tokenizer.as_ref().map(|t| t.set_hash.clone()),
        })
        .collect()
}
