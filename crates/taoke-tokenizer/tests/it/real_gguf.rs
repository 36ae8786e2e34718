//! The 19 llama.cpp vocabulary-only GGUFs and SmolLM2's GGUF tokenizer (skipped when the test
//! models are not fetched): sizes, merges, the relations test-models.md measured, and a
//! relation matrix for the docs.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use taoke_gguf::Gguf;
use taoke_tokenizer::{
    compare, ggml_keys as k, GgmlTokenizer, Relation, Side, SpecialTokens, TokenKind,
    TokenizerKind, Vocab, VocabComparison,
};

/// The 19 vocabularies with their token and merge counts.
const VOCABS: [(&str, usize, usize); 19] = [
    ("aquila", 100008, 99743),
    ("baichuan", 64000, 0),
    ("bert-bge", 30522, 0),
    ("command-r", 256000, 253333),
    ("deepseek-coder", 32256, 31757),
    ("deepseek-llm", 102400, 99757),
    ("falcon", 65024, 64784),
    ("gemma-4", 262144, 514906),
    ("gpt-2", 50257, 50000),
    ("gpt-neox", 50432, 50009),
    ("llama-bpe", 128256, 280147),
    ("llama-spm", 32000, 0),
    ("mpt", 50432, 50009),
    ("nomic-bert-moe", 250048, 0),
    ("phi-3", 32064, 0),
    ("qwen2", 151936, 151387),
    ("qwen35", 151936, 151387),
    ("refact", 49216, 48891),
    ("starcoder", 49152, 48872),
];

/// Reads the tokenizer keys of a GGUF into a [`Vocab`].
pub fn vocab_from_gguf(bytes: &[u8]) -> Vocab {
    let g = Gguf::parse(bytes).expect("gguf parses");
    let strings = |key: &str| -> Vec<String> {
        g.get_str_array(key)
            .map(|v| v.into_iter().map(String::from).collect())
            .unwrap_or_default()
    };
    let id = |key: &str| g.get_u64(key).and_then(|v| u32::try_from(v).ok());
    Vocab::from_ggml(GgmlTokenizer {
        model: g
            .get_str(k::MODEL)
            .expect("tokenizer.ggml.model")
            .to_string(),
        pre: g.get_str(k::PRE).map(String::from),
        tokens: strings(k::TOKENS),
        token_types: g
            .get_i64_array(k::TOKEN_TYPE)
            .map(|v| v.into_iter().map(|t| t as i32).collect()),
        scores: g
            .get_f64_array(k::SCORES)
            .map(|v| v.into_iter().map(|s| s as f32).collect()),
        merges: strings(k::MERGES),
        special: SpecialTokens {
            bos: id(k::BOS),
            eos: id(k::EOS),
            unk: id(k::UNK),
            pad: id(k::PAD),
            sep: id(k::SEP),
            cls: id(k::CLS),
            mask: id(k::MASK),
            added: Vec::new(),
        },
        add_space_prefix: g.get_bool(k::ADD_SPACE_PREFIX),
    })
    .expect("vocabulary builds")
}

/// All 19 vocabularies plus `smollm2` and `minilm` (tokenizer.json), or `None` when the test
/// models are missing (the first test to ask reports the skip).
fn all() -> Option<&'static BTreeMap<String, Vocab>> {
    static ALL: OnceLock<Option<BTreeMap<String, Vocab>>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut m = BTreeMap::new();
        for (name, _, _) in VOCABS {
            let p = taoke_test::test_model(&format!("ggml-vocab/ggml-vocab-{name}.gguf"))?;
            let bytes = fs_err::read(&p).expect("read gguf");
            m.insert(name.to_string(), vocab_from_gguf(&bytes));
        }
        let p =
            taoke_test::test_model("SmolLM2-135M-Instruct-Q4_1/SmolLM2-135M-Instruct.Q4_1.gguf")?;
        m.insert(
            "smollm2".into(),
            vocab_from_gguf(&fs_err::read(&p).expect("read gguf")),
        );
        let p = taoke_test::test_model("all-MiniLM-L6-v2/tokenizer.json")?;
        m.insert(
            "minilm".into(),
            taoke_tokenizer::load_file(&p).expect("minilm"),
        );
        Some(m)
    })
    .as_ref()
}

fn cmp(a: &str, b: &str) -> Option<VocabComparison> {
    let all = all()?;
    Some(compare(&all[a], &all[b]))
}

fn assert_close(what: &str, got: f64, want: f64, tol: f64) {
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got}, want {want} ± {tol}"
    );
}

#[test]
fn every_vocabulary_loads_with_its_size_and_merges() {
    let Some(all) = all() else { return };
    for (name, len, merges) in VOCABS {
        let v = &all[name];
        assert_eq!((v.len(), v.merges.len()), (len, merges), "{name}");
    }
    let kind = |n: &str| all[n].kind;
    assert_eq!(kind("gpt-2"), TokenizerKind::BpeByteLevel);
    assert_eq!(kind("llama-spm"), TokenizerKind::BpeSentencePiece);
    assert_eq!(kind("gemma-4"), TokenizerKind::BpeSentencePiece);
    assert_eq!(kind("bert-bge"), TokenizerKind::WordPiece);
    assert_eq!(kind("nomic-bert-moe"), TokenizerKind::Unigram);
    assert_eq!(
        (all["smollm2"].len(), all["smollm2"].merges.len()),
        (49152, 48900)
    );
    // llama.cpp fillers for unassigned ids.
    let fillers = |n: &str| (0..all[n].len()).filter(|&i| all[n].is_filler(i)).count();
    assert_eq!(fillers("qwen2"), 290);
    assert_eq!(fillers("phi-3"), 53);
    assert_eq!(fillers("nomic-bert-moe"), 46);
    assert_eq!(fillers("gpt-2"), 0);
    // Normal forms of a few known tokens.
    assert_eq!(all["gpt-2"].tokens[262].text, "\u{120}the");
    assert_eq!(all["gpt-2"].tokens[262].norm, " the");
    assert_eq!(all["llama-spm"].tokens[13].norm, "<0x0A>");
    assert_eq!(all["bert-bge"].tokens[2000].norm, " to");
}

#[test]
fn qwen2_and_qwen35_are_identical() {
    let Some(c) = cmp("qwen2", "qwen35") else {
        return;
    };
    assert_eq!(c.relation, Relation::Identical);
    assert!(c.merges_identical);
    assert_eq!(c.merge_prefix_len, 151387);
    assert!(c.special_diff.is_empty());
    assert_eq!(c.hint_diff, ["pre: qwen2 vs qwen35"]);
}

#[test]
fn gpt_neox_and_mpt_are_identical() {
    let Some(c) = cmp("gpt-neox", "mpt") else {
        return;
    };
    assert_eq!(c.relation, Relation::Identical);
    assert!(c.merges_identical);
    assert_eq!(c.shared_tokens, 50432 - 155 - 23);
}

#[test]
fn bert_bge_gguf_is_minilm_tokenizer_json_and_vocab_txt() {
    let Some(all) = all() else { return };
    let txt = taoke_test::test_model("all-MiniLM-L6-v2/vocab.txt").expect("fetched with the rest");
    let txt = taoke_tokenizer::load_file(&txt).unwrap();
    for other in [&all["minilm"], &txt] {
        let c = compare(&all["bert-bge"], other);
        assert_eq!(c.relation, Relation::Identical, "{}", c.summary());
        assert_eq!(c.equal_ids, 30522);
        assert!(c.special_diff.is_empty(), "{:?}", c.special_diff);
        // A GGUF `pre` name and a tokenizer.json pre-tokenizer type are not compared.
        assert!(c.hint_diff.is_empty());
    }
}

#[test]
fn phi3_extends_llama_spm_by_64_tokens() {
    let Some(c) = cmp("llama-spm", "phi-3") else {
        return;
    };
    let Relation::Extended {
        base,
        added,
        changed,
    } = &c.relation
    else {
        panic!("{}", c.summary())
    };
    assert_eq!(*base, Side::A);
    assert_eq!(changed.total, 0);
    assert_eq!((added.total, added.fillers), (64, 53));
    let named: Vec<&str> = added.tokens[..11]
        .iter()
        .map(|t| t.token.as_str())
        .collect();
    assert_eq!(
        named,
        [
            "<|endoftext|>",
            "<|assistant|>",
            "<|placeholder1|>",
            "<|placeholder2|>",
            "<|placeholder3|>",
            "<|placeholder4|>",
            "<|system|>",
            "<|end|>",
            "<|placeholder5|>",
            "<|placeholder6|>",
            "<|user|>",
        ]
    );
    assert_eq!(added.tokens[0].id, 32000);
    for (k, t) in added.tokens[11..].iter().enumerate() {
        assert_eq!(t.token, format!("[PAD{}]", 32011 + k));
    }
    assert_eq!(c.equal_id_prefix_len, 32000);
    assert_eq!(c.only_b.total, 11);
    // Same relation seen from the other side.
    let Some(r) = cmp("phi-3", "llama-spm") else {
        return;
    };
    assert!(matches!(
        r.relation,
        Relation::Extended { base: Side::B, .. }
    ));
    assert!(c.summary().starts_with("B extends A: B holds A's 32000 tokens at the same ids plus 64 tokens added at the end (53 of them llama.cpp [PADn] fillers"), "{}", c.summary());
}

#[test]
fn refact_and_starcoder_are_reordered() {
    let Some(c) = cmp("refact", "starcoder") else {
        return;
    };
    assert_eq!(c.relation, Relation::Reordered, "{}", c.summary());
    assert_eq!(
        (c.shared_tokens, c.only_a.total, c.only_b.total),
        (49060, 92, 92)
    );
    assert_close("jaccard", c.jaccard, 49060.0 / 49244.0, 1e-12);
    assert_close("jaccard", c.jaccard, 0.99626, 5e-5);
    assert_eq!(c.equal_ids, 455);
    assert_close("equal ids", c.equal_id_fraction, 0.00926, 5e-5);
    assert_eq!(c.equal_id_prefix_len, 5);
    assert_eq!(c.id_shift.map(|s| (s.shift, s.tokens)), Some((19, 1415)));
    assert_close("merges jaccard", c.merges_jaccard.unwrap(), 0.99594, 5e-5);
    assert!(c.only_a.tokens.iter().any(|t| t.token == "<filename>"));
    assert!(c.only_b.tokens.iter().any(|t| t.token == "<repo_name>"));
}

#[test]
fn gpt2_and_smollm2_overlap_without_derivation() {
    let Some(c) = cmp("gpt-2", "smollm2") else {
        return;
    };
    assert_eq!(c.relation, Relation::Overlapping, "{}", c.summary());
    assert!(!c.relation.is_related());
    assert_eq!(c.shared_tokens, 36961);
    assert_close("jaccard", c.jaccard, 0.59187, 5e-5);
    assert_eq!(c.equal_ids, 20);
    assert_close("merges jaccard", c.merges_jaccard.unwrap(), 0.48467, 5e-5);
}

#[test]
fn smollm2_and_starcoder_have_equal_size_but_unrelated_vocabularies() {
    let Some(c) = cmp("smollm2", "starcoder") else {
        return;
    };
    assert_eq!((c.len_a, c.len_b), (49152, 49152));
    assert_eq!(c.relation, Relation::Unrelated, "{}", c.summary());
    assert_eq!(c.shared_tokens, 20614);
    assert_close("jaccard", c.jaccard, 0.26534, 5e-5);
    assert_eq!(c.equal_ids, 2);
}

#[test]
fn llama3_and_qwen2_share_a_block_of_tokens() {
    let Some(c) = cmp("llama-bpe", "qwen2") else {
        return;
    };
    assert_eq!(
        c.relation,
        Relation::SharedBlock {
            shift: -1100,
            tokens: 71871
        },
        "{}",
        c.summary()
    );
    assert_close("jaccard", c.jaccard, 0.64323, 5e-5);
    assert_eq!(c.equal_id_prefix_len, 410);
}

/// The pairs with a known relation; every other pair must come out unrelated or overlapping.
const KNOWN: [(&str, &str, &str); 9] = [
    ("qwen2", "qwen35", "identical"),
    ("gpt-neox", "mpt", "identical"),
    ("bert-bge", "minilm", "identical"),
    ("llama-spm", "phi-3", "extended"),
    ("refact", "starcoder", "reordered"),
    ("llama-bpe", "qwen2", "shared-block"),
    ("llama-bpe", "qwen35", "shared-block"),
    ("gpt-2", "smollm2", "overlapping"),
    ("smollm2", "starcoder", "unrelated"),
];

#[test]
fn relation_matrix() {
    let Some(all) = all() else { return };
    let names: Vec<&str> = all.keys().map(String::as_str).collect();
    let code = |r: &Relation| match r {
        Relation::Identical => '=',
        Relation::Extended { .. } => 'E',
        Relation::Modified { .. } => 'M',
        Relation::Reordered => 'R',
        Relation::SharedBlock { .. } => 'S',
        Relation::Overlapping => 'o',
        _ => '.',
    };
    let n = names.len();
    let mut cells = vec![vec![String::from("   -"); n]; n];
    let mut counts = BTreeMap::new();
    for (i, a) in names.iter().enumerate() {
        for (j, b) in names.iter().enumerate().skip(i + 1) {
            let c = compare(&all[*a], &all[*b]);
            let cell = format!("{}{:>3}", code(&c.relation), (100.0 * c.jaccard).round());
            cells[i][j] = cell.clone();
            cells[j][i] = cell;
            *counts.entry(c.relation.name()).or_insert(0) += 1;
            let known = KNOWN
                .iter()
                .find(|(x, y, _)| (x == a && y == b) || (x == b && y == a));
            match known {
                Some((_, _, want)) => {
                    assert_eq!(c.relation.name(), *want, "{a} vs {b}: {}", c.summary())
                }
                None => assert!(
                    !c.relation.is_related(),
                    "{a} vs {b} must not look related: {}",
                    c.summary()
                ),
            }
        }
    }
    let mut table = format!("{:17}", "");
    for j in 0..n {
        table.push_str(&format!(" {j:>4}"));
    }
    table.push('\n');
    for (i, a) in names.iter().enumerate() {
        table.push_str(&format!("{i:>2} {a:14}"));
        for cell in &cells[i] {
            table.push_str(&format!(" {cell}"));
        }
        table.push('\n');
    }
    eprintln!(
        "vocabulary relations (= identical, E extended, M modified, R reordered, S shared block, \
         o overlapping, . unrelated) and Jaccard in %:\n{table}"
    );
    eprintln!("counts over {} pairs: {counts:?}", n * (n - 1) / 2);
    assert_eq!(counts.get("identical"), Some(&3));
    assert_eq!(counts.get("extended"), Some(&1));
    assert_eq!(counts.get("reordered"), Some(&1));
    assert_eq!(counts.get("shared-block"), Some(&2));
    assert_eq!(counts.get("modified"), None);
    assert_eq!(counts.get("overlapping"), Some(&50));
    assert_eq!(counts.get("unrelated"), Some(&153));
}

#[test]
fn clearly_unrelated_families_are_not_derivations() {
    for (a, b) in [
        ("gpt-2", "llama-bpe"),
        ("falcon", "qwen2"),
        ("gpt-2", "gpt-neox"),
        ("llama-spm", "gemma-4"),
        ("bert-bge", "nomic-bert-moe"),
        ("baichuan", "llama-spm"),
    ] {
        let Some(c) = cmp(a, b) else { return };
        assert!(!c.relation.is_related(), "{a} vs {b}: {}", c.summary());
        assert!(c.equal_id_fraction < 0.01, "{a} vs {b}");
    }
}

/// Real vocabularies written into the other formats read back identical: the normal form does
/// not depend on the file.
#[test]
fn real_vocabularies_round_trip_through_other_formats() {
    let Some(all) = all() else { return };

    // gpt-2 as vocab.json + merges.txt (GGUF stores the same byte-level text).
    let g = &all["gpt-2"];
    let mut map = serde_json::Map::new();
    for (i, t) in g.tokens.iter().enumerate() {
        map.insert(t.text.clone(), serde_json::Value::from(i));
    }
    let vocab_json = serde_json::to_vec(&map).unwrap();
    let mut merges_txt = String::from("#version: 0.2\n");
    for (a, b) in &g.merges {
        merges_txt.push_str(&format!("{a} {b}\n"));
    }
    let files = Vocab::from_vocab_json_merges(&vocab_json, merges_txt.as_bytes()).unwrap();
    let c = compare(g, &files);
    assert_eq!(c.relation, Relation::Identical, "{}", c.summary());
    assert!(c.merges_identical);

    // qwen2 as tokenizer.json: ordinary tokens in model.vocab, control tokens as special
    // added tokens, fillers left out (the reader fills the holes back).
    let q = &all["qwen2"];
    let mut vocab = serde_json::Map::new();
    let mut added = Vec::new();
    for (i, t) in q.tokens.iter().enumerate() {
        match t.kind {
            TokenKind::Normal => {
                vocab.insert(t.text.clone(), serde_json::Value::from(i));
            }
            TokenKind::Control => {
                added.push(serde_json::json!({"id": i, "content": t.text, "special": true}))
            }
            _ => assert!(q.is_filler(i), "{i} {:?}", t),
        }
    }
    let merges: Vec<[&str; 2]> = q
        .merges
        .iter()
        .map(|(a, b)| [a.as_str(), b.as_str()])
        .collect();
    let json = serde_json::json!({
        "added_tokens": added,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split"}, {"type": "ByteLevel"}]},
        "model": {"type": "BPE", "vocab": vocab, "merges": merges},
    });
    let hf = Vocab::from_tokenizer_json(&serde_json::to_vec(&json).unwrap()).unwrap();
    assert_eq!(hf.kind, TokenizerKind::BpeByteLevel);
    assert_eq!(hf.hints.pre.as_deref(), Some("Sequence[Split,ByteLevel]"));
    // The GGUF is padded to 151,936 ids (the embedding rows); the tokenizer.json ends at the
    // last assigned id, as Qwen's own file does.
    assert_eq!(hf.len(), 151646);
    let c = compare(q, &hf);
    let Relation::Extended {
        base: Side::B,
        added,
        changed,
    } = &c.relation
    else {
        panic!("{}", c.summary())
    };
    assert_eq!((added.total, added.fillers, changed.total), (290, 290, 0));
    assert!(c.summary().starts_with("A is B padded: the same 151646 tokens at the same ids plus 290 llama.cpp [PADn] filler ids"), "{}", c.summary());
    assert!(c.merges_identical);

    // llama-spm as a sentencepiece model.
    let l = &all["llama-spm"];
    let pieces: Vec<(&str, f32, i32)> = l
        .tokens
        .iter()
        .map(|t| {
            let ty = match t.kind {
                TokenKind::Unknown => 2,
                TokenKind::Control => 3,
                TokenKind::Byte => 6,
                _ => 1,
            };
            (t.text.as_str(), t.score.unwrap_or(0.0), ty)
        })
        .collect();
    let spm =
        Vocab::from_sentencepiece(&taoke_tokenizer::encode_sentencepiece(&pieces, 2)).unwrap();
    let c = compare(l, &spm);
    assert_eq!(c.relation, Relation::Identical, "{}", c.summary());
    assert!(l
        .tokens
        .iter()
        .zip(&spm.tokens)
        .all(|(x, y)| x.score == y.score && x.kind == y.kind));
}
