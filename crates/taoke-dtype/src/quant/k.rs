//! The k-quants: 256-element super-blocks made of 16 or 8 sub-blocks, each sub-block with its
//! own scale (and minimum), itself quantized against one or two f16 super-block scales.
//!
//! | type | bytes | layout (in order) | value of element in sub-block `s` |
//! |---|---|---|---|
//! | `Q2_K` | 84 | `scales: [u8; 16], qs: [u8; 64], d: f16, dmin: f16` | `d*(sc&15) * q - dmin*(sc>>4)`, 2-bit `q` |
//! | `Q3_K` | 110 | `hmask: [u8; 32], qs: [u8; 64], scales: [u8; 12], d: f16` | `d*(sc-32) * (q - 4*(1-h))`, 6-bit `sc` |
//! | `Q4_K` | 144 | `d: f16, dmin: f16, scales: [u8; 12], qs: [u8; 128]` | `d*sc * q - dmin*m`, 6-bit `sc`, `m` |
//! | `Q5_K` | 176 | `d: f16, dmin: f16, scales: [u8; 12], qh: [u8; 32], qs: [u8; 128]` | as `Q4_K`, 5-bit `q` |
//! | `Q6_K` | 210 | `ql: [u8; 128], qh: [u8; 64], scales: [i8; 16], d: f16` | `d*sc * (q - 32)`, 6-bit `q` |
//! | `Q8_K` | 292 | `d: f32, qs: [i8; 256], bsums: [i16; 16]` | `d * q` |
//!
//! Bit placement: a 2-bit code plane of 32 bytes holds four groups of 32 elements (shifts 0, 2,
//! 4, 6); a 4-bit plane of 32 bytes holds two (low nibble, then high); a high-bit plane of 32
//! bytes holds eight groups (bit `i` of byte `l` belongs to element `32*i + l`). The 6-bit
//! scales of `Q4_K`/`Q5_K` (8 scales, 8 mins in 12 bytes) and of `Q3_K` (16 scales in 12
//! bytes) are unpacked by [`scale_min_k4`] and [`scales_q3_k`].

use super::{f16_at, f16_bytes, f16_round, round_away};

/// The 8 six-bit scales and 8 six-bit minimums packed in 12 bytes (`Q4_K`, `Q5_K`).
///
/// Bytes 0–3 hold scales 0–3 in their low 6 bits, bytes 4–7 minimums 0–3; scales and
/// minimums 4–7 take their low 4 bits from the nibbles of bytes 8–11 and their high 2 bits
/// from the top bits of bytes 0–3 (scales) and 4–7 (minimums).
pub(super) fn scale_min_k4(s: &[u8]) -> ([u8; 8], [u8; 8]) {
    let mut sc = [0u8; 8];
    let mut mn = [0u8; 8];
    for j in 0..4 {
        sc[j] = s[j] & 63;
        mn[j] = s[j + 4] & 63;
        sc[j + 4] = (s[j + 8] & 0x0f) | (s[j] >> 6) << 4;
        mn[j + 4] = (s[j + 8] >> 4) | (s[j + 4] >> 6) << 4;
    }
    (sc, mn)
}

/// Inverse of [`scale_min_k4`]; values must be below 64.
fn pack_scale_min_k4(sc: &[u8; 8], mn: &[u8; 8], s: &mut [u8]) {
    for j in 0..4 {
        s[j] = sc[j] | (sc[j + 4] >> 4) << 6;
        s[j + 4] = mn[j] | (mn[j + 4] >> 4) << 6;
        s[j + 8] = (sc[j + 4] & 0x0f) | (mn[j + 4] & 0x0f) << 4;
    }
}

/// The 16 six-bit scales of `Q3_K` (as stored, before subtracting 32): low 4 bits from the
/// nibbles of bytes 0–7 (scale `i < 8` low nibble of byte `i`, `i >= 8` high nibble of byte
/// `i - 8`), high 2 bits from bytes 8–11 (scale `i` at bits `2*(i/4)` of byte `8 + i%4`).
pub(super) fn scales_q3_k(s: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        let lo = if i < 8 { s[i] & 0x0f } else { s[i - 8] >> 4 };
        let hi = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
        *o = lo | hi << 4;
    }
    out
}

pub(super) fn dequant_q2_k(b: &[u8; 84], out: &mut [f32; 256]) {
    let scales = &b[0..16];
    let d = f16_at(b, 80);
    let dmin = f16_at(b, 82);
    // Element 128*half + 32*group + l takes bits 2*group of byte 32*half + l.
    for (half, (qs, out)) in b[16..80]
        .chunks_exact(32)
        .zip(out.chunks_exact_mut(128))
        .enumerate()
    {
        for (group, out) in out.chunks_exact_mut(32).enumerate() {
            let shift = 2 * group;
            for (sub, (q, out)) in qs
                .chunks_exact(16)
                .zip(out.chunks_exact_mut(16))
                .enumerate()
            {
                let sc = scales[8 * half + 2 * group + sub];
                let dl = d * f32::from(sc & 0x0f);
                let ml = dmin * f32::from(sc >> 4);
                for (o, &byte) in out.iter_mut().zip(q) {
                    *o = dl * f32::from((byte >> shift) & 3) - ml;
                }
            }
        }
    }
}

pub(super) fn dequant_q3_k(b: &[u8; 110], out: &mut [f32; 256]) {
    let hmask = &b[0..32];
    let scales = scales_q3_k(&b[96..108]);
    let d = f16_at(b, 108);
    let mut dl = [0.0f32; 16];
    for (x, &s) in dl.iter_mut().zip(&scales) {
        *x = d * f32::from(s as i8 - 32);
    }
    // Element 128*half + 32*group + l: low bits 2*group of qs[32*half + l], high bit
    // 4*half + group of hmask[l] (a clear bit subtracts 4).
    for (half, (qs, out)) in b[32..96]
        .chunks_exact(32)
        .zip(out.chunks_exact_mut(128))
        .enumerate()
    {
        for (group, out) in out.chunks_exact_mut(32).enumerate() {
            let shift = 2 * group;
            let hbit = 4 * half + group;
            for (l, o) in out.iter_mut().enumerate() {
                let q = ((qs[l] >> shift) & 3) as i8;
                let h = (hmask[l] >> hbit) & 1;
                let q = q - if h == 0 { 4 } else { 0 };
                *o = dl[8 * half + 2 * group + l / 16] * f32::from(q);
            }
        }
    }
}

pub(super) fn dequant_q4_k(b: &[u8; 144], out: &mut [f32; 256]) {
    let d = f16_at(b, 0);
    let dmin = f16_at(b, 2);
    let (sc, mn) = scale_min_k4(&b[4..16]);
    let qs = &b[16..144];
    for s in 0..8 {
        let dl = d * f32::from(sc[s]);
        let ml = dmin * f32::from(mn[s]);
        let (chunk, shift) = (s / 2, 4 * (s % 2));
        let q = &qs[32 * chunk..32 * chunk + 32];
        for (o, &byte) in out[32 * s..32 * s + 32].iter_mut().zip(q) {
            *o = dl * f32::from((byte >> shift) & 0x0f) - ml;
        }
    }
}

pub(super) fn dequant_q5_k(b: &[u8; 176], out: &mut [f32; 256]) {
    let d = f16_at(b, 0);
    let dmin = f16_at(b, 2);
    let (sc, mn) = scale_min_k4(&b[4..16]);
    let qh = &b[16..48];
    let qs = &b[48..176];
    for s in 0..8 {
        let dl = d * f32::from(sc[s]);
        let ml = dmin * f32::from(mn[s]);
        let (chunk, shift) = (s / 2, 4 * (s % 2));
        let q = &qs[32 * chunk..32 * chunk + 32];
        for (l, o) in out[32 * s..32 * s + 32].iter_mut().enumerate() {
            let code = ((q[l] >> shift) & 0x0f) | ((qh[l] >> s) & 1) << 4;
            *o = dl * f32::from(code) - ml;
        }
    }
}

pub(super) fn dequant_q6_k(b: &[u8; 210], out: &mut [f32; 256]) {
    let d = f16_at(b, 208);
    let mut dl = [0.0f32; 16];
    for (x, &s) in dl.iter_mut().zip(&b[192..208]) {
        *x = d * f32::from(s as i8);
    }
    // Element 128*half + 32*group + l: low nibble (group < 2) or high nibble of
    // ql[64*half + 32*(group%2) + l], high bits 2*group of qh[32*half + l].
    let ql = b[0..128].chunks_exact(64);
    let qh = b[128..192].chunks_exact(32);
    for (half, ((ql, qh), out)) in ql.zip(qh).zip(out.chunks_exact_mut(128)).enumerate() {
        for (group, out) in out.chunks_exact_mut(32).enumerate() {
            let lo_bytes = &ql[32 * (group % 2)..32 * (group % 2) + 32];
            let lo_shift = 4 * (group / 2);
            let hi_shift = 2 * group;
            let (d0, d1) = (dl[8 * half + 2 * group], dl[8 * half + 2 * group + 1]);
            for (l, ((o, &lo), &hi)) in out.iter_mut().zip(lo_bytes).zip(qh).enumerate() {
                let q = (((lo >> lo_shift) & 0x0f) | ((hi >> hi_shift) & 3) << 4) as i8 - 32;
                *o = if l < 16 { d0 } else { d1 } * f32::from(q);
            }
        }
    }
}

pub(super) fn dequant_q8_k(b: &[u8; 292], out: &mut [f32; 256]) {
    let d = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    for (o, &q) in out.iter_mut().zip(&b[4..260]) {
        *o = d * f32::from(q as i8);
    }
}

/// Quantizes a 6-bit sub-scale against a super-block scale: `round(x / d)` in `0..=63`.
fn sub_code(x: f32, d: f32) -> u8 {
    if d > 0.0 {
        round_away(x / d).clamp(0.0, 63.0) as u8
    } else {
        0
    }
}

/// f16 super-scale and super-minimum, 8 sub-scales, 8 sub-minimums, 256 codes.
type AffineK = ([u8; 2], [u8; 2], [u8; 8], [u8; 8], [u8; 256]);

/// Affine k-quant of 8 sub-blocks of 32: `value ≈ d*sc * q - dmin*m` with `q` in `0..=nmax`.
/// Each sub-block takes its minimum at or below zero (stored as `m >= 0`) and spreads its range
/// over the codes; the sub-scales are then quantized to 6 bits against the f16 super-scales.
fn affine_k(v: &[f32; 256], nmax: u8) -> AffineK {
    let mut scale = [0.0f32; 8];
    let mut minus = [0.0f32; 8];
    for s in 0..8 {
        let sub = &v[32 * s..32 * s + 32];
        let lo = sub.iter().fold(0.0f32, |m, &x| m.min(x));
        let hi = sub.iter().fold(lo, |m, &x| m.max(x));
        scale[s] = (hi - lo) / f32::from(nmax);
        minus[s] = -lo;
    }
    let d = scale.iter().fold(0.0f32, |m, &x| m.max(x)) / 63.0;
    let dmin = minus.iter().fold(0.0f32, |m, &x| m.max(x)) / 63.0;
    let (d16, dmin16) = (f16_bytes(d), f16_bytes(dmin));
    let (dq, dminq) = (f16_round(d), f16_round(dmin));
    let mut sc = [0u8; 8];
    let mut mn = [0u8; 8];
    let mut q = [0u8; 256];
    for s in 0..8 {
        sc[s] = sub_code(scale[s], dq);
        // Round the minimum up so that the sub-block's smallest value stays reachable.
        mn[s] = if dminq > 0.0 {
            (minus[s] / dminq).ceil().clamp(0.0, 63.0) as u8
        } else {
            0
        };
        let ds = dq * f32::from(sc[s]);
        let dm = dminq * f32::from(mn[s]);
        let ids = if ds > 0.0 { 1.0 / ds } else { 0.0 };
        for (c, &x) in q[32 * s..32 * s + 32]
            .iter_mut()
            .zip(&v[32 * s..32 * s + 32])
        {
            *c = round_away((x + dm) * ids).clamp(0.0, f32::from(nmax)) as u8;
        }
    }
    (d16, dmin16, sc, mn, q)
}

pub(super) fn quant_q4_k(v: &[f32; 256], b: &mut [u8; 144]) {
    let (d, dmin, sc, mn, q) = affine_k(v, 15);
    b[0..2].copy_from_slice(&d);
    b[2..4].copy_from_slice(&dmin);
    pack_scale_min_k4(&sc, &mn, &mut b[4..16]);
    for s in 0..8 {
        let (chunk, shift) = (s / 2, 4 * (s % 2));
        for l in 0..32 {
            b[16 + 32 * chunk + l] |= q[32 * s + l] << shift;
        }
    }
}

pub(super) fn quant_q5_k(v: &[f32; 256], b: &mut [u8; 176]) {
    let (d, dmin, sc, mn, q) = affine_k(v, 31);
    b[0..2].copy_from_slice(&d);
    b[2..4].copy_from_slice(&dmin);
    pack_scale_min_k4(&sc, &mn, &mut b[4..16]);
    for s in 0..8 {
        let (chunk, shift) = (s / 2, 4 * (s % 2));
        for l in 0..32 {
            let c = q[32 * s + l];
            b[48 + 32 * chunk + l] |= (c & 0x0f) << shift;
            b[16 + l] |= (c >> 4 & 1) << s;
        }
    }
}

pub(super) fn quant_q6_k(v: &[f32; 256], b: &mut [u8; 210]) {
    // Sub-block scales: the largest magnitude maps to code -32 (the widest side).
    let mut scale = [0.0f32; 16];
    for (s, x) in scale.iter_mut().enumerate() {
        let sub = &v[16 * s..16 * s + 16];
        let mut best = 0.0f32;
        for &y in sub {
            if y.abs() > best.abs() {
                best = y;
            }
        }
        *x = best / -32.0;
    }
    let amax = scale.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let d = amax / 127.0;
    b[208..210].copy_from_slice(&f16_bytes(d));
    let dq = f16_round(d);
    let id = if dq > 0.0 { 1.0 / dq } else { 0.0 };
    let mut sc = [0i8; 16];
    for (c, &x) in sc.iter_mut().zip(&scale) {
        *c = round_away(x * id).clamp(-127.0, 127.0) as i8;
    }
    for (o, &c) in b[192..208].iter_mut().zip(&sc) {
        *o = c as u8;
    }
    for e in 0..256 {
        let ds = dq * f32::from(sc[e / 16]);
        let q = if ds != 0.0 {
            round_away(v[e] / ds).clamp(-32.0, 31.0) as i8
        } else {
            0
        };
        let code = (q + 32) as u8;
        let (half, group, l) = (e / 128, (e / 32) % 4, e % 32);
        b[64 * half + 32 * (group % 2) + l] |= (code & 0x0f) << (4 * (group / 2));
        b[128 + 32 * half + l] |= (code >> 4) << (2 * group);
    }
}

pub(super) fn quant_q8_k(v: &[f32; 256], b: &mut [u8; 292]) {
    let amax = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let d = amax / 127.0;
    let id = if d > 0.0 { 1.0 / d } else { 0.0 };
    b[0..4].copy_from_slice(&d.to_le_bytes());
    let mut sums = [0i16; 16];
    for (e, &x) in v.iter().enumerate() {
        let q = round_away(x * id).clamp(-127.0, 127.0) as i8;
        b[4 + e] = q as u8;
        sums[e / 16] += i16::from(q);
    }
    for (s, sum) in sums.iter().enumerate() {
        b[260 + 2 * s..262 + 2 * s].copy_from_slice(&sum.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k4_scales_round_trip() {
        let sc = [0, 1, 17, 63, 32, 5, 48, 62];
        let mn = [63, 0, 2, 33, 15, 16, 31, 47];
        let mut packed = [0u8; 12];
        pack_scale_min_k4(&sc, &mn, &mut packed);
        assert_eq!(scale_min_k4(&packed), (sc, mn));
    }
}
