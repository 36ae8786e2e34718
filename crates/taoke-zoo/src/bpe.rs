//! A small byte-level BPE trainer and encoder, written as a Hugging Face compatible
//! `tokenizer.json` (model.type `BPE`, a `vocab` map and a `merges` list, GPT-2 byte-to-unicode
//! alphabet, `ByteLevel` pre-tokenizer), so every other tool can read the zoo's vocabularies.

use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};

/// Special tokens, at ids 0.. in this order.
pub const SPECIALS: [&str; 5] = ["<unk>", "<s>", "</s>", "<pad>", "<mask>"];
/// Id of `<mask>` (used by the BERT-style masked-LM objective).
pub const MASK_ID: u32 = 4;
/// Id of `<s>`.
pub const BOS_ID: u32 = 1;

/// GPT-2's reversible byte-to-unicode map: printable bytes map to themselves, the others to
/// code points from 256 upwards (space becomes `Ġ`, newline `Ċ`).
pub fn byte_to_char() -> [char; 256] {
    let mut out = ['\0'; 256];
    let mut n = 0u32;
    for b in 0u32..256 {
        let printable = (0x21..=0x7E).contains(&b) || (0xA1..=0xAC).contains(&b) || b >= 0xAE;
        let c = if printable {
            b
        } else {
            n += 1;
            255 + n
        };
        out[b as usize] = char::from_u32(c).unwrap_or('?');
    }
    out
}

/// Splits text like GPT-2's pre-tokenizer regex
/// (`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`), for ASCII text.
pub fn pretokenize(text: &str) -> Vec<&str> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let class = |c: u8| -> u8 {
        if c.is_ascii_alphabetic() || c >= 0x80 {
            0
        } else if c.is_ascii_digit() {
            1
        } else if c.is_ascii_whitespace() {
            3
        } else {
            2
        }
    };
    while i < b.len() {
        let start = i;
        if b[i] == b'\'' {
            let rest = &b[i + 1..];
            let m = ["s", "t", "re", "ve", "m", "ll", "d"]
                .iter()
                .find(|s| rest.starts_with(s.as_bytes()));
            if let Some(s) = m {
                i += 1 + s.len();
                out.push(&text[start..i]);
                continue;
            }
        }
        let c = class(b[i]);
        if c != 3 || (b[i] == b' ' && i + 1 < b.len() && class(b[i + 1]) != 3) {
            // optional leading space, then a run of one class
            if b[i] == b' ' {
                i += 1;
            }
            let k = class(b[i]);
            while i < b.len() && class(b[i]) == k {
                i += 1;
            }
            if i == start {
                i += 1;
            }
            out.push(&text[start..i]);
            continue;
        }
        // whitespace run: leave the last whitespace char to the next word if one follows
        let mut j = i;
        while j < b.len() && class(b[j]) == 3 {
            j += 1;
        }
        if j < b.len() && j - i > 1 && b[j - 1] == b' ' {
            j -= 1;
        }
        i = j.max(start + 1);
        out.push(&text[start..i]);
    }
    out
}

/// A trained byte-level BPE tokenizer.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    /// Token strings (byte-level unicode), by id.
    pub vocab: Vec<String>,
    /// Merges in rank order, as pairs of ids.
    pub merges: Vec<(u32, u32)>,
    ranks: HashMap<(u32, u32), (usize, u32)>,
    char_ids: HashMap<char, u32>,
}

impl Tokenizer {
    fn base() -> Tokenizer {
        let mut vocab: Vec<String> = SPECIALS.iter().map(|s| s.to_string()).collect();
        let map = byte_to_char();
        let mut char_ids = HashMap::new();
        for b in (0x20u8..=0x7E).chain([b'\n', b'\t']) {
            char_ids.insert(map[b as usize], vocab.len() as u32);
            vocab.push(map[b as usize].to_string());
        }
        Tokenizer {
            vocab,
            merges: Vec::new(),
            ranks: HashMap::new(),
            char_ids,
        }
    }

    /// Trains a tokenizer of `vocab_size` tokens on `text`.
    pub fn train(text: &str, vocab_size: usize) -> Tokenizer {
        let mut t = Tokenizer::base();
        let n = vocab_size.saturating_sub(t.vocab.len());
        t.learn(text, n);
        t
    }

    /// A copy extended by `n_new` merges learned on `text` (new tokens appended at the end).
    pub fn extend(&self, text: &str, n_new: usize) -> Tokenizer {
        let mut t = self.clone();
        t.learn(text, n_new);
        t
    }

    fn learn(&mut self, text: &str, n_new: usize) {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for w in pretokenize(text) {
            *counts.entry(w).or_default() += 1;
        }
        let mut words: Vec<(Vec<u32>, usize)> = counts
            .into_iter()
            .map(|(w, c)| (self.encode_word(w), c))
            .collect();
        for _ in 0..n_new {
            let mut pairs: HashMap<(u32, u32), usize> = HashMap::new();
            for (w, c) in &words {
                for p in w.windows(2) {
                    *pairs.entry((p[0], p[1])).or_default() += c;
                }
            }
            let best = pairs
                .iter()
                .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                .map(|(p, c)| (*p, *c));
            let Some((pair, count)) = best else { break };
            if count < 2 {
                break;
            }
            let new_id = self.vocab.len() as u32;
            let s = format!(
                "{}{}",
                self.vocab[pair.0 as usize], self.vocab[pair.1 as usize]
            );
            self.vocab.push(s);
            self.ranks.insert(pair, (self.merges.len(), new_id));
            self.merges.push(pair);
            for (w, _) in &mut words {
                merge_in_place(w, pair, new_id);
            }
        }
    }

    /// Number of tokens.
    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }

    fn encode_word(&self, w: &str) -> Vec<u32> {
        let map = byte_to_char();
        let mut ids: Vec<u32> = w
            .bytes()
            .map(|b| self.char_ids.get(&map[b as usize]).copied().unwrap_or(0))
            .collect();
        loop {
            let best = ids
                .windows(2)
                .filter_map(|p| {
                    self.ranks
                        .get(&(p[0], p[1]))
                        .map(|r| (r.0, (p[0], p[1]), r.1))
                })
                .min();
            match best {
                Some((_, pair, id)) => merge_in_place(&mut ids, pair, id),
                None => return ids,
            }
        }
    }

    /// Encodes text into token ids.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut cache: HashMap<&str, Vec<u32>> = HashMap::new();
        let mut out = Vec::with_capacity(text.len() / 3);
        for w in pretokenize(text) {
            let ids = cache.entry(w).or_insert_with(|| self.encode_word(w));
            out.extend_from_slice(ids);
        }
        out
    }

    /// The `tokenizer.json` document (Hugging Face `tokenizers` format).
    pub fn to_json(&self) -> Value {
        let added: Vec<Value> = SPECIALS
            .iter()
            .enumerate()
            .map(|(i, s)| {
                json!({"id": i, "content": s, "single_word": false, "lstrip": false,
                       "rstrip": false, "normalized": false, "special": true})
            })
            .collect();
        let mut vocab = Map::new();
        for (i, s) in self.vocab.iter().enumerate() {
            vocab.insert(s.clone(), json!(i));
        }
        let merges: Vec<Value> = self
            .merges
            .iter()
            .map(|(a, b)| {
                json!(format!(
                    "{} {}",
                    self.vocab[*a as usize], self.vocab[*b as usize]
                ))
            })
            .collect();
        json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": added,
            "normalizer": null,
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
            "post_processor": null,
            "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
            "model": {
                "type": "BPE", "dropout": null, "unk_token": "<unk>",
                "continuing_subword_prefix": null, "end_of_word_suffix": null,
                "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                "vocab": vocab, "merges": merges
            }
        })
    }
}

fn merge_in_place(w: &mut Vec<u32>, pair: (u32, u32), id: u32) {
    let mut i = 0;
    let mut j = 0;
    while i < w.len() {
        if i + 1 < w.len() && w[i] == pair.0 && w[i + 1] == pair.1 {
            w[j] = id;
            i += 2;
        } else {
            w[j] = w[i];
            i += 1;
        }
        j += 1;
    }
    w.truncate(j);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::Corpus;

    #[test]
    fn pretokenizer_matches_gpt2_rules() {
        assert_eq!(
            pretokenize("def f(x):\n    return x + 12\n"),
            vec!["def", " f", "(", "x", "):", "\n   ", " return", " x", " +", " 12", "\n"]
        );
        assert_eq!(pretokenize("it's  ok"), vec!["it", "'s", " ", " ok"]);
    }

    #[test]
    fn trains_to_size_and_round_trips_through_json() {
        let text = Corpus::Stories.generate(1, 20_000);
        let t = Tokenizer::train(&text, 300);
        assert_eq!(t.vocab_size(), 300);
        let ids = t.encode("Once upon a time, there was a cat.");
        assert!(ids.len() < 15, "{ids:?}");
        let concat: String = ids.iter().map(|&i| t.vocab[i as usize].as_str()).collect();
        assert_eq!(concat, "OnceĠuponĠaĠtime,ĠthereĠwasĠaĠcat.");
        let j = t.to_json();
        assert_eq!(j["model"]["type"], "BPE");
        assert_eq!(j["model"]["vocab"]["<mask>"], 4);
        assert_eq!(
            j["model"]["merges"].as_array().map(|m| m.len()),
            Some(300 - 102)
        );
        let e = t.extend(&Corpus::Logs.generate(1, 10_000), 20);
        assert_eq!(e.vocab_size(), 320);
        assert_eq!(&e.vocab[..300], &t.vocab[..]);
    }
}
