//! A restricted pickle reader: a pickle virtual machine that builds an inert object graph and
//! never imports or calls anything.
//!
//! It implements the opcodes of protocols 2 to 5 that `torch.save` and ordinary checkpoint
//! dictionaries use (see [`opcode_name`] for the full table; INST, OBJ, PERSID, EXT1/2/4 and
//! out-of-band buffers are refused). GLOBAL and STACK_GLOBAL are resolved against an
//! allow-list ([`ALLOWED_GLOBALS`] plus the torch storage classes and dtypes); anything else
//! is an [`Error::PickleGlobal`] naming the global. Calls (REDUCE, NEWOBJ) are interpreted
//! only for the allowed globals: `collections.OrderedDict`, the `torch._utils._rebuild_*`
//! tensor constructors and `torch._tensor._rebuild_from_type_v2`; harmless data constructors
//! (numpy scalars, `_codecs.encode`, `argparse.Namespace`, …) yield opaque values.
//! BINPERSID resolves torch's `('storage', StorageType, key, location, numel)` ids.
//!
//! Caps (each an [`Error::PickleCap`]): [`MAX_STACK`], [`MAX_MARKS`], [`MAX_MEMO`],
//! [`MAX_OBJECTS`], [`MAX_STRING_LEN`], [`MAX_LONG_LEN`], [`MAX_RANK`].

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use taoke_dtype::Dtype;

use crate::Error;

/// Deepest value stack accepted.
pub const MAX_STACK: usize = 1 << 20;
/// Most simultaneously open MARKs.
pub const MAX_MARKS: usize = 4096;
/// Most memo entries.
pub const MAX_MEMO: usize = 1 << 20;
/// Most objects (strings, containers, tensors, …) one pickle may create. A state dict needs
/// about ten per tensor; each costs a few dozen bytes, so the cap bounds the arena near
/// 64 MiB whatever a (deflated, hence small) `data.pkl` repeats.
pub const MAX_OBJECTS: usize = 1 << 20;
/// Longest string or bytes object, in bytes.
pub const MAX_STRING_LEN: u64 = 64 << 20;
/// Longest LONG1/LONG4 integer, in bytes.
pub const MAX_LONG_LEN: u64 = 4096;
/// Most dimensions of a tensor.
pub const MAX_RANK: usize = 64;
/// Longest GLOBAL module or attribute line.
const MAX_GLOBAL_LINE: usize = 1024;

/// A torch element type as pickles name it (`torch.float32`, `torch.FloatStorage`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TorchDtype {
    /// Canonical torch name, e.g. `"torch.float32"`.
    pub name: &'static str,
    /// The taoke element type ([`Dtype::Unknown`] for complex128, quantized and bit types).
    pub dtype: Dtype,
    /// Bytes per element.
    pub elem_bytes: u64,
}

/// `(attribute under torch, canonical name, typed storage class, dtype, bytes per element)`.
const TORCH_DTYPES: &[(&str, &str, &str, Dtype, u64)] = &[
    ("float32", "torch.float32", "FloatStorage", Dtype::F32, 4),
    ("float", "torch.float32", "", Dtype::F32, 4),
    ("float64", "torch.float64", "DoubleStorage", Dtype::F64, 8),
    ("double", "torch.float64", "", Dtype::F64, 8),
    ("float16", "torch.float16", "HalfStorage", Dtype::F16, 2),
    ("half", "torch.float16", "", Dtype::F16, 2),
    (
        "bfloat16",
        "torch.bfloat16",
        "BFloat16Storage",
        Dtype::BF16,
        2,
    ),
    ("int64", "torch.int64", "LongStorage", Dtype::I64, 8),
    ("long", "torch.int64", "", Dtype::I64, 8),
    ("int32", "torch.int32", "IntStorage", Dtype::I32, 4),
    ("int", "torch.int32", "", Dtype::I32, 4),
    ("int16", "torch.int16", "ShortStorage", Dtype::I16, 2),
    ("short", "torch.int16", "", Dtype::I16, 2),
    ("int8", "torch.int8", "CharStorage", Dtype::I8, 1),
    ("uint8", "torch.uint8", "ByteStorage", Dtype::U8, 1),
    ("bool", "torch.bool", "BoolStorage", Dtype::Bool, 1),
    (
        "complex64",
        "torch.complex64",
        "ComplexFloatStorage",
        Dtype::C64,
        8,
    ),
    ("cfloat", "torch.complex64", "", Dtype::C64, 8),
    (
        "complex128",
        "torch.complex128",
        "ComplexDoubleStorage",
        Dtype::Unknown,
        16,
    ),
    ("cdouble", "torch.complex128", "", Dtype::Unknown, 16),
    ("uint16", "torch.uint16", "", Dtype::U16, 2),
    ("uint32", "torch.uint32", "", Dtype::U32, 4),
    ("uint64", "torch.uint64", "", Dtype::U64, 8),
    (
        "float8_e4m3fn",
        "torch.float8_e4m3fn",
        "",
        Dtype::F8_E4M3,
        1,
    ),
    ("float8_e5m2", "torch.float8_e5m2", "", Dtype::F8_E5M2, 1),
    (
        "float8_e4m3fnuz",
        "torch.float8_e4m3fnuz",
        "",
        Dtype::F8_E4M3FNUZ,
        1,
    ),
    (
        "float8_e5m2fnuz",
        "torch.float8_e5m2fnuz",
        "",
        Dtype::F8_E5M2FNUZ,
        1,
    ),
    (
        "float8_e8m0fnu",
        "torch.float8_e8m0fnu",
        "",
        Dtype::F8_E8M0,
        1,
    ),
    ("qint8", "torch.qint8", "QInt8Storage", Dtype::Unknown, 1),
    ("quint8", "torch.quint8", "QUInt8Storage", Dtype::Unknown, 1),
    ("qint32", "torch.qint32", "QInt32Storage", Dtype::Unknown, 4),
    (
        "quint4x2",
        "torch.quint4x2",
        "QUInt4x2Storage",
        Dtype::Unknown,
        1,
    ),
    (
        "quint2x4",
        "torch.quint2x4",
        "QUInt2x4Storage",
        Dtype::Unknown,
        1,
    ),
];

/// The byte type of untyped storages.
const UINT8: TorchDtype = TorchDtype {
    name: "torch.uint8",
    dtype: Dtype::U8,
    elem_bytes: 1,
};

fn row_dtype(row: &(&str, &'static str, &str, Dtype, u64)) -> TorchDtype {
    TorchDtype {
        name: row.1,
        dtype: row.3,
        elem_bytes: row.4,
    }
}

impl TorchDtype {
    /// The dtype named `torch.<attr>` (e.g. `float32`, `half`, `bfloat16`).
    pub fn from_attr(attr: &str) -> Option<TorchDtype> {
        TORCH_DTYPES.iter().find(|r| r.0 == attr).map(row_dtype)
    }

    /// The dtype of the typed storage class `torch.<class>` (e.g. `FloatStorage`).
    pub fn from_storage_class(class: &str) -> Option<TorchDtype> {
        TORCH_DTYPES
            .iter()
            .find(|r| !r.2.is_empty() && r.2 == class)
            .map(row_dtype)
    }

    /// The torch dtype of a taoke dtype, for writers (`None` for types torch lacks).
    pub fn from_dtype(dtype: Dtype) -> Option<TorchDtype> {
        TORCH_DTYPES
            .iter()
            .find(|r| r.3 == dtype && r.3 != Dtype::Unknown)
            .map(row_dtype)
    }

    /// The typed storage class name (`"FloatStorage"`), if torch has one for this dtype.
    pub fn storage_class(self) -> Option<&'static str> {
        TORCH_DTYPES
            .iter()
            .find(|r| r.1 == self.name && !r.2.is_empty())
            .map(|r| r.2)
    }

    /// The attribute of `torch` naming this dtype (`"float32"`).
    pub fn attr(self) -> &'static str {
        self.name.trim_start_matches("torch.")
    }
}

/// The storage type in a persistent id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageType {
    /// `torch.FloatStorage` and friends: `numel` counts elements of this dtype.
    Typed(TorchDtype),
    /// `torch.UntypedStorage`: `numel` counts bytes.
    Untyped,
}

impl StorageType {
    /// Element type of the storage (`torch.uint8` for untyped storages).
    pub fn dtype(self) -> TorchDtype {
        match self {
            StorageType::Typed(d) => d,
            StorageType::Untyped => UINT8,
        }
    }
}

/// Globals allowed besides the torch storage classes (`torch.<X>Storage`,
/// `torch.UntypedStorage`) and dtypes (`torch.float32`, …): `(module, name, what it is)`.
pub const ALLOWED_GLOBALS: &[(&str, &str, &str)] = &[
    ("collections", "OrderedDict", "dictionary"),
    ("torch._utils", "_rebuild_tensor", "tensor constructor"),
    ("torch._utils", "_rebuild_tensor_v2", "tensor constructor"),
    ("torch._utils", "_rebuild_tensor_v3", "tensor constructor"),
    ("torch._utils", "_rebuild_parameter", "parameter wrapper"),
    (
        "torch._utils",
        "_rebuild_parameter_with_state",
        "parameter wrapper",
    ),
    (
        "torch._tensor",
        "_rebuild_from_type_v2",
        "tensor subclass wrapper",
    ),
    ("torch", "Tensor", "tensor class"),
    ("torch._tensor", "Tensor", "tensor class"),
    ("torch.nn.parameter", "Parameter", "tensor class"),
    ("torch.nn", "Parameter", "tensor class"),
    ("torch", "Size", "tuple"),
    ("torch", "device", "opaque"),
    ("builtins", "set", "opaque"),
    ("builtins", "frozenset", "opaque"),
    ("__builtin__", "set", "opaque"),
    ("_codecs", "encode", "opaque"),
    ("argparse", "Namespace", "opaque"),
    ("numpy", "dtype", "opaque"),
    ("numpy", "ndarray", "opaque"),
    ("numpy.core.multiarray", "scalar", "opaque"),
    ("numpy.core.multiarray", "_reconstruct", "opaque"),
    ("numpy._core.multiarray", "scalar", "opaque"),
    ("numpy._core.multiarray", "_reconstruct", "opaque"),
];

/// A resolved, allowed global.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Global {
    OrderedDict,
    RebuildTensor,
    RebuildTensorV2,
    RebuildTensorV3,
    RebuildParameter,
    RebuildParameterWithState,
    RebuildFromTypeV2,
    TensorClass,
    TorchSize,
    Storage(StorageType),
    Dtype(TorchDtype),
    /// A data constructor whose result we keep as an opaque value.
    Opaque,
}

fn resolve_global(module: &str, name: &str) -> Option<Global> {
    if module == "torch" || module == "torch.storage" {
        if name == "UntypedStorage" {
            return Some(Global::Storage(StorageType::Untyped));
        }
        if module == "torch" {
            if let Some(d) = TorchDtype::from_storage_class(name) {
                return Some(Global::Storage(StorageType::Typed(d)));
            }
            if let Some(d) = TorchDtype::from_attr(name) {
                return Some(Global::Dtype(d));
            }
        }
    }
    let (_, _, what) = ALLOWED_GLOBALS
        .iter()
        .find(|(m, n, _)| *m == module && *n == name)?;
    Some(match (*what, name) {
        ("dictionary", _) => Global::OrderedDict,
        (_, "_rebuild_tensor") => Global::RebuildTensor,
        (_, "_rebuild_tensor_v2") => Global::RebuildTensorV2,
        (_, "_rebuild_tensor_v3") => Global::RebuildTensorV3,
        (_, "_rebuild_parameter") => Global::RebuildParameter,
        (_, "_rebuild_parameter_with_state") => Global::RebuildParameterWithState,
        (_, "_rebuild_from_type_v2") => Global::RebuildFromTypeV2,
        ("tensor class", _) => Global::TensorClass,
        ("tuple", _) => Global::TorchSize,
        _ => Global::Opaque,
    })
}

/// A value on the stack: scalars inline, everything else an index into the object arena
/// (so memo references share, and mutation through SETITEM is seen by every reference).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Obj(u32),
}

/// A storage declared by a persistent id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StorageDeclRaw {
    pub key: String,
    pub ty: StorageType,
    pub location: String,
    pub numel: u64,
}

/// A tensor built by one of the `_rebuild_tensor*` constructors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawTensor {
    /// Index into [`Pickle::storages`].
    pub storage: usize,
    pub offset: u64,
    pub shape: Vec<u64>,
    pub strides: Vec<u64>,
    pub dtype: TorchDtype,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum DictKey {
    Int(i64),
    /// Shares the string object's text (a key repeated through the memo is not copied).
    Str(Rc<str>),
}

#[derive(Debug, Default)]
pub(crate) struct Dict {
    pub entries: Vec<(Value, Value)>,
    index: HashMap<DictKey, usize>,
}

#[derive(Debug)]
pub(crate) enum Obj {
    /// Shared with dict keys that use it.
    Str(Rc<str>),
    /// Bytes, sets, big integers, numpy values, namespaces: parsed, then ignored.
    Opaque(&'static str),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Box<Dict>),
    Global(Global, String),
    Storage(usize),
    Tensor(Box<RawTensor>),
}

impl Obj {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Obj::Str(_) => "str",
            Obj::Opaque(k) => k,
            Obj::Tuple(_) => "tuple",
            Obj::List(_) => "list",
            Obj::Dict(_) => "dict",
            Obj::Global(..) => "global",
            Obj::Storage(_) => "storage",
            Obj::Tensor(_) => "tensor",
        }
    }
}

/// The result of running a pickle: the object arena, the root value and the storages in
/// order of first appearance.
#[derive(Debug)]
pub(crate) struct Pickle {
    pub objs: Vec<Obj>,
    pub root: Value,
    pub storages: Vec<StorageDeclRaw>,
}

impl Pickle {
    pub(crate) fn obj(&self, v: Value) -> Option<&Obj> {
        match v {
            Value::Obj(i) => self.objs.get(i as usize),
            _ => None,
        }
    }

    pub(crate) fn kind(&self, v: Value) -> &'static str {
        match v {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Obj(_) => self.obj(v).map_or("?", Obj::kind),
        }
    }
}

/// The pickletools name of an opcode byte (`"unknown"` for bytes that are not opcodes).
pub fn opcode_name(op: u8) -> &'static str {
    match op {
        b'(' => "MARK",
        b'.' => "STOP",
        b'0' => "POP",
        b'1' => "POP_MARK",
        b'2' => "DUP",
        b'F' => "FLOAT",
        b'I' => "INT",
        b'J' => "BININT",
        b'K' => "BININT1",
        b'L' => "LONG",
        b'M' => "BININT2",
        b'N' => "NONE",
        b'P' => "PERSID",
        b'Q' => "BINPERSID",
        b'R' => "REDUCE",
        b'S' => "STRING",
        b'T' => "BINSTRING",
        b'U' => "SHORT_BINSTRING",
        b'V' => "UNICODE",
        b'X' => "BINUNICODE",
        b'a' => "APPEND",
        b'b' => "BUILD",
        b'c' => "GLOBAL",
        b'd' => "DICT",
        b'}' => "EMPTY_DICT",
        b'e' => "APPENDS",
        b'g' => "GET",
        b'h' => "BINGET",
        b'i' => "INST",
        b'j' => "LONG_BINGET",
        b'l' => "LIST",
        b']' => "EMPTY_LIST",
        b'o' => "OBJ",
        b'p' => "PUT",
        b'q' => "BINPUT",
        b'r' => "LONG_BINPUT",
        b's' => "SETITEM",
        b't' => "TUPLE",
        b')' => "EMPTY_TUPLE",
        b'u' => "SETITEMS",
        b'G' => "BINFLOAT",
        0x80 => "PROTO",
        0x81 => "NEWOBJ",
        0x82 => "EXT1",
        0x83 => "EXT2",
        0x84 => "EXT4",
        0x85 => "TUPLE1",
        0x86 => "TUPLE2",
        0x87 => "TUPLE3",
        0x88 => "NEWTRUE",
        0x89 => "NEWFALSE",
        0x8a => "LONG1",
        0x8b => "LONG4",
        b'B' => "BINBYTES",
        b'C' => "SHORT_BINBYTES",
        0x8c => "SHORT_BINUNICODE",
        0x8d => "BINUNICODE8",
        0x8e => "BINBYTES8",
        0x8f => "EMPTY_SET",
        0x90 => "ADDITEMS",
        0x91 => "FROZENSET",
        0x92 => "NEWOBJ_EX",
        0x93 => "STACK_GLOBAL",
        0x94 => "MEMOIZE",
        0x95 => "FRAME",
        0x96 => "BYTEARRAY8",
        0x97 => "NEXT_BUFFER",
        0x98 => "READONLY_BUFFER",
        _ => "unknown",
    }
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    /// Offset of the opcode being executed (for errors).
    at: u64,
    op: u8,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    objs: Vec<Obj>,
    storages: Vec<StorageDeclRaw>,
    storage_by_key: BTreeMap<String, usize>,
}

/// Runs a pickle stream and returns the inert object graph it describes.
pub(crate) fn run(data: &[u8]) -> Result<Pickle, Error> {
    let mut m = Machine {
        data,
        pos: 0,
        at: 0,
        op: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        objs: Vec::new(),
        storages: Vec::new(),
        storage_by_key: BTreeMap::new(),
    };
    let root = m.execute()?;
    Ok(Pickle {
        objs: m.objs,
        root,
        storages: m.storages,
    })
}

impl<'a> Machine<'a> {
    fn invalid(&self, detail: impl Into<String>) -> Error {
        Error::PickleInvalid {
            opcode: opcode_name(self.op),
            offset: self.at,
            detail: detail.into(),
        }
    }

    fn cap(&self, what: &'static str, cap: u64) -> Error {
        Error::PickleCap {
            what,
            cap,
            offset: self.at,
        }
    }

    fn take(&mut self, n: u64, what: &'static str) -> Result<&'a [u8], Error> {
        let remaining = (self.data.len() - self.pos) as u64;
        if n > remaining {
            return Err(Error::PickleEof {
                what,
                offset: self.at,
            });
        }
        let s = &self.data[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take(1, opcode_name(self.op))?[0])
    }
    fn u16(&mut self) -> Result<u16, Error> {
        let b = self.take(2, opcode_name(self.op))?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, Error> {
        let b = self.take(4, opcode_name(self.op))?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, Error> {
        let b = self.take(8, opcode_name(self.op))?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn line(&mut self) -> Result<&'a str, Error> {
        let rest = &self.data[self.pos..];
        let window = &rest[..rest.len().min(MAX_GLOBAL_LINE + 1)];
        let Some(n) = window.iter().position(|&b| b == b'\n') else {
            return Err(if rest.len() > MAX_GLOBAL_LINE {
                self.cap("GLOBAL line length", MAX_GLOBAL_LINE as u64)
            } else {
                Error::PickleEof {
                    what: "GLOBAL line",
                    offset: self.at,
                }
            });
        };
        let s = std::str::from_utf8(&rest[..n])
            .map_err(|_| self.invalid("GLOBAL name is not UTF-8"))?;
        self.pos += n + 1;
        Ok(s)
    }

    fn push(&mut self, v: Value) -> Result<(), Error> {
        if self.stack.len() >= MAX_STACK {
            return Err(self.cap("stack depth", MAX_STACK as u64));
        }
        self.stack.push(v);
        Ok(())
    }

    fn pop(&mut self) -> Result<Value, Error> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(self.invalid("stack underflow"));
        }
        self.stack
            .pop()
            .ok_or_else(|| self.invalid("stack underflow"))
    }

    fn top(&self) -> Result<Value, Error> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(self.invalid("stack underflow"));
        }
        self.stack
            .last()
            .copied()
            .ok_or_else(|| self.invalid("stack underflow"))
    }

    fn pop_mark(&mut self) -> Result<Vec<Value>, Error> {
        let mark = self
            .marks
            .pop()
            .ok_or_else(|| self.invalid("no MARK on the stack"))?;
        Ok(self.stack.split_off(mark))
    }

    fn alloc(&mut self, o: Obj) -> Result<Value, Error> {
        if self.objs.len() >= MAX_OBJECTS {
            return Err(self.cap("object count", MAX_OBJECTS as u64));
        }
        self.objs.push(o);
        Ok(Value::Obj((self.objs.len() - 1) as u32))
    }

    fn obj(&self, v: Value) -> Option<&Obj> {
        match v {
            Value::Obj(i) => self.objs.get(i as usize),
            _ => None,
        }
    }

    fn kind(&self, v: Value) -> &'static str {
        match v {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Obj(_) => self.obj(v).map_or("?", Obj::kind),
        }
    }

    fn str_of(&self, v: Value) -> Option<&str> {
        match self.obj(v) {
            Some(Obj::Str(s)) => Some(s),
            _ => None,
        }
    }

    fn memo_put(&mut self, key: u32) -> Result<(), Error> {
        let v = self.top()?;
        if self.memo.len() >= MAX_MEMO && !self.memo.contains_key(&key) {
            return Err(self.cap("memo size", MAX_MEMO as u64));
        }
        self.memo.insert(key, v);
        Ok(())
    }

    fn memo_get(&mut self, key: u32) -> Result<(), Error> {
        let v = *self
            .memo
            .get(&key)
            .ok_or_else(|| self.invalid(format!("memo key {key} was never stored")))?;
        self.push(v)
    }

    fn string(&mut self, len: u64, utf8: bool) -> Result<(), Error> {
        if len > MAX_STRING_LEN {
            return Err(self.cap("string length", MAX_STRING_LEN));
        }
        let b = self.take(len, opcode_name(self.op))?;
        let o = match std::str::from_utf8(b) {
            Ok(s) => Obj::Str(Rc::from(s)),
            Err(_) if utf8 => return Err(self.invalid("string is not valid UTF-8")),
            Err(_) => Obj::Opaque("bytes"),
        };
        let v = self.alloc(o)?;
        self.push(v)
    }

    fn bytes(&mut self, len: u64) -> Result<(), Error> {
        if len > MAX_STRING_LEN {
            return Err(self.cap("bytes length", MAX_STRING_LEN));
        }
        self.take(len, opcode_name(self.op))?;
        let v = self.alloc(Obj::Opaque("bytes"))?;
        self.push(v)
    }

    fn long(&mut self, len: u64) -> Result<(), Error> {
        if len > MAX_LONG_LEN {
            return Err(self.cap("integer length", MAX_LONG_LEN));
        }
        let b = self.take(len, opcode_name(self.op))?;
        let v = if b.is_empty() {
            Value::Int(0)
        } else if b.len() <= 8 {
            let fill = if b[b.len() - 1] & 0x80 != 0 { 0xff } else { 0 };
            let mut a = [fill; 8];
            a[..b.len()].copy_from_slice(b);
            Value::Int(i64::from_le_bytes(a))
        } else {
            self.alloc(Obj::Opaque("big int"))?
        };
        self.push(v)
    }

    fn global(&mut self, module: &str, name: &str) -> Result<(), Error> {
        let g = resolve_global(module, name).ok_or_else(|| Error::PickleGlobal {
            module: module.to_owned(),
            name: name.to_owned(),
            offset: self.at,
        })?;
        let v = self.alloc(Obj::Global(g, format!("{module}.{name}")))?;
        self.push(v)
    }

    fn tuple(&mut self, items: Vec<Value>) -> Result<(), Error> {
        let v = self.alloc(Obj::Tuple(items))?;
        self.push(v)
    }

    fn dict_key(&self, k: Value) -> Option<DictKey> {
        match k {
            Value::Int(i) => Some(DictKey::Int(i)),
            _ => match self.obj(k) {
                Some(Obj::Str(s)) => Some(DictKey::Str(Rc::clone(s))),
                _ => None,
            },
        }
    }

    /// Adds `pairs` to the dict (or ignores them for an opaque object) on top of the stack.
    fn set_items(&mut self, pairs: Vec<Value>) -> Result<(), Error> {
        if !pairs.len().is_multiple_of(2) {
            return Err(self.invalid("odd number of items for a dict"));
        }
        let target = self.top()?;
        let keys: Vec<Option<DictKey>> = pairs.chunks(2).map(|p| self.dict_key(p[0])).collect();
        match target {
            Value::Obj(i) => match &mut self.objs[i as usize] {
                Obj::Dict(d) => {
                    for (p, key) in pairs.chunks(2).zip(keys) {
                        match key {
                            Some(k) => match d.index.get(&k) {
                                Some(&at) => d.entries[at].1 = p[1],
                                None => {
                                    d.index.insert(k, d.entries.len());
                                    d.entries.push((p[0], p[1]));
                                }
                            },
                            None => d.entries.push((p[0], p[1])),
                        }
                    }
                    Ok(())
                }
                Obj::Opaque(_) => Ok(()),
                other => {
                    let k = other.kind();
                    Err(self.invalid(format!("cannot set items on a {k}")))
                }
            },
            _ => Err(self.invalid(format!("cannot set items on a {}", self.kind(target)))),
        }
    }

    fn append(&mut self, items: Vec<Value>) -> Result<(), Error> {
        let target = self.top()?;
        match target {
            Value::Obj(i) => match &mut self.objs[i as usize] {
                Obj::List(l) => {
                    l.extend(items);
                    Ok(())
                }
                Obj::Opaque(_) => Ok(()),
                other => {
                    let k = other.kind();
                    Err(self.invalid(format!("cannot append to a {k}")))
                }
            },
            _ => Err(self.invalid(format!("cannot append to a {}", self.kind(target)))),
        }
    }

    fn execute(&mut self) -> Result<Value, Error> {
        loop {
            self.at = self.pos as u64;
            let Some(&op) = self.data.get(self.pos) else {
                return Err(Error::PickleEof {
                    what: "pickle (no STOP)",
                    offset: self.at,
                });
            };
            self.op = op;
            self.pos += 1;
            match op {
                0x80 => {
                    let v = self.u8()?;
                    if v > 5 {
                        return Err(self.invalid(format!("protocol {v} is newer than 5")));
                    }
                }
                0x95 => {
                    let n = self.u64()?;
                    if n > (self.data.len() - self.pos) as u64 {
                        return Err(Error::PickleEof {
                            what: "FRAME",
                            offset: self.at,
                        });
                    }
                }
                b'.' => return self.pop(),
                b'(' => {
                    if self.marks.len() >= MAX_MARKS {
                        return Err(self.cap("open MARKs", MAX_MARKS as u64));
                    }
                    self.marks.push(self.stack.len());
                }
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let v = self.top()?;
                    self.push(v)?;
                }
                b'N' => self.push(Value::None)?,
                0x88 => self.push(Value::Bool(true))?,
                0x89 => self.push(Value::Bool(false))?,
                b'J' => {
                    let v = self.u32()? as i32;
                    self.push(Value::Int(i64::from(v)))?;
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Value::Int(i64::from(v)))?;
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push(Value::Int(i64::from(v)))?;
                }
                0x8a => {
                    let n = self.u8()?;
                    self.long(u64::from(n))?;
                }
                0x8b => {
                    let n = self.u32()? as i32;
                    let n = u64::try_from(n).map_err(|_| self.invalid("negative length"))?;
                    self.long(n)?;
                }
                b'G' => {
                    let b = self.take(8, "BINFLOAT")?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    self.push(Value::Float(f64::from_be_bytes(a)))?;
                }
                b'X' => {
                    let n = self.u32()?;
                    self.string(u64::from(n), true)?;
                }
                0x8c => {
                    let n = self.u8()?;
                    self.string(u64::from(n), true)?;
                }
                0x8d => {
                    let n = self.u64()?;
                    self.string(n, true)?;
                }
                b'T' => {
                    let n = self.u32()? as i32;
                    let n = u64::try_from(n).map_err(|_| self.invalid("negative length"))?;
                    self.string(n, false)?;
                }
                b'U' => {
                    let n = self.u8()?;
                    self.string(u64::from(n), false)?;
                }
                b'B' => {
                    let n = self.u32()?;
                    self.bytes(u64::from(n))?;
                }
                b'C' => {
                    let n = self.u8()?;
                    self.bytes(u64::from(n))?;
                }
                0x8e | 0x96 => {
                    let n = self.u64()?;
                    self.bytes(n)?;
                }
                b'}' => {
                    let v = self.alloc(Obj::Dict(Box::default()))?;
                    self.push(v)?;
                }
                b']' => {
                    let v = self.alloc(Obj::List(Vec::new()))?;
                    self.push(v)?;
                }
                b')' => self.tuple(Vec::new())?,
                0x8f => {
                    let v = self.alloc(Obj::Opaque("set"))?;
                    self.push(v)?;
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.tuple(items)?;
                }
                0x85 => {
                    let a = self.pop()?;
                    self.tuple(vec![a])?;
                }
                0x86 => {
                    let b = self.pop()?;
                    let a = self.pop()?;
                    self.tuple(vec![a, b])?;
                }
                0x87 => {
                    let c = self.pop()?;
                    let b = self.pop()?;
                    let a = self.pop()?;
                    self.tuple(vec![a, b, c])?;
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    let v = self.alloc(Obj::List(items))?;
                    self.push(v)?;
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    let v = self.alloc(Obj::Dict(Box::default()))?;
                    self.push(v)?;
                    self.set_items(items)?;
                }
                0x91 => {
                    self.pop_mark()?;
                    let v = self.alloc(Obj::Opaque("frozenset"))?;
                    self.push(v)?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.set_items(vec![k, v])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.set_items(items)?;
                }
                b'a' => {
                    let v = self.pop()?;
                    self.append(vec![v])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.append(items)?;
                }
                0x90 => {
                    self.pop_mark()?;
                    let target = self.top()?;
                    if !matches!(self.obj(target), Some(Obj::Opaque(_))) {
                        return Err(
                            self.invalid(format!("cannot add items to a {}", self.kind(target)))
                        );
                    }
                }
                b'q' => {
                    let k = self.u8()?;
                    self.memo_put(u32::from(k))?;
                }
                b'r' => {
                    let k = self.u32()?;
                    self.memo_put(k)?;
                }
                0x94 => {
                    let k = u32::try_from(self.memo.len())
                        .map_err(|_| self.cap("memo size", MAX_MEMO as u64))?;
                    self.memo_put(k)?;
                }
                b'h' => {
                    let k = self.u8()?;
                    self.memo_get(u32::from(k))?;
                }
                b'j' => {
                    let k = self.u32()?;
                    self.memo_get(k)?;
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.global(module, name)?;
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Some(m), Some(n)) = (self.str_of(module), self.str_of(name)) else {
                        return Err(self.invalid(format!(
                            "module and name must be str, got {} and {}",
                            self.kind(module),
                            self.kind(name)
                        )));
                    };
                    let (m, n) = (m.to_owned(), n.to_owned());
                    self.global(&m, &n)?;
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let v = self.persistent_load(pid)?;
                    self.push(v)?;
                }
                b'R' => {
                    let args = self.pop()?;
                    let func = self.pop()?;
                    let args = self.tuple_items(args, "REDUCE arguments")?;
                    let v = self.call(func, &args)?;
                    self.push(v)?;
                }
                0x81 => {
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    let args = self.tuple_items(args, "NEWOBJ arguments")?;
                    let v = self.call(cls, &args)?;
                    self.push(v)?;
                }
                0x92 => {
                    let _kwargs = self.pop()?;
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    let args = self.tuple_items(args, "NEWOBJ_EX arguments")?;
                    let v = self.call(cls, &args)?;
                    self.push(v)?;
                }
                b'b' => {
                    let _state = self.pop()?;
                    let target = self.top()?;
                    match self.obj(target) {
                        Some(Obj::Tensor(_) | Obj::Dict(_) | Obj::Opaque(_)) => {}
                        _ => {
                            return Err(self.invalid(format!(
                                "cannot set the state of a {}",
                                self.kind(target)
                            )))
                        }
                    }
                }
                _ => {
                    return Err(Error::PickleOpcode {
                        opcode: op,
                        name: opcode_name(op),
                        offset: self.at,
                    });
                }
            }
        }
    }

    fn tuple_items(&self, v: Value, what: &str) -> Result<Vec<Value>, Error> {
        match self.obj(v) {
            Some(Obj::Tuple(t)) => Ok(t.clone()),
            _ => Err(self.invalid(format!("{what} must be a tuple, got {}", self.kind(v)))),
        }
    }

    fn int_of(&self, v: Value, what: &str) -> Result<u64, Error> {
        match v {
            Value::Int(i) => {
                u64::try_from(i).map_err(|_| self.invalid(format!("{what} is negative ({i})")))
            }
            Value::Bool(b) => Ok(u64::from(b)),
            _ => Err(self.invalid(format!("{what} must be an int, got {}", self.kind(v)))),
        }
    }

    fn dims_of(&self, v: Value, what: &str) -> Result<Vec<u64>, Error> {
        let items = match self.obj(v) {
            Some(Obj::Tuple(t) | Obj::List(t)) => t,
            _ => return Err(self.invalid(format!("{what} must be a tuple, got {}", self.kind(v)))),
        };
        if items.len() > MAX_RANK {
            return Err(self.cap("tensor rank", MAX_RANK as u64));
        }
        items.iter().map(|&d| self.int_of(d, what)).collect()
    }

    fn persistent_load(&mut self, pid: Value) -> Result<Value, Error> {
        let items = match self.obj(pid) {
            Some(Obj::Tuple(t)) => t.clone(),
            _ => {
                return Err(self.invalid(format!(
                    "persistent id must be a tuple, got {}",
                    self.kind(pid)
                )))
            }
        };
        if items.len() != 5 || self.str_of(items[0]) != Some("storage") {
            return Err(
                self.invalid("persistent id is not ('storage', type, key, location, numel)")
            );
        }
        let ty = match self.obj(items[1]) {
            Some(Obj::Global(Global::Storage(t), _)) => *t,
            _ => {
                return Err(self.invalid(format!(
                    "persistent id storage type is a {}",
                    self.kind(items[1])
                )))
            }
        };
        let key = match (items[2], self.str_of(items[2])) {
            (_, Some(s)) => s.to_owned(),
            (Value::Int(i), None) => i.to_string(),
            _ => return Err(self.invalid(format!("storage key is a {}", self.kind(items[2])))),
        };
        let location = self.str_of(items[3]).unwrap_or("").to_owned();
        let numel = self.int_of(items[4], "storage numel")?;
        let decl = StorageDeclRaw {
            key: key.clone(),
            ty,
            location,
            numel,
        };
        let index = match self.storage_by_key.get(&key) {
            Some(&i) => {
                let first = &self.storages[i];
                if first.ty != decl.ty || first.numel != decl.numel {
                    return Err(Error::StorageConflict {
                        key,
                        first: format!("{} x {}", first.numel, first.ty.dtype().name),
                        second: format!("{} x {}", decl.numel, decl.ty.dtype().name),
                    });
                }
                i
            }
            None => {
                self.storages.push(decl);
                self.storage_by_key.insert(key, self.storages.len() - 1);
                self.storages.len() - 1
            }
        };
        self.alloc(Obj::Storage(index))
    }

    fn call(&mut self, func: Value, args: &[Value]) -> Result<Value, Error> {
        let (g, name) = match self.obj(func) {
            Some(Obj::Global(g, n)) => (*g, n.clone()),
            _ => return Err(self.invalid(format!("cannot call a {}", self.kind(func)))),
        };
        let arity = |ok: bool| -> Result<(), Error> {
            if ok {
                Ok(())
            } else {
                Err(self.invalid(format!("`{name}` called with {} arguments", args.len())))
            }
        };
        match g {
            Global::OrderedDict => {
                arity(args.len() <= 1)?;
                let v = self.alloc(Obj::Dict(Box::default()))?;
                if let Some(&items) = args.first() {
                    let pairs = match self.obj(items) {
                        Some(Obj::List(l) | Obj::Tuple(l)) => l.clone(),
                        _ => {
                            return Err(self.invalid("OrderedDict argument must be a list of pairs"))
                        }
                    };
                    let mut flat = Vec::with_capacity(pairs.len() * 2);
                    for p in pairs {
                        match self.obj(p) {
                            Some(Obj::Tuple(kv) | Obj::List(kv)) if kv.len() == 2 => {
                                flat.extend_from_slice(kv)
                            }
                            _ => {
                                return Err(
                                    self.invalid("OrderedDict argument must be a list of pairs")
                                )
                            }
                        }
                    }
                    self.push(v)?;
                    self.set_items(flat)?;
                    self.pop()?;
                }
                Ok(v)
            }
            Global::RebuildTensor => {
                arity(args.len() == 4)?;
                self.rebuild_tensor(args, None)
            }
            Global::RebuildTensorV2 => {
                arity(args.len() == 6 || args.len() == 7)?;
                self.rebuild_tensor(args, None)
            }
            Global::RebuildTensorV3 => {
                arity(args.len() == 7 || args.len() == 8)?;
                let dtype = match self.obj(args[6]) {
                    Some(Obj::Global(Global::Dtype(d), _)) => *d,
                    _ => {
                        return Err(
                            self.invalid(format!("dtype argument is a {}", self.kind(args[6])))
                        )
                    }
                };
                self.rebuild_tensor(args, Some(dtype))
            }
            Global::RebuildParameter | Global::RebuildParameterWithState => {
                arity(args.len() == if g == Global::RebuildParameter { 3 } else { 4 })?;
                match self.obj(args[0]) {
                    Some(Obj::Tensor(_)) => Ok(args[0]),
                    _ => Err(self.invalid(format!("parameter data is a {}", self.kind(args[0])))),
                }
            }
            Global::RebuildFromTypeV2 => {
                arity(args.len() == 4)?;
                match self.obj(args[1]) {
                    Some(Obj::Global(Global::TensorClass, _)) => {}
                    _ => {
                        return Err(self.invalid(format!("tensor type is a {}", self.kind(args[1]))))
                    }
                }
                let inner = self.tuple_items(args[2], "_rebuild_from_type_v2 arguments")?;
                if matches!(
                    self.obj(args[0]),
                    Some(Obj::Global(Global::RebuildFromTypeV2, _))
                ) {
                    return Err(self.invalid("nested _rebuild_from_type_v2"));
                }
                let t = self.call(args[0], &inner)?;
                match self.obj(t) {
                    Some(Obj::Tensor(_)) => Ok(t),
                    _ => Err(self.invalid(format!("`{name}` rebuilt a {}", self.kind(t)))),
                }
            }
            Global::TorchSize => {
                arity(args.len() <= 1)?;
                let dims = match args.first() {
                    None => Vec::new(),
                    Some(&a) => match self.obj(a) {
                        Some(Obj::Tuple(t) | Obj::List(t)) => t.clone(),
                        _ => return Err(self.invalid("torch.Size argument must be a tuple")),
                    },
                };
                self.alloc(Obj::Tuple(dims))
            }
            Global::Opaque => self.alloc(Obj::Opaque("object")),
            Global::TensorClass | Global::Storage(_) | Global::Dtype(_) => {
                Err(self.invalid(format!("calling `{name}` is not supported")))
            }
        }
    }

    fn rebuild_tensor(
        &mut self,
        args: &[Value],
        dtype: Option<TorchDtype>,
    ) -> Result<Value, Error> {
        let storage = match self.obj(args[0]) {
            Some(Obj::Storage(i)) => *i,
            _ => return Err(self.invalid(format!("tensor storage is a {}", self.kind(args[0])))),
        };
        let offset = self.int_of(args[1], "storage offset")?;
        let shape = self.dims_of(args[2], "tensor size")?;
        let strides = self.dims_of(args[3], "tensor stride")?;
        if shape.len() != strides.len() {
            return Err(self.invalid(format!(
                "size has {} dims but stride has {}",
                shape.len(),
                strides.len()
            )));
        }
        let dtype = match (dtype, self.storages[storage].ty) {
            (Some(d), _) => d,
            (None, StorageType::Typed(d)) => d,
            (None, StorageType::Untyped) => {
                return Err(self.invalid("an untyped storage needs _rebuild_tensor_v3 with a dtype"))
            }
        };
        self.alloc(Obj::Tensor(Box::new(RawTensor {
            storage,
            offset,
            shape,
            strides,
            dtype,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_allowed_global_resolves() {
        for (m, n, _) in ALLOWED_GLOBALS {
            assert!(resolve_global(m, n).is_some(), "{m}.{n}");
        }
        assert_eq!(resolve_global("os", "system"), None);
        assert_eq!(resolve_global("torch", "load"), None);
        assert_eq!(
            resolve_global("torch", "BFloat16Storage"),
            Some(Global::Storage(StorageType::Typed(
                TorchDtype::from_attr("bfloat16").unwrap()
            )))
        );
    }

    #[test]
    fn dtype_table_round_trips() {
        for d in [
            Dtype::F32,
            Dtype::F16,
            Dtype::BF16,
            Dtype::I64,
            Dtype::U8,
            Dtype::Bool,
        ] {
            let t = TorchDtype::from_dtype(d).unwrap();
            assert_eq!(t.dtype, d);
            assert_eq!(
                TorchDtype::from_storage_class(t.storage_class().unwrap()),
                Some(t)
            );
            assert_eq!(TorchDtype::from_attr(t.attr()), Some(t));
        }
    }
}
