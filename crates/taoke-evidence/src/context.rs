//! Third models: merges named from the models around a pair.
//!
//! A merge leaves no trace between two models that a fine-tune would not leave too: a linear
//! or spherical merge of two fine-tunes moves every weight of either parent, like training.
//! What gives it away is a third model. Given *context* models (other checkpoints the user
//! holds: candidates for the other parent, the common base), [`merge_finding`] asks of one
//! model whether it is
//!
//! - a **linear or spherical merge** of two context models: in every block matrix it is
//!   `c₁·Y₁ + c₂·Y₂` with both coefficients positive (an interpolation, not an extrapolation)
//!   up to a residual far below its distance to either parent. Training leaves a residual of
//!   the order of that distance; of three models in an exact linear relation only the merge
//!   is a positive combination of the other two (a parent is `2·M − Y₂`); or
//! - a **sparse merge** (TIES, DARE): a large share of its changed weights bit-identical to
//!   each of two context models that share none with each other (a TIES merge keeps about
//!   half of every matrix at the base and a fifth at each parent; training moves every weight,
//!   and of the three models only the merge shares exact values with both others).
//!
//! Models are compared in place (same depth, same canonical tensors and shapes, same residual
//! coordinates); a permuted or rotated context model simply never fits. Values are read at
//! the fixed seeded positions of [`sample_positions`] (at most [`PER_MATRIX`] per attention
//! and MLP matrix, from a few rows, the same for every model of that shape) — the positions
//! `taoke fingerprint` keeps since `anchored-units/3`, so registry entries serve as context
//! without their weights ([`SampleSet`], [`merge_finding_samples`]).
//!
//! Weak: a model *trained after* a merge is no combination of anything, so it is not itself
//! named a merge; and a pair of a merge and such a descendant still gets `merge` (nothing
//! tells a descendant from the merge's ancestors and relatives, whose paths do cross the merge
//! step; the zoo has no such model). Merges of three or more models (task arithmetic on a
//! base) are not searched.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use taoke_anatomy::{Param, Role};
use taoke_model::Checkpoint;

use crate::view::{Key, ModelView};

/// Most sampled values per block matrix.
pub const PER_MATRIX: usize = 1024;
/// Rows a matrix's samples are drawn from (at least; more when rows are short), so that only
/// those rows are read.
pub const SAMPLE_ROWS: usize = 8;
/// The block matrices sampled.
pub const ROLES: [Role; 7] = [
    Role::AttnQ,
    Role::AttnK,
    Role::AttnV,
    Role::AttnO,
    Role::MlpGate,
    Role::MlpUp,
    Role::MlpDown,
];

/// Most relative distance (`‖X − Y‖ / ‖X‖`, block matrices) of a candidate parent: merges of
/// relatives sit within a few tenths of them; independent models and disguised copies
/// (permuted, rotated: not comparable in place) sit at order 1.
const NEAR: f64 = 0.5;

/// Candidates closer than this to one another (relative) count as one model (copies in
/// other element types or containers); the most precise copy is kept.
const SAME: f64 = 0.01;

/// Least relative distance between a model and a parent: below it the two are copies.
const COPY: f64 = 1e-3;

/// Largest residual of a linear merge, relative to the model's distance to the nearer parent.
/// The zoo's f32 linear and spherical merges leave 5e-7 (the `merge-fit` statistic); a bf16
/// copy stays below 0.05 (`tests/sparse_update.rs`); no trained model of the zoo fits.
const RESIDUAL: f64 = 0.1;

/// Least median share of bit-identical weights (changed matrices) for a sparse relation, as in
/// the pairwise rule ([`crate::kinds::SPARSE_UNCHANGED`]).
const SPARSE: f64 = crate::kinds::SPARSE_UNCHANGED;

/// Fixed-position samples of a model's block matrices.
struct Samples {
    blocks: u32,
    /// Block matrix → (values, mantissa bits of the storage; `None` when quantized).
    mats: BTreeMap<Key, (Vec<f32>, Option<i32>)>,
    /// Block matrix → squared norm of its values (computed once: every fit needs them).
    sq: BTreeMap<Key, f64>,
    /// Coarsest storage step of its matrices (lower = more precise).
    precision: f64,
}

/// Sampled values of a model's block matrices at [`sample_positions`], from a checkpoint or
/// from elsewhere (a fingerprint's weight samples).
#[derive(Clone)]
pub struct SampleSet(Arc<Samples>);

impl std::fmt::Debug for SampleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SampleSet")
            .field("blocks", &self.0.blocks)
            .field("matrices", &self.0.mats.len())
            .finish()
    }
}

impl SampleSet {
    /// A model of `blocks` blocks and its sampled matrices: `(block, role, values at
    /// sample_positions(rows, cols, block, role), mantissa bits of the storage or None)`.
    /// `None` with fewer than three matrices.
    pub fn new(blocks: u32, mats: Vec<(u32, Role, Vec<f32>, Option<i32>)>) -> Option<SampleSet> {
        let mut map = BTreeMap::new();
        let mut precision = 0f64;
        for (b, role, values, bits) in mats {
            precision = precision.max(bits.map_or(1.0, |m| 2f64.powi(-m)));
            map.insert((Some(b), None, role, Param::Weight), (values, bits));
        }
        let sq = map.iter().map(|(k, (v, _))| (*k, dot(v, v))).collect();
        (map.len() >= 3).then(|| {
            SampleSet(Arc::new(Samples {
                blocks,
                mats: map,
                sq,
                precision,
            }))
        })
    }

    /// Reads a checkpoint's samples (only the sampled rows).
    pub fn read(ck: &Checkpoint) -> Option<SampleSet> {
        read_samples(ck).map(SampleSet)
    }
}

/// One model of a context.
enum Entry<'c> {
    Checkpoint(&'c Checkpoint),
    Samples(SampleSet),
}

/// Pairwise statistics of two models' samples, per shared key.
#[derive(Clone)]
struct PairStats {
    /// `⟨x, y⟩` per key, in the first model's key order.
    dot: Vec<f64>,
    /// Share of bit-identical weights per moved key (resolution-aware), as in the pairwise
    /// sparse-update rule.
    unchanged: Vec<f64>,
}

/// Models around a pair, with what has been read from them (shared across comparisons).
pub struct Context<'c> {
    models: Vec<(String, Entry<'c>)>,
    samples: Mutex<HashMap<String, Option<Arc<Samples>>>>,
    pairs: Mutex<HashMap<(String, String), Option<PairStats>>>,
    findings: Mutex<HashMap<String, Option<MergeFinding>>>,
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field(
                "models",
                &self.models.iter().map(|m| &m.0).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// How a merge combined its parents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MergeMethod {
    /// Linear or spherical interpolation: a positive combination of the parents.
    Linear,
    /// TIES/DARE-like: each weight from the base or one parent.
    Sparse,
}

impl MergeMethod {
    /// The wire name (`linear`, `sparse`).
    pub fn as_str(self) -> &'static str {
        match self {
            MergeMethod::Linear => "linear",
            MergeMethod::Sparse => "sparse",
        }
    }
}

/// What [`merge_finding`] found: the model is a merge of `parents`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MergeFinding {
    /// `linear` (linear or spherical interpolation) or `sparse` (TIES/DARE-like).
    pub method: MergeMethod,
    /// Labels of the two parents found (context labels).
    pub parents: [String; 2],
    /// Linear: the median coefficients of the parents; sparse: the median share of weights
    /// bit-identical to each parent.
    pub weights: [f64; 2],
    /// Linear: residual relative to the distance to the nearer parent; sparse: the share of
    /// weights the two parents hold bit-identical to each other.
    pub residual: f64,
}

impl MergeFinding {
    /// In words: "a linear or spherical merge of X and Y" (or "a sparse (TIES/DARE) merge").
    pub fn describe(&self) -> String {
        format!(
            "a {} merge of {} and {}",
            if self.method == MergeMethod::Linear {
                "linear or spherical"
            } else {
                "sparse (TIES/DARE)"
            },
            self.parents[0],
            self.parents[1]
        )
    }
}

impl<'c> Context<'c> {
    /// A context of labelled checkpoints (labels are shown in reports).
    pub fn new(models: Vec<(String, &'c Checkpoint)>) -> Context<'c> {
        Context {
            models: models
                .into_iter()
                .map(|(l, c)| (l, Entry::Checkpoint(c)))
                .collect(),
            samples: Mutex::new(HashMap::new()),
            pairs: Mutex::new(HashMap::new()),
            findings: Mutex::new(HashMap::new()),
        }
    }

    /// Adds a model known by its samples only (e.g. a registry entry).
    pub fn push_samples(&mut self, label: String, set: SampleSet) {
        self.models.push((label, Entry::Samples(set)));
    }

    /// No models.
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// Number of models.
    pub fn len(&self) -> usize {
        self.models.len()
    }

    fn label_of(&self, ck: &Checkpoint) -> Option<&str> {
        self.models
            .iter()
            .find(|(_, e)| matches!(e, Entry::Checkpoint(c) if c.path == ck.path))
            .map(|(l, _)| l.as_str())
    }

    fn samples(&self, key: &str, ck: &Checkpoint) -> Option<Arc<Samples>> {
        if let Some(s) = self.samples.lock().expect("lock").get(key) {
            return s.clone();
        }
        let s = read_samples(ck);
        self.samples
            .lock()
            .expect("lock")
            .insert(key.to_owned(), s.clone());
        s
    }

    fn pair(&self, kx: &str, x: &Samples, ky: &str, y: &Samples) -> Option<PairStats> {
        let k = (kx.to_owned(), ky.to_owned());
        if let Some(p) = self.pairs.lock().expect("lock").get(&k) {
            return p.clone();
        }
        let p = pair_stats(x, y);
        self.pairs.lock().expect("lock").insert(k, p.clone());
        p
    }
}

/// Whether `ck` is a merge of two other models among `ctx` and `extra` (the other side of a
/// pair, by label). Results for models of the context are remembered.
pub fn merge_finding(
    ctx: &Context<'_>,
    ck: &Checkpoint,
    extra: &[(String, &Checkpoint)],
) -> Option<MergeFinding> {
    let self_key = key_of(ck);
    let in_ctx = ctx.label_of(ck).is_some();
    let extra: Vec<(String, String, Arc<Samples>)> = extra
        .iter()
        .filter(|(_, c)| ctx.label_of(c).is_none() && c.path != ck.path)
        .filter_map(|(l, c)| {
            let k = key_of(c);
            ctx.samples(&k, c).map(|s| (l.clone(), k, s))
        })
        .collect();
    let memo = in_ctx && extra.is_empty();
    if memo {
        if let Some(f) = ctx.findings.lock().expect("lock").get(&self_key) {
            return f.clone();
        }
    }
    let f = ctx
        .samples(&self_key, ck)
        .and_then(|x| find(ctx, &x, &self_key, &extra));
    if memo {
        ctx.findings
            .lock()
            .expect("lock")
            .insert(self_key, f.clone());
    }
    f
}

/// Whether the model sampled in `x` is a merge of two models of `ctx`. `key` names `x` for
/// the context's caches (distinct from every context label).
pub fn merge_finding_samples(ctx: &Context<'_>, x: &SampleSet, key: &str) -> Option<MergeFinding> {
    find(ctx, &x.0, &format!("query:{key}"), &[])
}

fn key_of(ck: &Checkpoint) -> String {
    format!("path:{}", ck.path.to_string_lossy())
}

struct Cand {
    label: String,
    key: String,
    s: Arc<Samples>,
    /// Per key: ⟨x, y⟩.
    dot: Vec<f64>,
    /// Per key: share unchanged against x.
    unchanged: Vec<f64>,
    /// ‖x − y‖² per key.
    d2: Vec<f64>,
}

fn find(
    ctx: &Context<'_>,
    x: &Arc<Samples>,
    xk: &str,
    extra: &[(String, String, Arc<Samples>)],
) -> Option<MergeFinding> {
    let keys: Vec<&Key> = x.mats.keys().collect();
    let xx: Vec<f64> = x.sq.values().copied().collect();
    let x_norm2: f64 = xx.iter().sum();
    if keys.len() < 3 || x_norm2 <= 0.0 {
        return None;
    }
    let mut cands: Vec<Cand> = Vec::new();
    let from_ctx = ctx.models.iter().filter_map(|(l, e)| match e {
        Entry::Checkpoint(c) => {
            let k = key_of(c);
            ctx.samples(&k, c).map(|s| (l.clone(), k, s))
        }
        Entry::Samples(set) => Some((l.clone(), format!("samples:{l}"), set.0.clone())),
    });
    let all: Vec<(String, String, Arc<Samples>)> = from_ctx.chain(extra.iter().cloned()).collect();
    for (label, yk, y) in all {
        if yk == xk || Arc::ptr_eq(&y, x) || !comparable(x, &y) {
            continue;
        }
        let Some(p) = ctx.pair(xk, x, &yk, &y) else {
            continue;
        };
        let yy: Vec<f64> = keys.iter().map(|k| y.sq[*k]).collect();
        let d2: Vec<f64> = (0..keys.len())
            .map(|i| (xx[i] + yy[i] - 2.0 * p.dot[i]).max(0.0))
            .collect();
        let rel = (d2.iter().sum::<f64>() / x_norm2).sqrt();
        if !(COPY..NEAR).contains(&rel) {
            continue;
        }
        cands.push(Cand {
            label,
            key: yk,
            s: y,
            dot: p.dot,
            unchanged: p.unchanged,
            d2,
        });
    }
    // One candidate per group of copies: the most precise storage first, then the label.
    cands.sort_by(|a, b| {
        a.s.precision
            .total_cmp(&b.s.precision)
            .then_with(|| a.label.cmp(&b.label))
    });
    let mut kept: Vec<Cand> = Vec::new();
    for c in cands {
        let dup = kept.iter().any(|k| {
            ctx.pair(&k.key, &k.s, &c.key, &c.s).is_some_and(|p| {
                let (mut d, mut n) = (0.0, 0.0);
                for (i, key) in keys.iter().enumerate() {
                    let (aa, bb) = (k.s.sq[*key], c.s.sq[*key]);
                    d += (aa + bb - 2.0 * p.dot[i]).max(0.0);
                    n += aa;
                }
                n > 0.0 && (d / n).sqrt() < SAME
            })
        });
        if !dup {
            kept.push(c);
        }
    }
    linear(ctx, &keys, &xx, &kept).or_else(|| sparse(ctx, &kept))
}

/// The best positive two-parent combination, if its residual is small.
fn linear(ctx: &Context<'_>, keys: &[&Key], xx: &[f64], kept: &[Cand]) -> Option<MergeFinding> {
    let mut best: Option<MergeFinding> = None;
    for i in 0..kept.len() {
        for j in i + 1..kept.len() {
            let (p, q) = (&kept[i], &kept[j]);
            let Some(pq) = ctx.pair(&p.key, &p.s, &q.key, &q.s) else {
                continue;
            };
            let (mut res2, mut c1s, mut c2s) = (0.0, Vec::new(), Vec::new());
            let mut ok = true;
            for (k, key) in keys.iter().enumerate() {
                let (g11, g22, g12) = (p.s.sq[*key], q.s.sq[*key], pq.dot[k]);
                let (b1, b2) = (p.dot[k], q.dot[k]);
                let det = g11 * g22 - g12 * g12;
                if det <= 1e-12 * g11 * g22 {
                    ok = false;
                    break;
                }
                let c1 = (b1 * g22 - b2 * g12) / det;
                let c2 = (b2 * g11 - b1 * g12) / det;
                res2 += (xx[k] - c1 * b1 - c2 * b2).max(0.0);
                c1s.push(c1);
                c2s.push(c2);
            }
            if !ok {
                continue;
            }
            let den2 = p.d2.iter().sum::<f64>().min(q.d2.iter().sum::<f64>());
            let ratio = (res2 / den2.max(f64::MIN_POSITIVE)).sqrt();
            let (c1, c2) = (
                taoke_stats::median(c1s.clone()),
                taoke_stats::median(c2s.clone()),
            );
            // An interpolation: both parents weigh in and neither is extrapolated away from
            // (a spherical merge's coefficients sum a little above 1), in nine matrices of ten
            // at least (where the parents barely differ the split is ill-determined).
            let inside = c1s
                .iter()
                .zip(&c2s)
                .filter(|(&a, &b)| (0.0..=1.05).contains(&a) && (0.0..=1.05).contains(&b))
                .count();
            let positive = (0.05..=1.0).contains(&c1)
                && (0.05..=1.0).contains(&c2)
                && 10 * inside >= 9 * c1s.len();
            let sum = c1 + c2;
            if ratio < RESIDUAL
                && positive
                && (0.9..=1.5).contains(&sum)
                && best.as_ref().is_none_or(|b| ratio < b.residual)
            {
                best = Some(MergeFinding {
                    method: MergeMethod::Linear,
                    parents: [p.label.clone(), q.label.clone()],
                    weights: [c1, c2],
                    residual: ratio,
                });
            }
        }
    }
    best
}

/// Two parents that each hold a large share of the model's weights bit-identical while
/// sharing none with each other.
fn sparse(ctx: &Context<'_>, kept: &[Cand]) -> Option<MergeFinding> {
    let share = |u: &[f64]| -> Option<f64> {
        let moved: Vec<f64> = u.iter().copied().filter(|&v| v < 0.99).collect();
        let sparse = moved.iter().filter(|&&v| v >= SPARSE).count();
        (sparse >= 3 && 4 * sparse >= moved.len()).then(|| taoke_stats::median(moved))
    };
    let partners: Vec<(&Cand, f64)> = kept
        .iter()
        .filter_map(|c| share(&c.unchanged).map(|s| (c, s)))
        .collect();
    let mut best: Option<MergeFinding> = None;
    for i in 0..partners.len() {
        for j in i + 1..partners.len() {
            let ((p, sp), (q, sq)) = (partners[i], partners[j]);
            let Some(pq) = ctx.pair(&p.key, &p.s, &q.key, &q.s) else {
                continue;
            };
            let between: Vec<f64> = pq.unchanged.iter().copied().filter(|&v| v < 0.99).collect();
            let between_share = taoke_stats::median(between.clone());
            if between.is_empty() || share(&pq.unchanged).is_some() {
                continue;
            }
            let score = sp.min(sq);
            if best
                .as_ref()
                .is_none_or(|b| score > b.weights[0].min(b.weights[1]))
            {
                best = Some(MergeFinding {
                    method: MergeMethod::Sparse,
                    parents: [p.label.clone(), q.label.clone()],
                    weights: [sp, sq],
                    residual: between_share,
                });
            }
        }
    }
    best
}

fn comparable(x: &Samples, y: &Samples) -> bool {
    x.blocks == y.blocks
        && x.mats.len() == y.mats.len()
        && x.mats
            .iter()
            .all(|(k, (v, _))| y.mats.get(k).is_some_and(|(w, _)| w.len() == v.len()))
}

fn pair_stats(x: &Samples, y: &Samples) -> Option<PairStats> {
    if !comparable(x, y) {
        return None;
    }
    let mut dotv = Vec::with_capacity(x.mats.len());
    let mut unchanged = Vec::with_capacity(x.mats.len());
    for (k, (xv, xb)) in &x.mats {
        let (yv, yb) = &y.mats[k];
        dotv.push(dot(xv, yv));
        let u = match (xb, yb) {
            (Some(p), Some(q)) => crate::triage::unchanged_fraction_bits(xv, yv, (*p, *q)),
            _ => None,
        };
        unchanged.push(u.unwrap_or(1.0));
    }
    Some(PairStats {
        dot: dotv,
        unchanged,
    })
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
}

/// Reads a model's samples at [`sample_positions`] (the [`ROLES`] matrices of every block;
/// quantized storage keeps its decoded values without bits). `None` below three matrices.
fn read_samples(ck: &Checkpoint) -> Option<Arc<Samples>> {
    let v = ModelView::new(ck);
    let mut mats = Vec::new();
    for b in 0..v.n_blocks() {
        for role in ROLES {
            let Some(i) = v.index(Some(b), role, Param::Weight) else {
                continue;
            };
            if let Ok(Some((values, _, _))) = read_matrix_samples(&v, i, b, role) {
                if !values.is_empty() {
                    let bits = crate::triage::mantissa_bits(ck.tensors[i].dtype);
                    mats.push((b, role, values, bits));
                }
            }
        }
    }
    SampleSet::new(v.n_blocks(), mats).map(|s| s.0)
}

/// The values of tensor `i` of `v` (the `role` matrix of `block`) at the
/// [`sample_positions`] of its canonical shape, with that shape `(values, rows, cols)`; only
/// the sampled rows are decoded where the storage allows. `Ok(None)` when it is no 2-D matrix
/// of whole rows.
pub fn read_matrix_samples(
    v: &ModelView<'_>,
    i: usize,
    block: u32,
    role: Role,
) -> crate::Result<Option<(Vec<f32>, usize, usize)>> {
    let t = &v.ck.tensors[i];
    let rows = v.canonical_rows(i);
    let n = t.n_elements() as usize;
    if t.shape.len() != 2 || rows == 0 || !n.is_multiple_of(rows) {
        return Ok(None);
    }
    let cols = n / rows;
    let pos = sample_positions(rows, cols, block, role.as_str());
    let which: Vec<usize> = pos.iter().map(|p| p.0).collect();
    let m = v.matrix_rows(i, &which)?;
    if m.cols != cols {
        return Ok(None);
    }
    let values = pos
        .iter()
        .enumerate()
        .flat_map(|(k, (_, cs))| cs.iter().map(move |&c| (k, c)))
        .map(|(k, c)| m.get(k, c))
        .collect();
    Ok(Some((values, rows, cols)))
}

/// The first SplitMix64 output for seed `z`: a seeded hash of `z`.
fn splitmix(z: u64) -> u64 {
    taoke_stats::rng::splitmix64_mix(z.wrapping_add(taoke_stats::rng::SPLITMIX64_GAMMA))
}

/// The `k` of `0..n` with the smallest seeded hashes, ascending.
fn bottom_k(n: usize, k: usize, seed: u64) -> Vec<usize> {
    if k >= n {
        return (0..n).collect();
    }
    let mut h: Vec<(u64, usize)> = (0..n)
        .map(|i| {
            (
                splitmix(seed ^ (i as u64).wrapping_mul(0xa076_1d64_78bd_642f)),
                i,
            )
        })
        .collect();
    h.select_nth_unstable(k - 1);
    let mut out: Vec<usize> = h[..k].iter().map(|x| x.1).collect();
    out.sort_unstable();
    out
}

/// Sampled positions of a canonical `rows × cols` matrix of `role` (its
/// [`Role::as_str`]) in `block`: (row, columns) pairs, rows ascending. At least
/// [`SAMPLE_ROWS`] rows (all of them when fewer), at most [`PER_MATRIX`] values in all. A
/// function of the shape, role and block only, so two models of one shape sample the same
/// weights (`taoke fingerprint` keeps these values since `anchored-units/3`).
pub fn sample_positions(
    rows: usize,
    cols: usize,
    block: u32,
    role: &str,
) -> Vec<(usize, Vec<usize>)> {
    if rows == 0 || cols == 0 {
        return Vec::new();
    }
    let seed =
        taoke_stats::hash::fnv1a(format!("taoke-samples/{block}/{role}/{rows}x{cols}").as_bytes());
    let n_rows = rows.min(SAMPLE_ROWS.max(PER_MATRIX.div_ceil(cols)));
    let per_row = cols.min(PER_MATRIX / n_rows).max(1);
    bottom_k(rows, n_rows, seed)
        .into_iter()
        .map(|r| (r, bottom_k(cols, per_row, splitmix(seed ^ r as u64))))
        .collect()
}

/// A merge found for one side of a pair ([`merge_findings`]).
#[derive(Debug, Clone)]
pub struct SideMerge {
    /// Which side is the merge.
    pub side: crate::report::Side,
    /// What was found.
    pub finding: MergeFinding,
    /// The other side of the pair is one of the parents.
    pub other_is_parent: bool,
}

/// The merges among the two sides of a pair: for A then B, whether it is a merge of two
/// models of `ctx` or of a context model and the other side (labelled by its context label,
/// else its reference).
pub fn merge_findings(a: &Checkpoint, b: &Checkpoint, ctx: &Context<'_>) -> Vec<SideMerge> {
    use crate::report::Side;
    let label = |ck: &Checkpoint| {
        ctx.label_of(ck)
            .map(str::to_owned)
            .unwrap_or_else(|| ck.reference.clone())
    };
    let (la, lb) = (label(a), label(b));
    let fa = merge_finding(ctx, a, &[(lb.clone(), b)]);
    let fb = merge_finding(ctx, b, &[(la.clone(), a)]);
    [(Side::A, fa, lb), (Side::B, fb, la)]
        .into_iter()
        .filter_map(|(side, f, other)| {
            f.map(|finding| SideMerge {
                side,
                other_is_parent: finding.parents.contains(&other),
                finding,
            })
        })
        .collect()
}
