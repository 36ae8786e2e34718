//! safetensors adapter.

use taoke_safetensors::Header;

use super::{Loader, Parsed};
use crate::{Error, FileId, Layout, MetaValue, Result, TensorInfo};

/// A safetensors file starts with a little-endian u64 header length followed by `{`.
pub(crate) fn looks_like(b: &[u8]) -> bool {
    if b.len() < 10 {
        return false;
    }
    let n = u64::from_le_bytes(b[..8].try_into().expect("invariant: 8 bytes"));
    n >= 2 && n <= b.len() as u64 - 8 && b[8] == b'{'
}

pub(crate) fn load(loader: &mut Loader, id: FileId) -> Result<Parsed> {
    let f = &loader.files[id];
    let h = Header::parse_with_len(f.bytes(), f.len).map_err(|e| Error::format(&f.path, e))?;
    let tensors = h
        .tensors
        .into_iter()
        .map(|t| {
            let (b, e) = t.data_offsets;
            TensorInfo {
                layout: Layout::Dense {
                    file: id,
                    offset: h.data_start + b,
                    len: e - b,
                    dtype: t.dtype,
                },
                stored_bytes: e - b,
                name: t.name,
                shape: t.shape,
                dtype: t.dtype,
                dtype_name: t.dtype_name,
                folded: Vec::new(),
                graph: None,
            }
        })
        .collect();
    let metadata = h
        .metadata
        .into_iter()
        .map(|(k, v)| (k, MetaValue::Str(v)))
        .collect();
    Ok(Parsed { tensors, metadata })
}
