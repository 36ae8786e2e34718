//! Codebook, ternary and FP4 block types.
//!
//! | type | elems | bytes | layout | value |
//! |---|---|---|---|---|
//! | `IQ4_NL` | 32 | 18 | `d: f16, qs: [u8; 16]` | `d * K[q]` |
//! | `IQ4_XS` | 256 | 136 | `d: f16, scales_h: u16, scales_l: [u8; 4], qs: [u8; 128]` | `d*(ls-32) * K[q]` per 32 |
//! | `TQ1_0` | 256 | 54 | `qs: [u8; 48], qh: [u8; 4], d: f16` | `d * (t - 1)`, base-3 digits |
//! | `TQ2_0` | 256 | 66 | `qs: [u8; 64], d: f16` | `d * (q - 1)`, 2-bit `q` |
//! | `MXFP4` | 32 | 17 | `e: u8 (E8M0), qs: [u8; 16]` | `2^(e-128) * 2*E2M1[q]` |
//! | `NVFP4` | 64 | 36 | `d: [u8; 4] (UE4M3 per 16), qs: [u8; 32]` | `d_s/2 * 2*E2M1[q]` |
//!
//! `K` is the 16-entry non-linear codebook of `IQ4_NL`. `TQ1_0` packs five ternary digits
//! into one byte as a fixed-point fraction: digit `n` of byte `b` is
//! `((b * 3^n mod 256) * 3) >> 8`.

use super::f16_at;

/// The `IQ4_NL` / `IQ4_XS` codebook.
const IQ4_VALUES: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

/// FP4 E2M1 values, doubled to be integers: codes 0–7 positive, 8–15 negative.
const E2M1_X2: [i8; 16] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

/// `2^k` for `k` in the normal range of f32.
fn exp2i(k: i32) -> f32 {
    f32::from_bits(((k + 127) as u32) << 23)
}

pub(super) fn dequant_iq4_nl(b: &[u8; 18], out: &mut [f32; 32]) {
    let d = f16_at(b, 0);
    for (j, &q) in b[2..18].iter().enumerate() {
        out[j] = d * f32::from(IQ4_VALUES[usize::from(q & 0x0f)]);
        out[j + 16] = d * f32::from(IQ4_VALUES[usize::from(q >> 4)]);
    }
}

pub(super) fn dequant_iq4_xs(b: &[u8; 136], out: &mut [f32; 256]) {
    let d = f16_at(b, 0);
    let scales_h = u16::from_le_bytes([b[2], b[3]]);
    let scales_l = &b[4..8];
    for s in 0..8 {
        let lo = (scales_l[s / 2] >> (4 * (s % 2))) & 0x0f;
        let hi = ((scales_h >> (2 * s)) & 3) as u8;
        let dl = d * f32::from((lo | hi << 4) as i8 - 32);
        let qs = &b[8 + 16 * s..8 + 16 * s + 16];
        for (j, &q) in qs.iter().enumerate() {
            out[32 * s + j] = dl * f32::from(IQ4_VALUES[usize::from(q & 0x0f)]);
            out[32 * s + 16 + j] = dl * f32::from(IQ4_VALUES[usize::from(q >> 4)]);
        }
    }
}

/// Digit `n` of a `TQ1_0` byte, minus one: -1, 0 or 1.
#[inline]
fn trit(byte: u8, pow3: u8) -> f32 {
    let q = byte.wrapping_mul(pow3);
    f32::from(((u16::from(q) * 3) >> 8) as i8 - 1)
}

pub(super) fn dequant_tq1_0(b: &[u8; 54], out: &mut [f32; 256]) {
    const POW3: [u8; 5] = [1, 3, 9, 27, 81];
    let d = f16_at(b, 52);
    // Bytes 0–31: five digits each for elements 32n + m; bytes 32–47: elements 160 + 16n + m;
    // bytes 48–51 (qh): four digits each for elements 240 + 4n + m.
    for (n, &p) in POW3.iter().enumerate() {
        for m in 0..32 {
            out[32 * n + m] = d * trit(b[m], p);
        }
        for m in 0..16 {
            out[160 + 16 * n + m] = d * trit(b[32 + m], p);
        }
    }
    for (n, &p) in POW3[..4].iter().enumerate() {
        for m in 0..4 {
            out[240 + 4 * n + m] = d * trit(b[48 + m], p);
        }
    }
}

pub(super) fn dequant_tq2_0(b: &[u8; 66], out: &mut [f32; 256]) {
    let d = f16_at(b, 64);
    // Element 128*half + 32*group + l: bits 2*group of byte 32*half + l.
    for (qs, out) in b[0..64].chunks_exact(32).zip(out.chunks_exact_mut(128)) {
        for (group, out) in out.chunks_exact_mut(32).enumerate() {
            for (o, &q) in out.iter_mut().zip(qs) {
                *o = d * f32::from(((q >> (2 * group)) & 3) as i8 - 1);
            }
        }
    }
}

/// Half the E8M0 scale `2^(e-127)`, i.e. `2^(e-128)`, exact down to the subnormal `e = 0`.
fn e8m0_half(e: u8) -> f32 {
    if e < 2 {
        f32::from_bits(0x0020_0000 << e)
    } else {
        f32::from_bits(u32::from(e - 1) << 23)
    }
}

pub(super) fn dequant_mxfp4(b: &[u8; 17], out: &mut [f32; 32]) {
    let d = e8m0_half(b[0]);
    for (j, &q) in b[1..17].iter().enumerate() {
        out[j] = d * f32::from(E2M1_X2[usize::from(q & 0x0f)]);
        out[j + 16] = d * f32::from(E2M1_X2[usize::from(q >> 4)]);
    }
}

/// Half an unsigned E4M3 scale (bias 7); `0x7f` (NaN) decodes as zero, as in GGML.
fn ue4m3_half(x: u8) -> f32 {
    if x == 0 || x == 0x7f {
        return 0.0;
    }
    let exp = i32::from((x >> 3) & 0x0f);
    let man = f32::from(x & 7);
    if exp == 0 {
        man * exp2i(-10)
    } else {
        (8.0 + man) * exp2i(exp - 11)
    }
}

pub(super) fn dequant_nvfp4(b: &[u8; 36], out: &mut [f32; 64]) {
    for s in 0..4 {
        let d = ue4m3_half(b[s]);
        let qs = &b[4 + 8 * s..4 + 8 * s + 8];
        for (j, &q) in qs.iter().enumerate() {
            out[16 * s + j] = d * f32::from(E2M1_X2[usize::from(q & 0x0f)]);
            out[16 * s + 8 + j] = d * f32::from(E2M1_X2[usize::from(q >> 4)]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales() {
        assert_eq!(e8m0_half(128), 1.0);
        assert_eq!(e8m0_half(127), 0.5);
        assert_eq!(e8m0_half(1), 2f32.powi(-127));
        assert_eq!(e8m0_half(0), 2f32.powi(-128));
        // UE4M3 0x38 = exponent 7, mantissa 0 = 1.0; half of it.
        assert_eq!(ue4m3_half(0x38), 0.5);
        assert_eq!(ue4m3_half(0x01), 2f32.powi(-9) * 0.5);
        assert_eq!(ue4m3_half(0x7e), 448.0 * 0.5);
        assert_eq!(ue4m3_half(0x7f), 0.0);
    }

    #[test]
    fn tq1_digits() {
        // A byte holding digits (2, 0, 1, 2, 2) most significant first is
        // ceil((2*81 + 0*27 + 1*9 + 2*3 + 2) * 256 / 243).
        let v = 2 * 81 + 9 + 2 * 3 + 2;
        let byte = ((v * 256 + 242) / 243) as u8;
        let digits: Vec<f32> = [1, 3, 9, 27, 81].iter().map(|&p| trit(byte, p)).collect();
        assert_eq!(digits, [1.0, -1.0, 0.0, 1.0, 1.0]);
    }
}
