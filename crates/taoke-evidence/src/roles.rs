//! Role recovery by content and transposed storage: the stage that makes both models'
//! tensors comparable by canonical role before anything is measured.

use taoke_anatomy::{ContentOptions, Role, TensorSource};
use taoke_stats::rng::SplitMix64;

use crate::view::{descs, ModelView};

struct Source<'a, 'b>(&'a ModelView<'b>);

impl TensorSource for Source<'_, '_> {
    fn read_f32(&self, index: usize) -> std::result::Result<Vec<f32>, taoke_anatomy::SourceError> {
        let t = &self.0.ck.tensors[index];
        self.0.ck.read_f32(t).map_err(|e| Box::new(e) as _)
    }
}

/// Assigns roles to B's anonymous tensors by content matching against A (and vice versa):
/// first by value correlation in place ([`taoke_anatomy::match_by_content`]), then, for the
/// tensors still unknown (permuted or rotated ones), by statistics that survive permutations
/// and rotations ([`taoke_anatomy::match_by_invariants`]).
pub(crate) fn recover_roles<'x>(a: &mut ModelView<'x>, b: &mut ModelView<'x>) -> usize {
    let unknown = |v: &ModelView<'_>, min_dims: usize| -> Vec<usize> {
        v.anatomy
            .tensors
            .iter()
            .enumerate()
            .filter(|(_, t)| {
                t.canonical.role == Role::Unknown && (min_dims..=2).contains(&t.shape.len())
            })
            .map(|(i, _)| i)
            .collect()
    };
    let mut n = 0;
    for flip in [false, true] {
        let (r, t) = if flip { (&*b, &*a) } else { (&*a, &*b) };
        let targets = unknown(t, 2);
        if targets.is_empty() || unknown(r, 2).len() >= targets.len() {
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
        let (r, t) = if flip { (&*b, &*a) } else { (&*a, &*b) };
        let (reference, found) = invariant_roles(r, t);
        if !found.is_empty() {
            n += found.len();
            let t = if flip { &mut *a } else { &mut *b };
            t.anatomy.apply_invariant_matches(&reference, &found);
            t.reindex();
        }
    }
    n
}

/// The invariant matches of `t`'s tensors still unknown (matrices and vectors) against the
/// tensors of `r` whose role `t` does not have yet.
fn invariant_roles(
    r: &ModelView<'_>,
    t: &ModelView<'_>,
) -> (taoke_anatomy::Anatomy, Vec<taoke_anatomy::InvariantMatch>) {
    let targets: Vec<usize> = t
        .anatomy
        .tensors
        .iter()
        .enumerate()
        .filter(|(_, x)| x.canonical.role == Role::Unknown && matches!(x.shape.len(), 1 | 2))
        .map(|(i, _)| i)
        .collect();
    if targets.is_empty() {
        return (r.anatomy.clone(), Vec::new());
    }
    let candidates: Vec<usize> = r
        .by_key
        .iter()
        .filter(|(k, _)| !t.by_key.contains_key(k))
        .map(|(_, &i)| i)
        .collect();
    let axis: Vec<_> = (0..r.anatomy.tensors.len())
        .map(|i| r.anatomy.residual_axis(i))
        .collect();
    let found = taoke_anatomy::match_by_invariants(
        &descs(r.ck),
        &Source(r),
        &axis,
        &candidates,
        &descs(t.ck),
        &Source(t),
        &targets,
    )
    .unwrap_or_default();
    (r.anatomy.clone(), found)
}

/// Tensors above this many elements are never re-read to test a transpose.
const TRANSPOSE_MAX: u64 = 1 << 24;

/// Tensors above this many elements first compare a seeded row sample.
const TRANSPOSE_SAMPLED: u64 = 1 << 22;

/// Rows of that sample.
const TRANSPOSE_SAMPLE_ROWS: usize = 64;

/// Rows or values correlating above this are stored alike (no transpose to look for): related
/// tensors stored alike correlate at ≥ 0.9, unrelated ones at ≈ 0.
const STORED_ALIKE: f64 = 0.5;

/// Read as the transpose, the values must correlate above this…
const TRANSPOSED_FITS: f64 = 0.9;

/// …and by this much more than as declared.
const TRANSPOSED_MARGIN: f64 = 0.3;

/// Block tensors with at least this many elements are checked for transposed bytes in block
/// 0 only (a writer stores every block alike); smaller ones in every block.
const BLOCK0_ONLY: u64 = 1 << 16;

/// Finds tensors whose bytes hold the transpose of the declared shape (square or not), by
/// comparing with the other model's tensor at the same role.
pub(crate) fn detect_reinterpreted(a: &ModelView<'_>, b: &mut ModelView<'_>) {
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
    if ta.shape.len() != 2 || ta.n_elements() != tb.n_elements() || ta.n_elements() > TRANSPOSE_MAX
    {
        return false;
    }
    // A writer stores every block alike: large tensors are checked in block 0 only, and
    // the finding is applied to the same role in the other blocks below.
    if ta.n_elements() >= BLOCK0_ONLY && k.0.is_some_and(|blk| blk > 0) {
        return false;
    }
    // Large tensors: a seeded row sample first; only when it does not already agree
    // (a related pair stored alike) are the whole matrices read to try the transpose.
    if ta.n_elements() > TRANSPOSE_SAMPLED && ta.shape == tb.shape {
        let n = a.canonical_rows(ia);
        if n == b.canonical_rows(ib) {
            let rows = SplitMix64::new(0x7e1 ^ n as u64).sample_sorted(n, TRANSPOSE_SAMPLE_ROWS);
            if let (Ok(x), Ok(y)) = (a.matrix_rows(ia, &rows), b.matrix_rows(ib, &rows)) {
                if x.data.len() == y.data.len()
                    && crate::products::delta(&x.data, &y.data).r > STORED_ALIKE
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
    if direct > STORED_ALIKE {
        return false;
    }
    // Read again as if the bytes held the transpose (before any row reordering).
    let r = match b.matrix_as(ib, true) {
        Ok(alt) if alt.data.len() == ma.data.len() => crate::products::delta(&ma.data, &alt.data).r,
        _ => f64::NAN,
    };
    r > TRANSPOSED_FITS && r > direct + TRANSPOSED_MARGIN
}
