//! The CLI's public contract: compare JSON fields, `--fail-on` exit codes, errors that name the
//! file (exit 2), inspect JSON fields, and the new report formats.

use std::path::Path;
use std::process::Command;

use taoke_test::{model_or_skip, shared_model};

fn taoke(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_taoke"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The command succeeded (its stderr is shown when not).
fn expect_ok(out: &std::process::Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn compare_json_has_the_required_fields() {
    let a = model_or_skip!(shared_model("stories260K/stories260K.bin"));
    let b = model_or_skip!(shared_model("stories260K/stories260K.transpose.bin"));
    let out = taoke(&["compare", s(&a), s(&b), "--format", "json"]);
    expect_ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for k in [
        "schema_version",
        "a",
        "b",
        "verdict",
        "kinds",
        "direction",
        "p_value",
        "evidence",
        "components",
    ] {
        assert!(v.get(k).is_some(), "compare JSON lacks `{k}`");
    }
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["verdict"], "same-weights");
    assert!(v["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k == "transposed"));
    assert!(!v["evidence"].as_array().unwrap().is_empty());
    // Progress never reaches a non-terminal stderr.
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn fail_on_related_exit_codes() {
    let a = model_or_skip!(shared_model("stories260K/stories260K.bin"));
    let b = model_or_skip!(shared_model("stories260K/stories260K.transpose.bin"));
    let out = taoke(&["compare", s(&a), s(&b), "--fail-on", "related"]);
    assert_eq!(out.status.code(), Some(1), "related pair must exit 1");
    // The independent pair (exit 0) is in tests/demo.rs: two zoo roots (a fast pair).
    let out = taoke(&["compare", s(&a), s(&a), "--fail-on", "same-weights"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "identical pair must match same-weights"
    );
    let out = taoke(&[
        "compare",
        s(&a),
        s(&b),
        "--fail-on",
        "related",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verdict"], "same-weights");
}

#[test]
fn malformed_file_exits_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken-model.safetensors");
    std::fs::write(&bad, b"\xff\xff\xff\xff\xff\xff\xff\x7fnot a header").unwrap();
    let good = model_or_skip!(shared_model("stories260K/stories260K.bin"));
    let out = taoke(&["compare", s(&bad), s(&good)]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken-model.safetensors"), "{err}");
    assert!(out.stdout.is_empty());
    let out = taoke(&["inspect", s(&bad), "--format", "json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken-model.safetensors"));
}

#[test]
fn inspect_json_fields_on_stories260k() {
    for (file, tensors) in [
        ("stories260K/stories260K.bin", 49),
        ("stories260K/tinyllamas-stories-260k-f32.gguf", 48),
    ] {
        let p = model_or_skip!(shared_model(file));
        let out = taoke(&["inspect", s(&p), "--format", "json"]);
        expect_ok(&out);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for k in [
            "schema_version",
            "path",
            "format",
            "tensor_count",
            "parameter_count",
            "tensors",
        ] {
            assert!(v.get(k).is_some(), "{file}: inspect JSON lacks `{k}`");
        }
        assert_eq!(v["tensor_count"], tensors, "{file}");
        let ts = v["tensors"].as_array().unwrap();
        assert_eq!(ts.len(), tensors);
        for t in ts {
            for k in ["name", "shape", "dtype", "bytes"] {
                assert!(t.get(k).is_some(), "{file}: tensor lacks `{k}`: {t}");
            }
        }
        let params: u64 = ts
            .iter()
            .map(|t| {
                t["shape"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_u64().unwrap())
                    .product::<u64>()
            })
            .sum();
        assert_eq!(v["parameter_count"].as_u64(), Some(params), "{file}");
    }
}

#[test]
fn compare_markdown_and_html_to_file() {
    let a = model_or_skip!(shared_model("stories260K/stories260K.bin"));
    let b = model_or_skip!(shared_model("stories260K/stories260K.transpose.bin"));
    let dir = tempfile::tempdir().unwrap();
    let md = taoke(&["compare", s(&a), s(&b), "--format", "markdown"]);
    assert_eq!(md.status.code(), Some(0));
    let md = String::from_utf8(md.stdout).unwrap();
    assert!(md.contains("**Verdict: SAME-WEIGHTS**"), "{md}");
    assert!(md.contains("### What this verdict does not prove"));
    let html = dir.path().join("r.html");
    let out = taoke(&[
        "-q",
        "compare",
        s(&a),
        s(&b),
        "--format",
        "html",
        "-o",
        s(&html),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("SAME-WEIGHTS"));
    assert!(page.contains(r#"class="heatmap""#));
}

#[test]
fn colour_follows_flag_and_no_color() {
    let a = model_or_skip!(shared_model("stories260K/stories260K.bin"));
    let b = model_or_skip!(shared_model("stories260K/stories260K.transpose.bin"));
    let run = |extra: &[&str], no_color: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_taoke"));
        cmd.args(extra).args(["compare", s(&a), s(&b)]);
        if no_color {
            cmd.env("NO_COLOR", "1");
        } else {
            cmd.env_remove("NO_COLOR");
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(run(&["--color", "always"], true).starts_with("\x1b[1mSAME-WEIGHTS\x1b[0m"));
    assert!(run(&["--color", "never"], false).starts_with("SAME-WEIGHTS [transposed]"));
    // auto: stdout is a pipe here, and NO_COLOR is set: no escapes either way.
    assert!(!run(&[], true).contains('\x1b'));
    assert!(!run(&["-q"], false).contains('\x1b'));
}

/// `--context`: a linear merge of two noisy copies of stories260K is named a merge only when
/// its parents are given as context, as models or as registry entries (`--context-registry`);
/// a context model that cannot be opened exits 2.
#[test]
fn compare_context_names_a_merge() {
    let bin = model_or_skip!(shared_model("stories260K/stories260K.bin"));
    let ck = taoke_model::open(s(&bin)).unwrap();
    let base: Vec<(String, Vec<u64>, Vec<f32>)> = ck
        .tensors
        .iter()
        .filter(|t| !t.name.starts_with("freq_cis"))
        .map(|t| (t.name.clone(), t.shape.clone(), ck.read_f32(t).unwrap()))
        .collect();
    // Block matrices plus 10 % of their RMS in seeded noise (a stand-in for a fine-tune).
    let tuned = |seed: u64| -> Vec<Vec<f32>> {
        let mut z = seed;
        base.iter()
            .map(|(name, shape, v)| {
                if shape.len() != 2 || !name.starts_with("layers.") {
                    return v.clone();
                }
                let rms = (v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32).sqrt();
                v.iter()
                    .map(|x| {
                        z = z
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        x + 0.1 * rms * ((z >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
                    })
                    .collect()
            })
            .collect()
    };
    let (f1, f2) = (tuned(1), tuned(2));
    let merged: Vec<Vec<f32>> = f1
        .iter()
        .zip(&f2)
        .map(|(a, b)| a.iter().zip(b).map(|(x, y)| 0.5 * x + 0.5 * y).collect())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, values: &[Vec<f32>]| -> String {
        let bytes: Vec<Vec<u8>> = values
            .iter()
            .map(|v| v.iter().flat_map(|x| x.to_le_bytes()).collect())
            .collect();
        let list: Vec<(&str, taoke_dtype::Dtype, &[u64], &[u8])> = base
            .iter()
            .zip(&bytes)
            .map(|((n, shape, _), b)| {
                (
                    n.as_str(),
                    taoke_dtype::Dtype::F32,
                    shape.as_slice(),
                    b.as_slice(),
                )
            })
            .collect();
        let mut out = Vec::new();
        taoke_safetensors::write(&mut out, &list, &Default::default()).unwrap();
        let p = dir.path().join(format!("{name}.safetensors"));
        std::fs::write(&p, out).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let basev: Vec<Vec<f32>> = base.iter().map(|t| t.2.clone()).collect();
    let (pb, p1, p2, pm) = (
        write("base", &basev),
        write("f1", &f1),
        write("f2", &f2),
        write("merged", &merged),
    );
    let kinds = |args: &[&str]| -> (Vec<String>, Vec<String>) {
        let out = taoke(args);
        expect_ok(&out);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["verdict"], "related");
        let strs = |x: &serde_json::Value, f: &str| -> Vec<String> {
            x.as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    if f.is_empty() {
                        e.as_str().unwrap().to_owned()
                    } else {
                        e[f].as_str().unwrap().to_owned()
                    }
                })
                .collect()
        };
        (strs(&v["kinds"], ""), strs(&v["evidence"], "test"))
    };
    let (k, e) = kinds(&["compare", &pm, &pb, "--format", "json"]);
    assert!(!k.contains(&"merge".to_owned()), "{k:?}");
    assert!(!e.contains(&"merge-fit".to_owned()));
    let (k, e) = kinds(&[
        "compare",
        &pm,
        &pb,
        "--format",
        "json",
        "--context",
        &p1,
        "--context",
        &p2,
    ]);
    assert!(k.contains(&"merge".to_owned()), "{k:?}");
    assert!(e.contains(&"merge-fit".to_owned()), "{e:?}");
    // The same parents as registry entries: their fingerprints' weight samples suffice.
    let reg = dir.path().join("registry.sqlite");
    for (p, name) in [(&p1, "tuned-one"), (&p2, "tuned-two")] {
        let out = taoke(&["registry", "add", p, "--name", name, "--registry", s(&reg)]);
        expect_ok(&out);
    }
    let out = taoke(&[
        "compare",
        &pm,
        &pb,
        "--format",
        "json",
        "--context-registry",
        "--registry",
        s(&reg),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["kinds"].as_array().unwrap().iter().any(|k| k == "merge"));
    let fit = v["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["test"] == "merge-fit")
        .expect("merge-fit row");
    let summary = fit["summary"].as_str().unwrap();
    assert!(
        summary.contains("tuned-one") && summary.contains("tuned-two"),
        "{summary}"
    );
    let missing = dir.path().join("missing.safetensors");
    let out = taoke(&["compare", &pm, &pb, "--context", s(&missing)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.safetensors"));
}
