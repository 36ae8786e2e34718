//! Fingerprints of known models, a registry of them, `identify` (which known model is inside
//! this one?) and `census` (the family tree of many models).
//!
//! - [`fingerprint`](mod@fingerprint): a compact, versioned summary of a model (anchored embeddings, a canonical
//!   hidden basis, per-block MLP units on it); a safetensors file with `__metadata__` keys
//!   `taoke.fingerprint.*`. Fingerprints of different algorithms are never compared
//!   ([`Error::Incompatible`]).
//! - [`samples`]: raw weight samples at fixed positions (since `anchored-units/3`) and their
//!   exact-equality share, which orients sparse (TIES/DARE) merges.
//! - [`compare`]: exact unit-matching tests between two fingerprints (p-values exact under the
//!   null of independent initialisation) and a closeness score.
//! - [`registry`]: an embedded SQLite store with transactions, a migration scheme
//!   (`PRAGMA user_version`) and portable fingerprint packs.
//! - [`identify`]: a fast prescreen over every entry, then the exact tests on the top
//!   candidates; "no known ancestor" when none passes.
//! - [`census`]: fingerprints many models, infers the lineage forest, writes JSON, DOT, HTML.
//! - [`atomic`]: output files written whole or not at all (temporary file, fsync, rename), and
//!   outputs that would overwrite an input refused.
//!
//! # Terminology
//! - *anchor*: a token chosen by its normalized string's hash, shared by any two models whose
//!   vocabularies overlap.
//! - *closeness*: mean cosine of matched units; ranks related candidates (copies ≈ 1).
#![deny(missing_docs)]

pub mod atomic;
pub mod census;
pub mod compare;
pub mod fingerprint;
pub mod identify;
pub mod registry;
pub mod samples;

pub use compare::{FpComparison, Screen};
pub use fingerprint::{fingerprint, Fingerprint, ModelInfo};

/// Errors of this crate. Messages name the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or analysing a model failed.
    #[error("{0}")]
    Evidence(String),
    /// The model has no token embedding to anchor a fingerprint on.
    #[error("{0}: no token embedding found (a fingerprint anchors on it)")]
    NoEmbedding(String),
    /// A numerical routine failed.
    #[error("statistics: {0}")]
    Stats(String),
    /// A malformed fingerprint, pack or registry file.
    #[error("{file}: {message}")]
    Format {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A fingerprint of another format version or algorithm.
    #[error(
        "{file}: fingerprint of {found}, this taoke reads {expected}; re-fingerprint the model"
    )]
    Incompatible {
        /// The file.
        file: String,
        /// What it holds.
        found: String,
        /// What this version reads.
        expected: String,
    },
    /// A registry (SQLite) error.
    #[error("registry {file}: {source}")]
    Sql {
        /// The registry file.
        file: String,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// An I/O error.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A registry entry was not found, or already exists.
    #[error("registry {file}: {message}")]
    Entry {
        /// The registry file.
        file: String,
        /// What happened.
        message: String,
    },
}

impl Error {
    pub(crate) fn evidence(e: taoke_evidence::Error) -> Error {
        Error::Evidence(e.to_string())
    }
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
