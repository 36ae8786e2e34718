//! Portable identities: how the audit names a model so that the report means the same thing on
//! another machine and leaks no local path.
//!
//! - a Hugging Face cache snapshot (`…/models--ORG--NAME/snapshots/REV/…`): the repository id
//!   and revision, `hf:ORG/NAME@REV`, plus the file inside the snapshot when one file was
//!   chosen;
//! - an Ollama blob (`…/blobs/sha256-…`): `ollama:NAME:TAG` as the user typed it (the blob's
//!   digest is its SHA-256);
//! - anything else: the weight file's name with its folder's name (`FOLDER/FILE`; a folder
//!   model by the folder's name) and the SHA-256 of every weight file.
//!
//! Never an absolute path, never the home directory.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use serde::Serialize;

use crate::Error;

/// Where an identity comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentityKind {
    /// A Hugging Face repository at a revision.
    HuggingFace,
    /// An Ollama model name.
    Ollama,
    /// File names and digests.
    File,
}

/// A weight file of an identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileDigest {
    /// File name (no folder).
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256, lower-case hex, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// A model's portable identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// Kind.
    pub kind: IdentityKind,
    /// The portable name: `hf:ORG/NAME@REV[/FILE]`, `ollama:NAME:TAG`, or `FOLDER/FILE`.
    pub name: String,
    /// Hugging Face repository id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// Hugging Face revision (commit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Weight files.
    pub files: Vec<FileDigest>,
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The repository id, revision and path inside the snapshot of a Hugging Face cache path.
fn hf_parts(p: &Path) -> Option<(String, String, String)> {
    let parts: Vec<String> = p
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    let i = parts
        .windows(3)
        .rposition(|w| w[0].starts_with("models--") && w[1] == "snapshots")?;
    let (org, name) = parts[i].strip_prefix("models--")?.split_once("--")?;
    let repo = format!("{org}/{name}");
    Some((repo, parts[i + 2].clone(), parts[i + 3..].join("/")))
}

/// The SHA-256 a Hugging Face snapshot file names by its link into `blobs/` (large files are
/// stored under their SHA-256; small ones under a git hash, which is not used).
fn hf_blob_sha256(p: &Path) -> Option<String> {
    let target = std::fs::read_link(p).ok()?;
    let n = file_name(&target);
    is_sha256(&n).then(|| n.to_ascii_lowercase())
}

/// The digest of an Ollama blob (`sha256-HEX`).
fn ollama_blob_sha256(p: &Path) -> Option<String> {
    let n = file_name(p);
    let hex = n.strip_prefix("sha256-")?;
    let in_blobs = p
        .parent()
        .and_then(|d| d.file_name())
        .is_some_and(|d| d == "blobs");
    (in_blobs && is_sha256(hex)).then(|| hex.to_ascii_lowercase())
}

/// Whether a reference is a path a user typed (as opposed to a repository or Ollama name).
fn looks_like_path(r: &str) -> bool {
    r.starts_with('/')
        || r.starts_with('.')
        || r.starts_with('~')
        || r.contains('\\')
        || Path::new(r).exists()
}

impl Identity {
    /// The identity of an opened checkpoint: repository and revision, Ollama name, or file
    /// names; digests only where they cost no reading (Hugging Face blob links, Ollama blob
    /// names). [`Identity::hash_files`] fills in the others.
    pub fn of(ck: &taoke_model::Checkpoint) -> Identity {
        let files: Vec<(String, u64, Option<String>)> = ck
            .files
            .iter()
            .map(|f| {
                let sha = hf_blob_sha256(&f.path).or_else(|| ollama_blob_sha256(&f.path));
                (file_name(&f.path), f.len, sha)
            })
            .collect();
        let files = files
            .into_iter()
            .map(|(name, bytes, sha256)| FileDigest {
                name,
                bytes,
                sha256,
            })
            .collect();
        if let Some((repo, rev, inner)) = hf_parts(&ck.path) {
            let mut name = format!("hf:{repo}@{rev}");
            if !inner.is_empty() {
                name = format!("{name}/{inner}");
            }
            return Identity {
                kind: IdentityKind::HuggingFace,
                name,
                repo: Some(repo),
                revision: Some(rev),
                files,
            };
        }
        if ollama_blob_sha256(&ck.path).is_some() {
            let r = ck.reference.trim();
            let name = if let Some(n) = r.strip_prefix("ollama:") {
                format!("ollama:{n}")
            } else if !looks_like_path(r) {
                format!("ollama:{r}")
            } else {
                file_name(&ck.path)
            };
            return Identity {
                kind: IdentityKind::Ollama,
                name,
                repo: None,
                revision: None,
                files,
            };
        }
        let name = if ck.path.is_dir() {
            file_name(&ck.path)
        } else {
            // The folder's name says which model a generic `model.onnx` is.
            match ck.path.parent().map(file_name) {
                Some(folder) if !folder.is_empty() => {
                    format!("{folder}/{}", file_name(&ck.path))
                }
                _ => file_name(&ck.path),
            }
        };
        Identity {
            kind: IdentityKind::File,
            name,
            repo: None,
            revision: None,
            files,
        }
    }

    /// An identity known only by name (a knowledge-base id, a library caller's label).
    pub fn named(name: &str) -> Identity {
        Identity {
            kind: IdentityKind::File,
            name: name.to_owned(),
            repo: None,
            revision: None,
            files: Vec::new(),
        }
    }

    /// Computes the SHA-256 of every weight file whose digest is not known yet (streamed).
    pub fn hash_files(&mut self, ck: &taoke_model::Checkpoint) -> Result<(), Error> {
        for (d, f) in self.files.iter_mut().zip(&ck.files) {
            if d.sha256.is_none() {
                d.sha256 = Some(sha256_file(&f.path)?.sha256);
            }
        }
        Ok(())
    }

    /// The name with a short digest when the name alone does not pin the bytes
    /// (`foo/model.safetensors, sha256 1a2b3c4d5e6f`).
    pub fn display(&self) -> String {
        match (self.kind, self.files.as_slice()) {
            (IdentityKind::File, [f]) => match &f.sha256 {
                Some(s) => format!("{}, sha256 {}", self.name, &s[..12.min(s.len())]),
                None => self.name.clone(),
            },
            (IdentityKind::File, fs) if !fs.is_empty() => {
                format!("{} ({} files)", self.name, fs.len())
            }
            _ => self.name.clone(),
        }
    }
}

/// Read buffer of the hashing loop.
const HASH_CHUNK: usize = 1 << 20;

/// A weight file and its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileHash {
    /// Path.
    pub path: PathBuf,
    /// File name.
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
}

/// SHA-256 of a file, streamed in 1 MiB chunks.
pub fn sha256_file(path: &Path) -> Result<FileHash, Error> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; HASH_CHUNK];
    let mut total: u64 = 0;
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        total = total.saturating_add(n as u64);
    }
    let digest = h.finalize();
    let sha256 = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok(FileHash {
        path: path.to_path_buf(),
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        bytes: total,
        sha256,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hf_cache_paths_give_repo_and_revision() {
        let p = Path::new(
            "hf-home/hub/models--sentence-transformers--all-MiniLM-L6-v2/snapshots/c9745ed1d9f207416be6d2e6f8de32d1f16199bf/onnx/model.onnx",
        );
        let (repo, rev, inner) = hf_parts(p).unwrap();
        assert_eq!(repo, "sentence-transformers/all-MiniLM-L6-v2");
        assert_eq!(rev, "c9745ed1d9f207416be6d2e6f8de32d1f16199bf");
        assert_eq!(inner, "onnx/model.onnx");
        assert!(hf_parts(Path::new("models/foo/model.safetensors")).is_none());
        let blob = format!("/x/.ollama/models/blobs/sha256-{}", "ab".repeat(32));
        assert_eq!(ollama_blob_sha256(Path::new(&blob)), Some("ab".repeat(32)));
        assert_eq!(ollama_blob_sha256(Path::new("/x/sha256-ab")), None);
    }
}
