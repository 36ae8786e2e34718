//! Unit-matching tests (Zhu et al.'s φ_U, generalized): the rows of a block's MLP are hidden
//! units whose order is exchangeable under the null of independent initialisation (the
//! initialisation is i.i.d. and training is permutation-equivariant), so matching B's units to
//! A's by optimal assignment on cosine similarity and testing the matching against the identity
//! with Spearman's ρ gives an exact p-value — whatever alignment of the residual stream was
//! applied first, because that alignment does not depend on the order of the hidden units.
//!
//! Features of a hidden unit: its gate and up rows (gated MLPs) or its up row and down column
//! (plain MLPs), with the preceding RMSNorm gain folded in, in A's residual coordinates.

use taoke_anatomy::{NormKind, Param, Role};
use taoke_stats::{Alternative, Matrix};

use crate::align::Transform;
use crate::view::ModelView;
use crate::Result;

/// A block's (or expert's) MLP unit features: `units × (k · d_a)`.
pub struct UnitFeatures {
    /// The features.
    pub m: Matrix,
}

/// Multiplies column `c` of `m` by `gain[c]` (a norm gain folded into the matrix that reads
/// the normalized input); unchanged when there is no gain or its length differs.
pub(crate) fn fold_gain(mut m: Matrix, gain: Option<&Matrix>) -> Matrix {
    if let Some(g) = gain {
        if g.data.len() == m.cols {
            for r in 0..m.rows {
                for c in 0..m.cols {
                    m.data[r * m.cols + c] *= g.data[c];
                }
            }
        }
    }
    m
}

/// Columns `cols` of `m`, in that order.
pub(crate) fn select_cols(m: &Matrix, cols: &[usize]) -> Matrix {
    let mut out = Matrix::zeros(m.rows, cols.len());
    for r in 0..m.rows {
        let row = m.row(r);
        for (k, &c) in cols.iter().enumerate() {
            out.data[r * cols.len() + k] = row[c];
        }
    }
    out
}

fn hcat(parts: &[Matrix]) -> Option<Matrix> {
    let rows = parts.first()?.rows;
    if parts.iter().any(|p| p.rows != rows) {
        return None;
    }
    let cols: usize = parts.iter().map(|p| p.cols).sum();
    let mut out = Matrix::zeros(rows, cols);
    for r in 0..rows {
        let mut off = 0;
        for p in parts {
            out.data[r * cols + off..r * cols + off + p.cols]
                .copy_from_slice(&p.data[r * p.cols..(r + 1) * p.cols]);
            off += p.cols;
        }
    }
    Some(out)
}

/// The norm gain folded into a block's MLP input, for pre-norm RMS models.
pub fn ffn_gain(v: &ModelView<'_>, block: u32) -> Option<Matrix> {
    let rms = v
        .anatomy
        .description
        .norm
        .as_ref()
        .is_some_and(|n| n.value == NormKind::Rms);
    if !rms {
        return None;
    }
    let i = v.index(Some(block), Role::FfnNorm, Param::Weight)?;
    v.matrix(i).ok()
}

/// The norm gain folded into a block's attention input, for pre-norm RMS models.
pub fn attn_gain(v: &ModelView<'_>, block: u32) -> Option<Matrix> {
    let rms = v
        .anatomy
        .description
        .norm
        .as_ref()
        .is_some_and(|n| n.value == NormKind::Rms);
    if !rms {
        return None;
    }
    let i = v.index(Some(block), Role::AttnNorm, Param::Weight)?;
    v.matrix(i).ok()
}

fn get(v: &ModelView<'_>, block: u32, expert: Option<u32>, role: Role) -> Option<usize> {
    v.by_key
        .get(&(Some(block), expert, role, Param::Weight))
        .copied()
}

/// Experts present in a block (empty for dense blocks).
pub fn experts(v: &ModelView<'_>, block: u32) -> Vec<u32> {
    let mut e: Vec<u32> = v
        .by_key
        .keys()
        .filter(|k| k.0 == Some(block) && k.1.is_some() && k.2 == Role::ExpertUp)
        .filter_map(|k| k.1)
        .collect();
    e.dedup();
    e
}

/// Unit features of block `block` (dense MLP, or expert `expert`), mapped into A's residual
/// coordinates by `t` (A's own features use [`Transform::Identity`]).
pub fn features(
    v: &ModelView<'_>,
    block: u32,
    expert: Option<u32>,
    t: &Transform,
    d_a: usize,
) -> Result<Option<UnitFeatures>> {
    features_subset(v, block, expert, t, d_a, None)
}

/// Number of hidden units of a block's (or expert's) MLP, from the tensor shapes.
pub fn unit_count(v: &ModelView<'_>, block: u32, expert: Option<u32>) -> Option<usize> {
    let up_r = if expert.is_some() {
        Role::ExpertUp
    } else {
        Role::MlpUp
    };
    let i = get(v, block, expert, up_r)?;
    (v.ck.tensors[i].shape.len() == 2).then(|| v.canonical_rows(i))
}

/// [`features`] of the units `units` only (ascending indices; `None` = all), decoding only
/// their rows where the storage allows.
pub fn features_subset(
    v: &ModelView<'_>,
    block: u32,
    expert: Option<u32>,
    t: &Transform,
    d_a: usize,
    units: Option<&[usize]>,
) -> Result<Option<UnitFeatures>> {
    features_subset_cols(v, block, expert, t, d_a, units, None)
}

/// [`features_subset`] keeping, of each part (gate, up or down), only the residual
/// coordinates `coords` of A (ascending; `None` = all). A coordinate subset drawn
/// independently of the weights and shared by both sides keeps the unit test exact (it is
/// applied to every unit alike); it bounds the features' width on wide models.
pub fn features_subset_cols(
    v: &ModelView<'_>,
    block: u32,
    expert: Option<u32>,
    t: &Transform,
    d_a: usize,
    units: Option<&[usize]>,
    coords: Option<&[usize]>,
) -> Result<Option<UnitFeatures>> {
    let read = |i: usize| match units {
        Some(u) => v.matrix_rows(i, u),
        None => v.matrix(i),
    };
    let (gate_r, up_r, down_r) = match expert {
        None => (Role::MlpGate, Role::MlpUp, Role::MlpDown),
        Some(_) => (Role::ExpertGate, Role::ExpertUp, Role::ExpertDown),
    };
    let gain = ffn_gain(v, block);
    let up = match get(v, block, expert, up_r) {
        Some(i) => read(i)?,
        None => return Ok(None),
    };
    let mut parts = vec![fold_gain(up, gain.as_ref())];
    if let Some(i) = get(v, block, expert, gate_r) {
        parts.push(fold_gain(read(i)?, gain.as_ref()));
    } else if let Some(i) = get(v, block, expert, down_r) {
        // Plain MLP: the down projection's columns belong to the same units.
        let down = v.matrix(i)?.view().transpose();
        parts.push(match units {
            Some(u) => down
                .view()
                .select_rows(u)
                .map_err(|e| crate::Error::Stats(e.to_string()))?,
            None => down,
        });
    }
    let d = parts[0].cols;
    if parts.iter().any(|p| p.cols != d) {
        return Ok(None);
    }
    let mut mapped = Vec::with_capacity(parts.len());
    for p in parts {
        let m = t.apply_owned(p, d_a);
        mapped.push(match coords {
            Some(c) if c.iter().all(|&j| j < m.cols) => select_cols(&m, c),
            _ => m,
        });
    }
    Ok(hcat(&mapped).map(|m| UnitFeatures { m }))
}

/// Result of one unit-matching test.
#[derive(Debug, Clone)]
pub struct UnitTest {
    /// Natural-log p-value.
    pub ln_p: f64,
    /// Spearman ρ of the matching against the identity.
    pub rho: f64,
    /// Units matched.
    pub n: usize,
    /// Fraction of matched pairs that are (i, i).
    pub identity_fraction: f64,
    /// Mean cosine of matched units.
    pub mean_cos: f64,
    /// The matching (A unit, B unit).
    pub pairs: Vec<(usize, usize)>,
}

/// φ_U between two unit-feature matrices, on at most `max_units` units (seeded subset).
pub fn unit_test(a: &Matrix, b: &Matrix, max_units: usize, seed: u64) -> Result<UnitTest> {
    let k = a.rows.min(b.rows);
    let r = if k > max_units {
        taoke_stats::matching::phi_u_subset(
            a.view(),
            b.view(),
            max_units,
            seed,
            Alternative::Greater,
        )
    } else {
        taoke_stats::matching::phi_u(a.view(), b.view(), Alternative::Greater)
    }
    .map_err(|e| crate::Error::Stats(e.to_string()))?;
    let n = r.matching.pairs.len();
    let ident = r.matching.pairs.iter().filter(|(i, j)| i == j).count();
    Ok(UnitTest {
        ln_p: r.test.ln_p,
        rho: r.test.rho,
        n,
        identity_fraction: ident as f64 / n.max(1) as f64,
        mean_cos: r.matching.mean_similarity(),
        pairs: r.matching.pairs,
    })
}
