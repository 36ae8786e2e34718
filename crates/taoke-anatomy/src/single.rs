//! Roles of one model alone, when names tell nothing: from the shapes (the architecture
//! skeleton), then from statistics that survive permutations of units, heads and the residual
//! stream.
//!
//! # Skeleton
//!
//! The residual width `d` is the most frequent vector length. Matrices with one axis of `d`
//! fall into classes by their other axis and the side it is on: a gated MLP has twice as many
//! `[ff, d]` matrices (gate, up) as `[d, ff]` ones (down), which also tells the storage
//! orientation (`[out, in]` or transposed, Conv1D style); grouped-query attention has `2L`
//! `[kv, d]` matrices (K, V) and `2L` `[d, d]` ones (Q, O); multi-head attention `4L` `[d, d]`.
//! The number of layers `L` comes from these counts (`config.json` is only compared with it:
//! names and configs may lie, shapes do not).
//!
//! # Statistics
//!
//! Measured on SmolLM2-135M, all-MiniLM-L6-v2, stories260K and the zoo's tiny models (see the
//! tests), each class is split by a score whose top `L` members take the first role:
//!
//! - Q against O: the head axis. Norms of the output rows of Q (and K, V) vary by head (the
//!   share of their variance between heads of `head_dim` rows is high), while O has its head
//!   axis on the input side. Separates Q from O in every real model measured.
//! - K against V: rotary pairing. K's rows come in rotary pairs of equal frequency whose norms
//!   agree within a head (after removing the head's mean); V's rows do not. With the row-norm
//!   spread and the tail weight (kurtosis) of the values, which are higher for K.
//! - gate against up: gate and up of one block share their unit order, so their row norms
//!   correlate across units; pairs are formed by that correlation, and within a pair the gate
//!   has the wider row-norm spread and heavier tails. Without clear pairs, the class is split
//!   by the same statistics globally.
//! - Norm vectors: the final norm has the largest mean gain; the block's input norm (before
//!   attention) has a wider spread of gains than the norm before the MLP (weak: a low margin).
//!
//! Each role carries a margin: how far its score lies from the split, in units of the
//! within-group spread. Below about 1 the statistics barely decide, and the candidates are
//! listed. Memory is bounded: at most [`MAX_SAMPLE_ROWS`] rows of any matrix are read (whole
//! heads, in aligned chunks), and vectors above [`MAX_VECTOR`] values are skipped.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::role::{Param, Role};
use crate::{AnatomyError, TensorDesc, TensorSource};

/// Most rows of a matrix read for its statistics.
pub const MAX_SAMPLE_ROWS: u64 = 1024;

/// Most values read from one matrix (fewer rows are sampled from very wide matrices; a
/// matrix with longer rows is skipped).
pub const MAX_SAMPLE_VALUES: u64 = 1 << 25;

/// Rows per sampled chunk (chunks are aligned, so they hold whole heads).
const CHUNK_ROWS: u64 = 256;

/// Longest vector read.
pub const MAX_VECTOR: u64 = 1 << 20;

/// Head dimensions tried when the configuration gives none that fits.
const HEAD_DIMS: &[u64] = &[128, 64, 96, 80, 256, 32, 16, 8];

/// A margin below this is reported as undecided (the candidates are listed).
pub const DECIDED_MARGIN: f64 = 1.0;

/// What placed a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SingleEvidence {
    /// The shape alone (the only class member of its kind).
    Shape,
    /// Statistics within a shape class.
    Statistics,
}

/// One tensor's role inferred from the model alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SingleRole {
    /// Tensor index.
    pub index: usize,
    /// Best role.
    pub role: Role,
    /// Weight or bias.
    pub param: Param,
    /// Roles the shape allows (the best first); one when the shape decides.
    pub candidates: Vec<Role>,
    /// How the role was found.
    pub evidence: SingleEvidence,
    /// Distance of the tensor's score from the split in units of the within-group spread
    /// (∞ when the shape decides).
    pub margin: f64,
    /// Block index, when the order of the blocks could be recovered.
    pub block: Option<u32>,
}

impl SingleRole {
    /// Whether the statistics decided (margin at least [`DECIDED_MARGIN`]).
    pub fn decided(&self) -> bool {
        self.candidates.len() <= 1 || self.margin >= DECIDED_MARGIN
    }

    /// The role as shown: `attn_q`, or `attn_q|attn_output` when undecided.
    pub fn label(&self) -> String {
        if self.decided() {
            self.role.as_str().to_owned()
        } else {
            self.candidates
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join("|")
        }
    }
}

/// The skeleton and roles of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SingleInference {
    /// Residual width.
    pub hidden: u64,
    /// Blocks, from the shape counts.
    pub layers: u64,
    /// MLP width.
    pub intermediate: Option<u64>,
    /// Head dimension used for the head statistics.
    pub head_dim: Option<u64>,
    /// Gated MLP (gate, up, down).
    pub gated: bool,
    /// Matrices stored `[in, out]`.
    pub transposed: bool,
    /// Roles, by tensor index.
    pub roles: Vec<SingleRole>,
    /// Remarks (disagreements with `config.json`, weak splits).
    pub notes: Vec<String>,
}

/// Reads the sampled rows of a matrix: `rows` in increasing order, each of `shape[1]` values.
fn read_rows(
    src: &dyn TensorSource,
    t: &TensorDesc,
    index: usize,
    rows: &[u64],
) -> Result<Vec<f32>, AnatomyError> {
    let cols = t.shape.get(1).copied().unwrap_or(0);
    let v = src
        .read_rows_f32(index, cols, rows)
        .map_err(|source| AnatomyError::Read {
            name: t.name.clone(),
            source,
        })?;
    let want = (rows.len() as u64).checked_mul(cols);
    if want != Some(v.len() as u64) {
        return Err(AnatomyError::ValueCount {
            name: t.name.clone(),
            got: v.len(),
            shape: t.shape.clone(),
        });
    }
    Ok(v)
}

/// Rows sampled from a matrix of `n` rows: all, or aligned chunks spread evenly.
pub fn sample_rows(n: u64) -> Vec<u64> {
    if n <= MAX_SAMPLE_ROWS {
        return (0..n).collect();
    }
    let chunks = MAX_SAMPLE_ROWS / CHUNK_ROWS;
    let slots = n / CHUNK_ROWS;
    let mut out = Vec::with_capacity(MAX_SAMPLE_ROWS as usize);
    for k in 0..chunks {
        let start = (k * slots / chunks) * CHUNK_ROWS;
        out.extend(start..(start + CHUNK_ROWS).min(n));
    }
    out
}

/// Statistics of one matrix (as stored: rows are dimension 0).
#[derive(Debug, Clone, Default)]
pub struct Features {
    /// Standard deviation of the values.
    pub std: f64,
    /// Mean of the values.
    pub mean: f64,
    /// Excess kurtosis of the values.
    pub kurt: f64,
    /// Coefficient of variation of the row norms.
    pub row_cv: f64,
    /// Coefficient of variation of the column norms.
    pub col_cv: f64,
    /// Share of the row norms' variance between heads.
    pub row_head: f64,
    /// Share of the column norms' variance between heads.
    pub col_head: f64,
    /// Rotary pairing of the row norms within heads.
    pub row_rope: f64,
    /// Rotary pairing of the column norms within heads.
    pub col_rope: f64,
    /// Norms of the sampled rows.
    pub row_norms: Vec<f64>,
    /// Norms of the columns over the sampled rows.
    pub col_norms: Vec<f64>,
}

fn moments(v: &[f64]) -> (f64, f64, f64) {
    let n = v.len().max(1) as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n;
    let m4 = v.iter().map(|x| (x - m).powi(4)).sum::<f64>() / n;
    let k = if var > 0.0 {
        m4 / (var * var) - 3.0
    } else {
        0.0
    };
    (m, var.sqrt(), k)
}

/// Pearson correlation (0 when either side is constant).
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    if n < 3 {
        return 0.0;
    }
    let (ma, _, _) = moments(&a[..n]);
    let (mb, _, _) = moments(&b[..n]);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a[..n].iter().zip(&b[..n]) {
        let (x, y) = (x - ma, y - mb);
        sab += x * y;
        saa += x * x;
        sbb += y * y;
    }
    if saa <= 0.0 || sbb <= 0.0 {
        return 0.0;
    }
    sab / (saa * sbb).sqrt()
}

/// Norms grouped into whole heads of `hd`: `idx[i]` is the position of `v[i]` on its axis.
fn heads(v: &[f64], idx: &[u64], hd: u64) -> Vec<Vec<f64>> {
    let mut groups: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    for (&x, &i) in v.iter().zip(idx) {
        groups.entry(i / hd).or_default().push(x);
    }
    groups
        .into_values()
        .filter(|g| g.len() as u64 == hd)
        .collect()
}

/// Share of the variance of the norms between heads of `hd`.
pub fn headiness(v: &[f64], idx: &[u64], hd: u64) -> f64 {
    let hs = heads(v, idx, hd);
    if hd < 2 || hs.len() < 2 {
        return 0.0;
    }
    let all: Vec<f64> = hs.iter().flatten().copied().collect();
    let (m, s, _) = moments(&all);
    if s <= 0.0 {
        return 0.0;
    }
    let between = hs
        .iter()
        .map(|h| (h.iter().sum::<f64>() / hd as f64 - m).powi(2))
        .sum::<f64>()
        / hs.len() as f64;
    between / (s * s)
}

/// Rotary pairing of the norms: correlation of each dimension's norm with its rotary
/// partner's within its head, after removing the head's mean; best of the half-split
/// (Hugging Face) and interleaved (Meta, llama.cpp) layouts.
pub fn rope_pairing(v: &[f64], idx: &[u64], hd: u64) -> f64 {
    if hd < 4 {
        return 0.0;
    }
    let half = (hd / 2) as usize;
    let (mut a1, mut b1, mut a2, mut b2) = (vec![], vec![], vec![], vec![]);
    for h in heads(v, idx, hd) {
        let m = h.iter().sum::<f64>() / hd as f64;
        let c: Vec<f64> = h.iter().map(|x| x - m).collect();
        for j in 0..half {
            a1.push(c[j]);
            b1.push(c[j + half]);
            a2.push(c[2 * j]);
            b2.push(c[2 * j + 1]);
        }
    }
    pearson(&a1, &b1).max(pearson(&a2, &b2))
}

/// Statistics of the sampled rows `v` (`rows.len()` rows of `cols` values) of a matrix.
pub fn features(v: &[f32], rows: &[u64], cols: u64, hd: Option<u64>) -> Features {
    let vals: Vec<f64> = v
        .iter()
        .filter(|x| x.is_finite())
        .map(|&x| f64::from(x))
        .collect();
    let (mean, std, kurt) = moments(&vals);
    let mut f = Features {
        std,
        mean,
        kurt,
        ..Default::default()
    };
    let c = cols as usize;
    if c == 0 || rows.len() * c != v.len() {
        return f;
    }
    let mut row = vec![0f64; rows.len()];
    let mut col = vec![0f64; c];
    for (i, ch) in v.chunks_exact(c).enumerate() {
        for (j, &x) in ch.iter().enumerate() {
            let x2 = if x.is_finite() {
                f64::from(x).powi(2)
            } else {
                0.0
            };
            row[i] += x2;
            col[j] += x2;
        }
    }
    let row: Vec<f64> = row.into_iter().map(f64::sqrt).collect();
    let col: Vec<f64> = col.into_iter().map(f64::sqrt).collect();
    let cv = |x: &[f64]| {
        let (m, s, _) = moments(x);
        if m > 0.0 {
            s / m
        } else {
            0.0
        }
    };
    f.row_cv = cv(&row);
    f.col_cv = cv(&col);
    if let Some(hd) = hd {
        let cidx: Vec<u64> = (0..cols).collect();
        f.row_head = headiness(&row, rows, hd);
        f.col_head = headiness(&col, &cidx, hd);
        f.row_rope = rope_pairing(&row, rows, hd);
        f.col_rope = rope_pairing(&col, &cidx, hd);
    }
    f.row_norms = row;
    f.col_norms = col;
    f
}

/// Standardized copy (`(x − mean) / sd`; zeros when constant).
fn zscores(v: &[f64]) -> Vec<f64> {
    let (m, s, _) = moments(v);
    v.iter()
        .map(|x| if s > 0.0 { (x - m) / s } else { 0.0 })
        .collect()
}

/// Splits `scores` so that the `top` highest take the first role: per member, whether it is in
/// the top group and its margin (distance from the midpoint of the split over the pooled
/// within-group standard deviation).
pub fn split(scores: &[f64], top: usize) -> Vec<(bool, f64)> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let mut in_top = vec![false; scores.len()];
    for &i in order.iter().take(top) {
        in_top[i] = true;
    }
    if top == 0 || top >= scores.len() {
        return in_top.into_iter().map(|t| (t, f64::INFINITY)).collect();
    }
    let thr = (scores[order[top - 1]] + scores[order[top]]) / 2.0;
    let group = |t: bool| -> Vec<f64> {
        (0..scores.len())
            .filter(|&i| in_top[i] == t)
            .map(|i| scores[i])
            .collect()
    };
    let (_, s1, _) = moments(&group(true));
    let (_, s0, _) = moments(&group(false));
    let pooled = ((s1 * s1 + s0 * s0) / 2.0).sqrt().max(1e-12);
    in_top
        .into_iter()
        .zip(scores)
        .map(|(t, s)| (t, (s - thr).abs() / pooled))
        .collect()
}

/// A tensor's class in the skeleton.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// `[o, d]` expected storage: reads the residual stream (or writes it, transposed).
    Rows(u64),
    /// `[d, o]`.
    Cols(u64),
    /// `[d, d]`.
    Square,
}

fn side(shape: &[u64], d: u64) -> Option<Side> {
    match *shape {
        [a, b] if a == d && b == d => Some(Side::Square),
        [a, b] if b == d && a != d => Some(Side::Rows(a)),
        [a, b] if a == d && b != d => Some(Side::Cols(b)),
        _ => None,
    }
}

/// The residual width: the most frequent vector length (the longer one on ties).
fn residual_width(tensors: &[TensorDesc]) -> Option<u64> {
    let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
    for t in tensors {
        if let [n] = t.shape[..] {
            if n >= 4 {
                *counts.entry(n).or_default() += 1;
            }
        }
    }
    counts
        .into_iter()
        .max_by_key(|&(n, c)| (c, n))
        .map(|(n, _)| n)
}

/// The skeleton's shape facts.
struct Skeleton {
    d: u64,
    layers: u64,
    ff: Option<u64>,
    gated: bool,
    transposed: bool,
    /// Tensor indices per side class.
    classes: BTreeMap<(u8, u64), Vec<usize>>,
}

impl Skeleton {
    fn key(s: Side) -> (u8, u64) {
        match s {
            Side::Rows(o) => (0, o),
            Side::Cols(o) => (1, o),
            Side::Square => (2, 0),
        }
    }

    fn members(&self, s: Side) -> &[usize] {
        self.classes.get(&Self::key(s)).map_or(&[], Vec::as_slice)
    }

    /// The class reading the residual stream with other width `o` (rows, or columns when
    /// transposed), and the one writing it.
    fn reads(&self, o: u64) -> &[usize] {
        self.members(if self.transposed {
            Side::Cols(o)
        } else {
            Side::Rows(o)
        })
    }

    fn writes(&self, o: u64) -> &[usize] {
        self.members(if self.transposed {
            Side::Rows(o)
        } else {
            Side::Cols(o)
        })
    }
}

fn skeleton(tensors: &[TensorDesc], config_layers: Option<u64>) -> Option<Skeleton> {
    let d = residual_width(tensors)?;
    let mut classes: BTreeMap<(u8, u64), Vec<usize>> = BTreeMap::new();
    for (i, t) in tensors.iter().enumerate() {
        if let Some(s) = side(&t.shape, d) {
            classes.entry(Skeleton::key(s)).or_default().push(i);
        }
    }
    let count = |k: (u8, u64)| classes.get(&k).map_or(0, Vec::len) as u64;
    let others: Vec<u64> = classes.keys().filter(|k| k.0 < 2).map(|k| k.1).collect();
    // Gated MLP: twice as many [ff, d] as [d, ff] (or the reverse when transposed).
    let mut found = None;
    for &o in &others {
        let (r, c) = (count((0, o)), count((1, o)));
        if r > 0 && r == 2 * c {
            found = Some((o, c, true, false));
        } else if c > 0 && c == 2 * r {
            found = Some((o, r, true, true));
        }
    }
    if found.is_none() {
        // Plain MLP: as many of each side; the widest such class above d.
        found = others
            .iter()
            .filter(|&&o| o > d && count((0, o)) == count((1, o)) && count((0, o)) > 0)
            .filter(|&&o| config_layers.is_none_or(|l| count((0, o)) == l))
            .max()
            .map(|&o| (o, count((0, o)), false, false));
    }
    let (ff, layers, gated, transposed) = match found {
        Some((o, l, g, t)) => (Some(o), l, g, t),
        None => (None, config_layers?, false, false),
    };
    (layers > 0).then_some(Skeleton {
        d,
        layers,
        ff,
        gated,
        transposed,
        classes,
    })
}

/// Statistics of one tensor for the split scores, oriented `[out, in]`.
struct Stat {
    index: usize,
    f: Features,
    /// Up to [`PAIR_ROWS`] sampled rows (oriented `[out, in]`), kept for pairing.
    rows: Vec<f32>,
    /// Their length.
    cols: usize,
}

/// Rows kept per matrix to pair gate and up by the alignment of their units.
const PAIR_ROWS: usize = 128;

/// Most values kept for pairing over a whole class (256 MiB of f32).
const PAIR_KEPT_VALUES: u64 = 1 << 26;

fn read_stats(
    tensors: &[TensorDesc],
    src: &dyn TensorSource,
    members: &[usize],
    transposed: bool,
    hd: Option<u64>,
    keep_rows: bool,
) -> Result<Vec<Stat>, AnatomyError> {
    let mut out = Vec::with_capacity(members.len());
    for &i in members {
        let t = &tensors[i];
        let [r, c] = t.shape[..] else { continue };
        if c == 0 || c > MAX_SAMPLE_VALUES {
            continue;
        }
        let mut rows = sample_rows(r);
        rows.truncate((MAX_SAMPLE_VALUES / c) as usize);
        let v = read_rows(src, t, i, &rows)?;
        let mut f = features(&v, &rows, c, hd);
        let kept = if keep_rows && !transposed {
            // At most PAIR_KEPT_VALUES kept over the whole class.
            let budget = (PAIR_KEPT_VALUES / (members.len() as u64 * c).max(1)) as usize;
            let step = rows.len().div_ceil(PAIR_ROWS.min(budget).max(16)).max(1);
            v.chunks_exact(c as usize)
                .step_by(step)
                .flatten()
                .copied()
                .collect()
        } else {
            Vec::new()
        };
        if transposed {
            std::mem::swap(&mut f.row_cv, &mut f.col_cv);
            std::mem::swap(&mut f.row_head, &mut f.col_head);
            std::mem::swap(&mut f.row_rope, &mut f.col_rope);
            std::mem::swap(&mut f.row_norms, &mut f.col_norms);
        }
        out.push(Stat {
            index: i,
            f,
            rows: kept,
            cols: c as usize,
        });
    }
    Ok(out)
}

fn vector(src: &dyn TensorSource, t: &TensorDesc, i: usize) -> Result<Vec<f64>, AnatomyError> {
    let v = crate::infer::read_checked(src, t, i)?;
    Ok(v.iter()
        .filter(|x| x.is_finite())
        .map(|&x| f64::from(x))
        .collect())
}

/// Integer name components: a block index per tensor when every member of every block class
/// names one and each block holds its share of each class.
fn blocks_from_names(
    tensors: &[TensorDesc],
    groups: &[Vec<usize>],
    layers: u64,
) -> Option<BTreeMap<usize, u32>> {
    let mut out = BTreeMap::new();
    for g in groups {
        let mut per: BTreeMap<u32, usize> = BTreeMap::new();
        for &i in g {
            let nums: Vec<u32> = tensors[i]
                .name
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter_map(|p| p.parse::<u32>().ok())
                .filter(|&n| u64::from(n) < layers)
                .collect();
            let [b] = nums[..] else { return None };
            *per.entry(b).or_default() += 1;
            out.insert(i, b);
        }
        let share = g.len() as u64 / layers;
        if per.len() as u64 != layers || per.values().any(|&n| n as u64 != share) {
            return None;
        }
    }
    Some(out)
}

/// The head dimension: the configuration's when it divides the widths, else the candidate
/// with the strongest head structure on Q/K/V rows.
fn pick_head_dim(config_hd: Option<u64>, d: u64, kv: Option<u64>) -> Vec<u64> {
    let fits = |h: u64| h > 1 && d.is_multiple_of(h) && kv.is_none_or(|k| k.is_multiple_of(h));
    match config_hd.filter(|&h| fits(h)) {
        Some(h) => vec![h],
        None => HEAD_DIMS.iter().copied().filter(|&h| fits(h)).collect(),
    }
}

/// Pairs of tensors that belong together (one block each), by index into the stats.
type Pairs = Vec<(usize, usize)>;

/// Mean absolute cosine of the kept rows of two matrices, row by row: gate and up of one block
/// share their unit order, and a unit's gate and up rows are aligned (about 0.05 to 0.15 in
/// SmolLM2 against 0.035 to 0.045 for rows of different blocks).
fn alignment(a: &Stat, b: &Stat) -> f64 {
    if a.cols == 0 || a.cols != b.cols {
        return 0.0;
    }
    let (mut sum, mut n) = (0.0, 0usize);
    for (x, y) in a.rows.chunks_exact(a.cols).zip(b.rows.chunks_exact(b.cols)) {
        let (mut xy, mut xx, mut yy) = (0f64, 0f64, 0f64);
        for (&p, &q) in x.iter().zip(y) {
            let (p, q) = (f64::from(p), f64::from(q));
            if p.is_finite() && q.is_finite() {
                xy += p * q;
                xx += p * p;
                yy += q * q;
            }
        }
        if xx > 0.0 && yy > 0.0 {
            sum += xy.abs() / (xx * yy).sqrt();
            n += 1;
        }
    }
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

/// Pairs the members of a `2L` class: by block index when known, else (`by_units`) by the
/// alignment of their units' rows when the pairs stand clearly above the rest.
fn pair_members(
    stats: &[Stat],
    blocks: Option<&BTreeMap<usize, u32>>,
    by_units: bool,
) -> Option<Pairs> {
    if let Some(b) = blocks {
        let mut per: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for (k, s) in stats.iter().enumerate() {
            per.entry(*b.get(&s.index)?).or_default().push(k);
        }
        return per
            .into_values()
            .map(|v| match v[..] {
                [a, b] => Some((a, b)),
                _ => None,
            })
            .collect();
    }
    if !by_units {
        return None;
    }
    let n = stats.len();
    let mut edges = Vec::new();
    for a in 0..n {
        for b in a + 1..n {
            edges.push((alignment(&stats[a], &stats[b]), a, b));
        }
    }
    edges.sort_by(|x, y| y.0.total_cmp(&x.0).then((x.1, x.2).cmp(&(y.1, y.2))));
    let mut used = vec![false; n];
    let mut pairs = Vec::new();
    let mut paired_r = Vec::new();
    for &(r, a, b) in &edges {
        if !used[a] && !used[b] {
            used[a] = true;
            used[b] = true;
            pairs.push((a, b));
            paired_r.push(r);
        }
    }
    // Clear pairs only: every pair correlates well above the rest.
    let rest: Vec<f64> = edges
        .iter()
        .filter(|(_, a, b)| !pairs.contains(&(*a, *b)))
        .map(|e| e.0.abs())
        .collect();
    let worst = paired_r.iter().copied().fold(f64::INFINITY, f64::min);
    let (m, sd, _) = moments(&rest);
    (pairs.len() * 2 == n && worst > m + 3.0 * sd).then_some(pairs)
}

/// Roles for a class of `2L` tensors, two per block: the higher score takes `hi`.
fn decide_two(
    stats: &[Stat],
    scores: &[f64],
    (hi, lo): (Role, Role),
    pairs: Option<Pairs>,
    layers: u64,
) -> Vec<SingleRole> {
    let mut out: Vec<(bool, f64)> = vec![(false, 0.0); stats.len()];
    match pairs.filter(|p| !p.is_empty()) {
        Some(pairs) => {
            let gaps: Vec<f64> = pairs
                .iter()
                .map(|&(a, b)| (scores[a] - scores[b]).abs())
                .collect();
            let mut sorted = gaps.clone();
            sorted.sort_by(f64::total_cmp);
            let unit = (sorted[sorted.len() / 2] / 2.0).max(1e-12);
            for (&(a, b), g) in pairs.iter().zip(gaps) {
                let a_hi = scores[a] >= scores[b];
                out[a] = (a_hi, g / unit);
                out[b] = (!a_hi, g / unit);
            }
        }
        None => out = split(scores, layers as usize),
    }
    stats
        .iter()
        .zip(out)
        .map(|(s, (top, margin))| {
            let (role, other) = if top { (hi, lo) } else { (lo, hi) };
            stat_role(s.index, role, vec![role, other], margin)
        })
        .collect()
}

fn stat_role(index: usize, role: Role, candidates: Vec<Role>, margin: f64) -> SingleRole {
    SingleRole {
        index,
        role,
        param: Param::Weight,
        candidates,
        evidence: SingleEvidence::Statistics,
        margin,
        block: None,
    }
}

fn shape_role(index: usize, role: Role, param: Param) -> SingleRole {
    SingleRole {
        index,
        role,
        param,
        candidates: vec![role],
        evidence: SingleEvidence::Shape,
        margin: f64::INFINITY,
        block: None,
    }
}

/// Sum of the z-scores of several statistics, per member.
fn score(stats: &[Stat], parts: &[fn(&Features) -> f64]) -> Vec<f64> {
    let mut total = vec![0.0; stats.len()];
    for p in parts {
        let v: Vec<f64> = stats.iter().map(|s| p(&s.f)).collect();
        for (t, z) in total.iter_mut().zip(zscores(&v)) {
            *t += z;
        }
    }
    total
}

fn head_side(f: &Features) -> f64 {
    f.row_head - f.col_head
}

fn rope_side(f: &Features) -> f64 {
    f.row_rope - f.col_rope
}

/// Q/O (and, for multi-head attention, K/V) among the `[d, d]` matrices.
fn square_roles(
    stats: &[Stat],
    layers: u64,
    with_kv: bool,
    rotary: bool,
    blocks: Option<&BTreeMap<usize, u32>>,
) -> Vec<SingleRole> {
    let s = score(stats, &[head_side]);
    if with_kv {
        let pairs = pair_members(stats, blocks, false);
        return decide_two(stats, &s, (Role::AttnQ, Role::AttnO), pairs, layers);
    }
    // Multi-head: O has its head axis on the input side; V lacks the rotary pairing (or, in
    // models without rotary embeddings, has the smallest values); Q and K stay undecided.
    let l = layers as usize;
    let o_split = split(&s.iter().map(|x| -x).collect::<Vec<_>>(), l);
    let mut out = Vec::new();
    let mut rest = Vec::new();
    for (st, &(is_o, m)) in stats.iter().zip(&o_split) {
        if is_o {
            let c = vec![Role::AttnO, Role::AttnQ, Role::AttnK, Role::AttnV];
            out.push(stat_role(st.index, Role::AttnO, c, m));
        } else {
            rest.push(Stat {
                index: st.index,
                f: st.f.clone(),
                rows: Vec::new(),
                cols: 0,
            });
        }
    }
    let v_score: Vec<f64> = if rotary {
        score(&rest, &[|f| -f.row_rope])
    } else {
        score(&rest, &[|f| -f.std])
    };
    for (st, (is_v, m)) in rest.iter().zip(split(&v_score, l)) {
        if is_v {
            let c = vec![Role::AttnV, Role::AttnQ, Role::AttnK];
            out.push(stat_role(st.index, Role::AttnV, c, m));
        } else {
            out.push(stat_role(
                st.index,
                Role::AttnQ,
                vec![Role::AttnQ, Role::AttnK],
                0.0,
            ));
        }
    }
    out
}

/// Norm gains among the `[d]` vectors: the final norm (largest mean gain) and the two norms
/// of each block (the wider spread of gains before attention).
fn norm_roles(
    tensors: &[TensorDesc],
    src: &dyn TensorSource,
    d: u64,
    layers: u64,
    gated: bool,
    blocks: Option<&BTreeMap<usize, u32>>,
) -> Result<Vec<SingleRole>, AnatomyError> {
    let mut vecs: Vec<(usize, f64, f64)> = Vec::new();
    for (i, t) in tensors.iter().enumerate() {
        if t.shape[..] == [d] && d <= MAX_VECTOR {
            let (m, sd, _) = moments(&vector(src, t, i)?);
            vecs.push((i, m, sd));
        }
    }
    let l = layers as usize;
    if !gated {
        // LayerNorm models: gains (mean well above 0) among many biases.
        vecs.retain(|v| v.1 > 0.2 && v.1 > v.2);
    }
    let mut out = Vec::new();
    if vecs.len() == 2 * l + 1 && gated {
        let best = (0..vecs.len()).max_by(|&a, &b| vecs[a].1.total_cmp(&vecs[b].1));
        if let Some(k) = best {
            let means: Vec<f64> = vecs.iter().map(|v| v.1).collect();
            let m = split(&means, 1)[k].1;
            out.push(SingleRole {
                candidates: vec![Role::FinalNorm, Role::AttnNorm, Role::FfnNorm],
                ..stat_role(vecs[k].0, Role::FinalNorm, vec![], m)
            });
            vecs.remove(k);
        }
    }
    if vecs.len() == 2 * l || (!gated && vecs.len() == 2 * l + 1) {
        let stats: Vec<Stat> = vecs
            .iter()
            .map(|&(i, mean, std)| Stat {
                index: i,
                f: Features {
                    mean,
                    std,
                    ..Default::default()
                },
                rows: Vec::new(),
                cols: 0,
            })
            .collect();
        let s: Vec<f64> = stats.iter().map(|s| s.f.std).collect();
        let pairs = if vecs.len() == 2 * l {
            pair_members(&stats, blocks, false)
        } else {
            None
        };
        let mut roles = decide_two(&stats, &s, (Role::AttnNorm, Role::FfnNorm), pairs, layers);
        if !gated {
            for r in &mut roles {
                r.candidates.push(Role::EmbeddingNorm);
            }
        }
        out.extend(roles);
    }
    Ok(out)
}

fn config_u64(config: Option<&serde_json::Value>, key: &str) -> Option<u64> {
    config?.get(key)?.as_u64()
}

/// Infers the skeleton and the role of every block matrix (and norm) of one model from its
/// shapes and sampled statistics, ignoring the names. `config` only supplies the head
/// dimension and is compared with the shapes. `None` when the shapes show no block structure.
pub fn infer_single(
    tensors: &[TensorDesc],
    config: Option<&serde_json::Value>,
    src: &dyn TensorSource,
) -> Result<Option<SingleInference>, AnatomyError> {
    let cfg_layers = config_u64(config, "num_hidden_layers");
    let Some(sk) = skeleton(tensors, cfg_layers) else {
        return Ok(None);
    };
    let (d, l) = (sk.d, sk.layers);
    let mut notes = Vec::new();
    if let Some(c) = cfg_layers.filter(|&c| c != l) {
        notes.push(format!("config.json says {c} layers; the shapes say {l}"));
    }
    if let Some(c) = config_u64(config, "hidden_size").filter(|&c| c != d) {
        notes.push(format!(
            "config.json says hidden size {c}; the shapes say {d}"
        ));
    }
    let mut roles: Vec<SingleRole> = Vec::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mlp_pair = mlp_shapes(tensors, &sk, &mut roles, &mut groups);
    let kv_class = attention_shapes(&sk, &mut roles, &mut groups);
    let mut square = sk.members(Side::Square).to_vec();
    // One or two extra [d, d] matrices belong to the head or the embeddings (BERT pooler, MLM
    // transform, positions when there are d of them): the outliers in scale.
    let fits = |n: usize| n as u64 == 2 * l || n as u64 == 4 * l;
    for extra in 1..=2 {
        if !fits(square.len()) && fits(square.len().saturating_sub(extra)) {
            for _ in 0..extra {
                square = drop_outlier(tensors, src, &square)?;
            }
        }
    }
    let square_ok = fits(square.len());
    if square_ok {
        groups.push(square.clone());
    }
    let blocks = blocks_from_names(tensors, &groups, l);
    let cfg_hd = config_u64(config, "head_dim").or_else(|| {
        Some(config_u64(config, "hidden_size")? / config_u64(config, "num_attention_heads")?)
    });
    let hds = pick_head_dim(cfg_hd, d, kv_class.as_ref().map(|k| k.0));
    let rotary = sk.gated;
    let mut head_dim = None;
    if square_ok {
        let (hd, stats) = best_head_dim(tensors, src, &square, sk.transposed, &hds)?;
        head_dim = hd;
        let with_kv = kv_class.is_some() || square.len() as u64 == 2 * l;
        roles.extend(square_roles(&stats, l, with_kv, rotary, blocks.as_ref()));
    }
    if let Some((_, kv)) = &kv_class {
        let stats = read_stats(
            tensors,
            src,
            kv,
            sk.transposed,
            head_dim.or(hds.first().copied()),
            false,
        )?;
        let s = score(&stats, &[|f| f.row_cv, rope_side, |f| f.kurt]);
        let pairs = pair_members(&stats, blocks.as_ref(), false);
        roles.extend(decide_two(&stats, &s, (Role::AttnK, Role::AttnV), pairs, l));
    }
    if let Some(gu) = &mlp_pair {
        let stats = read_stats(tensors, src, gu, sk.transposed, None, true)?;
        let s = score(&stats, &[|f| f.row_cv, |f| f.kurt]);
        let pairs = pair_members(&stats, blocks.as_ref(), true);
        if pairs.is_none() {
            notes.push("gate and up could not be paired by block: split over all blocks".into());
        }
        roles.extend(decide_two(
            &stats,
            &s,
            (Role::MlpGate, Role::MlpUp),
            pairs,
            l,
        ));
    }
    let norm_blocks = None; // norm vectors carry no unit order to pair them by
    roles.extend(norm_roles(tensors, src, d, l, sk.gated, norm_blocks)?);
    if let Some(b) = &blocks {
        for r in &mut roles {
            if r.role.kind() == crate::role::RoleKind::Block {
                r.block = b.get(&r.index).copied();
            }
        }
    }
    roles.sort_by_key(|r| r.index);
    Ok(Some(SingleInference {
        hidden: d,
        layers: l,
        intermediate: sk.ff,
        head_dim,
        gated: sk.gated,
        transposed: sk.transposed,
        roles,
        notes,
    }))
}

/// The members without the one whose value scale (log standard deviation) lies farthest from
/// the class median.
fn drop_outlier(
    tensors: &[TensorDesc],
    src: &dyn TensorSource,
    members: &[usize],
) -> Result<Vec<usize>, AnatomyError> {
    let stats = read_stats(tensors, src, members, false, None, false)?;
    let logs: Vec<f64> = stats.iter().map(|s| s.f.std.max(1e-30).ln()).collect();
    let mut sorted = logs.clone();
    sorted.sort_by(f64::total_cmp);
    let Some(&med) = sorted.get(sorted.len() / 2) else {
        return Ok(members.to_vec());
    };
    let far = (0..logs.len())
        .max_by(|&a, &b| (logs[a] - med).abs().total_cmp(&(logs[b] - med).abs()))
        .map(|k| stats[k].index);
    Ok(members
        .iter()
        .copied()
        .filter(|&i| Some(i) != far)
        .collect())
}

/// MLP roles the shapes decide (down; up of a plain MLP and its bias); returns the gate/up
/// class of a gated MLP, for the statistics.
fn mlp_shapes(
    tensors: &[TensorDesc],
    sk: &Skeleton,
    roles: &mut Vec<SingleRole>,
    groups: &mut Vec<Vec<usize>>,
) -> Option<Vec<usize>> {
    let ff = sk.ff?;
    let (reads, writes) = (sk.reads(ff).to_vec(), sk.writes(ff).to_vec());
    roles.extend(
        writes
            .iter()
            .map(|&i| shape_role(i, Role::MlpDown, Param::Weight)),
    );
    groups.push(writes);
    groups.push(reads.clone());
    if sk.gated {
        return Some(reads);
    }
    roles.extend(
        reads
            .iter()
            .map(|&i| shape_role(i, Role::MlpUp, Param::Weight)),
    );
    for (i, t) in tensors.iter().enumerate() {
        if t.shape[..] == [ff] {
            roles.push(shape_role(i, Role::MlpUp, Param::Bias));
        }
    }
    None
}

/// Attention classes other than `[d, d]`: K/V of grouped-query attention (`2L` matrices reading
/// the residual stream, returned for the statistics), and Q/O when their width is not `d`
/// (`L` reading, `L` writing: the shapes decide).
fn attention_shapes(
    sk: &Skeleton,
    roles: &mut Vec<SingleRole>,
    groups: &mut Vec<Vec<usize>>,
) -> Option<(u64, Vec<usize>)> {
    let l = sk.layers as usize;
    let widths: std::collections::BTreeSet<u64> = sk
        .classes
        .keys()
        .filter(|k| k.0 < 2 && Some(k.1) != sk.ff)
        .map(|k| k.1)
        .collect();
    let mut kv = None;
    for o in widths {
        let (r, w) = (sk.reads(o), sk.writes(o));
        if r.len() == 2 * l && w.is_empty() && kv.is_none() {
            kv = Some((o, r.to_vec()));
            groups.push(r.to_vec());
        } else if r.len() == l && w.len() == l {
            roles.extend(r.iter().map(|&i| shape_role(i, Role::AttnQ, Param::Weight)));
            roles.extend(w.iter().map(|&i| shape_role(i, Role::AttnO, Param::Weight)));
            groups.push(r.to_vec());
            groups.push(w.to_vec());
        }
    }
    kv
}

/// Reads the `[d, d]` class once per head-dimension candidate and keeps the candidate with
/// the clearest head axis (the largest spread of the head-side score).
fn best_head_dim(
    tensors: &[TensorDesc],
    src: &dyn TensorSource,
    square: &[usize],
    transposed: bool,
    hds: &[u64],
) -> Result<(Option<u64>, Vec<Stat>), AnatomyError> {
    let mut best: Option<(f64, u64, Vec<Stat>)> = None;
    for &hd in hds.iter().take(3) {
        let stats = read_stats(tensors, src, square, transposed, Some(hd), false)?;
        let sep = stats.iter().map(|s| head_side(&s.f).abs()).sum::<f64>();
        if best.as_ref().is_none_or(|b| sep > b.0) {
            best = Some((sep, hd, stats));
        }
    }
    match best {
        Some((_, hd, stats)) => Ok((Some(hd), stats)),
        None => Ok((
            None,
            read_stats(tensors, src, square, transposed, None, false)?,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_margins() {
        let s = [5.0, 0.1, 4.9, 0.0];
        let r = split(&s, 2);
        assert!(r[0].0 && r[2].0 && !r[1].0 && !r[3].0);
        assert!(r.iter().all(|x| x.1 > 10.0));
        let s = [1.0, 1.1, 0.9, 1.05];
        assert!(split(&s, 2).iter().any(|x| x.1 < DECIDED_MARGIN * 2.0));
    }

    #[test]
    fn sampled_rows_are_whole_aligned_chunks() {
        assert_eq!(sample_rows(10), (0..10).collect::<Vec<_>>());
        let r = sample_rows(11008);
        assert_eq!(r.len() as u64, MAX_SAMPLE_ROWS);
        assert!(r
            .chunks(256)
            .all(|c| c[0] % 256 == 0 && c[255] == c[0] + 255));
        assert!(r.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn head_statistics() {
        // Two heads of 4 with different scales; rotary partners (half layout) equal.
        let v = [1.0, 2.0, 1.0, 2.0, 5.0, 7.0, 5.0, 7.0];
        let idx: Vec<u64> = (0..8).collect();
        assert!(headiness(&v, &idx, 4) > 0.8);
        assert!(rope_pairing(&v, &idx, 4) > 0.99);
    }
}
