//! `identify`: which known model is inside this one?
//!
//! 1. **Prescreen** every entry with the Gram signature ([`Screen::score`]): invariant to
//!    residual permutations and rotations, microseconds per entry.
//! 2. **Exact tests** ([`crate::compare::compare`]) on the top `candidates` by screen score.
//!    Each p-value is Bonferroni-corrected for the number of candidates tested; an entry is
//!    `related` when the corrected p-value is below α (default 1e-6), `same-weights` when, in
//!    addition, every block matches its counterpart at the same depth with closeness ≥ 0.998,
//!    `independent` when it is ≥ 0.01, else `inconclusive`.
//! 3. **Direction** ([`direction`]): where the evidence allows, related entries are labelled
//!    probable ancestors or descendants (merges by exact equality of sampled weights or by
//!    distances, disguises, an outgroup test).
//! 4. **Answer**: the related entries ranked by direction, then closeness (copies first), or
//!    "no known ancestor" when none passes. A false accusation is worse than a miss.

use serde::Serialize;

use crate::compare::{compare_at, Screen, Test};
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
            alpha: taoke_evidence::Options::default().alpha,
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
    /// For related entries: `probable-ancestor`, `ancestor-or-relative` or
    /// `probable-descendant` (see [`direction`]); `None` for the others.
    pub direction: Option<&'static str>,
    /// What supports a `probable-*` direction, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction_reason: Option<String>,
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
    /// When the query is a merge of two related entries (found on the weight samples of
    /// `anchored-units/3` fingerprints, as `taoke compare --context` does on weights): which
    /// ones and how (`method` `linear` or `sparse`, `parents`, `weights`, `residual`). Absent
    /// otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merge_of: Option<taoke_evidence::MergeFinding>,
}

/// The sampled weights of a fingerprint as merge context (`None` without samples), for
/// [`taoke_evidence::Context::push_samples`].
pub fn sample_set(fp: &Fingerprint) -> Option<taoke_evidence::context::SampleSet> {
    let samples = fp.samples.as_ref()?;
    let mats = samples
        .matrices
        .iter()
        .filter_map(|m| {
            let role = *crate::samples::ROLES
                .iter()
                .find(|r| r.as_str() == m.role)?;
            Some((m.block, role, m.values.clone(), Some(i32::from(m.bits))))
        })
        .collect();
    taoke_evidence::context::SampleSet::new(fp.info.blocks, mats)
}

/// Whether the query is a merge of two of the related entries, on the weight samples.
fn merge_of(
    query: &Fingerprint,
    matches: &[Match],
    fps: &[Fingerprint],
) -> Option<taoke_evidence::MergeFinding> {
    let q = sample_set(query)?;
    let mut ctx = taoke_evidence::Context::new(Vec::new());
    for (m, fp) in matches.iter().zip(fps) {
        if rel(m) {
            if let Some(set) = sample_set(fp) {
                ctx.push_samples(m.name.clone(), set);
            }
        }
    }
    if ctx.len() < 2 {
        return None;
    }
    taoke_evidence::context::merge_finding_samples(&ctx, &q, "query")
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
    let loaded: Vec<(usize, f64, Fingerprint)> = top
        .into_iter()
        .map(|(i, s)| load(i).map(|fp| (i, s, fp)))
        .collect::<Result<_>>()?;
    let corr = (tested.max(1) as f64).log10();
    let mut matches = Vec::new();
    let mut fps = Vec::new();
    for (candidate, (_, _, fp)) in compare_candidates(query, &loaded, opts.alpha)?
        .into_iter()
        .zip(loaded)
    {
        let entry = &entries[candidate.index];
        matches.push(candidate.into_match(entry, corr, opts.alpha));
        fps.push(fp);
    }
    direction(&mut matches, &fps, query, opts.alpha)?;
    let merge_of = merge_of(query, &matches, &fps);
    rank(&mut matches, &query.info);
    let known = matches.first().is_some_and(rel);
    let summary = summary(
        &matches,
        merge_of.as_ref(),
        known,
        entries.len(),
        tested,
        opts.alpha,
    );
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
        same_tokenizer: same_tokenizer(query, entries),
        merge_of,
    })
}

/// One prescreened entry compared with the query.
struct Candidate {
    /// Index into the entries.
    index: usize,
    /// Prescreen score.
    screen: f64,
    /// The entry's fingerprint is the query's, bit for bit.
    identical: bool,
    comparison: crate::compare::FpComparison,
    format: String,
    dtype: Option<String>,
}

/// Compares the query with each loaded entry (`(index, prescreen score, fingerprint)`), in
/// parallel, in the order given.
fn compare_candidates(
    query: &Fingerprint,
    loaded: &[(usize, f64, Fingerprint)],
    alpha: f64,
) -> Result<Vec<Candidate>> {
    use rayon::prelude::*;
    loaded
        .par_iter()
        .map(|(i, s, fp)| {
            compare_at(fp, query, alpha).map(|c| Candidate {
                index: *i,
                screen: *s,
                identical: identical(fp, query),
                comparison: c,
                format: fp.info.format.clone(),
                dtype: fp.info.dtype.clone(),
            })
        })
        .collect()
}

impl Candidate {
    /// The match of `entry`, its p-value Bonferroni-corrected by `corr` (log10 of the
    /// candidates tested) and judged at `alpha`; its direction is filled later.
    fn into_match(self, entry: &EntryRef, corr: f64, alpha: f64) -> Match {
        let c = self.comparison;
        let corrected = c.log10_p.map(|l| (l + corr).min(0.0));
        let verdict = match corrected {
            Some(l) if l < alpha.log10() => {
                if self.identical {
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
        Match {
            name: entry.name.clone(),
            publisher: entry.publisher.clone(),
            verdict,
            log10_p: c.log10_p,
            log10_p_corrected: corrected,
            screen: self.screen,
            closeness: c.closeness,
            shared_anchors: c.shared_anchors,
            layer_map: c.layer_map,
            format: self.format,
            aligned: aligned(&c.tests),
            dtype: self.dtype,
            direction: None,
            direction_reason: None,
            evidence: c.tests,
        }
    }
}

/// The one-line summary: the best match when it is related (and the merge the query is,
/// if any), else "no known ancestor".
fn summary(
    matches: &[Match],
    merge_of: Option<&taoke_evidence::MergeFinding>,
    known: bool,
    entries: usize,
    tested: usize,
    alpha: f64,
) -> String {
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
            "no known ancestor among {entries} entries ({tested} tested exactly; none below α = {alpha:e})",
        ),
    };
    match merge_of {
        Some(mo) if known => format!("{summary}; the query is {}", mo.describe()),
        _ => summary,
    }
}

/// The entries with the query's tokenizer (same token set).
fn same_tokenizer(query: &Fingerprint, entries: &[EntryRef]) -> Vec<TokenizerMatch> {
    match query.info.tokenizer.as_ref() {
        Some(t) => entries
            .iter()
            .filter(|e| e.tokenizer_hash.as_deref() == Some(t.set_hash.as_str()))
            .map(|e| TokenizerMatch {
                name: e.name.clone(),
                publisher: e.publisher.clone(),
            })
            .collect(),
        None => Vec::new(),
    }
}

fn rel(m: &Match) -> bool {
    matches!(m.verdict, "identical" | "same-weights" | "related")
}

/// Orders matches: related first, by verdict (`identical`, then `same-weights`, then
/// `related`); within a verdict `probable-ancestor`, then `ancestor-or-relative`, then
/// `probable-descendant` (see [`direction`]); within each group,
/// equally close copies (within [`TIE_WINDOW`] of the group's best closeness) by precision (a
/// lossy copy is rarely the original), then undisguised coordinates, then the shorter name
/// (releases derived from a model usually append to its name), then format (a GGUF is usually
/// a conversion), then closeness; the others by screen score.
pub fn rank(matches: &mut [Match], _query: &ModelInfo) {
    let tier = |m: &Match| match m.direction {
        Some(PROBABLE_ANCESTOR) => 2u8,
        Some(PROBABLE_DESCENDANT) => 0,
        _ => 1,
    };
    let mut best = [f64::NEG_INFINITY; 3];
    for m in matches.iter().filter(|m| rel(m)) {
        let t = tier(m) as usize;
        best[t] = best[t].max(m.closeness);
    }
    let tie = |m: &Match| rel(m) && m.closeness >= best[tier(m) as usize] - TIE_WINDOW;
    // The verdict first (identical > same-weights > related), as `compare` would say it.
    let verdict = |m: &Match| match m.verdict {
        "identical" => 3u8,
        "same-weights" => 2,
        "related" => 1,
        _ => 0,
    };
    let key = |m: &Match| {
        (
            rel(m),
            verdict(m),
            if rel(m) { tier(m) } else { 0 },
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

/// Direction label: evidence that the entry came before the query.
pub const PROBABLE_ANCESTOR: &str = "probable-ancestor";
/// Direction label: no evidence either way.
pub const ANCESTOR_OR_RELATIVE: &str = "ancestor-or-relative";
/// Direction label: evidence that the entry derives from the query.
pub const PROBABLE_DESCENDANT: &str = "probable-descendant";

/// Most groups of equally close related entries compared with each other for merges.
pub const MAX_MERGE_GROUPS: usize = 12;
/// Most same-weights copies of the query given the outgroup test, and outgroups per copy.
pub const MAX_OUTGROUP_COPIES: usize = 8;
/// Outgroups per copy.
pub const OUTGROUPS: usize = 3;

/// Least median share of a moved matrix's sampled values left bit-identical that makes the
/// difference between two models a sparse update (as `taoke compare`'s `sparse_update`):
/// training, linear and SLERP merges leave none; a TIES merge at density 0.3 keeps about half
/// of each matrix at its base and a fifth at each parent.
pub const SPARSE_SHARE: f64 = 0.1;
/// At most this median share: the two models share no stored values (one was trained, or
/// averaged, from the other's line).
pub const NO_SHARE: f64 = 0.02;

/// Exact-equality share of two fingerprints' weight samples, when both have them and some
/// matrix moved between them.
fn sample_share(a: &Fingerprint, b: &Fingerprint) -> Option<crate::samples::Share> {
    let s = crate::samples::unchanged_share(a.samples.as_ref()?, b.samples.as_ref()?)?;
    (s.moved > 0).then_some(s)
}

fn sparse(s: Option<crate::samples::Share>) -> bool {
    s.is_some_and(|s| s.unchanged >= SPARSE_SHARE)
}

/// No shared values, and every compared matrix moved (as training moves them): a disguised
/// copy that rescaled or permuted some matrices and kept the others shares none in the moved
/// ones, but is no stranger.
fn disjoint(s: Option<crate::samples::Share>) -> bool {
    s.is_some_and(|s| s.unchanged <= NO_SHARE && s.moved == s.compared)
}

/// Direction from exact equality of sampled weights (`anchored-units/3`): only among related
/// entries of the query's depth that are not copies of it (`cands`), never making a pair
/// related. Returns labels by match index.
///
/// - The query shares a sparse share of values with two entries X and Y that share none with
///   each other: the query is a sparse (TIES/DARE-style) merge of them, both probable
///   ancestors.
/// - An entry C shares a sparse share with the query and with another entry E that shares
///   none with the query: C is a sparse merge of the query's line and E's, a probable
///   descendant.
fn sparse_direction(
    matches: &[Match],
    fps: &[Fingerprint],
    query: &Fingerprint,
    cands: &[usize],
) -> Vec<Option<(&'static str, String)>> {
    use rayon::prelude::*;
    let mut label: Vec<Option<(&'static str, String)>> = vec![None; matches.len()];
    if query.samples.is_none() {
        return label;
    }
    let sq: Vec<Option<crate::samples::Share>> = cands
        .par_iter()
        .map(|&k| sample_share(query, &fps[k]))
        .collect();
    let of = |k: usize| cands.iter().position(|&c| c == k).and_then(|p| sq[p]);
    let sharing: Vec<usize> = cands.iter().copied().filter(|&k| sparse(of(k))).collect();
    if sharing.is_empty() {
        return label;
    }
    let pct = |s: Option<crate::samples::Share>| 100.0 * s.map_or(0.0, |s| s.unchanged);
    let name = |k: usize| matches[k].name.as_str();
    // The query as a sparse merge.
    let pairs: Vec<(usize, usize)> = sharing
        .iter()
        .enumerate()
        .flat_map(|(i, &x)| sharing[i + 1..].iter().map(move |&y| (x, y)))
        .collect();
    let apart: Vec<bool> = pairs
        .par_iter()
        .map(|&(x, y)| disjoint(sample_share(&fps[x], &fps[y])))
        .collect();
    for (&(x, y), _) in pairs.iter().zip(&apart).filter(|(_, &a)| a) {
        for (k, o) in [(x, y), (y, x)] {
            if label[k].is_none() {
                label[k] = Some((
                    PROBABLE_ANCESTOR,
                    format!(
                        "{:.0} % of the sampled weights of the query's changed matrices are bit-identical to this entry's and {:.0} % to {}'s, which share none with each other: the query is a sparse (TIES/DARE-style) merge of them",
                        pct(of(k)),
                        pct(of(o)),
                        name(o)
                    ),
                ));
            }
        }
    }
    // Entries that are sparse merges containing the query.
    let strangers: Vec<usize> = cands.iter().copied().filter(|&k| disjoint(of(k))).collect();
    let jobs: Vec<(usize, usize)> = sharing
        .iter()
        .filter(|&&c| label[c].is_none())
        .flat_map(|&c| strangers.iter().map(move |&e| (c, e)))
        .collect();
    let shares: Vec<Option<crate::samples::Share>> = jobs
        .par_iter()
        .map(|&(c, e)| sample_share(&fps[c], &fps[e]))
        .collect();
    for (&(c, e), s) in jobs.iter().zip(&shares) {
        if label[c].is_none() && sparse(*s) {
            label[c] = Some((
                PROBABLE_DESCENDANT,
                format!(
                    "{:.0} % of its sampled weights in matrices changed from the query are bit-identical to the query's and {:.0} % to {}'s, which shares none with the query: a sparse (TIES/DARE-style) merge containing the query",
                    pct(of(c)),
                    pct(*s),
                    name(e)
                ),
            ));
        }
    }
    label
}

fn dist(closeness: f64) -> f64 {
    (1.0 - closeness).max(0.0).sqrt()
}

/// Labels every related match with a direction (`probable-ancestor`, `ancestor-or-relative`,
/// `probable-descendant`) and the reason. Weights cannot order two relatives in time in
/// general; these are the cases where the evidence can, in order of precedence:
///
/// 0. **Sparse merges, by exact equality** of the fingerprints' raw weight samples
///    ([`crate::samples`]; `anchored-units/3` fingerprints only), among the related entries of
///    the query's depth that are not copies of it. Training moves every weight, a TIES/DARE
///    merge keeps a large share of each changed matrix bit-identical to its base and parents.
///    When the query shares at least [`SPARSE_SHARE`] of its sampled values (median over the
///    matrices that moved) with two entries that share at most [`NO_SHARE`] with each other
///    in every matrix, the query is a sparse merge of them: both are probable ancestors. When
///    an entry C shares that much with the query and with another entry E that shares none
///    with the query, C is a sparse merge containing the query: a probable descendant.
/// 1. **Merges** (distances `d = sqrt(1 − closeness)`, which add along a weighted average as
///    census uses): an entry C lying between the query Q and another related entry E
///    (`d(Q,C) + d(C,E) ≤ 1.15·d(Q,E)`, each part at least a fifth of `d(Q,E)`) is a merge
///    containing the query: a probable descendant. When the query lies between two entries X
///    and Y, it is a merge of them: both are probable ancestors.
/// 2. **Disguises** on a same-weights copy C of the query (people disguise, they do not
///    un-disguise; a lossy conversion cannot be undone):
///    - lower precision than the query, or a GGUF conversion of a non-GGUF query (and the
///      reverse: a higher-precision copy is a probable ancestor);
///    - tensor names renamed to another scheme, when the query's scheme is shared by the
///      query's other relatives and C's by none of them (parsimony: one rename on C's branch);
///    - residual coordinates rotated or permuted relative to the query, when the query shares
///      its coordinates with a related entry that is not a copy (parsimony again).
/// 3. **Outgroup** (independent changes add in quadrature along a lineage, as noise or rounding
///    does): for a copy C at distance δ from Q and a non-copy relative E,
///    `(d(C,E)² − d(Q,E)²) / δ²` is +1 when C = Q + an independent change (C descends from Q),
///    −1 when Q = C + one. The median over up to [`OUTGROUPS`] relatives decides when beyond
///    ±0.5 and δ² ≥ 1e-7 (above float rounding of the stored values).
///
/// Every match stays listed; only the order and the labels change.
pub fn direction(
    matches: &mut [Match],
    fps: &[Fingerprint],
    query: &Fingerprint,
    alpha: f64,
) -> Result<()> {
    let related: Vec<usize> = (0..matches.len()).filter(|&k| rel(&matches[k])).collect();
    for &k in &related {
        matches[k].direction = Some(ANCESTOR_OR_RELATIVE);
    }
    if related.is_empty() {
        return Ok(());
    }
    let d = Directions {
        matches,
        fps,
        query,
        related,
        alpha,
    };
    // 0. Exact equality of sampled weights (sparse merges), among the related entries of the
    //    query's depth that are not copies of it; it takes precedence over distances.
    let cands: Vec<usize> = d
        .related
        .iter()
        .copied()
        .filter(|&k| !is_copy(&d.matches[k]) && d.fps[k].info.blocks == d.query.info.blocks)
        .collect();
    let mut label = sparse_direction(d.matches, d.fps, d.query, &cands);
    let query_sparse_merge = label.iter().flatten().any(|l| l.0 == PROBABLE_ANCESTOR);
    d.merge_labels(&mut label, query_sparse_merge)?;
    let undecided = d.disguise_labels(&mut label);
    d.outgroup_labels(&mut label, undecided)?;
    for (k, l) in label.into_iter().enumerate() {
        if let Some((dir, why)) = l {
            matches[k].direction = Some(dir);
            matches[k].direction_reason = Some(why);
        }
    }
    Ok(())
}

/// A direction label and its reason, per match.
type Label = Option<(&'static str, String)>;

/// The query's related matches, read by the direction rules of [`direction`].
struct Directions<'a> {
    matches: &'a [Match],
    fps: &'a [Fingerprint],
    query: &'a Fingerprint,
    related: Vec<usize>,
    /// Significance level of the exact tests between entries.
    alpha: f64,
}

/// An identical or same-weights match.
fn is_copy(m: &Match) -> bool {
    matches!(m.verdict, "identical" | "same-weights")
}

impl Directions<'_> {
    /// Rule 1, merges: one representative per group of copies of each other (equally close
    /// to the query and called same-weights by the exact tests), the most related groups
    /// first.
    fn merge_groups(&self) -> Result<Vec<Vec<usize>>> {
        use rayon::prelude::*;
        let (matches, fps) = (self.matches, self.fps);
        let mut by_close: Vec<usize> = self
            .related
            .iter()
            .copied()
            .filter(|&k| !is_copy(&matches[k]))
            .collect();
        by_close.sort_by(|&a, &b| matches[b].closeness.total_cmp(&matches[a].closeness));
        let mut ties: Vec<Vec<usize>> = Vec::new();
        for &k in &by_close {
            match ties.last_mut() {
                Some(g) if matches[g[0]].closeness - matches[k].closeness <= TIE_WINDOW => {
                    g.push(k)
                }
                _ => ties.push(vec![k]),
            }
        }
        let jobs: Vec<(usize, usize)> = ties
            .iter()
            .flat_map(|g| g[1..].iter().map(move |&k| (g[0], k)))
            .collect();
        let same: Vec<bool> = jobs
            .par_iter()
            .map(|&(r, k)| compare_at(&fps[r], &fps[k], self.alpha).map(|c| c.copy_like))
            .collect::<Result<_>>()?;
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for g in &ties {
            let mut first = vec![g[0]];
            for &k in &g[1..] {
                let joined = jobs
                    .iter()
                    .position(|&j| j == (g[0], k))
                    .is_some_and(|p| same[p]);
                if joined {
                    first.push(k);
                } else {
                    groups.push(vec![k]);
                }
            }
            groups.push(first);
        }
        groups.sort_by(|a, b| matches[b[0]].closeness.total_cmp(&matches[a[0]].closeness));
        groups.truncate(MAX_MERGE_GROUPS);
        Ok(groups)
    }

    /// Rule 1, merges: an entry between the query and another entry is a merge containing the
    /// query; the query between two entries is a merge of them.
    fn merge_labels(&self, label: &mut [Label], query_sparse_merge: bool) -> Result<()> {
        use rayon::prelude::*;
        let (matches, fps, query) = (self.matches, self.fps, self.query);
        let groups = self.merge_groups()?;
        let floor = (20.0 * TIE_WINDOW).sqrt();
        let pairs: Vec<(usize, usize)> = (0..groups.len())
            .flat_map(|a| (a + 1..groups.len()).map(move |b| (a, b)))
            .collect();
        let cc: Vec<(f64, f64)> = pairs
            .par_iter()
            .map(|&(a, b)| {
                compare_at(&fps[groups[a][0]], &fps[groups[b][0]], self.alpha)
                    .map(|c| (c.closeness, c.log10_p.unwrap_or(0.0)))
            })
            .collect::<Result<_>>()?;
        // Two representatives count only when the exact tests relate them (a distance between
        // unrelated-looking copies, e.g. one rotated and one MLP-permuted, means nothing).
        let pair_thr = self.alpha.log10() - (pairs.len().max(1) as f64).log10();
        let dd = |a: usize, b: usize| -> f64 {
            let (a, b) = (a.min(b), a.max(b));
            pairs
                .iter()
                .position(|&p| p == (a, b))
                .filter(|&k| cc[k].1 < pair_thr)
                .map_or(f64::NAN, |k| dist(cc[k].0))
        };
        let dq = |g: usize| dist(matches[groups[g][0]].closeness);
        let name = |g: usize| matches[groups[g][0]].name.clone();
        // Distances add up like a weight space's only between models of the same depth (a pruned
        // model's, or one whose blocks a container hides, do not).
        let flat = |g: usize| fps[groups[g][0]].info.blocks == query.info.blocks;
        // The query as a merge.
        let mut best: Option<(f64, usize, usize)> = None;
        for &(x, y) in &pairs {
            let dxy = dd(x, y);
            let (a, b) = (dq(x), dq(y));
            if dxy.is_finite()
                && flat(x)
                && flat(y)
                && dxy >= floor
                && a >= 0.2 * dxy
                && b >= 0.2 * dxy
            {
                let r = (a + b) / dxy;
                if r < 1.15 && best.is_none_or(|bb| r < bb.0) {
                    best = Some((r, x, y));
                }
            }
        }
        // Entries between the query and another entry: merges containing the query.
        for c in 0..groups.len() {
            let found = (0..groups.len())
                .filter(|&e| e != c)
                .filter_map(|e| {
                    let (dqe, dqc, dce) = (dq(e), dq(c), dd(c, e));
                    (dce.is_finite()
                        && flat(c)
                        && flat(e)
                        && dqe >= floor
                        && dqc >= 0.2 * dqe
                        && dce >= 0.2 * dqe
                        && (dqc + dce) / dqe < 1.15)
                        .then(|| ((dqc + dce) / dqe, e))
                })
                .min_by(|a, b| a.0.total_cmp(&b.0));
            if let Some((r, e)) = found {
                if best.is_some_and(|(_, x, y)| x == c || y == c) {
                    continue;
                }
                for &k in &groups[c] {
                    if label[k].is_some() {
                        continue;
                    }
                    label[k] = Some((
                        PROBABLE_DESCENDANT,
                        format!(
                            "lies between the query and {} (distances add up to {:.2} of theirs): a merge containing the query",
                            name(e),
                            r
                        ),
                    ));
                }
            }
        }
        // (Not when the exact-equality evidence found the query to be a sparse merge: a TIES merge
        // is not a weighted average, and its distances to other merges mean nothing.)
        if let Some((r, x, y)) = best.filter(|_| !query_sparse_merge) {
            for g in [x, y] {
                for &k in &groups[g] {
                    if label[k].is_some() {
                        continue;
                    }
                    label[k] = Some((
                        PROBABLE_ANCESTOR,
                        format!(
                            "the query lies between {} and {} (distances add up to {:.2} of theirs): a merge of them",
                            name(x),
                            name(y),
                            r
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Rule 2, disguises on same-weights copies; returns the copies left undecided.
    fn disguise_labels(&self, label: &mut [Label]) -> Vec<usize> {
        let (matches, fps, query, related) = (self.matches, self.fps, self.query, &self.related);
        let copy = is_copy;
        // 2. Disguises on same-weights copies.
        let q = &query.info;
        let q_prec = precision_rank(q.dtype.as_deref());
        let others_naming = |skip: usize| -> Vec<&str> {
            related
                .iter()
                .filter(|&&k| k != skip)
                .filter_map(|&k| fps[k].info.naming.as_deref())
                .collect()
        };
        let coords_anchor: Option<usize> = related
            .iter()
            .copied()
            .find(|&k| !copy(&matches[k]) && matches[k].aligned);
        let mut undecided = Vec::new();
        for &k in related {
            let m = &matches[k];
            if label[k].is_some() || !copy(m) {
                continue;
            }
            let c_prec = precision_rank(m.dtype.as_deref());
            // A lossy copy (lower precision, or a GGUF conversion of a non-GGUF model) comes
            // after its original: `what` of the copy, then the copy's and the original's storage.
            let lossy =
                |lower: bool, copy: (&str, &Option<String>), orig: (&str, &Option<String>)| {
                    let dt = |d: &Option<String>| d.clone().unwrap_or_else(|| "?".into());
                    let what = if lower {
                        "lower-precision copy"
                    } else {
                        "GGUF conversion"
                    };
                    (
                        what,
                        format!("{} {}", copy.0, dt(copy.1)),
                        format!("{} {}", orig.0, dt(orig.1)),
                    )
                };
            if c_prec < q_prec || (m.format == "gguf" && q.format != "gguf") {
                let (what, c, o) = lossy(
                    c_prec < q_prec,
                    (&m.format, &m.dtype),
                    (&q.format, &q.dtype),
                );
                let why = format!("a {what} of the query ({c} vs the query's {o})");
                label[k] = Some((PROBABLE_DESCENDANT, why));
                continue;
            }
            if c_prec > q_prec || (q.format == "gguf" && m.format != "gguf") {
                let (what, c, o) = lossy(
                    c_prec > q_prec,
                    (&q.format, &q.dtype),
                    (&m.format, &m.dtype),
                );
                let why = format!("the query is a {what} of it ({c} vs the entry's {o})");
                label[k] = Some((PROBABLE_ANCESTOR, why));
                continue;
            }
            if let (Some(qn), Some(cn)) = (q.naming.as_deref(), fps[k].info.naming.as_deref()) {
                if qn != cn {
                    let others = others_naming(k);
                    let q_shared = others.contains(&qn);
                    let c_shared = others.contains(&cn);
                    if q_shared && !c_shared {
                        label[k] = Some((
                            PROBABLE_DESCENDANT,
                            format!("tensors renamed to the {cn} scheme; the query and its other relatives use {qn}"),
                        ));
                        continue;
                    }
                    if c_shared && !q_shared {
                        label[k] = Some((
                            PROBABLE_ANCESTOR,
                            format!("the query's tensors were renamed to the {qn} scheme; this entry and the query's other relatives use {cn}"),
                        ));
                        continue;
                    }
                }
            }
            if !m.aligned {
                if let Some(e) = coords_anchor {
                    label[k] = Some((
                        PROBABLE_DESCENDANT,
                        format!(
                            "same weights with its residual stream rotated or permuted, or its MLP units permuted; the query shares its coordinates and unit order with {}",
                            matches[e].name
                        ),
                    ));
                    continue;
                }
            }
            if 1.0 - m.closeness >= 1e-7 {
                undecided.push(k);
            }
        }
        undecided
    }

    /// Rule 3, the outgroup test on the copies left undecided.
    fn outgroup_labels(&self, label: &mut [Label], mut undecided: Vec<usize>) -> Result<()> {
        use rayon::prelude::*;
        let (matches, fps, query, related) = (self.matches, self.fps, self.query, &self.related);
        let copy = is_copy;
        // 3. Outgroup test on the remaining copies.
        undecided.sort_by(|&a, &b| matches[b].closeness.total_cmp(&matches[a].closeness));
        undecided.truncate(MAX_OUTGROUP_COPIES);
        let mut outgroups: Vec<usize> = related
            .iter()
            .copied()
            .filter(|&k| {
                // Of the query's depth: quadrature holds in a weight space, not across a pruning.
                !copy(&matches[k])
                    && fps[k].info.blocks == query.info.blocks
                    && label[k].as_ref().is_none_or(|l| l.0 != PROBABLE_DESCENDANT)
            })
            .collect();
        outgroups.sort_by(|&a, &b| matches[b].closeness.total_cmp(&matches[a].closeness));
        outgroups.truncate(OUTGROUPS);
        if !outgroups.is_empty() && !undecided.is_empty() {
            let jobs: Vec<(usize, usize)> = undecided
                .iter()
                .flat_map(|&c| outgroups.iter().map(move |&e| (c, e)))
                .collect();
            let ratios: Vec<(usize, f64)> = jobs
                .par_iter()
                .map(|&(c, e)| {
                    compare_at(&fps[c], &fps[e], self.alpha).map(|x| {
                        let delta = 1.0 - matches[c].closeness;
                        let r = ((1.0 - x.closeness) - (1.0 - matches[e].closeness)) / delta;
                        (c, r)
                    })
                })
                .collect::<Result<_>>()?;
            for &c in &undecided {
                let mut rs: Vec<f64> = ratios
                    .iter()
                    .filter(|r| r.0 == c)
                    .map(|r| r.1)
                    .filter(|r| r.is_finite())
                    .collect();
                if rs.is_empty() {
                    continue;
                }
                rs.sort_by(f64::total_cmp);
                let med = rs[rs.len() / 2];
                let names: Vec<&str> = outgroups
                    .iter()
                    .map(|&e| matches[e].name.as_str())
                    .collect();
                if med > 0.5 {
                    label[c] = Some((
                        PROBABLE_DESCENDANT,
                        format!(
                            "farther than the query from {} by their distance in quadrature (ratio {med:.2}): the query plus an independent change (noise, rounding)",
                            names.join(", ")
                        ),
                    ));
                } else if med < -0.5 {
                    label[c] = Some((
                        PROBABLE_ANCESTOR,
                        format!(
                            "closer than the query to {} by their distance in quadrature (ratio {med:.2}): the query is this entry plus an independent change (noise, rounding)",
                            names.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
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
