//! Where a tensor's values live and how they are encoded: the one description every format
//! adapter produces and the one reader ([`crate::Checkpoint::read_f32`]) consumes.
//!
//! Format adapters (`format/*.rs`) never decode values themselves; they describe the bytes
//! with a [`Layout`], and decoding happens in `read.rs`, once for all formats.

use taoke_dtype::Dtype;

/// Index of a file in [`crate::Checkpoint::files`].
pub type FileId = usize;

/// How a tensor's values are stored.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Layout {
    /// Elements stored contiguously in row-major order (safetensors, GGUF, llama2.c, ONNX
    /// `raw_data` and external data, contiguous PyTorch storages).
    Dense {
        /// File holding the bytes.
        file: FileId,
        /// Byte offset of the first element in the file.
        offset: u64,
        /// Byte length of the run (checked against shape and dtype by the adapter).
        len: u64,
        /// Element type of the stored bytes.
        dtype: Dtype,
    },
    /// A strided view into a storage (PyTorch tensors that are views or non-contiguous).
    Strided {
        /// File holding the storage.
        file: FileId,
        /// Byte offset of the storage's first element in the file.
        storage_offset: u64,
        /// Number of elements in the storage.
        storage_elems: u64,
        /// Element type of the storage.
        dtype: Dtype,
        /// Offset of the tensor's first element in the storage, in elements.
        elem_offset: u64,
        /// Stride of each dimension, in elements (same length as the shape).
        strides: Vec<u64>,
    },
    /// Values packed in a protobuf repeated field (ONNX `float_data`, `int32_data`, …).
    Packed {
        /// File holding the bytes.
        file: FileId,
        /// Byte offset of the packed payload.
        offset: u64,
        /// Byte length of the packed payload.
        len: u64,
        /// Wire encoding of the elements.
        encoding: PackedEncoding,
    },
    /// Affine dequantization: `value = (q - zero_point) * scale`, with `scale` and
    /// `zero_point` broadcast along `axis` (per-axis) or scalar (per-tensor).
    ///
    /// ONNX weight-only int8 patterns (DequantizeLinear, or Cast + Mul) are recovered as one
    /// tensor of this layout.
    Affine {
        /// The quantized values, same shape as the tensor.
        q: Box<Layout>,
        /// The scales: one value (per-tensor) or one per index of `axis`.
        scale: Box<Layout>,
        /// Optional zero points, same count as `scale`.
        zero_point: Option<Box<Layout>>,
        /// The axis the scales run along, or `None` for a per-tensor scale.
        axis: Option<usize>,
    },
}

/// Encoding of a protobuf packed repeated field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PackedEncoding {
    /// `repeated float` (fixed 32-bit little-endian).
    F32,
    /// `repeated double` (fixed 64-bit little-endian).
    F64,
    /// `repeated int32` varints holding values of the given dtype: integers as values,
    /// `F16`/`BF16` as raw bit patterns, `Bool` as 0/1.
    Int32Varint(Dtype),
    /// `repeated int64` varints.
    Int64Varint,
    /// `repeated uint64` varints.
    Uint64Varint,
}

impl Layout {
    /// The stored element type of the main payload (for [`Layout::Affine`], that of `q`).
    pub fn dtype(&self) -> Dtype {
        match self {
            Layout::Dense { dtype, .. } | Layout::Strided { dtype, .. } => *dtype,
            Layout::Packed { encoding, .. } => match encoding {
                PackedEncoding::F32 => Dtype::F32,
                PackedEncoding::F64 => Dtype::F64,
                PackedEncoding::Int32Varint(d) => *d,
                PackedEncoding::Int64Varint => Dtype::I64,
                PackedEncoding::Uint64Varint => Dtype::U64,
            },
            Layout::Affine { q, .. } => q.dtype(),
        }
    }
}
