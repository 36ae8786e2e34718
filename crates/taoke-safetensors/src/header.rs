//! The safetensors header.

use std::collections::BTreeMap;

use serde_json::value::RawValue;
use serde_json::Value;
use taoke_dtype::Dtype;

/// Largest header accepted, in bytes (huggingface_hub uses 25 MB for remote parsing; the
/// reference crate 100 MB).
pub const MAX_HEADER_LEN: u64 = 100_000_000;
/// Most tensors accepted in one file (64 Ki; real shards hold at most a few thousand, a
/// whole large MoE model tens of thousands across its shards). Bounds memory: a header of
/// 256 Ki empty tensors made `taoke inspect` take 650 MiB of RSS.
pub const MAX_TENSORS: usize = 1 << 16;
/// Most dimensions accepted for one tensor.
pub const MAX_DIMS: usize = 16;
/// Largest JSON text of one tensor entry (a real one is under 200 bytes). Entries are parsed
/// one at a time from their text, so memory stays near the header's size.
pub const MAX_ENTRY_LEN: usize = 64 << 10;
/// Largest JSON text of `__metadata__` (real ones are a few KiB; training tools' largest are a
/// few MiB of strings).
pub const MAX_METADATA_LEN: usize = 16 << 20;
/// Most `__metadata__` entries.
pub const MAX_METADATA_ENTRIES: usize = 1 << 16;

/// Returned by [`Header::parse`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Fewer than 8 bytes.
    #[error("file too short for a safetensors header ({0} bytes)")]
    TooShort(usize),
    /// The declared header length exceeds the cap or the file.
    #[error("header length {declared} exceeds {limit} (file is {file_len} bytes)")]
    HeaderTooLarge {
        /// Declared length.
        declared: u64,
        /// The cap in force.
        limit: u64,
        /// File length.
        file_len: u64,
    },
    /// The header is not valid UTF-8 JSON.
    #[error("header is not valid JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// The header is not a JSON object.
    #[error("header is not a JSON object")]
    NotAnObject,
    /// A tensor entry is malformed.
    #[error("tensor `{name}`: {problem}")]
    BadEntry {
        /// Tensor name.
        name: String,
        /// What is wrong.
        problem: String,
    },
    /// `__metadata__` is over [`MAX_METADATA_LEN`] or [`MAX_METADATA_ENTRIES`], or a value
    /// in it is not a string and over [`MAX_ENTRY_LEN`].
    #[error("__metadata__: {0}")]
    Metadata(String),
    /// Too many tensors.
    #[error("header lists {0} tensors, more than the cap of {MAX_TENSORS}")]
    TooManyTensors(usize),
    /// Two tensors overlap.
    #[error("tensor `{name}`: data [{begin}, {end}) overlaps the previous tensor, which ends at {prev_end}")]
    Overlap {
        /// Tensor name.
        name: String,
        /// Begin offset.
        begin: u64,
        /// End offset.
        end: u64,
        /// End of the previous tensor (in offset order).
        prev_end: u64,
    },
    /// Tensor data extends past the end of the file.
    #[error("tensor `{name}`: data ends at {end} but the data section holds {data_len} bytes")]
    OutOfBounds {
        /// Tensor name.
        name: String,
        /// End offset.
        end: u64,
        /// Data section length.
        data_len: u64,
    },
}

/// One tensor of the header.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorEntry {
    /// Tensor name.
    pub name: String,
    /// The dtype string as written in the file (`"BF16"`, `"F8_E4M3"`, …).
    pub dtype_name: String,
    /// The dtype, or [`Dtype::Unknown`] for a string this version does not know.
    pub dtype: Dtype,
    /// Row-major shape.
    pub shape: Vec<u64>,
    /// `[begin, end)` relative to the data section.
    pub data_offsets: (u64, u64),
}

/// A parsed safetensors header.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// Length of the JSON header in bytes.
    pub header_len: u64,
    /// Byte offset of the data section in the file (`8 + header_len`).
    pub data_start: u64,
    /// Tensors in file order (by begin offset, then name).
    pub tensors: Vec<TensorEntry>,
    /// `__metadata__`, string values as is, other JSON values rendered as JSON text.
    pub metadata: BTreeMap<String, String>,
}

impl Header {
    /// Reads the header length from the first 8 bytes (for callers that read the header
    /// separately, e.g. over HTTP ranges).
    pub fn header_len(prefix: &[u8]) -> Result<u64, Error> {
        let b: [u8; 8] = prefix
            .get(..8)
            .and_then(|s| s.try_into().ok())
            .ok_or(Error::TooShort(prefix.len()))?;
        Ok(u64::from_le_bytes(b))
    }

    /// Parses and validates the header of a complete file `bytes`.
    ///
    /// Validation: the header fits in the file and under [`MAX_HEADER_LEN`]; every tensor's
    /// byte range matches its dtype and shape (for known dtypes), lies inside the data
    /// section, and no two ranges overlap.
    pub fn parse(bytes: &[u8]) -> Result<Header, Error> {
        Self::parse_with_len(bytes, bytes.len() as u64)
    }

    /// Parses a header from `prefix` (which must hold at least the 8-byte length and the whole
    /// JSON), validating tensor ranges against a file of `file_len` bytes.
    pub fn parse_with_len(prefix: &[u8], file_len: u64) -> Result<Header, Error> {
        let n = Self::header_len(prefix)?;
        let avail = file_len.saturating_sub(8);
        if n > MAX_HEADER_LEN || n > avail || n > (prefix.len() as u64).saturating_sub(8) {
            return Err(Error::HeaderTooLarge {
                declared: n,
                limit: MAX_HEADER_LEN.min(avail),
                file_len,
            });
        }
        let json = &prefix[8..8 + n as usize];
        let Entries(Some((map, count))) = serde_json::from_slice(json).map_err(Error::Json)? else {
            return Err(Error::NotAnObject);
        };
        if count > MAX_TENSORS + 1 {
            return Err(Error::TooManyTensors(count));
        }
        let data_start = 8 + n;
        let data_len = file_len - data_start;
        let mut metadata = BTreeMap::new();
        let mut tensors = Vec::with_capacity(map.len());
        for (name, raw) in map {
            if name == "__metadata__" {
                metadata = parse_metadata(raw)?;
                continue;
            }
            if raw.get().len() > MAX_ENTRY_LEN {
                return Err(bad(
                    &name,
                    format!(
                        "entry is {} bytes of JSON, more than the cap of {MAX_ENTRY_LEN}",
                        raw.get().len()
                    ),
                ));
            }
            let v: Value = serde_json::from_str(raw.get()).map_err(Error::Json)?;
            tensors.push(parse_entry(name, v)?);
        }
        tensors.sort_by(|a, b| {
            a.data_offsets
                .cmp(&b.data_offsets)
                .then_with(|| a.name.cmp(&b.name))
        });
        let mut prev_end = 0u64;
        for t in &tensors {
            let (begin, end) = t.data_offsets;
            if begin < prev_end {
                return Err(Error::Overlap {
                    name: t.name.clone(),
                    begin,
                    end,
                    prev_end,
                });
            }
            if end > data_len {
                return Err(Error::OutOfBounds {
                    name: t.name.clone(),
                    end,
                    data_len,
                });
            }
            prev_end = end;
        }
        Ok(Header {
            header_len: n,
            data_start,
            tensors,
            metadata,
        })
    }
}

/// The top-level JSON value: `Some((entries, count))` for an object whose keys are unique,
/// entries in file order, `None` for any other JSON value. A repeated key is an error: JSON
/// parsers keep either the first or the last, so two readers could see different tensors under
/// one name. Past `MAX_TENSORS + 1` entries the rest are only counted, not kept, so an
/// oversized header costs no memory before it is refused.
/// Entries are kept as their JSON text (borrowed, not copied) and parsed one at a time.
struct Entries<'de>(Option<(Vec<(String, &'de RawValue)>, usize)>);

impl<'de> serde::Deserialize<'de> for Entries<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(EntriesVisitor)
    }
}

struct EntriesVisitor;

impl<'de> serde::de::Visitor<'de> for EntriesVisitor {
    type Value = Entries<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Entries<'de>, A::Error> {
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::new();
        let mut count = 0usize;
        while let Some(key) = map.next_key::<String>()? {
            count += 1;
            if count > MAX_TENSORS + 1 {
                map.next_value::<serde::de::IgnoredAny>()?;
                continue;
            }
            if !seen.insert(key.clone()) {
                return Err(serde::de::Error::custom(format_args!(
                    "key `{key}` appears twice"
                )));
            }
            out.push((key, map.next_value::<&'de RawValue>()?));
        }
        Ok(Entries(Some((out, count))))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Entries<'de>, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(Entries(None))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Entries<'de>, E> {
        Ok(Entries(None))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Entries<'de>, E> {
        Ok(Entries(None))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Entries<'de>, E> {
        Ok(Entries(None))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Entries<'de>, E> {
        Ok(Entries(None))
    }

    fn visit_str<E>(self, _: &str) -> Result<Entries<'de>, E> {
        Ok(Entries(None))
    }

    fn visit_unit<E>(self) -> Result<Entries<'de>, E> {
        Ok(Entries(None))
    }
}

/// `__metadata__` from its JSON text: string values as is, other values (at most
/// [`MAX_ENTRY_LEN`] bytes each) rendered as compact JSON; anything but an object is ignored.
fn parse_metadata(raw: &RawValue) -> Result<BTreeMap<String, String>, Error> {
    let text = raw.get();
    if text.len() > MAX_METADATA_LEN {
        return Err(Error::Metadata(format!(
            "{} bytes of JSON, more than the cap of {MAX_METADATA_LEN}",
            text.len()
        )));
    }
    if !text.starts_with('{') {
        return Ok(BTreeMap::new());
    }
    let items: Vec<(String, &RawValue)> = serde_json::from_str::<MetadataItems<'_>>(text)
        .map_err(Error::Json)?
        .0;
    let mut out = BTreeMap::new();
    for (k, v) in items {
        let v = v.get();
        let s = if v.starts_with('"') {
            serde_json::from_str::<String>(v).map_err(Error::Json)?
        } else if v.len() > MAX_ENTRY_LEN {
            return Err(Error::Metadata(format!(
                "value of `{k}` is {} bytes of JSON, more than the cap of {MAX_ENTRY_LEN}",
                v.len()
            )));
        } else {
            serde_json::from_str::<Value>(v)
                .map_err(Error::Json)?
                .to_string()
        };
        out.insert(k, s);
    }
    Ok(out)
}

/// The items of `__metadata__`, at most [`MAX_METADATA_ENTRIES`].
struct MetadataItems<'de>(Vec<(String, &'de RawValue)>);

impl<'de> serde::Deserialize<'de> for MetadataItems<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = MetadataItems<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<MetadataItems<'de>, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    if out.len() >= MAX_METADATA_ENTRIES {
                        return Err(serde::de::Error::custom(format_args!(
                            "more than {MAX_METADATA_ENTRIES} entries"
                        )));
                    }
                    out.push((k, map.next_value::<&'de RawValue>()?));
                }
                Ok(MetadataItems(out))
            }
        }
        d.deserialize_map(V)
    }
}

fn bad(name: &str, problem: impl Into<String>) -> Error {
    Error::BadEntry {
        name: name.to_owned(),
        problem: problem.into(),
    }
}

fn parse_entry(name: String, v: Value) -> Result<TensorEntry, Error> {
    let Value::Object(o) = v else {
        return Err(bad(&name, "entry is not an object"));
    };
    let dtype_name = o
        .get("dtype")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(&name, "missing string `dtype`"))?
        .to_owned();
    let shape_v = o
        .get("shape")
        .and_then(Value::as_array)
        .ok_or_else(|| bad(&name, "missing array `shape`"))?;
    if shape_v.len() > MAX_DIMS {
        return Err(bad(
            &name,
            format!("{} dimensions, more than {MAX_DIMS}", shape_v.len()),
        ));
    }
    let shape = shape_v
        .iter()
        .map(|d| {
            d.as_u64()
                .ok_or_else(|| bad(&name, "shape holds a non-integer"))
        })
        .collect::<Result<Vec<u64>, Error>>()?;
    let offs = o
        .get("data_offsets")
        .and_then(Value::as_array)
        .filter(|a| a.len() == 2)
        .ok_or_else(|| bad(&name, "missing `data_offsets` pair"))?;
    let begin = offs[0]
        .as_u64()
        .ok_or_else(|| bad(&name, "bad data_offsets"))?;
    let end = offs[1]
        .as_u64()
        .ok_or_else(|| bad(&name, "bad data_offsets"))?;
    if end < begin {
        return Err(bad(
            &name,
            format!("data_offsets [{begin}, {end}) are reversed"),
        ));
    }
    let dtype = Dtype::from_name(&dtype_name).unwrap_or(Dtype::Unknown);
    if dtype != Dtype::Unknown {
        let n = shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| bad(&name, "element count overflows"))?;
        let needed = dtype.bytes_for(n).ok_or_else(|| {
            bad(
                &name,
                format!("{n} elements of {dtype} do not fill whole bytes"),
            )
        })?;
        if needed != end - begin {
            return Err(bad(
                &name,
                format!(
                    "{dtype} × {shape:?} needs {needed} bytes but data_offsets span {}",
                    end - begin
                ),
            ));
        }
    }
    Ok(TensorEntry {
        name,
        dtype_name,
        dtype,
        shape,
        data_offsets: (begin, end),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(json: &str, data: usize) -> Vec<u8> {
        let mut v = (json.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(json.as_bytes());
        v.extend(std::iter::repeat_n(0u8, data));
        v
    }

    #[test]
    fn parses_and_tolerates_unknown_dtype() {
        let f = file(
            r#"{"__metadata__":{"format":"pt","n":1},"b":{"dtype":"F8_E4M3B11FNUZ","shape":[3],"data_offsets":[8,11]},"a":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]}}"#,
            11,
        );
        let h = Header::parse(&f).unwrap();
        assert_eq!(h.tensors.len(), 2);
        assert_eq!(h.tensors[0].name, "a");
        assert_eq!(h.tensors[1].dtype, Dtype::Unknown);
        assert_eq!(h.tensors[1].dtype_name, "F8_E4M3B11FNUZ");
        assert_eq!(h.metadata["n"], "1");
    }

    #[test]
    fn rejects_hostile_headers() {
        // header length larger than file
        let mut f = file("{}", 0);
        f[..8].copy_from_slice(&(1u64 << 40).to_le_bytes());
        assert!(matches!(
            Header::parse(&f),
            Err(Error::HeaderTooLarge { .. })
        ));
        // overlap
        let f = file(
            r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
            8,
        );
        assert!(matches!(Header::parse(&f), Err(Error::Overlap { .. })));
        // byte count mismatch
        let f = file(
            r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#,
            8,
        );
        let e = Header::parse(&f).unwrap_err().to_string();
        assert!(e.contains("tensor `a`"), "{e}");
        // out of bounds
        let f = file(
            r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#,
            8,
        );
        assert!(matches!(Header::parse(&f), Err(Error::OutOfBounds { .. })));
        // shape overflow
        let f = file(
            r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,16]}}"#,
            16,
        );
        assert!(Header::parse(&f).is_err());
        assert!(matches!(Header::parse(&[1, 2]), Err(Error::TooShort(2))));
        // a name twice (JSON readers keep the first or the last: refuse)
        let f = file(
            r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
            8,
        );
        let e = Header::parse(&f).unwrap_err().to_string();
        assert!(e.contains("key `a` appears twice"), "{e}");
        // not an object
        for h in ["[1,2]", "3", "\"x\"", "null", "true", "-1", "1.5"] {
            assert!(
                matches!(Header::parse(&file(h, 0)), Err(Error::NotAnObject)),
                "{h}"
            );
        }
    }

    #[test]
    fn caps() {
        // MAX_HEADER_LEN: a declared length over the cap is refused even when the file is
        // long enough to hold it.
        let mut f = file("{}", 0);
        f[..8].copy_from_slice(&(MAX_HEADER_LEN + 1).to_le_bytes());
        assert!(matches!(
            Header::parse_with_len(&f, 2 * MAX_HEADER_LEN),
            Err(Error::HeaderTooLarge { declared, limit, .. })
                if declared == MAX_HEADER_LEN + 1 && limit == MAX_HEADER_LEN
        ));
        // MAX_DIMS: 16 dimensions pass, 17 do not.
        let dims = |n: usize| vec!["1"; n].join(",");
        let h = format!(
            r#"{{"a":{{"dtype":"F32","shape":[{}],"data_offsets":[0,4]}}}}"#,
            dims(MAX_DIMS)
        );
        assert!(Header::parse(&file(&h, 4)).is_ok());
        let h = format!(
            r#"{{"a":{{"dtype":"F32","shape":[{}],"data_offsets":[0,4]}}}}"#,
            dims(MAX_DIMS + 1)
        );
        let e = Header::parse(&file(&h, 4)).unwrap_err().to_string();
        assert!(e.contains("17 dimensions"), "{e}");
        // MAX_TENSORS (+ `__metadata__`): counted before any entry is validated.
        let mut h = String::with_capacity(12 * (MAX_TENSORS + 3));
        h.push('{');
        for i in 0..MAX_TENSORS + 2 {
            if i > 0 {
                h.push(',');
            }
            h.push_str(&format!("\"{i}\":0"));
        }
        h.push('}');
        assert!(matches!(
            Header::parse(&file(&h, 0)),
            Err(Error::TooManyTensors(n)) if n == MAX_TENSORS + 2
        ));
        // JSON nesting is bounded by serde_json's recursion limit (128): no stack overflow.
        let deep = format!(
            r#"{{"__metadata__":{{"x":{}{}}}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(matches!(
            Header::parse(&file(&deep, 0)),
            Err(Error::Json(_) | Error::Metadata(_))
        ));
        let deep = format!(
            r#"{{"__metadata__":{{"x":{}{}}}}}"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert!(matches!(
            Header::parse(&file(&deep, 0)),
            Err(Error::Json(_))
        ));
    }

    #[test]
    fn metadata_and_entries_are_capped_before_they_are_built() {
        let file = |h: &str| {
            let mut out = (h.len() as u64).to_le_bytes().to_vec();
            out.extend_from_slice(h.as_bytes());
            out
        };
        // Strings as they are, other values as compact JSON.
        let h = Header::parse(&file(
            r#"{"__metadata__":{"format":"pt","n":[1, 2]},"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}"#,
        ))
        .unwrap();
        assert_eq!(h.metadata["format"], "pt");
        assert_eq!(h.metadata["n"], "[1,2]");
        // Over the byte cap, the entry cap, and one non-string value over MAX_ENTRY_LEN.
        let big = format!(
            r#"{{"__metadata__":{{"x":"{}"}}}}"#,
            "y".repeat(MAX_METADATA_LEN)
        );
        let e = Header::parse(&file(&big)).unwrap_err().to_string();
        assert!(e.contains("more than the cap"), "{e}");
        let many: Vec<String> = (0..=MAX_METADATA_ENTRIES)
            .map(|i| format!("\"{i}\":\"\""))
            .collect();
        let many = format!(r#"{{"__metadata__":{{{}}}}}"#, many.join(","));
        let e = Header::parse(&file(&many)).unwrap_err().to_string();
        assert!(e.contains("entries"), "{e}");
        let zeros = format!(
            r#"{{"__metadata__":{{"z":[{}0]}}}}"#,
            "0,".repeat(MAX_ENTRY_LEN)
        );
        let e = Header::parse(&file(&zeros)).unwrap_err().to_string();
        assert!(e.contains("value of `z`"), "{e}");
        // A tensor entry padded with a large unknown field.
        let padded = format!(
            r#"{{"a":{{"dtype":"F32","shape":[0],"data_offsets":[0,0],"pad":[{}0]}}}}"#,
            "0,".repeat(MAX_ENTRY_LEN)
        );
        let e = Header::parse(&file(&padded)).unwrap_err().to_string();
        assert!(e.contains("bytes of JSON"), "{e}");
    }

    #[test]
    fn matches_reference_crate() {
        let data: Vec<u8> = (0..24u8).collect();
        let tensors = vec![
            (
                "x",
                safetensors::tensor::TensorView::new(
                    safetensors::Dtype::F32,
                    vec![2, 2],
                    &data[..16],
                )
                .unwrap(),
            ),
            (
                "y",
                safetensors::tensor::TensorView::new(
                    safetensors::Dtype::BF16,
                    vec![4],
                    &data[16..24],
                )
                .unwrap(),
            ),
        ];
        let bytes = safetensors::serialize(tensors, None).unwrap();
        let h = Header::parse(&bytes).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        for t in &h.tensors {
            let v = st.tensor(&t.name).unwrap();
            let start = (h.data_start + t.data_offsets.0) as usize;
            let end = (h.data_start + t.data_offsets.1) as usize;
            assert_eq!(&bytes[start..end], v.data());
            assert_eq!(
                t.shape,
                v.shape().iter().map(|&d| d as u64).collect::<Vec<_>>()
            );
        }
    }
}
