//! The parsed model: [`OnnxModel`] and its parts, and [`parse`].
//!
//! Only what weight forensics needs is kept: opsets, producer, metadata, the main graph's
//! initializers (as byte ranges into the file, never copied), nodes with their attributes,
//! and the graph's inputs and outputs. Doc strings, training info and model-local functions
//! are skipped. Graph-valued attributes (bodies of `If`, `Loop`, `Scan`) are counted in
//! [`OnnxModel::subgraphs`] but not entered, so parsing never recurses: the deepest message
//! read is model → graph → node → attribute → tensor, a fixed depth.

use taoke_dtype::Dtype;

use crate::dtype::{dtype_of, uses_int32_data};
use crate::wire::{count_varints, packed_varints, Field, Fields, Value};
use crate::Error;

/// Cap on the length of names and short strings (tensor, node, op, attribute names).
pub const MAX_NAME_LEN: usize = 1 << 16;
/// Cap on the length of a metadata value or string attribute.
pub const MAX_TEXT_LEN: usize = 1 << 24;
/// Cap on the rank of a tensor.
pub const MAX_DIMS: usize = 64;
/// Cap on the number of nodes in the graph. A parsed node takes ~150 bytes for as little as
/// 4 bytes of file, so the cap bounds memory (a file of 4 Mi empty nodes took 842 MiB of RSS
/// with a cap of 4 Mi, and ~270 MiB with 1 Mi; real exports have tens of thousands).
pub const MAX_NODES: usize = 1 << 19;
/// Cap on the number of initializers (dense plus sparse) in the graph (same reasoning as
/// [`MAX_NODES`]).
pub const MAX_INITIALIZERS: usize = 1 << 19;
/// Cap on the inputs, outputs and attributes of one node.
pub const MAX_NODE_ITEMS: usize = 1 << 16;
/// Cap on the values of one list-valued attribute.
pub const MAX_ATTR_VALUES: usize = 1 << 24;
/// Cap on opset imports, metadata entries, external-data entries, graph inputs and outputs.
pub const MAX_ENTRIES: usize = 1 << 16;

/// An ONNX model: what [`parse`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct OnnxModel {
    /// `ModelProto.ir_version`.
    pub ir_version: u64,
    /// Operator sets imported: `(domain, version)`; the empty domain is `ai.onnx`.
    pub opsets: Vec<(String, u64)>,
    /// `producer_name`, e.g. `pytorch`.
    pub producer: String,
    /// `producer_version`.
    pub producer_version: String,
    /// `metadata_props` as `(key, value)`, in file order.
    pub metadata: Vec<(String, String)>,
    /// `GraphProto.name`.
    pub graph_name: String,
    /// Dense initializers of the main graph, in file order.
    pub initializers: Vec<Initializer>,
    /// Sparse initializers: reported, their data is not read.
    pub sparse_initializers: Vec<SparseInitializer>,
    /// Nodes of the main graph, in file order (ONNX requires topological order).
    pub nodes: Vec<Node>,
    /// Graph inputs (ONNX IR < 4 also lists initializers here).
    pub inputs: Vec<ValueInfo>,
    /// Graph outputs.
    pub outputs: Vec<ValueInfo>,
    /// Number of graph-valued attributes (subgraphs of control-flow nodes), not entered.
    pub subgraphs: usize,
}

impl OnnxModel {
    /// The initializer with this name.
    pub fn initializer(&self, name: &str) -> Option<&Initializer> {
        self.initializers.iter().find(|t| t.name == name)
    }

    /// A constant by value name: an initializer, or the `value` tensor of a `Constant` node
    /// producing it (the tensor's name is then the node's output name).
    pub fn constant(&self, name: &str) -> Option<&Initializer> {
        if name.is_empty() {
            return None;
        }
        self.initializer(name).or_else(|| {
            self.nodes
                .iter()
                .filter(|n| n.op_type == "Constant" && n.domain_is_onnx())
                .find(|n| n.outputs.first().is_some_and(|o| o == name))
                .and_then(Node::constant_value)
        })
    }

    /// The version of the default (`ai.onnx`) opset, if imported.
    pub fn onnx_opset(&self) -> Option<u64> {
        self.opsets
            .iter()
            .find(|(d, _)| d.is_empty() || d == "ai.onnx")
            .map(|o| o.1)
    }
}

/// A dense tensor stored in the file: an initializer or a `Constant` node's value.
#[derive(Debug, Clone, PartialEq)]
pub struct Initializer {
    /// The tensor name (for a `Constant` value: the node's output name).
    pub name: String,
    /// The shape (empty for a scalar).
    pub dims: Vec<u64>,
    /// The ONNX data type number, as read.
    pub data_type: i32,
    /// The data type as a [`Dtype`] ([`Dtype::Unknown`] for unmapped numbers).
    pub dtype: Dtype,
    /// Where the values are.
    pub data: InitData,
}

impl Initializer {
    /// Number of elements (1 for a scalar). Checked at parse time not to overflow.
    pub fn numel(&self) -> u64 {
        self.dims.iter().product()
    }
}

/// Where an initializer's values are.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InitData {
    /// `raw_data`: little-endian elements, a byte range of the model file.
    Raw {
        /// Absolute byte offset in the model file.
        offset: u64,
        /// Byte length (checked against dims and type when the type is known).
        len: u64,
    },
    /// A packed typed field (`float_data`, `int32_data`, ...), a byte range of the model file.
    Packed {
        /// Absolute byte offset of the packed payload.
        offset: u64,
        /// Byte length of the payload.
        len: u64,
        /// Which field, hence how the payload is encoded.
        field: PackedField,
        /// Number of elements in the payload (checked against dims).
        count: u64,
    },
    /// Stored in another file (`data_location = EXTERNAL`).
    External {
        /// Path relative to the model's folder; checked to be relative with no `..`
        /// component. The caller must still confine it to the folder (symlinks).
        location: String,
        /// Byte offset in that file (default 0).
        offset: u64,
        /// Byte length, when given (checked against dims and type when the type is known).
        length: Option<u64>,
    },
    /// `string_data`: string tensors hold no weights; only the count is kept.
    Strings {
        /// Number of strings.
        count: u64,
    },
    /// No data at all (valid for tensors with zero elements).
    Empty,
    /// Data stored in a way this reader does not describe as one byte range (unpacked
    /// repeated fields, several data fields at once, a field that does not fit the type,
    /// segmented tensors). The reason says which.
    Unsupported {
        /// What was found.
        reason: String,
    },
}

/// The typed `TensorProto` field a [`InitData::Packed`] payload comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackedField {
    /// `float_data` (4): fixed 32-bit little-endian floats.
    Float,
    /// `int32_data` (5): varints holding integers, bool, or 16/8-bit float bit patterns.
    Int32,
    /// `int64_data` (7): varints (two's complement 64-bit).
    Int64,
    /// `double_data` (10): fixed 64-bit little-endian doubles.
    Double,
    /// `uint64_data` (11): varints.
    Uint64,
}

/// A sparse initializer (`GraphProto.sparse_initializer`), reported but not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SparseInitializer {
    /// The name of its `values` tensor.
    pub name: String,
    /// The dense shape.
    pub dims: Vec<u64>,
}

/// A graph node.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Node name (may be empty).
    pub name: String,
    /// Operator, e.g. `MatMul`.
    pub op_type: String,
    /// Operator domain; empty for `ai.onnx`.
    pub domain: String,
    /// Input value names; an empty name is an omitted optional input.
    pub inputs: Vec<String>,
    /// Output value names.
    pub outputs: Vec<String>,
    /// Attributes, in file order.
    pub attributes: Vec<Attribute>,
}

impl Node {
    /// The attribute with this name.
    pub fn attribute(&self, name: &str) -> Option<&AttrValue> {
        self.attributes
            .iter()
            .find(|a| a.name == name)
            .map(|a| &a.value)
    }

    /// An integer attribute.
    pub fn attr_int(&self, name: &str) -> Option<i64> {
        match self.attribute(name) {
            Some(AttrValue::Int(i)) => Some(*i),
            _ => None,
        }
    }

    /// Whether the node is in the default `ai.onnx` domain.
    pub fn domain_is_onnx(&self) -> bool {
        self.domain.is_empty() || self.domain == "ai.onnx"
    }

    /// For a `Constant` node with a tensor `value`: that tensor.
    pub fn constant_value(&self) -> Option<&Initializer> {
        match self.attribute("value") {
            Some(AttrValue::Tensor(t)) if self.op_type == "Constant" => Some(t),
            _ => None,
        }
    }
}

/// A node attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    /// Attribute name, e.g. `axis`.
    pub name: String,
    /// Its value.
    pub value: AttrValue,
}

/// The value of an attribute.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AttrValue {
    /// `f`.
    Float(f32),
    /// `i`.
    Int(i64),
    /// `s` (lossy UTF-8).
    String(String),
    /// `t`: a tensor (as in `Constant`); for a node's value tensor the name is the node output.
    Tensor(Box<Initializer>),
    /// `floats`.
    Floats(Vec<f32>),
    /// `ints`.
    Ints(Vec<i64>),
    /// `strings` (lossy UTF-8).
    Strings(Vec<String>),
    /// `g` or `graphs`: subgraphs, counted and not entered.
    Graphs(usize),
    /// Any other attribute kind (sparse tensors, type protos, references); the ONNX
    /// `AttributeType` number.
    Other(u64),
}

/// A graph input or output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueInfo {
    /// Value name.
    pub name: String,
    /// ONNX element type, when the type is a tensor type.
    pub elem_type: Option<i32>,
    /// Shape, when given.
    pub shape: Option<Vec<Dim>>,
}

/// One dimension of a [`ValueInfo`] shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dim {
    /// A fixed size.
    Value(i64),
    /// A symbolic size, e.g. `batch_size`.
    Param(String),
    /// Neither given.
    Unknown,
}

fn text(bytes: &[u8], what: &'static str, cap: usize) -> Result<String, Error> {
    if bytes.len() > cap {
        return Err(Error::TooLong {
            what,
            len: bytes.len(),
            cap,
        });
    }
    std::str::from_utf8(bytes)
        .map(str::to_owned)
        .map_err(|e| Error::Invalid {
            context: what.to_string(),
            field: "string",
            reason: format!("not UTF-8 ({e})"),
        })
}

fn lossy(bytes: &[u8], what: &'static str, cap: usize) -> Result<String, Error> {
    if bytes.len() > cap {
        return Err(Error::TooLong {
            what,
            len: bytes.len(),
            cap,
        });
    }
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

fn push_capped<T>(v: &mut Vec<T>, item: T, what: &'static str, cap: usize) -> Result<(), Error> {
    if v.len() >= cap {
        return Err(Error::TooMany { what, cap });
    }
    v.push(item);
    Ok(())
}

fn wrong(context: &str, field: &'static str, reason: &str) -> Error {
    Error::Invalid {
        context: context.to_string(),
        field,
        reason: reason.to_string(),
    }
}

fn bytes_of<'a>(f: &Field<'a>, ctx: &str, field: &'static str) -> Result<(&'a [u8], u64), Error> {
    match f.value {
        Value::Bytes(b, off) => Ok((b, off)),
        _ => Err(wrong(ctx, field, "expected a length-delimited field")),
    }
}

fn varint_of(f: &Field<'_>, ctx: &str, field: &'static str) -> Result<u64, Error> {
    match f.value {
        Value::Varint(v) => Ok(v),
        _ => Err(wrong(ctx, field, "expected a varint field")),
    }
}

/// Parses an ONNX model held entirely in `bytes` (a `ModelProto`).
///
/// Byte ranges in the result ([`InitData::Raw`], [`InitData::Packed`]) are offsets into
/// `bytes`. No tensor data is copied or decoded.
pub fn parse(bytes: &[u8]) -> Result<OnnxModel, Error> {
    let mut m = OnnxModel {
        ir_version: 0,
        opsets: Vec::new(),
        producer: String::new(),
        producer_version: String::new(),
        metadata: Vec::new(),
        graph_name: String::new(),
        initializers: Vec::new(),
        sparse_initializers: Vec::new(),
        nodes: Vec::new(),
        inputs: Vec::new(),
        outputs: Vec::new(),
        subgraphs: 0,
    };
    let mut graph = None;
    for f in Fields::new(bytes, 0, "model") {
        let f = f?;
        match f.number {
            1 => m.ir_version = varint_of(&f, "model", "ir_version")?,
            2 => {
                m.producer = lossy(
                    bytes_of(&f, "model", "producer_name")?.0,
                    "producer name",
                    MAX_NAME_LEN,
                )?
            }
            3 => {
                m.producer_version = lossy(
                    bytes_of(&f, "model", "producer_version")?.0,
                    "producer version",
                    MAX_NAME_LEN,
                )?
            }
            7 => {
                if graph.is_some() {
                    return Err(wrong("model", "graph", "appears more than once"));
                }
                graph = Some(bytes_of(&f, "model", "graph")?);
            }
            8 => {
                let (b, off) = bytes_of(&f, "model", "opset_import")?;
                let o = parse_opset(b, off)?;
                push_capped(&mut m.opsets, o, "opset imports", MAX_ENTRIES)?;
            }
            14 => {
                let (b, off) = bytes_of(&f, "model", "metadata_props")?;
                let kv = parse_string_entry(b, off, "metadata entry")?;
                push_capped(&mut m.metadata, kv, "metadata entries", MAX_ENTRIES)?;
            }
            _ => {}
        }
    }
    let (g, off) = graph.ok_or(Error::NoGraph)?;
    parse_graph(g, off, &mut m)?;
    Ok(m)
}

fn parse_opset(b: &[u8], off: u64) -> Result<(String, u64), Error> {
    let mut domain = String::new();
    let mut version = 0;
    for f in Fields::new(b, off, "opset import") {
        let f = f?;
        match f.number {
            1 => {
                domain = text(
                    bytes_of(&f, "opset import", "domain")?.0,
                    "opset domain",
                    MAX_NAME_LEN,
                )?
            }
            2 => version = varint_of(&f, "opset import", "version")?,
            _ => {}
        }
    }
    Ok((domain, version))
}

fn parse_string_entry(b: &[u8], off: u64, what: &'static str) -> Result<(String, String), Error> {
    let mut key = String::new();
    let mut value = String::new();
    for f in Fields::new(b, off, what) {
        let f = f?;
        match f.number {
            1 => key = lossy(bytes_of(&f, what, "key")?.0, "entry key", MAX_NAME_LEN)?,
            2 => value = lossy(bytes_of(&f, what, "value")?.0, "entry value", MAX_TEXT_LEN)?,
            _ => {}
        }
    }
    Ok((key, value))
}

fn parse_graph(b: &[u8], off: u64, m: &mut OnnxModel) -> Result<(), Error> {
    let mut names = std::collections::BTreeSet::new();
    for f in Fields::new(b, off, "graph") {
        let f = f?;
        match f.number {
            1 => {
                let (b, off) = bytes_of(&f, "graph", "node")?;
                let n = parse_node(b, off, m.nodes.len(), &mut m.subgraphs)?;
                push_capped(&mut m.nodes, n, "graph nodes", MAX_NODES)?;
            }
            2 => {
                m.graph_name = lossy(bytes_of(&f, "graph", "name")?.0, "graph name", MAX_NAME_LEN)?
            }
            5 => {
                let (b, off) = bytes_of(&f, "graph", "initializer")?;
                let t = parse_tensor(b, off)?;
                if m.initializers.len() + m.sparse_initializers.len() >= MAX_INITIALIZERS {
                    return Err(Error::TooMany {
                        what: "initializers",
                        cap: MAX_INITIALIZERS,
                    });
                }
                if !names.insert(t.name.clone()) {
                    return Err(wrong(
                        &format!("tensor {:?}", t.name),
                        "name",
                        "two initializers have this name",
                    ));
                }
                m.initializers.push(t);
            }
            11 | 12 => {
                let (b, off) = bytes_of(&f, "graph", "input/output")?;
                let v = parse_value_info(b, off)?;
                let list = if f.number == 11 {
                    &mut m.inputs
                } else {
                    &mut m.outputs
                };
                push_capped(list, v, "graph inputs or outputs", MAX_ENTRIES)?;
            }
            15 => {
                let (b, off) = bytes_of(&f, "graph", "sparse_initializer")?;
                let s = parse_sparse(b, off)?;
                if m.initializers.len() + m.sparse_initializers.len() >= MAX_INITIALIZERS {
                    return Err(Error::TooMany {
                        what: "initializers",
                        cap: MAX_INITIALIZERS,
                    });
                }
                m.sparse_initializers.push(s);
            }
            _ => {}
        }
    }
    Ok(())
}

fn parse_value_info(b: &[u8], off: u64) -> Result<ValueInfo, Error> {
    let mut v = ValueInfo {
        name: String::new(),
        elem_type: None,
        shape: None,
    };
    for f in Fields::new(b, off, "value info") {
        let f = f?;
        match f.number {
            1 => {
                v.name = text(
                    bytes_of(&f, "value info", "name")?.0,
                    "value name",
                    MAX_NAME_LEN,
                )?
            }
            2 => {
                let (b, off) = bytes_of(&f, "value info", "type")?;
                // TypeProto: only tensor_type (1) is read; sequence/map types are skipped.
                for f in Fields::new(b, off, "type") {
                    let f = f?;
                    if f.number != 1 {
                        continue;
                    }
                    let (b, off) = bytes_of(&f, "type", "tensor_type")?;
                    for f in Fields::new(b, off, "tensor type") {
                        let f = f?;
                        match f.number {
                            1 => {
                                v.elem_type =
                                    Some(varint_of(&f, "tensor type", "elem_type")? as i32)
                            }
                            2 => {
                                let (b, off) = bytes_of(&f, "tensor type", "shape")?;
                                v.shape = Some(parse_shape(b, off)?);
                            }
                            _ => {}
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(v)
}

fn parse_shape(b: &[u8], off: u64) -> Result<Vec<Dim>, Error> {
    let mut dims = Vec::new();
    for f in Fields::new(b, off, "shape") {
        let f = f?;
        if f.number != 1 {
            continue;
        }
        let (b, off) = bytes_of(&f, "shape", "dim")?;
        let mut d = Dim::Unknown;
        for f in Fields::new(b, off, "dimension") {
            let f = f?;
            match f.number {
                1 => d = Dim::Value(varint_of(&f, "dimension", "dim_value")? as i64),
                2 => {
                    d = Dim::Param(lossy(
                        bytes_of(&f, "dimension", "dim_param")?.0,
                        "dim param",
                        MAX_NAME_LEN,
                    )?)
                }
                _ => {}
            }
        }
        push_capped(&mut dims, d, "shape dimensions", MAX_DIMS)?;
    }
    Ok(dims)
}

fn parse_sparse(b: &[u8], off: u64) -> Result<SparseInitializer, Error> {
    let mut s = SparseInitializer {
        name: String::new(),
        dims: Vec::new(),
    };
    for f in Fields::new(b, off, "sparse tensor") {
        let f = f?;
        match f.number {
            1 => {
                let (b, off) = bytes_of(&f, "sparse tensor", "values")?;
                s.name = parse_tensor(b, off)?.name;
            }
            3 => read_dims(&f, &mut s.dims, "sparse tensor")?,
            _ => {}
        }
    }
    Ok(s)
}

fn read_dims(f: &Field<'_>, dims: &mut Vec<u64>, ctx: &str) -> Result<(), Error> {
    let mut push = |d: u64| -> Result<(), Error> {
        let d = i64::try_from(d)
            .ok()
            .filter(|&d| d >= 0)
            .ok_or_else(|| wrong(ctx, "dims", "negative dimension"))?;
        push_capped(dims, d as u64, "tensor dimensions", MAX_DIMS)
    };
    match f.value {
        Value::Varint(d) => push(d),
        Value::Bytes(b, _) => {
            for d in packed_varints(b) {
                push(d.map_err(|r| wrong(ctx, "dims", r))?)?;
            }
            Ok(())
        }
        _ => Err(wrong(ctx, "dims", "unexpected wire type")),
    }
}

fn parse_node(b: &[u8], off: u64, index: usize, subgraphs: &mut usize) -> Result<Node, Error> {
    let mut n = Node {
        name: String::new(),
        op_type: String::new(),
        domain: String::new(),
        inputs: Vec::new(),
        outputs: Vec::new(),
        attributes: Vec::new(),
    };
    let ctx = || format!("node #{index}");
    let mut attrs = Vec::new();
    for f in Fields::new(b, off, "node") {
        let f = f?;
        match f.number {
            1 | 2 => {
                let s = text(
                    bytes_of(&f, &ctx(), "input/output")?.0,
                    "value name",
                    MAX_NAME_LEN,
                )?;
                let list = if f.number == 1 {
                    &mut n.inputs
                } else {
                    &mut n.outputs
                };
                push_capped(list, s, "node inputs or outputs", MAX_NODE_ITEMS)?;
            }
            3 => n.name = lossy(bytes_of(&f, &ctx(), "name")?.0, "node name", MAX_NAME_LEN)?,
            4 => n.op_type = text(bytes_of(&f, &ctx(), "op_type")?.0, "op type", MAX_NAME_LEN)?,
            7 => {
                n.domain = text(
                    bytes_of(&f, &ctx(), "domain")?.0,
                    "node domain",
                    MAX_NAME_LEN,
                )?
            }
            5 => {
                let a = bytes_of(&f, &ctx(), "attribute")?;
                push_capped(&mut attrs, a, "node attributes", MAX_NODE_ITEMS)?;
            }
            _ => {}
        }
    }
    for (b, off) in attrs {
        let a = parse_attribute(b, off, &n, subgraphs)?;
        n.attributes.push(a);
    }
    Ok(n)
}

fn parse_attribute(
    b: &[u8],
    off: u64,
    node: &Node,
    subgraphs: &mut usize,
) -> Result<Attribute, Error> {
    let ctx = || format!("attribute of node {:?} ({})", node.name, node.op_type);
    let mut name = String::new();
    let mut ty: Option<u64> = None;
    let (mut f_val, mut i_val, mut s_val, mut t_val) = (None, None, None, None);
    let (mut floats, mut ints, mut strings) = (Vec::new(), Vec::new(), Vec::new());
    let mut graphs = 0usize;
    let mut other = None;
    let cap = |v: usize| -> Result<(), Error> {
        if v >= MAX_ATTR_VALUES {
            Err(Error::TooMany {
                what: "attribute values",
                cap: MAX_ATTR_VALUES,
            })
        } else {
            Ok(())
        }
    };
    for f in Fields::new(b, off, "attribute") {
        let f = f?;
        match (f.number, f.value) {
            (1, _) => {
                name = text(
                    bytes_of(&f, &ctx(), "name")?.0,
                    "attribute name",
                    MAX_NAME_LEN,
                )?
            }
            (20, _) => ty = Some(varint_of(&f, &ctx(), "type")?),
            (2, Value::Fixed32(v)) => f_val = Some(f32::from_bits(v)),
            (3, Value::Varint(v)) => i_val = Some(v as i64),
            (4, Value::Bytes(s, _)) => s_val = Some(lossy(s, "string attribute", MAX_TEXT_LEN)?),
            (5, Value::Bytes(t, off)) => t_val = Some((t, off)),
            (6, Value::Bytes(..)) | (11, Value::Bytes(..)) => graphs += 1,
            (7, Value::Fixed32(v)) => {
                cap(floats.len())?;
                floats.push(f32::from_bits(v));
            }
            (7, Value::Bytes(p, _)) => {
                if p.len() % 4 != 0 {
                    return Err(wrong(&ctx(), "floats", "packed length not a multiple of 4"));
                }
                for c in p.chunks_exact(4) {
                    cap(floats.len())?;
                    floats.push(f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
                }
            }
            (8, Value::Varint(v)) => {
                cap(ints.len())?;
                ints.push(v as i64);
            }
            (8, Value::Bytes(p, _)) => {
                for v in packed_varints(p) {
                    cap(ints.len())?;
                    ints.push(v.map_err(|r| wrong(&ctx(), "ints", r))? as i64);
                }
            }
            (9, Value::Bytes(s, _)) => {
                cap(strings.len())?;
                strings.push(lossy(s, "string attribute", MAX_TEXT_LEN)?);
            }
            (10 | 14 | 15 | 22 | 23, _) => other = Some(u64::from(f.number)),
            (2..=11, _) => return Err(wrong(&ctx(), "value", "unexpected wire type")),
            _ => {}
        }
    }
    // AttributeType: FLOAT 1, INT 2, STRING 3, TENSOR 4, GRAPH 5, FLOATS 6, INTS 7, STRINGS 8,
    // SPARSE_TENSOR 11, TYPE_PROTO 13, GRAPHS 10, TENSORS 9, ... Old files omit the type;
    // then the field that is set decides.
    let ty = ty.unwrap_or(match () {
        _ if f_val.is_some() => 1,
        _ if i_val.is_some() => 2,
        _ if s_val.is_some() => 3,
        _ if t_val.is_some() => 4,
        _ if graphs > 0 => 5,
        _ if !floats.is_empty() => 6,
        _ if !ints.is_empty() => 7,
        _ if !strings.is_empty() => 8,
        _ => other.unwrap_or(0),
    });
    let value = match ty {
        1 => AttrValue::Float(f_val.unwrap_or(0.0)),
        2 => AttrValue::Int(i_val.unwrap_or(0)),
        3 => AttrValue::String(s_val.unwrap_or_default()),
        4 => match t_val {
            Some((b, off)) => {
                let mut t = parse_tensor(b, off)?;
                if node.op_type == "Constant" && name == "value" {
                    if let Some(o) = node.outputs.first() {
                        t.name = o.clone();
                    }
                }
                AttrValue::Tensor(Box::new(t))
            }
            None => return Err(wrong(&ctx(), "t", "tensor attribute without a tensor")),
        },
        5 | 10 => {
            *subgraphs += graphs;
            AttrValue::Graphs(graphs)
        }
        6 => AttrValue::Floats(floats),
        7 => AttrValue::Ints(ints),
        8 => AttrValue::Strings(strings),
        t => AttrValue::Other(t),
    };
    Ok(Attribute { name, value })
}

/// One occurrence of a typed data field: packed payload or a single unpacked element.
struct Chunk<'a> {
    field: PackedField,
    payload: &'a [u8],
    offset: u64,
    len: u64,
    packed: bool,
}

fn parse_tensor(b: &[u8], off: u64) -> Result<Initializer, Error> {
    let mut name = String::new();
    let mut dims = Vec::new();
    let mut data_type = 0i32;
    let mut raw = None;
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut strings = 0u64;
    let mut external: Vec<(String, String)> = Vec::new();
    let mut location_external = false;
    let mut segmented = false;
    let mut dims_fields = Vec::new();
    for f in Fields::new(b, off, "tensor") {
        let f = f?;
        let field = match f.number {
            4 => Some(PackedField::Float),
            5 => Some(PackedField::Int32),
            7 => Some(PackedField::Int64),
            10 => Some(PackedField::Double),
            11 => Some(PackedField::Uint64),
            _ => None,
        };
        if let Some(field) = field {
            let (payload, offset, len, packed) = match f.value {
                Value::Bytes(p, o) => (p, o, p.len() as u64, true),
                _ => (&[][..], 0, 0, false),
            };
            // An element cannot take less than one byte, so the chunk list is bounded by the
            // tensor's size; still cap it to keep the cost predictable.
            push_capped(
                &mut chunks,
                Chunk {
                    field,
                    payload,
                    offset,
                    len,
                    packed,
                },
                "typed data fields in one tensor",
                MAX_ATTR_VALUES,
            )?;
            continue;
        }
        match f.number {
            1 => dims_fields.push(f),
            2 => {
                let v = varint_of(&f, "tensor", "data_type")?;
                data_type = i32::try_from(v as i64)
                    .map_err(|_| wrong("tensor", "data_type", "out of range"))?;
            }
            3 => segmented = true,
            6 => strings += 1,
            8 => {
                name = text(
                    bytes_of(&f, "tensor", "name")?.0,
                    "tensor name",
                    MAX_NAME_LEN,
                )?
            }
            9 => raw = Some(bytes_of(&f, "tensor", "raw_data")?),
            13 => {
                let (b, off) = bytes_of(&f, "tensor", "external_data")?;
                let kv = parse_string_entry(b, off, "external data entry")?;
                push_capped(&mut external, kv, "external data entries", MAX_ENTRIES)?;
            }
            14 => location_external = varint_of(&f, "tensor", "data_location")? == 1,
            _ => {}
        }
    }
    let ctx = format!("tensor {name:?}");
    for f in &dims_fields {
        read_dims(f, &mut dims, &ctx)?;
    }
    let numel = dims
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d))
        .ok_or_else(|| wrong(&ctx, "dims", "element count overflows"))?;
    let dtype = dtype_of(data_type);
    let size_err = |what: &'static str, expected: u64, got: u64| Error::TensorSize {
        tensor: name.clone(),
        what,
        dims: dims.clone(),
        data_type,
        expected,
        got,
    };
    let expected_bytes = dtype.bytes_for(numel);
    let unsupported = |reason: String| InitData::Unsupported { reason };

    let data = if location_external {
        if raw.is_some() || !chunks.is_empty() {
            unsupported("external data location with data also stored inline".into())
        } else {
            external_data(&name, &external, expected_bytes, &size_err)?
        }
    } else if segmented {
        unsupported("segmented tensor".into())
    } else if let Some((r, roff)) = raw {
        if !chunks.is_empty() || strings > 0 {
            unsupported("both raw_data and typed data fields".into())
        } else {
            if let Some(e) = expected_bytes {
                if e != r.len() as u64 {
                    return Err(size_err("raw_data bytes", e, r.len() as u64));
                }
            }
            InitData::Raw {
                offset: roff,
                len: r.len() as u64,
            }
        }
    } else if strings > 0 {
        if !chunks.is_empty() || data_type != 8 {
            unsupported("string_data in a non-string tensor".into())
        } else {
            if strings != numel {
                return Err(size_err("string_data entries", numel, strings));
            }
            InitData::Strings { count: strings }
        }
    } else if let Some(first) = chunks.first() {
        let field = first.field;
        let fits = match field {
            PackedField::Float => matches!(data_type, 1 | 14),
            PackedField::Int32 => uses_int32_data(data_type),
            PackedField::Int64 => data_type == 7,
            PackedField::Double => matches!(data_type, 11 | 15),
            PackedField::Uint64 => matches!(data_type, 12 | 13),
        };
        if chunks.iter().any(|c| c.field != field) {
            unsupported("several typed data fields".into())
        } else if !fits {
            unsupported(format!(
                "{field:?} data in a tensor of ONNX type {data_type}"
            ))
        } else if chunks.len() > 1 || !first.packed {
            unsupported(format!(
                "{field:?} data split over {} fields (not one packed run)",
                chunks.len()
            ))
        } else {
            let payload = first.payload;
            let count = match field {
                PackedField::Float | PackedField::Double => {
                    let w = if field == PackedField::Float { 4 } else { 8 };
                    if first.len % w != 0 {
                        return Err(wrong(
                            &ctx,
                            "float_data/double_data",
                            "packed length not a multiple of the element size",
                        ));
                    }
                    first.len / w
                }
                _ => count_varints(payload).ok_or_else(|| {
                    wrong(
                        &ctx,
                        "int32_data/int64_data/uint64_data",
                        "truncated varint",
                    )
                })?,
            };
            // complex types store two reals per element; int4/uint4/fp4 pack two per int32
            let expected = match data_type {
                14 | 15 => numel.checked_mul(2),
                21..=23 => Some(numel.div_ceil(2)),
                25 | 26 => Some(numel.div_ceil(4)),
                _ => Some(numel),
            }
            .ok_or_else(|| wrong(&ctx, "dims", "element count overflows"))?;
            if count != expected {
                return Err(size_err("packed elements", expected, count));
            }
            InitData::Packed {
                offset: first.offset,
                len: first.len,
                field,
                count,
            }
        }
    } else {
        InitData::Empty
    };
    Ok(Initializer {
        name,
        dims,
        data_type,
        dtype,
        data,
    })
}

fn external_data(
    name: &str,
    entries: &[(String, String)],
    expected_bytes: Option<u64>,
    size_err: &dyn Fn(&'static str, u64, u64) -> Error,
) -> Result<InitData, Error> {
    let ctx = format!("tensor {name:?}");
    let get = |k: &str| {
        entries
            .iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let number = |k: &'static str| -> Result<Option<u64>, Error> {
        get(k)
            .map(|v| {
                v.trim().parse::<u64>().map_err(|_| {
                    wrong(
                        &ctx,
                        "external_data",
                        &format!("{k} {v:?} is not a non-negative integer"),
                    )
                })
            })
            .transpose()
    };
    let location =
        get("location").ok_or_else(|| wrong(&ctx, "external_data", "no location key"))?;
    check_location(name, location)?;
    let offset = number("offset")?.unwrap_or(0);
    let length = number("length")?;
    if let (Some(l), Some(e)) = (length, expected_bytes) {
        if l != e {
            return Err(size_err("external data length", e, l));
        }
    }
    let end = offset.checked_add(length.or(expected_bytes).unwrap_or(0));
    if end.is_none() {
        return Err(wrong(&ctx, "external_data", "offset + length overflows"));
    }
    Ok(InitData::External {
        location: location.to_string(),
        offset,
        length,
    })
}

/// Checks an external-data location: a non-empty relative path with no `..`, no root, no
/// drive prefix and no NUL; both `/` and `\` count as separators.
pub fn check_location(tensor: &str, location: &str) -> Result<(), Error> {
    let reject = |reason| {
        Err(Error::ExternalLocation {
            tensor: tensor.to_string(),
            location: location.to_string(),
            reason,
        })
    };
    if location.is_empty() {
        return reject("empty path");
    }
    if location.len() > MAX_NAME_LEN {
        return reject("path too long");
    }
    if location.contains('\0') {
        return reject("contains a NUL byte");
    }
    if location.starts_with('/') || location.starts_with('\\') {
        return reject("absolute path");
    }
    let b = location.as_bytes();
    if b.len() >= 2 && b[1] == b':' {
        return reject("drive prefix");
    }
    if location.split(['/', '\\']).any(|c| c == "..") {
        return reject("parent-directory component");
    }
    Ok(())
}
