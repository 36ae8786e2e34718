//! Side files: the non-weight files that describe a model (config, tokenizer, README), read
//! from a model folder or fetched beside a remote file.

use std::path::Path;

use crate::fsafe;

/// Files that describe a model beside its weights.
pub(crate) const SIDE_FILES: &[&str] = &[
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
    "README.md",
];

/// Largest `config.json` read, in bytes (real ones are a few KiB). Its nesting is bounded by
/// serde_json's recursion limit (128).
pub(crate) const MAX_CONFIG_LEN: u64 = 16 << 20;

/// Reads and parses `config.json`; `Err` says why it is ignored.
pub(crate) fn read_config(path: &Path) -> std::result::Result<serde_json::Value, String> {
    let bytes = fsafe::read_capped(path, MAX_CONFIG_LEN).map_err(|e| e.to_string())?;
    match serde_json::from_slice(&bytes) {
        Ok(v @ serde_json::Value::Object(_)) => Ok(v),
        Ok(_) => Err("not a JSON object".into()),
        Err(e) => Err(format!("not valid JSON: {e}")),
    }
}

/// The parsed `config.json` among `side_files`, if any; a rejected one is left out with a
/// note saying why.
pub(crate) fn config_of(
    side_files: &[std::path::PathBuf],
    notes: &mut Vec<String>,
) -> Option<serde_json::Value> {
    side_files
        .iter()
        .find(|p| p.file_name().is_some_and(|n| n == "config.json"))
        .and_then(|p| match read_config(p) {
            Ok(v) => Some(v),
            Err(why) => {
                notes.push(format!("config.json ignored: {why}"));
                None
            }
        })
}
