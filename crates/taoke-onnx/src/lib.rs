//! A sans-IO reader for ONNX models, for weight forensics.
//!
//! [`parse`] walks the protobuf wire format of an ONNX `ModelProto` held in memory (no
//! protobuf code generation, no copies): it returns an [`OnnxModel`] listing the graph's
//! initializers as byte ranges of the file ([`InitData`]), its nodes and attributes, inputs,
//! outputs, opsets and metadata. External data is described by a location that has been
//! checked to stay below the model's folder.
//!
//! On top of the graph:
//!
//! - [`GraphIndex`] gives each value its producer, consumers and the topological position of
//!   its first consumer, so later stages can name anonymous weights (`onnx::MatMul_470`) from
//!   where they are used;
//! - [`find_quantized_weights`] recovers weight-only quantized tensors stored as integers plus
//!   scales (and zero points) and dequantized inside the graph, by `DequantizeLinear` or by
//!   `Cast` → [`Sub`] → `Mul`, as one [`QuantizedWeight`] each;
//! - [`tensor_uses`] says, for every stored tensor under the name a checkpoint lists it by,
//!   which nodes use it, how early, and whether a matrix is stored `[in, out]` (the transpose
//!   of PyTorch's `Linear.weight`).
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let bytes = std::fs::read("model.onnx")?;
//! let model = taoke_onnx::parse(&bytes)?;
//! let index = taoke_onnx::GraphIndex::new(&model);
//! let scan = taoke_onnx::find_quantized_weights(&model, &index);
//! for w in &scan.weights {
//!     // e.g. "val_49 = val_49_q * val_49_scale (axis Some(1)), used by MatMul input 1"
//!     let mm = index.matmul_use(&w.output);
//!     println!("{} = {} * {} (axis {:?}), {:?}", w.name, w.q, w.scale, w.axis, mm);
//! }
//! # Ok(()) }
//! ```
//!
//! ONNX data type numbers map to [`taoke_dtype::Dtype`] through the one table
//! [`DATA_TYPES`].
//!
//! Hostile input never panics: every length is checked against the bytes that remain,
//! counts and string lengths have documented caps (`MAX_*`), and parsing does not recurse
//! (subgraphs of control-flow nodes are counted, not entered).
//!
//! [`Sub`]: https://onnx.ai/onnx/operators/onnx__Sub.html

#![deny(missing_docs)]

mod dtype;
mod error;
mod graph;
mod model;
mod quant;
mod uses;
mod wire;

pub use dtype::{data_type_name, dtype_of, DATA_TYPES};
pub use error::Error;
pub use graph::{Consumer, GraphIndex};
pub use model::{
    check_location, parse, AttrValue, Attribute, Dim, InitData, Initializer, Node, OnnxModel,
    PackedField, SparseInitializer, ValueInfo, MAX_ATTR_VALUES, MAX_DIMS, MAX_ENTRIES,
    MAX_INITIALIZERS, MAX_NAME_LEN, MAX_NODES, MAX_NODE_ITEMS, MAX_TEXT_LEN,
};
pub use quant::{find_quantized_weights, Pattern, QuantScan, QuantizedWeight, Rejected};
pub use uses::{tensor_uses, tensor_uses_of, MatmulUse, TensorUse};
