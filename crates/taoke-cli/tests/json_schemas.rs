//! The committed JSON Schemas (`schemas/`) match the types, and real JSON outputs validate
//! against them: compare on a stories260K pair, inspect on real models, tokenizer-diff.
//! Regenerate with `cargo run -p taoke-cli --example gen-schemas`.

#[path = "support/schemas.rs"]
mod schemas;

use std::path::Path;
use std::process::Command;

use taoke_test::{model_or_skip, shared_model, test_model};

fn committed(name: &str) -> serde_json::Value {
    let path = schemas::dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run `cargo run -p taoke-cli --example gen-schemas`)",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap()
}

#[test]
fn committed_schemas_match_the_types() {
    for (name, schema) in schemas::generated() {
        let path = schemas::dir().join(name);
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            text == taoke_report::schema::to_file_text(&schema),
            "{} drifted from the types: run `cargo run -p taoke-cli --example gen-schemas` and review the diff",
            path.display()
        );
    }
}

fn taoke(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_taoke"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn json_of(args: &[&str]) -> serde_json::Value {
    let out = taoke(args);
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "taoke {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn assert_valid(schema_name: &str, instance: &serde_json::Value) {
    let schema = committed(schema_name);
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{schema_name}: {errors:#?}");
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn compare_json_validates() {
    let a = model_or_skip!(shared_model("stories260K/stories260K.bin"));
    let b = model_or_skip!(shared_model("stories260K/tinyllamas-stories-260k-f32.gguf"));
    let v = json_of(&["compare", s(&a), s(&b), "--format", "json"]);
    assert_valid("compare.schema.json", &v);
    // The validator is not vacuous: a wrong verdict is rejected.
    let mut bad = v.clone();
    bad["verdict"] = "probably".into();
    let schema = committed("compare.schema.json");
    assert!(!jsonschema::is_valid(&schema, &bad));
    let mut bad = v;
    bad.as_object_mut().unwrap().remove("evidence");
    assert!(!jsonschema::is_valid(&schema, &bad));
}

#[test]
fn inspect_json_validates() {
    let bin = model_or_skip!(shared_model("stories260K/stories260K.bin"));
    let gguf = model_or_skip!(shared_model("stories260K/tinyllamas-stories-260k-f32.gguf"));
    for p in [&bin, &gguf] {
        let v = json_of(&["inspect", s(p), "--format", "json"]);
        assert_valid("inspect.schema.json", &v);
    }
    let m = model_or_skip!(test_model("all-MiniLM-L6-v2"));
    let v = json_of(&["inspect", s(&m), "--format", "json"]);
    assert_valid("inspect.schema.json", &v);
    let mut bad = v;
    bad["tensors"][0]["shape"] = "384x384".into();
    assert!(!jsonschema::is_valid(
        &committed("inspect.schema.json"),
        &bad
    ));
}

#[test]
fn tokenizer_diff_json_validates() {
    let dir = model_or_skip!(test_model("ggml-vocab"));
    let pairs = [
        ("ggml-vocab-qwen2.gguf", "ggml-vocab-qwen35.gguf"),
        ("ggml-vocab-llama-spm.gguf", "ggml-vocab-llama-bpe.gguf"),
        ("ggml-vocab-gpt-2.gguf", "ggml-vocab-starcoder.gguf"),
    ];
    let mut kinds = Vec::new();
    for (x, y) in pairs {
        let v = json_of(&[
            "tokenizer-diff",
            s(&dir.join(x)),
            s(&dir.join(y)),
            "--format",
            "json",
        ]);
        assert_valid("tokenizer-diff.schema.json", &v);
        // The wire mirror denies unknown fields, so a new field in the tokenizer crate's
        // output fails here until the schema is regenerated.
        let typed: Result<taoke_report::schema::TokenizerDiff, _> =
            serde_json::from_value(v.clone());
        assert!(typed.is_ok(), "{x} vs {y}: {:?}", typed.err());
        kinds.push(v["relation"]["kind"].as_str().unwrap_or("").to_owned());
    }
    assert_eq!(kinds[0], "identical");
}
