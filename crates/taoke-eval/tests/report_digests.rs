//! The real third-party pairs' JSON reports, byte for byte (issue 20): a refactor of the
//! evidence engine must leave them identical. `TAOKE_BLESS=1` rewrites the committed digests.

use std::path::{Path, PathBuf};

use taoke_eval::digest::{report_digest, DigestFile};
use taoke_test::{shared_model, test_model};

/// The real pairs (the ones of `crates/taoke-evidence/tests/real_pairs.rs`), by label.
fn pairs() -> Vec<(&'static str, Option<PathBuf>, &'static str, Option<PathBuf>)> {
    let minilm = || test_model("all-MiniLM-L6-v2");
    let int8 = || test_model("all-MiniLM-L6-v2-int8-onnx/model.onnx");
    let l3 = || test_model("paraphrase-MiniLM-L3-v2-onnx/paraphrase-MiniLM-L3-v2.onnx");
    let smol = || test_model("SmolLM2-135M-Instruct-Q4_1/SmolLM2-135M-Instruct.Q4_1.gguf");
    let bin = || shared_model("stories260K/stories260K.bin");
    vec![
        ("all-MiniLM-L6-v2", minilm(), "minilm-int8.onnx", int8()),
        ("all-MiniLM-L6-v2", minilm(), "paraphrase-L3.onnx", l3()),
        (
            "stories260K.bin",
            bin(),
            "stories260K-transposed.bin",
            shared_model("stories260K/stories260K.transpose.bin"),
        ),
        (
            "stories260K.bin",
            bin(),
            "stories260K.gguf",
            shared_model("stories260K/tinyllamas-stories-260k-f32.gguf"),
        ),
        ("SmolLM2-135M.gguf", smol(), "all-MiniLM-L6-v2", minilm()),
        ("SmolLM2-135M.gguf", smol(), "stories260K.bin", bin()),
    ]
}

#[test]
fn real_pair_reports_are_unchanged() {
    let mut inputs = Vec::new();
    let mut file = DigestFile::default();
    for (la, a, lb, b) in pairs() {
        let (Some(a), Some(b)) = (a, b) else {
            if std::env::var_os("CI").is_some() {
                panic!("real test model missing for {la} ↔ {lb} (run scripts/fetch-test-models)");
            }
            eprintln!("skipping: real test models missing");
            return;
        };
        let ca = taoke_model::open(a.to_string_lossy()).expect("opens");
        let cb = taoke_model::open(b.to_string_lossy()).expect("opens");
        let c = taoke_evidence::compare(&ca, &cb, &taoke_evidence::Options::default())
            .expect("compares");
        inputs.push(format!("{la}:{}", ck_size(&ca)));
        inputs.push(format!("{lb}:{}", ck_size(&cb)));
        file.reports
            .insert(format!("{la} {lb}"), report_digest(&c, la, lb));
    }
    inputs.sort();
    inputs.dedup();
    file.inputs = inputs.join(",");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/real-pair-reports.tsv");
    let bad = file.check(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        bad.is_empty(),
        "reports changed: {bad:?}; run with TAOKE_BLESS=1 only if the change is meant"
    );
}

/// The real files are pinned by sha256 in scripts/test-models.sha256; their sizes name them here.
fn ck_size(ck: &taoke_model::Checkpoint) -> u64 {
    ck.files.iter().map(|f| f.len).sum()
}
