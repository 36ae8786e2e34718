//! GGUF adapter (v1–v3). Shapes are reported row-major (GGUF dims reversed); tensors of unknown
//! GGML types are listed by name and fail only when read.

use taoke_gguf::{Gguf, Value};

use super::{Loader, Parsed};
use crate::{Error, FileId, Layout, MetaValue, Result, TensorInfo};

fn meta(v: &Value) -> MetaValue {
    match v {
        Value::U8(x) => MetaValue::Int(i64::from(*x)),
        Value::I8(x) => MetaValue::Int(i64::from(*x)),
        Value::U16(x) => MetaValue::Int(i64::from(*x)),
        Value::I16(x) => MetaValue::Int(i64::from(*x)),
        Value::U32(x) => MetaValue::Int(i64::from(*x)),
        Value::I32(x) => MetaValue::Int(i64::from(*x)),
        Value::U64(x) => i64::try_from(*x).map_or(MetaValue::UInt(*x), MetaValue::Int),
        Value::I64(x) => MetaValue::Int(*x),
        Value::F32(x) => MetaValue::Float(f64::from(*x)),
        Value::F64(x) => MetaValue::Float(*x),
        Value::Bool(b) => MetaValue::Bool(*b),
        Value::String(s) => MetaValue::Str(s.clone()),
        Value::Array(a) => MetaValue::Array(a.iter().map(meta).collect()),
    }
}

pub(crate) fn load(loader: &mut Loader, id: FileId) -> Result<Parsed> {
    let f = &loader.files[id];
    let g = Gguf::parse_with_len(f.bytes(), f.len).map_err(|e| Error::format(&f.path, e))?;
    let tensors = g
        .tensors
        .iter()
        .map(|t| {
            let len = t.byte_len.unwrap_or(0);
            TensorInfo {
                name: t.name.clone(),
                shape: t.shape_row_major(),
                dtype: t.dtype,
                dtype_name: t.type_name.clone(),
                layout: Layout::Dense {
                    file: id,
                    offset: g.data_offset + t.offset,
                    len,
                    dtype: t.dtype,
                },
                stored_bytes: len,
                folded: Vec::new(),
                graph: None,
            }
        })
        .collect();
    let mut metadata: Vec<(String, MetaValue)> = g
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), meta(v)))
        .collect();
    metadata.push(("gguf.version".into(), MetaValue::Int(i64::from(g.version))));
    Ok(Parsed { tensors, metadata })
}
