//! The canonical normal form of a token, so that one vocabulary compares equal whatever file
//! it came from.
//!
//! # The normal form
//!
//! A token's normal form ([`crate::Token::norm`]) is the text the token stands for, as UTF-8:
//!
//! - **Spaces are real spaces.** A leading (or inner) space is U+0020 `' '`, whether the file
//!   wrote it as byte-level BPE's `Ġ` (U+0120), sentencepiece's `▁` (U+2581), or implied it
//!   (a WordPiece word-initial token).
//! - **Byte-level BPE** (GPT-2 family): the whole GPT-2 byte↔unicode table is undone (`Ġ` is a
//!   space, `Ċ` a newline, `ĉ` a tab, …). The resulting bytes are kept as text where they are
//!   valid UTF-8; each byte that is not (a lone lead byte, a partial multi-byte character) is
//!   written `<0xNN>` (upper-case hex), so `"Ġâ"` becomes `" <0xE2>"`.
//! - **Sentencepiece byte tokens** `<0xNN>` stay `<0xNN>` (hex made upper-case), even for
//!   ASCII bytes: sentencepiece vocabularies hold both `<0x41>` and `A`, which must stay
//!   distinct.
//! - **WordPiece**: a continuation token `##ing` becomes `ing` (no leading space); a
//!   word-initial token `the` becomes `" the"`; a bracketed token (`[CLS]`, `[unused0]`) is kept
//!   as is. llama.cpp's GGUF convention (word-initial tokens prefixed with `▁`, `##` removed,
//!   bracketed tokens unchanged) maps to the same strings, so a BERT `vocab.txt` and its GGUF
//!   conversion compare equal at every id.
//! - **Added, special and control tokens** (`<|im_start|>`, `<s>`) are kept as stored: both
//!   tokenizer.json and llama.cpp store them as raw text, not byte-level-encoded.
//! - Nothing else is changed: no Unicode normalization, no case folding (a lower-casing
//!   tokenizer says so in [`crate::Hints::lowercase`]).
//!
//! llama.cpp's filler tokens `[PADn]` (written by its converter for ids the source vocabulary
//! left unassigned, `n` being the token's own id) are kept as is; [`crate::Vocab::is_filler`]
//! recognises them.

/// The printable bytes that GPT-2's table maps to themselves: `!`..=`~`, `¡`..=`¬`, `®`..=`ÿ`.
const fn is_self_mapped(b: u32) -> bool {
    (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
}

/// The 68 bytes GPT-2 maps to U+0100.. in increasing order.
const SHIFTED: [u8; 68] = {
    let mut out = [0u8; 68];
    let mut n = 0;
    let mut b = 0u32;
    while b < 256 {
        if !is_self_mapped(b) {
            out[n] = b as u8;
            n += 1;
        }
        b += 1;
    }
    out
};

/// The byte a byte-level BPE character stands for (GPT-2's `bytes_to_unicode`, reversed).
pub fn byte_level_char_to_byte(c: char) -> Option<u8> {
    let u = c as u32;
    if u < 256 {
        if is_self_mapped(u) {
            return Some(u as u8);
        }
        return None;
    }
    let i = u - 256;
    SHIFTED.get(i as usize).copied()
}

/// The character GPT-2's byte-level BPE uses for byte `b` (`bytes_to_unicode`).
pub fn byte_to_byte_level_char(b: u8) -> char {
    if is_self_mapped(u32::from(b)) {
        return char::from(b);
    }
    let pos = SHIFTED.iter().position(|&x| x == b).unwrap_or(0);
    // 256 + pos < 324, always a valid scalar value.
    char::from_u32(256 + pos as u32).unwrap_or('\u{FFFD}')
}

/// Encodes raw bytes as byte-level BPE text (the form stored in GPT-2 `vocab.json`).
pub fn byte_level_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| byte_to_byte_level_char(b)).collect()
}

/// Decodes byte-level BPE text to bytes; `None` when a character is outside the table.
pub fn byte_level_decode(text: &str) -> Option<Vec<u8>> {
    text.chars().map(byte_level_char_to_byte).collect()
}

/// Bytes as text: valid UTF-8 runs verbatim, every other byte as `<0xNN>`.
pub fn bytes_to_text(mut bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    loop {
        match std::str::from_utf8(bytes) {
            Ok(s) => {
                out.push_str(s);
                return out;
            }
            Err(e) => {
                let (good, rest) = bytes.split_at(e.valid_up_to());
                // `good` is valid UTF-8 by construction.
                out.push_str(std::str::from_utf8(good).unwrap_or_default());
                let bad = e.error_len().unwrap_or(rest.len()).max(1);
                for b in &rest[..bad.min(rest.len())] {
                    out.push_str(&format!("<0x{b:02X}>"));
                }
                bytes = &rest[bad.min(rest.len())..];
                if bytes.is_empty() {
                    return out;
                }
            }
        }
    }
}

/// The byte of a sentencepiece byte token `<0xNN>` (either hex case).
pub fn parse_byte_token(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

/// Normal form of a byte-level BPE token stored in GPT-2 encoding.
pub fn norm_byte_level(text: &str) -> String {
    match byte_level_decode(text) {
        Some(bytes) => bytes_to_text(&bytes),
        // Not byte-level-encoded (an added token written raw): keep it.
        None => text.to_string(),
    }
}

/// Normal form of a sentencepiece-style token (`▁` = space); byte tokens as `<0xNN>`.
pub fn norm_sentencepiece(text: &str) -> String {
    if let Some(b) = parse_byte_token(text) {
        return format!("<0x{b:02X}>");
    }
    text.replace('\u{2581}', " ")
}

/// Whether a WordPiece token is bracketed (`[CLS]`, `[unused3]`): such tokens never get the
/// word-initial space (llama.cpp's rule).
pub fn is_bracketed(text: &str) -> bool {
    text.len() >= 2 && text.starts_with('[') && text.ends_with(']')
}

/// Normal form of a WordPiece token as stored in `vocab.txt` / tokenizer.json, with the given
/// continuation prefix (normally `##`).
pub fn norm_wordpiece(text: &str, continuation: &str) -> String {
    if is_bracketed(text) {
        return text.to_string();
    }
    if !continuation.is_empty() {
        if let Some(rest) = text.strip_prefix(continuation) {
            return rest.to_string();
        }
    }
    let mut s = String::with_capacity(text.len() + 1);
    s.push(' ');
    s.push_str(text);
    s
}

/// Normal form of a WordPiece token in llama.cpp's GGUF convention (`▁` marks word-initial).
pub fn norm_wordpiece_ggml(text: &str) -> String {
    match text.strip_prefix('\u{2581}') {
        Some(rest) => {
            let mut s = String::with_capacity(rest.len() + 1);
            s.push(' ');
            s.push_str(rest);
            s
        }
        None => text.to_string(),
    }
}

/// The number `n` of a llama.cpp filler text `[PADn]`.
pub fn pad_filler_number(text: &str) -> Option<usize> {
    let n = text.strip_prefix("[PAD")?.strip_suffix(']')?;
    if n.is_empty() || n.len() > 12 || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

/// Whether `text` is llama.cpp's filler for id `id`: exactly `[PAD{id}]`.
pub fn is_filler_text(text: &str, id: usize) -> bool {
    pad_filler_number(text) == Some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_table_round_trips_all_256_bytes() {
        let mut seen = std::collections::BTreeSet::new();
        for b in 0..=255u8 {
            let c = byte_to_byte_level_char(b);
            assert!(seen.insert(c), "byte {b} maps to a repeated char");
            assert_eq!(byte_level_char_to_byte(c), Some(b));
        }
        assert_eq!(byte_to_byte_level_char(b' '), '\u{120}');
        assert_eq!(byte_to_byte_level_char(b'\n'), '\u{10A}');
        assert_eq!(byte_to_byte_level_char(b'\t'), '\u{109}');
        assert_eq!(byte_to_byte_level_char(0xAD), '\u{143}');
        assert_eq!(byte_level_char_to_byte(' '), None);
        assert_eq!(byte_level_char_to_byte('\u{144}'), None);
    }

    #[test]
    fn byte_level_tokens() {
        assert_eq!(norm_byte_level("Ġthe"), " the");
        assert_eq!(norm_byte_level("ĊĊ"), "\n\n");
        // "é" is C3 A9 -> "Ã©" in byte-level text.
        assert_eq!(norm_byte_level("Ã©"), "é");
        // A lone lead byte of a 3-byte character.
        assert_eq!(norm_byte_level("Ġâ"), " <0xE2>");
        assert_eq!(norm_byte_level("<|im start|>"), "<|im start|>");
    }

    #[test]
    fn bytes_to_text_escapes_only_invalid_bytes() {
        assert_eq!(bytes_to_text(b"ab\xffc\xe2\x82"), "ab<0xFF>c<0xE2><0x82>");
        assert_eq!(bytes_to_text("né".as_bytes()), "né");
    }

    #[test]
    fn sentencepiece_and_wordpiece() {
        assert_eq!(norm_sentencepiece("▁the"), " the");
        assert_eq!(norm_sentencepiece("<0x0a>"), "<0x0A>");
        assert_eq!(norm_wordpiece("##ing", "##"), "ing");
        assert_eq!(norm_wordpiece("the", "##"), " the");
        assert_eq!(norm_wordpiece("[CLS]", "##"), "[CLS]");
        assert_eq!(norm_wordpiece_ggml("▁the"), " the");
        assert_eq!(norm_wordpiece_ggml("ing"), "ing");
    }

    #[test]
    fn filler_names_its_own_id() {
        assert!(is_filler_text("[PAD32011]", 32011));
        assert!(!is_filler_text("[PAD32011]", 32012));
        assert!(!is_filler_text("[PAD]", 0));
        assert!(!is_filler_text("[PAD+1]", 1));
    }
}
