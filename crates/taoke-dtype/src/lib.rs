//! The one element-type enum of taoke and its decoders.
//!
//! Every checkpoint format names its element types differently (safetensors `"BF16"`, GGUF type id
//! 30, ONNX `data_type = 16`, PyTorch `torch.BFloat16Storage`). Each format adapter maps its own
//! names onto [`Dtype`] once, at the format edge; everything after that speaks only `Dtype`.
//!
//! - [`Dtype`] knows its storage: a fixed number of bits per element, or a block of elements
//!   packed into a fixed number of bytes (GGML quantization), see [`Dtype::storage`].
//! - [`decode_f32`] turns a run of stored bytes into `f32` values, for every type whose values
//!   are meaningful as reals. Block-quantized types are handled by [`quant`].
//! - Unknown types are not an error here: a format adapter keeps the name it read and maps it
//!   to [`Dtype::Unknown`]; decoding such a tensor fails with [`DecodeError::Unsupported`].
//!
//! This crate does no I/O.

#![deny(missing_docs)]

mod decode;
mod dtype;
pub mod quant;

pub use decode::{decode_f32, DecodeError};
pub use dtype::{Dtype, Storage};
