//! The comparison result: verdict, kinds, direction, p-value, evidence and components.
//!
//! # JSON format (`schema_version` 1)
//! `a`, `b` (path, format, architecture, parameters), `verdict` (`identical`, `same-weights`,
//! `related`, `independent`, `inconclusive`), `kinds` (list), `direction` (`a-from-b`,
//! `b-from-a`, `common-ancestor`, `unknown`), `p_value` (combined p-value of independence, or
//! null; may underflow to 0 — `log10_p_value` keeps the exponent), `evidence` (list of
//! {test, scope, statistic, p_value, log10_p_value, summary}), `components` (list of
//! {a, b, verdict, p_value}), `layer_map`, `tokenizer`, `decisive` (the evidence in words),
//! `caveats`.

use serde::Serialize;

/// The verdict of a comparison.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The same bytes (same format, same tensors, same values, same names).
    Identical,
    /// The same weights up to lossless or untrained transforms (format, dtype, quantization,
    /// renames, transposition, permutations, rotations, rescaling, added noise).
    SameWeights,
    /// The two share a weight ancestor (p-value of independence below α).
    Related,
    /// No shared weights found by tests that had the power to find them.
    Independent,
    /// Neither: evidence in the middle band or too little comparable structure.
    Inconclusive,
}

impl Verdict {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Identical => "identical",
            Verdict::SameWeights => "same-weights",
            Verdict::Related => "related",
            Verdict::Independent => "independent",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// How one model derives from the other.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
#[allow(missing_docs)]
pub enum Kind {
    FormatChange,
    DtypeRecast,
    Quantized,
    Renamed,
    Transposed,
    Permuted,
    Rotated,
    Rescaled,
    FineTune,
    LowRankUpdate,
    ContinuedPretraining,
    NoiseWashed,
    PrunedDepth,
    PrunedWidth,
    DepthUpscaled,
    MoeUpcycled,
    Merge,
    VocabExtended,
    SharedComponents,
}

impl Kind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::FormatChange => "format-change",
            Kind::DtypeRecast => "dtype-recast",
            Kind::Quantized => "quantized",
            Kind::Renamed => "renamed",
            Kind::Transposed => "transposed",
            Kind::Permuted => "permuted",
            Kind::Rotated => "rotated",
            Kind::Rescaled => "rescaled",
            Kind::FineTune => "fine-tune",
            Kind::LowRankUpdate => "low-rank-update",
            Kind::ContinuedPretraining => "continued-pretraining",
            Kind::NoiseWashed => "noise-washed",
            Kind::PrunedDepth => "pruned-depth",
            Kind::PrunedWidth => "pruned-width",
            Kind::DepthUpscaled => "depth-upscaled",
            Kind::MoeUpcycled => "moe-upcycled",
            Kind::Merge => "merge",
            Kind::VocabExtended => "vocab-extended",
            Kind::SharedComponents => "shared-components",
        }
    }

    /// Parses a wire name.
    pub fn from_name(s: &str) -> Option<Kind> {
        ALL_KINDS.iter().copied().find(|k| k.as_str() == s)
    }
}

/// Every kind.
pub const ALL_KINDS: &[Kind] = &[
    Kind::FormatChange,
    Kind::DtypeRecast,
    Kind::Quantized,
    Kind::Renamed,
    Kind::Transposed,
    Kind::Permuted,
    Kind::Rotated,
    Kind::Rescaled,
    Kind::FineTune,
    Kind::LowRankUpdate,
    Kind::ContinuedPretraining,
    Kind::NoiseWashed,
    Kind::PrunedDepth,
    Kind::PrunedWidth,
    Kind::DepthUpscaled,
    Kind::MoeUpcycled,
    Kind::Merge,
    Kind::VocabExtended,
    Kind::SharedComponents,
];

/// Which way the derivation goes, as far as the evidence says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// A was made from B.
    AFromB,
    /// B was made from A.
    BFromA,
    /// Both descend from a third model.
    CommonAncestor,
    /// The evidence does not say.
    Unknown,
}

/// One side of the comparison.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ModelSide {
    /// Resolved path.
    pub path: String,
    /// Container format.
    pub format: String,
    /// Architecture family (anatomy).
    pub architecture: String,
    /// Total elements.
    pub parameters: u64,
    /// Blocks found.
    pub blocks: u32,
    /// Residual width.
    pub hidden: Option<u64>,
    /// Vocabulary size (tokenizer), if known.
    pub vocab: Option<usize>,
}

/// The test an evidence row reports. Serialised as its wire name (`embedding-columns`, …).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum TestId {
    /// Exact unit-matching test of the token embeddings' hidden dimensions.
    EmbeddingColumns,
    /// Exact unit-matching test of the MLP units of one block pair.
    MlpUnits,
    /// Experts' MLP units against a dense MLP (MoE up-cycling).
    ExpertUnits,
    /// Vocabulary-anchored CKA of one block pair (calibrated).
    AwmCka,
    /// One function-invariant product of one block pair (relative difference).
    InvariantProduct,
    /// The calibrated product-match test over the mapped blocks.
    ProductMatch,
    /// Spectral signatures of the products (supporting only).
    Spectral,
    /// Shared-token embeddings after the residual map.
    EmbeddingAlignment,
    /// The residual map refitted on half the shared tokens, judged on the other half
    /// (calibrated): survives renaming and residual permutations.
    HeldOutAlignment,
    /// Values of the finer side outside the coarser side's rounding cells (trained delta
    /// under quantization).
    RoundingGrid,
    /// Bit-identical tensors at the same role.
    TensorEquality,
    /// Share of bit-identical weights in moved matrices (TIES/DARE trace).
    SparseUpdate,
    /// Byte-identical weight files.
    FileIdentity,
    /// The tokenizer relation.
    Tokenizer,
    /// A side fits as a merge of two context models.
    MergeFit,
}

impl TestId {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            TestId::EmbeddingColumns => "embedding-columns",
            TestId::MlpUnits => "mlp-units",
            TestId::ExpertUnits => "expert-units",
            TestId::AwmCka => "awm-cka",
            TestId::InvariantProduct => "invariant-product",
            TestId::ProductMatch => "product-match",
            TestId::Spectral => "spectral",
            TestId::EmbeddingAlignment => "embedding-alignment",
            TestId::HeldOutAlignment => "held-out-alignment",
            TestId::RoundingGrid => "rounding-grid",
            TestId::TensorEquality => "tensor-equality",
            TestId::SparseUpdate => "sparse-update",
            TestId::FileIdentity => "file-identity",
            TestId::Tokenizer => "tokenizer",
            TestId::MergeFit => "merge-fit",
        }
    }
}

impl std::fmt::Display for TestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A function-invariant product of one block.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema,
)]
pub enum Product {
    /// `W_o · W_v` (per KV head group).
    #[serde(rename = "attn-vo")]
    AttnVo,
    /// `W_qᵀ · W_k`.
    #[serde(rename = "attn-qk")]
    AttnQk,
    /// `W_down · W_up` (gates folded).
    #[serde(rename = "mlp-down-up")]
    MlpDownUp,
}

impl Product {
    /// Every product, in report order.
    pub const ALL: [Product; 3] = [Product::AttnVo, Product::AttnQk, Product::MlpDownUp];

    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Product::AttnVo => "attn-vo",
            Product::AttnQk => "attn-qk",
            Product::MlpDownUp => "mlp-down-up",
        }
    }
}

/// Which side of a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    /// Model A.
    A,
    /// Model B.
    B,
}

impl Side {
    /// `A` or `B`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::A => "A",
            Side::B => "B",
        }
    }
}

/// What an evidence row covers. Serialised as text: `model`, `embeddings`, `blocks`,
/// `vocabulary`, `blk.3 ↔ blk.4`, `blk.3 ↔ blk.4 experts`, `blk.3 ↔ blk.4 attn-vo`, `A`, `B`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// The whole model.
    Model,
    /// The token embeddings.
    Embeddings,
    /// The mapped blocks together.
    Blocks,
    /// The tokenizers.
    Vocabulary,
    /// Block `a` of A against block `b` of B.
    BlockPair {
        /// Block of A.
        a: u32,
        /// Block of B.
        b: u32,
    },
    /// The experts of block `a` of A against block `b` of B.
    Experts {
        /// Block of A.
        a: u32,
        /// Block of B.
        b: u32,
    },
    /// One product of block `a` of A against block `b` of B.
    Product {
        /// Block of A.
        a: u32,
        /// Block of B.
        b: u32,
        /// Which product.
        product: Product,
    },
    /// One side of the pair.
    Side(Side),
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Model => f.write_str("model"),
            Scope::Embeddings => f.write_str("embeddings"),
            Scope::Blocks => f.write_str("blocks"),
            Scope::Vocabulary => f.write_str("vocabulary"),
            Scope::BlockPair { a, b } => write!(f, "blk.{a} ↔ blk.{b}"),
            Scope::Experts { a, b } => write!(f, "blk.{a} ↔ blk.{b} experts"),
            Scope::Product { a, b, product } => {
                write!(f, "blk.{a} ↔ blk.{b} {}", product.as_str())
            }
            Scope::Side(s) => f.write_str(s.as_str()),
        }
    }
}

impl Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl schemars::JsonSchema for Scope {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Scope".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "What the row covers: `model`, `embeddings`, `blocks`, `vocabulary`, `blk.I ↔ blk.J`, `blk.I ↔ blk.J experts`, `blk.I ↔ blk.J PRODUCT`, `A` or `B`."
        })
    }
}

/// One piece of evidence.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Evidence {
    /// Test id (`embedding-columns`, `mlp-units`, `tensor-equality`, …).
    pub test: TestId,
    /// What it covers (`embeddings`, `blk.3 ↔ blk.3`, `model`).
    pub scope: Scope,
    /// The test statistic.
    pub statistic: f64,
    /// p-value of independence (exact or calibrated), when the test gives one.
    pub p_value: Option<f64>,
    /// log10 of the p-value (keeps values below f64's range).
    pub log10_p_value: Option<f64>,
    /// One sentence.
    pub summary: String,
}

impl Evidence {
    /// A row from a natural-log p-value (`None`: the test gives none).
    pub fn new(
        test: TestId,
        scope: Scope,
        statistic: f64,
        ln_p: Option<f64>,
        summary: String,
    ) -> Evidence {
        let (p_value, log10_p_value) = ln_p.map_or((None, None), p_pair);
        Evidence {
            test,
            scope,
            statistic,
            p_value,
            log10_p_value,
            summary,
        }
    }
}

/// A verdict on one component.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ComponentVerdict {
    /// Component in A (`embeddings`, `blk.3`, `head`).
    pub a: String,
    /// Matched component in B.
    pub b: String,
    /// Component verdict.
    pub verdict: Verdict,
    /// p-value of independence for this component.
    pub p_value: Option<f64>,
    /// log10 of it.
    pub log10_p_value: Option<f64>,
}

/// A link of the layer map.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct LayerLink {
    /// Block of A.
    pub a: u32,
    /// Block of B.
    pub b: u32,
    /// log10 p of the unit-matching test of this pair.
    pub log10_p_value: f64,
}

/// The tokenizer relation.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct TokenizerEvidence {
    /// identical | extended | reordered | overlapping | unrelated.
    pub relation: String,
    /// Jaccard of normalized token sets.
    pub jaccard: f64,
    /// Fraction of ids holding the same token.
    pub equal_id_fraction: f64,
    /// One sentence.
    pub summary: String,
}

/// The result of [`crate::compare`].
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Comparison {
    /// Always 1.
    pub schema_version: u32,
    /// Model A.
    pub a: ModelSide,
    /// Model B.
    pub b: ModelSide,
    /// The verdict.
    pub verdict: Verdict,
    /// Derivation kinds found.
    pub kinds: Vec<Kind>,
    /// Direction.
    pub direction: Direction,
    /// Combined p-value of independence.
    pub p_value: Option<f64>,
    /// log10 of it.
    pub log10_p_value: Option<f64>,
    /// α used for `related`.
    pub alpha: f64,
    /// The decisive evidence in plain words.
    pub decisive: String,
    /// All evidence.
    pub evidence: Vec<Evidence>,
    /// Per-component verdicts.
    pub components: Vec<ComponentVerdict>,
    /// Which block of A matches which block of B.
    pub layer_map: Vec<LayerLink>,
    /// log10 p of the unit-matching test for every tested block pair: `block_matrix[i][j]`
    /// for block `i` of A and block `j` of B (`null` where not tested). Feeds heatmaps.
    pub block_matrix: Vec<Vec<Option<f64>>>,
    /// Tokenizer relation, when both have one.
    pub tokenizer: Option<TokenizerEvidence>,
    /// What this verdict does not prove, and assumptions made.
    pub caveats: Vec<String>,
}

/// `p` and `log10 p` from a natural-log p-value.
pub fn p_pair(ln_p: f64) -> (Option<f64>, Option<f64>) {
    if ln_p.is_nan() {
        return (None, None);
    }
    let ln_p = ln_p.min(0.0);
    (Some(ln_p.exp()), Some(ln_p / std::f64::consts::LN_10))
}
