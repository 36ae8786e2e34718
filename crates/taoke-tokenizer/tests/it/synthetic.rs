//! Every reader on small hand-written inputs, and the cross-format identities the normal form
//! promises.

use taoke_tokenizer::{
    compare, encode_sentencepiece, normalize::byte_level_encode, GgmlTokenizer, Relation,
    SpecialTokens, TokenKind, TokenizerKind, Vocab,
};

/// A byte-level BPE vocabulary as raw byte strings.
const BPE_TOKENS: [&[u8]; 8] = [
    b"<|endoftext|>",
    b"a",
    b"b",
    b" ",
    b" a",
    b"ab",
    b"\n",
    b"\xc3\xa9",
];

fn bpe_stored() -> Vec<String> {
    BPE_TOKENS.iter().map(|t| byte_level_encode(t)).collect()
}

fn bpe_tokenizer_json(merges_as_pairs: bool) -> String {
    let vocab: Vec<String> = bpe_stored()
        .iter()
        .enumerate()
        .map(|(i, t)| format!("{}: {i}", serde_json::to_string(t).unwrap()))
        .collect();
    let merges = if merges_as_pairs {
        r#"[["Ġ", "a"], ["a", "b"]]"#
    } else {
        r#"["Ġ a", "a b"]"#
    };
    format!(
        r#"{{"version": "1.0",
            "added_tokens": [{{"id": 0, "content": "<|endoftext|>", "special": true}},
                             {{"id": 8, "content": "<|im_start|>", "special": true}}],
            "normalizer": null,
            "pre_tokenizer": {{"type": "ByteLevel", "add_prefix_space": false}},
            "decoder": {{"type": "ByteLevel"}},
            "model": {{"type": "BPE", "vocab": {{{}}}, "merges": {merges}}}}}"#,
        vocab.join(", ")
    )
}

#[test]
fn tokenizer_json_byte_level_bpe() {
    let v = Vocab::from_tokenizer_json(bpe_tokenizer_json(false).as_bytes()).unwrap();
    assert_eq!(v.kind, TokenizerKind::BpeByteLevel);
    assert_eq!(v.len(), 9);
    let norms: Vec<&str> = v.tokens.iter().map(|t| t.norm.as_str()).collect();
    assert_eq!(
        norms,
        [
            "<|endoftext|>",
            "a",
            "b",
            " ",
            " a",
            "ab",
            "\n",
            "é",
            "<|im_start|>"
        ]
    );
    assert_eq!(v.tokens[3].text, "Ġ");
    assert_eq!(v.tokens[0].kind, TokenKind::Special);
    assert_eq!(v.tokens[8].kind, TokenKind::Special);
    assert_eq!(v.special.added, vec![0, 8]);
    assert_eq!(
        v.merges,
        vec![("Ġ".into(), "a".into()), ("a".into(), "b".into())]
    );
    assert_eq!(v.hints.pre.as_deref(), Some("ByteLevel"));
    assert_eq!(v.hints.add_space_prefix, Some(false));

    // Merges as [["a","b"]] pairs read the same.
    let p = Vocab::from_tokenizer_json(bpe_tokenizer_json(true).as_bytes()).unwrap();
    assert_eq!(p.merges, v.merges);
    let c = compare(&v, &p);
    assert_eq!(c.relation, Relation::Identical);
    assert!(c.merges_identical);
    assert_eq!(c.merge_prefix_len, 2);
    assert_eq!(c.merges_jaccard, Some(1.0));
}

#[test]
fn byte_level_bpe_is_identical_across_three_formats() {
    let json = Vocab::from_tokenizer_json(bpe_tokenizer_json(false).as_bytes()).unwrap();

    let vocab_json = {
        let mut entries: Vec<String> = bpe_stored()
            .iter()
            .enumerate()
            .map(|(i, t)| format!("{}: {i}", serde_json::to_string(t).unwrap()))
            .collect();
        entries.push(r#""<|im_start|>": 8"#.into());
        format!("{{{}}}", entries.join(", "))
    };
    let files = Vocab::from_vocab_json_merges(
        vocab_json.as_bytes(),
        "#version: 0.2\nĠ a\na b\n".as_bytes(),
    )
    .unwrap();

    let mut types = vec![1; 9];
    types[0] = 3;
    types[8] = 3;
    let mut tokens = bpe_stored();
    tokens.push("<|im_start|>".into());
    let gguf = Vocab::from_ggml(GgmlTokenizer {
        model: "gpt2".into(),
        pre: Some("gpt-2".into()),
        tokens,
        token_types: Some(types),
        merges: vec!["Ġ a".into(), "a b".into()],
        special: SpecialTokens {
            eos: Some(0),
            ..SpecialTokens::default()
        },
        ..GgmlTokenizer::default()
    })
    .unwrap();

    for (x, y) in [(&json, &files), (&json, &gguf), (&files, &gguf)] {
        let c = compare(x, y);
        assert_eq!(c.relation, Relation::Identical, "{}", c.summary());
        assert!(c.merges_identical);
        assert_eq!(c.jaccard, 1.0);
    }
}

#[test]
fn wordpiece_vocab_txt_tokenizer_json_and_ggml_agree() {
    let txt = Vocab::from_vocab_txt(b"[PAD]\n[unused0]\n[UNK]\n[CLS]\n[SEP]\nthe\n##ing\n###\n#\n")
        .unwrap();
    let json = Vocab::from_tokenizer_json(
        br####"{"added_tokens": [{"id": 0, "content": "[PAD]", "special": true},
                               {"id": 2, "content": "[UNK]", "special": true}],
              "normalizer": {"type": "BertNormalizer", "lowercase": true},
              "pre_tokenizer": {"type": "BertPreTokenizer"},
              "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                        "vocab": {"[PAD]": 0, "[unused0]": 1, "[UNK]": 2, "[CLS]": 3, "[SEP]": 4,
                                  "the": 5, "##ing": 6, "###": 7, "#": 8}}}"####,
    )
    .unwrap();
    // llama.cpp's convention: word-initial tokens get "▁", "##" is stripped, brackets kept.
    let ggml = Vocab::from_ggml(GgmlTokenizer {
        model: "bert".into(),
        tokens: [
            "[PAD]",
            "[unused0]",
            "[UNK]",
            "[CLS]",
            "[SEP]",
            "▁the",
            "ing",
            "#",
            "▁#",
        ]
        .map(String::from)
        .to_vec(),
        token_types: Some(vec![3, 1, 3, 3, 3, 1, 1, 1, 1]),
        ..GgmlTokenizer::default()
    })
    .unwrap();
    assert_eq!(json.kind, TokenizerKind::WordPiece);
    assert!(json.hints.lowercase);
    assert_eq!(json.special.unk, Some(2));
    assert_eq!(txt.special.cls, Some(3));
    let norms: Vec<&str> = txt.tokens.iter().map(|t| t.norm.as_str()).collect();
    assert_eq!(
        norms,
        [
            "[PAD]",
            "[unused0]",
            "[UNK]",
            "[CLS]",
            "[SEP]",
            " the",
            "ing",
            "#",
            " #"
        ]
    );
    for (x, y) in [(&txt, &json), (&txt, &ggml), (&json, &ggml)] {
        let c = compare(x, y);
        assert_eq!(c.relation, Relation::Identical, "{}", c.summary());
        assert_eq!(c.equal_ids, 9);
    }
}

#[test]
fn sentencepiece_model_and_ggml_llama_agree() {
    let pieces = [
        ("<unk>", 0.0, 2),
        ("<s>", 0.0, 3),
        ("</s>", 0.0, 3),
        ("<0x0A>", 0.0, 6),
        ("<0x41>", 0.0, 6),
        ("▁the", -1.5, 1),
        ("A", -2.0, 1),
        ("▁▁", -3.25, 1),
    ];
    let bytes = encode_sentencepiece(&pieces, 2);
    let spm = Vocab::from_sentencepiece(&bytes).unwrap();
    assert_eq!(spm.kind, TokenizerKind::BpeSentencePiece);
    assert_eq!(spm.len(), 8);
    assert_eq!(spm.tokens[0].kind, TokenKind::Unknown);
    assert_eq!(spm.tokens[1].kind, TokenKind::Control);
    assert_eq!(spm.tokens[4].kind, TokenKind::Byte);
    assert_eq!(spm.tokens[5].score, Some(-1.5));
    assert_eq!(spm.tokens[7].score, Some(-3.25));
    assert_eq!(spm.tokens[5].norm, " the");
    assert_eq!(spm.tokens[7].norm, "  ");
    // The byte token for "A" stays distinct from the piece "A".
    assert_eq!(spm.tokens[4].norm, "<0x41>");
    assert_eq!(spm.tokens[6].norm, "A");
    assert_eq!(
        (
            spm.special.unk,
            spm.special.bos,
            spm.special.eos,
            spm.special.pad
        ),
        (Some(0), Some(1), Some(2), None)
    );

    let ggml = Vocab::from_ggml(GgmlTokenizer {
        model: "llama".into(),
        tokens: pieces.iter().map(|p| p.0.to_string()).collect(),
        token_types: Some(pieces.iter().map(|p| p.2).collect()),
        scores: Some(pieces.iter().map(|p| p.1).collect()),
        ..GgmlTokenizer::default()
    })
    .unwrap();
    assert_eq!(compare(&spm, &ggml).relation, Relation::Identical);

    // Unigram model type.
    let uni = Vocab::from_sentencepiece(&encode_sentencepiece(&pieces, 1)).unwrap();
    assert_eq!(uni.kind, TokenizerKind::Unigram);
}

#[test]
fn unigram_tokenizer_json() {
    let v = Vocab::from_tokenizer_json(
        r#"{"added_tokens": [], "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always"},
            "model": {"type": "Unigram", "unk_id": 1, "vocab": [["<pad>", 0.0], ["<unk>", 0.0], ["▁de", -3.5], ["s", -4.0]]}}"#
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(v.kind, TokenizerKind::Unigram);
    assert_eq!(v.special.unk, Some(1));
    assert_eq!(v.tokens[2].norm, " de");
    assert_eq!(v.tokens[3].score, Some(-4.0));
    assert_eq!(v.hints.add_space_prefix, Some(true));
}

#[test]
fn tokenizer_json_holes_become_fillers() {
    let v = Vocab::from_tokenizer_json(
        br#"{"model": {"type": "WordLevel", "vocab": {"a": 0, "c": 2}},
             "added_tokens": [{"id": 5, "content": "<x>", "special": false}]}"#,
    )
    .unwrap();
    assert_eq!(v.len(), 6);
    assert!(v.is_filler(1) && v.is_filler(3) && v.is_filler(4));
    assert_eq!(v.tokens[1].text, "[PAD1]");
    assert_eq!(v.tokens[5].kind, TokenKind::UserDefined);
    assert_eq!(v.notes.len(), 1, "{:?}", v.notes);
}

#[test]
fn duplicate_ids_resolve_deterministically() {
    let v = Vocab::from_tokenizer_json(
        br#"{"model": {"type": "WordLevel", "vocab": {"zz": 0, "aa": 0, "b": 1}}}"#,
    )
    .unwrap();
    assert_eq!(v.tokens[0].text, "aa");
    let w = Vocab::from_tokenizer_json(
        br#"{"model": {"type": "WordLevel", "vocab": {"aa": 0, "zz": 0, "b": 1}}}"#,
    )
    .unwrap();
    assert_eq!(w.tokens[0].text, "aa");
}

#[test]
fn special_tokens_map_sets_roles() {
    let mut v = Vocab::from_tokenizer_json(bpe_tokenizer_json(false).as_bytes()).unwrap();
    v.apply_special_tokens_map(
        br#"{"bos_token": "<|im_start|>", "eos_token": {"content": "<|endoftext|>"}, "unk_token": "missing"}"#,
    )
    .unwrap();
    assert_eq!(v.special.bos, Some(8));
    assert_eq!(v.special.eos, Some(0));
    assert_eq!(v.special.unk, None);
}

#[test]
fn joined_merges_with_several_spaces_split_where_both_halves_are_tokens() {
    let v = Vocab::from_tokenizer_json(
        br#"{"model": {"type": "BPE", "vocab": {"a b": 0, "c": 1, "a": 2, "b c": 3, "a b c": 4},
             "merges": ["a b c", "x y"]}}"#,
    )
    .unwrap();
    assert_eq!(v.merges[0], ("a".to_string(), "b c".to_string()));
    let w = Vocab::from_tokenizer_json(
        br#"{"model": {"type": "BPE", "vocab": {"a b": 0, "c": 1, "a b c": 4}, "merges": ["a b c"]}}"#,
    )
    .unwrap();
    assert_eq!(w.merges[0], ("a b".to_string(), "c".to_string()));
}

/// A scratch directory under the system temp dir, removed on drop.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("taoke-tokenizer-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn load_dir_reads_gpt2_style_files_with_added_tokens() {
    let d = Scratch::new("gpt2-dir");
    std::fs::write(
        d.0.join("vocab.json"),
        r#"{"a": 0, "b": 1, "Ġa": 2, "ab": 3}"#,
    )
    .unwrap();
    std::fs::write(d.0.join("merges.txt"), "#version: 0.2\nĠ a\na b\n").unwrap();
    std::fs::write(
        d.0.join("added_tokens.json"),
        r#"{"<|im_start|>": 4, "<|im_end|>": 5}"#,
    )
    .unwrap();
    std::fs::write(
        d.0.join("special_tokens_map.json"),
        r#"{"eos_token": "<|im_end|>"}"#,
    )
    .unwrap();
    let v = taoke_tokenizer::load_dir(&d.0).unwrap().unwrap();
    assert_eq!(v.len(), 6);
    assert_eq!(v.tokens[2].norm, " a");
    assert_eq!(v.tokens[5].kind, TokenKind::UserDefined);
    assert_eq!(v.tokens[5].norm, "<|im_end|>");
    assert_eq!(v.special.eos, Some(5));
    assert_eq!(v.merges.len(), 2);

    // A broken merges.txt is reported under its own path.
    std::fs::write(d.0.join("merges.txt"), "#version: 0.2\nab\n").unwrap();
    let e = taoke_tokenizer::load_dir(&d.0).unwrap_err();
    assert!(e.file().ends_with("merges.txt"), "{e}");
    assert!(e.to_string().contains("line 2"), "{e}");
    std::fs::write(d.0.join("merges.txt"), "").unwrap();
    std::fs::write(d.0.join("added_tokens.json"), r#"{"x": -3}"#).unwrap();
    let e = taoke_tokenizer::load_dir(&d.0).unwrap_err();
    assert!(e.file().ends_with("added_tokens.json"), "{e}");
}
