//! Vocabulary-anchored CKA per block (after AWM, Zeng et al.): once B's residual coordinates
//! are mapped to A's through the shared tokens' embeddings ([`crate::align`]), the weights that
//! read from the residual stream are compared by unbiased linear CKA with the residual
//! coordinates as examples:
//!
//! - attention: `X = [W_q; W_k; W_v]ᵀ` (`d × rows`, input norm gain folded in);
//! - MLP: `X = Fᵀ`, `F` the unit features of [`crate::units`] (`units × k·d`), so the examples
//!   are (part, residual coordinate) pairs and the features are the hidden units.
//!
//! CKA is invariant to any orthogonal transform of the features, so it does not care how the
//! heads or the MLP units were permuted (or rotated within the attention rows), nor about an
//! isotropic rescaling: it sees a permuted fine-tune that the unit-matching test (which tests
//! the matching *against the identity*) cannot. It has no exact null: its distribution on
//! independent pairs is measured on the zoo and shipped in `data/null.json`; a block's
//! calibrated p-value is a normal tail fit with a floored standard deviation, labelled as
//! such, and never enters the exact Fisher combination.
//!
//! Large matrices are subsampled with seeded index sets chosen independently of the weights
//! and **shared by both sides** (examples: residual coordinates, so the same rows are compared;
//! features: a random subset of units estimates the Gram matrix up to a scale that CKA
//! ignores).

use taoke_anatomy::{Param, Role};
use taoke_stats::cka::CkaPrepared;
use taoke_stats::rng::SplitMix64;
use taoke_stats::Matrix;

use crate::align::Transform;
use crate::view::ModelView;
use crate::Result;

/// Most examples (rows of `X`) kept.
const MAX_EXAMPLES: usize = 2048;
/// Most features (columns of `X`) kept.
const MAX_FEATURES: usize = 512;

/// Seeded sorted subset of `0..n` of size `min(n, k)` (all of it when it fits).
fn subset(n: usize, k: usize, seed: u64) -> Vec<usize> {
    SplitMix64::new(seed).sample_sorted(n, k)
}

/// `X` (examples × features) from `F` (features × examples) with seeded subsets.
fn examples_by_features(f: &Matrix, seed: u64) -> Matrix {
    let ex = subset(f.cols, MAX_EXAMPLES, seed ^ 0xe8a3);
    let fe = subset(f.rows, MAX_FEATURES, seed ^ 0xfea7);
    let (n, p) = (ex.len(), fe.len());
    let mut out = Matrix::zeros(n, p);
    for (j, &r) in fe.iter().enumerate() {
        let row = f.row(r);
        for (i, &e) in ex.iter().enumerate() {
            out.data[i * p + j] = row[e];
        }
    }
    out
}

/// Prepared CKA matrix of a block from its rows (MLP unit features `units × k·d`, or the
/// attention readers `rows × d`): the rows are the features, the columns the examples.
pub fn prepare(rows: &Matrix, seed: u64) -> Option<CkaPrepared> {
    if rows.rows < 4 || rows.cols < 4 {
        return None;
    }
    CkaPrepared::from_matrix(examples_by_features(rows, seed)).ok()
}

/// The attention readers of a block, `[W_q; W_k; W_v]` (`rows × d_a`), input gain folded in,
/// mapped into A's residual coordinates by `t`.
pub fn attention_readers(
    v: &ModelView<'_>,
    block: u32,
    t: &Transform,
    d_a: usize,
) -> Result<Option<Matrix>> {
    readers(v, block, t, d_a, None)
}

/// Rows kept per attention reader (Q, K, V) by [`attention_readers_sampled`].
pub const SAMPLED_READER_ROWS: usize = 256;

/// [`attention_readers`] on a seeded sample of at most [`SAMPLED_READER_ROWS`] rows of each of
/// Q, K and V (the same rows on both sides when the shapes agree), read row by row.
pub fn attention_readers_sampled(
    v: &ModelView<'_>,
    block: u32,
    t: &Transform,
    d_a: usize,
    seed: u64,
) -> Result<Option<Matrix>> {
    readers(v, block, t, d_a, Some(seed))
}

fn readers(
    v: &ModelView<'_>,
    block: u32,
    t: &Transform,
    d_a: usize,
    sample: Option<u64>,
) -> Result<Option<Matrix>> {
    let gain = crate::units::attn_gain(v, block);
    let keep = sample
        .filter(|_| d_a > MAX_EXAMPLES)
        .map(|seed| subset(d_a, MAX_EXAMPLES, seed ^ 0xe8a3));
    let mut parts = Vec::new();
    for (k, role) in [Role::AttnQ, Role::AttnK, Role::AttnV]
        .into_iter()
        .enumerate()
    {
        let Some(&i) = v.by_key.get(&(Some(block), None, role, Param::Weight)) else {
            continue;
        };
        let m = match sample {
            Some(seed) => {
                let n = v.canonical_rows(i);
                let rows = subset(n, SAMPLED_READER_ROWS, seed ^ (k as u64 + 1));
                v.matrix_rows(i, &rows)?
            }
            None => v.matrix(i)?,
        };
        let m = t.apply_owned(crate::units::fold_gain(m, gain.as_ref()), d_a);
        if m.cols != d_a {
            return Ok(None);
        }
        // Sampled (large) readers keep only the residual coordinates that `prepare` would
        // draw as examples (the same seeded subset), so wide models' rows are not held whole.
        parts.push(match &keep {
            Some(c) => crate::units::select_cols(&m, c),
            None => m,
        });
    }
    if parts.is_empty() {
        return Ok(None);
    }
    let cols = parts[0].cols;
    let rows: usize = parts.iter().map(|p| p.rows).sum();
    let mut out = Matrix::zeros(rows, cols);
    let mut off = 0;
    for p in &parts {
        out.data[off * cols..(off + p.rows) * cols].copy_from_slice(&p.data);
        off += p.rows;
    }
    Ok(Some(out))
}

/// CKA of one block pair: (MLP, attention), each when both sides have it.
#[derive(Debug, Clone, Copy, Default)]
pub struct BlockCka {
    /// MLP readers and writers (unit features).
    pub mlp: Option<f64>,
    /// Attention readers (Q, K, V).
    pub attn: Option<f64>,
}

/// CKA between two prepared matrices when their example counts agree.
pub fn cka(a: Option<&CkaPrepared>, b: Option<&CkaPrepared>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) if x.rows() == y.rows() => x.cka(y).ok().filter(|c| c.is_finite()),
        _ => None,
    }
}

/// Least block CKA that can make a block related. Significance alone is not enough: blocks
/// trained independently on a shared embedding read the same residual basis, and CKA sees
/// that (all-MiniLM-L6-v2 vs paraphrase-MiniLM-L3-v2, whose block weights are element-wise
/// independent, give block CKAs of 0.15–0.58), while copied or fine-tuned blocks give ≥ 0.98
/// on the zoo, permuted or not.
pub(crate) const CKA_DERIVED: f64 = 0.8;

/// The block CKA statistic: the mean of the available MLP and attention CKAs.
pub(crate) fn block_cka_stat(c: &BlockCka) -> Option<f64> {
    let v: Vec<f64> = [c.mlp, c.attn].into_iter().flatten().collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset_is_sorted_distinct_and_seeded() {
        let s = subset(100, 10, 7);
        assert_eq!(s.len(), 10);
        assert!(s.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(s, subset(100, 10, 7));
        assert_ne!(s, subset(100, 10, 8));
        assert_eq!(subset(5, 10, 1), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn permuted_units_keep_cka_and_independent_units_do_not() {
        let mut rng = SplitMix64::new(3);
        let (units, ex) = (64, 96);
        let f = Matrix::from_fn(units, ex, |_, _| rng.normal() as f32);
        // Same units in another order, slightly perturbed.
        let perm: Vec<usize> = (0..units).rev().collect();
        let g = Matrix::from_fn(units, ex, |i, j| {
            f.get(perm[i], j) + 0.05 * rng.normal() as f32
        });
        let h = Matrix::from_fn(units, ex, |_, _| rng.normal() as f32);
        let (pf, pg, ph) = (
            prepare(&f, 1).unwrap(),
            prepare(&g, 1).unwrap(),
            prepare(&h, 1).unwrap(),
        );
        let related = cka(Some(&pf), Some(&pg)).unwrap();
        let independent = cka(Some(&pf), Some(&ph)).unwrap();
        assert!(related > 0.95, "{related}");
        assert!(independent.abs() < 0.1, "{independent}");
    }
}
