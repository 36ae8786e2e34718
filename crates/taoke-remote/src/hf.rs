//! Hugging Face hub locations: `hf://org/name[@rev][/path]`.
//!
//! A file maps to `{HF_ENDPOINT}/{org}/{name}/resolve/{rev}/{path}` (the hub redirects it to
//! its CDN). A repository (or a folder of one) is listed with
//! `{HF_ENDPOINT}/api/models/{org}/{name}/revision/{rev}` (`siblings[].rfilename`); its files
//! are then resolved at the commit the listing names, so every file comes from one revision.
//! Listings are kept in the cache for offline mode.

use std::path::PathBuf;

use crate::cache::{self, sha256_hex};
use crate::{Client, Error, Result};

/// A parsed `hf://` location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HfLocation {
    /// `org/name`.
    pub repo: String,
    /// Branch, tag or commit (`main` when not given).
    pub revision: String,
    /// Path inside the repository (a file or a folder), empty for the root.
    pub path: String,
}

/// Largest repository listing read, in bytes.
const MAX_LISTING: u64 = 32 << 20;

fn plain(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

impl HfLocation {
    /// Parses `hf://org/name[@rev][/path]`.
    pub fn parse(location: &str) -> Result<HfLocation> {
        let bad = |m: &str| Error::BadLocation {
            location: location.to_owned(),
            message: m.to_owned(),
        };
        let rest = location
            .get(..5)
            .filter(|p| p.eq_ignore_ascii_case("hf://"))
            .map(|_| &location[5..])
            .ok_or_else(|| bad("does not start with hf://"))?;
        let mut parts = rest.splitn(3, '/');
        let org = parts.next().unwrap_or("");
        let name_rev = parts.next().unwrap_or("");
        let path = parts.next().unwrap_or("").trim_end_matches('/');
        let (name, revision) = name_rev.split_once('@').unwrap_or((name_rev, "main"));
        if !plain(org) || !plain(name) {
            return Err(bad("expected hf://org/name[@revision][/path]"));
        }
        if !plain(revision) {
            return Err(bad(
                "a revision is a branch, tag or commit of [A-Za-z0-9-_.]",
            ));
        }
        if !path.is_empty()
            && path
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == ".." || c.contains('\\'))
        {
            return Err(bad(
                "the path inside the repository must be plain (no `..`, no `//`)",
            ));
        }
        Ok(HfLocation {
            repo: format!("{org}/{name}"),
            revision: revision.to_owned(),
            path: path.to_owned(),
        })
    }

    /// The resolve URL of `file` (a path inside the repository) at `revision`.
    pub fn resolve_url(&self, endpoint: &str, revision: &str, file: &str) -> String {
        format!(
            "{}/{}/resolve/{}/{}",
            endpoint.trim_end_matches('/'),
            self.repo,
            revision,
            encode_path(file)
        )
    }

    /// The listing URL of the repository at `revision`.
    pub fn api_url(&self, endpoint: &str) -> String {
        format!(
            "{}/api/models/{}/revision/{}",
            endpoint.trim_end_matches('/'),
            self.repo,
            self.revision
        )
    }
}

/// Percent-encodes a repository path (keeping `/`).
fn encode_path(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    for b in p.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A repository's files at a revision.
#[derive(Debug, Clone)]
pub struct Listing {
    /// The commit the revision points at, when the hub says (used to pin file URLs).
    pub commit: Option<String>,
    /// Paths of the files in the repository, sorted.
    pub files: Vec<String>,
}

/// Lists the repository of `loc` (from the cache in offline mode).
pub fn list(client: &Client, loc: &HfLocation) -> Result<Listing> {
    let url = loc.api_url(&client.config.endpoint);
    let cached = client
        .config
        .cache_dir
        .join("listings")
        .join(format!("{}.json", sha256_hex(&url)));
    let bytes = if let Some(err) = client.offline_error(&url, "the repository listing is") {
        std::fs::read(&cached).map_err(|_| err)?
    } else {
        let (bytes, _) = client
            .get_small(&url, MAX_LISTING)?
            .ok_or_else(|| Error::Status {
                url: url.clone(),
                status: 404,
                hint: format!("; no repository {} at revision {}", loc.repo, loc.revision),
            })?;
        cache::write_atomic(&cached, &bytes)?;
        bytes
    };
    parse_listing(&url, &bytes)
}

fn parse_listing(url: &str, bytes: &[u8]) -> Result<Listing> {
    let v: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::protocol(url, format!("listing is not JSON: {e}")))?;
    let siblings = v
        .get("siblings")
        .and_then(|s| s.as_array())
        .ok_or_else(|| Error::protocol(url, "listing has no `siblings` array"))?;
    let mut files: Vec<String> = siblings
        .iter()
        .filter_map(|s| s.get("rfilename")?.as_str())
        .filter(|f| {
            !f.is_empty()
                && f.split('/')
                    .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\\'))
        })
        .map(str::to_owned)
        .collect();
    files.sort();
    files.dedup();
    let commit = v
        .get("sha")
        .and_then(|s| s.as_str())
        .filter(|s| s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_owned);
    Ok(Listing { commit, files })
}

/// Fetches a small whole file (a side file: config, tokenizer, index) through the cache and
/// copies it to `dest_dir/<name>`. `Ok(None)` when the server has no such file (404), or, in
/// offline mode, when the cache does not hold it.
pub fn fetch_file_to(
    client: &std::sync::Arc<Client>,
    url: &str,
    dest_dir: &std::path::Path,
    name: &str,
    cap: u64,
) -> Result<Option<PathBuf>> {
    let f = match crate::RemoteFile::open(client.clone(), url) {
        Ok(f) => f,
        Err(Error::Status { status: 404, .. }) | Err(Error::Offline { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    if f.len() > cap {
        return Err(Error::protocol(
            url,
            format!(
                "{} bytes, more than the cap of {cap} for this file",
                f.len()
            ),
        ));
    }
    match f.fetch_all() {
        Ok(()) => {}
        Err(Error::Offline { .. }) => return Ok(None),
        Err(e) => return Err(e),
    }
    fs_err::create_dir_all(dest_dir).map_err(|e| Error::cache(dest_dir, e))?;
    let dest = dest_dir.join(name);
    let bytes = fs_err::read(f.data_path()).map_err(|e| Error::cache(f.data_path(), e))?;
    cache::write_atomic(&dest, &bytes)?;
    Ok(Some(dest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_locations() {
        let l = HfLocation::parse("hf://org/name").unwrap();
        assert_eq!(
            (l.repo.as_str(), l.revision.as_str(), l.path.as_str()),
            ("org/name", "main", "")
        );
        let l = HfLocation::parse("hf://org/name@v1.0/sub/model.safetensors").unwrap();
        assert_eq!(l.revision, "v1.0");
        assert_eq!(l.path, "sub/model.safetensors");
        assert_eq!(
            l.resolve_url("http://h:1/", "abc", &l.path),
            "http://h:1/org/name/resolve/abc/sub/model.safetensors"
        );
        assert_eq!(
            l.api_url("http://h:1"),
            "http://h:1/api/models/org/name/revision/v1.0"
        );
        for bad in [
            "hf://org",
            "hf://../name",
            "hf://org/name/../x",
            "hf://org/name@a/b//c",
            "hf://org/na me",
            "hf:org/name",
        ] {
            assert!(HfLocation::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(encode_path("a b/c#d"), "a%20b/c%23d");
    }

    #[test]
    fn listing_is_filtered_and_sorted() {
        let l = parse_listing(
            "u",
            br#"{"sha":"0123456789abcdef0123456789abcdef01234567","siblings":[
                {"rfilename":"model.safetensors"},{"rfilename":"../x"},{"rfilename":"config.json"}]}"#,
        )
        .unwrap();
        assert_eq!(l.files, ["config.json", "model.safetensors"]);
        assert!(l.commit.is_some());
        assert!(parse_listing("u", b"{}").is_err());
    }
}
