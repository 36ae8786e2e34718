//! Remote locations through the real binary, against a loopback server the test starts (never
//! the internet): `inspect` of an `http://` file and `compare` / `fingerprint` / `identify` of
//! `hf://` repositories give what the local files give.

use std::path::{Path, PathBuf};
use std::process::Command;

use taoke_remote::testserver::{Options, TestServer};

fn zoo() -> PathBuf {
    let profile = taoke_zoo::Profile::Small;
    let dir = taoke_zoo::default_dir(profile);
    taoke_zoo::build(profile, &dir, &mut |_| {}).expect("small zoo builds");
    dir
}

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

/// Serves `zoo/models` as the repositories `org/<id>` (the hub's resolve URLs redirect).
fn serve(zoo: &Path) -> (tempfile::TempDir, TestServer) {
    let root = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(zoo.join("models"), root.path().join("org")).unwrap();
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
    let zoo = zoo();
    let (_root, srv) = serve(&zoo);
    let cache = tempfile::tempdir().unwrap();
    let env = Env {
        endpoint: srv.endpoint(),
        cache: cache.path().to_path_buf(),
        offline: false,
    };
    let local = |id: &str| zoo.join("models").join(id);
    let a1 = local("a1");
    let st = a1.join("model.safetensors");
    assert!(st.is_file(), "zoo a1 is a safetensors folder");

    // inspect of a URL = inspect of the file, but for where it was read from.
    let url = srv.url("org/a1/model.safetensors");
    let (code, remote, err) = run(&env, &["inspect", &url, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let (code, here, err) = run(&env, &["inspect", st.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let mut r: serde_json::Value = serde_json::from_str(&remote).unwrap();
    let mut h: serde_json::Value = serde_json::from_str(&here).unwrap();
    assert!(remote.contains(&url), "the URL is shown");
    without_paths(&mut r);
    without_paths(&mut h);
    assert_eq!(r, h);

    // compare hf://org/X against a local copy of A = compare of the local files.
    for (b, expect) in [("a1", "identical"), ("a1-rotated", ""), ("a4", "")] {
        let hf = format!("hf://org/{b}");
        let (code, remote, err) = run(
            &env,
            &["compare", &hf, a1.to_str().unwrap(), "--format", "json"],
        );
        assert!(code == 0 || code == 1, "{b}: {err}");
        let (code2, here, err) = run(
            &env,
            &[
                "compare",
                local(b).to_str().unwrap(),
                a1.to_str().unwrap(),
                "--format",
                "json",
            ],
        );
        assert_eq!(code, code2, "{b}: {err}");
        let r: serde_json::Value = serde_json::from_str(&remote).unwrap();
        let h: serde_json::Value = serde_json::from_str(&here).unwrap();
        assert_eq!(r["verdict"], h["verdict"], "{b}");
        if !expect.is_empty() {
            assert_eq!(r["verdict"], expect, "{b}");
        }
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
            a1.to_str().unwrap(),
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
            "a1",
            "--registry",
            reg,
        ],
    );
    assert_eq!(code, 0, "{err}");
    let before = srv.body_bytes();
    let fp_remote = tmp.path().join("remote.fp");
    let url = srv.url("org/a1/model.safetensors");
    let (code, _, err) = run(
        &env,
        &["fingerprint", &url, "-o", fp_remote.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    let served = srv.body_bytes() - before;
    let len = std::fs::metadata(&st).unwrap().len();
    eprintln!("remote fingerprint of zoo a1: {served} of {len} bytes served");
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
    assert_eq!(v["matches"][0]["name"], "a1", "{out}");
    assert_eq!(v["matches"][0]["verdict"], "identical", "{out}");

    // Offline: what was read is served from the cache; what was not fails clearly (exit 2).
    let offline = Env {
        offline: true,
        ..env
    };
    let requests = srv.requests();
    let (code, _, err) = run(&offline, &["inspect", &srv.url("org/a1/model.safetensors")]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(&offline, &["inspect", "hf://org/a2"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("offline mode (TAOKE_OFFLINE=1)") && err.contains("hf://org/a2"),
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
