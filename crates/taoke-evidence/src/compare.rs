//! The comparison pipeline, one stage per function: views → role recovery by content
//! ([`crate::roles`]) → triage ([`crate::triage`]) → vocabulary anchoring and residual
//! alignment ([`crate::anchor`]) → block tests ([`crate::blocks`]) → invariant products →
//! verdict, kinds, direction, components ([`crate::verdict`]).

use taoke_anatomy::Role;
use taoke_model::Checkpoint;

use crate::measure::{Anchoring, BlockEvidence, BlockProducts, Measurements};
use crate::options::Options;
use crate::report::{Comparison, Kind};
use crate::triage;
use crate::verdict;
use crate::view::ModelView;
use crate::Result;

/// On large models, matrices with more values than this are triaged on sampled rows.
const TRIAGE_SAMPLE_ABOVE: u64 = 1 << 18;

/// Most values of one tensor read by the element-wise triage.
const TRIAGE_MAX_ELEMS: u64 = 1 << 26;

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

/// What the pair alone showed, next to the final comparison of [`compare_traced`].
#[derive(Debug, Clone)]
pub struct Trace {
    /// The kinds named from the pair alone, before the context was consulted.
    pub pairwise_kinds: Vec<Kind>,
}

/// Compares two checkpoints.
pub fn compare(a: &Checkpoint, b: &Checkpoint, opts: &Options) -> Result<Comparison> {
    compare_traced(a, b, opts, None).map(|(c, _)| c)
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
    compare_traced(a, b, opts, Some(ctx)).map(|(c, _)| c)
}

/// [`compare_with`] (or [`compare`] without a context), also returning what the pair alone
/// showed.
pub fn compare_traced(
    a: &Checkpoint,
    b: &Checkpoint,
    opts: &Options,
    ctx: Option<&crate::context::Context<'_>>,
) -> Result<(Comparison, Trace)> {
    let (mut va, mut vb, roles_recovered) = prepare(a, b);
    let m = measure(&mut va, &mut vb, roles_recovered, opts)?;
    let judged = verdict::judge(&va, &vb, &m, opts);
    let trace = Trace {
        pairwise_kinds: judged.kinds.iter().copied().collect(),
    };
    let merges = match ctx {
        Some(ctx) if judged.verdict == crate::Verdict::Related && !ctx.is_empty() => {
            crate::context::merge_findings(a, b, ctx)
        }
        _ => Vec::new(),
    };
    Ok((
        verdict::conclude(&va, &vb, &m, opts, judged, &merges),
        trace,
    ))
}

/// The two views with roles recovered by content and transposed storage found.
fn prepare<'c>(a: &'c Checkpoint, b: &'c Checkpoint) -> (ModelView<'c>, ModelView<'c>, usize) {
    let mut va = ModelView::new(a);
    let mut vb = ModelView::new(b);
    let roles_recovered = crate::roles::recover_roles(&mut va, &mut vb);
    crate::roles::detect_reinterpreted(&va, &mut vb);
    crate::roles::detect_reinterpreted(&vb, &mut va);
    (va, vb, roles_recovered)
}

/// Every measurement of the pair.
fn measure<'x>(
    va: &mut ModelView<'x>,
    vb: &mut ModelView<'x>,
    roles_recovered: usize,
    opts: &Options,
) -> Result<Measurements> {
    let identical_files = triage::files_identical(va, vb) || triage::tensors_identical(va, vb);
    let blocks = (va.n_blocks(), vb.n_blocks());
    if identical_files {
        // Nothing to measure: the same bytes.
        return Ok(Measurements {
            identical_files,
            roles_recovered,
            pairs: Vec::new(),
            anchor: Anchoring::none(),
            blocks,
            block: BlockEvidence::default(),
            products: Vec::new(),
            tokenizer: None,
            delta_rank: Vec::new(),
            grid: None,
        });
    }
    let large = is_large(va, opts.large_above) || is_large(vb, opts.large_above);
    let mut pairs = recompute_pairs(va, vb, opts, large);
    let tokenizer = match (&va.vocab, &vb.vocab) {
        (Some(x), Some(y)) => Some(taoke_tokenizer::compare(x, y)),
        _ => None,
    };
    let anchor = crate::anchor::anchor(va, vb, opts, large)?;
    // Roles inferred from invariant statistics are refined once the residual map is known.
    crate::roles::refine_by_covariance(va, vb, &anchor.transform, anchor.d_a);
    // Names that lie: blocks whose named matrices do not match A's in place, in a pair whose
    // embeddings share their coordinates and predict each other.
    let aligned = anchor
        .alignment
        .is_some_and(|t| t.median_z > LIES_CHECKED_ABOVE_Z)
        && anchor.transform.kind() == crate::align::TransformKind::Identity;
    let suspect: std::collections::BTreeSet<u32> = pairs
        .iter()
        .filter(|p| aligned && p.delta.r < IN_PLACE_R)
        .filter_map(|p| p.block)
        .collect();
    if crate::roles::correct_lying_names(va, vb, &suspect, anchor.d_a) > 0 {
        pairs = recompute_pairs(va, vb, opts, large);
    }
    let (va, vb) = (&*va, &*vb);
    let block = crate::blocks::block_evidence(va, vb, &anchor, opts, large)?;
    let products = products(va, vb, &anchor, &block, opts, large)?;
    let grid = crate::rounding::grid_test(va, vb, &anchor.transform, &block.tests);
    let (la, lb) = blocks;
    let delta_rank =
        if anchor.transform.kind() == crate::align::TransformKind::Identity && la == lb && la > 0 {
            delta_ranks(va, vb, la)
        } else {
            Vec::new()
        };
    Ok(Measurements {
        identical_files,
        roles_recovered,
        pairs,
        anchor,
        blocks,
        block,
        products,
        tokenizer,
        delta_rank,
        grid,
    })
}

/// Held-out alignment (median Fisher z) above which named matrices that do not match in place
/// are checked for lying names (r = 0.76; copies and fine-tunes give z ≥ 2).
const LIES_CHECKED_ABOVE_Z: f64 = 1.0;

/// In-place correlation below which a named block matrix is suspect (fine-tunes keep ≈ 1).
const IN_PLACE_R: f64 = 0.5;

/// The element-wise triage of tensors at the same role.
fn recompute_pairs(
    va: &ModelView<'_>,
    vb: &ModelView<'_>,
    opts: &Options,
    large: bool,
) -> Vec<triage::PairDelta> {
    if opts.exhaustive {
        triage::pair_deltas(va, vb, u64::MAX, u64::MAX)
    } else {
        // Large models: every matrix above 256 Ki values is read on sampled rows (not only
        // the large MLP ones); small models are read whole.
        let sample_above = if large {
            opts.large_above.min(TRIAGE_SAMPLE_ABOVE)
        } else {
            opts.large_above
        };
        triage::pair_deltas(va, vb, TRIAGE_MAX_ELEMS, sample_above)
    }
}

/// Invariant products on the mapped block pairs (the diagonal when depths agree, else the
/// layer map).
fn products(
    va: &ModelView<'_>,
    vb: &ModelView<'_>,
    anchor: &Anchoring,
    block: &BlockEvidence,
    opts: &Options,
    large: bool,
) -> Result<Vec<BlockProducts>> {
    let d_a = anchor.d_a;
    if d_a == 0 {
        return Ok(Vec::new());
    }
    let (la, lb) = (va.n_blocks(), vb.n_blocks());
    let mut links: Vec<(u32, u32)> = if la == lb {
        (0..la).map(|i| (i, i)).collect()
    } else {
        crate::layers::layer_map(&block.tests, la, lb)
            .iter()
            .map(|l| (l.a, l.b))
            .collect()
    };
    // Large models: products stream each factor twice over, so only the first, middle and
    // last linked blocks are compared (the same-weights test then covers those blocks, and the
    // sampled rows of every tensor in the element-wise triage cover the rest).
    if large && !opts.exhaustive && links.len() > 3 {
        let keep = product_blocks(links.len() as u32);
        links = keep.iter().map(|&k| links[k as usize]).collect();
    }
    // Large models stream each product in bounded chunks, so block pairs can run in
    // parallel; results are collected in link order (independent of the thread count).
    // Spectra (randomized SVD of each product) only below the large threshold: at 7B they
    // would cost more than the rest of the comparison.
    use rayon::prelude::*;
    let t = &anchor.transform;
    let one = |&(a, b): &(u32, u32)| -> Result<BlockProducts> {
        let products = if large {
            crate::products::compare_block_streamed(va, a, vb, b, t, d_a, opts.seed)?
        } else {
            crate::products::compare_block_with(va, a, vb, b, t, d_a, opts.seed, true)?
        };
        Ok(BlockProducts { a, b, products })
    };
    if large {
        links.par_iter().map(one).collect()
    } else {
        links.iter().map(one).collect()
    }
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
