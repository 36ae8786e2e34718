//! The comparison pipeline: views → role recovery by content → triage → vocabulary anchoring
//! and residual alignment → exact unit-matching tests per block pair → layer map → invariant
//! products → verdict, kinds, direction, components.

use taoke_anatomy::{ContentOptions, Param, Role, TensorSource};
use taoke_model::Checkpoint;
use taoke_stats::rng::SplitMix64;
use taoke_stats::Matrix;

use crate::align::{self, Transform};
use crate::report::*;
use crate::triage::{self, PairDelta};
use crate::units;
use crate::verdict;
use crate::view::{descs, ModelView};
use crate::{Error, Result};

/// Options of [`compare`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Significance level for `related` (family-wise, on the combined p-value).
    pub alpha: f64,
    /// Combined p-values at or above this call `independent` (when the tests had power).
    pub independent_above: f64,
    /// Most shared tokens used for alignment.
    pub max_tokens: usize,
    /// Most units per unit-matching test (a seeded subset above; the p-value stays exact).
    pub max_units: usize,
    /// Most block pairs tested (all pairs when `blocks_a × blocks_b` fits, else a band).
    pub max_block_pairs: usize,
    /// Seed for subsets and sketches.
    pub seed: u64,
    /// Models whose MLP matrices have more elements than this take the streaming path
    /// (sampled rows, unit subsets, diagonal-first, products on three blocks).
    pub large_above: u64,
    /// No sampling on large models: every unit in the unit tests (full assignments), every
    /// shared token, every row in the element-wise triage, every attention row in the CKA
    /// and products on every linked block. Memory grows with the model (a few GB at 7B) and
    /// time by one to two orders of magnitude; it exists to check that the sampled analysis
    /// reaches the same verdict. (The unit screening of permuted large models keeps its
    /// subsets, and transposed storage is still checked on block 0.)
    pub exhaustive: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            alpha: 1e-6,
            independent_above: 1e-2,
            max_tokens: 4096,
            max_units: 1024,
            max_block_pairs: 1024,
            seed: 0x0007_a06e,
            large_above: LARGE,
            exhaustive: false,
        }
    }
}

/// Tensors with more elements than this are "large": read by sampled rows rather than whole
/// (every zoo and test model stays below; 1B-and-up models are above). [`Options::large_above`].
pub const LARGE: u64 = 1 << 22;

/// On large models, matrices with more values than this are triaged on sampled rows.
const TRIAGE_SAMPLE_ABOVE: u64 = 1 << 18;

/// Most token-embedding values (shared tokens × width) read per side on large models.
const LARGE_EMBEDDING: usize = 1 << 23;

fn hidden(v: &ModelView<'_>) -> Option<usize> {
    v.anatomy
        .description
        .hidden
        .as_ref()
        .map(|h| h.value as usize)
}

/// Whether a model has large MLP matrices (then the streaming, sampled path is used).
fn is_large(v: &ModelView<'_>, above: u64) -> bool {
    v.by_key.iter().any(|(k, &i)| {
        matches!(k.2, Role::MlpUp | Role::ExpertUp) && v.ck.tensors[i].n_elements() > above
    })
}

/// Blocks whose invariant products are computed on large models: first, middle and last.
fn product_blocks(n: u32) -> Vec<u32> {
    let mut b = vec![0, n / 2, n.saturating_sub(1)];
    b.sort_unstable();
    b.dedup();
    b
}

struct Source<'a, 'b>(&'a ModelView<'b>);

impl TensorSource for Source<'_, '_> {
    fn read_f32(&self, index: usize) -> std::result::Result<Vec<f32>, taoke_anatomy::SourceError> {
        let t = &self.0.ck.tensors[index];
        self.0.ck.read_f32(t).map_err(|e| Box::new(e) as _)
    }
}

/// Assigns roles to B's anonymous tensors by content matching against A (and vice versa).
fn recover_roles<'x>(a: &mut ModelView<'x>, b: &mut ModelView<'x>) -> usize {
    let unknown = |v: &ModelView<'_>| -> Vec<usize> {
        v.anatomy
            .tensors
            .iter()
            .enumerate()
            .filter(|(_, t)| t.canonical.role == Role::Unknown && t.shape.len() == 2)
            .map(|(i, _)| i)
            .collect()
    };
    let mut n = 0;
    for flip in [false, true] {
        let (r, t) = if flip { (&*b, &*a) } else { (&*a, &*b) };
        let targets = unknown(t);
        if targets.is_empty() || unknown(r).len() >= targets.len() {
            continue;
        }
        let matches = taoke_anatomy::match_by_content(
            &descs(r.ck),
            &Source(r),
            &descs(t.ck),
            &Source(t),
            &targets,
            &ContentOptions::default(),
        );
        if let Ok(m) = matches {
            n += m.len();
            let reference = r.anatomy.clone();
            let t = if flip { &mut *a } else { &mut *b };
            t.anatomy.apply_content_matches(&reference, &m);
            t.reindex();
        }
    }
    n
}

/// Block tensors with at least this many elements are checked for transposed bytes in block
/// 0 only (a writer stores every block alike); smaller ones in every block.
const BLOCK0_ONLY: u64 = 1 << 16;

/// Finds tensors whose bytes hold the transpose of the declared shape (square or not), by
/// comparing with the other model's tensor at the same role.
fn detect_reinterpreted(a: &ModelView<'_>, b: &mut ModelView<'_>) {
    let keys: Vec<_> = b.by_key.iter().map(|(k, &i)| (*k, i)).collect();
    // Each tensor is decided on its own (read-only, in parallel); the findings are recorded
    // afterwards, in key order.
    use rayon::prelude::*;
    let bv: &ModelView<'_> = b;
    let found: Vec<usize> = keys
        .par_iter()
        .filter_map(|&(k, ib)| reinterpreted(a, bv, k, ib).then_some(ib))
        .collect();
    b.reinterpret.extend(found);
    for &(k, ib) in &keys {
        let t = &b.ck.tensors[ib];
        if t.n_elements() < BLOCK0_ONLY || k.0.is_none_or(|blk| blk == 0) {
            continue;
        }
        let first = b.by_key.get(&(Some(0), k.1, k.2, k.3)).copied();
        if let Some(i0) = first {
            if b.reinterpret.contains(&i0)
                && b.ck.tensors[i0].shape == t.shape
                && b.ck.tensors[i0].dtype == t.dtype
            {
                b.reinterpret.insert(ib);
            }
        }
    }
}

/// Whether tensor `ib` of B holds the transpose of its declared shape, judged against A's
/// tensor at the same key (see [`detect_reinterpreted`]).
fn reinterpreted(a: &ModelView<'_>, b: &ModelView<'_>, k: crate::view::Key, ib: usize) -> bool {
    let Some(&ia) = a.by_key.get(&k) else {
        return false;
    };
    let (ta, tb) = (&a.ck.tensors[ia], &b.ck.tensors[ib]);
    if ta.shape.len() != 2 || ta.n_elements() != tb.n_elements() || ta.n_elements() > 1 << 24 {
        return false;
    }
    // A writer stores every block alike: large tensors are checked in block 0 only, and
    // the finding is applied to the same role in the other blocks below.
    if ta.n_elements() >= BLOCK0_ONLY && k.0.is_some_and(|blk| blk > 0) {
        return false;
    }
    // Large tensors: a seeded row sample first; only when it does not already agree
    // (a related pair stored alike) are the whole matrices read to try the transpose.
    if ta.n_elements() > 1 << 22 && ta.shape == tb.shape {
        let n = a.canonical_rows(ia);
        if n == b.canonical_rows(ib) {
            let rows = SplitMix64::new(0x7e1 ^ n as u64).sample_sorted(n, 64);
            if let (Ok(x), Ok(y)) = (a.matrix_rows(ia, &rows), b.matrix_rows(ib, &rows)) {
                if x.data.len() == y.data.len() && crate::products::delta(&x.data, &y.data).r > 0.5
                {
                    return false;
                }
            }
        }
        // The rows disagree (permuted units, or unrelated weights). Bytes holding the
        // transpose of a declared shape come from formats that declare none (llama2.c
        // files, whose shapes the reader infers); in a self-describing format such a
        // tensor would not even run, so its large tensors are not re-read whole to try it.
        let shapeless = |v: &ModelView<'_>| v.ck.format == taoke_model::Format::Llama2c;
        if !shapeless(a) && !shapeless(b) {
            return false;
        }
    }
    let (Ok(ma), Ok(mb)) = (a.matrix(ia), b.matrix(ib)) else {
        return false;
    };
    if (ma.rows, ma.cols) != (mb.rows, mb.cols) {
        return false;
    }
    let direct = crate::products::delta(&ma.data, &mb.data).r;
    if direct > 0.5 {
        return false;
    }
    // Read again as if the bytes held the transpose (before any row reordering).
    let r = match b.matrix_as(ib, true) {
        Ok(alt) if alt.data.len() == ma.data.len() => crate::products::delta(&ma.data, &alt.data).r,
        _ => f64::NAN,
    };
    r > 0.9 && r > direct + 0.3
}

/// Shared tokens (id in A, id in B), by normalized string, excluding special and control
/// tokens; evenly thinned to at most `max`.
fn shared_tokens(a: &ModelView<'_>, b: &ModelView<'_>, max: usize) -> (Vec<(usize, usize)>, bool) {
    let (Some(va), Some(vb)) = (&a.vocab, &b.vocab) else {
        // No tokenizer on one side: assume the same ids when the embedding heights agree.
        let h = |v: &ModelView<'_>| {
            v.index(None, Role::TokenEmbedding, Param::Weight)
                .map(|i| v.ck.tensors[i].shape.first().copied().unwrap_or(0))
        };
        return match (h(a), h(b)) {
            (Some(x), Some(y)) if x == y && x > 0 => {
                let n = x as usize;
                let step = n.div_ceil(max).max(1);
                ((0..n).step_by(step).map(|i| (i, i)).collect(), true)
            }
            _ => (Vec::new(), false),
        };
    };
    let mut index = std::collections::HashMap::new();
    for (i, t) in vb.tokens.iter().enumerate() {
        if is_plain(t.kind) {
            index.entry(t.norm.as_str()).or_insert(i);
        }
    }
    let mut pairs: Vec<(usize, usize)> = va
        .tokens
        .iter()
        .enumerate()
        .filter(|(_, t)| is_plain(t.kind))
        .filter_map(|(i, t)| index.get(t.norm.as_str()).map(|&j| (i, j)))
        .collect();
    pairs.sort_unstable();
    pairs.dedup_by_key(|p| p.0);
    if pairs.len() > max {
        let step = pairs.len() as f64 / max as f64;
        pairs = (0..max)
            .map(|k| pairs[(k as f64 * step) as usize])
            .collect();
    }
    (pairs, false)
}

fn rows(m: &Matrix, idx: impl Iterator<Item = usize>) -> Option<Matrix> {
    let idx: Vec<usize> = idx.collect();
    if idx.iter().any(|&i| i >= m.rows) {
        return None;
    }
    m.view().select_rows(&idx).ok()
}

/// Product comparisons of one block pair: (block of A, block of B, per product).
pub(crate) type BlockProducts = (u32, u32, Vec<(&'static str, crate::products::ProductDelta)>);

/// Everything measured, handed to [`verdict::decide`].
pub(crate) struct Measurements {
    pub identical_files: bool,
    pub roles_recovered: usize,
    pub pairs: Vec<PairDelta>,
    pub tokens_shared: usize,
    pub tokens_assumed: bool,
    pub emb_test: Option<units::UnitTest>,
    pub emb_dims: (usize, usize),
    pub transform: Transform,
    pub fit: (f64, f64, f64),
    pub emb_delta: Option<crate::products::ProductDelta>,
    pub blocks: (u32, u32),
    /// ln p of the unit test for each tested block pair.
    pub block_tests: Vec<(u32, u32, units::UnitTest)>,
    /// MoE: for (block_a, block_b), Fisher ln p over B's (or A's) experts vs the dense MLP.
    pub expert_tests: Vec<(u32, u32, f64, usize)>,
    pub products: Vec<BlockProducts>,
    /// Vocabulary-anchored CKA of block pairs (block of A, block of B, values).
    pub block_cka: Vec<(u32, u32, crate::cka::BlockCka)>,
    pub tokenizer: Option<taoke_tokenizer::VocabComparison>,
    pub hidden_units: (Vec<usize>, Vec<usize>),
    /// Effective rank of the weight change (B − A) of a few matrices, as a fraction of the
    /// largest possible rank (same coordinates and depth only).
    pub delta_rank: Vec<f64>,
}

/// Compares two checkpoints with context models around them ([`crate::context`]): the
/// verdict, p-value and evidence of [`compare`], plus `merge` among the kinds (and a
/// `merge-fit` evidence row) when a side of a related pair is found to be a merge of two
/// other models of the context or of the context and the other side.
pub fn compare_with(
    a: &Checkpoint,
    b: &Checkpoint,
    opts: &Options,
    ctx: &crate::context::Context<'_>,
) -> Result<Comparison> {
    let mut c = compare(a, b, opts)?;
    if !ctx.is_empty() {
        crate::context::apply(&mut c, a, b, ctx);
    }
    Ok(c)
}

/// Compares two checkpoints.
pub fn compare<'c>(a: &'c Checkpoint, b: &'c Checkpoint, opts: &Options) -> Result<Comparison> {
    let mut va = ModelView::new(a);
    let mut vb = ModelView::new(b);
    let roles_recovered = recover_roles(&mut va, &mut vb);
    detect_reinterpreted(&va, &mut vb);
    detect_reinterpreted(&vb, &mut va);
    let identical_files = triage::files_identical(&va, &vb) || triage::tensors_identical(&va, &vb);
    if identical_files {
        // Nothing to measure: the same bytes.
        let m = Measurements {
            identical_files,
            roles_recovered,
            pairs: Vec::new(),
            tokens_shared: 0,
            tokens_assumed: false,
            emb_test: None,
            emb_dims: (0, 0),
            transform: Transform::Identity,
            fit: (0.0, 0.0, 0.0),
            emb_delta: None,
            blocks: (va.n_blocks(), vb.n_blocks()),
            block_tests: Vec::new(),
            expert_tests: Vec::new(),
            products: Vec::new(),
            block_cka: Vec::new(),
            tokenizer: None,
            hidden_units: (Vec::new(), Vec::new()),
            delta_rank: Vec::new(),
        };
        return Ok(verdict::decide(&va, &vb, &m, opts));
    }
    let pairs = if opts.exhaustive {
        triage::pair_deltas_sampled(&va, &vb, u64::MAX, u64::MAX)
    } else {
        // Large models: every matrix above 256 Ki values is read on sampled rows (not only
        // the large MLP ones); small models are read whole.
        let large = is_large(&va, opts.large_above) || is_large(&vb, opts.large_above);
        let sample_above = if large {
            opts.large_above.min(TRIAGE_SAMPLE_ABOVE)
        } else {
            opts.large_above
        };
        triage::pair_deltas_sampled(&va, &vb, 1 << 26, sample_above)
    };

    let tokenizer = match (&va.vocab, &vb.vocab) {
        (Some(x), Some(y)) => Some(taoke_tokenizer::compare(x, y)),
        _ => None,
    };

    // Vocabulary-anchored embeddings. Large models keep tokens × width under
    // `LARGE_EMBEDDING` values, so this stage's memory does not grow with the width (the
    // tokens are thinned evenly by id, independently of the weights).
    let max_tokens = match (
        opts.exhaustive,
        is_large(&va, opts.large_above) || is_large(&vb, opts.large_above),
        hidden(&va),
    ) {
        (true, _, _) => usize::MAX,
        (false, true, Some(d)) if d > 0 => opts.max_tokens.min((LARGE_EMBEDDING / d).max(256)),
        _ => opts.max_tokens,
    };
    let (tok, tokens_assumed) = shared_tokens(&va, &vb, max_tokens);
    // Only the shared tokens' rows are read (a few thousand of up to 10⁵ rows).
    let emb = |v: &ModelView<'_>, ids: Vec<usize>| -> Result<Option<(Matrix, usize)>> {
        let Some(i) = v.index(None, Role::TokenEmbedding, Param::Weight) else {
            return Ok(None);
        };
        let n = v.canonical_rows(i);
        if ids.iter().any(|&r| r >= n) {
            return Ok(None);
        }
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        let m = v.matrix_rows(i, &sorted)?;
        let pos: std::collections::HashMap<usize, usize> =
            sorted.iter().enumerate().map(|(k, &r)| (r, k)).collect();
        let sel = rows(&m, ids.iter().map(|r| pos[r]));
        Ok(sel.map(|x| (x, m.cols)))
    };
    let ea = emb(&va, tok.iter().map(|p| p.0).collect())?;
    let eb = emb(&vb, tok.iter().map(|p| p.1).collect())?;
    let mut emb_test = None;
    let mut transform = Transform::Identity;
    let mut fit = (f64::NAN, f64::NAN, f64::NAN);
    let mut emb_dims = (0, 0);
    let mut emb_delta = None;
    let d_a = ea
        .as_ref()
        .map(|m| m.1)
        .or_else(|| {
            va.anatomy
                .description
                .hidden
                .as_ref()
                .map(|h| h.value as usize)
        })
        .unwrap_or(0);
    if let (Some((sa, ca)), Some((sb, cb))) = (&ea, &eb) {
        emb_dims = (*ca, *cb);
        if sa.rows >= 8 {
            // Exact test: embedding columns are residual units, exchangeable under H0.
            let (ca, cb) = (sa.view().transpose(), sb.view().transpose());
            let budget = if opts.exhaustive {
                usize::MAX
            } else {
                opts.max_units
            };
            emb_test = units::unit_test(&ca, &cb, budget, opts.seed).ok();
            let (t, f) = choose_transform(sa, sb);
            transform = t;
            fit = f;
            let mapped = transform.apply(sb, sa.cols);
            emb_delta = Some(crate::products::delta(&sa.data, &mapped.data));
        }
    }

    // Unit-matching tests over block pairs.
    let (la, lb) = (va.n_blocks(), vb.n_blocks());
    let all_pairs = (la as usize) * (lb as usize) <= opts.max_block_pairs;
    let mut block_tests = Vec::new();
    let mut expert_tests = Vec::new();
    let mut hidden_units = (Vec::new(), Vec::new());
    let mut block_cka = Vec::new();
    let large = is_large(&va, opts.large_above) || is_large(&vb, opts.large_above);
    let mut done = false;
    if d_a > 0 && large && la == lb {
        // Large models of equal depth: stream the diagonal block pairs one at a time (bounded
        // memory); the all-pairs screening below only runs when the diagonal does not match.
        let (tests, ckas) = diagonal_streaming(&va, &vb, &transform, d_a, opts)?;
        let matched = (0..la)
            .filter(|&i| {
                tests
                    .iter()
                    .any(|(x, _, t)| *x == i && t.ln_p < opts.alpha.ln())
                    || ckas.iter().any(|(x, _, c)| {
                        *x == i
                            && [c.mlp, c.attn]
                                .iter()
                                .flatten()
                                .any(|&v| v >= verdict::CKA_DERIVED)
                    })
            })
            .count();
        if 2 * matched as u32 >= la {
            block_tests = tests;
            block_cka = ckas;
            done = true;
        }
        hidden_units = (
            (0..la)
                .filter_map(|i| units::unit_count(&va, i, None))
                .collect(),
            (0..lb)
                .filter_map(|i| units::unit_count(&vb, i, None))
                .collect(),
        );
    }
    if d_a > 0 && !done {
        // Large models: screening features on a seeded subset of units (same on both sides
        // when the widths agree), so all blocks fit in memory.
        let subset = |v: &ModelView<'_>, o: &ModelView<'_>, i: u32, j: u32| -> Option<Vec<usize>> {
            let (h, g) = (
                units::unit_count(v, i, None)?,
                units::unit_count(o, j, None)?,
            );
            (large && h == g && h > SCREEN_UNITS)
                .then(|| SplitMix64::new(opts.seed ^ 0x5c4e).sample_sorted(h, SCREEN_UNITS))
        };
        let fa: Vec<Option<Matrix>> = (0..la)
            .map(|i| {
                let u = subset(&va, &vb, i, i.min(lb.saturating_sub(1)));
                units::features_subset(&va, i, None, &Transform::Identity, d_a, u.as_deref())
                    .map(|f| f.map(|f| f.m))
            })
            .collect::<Result<_>>()?;
        let fb: Vec<Option<Matrix>> = (0..lb)
            .map(|j| {
                let u = subset(&vb, &va, j, j.min(la.saturating_sub(1)));
                units::features_subset(&vb, j, None, &transform, d_a, u.as_deref())
                    .map(|f| f.map(|f| f.m))
            })
            .collect::<Result<_>>()?;
        if !large {
            hidden_units = (
                fa.iter().flatten().map(|m| m.rows).collect(),
                fb.iter().flatten().map(|m| m.rows).collect(),
            );
        }
        let tested: Vec<(u32, u32)> = (0..la)
            .flat_map(|i| (0..lb).map(move |j| (i, j)))
            .filter(|&(i, j)| {
                all_pairs || {
                    let ej = f64::from(i) * f64::from(lb) / f64::from(la.max(1));
                    (f64::from(j) - ej).abs() <= 2.0
                }
            })
            .collect();
        // Screening: with many block pairs, a smaller seeded unit subset per pair (still
        // exact); the pairs on the diagonal and on the layer map are then re-tested with the
        // full budget.
        let screening = tested.len() > (la.max(lb) as usize);
        let budget = |full: bool| {
            if full || !screening {
                opts.max_units
            } else {
                256
            }
        };
        let run = |i: u32, j: u32, full: bool| -> Option<units::UnitTest> {
            match (&fa[i as usize], &fb[j as usize]) {
                (Some(x), Some(y)) if x.cols == y.cols && x.rows >= 8 && y.rows >= 8 => {
                    units::unit_test(x, y, budget(full), opts.seed ^ u64::from(i)).ok()
                }
                _ => None,
            }
        };
        block_tests = tested
            .iter()
            .filter_map(|&(i, j)| run(i, j, false).map(|t| (i, j, t)))
            .collect();
        if screening {
            let mut refine: Vec<(u32, u32)> = verdict::layer_map(&block_tests, la, lb)
                .iter()
                .map(|l| (l.a, l.b))
                .collect();
            if la == lb {
                refine.extend((0..la).map(|i| (i, i)));
            }
            refine.sort_unstable();
            refine.dedup();
            for (i, j) in refine {
                if let Some(t) = run(i, j, true) {
                    if let Some(slot) = block_tests.iter_mut().find(|x| x.0 == i && x.1 == j) {
                        slot.2 = t;
                    }
                }
            }
        }
        // Vocabulary-anchored CKA (MLP units and attention readers) on every tested pair when
        // they are few, else on the diagonal and the layer map.
        {
            let seed = opts.seed ^ 0xc6a;
            let mlp_a: Vec<_> = fa
                .iter()
                .map(|f| f.as_ref().and_then(|m| crate::cka::prepare(m, seed)))
                .collect();
            let mlp_b: Vec<_> = fb
                .iter()
                .map(|f| f.as_ref().and_then(|m| crate::cka::prepare(m, seed)))
                .collect();
            let attn = |v: &ModelView<'_>, i: u32, t: &Transform| -> Result<_> {
                let m = if large {
                    crate::cka::attention_readers_sampled(v, i, t, d_a, seed)?
                } else {
                    crate::cka::attention_readers(v, i, t, d_a)?
                };
                Ok(m.and_then(|m| crate::cka::prepare(&m, seed)))
            };
            let attn_a: Vec<_> = (0..la)
                .map(|i| attn(&va, i, &Transform::Identity))
                .collect::<Result<_>>()?;
            let attn_b: Vec<_> = (0..lb)
                .map(|j| attn(&vb, j, &transform))
                .collect::<Result<_>>()?;
            let mut pairs: Vec<(u32, u32)> = if tested.len() <= 64 {
                tested.clone()
            } else {
                let mut p: Vec<(u32, u32)> = verdict::layer_map(&block_tests, la, lb)
                    .iter()
                    .map(|l| (l.a, l.b))
                    .collect();
                if la == lb {
                    p.extend((0..la).map(|i| (i, i)));
                }
                p
            };
            pairs.sort_unstable();
            pairs.dedup();
            for (i, j) in pairs {
                let (i_, j_) = (i as usize, j as usize);
                let c = crate::cka::BlockCka {
                    mlp: crate::cka::cka(mlp_a[i_].as_ref(), mlp_b[j_].as_ref()),
                    attn: crate::cka::cka(attn_a[i_].as_ref(), attn_b[j_].as_ref()),
                };
                if c.mlp.is_some() || c.attn.is_some() {
                    block_cka.push((i, j, c));
                }
            }
        }
        // Mixture of experts on one side: each expert against the other side's dense MLP.
        for (side_moe, flip) in [(&vb, false), (&va, true)] {
            let other = if flip { &vb } else { &va };
            for j in 0..side_moe.n_blocks() {
                let ex = units::experts(side_moe, j);
                if ex.is_empty() || !units::experts(other, j).is_empty() {
                    continue;
                }
                let t_moe = if flip {
                    Transform::Identity
                } else {
                    transform.clone()
                };
                let t_dense = if flip {
                    transform.clone()
                } else {
                    Transform::Identity
                };
                let Some(dense) = units::features(other, j, None, &t_dense, d_a)? else {
                    continue;
                };
                let mut lns = Vec::new();
                for &e in &ex {
                    if let Some(f) = units::features(side_moe, j, Some(e), &t_moe, d_a)? {
                        if f.m.cols == dense.m.cols {
                            if let Ok(t) = units::unit_test(
                                &dense.m,
                                &f.m,
                                opts.max_units,
                                opts.seed ^ u64::from(e),
                            ) {
                                lns.push(t.ln_p);
                            }
                        }
                    }
                }
                if let Ok((_, lnp)) = taoke_stats::combine::fisher(&lns) {
                    expert_tests.push((j, j, lnp, lns.len()));
                }
            }
        }
    }

    // Invariant products on the mapped block pairs (diagonal when depths agree).
    let mut products = Vec::new();
    if d_a > 0 {
        let map = verdict::layer_map(&block_tests, la, lb);
        let mut links: Vec<(u32, u32)> = if la == lb {
            (0..la).map(|i| (i, i)).collect()
        } else {
            map.iter().map(|l| (l.a, l.b)).collect()
        };
        // Large models: products stream each factor twice over, so only the first, middle
        // and last linked blocks are compared (the same-weights test then covers those blocks, and the
        // sampled rows of every tensor in the element-wise triage cover the rest).
        if large && !opts.exhaustive && links.len() > 3 {
            let keep = product_blocks(links.len() as u32);
            links = keep.iter().map(|&k| links[k as usize]).collect();
        }
        // Large models stream each product in bounded chunks, so block pairs can run in
        // parallel; results are collected in link order (independent of the thread count).
        // Spectra (randomized SVD of each product) only below the large threshold: at 7B
        // they would cost more than the rest of the comparison.
        use rayon::prelude::*;
        let one = |&(i, j): &(u32, u32)| -> Result<(u32, u32, _)> {
            let p = if large {
                crate::products::compare_block_streamed(&va, i, &vb, j, &transform, d_a, opts.seed)?
            } else {
                crate::products::compare_block_with(
                    &va, i, &vb, j, &transform, d_a, opts.seed, true,
                )?
            };
            Ok((i, j, p))
        };
        products = if large {
            links.par_iter().map(one).collect::<Result<Vec<_>>>()?
        } else {
            links.iter().map(one).collect::<Result<Vec<_>>>()?
        };
    }

    let delta_rank = if transform.name() == "identity" && la == lb && la > 0 {
        delta_ranks(&va, &vb, la)
    } else {
        Vec::new()
    };
    let m = Measurements {
        identical_files,
        roles_recovered,
        pairs,
        tokens_shared: tok.len(),
        tokens_assumed,
        emb_test,
        emb_dims,
        transform,
        fit,
        emb_delta,
        blocks: (la, lb),
        block_tests,
        expert_tests,
        products,
        block_cka,
        tokenizer,
        hidden_units,
        delta_rank,
    };
    Ok(verdict::decide(&va, &vb, &m, opts))
}

/// Effective rank of `B − A` ([`triage::delta_ranks`]) for the Q, MLP up and MLP down matrices
/// of the first and last blocks. A LoRA-style update of rank 4 gives ≈ 0.05 on the zoo; full
/// fine-tunes 0.3–0.7.
fn delta_ranks(va: &ModelView<'_>, vb: &ModelView<'_>, blocks: u32) -> Vec<f64> {
    [0, blocks - 1]
        .into_iter()
        .flat_map(|blk| triage::delta_ranks(va, blk, vb, blk))
        .collect()
}

/// Units per block in the diagonal unit tests of large models.
const LARGE_UNITS: usize = 512;

/// Residual coordinates per part kept in the unit features of wide large models.
const LARGE_COORDS: usize = 2048;

/// Units per block in the screening features of large models.
const SCREEN_UNITS: usize = 256;

/// Diagonal block pairs of two large models of equal depth, one block at a time: the unit test
/// on a seeded unit subset (the same indices on both sides, drawn independently of the
/// weights, so the p-value stays exact) and the CKA of the MLP units and a seeded sample of
/// attention rows.
#[allow(clippy::type_complexity)]
fn diagonal_streaming(
    va: &ModelView<'_>,
    vb: &ModelView<'_>,
    transform: &Transform,
    d_a: usize,
    opts: &Options,
) -> Result<(
    Vec<(u32, u32, units::UnitTest)>,
    Vec<(u32, u32, crate::cka::BlockCka)>,
)> {
    let seed = opts.seed ^ 0xc6a;
    // 512 units per block already give p-values down to 1/512! ≈ 10⁻¹¹⁶⁶; more only costs
    // (the assignment is cubic in the units).
    let budget = if opts.exhaustive {
        usize::MAX
    } else {
        opts.max_units.min(LARGE_UNITS)
    };
    // Wide models: each unit keeps a seeded subset of LARGE_COORDS residual coordinates per
    // part (the same on both sides, drawn independently of the weights), so the features'
    // memory does not grow with the width.
    let coords = (!opts.exhaustive && d_a > LARGE_COORDS)
        .then(|| SplitMix64::new(opts.seed ^ 0xc00d).sample_sorted(d_a, LARGE_COORDS));
    // Blocks in parallel (each pair is independent; results are collected in block order, so
    // the report does not depend on the thread count).
    use rayon::prelude::*;
    let per_block = |i: u32| -> Result<(Option<units::UnitTest>, Option<crate::cka::BlockCka>)> {
        let mut test = None;
        let (h, g) = (
            units::unit_count(va, i, None),
            units::unit_count(vb, i, None),
        );
        let subset = match (h, g) {
            (Some(h), Some(g)) if h == g && h > budget => {
                Some(SplitMix64::new(opts.seed ^ 0x5c4e ^ u64::from(i)).sample_sorted(h, budget))
            }
            _ => None,
        };
        let fa = units::features_subset_cols(
            va,
            i,
            None,
            &Transform::Identity,
            d_a,
            subset.as_deref(),
            coords.as_deref(),
        )?
        .map(|f| f.m);
        let fb = units::features_subset_cols(
            vb,
            i,
            None,
            transform,
            d_a,
            subset.as_deref(),
            coords.as_deref(),
        )?
        .map(|f| f.m);
        let mut c = crate::cka::BlockCka::default();
        if let (Some(x), Some(y)) = (&fa, &fb) {
            if x.cols == y.cols && x.rows >= 8 && y.rows >= 8 {
                test = units::unit_test(x, y, budget, opts.seed ^ u64::from(i)).ok();
                c.mlp = crate::cka::cka(
                    crate::cka::prepare(x, seed).as_ref(),
                    crate::cka::prepare(y, seed).as_ref(),
                );
            }
        }
        let attn = |v: &ModelView<'_>, t: &Transform| -> Result<_> {
            let m = if opts.exhaustive {
                crate::cka::attention_readers(v, i, t, d_a)?
            } else {
                crate::cka::attention_readers_sampled(v, i, t, d_a, seed)?
            };
            Ok(m.and_then(|m| crate::cka::prepare(&m, seed)))
        };
        c.attn = crate::cka::cka(
            attn(va, &Transform::Identity)?.as_ref(),
            attn(vb, transform)?.as_ref(),
        );
        Ok((test, (c.mlp.is_some() || c.attn.is_some()).then_some(c)))
    };
    let results: Vec<_> = (0..va.n_blocks())
        .into_par_iter()
        .map(per_block)
        .collect::<Result<_>>()?;
    let mut tests = Vec::new();
    let mut ckas = Vec::new();
    for (i, (t, c)) in (0u32..).zip(results) {
        if let Some(t) = t {
            tests.push((i, i, t));
        }
        if let Some(c) = c {
            ckas.push((i, i, c));
        }
    }
    Ok((tests, ckas))
}

/// Chooses the residual map B → A from the shared-token embeddings: identity, signed
/// permutation or rotation, preferring the simpler one unless a more general one fits clearly
/// better. Returns the transform and the relative residuals (identity, permutation, rotation).
fn choose_transform(sa: &Matrix, sb: &Matrix) -> (Transform, (f64, f64, f64)) {
    let same = sa.cols == sb.cols;
    let r_id = if same {
        align::fit_residual(sa, sb, &Transform::Identity)
    } else {
        f64::INFINITY
    };
    // Wide models: the assignment and the SVD cost seconds at d = 4096, so a good identity fit
    // (residual < 0.5; unrelated coordinates give ≈ 1.4) is accepted without trying them.
    if same && sa.cols >= 1024 && r_id < 0.5 {
        return (Transform::Identity, (r_id, f64::NAN, f64::NAN));
    }
    // Signed permutation by assignment on |cos| of centred columns.
    let perm = {
        let mut ca = sa.clone();
        let mut cb = sb.clone();
        align::center_columns(&mut ca);
        align::center_columns(&mut cb);
        let (ta, tb) = (ca.view().transpose(), cb.view().transpose());
        match taoke_stats::matching::cosine_matrix(tb.view(), ta.view()) {
            Ok(cos) => {
                let abs: Vec<f64> = cos.iter().map(|c| c.abs()).collect();
                match taoke_stats::lap::assign_max(&abs, tb.rows, ta.rows) {
                    Ok(asg) => {
                        let mut map = vec![None; tb.rows];
                        for (j, i) in asg.pairs() {
                            let s = if cos[j * ta.rows + i] < 0.0 {
                                -1.0
                            } else {
                                1.0
                            };
                            map[j] = Some((i, s));
                        }
                        Some(Transform::SignedPermutation(map))
                    }
                    Err(_) => None,
                }
            }
            Err(_) => None,
        }
    };
    let r_perm = perm
        .as_ref()
        .map_or(f64::INFINITY, |t| align::fit_residual(sa, sb, t));
    let rot = if same {
        align::procrustes(sa.view(), sb.view()).map(Transform::Rotation)
    } else {
        None
    };
    let r_rot = rot
        .as_ref()
        .map_or(f64::INFINITY, |t| align::fit_residual(sa, sb, t));
    let best = r_id.min(r_perm).min(r_rot);
    let margin = |r: f64| r <= best * 1.05 + 1e-6;
    let t = if margin(r_id) {
        Transform::Identity
    } else if margin(r_perm) {
        perm.unwrap_or(Transform::Identity)
    } else {
        rot.unwrap_or(Transform::Identity)
    };
    // Only trust a non-identity map that actually fits; otherwise keep B's coordinates.
    let t = match t {
        Transform::Identity => Transform::Identity,
        other if best < 0.9 => other,
        _ => Transform::Identity,
    };
    let _ = Error::Stats; // keep the error type referenced for future use
    (t, (r_id, r_perm, r_rot))
}

fn is_plain(k: taoke_tokenizer::TokenKind) -> bool {
    use taoke_tokenizer::TokenKind::*;
    matches!(k, Normal | Byte | UserDefined)
}
