//! Real-weight shells (issue 17): disguised copies of the real checkpoints the project fetches
//! (SmolLM2-135M GGUF, all-MiniLM-L6-v2 safetensors), built by stacking the zoo's transforms —
//! opaque or misleading tensor names, residual permutation or rotation, MLP-unit and head
//! permutation, a light fine-tune, dtype / format / quantization changes, depth up-scaling —
//! and hard negatives (statistics-matched and spectrum-matched twins, which share no weights
//! with the source) sent through the same disguises. Everything is written into a cache outside
//! the clone with a manifest (`shells.json`) labelling every ordered pair with the zoo's rule.
//!
//! The light fine-tune is synthetic: a merged low-rank update (rank 16, factors correlated across
//! blocks) plus a dense perturbation, scaled to a few percent of each tensor's Frobenius norm.
//! Real training of a 135M model does not fit the build budget (≤ 5 min on 2 cores); the
//! manifest says so (`"fine_tune": "synthetic-low-rank"`) and records the relative change.

use crate::plan::{EdgeClass, GgufType};
use crate::rng::Rng;
use crate::storage::{encode_gguf, gguf_round_trip, gguf_tensor_type, gpt2_name, llama_cpp_name};
use crate::storage::{qk_from_interleaved, qk_to_interleaved};
use crate::transform as tf;
use crate::weights::{safetensors_bytes, Arch, ModelConfig, StDtype, Tensor32, Weights};
use crate::ZooError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bumped whenever a change to this module changes the shells it writes.
pub const SHELL_CODE_VERSION: u32 = 1;

/// Path of the SmolLM2 GGUF under the test-models directory.
pub const SMOL_REL: &str = "SmolLM2-135M-Instruct-Q4_1/SmolLM2-135M-Instruct.Q4_1.gguf";
/// Path of the MiniLM folder under the test-models directory.
pub const MINILM_REL: &str = "all-MiniLM-L6-v2";

/// How the fine-tunes of the shells are made (recorded in the manifest).
pub const FINE_TUNE: &str = "synthetic-low-rank";

/// The default shells directory: `$TAOKE_SHELLS_DIR`, else
/// `${XDG_CACHE_HOME:-~/.cache}/taoke/shells`.
pub fn default_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("TAOKE_SHELLS_DIR") {
        return PathBuf::from(d);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("taoke").join("shells")
}

/// Tensor naming of a written shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "scheme")]
pub enum Names {
    /// The source family's own names (Hugging Face names for safetensors, llama.cpp for GGUF).
    Native,
    /// `w.3fa9`-style names, deterministic from `seed`, tensor order in the file shuffled.
    Opaque {
        /// Seed of the names and the order.
        seed: u64,
    },
    /// GPT-2-style names (`transformer.h.N.attn.c_q`, `mlp.c_fc`, ...) on a llama body.
    Gpt2,
    /// Llama names that lie: q and k swapped, gate and up swapped.
    Lying,
}

/// How a shell is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "format")]
pub enum Store {
    /// Not written (an intermediate node of the lineage).
    Internal,
    /// A safetensors folder.
    Safetensors {
        /// Element type.
        dtype: StDtype,
        /// Tensor names.
        names: Names,
        /// `architectures[0]` and `model_type` of `config.json` (None: the true ones).
        arch: Option<(String, String)>,
        /// Whether a tokenizer is shipped.
        tokenizer: bool,
    },
    /// A GGUF file with llama.cpp names and the source's metadata (tokenizer included).
    Gguf {
        /// Tensor type of the matrices.
        ty: GgufType,
    },
}

/// One step of a shell recipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "step")]
pub enum Step {
    /// A source checkpoint, read as is.
    Source,
    /// No weight change (a re-storage of the parent).
    Keep,
    /// Synthetic light fine-tune: merged low-rank update plus dense perturbation.
    FineTune {
        /// Target relative Frobenius change per tensor.
        rel: f64,
        /// Rank of the low-rank part.
        rank: usize,
        /// Seed.
        seed: u64,
    },
    /// Residual-stream permutation.
    PermuteResidual {
        /// Seed.
        seed: u64,
    },
    /// MLP-unit permutation per block (llama and BERT).
    PermuteMlp {
        /// Seed.
        seed: u64,
    },
    /// Attention-head permutation per block.
    PermuteHeads {
        /// Seed.
        seed: u64,
    },
    /// Embedding untied, norms folded, random orthogonal rotation of the residual stream.
    Rotate {
        /// Seed.
        seed: u64,
    },
    /// Blocks duplicated (new block i = old block `layers[i]`).
    UpscaleDepth {
        /// Source block of each new block.
        layers: Vec<usize>,
    },
    /// Gaussian noise of std = tensor std / `divisor`.
    NoiseWash {
        /// Divisor (700 as in the Llama3-V case).
        divisor: f64,
        /// Seed.
        seed: u64,
    },
    /// Hard negative: every tensor replaced by fresh Gaussian values with the source's per-row
    /// mean and standard deviation. Shares no weights with the source.
    TwinStats {
        /// Seed.
        seed: u64,
    },
    /// Hard negative: every matrix replaced by `U·Σ·Vᵀ` with the source's singular values and
    /// random orthonormal `U`, `V` (vectors as in [`Step::TwinStats`]).
    TwinSpectrum {
        /// Seed.
        seed: u64,
    },
}

impl Step {
    fn kinds(&self) -> Vec<&'static str> {
        match self {
            Step::Source | Step::Keep | Step::TwinStats { .. } | Step::TwinSpectrum { .. } => {
                vec![]
            }
            Step::FineTune { .. } => vec!["fine-tune"],
            Step::PermuteResidual { .. } | Step::PermuteMlp { .. } | Step::PermuteHeads { .. } => {
                vec!["permuted"]
            }
            Step::Rotate { .. } => vec!["rotated"],
            Step::UpscaleDepth { .. } => vec!["depth-upscaled"],
            Step::NoiseWash { .. } => vec!["noise-washed"],
        }
    }
    fn class(&self) -> EdgeClass {
        match self {
            Step::Source | Step::Keep | Step::TwinStats { .. } | Step::TwinSpectrum { .. } => {
                EdgeClass::Identical
            }
            Step::FineTune { .. } | Step::UpscaleDepth { .. } => EdgeClass::Related,
            _ => EdgeClass::SameWeights,
        }
    }
    /// Whether the node starts a new lineage (no weight parent).
    fn is_root(&self) -> bool {
        matches!(
            self,
            Step::Source | Step::TwinStats { .. } | Step::TwinSpectrum { .. }
        )
    }
}

/// One node of the shells' lineage graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Id (also the file or folder name).
    pub id: String,
    /// Weight parent (for a twin: the model whose statistics it copies, not a weight parent).
    pub parent: Option<String>,
    /// How it is made from the parent.
    pub step: Step,
    /// How it is stored.
    pub store: Store,
}

/// Storage description used for the kinds of a storage change.
#[derive(Debug, Clone, PartialEq)]
struct StoreDesc {
    format: &'static str,
    dtype: String,
    names: String,
}

/// The shells' plan: every node in dependency order.
pub fn plan() -> Vec<Node> {
    let n = |id: &str, parent: Option<&str>, step: Step, store: Store| Node {
        id: id.into(),
        parent: parent.map(str::to_string),
        step,
        store,
    };
    let st = |dtype: StDtype, names: Names, arch: Option<(&str, &str)>, tokenizer: bool| {
        Store::Safetensors {
            dtype,
            names,
            arch: arch.map(|(a, b)| (a.to_string(), b.to_string())),
            tokenizer,
        }
    };
    let bf16_hf = || st(StDtype::Bf16, Names::Native, None, true);
    let fake = Some(("Zephyrine7ForCausalLM", "zephyrine"));
    let ft = |seed| Step::FineTune {
        rel: 0.03,
        rank: 16,
        seed,
    };
    use Step::*;
    use Store::Internal;
    vec![
        n("smollm2", None, Source, Internal),
        n("minilm", None, Source, Internal),
        // (b) light fine-tune, bf16 safetensors, HF names
        n("smol-ft", Some("smollm2"), ft(17), Internal),
        n("smol-ft-bf16", Some("smol-ft"), Keep, bf16_hf()),
        // (c) the same fine-tune re-quantized to Q8_0
        n(
            "smol-ft-q8_0",
            Some("smol-ft"),
            Keep,
            Store::Gguf { ty: GgufType::Q8_0 },
        ),
        // (a) THE shell: fine-tune + residual, unit and head permutations + opaque names +
        // bf16 + a made-up architecture (with and without a tokenizer)
        n(
            "smol-ft-perm-res",
            Some("smol-ft"),
            PermuteResidual { seed: 301 },
            Internal,
        ),
        n(
            "smol-ft-perm-mlp",
            Some("smol-ft-perm-res"),
            PermuteMlp { seed: 302 },
            Internal,
        ),
        n(
            "smol-ft-perm",
            Some("smol-ft-perm-mlp"),
            PermuteHeads { seed: 303 },
            Internal,
        ),
        n(
            "smol-shell",
            Some("smol-ft-perm"),
            Keep,
            st(StDtype::Bf16, Names::Opaque { seed: 401 }, fake, true),
        ),
        n(
            "smol-shell-notok",
            Some("smol-ft-perm"),
            Keep,
            st(StDtype::Bf16, Names::Opaque { seed: 402 }, fake, false),
        ),
        // (d) depth up-scaled 30 → 40 (blocks 10..20 repeated), with and without a fine-tune
        n(
            "smol-upscaled",
            Some("smollm2"),
            UpscaleDepth {
                layers: (0..20).chain(10..30).collect(),
            },
            bf16_hf(),
        ),
        n("smol-upscaled-ft", Some("smol-upscaled"), ft(18), bf16_hf()),
        // (e) a Llama3-V-style noise wash stored as f32 over a bf16 copy
        n("smol-bf16", Some("smollm2"), Keep, bf16_hf()),
        n(
            "smol-bf16-noise700-f32",
            Some("smol-bf16"),
            NoiseWash {
                divisor: 700.0,
                seed: 501,
            },
            st(StDtype::F32, Names::Native, None, true),
        ),
        // (f) rotation + opaque names
        n(
            "smol-rotated",
            Some("smollm2"),
            Rotate { seed: 601 },
            st(StDtype::Bf16, Names::Opaque { seed: 602 }, fake, false),
        ),
        // (g) misleading names
        n(
            "smol-gpt2-names",
            Some("smollm2"),
            Keep,
            st(
                StDtype::Bf16,
                Names::Gpt2,
                Some(("GPT2LMHeadModel", "gpt2")),
                true,
            ),
        ),
        n(
            "smol-lying-names",
            Some("smollm2"),
            Keep,
            st(StDtype::Bf16, Names::Lying, None, true),
        ),
        // (h) MiniLM: fine-tune + unit permutation + opaque names + bf16
        n("minilm-ft", Some("minilm"), ft(19), Internal),
        n(
            "minilm-ft-perm",
            Some("minilm-ft"),
            PermuteMlp { seed: 701 },
            Internal,
        ),
        n(
            "minilm-shell",
            Some("minilm-ft-perm"),
            Keep,
            st(
                StDtype::Bf16,
                Names::Opaque { seed: 702 },
                Some(("QuillEncoderModel", "quill")),
                false,
            ),
        ),
        // (i) hard negatives: statistics- and spectrum-matched twins, through the disguises
        n(
            "smol-twin-stats",
            Some("smollm2"),
            TwinStats { seed: 801 },
            Internal,
        ),
        n(
            "smol-twin-stats-perm",
            Some("smol-twin-stats"),
            PermuteResidual { seed: 802 },
            Internal,
        ),
        n(
            "smol-twin-stats-shell",
            Some("smol-twin-stats-perm"),
            Keep,
            st(StDtype::Bf16, Names::Opaque { seed: 803 }, fake, true),
        ),
        n(
            "smol-twin-stats-q8_0",
            Some("smol-twin-stats"),
            Keep,
            Store::Gguf { ty: GgufType::Q8_0 },
        ),
        n(
            "smol-twin-spectrum",
            Some("smollm2"),
            TwinSpectrum { seed: 811 },
            Internal,
        ),
        n(
            "smol-twin-spectrum-perm",
            Some("smol-twin-spectrum"),
            PermuteResidual { seed: 812 },
            Internal,
        ),
        n(
            "smol-twin-spectrum-shell",
            Some("smol-twin-spectrum-perm"),
            Keep,
            st(StDtype::Bf16, Names::Opaque { seed: 813 }, fake, true),
        ),
        n(
            "smol-twin-spectrum-q8_0",
            Some("smol-twin-spectrum"),
            Keep,
            Store::Gguf { ty: GgufType::Q8_0 },
        ),
        n(
            "minilm-twin-stats",
            Some("minilm"),
            TwinStats { seed: 821 },
            Internal,
        ),
        n(
            "minilm-twin-stats-shell",
            Some("minilm-twin-stats"),
            PermuteMlp { seed: 822 },
            st(
                StDtype::Bf16,
                Names::Opaque { seed: 823 },
                Some(("QuillEncoderModel", "quill")),
                false,
            ),
        ),
        n(
            "minilm-twin-spectrum",
            Some("minilm"),
            TwinSpectrum { seed: 831 },
            Internal,
        ),
        n(
            "minilm-twin-spectrum-shell",
            Some("minilm-twin-spectrum"),
            PermuteMlp { seed: 832 },
            st(
                StDtype::Bf16,
                Names::Opaque { seed: 833 },
                Some(("QuillEncoderModel", "quill")),
                false,
            ),
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Labels

/// One labelled ordered pair of the shells manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShellPair {
    /// First model id.
    pub a: String,
    /// Second model id.
    pub b: String,
    /// `identical`, `same-weights`, `related` or `independent`.
    pub relation: crate::Relation,
    /// Kinds along the lineage path.
    pub kinds: Vec<String>,
    /// Direction.
    pub direction: crate::manifest::Direction,
    /// Whether this pair is a hard negative (a twin against a true descendant of its source).
    pub hard_negative: bool,
}

fn source_store(id: &str) -> StoreDesc {
    if id == "smollm2" {
        StoreDesc {
            format: "gguf",
            dtype: "Q4_1".into(),
            names: "llama.cpp".into(),
        }
    } else {
        StoreDesc {
            format: "safetensors",
            dtype: "f32".into(),
            names: "hf".into(),
        }
    }
}

fn store_desc(store: &Store, parent: &StoreDesc) -> StoreDesc {
    match store {
        Store::Internal => parent.clone(),
        Store::Safetensors { dtype, names, .. } => StoreDesc {
            format: "safetensors",
            dtype: format!("{dtype:?}").to_lowercase(),
            names: match names {
                Names::Native => "hf".into(),
                Names::Opaque { seed } => format!("opaque-{seed}"),
                Names::Gpt2 => "gpt2".into(),
                Names::Lying => "lying".into(),
            },
        },
        Store::Gguf { ty } => StoreDesc {
            format: "gguf",
            dtype: format!("{ty:?}"),
            names: "llama.cpp".into(),
        },
    }
}

struct Edge {
    kinds: Vec<&'static str>,
    class: EdgeClass,
}

fn is_quantized(dtype: &str) -> bool {
    dtype.starts_with('Q')
}

/// The edge of each non-root node: its step's kinds plus the storage change relative to its
/// parent (rename, format change, dtype recast or quantization).
fn edges(nodes: &[Node]) -> BTreeMap<String, Edge> {
    let mut desc: BTreeMap<String, StoreDesc> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for n in nodes {
        let parent_desc = match (&n.parent, n.step.is_root()) {
            (Some(p), false) => desc.get(p).cloned(),
            _ => None,
        };
        let base = parent_desc.clone().unwrap_or_else(|| match &n.parent {
            // a twin keeps its source's storage
            Some(p) => desc.get(p).cloned().unwrap_or_else(|| source_store(p)),
            None => source_store(&n.id),
        });
        let d = store_desc(&n.store, &base);
        if let Some(pd) = parent_desc {
            let mut kinds = n.step.kinds();
            let mut class = n.step.class();
            if d.names != pd.names {
                kinds.push("renamed");
            }
            if d.format != pd.format {
                kinds.push("format-change");
            }
            // the zoo's convention: a quantized side makes `quantized`, a float side stored in
            // another element type `dtype-recast` (a dequantized bf16 copy of a Q4_1 file: both)
            if d.dtype != pd.dtype {
                if is_quantized(&d.dtype) || is_quantized(&pd.dtype) {
                    kinds.push("quantized");
                }
                if !is_quantized(&d.dtype) {
                    kinds.push("dtype-recast");
                }
            }
            if d != pd {
                class = class.max(EdgeClass::SameWeights);
            }
            kinds.sort_unstable();
            kinds.dedup();
            out.insert(n.id.clone(), Edge { kinds, class });
        }
        desc.insert(n.id.clone(), d);
    }
    out
}

/// Whether a node is a file or folder on disk (a written shell or a source).
fn has_path(n: &Node) -> bool {
    n.step == Step::Source || n.store != Store::Internal
}

/// Labels every ordered pair of written shells and sources with the zoo's rule (see
/// [`crate::manifest`]).
pub fn label(nodes: &[Node]) -> Vec<ShellPair> {
    use crate::manifest::Direction;
    let e = edges(nodes);
    let by_id: BTreeMap<&str, &Node> = nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    // upward edge sets (an edge is named by its child) and ancestor sets
    let mut up: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut anc: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut twin_of: BTreeMap<&str, String> = BTreeMap::new();
    for n in nodes {
        let mut u = BTreeSet::new();
        let mut a = BTreeSet::from([n.id.clone()]);
        if let (Some(p), false) = (&n.parent, n.step.is_root()) {
            u.insert(n.id.clone());
            u.extend(up[p.as_str()].iter().cloned());
            a.extend(anc[p.as_str()].iter().cloned());
            if let Some(t) = twin_of.get(p.as_str()).cloned() {
                twin_of.insert(n.id.as_str(), t);
            }
        }
        if matches!(n.step, Step::TwinStats { .. } | Step::TwinSpectrum { .. }) {
            if let Some(p) = &n.parent {
                twin_of.insert(n.id.as_str(), p.clone());
            }
        }
        up.insert(n.id.as_str(), u);
        anc.insert(n.id.as_str(), a);
    }
    let written: Vec<&Node> = nodes.iter().filter(|n| has_path(n)).collect();
    let mut pairs = Vec::new();
    for x in &written {
        for y in &written {
            if x.id == y.id {
                continue;
            }
            let (ax, ay) = (&anc[x.id.as_str()], &anc[y.id.as_str()]);
            // a hard negative: a twin of S against S or a true descendant of S
            let hard = |t: &Node, o: &Node| {
                twin_of
                    .get(t.id.as_str())
                    .is_some_and(|s| anc[o.id.as_str()].contains(s))
            };
            let hard_negative = hard(x, y) || hard(y, x);
            if ax.is_disjoint(ay) {
                pairs.push(ShellPair {
                    a: x.id.clone(),
                    b: y.id.clone(),
                    relation: crate::Relation::Independent,
                    kinds: vec![],
                    direction: Direction::None,
                    hard_negative,
                });
                continue;
            }
            let mut kinds = BTreeSet::new();
            let mut class = EdgeClass::Identical;
            for c in up[x.id.as_str()].symmetric_difference(&up[y.id.as_str()]) {
                if let Some(ed) = e.get(c) {
                    kinds.extend(ed.kinds.iter().map(|s| s.to_string()));
                    class = class.max(ed.class);
                }
            }
            let relation = match class {
                EdgeClass::Identical => crate::Relation::Identical,
                EdgeClass::SameWeights => crate::Relation::SameWeights,
                EdgeClass::Related => crate::Relation::Related,
            };
            let direction = if ax.contains(&y.id) {
                Direction::AFromB
            } else if ay.contains(&x.id) {
                Direction::BFromA
            } else {
                Direction::CommonAncestor
            };
            pairs.push(ShellPair {
                a: x.id.clone(),
                b: y.id.clone(),
                relation,
                kinds: kinds.into_iter().collect(),
                direction,
                hard_negative,
            });
        }
    }
    let _ = by_id;
    pairs
}

// ---------------------------------------------------------------------------------------------
// Reading the sources

/// A loaded source (or derived) model.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Family and sizes.
    pub cfg: ModelConfig,
    /// Canonical (Hugging Face named) f32 weights.
    pub weights: Weights,
}

/// What the source files provide besides weights.
#[derive(Debug, Clone, Default)]
pub struct SourceMeta {
    /// GGUF metadata of the SmolLM2 file (tokenizer included), in file order.
    pub gguf: Vec<(String, taoke_gguf::Value)>,
    /// RoPE base of SmolLM2.
    pub rope_theta: f64,
    /// RMSNorm epsilon of SmolLM2.
    pub rms_eps: f64,
    /// `tokenizer.json` built from the GGUF vocabulary and merges.
    pub smol_tokenizer: Value,
    /// MiniLM's `config.json`.
    pub minilm_config: Value,
    /// MiniLM's `tokenizer.json` bytes, if present.
    pub minilm_tokenizer: Option<Vec<u8>>,
}

fn fmt_err(path: &Path, m: impl std::fmt::Display) -> ZooError {
    ZooError::Format(format!("{}: {m}", path.display()))
}

fn read_tensor(
    ck: &taoke_model::Checkpoint,
    path: &Path,
    name: &str,
) -> Result<Tensor32, ZooError> {
    let t = ck
        .tensor(name)
        .ok_or_else(|| ZooError::Missing(format!("tensor {name} in {}", path.display())))?;
    let data = ck
        .read_f32(t)
        .map_err(|e| fmt_err(path, format!("tensor {name}: {e}")))?;
    let shape: Vec<usize> = t.shape.iter().map(|&d| d as usize).collect();
    Ok(Tensor32::new(shape, data))
}

/// Maximum GGUF header (metadata) read to copy the source's metadata.
const MAX_GGUF_HEADER: u64 = 64 << 20;

/// Reads the SmolLM2 GGUF into canonical weights (Hugging Face names, Q/K rows in rotate-half
/// order) and its metadata.
pub fn load_llama_gguf(path: &Path) -> Result<(Loaded, SourceMeta), ZooError> {
    use std::io::Read;
    let ck = taoke_model::open(path.to_string_lossy()).map_err(|e| fmt_err(path, e))?;
    let mut f = std::fs::File::open(path).map_err(|e| ZooError::io(path, e))?;
    let len = f.metadata().map_err(|e| ZooError::io(path, e))?.len();
    let mut prefix = Vec::new();
    (&mut f)
        .take(len.min(MAX_GGUF_HEADER))
        .read_to_end(&mut prefix)
        .map_err(|e| ZooError::io(path, e))?;
    let g = taoke_gguf::Gguf::parse_with_len(&prefix, len).map_err(|e| fmt_err(path, e))?;
    if g.architecture() != Some("llama") {
        return Err(fmt_err(path, "not a llama GGUF"));
    }
    let u = |k: &str| -> Result<usize, ZooError> {
        g.get_u64(&format!("llama.{k}"))
            .map(|v| v as usize)
            .ok_or_else(|| fmt_err(path, format!("metadata llama.{k} missing")))
    };
    let (h, heads, kv) = (
        u("embedding_length")?,
        u("attention.head_count")?,
        u("attention.head_count_kv")?,
    );
    let emb = read_tensor(&ck, path, "token_embd.weight")?;
    if heads == 0 || kv == 0 || !heads.is_multiple_of(kv) || emb.shape.len() != 2 {
        return Err(fmt_err(path, "bad head counts or embedding shape"));
    }
    let tied = ck.tensor("output.weight").is_none();
    let cfg = ModelConfig {
        arch: Arch::Llama,
        vocab_size: emb.shape[0],
        hidden_size: h,
        intermediate_size: u("feed_forward_length")?,
        num_layers: u("block_count")?,
        num_heads: heads,
        num_kv_heads: kv,
        head_dim: h / heads,
        max_pos: u("context_length")?,
        tie_word_embeddings: tied,
        num_experts: 0,
        experts_per_tok: 0,
    };
    let mut w = Weights::new();
    for name in llama_names(&cfg) {
        let t = read_tensor(&ck, path, &llama_cpp_name(&name))?;
        let t = if name.ends_with("q_proj.weight") {
            qk_from_interleaved(&t, cfg.num_heads)
        } else if name.ends_with("k_proj.weight") {
            qk_from_interleaved(&t, cfg.num_kv_heads)
        } else {
            t
        };
        w.insert(name, t);
    }
    let tokens = g.get_str_array("tokenizer.ggml.tokens").unwrap_or_default();
    let merges = g.get_str_array("tokenizer.ggml.merges").unwrap_or_default();
    let vocab: serde_json::Map<String, Value> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.to_string(), json!(i)))
        .collect();
    let tokenizer = json!({
        "version": "1.0",
        "added_tokens": [],
        "normalizer": null,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
        "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "vocab": vocab, "merges": merges},
    });
    let meta = SourceMeta {
        rope_theta: g
            .get_f64("llama.rope.freq_base")
            .unwrap_or(crate::weights::ROPE_THETA),
        rms_eps: g
            .get_f64("llama.attention.layer_norm_rms_epsilon")
            .unwrap_or(crate::weights::NORM_EPS),
        gguf: g.metadata.clone(),
        smol_tokenizer: tokenizer,
        ..SourceMeta::default()
    };
    Ok((Loaded { cfg, weights: w }, meta))
}

/// Canonical names of a dense llama config.
pub fn llama_names(cfg: &ModelConfig) -> Vec<String> {
    let mut v = vec!["model.embed_tokens.weight".to_string()];
    for l in 0..cfg.num_layers {
        for s in [
            "input_layernorm.weight",
            "self_attn.q_proj.weight",
            "self_attn.k_proj.weight",
            "self_attn.v_proj.weight",
            "self_attn.o_proj.weight",
            "post_attention_layernorm.weight",
            "mlp.gate_proj.weight",
            "mlp.up_proj.weight",
            "mlp.down_proj.weight",
        ] {
            v.push(crate::model::lname(l, s));
        }
    }
    v.push("model.norm.weight".into());
    if !cfg.tie_word_embeddings {
        v.push("lm_head.weight".into());
    }
    v
}

/// Reads a BERT safetensors folder (every float tensor, names as stored).
pub fn load_bert(dir: &Path) -> Result<(Loaded, Value, Option<Vec<u8>>), ZooError> {
    let ck = taoke_model::open(dir.to_string_lossy()).map_err(|e| fmt_err(dir, e))?;
    let config = ck
        .config
        .clone()
        .ok_or_else(|| fmt_err(dir, "no config.json"))?;
    let g = |k: &str| config[k].as_u64().map(|v| v as usize).unwrap_or(0);
    let cfg = ModelConfig {
        arch: Arch::Bert,
        vocab_size: g("vocab_size"),
        hidden_size: g("hidden_size"),
        intermediate_size: g("intermediate_size"),
        num_layers: g("num_hidden_layers"),
        num_heads: g("num_attention_heads"),
        num_kv_heads: g("num_attention_heads"),
        head_dim: g("hidden_size") / g("num_attention_heads").max(1),
        max_pos: g("max_position_embeddings"),
        tie_word_embeddings: true,
        num_experts: 0,
        experts_per_tok: 0,
    };
    let mut w = Weights::new();
    for t in &ck.tensors {
        if !t.dtype.is_float() {
            continue; // position_ids (I64) are not weights
        }
        w.insert(t.name.clone(), read_tensor(&ck, dir, &t.name)?);
    }
    let tok = ck
        .side_file("tokenizer.json")
        .and_then(|p| std::fs::read(p).ok());
    Ok((Loaded { cfg, weights: w }, config, tok))
}

// ---------------------------------------------------------------------------------------------
// Transforms

/// Relative Frobenius change per tensor class between two weight sets (same names and shapes).
pub fn relative_change(before: &Weights, after: &Weights) -> BTreeMap<String, f64> {
    let mut num: BTreeMap<String, f64> = BTreeMap::new();
    let mut den: BTreeMap<String, f64> = BTreeMap::new();
    for (k, a) in before {
        let Some(b) = after.get(k) else { continue };
        if a.data.len() != b.data.len() {
            continue;
        }
        let class = tensor_class(k);
        let (mut n, mut d) = (0f64, 0f64);
        for (&x, &y) in a.data.iter().zip(&b.data) {
            n += (y as f64 - x as f64).powi(2);
            d += (x as f64).powi(2);
        }
        *num.entry(class.clone()).or_default() += n;
        *den.entry(class).or_default() += d;
    }
    num.into_iter()
        .map(|(k, n)| {
            let d = den.get(&k).copied().unwrap_or(0.0);
            let r = if d > 0.0 { (n / d).sqrt() } else { 0.0 };
            (k, (r * 1e5).round() / 1e5)
        })
        .collect()
}

/// The class of a tensor name (its name without block index), e.g. `self_attn.q_proj.weight`.
fn tensor_class(name: &str) -> String {
    let parts: Vec<&str> = name.split('.').collect();
    match parts.iter().position(|p| p.parse::<usize>().is_ok()) {
        Some(i) => parts[i + 1..].join("."),
        None => name.to_string(),
    }
}

/// `B·A` (B: m×r, A: r×n), row-major.
fn low_rank(b: &[f32], a: &[f32], m: usize, r: usize, n: usize) -> Vec<f32> {
    let mut out = vec![0f32; m * n];
    for i in 0..m {
        let row = &mut out[i * n..(i + 1) * n];
        for k in 0..r {
            let c = b[i * r + k];
            for (o, &x) in row.iter_mut().zip(&a[k * n..(k + 1) * n]) {
                *o += c * x;
            }
        }
    }
    out
}

fn frob(x: &[f32]) -> f64 {
    x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt()
}

/// The synthetic light fine-tune: for every matrix `W`, `W + ΔL + ΔD` where `ΔL = B·A` has rank
/// `rank` (the `A` factors of one tensor class share a common component across blocks, as real
/// fine-tunes' updates do) with ‖ΔL‖ = 0.8·rel·‖W‖, and `ΔD` is dense Gaussian noise shaped by
/// the row scales of `W` with ‖ΔD‖ = 0.6·rel·‖W‖ (total ≈ rel). Vectors (norms, biases) move by
/// rel/3 relative.
pub fn light_finetune(w: &Weights, rel: f64, rank: usize, seed: u64) -> Weights {
    let mut shared: BTreeMap<(String, usize), Vec<f32>> = BTreeMap::new();
    let mut out = Weights::new();
    for (k, t) in w {
        let mut rng = Rng::derive(seed, k);
        let norm = frob(&t.data);
        if t.shape.len() < 2 || norm == 0.0 {
            let s = rel / 3.0 * norm / (t.data.len().max(1) as f64).sqrt();
            let d = t
                .data
                .iter()
                .map(|&x| (x as f64 + rng.normal() * s) as f32)
                .collect();
            out.insert(k.clone(), Tensor32::new(t.shape.clone(), d));
            continue;
        }
        let (m, n) = t.rows_cols();
        let r = rank.min(m).min(n);
        let common = shared
            .entry((tensor_class(k), n))
            .or_insert_with(|| {
                let mut g = Rng::derive(seed, &format!("shared:{}", tensor_class(k)));
                (0..r * n).map(|_| g.normal() as f32).collect()
            })
            .clone();
        let a: Vec<f32> = common
            .iter()
            .map(|&c| (0.6 * c as f64 + 0.8 * rng.normal()) as f32)
            .collect();
        let b: Vec<f32> = (0..m * r).map(|_| rng.normal() as f32).collect();
        let mut dl = low_rank(&b, &a, m, r, n);
        let sl = 0.8 * rel * norm / frob(&dl).max(1e-30);
        // dense part, shaped by each row's RMS
        let mut dd = vec![0f32; m * n];
        for i in 0..m {
            let row = &t.data[i * n..(i + 1) * n];
            let rms = (frob(row) / (n as f64).sqrt()).max(1e-12);
            for v in &mut dd[i * n..(i + 1) * n] {
                *v = (rng.normal() * rms) as f32;
            }
        }
        let sd = 0.6 * rel * norm / frob(&dd).max(1e-30);
        for ((o, &x), &y) in dl.iter_mut().zip(&t.data).zip(&dd) {
            *o = (x as f64 + *o as f64 * sl + y as f64 * sd) as f32;
        }
        out.insert(k.clone(), Tensor32::new(t.shape.clone(), dl));
    }
    out
}

/// BERT MLP-unit permutation: per layer, `intermediate.dense` rows and bias and `output.dense`
/// columns permuted by one random permutation. Output-preserving.
pub fn permute_bert_mlp(w: &Weights, seed: u64) -> Result<Weights, ZooError> {
    let mut rng = Rng::derive(seed, "perm-bert-mlp");
    let mut out = w.clone();
    let prefixes: Vec<String> = w
        .keys()
        .filter_map(|k| {
            k.strip_suffix("intermediate.dense.weight")
                .map(str::to_string)
        })
        .collect();
    for p in prefixes {
        let get = |n: &str| w.get(n).ok_or_else(|| ZooError::Missing(n.to_string()));
        let up = get(&format!("{p}intermediate.dense.weight"))?;
        let (m, n) = up.rows_cols();
        let perm = rng.permutation(m);
        let mut d = Vec::with_capacity(m * n);
        for &i in &perm {
            d.extend_from_slice(&up.data[i * n..(i + 1) * n]);
        }
        out.insert(
            format!("{p}intermediate.dense.weight"),
            Tensor32::new(up.shape.clone(), d),
        );
        let bias = get(&format!("{p}intermediate.dense.bias"))?;
        if bias.data.len() != m {
            return Err(ZooError::Format(format!(
                "{p}intermediate.dense.bias: length"
            )));
        }
        out.insert(
            format!("{p}intermediate.dense.bias"),
            Tensor32::new(
                bias.shape.clone(),
                perm.iter().map(|&i| bias.data[i]).collect(),
            ),
        );
        let down = get(&format!("{p}output.dense.weight"))?;
        let (r, c) = down.rows_cols();
        if c != m {
            return Err(ZooError::Format(format!("{p}output.dense.weight: width")));
        }
        let mut d = vec![0f32; r * c];
        for i in 0..r {
            for (j, &pj) in perm.iter().enumerate() {
                d[i * c + j] = down.data[i * c + pj];
            }
        }
        out.insert(
            format!("{p}output.dense.weight"),
            Tensor32::new(down.shape.clone(), d),
        );
    }
    Ok(out)
}

/// Residual rotation of a (possibly tied) llama: the classifier untied, norm gains folded, then
/// every reader `W ← W·Q` and writer `W ← Qᵀ·W` (faer GEMMs, sequential for determinism).
pub fn rotate(
    cfg: &ModelConfig,
    w: &Weights,
    seed: u64,
) -> Result<(ModelConfig, Weights), ZooError> {
    use faer::{Accum, Mat, MatMut, MatRef, Par};
    let mut cfg = cfg.clone();
    let mut w = w.clone();
    if cfg.tie_word_embeddings {
        let e = w
            .get("model.embed_tokens.weight")
            .cloned()
            .ok_or_else(|| ZooError::Missing("model.embed_tokens.weight".into()))?;
        w.insert("lm_head.weight".into(), e);
        cfg.tie_word_embeddings = false;
    }
    let folded = tf::fold_norms(&cfg, &w)?;
    drop(w);
    let h = cfg.hidden_size;
    let mut rng = Rng::derive(seed, "rotation");
    let g = Mat::<f64>::from_fn(h, h, |_, _| rng.normal());
    let q64 = g.qr().compute_Q();
    let q: Vec<f32> = (0..h * h).map(|k| q64[(k / h, k % h)] as f32).collect();
    let qr = MatRef::from_row_major_slice(&q, h, h);
    let mut out = Weights::new();
    for (k, t) in folded {
        let reader = k == "model.embed_tokens.weight"
            || k == "lm_head.weight"
            || ["q_proj", "k_proj", "v_proj", "gate_proj", "up_proj"]
                .iter()
                .any(|s| k.ends_with(&format!("{s}.weight")));
        let writer = k.ends_with("o_proj.weight") || k.ends_with("down_proj.weight");
        let nt = if reader {
            let (r, _) = t.rows_cols();
            let mut d = vec![0f32; r * h];
            let a = MatRef::from_row_major_slice(&t.data, r, h);
            let dst = MatMut::from_row_major_slice_mut(&mut d, r, h);
            faer::linalg::matmul::matmul(dst, Accum::Replace, a, qr, 1.0, Par::Seq);
            Tensor32::new(t.shape.clone(), d)
        } else if writer {
            let (_, c) = t.rows_cols();
            let mut d = vec![0f32; h * c];
            let a = MatRef::from_row_major_slice(&t.data, h, c);
            let dst = MatMut::from_row_major_slice_mut(&mut d, h, c);
            faer::linalg::matmul::matmul(dst, Accum::Replace, qr.transpose(), a, 1.0, Par::Seq);
            Tensor32::new(t.shape.clone(), d)
        } else {
            t
        };
        out.insert(k, nt);
    }
    Ok((cfg, out))
}

fn row_stats(row: &[f32]) -> (f64, f64) {
    let n = row.len().max(1) as f64;
    let mean = row.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = row.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Statistics-matched twin: fresh Gaussian values with each row's mean and std (vectors: the
/// tensor's mean and std).
pub fn twin_stats(w: &Weights, seed: u64) -> Weights {
    w.iter()
        .map(|(k, t)| {
            let mut rng = Rng::derive(seed, k);
            let (r, c) = if t.shape.len() < 2 {
                (1, t.data.len())
            } else {
                t.rows_cols()
            };
            let mut d = Vec::with_capacity(t.data.len());
            for i in 0..r {
                let (m, s) = row_stats(&t.data[i * c..(i + 1) * c]);
                d.extend((0..c).map(|_| (m + s * rng.normal()) as f32));
            }
            (k.clone(), Tensor32::new(t.shape.clone(), d))
        })
        .collect()
}

/// Spectrum-matched twin: every matrix `U·Σ·Vᵀ` with its singular values `Σ` and random
/// orthonormal `U`, `V` (thin Q of Gaussian matrices); vectors as in [`twin_stats`].
pub fn twin_spectrum(w: &Weights, seed: u64) -> Result<Weights, ZooError> {
    use faer::{Accum, Mat, Par};
    let mut out = Weights::new();
    for (k, t) in w {
        if t.shape.len() < 2 {
            let one: Weights = [(k.clone(), t.clone())].into_iter().collect();
            out.extend(twin_stats(&one, seed));
            continue;
        }
        let (m, n) = t.rows_cols();
        let kk = m.min(n);
        let a = Mat::<f64>::from_fn(m, n, |i, j| t.data[i * n + j] as f64);
        let s = a
            .singular_values()
            .map_err(|e| ZooError::Format(format!("singular values of {k}: {e:?}")))?;
        drop(a);
        let mut rng = Rng::derive(seed, k);
        let gu = Mat::<f64>::from_fn(m, kk, |_, _| rng.normal());
        let u = gu.qr().compute_thin_Q();
        drop(gu);
        let gv = Mat::<f64>::from_fn(n, kk, |_, _| rng.normal());
        let v = gv.qr().compute_thin_Q();
        drop(gv);
        let us = Mat::<f64>::from_fn(m, kk, |i, j| u[(i, j)] * s.get(j).copied().unwrap_or(0.0));
        drop(u);
        let mut d64 = Mat::<f64>::zeros(m, n);
        faer::linalg::matmul::matmul(
            d64.as_mut(),
            Accum::Replace,
            us.as_ref(),
            v.as_ref().transpose(),
            1.0,
            Par::Seq,
        );
        let mut d = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                d[i * n + j] = d64[(i, j)] as f32;
            }
        }
        out.insert(k.clone(), Tensor32::new(t.shape.clone(), d));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Writers

fn opaque_names(names: &[String], seed: u64) -> BTreeMap<String, String> {
    let mut used = BTreeSet::new();
    let mut out = BTreeMap::new();
    for n in names {
        let mut salt = 0u32;
        loop {
            let h = Sha256::digest(format!("{seed}:{salt}:{n}").as_bytes());
            let s = format!("w.{:02x}{:02x}", h[0], h[1]);
            if used.insert(s.clone()) {
                out.insert(n.clone(), s);
                break;
            }
            salt += 1;
        }
    }
    out
}

/// A llama name that lies: q ↔ k and gate ↔ up swapped.
fn lying_name(name: &str) -> String {
    let swaps = [
        ("q_proj", "k_proj"),
        ("k_proj", "q_proj"),
        ("gate_proj", "up_proj"),
        ("up_proj", "gate_proj"),
    ];
    for (a, b) in swaps {
        if name.contains(a) {
            return name.replace(a, b);
        }
    }
    name.to_string()
}

fn llama_config_json(
    cfg: &ModelConfig,
    meta: &SourceMeta,
    arch: (&str, &str),
    dtype: StDtype,
) -> Value {
    json!({
        "architectures": [arch.0],
        "model_type": arch.1,
        "hidden_size": cfg.hidden_size,
        "intermediate_size": cfg.intermediate_size,
        "num_hidden_layers": cfg.num_layers,
        "num_attention_heads": cfg.num_heads,
        "num_key_value_heads": cfg.num_kv_heads,
        "head_dim": cfg.head_dim,
        "vocab_size": cfg.vocab_size,
        "rms_norm_eps": meta.rms_eps,
        "rope_theta": meta.rope_theta,
        "max_position_embeddings": cfg.max_pos,
        "tie_word_embeddings": cfg.tie_word_embeddings,
        "hidden_act": "silu",
        "torch_dtype": match dtype { StDtype::F32 => "float32", StDtype::F16 => "float16", StDtype::Bf16 => "bfloat16" },
    })
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ZooError> {
    std::fs::write(path, bytes).map_err(|e| ZooError::io(path, e))
}

/// Writes a safetensors shell folder.
fn write_safetensors_shell(
    dir: &Path,
    m: &Loaded,
    meta: &SourceMeta,
    dtype: StDtype,
    names: Names,
    arch: Option<&(String, String)>,
    tokenizer: bool,
) -> Result<(), ZooError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| ZooError::io(dir, e))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| ZooError::io(dir, e))?;
    let keys: Vec<String> = m.weights.keys().cloned().collect();
    let mut stored: Vec<(String, &Tensor32)> = match names {
        Names::Native => keys.iter().map(|k| (k.clone(), &m.weights[k])).collect(),
        Names::Opaque { seed } => {
            let map = opaque_names(&keys, seed);
            let mut v: Vec<(String, &Tensor32)> = keys
                .iter()
                .map(|k| (map[k].clone(), &m.weights[k]))
                .collect();
            let p = Rng::derive(seed, "order").permutation(v.len());
            let mut shuffled = Vec::with_capacity(v.len());
            for i in p {
                shuffled.push(v[i].clone());
            }
            v = shuffled;
            v
        }
        Names::Gpt2 => keys.iter().map(|k| (gpt2_name(k), &m.weights[k])).collect(),
        Names::Lying => keys
            .iter()
            .map(|k| (lying_name(k), &m.weights[k]))
            .collect(),
    };
    if !matches!(names, Names::Opaque { .. }) {
        stored.sort_by(|a, b| a.0.cmp(&b.0));
    }
    let mut md = BTreeMap::new();
    md.insert("format".to_string(), "pt".to_string());
    write_file(
        &dir.join("model.safetensors"),
        &safetensors_bytes(&stored, dtype, &md),
    )?;
    drop(stored);
    let config = match m.cfg.arch {
        Arch::Bert => {
            let mut c = meta.minilm_config.clone();
            if let Some((a, t)) = arch {
                c["architectures"] = json!([a]);
                c["model_type"] = json!(t);
            }
            c["torch_dtype"] = json!(format!("{dtype:?}").to_lowercase());
            c
        }
        _ => {
            let a = arch
                .map(|(a, t)| (a.as_str(), t.as_str()))
                .unwrap_or(("LlamaForCausalLM", "llama"));
            llama_config_json(&m.cfg, meta, a, dtype)
        }
    };
    write_file(
        &dir.join("config.json"),
        &serde_json::to_vec_pretty(&config).unwrap_or_default(),
    )?;
    if tokenizer {
        match m.cfg.arch {
            Arch::Bert => {
                if let Some(t) = &meta.minilm_tokenizer {
                    write_file(&dir.join("tokenizer.json"), t)?;
                }
            }
            _ => write_file(
                &dir.join("tokenizer.json"),
                &serde_json::to_vec(&meta.smol_tokenizer).unwrap_or_default(),
            )?,
        }
    }
    Ok(())
}

/// Writes a llama GGUF shell: the source's metadata (tokenizer included) with the block count,
/// name and file type updated, llama.cpp names and Q/K row order.
fn write_gguf_shell(
    path: &Path,
    id: &str,
    m: &Loaded,
    meta: &SourceMeta,
    ty: GgufType,
) -> Result<(), ZooError> {
    if m.cfg.arch != Arch::Llama {
        return Err(ZooError::Recipe {
            id: id.into(),
            msg: "GGUF shells are written for llama models only".into(),
        });
    }
    let werr = |e: taoke_gguf::WriteError| fmt_err(path, e);
    let mut g = taoke_gguf::GgufWriter::new();
    let file_type: u32 = match ty {
        GgufType::F32 => 0,
        GgufType::F16 => 1,
        GgufType::Q8_0 => 7,
        GgufType::Q4K => 15,
    };
    for (k, v) in &meta.gguf {
        let v = match k.as_str() {
            "general.name" => id.into(),
            "general.file_type" => file_type.into(),
            "llama.block_count" => (m.cfg.num_layers as u32).into(),
            "general.alignment" => continue,
            _ => v.clone(),
        };
        g.add_kv(k, v).map_err(werr)?;
    }
    for name in llama_names(&m.cfg) {
        let t = m
            .weights
            .get(&name)
            .ok_or_else(|| ZooError::Missing(format!("{id}: {name}")))?;
        let t = if name.ends_with("q_proj.weight") {
            qk_to_interleaved(t, m.cfg.num_heads)
        } else if name.ends_with("k_proj.weight") {
            qk_to_interleaved(t, m.cfg.num_kv_heads)
        } else {
            t.clone()
        };
        let dtype = gguf_tensor_type(&t, ty);
        let bytes = encode_gguf(&name, &t, dtype)?;
        let shape: Vec<u64> = t.shape.iter().map(|&d| d as u64).collect();
        g.add_tensor(llama_cpp_name(&name), &shape, dtype, bytes)
            .map_err(werr)?;
    }
    let mut f =
        std::io::BufWriter::new(std::fs::File::create(path).map_err(|e| ZooError::io(path, e))?);
    g.write_to(&mut f).map_err(|e| ZooError::io(path, e))?;
    use std::io::Write;
    f.flush().map_err(|e| ZooError::io(path, e))
}

// ---------------------------------------------------------------------------------------------
// Build

/// One written shell in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShellEntry {
    /// Id.
    pub id: String,
    /// Path relative to the manifest (a folder or a `.gguf` file).
    pub path: String,
    /// `safetensors` or `gguf`.
    pub format: String,
    /// The source checkpoint it descends from (or whose statistics a twin copies).
    pub source: String,
    /// Weight parent (None for a twin's root).
    pub parent: Option<String>,
    /// The recipe: every step from the source, in order, with its storage.
    pub recipe: Vec<Value>,
    /// Hash of the recipe and the source (the cache key).
    pub recipe_hash: String,
    /// Bytes on disk.
    pub bytes: u64,
    /// Relative Frobenius change per tensor class made by the last fine-tune or noise wash on
    /// the shell's recipe (that step's weights against its parent's, before permutations).
    pub relative_change: Option<BTreeMap<String, f64>>,
    /// Whether the model is a hard negative (a twin: no weight shared with its source).
    pub twin: bool,
}

/// A source checkpoint in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceEntry {
    /// Id.
    pub id: String,
    /// Path under the test-models directory.
    pub test_model: String,
    /// The path it was read from when the manifest was written.
    pub resolved: String,
}

/// The shells manifest (`shells.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShellManifest {
    /// Format version (1).
    pub schema_version: u32,
    /// How fine-tunes are made (`synthetic-low-rank`).
    pub fine_tune: String,
    /// The labelling rule.
    pub relation_rule: String,
    /// The source checkpoints.
    pub sources: Vec<SourceEntry>,
    /// The written shells.
    pub shells: Vec<ShellEntry>,
    /// Every ordered pair of sources and shells.
    pub pairs: Vec<ShellPair>,
}

impl ShellManifest {
    /// Loads a manifest.
    pub fn load(path: &Path) -> Result<ShellManifest, ZooError> {
        let b = std::fs::read(path).map_err(|e| ZooError::io(path, e))?;
        serde_json::from_slice(&b).map_err(|e| fmt_err(path, e))
    }

    /// The path of a model id (a source or a shell) given the manifest's directory.
    pub fn path_of(&self, dir: &Path, id: &str) -> Option<PathBuf> {
        if let Some(s) = self.sources.iter().find(|s| s.id == id) {
            return Some(PathBuf::from(&s.resolved));
        }
        self.shells
            .iter()
            .find(|s| s.id == id)
            .map(|s| dir.join(&s.path))
    }

    /// The label of the ordered pair (a, b).
    pub fn pair(&self, a: &str, b: &str) -> Option<&ShellPair> {
        self.pairs.iter().find(|p| p.a == a && p.b == b)
    }
}

fn rel_path(n: &Node) -> String {
    match n.store {
        Store::Gguf { .. } => format!("{}.gguf", n.id),
        _ => n.id.clone(),
    }
}

fn dir_bytes(p: &Path) -> u64 {
    if p.is_file() {
        return p.metadata().map(|m| m.len()).unwrap_or(0);
    }
    std::fs::read_dir(p)
        .map(|rd| rd.flatten().map(|e| dir_bytes(&e.path())).sum())
        .unwrap_or(0)
}

fn source_of(nodes: &[Node], id: &str) -> String {
    let mut cur = id.to_string();
    loop {
        let Some(n) = nodes.iter().find(|n| n.id == cur) else {
            return cur;
        };
        match &n.parent {
            Some(p) => cur = p.clone(),
            None => return cur,
        }
    }
}

fn chain(nodes: &[Node], id: &str) -> Vec<Node> {
    let mut out = Vec::new();
    let mut cur = Some(id.to_string());
    while let Some(c) = cur {
        let Some(n) = nodes.iter().find(|n| n.id == c) else {
            break;
        };
        out.push(n.clone());
        cur = n.parent.clone();
    }
    out.reverse();
    out
}

/// Builds every shell (skipping those whose recipe hash is unchanged) from the sources under
/// `models` into `out`, writes `shells.json` and returns the manifest.
pub fn build_shells(
    models: &Path,
    out: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<ShellManifest, ZooError> {
    let nodes = plan();
    std::fs::create_dir_all(out).map_err(|e| ZooError::io(out, e))?;
    let smol_path = models.join(SMOL_REL);
    let minilm_path = models.join(MINILM_REL);
    for p in [&smol_path, &minilm_path] {
        if !p.exists() {
            return Err(ZooError::Missing(format!(
                "source {} (run scripts/fetch-test-models)",
                p.display()
            )));
        }
    }
    let src_key = |id: &str| -> String {
        let p = if id == "smollm2" {
            &smol_path
        } else {
            &minilm_path
        };
        let len = if p.is_file() {
            p.metadata().map(|m| m.len()).unwrap_or(0)
        } else {
            dir_bytes(&p.join("model.safetensors"))
        };
        format!("{id}:{len}")
    };
    // hashes and staleness
    let mut hashes: BTreeMap<String, String> = BTreeMap::new();
    let mut stale: BTreeSet<String> = BTreeSet::new();
    for n in nodes.iter().filter(|n| n.store != Store::Internal) {
        let c = chain(&nodes, &n.id);
        let v = json!({"code": SHELL_CODE_VERSION, "source": src_key(&source_of(&nodes, &n.id)), "chain": c});
        let h = Sha256::digest(serde_json::to_vec(&v).unwrap_or_default());
        let h: String = h.iter().take(12).map(|b| format!("{b:02x}")).collect();
        let stamp = out.join(".stamps").join(format!("{}.hash", n.id));
        let fresh =
            std::fs::read_to_string(&stamp).is_ok_and(|s| s == h) && out.join(rel_path(n)).exists();
        if !fresh {
            stale.insert(n.id.clone());
        }
        hashes.insert(n.id.clone(), h);
    }
    std::fs::create_dir_all(out.join(".stamps")).map_err(|e| ZooError::io(out, e))?;
    // nodes needed: ancestors (weight parents and twin sources) of stale shells
    let mut needed: BTreeSet<String> = BTreeSet::new();
    for s in &stale {
        for n in chain(&nodes, s) {
            needed.insert(n.id);
        }
    }
    let mut children_left: BTreeMap<String, usize> = BTreeMap::new();
    for n in nodes.iter().filter(|n| needed.contains(&n.id)) {
        if let Some(p) = &n.parent {
            *children_left.entry(p.clone()).or_default() += 1;
        }
    }
    let mut meta = SourceMeta::default();
    let mut memo: BTreeMap<String, Loaded> = BTreeMap::new();
    let mut sources: BTreeMap<String, Loaded> = BTreeMap::new();
    let mut rel_changes: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    let prev: Option<ShellManifest> = ShellManifest::load(&out.join("shells.json")).ok();
    if needed.contains("smollm2") || needed.contains("minilm") {
        // the metadata of both sources is needed by any writer
        let (smol, m) = load_llama_gguf(&smol_path)?;
        meta = m;
        let (bert, cfgj, tok) = load_bert(&minilm_path)?;
        meta.minilm_config = cfgj;
        meta.minilm_tokenizer = tok;
        if needed.contains("smollm2") {
            sources.insert("smollm2".into(), smol);
        }
        if needed.contains("minilm") {
            sources.insert("minilm".into(), bert);
        }
    }
    for n in &nodes {
        if !needed.contains(&n.id) {
            continue;
        }
        let t0 = std::time::Instant::now();
        let recipe_err = |m: String| ZooError::Recipe {
            id: n.id.clone(),
            msg: m,
        };
        let parent = |memo: &BTreeMap<String, Loaded>| -> Result<Loaded, ZooError> {
            let p = n
                .parent
                .as_deref()
                .ok_or_else(|| recipe_err("no parent".into()))?;
            memo.get(p)
                .cloned()
                .ok_or_else(|| ZooError::Missing(format!("model {p}")))
        };
        let mut m = match &n.step {
            Step::Source => sources
                .remove(&n.id)
                .ok_or_else(|| ZooError::Missing(format!("source {}", n.id)))?,
            Step::Keep => parent(&memo)?,
            Step::FineTune { rel, rank, seed } => {
                let p = parent(&memo)?;
                Loaded {
                    weights: light_finetune(&p.weights, *rel, *rank, *seed),
                    cfg: p.cfg,
                }
            }
            Step::PermuteResidual { seed } => {
                let p = parent(&memo)?;
                Loaded {
                    weights: tf::permute_residual(&p.cfg, &p.weights, *seed)?,
                    cfg: p.cfg,
                }
            }
            Step::PermuteMlp { seed } => {
                let p = parent(&memo)?;
                let w = if p.cfg.arch == Arch::Bert {
                    permute_bert_mlp(&p.weights, *seed)?
                } else {
                    tf::permute_mlp(&p.cfg, &p.weights, *seed)?
                };
                Loaded {
                    weights: w,
                    cfg: p.cfg,
                }
            }
            Step::PermuteHeads { seed } => {
                let p = parent(&memo)?;
                Loaded {
                    weights: tf::permute_heads(&p.cfg, &p.weights, *seed)?,
                    cfg: p.cfg,
                }
            }
            Step::Rotate { seed } => {
                let p = parent(&memo)?;
                let (cfg, weights) = rotate(&p.cfg, &p.weights, *seed)?;
                Loaded { cfg, weights }
            }
            Step::UpscaleDepth { layers } => {
                let p = parent(&memo)?;
                let (cfg, weights) = tf::select_blocks(&p.cfg, &p.weights, layers)?;
                Loaded { cfg, weights }
            }
            Step::NoiseWash { divisor, seed } => {
                let p = parent(&memo)?;
                Loaded {
                    weights: tf::noise_wash(&p.weights, *divisor, *seed),
                    cfg: p.cfg,
                }
            }
            Step::TwinStats { seed } => {
                let p = parent(&memo)?;
                Loaded {
                    weights: twin_stats(&p.weights, *seed),
                    cfg: p.cfg,
                }
            }
            Step::TwinSpectrum { seed } => {
                let p = parent(&memo)?;
                Loaded {
                    weights: twin_spectrum(&p.weights, *seed)?,
                    cfg: p.cfg,
                }
            }
        };
        // the values a written copy holds
        match &n.store {
            Store::Internal => {}
            Store::Safetensors { dtype, .. } => {
                if *dtype != StDtype::F32 {
                    m.weights = tf::round_to(&m.weights, *dtype);
                }
            }
            Store::Gguf { ty } => {
                m.weights = m
                    .weights
                    .iter()
                    .map(|(k, t)| Ok((k.clone(), gguf_round_trip(k, t, *ty)?)))
                    .collect::<Result<Weights, ZooError>>()?;
            }
        }
        // the relative change a fine-tune or a noise wash makes (against its parent)
        if matches!(n.step, Step::FineTune { .. } | Step::NoiseWash { .. }) {
            if let Some(p) = n.parent.as_ref().and_then(|p| memo.get(p)) {
                rel_changes.insert(n.id.clone(), relative_change(&p.weights, &m.weights));
            }
        }
        if stale.contains(&n.id) {
            let target = out.join(rel_path(n));
            match &n.store {
                Store::Safetensors {
                    dtype,
                    names,
                    arch,
                    tokenizer,
                } => write_safetensors_shell(
                    &target,
                    &m,
                    &meta,
                    *dtype,
                    *names,
                    arch.as_ref(),
                    *tokenizer,
                )?,
                Store::Gguf { ty } => write_gguf_shell(&target, &n.id, &m, &meta, *ty)?,
                Store::Internal => {}
            }
            let stamp = out.join(".stamps").join(format!("{}.hash", n.id));
            write_file(&stamp, hashes[&n.id].as_bytes())?;
            progress(&format!(
                "shell {:<28} {:>6.1}s {:>6} MB",
                n.id,
                t0.elapsed().as_secs_f64(),
                dir_bytes(&target) >> 20
            ));
        }
        // keep only while children (or relative-change comparisons) need it
        if let Some(p) = &n.parent {
            if let Some(c) = children_left.get_mut(p) {
                *c -= 1;
                if *c == 0 && !n.step.is_root() && p != "smollm2" && p != "minilm" {
                    memo.remove(p);
                }
            }
        }
        if children_left.get(&n.id).copied().unwrap_or(0) > 0 || n.step == Step::Source {
            memo.insert(n.id.clone(), m);
        }
    }
    drop(memo);
    // manifest
    let mut shells = Vec::new();
    for n in nodes.iter().filter(|n| n.store != Store::Internal) {
        let c = chain(&nodes, &n.id);
        let recipe: Vec<Value> = c
            .iter()
            .map(|x| json!({"id": x.id, "step": x.step, "store": x.store}))
            .collect();
        let step = c
            .iter()
            .rev()
            .find(|x| matches!(x.step, Step::FineTune { .. } | Step::NoiseWash { .. }));
        let rel = step.and_then(|x| {
            rel_changes.get(&x.id).cloned().or_else(|| {
                prev.as_ref()
                    .and_then(|p| p.shells.iter().find(|s| s.id == n.id))
                    .and_then(|s| s.relative_change.clone())
            })
        });
        let twin = c
            .iter()
            .any(|x| matches!(x.step, Step::TwinStats { .. } | Step::TwinSpectrum { .. }));
        shells.push(ShellEntry {
            id: n.id.clone(),
            path: rel_path(n),
            format: match n.store {
                Store::Gguf { .. } => "gguf".into(),
                _ => "safetensors".into(),
            },
            source: source_of(&nodes, &n.id),
            parent: if n.step.is_root() {
                None
            } else {
                n.parent.clone()
            },
            recipe,
            recipe_hash: hashes[&n.id].clone(),
            bytes: dir_bytes(&out.join(rel_path(n))),
            relative_change: rel,
            twin,
        });
    }
    let manifest = ShellManifest {
        schema_version: 1,
        fine_tune: FINE_TUNE.into(),
        relation_rule: crate::manifest::RELATION_RULE.into(),
        sources: vec![
            SourceEntry {
                id: "smollm2".into(),
                test_model: SMOL_REL.into(),
                resolved: smol_path.display().to_string(),
            },
            SourceEntry {
                id: "minilm".into(),
                test_model: MINILM_REL.into(),
                resolved: minilm_path.display().to_string(),
            },
        ],
        shells,
        pairs: label(&nodes),
    };
    let mp = out.join("shells.json");
    write_file(
        &mp,
        &serde_json::to_vec_pretty(&manifest).unwrap_or_default(),
    )?;
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Relation;

    #[test]
    fn labels_follow_the_zoo_rule() {
        let nodes = plan();
        let pairs = label(&nodes);
        let get = |a: &str, b: &str| {
            pairs
                .iter()
                .find(|p| p.a == a && p.b == b)
                .unwrap_or_else(|| panic!("{a} {b}"))
        };
        let s = get("smollm2", "smol-shell");
        assert_eq!(s.relation, Relation::Related);
        for k in [
            "fine-tune",
            "permuted",
            "renamed",
            "dtype-recast",
            "format-change",
        ] {
            assert!(s.kinds.iter().any(|x| x == k), "{k} in {:?}", s.kinds);
        }
        assert_eq!(s.direction, crate::manifest::Direction::BFromA);
        let q = get("smol-ft-q8_0", "smollm2");
        assert_eq!(q.relation, Relation::Related);
        assert_eq!(q.kinds, vec!["fine-tune", "quantized"]);
        let u = get("smollm2", "smol-upscaled");
        assert_eq!(u.relation, Relation::Related);
        assert!(u.kinds.iter().any(|k| k == "depth-upscaled"));
        let n = get("smol-bf16", "smol-bf16-noise700-f32");
        assert_eq!(n.relation, Relation::SameWeights);
        assert_eq!(n.kinds, vec!["dtype-recast", "noise-washed"]);
        assert_eq!(
            get("smol-shell", "smol-shell-notok").relation,
            Relation::SameWeights
        );
        let t = get("smol-twin-stats-shell", "smollm2");
        assert_eq!(t.relation, Relation::Independent);
        assert!(t.hard_negative);
        assert!(get("smol-twin-spectrum-q8_0", "smol-shell").hard_negative);
        assert_eq!(
            get("smol-twin-stats-shell", "smol-twin-stats-q8_0").relation,
            Relation::SameWeights
        );
        assert!(!get("minilm-shell", "smollm2").hard_negative);
        let written = nodes.iter().filter(|n| has_path(n)).count();
        assert_eq!(pairs.len(), written * (written - 1));
    }

    #[test]
    fn fine_tune_moves_a_few_percent() {
        let mut w = Weights::new();
        let mut r = Rng::new(3);
        w.insert(
            "model.layers.0.mlp.up_proj.weight".into(),
            Tensor32::new(
                vec![64, 32],
                (0..64 * 32).map(|_| r.normal() as f32).collect(),
            ),
        );
        w.insert(
            "model.layers.1.mlp.up_proj.weight".into(),
            Tensor32::new(
                vec![64, 32],
                (0..64 * 32).map(|_| r.normal() as f32).collect(),
            ),
        );
        let f = light_finetune(&w, 0.03, 4, 1);
        let rc = relative_change(&w, &f);
        let x = rc["mlp.up_proj.weight"];
        assert!((0.025..0.035).contains(&x), "{x}");
    }

    #[test]
    fn rotation_preserves_products() {
        // reader·writer products (x·Wq and Wo·y paths) are invariant: W_r Q Qᵀ W_w = W_r W_w
        let cfg = crate::plan::shape("llama-64x4").expect("shape");
        let w = crate::model::init(&cfg, 5);
        let (c2, r) = rotate(&cfg, &w, 9).expect("rotates");
        assert!(!c2.tie_word_embeddings || cfg.tie_word_embeddings);
        let f = tf::fold_norms(&cfg, &w).expect("folds");
        let prod = |w: &Weights| {
            let a = &w["model.layers.0.mlp.up_proj.weight"];
            let b = &w["model.layers.0.self_attn.o_proj.weight"];
            let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
            // (up · o)[0][0]
            let _ = i;
            (0..h)
                .map(|k| a.data[k] as f64 * b.data[k * h] as f64)
                .sum::<f64>()
        };
        assert!((prod(&f) - prod(&r)).abs() < 1e-4);
    }
}
