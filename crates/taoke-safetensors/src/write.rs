//! Writing safetensors files (tests, the zoo, format-changed copies).

use std::collections::BTreeMap;
use std::io::{self, Write};

use taoke_dtype::Dtype;

/// Writes a safetensors file: `tensors` as (name, dtype, row-major shape, bytes), in the given
/// order, with optional string metadata. The header is padded with spaces to a multiple of 8.
///
/// Fails with `InvalidInput` when a tensor's byte length does not match its dtype and shape.
pub fn write<W: Write>(
    out: &mut W,
    tensors: &[(&str, Dtype, &[u64], &[u8])],
    metadata: &BTreeMap<String, String>,
) -> io::Result<()> {
    let mut header = serde_json::Map::new();
    if !metadata.is_empty() {
        header.insert(
            "__metadata__".to_owned(),
            serde_json::to_value(metadata).map_err(io::Error::other)?,
        );
    }
    let mut offset = 0u64;
    for (name, dtype, shape, bytes) in tensors {
        let n = shape.iter().product::<u64>();
        if dtype.bytes_for(n) != Some(bytes.len() as u64) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "tensor `{name}`: {} bytes do not hold {dtype} × {shape:?}",
                    bytes.len()
                ),
            ));
        }
        let end = offset + bytes.len() as u64;
        header.insert(
            (*name).to_owned(),
            serde_json::json!({"dtype": dtype.name(), "shape": shape, "data_offsets": [offset, end]}),
        );
        offset = end;
    }
    let mut json =
        serde_json::to_vec(&serde_json::Value::Object(header)).map_err(io::Error::other)?;
    while json.len() % 8 != 0 {
        json.push(b' ');
    }
    out.write_all(&(json.len() as u64).to_le_bytes())?;
    out.write_all(&json)?;
    for (_, _, _, bytes) in tensors {
        out.write_all(bytes)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Header;

    #[test]
    fn round_trip_and_reference_reader() {
        let a: Vec<u8> = (0..16).collect();
        let b: Vec<u8> = (0..6).collect();
        let mut buf = Vec::new();
        let mut md = BTreeMap::new();
        md.insert("format".to_owned(), "pt".to_owned());
        write(
            &mut buf,
            &[("w", Dtype::F32, &[2, 2], &a), ("h", Dtype::F16, &[3], &b)],
            &md,
        )
        .unwrap();
        let h = Header::parse(&buf).unwrap();
        assert_eq!(h.tensors.len(), 2);
        assert_eq!(h.metadata["format"], "pt");
        let st = safetensors::SafeTensors::deserialize(&buf).unwrap();
        assert_eq!(st.tensor("h").unwrap().data(), &b[..]);
        assert!(write(&mut Vec::new(), &[("x", Dtype::F32, &[3], &a)], &md).is_err());
    }
}
