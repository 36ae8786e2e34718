//! The naming-scheme tables, written once as data.
//!
//! Each scheme is a list of `(pattern, role)` entries. A pattern is a dotted name *without* its
//! parameter suffix (`.weight`, `.bias`, `.gamma`, `.beta`); the matcher strips that suffix first.
//! Entries made with `full` instead match the whole name and fix the parameter themselves (for
//! names like Megatron-core's `linear_qkv.layer_norm_weight` or GPT-2's `attn.bias` buffer).
//!
//! Placeholders, each a whole dot-separated segment: `{N}` block index, `{E}` expert index,
//! `*` any one segment. Wrapper prefixes (`model.0.auto_model.`, `inner.`, `transformer.`,
//! `bert.`, `language_model.`, …) are not written here: the matcher retries a name with up to
//! [`crate::scheme::MAX_STRIPPED_SEGMENTS`] leading segments dropped, and reports what it dropped.
//!
//! Nothing but data lives here; matching is in [`crate::scheme`].

use crate::role::{Param, Role, Role::*};

/// One row of a naming-scheme table.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// Dotted pattern with `{N}`, `{E}` and `*` segments.
    pub pattern: &'static str,
    /// The role a matching tensor has.
    pub role: Role,
    /// `Some` when the pattern is a full name (suffix included) with a fixed parameter.
    pub param: Option<Param>,
}

/// An entry whose pattern is the name without its `.weight`/`.bias` suffix.
const fn e(pattern: &'static str, role: Role) -> Entry {
    Entry {
        pattern,
        role,
        param: None,
    }
}

/// An entry whose pattern is the whole name, with the parameter it denotes.
const fn full(pattern: &'static str, role: Role, param: Param) -> Entry {
    Entry {
        pattern,
        role,
        param: Some(param),
    }
}

/// Hugging Face llama-style embeddings, final norm and heads (llama, mistral, qwen2, gemma, phi-3,
/// mixtral, deepseek; `model.` is a stripped wrapper).
pub const HF_LLAMA_OUTER: &[Entry] = &[
    e("embed_tokens", TokenEmbedding),
    e("norm", FinalNorm),
    e("lm_head", LmHead),
    e("score", Classifier),
    e("rotary_emb.inv_freq", RotaryInvFreq),
];

/// Hugging Face llama-style attention (q/k/v/o with optional biases, qwen3 q/k norms).
pub const HF_LLAMA_ATTN: &[Entry] = &[
    e("layers.{N}.self_attn.q_proj", AttnQ),
    e("layers.{N}.self_attn.k_proj", AttnK),
    e("layers.{N}.self_attn.v_proj", AttnV),
    e("layers.{N}.self_attn.o_proj", AttnO),
    e("layers.{N}.self_attn.q_norm", AttnQNorm),
    e("layers.{N}.self_attn.k_norm", AttnKNorm),
    e("layers.{N}.self_attn.rotary_emb.inv_freq", RotaryInvFreq),
];

/// Hugging Face llama-style gated MLP.
pub const HF_LLAMA_MLP: &[Entry] = &[
    e("layers.{N}.mlp.gate_proj", MlpGate),
    e("layers.{N}.mlp.up_proj", MlpUp),
    e("layers.{N}.mlp.down_proj", MlpDown),
];

/// Hugging Face llama-style block norms (pre-LN: attention norm, FFN norm).
pub const HF_LLAMA_NORMS: &[Entry] = &[
    e("layers.{N}.input_layernorm", AttnNorm),
    e("layers.{N}.post_attention_layernorm", FfnNorm),
];

/// Yi's renamed block norms (`ln1` = `input_layernorm`, `ln2` = `post_attention_layernorm`).
pub const YI_NORMS: &[Entry] = &[e("layers.{N}.ln1", AttnNorm), e("layers.{N}.ln2", FfnNorm)];

/// Gemma 2/3 sandwich norms: here `post_attention_layernorm` is the attention *output* norm.
pub const GEMMA2_NORMS: &[Entry] = &[
    e("layers.{N}.input_layernorm", AttnNorm),
    e("layers.{N}.post_attention_layernorm", PostAttnNorm),
    e("layers.{N}.pre_feedforward_layernorm", FfnNorm),
    e("layers.{N}.post_feedforward_layernorm", PostFfnNorm),
];

/// Phi-3 fused projections.
pub const PHI3_FUSED: &[Entry] = &[
    e("layers.{N}.self_attn.qkv_proj", AttnQkv),
    e("layers.{N}.self_attn.o_proj", AttnO),
    e("layers.{N}.mlp.gate_up_proj", MlpGateUp),
    e("layers.{N}.mlp.down_proj", MlpDown),
];

/// Hugging Face `phi` (Phi-1.5/Phi-2): parallel attention and MLP sharing one norm.
pub const HF_PHI2: &[Entry] = &[
    e("embed_tokens", TokenEmbedding),
    e("layers.{N}.input_layernorm", AttnNorm),
    e("layers.{N}.self_attn.q_proj", AttnQ),
    e("layers.{N}.self_attn.k_proj", AttnK),
    e("layers.{N}.self_attn.v_proj", AttnV),
    e("layers.{N}.self_attn.dense", AttnO),
    e("layers.{N}.self_attn.q_layernorm", AttnQNorm),
    e("layers.{N}.self_attn.k_layernorm", AttnKNorm),
    e("layers.{N}.mlp.fc1", MlpUp),
    e("layers.{N}.mlp.fc2", MlpDown),
    e("final_layernorm", FinalNorm),
    e("lm_head", LmHead),
];

/// Microsoft's original Phi-2 code (`transformer.embd.wte`, `mixer.Wqkv`).
pub const PHI_MSFT: &[Entry] = &[
    e("embd.wte", TokenEmbedding),
    e("h.{N}.ln", AttnNorm),
    e("h.{N}.mixer.Wqkv", AttnQkv),
    e("h.{N}.mixer.out_proj", AttnO),
    e("h.{N}.mixer.rotary_emb.inv_freq", RotaryInvFreq),
    e("h.{N}.mlp.fc1", MlpUp),
    e("h.{N}.mlp.fc2", MlpDown),
    e("lm_head.ln", FinalNorm),
    e("lm_head.linear", LmHead),
];

/// Mixtral sparse MoE block.
pub const MIXTRAL_MOE: &[Entry] = &[
    e("layers.{N}.block_sparse_moe.gate", MoeRouter),
    e("layers.{N}.block_sparse_moe.experts.{E}.w1", ExpertGate),
    e("layers.{N}.block_sparse_moe.experts.{E}.w3", ExpertUp),
    e("layers.{N}.block_sparse_moe.experts.{E}.w2", ExpertDown),
];

/// Qwen2-MoE / Qwen3-MoE / OLMoE sparse MLP (singular `shared_expert`).
pub const QWEN_MOE: &[Entry] = &[
    e("layers.{N}.mlp.gate", MoeRouter),
    e("layers.{N}.mlp.experts.{E}.gate_proj", ExpertGate),
    e("layers.{N}.mlp.experts.{E}.up_proj", ExpertUp),
    e("layers.{N}.mlp.experts.{E}.down_proj", ExpertDown),
    e("layers.{N}.mlp.shared_expert.gate_proj", SharedExpertGate),
    e("layers.{N}.mlp.shared_expert.up_proj", SharedExpertUp),
    e("layers.{N}.mlp.shared_expert.down_proj", SharedExpertDown),
    e("layers.{N}.mlp.shared_expert_gate", SharedExpertRouter),
];

/// DeepSeek-V2/V3: multi-head latent attention, routed + shared experts, MTP layers.
pub const DEEPSEEK: &[Entry] = &[
    e("layers.{N}.self_attn.q_a_proj", AttnQA),
    e("layers.{N}.self_attn.q_a_layernorm", AttnQANorm),
    e("layers.{N}.self_attn.q_b_proj", AttnQB),
    e("layers.{N}.self_attn.kv_a_proj_with_mqa", AttnKvA),
    e("layers.{N}.self_attn.kv_a_layernorm", AttnKvANorm),
    e("layers.{N}.self_attn.kv_b_proj", AttnKvB),
    e("layers.{N}.mlp.gate", MoeRouter),
    full(
        "layers.{N}.mlp.gate.e_score_correction_bias",
        MoeRouter,
        Param::Bias,
    ),
    e("layers.{N}.mlp.experts.{E}.gate_proj", ExpertGate),
    e("layers.{N}.mlp.experts.{E}.up_proj", ExpertUp),
    e("layers.{N}.mlp.experts.{E}.down_proj", ExpertDown),
    e("layers.{N}.mlp.shared_experts.gate_proj", SharedExpertGate),
    e("layers.{N}.mlp.shared_experts.up_proj", SharedExpertUp),
    e("layers.{N}.mlp.shared_experts.down_proj", SharedExpertDown),
    e("layers.{N}.embed_tokens", MtpPart),
    e("layers.{N}.enorm", MtpPart),
    e("layers.{N}.hnorm", MtpPart),
    e("layers.{N}.eh_proj", MtpPart),
    e("layers.{N}.shared_head.norm", MtpPart),
    e("layers.{N}.shared_head.head", MtpPart),
];

/// GPT-2 (`transformer.` is a stripped wrapper). Linear weights are Conv1D, stored `[in, out]`.
pub const GPT2: &[Entry] = &[
    e("wte", TokenEmbedding),
    e("wpe", PositionEmbedding),
    e("h.{N}.ln_1", AttnNorm),
    e("h.{N}.attn.c_attn", AttnQkv),
    e("h.{N}.attn.c_proj", AttnO),
    full("h.{N}.attn.bias", AttnMaskBuffer, Param::Buffer),
    full("h.{N}.attn.masked_bias", AttnMaskBuffer, Param::Buffer),
    e("h.{N}.ln_2", FfnNorm),
    e("h.{N}.mlp.c_fc", MlpUp),
    e("h.{N}.mlp.c_proj", MlpDown),
    e("ln_f", FinalNorm),
    e("lm_head", LmHead),
];

/// GPT-NeoX / Pythia (fused QKV interleaved per head).
pub const GPT_NEOX: &[Entry] = &[
    e("gpt_neox.embed_in", TokenEmbedding),
    e("gpt_neox.layers.{N}.input_layernorm", AttnNorm),
    e("gpt_neox.layers.{N}.post_attention_layernorm", FfnNorm),
    e("gpt_neox.layers.{N}.attention.query_key_value", AttnQkv),
    e("gpt_neox.layers.{N}.attention.dense", AttnO),
    e(
        "gpt_neox.layers.{N}.attention.rotary_emb.inv_freq",
        RotaryInvFreq,
    ),
    full(
        "gpt_neox.layers.{N}.attention.bias",
        AttnMaskBuffer,
        Param::Buffer,
    ),
    full(
        "gpt_neox.layers.{N}.attention.masked_bias",
        AttnMaskBuffer,
        Param::Buffer,
    ),
    e("gpt_neox.layers.{N}.mlp.dense_h_to_4h", MlpUp),
    e("gpt_neox.layers.{N}.mlp.dense_4h_to_h", MlpDown),
    e("gpt_neox.final_layer_norm", FinalNorm),
    e("gpt_neox.rotary_emb.inv_freq", RotaryInvFreq),
    e("embed_out", LmHead),
];

/// BERT and its wrappers (sentence-transformers `0.auto_model.`, ONNX `inner.` and
/// `model.0.auto_model.`, `bert.` are stripped). Post-LN: `attention.output.LayerNorm` is the
/// attention-sub-layer norm, `output.LayerNorm` the FFN-sub-layer norm.
pub const BERT: &[Entry] = &[
    e("embeddings.word_embeddings", TokenEmbedding),
    e("embeddings.position_embeddings", PositionEmbedding),
    e("embeddings.token_type_embeddings", TokenTypeEmbedding),
    e("embeddings.LayerNorm", EmbeddingNorm),
    e("embeddings.position_ids", PositionIds),
    e("embeddings.token_type_ids", PositionIds),
    e("encoder.layer.{N}.attention.self.query", AttnQ),
    e("encoder.layer.{N}.attention.self.key", AttnK),
    e("encoder.layer.{N}.attention.self.value", AttnV),
    e("encoder.layer.{N}.attention.output.dense", AttnO),
    e("encoder.layer.{N}.attention.output.LayerNorm", AttnNorm),
    e("encoder.layer.{N}.intermediate.dense", MlpUp),
    e("encoder.layer.{N}.output.dense", MlpDown),
    e("encoder.layer.{N}.output.LayerNorm", FfnNorm),
    e("pooler.dense", Pooler),
    e("cls.predictions.transform.dense", MlmTransform),
    e("cls.predictions.transform.LayerNorm", MlmNorm),
    e("cls.predictions.decoder", MlmDecoder),
    e("cls.predictions", MlmDecoder),
    e("cls.seq_relationship", NspHead),
    e("classifier", Classifier),
];

/// Falcon (7B: one norm; 40B/180B: `ln_attn`, `ln_mlp`; `transformer.` is stripped).
pub const FALCON: &[Entry] = &[
    e("word_embeddings", TokenEmbedding),
    e("h.{N}.input_layernorm", AttnNorm),
    e("h.{N}.ln_attn", AttnNorm),
    e("h.{N}.ln_mlp", FfnNorm),
    e("h.{N}.post_attention_layernorm", FfnNorm),
    e("h.{N}.self_attention.query_key_value", AttnQkv),
    e("h.{N}.self_attention.dense", AttnO),
    e("h.{N}.mlp.dense_h_to_4h", MlpUp),
    e("h.{N}.mlp.dense_4h_to_h", MlpDown),
    e("ln_f", FinalNorm),
    e("lm_head", LmHead),
];

/// Megatron-LM (legacy: `language_model.encoder.layers.N.self_attention.query_key_value`).
pub const MEGATRON: &[Entry] = &[
    e("language_model.embedding.word_embeddings", TokenEmbedding),
    e(
        "language_model.embedding.position_embeddings",
        PositionEmbedding,
    ),
    e(
        "language_model.encoder.layers.{N}.input_layernorm",
        AttnNorm,
    ),
    e(
        "language_model.encoder.layers.{N}.self_attention.query_key_value",
        AttnQkv,
    ),
    e(
        "language_model.encoder.layers.{N}.self_attention.dense",
        AttnO,
    ),
    e(
        "language_model.encoder.layers.{N}.post_attention_layernorm",
        FfnNorm,
    ),
    e("language_model.encoder.layers.{N}.mlp.dense_h_to_4h", MlpUp),
    e(
        "language_model.encoder.layers.{N}.mlp.dense_4h_to_h",
        MlpDown,
    ),
    e("language_model.encoder.final_layernorm", FinalNorm),
    e("language_model.output_layer", LmHead),
];

/// Megatron-core (`decoder.layers.N.self_attention.linear_qkv`, norms fused into the linears).
pub const MEGATRON_CORE: &[Entry] = &[
    e("embedding.word_embeddings", TokenEmbedding),
    e("embedding.position_embeddings", PositionEmbedding),
    e("decoder.layers.{N}.input_layernorm", AttnNorm),
    full(
        "decoder.layers.{N}.self_attention.linear_qkv.layer_norm_weight",
        AttnNorm,
        Param::Weight,
    ),
    full(
        "decoder.layers.{N}.self_attention.linear_qkv.layer_norm_bias",
        AttnNorm,
        Param::Bias,
    ),
    e("decoder.layers.{N}.self_attention.linear_qkv", AttnQkv),
    e("decoder.layers.{N}.self_attention.linear_proj", AttnO),
    e("decoder.layers.{N}.self_attention.q_layernorm", AttnQNorm),
    e("decoder.layers.{N}.self_attention.k_layernorm", AttnKNorm),
    e("decoder.layers.{N}.pre_mlp_layernorm", FfnNorm),
    full(
        "decoder.layers.{N}.mlp.linear_fc1.layer_norm_weight",
        FfnNorm,
        Param::Weight,
    ),
    full(
        "decoder.layers.{N}.mlp.linear_fc1.layer_norm_bias",
        FfnNorm,
        Param::Bias,
    ),
    e("decoder.layers.{N}.mlp.linear_fc1", MlpUp),
    e("decoder.layers.{N}.mlp.linear_fc2", MlpDown),
    e("decoder.final_layernorm", FinalNorm),
    e("output_layer", LmHead),
];

/// Meta's original llama checkpoints (`consolidated.pth`) and llama2.c (`tok_embeddings`,
/// `layers.N.attention.wq`, `feed_forward.w1`; the llama2.c reader uses these names and exposes
/// the RoPE tables as `freq_cis_real`/`freq_cis_imag`).
pub const META_LLAMA: &[Entry] = &[
    e("tok_embeddings", TokenEmbedding),
    e("layers.{N}.attention_norm", AttnNorm),
    e("layers.{N}.attention.wq", AttnQ),
    e("layers.{N}.attention.wk", AttnK),
    e("layers.{N}.attention.wv", AttnV),
    e("layers.{N}.attention.wo", AttnO),
    e("layers.{N}.ffn_norm", FfnNorm),
    e("layers.{N}.feed_forward.w1", MlpGate),
    e("layers.{N}.feed_forward.w3", MlpUp),
    e("layers.{N}.feed_forward.w2", MlpDown),
    e(
        "layers.{N}.attention.inner_attention.rope.freqs",
        RotaryInvFreq,
    ),
    e("norm", FinalNorm),
    e("output", LmHead),
    e("rope.freqs", RotaryInvFreq),
    e("freq_cis_real", RotaryInvFreq),
    e("freq_cis_imag", RotaryInvFreq),
];

/// llama.cpp GGUF tensor names (`gguf-py` `TensorNameMap` targets), all architectures.
pub const GGUF: &[Entry] = &[
    e("token_embd", TokenEmbedding),
    e("token_embd_norm", EmbeddingNorm),
    e("token_types", TokenTypeEmbedding),
    e("position_embd", PositionEmbedding),
    e("output_norm", FinalNorm),
    e("output", LmHead),
    e("rope_freqs", RotaryInvFreq),
    e("cls", Classifier),
    e("cls.output", Classifier),
    e("blk.{N}.attn_norm", AttnNorm),
    e("blk.{N}.attn_norm_2", FfnNorm),
    e("blk.{N}.attn_qkv", AttnQkv),
    e("blk.{N}.attn_q", AttnQ),
    e("blk.{N}.attn_k", AttnK),
    e("blk.{N}.attn_v", AttnV),
    e("blk.{N}.attn_output", AttnO),
    e("blk.{N}.attn_q_norm", AttnQNorm),
    e("blk.{N}.attn_k_norm", AttnKNorm),
    e("blk.{N}.attn_output_norm", AttnNorm),
    e("blk.{N}.attn_post_norm", PostAttnNorm),
    e("blk.{N}.post_attention_norm", PostAttnNorm),
    e("blk.{N}.attn_q_a", AttnQA),
    e("blk.{N}.attn_q_a_norm", AttnQANorm),
    e("blk.{N}.attn_q_b", AttnQB),
    e("blk.{N}.attn_kv_a_mqa", AttnKvA),
    e("blk.{N}.attn_kv_a_norm", AttnKvANorm),
    e("blk.{N}.attn_kv_b", AttnKvB),
    e("blk.{N}.attn_rot_embd", RotaryInvFreq),
    e("blk.{N}.ffn_norm", FfnNorm),
    e("blk.{N}.layer_output_norm", FfnNorm),
    e("blk.{N}.ffn_post_norm", PostFfnNorm),
    e("blk.{N}.post_ffw_norm", PostFfnNorm),
    e("blk.{N}.ffn_gate", MlpGate),
    e("blk.{N}.ffn_up", MlpUp),
    e("blk.{N}.ffn_down", MlpDown),
    e("blk.{N}.ffn_gate_inp", MoeRouter),
    full("blk.{N}.exp_probs_b.bias", MoeRouter, Param::Bias),
    e("blk.{N}.exp_probs_b", MoeRouter),
    e("blk.{N}.ffn_gate_exps", ExpertGate),
    e("blk.{N}.ffn_up_exps", ExpertUp),
    e("blk.{N}.ffn_down_exps", ExpertDown),
    e("blk.{N}.ffn_gate.{E}", ExpertGate),
    e("blk.{N}.ffn_up.{E}", ExpertUp),
    e("blk.{N}.ffn_down.{E}", ExpertDown),
    e("blk.{N}.ffn_gate_shexp", SharedExpertGate),
    e("blk.{N}.ffn_up_shexp", SharedExpertUp),
    e("blk.{N}.ffn_down_shexp", SharedExpertDown),
    e("blk.{N}.ffn_gate_inp_shexp", SharedExpertRouter),
    e("blk.{N}.nextn.enorm", MtpPart),
    e("blk.{N}.nextn.hnorm", MtpPart),
    e("blk.{N}.nextn.eh_proj", MtpPart),
    e("blk.{N}.nextn.embed_tokens", MtpPart),
    e("blk.{N}.nextn.shared_head_norm", MtpPart),
    e("blk.{N}.nextn.shared_head_head", MtpPart),
];

/// Segment names that mark a vision tower or multimodal projector anywhere in a name (checked
/// before any scheme). llama.cpp `mmproj` files use the first segments `v` and `mm`.
pub const VISION_SEGMENTS: &[&str] = &[
    "vision_tower",
    "vision_model",
    "visual",
    "vision_encoder",
    "image_encoder",
    "vision_embed_tokens",
    "img_processor",
    "mm_projector",
    "multi_modal_projector",
    "vision_projection",
];

/// First segments that mark a llama.cpp multimodal-projector GGUF tensor (`v.blk.0…`, `mm.0…`).
pub const VISION_FIRST_SEGMENTS: &[&str] = &["v", "mm"];
