//! The generated checkpoints open with taoke's own reader and hold the generated values: a
//! bf16 Hugging Face folder (sharded, with tokenizer) and a Q4_K GGUF of a small shape.

use taoke_bench::shape::{Kind, Shape};
use taoke_bench::synth::{unit_permutation, TensorGen, Variant};
use taoke_dtype::Dtype;

fn tiny() -> Shape {
    Shape {
        name: "tiny",
        like: "test",
        blocks: 2,
        hidden: 256,
        mlp: 512,
        heads: 4,
        kv_heads: 2,
        vocab: 300,
        experts: 0,
        tied: false,
    }
}

#[test]
fn hf_folder_round_trips_through_taoke_model() {
    let shape = tiny();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("base");
    let total = taoke_bench::write::write_hf(&out, &shape, 5, Variant::Base).unwrap();
    assert_eq!(total, 2 * shape.parameters());
    let ck = taoke_model::open(out.to_str().unwrap()).unwrap();
    assert_eq!(ck.tensors.len(), shape.tensors().len());
    assert!(ck.tensors.iter().all(|t| t.dtype == Dtype::BF16));
    // Values are the generator's, rounded to bf16.
    let specs = shape.tensors();
    let up = specs
        .iter()
        .find(|t| t.kind == Kind::Up && t.block == Some(1))
        .unwrap();
    let got = ck.read_f32(ck.tensor(&up.name).unwrap()).unwrap();
    let gen = TensorGen::new(&shape, up, 5, Variant::Base, false);
    let mut row = vec![0f32; up.cols];
    gen.row(7, &mut row, &mut Vec::new());
    let want: Vec<f32> = row
        .iter()
        .map(|&x| half::bf16::from_f32(x).to_f32())
        .collect();
    assert_eq!(&got[7 * up.cols..8 * up.cols], &want[..]);
    // The vocabulary is found (300 tokens, 3 special).
    let vocab = taoke_evidence::view::vocab_of(&ck).expect("tokenizer.json is read");
    assert_eq!(vocab.tokens.len(), 300);
}

#[test]
fn gguf_holds_the_permuted_fine_tune_in_q4_k() {
    let shape = tiny();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("derived.gguf");
    let variant = Variant::Derived {
        eps: 0.02,
        permute: true,
    };
    taoke_bench::write::write_gguf(&path, &shape, 5, variant, Dtype::Q4_K).unwrap();
    let ck = taoke_model::open(path.to_str().unwrap()).unwrap();
    assert_eq!(ck.tensors.len(), shape.tensors().len());
    let gate = ck.tensor("blk.0.ffn_gate.weight").unwrap();
    assert_eq!(gate.dtype, Dtype::Q4_K);
    assert_eq!(
        ck.tensor("blk.0.attn_norm.weight").unwrap().dtype,
        Dtype::F32
    );
    // Derived gate row 3 is base gate row perm[3] plus 2 % noise, then 4-bit quantized.
    let specs = shape.tensors();
    let g = specs
        .iter()
        .find(|t| t.kind == Kind::Gate && t.block == Some(0))
        .unwrap();
    let perm = unit_permutation(5, 0, None, shape.mlp);
    let base = TensorGen::new(&shape, g, 5, Variant::Base, false);
    let mut want = vec![0f32; g.cols];
    base.row(perm[3] as usize, &mut want, &mut Vec::new());
    let got = ck.read_f32(gate).unwrap();
    let got = &got[3 * g.cols..4 * g.cols];
    let dot: f64 = got.iter().zip(&want).map(|(a, b)| f64::from(a * b)).sum();
    let n = |v: &[f32]| v.iter().map(|x| f64::from(x * x)).sum::<f64>().sqrt();
    let cos = dot / (n(got) * n(&want));
    assert!(cos > 0.98 && cos < 0.9999, "cos {cos}");
    let vocab = taoke_evidence::view::vocab_of(&ck).expect("tokenizer.ggml.tokens is read");
    assert_eq!(vocab.tokens.len(), 300);
}
