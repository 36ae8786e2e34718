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
    let (Some(ea), Some(eb), Some(ca), Some(cb)) = (&a.emb, &b.emb, &a.canon, &b.canon) else {
        return Ok(FpComparison {
            shared_anchors: sh.len(),
            log10_p: None,
            closeness: 0.0,
            copy_like: false,
            layer_map: Vec::new(),
            tests: Vec::new(),
        });
    };
    let emb = embedding_test(ea, eb, &sh)?;
    let emb_related = emb.ln_p.is_some_and(|l| l < alpha.ln());
    let blocks = if sh.len() >= 8 && ca.cols == cb.cols {
        block_tests(a, b, ca, cb, &sh, alpha, emb_related)?
    } else {
        BlockFindings::none()
    };
    Ok(combine(a, b, sh.len(), emb, blocks))
}

/// The embedding-columns test on the shared anchors.
struct EmbeddingFindings {
    /// ln p-value (None: too few anchors or units to test).
    ln_p: Option<f64>,
    /// Mean cosine of the matched columns (−∞ when untested).
    cos: f64,
    test: Option<Test>,
}

/// Matches A's embedding columns to B's on the shared anchors (`sh`: pairs of anchor
/// indices) and tests the matching against the identity.
fn embedding_test(ea: &Matrix, eb: &Matrix, sh: &[(usize, usize)]) -> Result<EmbeddingFindings> {
    let mut out = EmbeddingFindings {
        ln_p: None,
        cos: f64::NEG_INFINITY,
        test: None,
    };
    if sh.len() >= 8 {
        let sa = rows(ea, sh.iter().map(|p| p.0))?;
        let sb = rows(eb, sh.iter().map(|p| p.1))?;
        let (ta, tb) = (sa.view().transpose(), sb.view().transpose());
        if let Some((lnp, rho, cos, n)) = phi(&ta, &tb) {
            out.ln_p = Some(lnp);
            out.cos = cos;
            out.test = Some(Test {
                test: "embedding-columns",
                scope: "embeddings".into(),
                rho,
                log10_p: lnp / LN10,
                mean_cos: cos,
                n,
            });
        }
    }
    Ok(out)
}

/// What the block-units tests found.
struct BlockFindings {
    /// ln p-value of the best block pair, Bonferroni-corrected (None: no pair tested).
    ln_p: Option<f64>,
    /// Mean counted cosine of each block's best counterpart, both ways (−∞ when none).
    cos: f64,
    /// (B block, A block) of the significant counterparts.
    layer_map: Vec<(u32, u32)>,
    /// Every B block matched A's block at the same depth at copy level, equal depths.
    copy_like: bool,
    /// One `block-units` test per B block with a counterpart.
    tests: Vec<Test>,
}

impl BlockFindings {
    fn none() -> Self {
        BlockFindings {
            ln_p: None,
            cos: f64::NEG_INFINITY,
            layer_map: Vec::new(),
            copy_like: false,
            tests: Vec::new(),
        }
    }
}

/// The screening test of A's block `i` against B's block `j`: ln p-value, mean cosine and
/// units matched (its ρ, of a subset, is never reported).
#[derive(Debug, Clone, Copy)]
struct BlockScreen {
    i: usize,
    j: usize,
    ln_p: f64,
    cos: f64,
    n: usize,
}

/// Aligns B's canonical basis to A's (orthogonal Procrustes on the shared anchors' canonical
/// coordinates), screens the block pairs, then measures each block's best counterpart.
fn block_tests(
    a: &Fingerprint,
    b: &Fingerprint,
    ca: &Matrix,
    cb: &Matrix,
    sh: &[(usize, usize)],
    alpha: f64,
    emb_related: bool,
) -> Result<BlockFindings> {
    let sa = rows(ca, sh.iter().map(|p| p.0))?;
    let sb = rows(cb, sh.iter().map(|p| p.1))?;
    let Some(q) = taoke_evidence::align::procrustes(sa.view(), sb.view()) else {
        return Ok(BlockFindings::none());
    };
    let mapped: Vec<Option<Matrix>> = b
        .blocks
        .iter()
        .map(|x| x.as_ref().and_then(|x| rotate_units(&x.units, &q, ca.cols)))
        .collect();
    let screens = screen_block_pairs(a, b, &mapped);
    if screens.is_empty() {
        return Ok(BlockFindings::none());
    }
    let m = screens.len() as f64;
    let min = screens.iter().map(|r| r.ln_p).fold(f64::INFINITY, f64::min);
    let ln_thr = alpha.ln() - m.ln();
    let mut counterparts = Counterparts {
        a,
        b,
        mapped: &mapped,
        ln_thr,
        emb_related,
        // In a related pair, a block with no counterpart (pruned, or added by upscaling)
        // adds 0, not the noisy cosine of its best unrelated block: two copies of the same
        // model then sit equally close to a pruned relative.
        related_pair: emb_related || screens.iter().any(|r| r.ln_p < ln_thr),
        full: std::collections::BTreeMap::new(),
        screens,
    };
    let mut out = counterparts.findings();
    out.ln_p = Some((min + m.ln()).min(0.0));
    Ok(out)
}

/// B's block units (each part of `r` columns) in A's canonical basis: multiplied by `q`.
fn rotate_units(u: &Matrix, q: &Matrix, r: usize) -> Option<Matrix> {
    if !u.cols.is_multiple_of(r) {
        return None;
    }
    let parts = u.cols / r;
    let mut out = Matrix::zeros(u.rows, u.cols);
    for p in 0..parts {
        let part = Matrix::from_fn(u.rows, r, |i, j| u.get(i, p * r + j));
        let m = taoke_evidence::align::matmul(part.view(), q.view());
        for i in 0..u.rows {
            out.data[i * u.cols + p * r..i * u.cols + (p + 1) * r].copy_from_slice(m.row(i));
        }
    }
    Some(out)
}

/// The screening test on every block pair ([`MAX_BLOCK_PAIRS`] at most; above, a band of
/// two blocks around the diagonal), B's aligned units `mapped` against A's.
fn screen_block_pairs(
    a: &Fingerprint,
    b: &Fingerprint,
    mapped: &[Option<Matrix>],
) -> Vec<BlockScreen> {
    let (la, lb) = (a.blocks.len(), b.blocks.len());
    let all = la * lb <= MAX_BLOCK_PAIRS;
    let mut screens = Vec::new();
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
            let (xa, xb) = common_units(ua, ub, b.blocks[j].as_ref());
            if let Some((ln_p, _, cos, n)) = phi_screen(&xa, &xb) {
                screens.push(BlockScreen { i, j, ln_p, cos, n });
            }
        }
    }
    screens
}

/// Each block's best counterpart on the other side: by p-value when significant, else by
/// cosine, so disguised copies whose unit order changed still count as close. The screening
/// subset decides; the chosen pairs are measured again on all stored units (closeness ranks
/// copies finely; those p-values are not used).
struct Counterparts<'a> {
    a: &'a Fingerprint,
    b: &'a Fingerprint,
    mapped: &'a [Option<Matrix>],
    screens: Vec<BlockScreen>,
    /// ln α, Bonferroni-corrected for the pairs screened.
    ln_thr: f64,
    emb_related: bool,
    /// The embedding test or some block pair relates the two.
    related_pair: bool,
    /// (ρ, mean cosine, units) of the pairs measured so far.
    full: std::collections::BTreeMap<(usize, usize), (f64, f64, usize)>,
}

impl Counterparts<'_> {
    /// The best of `rs` (the screens of one block against the other side's).
    fn pick(&self, rs: Vec<&BlockScreen>) -> Option<BlockScreen> {
        let by_p = rs.iter().min_by(|x, y| x.ln_p.total_cmp(&y.ln_p)).copied();
        match by_p {
            Some(r) if r.ln_p < self.ln_thr => Some(*r),
            _ => rs
                .iter()
                .max_by(|x, y| x.cos.total_cmp(&y.cos))
                .map(|r| **r),
        }
    }

    /// (ρ, mean cosine, units) of the screened pair `s` on all stored units, when the pair
    /// is related (by this block, or by the embedding test: a copy whose MLP units were
    /// permuted matches no screening subset, yet its units all have counterparts); else the
    /// screen's cosine and units with ρ 0.
    fn measure(&mut self, s: &BlockScreen) -> (f64, f64, usize) {
        let (i, j) = (s.i, s.j);
        let worth = s.ln_p < self.ln_thr || s.cos > 0.9 || self.emb_related;
        let (a, b, mapped) = (self.a, self.b, self.mapped);
        *self.full.entry((i, j)).or_insert_with(|| {
            worth
                .then(|| a.blocks[i].as_ref().zip(mapped[j].as_ref()))
                .flatten()
                .and_then(|(ua, ub)| {
                    let (xa, xb) = common_units(ua, ub, b.blocks[j].as_ref());
                    phi(&xa, &xb)
                })
                .map_or((0.0, s.cos, s.n), |(_, r, c, k)| (r, c, k))
        })
    }

    /// The cosine a block adds to closeness (0 for a block without a counterpart in a
    /// related pair).
    fn counted(&self, ln_p: f64, cos: f64) -> f64 {
        if !self.related_pair || ln_p < self.ln_thr || cos > 0.9 {
            cos
        } else {
            0.0
        }
    }

    /// The layer map, the block tests and the closeness: B's blocks first, then A's (so that
    /// closeness is symmetric).
    fn findings(&mut self) -> BlockFindings {
        let (la, lb) = (self.a.blocks.len(), self.b.blocks.len());
        let mut out = BlockFindings::none();
        let mut cos_sum = 0.0;
        let mut cos_n = 0usize;
        let mut same_pos = 0usize;
        for j in 0..lb {
            let Some(s) = self.pick(self.screens.iter().filter(|r| r.j == j).collect()) else {
                continue;
            };
            let (rho, cos, n) = self.measure(&s);
            cos_sum += self.counted(s.ln_p, cos);
            cos_n += 1;
            if s.ln_p < self.ln_thr {
                out.layer_map.push((j as u32, s.i as u32));
                if s.i == j && cos >= COPY_COS {
                    same_pos += 1;
                }
            }
            out.tests.push(Test {
                test: "block-units",
                scope: format!("block {j} ~ block {}", s.i),
                rho,
                log10_p: s.ln_p / LN10,
                mean_cos: cos,
                n,
            });
        }
        for i in 0..la {
            let Some(s) = self.pick(self.screens.iter().filter(|r| r.i == i).collect()) else {
                continue;
            };
            let cos = self.measure(&s).1;
            cos_sum += self.counted(s.ln_p, cos);
            cos_n += 1;
        }
        // A related pair none of whose blocks found a counterpart (MLP units permuted in
        // blocks wider than the fingerprint keeps, whose sampled units then differ) is ranked
        // by its embedding columns instead.
        if cos_n > 0 && (cos_sum > 0.0 || !self.related_pair) {
            out.cos = cos_sum / cos_n as f64;
        }
        out.copy_like = la == lb && same_pos == lb && lb > 0;
        out
    }
}

/// The combined p-value (Bonferroni over the two test families), the closeness and whether
/// the pair is a copy.
fn combine(
    a: &Fingerprint,
    b: &Fingerprint,
    shared_anchors: usize,
    emb: EmbeddingFindings,
    blocks: BlockFindings,
) -> FpComparison {
    let ln_p = match (emb.ln_p, blocks.ln_p) {
        (Some(x), Some(y)) => Some((x.min(y) + std::f64::consts::LN_2).min(0.0)),
        (Some(x), None) | (None, Some(x)) => Some(x.min(0.0)),
        (None, None) => None,
    };
    let (cos_emb, cos_blocks, layer_map) = (emb.cos, blocks.cos, blocks.layer_map);
    let mut copy_like = blocks.copy_like;
    let mut tests: Vec<Test> = emb.test.into_iter().collect();
    tests.extend(blocks.tests);
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
        ids_only(a) != ids_only(b) && shared_anchors < a.anchors.len().min(b.anchors.len());
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
    FpComparison {
        shared_anchors,
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
    }
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
