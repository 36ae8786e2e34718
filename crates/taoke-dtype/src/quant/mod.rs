//! GGML block-quantized types: dequantization (and quantization for the writers).
//!
//! Block layouts follow the GGUF/GGML format description; this code is written from the
//! layouts, not copied from ggml.

use crate::{DecodeError, Dtype};

/// Dequantizes whole blocks of a block-quantized `dtype` into `out`.
///
/// The caller ([`crate::decode_f32`]) has checked that `bytes` holds exactly the blocks for
/// `out.len()` elements.
pub fn dequantize(dtype: Dtype, bytes: &[u8], out: &mut [f32]) -> Result<(), DecodeError> {
    let _ = (bytes, out);
    Err(DecodeError::Unsupported(dtype))
}
