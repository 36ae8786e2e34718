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
//! coordinates); a permuted or rotated context model simply never fits. Values are read on at
//! most [`SAMPLE_VALUES`] fixed positions per block matrix (evenly spaced rows, the same for
//! every model of that shape), so a context model costs a few tens of MB at 7B.
//!
//! Weak: a model *trained after* a merge is no combination of anything, so a fine-tune of a
//! merge is not named a merge against its own relatives (it shows as a fine-tune); a merge of
//! three or more models (task arithmetic on a base) is not searched; and a model trained
//! after the merge that a pair's other side descends from is not told apart from the merge's
//! ancestors, so `merge` is named for every related partner of a merge that is not a copy of
//! it (the zoo has no such model).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use taoke_anatomy::{Param, Role};
use taoke_dtype::Dtype;
use taoke_model::Checkpoint;

use crate::view::{Key, ModelView};

/// Most values read per block matrix of a context model.
pub const SAMPLE_VALUES: usize = 65_536;

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
/// An f32 merge leaves ~1e-6, a bf16 copy of it ~0.02, Q8_0 ~0.05; training ~0.7 or more.
const RESIDUAL: f64 = 0.1;

/// Least median share of bit-identical weights (changed matrices) for a sparse relation, as in
/// the pairwise rule ([`crate::kinds::SPARSE_UNCHANGED`]).
const SPARSE: f64 = crate::kinds::SPARSE_UNCHANGED;

/// Fixed-position samples of a model's block matrices.
struct Samples {
    blocks: u32,
    /// Block matrix → (values, storage type).
    mats: BTreeMap<Key, (Vec<f32>, Dtype)>,
    /// Smallest precision tolerance of its matrices' storage (lower = more precise).
    precision: f64,
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
    models: Vec<(String, &'c Checkpoint)>,
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

/// What [`merge_finding`] found: the model is a merge of `parents`.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeFinding {
    /// `linear` (linear or spherical interpolation) or `sparse` (TIES/DARE-like).
    pub method: &'static str,
    /// Labels of the two parents found (context labels).
    pub parents: [String; 2],
    /// Linear: the median coefficients of the parents; sparse: the median share of weights
    /// bit-identical to each parent.
    pub weights: [f64; 2],
    /// Linear: residual relative to the distance to the nearer parent; sparse: the share of
    /// weights the two parents hold bit-identical to each other.
    pub residual: f64,
}

impl<'c> Context<'c> {
    /// A context of labelled checkpoints (labels are shown in reports).
    pub fn new(models: Vec<(String, &'c Checkpoint)>) -> Context<'c> {
        Context {
            models,
            samples: Mutex::new(HashMap::new()),
            pairs: Mutex::new(HashMap::new()),
            findings: Mutex::new(HashMap::new()),
        }
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
            .find(|(_, c)| c.path == ck.path)
            .map(|(l, _)| l.as_str())
    }

    fn samples(&self, key: &str, ck: &Checkpoint) -> Option<Arc<Samples>> {
        if let Some(s) = self.samples.lock().expect("lock").get(key) {
            return s.clone();
        }
        let s = read_samples(ck).map(Arc::new);
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
    let extra: Vec<&(String, &Checkpoint)> = extra
        .iter()
        .filter(|(_, c)| ctx.label_of(c).is_none() && c.path != ck.path)
        .collect();
    if in_ctx && extra.is_empty() {
        if let Some(f) = ctx.findings.lock().expect("lock").get(&self_key) {
            return f.clone();
        }
    }
    let f = find(ctx, ck, &extra);
    if in_ctx && extra.is_empty() {
        ctx.findings
            .lock()
            .expect("lock")
            .insert(self_key, f.clone());
    }
    f
}

fn key_of(ck: &Checkpoint) -> String {
    ck.path.to_string_lossy().into_owned()
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
    ck: &Checkpoint,
    extra: &[&(String, &Checkpoint)],
) -> Option<MergeFinding> {
    let xk = key_of(ck);
    let x = ctx.samples(&xk, ck)?;
    let keys: Vec<&Key> = x.mats.keys().collect();
    let xx: Vec<f64> = x.mats.values().map(|(v, _)| dot(v, v)).collect();
    let x_norm2: f64 = xx.iter().sum();
    if keys.len() < 3 || x_norm2 <= 0.0 {
        return None;
    }
    let mut cands: Vec<Cand> = Vec::new();
    let all = ctx
        .models
        .iter()
        .map(|(l, c)| (l.clone(), *c))
        .chain(extra.iter().map(|(l, c)| (l.clone(), *c)));
    for (label, c) in all {
        let yk = key_of(c);
        if yk == xk {
            continue;
        }
        let Some(y) = ctx.samples(&yk, c) else {
            continue;
        };
        if !comparable(&x, &y) {
            continue;
        }
        let Some(p) = ctx.pair(&xk, &x, &yk, &y) else {
            continue;
        };
        let yy: Vec<f64> = keys
            .iter()
            .map(|k| dot(&y.mats[*k].0, &y.mats[*k].0))
            .collect();
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
                    let (a, b) = (&k.s.mats[*key].0, &c.s.mats[*key].0);
                    let (aa, bb) = (dot(a, a), dot(b, b));
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
                let (yp, yq) = (&p.s.mats[*key].0, &q.s.mats[*key].0);
                let (g11, g22, g12) = (dot(yp, yp), dot(yq, yq), pq.dot[k]);
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
                crate::verdict::median(c1s.clone()),
                crate::verdict::median(c2s.clone()),
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
                    method: "linear",
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
        (sparse >= 3 && 4 * sparse >= moved.len()).then(|| crate::verdict::median(moved))
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
            let between_share = crate::verdict::median(between.clone());
            if between.is_empty() || share(&pq.unchanged).is_some() {
                continue;
            }
            let score = sp.min(sq);
            if best
                .as_ref()
                .is_none_or(|b| score > b.weights[0].min(b.weights[1]))
            {
                best = Some(MergeFinding {
                    method: "sparse",
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
    for (k, (xv, xd)) in &x.mats {
        let (yv, yd) = &y.mats[k];
        dotv.push(dot(xv, yv));
        unchanged.push(crate::triage::unchanged_fraction(xv, yv, (*xd, *yd)).unwrap_or(1.0));
    }
    Some(PairStats {
        dot: dotv,
        unchanged,
    })
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
}

/// Reads the fixed-position samples of a model's block matrices (attention and MLP weights;
/// norm gains and unknown tensors are left out). `None` when it has fewer than three.
fn read_samples(ck: &Checkpoint) -> Option<Samples> {
    let v = ModelView::new(ck);
    let mut mats = BTreeMap::new();
    let mut precision = 0f64;
    for (k, &i) in &v.by_key {
        let (Some(_), None, role, Param::Weight) = *k else {
            continue;
        };
        if role.is_norm() || role == Role::Unknown {
            continue;
        }
        let t = &ck.tensors[i];
        if t.shape.len() != 2 {
            continue;
        }
        let rows = v.canonical_rows(i);
        let n = t.n_elements() as usize;
        if rows == 0 || n == 0 || !n.is_multiple_of(rows) {
            continue;
        }
        let cols = n / rows;
        let m = if n <= SAMPLE_VALUES {
            v.matrix(i)
        } else {
            let take = (SAMPLE_VALUES / cols).clamp(1, rows);
            let idx: Vec<usize> = (0..take).map(|r| r * rows / take).collect();
            v.matrix_rows(i, &idx)
        };
        let Ok(m) = m else { continue };
        precision = precision.max(crate::triage::precision_tolerance(t.dtype));
        mats.insert(*k, (m.data, t.dtype));
    }
    (mats.len() >= 3).then(|| Samples {
        blocks: v.n_blocks(),
        mats,
        precision,
    })
}

/// Adds what the context shows to a comparison of `a` and `b`: for a related pair, `merge`
/// among the kinds when either side is a merge (the merge step lies on the path between the
/// two unless one is a copy of the other, which `related` excludes), a `merge-fit` evidence
/// row per merged side, and the direction when the other side is one of the merge's parents.
/// [`crate::compare_with`] is [`crate::compare`] followed by this.
pub fn apply(c: &mut crate::report::Comparison, a: &Checkpoint, b: &Checkpoint, ctx: &Context<'_>) {
    use crate::report::{Direction, Evidence, Kind, Verdict};
    if c.verdict != Verdict::Related || ctx.is_empty() {
        return;
    }
    let label = |ck: &Checkpoint| {
        ctx.label_of(ck)
            .map(str::to_owned)
            .unwrap_or_else(|| ck.reference.clone())
    };
    let (la, lb) = (label(a), label(b));
    let fa = merge_finding(ctx, a, &[(lb.clone(), b)]);
    let fb = merge_finding(ctx, b, &[(la.clone(), a)]);
    for (side, f, other) in [("A", &fa, &lb), ("B", &fb, &la)] {
        let Some(f) = f else { continue };
        let summary = match f.method {
            "linear" => format!(
                "{side} = {:.2}·{} + {:.2}·{} in every block matrix up to a residual of {:.1e} \
                 of its distance to the nearer one: a linear or spherical merge of the two",
                f.weights[0], f.parents[0], f.weights[1], f.parents[1], f.residual
            ),
            _ => format!(
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
        c.evidence.push(Evidence {
            test: "merge-fit".into(),
            scope: side.to_owned(),
            statistic: f.residual,
            p_value: None,
            log10_p_value: None,
            summary,
        });
        if !c.kinds.contains(&Kind::Merge) {
            c.kinds.push(Kind::Merge);
            c.kinds.sort();
            // The decisive sentence ends with the kinds ("; how: …"): name the merge there.
            if let Some(pos) = c.decisive.rfind("; how: ") {
                c.decisive.truncate(pos);
            }
            let kinds: Vec<&str> = c.kinds.iter().map(|k| k.as_str()).collect();
            c.decisive.push_str(&format!(
                "; how: {}; {side} is a {} merge of {} and {}",
                kinds.join(", "),
                if f.method == "linear" {
                    "linear or spherical"
                } else {
                    "sparse (TIES/DARE)"
                },
                f.parents[0],
                f.parents[1]
            ));
        }
        if c.direction == Direction::Unknown && f.parents.contains(other) {
            c.direction = if side == "A" {
                Direction::AFromB
            } else {
                Direction::BFromA
            };
        }
    }
}
