//! The range client and its cache against the loopback test server: bytes fetched, ranges
//! merged and split, a server that ignores `Range`, retries, redirects, tokens, offline mode.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use taoke_remote::hf::{self, HfLocation};
use taoke_remote::testserver::{Options, TestServer};
use taoke_remote::{Client, Config, Error, RemoteFile};

const LEN: usize = 3 << 20;

fn content(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A served folder: `data.bin` at the root and `org/repo/{model.bin,config.json}`.
fn root() -> (tempfile::TempDir, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let data = content(LEN);
    std::fs::write(dir.path().join("data.bin"), &data).unwrap();
    let repo = dir.path().join("org").join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join("model.bin"), &data).unwrap();
    std::fs::write(repo.join("config.json"), b"{\"hidden_size\":4}").unwrap();
    (dir, data)
}

fn client(cache: &Path, endpoint: &str) -> Arc<Client> {
    let mut c = Config::defaults(cache.to_path_buf());
    c.endpoint = endpoint.to_owned();
    c.backoff = Duration::from_millis(5);
    Arc::new(Client::new(c))
}

fn read(f: &RemoteFile, offset: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    f.read_at(offset, &mut buf).unwrap();
    buf
}

#[test]
fn ranges_fetch_only_what_is_read_and_the_cache_serves_them_again() {
    let (dir, data) = root();
    let srv = TestServer::start(dir.path(), Options::default()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let c = client(cache.path(), &srv.endpoint());
    let f = RemoteFile::open(c.clone(), &srv.url("data.bin")).unwrap();
    assert_eq!(f.len(), LEN as u64);
    assert_eq!(srv.body_bytes(), 0, "HEAD sends no body");

    assert_eq!(read(&f, 1000, 100), &data[1000..1100]);
    assert_eq!(srv.body_bytes(), 100);
    // Again, and a sub-range: from the cache.
    assert_eq!(read(&f, 1000, 100), &data[1000..1100]);
    assert_eq!(read(&f, 1010, 10), &data[1010..1020]);
    assert_eq!(srv.body_bytes(), 100);
    // Overlapping: only the missing 50 bytes.
    assert_eq!(read(&f, 1050, 100), &data[1050..1150]);
    assert_eq!(srv.body_bytes(), 150);
    assert_eq!(c.bytes_received(), 150);
    assert_eq!(
        f.cached().iter().collect::<Vec<_>>(),
        [(1000, 1150)],
        "touching ranges are merged"
    );

    // Nearby missing ranges are fetched with one request (the gap included).
    let before = srv.requests();
    f.ensure_many(&[(10_000, 10_010), (12_000, 12_010)])
        .unwrap();
    assert_eq!(srv.requests() - before, 1);
    assert_eq!(srv.body_bytes(), 150 + 2010);

    // ... but bytes already cached between two pieces are not fetched again.
    let (before, bytes) = (srv.requests(), srv.body_bytes());
    f.ensure_many(&[(900, 1000), (1150, 1200)]).unwrap();
    assert_eq!(srv.requests() - before, 2);
    assert_eq!(srv.body_bytes() - bytes, 150);

    // Out of the file: a clear error, nothing fetched.
    let e = f.ensure(LEN as u64 - 10, 11).unwrap_err().to_string();
    assert!(
        e.contains("outside the file") && e.contains("data.bin"),
        "{e}"
    );

    // A new client on the same cache: the index was persisted, in merged form.
    drop(f);
    let f = RemoteFile::open(client(cache.path(), &srv.endpoint()), &srv.url("data.bin")).unwrap();
    assert_eq!(
        f.cached().iter().collect::<Vec<_>>(),
        [(900, 1200), (10_000, 12_010)]
    );
    let index = std::fs::read_to_string(f.cache_dir().join("ranges")).unwrap();
    assert_eq!(index, "900 1200\n10000 12010\n");
    let before = srv.body_bytes();
    assert_eq!(read(&f, 11_000, 500), &data[11_000..11_500]);
    assert_eq!(srv.body_bytes(), before);
}

#[test]
fn large_reads_are_split_and_fetched_concurrently() {
    let (dir, data) = root();
    let srv = TestServer::start(dir.path(), Options::default()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let mut cfg = Config::defaults(cache.path().to_path_buf());
    cfg.chunk = 256 << 10;
    cfg.concurrency = 4;
    let c = Arc::new(Client::new(cfg));
    let f = RemoteFile::open(c, &srv.url("data.bin")).unwrap();
    let before = srv.requests();
    assert_eq!(read(&f, 0, 2 << 20), &data[..2 << 20]);
    assert_eq!(srv.requests() - before, 8, "2 MiB in 256 KiB chunks");
    assert_eq!(srv.body_bytes(), 2 << 20);
    // Several threads reading overlapping ranges: every byte fetched once.
    let f = Arc::new(f);
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let f = f.clone();
            let data = &data;
            s.spawn(move || {
                let off = (2 << 20) + t * 100_000;
                assert_eq!(
                    read(&f, off, 300_000),
                    &data[off as usize..off as usize + 300_000]
                );
            });
        }
    });
    assert_eq!(srv.body_bytes(), (2 << 20) + 3 * 100_000 + 300_000);
    assert!(f.cached().contains(0, (2 << 20) + 600_000));
}

#[test]
fn a_server_that_ignores_ranges_sends_the_file_once() {
    let (dir, data) = root();
    let opts = Options {
        ignore_ranges: true,
        ..Options::default()
    };
    let srv = TestServer::start(dir.path(), opts).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let mut cfg = Config::defaults(cache.path().to_path_buf());
    cfg.chunk = 64 << 10;
    let f = RemoteFile::open(Arc::new(Client::new(cfg)), &srv.url("data.bin")).unwrap();
    assert_eq!(read(&f, 5, 10), &data[5..15]);
    assert_eq!(srv.body_bytes(), LEN as u64, "the whole body, once");
    assert!(f.is_complete());
    // Everything else from disk, however it is split.
    assert_eq!(read(&f, 0, LEN), data);
    assert_eq!(read(&f, 1 << 20, 1 << 20), &data[1 << 20..2 << 20]);
    assert_eq!(srv.body_bytes(), LEN as u64);
    assert_eq!(srv.requests(), 2, "HEAD and one GET");
}

#[test]
fn failures_are_retried_with_backoff_up_to_a_bound() {
    let (dir, data) = root();
    let opts = Options {
        fail_first: 3,
        ..Options::default()
    };
    let srv = TestServer::start(dir.path(), opts.clone()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let c = client(cache.path(), &srv.endpoint());
    let f = RemoteFile::open(c.clone(), &srv.url("data.bin")).unwrap();
    assert_eq!(read(&f, 7, 3), &data[7..10]);
    let log = srv.log();
    assert_eq!(
        log.iter().filter(|l| l.ends_with(" 503")).count(),
        3,
        "{log:?}"
    );
    assert_eq!(srv.requests(), 5, "3 failures, HEAD, GET: {log:?}");

    // More failures than retries: a clear error naming the URL and the attempts.
    let srv = TestServer::start(
        dir.path(),
        Options {
            fail_first: 100,
            ..opts
        },
    )
    .unwrap();
    let mut cfg = Config::defaults(tempfile::tempdir().unwrap().keep());
    cfg.retries = 2;
    cfg.backoff = Duration::from_millis(1);
    let e = RemoteFile::open(Arc::new(Client::new(cfg)), &srv.url("data.bin")).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("data.bin") && msg.contains("503") && msg.contains("3 attempts"),
        "{msg}"
    );
    assert_eq!(srv.requests(), 3);

    // A refused connection is retried too, then reported.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut cfg = Config::defaults(tempfile::tempdir().unwrap().keep());
    cfg.retries = 1;
    cfg.backoff = Duration::from_millis(1);
    let e = RemoteFile::open(
        Arc::new(Client::new(cfg)),
        &format!("http://127.0.0.1:{port}/x.bin"),
    )
    .unwrap_err();
    assert!(matches!(e, Error::Http { .. }), "{e}");
    assert!(e.to_string().contains("2 attempts"), "{e}");
}

#[test]
fn redirects_tokens_listings_and_missing_files() {
    let (dir, data) = root();
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let srv = TestServer::start(
        dir.path(),
        Options {
            redirect: true,
            token: Some("tok".into()),
            commit: commit.into(),
            ..Options::default()
        },
    )
    .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let loc = HfLocation::parse("hf://org/repo").unwrap();

    // No token: refused, with a hint.
    let anon = client(cache.path(), &srv.endpoint());
    let e = hf::list(&anon, &loc).unwrap_err().to_string();
    assert!(e.contains("401") && e.contains("HF_TOKEN"), "{e}");

    let mut cfg = Config::defaults(cache.path().to_path_buf());
    cfg.endpoint = srv.endpoint();
    cfg.token = Some("tok".into());
    let c = Arc::new(Client::new(cfg));
    let listing = hf::list(&c, &loc).unwrap();
    assert_eq!(listing.files, ["config.json", "model.bin"]);
    assert_eq!(listing.commit.as_deref(), Some(commit));

    let url = loc.resolve_url(&srv.endpoint(), commit, "model.bin");
    let f = RemoteFile::open(c.clone(), &url).unwrap();
    assert_eq!(read(&f, 100, 50), &data[100..150]);
    let log = srv.log();
    assert!(
        log.iter()
            .any(|l| l.contains("/resolve/") && l.ends_with(" 302"))
            && log
                .iter()
                .any(|l| l.starts_with("GET /cdn/org/repo/model.bin bytes=100-149 206")),
        "{log:?}"
    );

    // A missing file: 404, said as such.
    let e = RemoteFile::open(
        c.clone(),
        &loc.resolve_url(&srv.endpoint(), "main", "nope.bin"),
    )
    .unwrap_err();
    assert!(matches!(e, Error::Status { status: 404, .. }), "{e}");

    // Side files whole, into a folder.
    let out = tempfile::tempdir().unwrap();
    let p = hf::fetch_file_to(
        &c,
        &loc.resolve_url(&srv.endpoint(), commit, "config.json"),
        out.path(),
        "config.json",
        1 << 20,
    )
    .unwrap()
    .unwrap();
    assert_eq!(std::fs::read(p).unwrap(), b"{\"hidden_size\":4}");
    let none = hf::fetch_file_to(
        &c,
        &loc.resolve_url(&srv.endpoint(), commit, "tokenizer.json"),
        out.path(),
        "tokenizer.json",
        1 << 20,
    )
    .unwrap();
    assert!(none.is_none());
}

#[test]
fn offline_mode_serves_the_cache_and_names_what_is_missing() {
    let (dir, data) = root();
    let srv = TestServer::start(dir.path(), Options::default()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let url = srv.url("data.bin");
    {
        let f = RemoteFile::open(client(cache.path(), &srv.endpoint()), &url).unwrap();
        read(&f, 0, 4096);
        hf::list(
            &client(cache.path(), &srv.endpoint()),
            &HfLocation::parse("hf://org/repo").unwrap(),
        )
        .unwrap();
    }
    let requests = srv.requests();
    let mut cfg = Config::defaults(cache.path().to_path_buf());
    cfg.endpoint = srv.endpoint();
    cfg.offline = Some("TAOKE_OFFLINE");
    let off = Arc::new(Client::new(cfg));
    let f = RemoteFile::open(off.clone(), &url).unwrap();
    assert_eq!(f.len(), LEN as u64);
    assert_eq!(read(&f, 100, 1000), &data[100..1100]);
    let e = f.ensure(5000, 10).unwrap_err().to_string();
    assert!(
        e.contains("offline mode (TAOKE_OFFLINE=1)") && e.contains("[5000, 5010)"),
        "{e}"
    );
    let e = RemoteFile::open(off.clone(), &srv.url("other.bin"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("other.bin") && e.contains("not in the cache"),
        "{e}"
    );
    let listing = hf::list(&off, &HfLocation::parse("hf://org/repo").unwrap()).unwrap();
    assert_eq!(listing.files.len(), 2);
    assert_eq!(srv.requests(), requests, "offline: no request at all");
}

#[test]
fn a_file_changed_on_the_server_is_detected() {
    let (dir, _) = root();
    let srv = TestServer::start(dir.path(), Options::default()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let f = RemoteFile::open(client(cache.path(), &srv.endpoint()), &srv.url("data.bin")).unwrap();
    std::fs::write(dir.path().join("data.bin"), content(LEN / 2)).unwrap();
    let e = f.ensure(0, 10).unwrap_err().to_string();
    assert!(
        e.contains("Content-Range") && e.contains("changed on the server"),
        "{e}"
    );
}
