//! Every tokenizer reader. The first byte picks the reader, the rest is the file:
//! 0 `tokenizer.json`, 1 sentencepiece `tokenizer.model`, 2 `vocab.txt`,
//! 3 `vocab.json` + `merges.txt` (+ `added_tokens.json`), split at 0xFF bytes,
//! 4 GGUF tokenizer metadata (the file is a GGUF), 5 `special_tokens_map.json` read by
//! `load_dir` beside a small `vocab.txt`, 6 `tokenizer_config.json` likewise.
#![no_main]
use libfuzzer_sys::fuzz_target;
use taoke_tokenizer::{compare, GgmlTokenizer, SpecialTokens, Vocab};

fn check(v: taoke_tokenizer::Result<Vocab>) {
    if let Ok(v) = v {
        let _ = v.len();
        let _ = compare(&v, &v);
    }
}

fn ggml(data: &[u8]) -> Option<GgmlTokenizer> {
    let g = taoke_gguf::Gguf::parse(data).ok()?;
    let strs = |k: &str| -> Vec<String> {
        g.get_array(k)
            .map(|a| {
                a.iter()
                    .map(|v| v.as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let id = |k: &str| g.get_u64(k).and_then(|v| u32::try_from(v).ok());
    Some(GgmlTokenizer {
        model: g.get_str("tokenizer.ggml.model").unwrap_or("").to_owned(),
        pre: g.get_str("tokenizer.ggml.pre").map(str::to_owned),
        tokens: strs("tokenizer.ggml.tokens"),
        token_types: g
            .get_array("tokenizer.ggml.token_type")
            .map(|a| a.iter().map(|v| v.as_f64().unwrap_or(1.0) as i32).collect()),
        scores: g
            .get_array("tokenizer.ggml.scores")
            .map(|a| a.iter().map(|v| v.as_f64().unwrap_or(0.0) as f32).collect()),
        merges: strs("tokenizer.ggml.merges"),
        special: SpecialTokens {
            bos: id("tokenizer.ggml.bos_token_id"),
            eos: id("tokenizer.ggml.eos_token_id"),
            unk: id("tokenizer.ggml.unknown_token_id"),
            pad: id("tokenizer.ggml.padding_token_id"),
            ..Default::default()
        },
        add_space_prefix: g.get_bool("tokenizer.ggml.add_space_prefix"),
    })
}

fuzz_target!(|input: &[u8]| {
    let Some((&which, data)) = input.split_first() else {
        return;
    };
    match which % 7 {
        0 => check(Vocab::from_tokenizer_json(data)),
        1 => check(Vocab::from_sentencepiece(data)),
        2 => check(Vocab::from_vocab_txt(data)),
        3 => {
            let mut parts = data.splitn(3, |&b| b == 0xFF);
            let v = parts.next().unwrap_or_default();
            let m = parts.next().unwrap_or_default();
            let a = parts.next();
            check(Vocab::from_vocab_json_merges_added(v, m, a));
        }
        4 => {
            if let Some(meta) = ggml(data) {
                check(Vocab::from_ggml(meta));
            }
        }
        n => {
            let dir = taoke_fuzz::fresh("tokenizer");
            std::fs::write(
                dir.join("vocab.txt"),
                "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nb\n##c\n",
            )
            .expect("write vocab");
            let name = if n == 5 {
                "special_tokens_map.json"
            } else {
                "tokenizer_config.json"
            };
            std::fs::write(dir.join(name), data).expect("write side file");
            if let Ok(Some(v)) = taoke_tokenizer::load_dir(&dir) {
                let _ = v.len();
            }
        }
    }
});
