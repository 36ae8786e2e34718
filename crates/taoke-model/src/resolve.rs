//! Offline resolution of model references: paths, Hugging Face cache repo ids and Ollama
//! model names. Nothing here touches the network.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Resolves a reference to an existing file or folder.
pub fn resolve(reference: &str) -> Result<PathBuf> {
    if let Some(rest) = reference.strip_prefix("hf:") {
        return hf_cache(reference, rest);
    }
    if let Some(rest) = reference.strip_prefix("ollama:") {
        return ollama(reference, rest);
    }
    let p = Path::new(reference);
    if p.exists() {
        return Ok(p.to_path_buf());
    }
    if std::fs::symlink_metadata(p).is_ok() {
        // A symlink that does not resolve (a loop, a dangling target): say so.
        let e = crate::fsafe::check_regular(p).err();
        return Err(Error::NotFound {
            reference: reference.to_owned(),
            message: e.map_or_else(|| "cannot be resolved".to_owned(), |e| e.to_string()),
        });
    }
    if is_repo_id(reference) {
        if let Ok(p) = hf_cache(reference, reference) {
            return Ok(p);
        }
    }
    if reference.contains(':') && !reference.contains('/') || is_repo_id(reference) {
        if let Ok(p) = ollama(reference, reference) {
            return Ok(p);
        }
    }
    Err(Error::NotFound {
        reference: reference.to_owned(),
        message: "no such file or folder, and no matching repository in the Hugging Face cache \
                  or model in the Ollama store"
            .to_owned(),
    })
}

fn is_repo_id(s: &str) -> bool {
    let ok = |p: &str| {
        !p.is_empty()
            && p != "."
            && p != ".."
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    let s = s.split('@').next().unwrap_or(s);
    matches!(s.split('/').collect::<Vec<_>>().as_slice(), [a, b] if ok(a) && ok(b))
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn home() -> PathBuf {
    env_path("HOME").unwrap_or_else(|| PathBuf::from("."))
}

/// The Hugging Face hub cache folder, as huggingface_hub computes it.
pub fn hf_hub_cache() -> PathBuf {
    if let Some(p) = env_path("HF_HUB_CACHE").or_else(|| env_path("HUGGINGFACE_HUB_CACHE")) {
        return p;
    }
    if let Some(h) = env_path("HF_HOME") {
        return h.join("hub");
    }
    env_path("XDG_CACHE_HOME")
        .unwrap_or_else(|| home().join(".cache"))
        .join("huggingface")
        .join("hub")
}

fn hf_cache(reference: &str, id: &str) -> Result<PathBuf> {
    let (repo, rev) = id.split_once('@').unwrap_or((id, "main"));
    if !is_repo_id(repo) {
        return Err(Error::NotFound {
            reference: reference.to_owned(),
            message: format!("`{repo}` is not an `org/name` repository id"),
        });
    }
    let cache = hf_hub_cache();
    let dir = cache.join(format!("models--{}", repo.replace('/', "--")));
    let commit = if rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit()) {
        rev.to_owned()
    } else if rev
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        crate::fsafe::read_capped(&dir.join("refs").join(rev), 4096)
            .map(|s| String::from_utf8_lossy(&s).trim().to_owned())
            .map_err(|_| Error::NotFound {
                reference: reference.to_owned(),
                message: format!("no revision `{rev}` cached under {}", dir.display()),
            })?
    } else {
        return Err(Error::NotFound {
            reference: reference.to_owned(),
            message: format!("bad revision `{rev}`"),
        });
    };
    if !(commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit())) {
        return Err(Error::NotFound {
            reference: reference.to_owned(),
            message: format!("ref `{rev}` does not hold a commit hash"),
        });
    }
    let snap = dir.join("snapshots").join(&commit);
    if snap.is_dir() {
        Ok(snap)
    } else {
        Err(Error::NotFound {
            reference: reference.to_owned(),
            message: format!("no snapshot {}", snap.display()),
        })
    }
}

/// Largest Ollama manifest read (real ones are under 1 KiB).
const MAX_MANIFEST_LEN: u64 = 1 << 20;

/// The Ollama model store.
pub fn ollama_models_dir() -> PathBuf {
    env_path("OLLAMA_MODELS").unwrap_or_else(|| home().join(".ollama").join("models"))
}

fn ollama(reference: &str, name: &str) -> Result<PathBuf> {
    let not_found = |m: String| Error::NotFound {
        reference: reference.to_owned(),
        message: m,
    };
    let (name, tag) = name.rsplit_once(':').unwrap_or((name, "latest"));
    let parts: Vec<&str> = name.split('/').collect();
    let (host, ns, model) = match parts.as_slice() {
        [m] => ("registry.ollama.ai", "library", *m),
        [n, m] => ("registry.ollama.ai", *n, *m),
        [h, n, m] => (*h, *n, *m),
        _ => return Err(not_found(format!("`{name}` is not an Ollama model name"))),
    };
    let ok = |s: &str| {
        !s.is_empty()
            && s != ".."
            && s != "."
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    if ![host, ns, model, tag].iter().all(|s| ok(s)) {
        return Err(not_found(format!(
            "`{name}:{tag}` is not an Ollama model name"
        )));
    }
    let root = ollama_models_dir();
    let manifest = root
        .join("manifests")
        .join(host)
        .join(ns)
        .join(model)
        .join(tag);
    if std::fs::symlink_metadata(&manifest).is_err() {
        return Err(not_found(format!("no manifest {}", manifest.display())));
    }
    let bytes = crate::fsafe::read_capped(&manifest, MAX_MANIFEST_LEN)
        .map_err(|e| Error::io(&manifest, e))?;
    let v: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| Error::format(&manifest, e))?;
    let digest = v
        .get("layers")
        .and_then(|l| l.as_array())
        .and_then(|l| {
            l.iter().find(|x| {
                x.get("mediaType").and_then(|m| m.as_str())
                    == Some("application/vnd.ollama.image.model")
            })
        })
        .and_then(|x| x.get("digest"))
        .and_then(|d| d.as_str())
        .ok_or_else(|| Error::format(&manifest, "no model layer in the manifest"))?;
    let hex = digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| Error::format(&manifest, format!("bad digest `{digest}`")))?;
    let blob = root.join("blobs").join(format!("sha256-{hex}"));
    if std::fs::symlink_metadata(&blob).is_err() {
        return Err(not_found(format!("blob {} is missing", blob.display())));
    }
    crate::fsafe::check_regular(&blob).map_err(|e| Error::io(&blob, e))?;
    Ok(blob)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ids() {
        assert!(is_repo_id("HuggingFaceTB/SmolLM2-135M"));
        assert!(is_repo_id("org/name@main"));
        assert!(!is_repo_id("../etc"));
        assert!(!is_repo_id("a/b/c"));
        assert!(!is_repo_id("./x"));
    }
}
