//! The error type of this crate.

/// Why an ONNX file could not be read.
///
/// Messages are lower-case and name the message, tensor, node or key involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The protobuf wire format is broken (truncated field, bad varint, bad wire type).
    #[error("malformed {message} at byte {offset}: {reason}")]
    Wire {
        /// Which protobuf message was being read.
        message: &'static str,
        /// Absolute file offset where the problem was found.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A field holds a value that is not valid ONNX (negative dimension, bad UTF-8, ...).
    #[error("invalid {field} in {context}: {reason}")]
    Invalid {
        /// The object the field belongs to, e.g. `tensor "val_49"`.
        context: String,
        /// The field, e.g. `dims`.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// More items than the documented cap (see the `MAX_*` constants).
    #[error("too many {what}: more than {cap}")]
    TooMany {
        /// What is counted, e.g. `graph nodes`.
        what: &'static str,
        /// The cap.
        cap: usize,
    },
    /// A string longer than its cap.
    #[error("{what} is {len} bytes long, more than the cap of {cap}")]
    TooLong {
        /// Which string, e.g. `tensor name`.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The cap.
        cap: usize,
    },
    /// A tensor's stored data does not match its shape and type.
    #[error("tensor {tensor:?}: {what} holds {got}, but dims {dims:?} of type {data_type} need {expected}")]
    TensorSize {
        /// The tensor name.
        tensor: String,
        /// Which storage, e.g. `raw_data bytes`.
        what: &'static str,
        /// The dims.
        dims: Vec<u64>,
        /// The ONNX data type number.
        data_type: i32,
        /// What the shape needs.
        expected: u64,
        /// What the file holds.
        got: u64,
    },
    /// An external-data location that could escape the model's folder.
    #[error("tensor {tensor:?}: external data location {location:?} rejected: {reason}")]
    ExternalLocation {
        /// The tensor name.
        tensor: String,
        /// The location as written in the file.
        location: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// The model has no graph.
    #[error("the model has no graph (ModelProto field 7 missing)")]
    NoGraph,
}
