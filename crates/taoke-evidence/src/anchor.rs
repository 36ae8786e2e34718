//! Vocabulary anchoring: the tokens both models share, their embedding rows, the exact test of
//! the embeddings' hidden dimensions, and the residual map from B's coordinates to A's
//! ([`crate::align`]).

use taoke_anatomy::{Param, Role};
use taoke_stats::Matrix;

use crate::align::{self, Transform, TransformKind};
use crate::measure::{AlignmentTest, Anchoring, Fit};
use crate::options::Options;
use crate::units;
use crate::view::ModelView;
use crate::Result;

/// Most token-embedding values (shared tokens × width) read per side on large models.
const LARGE_EMBEDDING: usize = 1 << 23;

/// Fewest shared tokens kept on wide large models (whatever [`LARGE_EMBEDDING`] allows).
const LARGE_MIN_TOKENS: usize = 256;

/// Fewest shared-token rows for the embedding test and the residual map.
const MIN_ANCHOR_TOKENS: usize = 8;

/// Fewest shared tokens for the held-out alignment test (half fit the map, half test it).
const MIN_HELD_OUT_TOKENS: usize = 32;

/// Widths from which a good identity fit is accepted without trying the assignment and the
/// SVD (they cost seconds at d = 4096).
const WIDE: usize = 1024;

/// Identity residual below which a wide model keeps its coordinates: unrelated coordinates
/// give ≈ 1.4, copies and fine-tunes ≤ 0.1 (zoo and real pairs).
const IDENTITY_GOOD: f64 = 0.5;

/// A more general map must fit within this factor of the best residual to be preferred over a
/// simpler one (identity, then signed permutation, then rotation).
const SIMPLER_MARGIN: f64 = 1.05;

/// A non-identity map is used only when it fits below this residual (unrelated coordinates
/// leave ≈ 1.2–1.4 whatever the map).
const MAP_FITS: f64 = 0.9;

/// Anchors B's residual coordinates to A's on the shared tokens' embeddings.
pub(crate) fn anchor(
    va: &ModelView<'_>,
    vb: &ModelView<'_>,
    opts: &Options,
    large: bool,
) -> Result<Anchoring> {
    // Large models keep tokens × width under `LARGE_EMBEDDING` values, so this stage's memory
    // does not grow with the width (the tokens are thinned evenly by id, independently of the
    // weights).
    let max_tokens = match (opts.exhaustive, large, hidden(va)) {
        (true, _, _) => usize::MAX,
        (false, true, Some(d)) if d > 0 => opts
            .max_tokens
            .min((LARGE_EMBEDDING / d).max(LARGE_MIN_TOKENS)),
        _ => opts.max_tokens,
    };
    let (tok, tokens_assumed) = shared_tokens(va, vb, max_tokens);
    let ea = embedding_rows(va, tok.iter().map(|p| p.0).collect())?;
    let eb = embedding_rows(vb, tok.iter().map(|p| p.1).collect())?;
    let d_a = ea.as_ref().map(|m| m.1).or_else(|| hidden(va)).unwrap_or(0);
    let mut out = Anchoring {
        tokens_shared: tok.len(),
        tokens_assumed,
        emb_test: None,
        emb_dims: (0, 0),
        transform: Transform::Identity,
        fit: Fit::NONE,
        emb_delta: None,
        alignment: None,
        d_a,
    };
    if let (Some((sa, ca)), Some((sb, cb))) = (&ea, &eb) {
        out.emb_dims = (*ca, *cb);
        if sa.rows >= MIN_ANCHOR_TOKENS {
            // Exact test: embedding columns are residual units, exchangeable under H0.
            let (ca, cb) = (sa.view().transpose(), sb.view().transpose());
            let budget = if opts.exhaustive {
                usize::MAX
            } else {
                opts.max_units
            };
            out.emb_test = units::unit_test(&ca, &cb, budget, opts.seed).ok();
            let (t, f) = choose_transform(sa, sb);
            // The held-out test refits a signed permutation (it contains the identity), or
            // the rotation when a rotation was chosen, so its null is measured on every
            // independent pair whatever map the full fit kept.
            let test_kind = match t.kind() {
                TransformKind::Rotation => TransformKind::Rotation,
                _ => TransformKind::SignedPermutation,
            };
            out.alignment = held_out_alignment(sa, sb, test_kind);
            let mapped = t.apply(sb, sa.cols);
            out.emb_delta = Some(crate::products::delta(&sa.data, &mapped.data));
            out.transform = t;
            out.fit = f;
        }
    }
    Ok(out)
}

/// A's residual width from its anatomy.
pub(crate) fn hidden(v: &ModelView<'_>) -> Option<usize> {
    v.anatomy
        .description
        .hidden
        .as_ref()
        .map(|h| h.value as usize)
}

/// The token-embedding rows of `ids` (in that order) and the embedding width; only those rows
/// are read (a few thousand of up to 10⁵ rows).
fn embedding_rows(v: &ModelView<'_>, ids: Vec<usize>) -> Result<Option<(Matrix, usize)>> {
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
}

fn rows(m: &Matrix, idx: impl Iterator<Item = usize>) -> Option<Matrix> {
    let idx: Vec<usize> = idx.collect();
    if idx.iter().any(|&i| i >= m.rows) {
        return None;
    }
    m.view().select_rows(&idx).ok()
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

fn is_plain(k: taoke_tokenizer::TokenKind) -> bool {
    use taoke_tokenizer::TokenKind::*;
    matches!(k, Normal | Byte | UserDefined)
}

/// The best signed permutation of B's columns onto A's: assignment on |cos| of centred
/// columns, the sign from the cosine.
fn signed_permutation(sa: &Matrix, sb: &Matrix) -> Option<Transform> {
    let mut ca = sa.clone();
    let mut cb = sb.clone();
    align::center_columns(&mut ca);
    align::center_columns(&mut cb);
    let (ta, tb) = (ca.view().transpose(), cb.view().transpose());
    let cos = taoke_stats::matching::cosine_matrix(tb.view(), ta.view()).ok()?;
    let abs: Vec<f64> = cos.iter().map(|c| c.abs()).collect();
    let asg = taoke_stats::lap::assign_max(&abs, tb.rows, ta.rows).ok()?;
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

/// Chooses the residual map B → A from the shared-token embeddings: identity, signed
/// permutation or rotation, preferring the simpler one unless a more general one fits clearly
/// better. Returns the transform and the relative residuals.
fn choose_transform(sa: &Matrix, sb: &Matrix) -> (Transform, Fit) {
    let same = sa.cols == sb.cols;
    let r_id = if same {
        align::fit_residual(sa, sb, &Transform::Identity)
    } else {
        f64::INFINITY
    };
    if same && sa.cols >= WIDE && r_id < IDENTITY_GOOD {
        let fit = Fit {
            identity: r_id,
            permutation: f64::NAN,
            rotation: f64::NAN,
        };
        return (Transform::Identity, fit);
    }
    let perm = signed_permutation(sa, sb);
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
    let margin = |r: f64| r <= best * SIMPLER_MARGIN + 1e-6;
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
        other if best < MAP_FITS => other,
        _ => Transform::Identity,
    };
    let fit = Fit {
        identity: r_id,
        permutation: r_perm,
        rotation: r_rot,
    };
    (t, fit)
}

/// The held-out test of the residual map: the map of `kind` is fitted again on the even
/// shared tokens and judged on the odd ones, by the median over A's hidden dimensions of the
/// Fisher z of the held-out correlation between A's coordinate and B's mapped coordinate.
/// A map that reflects shared weights predicts unseen tokens (z ≈ 2–4); a map fitted to
/// unrelated coordinates does not (z ≈ 0 for a signed permutation; a rotation can align
/// independently trained embeddings partly, hence its own null in
/// [`crate::calibration::alignment_null`]).
pub(crate) fn held_out_alignment(
    sa: &Matrix,
    sb: &Matrix,
    kind: TransformKind,
) -> Option<AlignmentTest> {
    if sa.rows < MIN_HELD_OUT_TOKENS || sa.rows != sb.rows {
        return None;
    }
    let even: Vec<usize> = (0..sa.rows).step_by(2).collect();
    let odd: Vec<usize> = (1..sa.rows).step_by(2).collect();
    let pick = |m: &Matrix, idx: &[usize]| m.view().select_rows(idx).ok();
    let (fa, fb, ha, hb) = (
        pick(sa, &even)?,
        pick(sb, &even)?,
        pick(sa, &odd)?,
        pick(sb, &odd)?,
    );
    let t = match kind {
        TransformKind::Identity if sa.cols == sb.cols => Transform::Identity,
        TransformKind::Identity => return None,
        TransformKind::SignedPermutation => signed_permutation(&fa, &fb)?,
        TransformKind::Rotation => {
            align::procrustes(fa.view(), fb.view()).map(Transform::Rotation)?
        }
    };
    let mapped = t.apply(&hb, ha.cols);
    let mut zs: Vec<f64> = (0..ha.cols)
        .map(|i| {
            let x: Vec<f32> = (0..ha.rows).map(|r| ha.get(r, i)).collect();
            let y: Vec<f32> = (0..ha.rows).map(|r| mapped.get(r, i)).collect();
            let r = taoke_anatomy::values::pearson(&x, &y).unwrap_or(0.0);
            r.clamp(-0.999_999, 0.999_999).atanh()
        })
        .collect();
    if zs.is_empty() {
        return None;
    }
    zs.sort_unstable_by(f64::total_cmp);
    Some(AlignmentTest {
        kind,
        median_z: taoke_stats::median(zs),
        dims: ha.cols,
        held_out: ha.rows,
    })
}
