//! Content decides: anonymous tensors matched to a reference model by their values.

use std::collections::BTreeMap;

use taoke_anatomy::{
    analyze, match_by_content, AnatomyInput, ContentOptions, RoleSource, SourceError, TensorDesc,
    TensorSource,
};

use crate::common::{load, onnx_hints};
use taoke_test::xorshift_noise as noise;

struct Mem(Vec<Vec<f32>>);

impl TensorSource for Mem {
    fn read_f32(&self, index: usize) -> Result<Vec<f32>, SourceError> {
        self.0
            .get(index)
            .cloned()
            .ok_or_else(|| "no such tensor".into())
    }
}

fn transpose(w: &[f32], r: usize, c: usize) -> Vec<f32> {
    taoke_anatomy::layout::transpose(w, r, c).expect("transpose")
}

#[test]
fn synthetic_shuffled_transposed_noisy_copy_is_matched() {
    // Reference: 4 square 32x32 matrices and 2 of 48x32.
    let shapes: Vec<Vec<u64>> = vec![
        vec![32, 32],
        vec![32, 32],
        vec![32, 32],
        vec![32, 32],
        vec![48, 32],
        vec![48, 32],
    ];
    let ref_t: Vec<TensorDesc> = shapes
        .iter()
        .enumerate()
        .map(|(i, s)| TensorDesc::new(format!("ref.{i}"), s.clone()))
        .collect();
    let ref_v: Vec<Vec<f32>> = shapes
        .iter()
        .enumerate()
        .map(|(i, s)| noise((s[0] * s[1]) as usize, i as u64 + 10))
        .collect();
    // Target: reversed order, anonymous, transposed (some), with 10 % noise.
    let order = [5usize, 2, 4, 0, 3, 1];
    let mut tgt_t = Vec::new();
    let mut tgt_v = Vec::new();
    for (k, &i) in order.iter().enumerate() {
        let (r, c) = (shapes[i][0] as usize, shapes[i][1] as usize);
        let e = noise(r * c, 100 + k as u64);
        let noisy: Vec<f32> = ref_v[i].iter().zip(&e).map(|(x, n)| x + 0.1 * n).collect();
        if k % 2 == 0 {
            tgt_t.push(TensorDesc::new(
                format!("anon_{k}"),
                vec![c as u64, r as u64],
            ));
            tgt_v.push(transpose(&noisy, r, c));
        } else {
            tgt_t.push(TensorDesc::new(
                format!("anon_{k}"),
                vec![r as u64, c as u64],
            ));
            tgt_v.push(noisy);
        }
    }
    let targets: Vec<usize> = (0..tgt_t.len()).collect();
    let m = match_by_content(
        &ref_t,
        &Mem(ref_v),
        &tgt_t,
        &Mem(tgt_v),
        &targets,
        &ContentOptions {
            min_elements: 16,
            ..Default::default()
        },
    )
    .expect("match");
    assert_eq!(m.len(), 6);
    for x in &m {
        assert_eq!(x.reference, order[x.target], "{x:?}");
        assert_eq!(x.transposed, x.target % 2 == 0, "{x:?}");
        assert!(x.r > 0.98, "{x:?}");
    }
}

#[test]
fn int8_minilm_anonymous_matrices_matched_by_content() {
    let (Some(pa), Some(pb)) = (
        taoke_test::test_model("all-MiniLM-L6-v2/model.safetensors"),
        taoke_test::test_model("all-MiniLM-L6-v2-int8-onnx/model.onnx"),
    ) else {
        return;
    };
    let (a, b) = (load(&pa), load(&pb));
    let aa = a.anatomy();
    // Names only: the val_N matrices are unknown.
    let mut ab = analyze(&AnatomyInput {
        tensors: &b.tensors,
        metadata: Some(&b.meta),
        ..Default::default()
    });
    let targets: Vec<usize> = ab.unknown().map(|(i, _)| i).collect();
    let m = match_by_content(
        &a.tensors,
        &a,
        &b.tensors,
        &b,
        &targets,
        &ContentOptions::default(),
    )
    .expect("content match");
    assert_eq!(m.len(), 36);
    assert!(
        m.iter().all(|x| x.transposed),
        "transposition detected for all"
    );
    let min_r = m.iter().map(|x| x.r).fold(1.0, f64::min);
    assert!(min_r > 0.999, "min r = {min_r}");
    ab.apply_content_matches(&aa, &m);
    let matched: BTreeMap<&str, &str> = m
        .iter()
        .map(|x| {
            (
                b.tensors[x.target].name.as_str(),
                a.tensors[x.reference].name.as_str(),
            )
        })
        .collect();
    assert_eq!(
        matched.get("val_49").copied(),
        Some("encoder.layer.0.attention.self.query.weight")
    );
    assert_eq!(
        matched.get("val_109").copied(),
        Some("encoder.layer.0.intermediate.dense.weight")
    );
    // Independent check: the graph position (bias pairing) gives the same role for all 36.
    let hints = onnx_hints(&pb, &b.tensors);
    let ag = b.anatomy_with_graph(Some(&hints));
    for x in &m {
        let (tc, tg) = (&ab.tensors[x.target], &ag.tensors[x.target]);
        assert!(matches!(
            tc.source,
            RoleSource::Content {
                transposed: true,
                ..
            }
        ));
        assert_eq!(tc.canonical, tg.canonical, "{}", tc.name);
        assert_eq!(tc.orientation, tg.orientation, "{}", tc.name);
    }
    // The pooler (only in A) is left unmatched.
    assert!(!matched.values().any(|n| n.starts_with("pooler")));
}
