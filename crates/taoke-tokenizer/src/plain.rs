//! Readers for the plain vocabulary files: WordPiece `vocab.txt` (one token per line, the
//! line number is the id) and GPT-2 style `vocab.json` (`{token: id}`) with `merges.txt`
//! (one `a b` pair per line, optionally after a `#version` line).

use crate::error::{Error, Result};
use crate::hf_json::{guess_bpe_style, split_merge, LazyTexts, MAX_JSON_LEN};
use crate::vocab::{
    check_dense, Hints, NormStyle, Parts, RawToken, SourceFormat, SpecialTokens, TokenKind,
    TokenizerKind, Vocab, MAX_MERGES, MAX_VOCAB,
};

/// Largest `vocab.txt` / `merges.txt` accepted (256 MiB).
pub const MAX_TEXT_LEN: usize = 256 * 1024 * 1024;

/// The five BERT special tokens.
const BERT_SPECIALS: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

fn lines<'a>(file: &'static str, bytes: &'a [u8]) -> Result<Vec<&'a str>> {
    if bytes.len() > MAX_TEXT_LEN {
        return Err(Error::TooLarge {
            file: file.into(),
            size: bytes.len(),
            cap: MAX_TEXT_LEN,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        Error::Line {
            file: file.into(),
            line,
            reason: format!("not UTF-8: {e}"),
        }
    })?;
    let mut out: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    if out.last() == Some(&"") {
        out.pop();
    }
    Ok(out)
}

/// Reads a `{token: id}` JSON map, checking the caps.
fn read_id_map(file: &'static str, bytes: &[u8]) -> Result<Vec<(String, usize)>> {
    if bytes.len() > MAX_JSON_LEN {
        return Err(Error::TooLarge {
            file: file.into(),
            size: bytes.len(),
            cap: MAX_JSON_LEN,
        });
    }
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(bytes).map_err(|source| Error::Json {
            file: file.into(),
            source,
        })?;
    if map.len() > MAX_VOCAB {
        return Err(Error::TooMany {
            file: file.into(),
            field: "(root)".into(),
            count: map.len(),
            cap: MAX_VOCAB,
        });
    }
    let mut out = Vec::with_capacity(map.len());
    for (text, id) in map {
        let id = id
            .as_u64()
            .and_then(|i| usize::try_from(i).ok())
            .ok_or_else(|| {
                Error::field(
                    file,
                    format!("{text:?}"),
                    "id is not a non-negative integer",
                )
            })?;
        if id >= MAX_VOCAB {
            return Err(Error::TooMany {
                file: file.into(),
                field: format!("{text:?}"),
                count: id.saturating_add(1),
                cap: MAX_VOCAB,
            });
        }
        out.push((text, id));
    }
    Ok(out)
}

impl Vocab {
    /// Reads a WordPiece `vocab.txt`: line `n` (from 0) is token `n`; `##` marks a
    /// continuation. `[PAD]`, `[UNK]`, `[CLS]`, `[SEP]`, `[MASK]` are special, `[unusedN]`
    /// unused.
    pub fn from_vocab_txt(bytes: &[u8]) -> Result<Vocab> {
        const FILE: &str = "vocab.txt";
        let lines = lines(FILE, bytes)?;
        if lines.len() > MAX_VOCAB {
            return Err(Error::TooMany {
                file: FILE.into(),
                field: "lines".into(),
                count: lines.len(),
                cap: MAX_VOCAB,
            });
        }
        let mut special = SpecialTokens::default();
        let mut tokens = Vec::with_capacity(lines.len());
        let mut notes = Vec::new();
        let mut empty = 0usize;
        for (i, line) in lines.iter().enumerate() {
            let id = u32::try_from(i).unwrap_or(u32::MAX);
            let kind = if BERT_SPECIALS.contains(line) {
                match *line {
                    "[PAD]" => special.pad = Some(id),
                    "[UNK]" => special.unk = Some(id),
                    "[CLS]" => special.cls = Some(id),
                    "[SEP]" => special.sep = Some(id),
                    _ => special.mask = Some(id),
                }
                TokenKind::Special
            } else if line
                .strip_prefix("[unused")
                .and_then(|r| r.strip_suffix(']'))
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            {
                TokenKind::Unused
            } else {
                TokenKind::Normal
            };
            if line.is_empty() {
                empty += 1;
            }
            tokens.push(RawToken {
                text: (*line).to_string(),
                kind,
                score: None,
            });
        }
        if empty > 0 {
            notes.push(format!("{empty} empty lines kept as empty tokens"));
        }
        Vocab::assemble(Parts {
            file: FILE,
            format: SourceFormat::VocabTxt,
            kind: TokenizerKind::WordPiece,
            style: NormStyle::WordPiece {
                continuation: "##".into(),
            },
            tokens,
            merges: Vec::new(),
            special,
            hints: Hints {
                model: Some("WordPiece".into()),
                ..Hints::default()
            },
            source: "vocab.txt (WordPiece)".into(),
            notes,
        })
    }

    /// Reads a GPT-2 style `vocab.json` (`{token: id}`) and `merges.txt`.
    pub fn from_vocab_json_merges(vocab_json: &[u8], merges_txt: &[u8]) -> Result<Vocab> {
        Vocab::from_vocab_json_merges_added(vocab_json, merges_txt, None)
    }

    /// Reads a GPT-2 style `vocab.json` and `merges.txt` plus an optional `added_tokens.json`
    /// (`{token: id}`, the slow tokenizers' added tokens; they override `vocab.json` at the
    /// same id and are [`TokenKind::UserDefined`]: roles come from `special_tokens_map.json`).
    pub fn from_vocab_json_merges_added(
        vocab_json: &[u8],
        merges_txt: &[u8],
        added_tokens_json: Option<&[u8]>,
    ) -> Result<Vocab> {
        const VFILE: &str = "vocab.json";
        const MFILE: &str = "merges.txt";
        let vocab_map = read_id_map(VFILE, vocab_json)?;
        let added_map = match added_tokens_json {
            Some(bytes) => read_id_map("added_tokens.json", bytes)?,
            None => Vec::new(),
        };
        let max_id = vocab_map
            .iter()
            .chain(&added_map)
            .map(|(_, id)| *id as u64)
            .max();
        check_dense(VFILE, "(root)", max_id, vocab_map.len() + added_map.len())?;
        let mut slots: Vec<Option<(String, TokenKind)>> = Vec::new();
        let mut notes = Vec::new();
        for (text, id) in vocab_map {
            if slots.len() <= id {
                slots.resize(id + 1, None);
            }
            if let Some((prev, _)) = &slots[id] {
                notes.push(format!(
                    "id {id} assigned to both {prev:?} and {text:?}; kept the smaller"
                ));
                if prev.as_str() <= text.as_str() {
                    continue;
                }
            }
            slots[id] = Some((text, TokenKind::Normal));
        }
        for (text, id) in added_map {
            if slots.len() <= id {
                slots.resize(id + 1, None);
            }
            slots[id] = Some((text, TokenKind::UserDefined));
        }
        let holes = slots.iter().filter(|s| s.is_none()).count();
        if holes > 0 {
            notes.push(format!("{holes} ids unassigned; filled with [PADn]"));
        }
        let tokens: Vec<RawToken> = slots
            .into_iter()
            .enumerate()
            .map(|(id, s)| match s {
                Some((text, kind)) => RawToken {
                    text,
                    kind,
                    score: None,
                },
                None => RawToken {
                    text: format!("[PAD{id}]"),
                    kind: TokenKind::Unused,
                    score: None,
                },
            })
            .collect();

        let merge_lines = lines(MFILE, merges_txt)?;
        if merge_lines.len() > MAX_MERGES {
            return Err(Error::TooMany {
                file: MFILE.into(),
                field: "lines".into(),
                count: merge_lines.len(),
                cap: MAX_MERGES,
            });
        }
        let known = LazyTexts::new(|| tokens.iter().map(|t| t.text.as_str()).collect());
        let is_known = |s: &str| known.contains(s);
        let mut merges = Vec::with_capacity(merge_lines.len());
        for (i, line) in merge_lines.iter().enumerate() {
            if (i == 0 && line.starts_with("#version")) || line.is_empty() {
                continue;
            }
            let pair = split_merge(line, &is_known).ok_or_else(|| Error::Line {
                file: MFILE.into(),
                line: i + 1,
                reason: format!("{line:?} is not a pair `a b`"),
            })?;
            merges.push(pair);
        }
        let (kind, style) = guess_bpe_style(&tokens);
        let mut special = SpecialTokens::default();
        if let Some(id) = tokens
            .iter()
            .position(|t| t.text == "<|endoftext|>")
            .and_then(|i| u32::try_from(i).ok())
        {
            special.bos = Some(id);
            special.eos = Some(id);
        }
        Vocab::assemble(Parts {
            file: VFILE,
            format: SourceFormat::VocabJsonMerges,
            kind,
            style,
            tokens,
            merges,
            special,
            hints: Hints {
                model: Some("BPE".into()),
                ..Hints::default()
            },
            source: "vocab.json + merges.txt (BPE)".into(),
            notes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize;

    #[test]
    fn vocab_txt_basics() {
        let v = Vocab::from_vocab_txt(b"[PAD]\n[unused0]\n[UNK]\nthe\n##ing\n").unwrap();
        assert_eq!(v.len(), 5);
        assert_eq!(v.special.pad, Some(0));
        assert_eq!(v.special.unk, Some(2));
        assert_eq!(v.tokens[1].kind, TokenKind::Unused);
        let norms: Vec<&str> = v.tokens.iter().map(|t| t.norm.as_str()).collect();
        assert_eq!(norms, ["[PAD]", "[unused0]", "[UNK]", " the", "ing"]);
    }

    #[test]
    fn vocab_json_merges() {
        let vj = br#"{"a": 0, "b": 1, "\u0120a": 2, "ab": 3, "<|endoftext|>": 5}"#;
        let m = b"#version: 0.2\n\xc4\xa0 a\na b\n";
        let v = Vocab::from_vocab_json_merges(vj, m).unwrap();
        assert_eq!(v.len(), 6);
        assert_eq!(v.kind, TokenizerKind::BpeByteLevel);
        assert_eq!(v.tokens[2].norm, " a");
        assert!(v.is_filler(4));
        assert_eq!(v.merges.len(), 2);
        assert_eq!(v.normalized_merges()[0], (" ".to_string(), "a".to_string()));
        assert_eq!(v.special.eos, Some(5));
        assert!(normalize::is_filler_text(&v.tokens[4].text, 4));
    }

    #[test]
    fn non_utf8_line_is_named() {
        let e = Vocab::from_vocab_txt(b"a\nb\n\xff\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("vocab.txt: line 3"), "{e}");
    }
}
