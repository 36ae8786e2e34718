//! Naming schemes and the name matcher: tensor name → [`CanonicalName`].
//!
//! The schemes are listed once in [`SCHEMES`], each built from the data tables of
//! [`crate::tables`]. [`match_name`] tries one name against one scheme; [`classify_names`] picks
//! the scheme that explains most names of a model, matches every name (falling back to the other
//! schemes per tensor) and reports what stayed unmatched. Names are hints only; roles from shapes,
//! graph position and content live in [`crate::infer`].

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::role::{CanonicalName, Param, Role};
use crate::tables::{self, Entry};

/// How many leading wrapper segments (`model.0.auto_model.`, `inner.`, `transformer.`, …) the
/// matcher may drop from a name before giving up.
pub const MAX_STRIPPED_SEGMENTS: usize = 4;

/// Identifies a naming scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum SchemeId {
    /// Hugging Face llama-style names: llama, mistral, qwen2 (with q/k/v biases), qwen3, gemma (1).
    HfLlama,
    /// Yi: llama names with `ln1`/`ln2` block norms.
    Yi,
    /// Gemma 2/3: llama names with sandwich norms.
    HfGemma2,
    /// Phi-3: fused `qkv_proj` and `gate_up_proj`.
    HfPhi3,
    /// Hugging Face `phi` (Phi-1.5, Phi-2).
    HfPhi2,
    /// Microsoft's original Phi-2 names (`mixer.Wqkv`).
    PhiMsft,
    /// Mixtral: llama attention with `block_sparse_moe` experts.
    Mixtral,
    /// Qwen2-MoE / Qwen3-MoE / OLMoE experts.
    QwenMoe,
    /// DeepSeek-V2/V3: MLA attention and routed + shared experts.
    Deepseek,
    /// GPT-2 (Conv1D `[in, out]` storage).
    Gpt2,
    /// GPT-NeoX / Pythia.
    GptNeox,
    /// BERT and its sentence-transformers / ONNX wrappers.
    Bert,
    /// Falcon.
    Falcon,
    /// Megatron-LM legacy names.
    Megatron,
    /// Megatron-core names.
    MegatronCore,
    /// llama.cpp GGUF names.
    Gguf,
    /// Meta's original llama names, also used for llama2.c checkpoints.
    MetaLlama,
}

impl SchemeId {
    /// Stable kebab-case name.
    pub fn as_str(self) -> &'static str {
        scheme(self).name
    }
}

impl std::fmt::Display for SchemeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a scheme stores linear weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinearStorage {
    /// `[out, in]` (PyTorch `nn.Linear`; GGUF once the reader reversed its dims).
    OutIn,
    /// `[in, out]` (GPT-2 `Conv1D`, ONNX `MatMul` initializers).
    InOut,
}

/// How a fused QKV tensor orders its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FusedQkvLayout {
    /// All Q rows, then all K rows, then all V rows (GPT-2, Phi-3, llama.cpp `attn_qkv`).
    Contiguous,
    /// Per head `[q, k, v]` blocks of `head_dim` rows (GPT-NeoX, Bloom).
    PerHead,
    /// Per KV group: the group's Q heads, then one K head, then one V head (Falcon new decoder,
    /// Megatron with grouped-query attention).
    PerGroup,
}

/// One naming scheme.
#[derive(Debug, Clone, Copy)]
pub struct Scheme {
    /// Its id.
    pub id: SchemeId,
    /// Stable kebab-case name.
    pub name: &'static str,
    /// What it covers.
    pub description: &'static str,
    /// How linear weights are stored.
    pub linear: LinearStorage,
    /// How its fused QKV tensor (if any) orders rows.
    pub fused_qkv: FusedQkvLayout,
    /// Its tables, searched in order.
    pub tables: &'static [&'static [Entry]],
}

use tables::*;

/// Every scheme, in tie-breaking order (earlier wins when two explain equally many names).
pub const SCHEMES: &[Scheme] = &[
    Scheme {
        id: SchemeId::HfLlama,
        name: "hf-llama",
        description: "Hugging Face llama/mistral/qwen2/qwen3/gemma names",
        linear: LinearStorage::OutIn,
        fused_qkv: FusedQkvLayout::Contiguous,
        tables: &[HF_LLAMA_OUTER, HF_LLAMA_ATTN, HF_LLAMA_MLP, HF_LLAMA_NORMS],
    },
    Scheme {
        id: SchemeId::Gguf,
        name: "gguf",
        description: "llama.cpp GGUF names (token_embd, blk.N.attn_q, blk.N.ffn_up_exps, ...)",
        linear: LinearStorage::OutIn,
        fused_qkv: FusedQkvLayout::Contiguous,
        tables: &[GGUF],
    },
    Scheme {
        id: SchemeId::MetaLlama,
        name: "meta-llama",
        description: "Meta original llama / llama2.c names (tok_embeddings, layers.N.attention.wq)",
        linear: LinearStorage::OutIn,
        fused_qkv: FusedQkvLayout::Contiguous,
        tables: &[META_LLAMA],
    },
    Scheme {
        id: SchemeId::Bert,
        name: "bert",
        description: "BERT, sentence-transformers and ONNX-export wrappers",
        linear: LinearStorage::OutIn,
        fused_qkv: FusedQkvLayout::Contiguous,
        tables: &[BERT],
    },
    Scheme {
        id: SchemeId::Yi,
        name: "yi",
        description: "Yi: llama names with ln1/ln2 block norms",
        linear: LinearStorage::OutIn,
        fused_qkv: FusedQkvLayout::Contiguous,
        tables: &[HF_LLAMA_OUTER, HF_LLAMA_ATTN, HF_LLAMA_MLP, YI_NORMS],
    },
    Scheme {
        id: SchemeId::HfGemma2,
        name: "hf-gemma2",
        description: "Gemma 2/3: llama names with sandwich norms",
        linear: LinearStorage::OutIn,
        fused_qkv: FusedQkvLayout::Contiguous,
        tables: &[HF_LLAMA_OUTER, HF_LLAMA_ATTN, HF_LLAMA_MLP, GEMMA2_NORMS],
    },
    Scheme {
        id: SchemeId::HfPhi3,
        name: "hf-phi3",
        description: "Phi-3: fused qkv_proj and gate_up_proj",
        linear: LinearStorage::OutIn,
        fused_qkv: FusedQkvLayout::Contiguous,
        tables: &[HF_LLAMA_OUTER, PHI3_FUSED, HF_LLAMA_NORMS],
    },
    Scheme {
        id: SchemeId::HfPhi2,
        name: "hf-phi2",
        description: "Hugging Face phi (Phi-1.5, Phi-2)",
        linear: LinearStorage::OutIn,
        fused_qkv: FusedQkvLayout::Contiguous,
        tables: &[HF_PHI2],
    },
    Scheme {
        id: SchemeId::PhiMsft,
        name: "phi-msft",
        description: "original Microsoft Phi-2 names (mixer.Wqkv)",
        linear: LinearStorage::OutIn,
        fused_qkv: FusedQkvLayout::Contiguous,
        tables: &[PHI_MSFT],
    },
    Scheme {
        id: SchemeId::Mixtral,
        name: "mixtral",
        description: "Mixtral: llama attention, block_sparse_moe experts",
        linear: LinearStorage::OutIn,
        fused_qkv: FusedQkvLayout::Contiguous,
        tables: &[HF_LLAMA_OUTER, HF_LLAMA_ATTN, MIXTRAL_MOE, HF_LLAMA_NORMS],
    },
    Scheme {
        id: SchemeId::QwenMoe,
        name: "qwen-moe",
        description: "Qwen2-MoE / Qwen3-MoE / OLMoE experts",
        linear: LinearStorage::OutIn,
        fused_qkv: FusedQkvLayout::Contiguous,
        tables: &[HF_LLAMA_OUTER, HF_LLAMA_ATTN, QWEN_MOE, HF_LLAMA_NORMS],
    },
    Scheme {
        id: SchemeId::Deepseek,
        name: "deepseek",
        description: "DeepSeek-V2/V3: MLA attention, routed and shared experts",
        linear: LinearStorage::OutIn,
        fused_qkv: FusedQkvLayout::Contiguous,
        tables: &[
            HF_LLAMA_OUTER,
            HF_LLAMA_ATTN,
            DEEPSEEK,
            HF_LLAMA_MLP,
            HF_LLAMA_NORMS,
        ],
    },
    Scheme {
        id: SchemeId::Gpt2,
        name: "gpt2",
        description: "GPT-2 (Conv1D weights stored [in, out])",
        linear: LinearStorage::InOut,
        fused_qkv: FusedQkvLayout::Contiguous,
        tables: &[GPT2],
    },
    Scheme {
        id: SchemeId::GptNeox,
        name: "gpt-neox",
        description: "GPT-NeoX / Pythia (fused QKV per head)",
        linear: LinearStorage::OutIn,
        fused_qkv: FusedQkvLayout::PerHead,
        tables: &[GPT_NEOX],
    },
    Scheme {
        id: SchemeId::Falcon,
        name: "falcon",
        description: "Falcon (fused QKV per KV group)",
        linear: LinearStorage::OutIn,
        fused_qkv: FusedQkvLayout::PerGroup,
        tables: &[FALCON],
    },
    Scheme {
        id: SchemeId::Megatron,
        name: "megatron",
        description: "Megatron-LM legacy names (language_model.encoder.layers.N...)",
        linear: LinearStorage::OutIn,
        fused_qkv: FusedQkvLayout::PerGroup,
        tables: &[MEGATRON],
    },
    Scheme {
        id: SchemeId::MegatronCore,
        name: "megatron-core",
        description: "Megatron-core names (decoder.layers.N.self_attention.linear_qkv)",
        linear: LinearStorage::OutIn,
        fused_qkv: FusedQkvLayout::PerGroup,
        tables: &[MEGATRON_CORE],
    },
];

/// The scheme with this id.
pub fn scheme(id: SchemeId) -> &'static Scheme {
    // Every id has exactly one row in SCHEMES (checked by a test).
    SCHEMES.iter().find(|s| s.id == id).unwrap_or(&SCHEMES[0])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seg {
    Lit(&'static str),
    Block,
    Expert,
    Any,
}

struct Compiled {
    segs: Vec<Seg>,
    role: Role,
    param: Option<Param>,
}

fn compiled(id: SchemeId) -> &'static [Compiled] {
    static CACHE: OnceLock<Vec<Vec<Compiled>>> = OnceLock::new();
    let all = CACHE.get_or_init(|| {
        SCHEMES
            .iter()
            .map(|s| {
                s.tables
                    .iter()
                    .flat_map(|t| t.iter())
                    .map(|en| Compiled {
                        segs: en
                            .pattern
                            .split('.')
                            .map(|p| match p {
                                "{N}" => Seg::Block,
                                "{E}" => Seg::Expert,
                                "*" => Seg::Any,
                                lit => Seg::Lit(lit),
                            })
                            .collect(),
                        role: en.role,
                        param: en.param,
                    })
                    .collect()
            })
            .collect()
    });
    let i = SCHEMES.iter().position(|s| s.id == id).unwrap_or(0);
    &all[i]
}

/// Splits the parameter suffix off a name: `.weight`/`.gamma` → weight, `.bias`/`.beta` → bias,
/// anything else is a buffer and keeps its whole name as stem.
pub fn split_param(name: &str) -> (&str, Param) {
    if let Some((stem, last)) = name.rsplit_once('.') {
        match last {
            "weight" | "gamma" => return (stem, Param::Weight),
            "bias" | "beta" => return (stem, Param::Bias),
            _ => {}
        }
    }
    (name, Param::Buffer)
}

fn match_segs(pat: &[Seg], segs: &[&str]) -> Option<(Option<u32>, Option<u32>)> {
    if pat.len() != segs.len() {
        return None;
    }
    let mut block = None;
    let mut expert = None;
    for (p, s) in pat.iter().zip(segs) {
        match p {
            Seg::Lit(l) if l == s => {}
            Seg::Lit(_) => return None,
            Seg::Any => {}
            Seg::Block => block = Some(parse_index(s)?),
            Seg::Expert => expert = Some(parse_index(s)?),
        }
    }
    Some((block, expert))
}

fn parse_index(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A successful name match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameMatch {
    /// The canonical name.
    pub canonical: CanonicalName,
    /// The scheme whose table matched (`None` for the vision-tower markers).
    pub scheme: Option<SchemeId>,
    /// The wrapper prefix dropped before the match (`""`, `"model.0.auto_model."`, …).
    pub stripped_prefix: String,
}

/// Matches one name against one scheme, dropping up to [`MAX_STRIPPED_SEGMENTS`] leading segments.
pub fn match_name(name: &str, id: SchemeId) -> Option<NameMatch> {
    let all: Vec<&str> = name.split('.').collect();
    let table = compiled(id);
    for drop in 0..=MAX_STRIPPED_SEGMENTS.min(all.len().saturating_sub(1)) {
        let segs = &all[drop..];
        let (stem_segs, auto_param) = match segs.last() {
            Some(&("weight" | "gamma")) => (&segs[..segs.len() - 1], Param::Weight),
            Some(&("bias" | "beta")) => (&segs[..segs.len() - 1], Param::Bias),
            _ => (segs, Param::Buffer),
        };
        for c in table {
            let (target, param) = match c.param {
                Some(p) => (segs, p),
                None => (stem_segs, auto_param),
            };
            if let Some((block, expert)) = match_segs(&c.segs, target) {
                let stripped_prefix = if drop == 0 {
                    String::new()
                } else {
                    let mut p = all[..drop].join(".");
                    p.push('.');
                    p
                };
                return Some(NameMatch {
                    canonical: CanonicalName {
                        block,
                        expert,
                        role: c.role,
                        param,
                    },
                    scheme: Some(id),
                    stripped_prefix,
                });
            }
        }
    }
    None
}

/// Whether a name belongs to a vision tower or multimodal projector.
pub fn is_vision_name(name: &str) -> bool {
    let mut segs = name.split('.');
    if segs
        .next()
        .is_some_and(|first| tables::VISION_FIRST_SEGMENTS.contains(&first))
    {
        return true;
    }
    name.split('.')
        .any(|s| tables::VISION_SEGMENTS.contains(&s))
}

fn vision_match(name: &str) -> NameMatch {
    let (_, param) = split_param(name);
    NameMatch {
        canonical: CanonicalName::global(Role::VisionTower, param),
        scheme: None,
        stripped_prefix: String::new(),
    }
}

/// Result of matching all names of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NameReport {
    /// The scheme explaining most names (`None` when no name matched any scheme).
    pub primary: Option<SchemeId>,
    /// How many names each scheme explains on its own, for the schemes explaining any
    /// (in [`SCHEMES`] order).
    pub scheme_counts: Vec<(SchemeId, usize)>,
    /// Per input name, in input order: the match, if any.
    pub matches: Vec<Option<NameMatch>>,
    /// Names no scheme explained, in input order.
    pub unmatched: Vec<String>,
}

/// Matches every name: picks the primary scheme (most names explained; ties go to the earlier
/// scheme in [`SCHEMES`]), matches each name with it, and falls back to the other schemes (in
/// [`SCHEMES`] order) for names it does not explain. Vision-tower names are recognised first.
pub fn classify_names<S: AsRef<str>>(names: &[S]) -> NameReport {
    classify_names_with(names, None)
}

/// Like [`classify_names`] but with a preferred scheme (e.g. from the file format or config),
/// used as primary when it explains at least as many names as any other.
pub fn classify_names_with<S: AsRef<str>>(names: &[S], preferred: Option<SchemeId>) -> NameReport {
    let per_scheme: Vec<Vec<Option<NameMatch>>> = SCHEMES
        .iter()
        .map(|s| {
            names
                .iter()
                .map(|n| {
                    let n = n.as_ref();
                    if is_vision_name(n) {
                        None
                    } else {
                        match_name(n, s.id)
                    }
                })
                .collect()
        })
        .collect();
    let counts: Vec<usize> = per_scheme
        .iter()
        .map(|m| m.iter().filter(|x| x.is_some()).count())
        .collect();
    let best = counts.iter().copied().max().unwrap_or(0);
    let mut primary_idx = counts.iter().position(|&c| c == best && c > 0);
    if let Some(p) = preferred {
        if let Some(i) = SCHEMES.iter().position(|s| s.id == p) {
            if counts[i] == best && best > 0 {
                primary_idx = Some(i);
            }
        }
    }
    let mut matches = Vec::with_capacity(names.len());
    let mut unmatched = Vec::new();
    for (j, n) in names.iter().enumerate() {
        let n = n.as_ref();
        let m = if is_vision_name(n) {
            Some(vision_match(n))
        } else {
            primary_idx
                .and_then(|p| per_scheme[p][j].clone())
                .or_else(|| per_scheme.iter().find_map(|m| m[j].clone()))
        };
        if m.is_none() {
            unmatched.push(n.to_string());
        }
        matches.push(m);
    }
    NameReport {
        primary: primary_idx.map(|i| SCHEMES[i].id),
        scheme_counts: SCHEMES
            .iter()
            .zip(&counts)
            .filter(|(_, &c)| c > 0)
            .map(|(s, &c)| (s.id, c))
            .collect(),
        matches,
        unmatched,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(name: &str, id: SchemeId) -> String {
        match_name(name, id)
            .map(|m| m.canonical.to_string())
            .unwrap_or_else(|| "-".into())
    }

    #[test]
    fn every_scheme_id_has_one_row() {
        let ids = [
            SchemeId::HfLlama,
            SchemeId::Yi,
            SchemeId::HfGemma2,
            SchemeId::HfPhi3,
            SchemeId::HfPhi2,
            SchemeId::PhiMsft,
            SchemeId::Mixtral,
            SchemeId::QwenMoe,
            SchemeId::Deepseek,
            SchemeId::Gpt2,
            SchemeId::GptNeox,
            SchemeId::Bert,
            SchemeId::Falcon,
            SchemeId::Megatron,
            SchemeId::MegatronCore,
            SchemeId::Gguf,
            SchemeId::MetaLlama,
        ];
        assert_eq!(ids.len(), SCHEMES.len());
        for id in ids {
            assert_eq!(SCHEMES.iter().filter(|s| s.id == id).count(), 1, "{id:?}");
            assert_eq!(scheme(id).id, id);
        }
    }

    #[test]
    fn names_of_many_schemes() {
        use SchemeId::*;
        let cases = [
            (
                "model.layers.3.self_attn.q_proj.weight",
                HfLlama,
                "blk.3.attn_q.weight",
            ),
            (
                "model.layers.3.self_attn.k_proj.bias",
                HfLlama,
                "blk.3.attn_k.bias",
            ),
            ("model.embed_tokens.weight", HfLlama, "token_embd.weight"),
            ("lm_head.weight", HfLlama, "output.weight"),
            ("model.norm.weight", HfLlama, "output_norm.weight"),
            (
                "model.layers.0.self_attn.rotary_emb.inv_freq",
                HfLlama,
                "blk.0.rope_freqs.buffer",
            ),
            ("model.layers.2.ln1.weight", Yi, "blk.2.attn_norm.weight"),
            ("model.layers.2.ln2.weight", Yi, "blk.2.ffn_norm.weight"),
            (
                "model.layers.1.post_attention_layernorm.weight",
                HfGemma2,
                "blk.1.attn_post_norm.weight",
            ),
            (
                "model.layers.1.pre_feedforward_layernorm.weight",
                HfGemma2,
                "blk.1.ffn_norm.weight",
            ),
            (
                "model.layers.1.self_attn.qkv_proj.weight",
                HfPhi3,
                "blk.1.attn_qkv.weight",
            ),
            (
                "model.layers.1.mlp.gate_up_proj.weight",
                HfPhi3,
                "blk.1.ffn_gate_up.weight",
            ),
            (
                "model.layers.4.self_attn.dense.bias",
                HfPhi2,
                "blk.4.attn_output.bias",
            ),
            ("model.final_layernorm.weight", HfPhi2, "output_norm.weight"),
            (
                "transformer.h.4.mixer.Wqkv.weight",
                PhiMsft,
                "blk.4.attn_qkv.weight",
            ),
            (
                "model.layers.5.block_sparse_moe.experts.7.w2.weight",
                Mixtral,
                "blk.5.exp.7.ffn_down_exps.weight",
            ),
            (
                "model.layers.5.block_sparse_moe.gate.weight",
                Mixtral,
                "blk.5.ffn_gate_inp.weight",
            ),
            (
                "model.layers.5.mlp.shared_expert_gate.weight",
                QwenMoe,
                "blk.5.ffn_gate_inp_shexp.weight",
            ),
            (
                "model.layers.5.mlp.shared_experts.up_proj.weight",
                Deepseek,
                "blk.5.ffn_up_shexp.weight",
            ),
            (
                "model.layers.5.mlp.gate.e_score_correction_bias",
                Deepseek,
                "blk.5.ffn_gate_inp.bias",
            ),
            (
                "model.layers.5.self_attn.kv_a_proj_with_mqa.weight",
                Deepseek,
                "blk.5.attn_kv_a_mqa.weight",
            ),
            (
                "transformer.h.0.attn.c_attn.weight",
                Gpt2,
                "blk.0.attn_qkv.weight",
            ),
            ("h.0.attn.bias", Gpt2, "blk.0.attn_mask.buffer"),
            ("transformer.wpe.weight", Gpt2, "position_embd.weight"),
            (
                "gpt_neox.layers.2.attention.query_key_value.weight",
                GptNeox,
                "blk.2.attn_qkv.weight",
            ),
            ("embed_out.weight", GptNeox, "output.weight"),
            (
                "encoder.layer.5.attention.output.LayerNorm.weight",
                Bert,
                "blk.5.attn_norm.weight",
            ),
            (
                "0.auto_model.encoder.layer.5.output.dense.weight",
                Bert,
                "blk.5.ffn_down.weight",
            ),
            (
                "model.0.auto_model.encoder.layer.2.attention.self.query.bias",
                Bert,
                "blk.2.attn_q.bias",
            ),
            (
                "inner.embeddings.word_embeddings.weight",
                Bert,
                "token_embd.weight",
            ),
            (
                "bert.embeddings.LayerNorm.gamma",
                Bert,
                "token_embd_norm.weight",
            ),
            ("cls.predictions.bias", Bert, "mlm_decoder.bias"),
            ("embeddings.position_ids", Bert, "position_ids.buffer"),
            (
                "transformer.h.3.self_attention.query_key_value.weight",
                Falcon,
                "blk.3.attn_qkv.weight",
            ),
            ("transformer.h.3.ln_mlp.bias", Falcon, "blk.3.ffn_norm.bias"),
            (
                "language_model.encoder.layers.7.self_attention.query_key_value.weight",
                Megatron,
                "blk.7.attn_qkv.weight",
            ),
            (
                "language_model.encoder.final_layernorm.weight",
                Megatron,
                "output_norm.weight",
            ),
            (
                "decoder.layers.7.self_attention.linear_qkv.layer_norm_weight",
                MegatronCore,
                "blk.7.attn_norm.weight",
            ),
            (
                "decoder.layers.7.mlp.linear_fc2.weight",
                MegatronCore,
                "blk.7.ffn_down.weight",
            ),
            ("token_embd.weight", Gguf, "token_embd.weight"),
            ("blk.12.attn_q.weight", Gguf, "blk.12.attn_q.weight"),
            (
                "blk.12.ffn_up_exps.weight",
                Gguf,
                "blk.12.ffn_up_exps.weight",
            ),
            (
                "blk.12.ffn_gate.3.weight",
                Gguf,
                "blk.12.exp.3.ffn_gate_exps.weight",
            ),
            ("blk.1.exp_probs_b.bias", Gguf, "blk.1.ffn_gate_inp.bias"),
            ("output.weight", Gguf, "output.weight"),
            (
                "layers.3.feed_forward.w3.weight",
                MetaLlama,
                "blk.3.ffn_up.weight",
            ),
            (
                "layers.3.attention_norm.weight",
                MetaLlama,
                "blk.3.attn_norm.weight",
            ),
            ("tok_embeddings.weight", MetaLlama, "token_embd.weight"),
            ("freq_cis_real", MetaLlama, "rope_freqs.buffer"),
        ];
        for (name, id, want) in cases {
            assert_eq!(canon(name, id), want, "{name} under {id}");
        }
        // Non-matches.
        assert_eq!(
            canon("model.layers.x.self_attn.q_proj.weight", HfLlama),
            "-"
        );
        assert_eq!(canon("model.layers.3.self_attn.q_proj.weight", Gpt2), "-");
        assert_eq!(canon("onnx::MatMul_470", Bert), "-");
    }

    #[test]
    fn stripped_prefix_is_reported() {
        let m = match_name(
            "model.0.auto_model.encoder.layer.2.attention.self.query.bias",
            SchemeId::Bert,
        )
        .expect("matches");
        assert_eq!(m.stripped_prefix, "model.0.auto_model.");
    }

    #[test]
    fn primary_scheme_and_fallbacks() {
        let names = [
            "model.embed_tokens.weight",
            "model.layers.0.input_layernorm.weight",
            "model.layers.0.post_attention_layernorm.weight",
            "model.layers.0.pre_feedforward_layernorm.weight",
            "model.layers.0.post_feedforward_layernorm.weight",
            "model.layers.0.self_attn.q_proj.weight",
            "vision_tower.blocks.0.attn.qkv.weight",
            "something.else",
        ];
        let r = classify_names(&names);
        assert_eq!(r.primary, Some(SchemeId::HfGemma2));
        assert_eq!(r.unmatched, vec!["something.else".to_string()]);
        let c: Vec<String> = r
            .matches
            .iter()
            .map(|m| {
                m.as_ref()
                    .map(|m| m.canonical.to_string())
                    .unwrap_or_default()
            })
            .collect();
        assert_eq!(c[2], "blk.0.attn_post_norm.weight");
        assert_eq!(c[6], "vision.weight");
    }
}
