//! Hostile and broken inputs: every error names the file and the field, nothing panics.

use taoke_tokenizer::{
    encode_sentencepiece, Error, GgmlTokenizer, Vocab, MAX_TOKEN_LEN, MAX_VOCAB,
};

fn msg(r: Result<Vocab, Error>) -> String {
    r.expect_err("expected an error").to_string()
}

#[test]
fn json_errors_name_file_and_field() {
    let e = msg(Vocab::from_tokenizer_json(
        b"{\"model\": {\"type\": \"BPE\"}}",
    ));
    assert!(
        e.starts_with("tokenizer.json: field `model.vocab`: missing"),
        "{e}"
    );
    let e = msg(Vocab::from_tokenizer_json(b"{\"model\": 3"));
    assert!(e.starts_with("tokenizer.json: invalid JSON"), "{e}");
    let e = msg(Vocab::from_tokenizer_json(
        br#"{"model": {"type": "Unigram", "vocab": [["a", 0.0], ["b"]]}}"#,
    ));
    assert!(
        e.contains("field `model.vocab[1]`: expected [piece, score]"),
        "{e}"
    );
    let e = msg(Vocab::from_tokenizer_json(
        br#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["ab"]}}"#,
    ));
    assert!(e.contains("`model.merges[0]`"), "{e}");
    let e = msg(Vocab::from_tokenizer_json(
        br#"{"model": {"type": "WordLevel", "vocab": {"a": -1}}}"#,
    ));
    assert!(e.contains("`model.vocab[\"a\"]`"), "{e}");
}

#[test]
fn huge_ids_are_rejected_before_allocating() {
    let e = msg(Vocab::from_tokenizer_json(
        br#"{"model": {"type": "WordLevel", "vocab": {"a": 1000000000000}}}"#,
    ));
    assert!(e.contains("largest id 1000000000000 for 1 entries"), "{e}");
    let e = msg(Vocab::from_tokenizer_json(
        br#"{"model": {"type": "WordLevel", "vocab": {"a": 0}}, "added_tokens": [{"id": 99999999, "content": "x"}]}"#,
    ));
    assert!(e.contains("largest id 99999999 for 2 entries"), "{e}");
    let e = msg(Vocab::from_vocab_json_merges(br#"{"a": 4294967296}"#, b""));
    assert!(e.starts_with("vocab.json"), "{e}");
    // An id past MAX_VOCAB in a Unigram list cannot occur (ids are positions), and in a map
    // it is caught by the density check first; the MAX_VOCAB check guards GGUF inputs.
    let e = msg(Vocab::from_ggml(GgmlTokenizer {
        model: "llama".into(),
        tokens: vec![String::new(); MAX_VOCAB + 1],
        ..GgmlTokenizer::default()
    }));
    assert!(e.contains(&format!("exceed the cap of {MAX_VOCAB}")), "{e}");
}

#[test]
fn sparse_ids_are_rejected_before_allocating_fillers() {
    let e = msg(Vocab::from_tokenizer_json(
        br#"{"model": {"type": "WordLevel", "vocab": {"a": 0, "b": 4000000}}}"#,
    ));
    assert!(
        e.contains("field `model.vocab`: ids are too sparse: largest id 4000000 for 2 entries"),
        "{e}"
    );
    let e = msg(Vocab::from_vocab_json_merges_added(
        br#"{"a": 0}"#,
        b"",
        Some(br#"{"x": 100000}"#),
    ));
    assert!(
        e.starts_with("vocab.json: field `(root)`: ids are too sparse"),
        "{e}"
    );
    // A few holes are fine (and filled).
    let v = Vocab::from_tokenizer_json(
        br#"{"model": {"type": "WordLevel", "vocab": {"a": 0, "b": 4000}}}"#,
    )
    .unwrap();
    assert_eq!(v.len(), 4001);
}

#[test]
fn deep_json_nesting_is_rejected_by_the_recursion_limit() {
    let deep = format!(
        r#"{{"model": {{"type": "WordLevel", "vocab": {{"a": 0}}}}, "normalizer": {}{}}}"#,
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let e = msg(Vocab::from_tokenizer_json(deep.as_bytes()));
    assert!(e.contains("recursion limit"), "{e}");
}

#[test]
fn long_tokens_are_capped() {
    let long = "x".repeat(MAX_TOKEN_LEN + 1);
    let e = msg(Vocab::from_vocab_txt(format!("a\n{long}\n").as_bytes()));
    assert!(e.contains("vocab.txt: field `vocab`: token 1 is"), "{e}");
    let e = msg(Vocab::from_sentencepiece(&encode_sentencepiece(
        &[(&long, 0.0, 1)],
        1,
    )));
    assert!(
        e.contains("tokenizer.model: field `pieces`: token 0"),
        "{e}"
    );
}

#[test]
fn broken_protobuf_is_reported_with_offsets() {
    let good = encode_sentencepiece(&[("<unk>", 0.0, 2), ("▁a", -1.0, 1)], 1);
    // Every truncation either fails cleanly or reads a prefix of the pieces.
    for cut in 0..good.len() {
        if let Ok(v) = Vocab::from_sentencepiece(&good[..cut]) {
            assert!(v.len() <= 2);
        }
    }
    let e = msg(Vocab::from_sentencepiece(&good[..good.len() - 1]));
    assert!(e.starts_with("tokenizer.model: protobuf field `"), "{e}");
    // A length running past the end.
    let e = msg(Vocab::from_sentencepiece(&[0x0A, 0xFF, 0xFF, 0x03, 0x01]));
    assert!(
        e.contains("length 65535 exceeds the 1 bytes remaining"),
        "{e}"
    );
    // An 11-byte varint.
    let e = msg(Vocab::from_sentencepiece(&[
        0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01,
    ]));
    assert!(e.contains("varint longer than 10 bytes"), "{e}");
    // Wire type 3 (groups) is not supported.
    let e = msg(Vocab::from_sentencepiece(&[0x0B]));
    assert!(e.contains("unsupported wire type 3"), "{e}");
    // pieces (field 1) as a varint.
    let e = msg(Vocab::from_sentencepiece(&[0x08, 0x01]));
    assert!(e.contains("field 1 is not length-delimited"), "{e}");
    // A piece without text, and non-UTF-8 text.
    let e = msg(Vocab::from_sentencepiece(&[0x0A, 0x02, 0x18, 0x01]));
    assert!(
        e.contains("`pieces[0].piece`") && e.contains("missing"),
        "{e}"
    );
    let e = msg(Vocab::from_sentencepiece(&[0x0A, 0x03, 0x0A, 0x01, 0xFF]));
    assert!(e.contains("not UTF-8"), "{e}");
}

#[test]
fn ggml_length_mismatches_are_errors() {
    let e = msg(Vocab::from_ggml(GgmlTokenizer {
        model: "llama".into(),
        tokens: vec!["a".into(), "b".into()],
        token_types: Some(vec![1]),
        ..GgmlTokenizer::default()
    }));
    assert_eq!(
        e,
        "GGUF metadata: field `tokenizer.ggml.token_type`: 1 entries for 2 tokens"
    );
    let e = msg(Vocab::from_ggml(GgmlTokenizer {
        model: "gpt2".into(),
        tokens: vec!["a".into()],
        merges: vec!["ab".into()],
        ..GgmlTokenizer::default()
    }));
    assert!(e.contains("`tokenizer.ggml.merges[0]`"), "{e}");
}

#[test]
fn out_of_range_special_ids_are_dropped_with_a_note() {
    let v = Vocab::from_ggml(GgmlTokenizer {
        model: "llama".into(),
        tokens: vec!["a".into()],
        special: taoke_tokenizer::SpecialTokens {
            bos: Some(7),
            ..Default::default()
        },
        ..GgmlTokenizer::default()
    })
    .unwrap();
    assert_eq!(v.special.bos, None);
    assert_eq!(
        v.notes,
        vec!["bos id 7 is out of range for 1 tokens; ignored".to_string()]
    );
}

#[test]
fn with_file_renames() {
    let e = Vocab::from_vocab_txt(b"\xff")
        .unwrap_err()
        .with_file("model/vocab.txt");
    assert!(e.to_string().starts_with("model/vocab.txt: line 1"), "{e}");
}

/// A normalizer (or pre-tokenizer, decoder) section of junk is refused from its text length,
/// before it is built as a JSON value.
#[test]
fn oversized_sections_are_refused_before_they_are_built() {
    let junk = format!(
        r#"{{"model":{{"type":"WordPiece","vocab":{{"a":0}}}},"normalizer":[{}0]}}"#,
        "0,".repeat(taoke_tokenizer::MAX_SECTION_LEN)
    );
    let e = msg(Vocab::from_tokenizer_json(junk.as_bytes()));
    assert!(e.contains("field `normalizer`"), "{e}");
    assert!(e.contains("more than the cap"), "{e}");
    // Small sections still give their hints.
    let v = Vocab::from_tokenizer_json(
        br#"{"model":{"type":"WordPiece","vocab":{"a":0}},"normalizer":{"type":"Lowercase"},"decoder":null}"#,
    )
    .expect("reads");
    assert!(v.hints.lowercase);
}

/// Files of a model folder are read only when they are regular files inside the folder, and
/// a refused file names its cause (never "no tokenizer").
#[test]
fn folder_files_are_confined_regular_and_capped() {
    let root = tempfile::tempdir().expect("tempdir");
    let secret = root.path().join("secret.txt");
    std::fs::write(&secret, "[PAD]\nsecret\n").expect("write");
    let dir = root.path().join("model");
    std::fs::create_dir(&dir).expect("mkdir");
    std::os::unix::fs::symlink(&secret, dir.join("vocab.txt")).expect("symlink");
    let e = taoke_tokenizer::load_dir(&dir)
        .expect_err("a vocab.txt outside the folder is refused")
        .to_string();
    assert!(e.contains("vocab.txt"), "{e}");
    assert!(e.contains("outside the model folder"), "{e}");
    // A link that stays inside is followed.
    std::fs::remove_file(dir.join("vocab.txt")).expect("rm");
    std::fs::write(dir.join("real.txt"), "[PAD]\n[UNK]\nthe\n").expect("write");
    std::os::unix::fs::symlink("real.txt", dir.join("vocab.txt")).expect("symlink");
    let v = taoke_tokenizer::load_dir(&dir)
        .expect("reads")
        .expect("has a vocabulary");
    assert_eq!(v.tokens.len(), 3);
    // A sparse tokenizer.json over the cap: refused from its size.
    let f = std::fs::File::create(dir.join("tokenizer.json")).expect("create");
    f.set_len(taoke_tokenizer::MAX_JSON_LEN as u64 + 1)
        .expect("set_len");
    let e = taoke_tokenizer::load_dir(&dir)
        .expect_err("over the cap")
        .to_string();
    assert!(e.contains("tokenizer.json"), "{e}");
    assert!(e.contains("more than the cap"), "{e}");
    // A FIFO: refused without blocking.
    std::fs::remove_file(dir.join("tokenizer.json")).expect("rm");
    let st = std::process::Command::new("mkfifo")
        .arg(dir.join("tokenizer.json"))
        .status()
        .expect("mkfifo");
    assert!(st.success());
    let e = taoke_tokenizer::load_dir(&dir)
        .expect_err("a FIFO is refused")
        .to_string();
    assert!(e.contains("FIFO"), "{e}");
}
