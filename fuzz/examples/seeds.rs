//! Writes the seed corpus of every fuzz target into `fuzz/corpus/<target>/` (not committed):
//!
//! - the hostile corpus and its good files (from the generator the CLI tests use);
//! - small files derived from the real test models, when they are present
//!   (`TAOKE_TEST_MODELS_DIR`, default `~/.cache/taoke/test-models`): safetensors headers with
//!   shapes shrunk, GGUF metadata with arrays cut to 64 elements and tensors shrunk, ONNX
//!   graphs with every initializer shrunk, tokenizer files cut to a few hundred entries;
//! - the regression inputs of `fuzz/regressions/<target>/` (crashes found and fixed).
//!
//! Run: `cargo run --manifest-path fuzz/Cargo.toml --example seeds` (the `scripts/fuzz`
//! script does it).

#[path = "../../crates/taoke-cli/tests/hostile/gen.rs"]
mod gen;

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use taoke_dtype::Dtype;

/// Seeds larger than this are skipped (the fuzzers run with `-max_len=65536`).
const MAX_SEED: usize = 64 << 10;

struct Seeds {
    root: PathBuf,
    count: usize,
}

impl Seeds {
    fn add(&mut self, target: &str, name: &str, bytes: &[u8]) {
        if bytes.len() > MAX_SEED {
            return;
        }
        let dir = self.root.join(target);
        std::fs::create_dir_all(&dir).expect("create corpus folder");
        let name: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        std::fs::write(dir.join(name), bytes).expect("write seed");
        self.count += 1;
    }
}

fn models_dir() -> PathBuf {
    std::env::var_os("TAOKE_TEST_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/taoke/test-models")
        })
}

fn read(p: &Path) -> Option<Vec<u8>> {
    std::fs::read(p).ok()
}

fn main() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut s = Seeds {
        root: fuzz.join("corpus"),
        count: 0,
    };
    if let Some(dir) = std::env::var_os("TAOKE_WRITE_HOSTILE_TO") {
        // The hostile corpus laid out as the CLI test lays it out (for running the binary on
        // it by hand).
        let mut cases = gen::cases();
        cases.extend(gen::large_cases());
        for c in &cases {
            for (name, bytes) in &c.files {
                let mut p = Path::new(&dir).join(&c.path);
                if !name.is_empty() {
                    p = p.join(name);
                }
                std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
                std::fs::write(&p, bytes).expect("write");
            }
        }
    }
    hostile(&mut s);
    real(&mut s, &models_dir());
    // Regression inputs go to their target's corpus.
    if let Ok(dirs) = std::fs::read_dir(fuzz.join("regressions")) {
        for d in dirs.flatten() {
            let target = d.file_name().to_string_lossy().into_owned();
            for f in std::fs::read_dir(d.path()).into_iter().flatten().flatten() {
                if let Some(b) = read(&f.path()) {
                    s.add(&target, &f.file_name().to_string_lossy(), &b);
                }
            }
        }
    }
    println!("wrote {} seeds under {}", s.count, s.root.display());
}

fn hostile(s: &mut Seeds) {
    let mut cases = gen::cases();
    cases.extend(gen::large_cases());
    for c in &cases {
        for (name, bytes) in &c.files {
            let label = format!("{}-{name}", c.path);
            let ext = |e: &str| c.path.ends_with(e) || name.ends_with(e);
            if c.path.starts_with("side/") {
                match name.as_str() {
                    "config.json" => s.add("config_json", &label, bytes),
                    "tokenizer.json" => s.add("tokenizer", &label, &tagged(0, bytes)),
                    "tokenizer.model" => s.add("tokenizer", &label, &tagged(1, bytes)),
                    "vocab.txt" => s.add("tokenizer", &label, &tagged(2, bytes)),
                    "special_tokens_map.json" => s.add("tokenizer", &label, &tagged(5, bytes)),
                    _ => {}
                }
                continue;
            }
            s.add("model_open", &label, bytes);
            if name.ends_with(".json") {
                s.add("shard_index", &label, bytes);
            } else if ext(".safetensors") {
                s.add("safetensors_header", &label, bytes);
            } else if ext(".gguf") {
                s.add("gguf", &label, bytes);
                s.add("tokenizer", &label, &tagged(4, bytes));
            } else if ext(".onnx") {
                s.add("onnx", &label, bytes);
            } else if ext(".pt") {
                s.add("pytorch_zip", &label, bytes);
                if let Some(pkl) = data_pkl(bytes) {
                    s.add("pickle", &label, &pkl);
                }
            }
        }
    }
}

fn tagged(tag: u8, bytes: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend_from_slice(bytes);
    v
}

fn data_pkl(zip: &[u8]) -> Option<Vec<u8>> {
    let z = taoke_pytorch::zip::ZipArchive::parse(zip).ok()?;
    let e = z.entries().iter().find(|e| e.name.ends_with("data.pkl"))?;
    z.read(e, 1 << 20).ok().map(Cow::into_owned)
}

fn real(s: &mut Seeds, dir: &Path) {
    let minilm = dir.join("all-MiniLM-L6-v2");
    if let Some(b) = read(&minilm.join("model.safetensors")) {
        if let Ok(h) = taoke_safetensors::Header::parse(&b) {
            // The real names and dtypes, shapes shrunk to at most 2 per dimension.
            let shrunk: Vec<(String, Vec<u64>, Vec<u8>)> = h
                .tensors
                .iter()
                .take(24)
                .map(|t| {
                    let shape: Vec<u64> = t.shape.iter().map(|&d| d.min(2)).collect();
                    let n = shape.iter().product::<u64>() as usize;
                    (t.name.clone(), shape, vec![0u8; n * 4])
                })
                .collect();
            let refs: Vec<(&str, Dtype, &[u64], &[u8])> = shrunk
                .iter()
                .map(|(n, sh, d)| (n.as_str(), Dtype::F32, sh.as_slice(), d.as_slice()))
                .collect();
            let mut out = Vec::new();
            taoke_safetensors::write(&mut out, &refs, &h.metadata).expect("write");
            s.add("safetensors_header", "minilm-shrunk", &out);
            s.add("model_open", "minilm-shrunk.safetensors", &out);
            let map: Vec<String> = h
                .tensors
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    format!(
                        "\"{}\":\"model-0000{}-of-00002.safetensors\"",
                        t.name,
                        1 + i % 2
                    )
                })
                .collect();
            let idx = format!(
                "{{\"metadata\":{{\"total_size\":90868224}},\"weight_map\":{{{}}}}}",
                map.join(",")
            );
            s.add("shard_index", "minilm-index", idx.as_bytes());
        }
        s.add(
            "safetensors_header",
            "minilm-prefix",
            &b[..4096.min(b.len())],
        );
    }
    for f in [
        "config.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
    ] {
        if let Some(b) = read(&minilm.join(f)) {
            match f {
                "config.json" => s.add("config_json", "minilm-config", &b),
                "tokenizer_config.json" => s.add("tokenizer", "minilm-tokcfg", &tagged(6, &b)),
                _ => s.add("tokenizer", "minilm-special", &tagged(5, &b)),
            }
        }
    }
    s.add(
        "config_json",
        "llama-config",
        br#"{"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":4,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2,"num_key_value_heads":1,"vocab_size":8,"rope_theta":10000.0,"rope_scaling":{"type":"linear","factor":2.0},"tie_word_embeddings":false,"text_config":{"hidden_size":4}}"#,
    );
    if let Some(b) = read(&minilm.join("vocab.txt")) {
        let text = String::from_utf8_lossy(&b);
        let short: String = text.lines().take(400).map(|l| format!("{l}\n")).collect();
        s.add(
            "tokenizer",
            "minilm-vocab-txt",
            &tagged(2, short.as_bytes()),
        );
    }
    if let Some(b) = read(&minilm.join("tokenizer.json")) {
        if let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&b) {
            if let Some(vocab) = v
                .pointer_mut("/model/vocab")
                .and_then(|v| v.as_object_mut())
            {
                let keep: serde_json::Map<String, serde_json::Value> = vocab
                    .iter()
                    .filter(|(_, id)| id.as_u64().is_some_and(|i| i < 300))
                    .map(|(k, id)| (k.clone(), id.clone()))
                    .collect();
                *vocab = keep;
            }
            let out = serde_json::to_vec(&v).expect("json");
            s.add("tokenizer", "minilm-tokenizer-json", &tagged(0, &out));
        }
    }
    // Sentencepiece and BPE files from the GGUF vocabularies.
    for name in ["llama-spm", "gpt-2", "bert-bge", "qwen2", "gemma-4"] {
        let p = dir.join(format!("ggml-vocab/ggml-vocab-{name}.gguf"));
        let Some(b) = read(&p) else { continue };
        let Ok(g) = taoke_gguf::Gguf::parse(&b) else {
            continue;
        };
        let small = shrink_gguf(&g, &b);
        s.add("gguf", &format!("vocab-{name}"), &small);
        s.add("tokenizer", &format!("vocab-{name}"), &tagged(4, &small));
        let tokens = g.get_str_array("tokenizer.ggml.tokens").unwrap_or_default();
        let merges = g.get_str_array("tokenizer.ggml.merges").unwrap_or_default();
        if name == "llama-spm" {
            let pieces: Vec<(&str, f32, i32)> = tokens
                .iter()
                .take(300)
                .enumerate()
                .map(|(i, t)| (*t, -(i as f32), if i < 3 { 3 } else { 1 }))
                .collect();
            let spm = taoke_tokenizer::encode_sentencepiece(&pieces, 1);
            s.add("tokenizer", "spm-llama", &tagged(1, &spm));
        }
        if name == "gpt-2" {
            let vocab: serde_json::Map<String, serde_json::Value> = tokens
                .iter()
                .take(400)
                .enumerate()
                .map(|(i, t)| ((*t).to_owned(), serde_json::Value::from(i)))
                .collect();
            let mut file = serde_json::to_vec(&vocab).expect("json");
            file.push(0xFF);
            file.extend_from_slice(b"#version: 0.2\n");
            for m in merges.iter().take(200) {
                file.extend_from_slice(m.as_bytes());
                file.push(b'\n');
            }
            file.push(0xFF);
            file.extend_from_slice(br#"{"<|endoftext|>": 400}"#);
            s.add("tokenizer", "bpe-gpt2", &tagged(3, &file));
        }
    }
    // GGUF with real tensors: SmolLM2 Q4_1 and stories260K f32, shrunk.
    let shared = std::env::var_os("TAOKE_SHARED_MODELS_DIR").map(PathBuf::from);
    let mut ggufs = vec![dir.join("SmolLM2-135M-Instruct-Q4_1/SmolLM2-135M-Instruct.Q4_1.gguf")];
    if let Some(sh) = &shared {
        ggufs.push(sh.join("stories260K/tinyllamas-stories-260k-f32.gguf"));
    }
    for p in ggufs {
        if let Some(b) = read(&p) {
            if let Ok(g) = taoke_gguf::Gguf::parse(&b) {
                let small = shrink_gguf(&g, &b);
                let label = p
                    .file_stem()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                s.add("gguf", &label, &small);
                s.add("model_open", &label, &small);
            }
        }
    }
    for p in [
        dir.join("all-MiniLM-L6-v2-int8-onnx/model.onnx"),
        dir.join("paraphrase-MiniLM-L3-v2-onnx/paraphrase-MiniLM-L3-v2.onnx"),
    ] {
        if let Some(b) = read(&p) {
            let small = shrink_onnx(&b);
            let label = p
                .file_stem()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            s.add("onnx", &label, &small);
            s.add("model_open", &label, &small);
        }
    }
}

/// The metadata of `g` with arrays cut to 64 elements, and its tensors with every dimension
/// cut to one block row (the type's block size) or 2.
fn shrink_gguf(g: &taoke_gguf::Gguf, _bytes: &[u8]) -> Vec<u8> {
    let mut w = taoke_gguf::GgufWriter::new();
    for (k, v) in &g.metadata {
        let v = match v {
            taoke_gguf::Value::Array(a) => {
                taoke_gguf::Value::Array(a.iter().take(64).cloned().collect())
            }
            other => other.clone(),
        };
        let _ = w.add_kv(k.clone(), v);
    }
    for t in g.tensors.iter().take(24) {
        let block = t.dtype.block_elems().max(1);
        let shape: Vec<u64> = t
            .shape_row_major()
            .iter()
            .enumerate()
            .map(|(i, &d)| {
                if i + 1 == t.dims.len() {
                    block.max(d.min(2))
                } else {
                    d.min(2)
                }
            })
            .collect();
        let n: u64 = shape.iter().product();
        let Some(len) = t.dtype.bytes_for(n) else {
            continue;
        };
        let _ = w.add_tensor(t.name.clone(), &shape, t.dtype, vec![0u8; len as usize]);
    }
    w.to_bytes()
}

/// Reads one protobuf field: (field number, wire type, value bytes or varint).
fn pb_fields(b: &[u8]) -> Vec<(u64, u8, Vec<u8>, u64)> {
    let mut out = Vec::new();
    let mut i = 0;
    let varint = |i: &mut usize| -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *b.get(*i)?;
            *i += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(v);
            }
        }
        None
    };
    while i < b.len() {
        let Some(tag) = varint(&mut i) else { break };
        let (field, wire) = (tag >> 3, (tag & 7) as u8);
        match wire {
            0 => {
                let Some(v) = varint(&mut i) else { break };
                out.push((field, 0, Vec::new(), v));
            }
            1 | 5 => {
                let n = if wire == 1 { 8 } else { 4 };
                let Some(s) = b.get(i..i + n) else { break };
                out.push((field, wire, s.to_vec(), 0));
                i += n;
            }
            2 => {
                let Some(n) = varint(&mut i) else { break };
                let Some(s) = b.get(i..i + n as usize) else {
                    break;
                };
                out.push((field, 2, s.to_vec(), 0));
                i += n as usize;
            }
            _ => break,
        }
    }
    out
}

fn pb_write(fields: &[(u64, u8, Vec<u8>, u64)]) -> Vec<u8> {
    let mut out = Vec::new();
    let put = |out: &mut Vec<u8>, mut v: u64| {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    };
    for (f, w, bytes, v) in fields {
        put(&mut out, (f << 3) | u64::from(*w));
        match w {
            0 => put(&mut out, *v),
            2 => {
                put(&mut out, bytes.len() as u64);
                out.extend_from_slice(bytes);
            }
            _ => out.extend_from_slice(bytes),
        }
    }
    out
}

/// An ONNX model with its graph kept (first 200 nodes) and every initializer shrunk to
/// dimensions of at most 2, its data as `raw_data` of zeros.
fn shrink_onnx(b: &[u8]) -> Vec<u8> {
    let elem = |t: u64| match t {
        2 | 3 | 9 => 1,
        4 | 5 | 10 | 16 => 2,
        7 | 11 | 13 => 8,
        _ => 4,
    };
    let model: Vec<_> = pb_fields(b)
        .into_iter()
        .map(|(f, w, bytes, v)| {
            if f != 7 || w != 2 {
                return (f, w, bytes, v);
            }
            let mut nodes = 0;
            let graph: Vec<_> = pb_fields(&bytes)
                .into_iter()
                .filter(|(f, ..)| {
                    if *f == 1 {
                        nodes += 1;
                        nodes <= 200
                    } else {
                        true
                    }
                })
                .map(|(f, w, bytes, v)| {
                    if f != 5 || w != 2 {
                        return (f, w, bytes, v);
                    }
                    let t = pb_fields(&bytes);
                    let dims: Vec<u64> = t
                        .iter()
                        .filter(|x| x.0 == 1 && x.1 == 0)
                        .map(|x| x.3.min(2))
                        .collect();
                    let dtype = t.iter().find(|x| x.0 == 2).map_or(1, |x| x.3);
                    let n: u64 = dims.iter().product();
                    let mut out: Vec<_> = dims.iter().map(|&d| (1, 0, Vec::new(), d)).collect();
                    out.push((2, 0, Vec::new(), dtype));
                    out.extend(t.iter().filter(|x| x.0 == 8).cloned());
                    out.push((9, 2, vec![0u8; (n * elem(dtype)) as usize], 0));
                    (f, w, pb_write(&out), v)
                })
                .collect();
            (f, w, pb_write(&graph), v)
        })
        .collect();
    pb_write(&model)
}
