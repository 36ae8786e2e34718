//! The errors of reading and writing GGUF.

use taoke_dtype::Dtype;

/// Returned by [`crate::Gguf::parse`] when a file is not valid GGUF (or breaks a cap).
///
/// Byte offsets are from the start of the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file does not start with `GGUF`.
    #[error("not a gguf file: magic is {found:02x?}, expected \"GGUF\"")]
    BadMagic {
        /// The first (up to four) bytes.
        found: Vec<u8>,
    },
    /// A version other than 1, 2 or 3.
    #[error("unsupported gguf version {version}")]
    UnsupportedVersion {
        /// The version read.
        version: u32,
    },
    /// The file ends (or a declared count or length runs) past the end of the buffer.
    #[error(
        "truncated at byte {offset} reading {context}: need {needed} bytes, {available} remain"
    )]
    Truncated {
        /// What was being read.
        context: String,
        /// Where.
        offset: u64,
        /// Bytes needed.
        needed: u64,
        /// Bytes left in the file.
        available: u64,
    },
    /// A count or length read from the file is above one of the documented caps.
    #[error("{context} at byte {offset}: {value} exceeds the limit of {max}")]
    OverLimit {
        /// What was counted (e.g. "tensor count", "length of string in key `x`").
        context: String,
        /// Where.
        offset: u64,
        /// The value read.
        value: u64,
        /// The cap.
        max: u64,
    },
    /// Arrays nested deeper than [`crate::MAX_NESTING_DEPTH`].
    #[error("key `{key}` at byte {offset}: arrays nested deeper than {max}")]
    NestingTooDeep {
        /// The key holding the array.
        key: String,
        /// Where.
        offset: u64,
        /// The cap.
        max: usize,
    },
    /// A value type id outside 0..=12.
    #[error("key `{key}` at byte {offset}: unknown value type {type_id}")]
    BadValueType {
        /// The key.
        key: String,
        /// Where.
        offset: u64,
        /// The id read.
        type_id: u32,
    },
    /// A bool stored as a byte other than 0 or 1.
    #[error("key `{key}` at byte {offset}: bool byte is {byte}, not 0 or 1")]
    BadBool {
        /// The key.
        key: String,
        /// Where.
        offset: u64,
        /// The byte read.
        byte: u8,
    },
    /// A string (key, value or tensor name) that is not UTF-8.
    #[error("{context} at byte {offset} is not valid utf-8")]
    InvalidUtf8 {
        /// Which string.
        context: String,
        /// Where.
        offset: u64,
    },
    /// The same key twice.
    #[error("duplicate key `{key}` at byte {offset}")]
    DuplicateKey {
        /// The key.
        key: String,
        /// Where the second one starts.
        offset: u64,
    },
    /// `general.alignment` that is not a power of two between 1 and [`crate::MAX_ALIGNMENT`],
    /// or not an integer.
    #[error("general.alignment is {value}, not a power of two up to {max}")]
    BadAlignment {
        /// The value, as written in the file.
        value: String,
        /// The cap.
        max: u64,
    },
    /// The same tensor name twice.
    #[error("duplicate tensor `{tensor}` at byte {offset}")]
    DuplicateTensor {
        /// The name.
        tensor: String,
        /// Where the second one starts.
        offset: u64,
    },
    /// The product of the dimensions (or the byte size) overflows `u64`.
    #[error("tensor `{tensor}`: shape {dims:?} overflows")]
    ShapeOverflow {
        /// The tensor.
        tensor: String,
        /// Its dims, innermost first.
        dims: Vec<u64>,
    },
    /// A block-quantized tensor whose rows are not whole blocks.
    #[error("tensor `{tensor}`: row length {row_len} is not a multiple of the {dtype} block size {block}")]
    PartialBlock {
        /// The tensor.
        tensor: String,
        /// `dims[0]`.
        row_len: u64,
        /// Its type.
        dtype: Dtype,
        /// Elements per block.
        block: u64,
    },
    /// A tensor offset that is not a multiple of the alignment.
    #[error("tensor `{tensor}`: offset {offset} is not a multiple of the alignment {alignment}")]
    Misaligned {
        /// The tensor.
        tensor: String,
        /// Its offset, relative to the data section.
        offset: u64,
        /// The file's alignment.
        alignment: u64,
    },
    /// A tensor whose data runs past the end of the file.
    #[error(
        "tensor `{tensor}`: data bytes {start}..{end} lie outside the file of {file_len} bytes"
    )]
    OutOfBounds {
        /// The tensor.
        tensor: String,
        /// Absolute start.
        start: u64,
        /// Absolute end (exclusive; `u64::MAX` on overflow).
        end: u64,
        /// The file length.
        file_len: u64,
    },
    /// Two tensors share bytes (no writer produces this; it would let one stored array pose
    /// as two tensors).
    #[error("tensor `{tensor}`: data at offset {offset} overlaps tensor `{other}`, which ends at {other_end}")]
    Overlap {
        /// The tensor starting inside another.
        tensor: String,
        /// Its offset, relative to the data section.
        offset: u64,
        /// The tensor it overlaps.
        other: String,
        /// Where that one ends, relative to the data section.
        other_end: u64,
    },
}

/// Returned by [`crate::GgufWriter`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The type has no GGML id, or is [`Dtype::Unknown`].
    #[error("tensor `{tensor}`: gguf cannot store {dtype}")]
    UnsupportedDtype {
        /// The tensor.
        tensor: String,
        /// Its type.
        dtype: Dtype,
    },
    /// The data length does not match shape and type.
    #[error("tensor `{tensor}`: shape {shape:?} of {dtype} needs {needed:?} bytes, got {got}")]
    Length {
        /// The tensor.
        tensor: String,
        /// Row-major shape.
        shape: Vec<u64>,
        /// Its type.
        dtype: Dtype,
        /// Bytes needed (`None` when the shape is not whole blocks or overflows).
        needed: Option<u64>,
        /// Bytes given.
        got: u64,
    },
    /// A block-quantized tensor whose rows (last dimension) are not whole blocks.
    #[error("tensor `{tensor}`: row length {row_len} is not a multiple of the {dtype} block size")]
    PartialBlock {
        /// The tensor.
        tensor: String,
        /// The last dimension of the row-major shape.
        row_len: u64,
        /// Its type.
        dtype: Dtype,
    },
    /// More dimensions than [`crate::MAX_DIMS`].
    #[error("tensor `{tensor}`: {n_dims} dimensions exceed the limit of {max}")]
    TooManyDims {
        /// The tensor.
        tensor: String,
        /// Dimensions given.
        n_dims: usize,
        /// The cap.
        max: usize,
    },
    /// The same tensor name twice.
    #[error("duplicate tensor `{0}`")]
    DuplicateTensor(String),
    /// The same key twice.
    #[error("duplicate key `{0}`")]
    DuplicateKey(String),
    /// An array whose elements are not all of one type.
    #[error("key `{0}`: array elements are not all of one type")]
    MixedArray(String),
    /// Alignment that is not a power of two up to [`crate::MAX_ALIGNMENT`].
    #[error("alignment {0} is not a power of two up to the limit")]
    BadAlignment(u64),
}
