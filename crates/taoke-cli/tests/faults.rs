//! Faults and hostile inputs, round 2 (issue 19), through the real binary on the small zoo:
//! concurrent `registry add` processes, read-only commands that must not create a registry,
//! census over symlink loops, outputs written whole or not at all (a full disk, an output that
//! names an input), `--alpha` bounds, control characters in names, SQLite text said once.
//! Every run has a 10 s watchdog (a hang fails the test).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a single run may take.
const WATCHDOG: Duration = Duration::from_secs(10);

fn taoke() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_taoke"));
    c.env_remove("TAOKE_REGISTRY")
        .env_remove("TAOKE_TEST_WRITE_LIMIT")
        .env("NO_COLOR", "1");
    c
}

fn zoo() -> PathBuf {
    let profile = taoke_zoo::Profile::Small;
    let dir = taoke_zoo::default_dir(profile);
    taoke_zoo::build(profile, &dir, &mut |_| {}).expect("small zoo builds");
    dir
}

/// A model of the small zoo: `ID.gguf`, else the folder `ID` (the small zoo's GGUF files are
/// all copies of a1; `a4` is an independent safetensors folder).
fn gguf(zoo: &Path, id: &str) -> PathBuf {
    let p = zoo.join("models").join(format!("{id}.gguf"));
    if p.is_file() {
        return p;
    }
    let d = zoo.join("models").join(id);
    assert!(d.is_dir(), "{} missing from the zoo", d.display());
    d
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Spawned output, collected while the child runs (no pipe deadlock).
struct Running {
    child: Child,
    out: std::thread::JoinHandle<Vec<u8>>,
    err: std::thread::JoinHandle<Vec<u8>>,
    started: Instant,
    what: String,
}

fn spawn(mut cmd: Command) -> Running {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("taoke runs");
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    Running {
        child,
        out: std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = so.read_to_end(&mut v);
            v
        }),
        err: std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = se.read_to_end(&mut v);
            v
        }),
        started: Instant::now(),
        what,
    }
}

impl Running {
    /// Waits (watchdog: [`WATCHDOG`] from the start) and returns (exit code, stdout, stderr).
    fn finish(mut self) -> (i32, String, String) {
        let status = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            if self.started.elapsed() > WATCHDOG {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("hung for {WATCHDOG:?}: {}", self.what);
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let out = String::from_utf8_lossy(&self.out.join().unwrap()).into_owned();
        let err = String::from_utf8_lossy(&self.err.join().unwrap()).into_owned();
        (status.code().unwrap_or(-1), out, err)
    }
}

fn run_cmd(cmd: Command) -> (i32, String, String) {
    spawn(cmd).finish()
}

fn run(args: &[&str]) -> (i32, String, String) {
    let mut c = taoke();
    c.args(args);
    run_cmd(c)
}

/// An error: exit 2 and one `error:` line that contains every `needle`.
fn expect_error(r: &(i32, String, String), needles: &[&str]) {
    let (code, _, err) = r;
    assert_eq!(*code, 2, "{err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line: {err}"));
    for n in needles {
        assert!(line.contains(n), "`{n}` not in: {line}");
    }
}

/// A fingerprint file of zoo model `id` in `dir`.
fn fingerprint(zoo: &Path, id: &str, dir: &Path) -> PathBuf {
    let fp = dir.join(format!("{id}.fp"));
    let r = run(&["fingerprint", &s(&gguf(zoo, id)), "-o", &s(&fp)]);
    assert_eq!(r.0, 0, "{}", r.2);
    fp
}

fn names(reg: &Path) -> Vec<String> {
    let (code, out, err) = run(&[
        "registry",
        "list",
        "--format",
        "json",
        "--registry",
        &s(reg),
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect()
}

fn integrity_ok(reg: &Path) -> bool {
    taoke_registry::registry::Registry::open_existing(reg)
        .unwrap()
        .integrity_ok()
        .unwrap()
}

/// Four `taoke registry add` processes at once, on a new registry (three times: the
/// migrations raced) and on an existing one: every one exits 0, every entry is there once,
/// `PRAGMA integrity_check` is ok.
#[test]
fn concurrent_registry_add_processes_all_succeed() {
    let zoo = zoo();
    let tmp = tempfile::tempdir().unwrap();
    let fp = s(&fingerprint(&zoo, "a1-gguf-q4_k", tmp.path()));
    let add_four = |reg: &Path, prefix: &str| {
        let runs: Vec<Running> = (0..4)
            .map(|k| {
                let mut c = taoke();
                c.args([
                    "registry",
                    "add",
                    &fp,
                    "--name",
                    &format!("{prefix}{k}"),
                    "--registry",
                    &s(reg),
                ]);
                spawn(c)
            })
            .collect();
        for r in runs {
            let (code, _, err) = r.finish();
            assert_eq!(code, 0, "{prefix}: {err}");
        }
    };
    for round in 0..3 {
        let reg = tmp
            .path()
            .join(format!("new{round}"))
            .join("registry.sqlite");
        add_four(&reg, "p");
        assert_eq!(names(&reg), ["p0", "p1", "p2", "p3"], "round {round}");
        assert!(integrity_ok(&reg));
    }
    let reg = tmp.path().join("new0").join("registry.sqlite");
    add_four(&reg, "q");
    assert_eq!(
        names(&reg),
        ["p0", "p1", "p2", "p3", "q0", "q1", "q2", "q3"]
    );
    assert!(integrity_ok(&reg));
}

/// `identify`, `registry list`, `registry export`, `registry remove` and
/// `compare --context-registry` never create the registry or its folders; a missing one is an
/// error naming it (exit 2), and `identify` against an empty one says so (it said "no known
/// ancestor among 0 entries", exit 0).
#[test]
fn read_only_commands_never_create_the_registry() {
    let zoo = zoo();
    let tmp = tempfile::tempdir().unwrap();
    let m = s(&gguf(&zoo, "a1-gguf-q4_k"));
    let other = s(&gguf(&zoo, "a4"));
    let missing = tmp.path().join("typo").join("registry.sqlite");
    let reg = s(&missing);
    for args in [
        vec!["identify", &m, "--registry", &reg],
        vec!["registry", "list", "--registry", &reg],
        vec!["registry", "remove", "x", "--registry", &reg],
        vec!["registry", "export", "-o", "pack", "--registry", &reg],
        vec![
            "compare",
            &m,
            &other,
            "--context-registry",
            "--registry",
            &reg,
        ],
    ] {
        let r = run(&args);
        expect_error(&r, &[&reg, "does not exist"]);
        assert!(!tmp.path().join("typo").exists(), "{args:?} created it");
    }
    // The same through $TAOKE_REGISTRY and through the default path under $HOME.
    let mut c = taoke();
    c.args(["identify", &m]).env("TAOKE_REGISTRY", &missing);
    expect_error(&run_cmd(c), &[&reg, "does not exist"]);
    let home = tmp.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let mut c = taoke();
    c.args(["registry", "list"])
        .env("HOME", &home)
        .env_remove("XDG_DATA_HOME");
    expect_error(&run_cmd(c), &["registry.sqlite", "does not exist"]);
    assert_eq!(std::fs::read_dir(&home).unwrap().count(), 0);
    // An empty file, and a registry whose entries were all removed: identify is an error.
    let empty = tmp.path().join("empty.sqlite");
    std::fs::write(&empty, b"").unwrap();
    expect_error(
        &run(&["identify", &m, "--registry", &s(&empty)]),
        &["empty.sqlite", "is empty"],
    );
    assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0);
    let fp = s(&fingerprint(&zoo, "a1-gguf-q4_k", tmp.path()));
    let emptied = s(&tmp.path().join("emptied.sqlite"));
    assert_eq!(
        run(&[
            "registry",
            "add",
            &fp,
            "--name",
            "x",
            "--registry",
            &emptied
        ])
        .0,
        0
    );
    assert_eq!(
        run(&["registry", "remove", "x", "--registry", &emptied]).0,
        0
    );
    expect_error(
        &run(&["identify", &m, "--registry", &emptied]),
        &["emptied.sqlite", "is empty"],
    );
    let (code, out, _) = run(&["registry", "list", "--registry", &emptied]);
    assert_eq!(code, 0);
    assert!(out.starts_with("0 entries"), "{out}");
}

/// census follows symlinks but enters every folder once and counts every model once: one
/// `l0 -> .` link made one model nine (and eight false same-weights edges), four links never
/// finished.
#[test]
fn census_counts_each_model_once_through_symlink_loops() {
    let zoo = zoo();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("models");
    std::fs::create_dir(&dir).unwrap();
    for id in ["a1-gguf-q4_k", "a1-gguf-q8_0"] {
        std::fs::copy(gguf(&zoo, id), dir.join(format!("{id}.gguf"))).unwrap();
    }
    // Another name for one of them, and a folder linking back.
    std::os::unix::fs::symlink("a1-gguf-q4_k.gguf", dir.join("alias.gguf")).unwrap();
    for links in [1, 4] {
        for k in 0..links {
            let l = dir.join(format!("l{k}"));
            if !l.exists() {
                std::os::unix::fs::symlink(".", &l).unwrap();
            }
        }
        let out_dir = tmp.path().join(format!("out{links}"));
        let (code, out, err) = run(&["census", &s(&dir), "-o", &s(&out_dir), "--format", "json"]);
        assert_eq!(code, 0, "{err}");
        let c: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            c["models"].as_array().unwrap().len(),
            2,
            "{links} links: {out}"
        );
        // Two quantized copies of one model: one edge (not 8 of a model matched with itself).
        assert_eq!(
            c["edges"].as_array().unwrap().len(),
            1,
            "{links} links: {out}"
        );
        assert!(err.contains("alias.gguf"), "{err}");
    }
    // One model reached many ways is still one: census needs two.
    let single = tmp.path().join("single");
    std::fs::create_dir(&single).unwrap();
    std::fs::copy(gguf(&zoo, "a1-gguf-q8_0"), single.join("m.gguf")).unwrap();
    std::os::unix::fs::symlink(".", single.join("l0")).unwrap();
    expect_error(
        &run(&["census", &s(&single), "-o", &s(&tmp.path().join("o"))]),
        &["at least two models", "found 1"],
    );
}

/// census exits 2 naming the failures when every model failed (it exited 0 with "0 models").
#[test]
fn census_with_every_input_failing_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("junk-a.gguf");
    let b = tmp.path().join("junk-b.safetensors");
    std::fs::write(&a, b"GGUF but not really").unwrap();
    std::fs::write(&b, b"not a safetensors file either").unwrap();
    let out_dir = tmp.path().join("out");
    let r = run(&["census", &s(&a), &s(&b), "-o", &s(&out_dir)]);
    expect_error(&r, &["junk-a.gguf", "junk-b.safetensors", "2 of 2"]);
    assert!(!out_dir.join("census.json").exists());
}

/// Every byte of every file under `dir` (names relative), to compare before and after.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = s(p.strip_prefix(dir).unwrap());
                if rel != "filler" {
                    v.push((rel, std::fs::read(&p).unwrap()));
                }
            }
        }
    }
    v.sort();
    v
}

/// A small tmpfs at `dir` (unmounted on drop), when this process may mount one.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(dir.to_owned()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A full disk leaves every previous output as it was and no temporary file: census (its
/// JSON was truncated over the last good one), compare -o and inspect -o (partial files),
/// fingerprint and registry export (`*.tmp-*` files left). On a 4 MiB tmpfs filled up
/// between the runs; where the test cannot mount one, with a write error injected.
#[test]
fn a_full_disk_leaves_previous_outputs_intact() {
    let zoo = zoo();
    let tmp = tempfile::tempdir().unwrap();
    let a = s(&gguf(&zoo, "a1-gguf-q4_k"));
    let b = s(&gguf(&zoo, "a4"));
    let reg = tmp.path().join("registry.sqlite");
    let fp = s(&fingerprint(&zoo, "a1-gguf-q4_k", tmp.path()));
    assert_eq!(
        run(&[
            "registry",
            "add",
            &fp,
            "--name",
            "a1",
            "--registry",
            &s(&reg)
        ])
        .0,
        0
    );
    let disk = tmp.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    let mounted = Tmpfs::mount(&disk, "4m");
    let d = |name: &str| s(&disk.join(name));
    let commands: Vec<Vec<String>> = vec![
        vec![
            "census".into(),
            a.clone(),
            b.clone(),
            "-o".into(),
            d("census"),
        ],
        vec![
            "compare".into(),
            a.clone(),
            b.clone(),
            "--format".into(),
            "html".into(),
            "-o".into(),
            d("report.html"),
        ],
        vec![
            "inspect".into(),
            a.clone(),
            "--format".into(),
            "json".into(),
            "-o".into(),
            d("inspect.json"),
        ],
        vec!["fingerprint".into(), b.clone(), "-o".into(), d("b.fp")],
        vec![
            "registry".into(),
            "export".into(),
            "-o".into(),
            d("pack"),
            "--registry".into(),
            s(&reg),
        ],
    ];
    for c in &commands {
        let args: Vec<&str> = c.iter().map(String::as_str).collect();
        let (code, _, err) = run(&args);
        assert_eq!(code, 0, "{c:?}: {err}");
    }
    let before = snapshot(&disk);
    assert_eq!(
        before.len(),
        7,
        "{:?}",
        before.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    if mounted.is_some() {
        // Fill the disk.
        let mut f = std::fs::File::create(disk.join("filler")).unwrap();
        let chunk = vec![0u8; 4096];
        while std::io::Write::write_all(&mut f, &chunk).is_ok() {}
        let _ = f.sync_all();
    }
    for c in &commands {
        let mut cmd = taoke();
        cmd.args(c);
        if mounted.is_none() {
            cmd.env("TAOKE_TEST_WRITE_LIMIT", "100");
        }
        let (code, _, err) = run_cmd(cmd);
        assert_eq!(code, 2, "{c:?} on a full disk: {err}");
        assert!(
            err.contains("No space left") || err.contains("os error 28"),
            "{c:?}: {err}"
        );
        assert_eq!(
            err.lines().filter(|l| l.starts_with("error:")).count(),
            1,
            "{err}"
        );
    }
    let after = snapshot(&disk);
    assert!(
        before == after,
        "outputs changed or temporary files left: {:?}",
        after.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
}

/// An output path that is an input is refused before anything is written (exit 2): through
/// the same path, a symlink or a hard link. `fingerprint M -o M` replaced the model with its
/// fingerprint and exited 0.
#[test]
fn outputs_never_overwrite_inputs() {
    let zoo = zoo();
    let tmp = tempfile::tempdir().unwrap();
    let m = tmp.path().join("m.gguf");
    std::fs::copy(gguf(&zoo, "a1-gguf-q4_k"), &m).unwrap();
    let other = s(&gguf(&zoo, "a4"));
    let link = tmp.path().join("link.gguf");
    std::os::unix::fs::symlink(&m, &link).unwrap();
    let hard = tmp.path().join("hard.gguf");
    std::fs::hard_link(&m, &hard).unwrap();
    let original = std::fs::read(&m).unwrap();
    let ms = s(&m);
    for target in [&m, &link, &hard] {
        let t = s(target);
        for args in [
            vec!["fingerprint", &ms, "-o", &t],
            vec!["compare", &ms, &other, "-o", &t],
            vec!["compare", &other, &ms, "--format", "json", "-o", &t],
            vec!["inspect", &ms, "-o", &t],
        ] {
            let r = run(&args);
            expect_error(&r, &["refusing to write", &t]);
        }
    }
    assert!(std::fs::read(&m).unwrap() == original, "the model changed");
    // A registry export over the registry itself.
    let reg = tmp.path().join("r.sqlite");
    let fp = s(&fingerprint(&zoo, "a1-gguf-q4_k", tmp.path()));
    assert_eq!(
        run(&[
            "registry",
            "add",
            &fp,
            "--name",
            "a1",
            "--registry",
            &s(&reg)
        ])
        .0,
        0
    );
    let r = run(&["registry", "export", "-o", &s(&reg), "--registry", &s(&reg)]);
    expect_error(&r, &["r.sqlite", "refusing"]);
    assert_eq!(names(&reg), ["a1"]);
    assert!(integrity_ok(&reg));
}

/// `--alpha` outside 0 < α < 0.01 is refused with the reason (exit 2): `--alpha 2` made an
/// independent pair "related" (and `--fail-on related` exit 1), 0 or NaN made a fine-tune
/// "inconclusive" (a CI gate passed).
#[test]
fn alpha_outside_its_range_is_refused() {
    let zoo = zoo();
    let tmp = tempfile::tempdir().unwrap();
    let a = s(&gguf(&zoo, "a1-gguf-q4_k"));
    let b = s(&gguf(&zoo, "a4"));
    let reg = s(&tmp.path().join("r.sqlite"));
    let out = s(&tmp.path().join("census"));
    let cmds: Vec<Vec<&str>> = vec![
        vec!["compare", &a, &b, "--fail-on", "related"],
        vec!["identify", &a, "--registry", &reg],
        vec!["census", &a, &b, "-o", &out],
        vec!["audit", &a],
    ];
    for c in &cmds {
        for (bad, why) in [
            ("2", "below 0.01"),
            ("0.01", "below 0.01"),
            ("0", "above 0"),
            ("-1e-3", "above 0"),
            ("NaN", "above 0"),
            ("inf", "above 0"),
            ("often", "not a number"),
        ] {
            let mut args = c.clone();
            let flag = format!("--alpha={bad}");
            args.push(&flag);
            let (code, stdout, err) = run(&args);
            assert_eq!(code, 2, "{args:?}: {err}");
            assert!(stdout.is_empty());
            assert!(
                err.contains("--alpha") && err.contains(why),
                "{args:?}: {err}"
            );
        }
    }
    // In range: accepted (the independent pair stays independent).
    let (code, out, err) = run(&[
        "compare",
        &a,
        &b,
        "--alpha",
        "0.001",
        "--fail-on",
        "related",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["verdict"], "independent");
    assert!(!tmp.path().join("census").exists());
}

/// Names from a registry (packs written by strangers) reach the terminal with control
/// characters escaped: no escape sequence, carriage return or bidi override is printed raw.
/// JSON keeps the exact name.
#[test]
fn control_characters_in_names_are_escaped() {
    let zoo = zoo();
    let tmp = tempfile::tempdir().unwrap();
    let reg = s(&tmp.path().join("r.sqlite"));
    let fp = s(&fingerprint(&zoo, "a1-gguf-q4_k", tmp.path()));
    let evil = "ok\x1b[2J\x1b]0;pwned\x07\rfake\u{202e}txt";
    let (code, _, err) = run(&[
        "registry",
        "add",
        &fp,
        "--name",
        evil,
        "--publisher",
        "pub\x1b[31m",
        "--registry",
        &reg,
    ]);
    assert_eq!(code, 0, "{err}");
    let raw = |t: &str| t.contains('\x1b') || t.contains('\r') || t.contains('\u{202e}');
    assert!(!raw(&err), "{err:?}");
    let (code, out, err) = run(&["registry", "list", "--registry", &reg]);
    assert_eq!(code, 0, "{err}");
    assert!(!raw(&out), "{out:?}");
    assert!(out.contains("ok\\u{1b}[2J"), "{out}");
    let (code, out, err) = run(&[
        "identify",
        &s(&gguf(&zoo, "a1-gguf-q4_k")),
        "--registry",
        &reg,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(!raw(&out) && !raw(&err), "{out:?} {err:?}");
    assert!(out.contains("\\u{202e}txt"), "{out}");
    let (code, out, _) = run(&["registry", "list", "--format", "json", "--registry", &reg]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["entries"][0]["name"], evil);
}

/// An SQLite error is one line naming the file, its text said once (it was repeated once per
/// level of the error chain).
#[test]
fn sqlite_errors_are_said_once() {
    let tmp = tempfile::tempdir().unwrap();
    let junk = tmp.path().join("junk.sqlite");
    std::fs::write(&junk, vec![b'x'; 8192]).unwrap();
    for args in [
        vec!["registry", "list"],
        vec!["registry", "add", "nothing.fp"],
    ] {
        let mut args = args.clone();
        let j = s(&junk);
        args.extend(["--registry", &j]);
        let r = run(&args);
        expect_error(&r, &["junk.sqlite", "not a database"]);
        assert_eq!(r.2.lines().count(), 1, "{}", r.2);
        assert_eq!(r.2.matches("not a database").count(), 1, "{}", r.2);
    }
}

/// A fingerprint file declaring 65,536 blocks (19 s to load) is refused at once, naming the
/// file.
#[test]
fn fingerprint_declaring_too_many_blocks_is_refused() {
    let zoo = zoo();
    let tmp = tempfile::tempdir().unwrap();
    let fp = fingerprint(&zoo, "a1-gguf-q4_k", tmp.path());
    let bytes = std::fs::read(&fp).unwrap();
    let h = taoke_safetensors::Header::parse(&bytes).unwrap();
    let mut meta = h.metadata.clone();
    let key = taoke_registry::fingerprint::KEY_MODEL;
    let mut info: serde_json::Value = serde_json::from_str(&meta[key]).unwrap();
    info["blocks"] = 65_536.into();
    meta.insert(key.to_owned(), info.to_string());
    let pads: Vec<String> = (0..60_000).map(|k| format!("pad.{k}")).collect();
    let mut tensors: Vec<(&str, taoke_dtype::Dtype, &[u64], &[u8])> = h
        .tensors
        .iter()
        .map(|t| {
            let a = (h.data_start + t.data_offsets.0) as usize;
            let b = (h.data_start + t.data_offsets.1) as usize;
            (t.name.as_str(), t.dtype, t.shape.as_slice(), &bytes[a..b])
        })
        .collect();
    for p in &pads {
        tensors.push((p.as_str(), taoke_dtype::Dtype::U8, &[0u64][..], &[][..]));
    }
    let mut out = Vec::new();
    taoke_safetensors::write(&mut out, &tensors, &meta).unwrap();
    let huge = tmp.path().join("huge.fp");
    std::fs::write(&huge, out).unwrap();
    let reg = s(&tmp.path().join("r.sqlite"));
    let t = Instant::now();
    let r = run(&["registry", "add", &s(&huge), "--registry", &reg]);
    expect_error(&r, &["huge.fp", "65536 blocks"]);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}
