//! The architecture description: family and hyper-parameters, each with where it came from.
//!
//! [`describe`] reads Hugging Face `config.json` first, GGUF metadata second, and fills what is
//! still missing from tensor shapes and roles. Every field records its [`FieldSource`], and
//! disagreements between the declared values and the shapes are listed in
//! [`ModelDescription::warnings`] (a config can lie; shapes cannot).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::role::{CanonicalName, Param, Role};
use crate::TensorDesc;

/// A GGUF metadata value, reduced to what the anatomy needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetaValue {
    /// Any unsigned integer type.
    UInt(u64),
    /// Any signed integer type.
    Int(i64),
    /// `f32` or `f64`.
    Float(f64),
    /// Boolean.
    Bool(bool),
    /// String.
    Str(String),
    /// An array, by length only.
    Array {
        /// Number of elements.
        len: u64,
    },
}

impl MetaValue {
    fn as_u64(&self) -> Option<u64> {
        match *self {
            MetaValue::UInt(v) => Some(v),
            MetaValue::Int(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }
    fn as_f64(&self) -> Option<f64> {
        match *self {
            MetaValue::Float(v) => Some(v),
            MetaValue::UInt(v) => Some(v as f64),
            MetaValue::Int(v) => Some(v as f64),
            _ => None,
        }
    }
    fn as_str(&self) -> Option<&str> {
        match self {
            MetaValue::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// GGUF metadata (or any key/value header, e.g. a llama.c header mapped to GGUF keys).
pub type Metadata = BTreeMap<String, MetaValue>;

/// Architecture family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Family {
    /// Llama and llama-like (incl. llama2.c, SmolLM, Yi).
    Llama,
    /// Mistral.
    Mistral,
    /// Qwen2 / Qwen2.5 / Qwen3 (and their MoE variants).
    Qwen2,
    /// Gemma 1/2/3.
    Gemma,
    /// Phi-1.5 / Phi-2.
    Phi2,
    /// Phi-3.
    Phi3,
    /// GPT-2.
    Gpt2,
    /// GPT-NeoX / Pythia.
    GptNeox,
    /// BERT and derivatives.
    Bert,
    /// Falcon.
    Falcon,
    /// Mixtral.
    Mixtral,
    /// DeepSeek-V2/V3.
    Deepseek,
    /// Not recognised.
    Unknown,
}

impl Family {
    /// Maps a Hugging Face `model_type` or a GGUF `general.architecture`.
    pub fn from_arch(arch: &str) -> Family {
        match arch.to_ascii_lowercase().as_str() {
            "llama" | "yi" | "llama2" | "smollm" | "baichuan" | "internlm2" => Family::Llama,
            "mistral" => Family::Mistral,
            "qwen2" | "qwen2_moe" | "qwen2moe" | "qwen3" | "qwen3_moe" | "qwen3moe" => {
                Family::Qwen2
            }
            "gemma" | "gemma2" | "gemma3" | "gemma3_text" => Family::Gemma,
            "phi" | "phi2" | "phi-msft" => Family::Phi2,
            "phi3" => Family::Phi3,
            "gpt2" => Family::Gpt2,
            "gpt_neox" | "gptneox" => Family::GptNeox,
            "bert" | "roberta" | "xlm-roberta" | "nomic-bert" => Family::Bert,
            "falcon" | "refinedweb" | "refinedwebmodel" => Family::Falcon,
            "mixtral" => Family::Mixtral,
            "deepseek_v2" | "deepseek_v3" | "deepseek2" => Family::Deepseek,
            _ => Family::Unknown,
        }
    }
}

/// Normalization kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NormKind {
    /// RMSNorm (gain only).
    Rms,
    /// LayerNorm (gain and bias).
    Layer,
}

/// Where a description field came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FieldSource {
    /// Hugging Face `config.json`.
    Config,
    /// GGUF metadata.
    Gguf,
    /// A raw checkpoint header (llama2.c `llama2c.*` keys).
    Header,
    /// Inferred from tensor shapes and roles.
    Shapes,
    /// The family's documented default.
    Default,
}

/// A value with its source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field<T> {
    /// The value.
    pub value: T,
    /// Where it came from.
    pub source: FieldSource,
}

fn field<T>(value: T, source: FieldSource) -> Option<Field<T>> {
    Some(Field { value, source })
}

/// A model's architecture and hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelDescription {
    /// Family.
    pub family: Field<Family>,
    /// Raw architecture string (`model_type` or `general.architecture`).
    pub architecture: Option<Field<String>>,
    /// Number of transformer blocks.
    pub layers: Option<Field<u64>>,
    /// Hidden (embedding) width.
    pub hidden: Option<Field<u64>>,
    /// Attention heads.
    pub heads: Option<Field<u64>>,
    /// Key/value heads (grouped-query attention).
    pub kv_heads: Option<Field<u64>>,
    /// Per-head width.
    pub head_dim: Option<Field<u64>>,
    /// MLP inner width.
    pub intermediate: Option<Field<u64>>,
    /// Vocabulary size.
    pub vocab: Option<Field<u64>>,
    /// Norm kind.
    pub norm: Option<Field<NormKind>>,
    /// Norm epsilon.
    pub norm_eps: Option<Field<f64>>,
    /// Activation name as declared (`silu`, `gelu`, `gelu_new`, …).
    pub activation: Option<Field<String>>,
    /// Rotary base frequency.
    pub rope_theta: Option<Field<f64>>,
    /// Rotary scaling, as compact text (JSON object from config, type from GGUF).
    pub rope_scaling: Option<Field<String>>,
    /// Routed experts per MoE layer.
    pub experts: Option<Field<u64>>,
    /// Experts used per token.
    pub experts_per_token: Option<Field<u64>>,
    /// Whether the LM head shares the token embedding.
    pub tied_embeddings: Option<Field<bool>>,
    /// Maximum positions (context length).
    pub max_positions: Option<Field<u64>>,
    /// Declared values that contradict the tensor shapes, in a stable order.
    pub warnings: Vec<String>,
}

impl ModelDescription {
    /// Key/value width (`kv_heads × head_dim`), when both are known.
    pub fn kv_width(&self) -> Option<u64> {
        self.kv_heads
            .as_ref()?
            .value
            .checked_mul(self.head_dim.as_ref()?.value)
    }
    /// Query width (`heads × head_dim`), when both are known.
    pub fn q_width(&self) -> Option<u64> {
        self.heads
            .as_ref()?
            .value
            .checked_mul(self.head_dim.as_ref()?.value)
    }
}

fn cfg_u64(cfg: &Value, keys: &[&str]) -> Option<u64> {
    keys.iter()
        .find_map(|k| cfg.get(*k).and_then(Value::as_u64))
}
fn cfg_f64(cfg: &Value, keys: &[&str]) -> Option<f64> {
    keys.iter()
        .find_map(|k| cfg.get(*k).and_then(Value::as_f64))
}
fn cfg_str<'a>(cfg: &'a Value, keys: &[&str]) -> Option<&'a str> {
    keys.iter()
        .find_map(|k| cfg.get(*k).and_then(Value::as_str))
}

/// The text config of a multimodal config (`text_config`), or the config itself.
fn text_config(cfg: &Value) -> &Value {
    match cfg.get("text_config") {
        Some(t) if t.is_object() => t,
        _ => cfg,
    }
}

/// Builds the description from config, GGUF metadata and tensors (with their canonical names,
/// aligned with `tensors`; `None` = role unknown).
pub fn describe(
    tensors: &[TensorDesc],
    roles: &[Option<CanonicalName>],
    config: Option<&Value>,
    meta: Option<&Metadata>,
) -> ModelDescription {
    let mut d = ModelDescription {
        family: Field {
            value: Family::Unknown,
            source: FieldSource::Shapes,
        },
        architecture: None,
        layers: None,
        hidden: None,
        heads: None,
        kv_heads: None,
        head_dim: None,
        intermediate: None,
        vocab: None,
        norm: None,
        norm_eps: None,
        activation: None,
        rope_theta: None,
        rope_scaling: None,
        experts: None,
        experts_per_token: None,
        tied_embeddings: None,
        max_positions: None,
        warnings: Vec::new(),
    };
    if let Some(cfg) = config {
        from_config(&mut d, text_config(cfg), cfg);
    }
    if let Some(m) = meta {
        // The llama2.c reader maps its header to GGUF-style keys and marks it with `llama2c.*`.
        let header = m.keys().any(|k| k.starts_with("llama2c."));
        from_gguf(
            &mut d,
            m,
            if header {
                FieldSource::Header
            } else {
                FieldSource::Gguf
            },
        );
        from_llama2c(&mut d, m);
    }
    from_shapes(&mut d, tensors, roles);
    defaults(&mut d);
    d
}

fn defaults(d: &mut ModelDescription) {
    // Activation: the family's documented default.
    if d.activation.is_none() {
        let act = match d.family.value {
            Family::Llama
            | Family::Mistral
            | Family::Qwen2
            | Family::Mixtral
            | Family::Deepseek
            | Family::Phi3 => Some("silu"),
            Family::Gemma => Some("gelu_pytorch_tanh"),
            Family::Gpt2 | Family::Phi2 => Some("gelu_new"),
            Family::Bert | Family::GptNeox | Family::Falcon => Some("gelu"),
            Family::Unknown => None,
        };
        d.activation = act.and_then(|a| field(a.to_string(), FieldSource::Default));
    }
}

fn from_config(d: &mut ModelDescription, cfg: &Value, outer: &Value) {
    use FieldSource::Config as C;
    let arch = cfg_str(cfg, &["model_type"]).or_else(|| cfg_str(outer, &["model_type"]));
    if let Some(a) = arch {
        d.architecture = field(a.to_string(), C);
        let fam = Family::from_arch(a);
        if fam != Family::Unknown {
            d.family = Field {
                value: fam,
                source: C,
            };
        }
    }
    let fam = d.family.value;
    d.layers =
        cfg_u64(cfg, &["num_hidden_layers", "n_layer", "num_layers"]).and_then(|v| field(v, C));
    d.hidden = cfg_u64(cfg, &["hidden_size", "n_embd", "d_model"]).and_then(|v| field(v, C));
    d.heads =
        cfg_u64(cfg, &["num_attention_heads", "n_head", "num_heads"]).and_then(|v| field(v, C));
    d.kv_heads = cfg_u64(cfg, &["num_key_value_heads", "num_kv_heads", "n_head_kv"])
        .and_then(|v| field(v, C));
    if d.kv_heads.is_none() && cfg.get("multi_query").and_then(Value::as_bool) == Some(true) {
        d.kv_heads = field(1, C);
    }
    d.head_dim = cfg_u64(cfg, &["head_dim"]).and_then(|v| field(v, C));
    d.intermediate = cfg_u64(cfg, &["intermediate_size", "n_inner", "ffn_hidden_size"])
        .and_then(|v| field(v, C));
    d.vocab = cfg_u64(cfg, &["vocab_size", "padded_vocab_size"]).and_then(|v| field(v, C));
    if cfg.get("rms_norm_eps").is_some() {
        d.norm = field(NormKind::Rms, C);
        d.norm_eps = cfg_f64(cfg, &["rms_norm_eps"]).and_then(|v| field(v, C));
    } else if let Some(eps) = cfg_f64(
        cfg,
        &["layer_norm_eps", "layer_norm_epsilon", "layernorm_epsilon"],
    ) {
        d.norm = field(NormKind::Layer, C);
        d.norm_eps = field(eps, C);
    }
    d.activation = cfg_str(
        cfg,
        &["hidden_act", "activation_function", "hidden_activation"],
    )
    .and_then(|v| field(v.to_string(), C));
    d.rope_theta = cfg_f64(cfg, &["rope_theta", "rotary_emb_base"]).and_then(|v| field(v, C));
    if let Some(s) = cfg.get("rope_scaling").filter(|v| !v.is_null()) {
        d.rope_scaling = field(s.to_string(), C);
    }
    d.experts = cfg_u64(
        cfg,
        &["num_local_experts", "n_routed_experts", "num_experts"],
    )
    .and_then(|v| field(v, C));
    d.experts_per_token =
        cfg_u64(cfg, &["num_experts_per_tok", "moe_topk"]).and_then(|v| field(v, C));
    d.tied_embeddings = cfg
        .get("tie_word_embeddings")
        .or_else(|| outer.get("tie_word_embeddings"))
        .and_then(Value::as_bool)
        .and_then(|v| field(v, C));
    d.max_positions = cfg_u64(
        cfg,
        &[
            "max_position_embeddings",
            "n_positions",
            "n_ctx",
            "seq_length",
        ],
    )
    .and_then(|v| field(v, C));
    // Family defaults documented by the configs' classes.
    use FieldSource::Default as D;
    if d.intermediate.is_none() && matches!(fam, Family::Gpt2 | Family::Falcon) {
        if let Some(h) = &d.hidden {
            d.intermediate = field(h.value.saturating_mul(4), D);
        }
    }
    if d.norm.is_none() {
        d.norm = match fam {
            Family::Gpt2 | Family::GptNeox | Family::Bert | Family::Falcon | Family::Phi2 => {
                field(NormKind::Layer, D)
            }
            _ => None,
        };
    }
}

fn from_gguf(d: &mut ModelDescription, m: &Metadata, src: FieldSource) {
    let g = src;
    let Some(arch) = m.get("general.architecture").and_then(MetaValue::as_str) else {
        return;
    };
    if d.architecture.is_none() {
        d.architecture = field(arch.to_string(), g);
    }
    let k = |s: &str| format!("{arch}.{s}");
    let u = |s: &str| m.get(&k(s)).and_then(MetaValue::as_u64);
    let f = |s: &str| m.get(&k(s)).and_then(MetaValue::as_f64);
    fn put<T>(slot: &mut Option<Field<T>>, v: Option<T>, src: FieldSource) {
        if slot.is_none() {
            if let Some(v) = v {
                *slot = field(v, src);
            }
        }
    }
    put(&mut d.layers, u("block_count"), g);
    put(&mut d.hidden, u("embedding_length"), g);
    put(&mut d.intermediate, u("feed_forward_length"), g);
    put(&mut d.heads, u("attention.head_count"), g);
    put(&mut d.kv_heads, u("attention.head_count_kv"), g);
    put(&mut d.head_dim, u("attention.key_length"), g);
    put(&mut d.max_positions, u("context_length"), g);
    put(&mut d.rope_theta, f("rope.freq_base"), g);
    put(&mut d.experts, u("expert_count").filter(|&n| n > 0), g);
    put(
        &mut d.experts_per_token,
        u("expert_used_count").filter(|&n| n > 0),
        g,
    );
    let vocab = u("vocab_size").or_else(|| match m.get("tokenizer.ggml.tokens") {
        Some(MetaValue::Array { len }) => Some(*len),
        _ => None,
    });
    put(&mut d.vocab, vocab, g);
    if let Some(t) = m.get(&k("rope.scaling.type")).and_then(MetaValue::as_str) {
        put(&mut d.rope_scaling, Some(t.to_string()), g);
    }
    if d.norm.is_none() {
        if let Some(eps) = f("attention.layer_norm_rms_epsilon") {
            d.norm = field(NormKind::Rms, g);
            d.norm_eps = field(eps, g);
        } else if let Some(eps) = f("attention.layer_norm_epsilon") {
            d.norm = field(NormKind::Layer, g);
            d.norm_eps = field(eps, g);
        }
    }
    if d.family.source != FieldSource::Config {
        let mut fam = Family::from_arch(arch);
        if fam == Family::Llama && d.experts.as_ref().is_some_and(|e| e.value > 0) {
            fam = Family::Mixtral;
        }
        if fam != Family::Unknown {
            d.family = Field {
                value: fam,
                source: g,
            };
        }
    }
}

/// llama2.c header keys as the `taoke-model` reader names them (`llama2c.dim`, …).
fn from_llama2c(d: &mut ModelDescription, m: &Metadata) {
    if let Some(MetaValue::Bool(shared)) = m.get("llama2c.shared_classifier") {
        if d.tied_embeddings.is_none() {
            d.tied_embeddings = field(*shared, FieldSource::Header);
        }
    }
    let Some(dim) = m.get("llama2c.dim").and_then(MetaValue::as_u64) else {
        return;
    };
    let u = |k: &str| m.get(&format!("llama2c.{k}")).and_then(MetaValue::as_u64);
    fn fill<T>(slot: &mut Option<Field<T>>, v: Option<T>) {
        if slot.is_none() {
            if let Some(v) = v {
                *slot = field(v, FieldSource::Header);
            }
        }
    }
    fill(&mut d.hidden, Some(dim));
    fill(&mut d.intermediate, u("hidden_dim"));
    fill(&mut d.layers, u("n_layers"));
    fill(&mut d.heads, u("n_heads"));
    fill(&mut d.kv_heads, u("n_kv_heads"));
    fill(&mut d.vocab, u("vocab_size"));
    fill(&mut d.max_positions, u("seq_len"));
    // llama2.c's model.py: RMSNorm, SwiGLU, rope base 10000.
    fill(&mut d.norm, Some(NormKind::Rms));
    fill(&mut d.activation, Some("silu".to_string()));
    if d.family.value == Family::Unknown {
        d.family = Field {
            value: Family::Llama,
            source: FieldSource::Header,
        };
    }
    if d.architecture.is_none() {
        d.architecture = field("llama2c".to_string(), FieldSource::Header);
    }
}

fn from_shapes(d: &mut ModelDescription, tensors: &[TensorDesc], roles: &[Option<CanonicalName>]) {
    use FieldSource::Shapes as S;
    let find = |role: Role, param: Param| -> Option<&TensorDesc> {
        tensors
            .iter()
            .zip(roles)
            .filter(|(_, r)| r.is_some_and(|r| r.role == role && r.param == param))
            .map(|(t, _)| t)
            .next()
    };
    let find_block = |role: Role| -> Option<&TensorDesc> {
        tensors
            .iter()
            .zip(roles)
            .filter(|(_, r)| {
                r.is_some_and(|r| r.role == role && r.param == Param::Weight && r.block.is_some())
            })
            .min_by_key(|(_, r)| r.and_then(|r| r.block))
            .map(|(t, _)| t)
    };
    let has = |role: Role| roles.iter().any(|r| r.is_some_and(|r| r.role == role));

    // Layers: 1 + the largest block index.
    let max_block = roles
        .iter()
        .filter_map(|r| {
            r.and_then(|r| {
                if r.role == Role::MtpPart {
                    None
                } else {
                    r.block
                }
            })
        })
        .max();
    let blocks = max_block.map(|b| u64::from(b) + 1);
    check_or_fill(
        &mut d.layers,
        blocks,
        "layers",
        "1 + largest block index",
        &mut d.warnings,
    );

    // Embedding: [vocab, hidden].
    let emb = find(Role::TokenEmbedding, Param::Weight).filter(|t| t.shape.len() == 2);
    if let Some(t) = emb {
        check_or_fill(
            &mut d.hidden,
            Some(t.shape[1]),
            "hidden",
            "token embedding columns",
            &mut d.warnings,
        );
        // A vocab padded in the embedding is common; fill but only warn when smaller.
        match &d.vocab {
            None => d.vocab = field(t.shape[0], S),
            Some(v) if t.shape[0] < v.value => d.warnings.push(format!(
                "vocab: declared {} but token embedding has {} rows",
                v.value, t.shape[0]
            )),
            _ => {}
        }
    }
    let hidden = d.hidden.as_ref().map(|h| h.value);

    // MLP width from the up (or gate) projection of the first block.
    let up = find_block(Role::MlpUp)
        .or_else(|| find_block(Role::MlpGate))
        .or_else(|| find_block(Role::ExpertUp));
    if let (Some(t), Some(h)) = (up, hidden) {
        let inner = other_dim(&t.shape, h);
        check_or_fill(
            &mut d.intermediate,
            inner,
            "intermediate",
            "ffn up projection",
            &mut d.warnings,
        );
    }

    // Head geometry needs the head count from a header; shapes give widths.
    if d.head_dim.is_none() {
        if let (Some(h), Some(n)) = (hidden, d.heads.as_ref().map(|x| x.value)) {
            if n > 0 && h.is_multiple_of(n) {
                // Prefer the Q width when it differs from hidden (Gemma, Qwen3).
                let q_rows = find_block(Role::AttnQ).and_then(|t| other_dim(&t.shape, h));
                let qw = q_rows.unwrap_or(h);
                if qw.is_multiple_of(n) {
                    d.head_dim = field(
                        qw / n,
                        if q_rows.is_some() {
                            S
                        } else {
                            FieldSource::Default
                        },
                    );
                }
            }
        }
    }
    if let (Some(h), Some(hd)) = (hidden, d.head_dim.as_ref().map(|x| x.value)) {
        if hd > 0 {
            if let Some(k) = find_block(Role::AttnK).and_then(|t| other_dim(&t.shape, h)) {
                if k.is_multiple_of(hd) {
                    check_or_fill(
                        &mut d.kv_heads,
                        Some(k / hd),
                        "kv_heads",
                        "attn_k rows / head_dim",
                        &mut d.warnings,
                    );
                }
            }
        }
    }
    if d.kv_heads.is_none() {
        if let Some(h) = &d.heads {
            d.kv_heads = field(h.value, FieldSource::Default);
        }
    }

    // Norm kind: biases on block norms mean LayerNorm.
    if d.norm.is_none() && has(Role::AttnNorm) {
        let biased = roles
            .iter()
            .any(|r| r.is_some_and(|r| r.role.is_norm() && r.param == Param::Bias));
        d.norm = field(
            if biased {
                NormKind::Layer
            } else {
                NormKind::Rms
            },
            S,
        );
    }

    // Tied embeddings: no separate head.
    if d.tied_embeddings.is_none() && emb.is_some() && has(Role::AttnQ) | has(Role::AttnQkv) {
        d.tied_embeddings = field(!has(Role::LmHead), S);
    }
    if let Some(pe) = find(Role::PositionEmbedding, Param::Weight).filter(|t| t.shape.len() == 2) {
        if d.max_positions.is_none() {
            d.max_positions = field(pe.shape[0], S);
        }
    }

    // Experts: count distinct expert indices, or the leading dim of stacked experts.
    if d.experts.is_none() {
        let per: std::collections::BTreeSet<u32> = roles
            .iter()
            .filter_map(|r| r.and_then(|r| r.expert))
            .collect();
        if !per.is_empty() {
            d.experts = field(per.len() as u64, S);
        } else if let Some(t) = find_block(Role::ExpertUp).filter(|t| t.shape.len() == 3) {
            d.experts = field(t.shape[0], S);
        }
    }

    // Family from structure, when nothing declared it.
    if d.family.value == Family::Unknown {
        let gated = has(Role::MlpGate);
        let fam = if has(Role::TokenTypeEmbedding) && has(Role::PositionEmbedding) {
            Family::Bert
        } else if gated && d.norm.as_ref().is_some_and(|n| n.value == NormKind::Rms) {
            if d.experts.is_some() {
                Family::Mixtral
            } else {
                Family::Llama
            }
        } else {
            Family::Unknown
        };
        d.family = Field {
            value: fam,
            source: S,
        };
    }
}

/// The dimension of a 2-D shape that is not `known` (either orientation).
fn other_dim(shape: &[u64], known: u64) -> Option<u64> {
    match shape {
        [a, b] if *b == known => Some(*a),
        [a, b] if *a == known => Some(*b),
        [_, a, b] if *b == known => Some(*a),
        [_, a, b] if *a == known => Some(*b),
        _ => None,
    }
}

fn check_or_fill(
    slot: &mut Option<Field<u64>>,
    from_shapes: Option<u64>,
    what: &str,
    how: &str,
    warnings: &mut Vec<String>,
) {
    let Some(v) = from_shapes else { return };
    match slot {
        None => *slot = field(v, FieldSource::Shapes),
        Some(f) if f.value != v => warnings.push(format!(
            "{what}: declared {} ({:?}) but {how} gives {v}",
            f.value, f.source
        )),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheme::classify_names;

    fn roles(t: &[TensorDesc]) -> Vec<Option<CanonicalName>> {
        let names: Vec<&str> = t.iter().map(|t| t.name.as_str()).collect();
        classify_names(&names)
            .matches
            .into_iter()
            .map(|m| m.map(|m| m.canonical))
            .collect()
    }

    #[test]
    fn config_contradicted_by_shapes_is_reported() {
        let t = vec![
            TensorDesc::new("model.embed_tokens.weight", vec![1000, 64]),
            TensorDesc::new("model.layers.0.self_attn.q_proj.weight", vec![64, 64]),
            TensorDesc::new("model.layers.0.self_attn.k_proj.weight", vec![16, 64]),
            TensorDesc::new("model.layers.0.mlp.up_proj.weight", vec![200, 64]),
            TensorDesc::new("model.layers.1.mlp.up_proj.weight", vec![200, 64]),
            TensorDesc::new("lm_head.weight", vec![1000, 64]),
        ];
        let cfg = serde_json::json!({
            "model_type": "mistral", "hidden_size": 64, "num_hidden_layers": 4,
            "num_attention_heads": 4, "intermediate_size": 256, "rms_norm_eps": 1e-5,
            "vocab_size": 1000, "rope_theta": 1e6
        });
        let d = describe(&t, &roles(&t), Some(&cfg), None);
        assert_eq!(d.family.value, Family::Mistral);
        assert_eq!(
            d.head_dim.as_ref().map(|h| (h.value, h.source)),
            Some((16, FieldSource::Shapes))
        );
        // K rows / head_dim: 1 KV head, inferred (config has no num_key_value_heads).
        assert_eq!(
            d.kv_heads.as_ref().map(|h| (h.value, h.source)),
            Some((1, FieldSource::Shapes))
        );
        assert_eq!(d.tied_embeddings.as_ref().map(|h| h.value), Some(false));
        assert_eq!(
            d.warnings,
            vec![
                "layers: declared 4 (Config) but 1 + largest block index gives 2".to_string(),
                "intermediate: declared 256 (Config) but ffn up projection gives 200".to_string(),
            ]
        );
    }

    #[test]
    fn hostile_config_values_do_not_panic() {
        let t = vec![
            TensorDesc::new(
                "model.layers.0.self_attn.qkv_proj.weight",
                vec![u64::MAX, 3],
            ),
            TensorDesc::new("model.embed_tokens.weight", vec![7, u64::MAX]),
        ];
        let cfg = serde_json::json!({
            "model_type": "phi3", "hidden_size": u64::MAX, "num_attention_heads": u64::MAX,
            "num_key_value_heads": u64::MAX, "head_dim": u64::MAX, "intermediate_size": u64::MAX
        });
        let d = describe(&t, &roles(&t), Some(&cfg), None);
        assert_eq!(d.q_width(), None);
        for r in [Role::AttnQkv, Role::MlpGateUp, Role::AttnK] {
            let _ = crate::layout::expected_dims(r, &d);
            let _ = crate::layout::orientation(r, &t[0].shape, &d, None);
            let _ = crate::layout::split_fused(
                r,
                u64::MAX,
                &d,
                crate::scheme::FusedQkvLayout::PerGroup,
            );
        }
    }

    #[test]
    fn gguf_metadata_fills_fields() {
        let mut m = Metadata::new();
        m.insert(
            "general.architecture".into(),
            MetaValue::Str("llama".into()),
        );
        m.insert("llama.block_count".into(), MetaValue::UInt(2));
        m.insert("llama.expert_count".into(), MetaValue::UInt(8));
        m.insert("llama.expert_used_count".into(), MetaValue::UInt(2));
        m.insert(
            "tokenizer.ggml.tokens".into(),
            MetaValue::Array { len: 32000 },
        );
        let d = describe(&[], &[], None, Some(&m));
        assert_eq!(d.family.value, Family::Mixtral);
        assert_eq!(
            d.vocab.as_ref().map(|v| (v.value, v.source)),
            Some((32000, FieldSource::Gguf))
        );
        assert_eq!(d.experts_per_token.as_ref().map(|v| v.value), Some(2));
        assert_eq!(
            d.activation.as_ref().map(|v| v.value.as_str()),
            Some("silu")
        );
    }
}
