//! The format-agnostic view of a checkpoint.
//!
//! [`open`] takes what a user names — a weight file, a model folder (single or sharded), a
//! Hugging Face cache repo id, an Ollama model name — detects the format from the bytes (not
//! the extension) and returns a [`Checkpoint`]: the list of [`TensorInfo`]s (name, row-major
//! shape, stored dtype, [`Layout`]) plus format metadata, `config.json` and the tokenizer side
//! files. Values are decoded on demand to `f32` with [`Checkpoint::read_f32`] or streamed by
//! rows with [`Checkpoint::read_rows`]; nothing reads a whole checkpoint into memory.
//!
//! # Terminology
//! - *checkpoint*: the weights of one model, in one or more files (shards).
//! - *tensor*: one named array in a checkpoint; its *layout* says where the bytes are and how
//!   they are encoded.
//! - *side file*: a non-weight file describing the model (config, tokenizer).
#![deny(missing_docs)]

mod checkpoint;
mod error;
mod format;
pub mod fsafe;
mod layout;
mod metadata;
mod open;
mod read;
mod release;
mod remote;
pub mod resolve;
mod side;
mod storage;
mod tensor;

pub use checkpoint::{Checkpoint, Format};
pub use error::{Error, Result};
pub use layout::{FileId, Layout, PackedEncoding};
pub use metadata::MetaValue;
pub use open::{open, open_with, OpenOptions};
pub use read::MAX_READ_ELEMS;
pub use remote::{client as remote_client, open_remote, open_remote_with, GGUF_PREFIX_CAP};
pub use storage::{IoMode, ModelFile};
pub use tensor::{GraphUse, TensorInfo, TensorSummary};
