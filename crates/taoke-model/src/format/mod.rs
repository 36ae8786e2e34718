//! The one place where formats meet: sniffing by magic bytes, and one adapter per format that
//! turns a parsed file into [`TensorInfo`]s with [`crate::Layout`]s.
//!
//! Adapters register in [`load`]; nothing outside this module matches on [`Format`] to read.

use std::path::{Path, PathBuf};

use crate::{fsafe, Error, FileId, Format, IoMode, MetaValue, ModelFile, Result, TensorInfo};

pub(crate) mod gguf;
pub(crate) mod llama2c;
pub(crate) mod onnx;
pub(crate) mod pytorch;
pub(crate) mod safetensors;
// Engineers adding a format: add `pub(crate) mod NAME;` above and an arm in `load` and `sniff`.

/// What an adapter returns for one file.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub tensors: Vec<TensorInfo>,
    pub metadata: Vec<(String, MetaValue)>,
}

/// Opens files for adapters: the main file and siblings (shards, ONNX external data), confined
/// to the model's folder.
pub(crate) struct Loader {
    pub files: Vec<ModelFile>,
    pub mode: IoMode,
    pub folder: PathBuf,
}

impl Loader {
    pub(crate) fn new(folder: PathBuf, mode: IoMode) -> Loader {
        Loader {
            files: Vec::new(),
            mode,
            folder,
        }
    }

    /// Opens `path` (already trusted: chosen by the user or by resolution).
    pub(crate) fn open(&mut self, path: &Path) -> Result<FileId> {
        if let Some(i) = self.files.iter().position(|f| f.path == path) {
            return Ok(i);
        }
        let f = ModelFile::open(path, self.mode).map_err(|e| Error::io(path, e))?;
        self.files.push(f);
        Ok(self.files.len() - 1)
    }

    /// Opens a file named inside a model file (a shard, an external-data file). The name must
    /// be relative, without `..`, and resolve inside the model folder ([`fsafe::confine`]).
    pub(crate) fn open_sibling(&mut self, referrer: &Path, rel: &str) -> Result<FileId> {
        let full = fsafe::confine(&self.folder, Path::new(rel)).map_err(|e| match e {
            fsafe::ConfineError::Io(source) => Error::io(self.folder.join(rel), source),
            other => Error::format(referrer, format!("refers to `{rel}`, which {other}")),
        })?;
        self.open(&full)
    }
}

/// Detects the format of a file from its first bytes and length.
pub(crate) fn sniff(bytes: &[u8]) -> Option<Format> {
    if bytes.starts_with(b"GGUF") {
        return Some(Format::Gguf);
    }
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"\x80\x02\x8a\x0a") {
        // zip (torch >= 1.6) or a legacy torch pickle (magic number follows protocol 2).
        return Some(Format::Pytorch);
    }
    if safetensors::looks_like(bytes) {
        return Some(Format::Safetensors);
    }
    if llama2c::looks_like(bytes) {
        return Some(Format::Llama2c);
    }
    if looks_like_onnx(bytes) {
        return Some(Format::Onnx);
    }
    None
}

/// ONNX has no magic: a ModelProto starts with field 1 (`ir_version`, varint, tag 0x08) and a
/// small version, followed by another known field tag.
fn looks_like_onnx(b: &[u8]) -> bool {
    b.len() > 4
        && b[0] == 0x08
        && (1..=20).contains(&b[1])
        && matches!(b[2], 0x12 | 0x1a | 0x22 | 0x2a | 0x3a | 0x42 | 0x72)
}

/// Parses file `id` of `loader` as `format`.
pub(crate) fn load(loader: &mut Loader, id: FileId, format: Format) -> Result<Parsed> {
    match format {
        Format::Safetensors => safetensors::load(loader, id),
        Format::Llama2c => llama2c::load(loader, id),
        Format::Gguf => gguf::load(loader, id),
        Format::Onnx => onnx::load(loader, id),
        Format::Pytorch => pytorch::load(loader, id),
    }
}
