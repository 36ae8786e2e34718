//! Comparing two fingerprints: exact unit-matching tests and a closeness score.
//!
//! Two families of tests, each with a p-value exact under the null of independent
//! initialisation (Zhu et al.'s φ_U: hidden-unit orders are exchangeable, so the optimal
//! matching against the identity has a known Spearman distribution):
//!
//! - **embedding columns**: the anchor tokens both fingerprints share give each residual unit
//!   (embedding column) a vector; A's and B's columns are matched and tested. Survives MLP and
//!   head permutations, rescaling, quantization, vocabulary change; not residual rotations.
//! - **block units**: each block's MLP units on the canonical basis, after aligning B's basis to
//!   A's by orthogonal Procrustes on the shared anchors' canonical coordinates (the alignment
//!   depends only on embeddings, never on unit order, so the p-value stays exact). Survives
//!   residual permutations and rotations, norm folding, pruning, upscaling; not MLP unit
//!   permutations. Every block pair is tested (a band when there are many); the minimum is
//!   Bonferroni-corrected.
//!
//! The combined p-value is `2·min(p_emb, p_blocks)` (Bonferroni over the two families).
//! *Closeness* (the mean cosine of the matched MLP units along the layer map; of the embedding
//! columns when no block could be compared) ranks related candidates: copies score within
//! 1e-5 of 1, fine-tunes 1e-3 or more below.

use std::borrow::Cow;

use serde::Serialize;
use taoke_stats::{Alternative, Matrix};

use crate::fingerprint::{BlockUnits, Fingerprint, SCREEN_ANCHORS};
use crate::{Error, Result};

/// Closeness at or above which matched units count as copies (4-bit quantization stays above,
/// measured 0.9990 on the zoo; training falls below, 0.997 at most).
pub const COPY_COS: f64 = 0.998;

/// Most block pairs tested exhaustively; above, a band around the diagonal.
pub const MAX_BLOCK_PAIRS: usize = 256;

/// Result of one exact test.
#[derive(Debug, Clone, Serialize)]
pub struct Test {
    /// `embedding-columns` or `block-units`.
    pub test: &'static str,
    /// Where (`embeddings`, `block 3 ~ block 2`).
    pub scope: String,
    /// Spearman ρ of the matching against the identity.
    pub rho: f64,
    /// log10 p-value (exact under independent initialisation).
    pub log10_p: f64,
    /// Mean cosine of matched units.
    pub mean_cos: f64,
    /// Units matched.
    pub n: usize,
}

/// The comparison of fingerprint B (the query) against A (a candidate ancestor).
#[derive(Debug, Clone, Serialize)]
pub struct FpComparison {
    /// Anchors shared.
    pub shared_anchors: usize,
    /// log10 of the combined p-value (None: no test could run).
    pub log10_p: Option<f64>,
    /// Closeness in [−1, 1]: mean cosine of the matched block units (embedding columns when no
    /// block could be compared).
    pub closeness: f64,
    /// Whether the B block units matched A's in the same positions at closeness ≥ 0.998 and
    /// equal depth (a disguised or lossy copy).
    pub copy_like: bool,
    /// Layer map: (B block, A block) for blocks with a significant match.
    pub layer_map: Vec<(u32, u32)>,
    /// The decisive tests (embedding test, best block pair per B block).
    pub tests: Vec<Test>,
}

const LN10: f64 = std::f64::consts::LN_10;

fn shared(a: &Fingerprint, b: &Fingerprint) -> Vec<(usize, usize)> {
    let index: std::collections::HashMap<&str, usize> = b
        .anchors
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    a.anchors
        .iter()
        .enumerate()
        .filter_map(|(i, s)| index.get(s.as_str()).map(|&j| (i, j)))
        .collect()
}

fn rows(m: &Matrix, idx: impl Iterator<Item = usize>) -> Result<Matrix> {
    let idx: Vec<usize> = idx.collect();
    m.view()
        .select_rows(&idx)
        .map_err(|e| Error::Stats(e.to_string()))
}

/// Units per block pair in the screening test (a seeded subset: the p-value stays exact).
pub const SCREEN_UNITS: usize = 64;

fn phi_screen(a: &Matrix, b: &Matrix) -> Option<(f64, f64, f64, usize)> {
    if a.rows.min(b.rows) <= SCREEN_UNITS {
        return phi(a, b);
    }
    if a.cols != b.cols {
        return None;
    }
    // A seeded subset of unit indices (the same indices on both sides when the counts agree):
    // chosen by index, never by value, so the rank test stays exact.
    let r = taoke_stats::matching::phi_u_subset(
        a.view(),
        b.view(),
        SCREEN_UNITS,
        0x7a0c_e5c2,
        Alternative::Greater,
    )
    .ok()?;
    Some((
        r.test.ln_p,
        r.test.rho,
        r.matching.mean_similarity(),
        r.matching.pairs.len(),
    ))
}

/// The rows of A's and B's block units with the same original unit index, when both blocks
/// have the same width but keep different units (a thinned fingerprint): the identity null
/// of the unit test is about units of the same index. Otherwise both as stored.
fn common_units<'m>(
    a: &'m BlockUnits,
    ub: &'m Matrix,
    b: Option<&BlockUnits>,
) -> (Cow<'m, Matrix>, Cow<'m, Matrix>) {
    let same = (Cow::Borrowed(&a.units), Cow::Borrowed(ub));
    let Some(b) = b else { return same };
    if a.total != b.total || a.index == b.index || b.index.len() != ub.rows {
        return same;
    }
    let pos: std::collections::HashMap<u32, usize> =
        b.index.iter().enumerate().map(|(k, &i)| (i, k)).collect();
    let pairs: Vec<(usize, usize)> = a
        .index
        .iter()
        .enumerate()
        .filter_map(|(k, i)| pos.get(i).map(|&l| (k, l)))
        .collect();
    if pairs.len() == a.units.rows && pairs.len() == ub.rows && pairs.iter().all(|&(k, l)| k == l) {
        return same;
    }
    let pick = |m: &Matrix, side: bool| {
        Matrix::from_fn(pairs.len(), m.cols, |r, c| {
            let (k, l) = pairs[r];
            m.get(if side { l } else { k }, c)
        })
    };
    (
        Cow::Owned(pick(&a.units, false)),
        Cow::Owned(pick(ub, true)),
    )
}

fn phi(a: &Matrix, b: &Matrix) -> Option<(f64, f64, f64, usize)> {
    if a.rows < 8 || b.rows < 8 || a.cols != b.cols {
        return None;
    }
    let r = taoke_stats::matching::phi_u(a.view(), b.view(), Alternative::Greater).ok()?;
    Some((
        r.test.ln_p,
        r.test.rho,
        r.matching.mean_similarity(),
        r.matching.pairs.len(),
    ))
}

/// Compares query `b` against candidate `a` at the default significance level
/// ([`compare_at`]).
pub fn compare(a: &Fingerprint, b: &Fingerprint) -> Result<FpComparison> {
    compare_at(a, b, taoke_evidence::Options::default().alpha)
}

/// Compares query `b` against candidate `a`; `alpha` is the caller's significance level, which
/// decides which block pairs count as related (and so are measured in full and picked by
/// p-value). Errors when the fingerprints come from different algorithms (never silently
/// compared).
pub fn compare_at(a: &Fingerprint, b: &Fingerprint, alpha: f64) -> Result<FpComparison> {
    let sh = shared(a, b);
    let mut tests = Vec::new();
    let mut ln_emb = None;
    let mut cos_emb = f64::NEG_INFINITY;
    let (Some(ea), Some(eb), Some(ca), Some(cb)) = (&a.emb, &b.emb, &a.canon, &b.canon) else {
        return Ok(FpComparison {
            shared_anchors: sh.len(),
            log10_p: None,
            closeness: 0.0,
            copy_like: false,
            layer_map: Vec::new(),
            tests,
        });
    };
    if sh.len() >= 8 {
        let sa = rows(ea, sh.iter().map(|p| p.0))?;
        let sb = rows(eb, sh.iter().map(|p| p.1))?;
        let (ta, tb) = (sa.view().transpose(), sb.view().transpose());
        if let Some((lnp, rho, cos, n)) = phi(&ta, &tb) {
            ln_emb = Some(lnp);
            cos_emb = cos;
            tests.push(Test {
                test: "embedding-columns",
                scope: "embeddings".into(),
                rho,
                log10_p: lnp / LN10,
                mean_cos: cos,
                n,
            });
        }
    }
    let emb_related = ln_emb.is_some_and(|l| l < alpha.ln());
    // Canonical alignment of B to A.
    let mut ln_blocks = None;
    let mut cos_blocks = f64::NEG_INFINITY;
    let mut layer_map = Vec::new();
    let mut copy_like = false;
    if sh.len() >= 8 && ca.cols == cb.cols {
        let sa = rows(ca, sh.iter().map(|p| p.0))?;
        let sb = rows(cb, sh.iter().map(|p| p.1))?;
        if let Some(q) = taoke_evidence::align::procrustes(sa.view(), sb.view()) {
            let r = ca.cols;
            let map = |u: &Matrix| -> Option<Matrix> {
                if !u.cols.is_multiple_of(r) {
                    return None;
                }
                let parts = u.cols / r;
                let mut out = Matrix::zeros(u.rows, u.cols);
                for p in 0..parts {
                    let part = Matrix::from_fn(u.rows, r, |i, j| u.get(i, p * r + j));
                    let m = taoke_evidence::align::matmul(part.view(), q.view());
                    for i in 0..u.rows {
                        out.data[i * u.cols + p * r..i * u.cols + (p + 1) * r]
                            .copy_from_slice(m.row(i));
                    }
                }
                Some(out)
            };
            let (la, lb) = (a.blocks.len(), b.blocks.len());
            let all = la * lb <= MAX_BLOCK_PAIRS;
            let mapped: Vec<Option<Matrix>> = b
                .blocks
                .iter()
                .map(|x| x.as_ref().and_then(|x| map(&x.units)))
                .collect();
            let mut results: Vec<(usize, usize, f64, f64, f64, usize)> = Vec::new();
            for (j, ub) in mapped.iter().enumerate() {
                let Some(ub) = ub else { continue };
                for (i, ua) in a.blocks.iter().enumerate() {
                    let Some(ua) = ua else { continue };
                    if !all {
                        let ej = i as f64 * lb as f64 / la.max(1) as f64;
                        if (j as f64 - ej).abs() > 2.0 {
                            continue;
                        }
                    }
                    let ib = b.blocks[j].as_ref();
                    let (xa, xb) = common_units(ua, ub, ib);
                    if let Some((lnp, rho, cos, n)) = phi_screen(&xa, &xb) {
                        results.push((i, j, lnp, rho, cos, n));
                    }
                }
            }
            if !results.is_empty() {
                let m = results.len() as f64;
                let min = results.iter().map(|r| r.2).fold(f64::INFINITY, f64::min);
                ln_blocks = Some((min + m.ln()).min(0.0));
                // Per block: the best counterpart (by p-value when significant, else by
                // cosine, so disguised copies whose unit order changed still count as close).
                // The screening subset decides; the chosen pairs are measured again on all
                // stored units (closeness ranks copies finely; those p-values are not used).
                let ln_thr = alpha.ln() - m.ln();
                let mut full: std::collections::BTreeMap<(usize, usize), (f64, f64, usize)> =
                    std::collections::BTreeMap::new();
                let mut measure = |i: usize, j: usize, screen: (f64, f64, f64, usize)| {
                    *full.entry((i, j)).or_insert_with(|| {
                        // Measured in full when the pair is related (by this block, or by the
                        // embedding test: a copy whose MLP units were permuted matches no
                        // screening subset, yet its units all have counterparts).
                        let worth = screen.0 < ln_thr || screen.2 > 0.9 || emb_related;
                        worth
                            .then(|| a.blocks[i].as_ref().zip(mapped[j].as_ref()))
                            .flatten()
                            .and_then(|(ua, ub)| {
                                let (xa, xb) = common_units(ua, ub, b.blocks[j].as_ref());
                                phi(&xa, &xb)
                            })
                            .map_or((screen.1, screen.2, screen.3), |(_, r, c, k)| (r, c, k))
                    })
                };
                let pick = |rs: Vec<&(usize, usize, f64, f64, f64, usize)>| {
                    let by_p = rs.iter().min_by(|x, y| x.2.total_cmp(&y.2)).copied();
                    match by_p {
                        Some(r) if r.2 < ln_thr => Some(*r),
                        _ => rs.iter().max_by(|x, y| x.4.total_cmp(&y.4)).map(|r| **r),
                    }
                };
                // In a related pair, a block with no counterpart (pruned, or added by
                // upscaling) adds 0, not the noisy cosine of its best unrelated block: two
                // copies of the same model then sit equally close to a pruned relative.
                let related_pair = emb_related || results.iter().any(|r| r.2 < ln_thr);
                let counted = |lnp: f64, cos: f64| {
                    if !related_pair || lnp < ln_thr || cos > 0.9 {
                        cos
                    } else {
                        0.0
                    }
                };
                let mut cos_sum = 0.0;
                let mut cos_n = 0usize;
                let mut same_pos = 0usize;
                for j in 0..lb {
                    let Some((i, _, lnp, _, c0, n0)) =
                        pick(results.iter().filter(|r| r.1 == j).collect())
                    else {
                        continue;
                    };
                    let (rho, cos, n) = measure(i, j, (lnp, 0.0, c0, n0));
                    cos_sum += counted(lnp, cos);
                    cos_n += 1;
                    if lnp < ln_thr {
                        layer_map.push((j as u32, i as u32));
                        if i == j && cos >= COPY_COS {
                            same_pos += 1;
                        }
                    }
                    tests.push(Test {
                        test: "block-units",
                        scope: format!("block {j} ~ block {i}"),
                        rho,
                        log10_p: lnp / LN10,
                        mean_cos: cos,
                        n,
                    });
                }
                // The other side's blocks too, so that closeness is symmetric.
                for i in 0..la {
                    let Some((_, j, lnp, _, c0, n0)) =
                        pick(results.iter().filter(|r| r.0 == i).collect())
                    else {
                        continue;
                    };
                    cos_sum += counted(lnp, measure(i, j, (lnp, 0.0, c0, n0)).1);
                    cos_n += 1;
                }
                // A related pair none of whose blocks found a counterpart (MLP units permuted
                // in blocks wider than the fingerprint keeps, whose sampled units then differ)
                // is ranked by its embedding columns instead.
                if cos_n > 0 && (cos_sum > 0.0 || !related_pair) {
                    cos_blocks = cos_sum / cos_n as f64;
                }
                copy_like = la == lb && same_pos == lb && lb > 0;
            }
        }
    }
    let ln_p = match (ln_emb, ln_blocks) {
        (Some(x), Some(y)) => Some((x.min(y) + std::f64::consts::LN_2).min(0.0)),
        (Some(x), None) | (None, Some(x)) => Some(x.min(0.0)),
        (None, None) => None,
    };
    // Block units see every disguise and every trained change; embeddings change little under
    // fine-tuning, so they rank only when no block could be compared.
    let mut closeness = if cos_blocks.is_finite() {
        cos_blocks
    } else {
        cos_emb
    };
    // Bases built on different anchor sets (a copy shipped without its tokenizer: its anchors
    // are token ids, the original's token strings; they share only the id anchors) in the same
    // hidden coordinates (the embedding columns matched to themselves): the block units,
    // projected on two different bases, understate a copy (0.56 for the int8 export of
    // all-MiniLM-L6-v2), so closeness is the embedding columns' cosine, and the pair is a copy
    // when those are at copy level and every block matched its counterpart at the same depth.
    let emb_identity = tests
        .iter()
        .any(|t| t.test == "embedding-columns" && t.rho >= 0.999);
    let ids_only = |f: &Fingerprint| f.anchors.iter().all(|s| s.starts_with('#'));
    let bases_differ =
        ids_only(a) != ids_only(b) && sh.len() < a.anchors.len().min(b.anchors.len());
    if bases_differ && emb_identity && cos_emb.is_finite() {
        closeness = cos_emb;
        let lb = b.blocks.len();
        let diagonal = lb > 0
            && a.blocks.len() == lb
            && layer_map.len() == lb
            && layer_map.iter().all(|&(j, i)| i == j);
        if cos_emb >= COPY_COS && diagonal {
            copy_like = true;
        }
    }
    Ok(FpComparison {
        shared_anchors: sh.len(),
        log10_p: ln_p.map(|l| l / LN10),
        closeness: if closeness.is_finite() {
            closeness
        } else {
            0.0
        },
        copy_like: copy_like
            || (cos_emb >= COPY_COS && a.blocks.len() == b.blocks.len() && cos_blocks >= COPY_COS),
        layer_map,
        tests,
    })
}

/// The prescreen signature: anchors' hashes and the upper triangle of the cosine Gram matrix
/// of the first [`SCREEN_ANCHORS`] anchors' canonical (centred) coordinates. Invariant to
/// residual permutations and rotations.
#[derive(Debug, Clone, PartialEq)]
pub struct Screen {
    /// Anchor hashes.
    pub hashes: Vec<u64>,
    /// Cosine Gram (row-major, `n × n`).
    pub gram: Vec<f32>,
}

impl Screen {
    /// The screen of a fingerprint (empty without weights).
    pub fn of(fp: &Fingerprint) -> Screen {
        let Some(c) = &fp.canon else {
            return Screen {
                hashes: Vec::new(),
                gram: Vec::new(),
            };
        };
        let n = SCREEN_ANCHORS.min(c.rows);
        let norms: Vec<f64> = (0..n)
            .map(|i| {
                c.row(i)
                    .iter()
                    .map(|&x| f64::from(x).powi(2))
                    .sum::<f64>()
                    .sqrt()
                    .max(1e-30)
            })
            .collect();
        let mut gram = vec![0f32; n * n];
        for i in 0..n {
            for j in 0..n {
                let dot: f64 = c
                    .row(i)
                    .iter()
                    .zip(c.row(j))
                    .map(|(&x, &y)| f64::from(x) * f64::from(y))
                    .sum();
                gram[i * n + j] = (dot / (norms[i] * norms[j])) as f32;
            }
        }
        Screen {
            hashes: fp.anchors[..n]
                .iter()
                .map(|s| crate::fingerprint::fnv1a(s.as_bytes()))
                .collect(),
            gram,
        }
    }

    /// Pearson correlation of the Gram entries over shared anchors (0 with fewer than 6).
    pub fn score(&self, other: &Screen) -> f64 {
        let mut pos: Vec<(usize, usize)> = Vec::with_capacity(self.hashes.len());
        for (i, h) in self.hashes.iter().enumerate() {
            if let Some(j) = other.hashes.iter().position(|x| x == h) {
                pos.push((i, j));
            }
        }
        if pos.len() < 6 {
            return 0.0;
        }
        let (na, nb) = (self.hashes.len(), other.hashes.len());
        let (mut sx, mut sy, mut sxx, mut syy, mut sxy, mut n) =
            (0f64, 0f64, 0f64, 0f64, 0f64, 0f64);
        for (k, &(i1, j1)) in pos.iter().enumerate() {
            for &(i2, j2) in &pos[k + 1..] {
                let x = f64::from(self.gram[i1 * na + i2]);
                let y = f64::from(other.gram[j1 * nb + j2]);
                sx += x;
                sy += y;
                sxx += x * x;
                syy += y * y;
                sxy += x * y;
                n += 1.0;
            }
        }
        let vx = sxx - sx * sx / n;
        let vy = syy - sy * sy / n;
        if vx <= 0.0 || vy <= 0.0 {
            return 0.0;
        }
        (sxy - sx * sy / n) / (vx * vy).sqrt()
    }

    /// Serializes (hashes then f32 Gram, little-endian).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.hashes.len() * 8 + self.gram.len() * 4);
        out.extend_from_slice(&(self.hashes.len() as u32).to_le_bytes());
        for h in &self.hashes {
            out.extend_from_slice(&h.to_le_bytes());
        }
        for g in &self.gram {
            out.extend_from_slice(&g.to_le_bytes());
        }
        out
    }

    /// Parses [`Screen::to_bytes`]; `None` when malformed.
    pub fn from_bytes(b: &[u8]) -> Option<Screen> {
        let n = u32::from_le_bytes(b.get(..4)?.try_into().ok()?) as usize;
        if n > 4096 || b.len() != 4 + n * 8 + n * n * 4 {
            return None;
        }
        let hashes = (0..n)
            .map(|i| u64::from_le_bytes(b[4 + i * 8..12 + i * 8].try_into().unwrap_or([0; 8])))
            .collect();
        let off = 4 + n * 8;
        let gram = (0..n * n)
            .map(|i| {
                f32::from_le_bytes(b[off + i * 4..off + i * 4 + 4].try_into().unwrap_or([0; 4]))
            })
            .collect();
        Some(Screen { hashes, gram })
    }
}
