//! Accuracy of taoke's verdicts on the zoo: runs `compare` on every labelled ordered pair of a
//! zoo manifest and tallies a confusion matrix, false accusations, misses, kinds and the
//! calibration of independent-pair p-values.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use serde::Serialize;
use taoke_evidence::{Comparison, Options, Scope, TestId};
use taoke_zoo::{Manifest, Relation};

pub mod digest;
pub mod shells;

/// One evaluated pair.
#[derive(Debug, Clone, Serialize)]
pub struct PairResult {
    /// Model A id.
    pub a: String,
    /// Model B id.
    pub b: String,
    /// Ground truth.
    pub truth: String,
    /// Ground-truth kinds, as observable between the two endpoints (see [`observable_kinds`]).
    pub truth_kinds: Vec<String>,
    /// The zoo's raw path kinds (union of recipe kinds on the path between the two models).
    pub path_kinds: Vec<String>,
    /// Predicted verdict.
    pub verdict: String,
    /// Predicted kinds.
    pub kinds: Vec<String>,
    /// Combined p-value (log10).
    pub log10_p: Option<f64>,
    /// Whether the p-value came from the exact (Fisher) path: equal depths.
    pub exact_path: bool,
    /// Whether A and B share an architecture and size.
    pub same_architecture: bool,
    /// Whether both have no weight parent (roots and distilled students).
    pub both_roots: bool,
    /// The product-match statistic (mean Fisher z), for calibration.
    pub product_z: Option<f64>,
    /// The block CKA statistics of diagonal block pairs (`awm-cka` rows), for calibration.
    pub block_cka: Vec<f64>,
    /// The spectral statistic (`spectral` row), for calibration.
    pub spectral: Option<f64>,
    /// Seconds spent.
    pub seconds: f64,
    /// Error, if compare failed.
    pub error: Option<String>,
    /// `merge` was named only from the context (a `merge-fit` row): the pair alone did not.
    pub merge_from_context: bool,
    /// [`digest::report_digest`] of the JSON report, with the models' paths relative to the
    /// zoo (the byte-identity check of refactors).
    pub report_sha256: Option<String>,
}

/// Options of [`evaluate`].
#[derive(Debug, Clone, Default)]
pub struct EvalOptions {
    /// Evaluate at most this many pairs (0 = all), taken evenly.
    pub limit: usize,
    /// Only pairs with one of these models on either side (empty = all), for quick checks of
    /// a few models; a filtered run's summary is not the profile's accuracy.
    pub only: Vec<String>,
    /// Only pairs whose ground truth is not independent.
    pub related_only: bool,
    /// Compare without context: by default every zoo model is context for every pair
    /// ([`taoke_evidence::compare_with`]), as a registry of known models would be, so merges
    /// can be named from a third model.
    pub no_context: bool,
}

fn truth_name(r: Relation) -> &'static str {
    match r {
        Relation::Identical => "identical",
        Relation::SameWeights => "same-weights",
        Relation::Related => "related",
        Relation::Independent => "independent",
    }
}

/// Runs compare on the manifest's pairs. `progress` receives (done, total).
pub fn evaluate(
    zoo_dir: &Path,
    manifest: &Manifest,
    opts: &EvalOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Vec<PairResult> {
    let pairs = select_pairs(manifest, opts);
    let total = pairs.len();
    let opened = open_models(zoo_dir, manifest, &pairs);
    let context = taoke_evidence::Context::new(if opts.no_context {
        Vec::new()
    } else {
        opened
            .iter()
            .filter_map(|(id, ck)| ck.as_ref().ok().map(|c| (id.clone(), c)))
            .collect()
    });
    let mut out = Vec::with_capacity(total);
    for (k, p) in pairs.into_iter().enumerate() {
        out.push(evaluate_pair(manifest, &opened, &context, p));
        progress(k + 1, total);
    }
    out
}

/// Every model of the zoo (and of the pairs), opened, or why it could not be.
type Opened = BTreeMap<String, Result<taoke_model::Checkpoint, String>>;

/// The pairs to evaluate: those `opts` selects, at most `opts.limit` taken evenly.
fn select_pairs<'m>(manifest: &'m Manifest, opts: &EvalOptions) -> Vec<&'m taoke_zoo::Pair> {
    let mut pairs: Vec<&taoke_zoo::Pair> = manifest
        .pairs
        .iter()
        .filter(|p| opts.only.is_empty() || opts.only.iter().any(|id| *id == p.a || *id == p.b))
        .filter(|p| !opts.related_only || p.relation != Relation::Independent)
        .collect();
    if opts.limit > 0 && pairs.len() > opts.limit {
        let step = pairs.len() as f64 / opts.limit as f64;
        pairs = (0..opts.limit)
            .map(|k| pairs[(k as f64 * step) as usize])
            .collect();
    }
    pairs
}

/// Opens every model of the manifest and of `pairs`, once each.
fn open_models(zoo_dir: &Path, manifest: &Manifest, pairs: &[&taoke_zoo::Pair]) -> Opened {
    let mut opened = Opened::new();
    let ids = manifest.models.iter().map(|m| &m.id);
    for id in ids.chain(pairs.iter().flat_map(|p| [&p.a, &p.b])) {
        if !opened.contains_key(id) {
            let ck = manifest
                .model(id)
                .ok_or_else(|| format!("model {id} not in manifest"))
                .and_then(|m| {
                    let path = zoo_dir.join(&m.path);
                    taoke_model::open(path.to_string_lossy()).map_err(|e| e.to_string())
                });
            opened.insert(id.clone(), ck);
        }
    }
    opened
}

/// The statistics of a comparison kept for calibration.
struct CalibrationStats {
    product_z: Option<f64>,
    block_cka: Vec<f64>,
    spectral: Option<f64>,
}

impl CalibrationStats {
    fn of(c: &Comparison) -> Self {
        CalibrationStats {
            product_z: c
                .evidence
                .iter()
                .find(|e| e.test == TestId::ProductMatch)
                .map(|e| e.statistic),
            block_cka: c
                .evidence
                .iter()
                .filter(|e| e.test == TestId::AwmCka)
                .filter(|e| matches!(e.scope, Scope::BlockPair { a, b } if a == b))
                .map(|e| e.statistic)
                .collect(),
            spectral: c
                .evidence
                .iter()
                .find(|e| e.test == TestId::Spectral)
                .map(|e| e.statistic),
        }
    }
}

/// Compares one pair (with the other models as context) and records what it said.
fn evaluate_pair(
    manifest: &Manifest,
    opened: &Opened,
    context: &taoke_evidence::Context,
    p: &taoke_zoo::Pair,
) -> PairResult {
    let t0 = Instant::now();
    let mut merge_pairwise = false;
    let res: Result<Comparison, String> = match (&opened[&p.a], &opened[&p.b]) {
        // The trace tells what the pair alone showed (before the context).
        (Ok(a), Ok(b)) => taoke_evidence::compare_traced(a, b, &Options::default(), Some(context))
            .map(|(c, trace)| {
                merge_pairwise = trace.pairwise_kinds.contains(&taoke_evidence::Kind::Merge);
                c
            })
            .map_err(|e| e.to_string()),
        (Err(e), _) | (_, Err(e)) => Err(e.clone()),
    };
    let merge_from_context = !merge_pairwise
        && res
            .as_ref()
            .is_ok_and(|c| c.kinds.contains(&taoke_evidence::Kind::Merge));
    let seconds = t0.elapsed().as_secs_f64();
    let stats = res.as_ref().ok().map(CalibrationStats::of);
    let rel = |id: &str| manifest.model(id).map_or(id.to_owned(), |m| m.path.clone());
    let report_sha256 = res
        .as_ref()
        .ok()
        .map(|c| digest::report_digest(c, &rel(&p.a), &rel(&p.b)));
    let (verdict, kinds, log10_p, exact_path, error) = match res {
        Ok(c) => (
            c.verdict.as_str().to_owned(),
            c.kinds.iter().map(|k| k.as_str().to_owned()).collect(),
            c.log10_p_value,
            c.a.blocks == c.b.blocks,
            None,
        ),
        Err(e) => ("error".to_owned(), Vec::new(), None, false, Some(e)),
    };
    PairResult {
        a: p.a.clone(),
        b: p.b.clone(),
        truth: truth_name(p.relation).to_owned(),
        truth_kinds: observable_kinds(manifest, p),
        path_kinds: p.kinds.clone(),
        verdict,
        kinds,
        log10_p,
        exact_path,
        same_architecture: p.same_architecture,
        both_roots: [&p.a, &p.b]
            .iter()
            .all(|id| manifest.model(id).is_some_and(|m| m.parents.is_empty())),
        product_z: stats.as_ref().and_then(|s| s.product_z),
        block_cka: stats
            .as_ref()
            .map_or_else(Vec::new, |s| s.block_cka.clone()),
        spectral: stats.as_ref().and_then(|s| s.spectral),
        seconds,
        error,
        merge_from_context,
        report_sha256,
    }
}

/// Storage state of a model at its endpoint: (format, tensor names, element type, layout).
type StorageState = (&'static str, String, String, bool);

/// Storage of a model, replayed from its root: storage recipes (`dtype-recast`, `rename`,
/// `transpose`, `shard`) modify the parent's storage, `gguf` replaces it, and every recipe that
/// writes new weights (training, permutations, merges, noise) writes default storage (single
/// safetensors file, Hugging Face names, f32, normal layout). Sharding is container-only.
fn storage_state(manifest: &Manifest, id: &str) -> StorageState {
    let default = || ("safetensors", "hf".to_owned(), "f32".to_owned(), false);
    let Some(m) = manifest.model(id) else {
        return default();
    };
    let kind = m.recipe.get("kind").and_then(|k| k.as_str()).unwrap_or("");
    let param = |key: &str| {
        m.recipe
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    let parent = || {
        m.parents
            .first()
            .map_or_else(default, |p| storage_state(manifest, p))
    };
    match kind {
        "dtype-recast" => {
            let (f, n, _, t) = parent();
            (f, n, param("dtype"), t)
        }
        "rename" => {
            let (f, _, d, t) = parent();
            (f, param("scheme"), d, t)
        }
        "transpose" => {
            let (f, n, d, _) = parent();
            (f, n, d, true)
        }
        "shard" => parent(),
        // GGUF writes llama.cpp's tensor names (the zoo's `llama-cpp` rename scheme).
        "gguf" => ("gguf", "llama-cpp".to_owned(), param("dtype"), false),
        _ => default(),
    }
}

/// Recipe kinds from the root down to `id` (first parents), with the model ids.
fn chain(manifest: &Manifest, id: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut cur = manifest.model(id);
    while let Some(m) = cur {
        let kind = m
            .recipe
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or("")
            .to_owned();
        out.push((m.id.clone(), kind));
        cur = m.parents.first().and_then(|p| manifest.model(p));
        if out.len() > 64 {
            break;
        }
    }
    out.reverse();
    out
}

/// The recipe kinds on each side below the two models' deepest common first-parent ancestor.
fn branch_recipes(manifest: &Manifest, a: &str, b: &str) -> (Vec<String>, Vec<String>) {
    let (ca, cb) = (chain(manifest, a), chain(manifest, b));
    let common = ca.iter().zip(&cb).take_while(|(x, y)| x.0 == y.0).count();
    let rest = |c: &[(String, String)]| c[common..].iter().map(|x| x.1.clone()).collect();
    (rest(&ca), rest(&cb))
}

/// Kinds that only change storage: observable by comparing the two endpoints, not the path.
const STORAGE_KINDS: [&str; 5] = [
    "format-change",
    "renamed",
    "dtype-recast",
    "quantized",
    "transposed",
];

/// Kinds that retrain or rewrite weights substantially; any of them on the path masks a
/// noise wash on the other side (noise of std/700 is ~100× below a training delta, so no
/// weights-only test can see it there).
const TRAINING_KINDS: [&str; 9] = [
    "fine-tune",
    "low-rank-update",
    "continued-pretraining",
    "pruned-depth",
    "pruned-width",
    "depth-upscaled",
    "moe-upcycled",
    "merge",
    "vocab-extended",
];

/// Ground-truth kinds as observable between the two endpoints. The zoo labels a pair with the
/// union of recipe kinds on the path between the models; that over-counts for siblings. Storage
/// kinds are therefore taken from the endpoints' storage (two GGUF quants of one model differ by
/// quantization only, not by format or names; a sharded copy is the same format), and a noise
/// wash is not expected when a training kind is on the path too or the endpoints' element types
/// differ (rounding to bf16 or a quant type is as large as noise at std/700; taoke names a
/// noise wash only between equal float storage).
pub fn observable_kinds(manifest: &Manifest, p: &taoke_zoo::Pair) -> Vec<String> {
    let (fa, na, da, ta) = storage_state(manifest, &p.a);
    let (fb, nb, db, tb) = storage_state(manifest, &p.b);
    let mut out: Vec<String> = p
        .kinds
        .iter()
        .filter(|k| !STORAGE_KINDS.contains(&k.as_str()))
        .filter(|k| {
            k.as_str() != "noise-washed"
                || (!p.kinds.iter().any(|x| TRAINING_KINDS.contains(&x.as_str())) && da == db)
        })
        .cloned()
        .collect();
    // Rotating the residual stream first folds the RMSNorm gains into the matrices (a rotation
    // cannot pass through a per-coordinate gain), so a rotated copy is rescaled too — unless
    // the other side folded its gains as well and nothing else rescaled. A permutation of the
    // residual stream is a rotation, so next to a rotation it is not a separate kind.
    let (side_a, side_b) = branch_recipes(manifest, &p.a, &p.b);
    let folds = |s: &[String]| {
        s.iter()
            .any(|k| k == "fold-norms" || k == "rotate-residual")
    };
    let other_rescale = |s: &[String]| s.iter().any(|k| k == "rescale-norms" || k == "scale-mlp");
    // Every structural recipe of the zoo trains afterwards (pruning and width pruning are
    // healed, up-scaled blocks, up-cycled experts and extended vocabularies are trained): 100
    // steps at the fine-tune learning rate, the same run as a fine-tune. That training is on
    // the path, so the pair shows a fine-tune too — unless a continued pre-training on the path
    // is what the pair's change size shows.
    const TRAINED_AFTER: [&str; 5] = [
        "pruned-depth",
        "pruned-width",
        "depth-upscaled",
        "moe-upcycled",
        "vocab-extended",
    ];
    if out.iter().any(|k| TRAINED_AFTER.contains(&k.as_str()))
        && !out.iter().any(|k| k == "continued-pretraining")
    {
        out.push("fine-tune".into());
    }
    if out.iter().any(|k| k == "rotated") {
        out.push("rescaled".into());
        out.retain(|k| k != "permuted");
    }
    if folds(&side_a) && folds(&side_b) && !other_rescale(&side_a) && !other_rescale(&side_b) {
        out.retain(|k| k != "rescaled");
    }
    if p.relation != Relation::Independent {
        let quant = |d: &str| d.starts_with('q');
        if fa != fb {
            out.push("format-change".into());
        }
        if na != nb {
            out.push("renamed".into());
        }
        if da != db {
            if quant(&da) || quant(&db) {
                out.push("quantized".into());
            } else {
                out.push("dtype-recast".into());
            }
        }
        if ta != tb {
            out.push("transposed".into());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Kinds taoke names (the issue's vocabulary).
fn nameable(kind: &str) -> bool {
    taoke_evidence::Kind::from_name(kind).is_some()
}

/// The summary numbers.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Pairs evaluated.
    pub pairs: usize,
    /// truth → predicted → count.
    pub confusion: BTreeMap<String, BTreeMap<String, usize>>,
    /// Independent pairs called related, same-weights or identical.
    pub false_accusations: usize,
    /// Independent pairs.
    pub independent_pairs: usize,
    /// Independent pairs of the same architecture and size.
    pub independent_same_arch: usize,
    /// Related, same-weights or identical pairs called independent or inconclusive.
    pub misses: usize,
    /// Related, same-weights or identical pairs.
    pub related_pairs: usize,
    /// Related/same-weights/identical pairs called related, same-weights or identical.
    pub related_called_related: usize,
    /// Same-weights or identical pairs.
    pub same_weights_pairs: usize,
    /// …called same-weights or identical.
    pub same_weights_called_same: usize,
    /// Related pairs whose every nameable truth kind was reported.
    pub kinds_right: usize,
    /// Related pairs with at least one nameable truth kind.
    pub kinds_scored: usize,
    /// Like `kinds_right`, but `merge` is not expected from a pair (a linear merge of two
    /// fine-tunes differs from each of its relatives exactly like a fine-tune; only a third
    /// model shows it, which is census's job).
    pub kinds_right_pairwise: usize,
    /// Related pairs with at least one pairwise-nameable truth kind.
    pub kinds_scored_pairwise: usize,
    /// Related pairs with `merge` among their truth kinds.
    pub merge_pairs: usize,
    /// …with `merge` named from the pair alone (a sparse update between the two).
    pub merge_named_pairwise: usize,
    /// …with `merge` named only from the context (a `merge-fit` row).
    pub merge_named_context: usize,
    /// Related pairs with a reported kind that is not among their truth kinds.
    pub extra_kind_pairs: usize,
    /// Pairs where compare failed.
    pub errors: usize,
    /// KS test of independent-pair p-values (exact path) against U(0,1): (n, D, p).
    pub ks_exact: Option<(usize, f64, f64)>,
    /// KS test over distinct unordered pairs of weight roots (independent samples): (n, D, p).
    pub ks_roots: Option<(usize, f64, f64)>,
    /// Mean and standard deviation of the product-match statistic over independent pairs.
    pub product_null: Option<(usize, f64, f64)>,
    /// Mean and standard deviation of the diagonal block CKA over independent same-depth pairs.
    pub cka_null: Option<(usize, f64, f64)>,
    /// Mean and standard deviation of the spectral statistic over independent same-depth pairs,
    /// and over related pairs (for the report).
    pub spectral_null: Option<(usize, f64, f64)>,
    /// The spectral statistic over related pairs (n, mean, std).
    pub spectral_related: Option<(usize, f64, f64)>,
    /// KS test over all independent pairs (some conservative): (n, D, p).
    pub ks_all: Option<(usize, f64, f64)>,
    /// Per truth kind: (pairs, verdict right, kind reported).
    pub per_kind: BTreeMap<String, (usize, usize, usize)>,
    /// Median and max seconds per pair.
    pub seconds: (f64, f64),
}

fn related_verdict(v: &str) -> bool {
    matches!(v, "related" | "same-weights" | "identical")
}

/// The measured values the calibration rows of a [`Summary`] are computed from.
#[derive(Default)]
struct CalibrationSamples {
    /// p-values of independent pairs on the exact (equal-depth) path.
    p_exact: Vec<f64>,
    /// p-values of all independent pairs.
    p_all: Vec<f64>,
    /// p-values of distinct unordered pairs of weight roots.
    p_roots: Vec<f64>,
    /// Product-match statistics of independent pairs.
    product_z: Vec<f64>,
    /// Diagonal block CKA of independent equal-depth pairs.
    cka: Vec<f64>,
    /// Spectral statistics of independent equal-depth pairs.
    spectral_null: Vec<f64>,
    /// Spectral statistics of related pairs.
    spectral_related: Vec<f64>,
}

/// Tallies results.
pub fn summarize(results: &[PairResult]) -> Summary {
    let mut confusion: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mut s = Summary::empty(results.len());
    let mut samples = CalibrationSamples::default();
    for r in results {
        *confusion
            .entry(r.truth.clone())
            .or_default()
            .entry(r.verdict.clone())
            .or_default() += 1;
        if r.error.is_some() {
            s.errors += 1;
        }
        if r.truth == "independent" {
            s.tally_independent(r, &mut samples);
        } else {
            s.tally_related(r, &mut samples);
        }
    }
    s.calibrate(&samples);
    let mut secs: Vec<f64> = results.iter().map(|r| r.seconds).collect();
    secs.sort_by(f64::total_cmp);
    if !secs.is_empty() {
        s.seconds = (secs[secs.len() / 2], secs[secs.len() - 1]);
    }
    s.confusion = confusion;
    s
}

impl Summary {
    /// A summary of `pairs` pairs with nothing counted yet.
    fn empty(pairs: usize) -> Self {
        Summary {
            pairs,
            confusion: BTreeMap::new(),
            false_accusations: 0,
            independent_pairs: 0,
            independent_same_arch: 0,
            misses: 0,
            related_pairs: 0,
            related_called_related: 0,
            same_weights_pairs: 0,
            same_weights_called_same: 0,
            kinds_right: 0,
            kinds_scored: 0,
            kinds_right_pairwise: 0,
            kinds_scored_pairwise: 0,
            merge_pairs: 0,
            merge_named_pairwise: 0,
            merge_named_context: 0,
            extra_kind_pairs: 0,
            errors: 0,
            ks_exact: None,
            ks_roots: None,
            product_null: None,
            cka_null: None,
            spectral_null: None,
            spectral_related: None,
            ks_all: None,
            per_kind: BTreeMap::new(),
            seconds: (0.0, 0.0),
        }
    }

    /// Counts an independent pair: a false accusation when called related; its statistics
    /// join the nulls.
    fn tally_independent(&mut self, r: &PairResult, samples: &mut CalibrationSamples) {
        self.independent_pairs += 1;
        if r.same_architecture {
            self.independent_same_arch += 1;
        }
        if related_verdict(&r.verdict) {
            self.false_accusations += 1;
        }
        if let Some(z) = r.product_z {
            samples.product_z.push(z);
        }
        if r.exact_path && r.same_architecture {
            samples.cka.extend(r.block_cka.iter().copied());
            samples.spectral_null.extend(r.spectral);
        }
        if let Some(l) = r.log10_p {
            let p = 10f64.powf(l);
            samples.p_all.push(p);
            if r.both_roots && r.a < r.b {
                samples.p_roots.push(p);
            }
            if r.exact_path {
                samples.p_exact.push(p);
            }
        }
    }

    /// Counts a related (or same-weights, or identical) pair: its verdict, then its kinds.
    fn tally_related(&mut self, r: &PairResult, samples: &mut CalibrationSamples) {
        self.related_pairs += 1;
        samples.spectral_related.extend(r.spectral);
        if related_verdict(&r.verdict) {
            self.related_called_related += 1;
        } else {
            self.misses += 1;
        }
        if r.truth != "related" {
            self.same_weights_pairs += 1;
            if matches!(r.verdict.as_str(), "same-weights" | "identical") {
                self.same_weights_called_same += 1;
            }
        }
        self.tally_kinds(r);
    }

    /// Counts which of a related pair's truth kinds were reported.
    fn tally_kinds(&mut self, r: &PairResult) {
        let named: Vec<&String> = r.truth_kinds.iter().filter(|k| nameable(k)).collect();
        if !named.is_empty() {
            self.kinds_scored += 1;
            if named.iter().all(|k| r.kinds.contains(k)) {
                self.kinds_right += 1;
            }
        }
        let pairwise: Vec<&&String> = named.iter().filter(|k| k.as_str() != "merge").collect();
        if !pairwise.is_empty() {
            self.kinds_scored_pairwise += 1;
            if pairwise.iter().all(|k| r.kinds.contains(k)) {
                self.kinds_right_pairwise += 1;
            }
        }
        if r.truth_kinds.iter().any(|k| k == "merge") {
            self.merge_pairs += 1;
            if r.kinds.iter().any(|k| k == "merge") {
                if r.merge_from_context {
                    self.merge_named_context += 1;
                } else {
                    self.merge_named_pairwise += 1;
                }
            }
        }
        if r.kinds.iter().any(|k| !r.truth_kinds.contains(k)) {
            self.extra_kind_pairs += 1;
        }
        for k in &r.truth_kinds {
            let e = self.per_kind.entry(k.clone()).or_default();
            e.0 += 1;
            if related_verdict(&r.verdict) {
                e.1 += 1;
            }
            if r.kinds.contains(k) {
                e.2 += 1;
            }
        }
    }

    /// The KS tests of the p-values against U(0, 1) (from 5 values) and the nulls of the
    /// statistics.
    fn calibrate(&mut self, samples: &CalibrationSamples) {
        let ks = |v: &[f64]| {
            taoke_stats::calibration::ks_uniform(v)
                .ok()
                .map(|t| (v.len(), t.statistic, t.p_value))
        };
        if samples.p_exact.len() >= 5 {
            self.ks_exact = ks(&samples.p_exact);
        }
        if samples.p_all.len() >= 5 {
            self.ks_all = ks(&samples.p_all);
        }
        if samples.p_roots.len() >= 5 {
            self.ks_roots = ks(&samples.p_roots);
        }
        // n, mean and sample standard deviation of a measured statistic (None below 2 values).
        let mean_sd = |v: &[f64]| {
            (v.len() >= 2).then(|| {
                let n = v.len() as f64;
                let m = v.iter().sum::<f64>() / n;
                let sd = (v.iter().map(|z| (z - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
                (v.len(), m, sd)
            })
        };
        self.product_null = mean_sd(&samples.product_z);
        self.spectral_null = mean_sd(&samples.spectral_null);
        self.spectral_related = mean_sd(&samples.spectral_related);
        self.cka_null = mean_sd(&samples.cka);
    }
}

/// Renders the accuracy report as Markdown.
pub fn markdown(s: &Summary, command: &str, profile: &str) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# Accuracy on the zoo ({profile} profile)\n");
    let _ = writeln!(o, "Produced by:\n\n```sh\n{command}\n```\n");
    let _ = writeln!(
        o,
        "Ground truth comes from the zoo's lineage graph (crates/taoke-zoo/README.md): related = \
         shares a weight ancestor; a distilled student has none, so it is independent by \
         construction.\n"
    );
    let _ = writeln!(o, "| measure | value |\n|---|---|");
    verdict_rows(&mut o, s);
    calibration_rows(&mut o, s);
    let _ = writeln!(o, "| errors | {} |", s.errors);
    let _ = writeln!(
        o,
        "| seconds per pair (median / max) | {:.3} / {:.3} |\n",
        s.seconds.0, s.seconds.1
    );
    confusion_section(&mut o, s);
    let _ = writeln!(o, "\n## Per derivation kind\n");
    let _ = writeln!(
        o,
        "| kind | pairs | verdict related or closer | kind reported |\n|---|---|---|---|"
    );
    for (k, (n, v, r)) in &s.per_kind {
        let _ = writeln!(o, "| {k} | {n} | {v} | {r} |");
    }
    o
}

fn pct(a: usize, b: usize) -> String {
    if b == 0 {
        "n/a".to_owned()
    } else {
        format!("{:.1} %", 100.0 * a as f64 / b as f64)
    }
}

/// The rows of the measure table about verdicts and kinds.
fn verdict_rows(o: &mut String, s: &Summary) {
    let _ = writeln!(o, "| labelled ordered pairs | {} |", s.pairs);
    let _ = writeln!(
        o,
        "| independent pairs (same architecture and size) | {} ({}) |",
        s.independent_pairs, s.independent_same_arch
    );
    let _ = writeln!(
        o,
        "| **false accusations** (independent called related / same-weights / identical) | **{}** |",
        s.false_accusations
    );
    let _ = writeln!(
        o,
        "| related pairs called related (incl. same-weights, identical) | {} of {} ({}) |",
        s.related_called_related,
        s.related_pairs,
        pct(s.related_called_related, s.related_pairs)
    );
    let _ = writeln!(
        o,
        "| misses (related called independent or inconclusive) | {} |",
        s.misses
    );
    let _ = writeln!(
        o,
        "| same-weights pairs called same-weights or identical | {} of {} ({}) |",
        s.same_weights_called_same,
        s.same_weights_pairs,
        pct(s.same_weights_called_same, s.same_weights_pairs)
    );
    let _ = writeln!(
        o,
        "| related pairs with every nameable kind reported (every other zoo model is context, as with `taoke compare --context`, unless `--no-context`) | {} of {} ({}) |",
        s.kinds_right,
        s.kinds_scored,
        pct(s.kinds_right, s.kinds_scored)
    );
    let _ = writeln!(
        o,
        "| the same, `merge` not expected (what the pair alone shows: a linear merge only shows next to a third model) | {} of {} ({}) |",
        s.kinds_right_pairwise,
        s.kinds_scored_pairwise,
        pct(s.kinds_right_pairwise, s.kinds_scored_pairwise)
    );
    let _ = writeln!(
        o,
        "| pairs with `merge` on the path: named from the pair alone / only from the context / not named | {} / {} / {} of {} |",
        s.merge_named_pairwise,
        s.merge_named_context,
        s.merge_pairs - s.merge_named_pairwise - s.merge_named_context,
        s.merge_pairs
    );
    let _ = writeln!(
        o,
        "| related pairs with a reported kind that is not on the path (extra kinds) | {} |",
        s.extra_kind_pairs
    );
}

/// The rows of the measure table about the calibration of p-values and statistics (those
/// measured).
fn calibration_rows(o: &mut String, s: &Summary) {
    if let Some((n, d, p)) = s.ks_exact {
        let _ = writeln!(
            o,
            "| KS test, all equal-depth independent pairs (not independent samples: many pairs share a model) | n = {n}, D = {d:.3}, p = {p:.3} |"
        );
    }
    if let Some((n, d, p)) = s.ks_roots {
        let _ = writeln!(
            o,
            "| **KS test of p-values vs U(0,1), distinct pairs of weight roots (independent samples)** | n = {n}, D = {d:.3}, p = {p:.3} |"
        );
    }
    if let Some((n, m, sd)) = s.product_null {
        let _ = writeln!(
            o,
            "| product-match statistic on independent pairs (the calibrated null) | n = {n}, mean {m:.4}, std {sd:.4} |"
        );
    }
    if let Some((n, m, sd)) = s.cka_null {
        let _ = writeln!(
            o,
            "| diagonal block CKA on independent equal-depth pairs (the calibrated CKA null; many pairs share a model) | n = {n}, mean {m:.4}, std {sd:.4} |"
        );
    }
    if let (Some((n, m, sd)), Some((nr, mr, sr))) = (s.spectral_null, s.spectral_related) {
        let _ = writeln!(
            o,
            "| spectral statistic (supporting only): independent equal-depth pairs / related pairs | n = {n}, {m:.2e} ± {sd:.2e} / n = {nr}, {mr:.2e} ± {sr:.2e} |"
        );
    }
    if let Some((n, d, p)) = s.ks_all {
        let _ = writeln!(
            o,
            "| KS test, all independent pairs (unequal depths use a conservative Bonferroni bound) | n = {n}, D = {d:.3}, p = {p:.3} |"
        );
    }
}

/// The confusion matrix: rows truth, columns verdict.
fn confusion_section(o: &mut String, s: &Summary) {
    let verdicts = [
        "identical",
        "same-weights",
        "related",
        "independent",
        "inconclusive",
        "error",
    ];
    let _ = writeln!(o, "## Confusion matrix (rows: truth, columns: verdict)\n");
    let _ = writeln!(o, "| truth \\ verdict | {} |", verdicts.join(" | "));
    let _ = writeln!(o, "|---|{}", "---|".repeat(verdicts.len()));
    for (t, row) in &s.confusion {
        let cells: Vec<String> = verdicts
            .iter()
            .map(|v| row.get(*v).copied().unwrap_or(0).to_string())
            .collect();
        let _ = writeln!(o, "| {t} | {} |", cells.join(" | "));
    }
}
