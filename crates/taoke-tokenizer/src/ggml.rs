//! Vocabularies from GGUF tokenizer metadata, given as plain values (this crate does not parse
//! GGUF; the caller reads the keys listed in [`keys`] and fills a [`GgmlTokenizer`]).
//!
//! `tokenizer.ggml.model` decides the kind and the normalization: `gpt2` byte-level BPE,
//! `llama` sentencepiece BPE, `gemma4` sentencepiece-style BPE with merges, `t5` Unigram,
//! `bert` WordPiece in llama.cpp's convention (word-initial tokens prefixed with `▁`, `##`
//! removed, bracketed tokens unchanged); anything else is kept raw.

use crate::error::{Error, Result};
use crate::hf_json::{split_merge, LazyTexts};
use crate::vocab::{
    Hints, NormStyle, Parts, RawToken, SourceFormat, SpecialTokens, TokenKind, TokenizerKind,
    Vocab, MAX_MERGES, MAX_VOCAB,
};

/// The GGUF metadata keys a [`GgmlTokenizer`] is filled from.
pub mod keys {
    /// `tokenizer.ggml.model` (string).
    pub const MODEL: &str = "tokenizer.ggml.model";
    /// `tokenizer.ggml.pre` (string).
    pub const PRE: &str = "tokenizer.ggml.pre";
    /// `tokenizer.ggml.tokens` (array of string).
    pub const TOKENS: &str = "tokenizer.ggml.tokens";
    /// `tokenizer.ggml.token_type` (array of i32).
    pub const TOKEN_TYPE: &str = "tokenizer.ggml.token_type";
    /// `tokenizer.ggml.scores` (array of f32).
    pub const SCORES: &str = "tokenizer.ggml.scores";
    /// `tokenizer.ggml.merges` (array of string `"a b"`).
    pub const MERGES: &str = "tokenizer.ggml.merges";
    /// `tokenizer.ggml.bos_token_id` (u32).
    pub const BOS: &str = "tokenizer.ggml.bos_token_id";
    /// `tokenizer.ggml.eos_token_id` (u32).
    pub const EOS: &str = "tokenizer.ggml.eos_token_id";
    /// `tokenizer.ggml.unknown_token_id` (u32).
    pub const UNK: &str = "tokenizer.ggml.unknown_token_id";
    /// `tokenizer.ggml.padding_token_id` (u32).
    pub const PAD: &str = "tokenizer.ggml.padding_token_id";
    /// `tokenizer.ggml.seperator_token_id` (u32; llama.cpp's spelling).
    pub const SEP: &str = "tokenizer.ggml.seperator_token_id";
    /// `tokenizer.ggml.cls_token_id` (u32).
    pub const CLS: &str = "tokenizer.ggml.cls_token_id";
    /// `tokenizer.ggml.mask_token_id` (u32).
    pub const MASK: &str = "tokenizer.ggml.mask_token_id";
    /// `tokenizer.ggml.add_space_prefix` (bool).
    pub const ADD_SPACE_PREFIX: &str = "tokenizer.ggml.add_space_prefix";
}

/// GGUF tokenizer metadata as plain values.
#[derive(Debug, Clone, Default)]
pub struct GgmlTokenizer {
    /// `tokenizer.ggml.model`: `llama`, `gpt2`, `bert`, `t5`, `gemma4`, …
    pub model: String,
    /// `tokenizer.ggml.pre`.
    pub pre: Option<String>,
    /// `tokenizer.ggml.tokens`.
    pub tokens: Vec<String>,
    /// `tokenizer.ggml.token_type`: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused,
    /// 6 byte. Same length as `tokens` when present.
    pub token_types: Option<Vec<i32>>,
    /// `tokenizer.ggml.scores`. Same length as `tokens` when present.
    pub scores: Option<Vec<f32>>,
    /// `tokenizer.ggml.merges` (`"a b"`).
    pub merges: Vec<String>,
    /// Role ids (bos, eos, unk, pad, sep, cls, mask); `added` is ignored (computed).
    pub special: SpecialTokens,
    /// `tokenizer.ggml.add_space_prefix`.
    pub add_space_prefix: Option<bool>,
}

const FILE: &str = "GGUF metadata";

impl Vocab {
    /// Builds a vocabulary from GGUF tokenizer metadata.
    pub fn from_ggml(meta: GgmlTokenizer) -> Result<Vocab> {
        let GgmlTokenizer {
            model,
            pre,
            tokens,
            token_types,
            scores,
            merges,
            special,
            add_space_prefix,
        } = meta;
        let n = tokens.len();
        if n > MAX_VOCAB {
            return Err(Error::TooMany {
                file: FILE.into(),
                field: crate::ggml::keys::TOKENS.into(),
                count: n,
                cap: MAX_VOCAB,
            });
        }
        if merges.len() > MAX_MERGES {
            return Err(Error::TooMany {
                file: FILE.into(),
                field: keys::MERGES.into(),
                count: merges.len(),
                cap: MAX_MERGES,
            });
        }
        if let Some(t) = &token_types {
            if t.len() != n {
                return Err(Error::field(
                    FILE,
                    keys::TOKEN_TYPE,
                    format!("{} entries for {n} tokens", t.len()),
                ));
            }
        }
        if let Some(s) = &scores {
            if s.len() != n {
                return Err(Error::field(
                    FILE,
                    keys::SCORES,
                    format!("{} entries for {n} tokens", s.len()),
                ));
            }
        }
        let (kind, style) = match model.as_str() {
            "gpt2" => (TokenizerKind::BpeByteLevel, NormStyle::ByteLevel),
            "llama" | "gemma4" => (TokenizerKind::BpeSentencePiece, NormStyle::SentencePiece),
            "t5" => (TokenizerKind::Unigram, NormStyle::SentencePiece),
            "bert" => (TokenizerKind::WordPiece, NormStyle::WordPieceGgml),
            _ => (TokenizerKind::Unknown, NormStyle::Raw),
        };
        let merges = {
            let known = LazyTexts::new(|| tokens.iter().map(String::as_str).collect());
            let is_known = |s: &str| known.contains(s);
            let mut out = Vec::with_capacity(merges.len());
            for (i, m) in merges.iter().enumerate() {
                let pair = split_merge(m, &is_known).ok_or_else(|| {
                    Error::field(
                        FILE,
                        format!("{}[{i}]", keys::MERGES),
                        format!("{m:?} is not a pair `a b`"),
                    )
                })?;
                out.push(pair);
            }
            out
        };
        let raw: Vec<RawToken> = tokens
            .into_iter()
            .enumerate()
            .map(|(i, text)| RawToken {
                text,
                kind: token_types
                    .as_ref()
                    .map_or(TokenKind::Normal, |t| TokenKind::from_ggml_type(t[i])),
                score: scores.as_ref().map(|s| s[i]),
            })
            .collect();
        let source = match &pre {
            Some(p) => format!("GGUF metadata (model {model}, pre {p})"),
            None => format!("GGUF metadata (model {model})"),
        };
        Vocab::assemble(Parts {
            file: FILE,
            format: SourceFormat::Gguf,
            kind,
            style,
            tokens: raw,
            merges,
            special: SpecialTokens {
                added: Vec::new(),
                ..special
            },
            hints: Hints {
                pre,
                normalizer: None,
                lowercase: false,
                add_space_prefix,
                byte_fallback: None,
                model: Some(model),
            },
            source,
            notes: Vec::new(),
        })
    }
}
