//! Canonical tensor roles: what a tensor *is*, independent of what it is called.
//!
//! A [`CanonicalName`] is a [`Role`], an optional block index, an optional expert index and a
//! [`Param`] (weight, bias or buffer). Its text form follows llama.cpp's short names
//! (`token_embd.weight`, `blk.3.attn_q.weight`, `blk.3.exp.5.ffn_up.weight`) and parses back with
//! [`std::str::FromStr`]. Naming schemes and their tables live in [`crate::scheme`], not here.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! roles {
    ($( $(#[$doc:meta])* $variant:ident => $text:literal, $comp:ident; )*) => {
        /// The function of a tensor in a transformer, independent of its name.
        ///
        /// Biases share the role of their weight (`Param::Bias`). Per-expert roles carry the
        /// expert index in [`CanonicalName::expert`]; a tensor stacking all experts (llama.cpp's
        /// `ffn_up_exps`) has the expert role with no index.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[non_exhaustive]
        pub enum Role {
            $( $(#[$doc])* $variant, )*
        }

        impl Role {
            /// Every role, in declaration order.
            pub const ALL: &'static [Role] = &[$(Role::$variant,)*];

            /// The stable short text of the role, used in canonical names (`attn_q`).
            pub fn as_str(self) -> &'static str {
                match self { $(Role::$variant => $text,)* }
            }

            /// The coarse kind of component the role belongs to (before block and expert indices).
            pub fn kind(self) -> RoleKind {
                match self { $(Role::$variant => RoleKind::$comp,)* }
            }
        }
    };
}

roles! {
    /// Token (word) embedding matrix `[vocab, hidden]`.
    TokenEmbedding => "token_embd", Embeddings;
    /// Learned absolute position embedding `[max_positions, hidden]`.
    PositionEmbedding => "position_embd", Embeddings;
    /// Token-type (segment) embedding `[type_vocab, hidden]` (BERT).
    TokenTypeEmbedding => "token_types", Embeddings;
    /// Norm applied right after the embeddings (BERT `embeddings.LayerNorm`).
    EmbeddingNorm => "token_embd_norm", Embeddings;
    /// Attention query projection.
    AttnQ => "attn_q", Block;
    /// Attention key projection.
    AttnK => "attn_k", Block;
    /// Attention value projection.
    AttnV => "attn_v", Block;
    /// Attention output projection.
    AttnO => "attn_output", Block;
    /// Fused query/key/value projection (GPT-2 `c_attn`, NeoX/Falcon `query_key_value`, Phi-3 `qkv_proj`).
    AttnQkv => "attn_qkv", Block;
    /// Low-rank query down-projection (DeepSeek MLA `q_a_proj`).
    AttnQA => "attn_q_a", Block;
    /// Norm between the MLA query projections (`q_a_layernorm`).
    AttnQANorm => "attn_q_a_norm", Block;
    /// Low-rank query up-projection (DeepSeek MLA `q_b_proj`).
    AttnQB => "attn_q_b", Block;
    /// Joint key/value down-projection with the shared rope key (DeepSeek MLA `kv_a_proj_with_mqa`).
    AttnKvA => "attn_kv_a_mqa", Block;
    /// Norm between the MLA key/value projections (`kv_a_layernorm`).
    AttnKvANorm => "attn_kv_a_norm", Block;
    /// Key/value up-projection (DeepSeek MLA `kv_b_proj`).
    AttnKvB => "attn_kv_b", Block;
    /// Norm before (pre-LN) or after (post-LN, BERT) the attention sub-layer:
    /// `input_layernorm`, `ln_1`, Yi's `ln1`, llama.cpp `attn_norm`.
    AttnNorm => "attn_norm", Block;
    /// Norm on the attention output before the residual add (Gemma 2/3 `post_attention_layernorm`).
    PostAttnNorm => "attn_post_norm", Block;
    /// Per-head query norm (Qwen3, OLMo 2, Phi-2 `q_layernorm`).
    AttnQNorm => "attn_q_norm", Block;
    /// Per-head key norm.
    AttnKNorm => "attn_k_norm", Block;
    /// Norm before (pre-LN) or after (post-LN) the feed-forward sub-layer:
    /// llama `post_attention_layernorm`, `ln_2`, Yi's `ln2`, Gemma 2 `pre_feedforward_layernorm`.
    FfnNorm => "ffn_norm", Block;
    /// Norm on the feed-forward output before the residual add (Gemma 2/3 `post_feedforward_layernorm`).
    PostFfnNorm => "ffn_post_norm", Block;
    /// Gated-MLP gate projection (`gate_proj`, `w1`).
    MlpGate => "ffn_gate", Block;
    /// MLP up projection (`up_proj`, `w3`, `c_fc`, `dense_h_to_4h`, `intermediate.dense`).
    MlpUp => "ffn_up", Block;
    /// MLP down projection (`down_proj`, `w2`, `c_proj`, `dense_4h_to_h`, `output.dense`).
    MlpDown => "ffn_down", Block;
    /// Fused gate and up projection (Phi-3 `gate_up_proj`).
    MlpGateUp => "ffn_gate_up", Block;
    /// Mixture-of-experts router (`block_sparse_moe.gate`, `mlp.gate`, `ffn_gate_inp`);
    /// its bias param holds DeepSeek-V3's `e_score_correction_bias`.
    MoeRouter => "ffn_gate_inp", Block;
    /// Routed expert gate projection.
    ExpertGate => "ffn_gate_exps", Expert;
    /// Routed expert up projection.
    ExpertUp => "ffn_up_exps", Expert;
    /// Routed expert down projection.
    ExpertDown => "ffn_down_exps", Expert;
    /// Shared expert gate projection (Qwen2-MoE `shared_expert`, DeepSeek `shared_experts`).
    SharedExpertGate => "ffn_gate_shexp", Block;
    /// Shared expert up projection.
    SharedExpertUp => "ffn_up_shexp", Block;
    /// Shared expert down projection.
    SharedExpertDown => "ffn_down_shexp", Block;
    /// Gate scaling the shared expert's output (Qwen2-MoE `shared_expert_gate`).
    SharedExpertRouter => "ffn_gate_inp_shexp", Block;
    /// Multi-token-prediction module parts (DeepSeek-V3 `enorm`, `hnorm`, `eh_proj`, `shared_head`).
    MtpPart => "mtp", Block;
    /// Final norm before the classifier (`model.norm`, `ln_f`, `output_norm`).
    FinalNorm => "output_norm", Head;
    /// Language-model head / output classifier over the vocabulary (`lm_head`, `embed_out`, `output`).
    LmHead => "output", Head;
    /// Task classifier on top of the model (`classifier`, `score`, llama.cpp `cls`).
    Classifier => "cls", Head;
    /// BERT pooler dense layer.
    Pooler => "pooler", Head;
    /// BERT MLM head transform dense layer (`cls.predictions.transform.dense`).
    MlmTransform => "mlm_transform", Head;
    /// BERT MLM head transform norm (`cls.predictions.transform.LayerNorm`).
    MlmNorm => "mlm_norm", Head;
    /// BERT MLM decoder over the vocabulary and its bias (`cls.predictions.decoder`, `cls.predictions.bias`).
    MlmDecoder => "mlm_decoder", Head;
    /// BERT next-sentence-prediction head (`cls.seq_relationship`).
    NspHead => "nsp", Head;
    /// Any tensor of a vision tower or multimodal projector (kept generic).
    VisionTower => "vision", Vision;
    /// Precomputed rotary inverse frequencies (`rotary_emb.inv_freq`, llama.cpp `rope_freqs`).
    RotaryInvFreq => "rope_freqs", Buffer;
    /// Position-id buffer (`embeddings.position_ids`).
    PositionIds => "position_ids", Buffer;
    /// Causal-mask buffers (GPT-2 `attn.bias`/`masked_bias`, NeoX `attention.bias`).
    AttnMaskBuffer => "attn_mask", Buffer;
    /// A small ONNX graph constant (shape, axis, epsilon, mask value): plumbing, not a weight.
    GraphConstant => "graph_const", Buffer;
    /// Role not known.
    Unknown => "unknown", Unknown;
}

impl Role {
    /// Parses the short text of [`Role::as_str`].
    pub fn from_text(s: &str) -> Option<Role> {
        Role::ALL.iter().copied().find(|r| r.as_str() == s)
    }

    /// Whether the role is a linear projection stored as a 2-D matrix `[out, in]`.
    pub fn is_linear(self) -> bool {
        use Role::*;
        matches!(
            self,
            AttnQ
                | AttnK
                | AttnV
                | AttnO
                | AttnQkv
                | AttnQA
                | AttnQB
                | AttnKvA
                | AttnKvB
                | MlpGate
                | MlpUp
                | MlpDown
                | MlpGateUp
                | MoeRouter
                | ExpertGate
                | ExpertUp
                | ExpertDown
                | SharedExpertGate
                | SharedExpertUp
                | SharedExpertDown
                | SharedExpertRouter
                | LmHead
                | Classifier
                | Pooler
                | MlmTransform
                | MlmDecoder
                | NspHead
        )
    }

    /// Whether the role is a normalization (its weight is a gain vector).
    pub fn is_norm(self) -> bool {
        use Role::*;
        matches!(
            self,
            EmbeddingNorm
                | AttnNorm
                | PostAttnNorm
                | AttnQNorm
                | AttnKNorm
                | AttnQANorm
                | AttnKvANorm
                | FfnNorm
                | PostFfnNorm
                | FinalNorm
                | MlmNorm
        )
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Coarse component kind of a role; see [`Component`] for the indexed form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleKind {
    /// Input embeddings and their norm.
    Embeddings,
    /// A transformer block.
    Block,
    /// A routed expert inside a block.
    Expert,
    /// Final norm and heads.
    Head,
    /// Vision tower or multimodal projector.
    Vision,
    /// Non-trained buffers.
    Buffer,
    /// Unknown.
    Unknown,
}

/// The part of the model a tensor belongs to, with indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Component {
    /// Input embeddings.
    Embeddings,
    /// Transformer block `N`.
    Block(u32),
    /// Expert `expert` (or all experts stacked, `None`) of block `block`.
    Expert {
        /// Block index.
        block: u32,
        /// Expert index; `None` for a tensor stacking all experts.
        expert: Option<u32>,
    },
    /// Final norm and heads.
    Head,
    /// Vision tower.
    Vision,
    /// Buffers (rotary frequencies, position ids, masks), possibly per block.
    Buffer,
    /// Unknown part.
    Unknown,
}

/// Which parameter of a module a tensor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Param {
    /// `weight` (also `gamma`, `scale`, `layer_norm_weight`).
    Weight,
    /// `bias` (also `beta`).
    Bias,
    /// A buffer with no parameter suffix (`inv_freq`, `position_ids`).
    Buffer,
}

impl Param {
    /// Short text: `weight`, `bias` or `buffer`.
    pub fn as_str(self) -> &'static str {
        match self {
            Param::Weight => "weight",
            Param::Bias => "bias",
            Param::Buffer => "buffer",
        }
    }
}

/// A tensor's canonical identity: role, block, expert and parameter.
///
/// Text form: `[blk.N.][exp.E.]<role>.<param>`, e.g. `token_embd.weight`,
/// `blk.3.attn_q.bias`, `blk.3.exp.5.ffn_up_exps.weight`, `blk.3.ffn_up_exps.weight` (all experts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CanonicalName {
    /// Block (layer) index, for per-block tensors.
    pub block: Option<u32>,
    /// Expert index, for per-expert tensors.
    pub expert: Option<u32>,
    /// The role.
    pub role: Role,
    /// Weight, bias or buffer.
    pub param: Param,
}

impl CanonicalName {
    /// A canonical name without block or expert.
    pub fn global(role: Role, param: Param) -> Self {
        CanonicalName {
            block: None,
            expert: None,
            role,
            param,
        }
    }

    /// A per-block canonical name.
    pub fn block(block: u32, role: Role, param: Param) -> Self {
        CanonicalName {
            block: Some(block),
            expert: None,
            role,
            param,
        }
    }

    /// The unknown role (weight param).
    pub fn unknown() -> Self {
        CanonicalName::global(Role::Unknown, Param::Weight)
    }

    /// The component this tensor belongs to.
    pub fn component(&self) -> Component {
        match (self.role.kind(), self.block) {
            (RoleKind::Expert, Some(block)) => Component::Expert {
                block,
                expert: self.expert,
            },
            (RoleKind::Block, Some(b)) => Component::Block(b),
            (RoleKind::Block | RoleKind::Expert, None) => Component::Unknown,
            (RoleKind::Embeddings, _) => Component::Embeddings,
            (RoleKind::Head, _) => Component::Head,
            (RoleKind::Vision, _) => Component::Vision,
            (RoleKind::Buffer, _) => Component::Buffer,
            (RoleKind::Unknown, _) => Component::Unknown,
        }
    }
}

impl fmt::Display for CanonicalName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(b) = self.block {
            write!(f, "blk.{b}.")?;
        }
        if let Some(e) = self.expert {
            write!(f, "exp.{e}.")?;
        }
        write!(f, "{}.{}", self.role.as_str(), self.param.as_str())
    }
}

/// Returned by `CanonicalName::from_str` when the text is not a canonical name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a canonical tensor name ({reason})")]
pub struct ParseCanonicalNameError {
    text: String,
    reason: &'static str,
}

impl FromStr for CanonicalName {
    type Err = ParseCanonicalNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| ParseCanonicalNameError {
            text: s.to_string(),
            reason,
        };
        let mut parts: Vec<&str> = s.split('.').collect();
        let param = match parts.pop() {
            Some("weight") => Param::Weight,
            Some("bias") => Param::Bias,
            Some("buffer") => Param::Buffer,
            _ => return Err(err("missing weight/bias/buffer suffix")),
        };
        let mut block = None;
        let mut expert = None;
        let mut rest = parts.as_slice();
        if let ["blk", n, tail @ ..] = rest {
            block = Some(n.parse().map_err(|_| err("bad block index"))?);
            rest = tail;
        }
        if let ["exp", e, tail @ ..] = rest {
            expert = Some(e.parse().map_err(|_| err("bad expert index"))?);
            rest = tail;
        }
        let [role] = rest else {
            return Err(err("expected one role"));
        };
        let role = Role::from_text(role).ok_or_else(|| err("unknown role"))?;
        Ok(CanonicalName {
            block,
            expert,
            role,
            param,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_texts_are_unique_and_round_trip() {
        let mut seen = std::collections::BTreeSet::new();
        for r in Role::ALL {
            assert!(
                seen.insert(r.as_str()),
                "duplicate role text {}",
                r.as_str()
            );
            assert_eq!(Role::from_text(r.as_str()), Some(*r));
        }
    }

    #[test]
    fn canonical_name_text_round_trips() {
        let names = [
            CanonicalName::global(Role::TokenEmbedding, Param::Weight),
            CanonicalName::block(3, Role::AttnQ, Param::Bias),
            CanonicalName {
                block: Some(7),
                expert: Some(5),
                role: Role::ExpertUp,
                param: Param::Weight,
            },
            CanonicalName::block(0, Role::RotaryInvFreq, Param::Buffer),
        ];
        let texts = [
            "token_embd.weight",
            "blk.3.attn_q.bias",
            "blk.7.exp.5.ffn_up_exps.weight",
            "blk.0.rope_freqs.buffer",
        ];
        for (n, t) in names.iter().zip(texts) {
            assert_eq!(n.to_string(), t);
            assert_eq!(t.parse::<CanonicalName>().as_ref(), Ok(n));
        }
        assert!("blk.x.attn_q.weight".parse::<CanonicalName>().is_err());
        assert!("blk.1.attn_zz.weight".parse::<CanonicalName>().is_err());
        assert!("attn_q".parse::<CanonicalName>().is_err());
    }

    #[test]
    fn components() {
        let e = CanonicalName {
            block: Some(2),
            expert: Some(1),
            role: Role::ExpertDown,
            param: Param::Weight,
        };
        assert_eq!(
            e.component(),
            Component::Expert {
                block: 2,
                expert: Some(1)
            }
        );
        assert_eq!(
            CanonicalName::block(4, Role::FfnNorm, Param::Weight).component(),
            Component::Block(4)
        );
        assert_eq!(
            CanonicalName::global(Role::LmHead, Param::Weight).component(),
            Component::Head
        );
    }
}
