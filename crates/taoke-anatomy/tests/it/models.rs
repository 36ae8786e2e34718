//! Every tensor of the real models gets a role; descriptions have the right numbers.

use taoke_anatomy::{
    Family, FieldSource, NormKind, Orientation, QkRowOrder, Role, RoleSource, SchemeId,
};

use crate::common::load;

#[test]
fn minilm_safetensors_roles_and_description() {
    let p =
        taoke_test::model_or_skip!(taoke_test::test_model("all-MiniLM-L6-v2/model.safetensors"));
    let l = load(&p);
    let a = l.anatomy();
    assert_eq!(a.tensors.len(), 104);
    assert_eq!(
        a.unknown().count(),
        0,
        "unknown roles: {:?}",
        a.unmatched_names
    );
    assert!(a.unmatched_names.is_empty());
    assert_eq!(a.primary_scheme, Some(SchemeId::Bert));
    assert!(a.tensors.iter().all(|t| matches!(
        t.source,
        RoleSource::Name {
            scheme: Some(SchemeId::Bert),
            ..
        }
    )));
    // 6 blocks × 16 tensors + 6 embedding tensors + 2 pooler tensors.
    let per_block = |b: u32| {
        a.tensors
            .iter()
            .filter(|t| t.canonical.block == Some(b))
            .count()
    };
    assert_eq!((0..6).map(per_block).collect::<Vec<_>>(), vec![16; 6]);
    let count = |r: Role| a.tensors.iter().filter(|t| t.canonical.role == r).count();
    assert_eq!(count(Role::AttnQ), 12); // weight + bias per block
    assert_eq!(count(Role::FfnNorm), 12);
    assert_eq!(count(Role::Pooler), 2);
    assert_eq!(count(Role::PositionIds), 1);
    // Every matrix is stored [out, in] (PyTorch Linear).
    assert!(a
        .tensors
        .iter()
        .filter(|t| t.shape.len() == 2 && t.canonical.role.is_linear())
        .all(|t| t.orientation == Orientation::Expected));

    let d = &a.description;
    assert_eq!(
        (d.family.value, d.family.source),
        (Family::Bert, FieldSource::Config)
    );
    let v = |f: &Option<taoke_anatomy::Field<u64>>| f.as_ref().map(|f| f.value);
    assert_eq!(v(&d.layers), Some(6));
    assert_eq!(v(&d.hidden), Some(384));
    assert_eq!(v(&d.heads), Some(12));
    assert_eq!(v(&d.head_dim), Some(32));
    assert_eq!(v(&d.intermediate), Some(1536));
    assert_eq!(v(&d.vocab), Some(30522));
    assert_eq!(v(&d.max_positions), Some(512));
    assert_eq!(d.norm.as_ref().map(|n| n.value), Some(NormKind::Layer));
    assert_eq!(
        d.activation.as_ref().map(|a| a.value.as_str()),
        Some("gelu")
    );
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    assert_eq!(a.qk_row_order, QkRowOrder::NotApplicable);
}

#[test]
fn smollm2_gguf_roles_and_description() {
    let p = taoke_test::model_or_skip!(taoke_test::test_model(
        "SmolLM2-135M-Instruct-Q4_1/SmolLM2-135M-Instruct.Q4_1.gguf"
    ));
    let l = load(&p);
    let a = l.anatomy();
    assert_eq!(a.tensors.len(), 272);
    assert_eq!(a.unknown().count(), 0);
    assert_eq!(a.primary_scheme, Some(SchemeId::Gguf));
    let count = |r: Role| a.tensors.iter().filter(|t| t.canonical.role == r).count();
    for r in [
        Role::AttnQ,
        Role::AttnK,
        Role::AttnV,
        Role::AttnO,
        Role::MlpGate,
        Role::MlpUp,
        Role::MlpDown,
        Role::AttnNorm,
        Role::FfnNorm,
    ] {
        assert_eq!(count(r), 30, "{r}");
    }
    assert_eq!(count(Role::TokenEmbedding), 1);
    assert_eq!(count(Role::FinalNorm), 1);
    assert_eq!(count(Role::LmHead), 0);
    // K is [192, 576]: not square, so its orientation is proven by the dims.
    let k = a
        .find(&"blk.7.attn_k.weight".parse().expect("canonical"))
        .expect("blk.7.attn_k")
        .1;
    assert_eq!(k.shape, vec![192, 576]);
    assert_eq!(k.orientation, Orientation::Expected);

    let d = &a.description;
    assert_eq!(
        (d.family.value, d.family.source),
        (Family::Llama, FieldSource::Gguf)
    );
    let v = |f: &Option<taoke_anatomy::Field<u64>>| f.as_ref().map(|f| f.value);
    assert_eq!(v(&d.layers), Some(30));
    assert_eq!(v(&d.hidden), Some(576));
    assert_eq!(v(&d.intermediate), Some(1536));
    assert_eq!(v(&d.heads), Some(9));
    assert_eq!(v(&d.kv_heads), Some(3));
    assert_eq!(v(&d.head_dim), Some(64));
    assert_eq!(v(&d.vocab), Some(49152));
    assert_eq!(v(&d.max_positions), Some(8192));
    assert_eq!(
        d.tied_embeddings.as_ref().map(|t| (t.value, t.source)),
        Some((true, FieldSource::Shapes))
    );
    assert_eq!(d.rope_theta.as_ref().map(|t| t.value), Some(100000.0));
    assert_eq!(d.norm.as_ref().map(|n| n.value), Some(NormKind::Rms));
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    // llama-architecture GGUF: Q/K rows were permuted by the converter.
    assert_eq!(a.qk_row_order, QkRowOrder::Interleaved);
}
