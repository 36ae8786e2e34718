//! The original GGML types: 32-element blocks with one f16 scale (and an f16 minimum for the
//! `_1` variants).
//!
//! | type | bytes | layout | value |
//! |---|---|---|---|
//! | `Q4_0` | 18 | `d: f16, qs: [u8; 16]` | `d * (q - 8)` |
//! | `Q4_1` | 20 | `d: f16, m: f16, qs: [u8; 16]` | `d * q + m` |
//! | `Q5_0` | 22 | `d: f16, qh: u32, qs: [u8; 16]` | `d * (q - 16)` |
//! | `Q5_1` | 24 | `d: f16, m: f16, qh: u32, qs: [u8; 16]` | `d * q + m` |
//! | `Q8_0` | 34 | `d: f16, qs: [i8; 32]` | `d * q` |
//! | `Q8_1` | 36 | `d: f16, s: f16, qs: [i8; 32]` | `d * q` (`s` caches `d * sum(q)`) |
//!
//! Four-bit codes: element `j < 16` is the low nibble of `qs[j]`, element `j + 16` the high
//! nibble. Five-bit codes add bit `j` of the little-endian `qh` as bit 4 of element `j`.

use super::{f16_at, f16_bytes, round_away};

/// Low nibbles then high nibbles of 16 packed bytes.
#[inline]
fn nibbles(qs: &[u8]) -> impl Iterator<Item = (usize, u8, u8)> + '_ {
    qs.iter().enumerate().map(|(j, &b)| (j, b & 0x0f, b >> 4))
}

pub(super) fn dequant_q4_0(b: &[u8; 18], out: &mut [f32; 32]) {
    let d = f16_at(b, 0);
    for (j, lo, hi) in nibbles(&b[2..18]) {
        out[j] = d * f32::from(lo as i8 - 8);
        out[j + 16] = d * f32::from(hi as i8 - 8);
    }
}

pub(super) fn dequant_q4_1(b: &[u8; 20], out: &mut [f32; 32]) {
    let d = f16_at(b, 0);
    let m = f16_at(b, 2);
    for (j, lo, hi) in nibbles(&b[4..20]) {
        out[j] = d * f32::from(lo) + m;
        out[j + 16] = d * f32::from(hi) + m;
    }
}

pub(super) fn dequant_q5_0(b: &[u8; 22], out: &mut [f32; 32]) {
    let d = f16_at(b, 0);
    let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
    for (j, lo, hi) in nibbles(&b[6..22]) {
        let h0 = ((qh >> j) & 1) as u8;
        let h1 = ((qh >> (j + 16)) & 1) as u8;
        out[j] = d * f32::from((lo | h0 << 4) as i8 - 16);
        out[j + 16] = d * f32::from((hi | h1 << 4) as i8 - 16);
    }
}

pub(super) fn dequant_q5_1(b: &[u8; 24], out: &mut [f32; 32]) {
    let d = f16_at(b, 0);
    let m = f16_at(b, 2);
    let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    for (j, lo, hi) in nibbles(&b[8..24]) {
        let h0 = ((qh >> j) & 1) as u8;
        let h1 = ((qh >> (j + 16)) & 1) as u8;
        out[j] = d * f32::from(lo | h0 << 4) + m;
        out[j + 16] = d * f32::from(hi | h1 << 4) + m;
    }
}

pub(super) fn dequant_q8_0(b: &[u8; 34], out: &mut [f32; 32]) {
    let d = f16_at(b, 0);
    for (o, &q) in out.iter_mut().zip(&b[2..34]) {
        *o = f32::from(q as i8) * d;
    }
}

pub(super) fn dequant_q8_1(b: &[u8; 36], out: &mut [f32; 32]) {
    let d = f16_at(b, 0);
    for (o, &q) in out.iter_mut().zip(&b[4..36]) {
        *o = f32::from(q as i8) * d;
    }
}

/// The element of largest magnitude (the first one on ties), with its sign.
fn signed_absmax(v: &[f32]) -> f32 {
    let mut best = 0.0f32;
    for &x in v {
        if x.abs() > best.abs() {
            best = x;
        }
    }
    best
}

fn min_max(v: &[f32]) -> (f32, f32) {
    v.iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
}

fn inverse(d: f32) -> f32 {
    if d == 0.0 {
        0.0
    } else {
        1.0 / d
    }
}

/// Packs 32 codes of up to 4 bits as nibbles (element `j` low, `j + 16` high).
fn pack_nibbles(q: &[u8; 32], qs: &mut [u8]) {
    for j in 0..16 {
        qs[j] = (q[j] & 0x0f) | (q[j + 16] & 0x0f) << 4;
    }
}

/// Bit 4 of each of 32 codes, as a little-endian u32.
fn high_bits(q: &[u8; 32]) -> [u8; 4] {
    let mut qh = 0u32;
    for (j, &c) in q.iter().enumerate() {
        qh |= u32::from(c >> 4 & 1) << j;
    }
    qh.to_le_bytes()
}

/// Symmetric codes: the largest-magnitude element maps to `-half`, `q = trunc(x/d + half + 0.5)`.
fn symmetric_codes(v: &[f32; 32], half: f32, max_code: u8) -> (f32, [u8; 32]) {
    let d = signed_absmax(v) / -half;
    let id = inverse(d);
    let mut q = [0u8; 32];
    for (c, &x) in q.iter_mut().zip(v) {
        *c = ((x * id + (half + 0.5)).trunc().max(0.0) as u8).min(max_code);
    }
    (d, q)
}

/// Affine codes: `q = trunc((x - min)/d + 0.5)` with `d = (max - min) / max_code`.
fn affine_codes(v: &[f32; 32], max_code: u8) -> (f32, f32, [u8; 32]) {
    let (lo, hi) = min_max(v);
    let d = (hi - lo) / f32::from(max_code);
    let id = inverse(d);
    let mut q = [0u8; 32];
    for (c, &x) in q.iter_mut().zip(v) {
        *c = (((x - lo) * id + 0.5).trunc().max(0.0) as u8).min(max_code);
    }
    (d, lo, q)
}

pub(super) fn quant_q4_0(v: &[f32; 32], b: &mut [u8; 18]) {
    let (d, q) = symmetric_codes(v, 8.0, 15);
    b[0..2].copy_from_slice(&f16_bytes(d));
    pack_nibbles(&q, &mut b[2..18]);
}

pub(super) fn quant_q4_1(v: &[f32; 32], b: &mut [u8; 20]) {
    let (d, m, q) = affine_codes(v, 15);
    b[0..2].copy_from_slice(&f16_bytes(d));
    b[2..4].copy_from_slice(&f16_bytes(m));
    pack_nibbles(&q, &mut b[4..20]);
}

pub(super) fn quant_q5_0(v: &[f32; 32], b: &mut [u8; 22]) {
    let (d, q) = symmetric_codes(v, 16.0, 31);
    b[0..2].copy_from_slice(&f16_bytes(d));
    b[2..6].copy_from_slice(&high_bits(&q));
    pack_nibbles(&q, &mut b[6..22]);
}

pub(super) fn quant_q5_1(v: &[f32; 32], b: &mut [u8; 24]) {
    let (d, m, q) = affine_codes(v, 31);
    b[0..2].copy_from_slice(&f16_bytes(d));
    b[2..4].copy_from_slice(&f16_bytes(m));
    b[4..8].copy_from_slice(&high_bits(&q));
    pack_nibbles(&q, &mut b[8..24]);
}

pub(super) fn quant_q8_0(v: &[f32; 32], b: &mut [u8; 34]) {
    let amax = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let d = amax / 127.0;
    let id = inverse(d);
    b[0..2].copy_from_slice(&f16_bytes(d));
    for (c, &x) in b[2..34].iter_mut().zip(v) {
        *c = (round_away(x * id).clamp(-127.0, 127.0) as i8) as u8;
    }
}
