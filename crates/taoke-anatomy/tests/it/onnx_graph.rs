//! Anonymous ONNX matrices get roles from graph position.

use taoke_anatomy::{Family, Orientation, Role, RoleSource};

use crate::common::{load, onnx_hints};

#[test]
fn paraphrase_minilm_anonymous_matrices_from_graph_position() {
    let p = taoke_test::model_or_skip!(taoke_test::test_model(
        "paraphrase-MiniLM-L3-v2-onnx/paraphrase-MiniLM-L3-v2.onnx"
    ));
    let l = load(&p);
    let hints = onnx_hints(&p, &l.tensors);
    // Without graph hints the 18 matrices are unknown.
    let bare = l.anatomy();
    let anon: Vec<&str> = bare.unknown().map(|(_, t)| t.name.as_str()).collect();
    assert_eq!(anon.len(), 18, "{anon:?}");
    assert!(anon.iter().all(|n| n.starts_with("onnx::MatMul_")));

    let a = l.anatomy_with_graph(Some(&hints));
    assert_eq!(a.tensors.len(), 53);
    assert_eq!(a.unknown().count(), 0);
    let mut got: Vec<(u32, &str, String, Orientation)> = a
        .tensors
        .iter()
        .filter(|t| t.source == RoleSource::GraphPosition)
        .map(|t| {
            let num: u32 = t
                .name
                .trim_start_matches("onnx::MatMul_")
                .parse()
                .expect("number");
            (num, t.name.as_str(), t.canonical.to_string(), t.orientation)
        })
        .collect();
    got.sort_by_key(|g| g.0);
    let template = [
        "attn_q",
        "attn_k",
        "attn_v",
        "attn_output",
        "ffn_up",
        "ffn_down",
    ];
    let want: Vec<String> = (0..3)
        .flat_map(|b| template.iter().map(move |r| format!("blk.{b}.{r}.weight")))
        .collect();
    let roles: Vec<String> = got.iter().map(|g| g.2.clone()).collect();
    assert_eq!(roles, want);
    // MatMul's right factor is [in, out]: every matrix is transposed relative to PyTorch.
    assert!(
        got.iter().all(|g| g.3 == Orientation::Transposed),
        "{got:?}"
    );
    let up = a
        .tensors
        .iter()
        .find(|t| t.name == "onnx::MatMul_481")
        .expect("481");
    assert_eq!(
        (up.canonical.role, up.shape.clone()),
        (Role::MlpUp, vec![384, 1536])
    );

    let d = &a.description;
    assert_eq!(d.family.value, Family::Bert);
    assert_eq!(d.layers.as_ref().map(|x| x.value), Some(3));
    assert_eq!(d.hidden.as_ref().map(|x| x.value), Some(384));
    assert_eq!(d.intermediate.as_ref().map(|x| x.value), Some(1536));
    assert_eq!(d.vocab.as_ref().map(|x| x.value), Some(30522));
}

#[test]
fn int8_minilm_graph_positions_and_constants() {
    let p = taoke_test::model_or_skip!(taoke_test::test_model(
        "all-MiniLM-L6-v2-int8-onnx/model.onnx"
    ));
    let l = load(&p);
    let hints = onnx_hints(&p, &l.tensors);
    let a = l.anatomy_with_graph(Some(&hints));
    assert_eq!(
        a.unknown().count(),
        0,
        "{:?}",
        a.unknown().map(|(_, t)| &t.name).collect::<Vec<_>>()
    );
    let graph: Vec<_> = a
        .tensors
        .iter()
        .filter(|t| t.source == RoleSource::GraphPosition && t.canonical.role.is_linear())
        .collect();
    assert_eq!(graph.len(), 36);
    assert!(graph
        .iter()
        .all(|t| t.orientation == Orientation::Transposed));
    let role_of = |n: &str| {
        a.tensors
            .iter()
            .find(|t| t.name == n)
            .map(|t| t.canonical.to_string())
    };
    assert_eq!(role_of("val_49").as_deref(), Some("blk.0.attn_q.weight"));
    assert_eq!(role_of("val_109").as_deref(), Some("blk.0.ffn_up.weight"));
    assert_eq!(role_of("val_473").as_deref(), Some("blk.5.ffn_down.weight"));
    assert_eq!(a.description.layers.as_ref().map(|x| x.value), Some(6));
}
