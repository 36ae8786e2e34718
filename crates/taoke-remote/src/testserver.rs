//! A small HTTP/1.1 file server on 127.0.0.1, for tests and measurements (never for serving
//! anything real). It serves a folder the way the Hugging Face hub serves repositories:
//!
//! - `/{org}/{name}/resolve/{rev}/{path}`: the file `root/org/name/path`, or a `302` to
//!   `/cdn/org/name/path` when [`Options::redirect`] is set;
//! - `/api/models/{org}/{name}/revision/{rev}`: a JSON listing (`sha`, `siblings[].rfilename`);
//! - `/cdn/{path}` and any other `/{path}`: the file `root/path`.
//!
//! Files are served with `ETag`, `Content-Length` and `Range` support (`206`, `Content-Range`,
//! `416`), unless [`Options::ignore_ranges`] (then always `200` with the whole file). The
//! first [`Options::fail_first`] requests get a `503`. It counts requests and body bytes sent.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// How the server behaves.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Answer every `GET` with `200` and the whole file, whatever its `Range`.
    pub ignore_ranges: bool,
    /// Answer the first this many requests with `503 Service Unavailable`.
    pub fail_first: u64,
    /// Redirect resolve URLs to `/cdn/…`.
    pub redirect: bool,
    /// Require `Authorization: Bearer <token>` on resolve and API URLs (`401` without).
    pub token: Option<String>,
    /// The commit hash the listing names (`sha`); none when empty.
    pub commit: String,
}

/// Traffic counters.
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Requests answered (any status).
    pub requests: AtomicU64,
    /// Body bytes sent (counted as they are handed to the socket).
    pub body_bytes: AtomicU64,
    /// `METHOD path range-or-dash status` of each request, in arrival order.
    pub log: Mutex<Vec<String>>,
}

/// A running server; stopped when dropped.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    /// Traffic counters.
    pub stats: Arc<ServerStats>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

thread_local! {
    /// `METHOD path range` of the request being answered on this thread.
    static CURRENT: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

struct Shared {
    root: PathBuf,
    opts: Options,
    stats: Arc<ServerStats>,
}

impl TestServer {
    /// Serves `root` on an ephemeral port of 127.0.0.1.
    pub fn start(root: &Path, opts: Options) -> std::io::Result<TestServer> {
        TestServer::start_on(root, opts, 0)
    }

    /// Serves `root` on `port` of 127.0.0.1 (0: any free port).
    pub fn start_on(root: &Path, opts: Options, port: u16) -> std::io::Result<TestServer> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(ServerStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            root: root.to_path_buf(),
            opts,
            stats: stats.clone(),
        });
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let shared = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve_connection(conn, &shared);
                });
            }
        });
        Ok(TestServer {
            addr,
            stats,
            stop,
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.endpoint(), path.trim_start_matches('/'))
    }

    /// Body bytes sent so far.
    pub fn body_bytes(&self) -> u64 {
        self.stats.body_bytes.load(Ordering::SeqCst)
    }

    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        self.stats.requests.load(Ordering::SeqCst)
    }

    /// The request log so far.
    pub fn log(&self) -> Vec<String> {
        self.stats.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Request {
    method: String,
    path: String,
    range: Option<String>,
    authorization: Option<String>,
}

fn read_request(r: &mut impl BufRead) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut it = line.split_ascii_whitespace();
    let method = it.next().unwrap_or("").to_owned();
    let path = it.next().unwrap_or("/").to_owned();
    let (mut range, mut authorization) = (None, None);
    let mut total = line.len();
    loop {
        let mut h = String::new();
        let n = r.read_line(&mut h)?;
        total += n;
        if n == 0 || h == "\r\n" || h == "\n" || total > 64 << 10 {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let v = v.trim().to_owned();
            match k.trim().to_ascii_lowercase().as_str() {
                "range" => range = Some(v),
                "authorization" => authorization = Some(v),
                _ => {}
            }
        }
    }
    Ok(Some(Request {
        method,
        path,
        range,
        authorization,
    }))
}

fn serve_connection(conn: TcpStream, s: &Shared) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut w = conn;
    while let Some(req) = read_request(&mut reader)? {
        let n = s.stats.requests.fetch_add(1, Ordering::SeqCst);
        CURRENT.with(|c| {
            *c.borrow_mut() = format!(
                "{} {} {}",
                req.method,
                req.path,
                req.range.as_deref().unwrap_or("-")
            )
        });
        respond(&req, n, s, &mut w)?;
        w.flush()?;
    }
    Ok(())
}

fn head(
    w: &mut impl Write,
    s: &Shared,
    status: &str,
    headers: &[(&str, String)],
) -> std::io::Result<()> {
    // Logged before the answer is written, so a client that has it sees it logged.
    let line = CURRENT.with(|c| c.borrow().clone());
    if let Ok(mut log) = s.stats.log.lock() {
        log.push(format!("{line} {}", &status[..3]));
    }
    let mut h = format!("HTTP/1.1 {status}\r\n");
    for (k, v) in headers {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str("\r\n");
    w.write_all(h.as_bytes())
}

fn simple(w: &mut impl Write, s: &Shared, status: &str, body: &[u8]) -> std::io::Result<u16> {
    head(
        w,
        s,
        status,
        &[
            ("Content-Length", body.len().to_string()),
            ("Content-Type", "text/plain".into()),
        ],
    )?;
    count_sent(s, body.len());
    w.write_all(body)?;
    Ok(status[..3].parse().unwrap_or(0))
}

/// Counts body bytes before they are written, so a client that has received them always
/// sees them counted.
fn count_sent(s: &Shared, n: usize) {
    s.stats.body_bytes.fetch_add(n as u64, Ordering::SeqCst);
}

fn plain_path(p: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.split('/').filter(|c| !c.is_empty()) {
        let c = percent_decode(c)?;
        if c == "." || c == ".." || c.contains('\\') || c.contains('/') {
            return None;
        }
        out.push(c);
    }
    Some(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn respond(req: &Request, n: u64, s: &Shared, w: &mut impl Write) -> std::io::Result<u16> {
    if n < s.opts.fail_first {
        return simple(w, s, "503 Service Unavailable", b"try again\n");
    }
    if req.method != "GET" && req.method != "HEAD" {
        return simple(w, s, "405 Method Not Allowed", b"");
    }
    let path = req.path.split('?').next().unwrap_or("");
    let segs: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    let authorized = || match &s.opts.token {
        None => true,
        Some(t) => req.authorization.as_deref() == Some(&format!("Bearer {t}")),
    };
    match segs.as_slice() {
        ["api", "models", org, name, "revision", _rev] => {
            if !authorized() {
                return simple(w, s, "401 Unauthorized", b"");
            }
            let Some(rel) = plain_path(&format!("{org}/{name}")) else {
                return simple(w, s, "400 Bad Request", b"");
            };
            let dir = s.root.join(rel);
            if !dir.is_dir() {
                return simple(w, s, "404 Not Found", b"");
            }
            let mut files = Vec::new();
            list_files(&dir, Path::new(""), &mut files);
            files.sort();
            let v = serde_json::json!({
                "id": format!("{org}/{name}"),
                "sha": s.opts.commit,
                "siblings": files.iter().map(|f| serde_json::json!({"rfilename": f})).collect::<Vec<_>>(),
            });
            let body = serde_json::to_vec(&v).unwrap_or_default();
            head(
                w,
                s,
                "200 OK",
                &[
                    ("Content-Length", body.len().to_string()),
                    ("Content-Type", "application/json".into()),
                ],
            )?;
            if req.method == "GET" {
                count_sent(s, body.len());
                w.write_all(&body)?;
            }
            Ok(200)
        }
        [org, name, "resolve", _rev, rest @ ..] if !rest.is_empty() => {
            if !authorized() {
                return simple(w, s, "401 Unauthorized", b"");
            }
            let rel = format!("{org}/{name}/{}", rest.join("/"));
            if s.opts.redirect {
                head(
                    w,
                    s,
                    "302 Found",
                    &[
                        ("Location", format!("/cdn/{rel}")),
                        ("Content-Length", "0".into()),
                    ],
                )?;
                return Ok(302);
            }
            serve_file(req, s, &rel, w)
        }
        ["cdn", rest @ ..] => serve_file(req, s, &rest.join("/"), w),
        rest => serve_file(req, s, &rest.join("/"), w),
    }
}

fn list_files(dir: &Path, rel: &Path, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let r = rel.join(e.file_name());
        if p.is_dir() {
            list_files(&p, &r, out);
        } else {
            out.push(r.to_string_lossy().into_owned());
        }
    }
}

/// Parses `bytes=a-b`, `bytes=a-` or `bytes=-n` against a file of `len` bytes: `Some(Ok(..))`
/// a satisfiable range (inclusive end), `Some(Err(()))` unsatisfiable, `None` not a single
/// byte range (served whole).
fn parse_range(v: &str, len: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = v.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 {
            return Some(Err(()));
        }
        (len.saturating_sub(n), len.checked_sub(1)?)
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() {
            len.saturating_sub(1)
        } else {
            b.parse::<u64>().ok()?.min(len.saturating_sub(1))
        };
        (start, end)
    };
    if start >= len || start > end {
        return Some(Err(()));
    }
    Some(Ok((start, end)))
}

fn serve_file(req: &Request, s: &Shared, rel: &str, w: &mut impl Write) -> std::io::Result<u16> {
    let Some(rel) = plain_path(rel) else {
        return simple(w, s, "400 Bad Request", b"");
    };
    let path = s.root.join(rel);
    let Ok(mut file) = std::fs::File::open(&path) else {
        return simple(w, s, "404 Not Found", b"no such file\n");
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return simple(w, s, "404 Not Found", b"not a file\n");
    }
    let len = meta.len();
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let etag = format!("\"{len:x}-{mtime:x}\"");
    let range = if s.opts.ignore_ranges || req.method != "GET" {
        None
    } else {
        req.range.as_deref().and_then(|r| parse_range(r, len))
    };
    let mut headers = vec![("ETag", etag)];
    if !s.opts.ignore_ranges {
        headers.push(("Accept-Ranges", "bytes".into()));
    }
    let (status, start, count) = match range {
        None => ("200 OK", 0, len),
        Some(Err(())) => {
            headers.push(("Content-Range", format!("bytes */{len}")));
            headers.push(("Content-Length", "0".into()));
            head(w, s, "416 Range Not Satisfiable", &headers)?;
            return Ok(416);
        }
        Some(Ok((a, b))) => {
            headers.push(("Content-Range", format!("bytes {a}-{b}/{len}")));
            ("206 Partial Content", a, b - a + 1)
        }
    };
    headers.push(("Content-Length", count.to_string()));
    head(w, s, status, &headers)?;
    if req.method == "GET" {
        use std::io::Seek;
        file.seek(std::io::SeekFrom::Start(start))?;
        let mut left = count;
        let mut buf = vec![0u8; 256 << 10];
        while left > 0 {
            let k = (buf.len() as u64).min(left) as usize;
            file.read_exact(&mut buf[..k])?;
            count_sent(s, k);
            w.write_all(&buf[..k])?;
            left -= k as u64;
        }
    }
    Ok(status[..3].parse().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some(Ok((0, 9))));
        assert_eq!(parse_range("bytes=90-", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=-10", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=95-200", 100), Some(Ok((95, 99))));
        assert_eq!(parse_range("bytes=100-", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }
}
