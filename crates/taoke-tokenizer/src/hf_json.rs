//! Reader for Hugging Face `tokenizer.json` (the `tokenizers` library's serialization).
//!
//! Understood: `model.type` `BPE`, `WordPiece`, `Unigram`, `WordLevel` (inferred from the
//! model's fields when `type` is absent); `model.vocab` as a `{token: id}` map or, for Unigram,
//! as `[[piece, score], …]`; `model.merges` as `["a b", …]` or `[["a", "b"], …]`;
//! `added_tokens` (`id`, `content`, `special`); the `normalizer`, `pre_tokenizer` and `decoder`
//! sections only as hints (byte-level or sentencepiece-style, lower-casing).
//!
//! Ids that neither the vocabulary nor the added tokens assign are filled with llama.cpp's
//! filler `[PADn]` (kind [`TokenKind::Unused`]), so a GGUF converted from the same file
//! compares equal id by id. The JSON is at most [`MAX_JSON_LEN`] bytes; serde_json's
//! recursion limit (128) bounds nesting.

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::vocab::{
    check_dense, Hints, NormStyle, Parts, RawToken, SourceFormat, SpecialTokens, TokenKind,
    TokenizerKind, Vocab, MAX_MERGES, MAX_VOCAB,
};

pub use crate::vocab::MAX_JSON_LEN;

const FILE: &str = "tokenizer.json";

/// Largest normalizer, pre-tokenizer or decoder section, as JSON text (real ones are a few
/// KiB). They are kept as borrowed text and parsed only under this cap: a section of junk
/// would otherwise cost about 16 times its size as a JSON value.
pub const MAX_SECTION_LEN: usize = 1 << 20;

#[derive(Deserialize)]
struct Root<'a> {
    model: Model,
    #[serde(default)]
    added_tokens: Vec<AddedToken>,
    #[serde(default, borrow)]
    normalizer: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pre_tokenizer: Option<&'a RawValue>,
    #[serde(default, borrow)]
    decoder: Option<&'a RawValue>,
}

/// A section's JSON value, when its text is under [`MAX_SECTION_LEN`].
fn section(raw: Option<&RawValue>, field: &str) -> Result<Option<Value>> {
    let Some(raw) = raw else { return Ok(None) };
    let text = raw.get();
    if text.len() > MAX_SECTION_LEN {
        return Err(Error::field(
            FILE,
            field,
            format!(
                "{} bytes of JSON, more than the cap of {MAX_SECTION_LEN}",
                text.len()
            ),
        ));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Null) => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(source) => Err(Error::Json {
            file: FILE.into(),
            source,
        }),
    }
}

#[derive(Deserialize)]
struct Model {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    vocab: Option<CappedVocab>,
    #[serde(default)]
    merges: Option<CappedMerges>,
    #[serde(default)]
    unk_token: Option<String>,
    #[serde(default)]
    unk_id: Option<i64>,
    #[serde(default)]
    continuing_subword_prefix: Option<String>,
    #[serde(default)]
    byte_fallback: Option<bool>,
}

/// `model.vocab` as a JSON value, refused as soon as it passes [`MAX_VOCAB`] entries (not
/// after the whole map is built). Map values and list items keep only what the reader uses
/// (numbers; `[piece, score]` pairs of scalars); anything else becomes `null`, which the
/// reader reports, so a huge value inside the vocabulary is skipped, not built.
struct CappedVocab(Value);

/// A scalar JSON value, or `null` for a container (skipped without being built).
struct Scalar(Value);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E>(self, v: bool) -> std::result::Result<Scalar, E> {
                Ok(Scalar(Value::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> std::result::Result<Scalar, E> {
                Ok(Scalar(Value::from(v)))
            }
            fn visit_u64<E>(self, v: u64) -> std::result::Result<Scalar, E> {
                Ok(Scalar(Value::from(v)))
            }
            fn visit_f64<E>(self, v: f64) -> std::result::Result<Scalar, E> {
                Ok(Scalar(Value::from(v)))
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<Scalar, E> {
                Ok(Scalar(Value::from(v)))
            }
            fn visit_string<E>(self, v: String) -> std::result::Result<Scalar, E> {
                Ok(Scalar(Value::String(v)))
            }
            fn visit_unit<E>(self) -> std::result::Result<Scalar, E> {
                Ok(Scalar(Value::Null))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Scalar, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Scalar(Value::Null))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Scalar, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Scalar(Value::Null))
            }
        }
        d.deserialize_any(V)
    }
}

/// A `[piece, score]` pair of scalars (any other shape becomes `null`).
struct PairOfScalars(Value);

impl<'de> Deserialize<'de> for PairOfScalars {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = PairOfScalars;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a [piece, score] pair")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<PairOfScalars, A::Error> {
                let mut items = Vec::with_capacity(2);
                while let Some(Scalar(v)) = seq.next_element::<Scalar>()? {
                    if items.len() < 3 {
                        items.push(v);
                    }
                }
                Ok(PairOfScalars(Value::Array(items)))
            }
            fn visit_bool<E>(self, _: bool) -> std::result::Result<PairOfScalars, E> {
                Ok(PairOfScalars(Value::Null))
            }
            fn visit_i64<E>(self, _: i64) -> std::result::Result<PairOfScalars, E> {
                Ok(PairOfScalars(Value::Null))
            }
            fn visit_u64<E>(self, _: u64) -> std::result::Result<PairOfScalars, E> {
                Ok(PairOfScalars(Value::Null))
            }
            fn visit_f64<E>(self, _: f64) -> std::result::Result<PairOfScalars, E> {
                Ok(PairOfScalars(Value::Null))
            }
            fn visit_str<E>(self, _: &str) -> std::result::Result<PairOfScalars, E> {
                Ok(PairOfScalars(Value::Null))
            }
            fn visit_unit<E>(self) -> std::result::Result<PairOfScalars, E> {
                Ok(PairOfScalars(Value::Null))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<PairOfScalars, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(PairOfScalars(Value::Null))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for CappedVocab {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = CappedVocab;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object or an array")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<CappedVocab, A::Error> {
                let mut m = serde_json::Map::new();
                while let Some(k) = map.next_key::<String>()? {
                    if m.len() >= MAX_VOCAB {
                        return Err(serde::de::Error::custom(format_args!(
                            "model.vocab has more than {MAX_VOCAB} entries"
                        )));
                    }
                    let Scalar(v) = map.next_value()?;
                    m.insert(k, v);
                }
                Ok(CappedVocab(Value::Object(m)))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<CappedVocab, A::Error> {
                let mut items = Vec::new();
                while let Some(PairOfScalars(v)) = seq.next_element()? {
                    if items.len() >= MAX_VOCAB {
                        return Err(serde::de::Error::custom(format_args!(
                            "model.vocab has more than {MAX_VOCAB} entries"
                        )));
                    }
                    items.push(v);
                }
                Ok(CappedVocab(Value::Array(items)))
            }
            fn visit_bool<E>(self, v: bool) -> std::result::Result<CappedVocab, E> {
                Ok(CappedVocab(Value::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> std::result::Result<CappedVocab, E> {
                Ok(CappedVocab(Value::from(v)))
            }
            fn visit_u64<E>(self, v: u64) -> std::result::Result<CappedVocab, E> {
                Ok(CappedVocab(Value::from(v)))
            }
            fn visit_f64<E>(self, v: f64) -> std::result::Result<CappedVocab, E> {
                Ok(CappedVocab(Value::from(v)))
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<CappedVocab, E> {
                Ok(CappedVocab(Value::from(v)))
            }
            fn visit_unit<E>(self) -> std::result::Result<CappedVocab, E> {
                Ok(CappedVocab(Value::Null))
            }
        }
        d.deserialize_any(V)
    }
}

/// `model.merges`, refused as soon as it passes [`MAX_MERGES`] entries.
struct CappedMerges(Vec<Merge>);

impl<'de> Deserialize<'de> for CappedMerges {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = CappedMerges;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of merges")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<CappedMerges, A::Error> {
                let mut out = Vec::new();
                while let Some(m) = seq.next_element::<Merge>()? {
                    if out.len() >= MAX_MERGES {
                        return Err(serde::de::Error::custom(format_args!(
                            "model.merges has more than {MAX_MERGES} entries"
                        )));
                    }
                    out.push(m);
                }
                Ok(CappedMerges(out))
            }
        }
        d.deserialize_seq(V)
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Merge {
    Joined(String),
    Pair(String, String),
}

#[derive(Deserialize)]
struct AddedToken {
    id: u64,
    content: String,
    #[serde(default)]
    special: bool,
}

/// Whether `v` (a normalizer / pre-tokenizer / decoder section) contains an object whose
/// `"type"` is `name`, at any depth.
fn has_type(v: &Value, name: &str) -> bool {
    match v {
        Value::Object(m) => {
            m.get("type").and_then(Value::as_str) == Some(name)
                || m.values().any(|x| has_type(x, name))
        }
        Value::Array(a) => a.iter().any(|x| has_type(x, name)),
        _ => false,
    }
}

/// Whether any string in `v` contains `needle`.
fn has_string_containing(v: &Value, needle: &str) -> bool {
    match v {
        Value::String(s) => s.contains(needle),
        Value::Object(m) => m.values().any(|x| has_string_containing(x, needle)),
        Value::Array(a) => a.iter().any(|x| has_string_containing(x, needle)),
        _ => false,
    }
}

/// `Sequence[Split,ByteLevel]`-style description of a section.
fn describe(v: &Value) -> Option<String> {
    let m = v.as_object()?;
    let ty = m.get("type")?.as_str()?;
    let inner = ["pretokenizers", "normalizers", "decoders"]
        .iter()
        .find_map(|k| m.get(*k).and_then(Value::as_array));
    match inner {
        Some(items) => {
            let parts: Vec<String> = items.iter().filter_map(describe).collect();
            Some(format!("{ty}[{}]", parts.join(",")))
        }
        None => Some(ty.to_string()),
    }
}

fn is_lowercase(v: &Value) -> bool {
    match v {
        Value::Object(m) => {
            m.get("type").and_then(Value::as_str) == Some("Lowercase")
                || m.get("lowercase").and_then(Value::as_bool) == Some(true)
                || m.values().any(is_lowercase)
        }
        Value::Array(a) => a.iter().any(is_lowercase),
        _ => false,
    }
}

fn to_id(raw: u64, field: &str) -> Result<usize> {
    let id = usize::try_from(raw).unwrap_or(usize::MAX);
    if id >= MAX_VOCAB {
        return Err(Error::TooMany {
            file: FILE.into(),
            field: field.into(),
            count: id.saturating_add(1),
            cap: MAX_VOCAB,
        });
    }
    Ok(id)
}

/// A set of token texts built on first use: merges with a single space (nearly all of them)
/// never need it.
pub(crate) struct LazyTexts<'a, F: Fn() -> HashSet<&'a str>> {
    cell: std::cell::OnceCell<HashSet<&'a str>>,
    make: F,
}

impl<'a, F: Fn() -> HashSet<&'a str>> LazyTexts<'a, F> {
    pub(crate) fn new(make: F) -> Self {
        LazyTexts {
            cell: std::cell::OnceCell::new(),
            make,
        }
    }

    pub(crate) fn contains(&self, s: &str) -> bool {
        self.cell.get_or_init(&self.make).contains(s)
    }
}

/// Splits a joined merge `"a b"`; when there are several spaces, prefers the split whose two
/// halves are both in the vocabulary.
pub(crate) fn split_merge(s: &str, known: &dyn Fn(&str) -> bool) -> Option<(String, String)> {
    let spaces: Vec<usize> = s.match_indices(' ').map(|(i, _)| i).collect();
    let pick = if spaces.len() > 1 {
        spaces
            .iter()
            .copied()
            .find(|&i| known(&s[..i]) && known(&s[i + 1..]))
            .or_else(|| spaces.first().copied())
    } else {
        spaces.first().copied()
    }?;
    Some((s[..pick].to_string(), s[pick + 1..].to_string()))
}

impl Vocab {
    /// Reads a Hugging Face `tokenizer.json`.
    pub fn from_tokenizer_json(json: &[u8]) -> Result<Vocab> {
        if json.len() > MAX_JSON_LEN {
            return Err(Error::TooLarge {
                file: FILE.into(),
                size: json.len(),
                cap: MAX_JSON_LEN,
            });
        }
        let root: Root = serde_json::from_slice(json).map_err(|source| Error::Json {
            file: FILE.into(),
            source,
        })?;
        let model = root.model;
        let normalizer = section(root.normalizer, "normalizer")?;
        let pre_tokenizer = section(root.pre_tokenizer, "pre_tokenizer")?;
        let decoder = section(root.decoder, "decoder")?;
        let vocab_value = model.vocab.map_or(Value::Null, |v| v.0);
        let type_name = match model.kind.as_deref() {
            Some(t) => t.to_string(),
            None if model.merges.is_some() => "BPE".into(),
            None if vocab_value.is_array() => "Unigram".into(),
            None if model.continuing_subword_prefix.is_some() => "WordPiece".into(),
            None => "WordLevel".into(),
        };
        let sections: Vec<&Value> = [&normalizer, &pre_tokenizer, &decoder]
            .into_iter()
            .flatten()
            .collect();
        let any_type = |name: &str| sections.iter().any(|v| has_type(v, name));

        if let Value::Object(map) = &vocab_value {
            let max_id = map
                .values()
                .filter_map(Value::as_u64)
                .chain(root.added_tokens.iter().map(|a| a.id))
                .max();
            check_dense(
                FILE,
                "model.vocab",
                max_id,
                map.len() + root.added_tokens.len(),
            )?;
        }
        // Collect (id, text, score) from the model's vocabulary.
        let mut slots: Vec<Option<RawToken>> = Vec::new();
        let mut notes = Vec::new();
        let put = |slots: &mut Vec<Option<RawToken>>, id: usize, tok: RawToken| {
            if slots.len() <= id {
                slots.resize_with(id + 1, || None);
            }
            slots[id] = Some(tok);
        };
        match &vocab_value {
            Value::Object(map) => {
                if map.len() > MAX_VOCAB {
                    return Err(Error::TooMany {
                        file: FILE.into(),
                        field: "model.vocab".into(),
                        count: map.len(),
                        cap: MAX_VOCAB,
                    });
                }
                for (text, id) in map {
                    let raw = id.as_u64().ok_or_else(|| {
                        Error::field(
                            FILE,
                            format!("model.vocab[{text:?}]"),
                            "id is not a non-negative integer",
                        )
                    })?;
                    let id = to_id(raw, "model.vocab")?;
                    if let Some(Some(prev)) = slots.get(id) {
                        // Deterministic whatever the map order: keep the smaller text.
                        notes.push(format!(
                            "model.vocab: id {id} assigned to both {:?} and {text:?}; kept the smaller",
                            prev.text
                        ));
                        if prev.text.as_str() <= text.as_str() {
                            continue;
                        }
                    }
                    put(
                        &mut slots,
                        id,
                        RawToken {
                            text: text.clone(),
                            kind: TokenKind::Normal,
                            score: None,
                        },
                    );
                }
            }
            Value::Array(items) => {
                if items.len() > MAX_VOCAB {
                    return Err(Error::TooMany {
                        file: FILE.into(),
                        field: "model.vocab".into(),
                        count: items.len(),
                        cap: MAX_VOCAB,
                    });
                }
                slots.reserve(items.len());
                for (i, item) in items.iter().enumerate() {
                    let pair = item.as_array().filter(|a| a.len() == 2);
                    let text = pair.and_then(|a| a[0].as_str());
                    let score = pair.and_then(|a| a[1].as_f64());
                    let (Some(text), Some(score)) = (text, score) else {
                        return Err(Error::field(
                            FILE,
                            format!("model.vocab[{i}]"),
                            "expected [piece, score]",
                        ));
                    };
                    slots.push(Some(RawToken {
                        text: text.to_string(),
                        kind: TokenKind::Normal,
                        score: Some(score as f32),
                    }));
                }
            }
            Value::Null => {
                return Err(Error::field(FILE, "model.vocab", "missing"));
            }
            _ => {
                return Err(Error::field(
                    FILE,
                    "model.vocab",
                    "expected an object or an array",
                ));
            }
        }

        // Added tokens override (or extend) the model's vocabulary.
        if root.added_tokens.len() > MAX_VOCAB {
            return Err(Error::TooMany {
                file: FILE.into(),
                field: "added_tokens".into(),
                count: root.added_tokens.len(),
                cap: MAX_VOCAB,
            });
        }
        let mut special_ids = Vec::new();
        for a in &root.added_tokens {
            let id = to_id(a.id, "added_tokens")?;
            let kind = if a.special {
                special_ids.push(id as u32);
                TokenKind::Special
            } else {
                TokenKind::UserDefined
            };
            let score = slots.get(id).and_then(|s| s.as_ref()).and_then(|t| t.score);
            put(
                &mut slots,
                id,
                RawToken {
                    text: a.content.clone(),
                    kind,
                    score,
                },
            );
        }
        let holes = slots.iter().filter(|s| s.is_none()).count();
        if holes > 0 {
            notes.push(format!(
                "{holes} ids are not assigned by the vocabulary nor added_tokens; filled with [PADn]"
            ));
        }
        let tokens: Vec<RawToken> = slots
            .into_iter()
            .enumerate()
            .map(|(id, s)| {
                s.unwrap_or_else(|| RawToken {
                    text: format!("[PAD{id}]"),
                    kind: TokenKind::Unused,
                    score: None,
                })
            })
            .collect();

        // Kind and normalization style.
        let (kind, style) = match type_name.as_str() {
            "BPE" => {
                if any_type("ByteLevel") {
                    (TokenizerKind::BpeByteLevel, NormStyle::ByteLevel)
                } else if any_type("Metaspace")
                    || model.byte_fallback == Some(true)
                    || sections
                        .iter()
                        .any(|v| has_string_containing(v, "\u{2581}"))
                {
                    (TokenizerKind::BpeSentencePiece, NormStyle::SentencePiece)
                } else {
                    guess_bpe_style(&tokens)
                }
            }
            "WordPiece" => (
                TokenizerKind::WordPiece,
                NormStyle::WordPiece {
                    continuation: model
                        .continuing_subword_prefix
                        .clone()
                        .unwrap_or_else(|| "##".into()),
                },
            ),
            "Unigram" => (TokenizerKind::Unigram, NormStyle::SentencePiece),
            "WordLevel" => (TokenizerKind::WordLevel, NormStyle::Raw),
            _ => (TokenizerKind::Unknown, NormStyle::Raw),
        };

        // Merges.
        let mut merges = Vec::new();
        if let Some(CappedMerges(list)) = model.merges {
            if list.len() > crate::vocab::MAX_MERGES {
                return Err(Error::TooMany {
                    file: FILE.into(),
                    field: "model.merges".into(),
                    count: list.len(),
                    cap: crate::vocab::MAX_MERGES,
                });
            }
            let known = LazyTexts::new(|| tokens.iter().map(|t| t.text.as_str()).collect());
            let is_known = |s: &str| known.contains(s);
            merges.reserve(list.len());
            for (i, m) in list.into_iter().enumerate() {
                match m {
                    Merge::Pair(a, b) => merges.push((a, b)),
                    Merge::Joined(s) => {
                        let pair = split_merge(&s, &is_known).ok_or_else(|| {
                            Error::field(
                                FILE,
                                format!("model.merges[{i}]"),
                                format!("{s:?} has no space separating the pair"),
                            )
                        })?;
                        merges.push(pair);
                    }
                }
            }
        }

        let mut special = SpecialTokens {
            added: special_ids,
            ..SpecialTokens::default()
        };
        special.unk = match (model.unk_id, &model.unk_token) {
            (Some(id), _) => u32::try_from(id).ok(),
            (None, Some(t)) => tokens
                .iter()
                .position(|x| &x.text == t)
                .and_then(|i| u32::try_from(i).ok()),
            _ => None,
        };
        if kind == TokenizerKind::WordPiece {
            let find = |s: &str| {
                tokens
                    .iter()
                    .position(|x| x.text == s)
                    .and_then(|i| u32::try_from(i).ok())
            };
            special.cls = find("[CLS]");
            special.sep = find("[SEP]");
            special.pad = find("[PAD]");
            special.mask = find("[MASK]");
        }
        let hints = Hints {
            pre: pre_tokenizer.as_ref().and_then(describe),
            normalizer: normalizer.as_ref().and_then(describe),
            lowercase: normalizer.as_ref().is_some_and(is_lowercase),
            add_space_prefix: pre_tokenizer
                .as_ref()
                .and_then(find_bool("add_prefix_space"))
                .or_else(|| {
                    pre_tokenizer
                        .as_ref()
                        .and_then(find_str("prepend_scheme"))
                        .map(|s| s != "never")
                }),
            byte_fallback: model.byte_fallback,
            model: Some(type_name.clone()),
        };
        Vocab::assemble(Parts {
            file: FILE,
            format: SourceFormat::TokenizerJson,
            kind,
            style,
            tokens,
            merges,
            special,
            hints,
            source: format!("tokenizer.json ({type_name})"),
            notes,
        })
    }
}

fn find_bool(key: &'static str) -> impl Fn(&Value) -> Option<bool> {
    move |v| find_value(v, key).and_then(Value::as_bool)
}

fn find_str(key: &'static str) -> impl Fn(&Value) -> Option<&str> {
    move |v| find_value(v, key).and_then(Value::as_str)
}

fn find_value<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Object(m) => m
            .get(key)
            .or_else(|| m.values().find_map(|x| find_value(x, key))),
        Value::Array(a) => a.iter().find_map(|x| find_value(x, key)),
        _ => None,
    }
}

/// Byte-level or sentencepiece-style, from the tokens themselves (`Ġ` versus `▁`).
pub(crate) fn guess_bpe_style(tokens: &[RawToken]) -> (TokenizerKind, NormStyle) {
    let g = tokens.iter().filter(|t| t.text.contains('\u{120}')).count();
    let s = tokens
        .iter()
        .filter(|t| t.text.contains('\u{2581}'))
        .count();
    if s > g {
        (TokenizerKind::BpeSentencePiece, NormStyle::SentencePiece)
    } else {
        (TokenizerKind::BpeByteLevel, NormStyle::ByteLevel)
    }
}
