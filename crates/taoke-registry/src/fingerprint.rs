//! [`Fingerprint`]: a compact, versioned summary of a model that survives renames, permutations,
//! rotations, rescaling, quantization and vocabulary change, and [`fingerprint`] that makes one.
//!
//! What it holds (algorithm [`ALGORITHM`]):
//!
//! 1. **Signatures**: format, architecture, sizes, parameter count, tokenizer (kind, size, hash
//!    of the set of normalized token strings).
//! 2. **Anchors**: up to [`ANCHORS`] plain tokens chosen by the bottom-k of a 64-bit FNV-1a hash
//!    of their normalized string, so two models with overlapping vocabularies pick mostly the
//!    same tokens whatever their ids. Their strings are stored. Then [`ID_ANCHORS`] tokens by
//!    id (`#17`), shared with copies that ship without a tokenizer.
//! 3. **Anchor embeddings** in the model's own coordinates (the first [`EMB_COLS`] hidden
//!    columns): the residual units of Zhu et al.'s test on embedding columns.
//! 4. **A canonical hidden basis**: the top-[`BASIS`] principal directions of the centred anchor
//!    embeddings, each signed so that the third moment of its scores is positive. A permutation
//!    or rotation of the whole residual stream moves embeddings and block weights together, so
//!    block data projected on this basis does not change. The anchors' canonical coordinates are
//!    stored, so two fingerprints' bases can be aligned exactly (Procrustes) at comparison time.
//! 5. **Per block**: the MLP units (gate and up rows with the RMSNorm gain folded, or up rows and
//!    down columns) projected on the canonical basis, the top [`UNITS`] by norm (a
//!    permutation-invariant choice), in their original order. Unit matching on them gives exact
//!    p-values ([`crate::compare`]).
//! 6. **Raw weight samples** (since `/3`, [`crate::samples`]): up to 1,024 stored values of
//!    each block matrix at seeded fixed positions, to tell a sparse (TIES/DARE) merge from the
//!    models it contains by exact equality ([`crate::identify::direction`]).
//!
//! Size: about `K·(c + r) + L·m·2r` values (f32 below [`F16_ABOVE`] values, else f16): 2.3 MB
//! for a 7B Llama (32 blocks, 4096 wide).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use taoke_anatomy::{Param, Role};
use taoke_evidence::align::{matmul, Transform};
use taoke_evidence::view::ModelView;
use taoke_model::Checkpoint;
use taoke_stats::Matrix;

use crate::samples::WeightSamples;
use crate::{Error, Result};

/// File format version of a fingerprint (the container and its keys).
pub const FORMAT_VERSION: u32 = 1;
/// The algorithm: fingerprints of different algorithms are never compared.
///
/// `anchored-units/3` is `/2` plus raw weight samples ([`crate::samples`]). A `/2`
/// fingerprint holds exactly the `/3` values but the samples, so it is read as a `/3` one
/// without samples ([`PREVIOUS_ALGORITHM`]; the exact tests and closeness are the same, and the
/// exact-equality evidence is simply not available for it) and written back as `/2`.
///
/// `anchored-units/2` keeps, in blocks with more than [`UNITS`] MLP units, the units at evenly
/// spaced indices (read row by row, without decoding the rest of the matrix); `/1` kept the
/// top [`UNITS`] by norm, which needs every row. Blocks with at most [`UNITS`] units keep all
/// of them under both, so a `/1` fingerprint whose every block kept all its units holds exactly
/// the `/2` values and is read as one ([`LEGACY_ALGORITHM`]); any other `/1` fingerprint is
/// refused ([`Error::Incompatible`]).
pub const ALGORITHM: &str = "anchored-units/3";
/// The algorithm before the weight samples: read as [`ALGORITHM`] without samples.
pub const PREVIOUS_ALGORITHM: &str = "anchored-units/2";
/// The previous algorithm, read when its fingerprint keeps every unit of every block.
pub const LEGACY_ALGORITHM: &str = "anchored-units/1";
/// Anchor tokens (bottom-k).
pub const ANCHORS: usize = 256;
/// Id anchors added after the string anchors when the model has a tokenizer.
pub const ID_ANCHORS: usize = 64;
/// Own-coordinate embedding columns kept (the first ones).
pub const EMB_COLS: usize = 512;
/// Dimensions of the canonical basis.
pub const BASIS: usize = 64;
/// MLP units kept per block (top by norm).
pub const UNITS: usize = 256;
/// Anchors in the prescreen Gram signature.
pub const SCREEN_ANCHORS: usize = 24;
/// Most blocks a fingerprint file may declare (the deepest released models have a few
/// hundred).
pub const MAX_BLOCKS: usize = 4096;
/// Most anchors a fingerprint file may hold (fingerprints hold [`ANCHORS`]).
pub const MAX_ANCHORS: usize = 16 * ANCHORS;
/// Most sampled matrices a fingerprint file may declare (a few per block).
pub const MAX_SAMPLED_MATRICES: usize = 16 * MAX_BLOCKS;
/// Above this many stored values, tensors are stored as f16.
pub const F16_ABOVE: usize = 1 << 19;

/// Metadata key holding the format version.
pub const KEY_VERSION: &str = "taoke.fingerprint.version";
/// Metadata key holding the algorithm.
pub const KEY_ALGORITHM: &str = "taoke.fingerprint.algorithm";
/// Metadata key holding [`ModelInfo`] as JSON.
pub const KEY_MODEL: &str = "taoke.fingerprint.model";
/// Metadata key holding the anchor strings as a JSON array.
pub const KEY_ANCHORS: &str = "taoke.fingerprint.anchors";
/// Metadata key holding the sampled matrices ([`crate::samples::SampledMatrix`] without their
/// values) as JSON; the values are the tensor `samples.values`, f32, in the same order.
pub const KEY_SAMPLES: &str = "taoke.fingerprint.samples";

/// Signatures of the model a fingerprint was made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// What was fingerprinted (path or reference as given).
    pub source: String,
    /// Container format (`safetensors`, `gguf`, …; `tokenizer` for tokenizer-only entries).
    pub format: String,
    /// Architecture name from the anatomy (`llama`, `bert`, …), if known.
    pub architecture: Option<String>,
    /// Parameter count.
    pub params: u64,
    /// Residual width.
    pub hidden: Option<u64>,
    /// Number of blocks.
    pub blocks: u32,
    /// MLP width.
    pub intermediate: Option<u64>,
    /// Most common dtype of the 2-D tensors (`F32`, `BF16`, `Q4_K`, …).
    pub dtype: Option<String>,
    /// The tokenizer, when one was found.
    pub tokenizer: Option<TokenizerSig>,
    /// Tensor naming scheme (`hf-llama`, `yi`, `gguf`, …), when recognised. Metadata only
    /// (absent from fingerprints written before it was recorded): `identify` uses it to tell
    /// which of two same-weights copies was renamed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub naming: Option<String>,
}

/// A tokenizer signature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenizerSig {
    /// Tokenizer algorithm (`bpe`, `unigram`, `wordpiece`, …).
    pub kind: String,
    /// Number of tokens.
    pub size: usize,
    /// FNV-1a of the sorted set of normalized plain token strings (hex).
    pub set_hash: String,
    /// FNV-1a of the id-ordered normalized strings (hex): equal ids and strings.
    pub order_hash: String,
}

/// One block's MLP units on the canonical basis.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockUnits {
    /// `m × (2·r)` features, rows in original unit order.
    pub units: Matrix,
    /// Original unit index of each row (ascending).
    pub index: Vec<u32>,
    /// Total units of the block.
    pub total: u32,
}

/// A model fingerprint. See the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct Fingerprint {
    /// Signatures.
    pub info: ModelInfo,
    /// Anchor strings (normalized), in bottom-k hash order.
    pub anchors: Vec<String>,
    /// Anchor embeddings, own coordinates (`K × c`); `None` for tokenizer-only entries.
    pub emb: Option<Matrix>,
    /// Anchor embeddings on the canonical basis (`K × r`, centred).
    pub canon: Option<Matrix>,
    /// Per-block MLP units.
    pub blocks: Vec<Option<BlockUnits>>,
    /// Raw weight samples (`None` in fingerprints of earlier algorithms and tokenizer-only
    /// ones).
    pub samples: Option<WeightSamples>,
}

/// 64-bit FNV-1a ([`taoke_stats::hash::fnv1a`]).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    taoke_stats::hash::fnv1a(bytes)
}

fn is_plain(k: taoke_tokenizer::TokenKind) -> bool {
    use taoke_tokenizer::TokenKind::*;
    matches!(k, Normal | Byte | UserDefined)
}

/// The tokenizer signature of a vocabulary.
pub fn tokenizer_sig(v: &taoke_tokenizer::Vocab) -> TokenizerSig {
    let mut set: Vec<&str> = v
        .tokens
        .iter()
        .filter(|t| is_plain(t.kind) && !t.norm.is_empty())
        .map(|t| t.norm.as_str())
        .collect();
    set.sort_unstable();
    set.dedup();
    let mut buf = Vec::new();
    for s in &set {
        buf.extend_from_slice(s.as_bytes());
        buf.push(0);
    }
    let mut ord = Vec::new();
    for t in &v.tokens {
        ord.extend_from_slice(t.norm.as_bytes());
        ord.push(0);
    }
    TokenizerSig {
        kind: format!("{:?}", v.kind).to_lowercase(),
        size: v.tokens.len(),
        set_hash: format!("{:016x}", fnv1a(&buf)),
        order_hash: format!("{:016x}", fnv1a(&ord)),
    }
}

/// Anchor tokens of a vocabulary: (normalized string, token id), bottom-k by hash.
pub fn anchors_of(v: &taoke_tokenizer::Vocab, k: usize) -> Vec<(String, usize)> {
    let mut seen = std::collections::HashSet::new();
    let mut all: Vec<(u64, &str, usize)> = Vec::new();
    for (i, t) in v.tokens.iter().enumerate() {
        if is_plain(t.kind) && !t.norm.is_empty() && seen.insert(t.norm.as_str()) {
            all.push((fnv1a(t.norm.as_bytes()), t.norm.as_str(), i));
        }
    }
    all.sort_unstable();
    all.truncate(k);
    all.into_iter().map(|(_, s, i)| (s.to_owned(), i)).collect()
}

/// Anchors by id (no tokenizer): the strings are `#id`.
fn anchors_by_id(n: usize, k: usize) -> Vec<(String, usize)> {
    let mut all: Vec<(u64, String, usize)> = (0..n)
        .map(|i| {
            let s = format!("#{i}");
            (fnv1a(s.as_bytes()), s, i)
        })
        .collect();
    all.sort_unstable();
    all.truncate(k);
    all.into_iter().map(|(_, s, i)| (s, i)).collect()
}

fn dominant_dtype(ck: &Checkpoint) -> Option<String> {
    let mut count: BTreeMap<String, u64> = BTreeMap::new();
    for t in &ck.tensors {
        if t.shape.len() == 2 {
            *count.entry(t.dtype_name.clone()).or_default() += t.n_elements();
        }
    }
    count.into_iter().max_by_key(|(_, n)| *n).map(|(d, _)| d)
}

/// Top-`r` principal directions (`d × r`) of the centred rows of `x`, each signed so that the
/// third moment of its scores is positive.
fn basis(x: &Matrix, r: usize) -> Option<Matrix> {
    let (n, d) = (x.rows, x.cols);
    let fx = faer::Mat::<f64>::from_fn(n, d, |i, j| f64::from(x.get(i, j)));
    let svd = fx.thin_svd().ok()?;
    let v = svd.V();
    let r = r.min(v.ncols());
    let mut out = Matrix::zeros(d, r);
    for c in 0..r {
        let mut m3 = 0f64;
        for i in 0..n {
            let s: f64 = (0..d).map(|j| fx[(i, j)] * v[(j, c)]).sum();
            m3 += s * s * s;
        }
        let sign = if m3 < 0.0 { -1.0 } else { 1.0 };
        for j in 0..d {
            out.data[j * r + c] = (sign * v[(j, c)]) as f32;
        }
    }
    Some(out)
}

fn center_rows_mean(x: &mut Matrix) {
    taoke_evidence::align::center_columns(x);
}

/// The units a fingerprint keeps of a block with `total` units: all of them up to [`UNITS`],
/// else [`UNITS`] at evenly spaced indices (`⌊(2k+1)·total / (2·UNITS)⌋`), the same for any two
/// models of the same width. The block test matches units against the identity, so it needs
/// the same indices on both sides, not any particular ones.
pub fn unit_selection(total: usize) -> Vec<usize> {
    if total <= UNITS {
        (0..total).collect()
    } else {
        (0..UNITS)
            .map(|k| (2 * k + 1) * total / (2 * UNITS))
            .collect()
    }
}

/// Unit features of one block (dense MLP, else the first expert), on the canonical basis `v`
/// (`d × r`): the units of [`unit_selection`], in original order, reading only their rows
/// where the storage allows.
fn block_units(
    view: &ModelView<'_>,
    block: u32,
    v: &Matrix,
    d: usize,
) -> Result<Option<BlockUnits>> {
    use taoke_evidence::units::{features_subset, unit_count};
    let read =
        |expert: Option<u32>| -> Result<Option<(taoke_evidence::units::UnitFeatures, usize)>> {
            let Some(total) = unit_count(view, block, expert) else {
                return Ok(None);
            };
            let sel = unit_selection(total);
            let subset = (sel.len() < total).then_some(sel.as_slice());
            Ok(
                features_subset(view, block, expert, &Transform::Identity, d, subset)
                    .map_err(Error::evidence)?
                    .map(|f| (f, total)),
            )
        };
    let feats = match read(None)? {
        Some(f) => Some(f),
        None => match taoke_evidence::units::experts(view, block).first() {
            Some(&e) => read(Some(e))?,
            None => None,
        },
    };
    let Some((f, total)) = feats else {
        return Ok(None);
    };
    let m = f.m;
    if !m.cols.is_multiple_of(d) || m.cols == 0 {
        return Ok(None);
    }
    let parts = m.cols / d;
    let idx: Vec<usize> = (0..m.rows).collect();
    let index: Vec<u32> = if m.rows < total {
        unit_selection(total).iter().map(|&i| i as u32).collect()
    } else {
        (0..m.rows as u32).collect()
    };
    let r = v.cols;
    let mut out = Matrix::zeros(idx.len(), parts * r);
    for p in 0..parts {
        let part = Matrix::from_fn(idx.len(), d, |i, j| m.get(idx[i], p * d + j));
        let proj = matmul(part.view(), v.view());
        for i in 0..idx.len() {
            out.data[i * parts * r + p * r..i * parts * r + (p + 1) * r]
                .copy_from_slice(proj.row(i));
        }
    }
    Ok(Some(BlockUnits {
        units: out,
        index,
        total: total as u32,
    }))
}

/// Fingerprints an opened checkpoint. `source` names it in the fingerprint.
pub fn fingerprint(ck: &Checkpoint, source: &str) -> Result<Fingerprint> {
    let view = ModelView::new(ck);
    let desc = &view.anatomy.description;
    let tokenizer = view.vocab.as_ref().map(tokenizer_sig);
    let emb_i = view.index(None, Role::TokenEmbedding, Param::Weight);
    let info = ModelInfo {
        source: source.to_owned(),
        format: ck.format.name().to_owned(),
        architecture: desc.architecture.as_ref().map(|f| f.value.clone()),
        params: ck.parameter_count(),
        hidden: desc.hidden.as_ref().map(|f| f.value),
        blocks: view.n_blocks(),
        intermediate: desc.intermediate.as_ref().map(|f| f.value),
        dtype: dominant_dtype(ck),
        tokenizer,
        naming: view.anatomy.primary_scheme.map(|s| s.as_str().to_owned()),
    };
    let Some(emb_i) = emb_i else {
        return Err(Error::NoEmbedding(source.to_owned()));
    };
    // Only the anchors' rows of the embedding are read (and their pages released).
    let n_vocab = view.canonical_rows(emb_i);
    if n_vocab < 8 {
        return Err(Error::NoEmbedding(source.to_owned()));
    }
    // String anchors when a tokenizer was found, then id anchors (`#17`), so that a copy
    // shipped without its tokenizer (an ONNX export, a llama2.c file) still shares anchors
    // with its original when the ids agree.
    let anchors: Vec<(String, usize)> = match &view.vocab {
        Some(v) => anchors_of(v, ANCHORS)
            .into_iter()
            .filter(|(_, i)| *i < n_vocab)
            .chain(anchors_by_id(n_vocab, ID_ANCHORS))
            .collect(),
        None => anchors_by_id(n_vocab, ANCHORS),
    };
    if anchors.len() < 8 {
        return Err(Error::NoEmbedding(source.to_owned()));
    }
    let ids: Vec<usize> = anchors.iter().map(|a| a.1).collect();
    let mut uniq = ids.clone();
    uniq.sort_unstable();
    uniq.dedup();
    let rows = view.matrix_rows(emb_i, &uniq).map_err(Error::evidence)?;
    if rows.cols < 2 {
        return Err(Error::NoEmbedding(source.to_owned()));
    }
    let d = rows.cols;
    let pos: BTreeMap<usize, usize> = uniq.iter().enumerate().map(|(k, &i)| (i, k)).collect();
    let sel = Matrix::from_fn(ids.len(), d, |i, j| rows.get(pos[&ids[i]], j));
    let c = d.min(EMB_COLS);
    let emb = Matrix::from_fn(sel.rows, c, |i, j| sel.get(i, j));
    let mut centred = sel.clone();
    center_rows_mean(&mut centred);
    let r = BASIS.min(d).min(centred.rows - 1);
    let v = basis(&centred, r).ok_or_else(|| Error::Stats("basis: SVD failed".into()))?;
    let canon = matmul(centred.view(), v.view());
    let mut blocks = Vec::new();
    let mut samples = WeightSamples::default();
    for b in 0..view.n_blocks() {
        blocks.push(block_units(&view, b, &v, d)?);
        samples
            .matrices
            .extend(crate::samples::sample_block(&view, b)?);
        // Drop the block's mapped pages (whole-matrix reads of small or transposed tensors).
        for role in [Role::MlpGate, Role::MlpUp, Role::MlpDown, Role::FfnNorm]
            .into_iter()
            .chain(crate::samples::ROLES)
        {
            if let Some(i) = view.index(Some(b), role, Param::Weight) {
                ck.release_tensor(&ck.tensors[i]);
            }
        }
    }
    Ok(Fingerprint {
        info,
        anchors: anchors.into_iter().map(|a| a.0).collect(),
        emb: Some(emb),
        canon: Some(canon),
        blocks,
        samples: Some(samples),
    })
}

/// A tokenizer-only fingerprint (no weights): signatures and anchors.
pub fn tokenizer_fingerprint(v: &taoke_tokenizer::Vocab, source: &str) -> Fingerprint {
    Fingerprint {
        info: ModelInfo {
            source: source.to_owned(),
            format: "tokenizer".into(),
            architecture: None,
            params: 0,
            hidden: None,
            blocks: 0,
            intermediate: None,
            dtype: None,
            tokenizer: Some(tokenizer_sig(v)),
            naming: None,
        },
        anchors: anchors_of(v, ANCHORS).into_iter().map(|a| a.0).collect(),
        emb: None,
        canon: None,
        blocks: Vec::new(),
        samples: None,
    }
}

impl Fingerprint {
    /// Whether it holds weights (not only a tokenizer).
    pub fn has_weights(&self) -> bool {
        self.emb.is_some()
    }

    /// The algorithm this fingerprint's content belongs to: [`ALGORITHM`], or
    /// [`PREVIOUS_ALGORITHM`] for a model fingerprint without weight samples (read from a `/2`
    /// file), which is written back as such.
    pub fn algorithm(&self) -> &'static str {
        if self.has_weights() && self.samples.is_none() {
            PREVIOUS_ALGORITHM
        } else {
            ALGORITHM
        }
    }

    /// Number of stored values (anchors and units; the weight samples, always stored as f32,
    /// are not counted).
    pub fn values(&self) -> usize {
        let m = |x: &Option<Matrix>| x.as_ref().map_or(0, |m| m.data.len());
        m(&self.emb)
            + m(&self.canon)
            + self
                .blocks
                .iter()
                .flatten()
                .map(|b| b.units.data.len())
                .sum::<usize>()
    }

    /// Serializes to the safetensors container.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        use taoke_dtype::Dtype;
        let f16 = self.values() > F16_ABOVE;
        let enc = |m: &Matrix| -> (Dtype, Vec<u8>) {
            if f16 {
                let v: Vec<u8> = m
                    .data
                    .iter()
                    .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
                    .collect();
                (Dtype::F16, v)
            } else {
                (
                    Dtype::F32,
                    m.data.iter().flat_map(|x| x.to_le_bytes()).collect(),
                )
            }
        };
        let mut owned: Vec<(String, Dtype, Vec<u64>, Vec<u8>)> = Vec::new();
        for (name, m) in [
            ("embedding.anchors", &self.emb),
            ("embedding.canonical", &self.canon),
        ] {
            if let Some(m) = m {
                let (dt, b) = enc(m);
                owned.push((name.into(), dt, vec![m.rows as u64, m.cols as u64], b));
            }
        }
        for (i, b) in self.blocks.iter().enumerate() {
            if let Some(b) = b {
                let (dt, bytes) = enc(&b.units);
                owned.push((
                    format!("blocks.{i}.units"),
                    dt,
                    vec![b.units.rows as u64, b.units.cols as u64],
                    bytes,
                ));
                owned.push((
                    format!("blocks.{i}.unit_index"),
                    Dtype::U32,
                    vec![b.index.len() as u64],
                    b.index.iter().flat_map(|x| x.to_le_bytes()).collect(),
                ));
                owned.push((
                    format!("blocks.{i}.unit_total"),
                    Dtype::U32,
                    vec![1],
                    b.total.to_le_bytes().to_vec(),
                ));
            }
        }
        let mut meta = BTreeMap::new();
        if let Some(s) = &self.samples {
            // Exact f32 bit patterns, whatever the size (equality is the point).
            owned.push((
                "samples.values".into(),
                Dtype::F32,
                vec![s.matrices.iter().map(|m| m.values.len() as u64).sum()],
                s.matrices
                    .iter()
                    .flat_map(|m| m.values.iter().flat_map(|x| x.to_le_bytes()))
                    .collect(),
            ));
            meta.insert(
                KEY_SAMPLES.to_owned(),
                serde_json::to_string(&s.matrices).map_err(|e| Error::Format {
                    file: self.info.source.clone(),
                    message: e.to_string(),
                })?,
            );
        }
        meta.insert(KEY_VERSION.to_owned(), FORMAT_VERSION.to_string());
        meta.insert(KEY_ALGORITHM.to_owned(), self.algorithm().to_owned());
        meta.insert(
            KEY_MODEL.to_owned(),
            serde_json::to_string(&self.info).map_err(|e| Error::Format {
                file: self.info.source.clone(),
                message: e.to_string(),
            })?,
        );
        meta.insert(
            KEY_ANCHORS.to_owned(),
            serde_json::to_string(&self.anchors).unwrap_or_else(|_| "[]".into()),
        );
        let refs: Vec<(&str, Dtype, &[u64], &[u8])> = owned
            .iter()
            .map(|(n, d, s, b)| (n.as_str(), *d, s.as_slice(), b.as_slice()))
            .collect();
        let mut out = Vec::new();
        taoke_safetensors::write(&mut out, &refs, &meta).map_err(|e| Error::Format {
            file: self.info.source.clone(),
            message: e.to_string(),
        })?;
        Ok(out)
    }

    /// Parses a fingerprint; `file` names it in errors. Fails on another format version or
    /// algorithm ([`Error::Incompatible`]).
    pub fn from_bytes(bytes: &[u8], file: &str) -> Result<Fingerprint> {
        let h = taoke_safetensors::Header::parse(bytes).map_err(|e| format_error(file, e))?;
        let r = FpReader::new(bytes, file, &h);
        let version = r.version()?;
        let (info, anchors) = r.model_and_anchors()?;
        let emb = r.matrix("embedding.anchors")?;
        let canon = r.matrix("embedding.canonical")?;
        for (n, m) in [("embedding.anchors", &emb), ("embedding.canonical", &canon)] {
            if let Some(m) = m {
                if m.rows != anchors.len() {
                    return Err(r.bad(format!(
                        "tensor `{n}`: {} rows for {} anchors",
                        m.rows,
                        anchors.len()
                    )));
                }
            }
        }
        let blocks = r.blocks(info.blocks)?;
        version.check_blocks(&blocks, file)?;
        let samples = r.samples(&version, emb.is_some())?;
        Ok(Fingerprint {
            info,
            anchors,
            emb,
            canon,
            blocks,
            samples,
        })
    }

    /// Whether `bytes` look like a fingerprint file (safetensors with the version key).
    pub fn sniff(bytes: &[u8]) -> bool {
        taoke_safetensors::Header::parse(bytes)
            .map(|h| h.metadata.contains_key(KEY_VERSION))
            .unwrap_or(false)
    }
}

fn format_error(file: &str, e: impl std::fmt::Display) -> Error {
    Error::Format {
        file: file.to_owned(),
        message: e.to_string(),
    }
}

/// A fingerprint file's format version and algorithm, once known to be readable.
struct FpVersion {
    version: String,
    algorithm: String,
}

impl FpVersion {
    /// Fingerprints of the legacy algorithm whose blocks were thinned (units selected by
    /// norm) cannot be compared with today's: [`Error::Incompatible`].
    fn check_blocks(&self, blocks: &[Option<BlockUnits>], file: &str) -> Result<()> {
        let thinned = blocks
            .iter()
            .flatten()
            .any(|b| b.index.len() as u64 != u64::from(b.total));
        if self.algorithm == LEGACY_ALGORITHM && thinned {
            let (version, algorithm) = (&self.version, &self.algorithm);
            return Err(Error::Incompatible {
                file: file.to_owned(),
                found: format!(
                    "format {version}, algorithm {algorithm} with blocks of more than {UNITS} units (selected by norm)"
                ),
                expected: format!("format {FORMAT_VERSION}, algorithm {ALGORITHM}"),
            });
        }
        Ok(())
    }
}

/// Reads the parts of one fingerprint file: metadata keys and tensors, every size checked
/// before anything is allocated for it.
struct FpReader<'a> {
    bytes: &'a [u8],
    file: &'a str,
    h: &'a taoke_safetensors::Header,
    /// Tensors by name, looked up once each (a search per name was quadratic in the
    /// declared block count: 19 s at 65,536 blocks).
    by_name: std::collections::HashMap<&'a str, &'a taoke_safetensors::TensorEntry>,
}

impl<'a> FpReader<'a> {
    fn new(bytes: &'a [u8], file: &'a str, h: &'a taoke_safetensors::Header) -> Self {
        let by_name = h.tensors.iter().map(|t| (t.name.as_str(), t)).collect();
        FpReader {
            bytes,
            file,
            h,
            by_name,
        }
    }

    fn bad(&self, m: String) -> Error {
        format_error(self.file, m)
    }

    /// The format version and algorithm, when this build reads them.
    fn version(&self) -> Result<FpVersion> {
        let meta = &self.h.metadata;
        let version = meta
            .get(KEY_VERSION)
            .ok_or_else(|| self.bad("not a taoke fingerprint (no version key)".into()))?;
        let algorithm = meta.get(KEY_ALGORITHM).cloned().unwrap_or_default();
        let known = [ALGORITHM, LEGACY_ALGORITHM, PREVIOUS_ALGORITHM].contains(&algorithm.as_str());
        if version != &FORMAT_VERSION.to_string() || !known {
            return Err(Error::Incompatible {
                file: self.file.to_owned(),
                found: format!("format {version}, algorithm {algorithm}"),
                expected: format!("format {FORMAT_VERSION}, algorithm {ALGORITHM}"),
            });
        }
        Ok(FpVersion {
            version: version.clone(),
            algorithm,
        })
    }

    /// The model key and the anchors key, within their caps.
    fn model_and_anchors(&self) -> Result<(ModelInfo, Vec<String>)> {
        let meta = &self.h.metadata;
        let info: ModelInfo = serde_json::from_str(
            meta.get(KEY_MODEL)
                .ok_or_else(|| self.bad("no model key".into()))?,
        )
        .map_err(|e| self.bad(format!("model key: {e}")))?;
        let anchors: Vec<String> = serde_json::from_str(
            meta.get(KEY_ANCHORS)
                .ok_or_else(|| self.bad("no anchors key".into()))?,
        )
        .map_err(|e| self.bad(format!("anchors key: {e}")))?;
        if anchors.len() > MAX_ANCHORS {
            return Err(self.bad(format!(
                "{} anchors, more than the cap of {MAX_ANCHORS}",
                anchors.len()
            )));
        }
        if info.blocks as usize > MAX_BLOCKS {
            return Err(self.bad(format!(
                "{} blocks, more than the cap of {MAX_BLOCKS}",
                info.blocks
            )));
        }
        Ok((info, anchors))
    }

    /// Shape and values (as f32) of tensor `name`, if present.
    fn data(&self, name: &str) -> Result<Option<(Vec<u64>, Vec<f32>)>> {
        let bad = |m: String| self.bad(m);
        let Some(t) = self.by_name.get(name) else {
            return Ok(None);
        };
        let (b, e) = t.data_offsets;
        let start = self
            .h
            .data_start
            .checked_add(b)
            .ok_or_else(|| bad(format!("{name}: offset")))?;
        let end = self
            .h
            .data_start
            .checked_add(e)
            .ok_or_else(|| bad(format!("{name}: offset")))?;
        let raw = self
            .bytes
            .get(start as usize..end as usize)
            .ok_or_else(|| bad(format!("tensor `{name}` past the end of the file")))?;
        // The declared size must be the stored one before anything is allocated for it.
        let n = t
            .shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .filter(|_| {
                matches!(
                    t.dtype,
                    taoke_dtype::Dtype::U32
                        | taoke_dtype::Dtype::F32
                        | taoke_dtype::Dtype::F16
                        | taoke_dtype::Dtype::BF16
                )
            });
        if n.and_then(|n| t.dtype.bytes_for(n)) != Some(raw.len() as u64) {
            return Err(bad(format!(
                "tensor `{name}`: {} bytes of {} for shape {:?}",
                raw.len(),
                t.dtype_name,
                t.shape
            )));
        }
        let mut out = vec![0f32; n.unwrap_or(0) as usize];
        if matches!(t.dtype, taoke_dtype::Dtype::U32) {
            for (o, c) in out.iter_mut().zip(raw.chunks_exact(4)) {
                *o = u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32;
            }
        } else {
            taoke_dtype::decode_f32(t.dtype, raw, &mut out)
                .map_err(|e| bad(format!("tensor `{name}`: {e}")))?;
        }
        Ok(Some((t.shape.clone(), out)))
    }

    /// Tensor `name` as a matrix (it must be 2-D), if present.
    fn matrix(&self, name: &str) -> Result<Option<Matrix>> {
        match self.data(name)? {
            Some((s, v)) if s.len() == 2 => Matrix::new(s[0] as usize, s[1] as usize, v)
                .map(Some)
                .map_err(|e| self.bad(format!("tensor `{name}`: {e}"))),
            Some(_) => Err(self.bad(format!("tensor `{name}`: not 2-D"))),
            None => Ok(None),
        }
    }

    /// The units of each of the `count` blocks (None for a block without them).
    fn blocks(&self, count: u32) -> Result<Vec<Option<BlockUnits>>> {
        let mut blocks = Vec::new();
        for i in 0..count {
            let units = self.matrix(&format!("blocks.{i}.units"))?;
            let index = self.data(&format!("blocks.{i}.unit_index"))?;
            let total = self.data(&format!("blocks.{i}.unit_total"))?;
            blocks.push(match (units, index) {
                (Some(u), Some((_, idx))) if idx.len() == u.rows => Some(BlockUnits {
                    units: u,
                    index: idx.iter().map(|&x| x as u32).collect(),
                    total: total.and_then(|t| t.1.first().copied()).unwrap_or(0.0) as u32,
                }),
                (None, None) => None,
                _ => return Err(self.bad(format!("block {i}: units and index disagree"))),
            });
        }
        Ok(blocks)
    }

    /// Weight samples: `/3` model fingerprints only (earlier ones have none; a `/3` model
    /// fingerprint, one with embeddings, must have them).
    fn samples(&self, v: &FpVersion, has_emb: bool) -> Result<Option<WeightSamples>> {
        let js = match (v.algorithm == ALGORITHM, self.h.metadata.get(KEY_SAMPLES)) {
            (true, Some(js)) => js,
            (true, None) if has_emb => {
                return Err(self.bad(format!("{ALGORITHM} fingerprint without weight samples")))
            }
            _ => return Ok(None),
        };
        let mut ms: Vec<crate::samples::SampledMatrix> =
            serde_json::from_str(js).map_err(|e| self.bad(format!("samples key: {e}")))?;
        if ms.len() > MAX_SAMPLED_MATRICES {
            return Err(self.bad(format!(
                "{} sampled matrices, more than the cap of {MAX_SAMPLED_MATRICES}",
                ms.len()
            )));
        }
        let want: usize = ms.iter().map(|m| m.n as usize).sum();
        let (_, vals) = self
            .data("samples.values")?
            .ok_or_else(|| self.bad("samples key without `samples.values`".into()))?;
        if vals.len() != want {
            return Err(self.bad(format!(
                "tensor `samples.values`: {} values for {want} sampled positions",
                vals.len()
            )));
        }
        let mut at = 0;
        for m in &mut ms {
            m.values = vals[at..at + m.n as usize].to_vec();
            at += m.n as usize;
        }
        Ok(Some(WeightSamples { matrices: ms }))
    }
}
