//! In-memory weights (f32, Hugging Face tensor names and layouts), model configurations, and a
//! small safetensors writer/reader (F32, F16, BF16; single file or sharded with an index).

use crate::ZooError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// One f32 tensor, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor32 {
    /// Shape (outermost first).
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub data: Vec<f32>,
}

impl Tensor32 {
    /// A tensor from a shape and values; the caller guarantees `data.len()` = product of `shape`.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Tensor32 {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Tensor32 { shape, data }
    }

    /// Rows (first dimension) and columns (product of the rest).
    pub fn rows_cols(&self) -> (usize, usize) {
        let r = self.shape.first().copied().unwrap_or(1);
        (r, self.data.len() / r.max(1))
    }

    /// Row `i` of a 2-D view.
    pub fn row(&self, i: usize) -> &[f32] {
        let (_, c) = self.rows_cols();
        &self.data[i * c..(i + 1) * c]
    }

    /// Transposed copy of a 2-D tensor.
    pub fn transposed(&self) -> Tensor32 {
        let (r, c) = self.rows_cols();
        let mut out = vec![0.0; r * c];
        for i in 0..r {
            for j in 0..c {
                out[j * r + i] = self.data[i * c + j];
            }
        }
        Tensor32::new(vec![c, r], out)
    }

    /// Population standard deviation of the values.
    pub fn std(&self) -> f64 {
        let n = self.data.len().max(1) as f64;
        let mean = self.data.iter().map(|&x| x as f64).sum::<f64>() / n;
        (self
            .data
            .iter()
            .map(|&x| (x as f64 - mean).powi(2))
            .sum::<f64>()
            / n)
            .sqrt()
    }
}

/// A named set of tensors (deterministic order).
pub type Weights = BTreeMap<String, Tensor32>;

/// Model family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arch {
    /// Llama-style decoder (RMSNorm, RoPE, SwiGLU, grouped-query attention).
    Llama,
    /// Llama-style decoder whose MLPs are mixtures of experts (Mixtral names).
    Mixtral,
    /// BERT-style encoder (LayerNorm, GELU, learned positions, masked-LM head).
    Bert,
}

/// Hyper-parameters of a zoo model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Family.
    pub arch: Arch,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Residual width.
    pub hidden_size: usize,
    /// MLP width (per expert for Mixtral).
    pub intermediate_size: usize,
    /// Number of blocks.
    pub num_layers: usize,
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads (grouped-query attention; = heads for BERT).
    pub num_kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// Maximum sequence length.
    pub max_pos: usize,
    /// Whether the classifier shares the token-embedding matrix.
    pub tie_word_embeddings: bool,
    /// Experts per MoE layer (0 = dense).
    pub num_experts: usize,
    /// Experts routed per token.
    pub experts_per_tok: usize,
}

/// RMSNorm / LayerNorm epsilon used by every zoo model.
pub const NORM_EPS: f64 = 1e-5;
/// RoPE base.
pub const ROPE_THETA: f64 = 10000.0;

impl ModelConfig {
    /// The Hugging Face `config.json` document.
    pub fn to_hf_json(&self) -> Value {
        match self.arch {
            Arch::Bert => json!({
                "architectures": ["BertLMHeadModel"],
                "model_type": "bert",
                "is_decoder": true,
                "hidden_size": self.hidden_size,
                "intermediate_size": self.intermediate_size,
                "num_hidden_layers": self.num_layers,
                "num_attention_heads": self.num_heads,
                "vocab_size": self.vocab_size,
                "max_position_embeddings": self.max_pos,
                "type_vocab_size": 1,
                "hidden_act": "gelu",
                "layer_norm_eps": NORM_EPS,
                "hidden_dropout_prob": 0.0,
                "attention_probs_dropout_prob": 0.0,
                "pad_token_id": crate::bpe::SPECIALS.iter().position(|s| *s == "<pad>"),
                "torch_dtype": "float32",
            }),
            Arch::Llama | Arch::Mixtral => {
                let mut v = json!({
                    "architectures": [if self.arch == Arch::Llama { "LlamaForCausalLM" } else { "MixtralForCausalLM" }],
                    "model_type": if self.arch == Arch::Llama { "llama" } else { "mixtral" },
                    "hidden_size": self.hidden_size,
                    "intermediate_size": self.intermediate_size,
                    "num_hidden_layers": self.num_layers,
                    "num_attention_heads": self.num_heads,
                    "num_key_value_heads": self.num_kv_heads,
                    "head_dim": self.head_dim,
                    "vocab_size": self.vocab_size,
                    "rms_norm_eps": NORM_EPS,
                    "rope_theta": ROPE_THETA,
                    "max_position_embeddings": self.max_pos,
                    "tie_word_embeddings": self.tie_word_embeddings,
                    "hidden_act": "silu",
                    "bos_token_id": crate::bpe::BOS_ID,
                    "eos_token_id": 2,
                    "torch_dtype": "float32",
                });
                if self.arch == Arch::Mixtral {
                    v["num_local_experts"] = json!(self.num_experts);
                    v["num_experts_per_tok"] = json!(self.experts_per_tok);
                }
                v
            }
        }
    }

    /// Total parameter count of a weight set.
    pub fn param_count(w: &Weights) -> usize {
        w.values().map(|t| t.data.len()).sum()
    }

    /// Whether two configs have the same architecture and size (all tensor shapes equal).
    pub fn same_shape(&self, other: &ModelConfig) -> bool {
        self == other
    }
}

/// On-disk element type of a safetensors file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StDtype {
    /// float32.
    F32,
    /// float16.
    F16,
    /// bfloat16.
    Bf16,
}

impl StDtype {
    fn name(self) -> &'static str {
        match self {
            StDtype::F32 => "F32",
            StDtype::F16 => "F16",
            StDtype::Bf16 => "BF16",
        }
    }
    fn size(self) -> usize {
        match self {
            StDtype::F32 => 4,
            _ => 2,
        }
    }
    /// Rounds a value to this dtype and back.
    pub fn round(self, x: f32) -> f32 {
        match self {
            StDtype::F32 => x,
            StDtype::F16 => half::f16::from_f32(x).to_f32(),
            StDtype::Bf16 => half::bf16::from_f32(x).to_f32(),
        }
    }
}

/// Serialises tensors (in the given order) as one safetensors file.
pub fn safetensors_bytes(
    tensors: &[(String, &Tensor32)],
    dtype: StDtype,
    metadata: &BTreeMap<String, String>,
) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    if !metadata.is_empty() {
        header.insert("__metadata__".into(), json!(metadata));
    }
    let mut off = 0usize;
    for (name, t) in tensors {
        let n = t.data.len() * dtype.size();
        header.insert(
            name.clone(),
            json!({"dtype": dtype.name(), "shape": t.shape, "data_offsets": [off, off + n]}),
        );
        off += n;
    }
    let mut h = serde_json::to_vec(&Value::Object(header)).unwrap_or_default();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + h.len() + off);
    out.extend_from_slice(&(h.len() as u64).to_le_bytes());
    out.extend_from_slice(&h);
    for (_, t) in tensors {
        for &x in &t.data {
            match dtype {
                StDtype::F32 => out.extend_from_slice(&x.to_le_bytes()),
                StDtype::F16 => out.extend_from_slice(&half::f16::from_f32(x).to_le_bytes()),
                StDtype::Bf16 => out.extend_from_slice(&half::bf16::from_f32(x).to_le_bytes()),
            }
        }
    }
    out
}

/// Maximum safetensors header length accepted by [`read_safetensors`].
pub const MAX_HEADER_LEN: u64 = 16 << 20;

/// Parses a safetensors file written by this crate (F32/F16/BF16) into f32 tensors.
pub fn read_safetensors(bytes: &[u8], what: &str) -> Result<Weights, ZooError> {
    let bad = |m: String| ZooError::Format(format!("{what}: {m}"));
    if bytes.len() < 8 {
        return Err(bad("file shorter than the 8-byte header length".into()));
    }
    let mut l = [0u8; 8];
    l.copy_from_slice(&bytes[..8]);
    let hlen = u64::from_le_bytes(l);
    if hlen > MAX_HEADER_LEN || hlen > (bytes.len() - 8) as u64 {
        return Err(bad(format!("header length {hlen} exceeds the file")));
    }
    let hlen = hlen as usize;
    let header: BTreeMap<String, Value> = serde_json::from_slice(&bytes[8..8 + hlen])
        .map_err(|e| bad(format!("header json: {e}")))?;
    let data = &bytes[8 + hlen..];
    let mut out = Weights::new();
    for (name, v) in header {
        if name == "__metadata__" {
            continue;
        }
        let dtype = match v["dtype"].as_str() {
            Some("F32") => StDtype::F32,
            Some("F16") => StDtype::F16,
            Some("BF16") => StDtype::Bf16,
            other => return Err(bad(format!("tensor {name}: unsupported dtype {other:?}"))),
        };
        let shape: Vec<usize> = serde_json::from_value(v["shape"].clone())
            .map_err(|e| bad(format!("tensor {name}: shape: {e}")))?;
        let offs: [usize; 2] = serde_json::from_value(v["data_offsets"].clone())
            .map_err(|e| bad(format!("tensor {name}: data_offsets: {e}")))?;
        let n = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(|| bad(format!("tensor {name}: shape overflows")))?;
        let need = n
            .checked_mul(dtype.size())
            .ok_or_else(|| bad(format!("tensor {name}: size overflows")))?;
        if offs[0] > offs[1] || offs[1] > data.len() || offs[1] - offs[0] != need {
            return Err(bad(format!("tensor {name}: offsets {offs:?} do not fit")));
        }
        let raw = &data[offs[0]..offs[1]];
        let vals: Vec<f32> = match dtype {
            StDtype::F32 => raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            StDtype::F16 => raw
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            StDtype::Bf16 => raw
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
        };
        out.insert(name, Tensor32::new(shape, vals));
    }
    Ok(out)
}

/// Reads a model folder's `model.safetensors`, or all shards listed in
/// `model.safetensors.index.json`.
pub fn read_model_dir(dir: &Path) -> Result<Weights, ZooError> {
    let single = dir.join("model.safetensors");
    if single.exists() {
        let b = std::fs::read(&single).map_err(|e| ZooError::io(&single, e))?;
        return read_safetensors(&b, &single.display().to_string());
    }
    let idx_path = dir.join("model.safetensors.index.json");
    let idx = std::fs::read(&idx_path).map_err(|e| ZooError::io(&idx_path, e))?;
    let idx: Value = serde_json::from_slice(&idx)
        .map_err(|e| ZooError::Format(format!("{}: {e}", idx_path.display())))?;
    let map = idx["weight_map"]
        .as_object()
        .ok_or_else(|| ZooError::Format(format!("{}: no weight_map", idx_path.display())))?;
    let mut files: Vec<&str> = map.values().filter_map(|v| v.as_str()).collect();
    files.sort_unstable();
    files.dedup();
    let mut out = Weights::new();
    for f in files {
        if f.contains('/') || f.contains("..") {
            return Err(ZooError::Format(format!(
                "{}: bad shard name {f}",
                idx_path.display()
            )));
        }
        let p = dir.join(f);
        let b = std::fs::read(&p).map_err(|e| ZooError::io(&p, e))?;
        out.extend(read_safetensors(&b, &p.display().to_string())?);
    }
    Ok(out)
}
