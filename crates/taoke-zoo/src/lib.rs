//! The taoke zoo: tiny Llama-style, Mixtral-style and BERT-style models, trained for real with
//! candle on synthetic corpora, derived from one another by every recipe a "shell" model is made
//! with (fine-tunes, LoRA, pruning, up-scaling, MoE up-cycling, merges, vocabulary extension,
//! distillation, output-preserving disguises, dtype and format changes), and written as
//! Hugging Face folders or GGUF files, with a manifest (`zoo.json`) giving the ground-truth
//! relation of every ordered pair. It is the ground truth for taoke's verdicts.

#![deny(missing_docs)]

pub mod bpe;
pub mod build;
pub mod corpus;
pub mod manifest;
pub mod model;
pub mod plan;
pub mod rng;
pub mod shell;
pub mod storage;
pub mod train;
pub mod transform;
pub mod weights;

pub use build::{build, build_plan, default_dir};
pub use manifest::{Manifest, ModelEntry, Pair, Relation};
pub use plan::{plan, Profile};

use std::path::{Path, PathBuf};

/// Errors of the zoo.
#[derive(Debug, thiserror::Error)]
pub enum ZooError {
    /// A candle operation failed.
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file does not have the expected format.
    #[error("format: {0}")]
    Format(String),
    /// A tensor, model or stream is missing.
    #[error("missing: {0}")]
    Missing(String),
    /// A recipe cannot be applied.
    #[error("recipe {id}: {msg}")]
    Recipe {
        /// The model id.
        id: String,
        /// What went wrong.
        msg: String,
    },
}

impl ZooError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> ZooError {
        ZooError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
