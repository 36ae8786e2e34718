//! The real ONNX test models (see the test-models reference): B, the int8 weight-only export
//! of all-MiniLM-L6-v2, and C, paraphrase-MiniLM-L3-v2 in float32.

use std::collections::BTreeMap;

use taoke_dtype::Dtype;
use taoke_onnx::{
    find_quantized_weights, parse, tensor_uses, GraphIndex, InitData, OnnxModel, Pattern,
};

fn raw_bytes<'a>(bytes: &'a [u8], m: &OnnxModel, name: &str) -> &'a [u8] {
    let t = m
        .initializer(name)
        .unwrap_or_else(|| panic!("no initializer {name}"));
    let InitData::Raw { offset, len } = t.data else {
        panic!("{name}: {:?}", t.data)
    };
    &bytes[offset as usize..(offset + len) as usize]
}

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn pearson(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let n = a.len() as f64;
    let (ma, mb) = (
        a.iter().map(|&x| f64::from(x)).sum::<f64>() / n,
        b.iter().map(|&x| f64::from(x)).sum::<f64>() / n,
    );
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (dx, dy) = (f64::from(x) - ma, f64::from(y) - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    sab / (saa * sbb).sqrt()
}

#[test]
fn int8_export_b_recovers_all_38_weights() {
    let p = taoke_test::model_or_skip!(taoke_test::test_model(
        "all-MiniLM-L6-v2-int8-onnx/model.onnx"
    ));
    let bytes = std::fs::read(&p).unwrap();
    let m = parse(&bytes).unwrap();
    assert_eq!(
        (m.ir_version, m.producer.as_str(), m.onnx_opset()),
        (10, "pytorch", Some(17))
    );
    let names: Vec<_> = m.inputs.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["input_ids", "attention_mask", "token_type_ids"]);
    assert_eq!(m.outputs[0].name, "last_hidden_state");
    assert_eq!(m.initializers.len(), 160);
    let mut by_dtype: BTreeMap<Dtype, usize> = BTreeMap::new();
    for t in &m.initializers {
        *by_dtype.entry(t.dtype).or_default() += 1;
        assert!(matches!(t.data, InitData::Raw { .. }), "{}", t.name);
    }
    assert_eq!(by_dtype[&Dtype::F32], 107);
    assert_eq!(by_dtype[&Dtype::I8], 38);
    assert_eq!(by_dtype[&Dtype::I64], 14);
    assert_eq!(by_dtype[&Dtype::Bool], 1);
    assert_eq!(m.nodes.len(), 385);

    let idx = GraphIndex::new(&m);
    assert!(!idx.is_cyclic());
    let scan = find_quantized_weights(&m, &idx);
    assert!(scan.rejected.is_empty(), "{:?}", scan.rejected);
    assert_eq!(scan.weights.len(), 38);
    assert_eq!(scan.components().len(), 76);
    for w in &scan.weights {
        assert_eq!(w.pattern, Pattern::CastMul);
        assert_eq!(w.zero_point, None);
        assert_eq!(format!("{}_q", w.name), w.q);
        assert_eq!(format!("{}_scale", w.name), w.scale);
        assert_eq!(
            w.output, w.name,
            "the exporter names the Mul output after the weight"
        );
    }
    let emb = &scan.weights[0];
    assert_eq!(emb.name, "inner.embeddings.word_embeddings.weight");
    assert_eq!(
        (emb.dims.as_slice(), emb.axis),
        (&[30522u64, 384][..], Some(0))
    );
    assert_eq!(idx.consumers(&emb.output)[0].op_type, "Gather");
    assert_eq!(
        scan.weights[1].name,
        "inner.embeddings.position_embeddings.weight"
    );
    assert_eq!(scan.weights[1].axis, Some(0));

    // The 36 anonymous matrices: per-column scales, each the right factor of one MatMul,
    // first used in graph order (query, key, value, output, FFN in, FFN out per layer).
    let mats = &scan.weights[2..];
    assert_eq!(mats.len(), 36);
    let mut last = 0;
    for w in mats {
        assert!(w.name.starts_with("val_"), "{}", w.name);
        assert_eq!(w.axis, Some(1));
        let u = idx.matmul_use(&w.output).unwrap();
        assert_eq!((u.op_type.as_str(), u.slot), ("MatMul", 1), "{}", w.name);
        assert!(u.order > last, "{} used out of order", w.name);
        last = u.order;
    }
    // Uses under the names a checkpoint lists: 160 - 76 components + 38 weights.
    let uses = tensor_uses(&m, &idx, &scan);
    assert_eq!(uses.len(), 122);
    let in_linear: Vec<_> = uses
        .iter()
        .filter(|u| u.matmul.as_ref().and_then(|mm| mm.transposed_vs_linear) == Some(true))
        .map(|u| u.name.as_str())
        .collect();
    assert_eq!(in_linear.len(), 36);
    assert!(in_linear.iter().all(|n| n.starts_with("val_")));
    assert_eq!(taoke_onnx::tensor_uses_of(&bytes).unwrap(), uses);
    let emb_use = uses.iter().find(|u| u.name == emb.name).unwrap();
    assert_eq!(emb_use.matmul, None);
    assert_eq!(emb_use.consumers[0].op_type, "Gather");
    let shapes: Vec<_> = mats[..6].iter().map(|w| w.dims.clone()).collect();
    assert_eq!(
        shapes,
        [
            [384, 384],
            [384, 384],
            [384, 384],
            [384, 384],
            [384, 1536],
            [1536, 384]
        ]
    );
}

/// Dequantizes a recovered int8 weight of B with its per-row or per-column scales.
fn dequant(bytes: &[u8], m: &OnnxModel, w: &taoke_onnx::QuantizedWeight) -> Vec<f32> {
    let q = raw_bytes(bytes, m, &w.q);
    let s = f32s(raw_bytes(bytes, m, &w.scale));
    let cols = w.dims[1] as usize;
    q.iter()
        .enumerate()
        .map(|(i, &v)| {
            let scale = match w.axis {
                Some(0) => s[i / cols],
                Some(1) => s[i % cols],
                _ => s[0],
            };
            f32::from(v as i8) * scale
        })
        .collect()
}

#[test]
fn int8_export_b_dequantizes_to_model_a() {
    let pb = taoke_test::model_or_skip!(taoke_test::test_model(
        "all-MiniLM-L6-v2-int8-onnx/model.onnx"
    ));
    let pa =
        taoke_test::model_or_skip!(taoke_test::test_model("all-MiniLM-L6-v2/model.safetensors"));
    let b = std::fs::read(&pb).unwrap();
    let a = std::fs::read(&pa).unwrap();
    let st = safetensors::SafeTensors::deserialize(&a).unwrap();
    let m = parse(&b).unwrap();
    let idx = GraphIndex::new(&m);
    let scan = find_quantized_weights(&m, &idx);

    let emb = dequant(&b, &m, &scan.weights[0]);
    let a_emb = f32s(
        st.tensor("embeddings.word_embeddings.weight")
            .unwrap()
            .data(),
    );
    let r = pearson(&emb, &a_emb);
    eprintln!("word embeddings r = {r}");
    assert!(r >= 0.9999, "word embeddings r = {r}");

    // Each anonymous matrix equals the transpose of exactly one of A's 2-D encoder matrices.
    let a_mats: Vec<(String, Vec<u64>, Vec<f32>)> = st
        .tensors()
        .into_iter()
        .filter(|(n, t)| n.starts_with("encoder.") && t.shape().len() == 2)
        .map(|(n, t)| {
            (
                n,
                t.shape().iter().map(|&d| d as u64).collect(),
                f32s(t.data()),
            )
        })
        .collect();
    assert_eq!(a_mats.len(), 36);
    let mut matched = Vec::new();
    let mut worst = 1.0f64;
    for w in &scan.weights[2..] {
        let v = dequant(&b, &m, w);
        let (rows, cols) = (w.dims[0] as usize, w.dims[1] as usize);
        let mut t = vec![0.0f32; v.len()];
        for i in 0..rows {
            for j in 0..cols {
                t[j * rows + i] = v[i * cols + j];
            }
        }
        let best = a_mats
            .iter()
            .filter(|(_, s, _)| s[..] == [w.dims[1], w.dims[0]])
            .map(|(n, _, d)| (pearson(&t, d), n.clone()))
            .max_by(|x, y| x.0.total_cmp(&y.0))
            .unwrap();
        worst = worst.min(best.0);
        assert!(
            best.0 >= 0.999,
            "{} best r = {} ({})",
            w.name,
            best.0,
            best.1
        );
        matched.push((w.name.clone(), best.1));
    }
    eprintln!("worst matrix r = {worst}");
    let mut targets: Vec<_> = matched.iter().map(|m| m.1.clone()).collect();
    targets.sort();
    targets.dedup();
    assert_eq!(targets.len(), 36, "the matching is one-to-one");
    assert_eq!(
        matched[0],
        (
            "val_49".into(),
            "encoder.layer.0.attention.self.query.weight".into()
        )
    );
    assert_eq!(
        matched[4],
        (
            "val_109".into(),
            "encoder.layer.0.intermediate.dense.weight".into()
        )
    );
    assert_eq!(matched[35].1, "encoder.layer.5.output.dense.weight");
}

#[test]
fn float_export_c_lists_53_initializers() {
    let p = taoke_test::model_or_skip!(taoke_test::test_model(
        "paraphrase-MiniLM-L3-v2-onnx/paraphrase-MiniLM-L3-v2.onnx"
    ));
    let bytes = std::fs::read(&p).unwrap();
    let m = parse(&bytes).unwrap();
    assert_eq!(m.initializers.len(), 53);
    assert!(m
        .initializers
        .iter()
        .all(|t| t.dtype == Dtype::F32 && t.data_type == 1));
    let params: u64 = m.initializers.iter().map(|t| t.numel()).sum();
    assert_eq!(params, 17_241_984);
    let idx = GraphIndex::new(&m);
    let scan = find_quantized_weights(&m, &idx);
    assert!(scan.weights.is_empty() && scan.rejected.is_empty());
    let anon: Vec<_> = m
        .initializers
        .iter()
        .filter(|t| t.name.starts_with("onnx::MatMul_"))
        .collect();
    assert_eq!(anon.len(), 18);
    for t in &anon {
        let u = idx.matmul_use(&t.name).unwrap();
        assert_eq!(u.slot, 1, "{}", t.name);
    }
    let first = m
        .initializer("model.0.auto_model.embeddings.word_embeddings.weight")
        .unwrap();
    assert_eq!(first.dims, [30522, 384]);
    let names: Vec<_> = m.inputs.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["input_ids", "attention_mask"]);
}
