//! A zero-copy walker over the protobuf wire format.
//!
//! Protobuf messages are a flat sequence of fields. Each field starts with a varint tag
//! `(field_number << 3) | wire_type`; the wire type says how long the value is:
//!
//! | wire type | meaning | value |
//! |---|---|---|
//! | 0 | varint | up to 10 bytes, 7 bits each, little-endian groups |
//! | 1 | fixed64 | 8 bytes little-endian |
//! | 2 | length-delimited | a varint length, then that many bytes (strings, bytes, nested messages, packed repeated scalars) |
//! | 5 | fixed32 | 4 bytes little-endian |
//!
//! Wire types 3 and 4 (deprecated groups) are rejected. [`Fields`] iterates the fields of one
//! message held in a byte slice; nested messages are walked by creating another [`Fields`]
//! over the payload. Every length is checked against the bytes that remain before it is used,
//! and every payload carries its absolute offset in the file so tensors can be described as
//! byte ranges without copying.

use crate::Error;

/// The value of one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1.
    Fixed64(u64),
    /// Wire type 2: the payload and its absolute offset in the file.
    Bytes(&'a [u8], u64),
    /// Wire type 5.
    Fixed32(u32),
}

/// One field of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Field<'a> {
    /// The field number (1 ..= 2^29 - 1).
    pub number: u32,
    /// The value.
    pub value: Value<'a>,
}

/// An iterator over the fields of one message.
pub(crate) struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Absolute file offset of `buf[0]`.
    base: u64,
    /// Which message is being read, for error messages.
    what: &'static str,
    failed: bool,
}

impl<'a> Fields<'a> {
    /// Walks the message in `buf`, whose first byte sits at file offset `base`.
    pub(crate) fn new(buf: &'a [u8], base: u64, what: &'static str) -> Self {
        Fields {
            buf,
            pos: 0,
            base,
            what,
            failed: false,
        }
    }

    fn offset(&self) -> u64 {
        self.base.saturating_add(self.pos as u64)
    }

    fn err(&self, reason: String) -> Error {
        Error::Wire {
            message: self.what,
            offset: self.offset(),
            reason,
        }
    }

    fn varint(&mut self) -> Result<u64, Error> {
        let (v, n) = read_varint(&self.buf[self.pos..]).map_err(|r| self.err(r.to_string()))?;
        self.pos += n;
        Ok(v)
    }

    fn take(&mut self, n: u64) -> Result<(&'a [u8], u64), Error> {
        let remaining = self.buf.len() - self.pos;
        let n = usize::try_from(n)
            .ok()
            .filter(|&n| n <= remaining)
            .ok_or_else(|| self.err(format!("field needs {n} bytes, only {remaining} remain")))?;
        let off = self.offset();
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok((s, off))
    }

    fn next_field(&mut self) -> Result<Field<'a>, Error> {
        let tag = self.varint()?;
        let number = tag >> 3;
        if number == 0 || number > (1 << 29) - 1 {
            return Err(self.err(format!("invalid field number {number}")));
        }
        let number = number as u32;
        let value = match tag & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                let (b, _) = self.take(8)?;
                Value::Fixed64(u64::from_le_bytes(
                    b.try_into()
                        .map_err(|_| self.err("fixed64 field truncated".to_string()))?,
                ))
            }
            2 => {
                let len = self.varint()?;
                let (b, off) = self.take(len)?;
                Value::Bytes(b, off)
            }
            5 => {
                let (b, _) = self.take(4)?;
                Value::Fixed32(u32::from_le_bytes(
                    b.try_into()
                        .map_err(|_| self.err("fixed32 field truncated".to_string()))?,
                ))
            }
            w => {
                return Err(self.err(format!(
                    "field {number} has unsupported wire type {w} (groups are not used by ONNX)"
                )))
            }
        };
        Ok(Field { number, value })
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<Field<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.buf.len() {
            return None;
        }
        let r = self.next_field();
        if r.is_err() {
            self.failed = true;
        }
        Some(r)
    }
}

/// Reads one varint at the start of `buf`: the value and the bytes it took.
pub(crate) fn read_varint(buf: &[u8]) -> Result<(u64, usize), &'static str> {
    let mut v: u64 = 0;
    for (i, &b) in buf.iter().enumerate().take(10) {
        if i == 9 && b > 1 {
            return Err("varint overflows 64 bits");
        }
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((v, i + 1));
        }
    }
    if buf.len() < 10 {
        Err("truncated varint")
    } else {
        Err("varint longer than 10 bytes")
    }
}

/// Iterates the varints of a packed repeated field.
pub(crate) fn packed_varints(buf: &[u8]) -> impl Iterator<Item = Result<u64, &'static str>> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= buf.len() {
            return None;
        }
        Some(read_varint(&buf[pos..]).map(|(v, n)| {
            pos += n;
            v
        }))
    })
}

/// Number of varints in a packed payload (each ends with a byte whose top bit is clear);
/// `None` when the payload ends inside a varint.
pub(crate) fn count_varints(buf: &[u8]) -> Option<u64> {
    if buf.last().is_some_and(|b| b & 0x80 != 0) {
        return None;
    }
    Some(buf.iter().filter(|&&b| b & 0x80 == 0).count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        assert_eq!(read_varint(&[0x01]), Ok((1, 1)));
        assert_eq!(read_varint(&[0xac, 0x02]), Ok((300, 2)));
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(read_varint(&max), Ok((u64::MAX, 10)));
        let over = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert!(read_varint(&over).is_err());
        assert!(read_varint(&[0x80, 0x80]).is_err());
        assert!(read_varint(&[]).is_err());
        assert_eq!(count_varints(&[0x01, 0xac, 0x02, 0x05]), Some(3));
        assert_eq!(count_varints(&[0x01, 0xac]), None);
        let v: Vec<_> = packed_varints(&[0x01, 0xac, 0x02]).collect();
        assert_eq!(v, [Ok(1), Ok(300)]);
    }

    #[test]
    fn fields_and_bounds() {
        // field 1 varint 150, field 2 bytes "hi", field 3 fixed32 1.0
        let mut buf = vec![0x08, 0x96, 0x01, 0x12, 0x02, b'h', b'i', 0x1d];
        buf.extend_from_slice(&1.0f32.to_le_bytes());
        let f: Vec<_> = Fields::new(&buf, 100, "test")
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            f[0],
            Field {
                number: 1,
                value: Value::Varint(150)
            }
        );
        assert_eq!(
            f[1],
            Field {
                number: 2,
                value: Value::Bytes(b"hi", 105)
            }
        );
        assert_eq!(f[2].value, Value::Fixed32(0x3f80_0000));
        // length beyond the buffer
        let bad = [0x12, 0x05, b'h'];
        let r: Result<Vec<_>, _> = Fields::new(&bad, 0, "test").collect();
        assert!(r.unwrap_err().to_string().contains("needs 5 bytes"));
        // group wire type
        let r: Result<Vec<_>, _> = Fields::new(&[0x0b], 0, "test").collect();
        assert!(r.is_err());
        // field number 0
        let r: Result<Vec<_>, _> = Fields::new(&[0x00, 0x00], 0, "test").collect();
        assert!(r.is_err());
    }
}
