//! JSON Schemas of taoke's JSON outputs, generated from the types with `schemars`.
//!
//! - `compare`: [`taoke_evidence::Comparison`] ([`compare`]);
//! - `tokenizer-diff`: the tokenizer crate's comparison plus `schema_version` and `summary`,
//!   described by the wire mirror [`TokenizerDiff`] (the tokenizer crate does not derive
//!   schemas; a test deserializes real output into the mirror with unknown fields denied, so
//!   the two cannot drift silently);
//! - `inspect` lives with its type in the CLI crate.
//!
//! The committed files are in `schemas/` at the repository root; regenerate them with
//! `cargo run -p taoke-cli --example gen-schemas`.

use schemars::JsonSchema;
use serde::Deserialize;

/// The schema of `taoke compare --format json`.
pub fn compare() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(taoke_evidence::Comparison))
        .unwrap_or(serde_json::Value::Null)
}

/// The schema of `taoke tokenizer-diff --format json`.
pub fn tokenizer_diff() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(TokenizerDiff)).unwrap_or(serde_json::Value::Null)
}

/// A schema as committed: pretty JSON with a trailing newline.
pub fn to_file_text(schema: &serde_json::Value) -> String {
    serde_json::to_string_pretty(schema).unwrap_or_default() + "\n"
}

/// `taoke tokenizer-diff --format json` (`schema_version` 1).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenizerDiff {
    /// Always 1.
    pub schema_version: u32,
    /// The relation in one sentence.
    pub summary: String,
    /// Token count of A.
    pub len_a: u64,
    /// Token count of B.
    pub len_b: u64,
    /// Tokenizer kind of A.
    pub kind_a: TokenizerKind,
    /// Tokenizer kind of B.
    pub kind_b: TokenizerKind,
    /// Jaccard index of the normal-form sets (fillers left out).
    pub jaccard: f64,
    /// Distinct normal forms in both.
    pub shared_tokens: u64,
    /// Normal forms only in A, sorted by text.
    pub only_a: TokenSample,
    /// Normal forms only in B, sorted by text.
    pub only_b: TokenSample,
    /// Ids `< min(len)` with the same normal form in both.
    pub equal_ids: u64,
    /// `equal_ids / min(len)`.
    pub equal_id_fraction: f64,
    /// Longest run of equal ids from id 0.
    pub equal_id_prefix_len: u64,
    /// The most common id difference among shared tokens.
    pub id_shift: Option<IdShift>,
    /// Merge count of A.
    pub merges_a: u64,
    /// Merge count of B.
    pub merges_b: u64,
    /// Whether the normalized merge lists are equal.
    pub merges_identical: bool,
    /// Longest common prefix of the normalized merge lists.
    pub merge_prefix_len: u64,
    /// Jaccard of the sets of normalized merges; null when neither side has merges.
    pub merges_jaccard: Option<f64>,
    /// Roles whose token differs (bos, eos, unk, pad, sep, cls, mask order).
    pub special_diff: Vec<SpecialDiff>,
    /// Hint differences (`pre: qwen2 vs qwen35`).
    pub hint_diff: Vec<String>,
    /// The relation.
    pub relation: Relation,
}

/// Tokenizer algorithm.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[allow(missing_docs)]
pub enum TokenizerKind {
    BpeByteLevel,
    #[serde(rename = "bpe-sentencepiece")]
    BpeSentencePiece,
    #[serde(rename = "wordpiece")]
    WordPiece,
    Unigram,
    #[serde(rename = "wordlevel")]
    WordLevel,
    Unknown,
}

/// A token by id, in normal form.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdToken {
    /// Its id.
    pub id: u32,
    /// Its normal form.
    pub token: String,
}

/// A possibly truncated list of tokens with the full count.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenSample {
    /// How many there are.
    pub total: u64,
    /// How many of them are llama.cpp `[PADn]` fillers.
    pub fillers: u64,
    /// The first ones (at most 200).
    pub tokens: Vec<IdToken>,
}

/// An id whose token differs.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdChange {
    /// The id.
    pub id: u32,
    /// The token in A.
    pub a: String,
    /// The token in B.
    pub b: String,
}

/// A possibly truncated list of changed ids with the full count.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Changes {
    /// How many ids changed.
    pub total: u64,
    /// The first ones (at most 200), by id.
    pub items: Vec<IdChange>,
}

/// The most common id difference among shared tokens.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdShift {
    /// `id_B − id_A`.
    pub shift: i64,
    /// How many shared tokens moved by exactly `shift`.
    pub tokens: u64,
}

/// A special-token role whose token differs.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpecialDiff {
    /// `bos`, `eos`, `unk`, `pad`, `sep`, `cls` or `mask`.
    pub role: String,
    /// A's token for the role.
    pub a: Option<IdToken>,
    /// B's token for the role.
    pub b: Option<IdToken>,
}

/// Which vocabulary.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum Side {
    A,
    B,
}

/// How two vocabularies relate.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Relation {
    /// The same normal token at every id.
    Identical,
    /// One vocabulary is the other plus tokens at the end.
    Extended {
        /// The shorter (base) vocabulary.
        base: Side,
        /// The longer one's tokens past the base's length.
        added: TokenSample,
        /// Ids in the common range whose token changed.
        changed: Changes,
    },
    /// Mostly the same tokens at the same ids, with edits.
    Modified {
        /// Ids in the common range whose token differs.
        changed: Changes,
    },
    /// The same token set under different ids.
    Reordered,
    /// A large block of tokens at a constant id offset.
    SharedBlock {
        /// `id_B − id_A` for the block.
        shift: i64,
        /// How many shared tokens sit at that offset.
        tokens: u64,
    },
    /// Substantial overlap, different ids.
    Overlapping,
    /// Little overlap.
    Unrelated,
}

/// The stored facts of one tensor in `taoke inspect --format json` (`tensors[]`): the wire
/// shape of `taoke_model::TensorSummary`, which does not derive schemas itself.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct TensorSummary {
    /// Name as stored.
    pub name: String,
    /// Row-major shape.
    pub shape: Vec<u64>,
    /// Stored type name.
    pub dtype: String,
    /// Stored bytes.
    pub bytes: u64,
}
