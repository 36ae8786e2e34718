//! `ModelView::matrix_rows` (the streaming path's reader) returns exactly the rows of
//! `ModelView::matrix`, on real files: llama.cpp's interleaved Q/K rows in a quantized GGUF
//! (SmolLM2, Q4_1), and a transposed ONNX export (read whole, then selected).

use taoke_anatomy::Role;
use taoke_evidence::view::ModelView;
use taoke_test::{model_or_skip, test_model};

fn check(path: &std::path::Path, roles: &[Role]) -> usize {
    let ck = taoke_model::open(path.to_str().unwrap()).unwrap();
    let v = ModelView::new(&ck);
    let mut checked = 0;
    for (k, &i) in &v.by_key {
        if !roles.contains(&k.2) || ck.tensors[i].shape.len() != 2 {
            continue;
        }
        let full = v.matrix(i).unwrap();
        assert_eq!(full.rows, v.canonical_rows(i), "{}", ck.tensors[i].name);
        let rows: Vec<usize> = (0..full.rows).step_by(7).collect();
        let part = v.matrix_rows(i, &rows).unwrap();
        let want = full.view().select_rows(&rows).unwrap();
        assert_eq!(part.data, want.data, "{}", ck.tensors[i].name);
        checked += 1;
    }
    checked
}

#[test]
fn sampled_rows_match_whole_reads_on_gguf_interleaved_qk() {
    let p = model_or_skip!(test_model(
        "SmolLM2-135M-Instruct-Q4_1/SmolLM2-135M-Instruct.Q4_1.gguf"
    ));
    // 30 blocks × (Q, K, up) and the token embedding.
    let n = check(
        &p,
        &[Role::AttnQ, Role::AttnK, Role::MlpUp, Role::TokenEmbedding],
    );
    assert_eq!(n, 91);
}

#[test]
fn sampled_rows_match_whole_reads_on_transposed_onnx() {
    let p = model_or_skip!(test_model("all-MiniLM-L6-v2-int8-onnx/model.onnx"));
    let n = check(&p, &[Role::AttnQ, Role::MlpUp]);
    assert_eq!(n, 12);
}
