//! Reader for sentencepiece `tokenizer.model` files (a serialized `ModelProto`), with a tiny
//! protobuf walker instead of generated code.
//!
//! Read fields (everything else is skipped by wire type):
//!
//! ```text
//! ModelProto      { repeated SentencePiece pieces = 1; TrainerSpec trainer_spec = 2;
//!                   NormalizerSpec normalizer_spec = 3; }
//! SentencePiece   { string piece = 1; float score = 2; Type type = 3; }
//!                   Type: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
//! TrainerSpec     { ModelType model_type = 3; bool byte_fallback = 35;
//!                   int32 unk_id = 40; int32 bos_id = 41; int32 eos_id = 42; int32 pad_id = 43; }
//!                   ModelType: 1 unigram (default), 2 bpe, 3 word, 4 char
//! NormalizerSpec  { string name = 1; bool add_dummy_prefix = 3; }
//! ```
//!
//! Every length is checked against the bytes that remain before it is used; the file is at
//! most [`MAX_MODEL_LEN`] bytes, varints at most 10 bytes, and the piece count at most
//! [`crate::MAX_VOCAB`].

use crate::error::{Error, Result};
use crate::vocab::{
    Hints, NormStyle, Parts, RawToken, SourceFormat, SpecialTokens, TokenKind, TokenizerKind,
    Vocab, MAX_VOCAB,
};

/// Largest `tokenizer.model` accepted (256 MiB; real ones are a few MB).
pub const MAX_MODEL_LEN: usize = 256 * 1024 * 1024;

const FILE: &str = "tokenizer.model";

/// A protobuf field value.
enum Wire<'a> {
    Varint(u64),
    Fixed64,
    Bytes(&'a [u8], usize),
    Fixed32(u32),
}

/// Reads protobuf fields from a message body.
struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf` in the file, for error messages.
    base: usize,
    /// The message being read, for error messages.
    what: &'static str,
}

impl<'a> Fields<'a> {
    fn new(buf: &'a [u8], base: usize, what: &'static str) -> Fields<'a> {
        Fields {
            buf,
            pos: 0,
            base,
            what,
        }
    }

    fn err(&self, reason: impl Into<String>) -> Error {
        Error::Protobuf {
            file: FILE.into(),
            field: self.what.into(),
            offset: self.base + self.pos,
            reason: reason.into(),
        }
    }

    fn varint(&mut self) -> Result<u64> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(self.err("truncated varint"));
            };
            self.pos += 1;
            v |= u64::from(b & 0x7F) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.err("varint longer than 10 bytes"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let remaining = self.buf.len() - self.pos;
        if n > remaining {
            return Err(self.err(format!(
                "length {n} exceeds the {remaining} bytes remaining"
            )));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// The next `(field number, value)`, or `None` at the end.
    fn next_field(&mut self) -> Result<Option<(u64, Wire<'a>)>> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = key >> 3;
        let wire = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Wire::Fixed64
            }
            2 => {
                let len = self.varint()?;
                let len = usize::try_from(len).map_err(|_| self.err("length overflows"))?;
                let start = self.base + self.pos;
                Wire::Bytes(self.take(len)?, start)
            }
            5 => {
                let b = self.take(4)?;
                Wire::Fixed32(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }
            w => return Err(self.err(format!("unsupported wire type {w} (field {field})"))),
        };
        Ok(Some((field, wire)))
    }
}

fn int32(v: u64) -> i32 {
    // Negative int32 values are sign-extended to 64 bits on the wire.
    v as i64 as i32
}

struct Trainer {
    model_type: u64,
    byte_fallback: Option<bool>,
    unk: i32,
    bos: i32,
    eos: i32,
    pad: i32,
}

impl Vocab {
    /// Reads a sentencepiece `tokenizer.model`.
    pub fn from_sentencepiece(bytes: &[u8]) -> Result<Vocab> {
        if bytes.len() > MAX_MODEL_LEN {
            return Err(Error::TooLarge {
                file: FILE.into(),
                size: bytes.len(),
                cap: MAX_MODEL_LEN,
            });
        }
        let mut tokens = Vec::new();
        let mut trainer = Trainer {
            model_type: 1,
            byte_fallback: None,
            unk: 0,
            bos: 1,
            eos: 2,
            pad: -1,
        };
        let mut normalizer_name = None;
        let mut add_dummy_prefix = None;
        let mut top = Fields::new(bytes, 0, "ModelProto");
        while let Some((field, wire)) = top.next_field()? {
            match (field, wire) {
                (1, Wire::Bytes(body, at)) => {
                    if tokens.len() >= MAX_VOCAB {
                        return Err(Error::TooMany {
                            file: FILE.into(),
                            field: "pieces".into(),
                            count: tokens.len() + 1,
                            cap: MAX_VOCAB,
                        });
                    }
                    tokens.push(read_piece(body, at, tokens.len())?);
                }
                (2, Wire::Bytes(body, at)) => read_trainer(body, at, &mut trainer)?,
                (3, Wire::Bytes(body, at)) => {
                    let mut f = Fields::new(body, at, "normalizer_spec");
                    while let Some((nf, w)) = f.next_field()? {
                        match (nf, w) {
                            (1, Wire::Bytes(s, _)) => {
                                normalizer_name = Some(String::from_utf8_lossy(s).into_owned());
                            }
                            (3, Wire::Varint(v)) => add_dummy_prefix = Some(v != 0),
                            _ => {}
                        }
                    }
                }
                (1..=3, _) => return Err(top.err(format!("field {field} is not length-delimited"))),
                _ => {}
            }
        }
        let (kind, model_name) = match trainer.model_type {
            1 => (TokenizerKind::Unigram, "unigram"),
            2 => (TokenizerKind::BpeSentencePiece, "bpe"),
            3 => (TokenizerKind::WordLevel, "word"),
            4 => (TokenizerKind::WordLevel, "char"),
            _ => (TokenizerKind::Unknown, "unknown"),
        };
        let n = tokens.len();
        let id = |v: i32| u32::try_from(v).ok().filter(|&i| (i as usize) < n);
        let special = SpecialTokens {
            bos: id(trainer.bos),
            eos: id(trainer.eos),
            unk: id(trainer.unk),
            pad: id(trainer.pad),
            ..SpecialTokens::default()
        };
        Vocab::assemble(Parts {
            file: FILE,
            format: SourceFormat::SentencePiece,
            kind,
            style: NormStyle::SentencePiece,
            tokens,
            merges: Vec::new(),
            special,
            hints: Hints {
                pre: None,
                normalizer: normalizer_name,
                lowercase: false,
                add_space_prefix: add_dummy_prefix,
                byte_fallback: trainer.byte_fallback,
                model: Some(model_name.into()),
            },
            source: format!("sentencepiece model ({model_name})"),
            notes: Vec::new(),
        })
    }
}

fn read_piece(body: &[u8], at: usize, index: usize) -> Result<RawToken> {
    let mut f = Fields::new(body, at, "pieces");
    let mut text = None;
    let mut score = None;
    let mut ty = 1i32;
    while let Some((field, wire)) = f.next_field()? {
        match (field, wire) {
            (1, Wire::Bytes(s, start)) => {
                if s.len() > crate::vocab::MAX_TOKEN_LEN {
                    return Err(Error::TokenTooLong {
                        file: FILE.into(),
                        field: "pieces".into(),
                        index,
                        len: s.len(),
                        cap: crate::vocab::MAX_TOKEN_LEN,
                    });
                }
                let s = std::str::from_utf8(s).map_err(|e| Error::Protobuf {
                    file: FILE.into(),
                    field: format!("pieces[{index}].piece"),
                    offset: start,
                    reason: format!("not UTF-8: {e}"),
                })?;
                text = Some(s.to_string());
            }
            (2, Wire::Fixed32(bits)) => score = Some(f32::from_bits(bits)),
            (3, Wire::Varint(v)) => ty = int32(v),
            (1..=3, _) => {
                return Err(f.err(format!(
                    "pieces[{index}]: field {field} has the wrong wire type"
                )))
            }
            _ => {}
        }
    }
    let text = text.ok_or_else(|| Error::Protobuf {
        file: FILE.into(),
        field: format!("pieces[{index}].piece"),
        offset: at,
        reason: "missing".into(),
    })?;
    Ok(RawToken {
        text,
        kind: TokenKind::from_ggml_type(ty),
        score,
    })
}

fn read_trainer(body: &[u8], at: usize, t: &mut Trainer) -> Result<()> {
    let mut f = Fields::new(body, at, "trainer_spec");
    while let Some((field, wire)) = f.next_field()? {
        if let Wire::Varint(v) = wire {
            match field {
                3 => t.model_type = v,
                35 => t.byte_fallback = Some(v != 0),
                40 => t.unk = int32(v),
                41 => t.bos = int32(v),
                42 => t.eos = int32(v),
                43 => t.pad = int32(v),
                _ => {}
            }
        }
    }
    Ok(())
}

/// Encodes a minimal `ModelProto` (for tests of this crate and of its users): `pieces` as
/// `(piece, score, type)` and the trainer's `model_type`.
pub fn encode_sentencepiece(pieces: &[(&str, f32, i32)], model_type: i32) -> Vec<u8> {
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    fn bytes_field(out: &mut Vec<u8>, field: u64, body: &[u8]) {
        varint(out, field << 3 | 2);
        varint(out, body.len() as u64);
        out.extend_from_slice(body);
    }
    let mut out = Vec::new();
    for (piece, score, ty) in pieces {
        let mut p = Vec::new();
        bytes_field(&mut p, 1, piece.as_bytes());
        varint(&mut p, 2 << 3 | 5);
        p.extend_from_slice(&score.to_le_bytes());
        varint(&mut p, 3 << 3);
        varint(&mut p, *ty as i64 as u64);
        bytes_field(&mut out, 1, &p);
    }
    let mut t = Vec::new();
    varint(&mut t, 3 << 3);
    varint(&mut t, model_type as i64 as u64);
    bytes_field(&mut out, 2, &t);
    out
}
