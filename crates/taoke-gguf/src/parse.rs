//! Parsing a GGUF file held in memory: header, metadata, tensor infos, bounds checks.
//!
//! Layout (all little-endian): magic `GGUF`, `u32` version, tensor count, metadata count, the
//! key-value pairs, the tensor infos, padding to the alignment, then the data section. Version 1
//! stores counts, string lengths, array lengths and dimensions as `u32`; versions 2 and 3 as
//! `u64`. Nothing here copies tensor data: a [`TensorInfo`] only records where the bytes are.

use std::collections::HashSet;
use std::ops::Range;

use taoke_dtype::Dtype;

use crate::error::Error;
use crate::ggml_type::{dtype_from_ggml, ggml_type_name};
use crate::value::{type_id, Value};
use crate::{
    DEFAULT_ALIGNMENT, MAX_ALIGNMENT, MAX_ARRAY_LEN, MAX_DIMS, MAX_KV, MAX_METADATA_VALUES,
    MAX_NESTING_DEPTH, MAX_STRING_LEN, MAX_TENSORS,
};

/// A parsed GGUF header: metadata and tensor descriptors. The tensor bytes stay in the buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct Gguf {
    /// Format version (1, 2 or 3).
    pub version: u32,
    /// Key-value pairs, in file order.
    pub metadata: Vec<(String, Value)>,
    /// Tensor descriptors, in file order.
    pub tensors: Vec<TensorInfo>,
    /// Alignment of the data section and of tensor offsets (`general.alignment`, default 32).
    pub alignment: u64,
    /// Absolute offset of the data section (end of the header, padded to `alignment`).
    pub data_offset: u64,
}

/// Where one tensor is and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// Tensor name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// Dimensions as stored: innermost first (`dims[0]` is the row length).
    pub dims: Vec<u64>,
    /// The GGML type id as stored.
    pub ggml_type: u32,
    /// The element type; [`Dtype::Unknown`] for ids taoke does not know.
    pub dtype: Dtype,
    /// The type's name, e.g. `"Q4_K"`, or `"type_99"` for an unknown id.
    pub type_name: String,
    /// Offset of the data, relative to the data section.
    pub offset: u64,
    /// Size of the data in bytes; `None` when the type is unknown.
    pub byte_len: Option<u64>,
}

impl TensorInfo {
    /// The shape in row-major order (outermost first): `dims` reversed.
    pub fn shape_row_major(&self) -> Vec<u64> {
        self.dims.iter().rev().copied().collect()
    }

    /// The number of elements, or `None` on overflow.
    pub fn n_elements(&self) -> Option<u64> {
        self.dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
    }
}

impl Gguf {
    /// Parses a whole GGUF file (typically a memory map). Tensor data is not copied, but every
    /// tensor's byte range is checked to lie inside `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Gguf, Error> {
        parse(bytes, bytes.len() as u64)
    }

    /// Parses the header held in `prefix`, the first bytes of a file of `file_len` bytes (for
    /// callers that fetch the header alone, e.g. over HTTP ranges); tensor byte ranges are
    /// checked against `file_len`. A prefix too short for the header fails like a truncated
    /// file.
    pub fn parse_with_len(prefix: &[u8], file_len: u64) -> Result<Gguf, Error> {
        parse(prefix, file_len.max(prefix.len() as u64))
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// `general.architecture`, e.g. `"llama"`.
    pub fn architecture(&self) -> Option<&str> {
        self.get_str("general.architecture")
    }

    /// An integer value of any width, if it is non-negative.
    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key)?.as_u64()
    }

    /// An integer value of any width, if it fits `i64`.
    pub fn get_i64(&self, key: &str) -> Option<i64> {
        self.get(key)?.as_i64()
    }

    /// A float (or integer) value as `f64`.
    pub fn get_f64(&self, key: &str) -> Option<f64> {
        self.get(key)?.as_f64()
    }

    /// A boolean value.
    pub fn get_bool(&self, key: &str) -> Option<bool> {
        self.get(key)?.as_bool()
    }

    /// A string value.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key)?.as_str()
    }

    /// The elements of an array value.
    pub fn get_array(&self, key: &str) -> Option<&[Value]> {
        self.get(key)?.as_array()
    }

    /// An array of strings (e.g. `tokenizer.ggml.tokens`); `None` if any element is not a string.
    pub fn get_str_array(&self, key: &str) -> Option<Vec<&str>> {
        self.get_array(key)?.iter().map(Value::as_str).collect()
    }

    /// An array of numbers as `f64` (e.g. `tokenizer.ggml.scores`); `None` if any is not numeric.
    pub fn get_f64_array(&self, key: &str) -> Option<Vec<f64>> {
        self.get_array(key)?.iter().map(Value::as_f64).collect()
    }

    /// An array of integers as `i64` (e.g. `tokenizer.ggml.token_type`).
    pub fn get_i64_array(&self, key: &str) -> Option<Vec<i64>> {
        self.get_array(key)?.iter().map(Value::as_i64).collect()
    }

    /// The tensor called `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// The absolute byte range of a tensor's data; `None` when its size is unknown.
    ///
    /// [`Gguf::parse`] has checked that this range lies inside the buffer it parsed.
    pub fn tensor_range(&self, tensor: &TensorInfo) -> Option<Range<usize>> {
        let start = self.data_offset.checked_add(tensor.offset)?;
        let end = start.checked_add(tensor.byte_len?)?;
        Some(usize::try_from(start).ok()?..usize::try_from(end).ok()?)
    }

    /// The data bytes of `tensor` inside `bytes` (the buffer given to [`Gguf::parse`]);
    /// `None` when the size is unknown or the range is not inside `bytes`.
    pub fn tensor_data<'a>(&self, bytes: &'a [u8], tensor: &TensorInfo) -> Option<&'a [u8]> {
        bytes.get(self.tensor_range(tensor)?)
    }
}

/// What is being read, for error messages: e.g. `("value of key", "general.name")`.
#[derive(Clone, Copy)]
struct Ctx<'a>(&'static str, &'a str);

impl Ctx<'_> {
    fn describe(self) -> String {
        if self.1.is_empty() {
            self.0.to_string()
        } else {
            format!("{} `{}`", self.0, self.1)
        }
    }
}

/// A bounds-checked little-endian cursor.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Version 1: counts and lengths are `u32`.
    v1: bool,
    /// Metadata values read so far (pairs and array elements), against
    /// [`MAX_METADATA_VALUES`].
    values: u64,
}

impl<'a> Reader<'a> {
    fn offset(&self) -> u64 {
        self.pos as u64
    }

    fn remaining(&self) -> u64 {
        (self.buf.len() - self.pos) as u64
    }

    fn truncated(&self, ctx: Ctx<'_>, needed: u64) -> Error {
        Error::Truncated {
            context: ctx.describe(),
            offset: self.offset(),
            needed,
            available: self.remaining(),
        }
    }

    /// Fails unless `needed` more bytes exist, without consuming them.
    fn ensure(&self, needed: u64, ctx: Ctx<'_>) -> Result<(), Error> {
        if needed > self.remaining() {
            return Err(self.truncated(ctx, needed));
        }
        Ok(())
    }

    fn take(&mut self, n: u64, ctx: Ctx<'_>) -> Result<&'a [u8], Error> {
        self.ensure(n, ctx)?;
        // `n <= remaining`, so it fits in usize.
        let n = n as usize;
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, ctx: Ctx<'_>) -> Result<[u8; N], Error> {
        let s = self.take(N as u64, ctx)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u8(&mut self, ctx: Ctx<'_>) -> Result<u8, Error> {
        Ok(self.array::<1>(ctx)?[0])
    }

    fn u32(&mut self, ctx: Ctx<'_>) -> Result<u32, Error> {
        self.array(ctx).map(u32::from_le_bytes)
    }

    fn u64(&mut self, ctx: Ctx<'_>) -> Result<u64, Error> {
        self.array(ctx).map(u64::from_le_bytes)
    }

    /// A count or length: `u32` in version 1, `u64` after.
    fn size(&mut self, ctx: Ctx<'_>) -> Result<u64, Error> {
        if self.v1 {
            self.u32(ctx).map(u64::from)
        } else {
            self.u64(ctx)
        }
    }

    fn size_bytes(&self) -> u64 {
        if self.v1 {
            4
        } else {
            8
        }
    }

    fn string(&mut self, ctx: Ctx<'_>) -> Result<String, Error> {
        let at = self.offset();
        let len = self.size(ctx)?;
        if len > MAX_STRING_LEN {
            return Err(Error::OverLimit {
                context: format!("length of {}", ctx.describe()),
                offset: at,
                value: len,
                max: MAX_STRING_LEN,
            });
        }
        let raw = self.take(len, ctx)?;
        match std::str::from_utf8(raw) {
            Ok(s) => Ok(s.to_string()),
            Err(_) => Err(Error::InvalidUtf8 {
                context: ctx.describe(),
                offset: at,
            }),
        }
    }

    /// A value of type `ty`; `depth` counts enclosing arrays.
    fn value(&mut self, ty: u32, key: &str, depth: usize) -> Result<Value, Error> {
        let ctx = Ctx("value of key", key);
        let at = self.offset();
        Ok(match ty {
            type_id::U8 => Value::U8(self.u8(ctx)?),
            type_id::I8 => Value::I8(self.u8(ctx)? as i8),
            type_id::U16 => Value::U16(u16::from_le_bytes(self.array(ctx)?)),
            type_id::I16 => Value::I16(i16::from_le_bytes(self.array(ctx)?)),
            type_id::U32 => Value::U32(self.u32(ctx)?),
            type_id::I32 => Value::I32(i32::from_le_bytes(self.array(ctx)?)),
            type_id::F32 => Value::F32(f32::from_le_bytes(self.array(ctx)?)),
            type_id::BOOL => match self.u8(ctx)? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                byte => {
                    return Err(Error::BadBool {
                        key: key.to_string(),
                        offset: at,
                        byte,
                    })
                }
            },
            type_id::STRING => Value::String(self.string(ctx)?),
            type_id::ARRAY => self.array_value(key, depth)?,
            type_id::U64 => Value::U64(self.u64(ctx)?),
            type_id::I64 => Value::I64(i64::from_le_bytes(self.array(ctx)?)),
            type_id::F64 => Value::F64(f64::from_le_bytes(self.array(ctx)?)),
            other => {
                return Err(Error::BadValueType {
                    key: key.to_string(),
                    offset: at,
                    type_id: other,
                })
            }
        })
    }

    fn array_value(&mut self, key: &str, depth: usize) -> Result<Value, Error> {
        let at = self.offset();
        if depth >= MAX_NESTING_DEPTH {
            return Err(Error::NestingTooDeep {
                key: key.to_string(),
                offset: at,
                max: MAX_NESTING_DEPTH,
            });
        }
        let ctx = Ctx("array header of key", key);
        let elem_ty = self.u32(ctx)?;
        let len_at = self.offset();
        let len = self.size(ctx)?;
        if len > MAX_ARRAY_LEN {
            return Err(Error::OverLimit {
                context: format!("length of array in key `{key}`"),
                offset: len_at,
                value: len,
                max: MAX_ARRAY_LEN,
            });
        }
        // Every element takes at least this many bytes: check before allocating.
        let min_elem = match elem_ty {
            type_id::U8 | type_id::I8 | type_id::BOOL => 1,
            type_id::U16 | type_id::I16 => 2,
            type_id::U32 | type_id::I32 | type_id::F32 => 4,
            type_id::U64 | type_id::I64 | type_id::F64 => 8,
            type_id::STRING => self.size_bytes(),
            type_id::ARRAY => 4 + self.size_bytes(),
            other => {
                return Err(Error::BadValueType {
                    key: key.to_string(),
                    offset: at,
                    type_id: other,
                })
            }
        };
        // `len <= MAX_ARRAY_LEN` and `min_elem <= 12`: no overflow.
        self.ensure(len * min_elem, Ctx("elements of array in key", key))?;
        self.values += len;
        if self.values > MAX_METADATA_VALUES {
            return Err(Error::OverLimit {
                context: format!("metadata values in total (at array in key `{key}`)"),
                offset: len_at,
                value: self.values,
                max: MAX_METADATA_VALUES,
            });
        }
        let mut items = Vec::with_capacity(len as usize);
        for _ in 0..len {
            items.push(self.value(elem_ty, key, depth + 1)?);
        }
        Ok(Value::Array(items))
    }

    /// A count of items of at least `min_size` bytes each, checked against `max` and against
    /// the bytes left.
    fn count(&mut self, what: &'static str, max: u64, min_size: u64) -> Result<u64, Error> {
        let at = self.offset();
        let n = self.size(Ctx(what, ""))?;
        if n > max {
            return Err(Error::OverLimit {
                context: what.to_string(),
                offset: at,
                value: n,
                max,
            });
        }
        self.ensure(n * min_size, Ctx(what, ""))?;
        Ok(n)
    }
}

fn parse(bytes: &[u8], file_len: u64) -> Result<Gguf, Error> {
    let mut r = Reader {
        buf: bytes,
        pos: 0,
        v1: false,
        values: 0,
    };
    if bytes.len() < 4 || &bytes[..4] != b"GGUF" {
        return Err(Error::BadMagic {
            found: bytes[..bytes.len().min(4)].to_vec(),
        });
    }
    r.pos = 4;
    let version = r.u32(Ctx("version", ""))?;
    if !(1..=3).contains(&version) {
        return Err(Error::UnsupportedVersion { version });
    }
    r.v1 = version == 1;
    let sz = r.size_bytes();
    // Minimal sizes: a tensor info is a name length, n_dims, type and offset; a key-value pair
    // is a key length and a value type.
    let n_tensors = r.count("tensor count", MAX_TENSORS, sz + 4 + 4 + 8)?;
    let n_kv = r.count("metadata count", MAX_KV, sz + 4)?;

    let mut metadata = Vec::with_capacity(n_kv as usize);
    let mut keys = HashSet::with_capacity(n_kv as usize);
    for i in 0..n_kv {
        let at = r.offset();
        let index = i.to_string();
        let key = r.string(Ctx("key of metadata pair", &index))?;
        if !keys.insert(key.clone()) {
            return Err(Error::DuplicateKey { key, offset: at });
        }
        let ty = r.u32(Ctx("value type of key", &key))?;
        let value = r.value(ty, &key, 0)?;
        metadata.push((key, value));
    }

    let alignment = match metadata.iter().find(|(k, _)| k == "general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some((_, v)) => match v.as_u64() {
            Some(a) if a.is_power_of_two() && a <= MAX_ALIGNMENT => a,
            _ => {
                return Err(Error::BadAlignment {
                    value: format!("{v:?}"),
                    max: MAX_ALIGNMENT,
                })
            }
        },
    };

    let mut tensors = Vec::with_capacity(n_tensors as usize);
    let mut names = HashSet::with_capacity(n_tensors as usize);
    for i in 0..n_tensors {
        let at = r.offset();
        let index = i.to_string();
        let name = r.string(Ctx("name of tensor", &index))?;
        if !names.insert(name.clone()) {
            return Err(Error::DuplicateTensor {
                tensor: name,
                offset: at,
            });
        }
        let ctx = Ctx("info of tensor", &name);
        let dims_at = r.offset();
        let n_dims = r.u32(ctx)?;
        if n_dims as usize > MAX_DIMS {
            return Err(Error::OverLimit {
                context: format!("dimension count of tensor `{name}`"),
                offset: dims_at,
                value: n_dims.into(),
                max: MAX_DIMS as u64,
            });
        }
        let dims = (0..n_dims)
            .map(|_| r.size(ctx))
            .collect::<Result<Vec<u64>, Error>>()?;
        let ggml_type = r.u32(ctx)?;
        let offset = r.u64(ctx)?;
        tensors.push(describe_tensor(name, dims, ggml_type, offset)?);
    }

    let header_end = r.offset();
    let data_offset = header_end
        .checked_next_multiple_of(alignment)
        .unwrap_or(u64::MAX);
    for t in &tensors {
        if !t.offset.is_multiple_of(alignment) {
            return Err(Error::Misaligned {
                tensor: t.name.clone(),
                offset: t.offset,
                alignment,
            });
        }
        let start = data_offset.checked_add(t.offset);
        let end = start.and_then(|s| s.checked_add(t.byte_len.unwrap_or(0)));
        match (start, end) {
            (Some(s), Some(e)) if e <= file_len => {
                debug_assert!(s <= e);
            }
            _ => {
                return Err(Error::OutOfBounds {
                    tensor: t.name.clone(),
                    start: start.unwrap_or(u64::MAX),
                    end: end.unwrap_or(u64::MAX),
                    file_len,
                })
            }
        }
    }

    // No two tensors may share bytes (empty tensors occupy none).
    let mut ranges: Vec<(u64, u64, &str)> = tensors
        .iter()
        .filter_map(|t| {
            let len = t.byte_len.filter(|&l| l > 0)?;
            Some((t.offset, t.offset + len, t.name.as_str()))
        })
        .collect();
    ranges.sort_unstable();
    if let Some(w) = ranges.windows(2).find(|w| w[1].0 < w[0].1) {
        return Err(Error::Overlap {
            tensor: w[1].2.to_owned(),
            offset: w[1].0,
            other: w[0].2.to_owned(),
            other_end: w[0].1,
        });
    }

    Ok(Gguf {
        version,
        metadata,
        tensors,
        alignment,
        data_offset,
    })
}

fn describe_tensor(
    name: String,
    dims: Vec<u64>,
    ggml_type: u32,
    offset: u64,
) -> Result<TensorInfo, Error> {
    let dtype = dtype_from_ggml(ggml_type);
    let n = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
    let Some(n) = n else {
        return Err(Error::ShapeOverflow { tensor: name, dims });
    };
    let byte_len = if dtype == Dtype::Unknown {
        None
    } else {
        let block = dtype.block_elems();
        let row_len = dims.first().copied().unwrap_or(1);
        if !row_len.is_multiple_of(block) {
            return Err(Error::PartialBlock {
                tensor: name,
                row_len,
                dtype,
                block,
            });
        }
        match dtype.bytes_for(n) {
            Some(b) => Some(b),
            None => return Err(Error::ShapeOverflow { tensor: name, dims }),
        }
    };
    Ok(TensorInfo {
        name,
        dims,
        ggml_type,
        dtype,
        type_name: ggml_type_name(ggml_type),
        offset,
        byte_len,
    })
}
