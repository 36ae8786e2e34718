//! Sans-IO safetensors parsing and writing.
//!
//! A safetensors file is `[u64 LE header length N][N bytes of JSON][data]`. The JSON maps tensor
//! names to `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets relative to the data
//! section) plus an optional `"__metadata__"` map. This crate:
//!
//! - parses the header from a byte slice ([`Header::parse`]) without touching tensor data, and
//!   validates every offset against the data length it is given, with checked arithmetic;
//! - is tolerant: an unknown dtype string is kept by name
//!   ([`taoke_dtype::Dtype::Unknown`]), and non-string `__metadata__` values are kept as JSON
//!   text rather than rejected;
//! - parses sharded-checkpoint indexes (`model.safetensors.index.json`, [`ShardIndex`]);
//! - writes files ([`write()`]) for tests and for the zoo.
//!
//! Caps: the header is at most [`MAX_HEADER_LEN`] bytes and holds at most [`MAX_TENSORS`]
//! tensors of at most [`MAX_DIMS`] dimensions.

#![deny(missing_docs)]

mod header;
mod shard_index;
mod write;

pub use header::{
    Error, Header, TensorEntry, MAX_DIMS, MAX_ENTRY_LEN, MAX_HEADER_LEN, MAX_METADATA_ENTRIES,
    MAX_METADATA_LEN, MAX_TENSORS,
};
pub use shard_index::{ShardIndex, ShardIndexError, MAX_INDEX_ENTRIES, MAX_INDEX_LEN};
pub use write::write;
