//! Renamed copies get the same canonical roles as the original.

use taoke_anatomy::{analyze, AnatomyInput, SchemeId, TensorDesc};

/// A Hugging Face llama tensor list with SmolLM2-135M's shapes.
fn hf_llama(layers: u32) -> Vec<TensorDesc> {
    let (h, kv, i, v) = (576u64, 192u64, 1536u64, 49152u64);
    let mut t = vec![TensorDesc::new("model.embed_tokens.weight", vec![v, h])];
    for l in 0..layers {
        let p = format!("model.layers.{l}");
        t.push(TensorDesc::new(
            format!("{p}.input_layernorm.weight"),
            vec![h],
        ));
        t.push(TensorDesc::new(
            format!("{p}.self_attn.q_proj.weight"),
            vec![h, h],
        ));
        t.push(TensorDesc::new(
            format!("{p}.self_attn.k_proj.weight"),
            vec![kv, h],
        ));
        t.push(TensorDesc::new(
            format!("{p}.self_attn.v_proj.weight"),
            vec![kv, h],
        ));
        t.push(TensorDesc::new(
            format!("{p}.self_attn.o_proj.weight"),
            vec![h, h],
        ));
        t.push(TensorDesc::new(
            format!("{p}.post_attention_layernorm.weight"),
            vec![h],
        ));
        t.push(TensorDesc::new(
            format!("{p}.mlp.gate_proj.weight"),
            vec![i, h],
        ));
        t.push(TensorDesc::new(
            format!("{p}.mlp.up_proj.weight"),
            vec![i, h],
        ));
        t.push(TensorDesc::new(
            format!("{p}.mlp.down_proj.weight"),
            vec![h, i],
        ));
    }
    t.push(TensorDesc::new("model.norm.weight", vec![h]));
    t
}

#[test]
fn yi_renamed_norms_get_the_same_roles() {
    let orig = hf_llama(30);
    let yi: Vec<TensorDesc> = orig
        .iter()
        .map(|t| {
            TensorDesc::new(
                t.name
                    .replace("input_layernorm", "ln1")
                    .replace("post_attention_layernorm", "ln2"),
                t.shape.clone(),
            )
        })
        .collect();
    assert_eq!(
        yi.iter()
            .filter(|t| t.name.ends_with(".ln1.weight"))
            .count(),
        30
    );
    let a = analyze(&AnatomyInput {
        tensors: &orig,
        ..Default::default()
    });
    let b = analyze(&AnatomyInput {
        tensors: &yi,
        ..Default::default()
    });
    assert_eq!(a.primary_scheme, Some(SchemeId::HfLlama));
    assert_eq!(b.primary_scheme, Some(SchemeId::Yi));
    assert_eq!(a.unknown().count(), 0);
    assert_eq!(b.unknown().count(), 0);
    let ca: Vec<String> = a.tensors.iter().map(|t| t.canonical.to_string()).collect();
    let cb: Vec<String> = b.tensors.iter().map(|t| t.canonical.to_string()).collect();
    assert_eq!(ca, cb);
    assert_eq!(ca[1], "blk.0.attn_norm.weight");
    assert_eq!(ca[6], "blk.0.ffn_norm.weight");
    // The shapes alone give the same description for both.
    assert_eq!(a.description, b.description);
    assert_eq!(a.description.layers.as_ref().map(|l| l.value), Some(30));
    assert_eq!(
        a.description.intermediate.as_ref().map(|l| l.value),
        Some(1536)
    );
    assert_eq!(
        a.description.tied_embeddings.as_ref().map(|l| l.value),
        Some(true)
    );
}

#[test]
fn wrapper_prefixes_are_stripped_consistently() {
    let orig = hf_llama(2);
    let wrapped: Vec<TensorDesc> = orig
        .iter()
        .map(|t| TensorDesc::new(format!("base_model.model.{}", t.name), t.shape.clone()))
        .collect();
    let a = analyze(&AnatomyInput {
        tensors: &orig,
        ..Default::default()
    });
    let b = analyze(&AnatomyInput {
        tensors: &wrapped,
        ..Default::default()
    });
    let ca: Vec<_> = a.tensors.iter().map(|t| t.canonical).collect();
    let cb: Vec<_> = b.tensors.iter().map(|t| t.canonical).collect();
    assert_eq!(ca, cb);
    assert_eq!(b.unknown().count(), 0);
}
