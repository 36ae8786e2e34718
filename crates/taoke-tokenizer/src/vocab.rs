//! The [`Vocab`] model every reader produces: tokens by id (stored and normalized text, kind,
//! score), merges, special-token ids, pre-tokenizer/normalizer hints and a source description.

use std::borrow::Cow;

use foldhash::HashMapExt;

use crate::error::{Error, Result};
use crate::normalize;

/// Largest JSON file accepted (512 MiB; Gemma's tokenizer.json is about 33 MB).
pub const MAX_JSON_LEN: usize = 512 * 1024 * 1024;

/// Most tokens a vocabulary may hold (1 Mi). Real vocabularies stay under 300 k; the cap
/// keeps a reader's memory (about 100 bytes per token while a JSON vocabulary is parsed)
/// within a small process.
pub const MAX_VOCAB: usize = 1024 * 1024;
/// Longest token, in bytes of its stored text.
pub const MAX_TOKEN_LEN: usize = 64 * 1024;
/// Most merges a BPE vocabulary may hold (2 Mi). Gemma's 262 k vocabulary has 515 k merges.
pub const MAX_MERGES: usize = 2 * 1024 * 1024;

/// The tokenizer algorithm a vocabulary belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum TokenizerKind {
    /// Byte-level BPE (GPT-2, Llama 3, Qwen, …): tokens stored in GPT-2's byte↔unicode
    /// encoding (`Ġ` = space).
    BpeByteLevel,
    /// Sentencepiece-style BPE (Llama 2, Gemma, …): `▁` = space, `<0xNN>` byte fallback.
    #[serde(rename = "bpe-sentencepiece")]
    BpeSentencePiece,
    /// WordPiece (BERT): `##` marks a continuation.
    #[serde(rename = "wordpiece")]
    WordPiece,
    /// Unigram (T5, XLM-R, sentencepiece unigram models).
    Unigram,
    /// A plain word list (HF `WordLevel`, sentencepiece `WORD`/`CHAR`).
    #[serde(rename = "wordlevel")]
    WordLevel,
    /// Anything else (e.g. GGUF `rwkv`).
    Unknown,
}

impl TokenizerKind {
    /// Short lower-case name (`bpe-byte-level`, `wordpiece`, …).
    pub fn name(self) -> &'static str {
        match self {
            TokenizerKind::BpeByteLevel => "bpe-byte-level",
            TokenizerKind::BpeSentencePiece => "bpe-sentencepiece",
            TokenizerKind::WordPiece => "wordpiece",
            TokenizerKind::Unigram => "unigram",
            TokenizerKind::WordLevel => "wordlevel",
            TokenizerKind::Unknown => "unknown",
        }
    }
}

/// How the stored token texts were turned into normal forms (see [`crate::normalize`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NormStyle {
    /// GPT-2 byte↔unicode table undone.
    ByteLevel,
    /// `▁` → space, `<0xNN>` byte tokens kept (upper-case hex).
    SentencePiece,
    /// WordPiece as in `vocab.txt` / tokenizer.json, with this continuation prefix.
    WordPiece {
        /// The continuation prefix, normally `##`.
        continuation: String,
    },
    /// WordPiece in llama.cpp's GGUF convention (`▁` marks word-initial tokens).
    WordPieceGgml,
    /// Text kept as stored.
    Raw,
}

/// What a token is, beyond its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum TokenKind {
    /// An ordinary vocabulary entry.
    Normal,
    /// A special added token (HF `added_tokens` with `special: true`, BERT's `[CLS]`…).
    Special,
    /// A control token (sentencepiece / GGUF type 3: `<s>`, `</s>`, chat markers).
    Control,
    /// A byte-fallback token `<0xNN>` (sentencepiece / GGUF type 6).
    Byte,
    /// A user-defined token (sentencepiece / GGUF type 4, HF non-special added token).
    UserDefined,
    /// An unused slot (GGUF type 5, BERT's `[unusedN]`, llama.cpp's `[PADn]` fillers).
    Unused,
    /// The unknown token (sentencepiece / GGUF type 2).
    Unknown,
}

impl TokenKind {
    /// Kind from a GGUF `tokenizer.ggml.token_type` / sentencepiece `Type` value.
    pub fn from_ggml_type(t: i32) -> TokenKind {
        match t {
            2 => TokenKind::Unknown,
            3 => TokenKind::Control,
            4 => TokenKind::UserDefined,
            5 => TokenKind::Unused,
            6 => TokenKind::Byte,
            _ => TokenKind::Normal,
        }
    }
}

/// One vocabulary entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// The text as stored in the file.
    pub text: String,
    /// The normal form (see [`crate::normalize`]); what comparisons use.
    pub norm: String,
    /// What the token is.
    pub kind: TokenKind,
    /// Its score (sentencepiece / Unigram log-probability, GGUF `tokenizer.ggml.scores`).
    pub score: Option<f32>,
}

impl Token {
    /// Whether the token is special, control, user-defined, unused or unknown: the tokens
    /// derived tokenizers typically add or rename.
    pub fn is_special_like(&self) -> bool {
        !matches!(self.kind, TokenKind::Normal | TokenKind::Byte)
    }
}

/// Ids of the tokens with a role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecialTokens {
    /// Beginning of sequence.
    pub bos: Option<u32>,
    /// End of sequence.
    pub eos: Option<u32>,
    /// Unknown token.
    pub unk: Option<u32>,
    /// Padding.
    pub pad: Option<u32>,
    /// Separator (BERT `[SEP]`).
    pub sep: Option<u32>,
    /// Classifier (BERT `[CLS]`).
    pub cls: Option<u32>,
    /// Mask (BERT `[MASK]`).
    pub mask: Option<u32>,
    /// Ids of all special / control tokens, sorted.
    pub added: Vec<u32>,
}

impl SpecialTokens {
    /// The roles and their ids, in a fixed order.
    pub fn roles(&self) -> [(&'static str, Option<u32>); 7] {
        [
            ("bos", self.bos),
            ("eos", self.eos),
            ("unk", self.unk),
            ("pad", self.pad),
            ("sep", self.sep),
            ("cls", self.cls),
            ("mask", self.mask),
        ]
    }

    fn roles_mut(&mut self) -> [(&'static str, &mut Option<u32>); 7] {
        [
            ("bos", &mut self.bos),
            ("eos", &mut self.eos),
            ("unk", &mut self.unk),
            ("pad", &mut self.pad),
            ("sep", &mut self.sep),
            ("cls", &mut self.cls),
            ("mask", &mut self.mask),
        ]
    }
}

/// Pre-tokenizer and normalizer hints: they change how text is split, not the vocabulary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hints {
    /// Pre-tokenizer: GGUF `tokenizer.ggml.pre`, or tokenizer.json `pre_tokenizer` types
    /// (`Sequence[Split,ByteLevel]`).
    pub pre: Option<String>,
    /// Normalizer: tokenizer.json `normalizer` types, sentencepiece `normalizer_spec.name`.
    pub normalizer: Option<String>,
    /// Whether input is lower-cased before tokenization.
    pub lowercase: bool,
    /// Whether a space is prepended to the input (sentencepiece `add_dummy_prefix`, GGUF
    /// `tokenizer.ggml.add_space_prefix`).
    pub add_space_prefix: Option<bool>,
    /// Whether unknown characters fall back to byte tokens.
    pub byte_fallback: Option<bool>,
    /// The model name as stored (`tokenizer.ggml.model`, tokenizer.json `model.type`,
    /// sentencepiece `trainer_spec.model_type`).
    pub model: Option<String>,
}

/// The file format a vocabulary was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum SourceFormat {
    /// Hugging Face `tokenizer.json`.
    TokenizerJson,
    /// Sentencepiece `tokenizer.model`.
    SentencePiece,
    /// WordPiece `vocab.txt`.
    VocabTxt,
    /// GPT-2 style `vocab.json` + `merges.txt`.
    VocabJsonMerges,
    /// GGUF tokenizer metadata.
    Gguf,
}

/// A tokenizer vocabulary.
#[derive(Debug, Clone)]
pub struct Vocab {
    /// The tokenizer algorithm.
    pub kind: TokenizerKind,
    /// How [`Token::norm`] was derived from [`Token::text`].
    pub style: NormStyle,
    /// Tokens by id.
    pub tokens: Vec<Token>,
    /// BPE merges in priority order, as stored (empty for non-BPE vocabularies).
    pub merges: Vec<(String, String)>,
    /// Token ids with a role.
    pub special: SpecialTokens,
    /// Pre-tokenizer / normalizer hints.
    pub hints: Hints,
    /// The file format it was read from.
    pub format: SourceFormat,
    /// Where the vocabulary came from (`tokenizer.json (BPE)`, `GGUF metadata (gpt2)`, …).
    pub source: String,
    /// Things the reader noticed and repaired (id holes filled, duplicate ids, out-of-range
    /// special ids), sorted by discovery.
    pub notes: Vec<String>,
    /// For each merge, the ids of its two halves (`u32::MAX` when a half is not a token), so
    /// comparisons borrow the tokens' normal forms instead of normalizing again.
    merge_ids: Vec<[u32; 2]>,
}

/// A token before normalization, as a reader found it.
pub(crate) struct RawToken {
    pub text: String,
    pub kind: TokenKind,
    pub score: Option<f32>,
}

/// Everything a reader collected; [`Vocab::assemble`] checks caps and normalizes.
pub(crate) struct Parts {
    pub file: &'static str,
    pub format: SourceFormat,
    pub kind: TokenizerKind,
    pub style: NormStyle,
    pub tokens: Vec<RawToken>,
    pub merges: Vec<(String, String)>,
    pub special: SpecialTokens,
    pub hints: Hints,
    pub source: String,
    pub notes: Vec<String>,
}

impl Vocab {
    /// Number of tokens (ids `0..len`).
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Whether token `id` is a llama.cpp filler for an unassigned id: `[PADn]` with `n` its
    /// own id, or any `[PADn]` of kind [`TokenKind::Unused`] (some converters number them
    /// differently).
    pub fn is_filler(&self, id: usize) -> bool {
        self.tokens.get(id).is_some_and(|t| {
            normalize::pad_filler_number(&t.text)
                .is_some_and(|n| n == id || t.kind == TokenKind::Unused)
        })
    }

    /// The id of the first token whose stored text is `text`.
    pub fn id_of_text(&self, text: &str) -> Option<u32> {
        self.tokens
            .iter()
            .position(|t| t.text == text)
            .and_then(|i| u32::try_from(i).ok())
    }

    /// The merges with both sides in normal form (what comparisons use).
    pub fn normalized_merges(&self) -> Vec<(String, String)> {
        self.normalized_merge_refs()
            .into_iter()
            .map(|(a, b)| (a.into_owned(), b.into_owned()))
            .collect()
    }

    /// The merges in normal form, borrowing the tokens' normal forms where a half is an
    /// ordinary token of this vocabulary.
    pub(crate) fn normalized_merge_refs(&self) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
        let half = |text: &str, id: Option<&u32>| -> Cow<'_, str> {
            if let Some(t) = id.and_then(|&i| self.tokens.get(i as usize)) {
                if t.kind == TokenKind::Normal && t.text == text {
                    return Cow::Borrowed(t.norm.as_str());
                }
            }
            Cow::Owned(normalize_text(&self.style, TokenKind::Normal, text))
        };
        self.merges
            .iter()
            .enumerate()
            .map(|(i, (a, b))| {
                let ids = self.merge_ids.get(i);
                (half(a, ids.map(|x| &x[0])), half(b, ids.map(|x| &x[1])))
            })
            .collect()
    }

    /// Sets the role ids from a `special_tokens_map.json` or `tokenizer_config.json`
    /// (`"bos_token": "<s>"` or `{"content": "<s>", …}`), looking the texts up in the
    /// vocabulary. Roles whose text is not in the vocabulary are left unchanged.
    pub fn apply_special_tokens_map(&mut self, json: &[u8]) -> Result<()> {
        const FILE: &str = "special_tokens_map.json";
        if json.len() > MAX_JSON_LEN {
            return Err(Error::TooLarge {
                file: FILE.into(),
                size: json.len(),
                cap: MAX_JSON_LEN,
            });
        }
        let v: serde_json::Value = serde_json::from_slice(json).map_err(|source| Error::Json {
            file: FILE.into(),
            source,
        })?;
        let Some(map) = v.as_object() else {
            return Err(Error::field(FILE, "(root)", "not a JSON object"));
        };
        // Look every needed text up once.
        let mut found = Vec::new();
        for (role, _) in self.special.roles() {
            let key = format!("{role}_token");
            let text = match map.get(&key) {
                Some(serde_json::Value::String(s)) => Some(s.as_str()),
                Some(serde_json::Value::Object(o)) => o.get("content").and_then(|c| c.as_str()),
                _ => None,
            };
            found.push(text.and_then(|t| self.id_of_text(t)));
        }
        for ((_, slot), id) in self.special.roles_mut().into_iter().zip(found) {
            if let Some(id) = id {
                *slot = Some(id);
            }
        }
        Ok(())
    }

    /// Checks caps, normalizes every token and validates special ids.
    pub(crate) fn assemble(parts: Parts) -> Result<Vocab> {
        let Parts {
            file,
            format,
            kind,
            style,
            tokens,
            merges,
            mut special,
            hints,
            source,
            mut notes,
        } = parts;
        if tokens.len() > MAX_VOCAB {
            return Err(Error::TooMany {
                file: file.into(),
                field: "vocab".into(),
                count: tokens.len(),
                cap: MAX_VOCAB,
            });
        }
        if merges.len() > MAX_MERGES {
            return Err(Error::TooMany {
                file: file.into(),
                field: "merges".into(),
                count: merges.len(),
                cap: MAX_MERGES,
            });
        }
        for (i, t) in tokens.iter().enumerate() {
            check_token_len(file, "vocab", i, &t.text)?;
        }
        for (i, (a, b)) in merges.iter().enumerate() {
            check_token_len(file, "merges", i, a)?;
            check_token_len(file, "merges", i, b)?;
        }
        let tokens: Vec<Token> = tokens
            .into_iter()
            .enumerate()
            .map(|(id, t)| {
                let kind = if normalize::is_filler_text(&t.text, id) {
                    TokenKind::Unused
                } else if style == NormStyle::SentencePiece
                    && t.kind == TokenKind::Normal
                    && normalize::parse_byte_token(&t.text).is_some()
                {
                    TokenKind::Byte
                } else {
                    t.kind
                };
                let norm = normalize_text(&style, kind, &t.text);
                Token {
                    text: t.text,
                    norm,
                    kind,
                    score: t.score,
                }
            })
            .collect();
        let n = tokens.len();
        for (role, slot) in special.roles_mut() {
            if let Some(id) = *slot {
                if id as usize >= n {
                    notes.push(format!(
                        "{role} id {id} is out of range for {n} tokens; ignored"
                    ));
                    *slot = None;
                }
            }
        }
        let mut added: Vec<u32> = special
            .added
            .iter()
            .copied()
            .filter(|&id| (id as usize) < n)
            .collect();
        for (id, t) in tokens.iter().enumerate() {
            if matches!(t.kind, TokenKind::Special | TokenKind::Control) {
                if let Ok(id) = u32::try_from(id) {
                    added.push(id);
                }
            }
        }
        added.sort_unstable();
        added.dedup();
        special.added = added;
        let merge_ids = if merges.is_empty() {
            Vec::new()
        } else {
            let mut by_text: foldhash::HashMap<&str, u32> =
                foldhash::HashMap::with_capacity(tokens.len());
            for (i, t) in tokens.iter().enumerate() {
                by_text.entry(t.text.as_str()).or_insert(i as u32);
            }
            let id = |s: &str| by_text.get(s).copied().unwrap_or(u32::MAX);
            merges.iter().map(|(a, b)| [id(a), id(b)]).collect()
        };
        Ok(Vocab {
            kind,
            style,
            tokens,
            merges,
            special,
            hints,
            format,
            source,
            notes,
            merge_ids,
        })
    }
}

/// Fewest unassigned ids a `{token: id}` map may leave (beyond that, at most as many
/// unassigned ids as entries): a tiny file must not make the reader allocate millions of
/// fillers.
pub const MIN_UNASSIGNED_IDS: usize = 4096;

/// Rejects `{token: id}` maps whose largest id would leave more unassigned ids than
/// `max(MIN_UNASSIGNED_IDS, entries)`.
pub(crate) fn check_dense(
    file: &str,
    field: &str,
    max_id: Option<u64>,
    entries: usize,
) -> Result<()> {
    let Some(max_id) = max_id else { return Ok(()) };
    let allowed = entries.saturating_add(MIN_UNASSIGNED_IDS.max(entries));
    if max_id >= allowed as u64 {
        return Err(Error::field(
            file,
            field,
            format!("ids are too sparse: largest id {max_id} for {entries} entries (ids up to {allowed} allowed)"),
        ));
    }
    Ok(())
}

pub(crate) fn check_token_len(file: &str, field: &str, index: usize, text: &str) -> Result<()> {
    if text.len() > MAX_TOKEN_LEN {
        return Err(Error::TokenTooLong {
            file: file.into(),
            field: field.into(),
            index,
            len: text.len(),
            cap: MAX_TOKEN_LEN,
        });
    }
    Ok(())
}

/// The normal form of `text` (a token of `kind`) under `style`.
pub(crate) fn normalize_text(style: &NormStyle, kind: TokenKind, text: &str) -> String {
    match kind {
        // Added / special tokens are stored as raw text by tokenizer.json and llama.cpp.
        TokenKind::Special | TokenKind::Control => return text.to_string(),
        TokenKind::Unused if text.starts_with("[PAD") => return text.to_string(),
        TokenKind::Byte => {
            if let Some(b) = normalize::parse_byte_token(text) {
                return format!("<0x{b:02X}>");
            }
        }
        _ => {}
    }
    match style {
        NormStyle::ByteLevel => {
            if kind == TokenKind::UserDefined {
                // llama.cpp pre-normalizes user-defined tokens; HF added tokens are raw.
                text.to_string()
            } else {
                normalize::norm_byte_level(text)
            }
        }
        NormStyle::SentencePiece => normalize::norm_sentencepiece(text),
        NormStyle::WordPiece { continuation } => normalize::norm_wordpiece(text, continuation),
        NormStyle::WordPieceGgml => normalize::norm_wordpiece_ggml(text),
        NormStyle::Raw => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_match_their_serialization() {
        for k in [
            TokenizerKind::BpeByteLevel,
            TokenizerKind::BpeSentencePiece,
            TokenizerKind::WordPiece,
            TokenizerKind::Unigram,
            TokenizerKind::WordLevel,
            TokenizerKind::Unknown,
        ] {
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                serde_json::Value::from(k.name())
            );
        }
    }
}
