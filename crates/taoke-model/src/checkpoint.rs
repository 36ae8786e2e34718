//! [`Checkpoint`]: an opened model in any format.

use std::path::PathBuf;

use serde::Serialize;

use crate::{MetaValue, ModelFile, TensorInfo};

/// The container format of a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Format {
    /// safetensors, single file or sharded.
    Safetensors,
    /// GGUF v1–v3.
    Gguf,
    /// ONNX protobuf (initializers).
    Onnx,
    /// PyTorch zip checkpoint (`.bin`, `.pt`).
    Pytorch,
    /// llama2.c raw checkpoint.
    Llama2c,
}

impl Format {
    /// The lower-case name used in JSON output.
    pub fn name(self) -> &'static str {
        match self {
            Format::Safetensors => "safetensors",
            Format::Gguf => "gguf",
            Format::Onnx => "onnx",
            Format::Pytorch => "pytorch",
            Format::Llama2c => "llama2c",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// An opened checkpoint: its files, tensors and metadata. Tensor values are read on demand
/// ([`Checkpoint::read_f32`], [`Checkpoint::read_rows`]).
#[derive(Debug)]
pub struct Checkpoint {
    /// What the user asked for (a path, a repo id, an Ollama name).
    pub reference: String,
    /// The resolved path: the weight file, or the model folder for sharded checkpoints.
    pub path: PathBuf,
    /// The folder holding the model's side files (config, tokenizer), if any.
    pub folder: Option<PathBuf>,
    /// Container format.
    pub format: Format,
    /// Opened files, indexed by [`crate::FileId`].
    pub files: Vec<ModelFile>,
    /// Tensors in a deterministic order (file order, then offset).
    pub tensors: Vec<TensorInfo>,
    /// Format metadata in file order.
    pub metadata: Vec<(String, MetaValue)>,
    /// `config.json` of the folder, if present and valid JSON.
    pub config: Option<serde_json::Value>,
    /// Side files found beside the weights (tokenizer.json, tokenizer.model, vocab.txt, …).
    pub side_files: Vec<PathBuf>,
    /// Remarks made while opening (e.g. other weight files present and not read).
    pub notes: Vec<String>,
}

impl Checkpoint {
    /// A metadata value by key.
    pub fn meta(&self, key: &str) -> Option<&MetaValue> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// A tensor by its stored name.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// Total number of elements over all tensors.
    pub fn parameter_count(&self) -> u64 {
        self.tensors.iter().map(TensorInfo::n_elements).sum()
    }

    /// A side file by file name (e.g. `"tokenizer.json"`).
    pub fn side_file(&self, name: &str) -> Option<&PathBuf> {
        self.side_files
            .iter()
            .find(|p| p.file_name().is_some_and(|n| n == name))
    }
}
