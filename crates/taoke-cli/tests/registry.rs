//! `taoke fingerprint`, `registry`, `identify` and `census` through the real binary, on the
//! small zoo; and a registry write killed with SIGKILL mid-transaction.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn taoke() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_taoke"));
    c.env_remove("TAOKE_REGISTRY").env("NO_COLOR", "1");
    c
}

fn zoo() -> PathBuf {
    let profile = taoke_zoo::Profile::Small;
    let dir = taoke_zoo::default_dir(profile);
    taoke_zoo::build(profile, &dir, &mut |_| {}).expect("small zoo builds");
    dir
}

fn model(zoo: &Path, id: &str) -> String {
    let p = zoo.join("models").join(id);
    if p.exists() {
        p.to_string_lossy().into_owned()
    } else {
        zoo.join("models")
            .join(format!("{id}.gguf"))
            .to_string_lossy()
            .into_owned()
    }
}

fn run(args: &[&str]) -> (i32, String, String) {
    let o = taoke().args(args).output().expect("taoke runs");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn fingerprint_registry_identify_census() {
    let zoo = zoo();
    let tmp = tempfile::tempdir().unwrap();
    let reg = tmp.path().join("registry.sqlite");
    let reg_s = reg.to_string_lossy().into_owned();
    // Fingerprint files for the roots; the registry takes either files or models.
    for id in ["a1", "a2", "b1"] {
        let fp = tmp.path().join(format!("{id}.fp"));
        let (code, out, err) = run(&["fingerprint", &model(&zoo, id), "-o", &fp.to_string_lossy()]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains(&format!("{id}.fp")));
        let (code, _, err) = run(&[
            "registry",
            "add",
            &fp.to_string_lossy(),
            "--name",
            id,
            "--publisher",
            "zoo",
            "--registry",
            &reg_s,
        ]);
        assert_eq!(code, 0, "{err}");
    }
    let (code, out, _) = run(&["registry", "list", "--format", "json", "--registry", &reg_s]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["entries"].as_array().unwrap().len(), 3);
    // A disguised quantized copy and a rotated copy of a1 are found; a4 (independent) is not.
    for (id, verdict) in [
        ("a1-gguf-q4_k", "known-ancestor"),
        ("a1-rotated", "known-ancestor"),
        ("a4", "no-known-ancestor"),
    ] {
        let (code, out, err) = run(&[
            "identify",
            &model(&zoo, id),
            "--format",
            "json",
            "--registry",
            &reg_s,
        ]);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["verdict"], verdict, "{id}: {out}");
        if verdict == "known-ancestor" {
            assert_eq!(v["matches"][0]["name"], "a1", "{id}");
            assert!(v["matches"][0]["log10_p_corrected"].as_f64().unwrap() < -6.0);
        }
        for m in v["matches"].as_array().unwrap() {
            if m["name"] != "a1" {
                assert!(
                    !matches!(
                        m["verdict"].as_str(),
                        Some("related" | "same-weights" | "identical")
                    ),
                    "{m}"
                );
            }
        }
    }
    let (code, out, _) = run(&["identify", &model(&zoo, "a4"), "--registry", &reg_s]);
    assert_eq!(code, 0);
    assert!(out.starts_with("no known ancestor"), "{out}");
    // Export, import elsewhere, remove.
    let pack = tmp.path().join("zoo.pack");
    assert_eq!(
        run(&[
            "registry",
            "export",
            "-o",
            &pack.to_string_lossy(),
            "a1",
            "--registry",
            &reg_s
        ])
        .0,
        0
    );
    let reg2 = tmp.path().join("two.sqlite").to_string_lossy().into_owned();
    let (code, _, err) = run(&[
        "registry",
        "import",
        &pack.to_string_lossy(),
        "--registry",
        &reg2,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("imported 1"), "{err}");
    assert_eq!(
        run(&["registry", "remove", "b1", "--registry", &reg_s]).0,
        0
    );
    let (code, _, err) = run(&["registry", "remove", "b1", "--registry", &reg_s]);
    assert_eq!(code, 2);
    assert!(err.contains("b1"), "{err}");
    // Hostile input: a junk "fingerprint" is an error naming the file, exit 2.
    let junk = tmp.path().join("junk.fp");
    std::fs::write(&junk, b"GGUF not really").unwrap();
    let (code, _, err) = run(&[
        "registry",
        "add",
        &junk.to_string_lossy(),
        "--registry",
        &reg_s,
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("junk.fp"), "{err}");
    // Census of a small family and an outsider.
    let out_dir = tmp.path().join("census");
    let (code, out, err) = run(&[
        "census",
        &model(&zoo, "a1"),
        &model(&zoo, "a1-ft-code"),
        &model(&zoo, "a1-perm-mlp"),
        &model(&zoo, "a2"),
        "-o",
        &out_dir.to_string_lossy(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let c: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(c["families"].as_array().unwrap().len(), 2, "{out}");
    assert_eq!(c["edges"].as_array().unwrap().len(), 2, "{out}");
    for f in ["census.json", "census.dot", "census.html"] {
        assert!(out_dir.join(f).metadata().unwrap().len() > 100, "{f}");
    }
}

fn names(reg: &Path) -> Vec<String> {
    let c = rusqlite_free_list(reg);
    c.lines().map(str::to_owned).collect()
}

/// Lists entry names through the binary (the test uses no SQLite of its own).
fn rusqlite_free_list(reg: &Path) -> String {
    let (code, out, err) = run(&[
        "registry",
        "list",
        "--format",
        "json",
        "--registry",
        &reg.to_string_lossy(),
    ]);
    assert_eq!(code, 0, "registry must open after a kill: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned() + "\n")
        .collect()
}

#[test]
fn sigkill_mid_registry_add_leaves_old_or_new() {
    let zoo = zoo();
    let tmp = tempfile::tempdir().unwrap();
    let reg = tmp.path().join("registry.sqlite");
    let reg_s = reg.to_string_lossy().into_owned();
    let fp = tmp.path().join("a2.fp");
    assert_eq!(
        run(&[
            "fingerprint",
            &model(&zoo, "a2"),
            "-o",
            &fp.to_string_lossy()
        ])
        .0,
        0
    );
    let fp_s = fp.to_string_lossy().into_owned();
    assert_eq!(
        run(&[
            "registry",
            "add",
            &fp_s,
            "--name",
            "old",
            "--registry",
            &reg_s
        ])
        .0,
        0
    );
    // Killed inside the transaction (the test hook pauses before commit): the old state.
    let mut child = taoke()
        .args([
            "registry",
            "add",
            &fp_s,
            "--name",
            "new",
            "--registry",
            &reg_s,
        ])
        .env("TAOKE_REGISTRY_TEST_PAUSE_MS", "20000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the write-ahead log holds the uncommitted insert, then SIGKILL.
    let wal = tmp.path().join("registry.sqlite-wal");
    for _ in 0..200 {
        if wal.metadata().map(|m| m.len() > 100_000).unwrap_or(false) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    assert_eq!(names(&reg), ["old"]);
    // Killed at arbitrary moments: the registry opens and holds old, and new or not.
    for delay_ms in [5u64, 20, 40, 80, 160] {
        let mut child = taoke()
            .args([
                "registry",
                "add",
                &fp_s,
                "--name",
                "new",
                "--replace",
                "--registry",
                &reg_s,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        child.wait().unwrap();
        let n = names(&reg);
        assert!(n == ["new", "old"] || n == ["old"], "{delay_ms} ms: {n:?}");
    }
    // Four writers at once, two of them killed at random moments (seeded from the clock; the
    // seed is in the failure message): every writer that exited 0 has its entry, nothing
    // committed before is lost, the file is sound.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    let mut rng = seed | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for round in 0..4 {
        let before = names(&reg);
        let mut children: Vec<(String, std::process::Child)> = (0..4)
            .map(|k| {
                let name = format!("c{round}-{k}");
                let child = taoke()
                    .args([
                        "registry",
                        "add",
                        &fp_s,
                        "--name",
                        &name,
                        "--registry",
                        &reg_s,
                    ])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap();
                (name, child)
            })
            .collect();
        let victims = [next() as usize % 4, next() as usize % 4];
        std::thread::sleep(Duration::from_millis(next() % 150));
        for &v in &victims {
            let _ = children[v].1.kill();
        }
        let mut done = Vec::new();
        for (name, mut child) in children.drain(..) {
            let status = child.wait().unwrap();
            match status.code() {
                Some(0) => done.push(name),
                Some(c) => panic!("seed {seed}: writer {name} failed with exit {c}"),
                None => {} // killed
            }
        }
        let after = names(&reg);
        for n in before.iter().chain(&done) {
            assert!(after.contains(n), "seed {seed}: `{n}` lost: {after:?}");
        }
        let mut dedup = after.clone();
        dedup.dedup();
        assert_eq!(dedup, after, "seed {seed}");
        assert!(
            taoke_registry::registry::Registry::open_existing(&reg)
                .unwrap()
                .integrity_ok()
                .unwrap(),
            "seed {seed}"
        );
    }
    let (code, out, _) = run(&[
        "identify",
        &model(&zoo, "a2"),
        "--format",
        "json",
        "--registry",
        &reg_s,
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("\"identical\""), "{out}");
}
