//! Writing GGUF version 3: metadata of every value type and tensors given in row-major shape.

use std::borrow::Cow;
use std::collections::HashSet;
use std::io;

use taoke_dtype::Dtype;

use crate::error::WriteError;
use crate::ggml_type::ggml_type_of;
use crate::value::{type_id, Value};
use crate::{DEFAULT_ALIGNMENT, MAX_ALIGNMENT, MAX_DIMS};

/// Builds a GGUF v3 file. Every argument is checked when added, so writing cannot fail except
/// through the sink.
///
/// ```
/// use taoke_dtype::Dtype;
/// use taoke_gguf::{Gguf, GgufWriter};
///
/// let mut w = GgufWriter::new();
/// w.add_kv("general.architecture", "llama")?;
/// let data: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0].iter().flat_map(|v| v.to_le_bytes()).collect();
/// w.add_tensor("w", &[2, 3], Dtype::F32, data)?;
/// let bytes = w.to_bytes();
/// let g = Gguf::parse(&bytes)?;
/// assert_eq!(g.tensors[0].dims, [3, 2]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default, Clone)]
pub struct GgufWriter<'a> {
    metadata: Vec<(String, Value)>,
    keys: HashSet<String>,
    tensors: Vec<PendingTensor<'a>>,
    names: HashSet<String>,
}

#[derive(Debug, Clone)]
struct PendingTensor<'a> {
    name: String,
    /// Innermost first, as stored.
    dims: Vec<u64>,
    ggml_type: u32,
    data: Cow<'a, [u8]>,
}

impl<'a> GgufWriter<'a> {
    /// An empty file (no metadata, no tensors, alignment 32).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a metadata pair. Keys must be unique; arrays must hold one element type.
    /// A `general.alignment` key sets the alignment (see [`GgufWriter::set_alignment`]).
    pub fn add_kv(
        &mut self,
        key: impl Into<String>,
        value: impl Into<Value>,
    ) -> Result<&mut Self, WriteError> {
        let key = key.into();
        let value = value.into();
        if self.keys.contains(&key) {
            return Err(WriteError::DuplicateKey(key));
        }
        if !homogeneous(&value) {
            return Err(WriteError::MixedArray(key));
        }
        if key == "general.alignment" {
            match value.as_u64() {
                Some(a) if a.is_power_of_two() && a <= MAX_ALIGNMENT => {}
                other => return Err(WriteError::BadAlignment(other.unwrap_or(0))),
            }
        }
        self.keys.insert(key.clone());
        self.metadata.push((key, value));
        Ok(self)
    }

    /// Sets the alignment of tensor data (a power of two up to [`MAX_ALIGNMENT`]), stored as the
    /// `u32` key `general.alignment`. Without it the default of 32 applies.
    pub fn set_alignment(&mut self, alignment: u64) -> Result<&mut Self, WriteError> {
        let a = u32::try_from(alignment).map_err(|_| WriteError::BadAlignment(alignment))?;
        if !alignment.is_power_of_two() || alignment > MAX_ALIGNMENT {
            return Err(WriteError::BadAlignment(alignment));
        }
        if let Some((_, v)) = self
            .metadata
            .iter_mut()
            .find(|(k, _)| k == "general.alignment")
        {
            *v = Value::U32(a);
            return Ok(self);
        }
        self.add_kv("general.alignment", Value::U32(a))
    }

    /// Adds a tensor of `dtype` with a row-major `shape` (outermost first, as in numpy) and its
    /// raw bytes (little-endian; GGML blocks for quantized types).
    pub fn add_tensor(
        &mut self,
        name: impl Into<String>,
        shape: &[u64],
        dtype: Dtype,
        data: impl Into<Cow<'a, [u8]>>,
    ) -> Result<&mut Self, WriteError> {
        let name = name.into();
        let data = data.into();
        if self.names.contains(&name) {
            return Err(WriteError::DuplicateTensor(name));
        }
        let Some(ggml_type) = ggml_type_of(dtype) else {
            return Err(WriteError::UnsupportedDtype {
                tensor: name,
                dtype,
            });
        };
        if shape.len() > MAX_DIMS {
            return Err(WriteError::TooManyDims {
                tensor: name,
                n_dims: shape.len(),
                max: MAX_DIMS,
            });
        }
        let row_len = shape.last().copied().unwrap_or(1);
        if !row_len.is_multiple_of(dtype.block_elems()) {
            return Err(WriteError::PartialBlock {
                tensor: name,
                row_len,
                dtype,
            });
        }
        let needed = shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .and_then(|n| dtype.bytes_for(n));
        if needed != Some(data.len() as u64) {
            return Err(WriteError::Length {
                tensor: name,
                shape: shape.to_vec(),
                dtype,
                needed,
                got: data.len() as u64,
            });
        }
        self.names.insert(name.clone());
        self.tensors.push(PendingTensor {
            name,
            dims: shape.iter().rev().copied().collect(),
            ggml_type,
            data,
        });
        Ok(self)
    }

    fn alignment(&self) -> u64 {
        self.metadata
            .iter()
            .find(|(k, _)| k == "general.alignment")
            .and_then(|(_, v)| v.as_u64())
            .unwrap_or(DEFAULT_ALIGNMENT)
    }

    /// The header: everything before the data section, unpadded.
    fn header(&self) -> Vec<u8> {
        let alignment = self.alignment();
        let mut h = Vec::new();
        h.extend_from_slice(b"GGUF");
        h.extend_from_slice(&3u32.to_le_bytes());
        h.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        h.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (k, v) in &self.metadata {
            put_str(&mut h, k);
            h.extend_from_slice(&v.type_id().to_le_bytes());
            put_value(&mut h, v);
        }
        let mut offset = 0u64;
        for t in &self.tensors {
            put_str(&mut h, &t.name);
            h.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
            for d in &t.dims {
                h.extend_from_slice(&d.to_le_bytes());
            }
            h.extend_from_slice(&t.ggml_type.to_le_bytes());
            h.extend_from_slice(&offset.to_le_bytes());
            offset = (offset + t.data.len() as u64).next_multiple_of(alignment);
        }
        h
    }

    /// Writes the file to `sink`; returns the number of bytes written.
    pub fn write_to<W: io::Write>(&self, sink: &mut W) -> io::Result<u64> {
        let alignment = self.alignment();
        let header = self.header();
        sink.write_all(&header)?;
        let mut written = header.len() as u64;
        let zeros = vec![0u8; alignment as usize];
        let pad = |sink: &mut W, written: &mut u64| -> io::Result<()> {
            let n = written.next_multiple_of(alignment) - *written;
            sink.write_all(&zeros[..n as usize])?;
            *written += n;
            Ok(())
        };
        for t in &self.tensors {
            pad(sink, &mut written)?;
            sink.write_all(&t.data)?;
            written += t.data.len() as u64;
        }
        if !self.tensors.is_empty() {
            pad(sink, &mut written)?;
        }
        Ok(written)
    }

    /// The whole file as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Writing into a Vec cannot fail.
        let _ = self.write_to(&mut out);
        out
    }
}

fn homogeneous(v: &Value) -> bool {
    match v {
        Value::Array(items) => {
            items.iter().all(homogeneous)
                && items
                    .first()
                    .is_none_or(|f| items.iter().all(|x| x.type_id() == f.type_id()))
        }
        _ => true,
    }
}

fn put_str(h: &mut Vec<u8>, s: &str) {
    h.extend_from_slice(&(s.len() as u64).to_le_bytes());
    h.extend_from_slice(s.as_bytes());
}

fn put_value(h: &mut Vec<u8>, v: &Value) {
    match v {
        Value::U8(x) => h.push(*x),
        Value::I8(x) => h.extend_from_slice(&x.to_le_bytes()),
        Value::U16(x) => h.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => h.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => h.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => h.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => h.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(x) => h.push(u8::from(*x)),
        Value::String(s) => put_str(h, s),
        Value::Array(items) => {
            // An empty array has no element to take the type from; u8 is as good as any.
            let elem = items.first().map_or(type_id::U8, Value::type_id);
            h.extend_from_slice(&elem.to_le_bytes());
            h.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for x in items {
                put_value(h, x);
            }
        }
        Value::U64(x) => h.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => h.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => h.extend_from_slice(&x.to_le_bytes()),
    }
}
