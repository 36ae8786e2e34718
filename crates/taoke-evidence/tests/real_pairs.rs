//! The real third-party pairs of test-models.md, asserted (issue 5).

use taoke_evidence::{compare, Comparison, Kind, Options, Verdict};
use taoke_test::{model_or_skip, shared_model, test_model};

fn run(a: &std::path::Path, b: &std::path::Path) -> Comparison {
    let ca = taoke_model::open(a.to_str().unwrap()).unwrap();
    let cb = taoke_model::open(b.to_str().unwrap()).unwrap();
    compare(&ca, &cb, &Options::default()).unwrap()
}

fn has(c: &Comparison, k: Kind) -> bool {
    c.kinds.contains(&k)
}

#[test]
fn minilm_vs_its_int8_onnx_export_is_same_weights() {
    let a = model_or_skip!(test_model("all-MiniLM-L6-v2"));
    let b = model_or_skip!(test_model("all-MiniLM-L6-v2-int8-onnx/model.onnx"));
    let c = run(&a, &b);
    assert_eq!(c.verdict, Verdict::SameWeights, "{}", c.decisive);
    for k in [
        Kind::Quantized,
        Kind::Renamed,
        Kind::Transposed,
        Kind::FormatChange,
    ] {
        assert!(has(&c, k), "missing {k:?} in {:?}", c.kinds);
    }
    assert!(c.log10_p_value.unwrap() < -100.0);
}

#[test]
fn minilm_vs_paraphrase_l3_shares_embeddings_only() {
    let a = model_or_skip!(test_model("all-MiniLM-L6-v2"));
    let b = model_or_skip!(test_model(
        "paraphrase-MiniLM-L3-v2-onnx/paraphrase-MiniLM-L3-v2.onnx"
    ));
    let c = run(&a, &b);
    assert_eq!(c.verdict, Verdict::Related, "{}", c.decisive);
    assert!(has(&c, Kind::SharedComponents), "{:?}", c.kinds);
    let emb = c.components.iter().find(|x| x.a == "embeddings").unwrap();
    assert_eq!(emb.verdict, Verdict::Related);
    // Their block matrices do not correlate: no block may be reported as a copy.
    let blocks: Vec<_> = c
        .components
        .iter()
        .filter(|x| x.a.starts_with("blk."))
        .collect();
    assert_eq!(blocks.len(), 6, "every block of A was tested");
    for b in blocks {
        assert_ne!(b.verdict, Verdict::Related, "{} ↔ {}", b.a, b.b);
        assert_ne!(b.verdict, Verdict::SameWeights);
    }
    assert!(!has(&c, Kind::FineTune) && !has(&c, Kind::PrunedDepth));
}

#[test]
fn stories260k_layouts() {
    let bin = model_or_skip!(shared_model("stories260K/stories260K.bin"));
    let tr = model_or_skip!(shared_model("stories260K/stories260K.transpose.bin"));
    let gg = model_or_skip!(shared_model("stories260K/tinyllamas-stories-260k-f32.gguf"));
    let c = run(&bin, &tr);
    assert_eq!(c.verdict, Verdict::SameWeights, "{}", c.decisive);
    assert!(has(&c, Kind::Transposed));
    let c = run(&bin, &gg);
    assert!(
        matches!(c.verdict, Verdict::SameWeights | Verdict::Related),
        "{:?}: {}",
        c.verdict,
        c.decisive
    );
    let c = run(&bin, &bin);
    assert_eq!(c.verdict, Verdict::Identical);
}

#[test]
fn smollm2_is_unrelated_to_minilm_and_stories() {
    let s = model_or_skip!(test_model(
        "SmolLM2-135M-Instruct-Q4_1/SmolLM2-135M-Instruct.Q4_1.gguf"
    ));
    let others = [
        model_or_skip!(test_model("all-MiniLM-L6-v2")),
        model_or_skip!(test_model("all-MiniLM-L6-v2-int8-onnx/model.onnx")),
        model_or_skip!(test_model(
            "paraphrase-MiniLM-L3-v2-onnx/paraphrase-MiniLM-L3-v2.onnx"
        )),
        model_or_skip!(shared_model("stories260K/stories260K.bin")),
    ];
    for o in &others {
        let c = run(&s, o);
        assert!(
            matches!(c.verdict, Verdict::Independent | Verdict::Inconclusive),
            "{}: {:?} {}",
            o.display(),
            c.verdict,
            c.decisive
        );
        assert!(c.p_value.unwrap_or(1.0) > 1e-6);
    }
}
