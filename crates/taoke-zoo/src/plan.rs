//! Recipe planning: the list of models of each profile, with their recipes and parents, as pure
//! data. The manifest's lineage graph and pair labels are computed from a plan alone, without
//! training (so the full profile's counts are checkable in a test in milliseconds).

use crate::corpus::Corpus;
use crate::weights::{Arch, ModelConfig, StDtype};
use serde::{Deserialize, Serialize};

/// Zoo profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// A few models, trained briefly: for unit tests (≤ 60 s).
    Small,
    /// The whole zoo (≥ 60 models): for the accuracy report (≤ 15 min).
    Full,
}

impl Profile {
    /// Name used in paths and the manifest.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Small => "small",
            Profile::Full => "full",
        }
    }

    /// Parses `small` / `full`.
    pub fn parse(s: &str) -> Option<Profile> {
        match s {
            "small" => Some(Profile::Small),
            "full" => Some(Profile::Full),
            _ => None,
        }
    }
}

/// Tensor-name scheme of a renamed copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RenameScheme {
    /// Yi-style: `input_layernorm` → `ln1`, `post_attention_layernorm` → `ln2`.
    Yi,
    /// llama.cpp-style names (`token_embd`, `blk.N.attn_q`, `ffn_gate`, `output_norm`, ...).
    LlamaCpp,
    /// Opaque names (`w.3fa9c1`, a hash of the canonical name): no scheme knows them, and the
    /// file's (sorted) tensor order is shuffled relative to the model's.
    Opaque,
    /// Misleading GPT-2-style names on a llama body (`transformer.h.N.attn.c_q`, `mlp.c_fc`, ...).
    Gpt2,
}

/// How a hard-negative twin copies its source's statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TwinKind {
    /// Fresh Gaussian values with each row's mean and standard deviation.
    Stats,
    /// `U·Σ·Vᵀ` with the source's singular values and random orthonormal `U`, `V`.
    Spectrum,
}

/// GGUF tensor type of a GGUF copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GgufType {
    /// float32.
    F32,
    /// float16.
    F16,
    /// GGML Q8_0.
    Q8_0,
    /// GGML Q4_K.
    Q4K,
}

/// How a model is made from its parents (or from nothing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Recipe {
    /// Fresh initialisation from `seed`, trained on `corpus`.
    Root {
        /// Named shape (see [`shape`]).
        shape: String,
        /// Training corpora (uniform mixture).
        corpus: Vec<Corpus>,
        /// Steps.
        steps: usize,
        /// Peak learning rate.
        lr: f64,
    },
    /// Fresh student of `shape` trained on the teacher's next-token distributions. Not a weight
    /// descendant: independent under the null.
    Distill {
        /// Named shape of the student.
        shape: String,
        /// Teacher model id.
        teacher: String,
        /// Corpora the teacher is queried on.
        corpus: Vec<Corpus>,
        /// Steps.
        steps: usize,
        /// Peak learning rate.
        lr: f64,
    },
    /// Hard negative: a model with the statistics (or singular values) of `of` and fresh random
    /// weights. No weight descends from `of`: independent under the null, like a distilled
    /// student.
    Twin {
        /// Statistics copied.
        twin: TwinKind,
        /// The model whose statistics are copied.
        of: String,
    },
    /// Full fine-tune.
    FineTune {
        /// Corpora.
        corpus: Vec<Corpus>,
        /// Steps.
        steps: usize,
        /// Peak learning rate.
        lr: f64,
    },
    /// LoRA fine-tune, merged into the weights.
    Lora {
        /// Corpora.
        corpus: Vec<Corpus>,
        /// Adapter rank.
        rank: usize,
        /// LoRA alpha.
        alpha: f64,
        /// Steps.
        steps: usize,
        /// Peak learning rate.
        lr: f64,
    },
    /// Long continued pre-training at a high learning rate.
    ContinuedPretraining {
        /// Corpora.
        corpus: Vec<Corpus>,
        /// Steps.
        steps: usize,
        /// Peak learning rate.
        lr: f64,
    },
    /// Blocks dropped (kept: `keep`), then healed by training.
    PruneDepth {
        /// Blocks kept, in order.
        keep: Vec<usize>,
        /// Healing corpora.
        corpus: Vec<Corpus>,
        /// Healing steps.
        steps: usize,
        /// Peak learning rate.
        lr: f64,
    },
    /// MLP neurons and attention head groups removed, then healed.
    PruneWidth {
        /// MLP neurons kept per block.
        keep_neurons: usize,
        /// Key/value head groups dropped per block.
        drop_kv_groups: usize,
        /// Healing corpora.
        corpus: Vec<Corpus>,
        /// Healing steps.
        steps: usize,
        /// Peak learning rate.
        lr: f64,
    },
    /// Blocks duplicated (new block i = old block `layers[i]`), then trained.
    UpscaleDepth {
        /// Source block of each new block.
        layers: Vec<usize>,
        /// Corpora.
        corpus: Vec<Corpus>,
        /// Steps.
        steps: usize,
        /// Peak learning rate.
        lr: f64,
    },
    /// Each MLP copied into `experts` experts plus a new router, then trained.
    MoeUpcycle {
        /// Experts per layer.
        experts: usize,
        /// Experts routed per token.
        top_k: usize,
        /// Corpora.
        corpus: Vec<Corpus>,
        /// Steps.
        steps: usize,
        /// Peak learning rate.
        lr: f64,
    },
    /// `new_tokens` BPE merges learned on `corpus` appended to the vocabulary, then trained.
    VocabExtend {
        /// New tokens.
        new_tokens: usize,
        /// Corpora.
        corpus: Vec<Corpus>,
        /// Steps.
        steps: usize,
        /// Peak learning rate.
        lr: f64,
    },
    /// Token embedding and classifier copied from the parent, all blocks freshly initialised,
    /// then trained.
    SharedComponents {
        /// Corpora.
        corpus: Vec<Corpus>,
        /// Steps.
        steps: usize,
        /// Peak learning rate.
        lr: f64,
    },
    /// `(1 − t)·a + t·b` of the two parents.
    MergeLinear {
        /// Interpolation weight.
        t: f64,
    },
    /// Per-tensor spherical interpolation of the two parents.
    MergeSlerp {
        /// Interpolation weight.
        t: f64,
    },
    /// TIES merge of parents 2.. relative to parent 1 (the base).
    MergeTies {
        /// Fraction of each task vector kept.
        density: f64,
        /// Scale of the merged task vector.
        lambda: f64,
    },
    /// Residual-stream permutation.
    PermuteResidual,
    /// MLP-neuron permutation per block.
    PermuteMlp,
    /// Attention-head permutation per block.
    PermuteHeads,
    /// Norm gains folded, then a random orthogonal rotation of the residual stream.
    RotateResidual,
    /// Per-neuron MLP scaling (up × c, down ÷ c).
    ScaleMlp,
    /// Norm gains folded into the following matrices (gains = 1).
    FoldNorms,
    /// Norm gains multiplied by random factors, compensated in the following matrices.
    RescaleNorms,
    /// Gaussian noise of std = tensor std / `divisor` on every tensor.
    NoiseWash {
        /// Divisor (700 as in the Llama3-V case).
        divisor: f64,
    },
    /// Stored in another float dtype.
    DtypeRecast {
        /// Storage dtype.
        dtype: StDtype,
    },
    /// Tensors renamed.
    Rename {
        /// Naming scheme.
        scheme: RenameScheme,
    },
    /// Every 2-D tensor stored transposed.
    Transpose,
    /// Sharded safetensors with `model.safetensors.index.json`.
    Shard {
        /// Number of shards.
        shards: usize,
    },
    /// GGUF file (llama.cpp names and Q/K row order).
    Gguf {
        /// Tensor type of the matrices.
        dtype: GgufType,
    },
}

/// How much an edge changes the weights, for the pair labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EdgeClass {
    /// Same tensors, same names, same values: only the container changed.
    Identical,
    /// Output-preserving, or lossy but untrained (dtype, quantization, noise): "same weights".
    SameWeights,
    /// Training or structural change: "related".
    Related,
}

impl Recipe {
    /// The kind name (the serde tag).
    pub fn kind(&self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_string))
            .unwrap_or_default()
    }

    /// Relation kinds an edge of this recipe contributes to a pair label.
    pub fn kinds(&self) -> Vec<&'static str> {
        use Recipe::*;
        match self {
            Root { .. } | Distill { .. } | Twin { .. } => vec![],
            FineTune { .. } => vec!["fine-tune"],
            Lora { .. } => vec!["fine-tune", "low-rank-update"],
            ContinuedPretraining { .. } => vec!["continued-pretraining"],
            PruneDepth { .. } => vec!["pruned-depth"],
            PruneWidth { .. } => vec!["pruned-width"],
            UpscaleDepth { .. } => vec!["depth-upscaled"],
            MoeUpcycle { .. } => vec!["moe-upcycled"],
            VocabExtend { .. } => vec!["vocab-extended"],
            SharedComponents { .. } => vec!["shared-components"],
            MergeLinear { .. } | MergeSlerp { .. } | MergeTies { .. } => vec!["merge"],
            PermuteResidual | PermuteMlp | PermuteHeads => vec!["permuted"],
            RotateResidual => vec!["rotated"],
            ScaleMlp | FoldNorms | RescaleNorms => vec!["rescaled"],
            NoiseWash { .. } => vec!["noise-washed"],
            DtypeRecast { .. } => vec!["dtype-recast"],
            Rename { .. } => vec!["renamed"],
            Transpose => vec!["transposed"],
            Shard { .. } => vec!["format-change"],
            Gguf { dtype } => match dtype {
                GgufType::F32 => vec!["format-change", "renamed"],
                GgufType::F16 => vec!["format-change", "renamed", "dtype-recast"],
                GgufType::Q8_0 | GgufType::Q4K => vec!["format-change", "renamed", "quantized"],
            },
        }
    }

    /// The class of an edge made by this recipe.
    pub fn class(&self) -> EdgeClass {
        use Recipe::*;
        match self {
            Shard { .. } => EdgeClass::Identical,
            PermuteResidual
            | PermuteMlp
            | PermuteHeads
            | RotateResidual
            | ScaleMlp
            | FoldNorms
            | RescaleNorms
            | NoiseWash { .. }
            | DtypeRecast { .. }
            | Rename { .. }
            | Transpose
            | Gguf { .. } => EdgeClass::SameWeights,
            _ => EdgeClass::Related,
        }
    }

    /// Training steps this recipe runs (0 for untrained transforms).
    pub fn steps(&self) -> usize {
        use Recipe::*;
        match self {
            Root { steps, .. }
            | Distill { steps, .. }
            | FineTune { steps, .. }
            | Lora { steps, .. }
            | ContinuedPretraining { steps, .. }
            | PruneDepth { steps, .. }
            | PruneWidth { steps, .. }
            | UpscaleDepth { steps, .. }
            | MoeUpcycle { steps, .. }
            | VocabExtend { steps, .. }
            | SharedComponents { steps, .. } => *steps,
            _ => 0,
        }
    }

    /// Whether the recipe only changes how the parent is stored (same canonical weights up to
    /// rounding), so that its model is written from the parent's canonical weights.
    pub fn is_storage(&self) -> bool {
        matches!(
            self,
            Recipe::DtypeRecast { .. }
                | Recipe::Rename { .. }
                | Recipe::Transpose
                | Recipe::Shard { .. }
                | Recipe::Gguf { .. }
        )
    }
}

/// One planned model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    /// Model id (also its folder name).
    pub id: String,
    /// How it is made.
    pub recipe: Recipe,
    /// Weight parents (empty for roots and distilled students).
    pub parents: Vec<String>,
    /// Seed of everything random in the recipe.
    pub seed: u64,
}

/// Training hyper-parameters shared by a profile.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// Sequences per batch.
    pub batch: usize,
    /// Tokens per sequence.
    pub seq: usize,
    /// Steps of a root.
    pub root_steps: usize,
    /// Steps of a fine-tune / healing run.
    pub ft_steps: usize,
    /// Held-out batches per corpus in the evaluation.
    pub eval_batches: usize,
    /// Characters of training text per corpus.
    pub corpus_chars: usize,
}

/// A profile's plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Profile.
    pub profile: Profile,
    /// Budget.
    pub budget: Budget,
    /// Models in dependency order (parents and teachers first).
    pub specs: Vec<Spec>,
}

/// Base tokenizer vocabulary size.
pub const BASE_VOCAB: usize = 512;

/// The named shapes of the zoo.
pub fn shape(name: &str) -> Option<ModelConfig> {
    let llama = |h: usize, i: usize, l: usize, nh: usize, nkv: usize, tie: bool| ModelConfig {
        arch: Arch::Llama,
        vocab_size: BASE_VOCAB,
        hidden_size: h,
        intermediate_size: i,
        num_layers: l,
        num_heads: nh,
        num_kv_heads: nkv,
        head_dim: h / nh,
        max_pos: 64,
        tie_word_embeddings: tie,
        num_experts: 0,
        experts_per_tok: 0,
    };
    Some(match name {
        "llama-64x4" => llama(64, 256, 4, 4, 2, false),
        "llama-96x4" => llama(96, 256, 4, 6, 3, false),
        "llama-64x2-tied" => llama(64, 192, 2, 4, 4, true),
        "bert-64x4" => ModelConfig {
            arch: Arch::Bert,
            intermediate_size: 256,
            num_kv_heads: 4,
            ..llama(64, 256, 4, 4, 4, true)
        },
        _ => return None,
    })
}

struct Planner {
    specs: Vec<Spec>,
    b: Budget,
    lr: f64,
}

impl Planner {
    fn add(&mut self, id: &str, recipe: Recipe, parents: &[&str], seed: u64) -> String {
        self.specs.push(Spec {
            id: id.to_string(),
            recipe,
            parents: parents.iter().map(|s| s.to_string()).collect(),
            seed,
        });
        id.to_string()
    }
    fn root(&mut self, id: &str, shape: &str, corpus: &[Corpus], seed: u64) -> String {
        let r = Recipe::Root {
            shape: shape.into(),
            corpus: corpus.to_vec(),
            steps: self.b.root_steps,
            lr: self.lr,
        };
        self.add(id, r, &[], seed)
    }
    fn ft(&mut self, id: &str, parent: &str, corpus: &[Corpus], seed: u64) -> String {
        let r = Recipe::FineTune {
            corpus: corpus.to_vec(),
            steps: self.b.ft_steps,
            lr: self.lr / 3.0,
        };
        self.add(id, r, &[parent], seed)
    }
    fn prune_depth(
        &mut self,
        id: &str,
        parent: &str,
        keep: &[usize],
        corpus: &[Corpus],
        seed: u64,
    ) -> String {
        let r = Recipe::PruneDepth {
            keep: keep.to_vec(),
            corpus: corpus.to_vec(),
            steps: self.b.ft_steps,
            lr: self.lr / 3.0,
        };
        self.add(id, r, &[parent], seed)
    }
    fn upscale(
        &mut self,
        id: &str,
        parent: &str,
        layers: &[usize],
        corpus: &[Corpus],
        seed: u64,
    ) -> String {
        let r = Recipe::UpscaleDepth {
            layers: layers.to_vec(),
            corpus: corpus.to_vec(),
            steps: self.b.ft_steps,
            lr: self.lr / 3.0,
        };
        self.add(id, r, &[parent], seed)
    }
    /// A chain of recipes from `src`, each model named `{name}-{suffix}` after the previous one;
    /// returns the last id.
    fn chain(&mut self, src: &str, name: &str, steps: Vec<(&str, Recipe, u64)>) -> String {
        let mut prev = src.to_string();
        let mut id = name.to_string();
        for (suffix, r, seed) in steps {
            id = format!("{id}-{suffix}");
            self.add(&id, r, &[&prev], seed);
            prev = id.clone();
        }
        prev
    }

    /// Combined shells (issue 17): opaque or misleading names × residual permutation or
    /// rotation × unit and head permutation × light fine-tune × dtype, format and quantization
    /// × depth edits, stacked on one path; and hard-negative twins (statistics- and
    /// spectrum-matched, no weights shared) sent through the same disguises.
    fn combined_shells(&mut self) {
        use Recipe::*;
        let ft = |c: Corpus, steps: usize, lr: f64| FineTune {
            corpus: vec![c],
            steps,
            lr,
        };
        let (steps, lr) = (self.b.ft_steps / 2, self.lr / 6.0);
        let opaque = || Rename {
            scheme: RenameScheme::Opaque,
        };
        let gpt2 = || Rename {
            scheme: RenameScheme::Gpt2,
        };
        let bf16 = || DtypeRecast {
            dtype: StDtype::Bf16,
        };
        let q8 = || Gguf {
            dtype: GgufType::Q8_0,
        };
        let q4 = || Gguf {
            dtype: GgufType::Q4K,
        };
        // THE shell on a llama root: light fine-tune, permutations, opaque names, bf16
        let s = self.chain(
            "a4",
            "a4",
            vec![
                ("lft", ft(Stories, steps, lr), 201),
                ("pr", PermuteResidual, 202),
                ("pm", PermuteMlp, 203),
                ("ph", PermuteHeads, 204),
                ("opaque", opaque(), 0),
                ("bf16", bf16(), 0),
            ],
        );
        self.add(&format!("{s}-q8_0"), q8(), &[&s], 0);
        // rotation after a fine-tune, quantized
        self.chain(
            "a5",
            "a5",
            vec![
                ("lft", ft(Arith, steps, lr), 211),
                ("rot", RotateResidual, 212),
                ("opaque", opaque(), 0),
                ("bf16", bf16(), 0),
            ],
        );
        self.add("a5-lft-rot-q4_k", q4(), &["a5-lft-rot"], 0);
        // misleading names on an up-scaled copy, permuted
        self.chain(
            "a2-upscaled",
            "a2-upscaled",
            vec![
                ("pm", PermuteMlp, 221),
                ("pr", PermuteResidual, 222),
                ("gpt2", gpt2(), 0),
                ("bf16", bf16(), 0),
            ],
        );
        // a pruned fine-tune, rotated and renamed
        self.chain(
            "a1-ft-code-pruned",
            "a1-ft-code-pruned",
            vec![
                ("ph", PermuteHeads, 231),
                ("rot", RotateResidual, 232),
                ("opaque", opaque(), 0),
            ],
        );
        // a noise wash over bf16, then permuted and renamed
        self.chain(
            "a7",
            "a7",
            vec![
                ("bf16", bf16(), 0),
                ("noise700", NoiseWash { divisor: 700.0 }, 241),
                ("pr", PermuteResidual, 242),
                ("opaque", opaque(), 0),
            ],
        );
        // tied llama: fine-tune, permutations, misleading names, bf16
        self.chain(
            "t1",
            "t1",
            vec![
                ("lft", ft(Code, steps, lr), 251),
                ("pr", PermuteResidual, 252),
                ("ph", PermuteHeads, 253),
                ("gpt2", gpt2(), 0),
                ("bf16", bf16(), 0),
            ],
        );
        // wider llama: depth up-scaling, fine-tune, permutations, quantized
        let up = UpscaleDepth {
            layers: vec![0, 1, 2, 1, 2, 3],
            corpus: vec![Code],
            steps,
            lr,
        };
        self.chain(
            "w2",
            "w2",
            vec![
                ("up", up, 261),
                ("pm", PermuteMlp, 262),
                ("pr", PermuteResidual, 263),
                ("opaque", opaque(), 0),
            ],
        );
        self.add("w2-up-pm-pr-q8_0", q8(), &["w2-up-pm-pr"], 0);
        // BERT: fine-tune, opaque names, bf16
        self.chain(
            "b2",
            "b2",
            vec![
                ("lft", ft(Stories, steps, lr), 271),
                ("opaque", opaque(), 0),
                ("bf16", bf16(), 0),
            ],
        );
        // hard negatives: twins of a4, a5, w2, t1 and b2 through the same disguises
        for (src, kind, seed) in [
            ("a4", TwinKind::Stats, 281),
            ("a4", TwinKind::Spectrum, 282),
            ("a5", TwinKind::Spectrum, 283),
            ("w2", TwinKind::Stats, 284),
            ("t1", TwinKind::Spectrum, 285),
        ] {
            let k = match kind {
                TwinKind::Stats => "stats",
                TwinKind::Spectrum => "spectrum",
            };
            let id = format!("{src}-twin-{k}");
            self.add(
                &id,
                Twin {
                    twin: kind,
                    of: src.into(),
                },
                &[],
                seed,
            );
            let last = self.chain(
                &id,
                &id,
                vec![
                    ("pr", PermuteResidual, seed + 100),
                    ("pm", PermuteMlp, seed + 200),
                    ("opaque", opaque(), 0),
                    ("bf16", bf16(), 0),
                ],
            );
            let _ = last;
            self.add(&format!("{id}-q8_0"), q8(), &[&id], 0);
        }
        for (kind, seed, k) in [
            (TwinKind::Stats, 291, "stats"),
            (TwinKind::Spectrum, 292, "spectrum"),
        ] {
            let id = format!("b2-twin-{k}");
            self.add(
                &id,
                Twin {
                    twin: kind,
                    of: "b2".into(),
                },
                &[],
                seed,
            );
            self.chain(&id, &id, vec![("opaque", opaque(), 0), ("bf16", bf16(), 0)]);
        }
    }

    /// The output-preserving and storage disguises of one source.
    fn disguises(&mut self, src: &str, with_gguf: bool) {
        use Recipe::*;
        let list: Vec<(&str, Recipe)> = vec![
            ("perm-residual", PermuteResidual),
            ("perm-mlp", PermuteMlp),
            ("perm-heads", PermuteHeads),
            ("rotated", RotateResidual),
            ("scaled-mlp", ScaleMlp),
            ("folded-norms", FoldNorms),
            ("rescaled-norms", RescaleNorms),
            ("noise700", NoiseWash { divisor: 700.0 }),
            (
                "bf16",
                DtypeRecast {
                    dtype: StDtype::Bf16,
                },
            ),
            (
                "f16",
                DtypeRecast {
                    dtype: StDtype::F16,
                },
            ),
            (
                "renamed-yi",
                Rename {
                    scheme: RenameScheme::Yi,
                },
            ),
            (
                "renamed-llamacpp",
                Rename {
                    scheme: RenameScheme::LlamaCpp,
                },
            ),
            ("transposed", Transpose),
            ("sharded", Shard { shards: 3 }),
        ];
        for (i, (suffix, r)) in list.into_iter().enumerate() {
            self.add(&format!("{src}-{suffix}"), r, &[src], 1000 + i as u64);
        }
        if with_gguf {
            for (suffix, t) in [
                ("gguf-f32", GgufType::F32),
                ("gguf-f16", GgufType::F16),
                ("gguf-q8_0", GgufType::Q8_0),
                ("gguf-q4_k", GgufType::Q4K),
            ] {
                self.add(&format!("{src}-{suffix}"), Gguf { dtype: t }, &[src], 0);
            }
        }
    }
}

use Corpus::{Arith, Code, Logs, Stories};

/// The plan of a profile.
pub fn plan(profile: Profile) -> Plan {
    let b = match profile {
        Profile::Small => Budget {
            batch: 8,
            seq: 64,
            root_steps: 120,
            ft_steps: 50,
            eval_batches: 2,
            corpus_chars: 120_000,
        },
        Profile::Full => Budget {
            batch: 8,
            seq: 64,
            root_steps: 240,
            ft_steps: 100,
            eval_batches: 4,
            corpus_chars: 400_000,
        },
    };
    let mut p = Planner {
        specs: Vec::new(),
        b,
        lr: 4e-3,
    };
    let main = "llama-64x4";
    match profile {
        Profile::Small => {
            p.root("a1", main, &[Stories], 1);
            p.root("a2", main, &[Stories], 2);
            p.root("a4", main, &[Code], 4);
            p.ft("a1-ft-code", "a1", &[Code], 101);
            p.prune_depth("a1-pruned-depth", "a1", &[0, 1, 3], &[Stories], 102);
            p.upscale("a2-upscaled", "a2", &[0, 1, 2, 1, 2, 3], &[Stories], 103);
            p.disguises("a1", true);
            p.root("b1", "bert-64x4", &[Stories], 31);
        }
        Profile::Full => {
            let roots: [(&str, &[Corpus], u64); 8] = [
                ("a1", &[Stories], 1),
                ("a2", &[Stories], 2),
                ("a3", &[Stories], 3),
                ("a4", &[Code], 4),
                ("a5", &[Code], 5),
                ("a6", &[Arith], 6),
                ("a7", &[Stories, Code], 7),
                ("a8", &[Stories, Code, Arith], 8),
            ];
            for (id, c, s) in roots {
                p.root(id, main, c, s);
            }
            p.root("w1", "llama-96x4", &[Stories], 11);
            p.root("w2", "llama-96x4", &[Code], 12);
            p.root("t1", "llama-64x2-tied", &[Stories], 21);
            p.root("t2", "llama-64x2-tied", &[Code], 22);
            p.root("b1", "bert-64x4", &[Stories], 31);
            p.root("b2", "bert-64x4", &[Code], 32);
            p.root("b3", "bert-64x4", &[Stories, Code, Arith], 33);
            let steps = b.root_steps;
            p.add(
                "d1-from-a1",
                Recipe::Distill {
                    shape: main.into(),
                    teacher: "a1".into(),
                    corpus: vec![Stories],
                    steps,
                    lr: p.lr,
                },
                &[],
                41,
            );
            p.add(
                "d2-from-a4",
                Recipe::Distill {
                    shape: main.into(),
                    teacher: "a4".into(),
                    corpus: vec![Code],
                    steps,
                    lr: p.lr,
                },
                &[],
                42,
            );
            // fine-tunes and merges of a1
            p.ft("a1-ft-code", "a1", &[Code], 101);
            p.ft("a1-ft-arith", "a1", &[Arith], 102);
            p.add(
                "a1-merge-linear",
                Recipe::MergeLinear { t: 0.5 },
                &["a1-ft-code", "a1-ft-arith"],
                0,
            );
            p.add(
                "a1-merge-slerp",
                Recipe::MergeSlerp { t: 0.5 },
                &["a1-ft-code", "a1-ft-arith"],
                0,
            );
            p.add(
                "a1-merge-ties",
                Recipe::MergeTies {
                    density: 0.3,
                    lambda: 1.0,
                },
                &["a1", "a1-ft-code", "a1-ft-arith"],
                0,
            );
            let ft = b.ft_steps;
            let lr = p.lr;
            p.add(
                "a2-lora-code",
                Recipe::Lora {
                    corpus: vec![Code],
                    rank: 4,
                    alpha: 8.0,
                    steps: ft,
                    lr: lr / 2.0,
                },
                &["a2"],
                103,
            );
            p.add(
                "a3-cpt",
                Recipe::ContinuedPretraining {
                    corpus: vec![Stories, Code, Arith],
                    steps: 2 * ft,
                    lr: 2.0 * lr,
                },
                &["a3"],
                104,
            );
            p.ft("a4-ft-stories", "a4", &[Stories], 105);
            p.prune_depth("a1-pruned-depth", "a1", &[0, 1, 3], &[Stories], 106);
            p.add(
                "a5-pruned-width",
                Recipe::PruneWidth {
                    keep_neurons: 128,
                    drop_kv_groups: 1,
                    corpus: vec![Code],
                    steps: ft,
                    lr: lr / 3.0,
                },
                &["a5"],
                107,
            );
            p.upscale("a2-upscaled", "a2", &[0, 1, 2, 1, 2, 3], &[Stories], 108);
            p.add(
                "a3-moe",
                Recipe::MoeUpcycle {
                    experts: 4,
                    top_k: 2,
                    corpus: vec![Stories],
                    steps: ft,
                    lr: lr / 3.0,
                },
                &["a3"],
                109,
            );
            p.add(
                "a6-vocab-ext",
                Recipe::VocabExtend {
                    new_tokens: 64,
                    corpus: vec![Logs, Arith],
                    steps: ft,
                    lr: lr / 2.0,
                },
                &["a6"],
                110,
            );
            p.add(
                "a7-shared-emb",
                Recipe::SharedComponents {
                    corpus: vec![Code],
                    steps: b.root_steps,
                    lr,
                },
                &["a7"],
                111,
            );
            p.ft("w1-ft-code", "w1", &[Code], 112);
            p.ft("t1-ft-code", "t1", &[Code], 113);
            p.ft("b1-ft-code", "b1", &[Code], 114);
            // chains of two or three steps
            p.prune_depth("a1-ft-code-pruned", "a1-ft-code", &[0, 2, 3], &[Code], 120);
            p.add(
                "a1-ft-code-pruned-gguf-q4_k",
                Recipe::Gguf {
                    dtype: GgufType::Q4K,
                },
                &["a1-ft-code-pruned"],
                0,
            );
            p.add(
                "a4-ft-stories-rotated",
                Recipe::RotateResidual,
                &["a4-ft-stories"],
                121,
            );
            p.add(
                "a2-lora-code-noise700",
                Recipe::NoiseWash { divisor: 700.0 },
                &["a2-lora-code"],
                122,
            );
            p.add(
                "a2-upscaled-bf16",
                Recipe::DtypeRecast {
                    dtype: StDtype::Bf16,
                },
                &["a2-upscaled"],
                0,
            );
            p.add("a3-moe-perm-mlp", Recipe::PermuteMlp, &["a3-moe"], 123);
            p.add(
                "a1-merge-ties-f16",
                Recipe::DtypeRecast {
                    dtype: StDtype::F16,
                },
                &["a1-merge-ties"],
                0,
            );
            p.add("a5-perm-residual", Recipe::PermuteResidual, &["a5"], 124);
            p.add(
                "a5-perm-residual-renamed-yi",
                Recipe::Rename {
                    scheme: RenameScheme::Yi,
                },
                &["a5-perm-residual"],
                0,
            );
            p.add("a6-rotated", Recipe::RotateResidual, &["a6"], 125);
            p.add(
                "a6-rotated-gguf-q8_0",
                Recipe::Gguf {
                    dtype: GgufType::Q8_0,
                },
                &["a6-rotated"],
                0,
            );
            // more disguises of other roots
            p.disguises("a1", true);
            p.add(
                "a3-gguf-q8_0",
                Recipe::Gguf {
                    dtype: GgufType::Q8_0,
                },
                &["a3"],
                0,
            );
            p.add(
                "a4-noise700",
                Recipe::NoiseWash { divisor: 700.0 },
                &["a4"],
                126,
            );
            p.add(
                "a8-bf16",
                Recipe::DtypeRecast {
                    dtype: StDtype::Bf16,
                },
                &["a8"],
                0,
            );
            p.add("a8-perm-heads", Recipe::PermuteHeads, &["a8"], 127);
            p.add("w2-perm-mlp", Recipe::PermuteMlp, &["w2"], 128);
            p.add(
                "t1-noise700",
                Recipe::NoiseWash { divisor: 700.0 },
                &["t1"],
                129,
            );
            p.add(
                "b2-bf16",
                Recipe::DtypeRecast {
                    dtype: StDtype::Bf16,
                },
                &["b2"],
                0,
            );
            p.add(
                "d1-from-a1-bf16",
                Recipe::DtypeRecast {
                    dtype: StDtype::Bf16,
                },
                &["d1-from-a1"],
                0,
            );
            p.combined_shells();
        }
    }
    Plan {
        profile,
        budget: b,
        specs: p.specs,
    }
}
