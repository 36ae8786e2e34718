//! Opening the real third-party checkpoints: tensor and parameter counts, values.

use taoke_model::{open, open_with, Format, IoMode, OpenOptions};
use taoke_test::{model_or_skip, shared_model, test_model};

fn mean_std(v: &[f32]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let var = v.iter().map(|&x| (f64::from(x) - m).powi(2)).sum::<f64>() / n;
    (m, var.sqrt())
}

#[test]
fn minilm_safetensors() {
    let p = model_or_skip!(test_model("all-MiniLM-L6-v2/model.safetensors"));
    let ck = open(p.to_str().unwrap()).unwrap();
    assert_eq!(ck.format, Format::Safetensors);
    assert_eq!(ck.tensors.len(), 104);
    assert_eq!(ck.parameter_count(), 22_713_728);
    let t = ck.tensor("embeddings.word_embeddings.weight").unwrap();
    assert_eq!(t.shape, [30522, 384]);
    let v = ck.read_f32(t).unwrap();
    assert_eq!(v.len(), 30522 * 384);
    // The folder form finds config and tokenizer side files.
    let dir = open(p.parent().unwrap().to_str().unwrap()).unwrap();
    assert_eq!(dir.tensors.len(), 104);
    assert_eq!(dir.config.as_ref().unwrap()["hidden_size"], 384);
    assert!(dir.side_file("tokenizer.json").is_some());
}

#[test]
fn smollm2_gguf() {
    let p = model_or_skip!(test_model(
        "SmolLM2-135M-Instruct-Q4_1/SmolLM2-135M-Instruct.Q4_1.gguf"
    ));
    let ck = open(p.to_str().unwrap()).unwrap();
    assert_eq!(ck.format, Format::Gguf);
    assert_eq!(ck.tensors.len(), 272);
    assert_eq!(ck.parameter_count(), 134_515_008);
    assert_eq!(
        ck.meta("llama.block_count").and_then(|v| v.as_u64()),
        Some(30)
    );
    let t = ck.tensor("token_embd.weight").unwrap();
    assert_eq!(t.shape, [49152, 576]);
    assert_eq!(t.dtype_name, "Q8_0");
    let v = ck.read_f32(t).unwrap();
    let (m, s) = mean_std(&v);
    assert!((m - -5.42289e-4).abs() < 1e-8, "mean {m}");
    assert!((s - 0.135578).abs() < 1e-6, "std {s}");
    for (a, b) in v.iter().zip([-0.10654, 0.03298, 0.0482, -0.02283]) {
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }
    let q = ck.tensor("blk.0.attn_q.weight").unwrap();
    assert_eq!(q.dtype_name, "Q4_1");
    let v = ck.read_f32(q).unwrap();
    let (m, s) = mean_std(&v);
    assert!((m - 1.78504e-4).abs() < 1e-8, "mean {m}");
    assert!((s - 0.283946).abs() < 1e-6, "std {s}");
    // Row streaming gives the same values as a whole read.
    let mut rows = vec![0f32; 7 * 576];
    ck.read_rows(q, 100, 7, &mut rows).unwrap();
    assert_eq!(&rows[..], &v[100 * 576..107 * 576]);
}

#[test]
fn stories260k_three_layouts() {
    let bin = model_or_skip!(shared_model("stories260K/stories260K.bin"));
    let tr = model_or_skip!(shared_model("stories260K/stories260K.transpose.bin"));
    let gg = model_or_skip!(shared_model("stories260K/tinyllamas-stories-260k-f32.gguf"));
    let a = open(bin.to_str().unwrap()).unwrap();
    assert_eq!(a.format, Format::Llama2c);
    // 1 embedding + 9 kinds × 5 layers + final norm + 2 RoPE tables (classifier shared).
    assert_eq!(a.tensors.len(), 49);
    assert_eq!(a.parameter_count(), 264_128);
    let b = open(tr.to_str().unwrap()).unwrap();
    assert_eq!(b.tensors.len(), 49);
    let g = open(gg.to_str().unwrap()).unwrap();
    assert_eq!(g.format, Format::Gguf);
    assert_eq!(g.tensors.len(), 48);
    assert_eq!(g.meta("gguf.version").and_then(|v| v.as_u64()), Some(1));
    // Embedding and norms are byte-identical across the llama2.c file and the GGUF.
    let ea = a
        .read_f32(a.tensor("tok_embeddings.weight").unwrap())
        .unwrap();
    let eg = g.read_f32(g.tensor("token_embd.weight").unwrap()).unwrap();
    assert_eq!(ea, eg);
    let na = a
        .read_f32(a.tensor("layers.3.ffn_norm.weight").unwrap())
        .unwrap();
    let ng = g
        .read_f32(g.tensor("blk.3.ffn_norm.weight").unwrap())
        .unwrap();
    assert_eq!(na, ng);
    // The transposed file holds wq transposed.
    let qa = a
        .read_f32(a.tensor("layers.0.attention.wq.weight").unwrap())
        .unwrap();
    let qt = b
        .read_f32(b.tensor("layers.0.attention.wq.weight").unwrap())
        .unwrap();
    assert_ne!(qa, qt);
    for i in 0..64 {
        for j in 0..64 {
            assert_eq!(qa[i * 64 + j], qt[j * 64 + i]);
        }
    }
}

#[test]
fn mmap_and_buffered_reads_agree() {
    let p = model_or_skip!(shared_model("stories260K/tinyllamas-stories-260k-f32.gguf"));
    let a = open(p.to_str().unwrap()).unwrap();
    let b = open_with(
        p.to_str().unwrap(),
        OpenOptions {
            io: IoMode::Buffered,
        },
    )
    .unwrap();
    for (x, y) in a.tensors.iter().zip(&b.tensors) {
        assert_eq!(a.read_f32(x).unwrap(), b.read_f32(y).unwrap(), "{}", x.name);
    }
}
