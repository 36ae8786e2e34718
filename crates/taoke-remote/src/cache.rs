//! The on-disk range cache: one folder per (URL, ETag) holding the sparse `data` file, its
//! `ranges` index (one `start end` line per filled range, appended as ranges arrive and merged
//! when the file is opened again) and `meta.json`; `urls/<sha256(url)>.json` names the last
//! version seen of a URL, so offline mode can find it without asking the server.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Error, RangeSet, Result};

/// Lowercase hex SHA-256 of `s`.
pub(crate) fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What the cache knows about one version of a remote file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Meta {
    pub url: String,
    pub etag: String,
    pub len: u64,
}

impl Meta {
    /// The folder of this version: `<cache>/<sha256(url + "\n" + etag)>`; without an ETag
    /// the length stands in for it.
    pub(crate) fn dir(&self, cache: &Path) -> PathBuf {
        let version = if self.etag.is_empty() {
            format!("len={}", self.len)
        } else {
            self.etag.clone()
        };
        cache.join(sha256_hex(&format!("{}\n{version}", self.url)))
    }
}

/// `<cache>/urls/<sha256(url)>.json`.
pub(crate) fn url_record(cache: &Path, url: &str) -> PathBuf {
    cache.join("urls").join(format!("{}.json", sha256_hex(url)))
}

/// The last version of `url` recorded in the cache.
pub(crate) fn recorded(cache: &Path, url: &str) -> Option<Meta> {
    let bytes = std::fs::read(url_record(cache, url)).ok()?;
    serde_json::from_slice::<Meta>(&bytes)
        .ok()
        .filter(|m| m.url == url)
}

/// Writes `bytes` to `path` through a temporary file and a rename (readers never see half a
/// file; concurrent writers of the same content are harmless).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs_err::create_dir_all(dir).map_err(|e| Error::cache(dir, e))?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    fs_err::write(&tmp, bytes).map_err(|e| Error::cache(&tmp, e))?;
    fs_err::rename(&tmp, path).map_err(|e| Error::cache(path, e))
}

/// Reads a `ranges` index, keeping only well-formed ranges inside a file of `len` bytes.
pub(crate) fn load_ranges(path: &Path, len: u64) -> RangeSet {
    let mut set = RangeSet::new();
    let Ok(text) = std::fs::read_to_string(path) else {
        return set;
    };
    for line in text.lines() {
        let mut it = line.split_ascii_whitespace().map(str::parse::<u64>);
        if let (Some(Ok(a)), Some(Ok(b)), None) = (it.next(), it.next(), it.next()) {
            if a < b && b <= len {
                set.insert(a, b);
            }
        }
    }
    set
}

/// The index text of `set`: one `start end` line per range, in order.
pub(crate) fn ranges_text(set: &RangeSet) -> String {
    set.iter().map(|(a, b)| format!("{a} {b}\n")).collect()
}

/// Appends one range line to the index.
pub(crate) fn append_range(index: &mut std::fs::File, a: u64, b: u64) -> std::io::Result<()> {
    index.write_all(format!("{a} {b}\n").as_bytes())
}
