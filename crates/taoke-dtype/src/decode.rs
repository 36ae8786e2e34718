//! Decoding stored bytes into `f32`.

use crate::{quant, Dtype, Storage};

/// Returned by [`decode_f32`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The type has no real-valued decoding in this version (booleans, complex, unknown types,
    /// or a quantized type not yet implemented).
    #[error("cannot decode {0} values to f32")]
    Unsupported(Dtype),
    /// The byte run does not hold exactly `out.len()` elements of the type.
    #[error("{dtype}: {elems} elements need {needed} bytes, got {got}")]
    Length {
        /// The type being decoded.
        dtype: Dtype,
        /// Elements requested.
        elems: usize,
        /// Bytes those elements need (0 when the count does not fill whole blocks).
        needed: u64,
        /// Bytes given.
        got: usize,
    },
}

/// Decodes `bytes`, holding exactly `out.len()` little-endian elements of `dtype`, into `out`.
///
/// For block-quantized types `out.len()` must be a multiple of the block size.
pub fn decode_f32(dtype: Dtype, bytes: &[u8], out: &mut [f32]) -> Result<(), DecodeError> {
    let needed = dtype.bytes_for(out.len() as u64);
    if needed != Some(bytes.len() as u64) {
        if matches!(dtype.storage(), Storage::Unknown) || !dtype.is_real() {
            return Err(DecodeError::Unsupported(dtype));
        }
        return Err(DecodeError::Length {
            dtype,
            elems: out.len(),
            needed: needed.unwrap_or(0),
            got: bytes.len(),
        });
    }
    macro_rules! plain {
        ($n:literal, $f:expr) => {{
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact($n)) {
                let c: [u8; $n] = c.try_into().expect("invariant: chunks_exact");
                *o = $f(c);
            }
        }};
    }
    match dtype {
        Dtype::F32 => plain!(4, f32::from_le_bytes),
        Dtype::BF16 => plain!(2, |c: [u8; 2]| f32::from_bits(
            u32::from(u16::from_le_bytes(c)) << 16
        )),
        Dtype::F16 => plain!(2, |c: [u8; 2]| half::f16::from_bits(u16::from_le_bytes(c))
            .to_f32()),
        Dtype::F64 => plain!(8, |c| f64::from_le_bytes(c) as f32),
        Dtype::U8 => plain!(1, |c: [u8; 1]| f32::from(c[0])),
        Dtype::I8 => plain!(1, |c: [u8; 1]| f32::from(c[0] as i8)),
        Dtype::U16 => plain!(2, |c| f32::from(u16::from_le_bytes(c))),
        Dtype::I16 => plain!(2, |c| f32::from(i16::from_le_bytes(c))),
        Dtype::U32 => plain!(4, |c| u32::from_le_bytes(c) as f32),
        Dtype::I32 => plain!(4, |c| i32::from_le_bytes(c) as f32),
        Dtype::U64 => plain!(8, |c| u64::from_le_bytes(c) as f32),
        Dtype::I64 => plain!(8, |c| i64::from_le_bytes(c) as f32),
        Dtype::F8_E4M3 => plain!(1, |c: [u8; 1]| fp8_e4m3(c[0])),
        Dtype::F8_E5M2 => plain!(1, |c: [u8; 1]| fp8_e5m2(c[0])),
        Dtype::F8_E4M3FNUZ => plain!(1, |c: [u8; 1]| fp8_fnuz(c[0], 4, 3, 8)),
        Dtype::F8_E5M2FNUZ => plain!(1, |c: [u8; 1]| fp8_fnuz(c[0], 5, 2, 16)),
        Dtype::F8_E8M0 => plain!(1, |c: [u8; 1]| e8m0(c[0])),
        Dtype::F4 => {
            for (i, o) in out.iter_mut().enumerate() {
                let b = bytes[i / 2];
                let nib = if i % 2 == 0 { b & 0x0f } else { b >> 4 };
                *o = fp4_e2m1(nib);
            }
        }
        Dtype::F6_E2M3 | Dtype::F6_E3M2 => {
            let (e, m) = if dtype == Dtype::F6_E2M3 {
                (2, 3)
            } else {
                (3, 2)
            };
            for (i, o) in out.iter_mut().enumerate() {
                // Packed little-endian bit stream, element i at bits [6i, 6i+6).
                let bit = i * 6;
                let lo = bytes[bit / 8] as u16;
                let hi = bytes.get(bit / 8 + 1).copied().unwrap_or(0) as u16;
                let v = (((hi << 8) | lo) >> (bit % 8)) as u8 & 0x3f;
                *o = small_float(v, e, m);
            }
        }
        d if d.is_block_quantized() => quant::dequantize(d, bytes, out)?,
        d => return Err(DecodeError::Unsupported(d)),
    }
    Ok(())
}

/// A sign-exponent-mantissa float with no infinities or NaN (FP4, FP6 OCP formats).
fn small_float(v: u8, e: u32, m: u32) -> f32 {
    let sign = if v >> (e + m) & 1 == 1 { -1.0 } else { 1.0 };
    let exp = (v >> m) as u32 & ((1 << e) - 1);
    let man = v as u32 & ((1 << m) - 1);
    let bias = (1i32 << (e - 1)) - 1;
    let val = if exp == 0 {
        man as f32 / (1 << m) as f32 * 2f32.powi(1 - bias)
    } else {
        (1.0 + man as f32 / (1 << m) as f32) * 2f32.powi(exp as i32 - bias)
    };
    sign * val
}

fn fp4_e2m1(nib: u8) -> f32 {
    small_float(nib & 0x0f, 2, 1)
}

fn fp8_e4m3(b: u8) -> f32 {
    if b & 0x7f == 0x7f {
        return f32::NAN;
    }
    small_float(b, 4, 3)
}

fn fp8_e5m2(b: u8) -> f32 {
    // E5M2 is IEEE-like: the top half of f16.
    half::f16::from_bits(u16::from(b) << 8).to_f32()
}

fn fp8_fnuz(b: u8, e: u32, m: u32, bias: i32) -> f32 {
    if b == 0x80 {
        return f32::NAN;
    }
    let sign = if b & 0x80 != 0 { -1.0 } else { 1.0 };
    let exp = (b >> m) as u32 & ((1 << e) - 1);
    let man = b as u32 & ((1 << m) - 1);
    let val = if exp == 0 {
        man as f32 / (1 << m) as f32 * 2f32.powi(1 - bias)
    } else {
        (1.0 + man as f32 / (1 << m) as f32) * 2f32.powi(exp as i32 - bias)
    };
    sign * val
}

fn e8m0(b: u8) -> f32 {
    if b == 0xff {
        return f32::NAN;
    }
    2f32.powi(i32::from(b) - 127)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(d: Dtype, bytes: &[u8], n: usize) -> Vec<f32> {
        let mut out = vec![0.0; n];
        decode_f32(d, bytes, &mut out).unwrap();
        out
    }

    #[test]
    fn plain_types() {
        assert_eq!(dec(Dtype::F32, &1.5f32.to_le_bytes(), 1), [1.5]);
        assert_eq!(dec(Dtype::BF16, &[0x80, 0x3f], 1), [1.0]);
        assert_eq!(dec(Dtype::F16, &[0x00, 0x3c], 1), [1.0]);
        assert_eq!(dec(Dtype::I8, &[0xff], 1), [-1.0]);
        assert_eq!(dec(Dtype::I64, &(-7i64).to_le_bytes(), 1), [-7.0]);
    }

    #[test]
    fn fp8_fp4() {
        // E4M3: 0x38 = 0 0111 000 = 1.0; 0x7e = 448 (max finite)
        assert_eq!(dec(Dtype::F8_E4M3, &[0x38, 0x7e], 2), [1.0, 448.0]);
        assert!(dec(Dtype::F8_E4M3, &[0x7f], 1)[0].is_nan());
        // E5M2: 0x3c = 1.0
        assert_eq!(dec(Dtype::F8_E5M2, &[0x3c], 1), [1.0]);
        // FP4 E2M1 values: 0x2 = 1.0, 0x7 = 6.0, 0xf = -6.0
        assert_eq!(dec(Dtype::F4, &[0x72, 0x0f], 4), [1.0, 6.0, -6.0, 0.0]);
        assert_eq!(dec(Dtype::F8_E8M0, &[127, 128], 2), [1.0, 2.0]);
    }

    #[test]
    fn length_errors() {
        let mut out = [0.0; 2];
        assert!(matches!(
            decode_f32(Dtype::F32, &[0; 7], &mut out),
            Err(DecodeError::Length { .. })
        ));
        assert!(matches!(
            decode_f32(Dtype::Bool, &[0; 2], &mut out),
            Err(DecodeError::Unsupported(Dtype::Bool))
        ));
    }
}
