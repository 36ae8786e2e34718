//! Role recovery by content and transposed storage: the stage that makes both models'
//! tensors comparable by canonical role before anything is measured.

use std::collections::BTreeSet;

use taoke_anatomy::{ContentOptions, Role, RoleSource, TensorSource};
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

/// Tensors to match by sketch, by (writes the residual, canonical shape): (targets, candidates).
type SketchClasses = std::collections::BTreeMap<(bool, (usize, usize)), (Vec<usize>, Vec<usize>)>;

/// A block's named matrices by (writes the residual, shape): (role, A's index, B's index).
type NamedClasses = std::collections::BTreeMap<(bool, Vec<u64>), Vec<(Role, usize, usize)>>;

/// Columns of the random projection of the covariance sketches.
const SKETCH_COLS: usize = 8;

/// Seed of that projection.
const SEED_SKETCH: u64 = 0x5ce7;

/// The covariance sketch of a matrix that reads (`writer` false: `[units, d]`) or writes
/// (`writer` true: `[d, units]`) the residual stream, in A's residual coordinates:
/// `Wᵀ W R` over the units — invariant to any permutation of the units (or heads) — for a
/// fixed random `R` (`d_a × 8`).
fn covariance_sketch(
    v: &ModelView<'_>,
    i: usize,
    writer: bool,
    t: &crate::align::Transform,
    r: &taoke_stats::Matrix,
) -> Option<Vec<f64>> {
    let m = v.matrix(i).ok()?;
    let units = if writer { m.view().transpose() } else { m };
    let w = t.apply_owned(units, r.rows);
    if w.cols != r.rows {
        return None;
    }
    let wr = crate::align::matmul(w.view(), r.view());
    let s = crate::align::matmul_tn(w.view(), wr.view());
    Some(s.data.iter().map(|&x| f64::from(x)).collect())
}

/// Pearson correlation of two sketches (0 when undefined: no evidence either way).
fn pearson64(x: &[f64], y: &[f64]) -> f64 {
    taoke_stats::correlation::pearson(x, y).unwrap_or(0.0)
}

/// Whether role `r` writes the residual stream (else, for the roles refined here, reads it).
fn writes(r: Role) -> bool {
    matches!(r, Role::AttnO | Role::MlpDown)
}

/// Roles whose invariant matches the covariance sketches refine.
fn refinable(r: Role) -> bool {
    matches!(
        r,
        Role::AttnQ
            | Role::AttnK
            | Role::AttnV
            | Role::AttnO
            | Role::MlpGate
            | Role::MlpUp
            | Role::MlpDown
    )
}

/// Second pass of role recovery, once the residual map `t` (B → A) is known: the block
/// matrices whose roles came from invariant statistics ([`recover_roles`]) are matched again
/// among themselves by their covariance sketches in A's coordinates, which tell apart the
/// matrices the distributions alone confuse (gate from up, K from V, one block from the
/// next). Returns the tensors whose role changed.
pub(crate) fn refine_by_covariance<'x>(
    a: &mut ModelView<'x>,
    b: &mut ModelView<'x>,
    t: &crate::align::Transform,
    d_a: usize,
) -> usize {
    if d_a == 0 {
        return 0;
    }
    let r = sketch_projection(d_a);
    let id = crate::align::Transform::Identity;
    let mut changed = 0;
    for flip in [false, true] {
        // The side whose roles were inferred, and the named reference.
        let (target, reference, t_target, t_reference) = if flip {
            (&*a, &*b, &id, t)
        } else {
            (&*b, &*a, t, &id)
        };
        let inferred: Vec<usize> = target
            .anatomy
            .tensors
            .iter()
            .enumerate()
            .filter(|(_, x)| {
                matches!(x.source, RoleSource::Invariant { .. }) && refinable(x.canonical.role)
            })
            .map(|(i, _)| i)
            .collect();
        if inferred.is_empty() {
            continue;
        }
        let classes = sketch_classes(target, reference, &inferred);
        let mut found: Vec<taoke_anatomy::InvariantMatch> = Vec::new();
        for ((writer, _), (ts, rs)) in classes {
            if rs.len() < ts.len() || ts.len() < 2 {
                continue;
            }
            let sides = [(target, t_target), (reference, t_reference)];
            found.extend(match_by_sketch(sides, writer, &ts, &rs, &r));
        }
        let before: Vec<_> = found
            .iter()
            .map(|m| target.anatomy.tensors[m.target].canonical)
            .collect();
        let reference_anatomy = reference.anatomy.clone();
        let target = if flip { &mut *a } else { &mut *b };
        target
            .anatomy
            .apply_invariant_matches(&reference_anatomy, &found);
        changed += found
            .iter()
            .zip(&before)
            .filter(|(m, c)| target.anatomy.tensors[m.target].canonical != **c)
            .count();
        target.reindex();
    }
    changed
}

/// Classes of [`refine_by_covariance`]: the `inferred` tensors of `target` and the named
/// block matrices of `reference` with one of their roles, by (writes the residual, canonical
/// shape).
fn sketch_classes(
    target: &ModelView<'_>,
    reference: &ModelView<'_>,
    inferred: &[usize],
) -> SketchClasses {
    let shape = |v: &ModelView<'_>, i: usize| {
        let rows = v.canonical_rows(i);
        (rows, v.ck.tensors[i].n_elements() as usize / rows.max(1))
    };
    let mut classes: SketchClasses = std::collections::BTreeMap::new();
    for &i in inferred {
        let role = target.anatomy.tensors[i].canonical.role;
        classes
            .entry((writes(role), shape(target, i)))
            .or_default()
            .0
            .push(i);
    }
    let roles: BTreeSet<Role> = inferred
        .iter()
        .map(|&i| target.anatomy.tensors[i].canonical.role)
        .collect();
    for (k, &j) in &reference.by_key {
        if k.1.is_none() && k.0.is_some() && roles.contains(&k.2) {
            if let Some(c) = classes.get_mut(&(writes(k.2), shape(reference, j))) {
                c.1.push(j);
            }
        }
    }
    classes
}

/// One class of [`refine_by_covariance`]: the target tensors `ts` assigned one-to-one to the
/// reference tensors `rs` by the correlation of their covariance sketches (each side mapped by
/// its transform), with the distance and margin of each match.
fn match_by_sketch(
    [(target, t_target), (reference, t_reference)]: [(&ModelView<'_>, &crate::align::Transform); 2],
    writer: bool,
    ts: &[usize],
    rs: &[usize],
    r: &taoke_stats::Matrix,
) -> Vec<taoke_anatomy::InvariantMatch> {
    use rayon::prelude::*;
    let st: Vec<Option<Vec<f64>>> = ts
        .par_iter()
        .map(|&i| covariance_sketch(target, i, writer, t_target, r))
        .collect();
    let sr: Vec<Option<Vec<f64>>> = rs
        .par_iter()
        .map(|&j| covariance_sketch(reference, j, writer, t_reference, r))
        .collect();
    let mut sim = vec![0f64; ts.len() * rs.len()];
    for (p, x) in st.iter().enumerate() {
        for (q, y) in sr.iter().enumerate() {
            if let (Some(x), Some(y)) = (x, y) {
                sim[p * rs.len() + q] = pearson64(x, y);
            }
        }
    }
    let cost: Vec<f64> = sim.iter().map(|s| -s).collect();
    let Ok(asg) = taoke_stats::lap::assign_min_hungarian(&cost, ts.len(), rs.len()) else {
        return Vec::new();
    };
    asg.pairs()
        .into_iter()
        .map(|(p, q)| {
            let best = sim[p * rs.len() + q];
            let second = (0..rs.len())
                .filter(|&k| k != q)
                .map(|k| sim[p * rs.len() + k])
                .fold(f64::NEG_INFINITY, f64::max);
            let transposed = matches!(
                target.anatomy.tensors[ts[p]].source,
                RoleSource::Invariant {
                    transposed: true,
                    ..
                }
            );
            taoke_anatomy::InvariantMatch {
                target: ts[p],
                reference: rs[q],
                distance: 1.0 - best,
                margin: if best < 1.0 {
                    (1.0 - second) / (1.0 - best)
                } else {
                    f64::INFINITY
                },
                transposed,
            }
        })
        .collect()
}

/// Names that lie: in each block of B, the named matrices of one shape (gate and up, Q and K
/// or O, K and V) are matched again to A's same-block matrices by their covariance sketches,
/// and the names are overridden when another assignment fits clearly better
/// ([`LIE_MARGIN`] in mean sketch correlation). Runs only where the views are comparable
/// in place (`t` the identity) and a named block matrix does not correlate with A's at its
/// name (`suspect` blocks). Returns the tensors whose role changed.
pub(crate) fn correct_lying_names<'x>(
    a: &ModelView<'x>,
    b: &mut ModelView<'x>,
    suspect: &BTreeSet<u32>,
    d_a: usize,
) -> usize {
    if d_a == 0 || suspect.is_empty() {
        return 0;
    }
    let r = sketch_projection(d_a);
    let id = crate::align::Transform::Identity;
    let mut moves: Vec<taoke_anatomy::InvariantMatch> = Vec::new();
    for &blk in suspect {
        // Named refinable matrices of this block, by (writer, shape).
        let mut classes: NamedClasses = std::collections::BTreeMap::new();
        for (k, &ib) in &b.by_key {
            let (Some(kb), None, role, taoke_anatomy::Param::Weight) = *k else {
                continue;
            };
            if kb != blk || !refinable(role) {
                continue;
            }
            let Some(ia) = a.index(Some(blk), role, taoke_anatomy::Param::Weight) else {
                continue;
            };
            if a.ck.tensors[ia].shape != b.ck.tensors[ib].shape {
                continue;
            }
            classes
                .entry((writes(role), b.ck.tensors[ib].shape.clone()))
                .or_default()
                .push((role, ia, ib));
        }
        for ((writer, _), members) in classes {
            if members.len() < 2 {
                continue;
            }
            let sb: Vec<_> = members
                .iter()
                .map(|&(_, _, ib)| covariance_sketch(b, ib, writer, &id, &r))
                .collect();
            let sa: Vec<_> = members
                .iter()
                .map(|&(_, ia, _)| covariance_sketch(a, ia, writer, &id, &r))
                .collect();
            let n = members.len();
            let mut sim = vec![0f64; n * n];
            for p in 0..n {
                for q in 0..n {
                    if let (Some(x), Some(y)) = (&sb[p], &sa[q]) {
                        sim[p * n + q] = pearson64(x, y);
                    }
                }
            }
            let cost: Vec<f64> = sim.iter().map(|s| -s).collect();
            let Ok(asg) = taoke_stats::lap::assign_min_hungarian(&cost, n, n) else {
                continue;
            };
            let pairs: Vec<(usize, usize)> = asg.pairs();
            let best: f64 = pairs.iter().map(|&(p, q)| sim[p * n + q]).sum::<f64>() / n as f64;
            let named: f64 = (0..n).map(|p| sim[p * n + p]).sum::<f64>() / n as f64;
            if best - named < LIE_MARGIN || best < LIE_FITS {
                continue;
            }
            for (p, q) in pairs {
                if p != q {
                    moves.push(taoke_anatomy::InvariantMatch {
                        target: members[p].2,
                        reference: members[q].1,
                        distance: 1.0 - sim[p * n + q],
                        margin: f64::INFINITY,
                        transposed: false,
                    });
                }
            }
        }
    }
    if moves.is_empty() {
        return 0;
    }
    let reference = a.anatomy.clone();
    b.anatomy.apply_invariant_matches(&reference, &moves);
    b.reindex();
    moves.len()
}

/// Mean sketch correlation by which another assignment must beat the names' (a copy under
/// its own names correlates at ≈ 1, a swapped pair far lower).
const LIE_MARGIN: f64 = 0.3;

/// …and the mean it must reach: the block's matrices really are A's, only misnamed (blocks
/// that differ, e.g. across a depth change, match no assignment this well).
const LIE_FITS: f64 = 0.9;

/// The fixed random projection of the covariance sketches.
fn sketch_projection(d_a: usize) -> taoke_stats::Matrix {
    let mut rng = SplitMix64::new(SEED_SKETCH);
    let vals: Vec<f32> = (0..d_a * SKETCH_COLS)
        .map(|_| (rng.next_f64() * 2.0 - 1.0) as f32)
        .collect();
    taoke_stats::Matrix::from_fn(d_a, SKETCH_COLS, move |i, j| vals[i * SKETCH_COLS + j])
}
