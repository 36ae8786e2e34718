//! Remote locations through the real binary, against a loopback server the test starts (never
//! the internet): `inspect` of an `http://` file and `compare` / `fingerprint` / `identify` of
//! `hf://` repositories give what the local files give.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use taoke_remote::testserver::{Options, TestServer};
use taoke_test::{model_or_skip, shared_model};

struct Env {
    endpoint: String,
    cache: PathBuf,
    offline: bool,
}

fn run(env: &Env, args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_taoke"))
        .args(args)
        .env_remove("TAOKE_REGISTRY")
        .env_remove("HF_TOKEN")
        .env_remove("HF_HUB_OFFLINE")
        .env("NO_COLOR", "1")
        .env("HF_ENDPOINT", &env.endpoint)
        .env("TAOKE_REMOTE_CACHE", &env.cache)
        .env("TAOKE_OFFLINE", if env.offline { "1" } else { "0" })
        .output()
        .expect("taoke runs");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Drops the fields that name where a model was read from.
fn without_paths(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            for k in ["path", "reference", "model", "source"] {
                m.remove(k);
            }
            m.values_mut().for_each(without_paths);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(without_paths),
        _ => {}
    }
}

/// Serves the shared stories260K folder as the repository `org/stories` (llama2.c files and
/// a GGUF) and a generated safetensors model with its config as `org/gen` (the hub's resolve
/// URLs redirect).
fn serve(stories: &Path) -> (tempfile::TempDir, TestServer) {
    let root = tempfile::tempdir().unwrap();
    let org = root.path().join("org");
    std::fs::create_dir_all(org.join("gen")).unwrap();
    std::os::unix::fs::symlink(stories, org.join("stories")).unwrap();
    let mut x = 7u64;
    let mut noise = |n: usize| -> Vec<u8> {
        (0..n)
            .flat_map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((((x >> 40) as f32) / (1u64 << 24) as f32 - 0.5) * 0.1).to_le_bytes()
            })
            .collect()
    };
    let (emb, q, norm) = (noise(512 * 64), noise(64 * 64), vec![0u8; 64 * 4]);
    let mut st = Vec::new();
    taoke_safetensors::write(
        &mut st,
        &[
            (
                "model.embed_tokens.weight",
                taoke_dtype::Dtype::F32,
                &[512, 64],
                &emb,
            ),
            (
                "model.layers.0.self_attn.q_proj.weight",
                taoke_dtype::Dtype::F32,
                &[64, 64],
                &q,
            ),
            ("model.norm.weight", taoke_dtype::Dtype::F32, &[64], &norm),
        ],
        &BTreeMap::new(),
    )
    .unwrap();
    std::fs::write(org.join("gen/model.safetensors"), st).unwrap();
    std::fs::write(
        org.join("gen/config.json"),
        br#"{"model_type":"llama","hidden_size":64,"num_hidden_layers":1}"#,
    )
    .unwrap();
    let srv = TestServer::start(
        root.path(),
        Options {
            redirect: true,
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            ..Options::default()
        },
    )
    .unwrap();
    (root, srv)
}

#[test]
fn inspect_compare_fingerprint_of_remote_models_equal_the_local_ones() {
    let bin = model_or_skip!(shared_model("stories260K/stories260K.bin"));
    let stories = bin.parent().unwrap().to_path_buf();
    let (root, srv) = serve(&stories);
    let cache = tempfile::tempdir().unwrap();
    let env = Env {
        endpoint: srv.endpoint(),
        cache: cache.path().to_path_buf(),
        offline: false,
    };
    let st = root.path().join("org/gen/model.safetensors");

    // inspect of a URL = inspect of the file, but for where it was read from.
    let url = srv.url("org/gen/model.safetensors");
    let (code, remote, err) = run(&env, &["inspect", &url, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let (code, here, err) = run(&env, &["inspect", st.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let mut r: serde_json::Value = serde_json::from_str(&remote).unwrap();
    let mut h: serde_json::Value = serde_json::from_str(&here).unwrap();
    assert!(remote.contains(&url), "the URL is shown");
    assert_eq!(r["parameter_count"], 512 * 64 + 64 * 64 + 64);
    without_paths(&mut r);
    without_paths(&mut h);
    assert_eq!(r, h);

    // compare of a remote model against a local file = compare of the local files: a GGUF
    // (header by ranges) and a llama2.c file (fetched whole into the cache).
    let gguf = stories.join("tinyllamas-stories-260k-f32.gguf");
    for (remote, local) in [
        ("hf://org/stories".to_owned(), gguf.clone()),
        (
            "hf://org/stories/stories260K.transpose.bin".to_owned(),
            stories.join("stories260K.transpose.bin"),
        ),
        (srv.url("org/stories/stories260K.bin"), bin.clone()),
    ] {
        let (code, r, err) = run(
            &env,
            &[
                "compare",
                &remote,
                bin.to_str().unwrap(),
                "--format",
                "json",
            ],
        );
        assert!(code == 0 || code == 1, "{remote}: {err}");
        let (code2, h, err) = run(
            &env,
            &[
                "compare",
                local.to_str().unwrap(),
                bin.to_str().unwrap(),
                "--format",
                "json",
            ],
        );
        assert_eq!(code, code2, "{remote}: {err}");
        let r: serde_json::Value = serde_json::from_str(&r).unwrap();
        let h: serde_json::Value = serde_json::from_str(&h).unwrap();
        assert!(r["verdict"].is_string(), "{r}");
        assert_eq!(r["verdict"], h["verdict"], "{remote}");
    }

    // fingerprint of a remote model = the local model's: identify names it identical.
    let tmp = tempfile::tempdir().unwrap();
    let reg = tmp.path().join("registry.sqlite");
    let reg = reg.to_str().unwrap();
    let fp_local = tmp.path().join("local.fp");
    let (code, _, err) = run(
        &env,
        &[
            "fingerprint",
            gguf.to_str().unwrap(),
            "-o",
            fp_local.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(
        &env,
        &[
            "registry",
            "add",
            fp_local.to_str().unwrap(),
            "--name",
            "stories",
            "--registry",
            reg,
        ],
    );
    assert_eq!(code, 0, "{err}");
    let fp_remote = tmp.path().join("remote.fp");
    let url = srv.url("org/stories/tinyllamas-stories-260k-f32.gguf");
    let (code, _, err) = run(
        &env,
        &["fingerprint", &url, "-o", fp_remote.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(
        &env,
        &[
            "identify",
            fp_remote.to_str().unwrap(),
            "--format",
            "json",
            "--registry",
            reg,
        ],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["matches"][0]["name"], "stories", "{out}");
    assert_eq!(v["matches"][0]["verdict"], "identical", "{out}");

    // Offline: what was read is served from the cache; what was not fails clearly (exit 2).
    let offline = Env {
        offline: true,
        ..env
    };
    let requests = srv.requests();
    let (code, _, err) = run(
        &offline,
        &["inspect", &srv.url("org/gen/model.safetensors")],
    );
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(&offline, &["inspect", "hf://org/gen2"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("offline mode (TAOKE_OFFLINE=1)") && err.contains("hf://org/gen2"),
        "{err}"
    );
    assert_eq!(srv.requests(), requests, "offline: no request");
}

#[test]
fn remote_errors_name_the_location_and_exit_2() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("junk.safetensors"), b"not a model at all").unwrap();
    let srv = TestServer::start(root.path(), Options::default()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let env = Env {
        endpoint: srv.endpoint(),
        cache: cache.path().to_path_buf(),
        offline: false,
    };
    for (loc, says) in [
        (srv.url("junk.safetensors"), "not a recognized model file"),
        (srv.url("missing.safetensors"), "404"),
        ("hf://org/missing".to_owned(), "404"),
        ("hf://../x".to_owned(), "hf://org/name"),
    ] {
        let (code, _, err) = run(&env, &["inspect", &loc]);
        assert_eq!(code, 2, "{loc}: {err}");
        assert!(err.contains(says), "{loc}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{loc}: one line: {err}");
    }
}
