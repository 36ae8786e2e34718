//! GGUF, the file format of llama.cpp and GGML: a sans-IO reader and a writer.
//!
//! [`Gguf::parse`] reads versions 1, 2 and 3 from a byte slice (typically a memory map of the
//! whole file): the metadata key-value pairs ([`Value`]), and one [`TensorInfo`] per tensor
//! with its shape, its GGML type mapped onto [`taoke_dtype::Dtype`] (unknown ids are kept by
//! name, not rejected) and where its bytes are. Tensor data is never copied; use
//! [`Gguf::tensor_data`] to borrow it and [`taoke_dtype::decode_f32`] to decode it.
//!
//! The parser trusts nothing it reads: every count and length is checked against the bytes
//! left *before* anything is allocated, against the caps below, and with checked arithmetic;
//! every tensor's byte range is checked to lie inside the buffer, at an aligned offset.
//!
//! [`GgufWriter`] writes version 3 (used by tests and to write quantized copies of models).
//!
//! The file layout, all little-endian: magic `GGUF`, `u32` version, tensor count, metadata
//! count, key-value pairs (key string, `u32` value type, value), tensor infos (name, `u32`
//! dimension count, dimensions innermost first, `u32` GGML type, `u64` offset relative to the
//! data section), padding to `general.alignment` (default 32), data. Version 1 stores counts,
//! string and array lengths and dimensions as `u32`, later versions as `u64`.

#![deny(missing_docs)]

mod error;
mod ggml_type;
mod parse;
mod value;
mod writer;

pub use error::{Error, WriteError};
pub use ggml_type::{dtype_from_ggml, ggml_type_name, ggml_type_of};
pub use parse::{Gguf, TensorInfo};
pub use value::Value;
pub use writer::GgufWriter;

/// Alignment of the data section when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// Largest accepted `general.alignment` (1 MiB).
pub const MAX_ALIGNMENT: u64 = 1 << 20;
/// Longest accepted string (key, value or tensor name): 64 MiB.
pub const MAX_STRING_LEN: u64 = 1 << 26;
/// Most elements in one metadata array (16 Mi; the largest real vocabularies hold ~0.5 Mi).
/// [`MAX_METADATA_VALUES`] caps all arrays together.
pub const MAX_ARRAY_LEN: u64 = 1 << 24;
/// Deepest nesting of arrays inside arrays.
pub const MAX_NESTING_DEPTH: usize = 8;
/// Most tensors in one file (64 Ki; real files hold at most a few thousand). Bounds memory:
/// a 36 MiB file of 1 Mi empty tensors made `taoke inspect` take 1.5 GiB of RSS.
pub const MAX_TENSORS: u64 = 1 << 16;
/// Most metadata pairs in one file (64 Ki; real files hold fewer than a hundred).
pub const MAX_KV: u64 = 1 << 16;
/// Most metadata values in one file, counting every pair's value and every array element
/// (2 Mi; the largest real tokenizers hold ~1.3 Mi: tokens, scores, types and merges). A
/// parsed value takes 32 bytes for as little as one byte of file, so this bounds memory: a
/// 16 MiB array of `u8` took 1 GiB of RSS under the per-array cap alone.
pub const MAX_METADATA_VALUES: u64 = 1 << 21;
/// Most dimensions of one tensor (GGML itself uses at most 4).
pub const MAX_DIMS: usize = 8;
