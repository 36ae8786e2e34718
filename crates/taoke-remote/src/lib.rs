//! Remote model files: `hf://org/name[@rev][/path]`, `https://…` and `http://…` locations read
//! with HTTP range requests through an on-disk range cache.
//!
//! - [`Client`] owns the HTTP agent (redirects followed, bounded retries with exponential
//!   backoff on connection errors, 5xx and 429), the cache folder, `HF_ENDPOINT`, `HF_TOKEN`
//!   (sent only to the endpoint's host) and the offline mode (`TAOKE_OFFLINE=1` or
//!   `HF_HUB_OFFLINE=1`: everything is served from the cache, or fails naming what is missing).
//! - [`RemoteFile`] is one remote file: its length and ETag from a `HEAD`, then
//!   [`RemoteFile::ensure`] fetches the missing parts of byte ranges (nearby ranges merged,
//!   large ones split and fetched concurrently), checks `206` and `Content-Range`, and writes
//!   them into a sparse cache file whose filled ranges are indexed beside it. A server that
//!   ignores `Range` (a `200` with the whole body) is streamed once into the cache file and
//!   every later range is served from disk. Nothing holds a whole file in memory.
//! - [`hf`] maps `hf://` locations to resolve URLs and lists a repository's files.
//! - [`testserver`] is a small loopback HTTP server for tests and measurements.
//!
//! Cache layout, under `${XDG_CACHE_HOME:-~/.cache}/taoke/remote` (or `TAOKE_REMOTE_CACHE`):
//! `<sha256(url + "\n" + etag)>/{data,ranges,meta.json}` per file version, and
//! `urls/<sha256(url)>.json` naming the last version seen of a URL (for offline use).
#![deny(missing_docs)]

mod cache;
mod client;
mod file;
pub mod hf;
pub mod ranges;
pub mod testserver;

pub use client::{Client, Config, Stats};
pub use file::RemoteFile;
pub use ranges::RangeSet;

/// Errors of remote reads. Every message names the URL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server could not be reached or the transfer failed (after the retries).
    #[error("{url}: {message}")]
    Http {
        /// The URL.
        url: String,
        /// What failed.
        message: String,
    },
    /// The server answered with an unexpected status.
    #[error("{url}: HTTP status {status}{hint}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
        /// A hint (e.g. to set `HF_TOKEN`), empty or starting with a separator.
        hint: String,
    },
    /// The server's answer breaks the protocol (a wrong `Content-Range`, a short body, a file
    /// whose length changed).
    #[error("{url}: {message}")]
    Protocol {
        /// The URL.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// Offline mode and the bytes are not in the cache.
    #[error("{url}: offline mode ({var}=1) and {what} not in the cache")]
    Offline {
        /// The URL.
        url: String,
        /// The variable that set offline mode.
        var: &'static str,
        /// What is missing.
        what: String,
    },
    /// A location that is not a valid `hf://` or `http(s)://` location.
    #[error("`{location}`: {message}")]
    BadLocation {
        /// What the user gave.
        location: String,
        /// What is wrong.
        message: String,
    },
    /// An I/O error on a cache file.
    #[error("{}: {source}", path.display())]
    Cache {
        /// The cache file.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn cache(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Error {
        Error::Cache {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn protocol(url: &str, message: impl ToString) -> Error {
        Error::Protocol {
            url: url.to_owned(),
            message: message.to_string(),
        }
    }
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Whether `location` names a remote file or repository (`hf://`, `http://`, `https://`).
pub fn is_remote(location: &str) -> bool {
    ["hf://", "http://", "https://"]
        .iter()
        .any(|p| location.len() >= p.len() && location[..p.len()].eq_ignore_ascii_case(p))
}

/// The last path segment of a URL (without query), e.g. `model.safetensors`.
pub fn url_file_name(url: &str) -> &str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_locations() {
        assert!(is_remote("hf://org/name"));
        assert!(is_remote("HTTPS://x/y"));
        assert!(is_remote("http://127.0.0.1:1/m.safetensors"));
        assert!(!is_remote("hf:org/name"));
        assert!(!is_remote("./http:/x"));
        assert_eq!(url_file_name("http://h/a/b.gguf?x=1"), "b.gguf");
    }
}
