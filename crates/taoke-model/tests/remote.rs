//! Remote checkpoints over a loopback HTTP server: headers first, then only the ranges read;
//! values equal to the local file's; repositories listed through the hub API; a server that
//! ignores ranges; offline mode.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use taoke_dtype::Dtype;
use taoke_model::{open, open_remote_with, Checkpoint, OpenOptions};
use taoke_remote::testserver::{Options, TestServer};
use taoke_remote::{Client, Config};

const COMMIT: &str = "00112233445566778899aabbccddeeff00112233";

fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8 & 0x3b // keeps f16 values finite
        })
        .collect()
}

/// `org/tiny`: a safetensors model with one big tensor (16 MiB of f16), small ones, a config
/// and a tokenizer config; `org/sharded`: two shards and an index; `org/gguf`: a GGUF with a
/// metadata array larger than the first prefix fetched.
fn repos() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let tiny = dir.path().join("org/tiny");
    std::fs::create_dir_all(&tiny).unwrap();
    let big = noise(4096 * 2048 * 2, 1);
    let q = noise(256 * 256 * 2, 2);
    let norm = noise(256 * 4, 3);
    let norm: Vec<u8> = norm.chunks(4).flat_map(|_| 1.0f32.to_le_bytes()).collect();
    let mut st = Vec::new();
    taoke_safetensors::write(
        &mut st,
        &[
            ("model.embed_tokens.weight", Dtype::F16, &[4096, 2048], &big),
            (
                "model.layers.0.self_attn.q_proj.weight",
                Dtype::F16,
                &[256, 256],
                &q,
            ),
            ("model.norm.weight", Dtype::F32, &[256], &norm),
        ],
        &BTreeMap::new(),
    )
    .unwrap();
    std::fs::write(tiny.join("model.safetensors"), &st).unwrap();
    std::fs::write(
        tiny.join("config.json"),
        br#"{"model_type":"llama","hidden_size":2048}"#,
    )
    .unwrap();
    std::fs::write(
        tiny.join("tokenizer_config.json"),
        br#"{"bos_token":"<s>"}"#,
    )
    .unwrap();
    std::fs::write(tiny.join("README.md"), b"# tiny\n").unwrap();

    let sharded = dir.path().join("org/sharded");
    std::fs::create_dir_all(&sharded).unwrap();
    let mut index = BTreeMap::new();
    for (i, name) in ["a.weight", "b.weight"].iter().enumerate() {
        let data = noise(64 * 64 * 2, 10 + i as u64);
        let mut st = Vec::new();
        taoke_safetensors::write(
            &mut st,
            &[(name, Dtype::F16, &[64, 64], &data)],
            &BTreeMap::new(),
        )
        .unwrap();
        let file = format!("model-0000{}-of-00002.safetensors", i + 1);
        std::fs::write(sharded.join(&file), st).unwrap();
        index.insert(name.to_string(), file);
    }
    std::fs::write(
        sharded.join("model.safetensors.index.json"),
        serde_json::to_vec(&serde_json::json!({"metadata": {}, "weight_map": index})).unwrap(),
    )
    .unwrap();

    let gguf = dir.path().join("org/gguf");
    std::fs::create_dir_all(&gguf).unwrap();
    let mut w = taoke_gguf::GgufWriter::new();
    w.add_kv(
        "general.architecture",
        taoke_gguf::Value::String("llama".into()),
    )
    .unwrap();
    let tokens: Vec<taoke_gguf::Value> = (0..20_000)
        .map(|i| taoke_gguf::Value::String(format!("token-{i}")))
        .collect();
    w.add_kv("tokenizer.ggml.tokens", taoke_gguf::Value::Array(tokens))
        .unwrap();
    let wdata = noise(2048 * 1024 * 2, 20);
    w.add_tensor("blk.0.attn_q.weight", &[2048, 1024], Dtype::F16, &wdata[..])
        .unwrap();
    std::fs::write(gguf.join("model.gguf"), w.to_bytes()).unwrap();
    dir
}

fn client(cache: &Path, endpoint: &str, offline: bool) -> Arc<Client> {
    let mut c = Config::defaults(cache.to_path_buf());
    c.endpoint = endpoint.to_owned();
    c.backoff = Duration::from_millis(5);
    c.offline = offline.then_some("TAOKE_OFFLINE");
    Arc::new(Client::new(c))
}

fn same_listing(a: &Checkpoint, b: &Checkpoint) {
    assert_eq!(a.format, b.format);
    assert_eq!(a.tensors, b.tensors, "names, shapes, dtypes, layouts");
    assert_eq!(a.metadata, b.metadata);
    assert_eq!(a.config, b.config);
}

fn same_values(a: &Checkpoint, b: &Checkpoint) {
    for (x, y) in a.tensors.iter().zip(&b.tensors) {
        let (va, vb) = (a.read_f32(x).unwrap(), b.read_f32(y).unwrap());
        assert!(
            va.iter().zip(&vb).all(|(p, q)| p.to_bits() == q.to_bits()),
            "{}",
            x.name
        );
    }
}

#[test]
fn safetensors_over_http_reads_the_header_and_the_rows_read() {
    let root = repos();
    let srv = TestServer::start(root.path(), Options::default()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let local_path = root.path().join("org/tiny/model.safetensors");
    let local = open(local_path.to_str().unwrap()).unwrap();
    let file_len = std::fs::metadata(&local_path).unwrap().len();

    let url = srv.url("org/tiny/model.safetensors");
    let c = client(cache.path(), &srv.endpoint(), false);
    let remote = open_remote_with(&url, OpenOptions::default(), c.clone()).unwrap();
    same_listing(&local, &remote);
    assert_eq!(remote.path.to_str(), Some(url.as_str()));
    assert_eq!(remote.files[0].len, file_len);
    assert_eq!(
        remote
            .side_files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect::<Vec<_>>(),
        ["config.json", "tokenizer_config.json", "README.md"],
        "side files found beside the URL"
    );
    let header_and_side = srv.body_bytes();
    assert!(header_and_side < 70_000, "{header_and_side} bytes to open");

    // Sampled rows of the big tensor: 32 rows of 4 KiB.
    let t = remote.tensor("model.embed_tokens.weight").unwrap();
    let tl = local.tensor("model.embed_tokens.weight").unwrap();
    let mut row = vec![0f32; 2048];
    let mut lrow = vec![0f32; 2048];
    for r in (0..4096).step_by(128) {
        remote.read_rows(t, r, 1, &mut row).unwrap();
        local.read_rows(tl, r, 1, &mut lrow).unwrap();
        assert_eq!(row, lrow, "row {r}");
    }
    let read = srv.body_bytes();
    assert!(
        read * 20 <= file_len,
        "{read} bytes served for a header and 32 rows of a {file_len}-byte file (> 5 %)"
    );
    assert!(read >= header_and_side + 30 * 4096, "the rows were fetched");

    // Every value equal to the local file's.
    same_values(&local, &remote);
    assert!(srv.body_bytes() <= file_len + header_and_side + 64 * 1024);
}

#[test]
fn hf_repositories_are_listed_resolved_and_redirected() {
    let root = repos();
    let srv = TestServer::start(
        root.path(),
        Options {
            redirect: true,
            commit: COMMIT.into(),
            ..Options::default()
        },
    )
    .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let c = client(cache.path(), &srv.endpoint(), false);

    let local = open(root.path().join("org/tiny").to_str().unwrap()).unwrap();
    let remote = open_remote_with("hf://org/tiny", OpenOptions::default(), c.clone()).unwrap();
    same_listing(&local, &remote);
    same_values(&local, &remote);
    assert!(remote
        .path
        .to_str()
        .unwrap()
        .ends_with(&format!("/org/tiny/resolve/{COMMIT}/model.safetensors")));
    assert!(remote.side_file("config.json").is_some());
    assert!(srv
        .log()
        .iter()
        .any(|l| l.starts_with("GET /api/models/org/tiny/revision/main")));

    // A file path inside the repository, and a revision.
    let one = open_remote_with(
        "hf://org/tiny@main/model.safetensors",
        OpenOptions::default(),
        c.clone(),
    )
    .unwrap();
    same_listing(&local, &one);

    // Sharded through the index.
    let local = open(root.path().join("org/sharded").to_str().unwrap()).unwrap();
    let remote = open_remote_with("hf://org/sharded", OpenOptions::default(), c.clone()).unwrap();
    assert_eq!(remote.files.len(), 2);
    same_listing(&local, &remote);
    same_values(&local, &remote);

    // GGUF: the prefix grows until the header parses; values equal.
    let local = open(root.path().join("org/gguf/model.gguf").to_str().unwrap()).unwrap();
    let before = srv.body_bytes();
    let remote = open_remote_with("hf://org/gguf", OpenOptions::default(), c.clone()).unwrap();
    same_listing(&local, &remote);
    let opened = srv.body_bytes() - before;
    let gguf_len = local.files[0].len;
    assert!(
        opened * 4 < gguf_len,
        "{opened} of {gguf_len} bytes fetched to open"
    );
    same_values(&local, &remote);

    // Unknown repository or path: not found, naming it.
    let e = open_remote_with("hf://org/none", OpenOptions::default(), c.clone())
        .unwrap_err()
        .to_string();
    assert!(e.contains("hf://org/none") && e.contains("404"), "{e}");
    let e = open_remote_with("hf://org/tiny/nope.bin", OpenOptions::default(), c)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no file or folder `nope.bin`"), "{e}");
}

#[test]
fn a_server_that_ignores_ranges_still_gives_the_same_model() {
    let root = repos();
    let srv = TestServer::start(
        root.path(),
        Options {
            ignore_ranges: true,
            fail_first: 2,
            ..Options::default()
        },
    )
    .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let c = client(cache.path(), &srv.endpoint(), false);
    let local = open(root.path().join("org/tiny").to_str().unwrap()).unwrap();
    let remote = open_remote_with("hf://org/tiny", OpenOptions::default(), c).unwrap();
    same_listing(&local, &remote);
    let after_open = srv.body_bytes();
    same_values(&local, &remote);
    assert_eq!(
        srv.body_bytes(),
        after_open,
        "the whole file came with the header"
    );
}

#[test]
fn offline_mode_opens_from_the_cache_and_fails_clearly_without_it() {
    let root = repos();
    let srv = TestServer::start(
        root.path(),
        Options {
            commit: COMMIT.into(),
            ..Options::default()
        },
    )
    .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let online = client(cache.path(), &srv.endpoint(), false);
    let ck = open_remote_with("hf://org/tiny", OpenOptions::default(), online).unwrap();
    let t = ck.tensor("model.layers.0.self_attn.q_proj.weight").unwrap();
    let q = ck.read_f32(t).unwrap();
    drop(ck);
    let requests = srv.requests();

    let offline = client(cache.path(), &srv.endpoint(), true);
    let ck = open_remote_with("hf://org/tiny", OpenOptions::default(), offline.clone()).unwrap();
    let t = ck.tensor("model.layers.0.self_attn.q_proj.weight").unwrap();
    assert_eq!(ck.read_f32(t).unwrap(), q);
    assert!(ck.config.is_some());
    let big = ck.tensor("model.embed_tokens.weight").unwrap();
    let e = ck.read_f32(big).unwrap_err().to_string();
    assert!(
        e.contains("model.embed_tokens.weight") && e.contains("offline mode (TAOKE_OFFLINE=1)"),
        "{e}"
    );
    assert_eq!(srv.requests(), requests, "offline: no request");
    let e = open_remote_with("hf://org/sharded", OpenOptions::default(), offline)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("offline mode") && e.contains("not in the cache"),
        "{e}"
    );
}
