//! How a model is stored: safetensors (dtype, renamed tensors, transposed matrices, shards) or
//! GGUF (llama.cpp names, llama.cpp's Q/K row order, F32/F16/Q8_0/Q4_K), and the writers.

use crate::bpe::Tokenizer;
use crate::plan::{GgufType, RenameScheme};
use crate::weights::{
    safetensors_bytes, Arch, ModelConfig, StDtype, Tensor32, Weights, NORM_EPS, ROPE_THETA,
};
use crate::ZooError;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use taoke_dtype::Dtype;

/// Storage of one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Storage {
    /// Safetensors element type.
    pub dtype: Option<StDtype>,
    /// Tensor naming scheme (None = Hugging Face names).
    pub rename: Option<RenameScheme>,
    /// Matrices stored transposed.
    pub transposed: bool,
    /// Number of safetensors shards (0 or 1 = single file).
    pub shards: usize,
    /// GGUF instead of safetensors.
    pub gguf: Option<GgufType>,
}

impl Storage {
    /// `safetensors`, `safetensors-sharded` or `gguf`.
    pub fn format(&self) -> &'static str {
        if self.gguf.is_some() {
            "gguf"
        } else if self.shards > 1 {
            "safetensors-sharded"
        } else {
            "safetensors"
        }
    }
}

/// The llama.cpp name of a Hugging Face decoder tensor name.
pub fn llama_cpp_name(name: &str) -> String {
    match name {
        "model.embed_tokens.weight" => return "token_embd.weight".into(),
        "model.norm.weight" => return "output_norm.weight".into(),
        "lm_head.weight" => return "output.weight".into(),
        _ => {}
    }
    let Some(rest) = name.strip_prefix("model.layers.") else {
        return name.to_string();
    };
    let Some((l, suffix)) = rest.split_once('.') else {
        return name.to_string();
    };
    let s = match suffix {
        "input_layernorm.weight" => "attn_norm.weight".to_string(),
        "post_attention_layernorm.weight" => "ffn_norm.weight".to_string(),
        "self_attn.q_proj.weight" => "attn_q.weight".to_string(),
        "self_attn.k_proj.weight" => "attn_k.weight".to_string(),
        "self_attn.v_proj.weight" => "attn_v.weight".to_string(),
        "self_attn.o_proj.weight" => "attn_output.weight".to_string(),
        "mlp.gate_proj.weight" => "ffn_gate.weight".to_string(),
        "mlp.up_proj.weight" => "ffn_up.weight".to_string(),
        "mlp.down_proj.weight" => "ffn_down.weight".to_string(),
        "block_sparse_moe.gate.weight" => "ffn_gate_inp.weight".to_string(),
        other => {
            // block_sparse_moe.experts.E.wK.weight
            let parts: Vec<&str> = other.split('.').collect();
            if parts.len() == 5 && parts[0] == "block_sparse_moe" && parts[1] == "experts" {
                let base = match parts[3] {
                    "w1" => "ffn_gate",
                    "w2" => "ffn_down",
                    _ => "ffn_up",
                };
                format!("{base}.{}.weight", parts[2])
            } else {
                other.to_string()
            }
        }
    };
    format!("blk.{l}.{s}")
}

/// The stored name of a canonical tensor name under a scheme.
pub fn stored_name(name: &str, scheme: Option<RenameScheme>) -> String {
    match scheme {
        None => name.to_string(),
        Some(RenameScheme::Yi) => name
            .replace("input_layernorm", "ln1")
            .replace("post_attention_layernorm", "ln2"),
        Some(RenameScheme::LlamaCpp) => llama_cpp_name(name),
        Some(RenameScheme::Opaque) => opaque_name(name),
        Some(RenameScheme::Gpt2) => gpt2_name(name),
    }
}

/// An opaque name: `w.` and 6 hex digits of the SHA-256 of the canonical name (no scheme knows
/// it; sorted, the names come in an order unrelated to the model's).
pub fn opaque_name(name: &str) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(name.as_bytes());
    format!("w.{:02x}{:02x}{:02x}", h[0], h[1], h[2])
}

/// A misleading GPT-2-style name of a canonical llama name (`transformer.wte`,
/// `transformer.h.N.attn.c_q`, `mlp.c_fc` for the gate, `mlp.c_fc2` for the up projection,
/// `transformer.ln_f`, ...). Other names are unchanged.
pub fn gpt2_name(name: &str) -> String {
    match name {
        "model.embed_tokens.weight" => return "transformer.wte.weight".into(),
        "model.norm.weight" => return "transformer.ln_f.weight".into(),
        _ => {}
    }
    let Some((l, s)) = name
        .strip_prefix("model.layers.")
        .and_then(|r| r.split_once('.'))
    else {
        return name.to_string();
    };
    let s = match s {
        "input_layernorm.weight" => "ln_1.weight",
        "post_attention_layernorm.weight" => "ln_2.weight",
        "self_attn.q_proj.weight" => "attn.c_q.weight",
        "self_attn.k_proj.weight" => "attn.c_k.weight",
        "self_attn.v_proj.weight" => "attn.c_v.weight",
        "self_attn.o_proj.weight" => "attn.c_proj.weight",
        "mlp.gate_proj.weight" => "mlp.c_fc.weight",
        "mlp.up_proj.weight" => "mlp.c_fc2.weight",
        "mlp.down_proj.weight" => "mlp.c_proj.weight",
        other => other,
    };
    format!("transformer.h.{l}.{s}")
}

/// llama.cpp's conversion permutation of Q/K rows (rotate-half order to interleaved pairs):
/// within each head, new row `2i + j` = old row `j·hd/2 + i`.
pub fn qk_to_interleaved(t: &Tensor32, heads: usize) -> Tensor32 {
    let (r, c) = t.rows_cols();
    let hd = r / heads;
    let half = hd / 2;
    let mut out = vec![0.0; r * c];
    for h in 0..heads {
        for i in 0..half {
            for j in 0..2 {
                let new = h * hd + 2 * i + j;
                let old = h * hd + j * half + i;
                out[new * c..(new + 1) * c].copy_from_slice(&t.data[old * c..(old + 1) * c]);
            }
        }
    }
    Tensor32::new(t.shape.clone(), out)
}

/// Inverse of [`qk_to_interleaved`].
pub fn qk_from_interleaved(t: &Tensor32, heads: usize) -> Tensor32 {
    let (r, c) = t.rows_cols();
    let hd = r / heads;
    let half = hd / 2;
    let mut out = vec![0.0; r * c];
    for h in 0..heads {
        for i in 0..half {
            for j in 0..2 {
                let new = h * hd + 2 * i + j;
                let old = h * hd + j * half + i;
                out[old * c..(old + 1) * c].copy_from_slice(&t.data[new * c..(new + 1) * c]);
            }
        }
    }
    Tensor32::new(t.shape.clone(), out)
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), ZooError> {
    std::fs::write(path, bytes).map_err(|e| ZooError::io(path, e))
}

/// GGML type of one tensor of a GGUF copy (llama.cpp's rule: 1-D tensors stay F32; a row not
/// divisible by the K-quant block of 256 falls back to Q5_0).
pub fn gguf_tensor_type(t: &Tensor32, ty: GgufType) -> Dtype {
    if t.shape.len() < 2 {
        return Dtype::F32;
    }
    let row = *t.shape.last().unwrap_or(&1);
    match ty {
        GgufType::F32 => Dtype::F32,
        GgufType::F16 => Dtype::F16,
        GgufType::Q8_0 => Dtype::Q8_0,
        GgufType::Q4K if row.is_multiple_of(256) => Dtype::Q4_K,
        GgufType::Q4K => Dtype::Q5_0,
    }
}

/// Encodes values of a tensor in a GGML type.
pub fn encode_gguf(name: &str, t: &Tensor32, dtype: Dtype) -> Result<Vec<u8>, ZooError> {
    Ok(match dtype {
        Dtype::F32 => t.data.iter().flat_map(|x| x.to_le_bytes()).collect(),
        Dtype::F16 => t
            .data
            .iter()
            .flat_map(|x| half::f16::from_f32(*x).to_le_bytes())
            .collect(),
        q => taoke_dtype::quant::quantize(q, &t.data).map_err(|e| {
            ZooError::Format(format!("quantizing tensor {name} to {}: {e}", q.name()))
        })?,
    })
}

/// The values a tensor has after a round trip through a GGML type (what a GGUF copy holds).
pub fn gguf_round_trip(name: &str, t: &Tensor32, ty: GgufType) -> Result<Tensor32, ZooError> {
    let dtype = gguf_tensor_type(t, ty);
    let bytes = encode_gguf(name, t, dtype)?;
    let mut out = vec![0f32; t.data.len()];
    taoke_dtype::decode_f32(dtype, &bytes, &mut out).map_err(|e| {
        ZooError::Format(format!("decoding tensor {name} from {}: {e}", dtype.name()))
    })?;
    Ok(Tensor32::new(t.shape.clone(), out))
}

/// Writes a decoder model as a GGUF v3 file with llama.cpp names and metadata.
pub fn write_gguf(
    path: &Path,
    id: &str,
    cfg: &ModelConfig,
    w: &Weights,
    tok: &Tokenizer,
    ty: GgufType,
) -> Result<(), ZooError> {
    if cfg.arch != Arch::Llama {
        return Err(ZooError::Recipe {
            id: id.into(),
            msg: "GGUF copies are written for dense llama models only".into(),
        });
    }
    let werr = |e: taoke_gguf::WriteError| ZooError::Format(format!("{}: {e}", path.display()));
    let mut g = taoke_gguf::GgufWriter::new();
    let file_type: u32 = match ty {
        GgufType::F32 => 0,
        GgufType::F16 => 1,
        GgufType::Q8_0 => 7,
        GgufType::Q4K => 15,
    };
    let kv: Vec<(&str, taoke_gguf::Value)> = vec![
        ("general.architecture", "llama".into()),
        ("general.name", id.into()),
        ("general.file_type", file_type.into()),
        ("llama.context_length", (cfg.max_pos as u32).into()),
        ("llama.embedding_length", (cfg.hidden_size as u32).into()),
        ("llama.block_count", (cfg.num_layers as u32).into()),
        (
            "llama.feed_forward_length",
            (cfg.intermediate_size as u32).into(),
        ),
        ("llama.attention.head_count", (cfg.num_heads as u32).into()),
        (
            "llama.attention.head_count_kv",
            (cfg.num_kv_heads as u32).into(),
        ),
        ("llama.attention.key_length", (cfg.head_dim as u32).into()),
        ("llama.attention.value_length", (cfg.head_dim as u32).into()),
        ("llama.rope.dimension_count", (cfg.head_dim as u32).into()),
        ("llama.rope.freq_base", (ROPE_THETA as f32).into()),
        (
            "llama.attention.layer_norm_rms_epsilon",
            (NORM_EPS as f32).into(),
        ),
        ("llama.vocab_size", (cfg.vocab_size as u32).into()),
        ("tokenizer.ggml.model", "gpt2".into()),
        ("tokenizer.ggml.pre", "default".into()),
        (
            "tokenizer.ggml.tokens",
            taoke_gguf::Value::Array(tok.vocab.iter().map(|s| s.as_str().into()).collect()),
        ),
        (
            "tokenizer.ggml.token_type",
            taoke_gguf::Value::Array(
                (0..tok.vocab.len())
                    .map(|i| {
                        taoke_gguf::Value::I32(if i < crate::bpe::SPECIALS.len() { 3 } else { 1 })
                    })
                    .collect(),
            ),
        ),
        (
            "tokenizer.ggml.merges",
            taoke_gguf::Value::Array(
                tok.merges
                    .iter()
                    .map(|(a, b)| {
                        format!("{} {}", tok.vocab[*a as usize], tok.vocab[*b as usize]).into()
                    })
                    .collect(),
            ),
        ),
        ("tokenizer.ggml.bos_token_id", crate::bpe::BOS_ID.into()),
        ("tokenizer.ggml.eos_token_id", 2u32.into()),
        ("tokenizer.ggml.unknown_token_id", 0u32.into()),
        ("tokenizer.ggml.padding_token_id", 3u32.into()),
    ];
    for (k, v) in kv {
        g.add_kv(k, v).map_err(werr)?;
    }
    // llama.cpp order: token_embd, then blocks, then output_norm, output
    let mut names: Vec<&String> = w.keys().collect();
    let order = |n: &str| -> (usize, usize, String) {
        if n == "model.embed_tokens.weight" {
            (0, 0, String::new())
        } else if let Some(rest) = n.strip_prefix("model.layers.") {
            let l = rest
                .split('.')
                .next()
                .and_then(|x| x.parse().ok())
                .unwrap_or(0);
            (1, l, n.to_string())
        } else {
            (2, 0, n.to_string())
        }
    };
    names.sort_by_key(|n| order(n));
    for name in names {
        let t = &w[name];
        let t = if name.ends_with("q_proj.weight") {
            qk_to_interleaved(t, cfg.num_heads)
        } else if name.ends_with("k_proj.weight") {
            qk_to_interleaved(t, cfg.num_kv_heads)
        } else {
            t.clone()
        };
        let dtype = gguf_tensor_type(&t, ty);
        let bytes = encode_gguf(name, &t, dtype)?;
        let shape: Vec<u64> = t.shape.iter().map(|&d| d as u64).collect();
        g.add_tensor(llama_cpp_name(name), &shape, dtype, bytes)
            .map_err(werr)?;
    }
    write(path, &g.to_bytes())
}

/// Writes a Hugging Face folder: `config.json`, `tokenizer.json`, and `model.safetensors` (or
/// shards with `model.safetensors.index.json`).
pub fn write_folder(
    dir: &Path,
    cfg: &ModelConfig,
    w: &Weights,
    tok: &Tokenizer,
    st: &Storage,
) -> Result<(), ZooError> {
    std::fs::create_dir_all(dir).map_err(|e| ZooError::io(dir, e))?;
    let cfg_json = serde_json::to_vec_pretty(&cfg.to_hf_json()).unwrap_or_default();
    write(&dir.join("config.json"), &cfg_json)?;
    let tok_json = serde_json::to_vec(&tok.to_json()).unwrap_or_default();
    write(&dir.join("tokenizer.json"), &tok_json)?;
    let mut stored: Vec<(String, Tensor32)> = w
        .iter()
        .map(|(k, t)| {
            let t = if st.transposed && t.shape.len() == 2 {
                t.transposed()
            } else {
                t.clone()
            };
            (stored_name(k, st.rename), t)
        })
        .collect();
    stored.sort_by(|a, b| a.0.cmp(&b.0));
    let dtype = st.dtype.unwrap_or(StDtype::F32);
    let mut meta = BTreeMap::new();
    meta.insert("format".to_string(), "pt".to_string());
    if st.shards <= 1 {
        let refs: Vec<(String, &Tensor32)> = stored.iter().map(|(k, t)| (k.clone(), t)).collect();
        write(
            &dir.join("model.safetensors"),
            &safetensors_bytes(&refs, dtype, &meta),
        )?;
        return Ok(());
    }
    let n = st.shards;
    let per = stored.len().div_ceil(n);
    let mut weight_map = serde_json::Map::new();
    let mut total = 0usize;
    for (i, chunk) in stored.chunks(per.max(1)).enumerate() {
        let fname = format!("model-{:05}-of-{:05}.safetensors", i + 1, n);
        let refs: Vec<(String, &Tensor32)> = chunk.iter().map(|(k, t)| (k.clone(), t)).collect();
        for (k, t) in chunk {
            weight_map.insert(k.clone(), json!(fname));
            total += t.data.len() * if dtype == StDtype::F32 { 4 } else { 2 };
        }
        write(&dir.join(&fname), &safetensors_bytes(&refs, dtype, &meta))?;
    }
    let idx = json!({"metadata": {"total_size": total}, "weight_map": weight_map});
    write(
        &dir.join("model.safetensors.index.json"),
        &serde_json::to_vec_pretty(&idx).unwrap_or_default(),
    )
}

/// Reads back a folder written with `st` and undoes renames and transposes, giving canonical
/// Hugging Face names and layouts (used to verify the writers).
pub fn read_folder_canonical(
    dir: &Path,
    st: &Storage,
    canonical_names: &[String],
) -> Result<Weights, ZooError> {
    let raw = crate::weights::read_model_dir(dir)?;
    let mut out = Weights::new();
    for name in canonical_names {
        let s = stored_name(name, st.rename);
        let t = raw
            .get(&s)
            .ok_or_else(|| ZooError::Missing(format!("tensor {s} in {}", dir.display())))?;
        let t = if st.transposed && t.shape.len() == 2 {
            t.transposed()
        } else {
            t.clone()
        };
        out.insert(name.clone(), t);
    }
    Ok(out)
}
