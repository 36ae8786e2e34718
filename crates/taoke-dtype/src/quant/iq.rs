//! The lattice-codebook "i-quants": 256-element super-blocks whose groups of 4 or 8 elements
//! are indices into a fixed grid of magnitudes, with separate sign bits.
//!
//! | type | bytes | layout | value of element `j` of a grid group |
//! |---|---|---|---|
//! | `IQ2_XXS` | 66 | `d: f16, qs: [u32; 16]` | `d*(0.5+s)/4 * G2[i][j] * sign` |
//! | `IQ2_XS` | 74 | `d: f16, qs: [u16; 32], scales: [u8; 8]` | as `IQ2_XXS`, 9-bit index |
//! | `IQ2_S` | 82 | `d: f16, qs: [u8; 32], signs: [u8; 32], qh: [u8; 8], scales: [u8; 8]` | 10-bit index |
//! | `IQ3_XXS` | 98 | `d: f16, qs: [u8; 64], aux: [u32; 8]` | `d*(0.5+s)/2 * G3[i][j] * sign` |
//! | `IQ3_S` | 110 | `d: f16, qs: [u8; 64], qh: [u8; 8], signs: [u8; 32], scales: [u8; 4]` | `d*(1+2s) * G3S[i][j] * sign` |
//! | `IQ1_S` | 50 | `d: f16, qs: [u8; 32], qh: [u16; 8]` | `d*(2s+1) * (G1[i][j] ± 1/8)` |
//! | `IQ1_M` | 56 | `qs: [u8; 32], qh: [u8; 16], scales: [u16; 4]` (f16 `d` in the top nibbles) | as `IQ1_S` |
//!
//! `IQ2_XXS`, `IQ2_XS` and `IQ3_XXS` store 7-bit sign indices: the eighth sign makes the count
//! of negative signs even ([`ksigns`]). The grids are constants of the format, stored in
//! `iq_grids.bin` (made by `testdata/gen_iq_grids.py`).

use super::f16_at;

static GRIDS: &[u8; 33792] = include_bytes!("iq_grids.bin");

/// Grid `k` of `entries` rows of `width` values, starting at byte `start` of [`GRIDS`].
struct Grid<const W: usize> {
    start: usize,
}

impl<const W: usize> Grid<W> {
    #[inline]
    fn row(&self, i: usize) -> &'static [u8; W] {
        let s = self.start + W * i;
        GRIDS[s..s + W].try_into().expect("invariant: grid row")
    }
}

/// 256 × 8, values 8, 25, 43.
const IQ2XXS: Grid<8> = Grid { start: 0 };
/// 512 × 8.
const IQ2XS: Grid<8> = Grid { start: 2048 };
/// 1024 × 8.
const IQ2S: Grid<8> = Grid { start: 2048 + 4096 };
/// 256 × 4, values 4 … 62.
const IQ3XXS: Grid<4> = Grid {
    start: 2048 + 4096 + 8192,
};
/// 512 × 4, values 1 … 15.
const IQ3S: Grid<4> = Grid {
    start: 2048 + 4096 + 8192 + 1024,
};
/// 2048 × 8, values -1, 0, 1 (as i8).
const IQ1S: Grid<8> = Grid {
    start: 2048 + 4096 + 8192 + 1024 + 2048,
};

/// Eight signs from a 7-bit index: bits 0–6 as given, bit 7 set when bits 0–6 have odd parity.
#[inline]
pub(super) fn ksigns(i: u32) -> u8 {
    let i = (i & 0x7f) as u8;
    i | (((i.count_ones() & 1) as u8) << 7)
}

/// `x` or `-x` by bit `j` of `signs`.
#[inline]
fn signed(x: f32, signs: u8, j: usize) -> f32 {
    if signs >> j & 1 == 0 {
        x
    } else {
        -x
    }
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

/// Eight grid values times a scale, signed.
#[inline]
fn put8(out: &mut [f32], db: f32, row: &[u8; 8], signs: u8) {
    for (j, (o, &g)) in out.iter_mut().zip(row).enumerate() {
        *o = signed(db * f32::from(g), signs, j);
    }
}

pub(super) fn dequant_iq2_xxs(b: &[u8; 66], out: &mut [f32; 256]) {
    let d = f16_at(b, 0);
    for (ib, out) in out.chunks_exact_mut(32).enumerate() {
        let grid_idx = &b[2 + 8 * ib..2 + 8 * ib + 4];
        let aux = u32_at(b, 2 + 8 * ib + 4);
        let db = d * (0.5 + (aux >> 28) as f32) * 0.25;
        for (l, out) in out.chunks_exact_mut(8).enumerate() {
            let row = IQ2XXS.row(usize::from(grid_idx[l]));
            put8(out, db, row, ksigns(aux >> (7 * l)));
        }
    }
}

/// The 4-bit scales of `IQ2_XS` / `IQ2_S`: one per 16 elements, low nibble first.
#[inline]
fn iq2_db(d: f32, scales: &[u8], g: usize) -> f32 {
    let s = (scales[g / 4] >> (4 * ((g / 2) % 2))) & 0x0f;
    d * (0.5 + f32::from(s)) * 0.25
}

pub(super) fn dequant_iq2_xs(b: &[u8; 74], out: &mut [f32; 256]) {
    let d = f16_at(b, 0);
    let scales = &b[66..74];
    for (g, out) in out.chunks_exact_mut(8).enumerate() {
        let q = u16_at(b, 2 + 2 * g);
        let row = IQ2XS.row(usize::from(q & 511));
        put8(out, iq2_db(d, scales, g), row, ksigns(u32::from(q >> 9)));
    }
}

pub(super) fn dequant_iq2_s(b: &[u8; 82], out: &mut [f32; 256]) {
    let d = f16_at(b, 0);
    let qs = &b[2..34];
    let signs = &b[34..66];
    let qh = &b[66..74];
    let scales = &b[74..82];
    for (g, out) in out.chunks_exact_mut(8).enumerate() {
        let hi = (qh[g / 4] >> (2 * (g % 4))) & 3;
        let idx = usize::from(qs[g]) | usize::from(hi) << 8;
        put8(out, iq2_db(d, scales, g), IQ2S.row(idx), signs[g]);
    }
}

pub(super) fn dequant_iq3_xxs(b: &[u8; 98], out: &mut [f32; 256]) {
    let d = f16_at(b, 0);
    let qs = &b[2..66];
    for (ib, out) in out.chunks_exact_mut(32).enumerate() {
        let aux = u32_at(b, 66 + 4 * ib);
        let db = d * (0.5 + (aux >> 28) as f32) * 0.5;
        for (l, out) in out.chunks_exact_mut(8).enumerate() {
            let signs = ksigns(aux >> (7 * l));
            let r1 = IQ3XXS.row(usize::from(qs[8 * ib + 2 * l]));
            let r2 = IQ3XXS.row(usize::from(qs[8 * ib + 2 * l + 1]));
            for (j, o) in out.iter_mut().enumerate() {
                let g = if j < 4 { r1[j] } else { r2[j - 4] };
                *o = signed(db * f32::from(g), signs, j);
            }
        }
    }
}

pub(super) fn dequant_iq3_s(b: &[u8; 110], out: &mut [f32; 256]) {
    let d = f16_at(b, 0);
    let qs = &b[2..66];
    let qh = &b[66..74];
    let signs = &b[74..106];
    let scales = &b[106..110];
    for (ib, out) in out.chunks_exact_mut(32).enumerate() {
        let s = (scales[ib / 2] >> (4 * (ib % 2))) & 0x0f;
        let db = d * f32::from(1 + 2 * s);
        for (l, out) in out.chunks_exact_mut(8).enumerate() {
            let g = 4 * ib + l;
            let idx = |k: usize| usize::from(qs[k]) | usize::from((qh[k / 8] >> (k % 8)) & 1) << 8;
            let r1 = IQ3S.row(idx(2 * g));
            let r2 = IQ3S.row(idx(2 * g + 1));
            for (j, o) in out.iter_mut().enumerate() {
                let v = if j < 4 { r1[j] } else { r2[j - 4] };
                *o = signed(db * f32::from(v), signs[g], j);
            }
        }
    }
}

const IQ1_DELTA: f32 = 0.125;

/// Eight `IQ1` values: `dl * (grid + delta)`.
#[inline]
fn put8_iq1(out: &mut [f32], dl: f32, idx: usize, delta: f32) {
    for (o, &g) in out.iter_mut().zip(IQ1S.row(idx)) {
        *o = dl * (f32::from(g as i8) + delta);
    }
}

pub(super) fn dequant_iq1_s(b: &[u8; 50], out: &mut [f32; 256]) {
    let d = f16_at(b, 0);
    let qs = &b[2..34];
    for (ib, out) in out.chunks_exact_mut(32).enumerate() {
        let qh = u16_at(b, 34 + 2 * ib);
        let dl = d * f32::from(2 * ((qh >> 12) & 7) + 1);
        let delta = if qh & 0x8000 == 0 {
            IQ1_DELTA
        } else {
            -IQ1_DELTA
        };
        for (l, out) in out.chunks_exact_mut(8).enumerate() {
            let idx = usize::from(qs[4 * ib + l]) | usize::from((qh >> (3 * l)) & 7) << 8;
            put8_iq1(out, dl, idx, delta);
        }
    }
}

pub(super) fn dequant_iq1_m(b: &[u8; 56], out: &mut [f32; 256]) {
    let qs = &b[0..32];
    let qh = &b[32..48];
    let sc = [u16_at(b, 48), u16_at(b, 50), u16_at(b, 52), u16_at(b, 54)];
    let d_bits = (sc[0] >> 12) | (sc[1] >> 8) & 0x00f0 | (sc[2] >> 4) & 0x0f00 | sc[3] & 0xf000;
    let d = half::f16::from_bits(d_bits).to_f32();
    // Grid entry k (8 elements): index bits from qs[k] and a nibble of qh[k / 2]; scale
    // k / 2 (16 elements), a 3-bit field of the scale words.
    for (k, out) in out.chunks_exact_mut(8).enumerate() {
        let h = k / 2;
        let s = (sc[h / 4] >> (3 * (h % 4))) & 7;
        let dl = d * f32::from(2 * s + 1);
        let nib = (qh[h] >> (4 * (k % 2))) & 0x0f;
        let idx = usize::from(qs[k]) | usize::from(nib & 7) << 8;
        let delta = if nib & 8 == 0 { IQ1_DELTA } else { -IQ1_DELTA };
        put8_iq1(out, dl, idx, delta);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_table_has_even_parity() {
        assert_eq!(ksigns(0), 0);
        assert_eq!(ksigns(1), 0x81);
        assert_eq!(ksigns(3), 0x03);
        assert_eq!(ksigns(127), 0xff);
        assert!((0..128).all(|i| ksigns(i).count_ones().is_multiple_of(2)));
    }

    #[test]
    fn grids_hold_their_value_sets() {
        let all =
            |g: &Grid<8>, n: usize| (0..n).flat_map(|i| g.row(i).to_vec()).collect::<Vec<_>>();
        assert!(all(&IQ2XXS, 256).iter().all(|v| [8, 25, 43].contains(v)));
        assert!(all(&IQ2S, 1024).iter().all(|v| [8, 25, 43].contains(v)));
        assert!(all(&IQ1S, 2048).iter().all(|&v| [0xff, 0, 1].contains(&v)));
        assert!((0..512).all(|i| IQ3S.row(i).iter().all(|&v| v % 2 == 1 && v <= 15)));
    }
}
