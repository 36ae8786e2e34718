//! Determinism (issue 7): the comparison report — verdict, statistics, p-values, layer map,
//! the JSON `taoke compare --format json` prints — is byte-identical across thread counts,
//! mmap vs buffered reads, sharded vs single-file storage, and repeated runs.
//!
//! Thread counts: rayon's global pool is sized once per process, so this test binary
//! re-executes itself (the `child_writes_report` test, driven by environment variables) with
//! `RAYON_NUM_THREADS=1` and `=2`.
//!
//! Models: stories260K (llama2.c) written to safetensors as one file and as two shards with an
//! index, compared with a noisy copy whose FFN units are permuted (so the unit-matching
//! statistics run, not only the exact-equality shortcut); and all-MiniLM-L6-v2 against
//! paraphrase-MiniLM-L3-v2 (ONNX), a pair related through shared embeddings only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use taoke_dtype::Dtype;
use taoke_evidence::{compare, Options};
use taoke_model::{IoMode, OpenOptions};
use taoke_test::{model_or_skip, shared_model, test_model, Noise};

const CHILD_ENV: &str = "TAOKE_DETERMINISM_CHILD";

/// The JSON `taoke compare --format json` prints for `a` and `b`.
fn report(a: &Path, b: &Path, io: IoMode) -> String {
    let opts = OpenOptions { io };
    let ca = taoke_model::open_with(a.to_str().expect("utf-8 path"), opts).expect("open a");
    let cb = taoke_model::open_with(b.to_str().expect("utf-8 path"), opts).expect("open b");
    let c = compare(&ca, &cb, &Options::default()).expect("compare");
    serde_json::to_string_pretty(&c).expect("serialize") + "\n"
}

/// Run by the parent through a re-execution of this binary: writes the report of the pair
/// named in `CHILD_ENV` (`a`, `b`, output path, one per line) and the pool size it ran with.
#[test]
fn child_writes_report() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let parts: Vec<&str> = spec.lines().collect();
    let [a, b, out] = parts[..] else {
        panic!("bad {CHILD_ENV}: {spec:?}");
    };
    let json = report(Path::new(a), Path::new(b), IoMode::Mmap);
    let text = format!("threads={}\n{json}", rayon::current_num_threads());
    std::fs::write(out, text).expect("write child report");
}

/// The report of `a`/`b` computed in a fresh process with `threads` rayon threads.
fn report_in_child(a: &Path, b: &Path, threads: usize, dir: &Path) -> String {
    let out = dir.join(format!("report-{threads}.json"));
    let spec = format!("{}\n{}\n{}", a.display(), b.display(), out.display());
    let child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "child_writes_report",
            "--exact",
            "--test-threads=1",
            "--quiet",
        ])
        .env(CHILD_ENV, spec)
        .env("RAYON_NUM_THREADS", threads.to_string())
        .output()
        .expect("re-execute the test binary");
    assert!(
        child.status.success(),
        "child with {threads} threads failed: {}",
        String::from_utf8_lossy(&child.stderr)
    );
    let text = std::fs::read_to_string(&out).expect("child report");
    let (head, json) = text.split_once('\n').expect("threads line");
    assert_eq!(head, format!("threads={threads}"), "the child's pool size");
    json.to_owned()
}

struct Tensor {
    name: String,
    shape: Vec<u64>,
    values: Vec<f32>,
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn write_safetensors(path: &Path, tensors: &[&Tensor]) {
    let bytes: Vec<Vec<u8>> = tensors.iter().map(|t| f32_bytes(&t.values)).collect();
    let list: Vec<(&str, Dtype, &[u64], &[u8])> = tensors
        .iter()
        .zip(&bytes)
        .map(|(t, b)| {
            (
                t.name.as_str(),
                Dtype::F32,
                t.shape.as_slice(),
                b.as_slice(),
            )
        })
        .collect();
    let mut out = Vec::new();
    taoke_safetensors::write(&mut out, &list, &BTreeMap::new()).expect("write safetensors");
    std::fs::write(path, out).expect("write file");
}

/// Writes stories260K as `single/model.safetensors`, as two shards plus an index in
/// `sharded/`, and a noisy, FFN-permuted copy in `other/model.safetensors`.
fn stories_copies(bin: &Path, dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ck = taoke_model::open(bin.to_str().expect("utf-8")).expect("open stories260K");
    let tensors: Vec<Tensor> = ck
        .tensors
        .iter()
        .filter(|t| !t.name.starts_with("freq_cis"))
        .map(|t| Tensor {
            name: t.name.clone(),
            shape: t.shape.clone(),
            values: ck.read_f32(t).expect("read tensor"),
        })
        .collect();
    let single = dir.join("single");
    let sharded = dir.join("sharded");
    let other = dir.join("other");
    for d in [&single, &sharded, &other] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    let all: Vec<&Tensor> = tensors.iter().collect();
    write_safetensors(&single.join("model.safetensors"), &all);
    // Shards: the embedding and the first half of the rest, then the remainder.
    let cut = all.len() / 2;
    let names = [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ];
    write_safetensors(&sharded.join(names[0]), &all[..cut]);
    write_safetensors(&sharded.join(names[1]), &all[cut..]);
    let map: serde_json::Map<String, serde_json::Value> = all
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.clone(), names[usize::from(i >= cut)].into()))
        .collect();
    let index = serde_json::json!({"metadata": {"total_size": 0}, "weight_map": map});
    std::fs::write(
        sharded.join("model.safetensors.index.json"),
        serde_json::to_vec_pretty(&index).expect("json"),
    )
    .expect("write index");
    // The other model: every value plus noise of 30% of the tensor's RMS, and the hidden
    // units of every FFN permuted (rows of w1 and w3, columns of w2).
    let mut noise = Noise(7);
    let mut noisy: Vec<Tensor> = tensors
        .iter()
        .map(|t| {
            let rms = (t.values.iter().map(|v| v * v).sum::<f32>() / t.values.len() as f32).sqrt();
            Tensor {
                name: t.name.clone(),
                shape: t.shape.clone(),
                values: t
                    .values
                    .iter()
                    .map(|v| v + 0.3 * rms * noise.next())
                    .collect(),
            }
        })
        .collect();
    for t in &mut noisy {
        let (rows, cols) = (
            t.shape[0] as usize,
            *t.shape.last().expect("shape") as usize,
        );
        if t.name.ends_with("w1.weight") || t.name.ends_with("w3.weight") {
            let old = t.values.clone();
            for r in 0..rows {
                let src = (r * 5 + 3) % rows;
                t.values[r * cols..(r + 1) * cols]
                    .copy_from_slice(&old[src * cols..(src + 1) * cols]);
            }
        } else if t.name.ends_with("w2.weight") {
            let old = t.values.clone();
            for r in 0..rows {
                for c in 0..cols {
                    t.values[r * cols + c] = old[r * cols + (c * 5 + 3) % cols];
                }
            }
        }
    }
    write_safetensors(
        &other.join("model.safetensors"),
        &noisy.iter().collect::<Vec<_>>(),
    );
    (single, sharded, other)
}

#[test]
fn stories_reports_are_identical_across_threads_io_storage_and_runs() {
    let bin = model_or_skip!(shared_model("stories260K/stories260K.bin"));
    let dir = tempfile::tempdir().expect("tempdir");
    let (single, sharded, other) = stories_copies(&bin, dir.path());

    let base = report(&single, &other, IoMode::Mmap);
    let parsed: serde_json::Value = serde_json::from_str(&base).expect("json");
    // The pair is related and the statistics ran (a p-value and tested block pairs).
    assert_eq!(parsed["verdict"], "related", "{}", parsed["decisive"]);
    assert!(parsed["log10_p_value"].as_f64().expect("p") < -6.0);
    assert!(!parsed["evidence"].as_array().expect("evidence").is_empty());

    // Repeated runs.
    for _ in 0..2 {
        assert!(
            report(&single, &other, IoMode::Mmap) == base,
            "a repeated run differs"
        );
    }
    // Buffered reads.
    assert!(
        report(&single, &other, IoMode::Buffered) == base,
        "buffered reads change the report"
    );
    // One and two threads, each in its own process.
    for threads in [1, 2] {
        let child = report_in_child(&single, &other, threads, dir.path());
        assert!(child == base, "{threads} thread(s) change the report");
    }
    // Sharded storage: identical once the path of A is the same.
    let shard_report = report(&sharded, &other, IoMode::Mmap);
    let normalize = |json: &str, folder: &Path| -> serde_json::Value {
        let text = json.replace(&folder.display().to_string(), "<A>");
        let mut v: serde_json::Value = serde_json::from_str(&text).expect("json");
        v["a"]["path"] = "<A>".into();
        // Paths are not content: a sharded model is a folder, a single file a file.
        v["b"]["path"] = "<B>".into();
        v
    };
    let (s, h) = (
        normalize(&base, &single),
        normalize(&shard_report, &sharded),
    );
    assert!(
        s == h,
        "sharded vs single-file reports differ:\n{}\n---\n{}",
        serde_json::to_string_pretty(&s).expect("json"),
        serde_json::to_string_pretty(&h).expect("json")
    );
    // And B sharded too, in the other direction.
    let reverse = report(&other, &sharded, IoMode::Buffered);
    assert!(
        normalize(&reverse, &sharded) == normalize(&report(&other, &single, IoMode::Mmap), &single),
        "sharded B differs"
    );
}

#[test]
fn minilm_vs_l3_report_is_identical_across_threads_and_io() {
    let a = model_or_skip!(test_model("all-MiniLM-L6-v2"));
    let b = model_or_skip!(test_model(
        "paraphrase-MiniLM-L3-v2-onnx/paraphrase-MiniLM-L3-v2.onnx"
    ));
    let dir = tempfile::tempdir().expect("tempdir");
    let base = report(&a, &b, IoMode::Mmap);
    let parsed: serde_json::Value = serde_json::from_str(&base).expect("json");
    assert_eq!(parsed["verdict"], "related", "{}", parsed["decisive"]);
    assert!(
        report(&a, &b, IoMode::Buffered) == base,
        "buffered reads change the report"
    );
    for threads in [1, 2] {
        let child = report_in_child(&a, &b, threads, dir.path());
        assert!(child == base, "{threads} thread(s) change the report");
    }
}
