//! Tokenizer vocabularies, read from any of the usual files, normalized to one form and
//! compared for lineage.
//!
//! A tokenizer tells its own lineage: a vocabulary copied unchanged, extended by a few tokens
//! (Phi-3 is Llama 2's 32,000 tokens plus 64), or the same token set re-ordered. This crate
//! reads a vocabulary into one model ([`Vocab`]) and compares two of them ([`compare`]).
//!
//! # Contents
//!
//! - [`Vocab`]: tokens by id ([`Token`]: stored text, normal form, [`TokenKind`], score),
//!   merges, special-token ids ([`SpecialTokens`]), pre-tokenizer/normalizer [`Hints`], and a
//!   source description.
//! - Readers, all sans-IO (bytes in): [`Vocab::from_tokenizer_json`] (Hugging Face
//!   `tokenizer.json`), [`Vocab::from_sentencepiece`] (`tokenizer.model`),
//!   [`Vocab::from_vocab_txt`] (WordPiece), [`Vocab::from_vocab_json_merges`] (GPT-2
//!   `vocab.json` + `merges.txt`), and [`Vocab::from_ggml`] (GGUF tokenizer metadata given as
//!   plain values, [`GgmlTokenizer`]). [`load_dir`] and [`load_file`] do the file I/O.
//! - [`normalize`]: the canonical normal form (documented there): spaces as `' '` whatever
//!   the marker (`Ġ`, `▁`, WordPiece word-initial), byte-level BPE decoded to text,
//!   `<0xNN>` for bytes that are not text.
//! - [`compare()`]: Jaccard, same-id statistics, merges, special tokens, and a [`Relation`]
//!   (identical, extended, modified, reordered, shared block, overlapping, unrelated) with documented
//!   rules; [`VocabComparison::summary`] says it in plain words.
//!
//! # Example
//!
//! ```
//! use taoke_tokenizer::{compare, Relation, Vocab};
//!
//! let base = Vocab::from_vocab_txt(b"[PAD]\n[UNK]\nthe\n##ing\n")?;
//! let extended = Vocab::from_vocab_txt(b"[PAD]\n[UNK]\nthe\n##ing\nnew\n")?;
//! let cmp = compare(&base, &extended);
//! assert!(matches!(cmp.relation, Relation::Extended { .. }));
//! assert_eq!(cmp.equal_id_fraction, 1.0);
//! # Ok::<(), taoke_tokenizer::Error>(())
//! ```
//!
//! # Caps
//!
//! At most [`MAX_VOCAB`] tokens of at most [`MAX_TOKEN_LEN`] bytes, [`MAX_MERGES`] merges,
//! JSON files of at most [`MAX_JSON_LEN`] bytes (nesting bounded by serde_json's recursion
//! limit of 128), sentencepiece models of at most [`MAX_MODEL_LEN`] bytes, text files of at
//! most [`MAX_TEXT_LEN`] bytes. Errors name the file and the field.
//!
//! # Terminology
//!
//! - *Normal form*: the text a token stands for, independent of the file's conventions.
//! - *Filler*: llama.cpp's `[PADn]` placeholder for an id the source vocabulary left
//!   unassigned (`n` is the id).
//! - *Special-like token*: special, control, user-defined, unused or unknown; the tokens
//!   derived tokenizers add or rename.

#![deny(missing_docs)]

mod compare;
mod error;
mod ggml;
mod hf_json;
pub mod normalize;
mod plain;
mod spm;
mod vocab;

use std::path::Path;

pub use compare::{
    compare, Changes, IdChange, IdShift, IdToken, Relation, Side, SpecialDiff, TokenSample,
    VocabComparison, EXTENDED_MAX_CHANGED, LIST_CAP, OVERLAP_MIN_JACCARD,
    REORDERED_MAX_EQUAL_ID_FRACTION, REORDERED_MIN_JACCARD, SHARED_BLOCK_MIN_FRACTION,
    SHARED_BLOCK_MIN_TOKENS,
};
pub use error::{Error, Result};
pub use ggml::{keys as ggml_keys, GgmlTokenizer};
pub use hf_json::{MAX_JSON_LEN, MAX_SECTION_LEN};
pub use plain::MAX_TEXT_LEN;
pub use spm::{encode_sentencepiece, MAX_MODEL_LEN};
pub use vocab::{
    Hints, NormStyle, SourceFormat, SpecialTokens, Token, TokenKind, TokenizerKind, Vocab,
    MAX_MERGES, MAX_TOKEN_LEN, MAX_VOCAB, MIN_UNASSIGNED_IDS,
};

/// The size cap of a tokenizer file, by its name (the reader that will parse it).
fn cap_for(name: &str) -> usize {
    if name.ends_with(".model") {
        MAX_MODEL_LEN
    } else if name.ends_with(".txt") {
        MAX_TEXT_LEN
    } else {
        MAX_JSON_LEN
    }
}

/// Reads a tokenizer file named by the user: a regular file, at most its reader's cap.
fn read(path: &Path) -> Result<Vec<u8>> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    taoke_model::fsafe::read_capped(path, cap_for(&name) as u64).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads `name` of a model folder: it must resolve inside `dir` (symlinks into the Hugging
/// Face cache's blobs allowed) and be a regular file of at most its reader's cap.
fn read_in(dir: &Path, name: &str) -> Result<Vec<u8>> {
    let path = taoke_model::fsafe::confine(dir, Path::new(name)).map_err(|e| Error::Io {
        path: dir.join(name),
        source: match e {
            taoke_model::fsafe::ConfineError::Io(source) => source,
            other => std::io::Error::new(std::io::ErrorKind::PermissionDenied, other.to_string()),
        },
    })?;
    read(&path)
}

/// Whether `dir/name` exists as anything (a file, a folder, a dangling or looping link): the
/// readers then say what is wrong with it rather than skip it.
fn present(dir: &Path, name: &str) -> bool {
    std::fs::symlink_metadata(dir.join(name)).is_ok()
}

/// Reads one tokenizer file, choosing the reader by its name: `tokenizer.json` (or any
/// `*.json` other than `vocab.json`), `*.model` (sentencepiece), `vocab.txt` (or any `*.txt`).
/// `vocab.json` needs its `merges.txt`: use [`load_dir`].
pub fn load_file(path: &Path) -> Result<Vocab> {
    let bytes = read(path)?;
    parse_file(path, &bytes)
}

fn parse_file(path: &Path, bytes: &[u8]) -> Result<Vocab> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let label = path.display().to_string();
    let result = if name.ends_with(".model") {
        Vocab::from_sentencepiece(bytes)
    } else if name.ends_with(".txt") {
        Vocab::from_vocab_txt(bytes)
    } else {
        Vocab::from_tokenizer_json(bytes)
    };
    let mut v = result.map_err(|e| e.with_file(label.clone()))?;
    v.source = format!("{} [{}]", v.source, label);
    Ok(v)
}

/// Reads `name` of `dir` (confined, see [`read_in`]) and parses it by its name.
fn load_in(dir: &Path, name: &str) -> Result<Vocab> {
    let bytes = read_in(dir, name)?;
    parse_file(&dir.join(name), &bytes)
}

/// Finds and reads the tokenizer of a model folder: `tokenizer.json`, else `tokenizer.model`,
/// else `vocab.json` + `merges.txt` (+ `added_tokens.json`), else `vocab.txt`. Role ids are
/// then taken from `special_tokens_map.json` (else `tokenizer_config.json`) when present.
/// `Ok(None)` when the folder has none of these files.
pub fn load_dir(dir: &Path) -> Result<Option<Vocab>> {
    let vjson = dir.join("vocab.json");
    let merges = dir.join("merges.txt");
    let mut vocab = if present(dir, "tokenizer.json") {
        load_in(dir, "tokenizer.json")?
    } else if present(dir, "tokenizer.model") {
        load_in(dir, "tokenizer.model")?
    } else if present(dir, "vocab.json") && present(dir, "merges.txt") {
        let added = dir.join("added_tokens.json");
        let v = read_in(dir, "vocab.json")?;
        let m = read_in(dir, "merges.txt")?;
        let a = if present(dir, "added_tokens.json") {
            Some(read_in(dir, "added_tokens.json")?)
        } else {
            None
        };
        let mut vocab = Vocab::from_vocab_json_merges_added(&v, &m, a.as_deref()).map_err(|e| {
            let path = match e.file().as_str() {
                "merges.txt" => &merges,
                "added_tokens.json" => &added,
                _ => &vjson,
            };
            e.with_file(path.display().to_string())
        })?;
        vocab.source = format!("{} [{}]", vocab.source, dir.display());
        vocab
    } else if present(dir, "vocab.txt") {
        load_in(dir, "vocab.txt")?
    } else {
        return Ok(None);
    };
    for name in ["special_tokens_map.json", "tokenizer_config.json"] {
        if present(dir, name) {
            let p = dir.join(name);
            let bytes = read_in(dir, name)?;
            vocab
                .apply_special_tokens_map(&bytes)
                .map_err(|e| e.with_file(p.display().to_string()))?;
            break;
        }
    }
    Ok(Some(vocab))
}
