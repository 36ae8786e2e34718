//! [`TensorInfo`]: one tensor of a checkpoint, in any format.

use serde::Serialize;
use taoke_dtype::Dtype;

use crate::Layout;

/// One tensor: its name as stored, its logical row-major shape, its stored element type and
/// where its bytes are.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    /// The name as stored in the file (GGUF, safetensors, ONNX initializer name, …).
    pub name: String,
    /// Logical row-major shape, outermost first (PyTorch order; GGUF dims are reversed).
    pub shape: Vec<u64>,
    /// Stored element type (for dequantized composites, that of the quantized values).
    pub dtype: Dtype,
    /// The type name as written in the file (`"BF16"`, `"Q4_K"`, `"int8"`, `"type_99"`).
    pub dtype_name: String,
    /// Where and how the values are stored.
    pub layout: Layout,
    /// Bytes the tensor occupies in storage (including scales for composites).
    pub stored_bytes: u64,
    /// Names of other stored tensors folded into this one (e.g. an int8 weight's scale and
    /// zero point), so inspect can account for every stored tensor.
    pub folded: Vec<String>,
    /// Where the tensor is used in a computation graph (ONNX), when known.
    pub graph: Option<GraphUse>,
}

/// How a graph uses a tensor: the anatomy assigns roles to anonymous tensors from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphUse {
    /// Operator consuming the tensor (`MatMul`, `Gemm`, `Gather`, `Add`, …).
    pub op: String,
    /// Input slot of the tensor in that operator.
    pub slot: usize,
    /// Position of that operator in topological order.
    pub order: usize,
    /// For matrix products: whether the stored matrix is `[in, out]` (transposed relative to
    /// a `Linear` layer's `[out, in]`).
    pub transposed_vs_linear: Option<bool>,
}

impl TensorInfo {
    /// Number of elements (product of the shape; 1 for scalars). Saturates on overflow,
    /// which adapters have already rejected.
    pub fn n_elements(&self) -> u64 {
        self.shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .unwrap_or(u64::MAX)
    }

    /// Rows and row length for row streaming: `(shape[0], product of the rest)`;
    /// a 1-D tensor is one row.
    pub fn rows_cols(&self) -> (u64, u64) {
        match self.shape.len() {
            0 => (1, 1),
            1 => (1, self.shape[0]),
            _ => (self.shape[0], self.n_elements() / self.shape[0].max(1)),
        }
    }
}

/// A summary line for reports.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TensorSummary {
    /// Name as stored.
    pub name: String,
    /// Row-major shape.
    pub shape: Vec<u64>,
    /// Stored type name.
    pub dtype: String,
    /// Stored bytes.
    pub bytes: u64,
}

impl From<&TensorInfo> for TensorSummary {
    fn from(t: &TensorInfo) -> Self {
        TensorSummary {
            name: t.name.clone(),
            shape: t.shape.clone(),
            dtype: t.dtype_name.clone(),
            bytes: t.stored_bytes,
        }
    }
}
