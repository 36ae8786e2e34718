//! census and identify on the fetched real models (issue 21): they say what `compare` says.
//! The int8 ONNX export of all-MiniLM-L6-v2 is a copy of it (same-weights), never a training
//! edge; paraphrase-MiniLM-L3-v2 is related to it through shared embeddings, never a merge of
//! it and its own export; every model is counted once whether each sits in its own folder or
//! all lie side by side in one. Skipped with a message when the models are missing (run
//! scripts/fetch-test-models); a failure under CI.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const MINILM: &str = "all-MiniLM-L6-v2";
const INT8: &str = "all-MiniLM-L6-v2-int8-onnx/model.onnx";
const L3: &str = "paraphrase-MiniLM-L3-v2-onnx/paraphrase-MiniLM-L3-v2.onnx";
const SMOL: &str = "SmolLM2-135M-Instruct-Q4_1/SmolLM2-135M-Instruct.Q4_1.gguf";

/// The four fetched real models, or `None` (skip) when one is missing.
fn models() -> Option<[PathBuf; 4]> {
    Some([
        taoke_test::test_model(MINILM)?,
        taoke_test::test_model(INT8)?,
        taoke_test::test_model(L3)?,
        taoke_test::test_model(SMOL)?,
    ])
}

fn run(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_taoke"))
        .env_remove("TAOKE_REGISTRY")
        .env("NO_COLOR", "1")
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args(args)
        .output()
        .expect("taoke runs");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn link(target: &Path, at: &Path) {
    std::os::unix::fs::symlink(target, at).expect("symlink");
}

/// Runs census on `dir`, returns its JSON.
fn census(dir: &Path, out: &Path) -> Value {
    let (code, stdout, err) = run(&["census", &s(dir), "-o", &s(out), "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    // How it was made, at the fixed time; no absolute path anywhere.
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    assert!(!stdout.contains(&home), "{stdout}");
    assert!(!stdout.contains(&s(dir)), "{stdout}");
    let c: Value = serde_json::from_str(&stdout).expect("census JSON");
    assert_eq!(c["generated_at"], "2023-11-14T22:13:20Z");
    assert!(c["taoke_version"]
        .as_str()
        .unwrap()
        .starts_with(env!("CARGO_PKG_VERSION")));
    assert_eq!(c["fingerprint_algorithm"], "anchored-units/3");
    // Every model with the SHA-256 of each of its weight files.
    for m in c["models"].as_array().unwrap() {
        let files = m["identity"]["files"].as_array().expect("identity files");
        assert!(!files.is_empty(), "{m:#}");
        for f in files {
            let h = f["sha256"].as_str().unwrap_or_default();
            assert!(
                h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()),
                "{m:#}"
            );
        }
    }
    c
}

/// The edge between the models whose names contain `a` and `b` (either direction).
fn edge<'v>(c: &'v Value, a: &str, b: &str) -> &'v Value {
    c["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            let (p, q) = (e["parent"].as_str().unwrap(), e["child"].as_str().unwrap());
            (p.contains(a) && q.contains(b)) || (p.contains(b) && q.contains(a))
        })
        .unwrap_or_else(|| panic!("no edge {a} — {b}: {c:#}"))
}

/// The checks of both layouts: four models, each once; no merge; int8 joined to MiniLM as
/// same-weights; paraphrase-L3 related; SmolLM2 alone.
fn check_real_census(c: &Value, out: &Path, minilm_name: &str) {
    let names: Vec<&str> = c["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 4, "every model once: {names:?}");
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 4, "{names:?}");
    let edges = c["edges"].as_array().unwrap();
    for e in edges {
        assert_ne!(e["direction"], "merge", "no merge edge: {e:#}");
        assert!(
            !e["kinds"].as_array().unwrap().iter().any(|k| k == "merge"),
            "no merge kind: {e:#}"
        );
        assert_ne!(
            e["parent"], e["child"],
            "a model matched with itself: {e:#}"
        );
    }
    // MiniLM, its export and paraphrase-L3 form one family (two edges); SmolLM2 is alone.
    assert_eq!(edges.len(), 2, "{c:#}");
    let int8 = edge(c, minilm_name, "int8");
    assert_eq!(int8["verdict"], "same-weights", "{int8:#}");
    assert_eq!(int8["judged_by"], "compare", "{int8:#}");
    assert!(
        int8["kinds"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k == "quantized"),
        "{int8:#}"
    );
    // The copy hangs from its original (full precision), never from a relative.
    assert!(
        int8["parent"].as_str().unwrap().starts_with(minilm_name)
            && int8["child"].as_str().unwrap().contains("int8"),
        "{int8:#}"
    );
    let l3 = edges
        .iter()
        .find(|e| e["child"].as_str().unwrap().contains("paraphrase"))
        .unwrap_or_else(|| panic!("paraphrase-L3 has a parent: {c:#}"));
    assert_eq!(l3["verdict"], "related", "{l3:#}");
    // Related through shared embeddings (compare's kind), not trained into a merge.
    assert!(
        l3["kinds"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k == "shared-components"),
        "{l3:#}"
    );
    assert_eq!(l3["judged_by"], "compare", "{l3:#}");
    let smol = c["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| {
            m["name"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("smollm2")
        })
        .unwrap();
    assert!(smol["parent"].is_null(), "{smol:#}");
    // The files written say the same: no merge drawn.
    let html = std::fs::read_to_string(out.join("census.html")).expect("census.html");
    assert!(!html.contains("direction: merge"), "{html}");
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("census.json")).unwrap()).unwrap();
    assert_eq!(written["edges"], c["edges"]);
}

#[test]
fn census_of_real_models_each_in_its_own_folder() {
    let Some(m) = models() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("models");
    std::fs::create_dir(&dir).unwrap();
    for p in &m {
        let folder = if p.is_dir() {
            p.as_path()
        } else {
            p.parent().unwrap()
        };
        link(folder, &dir.join(folder.file_name().unwrap()));
    }
    let out = tmp.path().join("out");
    let c = census(&dir, &out);
    check_real_census(&c, &out, MINILM);
    // Names are the paths under the folder given, each model once.
    let names: Vec<&str> = c["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&MINILM), "{names:?}");
    assert!(names.contains(&INT8), "{names:?}");
    assert!(names.contains(&L3), "{names:?}");
    assert!(names.contains(&SMOL), "{names:?}");
    html_draws_the_tree(&out);
}

/// census.html in headless Chromium: one tree (inline SVG) for the MiniLM family, its three
/// models as nodes, the export's edge same-weights and paraphrase-L3's related, no console
/// error, and a screenshot. Skips without Chromium; fails under CI.
fn html_draws_the_tree(out: &Path) {
    use taoke_report::browser;
    if !browser::available() {
        if taoke_test::in_ci() {
            panic!(
                "{} is missing under CI (scripts/ci-deps installs it)",
                browser::CHROMIUM
            );
        }
        eprintln!("skipped: {} not installed", browser::CHROMIUM);
        return;
    }
    let page = out.join("census.html");
    let profile = out.join("profile");
    std::fs::create_dir_all(&profile).unwrap();
    let r = browser::dump_dom(&page, &profile).unwrap();
    assert!(r.console_errors.is_empty(), "{:?}", r.console_errors);
    assert_eq!(r.count(r#"<svg class="tree""#), 1, "{}", r.dom);
    assert_eq!(r.count(r#"<g class="node"#), 3, "{}", r.dom);
    assert_eq!(r.count(r#"<g class="node root""#), 1, "{}", r.dom);
    assert_eq!(
        r.count(r#"<line class="edge same-weights""#),
        1,
        "{}",
        r.dom
    );
    assert_eq!(r.count(r#"<line class="edge related""#), 1, "{}", r.dom);
    assert!(!r.dom.contains("merge"), "no merge drawn");
    let png = out.join("census.png");
    let profile2 = out.join("profile2");
    std::fs::create_dir_all(&profile2).unwrap();
    let errs = browser::screenshot(&page, &png, 1000, 800, &profile2).unwrap();
    assert!(errs.is_empty(), "{errs:?}");
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert!(bytes.len() > 10_000, "screenshot is {} bytes", bytes.len());
}

#[test]
fn census_of_real_models_as_loose_files_side_by_side() {
    let Some([minilm, int8, l3, smol]) = models() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("loose");
    std::fs::create_dir(&dir).unwrap();
    // A GGUF, two ONNX files and a safetensors folder in one folder.
    link(&smol, &dir.join("smollm2-135m.Q4_1.gguf"));
    link(&int8, &dir.join("minilm-int8.onnx"));
    link(&l3, &dir.join("paraphrase-L3.onnx"));
    link(&minilm, &dir.join("minilm"));
    let out = tmp.path().join("out");
    let c = census(&dir, &out);
    check_real_census(&c, &out, "minilm");
    let mut names: Vec<&str> = c["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "minilm",
            "minilm-int8.onnx",
            "paraphrase-L3.onnx",
            "smollm2-135m.Q4_1.gguf"
        ]
    );
}

/// A registry of the given models (name, path) through the binary.
fn registry(dir: &Path, entries: &[(&str, &Path)]) -> String {
    let reg = s(&dir.join("registry.sqlite"));
    for (name, path) in entries {
        let (code, _, err) = run(&[
            "registry",
            "add",
            &s(path),
            "--name",
            name,
            "--registry",
            &reg,
        ]);
        assert_eq!(code, 0, "{err}");
    }
    reg
}

fn identify(model: &Path, reg: &str) -> Value {
    let (code, out, err) = run(&["identify", &s(model), "--registry", reg, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).expect("identify JSON")
}

#[test]
fn identify_ranks_every_real_model_and_its_int8_export_first_with_the_right_verdict() {
    let Some([minilm, int8, l3, smol]) = models() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let all = [
        ("all-MiniLM-L6-v2", minilm.as_path()),
        ("all-MiniLM-L6-v2-int8", int8.as_path()),
        ("paraphrase-MiniLM-L3-v2", l3.as_path()),
        ("SmolLM2-135M-Instruct", smol.as_path()),
    ];
    let reg = registry(tmp.path(), &all);
    // Every model finds itself first, identical.
    for (name, path) in all {
        let r = identify(path, &reg);
        let first = &r["matches"][0];
        assert_eq!(first["name"], name, "{r:#}");
        assert_eq!(first["verdict"], "identical", "{r:#}");
    }
    // MiniLM: after itself, its int8 export (same weights) before paraphrase-L3 (related).
    let r = identify(&minilm, &reg);
    let names: Vec<(&str, &str)> = r["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["name"].as_str().unwrap(), m["verdict"].as_str().unwrap()))
        .collect();
    assert_eq!(
        &names[..3],
        [
            ("all-MiniLM-L6-v2", "identical"),
            ("all-MiniLM-L6-v2-int8", "same-weights"),
            ("paraphrase-MiniLM-L3-v2", "related"),
        ],
        "{r:#}"
    );
    // The int8 export against a registry without it: MiniLM, same-weights, first.
    let tmp2 = tempfile::tempdir().unwrap();
    let reg2 = registry(tmp2.path(), &[all[0], all[2], all[3]]);
    let r = identify(&int8, &reg2);
    let first = &r["matches"][0];
    assert_eq!(first["name"], "all-MiniLM-L6-v2", "{r:#}");
    assert_eq!(first["verdict"], "same-weights", "{r:#}");
    assert_eq!(r["verdict"], "known-ancestor", "{r:#}");
}

/// Against the default pack (`registry build-default`, what scripts/build-default-pack
/// exports): every fetched real model finds its own entry first, `identical`; MiniLM's int8
/// export follows MiniLM as `same-weights`, before paraphrase-L3 (`related`); the pack names
/// no absolute path; without `--shared-models` nothing is looked for relative to the working
/// directory.
#[test]
fn identify_against_the_default_pack() {
    let Some([minilm, int8, l3, smol]) = models() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let reg = s(&tmp.path().join("default.sqlite"));
    let (code, _, err) = run(&[
        "registry",
        "build-default",
        "--test-models",
        &s(&taoke_test::test_models_dir()),
        "--registry",
        &reg,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("stories260K skipped"), "{err}");
    assert!(!err.contains("../shared"), "{err}");
    let pack = tmp.path().join("default.tkp");
    let (code, _, err) = run(&["registry", "export", "--registry", &reg, "-o", &s(&pack)]);
    assert_eq!(code, 0, "{err}");
    let bytes = std::fs::read(&pack).unwrap();
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains(&home), "the pack names a local path");
    for (path, entry) in [
        (&minilm, "all-MiniLM-L6-v2"),
        (&int8, "all-MiniLM-L6-v2-int8-onnx"),
        (&l3, "paraphrase-MiniLM-L3-v2-onnx"),
        (&smol, "SmolLM2-135M-Instruct-Q4_1"),
    ] {
        let r = identify(path, &reg);
        assert_eq!(r["matches"][0]["name"], entry, "{r:#}");
        assert_eq!(r["matches"][0]["verdict"], "identical", "{r:#}");
    }
    let r = identify(&minilm, &reg);
    assert_eq!(
        r["matches"][1]["name"], "all-MiniLM-L6-v2-int8-onnx",
        "{r:#}"
    );
    assert_eq!(r["matches"][1]["verdict"], "same-weights", "{r:#}");
    assert_eq!(
        r["matches"][2]["name"], "paraphrase-MiniLM-L3-v2-onnx",
        "{r:#}"
    );
    assert_eq!(r["matches"][2]["verdict"], "related", "{r:#}");
    assert_eq!(r["generated_at"], "2023-11-14T22:13:20Z");
}

/// An Ollama store given to census: each manifest is one model named `ollama:NAME:TAG` (it
/// found 0 models).
#[test]
fn census_of_an_ollama_store_names_its_models() {
    let Some([minilm, _, _, smol]) = models() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("ollama");
    let hex = "ab".repeat(32);
    let manifests = store.join("manifests/registry.ollama.ai/library/smollm2");
    std::fs::create_dir_all(&manifests).unwrap();
    std::fs::create_dir_all(store.join("blobs")).unwrap();
    link(&smol, &store.join("blobs").join(format!("sha256-{hex}")));
    std::fs::write(
        manifests.join("135m"),
        format!(
            r#"{{"schemaVersion":2,"layers":[{{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:{hex}","size":1}}]}}"#
        ),
    )
    .unwrap();
    // A manifest without a model layer is skipped.
    std::fs::write(manifests.join("broken"), "{}").unwrap();
    let (code, out, err) = run(&[
        "census",
        &s(&store),
        &s(&minilm),
        "-o",
        &s(&tmp.path().join("out")),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let c: Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = c["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"ollama:smollm2:135m"), "{names:?}");
}
