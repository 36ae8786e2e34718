//! The HTTP side: configuration from the environment, `HEAD`, ranged `GET` with checks, and
//! bounded retries with exponential backoff.

use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::{Error, Result};

/// How a [`Client`] reaches servers and where it caches.
#[derive(Debug, Clone)]
pub struct Config {
    /// The Hugging Face endpoint (`HF_ENDPOINT`, default `https://huggingface.co`), without a
    /// trailing slash.
    pub endpoint: String,
    /// Bearer token (`HF_TOKEN`), sent only to URLs on the endpoint's host.
    pub token: Option<String>,
    /// Serve only from the cache; `Some(variable)` names the variable that asked for it.
    pub offline: Option<&'static str>,
    /// Cache folder.
    pub cache_dir: PathBuf,
    /// Retries after the first attempt of a request (connection errors, 5xx, 429).
    pub retries: u32,
    /// Delay before the first retry; doubled at each retry (capped at 10 s).
    pub backoff: Duration,
    /// Most ranges fetched at once for one read.
    pub concurrency: usize,
    /// Largest range fetched by one request; larger reads are split.
    pub chunk: u64,
    /// Missing ranges closer than this are fetched as one request, with the bytes between.
    pub merge_gap: u64,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn truthy(name: &str) -> bool {
    env(name)
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
}

impl Config {
    /// The configuration the environment asks for: `HF_ENDPOINT`, `HF_TOKEN`,
    /// `TAOKE_OFFLINE` / `HF_HUB_OFFLINE`, and the cache under `TAOKE_REMOTE_CACHE` or
    /// `${XDG_CACHE_HOME:-$HOME/.cache}/taoke/remote`.
    pub fn from_env() -> Config {
        let endpoint = env("HF_ENDPOINT")
            .unwrap_or_else(|| "https://huggingface.co".to_owned())
            .trim_end_matches('/')
            .to_owned();
        let offline = if truthy("TAOKE_OFFLINE") {
            Some("TAOKE_OFFLINE")
        } else if truthy("HF_HUB_OFFLINE") {
            Some("HF_HUB_OFFLINE")
        } else {
            None
        };
        let cache_dir = env("TAOKE_REMOTE_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                env("XDG_CACHE_HOME")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| {
                        PathBuf::from(env("HOME").unwrap_or_else(|| ".".into())).join(".cache")
                    })
                    .join("taoke")
                    .join("remote")
            });
        Config {
            endpoint,
            token: env("HF_TOKEN"),
            offline,
            cache_dir,
            ..Config::defaults(PathBuf::new())
        }
    }

    /// Defaults with an explicit cache folder, online, endpoint `https://huggingface.co`.
    pub fn defaults(cache_dir: PathBuf) -> Config {
        Config {
            endpoint: "https://huggingface.co".to_owned(),
            token: None,
            offline: None,
            cache_dir,
            retries: 5,
            backoff: Duration::from_millis(200),
            concurrency: 4,
            chunk: 8 << 20,
            merge_gap: 64 << 10,
        }
    }
}

/// Counters of one client's traffic.
#[derive(Debug, Default)]
pub struct Stats {
    /// Requests sent (retries included).
    pub requests: AtomicU64,
    /// Response body bytes received.
    pub bytes: AtomicU64,
}

/// A blocking HTTP client with a range cache. Cheap to share (`Arc`) between threads.
#[derive(Debug)]
pub struct Client {
    agent: ureq::Agent,
    /// The configuration.
    pub config: Config,
    /// Traffic counters.
    pub stats: Stats,
}

/// What a `HEAD` said about a file.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub len: u64,
    pub etag: String,
}

/// How a ranged `GET` was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Got {
    /// `206`: exactly the range asked.
    Range,
    /// `200`: the server ignored `Range` and sent the whole file (written at offset 0).
    Whole,
}

/// Largest small file (JSON listing, config, tokenizer) read whole into memory.
pub const MAX_SMALL: u64 = 64 << 20;

/// A failed attempt: retry it or not.
enum Attempt {
    Retry(String),
    Fail(Error),
}

fn io_of(e: ureq::Error) -> Attempt {
    match e {
        ureq::Error::Io(_)
        | ureq::Error::Timeout(_)
        | ureq::Error::ConnectionFailed
        | ureq::Error::Protocol(_) => Attempt::Retry(e.to_string()),
        other => Attempt::Fail(Error::Http {
            url: String::new(),
            message: other.to_string(),
        }),
    }
}

impl Client {
    /// A client for `config`.
    pub fn new(config: Config) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(10)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(120)))
            .timeout_per_read(Some(Duration::from_secs(120)))
            .user_agent(concat!("taoke/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Client {
            agent,
            config,
            stats: Stats::default(),
        }
    }

    /// A client configured from the environment ([`Config::from_env`]).
    pub fn from_env() -> Client {
        Client::new(Config::from_env())
    }

    /// Bytes of response bodies received so far.
    pub fn bytes_received(&self) -> u64 {
        self.stats.bytes.load(Ordering::Relaxed)
    }

    /// Whether the token may be sent to `url`: same scheme, host and port as the endpoint.
    fn authorization(&self, url: &str) -> Option<String> {
        let token = self.config.token.as_ref()?;
        let origin = |u: &str| -> Option<String> {
            let (scheme, rest) = u.split_once("://")?;
            let host = rest.split(['/', '?', '#']).next()?;
            Some(format!(
                "{}://{}",
                scheme.to_ascii_lowercase(),
                host.to_ascii_lowercase()
            ))
        };
        (origin(url)? == origin(&self.config.endpoint)?).then(|| format!("Bearer {token}"))
    }

    pub(crate) fn offline_error(&self, url: &str, what: impl Into<String>) -> Option<Error> {
        self.config.offline.map(|var| Error::Offline {
            url: url.to_owned(),
            var,
            what: what.into(),
        })
    }

    /// Runs `attempt` with retries: up to `retries` more times after a retriable failure,
    /// waiting `backoff × 2^k` (at most 10 s, or the server's `Retry-After` up to 30 s).
    fn retrying<T>(
        &self,
        url: &str,
        mut attempt: impl FnMut() -> std::result::Result<T, (Attempt, Option<Duration>)>,
    ) -> Result<T> {
        let mut delay = self.config.backoff;
        let mut k = 0;
        loop {
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            match attempt() {
                Ok(v) => return Ok(v),
                Err((Attempt::Fail(mut e), _)) => {
                    if let Error::Http { url: u, .. } = &mut e {
                        if u.is_empty() {
                            *u = url.to_owned();
                        }
                    }
                    return Err(e);
                }
                Err((Attempt::Retry(why), after)) => {
                    if k >= self.config.retries {
                        return Err(Error::Http {
                            url: url.to_owned(),
                            message: format!("{why} (after {} attempts)", k + 1),
                        });
                    }
                    let wait = after.map_or(delay, |a| a.max(delay));
                    std::thread::sleep(wait);
                    delay = (delay * 2).min(Duration::from_secs(10));
                    k += 1;
                }
            }
        }
    }

    fn status_attempt(
        url: &str,
        resp: &ureq::http::Response<ureq::Body>,
    ) -> (Attempt, Option<Duration>) {
        let status = resp.status().as_u16();
        let after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| Duration::from_secs(s.min(30)));
        if status >= 500 || status == 429 || status == 408 {
            return (Attempt::Retry(format!("HTTP status {status}")), after);
        }
        let hint = match status {
            401 | 403 => "; for a gated or private repository set HF_TOKEN".to_owned(),
            404 => "; not found".to_owned(),
            _ => String::new(),
        };
        (
            Attempt::Fail(Error::Status {
                url: url.to_owned(),
                status,
                hint,
            }),
            None,
        )
    }

    fn get(&self, url: &str) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
        let mut r = self.agent.get(url);
        if let Some(a) = self.authorization(url) {
            r = r.header("Authorization", a);
        }
        r
    }

    /// `HEAD url` (redirects followed): the file's length and ETag. Servers that send no
    /// length with `HEAD` are asked for byte 0 instead.
    pub(crate) fn head(&self, url: &str) -> Result<Head> {
        let (len, etag) = self.retrying(url, || {
            let mut r = self.agent.head(url);
            if let Some(a) = self.authorization(url) {
                r = r.header("Authorization", a);
            }
            let resp = r.call().map_err(|e| (io_of(e), None))?;
            if resp.status().as_u16() == 405 || resp.status().as_u16() == 501 {
                return Ok((None, None));
            }
            if resp.status().as_u16() != 200 {
                return Err(Self::status_attempt(url, &resp));
            }
            let h = resp.headers();
            let len = h
                .get("content-length")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            Ok((len, etag_of(h)))
        })?;
        if let Some(len) = len {
            return Ok(Head {
                len,
                etag: etag.unwrap_or_default(),
            });
        }
        // No length from HEAD: ask for the first byte; Content-Range carries the total.
        self.retrying(url, || {
            let resp = self
                .get(url)
                .header("Range", "bytes=0-0")
                .call()
                .map_err(|e| (io_of(e), None))?;
            let status = resp.status().as_u16();
            let etag = etag_of(resp.headers()).unwrap_or_default();
            match status {
                206 | 416 => {
                    let total = resp
                        .headers()
                        .get("content-range")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.rsplit_once('/'))
                        .and_then(|(_, t)| t.trim().parse::<u64>().ok())
                        .ok_or_else(|| {
                            (
                                Attempt::Fail(Error::protocol(
                                    url,
                                    "no total length in Content-Range",
                                )),
                                None,
                            )
                        })?;
                    Ok(Head { len: total, etag })
                }
                200 => resp
                    .headers()
                    .get("content-length")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(|len| Head { len, etag })
                    .ok_or_else(|| {
                        (
                            Attempt::Fail(Error::protocol(
                                url,
                                "the server gives no file length (no Content-Length, no ranges)",
                            )),
                            None,
                        )
                    }),
                _ => Err(Self::status_attempt(url, &resp)),
            }
        })
    }

    /// `GET url` with `Range: bytes=a-(b-1)` of a file of `total` bytes. Each received block
    /// is handed to `sink(offset, bytes)`. A `206` must carry `Content-Range: bytes a-(b-1)/total`
    /// and exactly `b - a` bytes; a `200` (range ignored) must carry the whole file, which
    /// is streamed to `sink` from offset 0.
    pub(crate) fn get_range(
        &self,
        url: &str,
        a: u64,
        b: u64,
        total: u64,
        sink: &mut dyn FnMut(u64, &[u8]) -> std::io::Result<()>,
    ) -> Result<Got> {
        debug_assert!(a < b && b <= total);
        self.retrying(url, || {
            let resp = self
                .get(url)
                .header("Range", format!("bytes={}-{}", a, b - 1))
                .call()
                .map_err(|e| (io_of(e), None))?;
            let status = resp.status().as_u16();
            let (start, want, got) = match status {
                206 => {
                    let cr = resp
                        .headers()
                        .get("content-range")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    if parse_content_range(cr) != Some((a, b - 1, total)) {
                        return Err((
                            Attempt::Fail(Error::protocol(
                                url,
                                format!(
                                    "asked bytes {}-{} of {total}, got Content-Range `{cr}` \
                                     (the file may have changed on the server)",
                                    a,
                                    b - 1
                                ),
                            )),
                            None,
                        ));
                    }
                    (a, b - a, Got::Range)
                }
                200 => {
                    let cl = resp
                        .headers()
                        .get("content-length")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok());
                    if cl.is_some_and(|l| l != total) {
                        return Err((
                            Attempt::Fail(Error::protocol(
                                url,
                                format!(
                                    "ignored the range and sent {} bytes, but the file has {total} \
                                     (the file may have changed on the server)",
                                    cl.unwrap_or(0)
                                ),
                            )),
                            None,
                        ));
                    }
                    (0, total, Got::Whole)
                }
                _ => return Err(Self::status_attempt(url, &resp)),
            };
            let mut reader = resp.into_body().into_with_config().limit(want + 1).reader();
            let mut buf = vec![0u8; 256 << 10];
            let mut done = 0u64;
            while done < want {
                let n = (buf.len() as u64).min(want - done) as usize;
                let k = match reader.read(&mut buf[..n]) {
                    Ok(0) => {
                        return Err((
                            Attempt::Retry(format!("body ended after {done} of {want} bytes")),
                            None,
                        ))
                    }
                    Ok(k) => k,
                    Err(e) => return Err((Attempt::Retry(e.to_string()), None)),
                };
                self.stats.bytes.fetch_add(k as u64, Ordering::Relaxed);
                sink(start + done, &buf[..k])
                    .map_err(|e| (Attempt::Fail(Error::protocol(url, e)), None))?;
                done += k as u64;
            }
            Ok(got)
        })
    }

    /// `GET url` of a small file (at most `cap` bytes, and at most [`MAX_SMALL`]) into memory.
    /// `Ok(None)` when the server says 404.
    pub(crate) fn get_small(&self, url: &str, cap: u64) -> Result<Option<(Vec<u8>, String)>> {
        let cap = cap.min(MAX_SMALL);
        self.retrying(url, || {
            let resp = self.get(url).call().map_err(|e| (io_of(e), None))?;
            match resp.status().as_u16() {
                200 => {}
                404 => return Ok(None),
                _ => return Err(Self::status_attempt(url, &resp)),
            }
            let etag = etag_of(resp.headers()).unwrap_or_default();
            let mut out = Vec::new();
            let mut reader = resp.into_body().into_with_config().limit(cap + 1).reader();
            match (&mut reader).take(cap + 1).read_to_end(&mut out) {
                Ok(_) if out.len() as u64 > cap => Err((
                    Attempt::Fail(Error::protocol(url, format!("more than {cap} bytes"))),
                    None,
                )),
                Ok(_) => {
                    self.stats
                        .bytes
                        .fetch_add(out.len() as u64, Ordering::Relaxed);
                    Ok(Some((out, etag)))
                }
                Err(e) => Err((Attempt::Retry(e.to_string()), None)),
            }
        })
    }
}

fn etag_of(h: &ureq::http::HeaderMap) -> Option<String> {
    // The Hugging Face hub names the LFS object by X-Linked-Etag before the redirect; after
    // it, the CDN's ETag is the object's.
    h.get("etag")
        .or_else(|| h.get("x-linked-etag"))
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.trim()
                .trim_start_matches("W/")
                .trim_matches('"')
                .to_owned()
        })
}

/// Parses `bytes a-b/total` (total must be known).
pub(crate) fn parse_content_range(v: &str) -> Option<(u64, u64, u64)> {
    let rest = v.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let (a, b) = range.split_once('-')?;
    let (a, b, t) = (
        a.trim().parse::<u64>().ok()?,
        b.trim().parse::<u64>().ok()?,
        total.trim().parse::<u64>().ok()?,
    );
    (a <= b && b < t).then_some((a, b, t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range() {
        assert_eq!(parse_content_range("bytes 0-9/100"), Some((0, 9, 100)));
        assert_eq!(parse_content_range("bytes 5-4/100"), None);
        assert_eq!(parse_content_range("bytes 0-100/100"), None);
        assert_eq!(parse_content_range("bytes 0-9/*"), None);
        assert_eq!(parse_content_range("items 0-9/100"), None);
    }

    #[test]
    fn token_goes_only_to_the_endpoint() {
        let mut c = Config::defaults(PathBuf::new());
        c.endpoint = "http://127.0.0.1:8080".into();
        c.token = Some("secret".into());
        let client = Client::new(c);
        assert_eq!(
            client
                .authorization("http://127.0.0.1:8080/a/b/resolve/main/x")
                .as_deref(),
            Some("Bearer secret")
        );
        assert_eq!(client.authorization("http://127.0.0.1:9090/x"), None);
        assert_eq!(client.authorization("https://evil.example/x"), None);
    }
}
