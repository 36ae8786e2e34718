//! Block-level tests: the exact unit-matching test of every tested block pair, the
//! vocabulary-anchored CKA of block pairs, and experts against a dense MLP.
//!
//! Large models of equal depth stream the diagonal pairs first ([`diagonal_streaming`]); the
//! all-pairs screening ([`screen_pairs`]) runs when the diagonal does not match, or always on
//! small models.

use taoke_stats::rng::SplitMix64;
use taoke_stats::Matrix;

use crate::align::Transform;
use crate::cka::CKA_DERIVED;
use crate::cka::{self, BlockCka};
use crate::layers::layer_map;
use crate::measure::{Anchoring, BlockCkaRow, BlockEvidence, BlockTest, ExpertTest};
use crate::options::Options;
use crate::units::{self, UnitTest};
use crate::view::ModelView;
use crate::Result;

/// Units per block in the diagonal unit tests of large models: 512 units already give
/// p-values down to 1/512! ≈ 10⁻¹¹⁶⁶; more only costs (the assignment is cubic in the units).
const LARGE_UNITS: usize = 512;

/// Residual coordinates per part kept in the unit features of wide large models.
const LARGE_COORDS: usize = 2048;

/// Units per block in the screening features of large models.
const SCREEN_UNITS: usize = 256;

/// Units per pair in the screening of many block pairs (the diagonal and the layer map are
/// then re-tested with the full budget).
const SCREEN_BUDGET: usize = 256;

/// Fewest units on each side for a unit test.
const MIN_UNITS: usize = 8;

/// Tested pairs up to which the CKA runs on every tested pair (else on the diagonal and the
/// layer map).
const CKA_ALL_PAIRS: usize = 64;

/// Half-width of the band of block pairs tested when all pairs do not fit the budget.
const BAND: f64 = 2.0;

/// Seed offsets of the stages (fixed: reports depend on them).
const SEED_CKA: u64 = 0xc6a;
const SEED_UNITS: u64 = 0x5c4e;
const SEED_COORDS: u64 = 0xc00d;

/// The block-level tests of a pair.
pub(crate) fn block_evidence(
    va: &ModelView<'_>,
    vb: &ModelView<'_>,
    anchor: &Anchoring,
    opts: &Options,
    large: bool,
) -> Result<BlockEvidence> {
    let (la, lb) = (va.n_blocks(), vb.n_blocks());
    let d_a = anchor.d_a;
    let mut out = BlockEvidence::default();
    if d_a == 0 {
        return Ok(out);
    }
    if large && la == lb {
        // Large models of equal depth: stream the diagonal block pairs one at a time (bounded
        // memory); the all-pairs screening below only runs when the diagonal does not match.
        let (tests, ckas) = diagonal_streaming(va, vb, &anchor.transform, d_a, opts)?;
        let matched = (0..la)
            .filter(|&i| {
                tests
                    .iter()
                    .any(|t| t.a == i && t.test.ln_p < opts.ln_alpha())
                    || ckas.iter().any(|c| {
                        c.a == i
                            && [c.cka.mlp, c.cka.attn]
                                .iter()
                                .flatten()
                                .any(|&v| v >= CKA_DERIVED)
                    })
            })
            .count();
        out.hidden_units = (
            (0..la)
                .filter_map(|i| units::unit_count(va, i, None))
                .collect(),
            (0..lb)
                .filter_map(|i| units::unit_count(vb, i, None))
                .collect(),
        );
        if 2 * matched as u32 >= la {
            out.tests = tests;
            out.cka = ckas;
            return Ok(out);
        }
    }
    let (fa, fb) = screening_features(va, vb, &anchor.transform, d_a, opts, large)?;
    if !large {
        out.hidden_units = (
            fa.iter().flatten().map(|m| m.rows).collect(),
            fb.iter().flatten().map(|m| m.rows).collect(),
        );
    }
    let tested = tested_pairs(la, lb, opts, &fa, &fb);
    out.tests = screen_pairs(&fa, &fb, &tested, la, lb, opts);
    out.cka = cka_pairs(va, vb, &fa, &fb, &tested, &out.tests, anchor, opts, large)?;
    out.experts = expert_tests(va, vb, &anchor.transform, d_a, opts)?;
    Ok(out)
}

/// The block pairs tested: all when `la × lb` fits [`Options::max_block_pairs`], else a band
/// around the proportional diagonal plus, for every block, the [`CANDIDATES`] blocks of the
/// other side whose unit-norm profile is closest (duplicated or moved blocks lie off the
/// band; the profile survives permutations of the residual stream and of the units).
fn tested_pairs(
    la: u32,
    lb: u32,
    opts: &Options,
    fa: &[Option<Matrix>],
    fb: &[Option<Matrix>],
) -> Vec<(u32, u32)> {
    let all_pairs = (la as usize) * (lb as usize) <= opts.max_block_pairs;
    let mut pairs: Vec<(u32, u32)> = (0..la)
        .flat_map(|i| (0..lb).map(move |j| (i, j)))
        .filter(|&(i, j)| {
            all_pairs || {
                let ej = f64::from(i) * f64::from(lb) / f64::from(la.max(1));
                (f64::from(j) - ej).abs() <= BAND
            }
        })
        .collect();
    if !all_pairs {
        pairs.extend(profile_candidates(fa, fb));
        pairs.sort_unstable();
        pairs.dedup();
    }
    pairs
}

/// Candidate partners per block beyond the band.
const CANDIDATES: usize = 2;

/// Quantiles of a block's unit-feature row norms.
fn norm_profile(m: &Matrix) -> Vec<f64> {
    let mut norms: Vec<f64> = (0..m.rows)
        .map(|r| {
            m.row(r)
                .iter()
                .map(|&x| f64::from(x).powi(2))
                .sum::<f64>()
                .sqrt()
        })
        .collect();
    norms.sort_unstable_by(f64::total_cmp);
    (0..16)
        .map(|k| norms[((k as f64 + 0.5) / 16.0 * (norms.len() - 1) as f64) as usize])
        .collect()
}

/// Each block's [`CANDIDATES`] nearest blocks of the other side by [`norm_profile`], both ways.
fn profile_candidates(fa: &[Option<Matrix>], fb: &[Option<Matrix>]) -> Vec<(u32, u32)> {
    let prof = |f: &[Option<Matrix>]| -> Vec<Option<Vec<f64>>> {
        f.iter()
            .map(|m| m.as_ref().filter(|m| m.rows > 0).map(norm_profile))
            .collect()
    };
    let (pa, pb) = (prof(fa), prof(fb));
    let dist = |x: &[f64], y: &[f64]| -> f64 {
        let num: f64 = x.iter().zip(y).map(|(p, q)| (p - q).powi(2)).sum();
        let den: f64 = x.iter().map(|p| p * p).sum::<f64>().max(1e-30);
        num / den
    };
    let mut out = Vec::new();
    let nearest = |p: &Vec<f64>, others: &[Option<Vec<f64>>]| -> Vec<usize> {
        let mut d: Vec<(f64, usize)> = others
            .iter()
            .enumerate()
            .filter_map(|(j, o)| o.as_ref().map(|o| (dist(p, o), j)))
            .collect();
        d.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
        d.into_iter().take(CANDIDATES).map(|x| x.1).collect()
    };
    for (i, p) in pa.iter().enumerate() {
        if let Some(p) = p {
            out.extend(nearest(p, &pb).into_iter().map(|j| (i as u32, j as u32)));
        }
    }
    for (j, p) in pb.iter().enumerate() {
        if let Some(p) = p {
            out.extend(nearest(p, &pa).into_iter().map(|i| (i as u32, j as u32)));
        }
    }
    out
}

/// Unit features of every block of both sides. Large models: on a seeded subset of
/// [`SCREEN_UNITS`] units, the same indices on both sides (among the units both sides have
/// when the widths differ), so all blocks fit in memory whatever the widths.
#[allow(clippy::type_complexity)]
fn screening_features(
    va: &ModelView<'_>,
    vb: &ModelView<'_>,
    transform: &Transform,
    d_a: usize,
    opts: &Options,
    large: bool,
) -> Result<(Vec<Option<Matrix>>, Vec<Option<Matrix>>)> {
    let (la, lb) = (va.n_blocks(), vb.n_blocks());
    let subset = |v: &ModelView<'_>, o: &ModelView<'_>, i: u32, j: u32| -> Option<Vec<usize>> {
        let (h, g) = (
            units::unit_count(v, i, None)?,
            units::unit_count(o, j, None)?,
        );
        // The same indices on both sides, drawn among the units both have (so a width-pruned
        // copy keeps its identity matching), independently of the weights.
        let shared = h.min(g);
        (large && shared > SCREEN_UNITS)
            .then(|| SplitMix64::new(opts.seed ^ SEED_UNITS).sample_sorted(shared, SCREEN_UNITS))
    };
    let fa: Vec<Option<Matrix>> = (0..la)
        .map(|i| {
            let u = subset(va, vb, i, i.min(lb.saturating_sub(1)));
            units::features_subset(va, i, None, &Transform::Identity, d_a, u.as_deref())
                .map(|f| f.map(|f| f.m))
        })
        .collect::<Result<_>>()?;
    let fb: Vec<Option<Matrix>> = (0..lb)
        .map(|j| {
            let u = subset(vb, va, j, j.min(la.saturating_sub(1)));
            units::features_subset(vb, j, None, transform, d_a, u.as_deref())
                .map(|f| f.map(|f| f.m))
        })
        .collect::<Result<_>>()?;
    Ok((fa, fb))
}

/// The unit test on every tested pair. With many block pairs, a smaller seeded unit subset
/// per pair first (still exact); the pairs on the diagonal and on the layer map are then
/// re-tested with the full budget.
fn screen_pairs(
    fa: &[Option<Matrix>],
    fb: &[Option<Matrix>],
    tested: &[(u32, u32)],
    la: u32,
    lb: u32,
    opts: &Options,
) -> Vec<BlockTest> {
    let screening = tested.len() > (la.max(lb) as usize);
    let budget = |full: bool| {
        if full || !screening {
            opts.max_units
        } else {
            SCREEN_BUDGET
        }
    };
    let run = |i: u32, j: u32, full: bool| -> Option<UnitTest> {
        match (&fa[i as usize], &fb[j as usize]) {
            (Some(x), Some(y))
                if x.cols == y.cols && x.rows >= MIN_UNITS && y.rows >= MIN_UNITS =>
            {
                units::unit_test(x, y, budget(full), opts.seed ^ u64::from(i)).ok()
            }
            _ => None,
        }
    };
    let mut tests: Vec<BlockTest> = tested
        .iter()
        .filter_map(|&(a, b)| run(a, b, false).map(|test| BlockTest { a, b, test }))
        .collect();
    if screening {
        for (i, j) in map_and_diagonal(&tests, la, lb) {
            if let Some(t) = run(i, j, true) {
                if let Some(slot) = tests.iter_mut().find(|x| x.a == i && x.b == j) {
                    slot.test = t;
                }
            }
        }
    }
    tests
}

/// The layer map's links, plus the diagonal when the depths agree (sorted, unique).
fn map_and_diagonal(tests: &[BlockTest], la: u32, lb: u32) -> Vec<(u32, u32)> {
    let mut p: Vec<(u32, u32)> = layer_map(tests, la, lb)
        .iter()
        .map(|l| (l.a, l.b))
        .collect();
    if la == lb {
        p.extend((0..la).map(|i| (i, i)));
    }
    p.sort_unstable();
    p.dedup();
    p
}

/// Vocabulary-anchored CKA (MLP units and attention readers) on every tested pair when they
/// are few, else on the diagonal and the layer map.
#[allow(clippy::too_many_arguments)]
fn cka_pairs(
    va: &ModelView<'_>,
    vb: &ModelView<'_>,
    fa: &[Option<Matrix>],
    fb: &[Option<Matrix>],
    tested: &[(u32, u32)],
    tests: &[BlockTest],
    anchor: &Anchoring,
    opts: &Options,
    large: bool,
) -> Result<Vec<BlockCkaRow>> {
    let (la, lb) = (va.n_blocks(), vb.n_blocks());
    let d_a = anchor.d_a;
    let seed = opts.seed ^ SEED_CKA;
    let mlp_a: Vec<_> = fa
        .iter()
        .map(|f| f.as_ref().and_then(|m| cka::prepare(m, seed)))
        .collect();
    let mlp_b: Vec<_> = fb
        .iter()
        .map(|f| f.as_ref().and_then(|m| cka::prepare(m, seed)))
        .collect();
    let attn = |v: &ModelView<'_>, i: u32, t: &Transform| -> Result<_> {
        let m = if large {
            cka::attention_readers_sampled(v, i, t, d_a, seed)?
        } else {
            cka::attention_readers(v, i, t, d_a)?
        };
        Ok(m.and_then(|m| cka::prepare(&m, seed)))
    };
    let attn_a: Vec<_> = (0..la)
        .map(|i| attn(va, i, &Transform::Identity))
        .collect::<Result<_>>()?;
    let attn_b: Vec<_> = (0..lb)
        .map(|j| attn(vb, j, &anchor.transform))
        .collect::<Result<_>>()?;
    let mut pairs: Vec<(u32, u32)> = if tested.len() <= CKA_ALL_PAIRS {
        tested.to_vec()
    } else {
        map_and_diagonal(tests, la, lb)
    };
    pairs.sort_unstable();
    pairs.dedup();
    let mut out = Vec::new();
    for (a, b) in pairs {
        let (i, j) = (a as usize, b as usize);
        let c = BlockCka {
            mlp: cka::cka(mlp_a[i].as_ref(), mlp_b[j].as_ref()),
            attn: cka::cka(attn_a[i].as_ref(), attn_b[j].as_ref()),
        };
        if c.mlp.is_some() || c.attn.is_some() {
            out.push(BlockCkaRow { a, b, cka: c });
        }
    }
    Ok(out)
}

/// Mixture of experts on one side: each expert against the other side's dense MLP (Fisher
/// over the experts).
fn expert_tests(
    va: &ModelView<'_>,
    vb: &ModelView<'_>,
    transform: &Transform,
    d_a: usize,
    opts: &Options,
) -> Result<Vec<ExpertTest>> {
    let mut out = Vec::new();
    for (side_moe, flip) in [(vb, false), (va, true)] {
        let other = if flip { vb } else { va };
        for j in 0..side_moe.n_blocks() {
            let ex = units::experts(side_moe, j);
            if ex.is_empty() || !units::experts(other, j).is_empty() {
                continue;
            }
            let (t_moe, t_dense) = if flip {
                (Transform::Identity, transform.clone())
            } else {
                (transform.clone(), Transform::Identity)
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
            if let Ok((_, ln_p)) = taoke_stats::combine::fisher(&lns) {
                out.push(ExpertTest {
                    a: j,
                    b: j,
                    ln_p,
                    experts: lns.len(),
                });
            }
        }
    }
    Ok(out)
}

/// Diagonal block pairs of two large models of equal depth, one block at a time: the unit test
/// on a seeded unit subset (the same indices on both sides, drawn independently of the
/// weights, so the p-value stays exact) and the CKA of the MLP units and a seeded sample of
/// attention rows.
fn diagonal_streaming(
    va: &ModelView<'_>,
    vb: &ModelView<'_>,
    transform: &Transform,
    d_a: usize,
    opts: &Options,
) -> Result<(Vec<BlockTest>, Vec<BlockCkaRow>)> {
    let budget = if opts.exhaustive {
        usize::MAX
    } else {
        opts.max_units.min(LARGE_UNITS)
    };
    // Wide models: each unit keeps a seeded subset of LARGE_COORDS residual coordinates per
    // part (the same on both sides, drawn independently of the weights), so the features'
    // memory does not grow with the width.
    let coords = (!opts.exhaustive && d_a > LARGE_COORDS)
        .then(|| SplitMix64::new(opts.seed ^ SEED_COORDS).sample_sorted(d_a, LARGE_COORDS));
    // Blocks in parallel (each pair is independent; results are collected in block order, so
    // the report does not depend on the thread count).
    use rayon::prelude::*;
    let results: Vec<_> = (0..va.n_blocks())
        .into_par_iter()
        .map(|i| diagonal_block(va, vb, i, transform, d_a, budget, coords.as_deref(), opts))
        .collect::<Result<_>>()?;
    let mut tests = Vec::new();
    let mut ckas = Vec::new();
    for (i, (t, c)) in (0u32..).zip(results) {
        if let Some(test) = t {
            tests.push(BlockTest { a: i, b: i, test });
        }
        if let Some(cka) = c {
            ckas.push(BlockCkaRow { a: i, b: i, cka });
        }
    }
    Ok((tests, ckas))
}

/// One diagonal block pair of [`diagonal_streaming`].
#[allow(clippy::too_many_arguments)]
fn diagonal_block(
    va: &ModelView<'_>,
    vb: &ModelView<'_>,
    i: u32,
    transform: &Transform,
    d_a: usize,
    budget: usize,
    coords: Option<&[usize]>,
    opts: &Options,
) -> Result<(Option<UnitTest>, Option<BlockCka>)> {
    let seed = opts.seed ^ SEED_CKA;
    let mut test = None;
    let (h, g) = (
        units::unit_count(va, i, None),
        units::unit_count(vb, i, None),
    );
    let subset = match (h, g) {
        (Some(h), Some(g)) if h == g && h > budget => {
            Some(SplitMix64::new(opts.seed ^ SEED_UNITS ^ u64::from(i)).sample_sorted(h, budget))
        }
        _ => None,
    };
    let feats = |v: &ModelView<'_>, t: &Transform| {
        units::features_subset_cols(v, i, None, t, d_a, subset.as_deref(), coords)
            .map(|f| f.map(|f| f.m))
    };
    let fa = feats(va, &Transform::Identity)?;
    let fb = feats(vb, transform)?;
    let mut c = BlockCka::default();
    if let (Some(x), Some(y)) = (&fa, &fb) {
        if x.cols == y.cols && x.rows >= MIN_UNITS && y.rows >= MIN_UNITS {
            test = units::unit_test(x, y, budget, opts.seed ^ u64::from(i)).ok();
            c.mlp = cka::cka(
                cka::prepare(x, seed).as_ref(),
                cka::prepare(y, seed).as_ref(),
            );
        }
    }
    let attn = |v: &ModelView<'_>, t: &Transform| -> Result<_> {
        let m = if opts.exhaustive {
            cka::attention_readers(v, i, t, d_a)?
        } else {
            cka::attention_readers_sampled(v, i, t, d_a, seed)?
        };
        Ok(m.and_then(|m| cka::prepare(&m, seed)))
    };
    c.attn = cka::cka(
        attn(va, &Transform::Identity)?.as_ref(),
        attn(vb, transform)?.as_ref(),
    );
    Ok((test, (c.mlp.is_some() || c.attn.is_some()).then_some(c)))
}
