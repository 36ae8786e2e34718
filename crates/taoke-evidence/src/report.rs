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

/// One piece of evidence.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Evidence {
    /// Test id (`embedding-columns`, `mlp-units`, `tensor-equality`, …).
    pub test: String,
    /// What it covers (`embeddings`, `blk.3 ↔ blk.3`, `model`).
    pub scope: String,
    /// The test statistic.
    pub statistic: f64,
    /// p-value of independence (exact or calibrated), when the test gives one.
    pub p_value: Option<f64>,
    /// log10 of the p-value (keeps values below f64's range).
    pub log10_p_value: Option<f64>,
    /// One sentence.
    pub summary: String,
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
