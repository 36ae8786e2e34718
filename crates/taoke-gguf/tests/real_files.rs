//! The parser on real GGUF files (skipped outside CI when the test models are missing).

use std::collections::BTreeMap;

use taoke_dtype::{decode_f32, Dtype};
use taoke_gguf::Gguf;

fn read(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn dequantize(g: &Gguf, bytes: &[u8], name: &str) -> Vec<f32> {
    let t = g.tensor(name).unwrap();
    let data = g.tensor_data(bytes, t).unwrap();
    let mut out = vec![0.0; t.n_elements().unwrap() as usize];
    decode_f32(t.dtype, data, &mut out).unwrap();
    out
}

fn mean_std(v: &[f32]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let var = v
        .iter()
        .map(|&x| (f64::from(x) - mean).powi(2))
        .sum::<f64>()
        / n;
    (mean, var.sqrt())
}

fn assert_close(got: f64, want: f64, rel: f64, what: &str) {
    assert!(
        (got - want).abs() <= rel * want.abs(),
        "{what}: got {got}, want {want}"
    );
}

#[test]
fn smollm2_q4_1() {
    let path = taoke_test::model_or_skip!(taoke_test::test_model(
        "SmolLM2-135M-Instruct-Q4_1/SmolLM2-135M-Instruct.Q4_1.gguf"
    ));
    let bytes = read(&path);
    let g = Gguf::parse(&bytes).unwrap();
    assert_eq!(g.version, 3);
    assert_eq!(g.metadata.len(), 33);
    assert_eq!(g.alignment, 32);
    assert_eq!(g.architecture(), Some("llama"));
    assert_eq!(g.get_u64("llama.block_count"), Some(30));
    assert_eq!(g.get_u64("llama.embedding_length"), Some(576));
    assert_eq!(g.get_u64("llama.feed_forward_length"), Some(1536));
    assert_eq!(g.get_str("general.license"), Some("apache-2.0"));
    assert_eq!(
        g.get_str_array("tokenizer.ggml.tokens").unwrap().len(),
        49152
    );
    assert_eq!(
        g.get_str_array("tokenizer.ggml.merges").unwrap().len(),
        48900
    );
    assert_eq!(g.get_str("tokenizer.ggml.pre"), Some("smollm"));

    assert_eq!(g.tensors.len(), 272);
    let params: u64 = g.tensors.iter().map(|t| t.n_elements().unwrap()).sum();
    assert_eq!(params, 134_515_008);
    let mut by_type = BTreeMap::new();
    for t in &g.tensors {
        *by_type.entry(t.type_name.as_str()).or_insert(0) += 1;
    }
    assert_eq!(
        by_type.into_iter().collect::<Vec<_>>(),
        [("F32", 61), ("Q4_1", 210), ("Q8_0", 1)]
    );
    // The data of the last tensor ends exactly at the end of the file.
    let end = g
        .tensors
        .iter()
        .map(|t| g.tensor_range(t).unwrap().end)
        .max()
        .unwrap();
    assert_eq!(end, bytes.len());

    let emb = g.tensor("token_embd.weight").unwrap();
    assert_eq!(emb.dtype, Dtype::Q8_0);
    assert_eq!(emb.dims, [576, 49152]);
    assert_eq!(emb.shape_row_major(), [49152, 576]);
    let v = dequantize(&g, &bytes, "token_embd.weight");
    let (mean, std) = mean_std(&v);
    assert_close(mean, -5.42289e-4, 1e-4, "token_embd mean");
    assert_close(std, 0.135578, 1e-5, "token_embd std");
    for (g, w) in v.iter().zip([-0.10654, 0.03298, 0.0482, -0.02283]) {
        assert_close(f64::from(*g), w, 1e-3, "token_embd first values");
    }

    let q = g.tensor("blk.0.attn_q.weight").unwrap();
    assert_eq!(q.dtype, Dtype::Q4_1);
    assert_eq!(q.shape_row_major(), [576, 576]);
    let v = dequantize(&g, &bytes, "blk.0.attn_q.weight");
    let (mean, std) = mean_std(&v);
    assert_close(mean, 1.78504e-4, 1e-4, "attn_q mean");
    assert_close(std, 0.283946, 1e-5, "attn_q std");
    for (g, w) in v.iter().zip([-0.09631, 0.15735, -0.09631, -0.73047]) {
        assert_close(f64::from(*g), w, 1e-3, "attn_q first values");
    }

    let norm = dequantize(&g, &bytes, "blk.0.attn_norm.weight");
    assert_eq!(norm.len(), 576);
    assert!(norm.iter().all(|x| x.is_finite()));
}

#[test]
fn stories260k_v1() {
    let path = taoke_test::model_or_skip!(taoke_test::shared_model(
        "stories260K/tinyllamas-stories-260k-f32.gguf"
    ));
    let bytes = read(&path);
    let g = Gguf::parse(&bytes).unwrap();
    assert_eq!(g.version, 1);
    assert_eq!(g.metadata.len(), 18);
    assert_eq!(g.tensors.len(), 48);
    assert!(g.tensors.iter().all(|t| t.dtype == Dtype::F32));
    let params: u64 = g.tensors.iter().map(|t| t.n_elements().unwrap()).sum();
    assert_eq!(params, 292_800);
    assert_eq!(g.architecture(), Some("llama"));
    assert_eq!(g.get_u64("llama.embedding_length"), Some(64));
    assert_eq!(g.get_u64("llama.block_count"), Some(5));
    assert_eq!(g.get_u64("llama.feed_forward_length"), Some(172));
    let tokens = g.get_str_array("tokenizer.ggml.tokens").unwrap();
    assert_eq!(tokens.len(), 512);
    assert_eq!(g.get_f64_array("tokenizer.ggml.scores").unwrap().len(), 512);
    assert!(g.tensor("output.weight").is_some());
    // Version 1 pads the header to 32 bytes like later versions; the data fills the file.
    assert_eq!(g.data_offset, 11456);
    let end = g
        .tensors
        .iter()
        .map(|t| g.tensor_range(t).unwrap().end)
        .max()
        .unwrap();
    assert_eq!(end, bytes.len());
}

#[test]
fn ggml_vocab_files() {
    // (file stem, version, architecture, tokens, merges)
    let expected: &[(&str, u32, &str, usize, usize)] = &[
        ("aquila", 2, "llama", 100008, 99743),
        ("baichuan", 3, "baichuan", 64000, 0),
        ("bert-bge", 3, "bert", 30522, 0),
        ("command-r", 3, "command-r", 256000, 253333),
        ("deepseek-coder", 3, "llama", 32256, 31757),
        ("deepseek-llm", 3, "llama", 102400, 99757),
        ("falcon", 3, "falcon", 65024, 64784),
        ("gemma-4", 3, "gemma4", 262144, 514906),
        ("gpt-2", 3, "gpt2", 50257, 50000),
        ("gpt-neox", 3, "gptneox", 50432, 50009),
        ("llama-bpe", 3, "llama", 128256, 280147),
        ("llama-spm", 3, "llama", 32000, 0),
        ("mpt", 3, "mpt", 50432, 50009),
        ("nomic-bert-moe", 3, "nomic-bert-moe", 250048, 0),
        ("phi-3", 3, "phi3", 32064, 0),
        ("qwen2", 3, "qwen2", 151936, 151387),
        ("qwen35", 3, "qwen2", 151936, 151387),
        ("refact", 3, "refact", 49216, 48891),
        ("starcoder", 3, "starcoder2", 49152, 48872),
    ];
    for &(stem, version, arch, n_tokens, n_merges) in expected {
        let rel = format!("ggml-vocab/ggml-vocab-{stem}.gguf");
        let path = taoke_test::model_or_skip!(taoke_test::test_model(&rel));
        let bytes = read(&path);
        let g = Gguf::parse(&bytes).unwrap_or_else(|e| panic!("{stem}: {e}"));
        assert_eq!(g.version, version, "{stem}");
        assert!(g.tensors.is_empty(), "{stem}");
        assert_eq!(g.architecture(), Some(arch), "{stem}");
        let tokens = g.get_str_array("tokenizer.ggml.tokens").unwrap();
        assert_eq!(tokens.len(), n_tokens, "{stem}");
        let merges = g
            .get_str_array("tokenizer.ggml.merges")
            .map_or(0, |m| m.len());
        assert_eq!(merges, n_merges, "{stem}");
    }
}

/// Every tensor of SmolLM2 decodes to finite values, and a quantized copy written with
/// [`taoke_gguf::GgufWriter`] parses back and stays close to the original.
#[test]
fn smollm2_every_tensor_decodes_and_requantizes() {
    let path = taoke_test::model_or_skip!(taoke_test::test_model(
        "SmolLM2-135M-Instruct-Q4_1/SmolLM2-135M-Instruct.Q4_1.gguf"
    ));
    let bytes = read(&path);
    let g = Gguf::parse(&bytes).unwrap();
    let mut total = 0usize;
    for t in &g.tensors {
        let v = dequantize(&g, &bytes, &t.name);
        assert!(v.iter().all(|x| x.is_finite()), "{}", t.name);
        total += v.len();
    }
    assert_eq!(total, 134_515_008);

    // Re-quantize two Q4_1 matrices to Q8_0, Q4_K and Q6_K (where rows are whole blocks) and
    // write them out.
    let mut w = taoke_gguf::GgufWriter::new();
    w.add_kv("general.architecture", "llama").unwrap();
    let mut originals = Vec::new();
    for name in ["blk.0.attn_q.weight", "blk.5.ffn_down.weight"] {
        let t = g.tensor(name).unwrap();
        let v = dequantize(&g, &bytes, name);
        for dtype in [Dtype::Q8_0, Dtype::Q4_K, Dtype::Q6_K] {
            // K-quant rows must be whole 256-element blocks: attn_q rows (576) are not.
            if !t.dims[0].is_multiple_of(dtype.block_elems()) {
                continue;
            }
            let q = taoke_dtype::quant::quantize(dtype, &v).unwrap();
            w.add_tensor(format!("{name}.{dtype}"), &t.shape_row_major(), dtype, q)
                .unwrap();
        }
        originals.push((name, v));
    }
    let out = w.to_bytes();
    let h = Gguf::parse(&out).unwrap();
    assert_eq!(h.tensors.len(), 4);
    for (name, v) in &originals {
        let (_, std) = mean_std(v);
        for (dtype, bound) in [
            (Dtype::Q8_0, 0.01),
            (Dtype::Q4_K, 0.15),
            (Dtype::Q6_K, 0.04),
        ] {
            if h.tensor(&format!("{name}.{dtype}")).is_none() {
                continue;
            }
            let w = dequantize(&h, &out, &format!("{name}.{dtype}"));
            let rms = (v
                .iter()
                .zip(&w)
                .map(|(a, b)| f64::from(a - b).powi(2))
                .sum::<f64>()
                / v.len() as f64)
                .sqrt();
            eprintln!("{name} as {dtype}: rms error / std = {:.4}", rms / std);
            assert!(rms / std < bound, "{name} {dtype}: {}", rms / std);
        }
    }
}
