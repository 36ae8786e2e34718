//! The layer map: which block of A matches which block of B, from the block tests.

use crate::measure::BlockTest;
use crate::report::LayerLink;

const LN10: f64 = std::f64::consts::LN_10;

/// A link of the layer map needs its block test at p below this: an exact unit test at
/// 1e-4 is far outside what independent blocks give (uniform p), yet loose enough to keep the
/// links of fine-tuned blocks (zoo: ≤ 1e-20).
pub(crate) const LINK_P: f64 = 1e-4;

/// Monotone layer map: each block of A's partner chosen to maximize the total −ln p, with
/// `j` non-decreasing in `i` (repeats and gaps allowed). Only links whose test has p below
/// [`LINK_P`] are returned.
pub(crate) fn layer_map(tests: &[BlockTest], la: u32, lb: u32) -> Vec<LayerLink> {
    if la == 0 || lb == 0 || tests.is_empty() {
        return Vec::new();
    }
    let (la, lb) = (la as usize, lb as usize);
    let mut s = vec![0f64; la * lb];
    for t in tests {
        s[t.a as usize * lb + t.b as usize] = (-t.test.ln_p).max(0.0);
    }
    let path = taoke_stats::depth::monotone_map(&s, la, lb);
    let ln_thresh = LINK_P.ln();
    path.iter()
        .enumerate()
        .filter_map(|(i, &j)| {
            let t = tests
                .iter()
                .find(|t| t.a as usize == i && t.b as usize == j)?;
            (t.test.ln_p < ln_thresh).then(|| LayerLink {
                a: i as u32,
                b: j as u32,
                log10_p_value: t.test.ln_p / LN10,
            })
        })
        .collect()
}

/// Whether the deeper model (`a_deeper`) has several blocks whose best significant partner is
/// the same block of the other model (duplicated blocks: up-scaling).
pub(crate) fn depth_repeats(tests: &[BlockTest], a_deeper: bool) -> bool {
    let thresh = LINK_P.ln();
    let mut best: std::collections::BTreeMap<u32, (u32, f64)> = std::collections::BTreeMap::new();
    for t in tests {
        if t.test.ln_p >= thresh {
            continue;
        }
        let (deep, shallow) = if a_deeper { (t.a, t.b) } else { (t.b, t.a) };
        let e = best.entry(deep).or_insert((shallow, t.test.ln_p));
        if t.test.ln_p < e.1 {
            *e = (shallow, t.test.ln_p);
        }
    }
    let mut partners: Vec<u32> = best.values().map(|v| v.0).collect();
    let n = partners.len();
    partners.sort_unstable();
    partners.dedup();
    partners.len() < n
}
