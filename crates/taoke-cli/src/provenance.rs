//! What every JSON output says about how it was made: the taoke version (with its commit),
//! the time (`SOURCE_DATE_EPOCH` when set, for byte-identical outputs), the fingerprint
//! algorithm, and each model's portable identity (what the user typed, the SHA-256 of its
//! files). Added beside the existing fields, never renaming one.

use serde_json::{json, Map, Value};

/// The time of an output, RFC 3339 UTC: `SOURCE_DATE_EPOCH` (seconds since 1970) when set
/// and valid, else now.
pub fn generated_at() -> String {
    match std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
    {
        Some(secs) => {
            let d = taoke_audit::date::Date::from_unix_days((secs / 86_400) as i64);
            let s = secs % 86_400;
            format!("{d}T{:02}:{:02}:{:02}Z", s / 3600, (s / 60) % 60, s % 60)
        }
        None => taoke_audit::date::rfc3339_now(),
    }
}

/// `taoke_version`, `generated_at` and `fingerprint_algorithm`, added to the top level of
/// a JSON output (existing keys are kept).
pub fn stamp(v: &mut Value) {
    if let Value::Object(m) = v {
        let add: Map<String, Value> = [
            ("taoke_version", json!(crate::VERSION)),
            ("generated_at", json!(generated_at())),
            (
                "fingerprint_algorithm",
                json!(taoke_registry::fingerprint::ALGORITHM),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        for (k, x) in add {
            m.entry(k).or_insert(x);
        }
    }
}

/// The portable identity of a model reference (what the user typed, repository and revision,
/// Ollama name, or folder and file name, and every weight file's SHA-256); `None` when it
/// cannot be opened (a fingerprint file) or read.
pub fn identity(reference: &str) -> Option<Value> {
    let ck = taoke_model::open(reference).ok()?;
    let mut id = taoke_audit::identity::Identity::of(&ck);
    id.hash_files(&ck).ok()?;
    let mut v = serde_json::to_value(&id).ok()?;
    v["reference"] = json!(portable_source(reference));
    Some(v)
}

/// How a fingerprint names its model: a remote reference (`hf:…`, `ollama:…`, `org/name`) as
/// typed; a local path relative to the working directory when it lies under it, else its
/// folder's and its own name (`FOLDER/FILE`, a folder by its name). Never an absolute path:
/// fingerprints are shared in packs.
pub fn portable_source(reference: &str) -> String {
    let p = std::path::Path::new(reference);
    if !p.exists() {
        return reference.to_owned();
    }
    let full = p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    if let Some(rel) = std::env::current_dir()
        .ok()
        .and_then(|d| d.canonicalize().ok())
        .and_then(|d| full.strip_prefix(d).ok().map(std::path::Path::to_path_buf))
        .filter(|r| !r.as_os_str().is_empty())
    {
        return rel.to_string_lossy().into_owned();
    }
    let name = |q: &std::path::Path| {
        q.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    // The names as typed (a link by its own name, not its target's).
    match p.parent().map(name) {
        Some(folder) if !folder.is_empty() && p.is_file() => format!("{folder}/{}", name(p)),
        _ => name(p),
    }
}
