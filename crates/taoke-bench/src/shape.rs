//! Model shapes of the benchmark checkpoints (real published shapes) and their tensor lists.

/// The dimensions of a Llama-family decoder (optionally with mixture-of-experts MLPs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// Short name used on the command line and in cache paths (`1b`, `7b`, `8b`, `13b`, `moe`).
    pub name: &'static str,
    /// The published model whose dimensions these are.
    pub like: &'static str,
    /// Decoder blocks.
    pub blocks: usize,
    /// Residual width.
    pub hidden: usize,
    /// MLP width (per expert for MoE).
    pub mlp: usize,
    /// Attention heads.
    pub heads: usize,
    /// Key/value heads (GQA when fewer than `heads`).
    pub kv_heads: usize,
    /// Vocabulary size.
    pub vocab: usize,
    /// Experts per block (0 = dense MLP).
    pub experts: usize,
    /// Whether the classifier is the token embedding (`tie_word_embeddings`: no `lm_head`).
    pub tied: bool,
}

/// Every shape the generator knows.
pub const SHAPES: &[Shape] = &[
    Shape {
        name: "22m",
        like: "all-MiniLM-L6-v2's dimensions in Llama layout (6 blocks, 384 wide, MLP 1536, 12 heads, vocab 30522, tied embeddings: 25.9 M parameters; MiniLM's BERT layout has 22.7 M)",
        blocks: 6,
        hidden: 384,
        mlp: 1536,
        heads: 12,
        kv_heads: 12,
        vocab: 30522,
        experts: 0,
        tied: true,
    },
    Shape {
        name: "135m",
        like: "SmolLM2-135M (30 blocks, 576 wide, MLP 1536, 9 heads / 3 KV heads, vocab 49152, tied embeddings)",
        blocks: 30,
        hidden: 576,
        mlp: 1536,
        heads: 9,
        kv_heads: 3,
        vocab: 49152,
        experts: 0,
        tied: true,
    },
    Shape {
        name: "360m",
        like: "SmolLM2-360M (32 blocks, 960 wide, MLP 2560, 15 heads / 5 KV heads, vocab 49152, tied embeddings)",
        blocks: 32,
        hidden: 960,
        mlp: 2560,
        heads: 15,
        kv_heads: 5,
        vocab: 49152,
        experts: 0,
        tied: true,
    },
    Shape {
        name: "0.5b",
        like: "Qwen2.5-0.5B without its q/k/v biases (24 blocks, 896 wide, MLP 4864, 14 heads / 2 KV heads, vocab 151936, tied embeddings)",
        blocks: 24,
        hidden: 896,
        mlp: 4864,
        heads: 14,
        kv_heads: 2,
        vocab: 151936,
        experts: 0,
        tied: true,
    },
    Shape {
        name: "1b",
        like: "TinyLlama-1.1B (22 blocks, 2048 wide, MLP 5632, 32 heads / 4 KV heads, vocab 32000)",
        blocks: 22,
        hidden: 2048,
        mlp: 5632,
        heads: 32,
        kv_heads: 4,
        vocab: 32000,
        experts: 0,
        tied: false,
    },
    Shape {
        name: "7b",
        like: "Llama-2-7B (32 blocks, 4096 wide, MLP 11008, 32 heads MHA, vocab 32000)",
        blocks: 32,
        hidden: 4096,
        mlp: 11008,
        heads: 32,
        kv_heads: 32,
        vocab: 32000,
        experts: 0,
        tied: false,
    },
    Shape {
        name: "8b",
        like: "Llama-3-8B (32 blocks, 4096 wide, MLP 14336, 32 heads / 8 KV heads, vocab 128256)",
        blocks: 32,
        hidden: 4096,
        mlp: 14336,
        heads: 32,
        kv_heads: 8,
        vocab: 128256,
        experts: 0,
        tied: false,
    },
    Shape {
        name: "13b",
        like: "Llama-2-13B (40 blocks, 5120 wide, MLP 13824, 40 heads MHA, vocab 32000)",
        blocks: 40,
        hidden: 5120,
        mlp: 13824,
        heads: 40,
        kv_heads: 40,
        vocab: 32000,
        experts: 0,
        tied: false,
    },
    Shape {
        name: "moe",
        like: "Mixtral-like, scaled down (16 blocks, 2048 wide, 8 experts of MLP 5632, 32 heads / 8 KV heads, vocab 32000)",
        blocks: 16,
        hidden: 2048,
        mlp: 5632,
        heads: 32,
        kv_heads: 8,
        vocab: 32000,
        experts: 8,
        tied: false,
    },
];

/// The shape called `name`.
pub fn by_name(name: &str) -> Option<&'static Shape> {
    SHAPES.iter().find(|s| s.name == name)
}

/// What a tensor is, for generation and for the derived transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Token embedding.
    Embed,
    /// Attention query.
    Q,
    /// Attention key.
    K,
    /// Attention value.
    V,
    /// Attention output.
    O,
    /// MLP gate (or expert w1).
    Gate,
    /// MLP up (or expert w3).
    Up,
    /// MLP down (or expert w2).
    Down,
    /// MoE router.
    Router,
    /// RMSNorm gain before attention.
    AttnNorm,
    /// RMSNorm gain before the MLP.
    FfnNorm,
    /// Final RMSNorm gain.
    FinalNorm,
    /// Output classifier.
    LmHead,
}

/// One tensor of a shape, in Hugging Face order.
#[derive(Debug, Clone)]
pub struct TensorSpec {
    /// Position in the list (also the RNG stream id).
    pub id: u64,
    /// Hugging Face name.
    pub name: String,
    /// What it is.
    pub kind: Kind,
    /// Block index, for block tensors.
    pub block: Option<usize>,
    /// Expert index, for expert tensors.
    pub expert: Option<usize>,
    /// Rows (1 for vectors).
    pub rows: usize,
    /// Columns (row length).
    pub cols: usize,
    /// Whether the tensor is a 1-D vector.
    pub vector: bool,
}

impl TensorSpec {
    /// Elements.
    pub fn len(&self) -> usize {
        self.rows * self.cols
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Row-major shape as stored in safetensors.
    pub fn shape(&self) -> Vec<u64> {
        if self.vector {
            vec![self.cols as u64]
        } else {
            vec![self.rows as u64, self.cols as u64]
        }
    }

    /// The llama.cpp name of this tensor.
    pub fn gguf_name(&self) -> String {
        let b = self.block.unwrap_or(0);
        match (self.kind, self.expert) {
            (Kind::Embed, _) => "token_embd.weight".into(),
            (Kind::FinalNorm, _) => "output_norm.weight".into(),
            (Kind::LmHead, _) => "output.weight".into(),
            (Kind::AttnNorm, _) => format!("blk.{b}.attn_norm.weight"),
            (Kind::FfnNorm, _) => format!("blk.{b}.ffn_norm.weight"),
            (Kind::Q, _) => format!("blk.{b}.attn_q.weight"),
            (Kind::K, _) => format!("blk.{b}.attn_k.weight"),
            (Kind::V, _) => format!("blk.{b}.attn_v.weight"),
            (Kind::O, _) => format!("blk.{b}.attn_output.weight"),
            (Kind::Router, _) => format!("blk.{b}.ffn_gate_inp.weight"),
            (Kind::Gate, None) => format!("blk.{b}.ffn_gate.weight"),
            (Kind::Up, None) => format!("blk.{b}.ffn_up.weight"),
            (Kind::Down, None) => format!("blk.{b}.ffn_down.weight"),
            (Kind::Gate, Some(e)) => format!("blk.{b}.ffn_gate.{e}.weight"),
            (Kind::Up, Some(e)) => format!("blk.{b}.ffn_up.{e}.weight"),
            (Kind::Down, Some(e)) => format!("blk.{b}.ffn_down.{e}.weight"),
        }
    }

    /// The standard deviation of the base weights (trained-Llama-like magnitudes: about 0.02
    /// for most matrices, growing slowly with depth; norm gains around 0.4).
    pub fn std(&self) -> f32 {
        let depth = self.block.map_or(0.0, |b| b as f32 / 64.0);
        match self.kind {
            Kind::Embed | Kind::LmHead => 0.02,
            Kind::Q | Kind::K => 0.028 * (1.0 + depth),
            Kind::V | Kind::O => 0.012 * (1.0 + depth),
            Kind::Gate | Kind::Up => 0.02,
            Kind::Down => 0.014,
            Kind::Router => 0.03,
            Kind::AttnNorm | Kind::FfnNorm | Kind::FinalNorm => 0.08,
        }
    }

    /// Mean of the base weights (norm gains are centred away from zero).
    pub fn mean(&self) -> f32 {
        match self.kind {
            Kind::AttnNorm => 0.35 + self.block.unwrap_or(0) as f32 * 0.01,
            Kind::FfnNorm => 0.45,
            Kind::FinalNorm => 1.8,
            _ => 0.0,
        }
    }
}

impl Shape {
    /// Head dimension.
    pub fn head_dim(&self) -> usize {
        self.hidden / self.heads
    }

    /// The tensors, in Hugging Face order (embedding, blocks, final norm, classifier).
    pub fn tensors(&self) -> Vec<TensorSpec> {
        let mut out = Vec::new();
        let mut push = |name: String,
                        kind: Kind,
                        block: Option<usize>,
                        expert: Option<usize>,
                        rows: usize,
                        cols: usize,
                        vector: bool| {
            let id = out.len() as u64;
            out.push(TensorSpec {
                id,
                name,
                kind,
                block,
                expert,
                rows,
                cols,
                vector,
            });
        };
        let (h, m, kv) = (self.hidden, self.mlp, self.kv_heads * self.head_dim());
        push(
            "model.embed_tokens.weight".into(),
            Kind::Embed,
            None,
            None,
            self.vocab,
            h,
            false,
        );
        for b in 0..self.blocks {
            let p = format!("model.layers.{b}.");
            let bl = Some(b);
            push(
                format!("{p}input_layernorm.weight"),
                Kind::AttnNorm,
                bl,
                None,
                1,
                h,
                true,
            );
            push(
                format!("{p}self_attn.q_proj.weight"),
                Kind::Q,
                bl,
                None,
                h,
                h,
                false,
            );
            push(
                format!("{p}self_attn.k_proj.weight"),
                Kind::K,
                bl,
                None,
                kv,
                h,
                false,
            );
            push(
                format!("{p}self_attn.v_proj.weight"),
                Kind::V,
                bl,
                None,
                kv,
                h,
                false,
            );
            push(
                format!("{p}self_attn.o_proj.weight"),
                Kind::O,
                bl,
                None,
                h,
                h,
                false,
            );
            push(
                format!("{p}post_attention_layernorm.weight"),
                Kind::FfnNorm,
                bl,
                None,
                1,
                h,
                true,
            );
            if self.experts == 0 {
                push(
                    format!("{p}mlp.gate_proj.weight"),
                    Kind::Gate,
                    bl,
                    None,
                    m,
                    h,
                    false,
                );
                push(
                    format!("{p}mlp.up_proj.weight"),
                    Kind::Up,
                    bl,
                    None,
                    m,
                    h,
                    false,
                );
                push(
                    format!("{p}mlp.down_proj.weight"),
                    Kind::Down,
                    bl,
                    None,
                    h,
                    m,
                    false,
                );
            } else {
                push(
                    format!("{p}block_sparse_moe.gate.weight"),
                    Kind::Router,
                    bl,
                    None,
                    self.experts,
                    h,
                    false,
                );
                for e in 0..self.experts {
                    let q = format!("{p}block_sparse_moe.experts.{e}.");
                    let ex = Some(e);
                    push(format!("{q}w1.weight"), Kind::Gate, bl, ex, m, h, false);
                    push(format!("{q}w2.weight"), Kind::Down, bl, ex, h, m, false);
                    push(format!("{q}w3.weight"), Kind::Up, bl, ex, m, h, false);
                }
            }
        }
        push(
            "model.norm.weight".into(),
            Kind::FinalNorm,
            None,
            None,
            1,
            h,
            true,
        );
        if !self.tied {
            push(
                "lm_head.weight".into(),
                Kind::LmHead,
                None,
                None,
                self.vocab,
                h,
                false,
            );
        }
        out
    }

    /// Parameters.
    pub fn parameters(&self) -> u64 {
        self.tensors().iter().map(|t| t.len() as u64).sum()
    }

    /// The Hugging Face `config.json` of this shape.
    pub fn config_json(&self) -> serde_json::Value {
        let mut c = serde_json::json!({
            "architectures": [if self.experts > 0 { "MixtralForCausalLM" } else { "LlamaForCausalLM" }],
            "model_type": if self.experts > 0 { "mixtral" } else { "llama" },
            "hidden_size": self.hidden,
            "intermediate_size": self.mlp,
            "num_hidden_layers": self.blocks,
            "num_attention_heads": self.heads,
            "num_key_value_heads": self.kv_heads,
            "vocab_size": self.vocab,
            "max_position_embeddings": 4096,
            "rms_norm_eps": 1e-5,
            "rope_theta": 10000.0,
            "hidden_act": "silu",
            "tie_word_embeddings": self.tied,
            "torch_dtype": "bfloat16",
            "bos_token_id": 1,
            "eos_token_id": 2,
        });
        if self.experts > 0 {
            c["num_local_experts"] = self.experts.into();
            c["num_experts_per_tok"] = 2.into();
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_counts_match_the_published_models() {
        // Llama-2-7B has 6,738,415,616 parameters; Llama-2-13B 13,015,864,320;
        // Llama-3-8B 8,030,261,248; TinyLlama-1.1B 1,100,048,384.
        assert_eq!(by_name("7b").unwrap().parameters(), 6_738_415_616);
        assert_eq!(by_name("13b").unwrap().parameters(), 13_015_864_320);
        assert_eq!(by_name("8b").unwrap().parameters(), 8_030_261_248);
        assert_eq!(by_name("1b").unwrap().parameters(), 1_100_048_384);
        // SmolLM2-135M has 134,515,008 and SmolLM2-360M 361,821,120 (tied embeddings);
        // Qwen2.5-0.5B 494,032,768 of which 27,648 are q/k/v biases (not generated here).
        assert_eq!(by_name("135m").unwrap().parameters(), 134_515_008);
        assert_eq!(by_name("360m").unwrap().parameters(), 361_821_120);
        assert_eq!(by_name("0.5b").unwrap().parameters(), 494_032_768 - 27_648);
    }
}
