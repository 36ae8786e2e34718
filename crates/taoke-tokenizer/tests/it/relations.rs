//! The relation rules on synthetic vocabularies.

use taoke_tokenizer::{compare, GgmlTokenizer, Relation, Side, Vocab};

/// A GGUF-style sentencepiece vocabulary from `(text, type)` pairs.
fn spm(tokens: &[(&str, i32)]) -> Vocab {
    Vocab::from_ggml(GgmlTokenizer {
        model: "llama".into(),
        tokens: tokens.iter().map(|t| t.0.to_string()).collect(),
        token_types: Some(tokens.iter().map(|t| t.1).collect()),
        ..GgmlTokenizer::default()
    })
    .unwrap()
}

/// `n` ordinary word tokens `▁w0`, `▁w1`, … after `<unk> <s> </s>`.
fn words(n: usize) -> Vec<(String, i32)> {
    let mut v = vec![
        ("<unk>".to_string(), 2),
        ("<s>".into(), 3),
        ("</s>".into(), 3),
    ];
    v.extend((0..n).map(|i| (format!("▁w{i}"), 1)));
    v
}

fn build(t: &[(String, i32)]) -> Vocab {
    let r: Vec<(&str, i32)> = t.iter().map(|(s, k)| (s.as_str(), *k)).collect();
    spm(&r)
}

#[test]
fn identical_and_empty() {
    let a = build(&words(50));
    let c = compare(&a, &a.clone());
    assert_eq!(c.relation, Relation::Identical);
    assert_eq!(c.equal_id_fraction, 1.0);
    assert_eq!(c.equal_id_prefix_len, 53);
    assert_eq!(c.id_shift.map(|s| (s.shift, s.tokens)), Some((0, 53)));
    let e = spm(&[]);
    let c = compare(&e, &e);
    assert_eq!(c.relation, Relation::Identical);
    assert_eq!(c.jaccard, 1.0);
}

#[test]
fn extended_lists_added_tokens_both_ways() {
    let base = words(200);
    let mut ext = base.clone();
    ext.push(("<|user|>".into(), 3));
    ext.push(("[PAD204]".into(), 5));
    let (a, b) = (build(&base), build(&ext));
    for (x, y, side) in [(&a, &b, Side::A), (&b, &a, Side::B)] {
        let c = compare(x, y);
        let Relation::Extended {
            base,
            added,
            changed,
        } = &c.relation
        else {
            panic!("{}", c.summary())
        };
        assert_eq!(*base, side);
        assert_eq!(added.total, 2);
        assert_eq!(added.tokens[0].id, 203);
        assert_eq!(added.tokens[0].token, "<|user|>");
        assert_eq!(added.tokens[1].token, "[PAD204]");
        assert_eq!(changed.total, 0);
        assert!(
            c.summary().contains("1 of them llama.cpp [PADn] fillers"),
            "{}",
            c.summary()
        );
    }
}

#[test]
fn extended_tolerates_a_renamed_special_token_but_not_a_normal_one() {
    let base = words(300);
    let mut ext = base.clone();
    ext[1] = ("<|begin|>".into(), 3);
    ext.push(("<|user|>".into(), 3));
    let c = compare(&build(&base), &build(&ext));
    let Relation::Extended { changed, .. } = &c.relation else {
        panic!("{}", c.summary())
    };
    assert_eq!(changed.total, 1);
    assert_eq!(
        (
            changed.items[0].id,
            changed.items[0].a.as_str(),
            changed.items[0].b.as_str()
        ),
        (1, "<s>", "<|begin|>")
    );

    // A normal token changed: no longer an extension, but a modified copy.
    let mut edited = ext.clone();
    edited[10] = ("▁other".into(), 1);
    let c = compare(&build(&base), &build(&edited));
    let Relation::Modified { changed } = &c.relation else {
        panic!("{}", c.summary())
    };
    assert_eq!(changed.total, 2);
}

#[test]
fn same_length_rename_is_modified() {
    let base = words(100);
    let mut renamed = base.clone();
    renamed[2] = ("<|eot|>".into(), 3);
    let c = compare(&build(&base), &build(&renamed));
    assert!(
        matches!(c.relation, Relation::Modified { .. }),
        "{}",
        c.summary()
    );
    assert!(c.relation.is_derivation());
}

#[test]
fn shifted_vocabulary_is_reordered_with_a_dominant_shift() {
    let base = words(1000);
    let mut shifted: Vec<(String, i32)> = vec![("<fim>".into(), 3), ("<pre>".into(), 3)];
    shifted.extend(base.iter().cloned());
    let c = compare(&build(&base), &build(&shifted));
    assert_eq!(c.relation, Relation::Reordered, "{}", c.summary());
    assert_eq!(c.id_shift.map(|s| (s.shift, s.tokens)), Some((2, 1003)));
    assert_eq!(c.only_b.total, 2);
    assert_eq!(c.only_b.tokens[0].token, "<fim>");
    assert!(c.summary().contains("moved by +2 ids"), "{}", c.summary());
}

#[test]
fn overlap_and_unrelated_thresholds() {
    // 1000 + 1000 tokens sharing 500: Jaccard 503/1503 ≈ 0.335 (the 3 control tokens shared).
    let a = build(&words(1000));
    let mut other = words(0);
    other.extend((500..1500).map(|i| (format!("▁w{i}"), 1)));
    other.swap(5, 6);
    let c = compare(&a, &build(&other));
    assert_eq!(c.shared_tokens, 503);
    assert!((c.jaccard - 503.0 / 1503.0).abs() < 1e-12);
    assert_eq!(c.relation, Relation::Overlapping, "{}", c.summary());
    let mut far = words(0);
    far.extend((900..1900).map(|i| (format!("▁w{i}"), 1)));
    let c = compare(&a, &build(&far));
    assert_eq!(c.relation, Relation::Unrelated);
    assert!(!c.relation.is_derivation());
}

#[test]
fn fillers_do_not_count_as_shared_tokens() {
    let mut a = words(10);
    a.extend((13..20).map(|i| (format!("[PAD{i}]"), 5)));
    let mut b = vec![("<x>".to_string(), 3)];
    b.extend((1..20).map(|i| (format!("[PAD{i}]"), 5)));
    let c = compare(&build(&a), &build(&b));
    assert_eq!(c.shared_tokens, 0);
    assert_eq!(c.jaccard, 0.0);
}

#[test]
fn output_is_deterministic() {
    let a = build(&words(500));
    let mut o = words(0);
    o.extend((250..900).map(|i| (format!("▁w{i}"), 1)));
    let b = build(&o);
    let first = compare(&a, &b);
    for _ in 0..3 {
        assert_eq!(compare(&a, &b), first);
    }
    let mut sorted = first.only_a.tokens.clone();
    sorted.sort_by(|x, y| x.token.cmp(&y.token));
    assert_eq!(sorted, first.only_a.tokens);
}

#[test]
fn special_and_hint_differences_do_not_break_identity() {
    let t: Vec<String> = words(20).into_iter().map(|x| x.0).collect();
    let mk = |pre: &str, eos: u32| {
        Vocab::from_ggml(GgmlTokenizer {
            model: "llama".into(),
            pre: Some(pre.into()),
            tokens: t.clone(),
            special: taoke_tokenizer::SpecialTokens {
                eos: Some(eos),
                ..Default::default()
            },
            ..GgmlTokenizer::default()
        })
        .unwrap()
    };
    let c = compare(&mk("qwen2", 2), &mk("qwen35", 1));
    assert_eq!(c.relation, Relation::Identical);
    assert_eq!(c.hint_diff, vec!["pre: qwen2 vs qwen35".to_string()]);
    assert_eq!(c.special_diff.len(), 1);
    assert_eq!(c.special_diff[0].role, "eos");
    let s = c.summary();
    assert!(s.starts_with("identical vocabularies: 23 tokens"), "{s}");
    assert!(s.contains("eos differs"), "{s}");
}

#[test]
fn comparison_serializes_to_json() {
    let base = words(10);
    let mut ext = base.clone();
    ext.push(("<|user|>".into(), 3));
    let c = compare(&build(&base), &build(&ext));
    let v = serde_json::to_value(&c).unwrap();
    assert_eq!(v["relation"]["kind"], "extended");
    assert_eq!(v["relation"]["base"], "a");
    assert_eq!(v["relation"]["added"]["total"], 1);
    assert_eq!(v["relation"]["added"]["tokens"][0]["token"], "<|user|>");
    assert_eq!(v["kind_a"], "bpe-sentencepiece");
    assert_eq!(v["len_b"], 14);
    let u = serde_json::to_value(compare(&build(&base), &build(&words(0)))).unwrap();
    assert_eq!(u["relation"]["kind"], "extended");
    let r = serde_json::to_value(Relation::Reordered).unwrap();
    assert_eq!(r, serde_json::json!({"kind": "reordered"}));
}
