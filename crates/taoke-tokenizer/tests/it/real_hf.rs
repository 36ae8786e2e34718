//! The real all-MiniLM-L6-v2 tokenizer files (skipped when the test models are not fetched).

use taoke_test::{model_or_skip, test_model};
use taoke_tokenizer::{compare, load_dir, load_file, Relation, TokenKind, TokenizerKind};

#[test]
fn minilm_tokenizer_json_equals_vocab_txt() {
    let json = model_or_skip!(test_model("all-MiniLM-L6-v2/tokenizer.json"));
    let txt = model_or_skip!(test_model("all-MiniLM-L6-v2/vocab.txt"));
    let a = load_file(&json).unwrap();
    let b = load_file(&txt).unwrap();
    assert_eq!(a.kind, TokenizerKind::WordPiece);
    assert_eq!((a.len(), b.len()), (30522, 30522));
    assert!(a.hints.lowercase);
    assert_eq!(a.hints.pre.as_deref(), Some("BertPreTokenizer"));
    assert_eq!(a.special.unk, Some(100));
    assert_eq!(a.special.added, vec![0, 100, 101, 102, 103]);
    assert_eq!(
        (b.special.cls, b.special.sep, b.special.mask),
        (Some(101), Some(102), Some(103))
    );
    assert_eq!(
        b.tokens
            .iter()
            .filter(|t| t.kind == TokenKind::Unused)
            .count(),
        994
    );
    assert_eq!(a.tokens[2000].text, "to");
    assert_eq!(a.tokens[2000].norm, " to");
    let c = compare(&a, &b);
    assert_eq!(c.relation, Relation::Identical, "{}", c.summary());
    assert_eq!(c.equal_ids, 30522);
    assert!(c.special_diff.is_empty(), "{:?}", c.special_diff);
}

#[test]
fn minilm_load_dir_prefers_tokenizer_json_and_reads_special_tokens_map() {
    let json = model_or_skip!(test_model("all-MiniLM-L6-v2/tokenizer.json"));
    let v = load_dir(json.parent().unwrap()).unwrap().unwrap();
    assert!(
        v.source.starts_with("tokenizer.json (WordPiece)"),
        "{}",
        v.source
    );
    assert_eq!(
        (
            v.special.cls,
            v.special.sep,
            v.special.pad,
            v.special.mask,
            v.special.unk
        ),
        (Some(101), Some(102), Some(0), Some(103), Some(100))
    );
    assert!(load_dir(&json.parent().unwrap().join("1_Pooling"))
        .unwrap()
        .is_none());
}
