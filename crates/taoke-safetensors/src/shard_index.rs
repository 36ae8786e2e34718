//! Sharded checkpoints: `model.safetensors.index.json` (and the same shape for
//! `pytorch_model.bin.index.json`).

use std::collections::BTreeMap;

use serde_json::value::RawValue;
use serde_json::Value;

/// Largest index file accepted, in bytes.
pub const MAX_INDEX_LEN: usize = 64 << 20;
/// Most `weight_map` entries (tensors across all shards; the largest real models list about
/// 100 thousand).
pub const MAX_INDEX_ENTRIES: usize = 1 << 18;

/// Returned by [`ShardIndex::parse`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShardIndexError {
    /// The index is larger than [`MAX_INDEX_LEN`].
    #[error("index is {0} bytes, more than the cap of {MAX_INDEX_LEN}")]
    TooLarge(usize),
    /// Not JSON.
    #[error("index is not valid JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// No `weight_map` object of strings.
    #[error("index has no `weight_map` object mapping tensor names to file names")]
    NoWeightMap,
    /// A shard file name is not a plain file name in the same folder.
    #[error("shard file name `{0}` is not a plain relative file name")]
    BadFileName(String),
}

/// A parsed shard index.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardIndex {
    /// Tensor name → shard file name (relative to the index's folder).
    pub weight_map: BTreeMap<String, String>,
    /// `metadata.total_size` when present.
    pub total_size: Option<u64>,
}

/// The parts of an index that are read; every other field is skipped without being built.
#[derive(serde::Deserialize)]
struct Raw<'a> {
    #[serde(default)]
    weight_map: Option<WeightMap>,
    #[serde(default, borrow)]
    metadata: Option<&'a RawValue>,
}

/// `weight_map`, at most [`MAX_INDEX_ENTRIES`] entries, each file name checked as it is read.
struct WeightMap(BTreeMap<String, String>);

impl<'de> serde::Deserialize<'de> for WeightMap {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = WeightMap;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object mapping tensor names to file names")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<WeightMap, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(k) = map.next_key::<String>()? {
                    if out.len() >= MAX_INDEX_ENTRIES {
                        return Err(serde::de::Error::custom(format_args!(
                            "`weight_map` has more than {MAX_INDEX_ENTRIES} entries"
                        )));
                    }
                    let f: String = map.next_value()?;
                    if f.is_empty()
                        || f.contains('/')
                        || f.contains('\\')
                        || f == ".."
                        || f == "."
                        || f.contains('\0')
                    {
                        return Err(serde::de::Error::custom(BadName(f)));
                    }
                    out.insert(k, f);
                }
                Ok(WeightMap(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Marks a bad file name inside a serde error, so [`ShardIndex::parse`] can report it as
/// [`ShardIndexError::BadFileName`].
struct BadName(String);

impl std::fmt::Display for BadName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{BAD_NAME_MARK}{}{BAD_NAME_MARK}", self.0)
    }
}

const BAD_NAME_MARK: &str = "\u{1}bad-shard-name\u{1}";

impl ShardIndex {
    /// Parses an index file's bytes. Only `weight_map` and `metadata.total_size` are built;
    /// other fields are skipped, so memory grows with the entries kept, not the file.
    pub fn parse(bytes: &[u8]) -> Result<ShardIndex, ShardIndexError> {
        if bytes.len() > MAX_INDEX_LEN {
            return Err(ShardIndexError::TooLarge(bytes.len()));
        }
        let raw: Raw<'_> = serde_json::from_slice(bytes).map_err(|e| {
            let text = e.to_string();
            let mut parts = text.split(BAD_NAME_MARK);
            match (parts.next(), parts.next()) {
                (Some(_), Some(name)) => ShardIndexError::BadFileName(name.to_owned()),
                _ => ShardIndexError::Json(e),
            }
        })?;
        let weight_map = raw.weight_map.ok_or(ShardIndexError::NoWeightMap)?.0;
        let total_size = raw
            .metadata
            .filter(|m| m.get().len() <= 1 << 16)
            .and_then(|m| serde_json::from_str::<Value>(m.get()).ok())
            .and_then(|m| m.get("total_size").cloned())
            .and_then(|t| t.as_u64().or_else(|| t.as_f64().map(|f| f as u64)));
        Ok(ShardIndex {
            weight_map,
            total_size,
        })
    }

    /// The distinct shard file names, sorted.
    pub fn files(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.weight_map.values().map(String::as_str).collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_confines_names() {
        let i = ShardIndex::parse(
            br#"{"metadata":{"total_size":16},"weight_map":{"a":"m-2.safetensors","b":"m-1.safetensors","c":"m-1.safetensors"}}"#,
        )
        .unwrap();
        assert_eq!(i.files(), ["m-1.safetensors", "m-2.safetensors"]);
        assert_eq!(i.total_size, Some(16));
        assert!(matches!(
            ShardIndex::parse(br#"{"weight_map":{"a":"../../etc/passwd"}}"#),
            Err(ShardIndexError::BadFileName(_))
        ));
        assert!(ShardIndex::parse(b"{}").is_err());
    }

    #[test]
    fn caps() {
        // MAX_INDEX_LEN: refused before parsing.
        let big = vec![b' '; MAX_INDEX_LEN + 1];
        assert!(matches!(
            ShardIndex::parse(&big),
            Err(ShardIndexError::TooLarge(n)) if n == MAX_INDEX_LEN + 1
        ));
        // Nesting is bounded by serde_json's recursion limit: an error, no stack overflow.
        let deep = format!(
            "{{\"weight_map\":{}{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(matches!(
            ShardIndex::parse(deep.as_bytes()),
            Err(ShardIndexError::Json(_))
        ));
        // Names that are not plain file names in the folder.
        for f in ["", ".", "..", "a/b", "a\\\\b", "/etc/passwd", "a\\u0000b"] {
            let j = format!("{{\"weight_map\":{{\"t\":\"{f}\"}}}}");
            assert!(
                matches!(
                    ShardIndex::parse(j.as_bytes()),
                    Err(ShardIndexError::BadFileName(_))
                ),
                "{f:?}"
            );
        }
    }
}
