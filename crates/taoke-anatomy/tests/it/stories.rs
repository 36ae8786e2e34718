//! stories260K in three layouts: llama2.c, its transposed copy, and an early GGUF v1 conversion.

use std::collections::BTreeMap;

use taoke_anatomy::{
    compare_matrix_values, compare_tensor_values, CanonicalName, Family, FieldSource, QkRowOrder,
    Role, SchemeId, TensorValueRelation,
};

use crate::common::{load, Loaded};

fn stories(rel: &str) -> Option<Loaded> {
    taoke_test::shared_model(rel).map(|p| load(&p))
}

fn check_description(l: &Loaded, source: FieldSource) {
    let a = l.anatomy();
    let d = &a.description;
    let v = |f: &Option<taoke_anatomy::Field<u64>>| f.as_ref().map(|f| (f.value, f.source));
    assert_eq!(d.family.value, Family::Llama);
    assert_eq!(v(&d.hidden), Some((64, source)));
    assert_eq!(v(&d.intermediate), Some((172, source)));
    assert_eq!(v(&d.layers), Some((5, source)));
    assert_eq!(v(&d.heads), Some((8, source)));
    assert_eq!(v(&d.kv_heads), Some((4, source)));
    assert_eq!(d.head_dim.as_ref().map(|h| h.value), Some(8));
    assert_eq!(d.vocab.as_ref().map(|h| h.value), Some(512));
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
}

#[test]
fn gguf_v1_roles_and_description() {
    let Some(l) = stories("stories260K/tinyllamas-stories-260k-f32.gguf") else {
        return;
    };
    let a = l.anatomy();
    assert_eq!(a.tensors.len(), 48);
    assert_eq!(a.unknown().count(), 0);
    assert_eq!(a.primary_scheme, Some(SchemeId::Gguf));
    assert_eq!(a.qk_row_order, QkRowOrder::Interleaved);
    // An explicit classifier: not tied.
    assert_eq!(
        a.description.tied_embeddings.as_ref().map(|t| t.value),
        Some(false)
    );
    check_description(&l, FieldSource::Gguf);
}

#[test]
fn llama2c_roles_and_description() {
    for rel in [
        "stories260K/stories260K.bin",
        "stories260K/stories260K.transpose.bin",
    ] {
        let Some(l) = stories(rel) else { return };
        let a = l.anatomy();
        assert_eq!(a.unknown().count(), 0, "{rel}");
        assert_eq!(a.primary_scheme, Some(SchemeId::MetaLlama));
        // 1 embedding + 5 × 9 block tensors + final norm + 2 rope tables.
        assert_eq!(a.tensors.len(), 49);
        assert_eq!(a.qk_row_order, QkRowOrder::Interleaved);
        assert_eq!(
            a.description
                .tied_embeddings
                .as_ref()
                .map(|t| (t.value, t.source)),
            Some((true, FieldSource::Header))
        );
        check_description(&l, FieldSource::Header);
    }
}

/// Relation of each tensor of `b` to the tensor of `a` with the same canonical name (the
/// llama2.c shared classifier stands in for a missing `output`).
fn relations(a: &Loaded, b: &Loaded) -> BTreeMap<String, TensorValueRelation> {
    let (aa, ab) = (a.anatomy(), b.anatomy());
    let mut out = BTreeMap::new();
    for (j, tb) in ab.tensors.iter().enumerate() {
        let mut c = tb.canonical;
        if c.role == Role::RotaryInvFreq {
            continue;
        }
        if aa.find(&c).is_none() && c.role == Role::LmHead {
            c = CanonicalName::global(Role::TokenEmbedding, c.param);
        }
        let (i, ta) = aa.find(&c).expect("same canonical tensor in both");
        let (va, vb) = (a.values(i), b.values(j));
        let rel = match ta.shape[..] {
            [r, k] => compare_matrix_values(&va, &vb, r as usize, k as usize),
            _ => compare_tensor_values(&va, &vb),
        };
        out.insert(tb.canonical.to_string(), rel);
    }
    out
}

fn kinds(rel: &BTreeMap<String, TensorValueRelation>) -> BTreeMap<String, String> {
    // role text (without block) -> set of relations seen
    let mut k: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, r) in rel {
        let role = name.split('.').rev().nth(1).unwrap_or("").to_string();
        let t = match r {
            TensorValueRelation::Equal => "equal",
            TensorValueRelation::EqualTransposed => "equal-transposed",
            TensorValueRelation::MultisetEqual => "multiset-equal",
            TensorValueRelation::Correlated { .. } => "correlated",
            TensorValueRelation::Unrelated { .. } => "unrelated",
            TensorValueRelation::Incomparable => "incomparable",
        }
        .to_string();
        let e = k.entry(role).or_default();
        if !e.contains(&t) {
            e.push(t);
        }
    }
    k.into_iter().map(|(r, v)| (r, v.join("|"))).collect()
}

#[test]
fn gguf_v1_scrambled_tensors_are_multiset_equal_not_equal() {
    let (Some(bin), Some(gguf)) = (
        stories("stories260K/stories260K.bin"),
        stories("stories260K/tinyllamas-stories-260k-f32.gguf"),
    ) else {
        return;
    };
    let k = kinds(&relations(&bin, &gguf));
    let want: BTreeMap<String, String> = [
        ("token_embd", "equal"),
        ("output", "equal"),
        ("output_norm", "equal"),
        ("attn_norm", "equal"),
        ("ffn_norm", "equal"),
        ("attn_q", "equal-transposed"),
        ("attn_output", "equal-transposed"),
        ("attn_k", "multiset-equal"),
        ("attn_v", "multiset-equal"),
        ("ffn_gate", "multiset-equal"),
        ("ffn_up", "multiset-equal"),
        ("ffn_down", "multiset-equal"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(k, want);
}

#[test]
fn transposed_llama2c_copy_is_detected_by_content() {
    let (Some(bin), Some(tr)) = (
        stories("stories260K/stories260K.bin"),
        stories("stories260K/stories260K.transpose.bin"),
    ) else {
        return;
    };
    let k = kinds(&relations(&bin, &tr));
    for role in [
        "attn_q",
        "attn_k",
        "attn_v",
        "attn_output",
        "ffn_gate",
        "ffn_up",
        "ffn_down",
        "token_embd",
    ] {
        assert_eq!(
            k.get(role).map(String::as_str),
            Some("equal-transposed"),
            "{role}: {k:?}"
        );
    }
    for role in ["attn_norm", "ffn_norm", "output_norm"] {
        assert_eq!(k.get(role).map(String::as_str), Some("equal"), "{role}");
    }
}
