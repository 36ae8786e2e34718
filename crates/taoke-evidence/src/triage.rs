//! Structural triage: byte identity, stored names and dtypes, and element-wise relations of
//! tensors that sit at the same canonical role in the same coordinates.

use taoke_anatomy::{Orientation, Role};
use taoke_dtype::Dtype;

use crate::products::{delta, ProductDelta};
use crate::view::ModelView;

/// Whether every weight file of A is byte-identical to the corresponding file of B.
pub fn files_identical(a: &ModelView<'_>, b: &ModelView<'_>) -> bool {
    let (fa, fb) = (&a.ck.files, &b.ck.files);
    if fa.len() != fb.len() || a.ck.format != b.ck.format {
        return false;
    }
    fa.iter()
        .zip(fb)
        .all(|(x, y)| x.len == y.len && x.bytes() == y.bytes())
}

/// Whether both checkpoints hold the same tensors (same names, shapes, dtypes) with the same
/// stored bytes, whatever the container split (sharding) — "the same bytes".
pub fn tensors_identical(a: &ModelView<'_>, b: &ModelView<'_>) -> bool {
    use taoke_model::Layout;
    let (ta, tb) = (&a.ck.tensors, &b.ck.tensors);
    if ta.len() != tb.len() || a.ck.format != b.ck.format {
        return false;
    }
    let mut nb: Vec<&taoke_model::TensorInfo> = tb.iter().collect();
    nb.sort_by(|x, y| x.name.cmp(&y.name));
    let mut na: Vec<&taoke_model::TensorInfo> = ta.iter().collect();
    na.sort_by(|x, y| x.name.cmp(&y.name));
    na.iter().zip(&nb).all(|(x, y)| {
        if x.name != y.name || x.shape != y.shape || x.dtype_name != y.dtype_name {
            return false;
        }
        match (&x.layout, &y.layout) {
            (
                Layout::Dense {
                    file: fa,
                    offset: oa,
                    len: la,
                    ..
                },
                Layout::Dense {
                    file: fb,
                    offset: ob,
                    len: lb,
                    ..
                },
            ) => {
                la == lb
                    && match (
                        a.ck.files[*fa].read_at(*oa, *la),
                        b.ck.files[*fb].read_at(*ob, *lb),
                    ) {
                        (Ok(p), Ok(q)) => p == q,
                        _ => false,
                    }
            }
            _ => false,
        }
    })
}

/// Coarsest precision class of a dtype, for expected copy error.
pub fn precision_tolerance(d: Dtype) -> f64 {
    use Dtype::*;
    match d {
        F32 | F64 => 1e-6,
        F16 => 2e-3,
        BF16 => 1e-2,
        Q8_0 | Q8_1 | Q8_K | I8 | U8 => 3e-2,
        Q6_K | Q5_0 | Q5_1 | Q5_K => 8e-2,
        Q4_0 | Q4_1 | Q4_K | IQ4_NL | IQ4_XS | MXFP4 | NVFP4 | F8_E4M3 | F8_E5M2 => 0.2,
        Q3_K | IQ3_XXS | IQ3_S => 0.35,
        Q2_K | IQ2_XXS | IQ2_XS | IQ2_S | IQ1_S | IQ1_M | TQ1_0 | TQ2_0 | Q1_0 => 0.6,
        // Integer buffers (position ids, masks) and anything else: no float values to copy.
        _ => 1e-6,
    }
}

/// Whether a dtype is a quantized storage (block quantization or integer codes of floats).
pub fn is_quantized(d: Dtype) -> bool {
    d.is_block_quantized() || matches!(d, Dtype::I8 | Dtype::U8 | Dtype::F4)
}

/// Element-wise relation of one canonical tensor pair.
#[derive(Debug, Clone)]
pub struct PairDelta {
    /// Canonical name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Which parameter of the role (weight, bias).
    pub param: taoke_anatomy::Param,
    /// Block index, for block tensors.
    pub block: Option<u32>,
    /// Relative error and correlation.
    pub delta: ProductDelta,
    /// Bit-identical values.
    pub equal: bool,
    /// Tolerance for "the same weights" given both dtypes.
    pub tolerance: f64,
    /// Stored names differ.
    pub renamed: bool,
    /// Orientation differs.
    pub transposed: bool,
    /// Stored dtypes.
    pub dtypes: (Dtype, Dtype),
    /// Mean cosine between corresponding rows (1 when rows are parallel: equal or rescaled).
    pub row_cos: f64,
    /// Spread of the rescaling: standard deviation of `ln(‖b_r‖ / ‖a_r‖)` over rows (over
    /// elements for vectors such as norm gains). ≈ 0 for copies and small for fine-tunes;
    /// large when rows or gains were rescaled by different factors.
    pub scale_spread: f64,
    /// Whether every value is exactly 1 (a folded norm gain), per side.
    pub all_ones: (bool, bool),
    /// Fraction of elements left unchanged: bit-identical, or equal after rounding to the
    /// coarser float storage of the two. Counted only over elements whose storage resolution is
    /// fine enough to show a typical change (an eighth of the median moved magnitude), so
    /// updates too small for a coarse dtype (a bf16 fine-tune at a low learning rate) do not
    /// count as unchanged. 1 when nothing moved; ≈ 0 after training (every weight moves); a
    /// large share in a moved tensor is the trace of a sparse update (TIES or DARE merges
    /// reset most of a task vector to the base). Weights that are zero on both sides are not
    /// counted (a pruning mask kept through training). `None` for quantized or integer storage.
    pub unchanged: Option<f64>,
    /// For vectors (norm gains): relative difference of the sorted magnitudes, which a
    /// permutation of the coordinates leaves unchanged. `None` for matrices.
    pub sorted_rel: Option<f64>,
}

/// Mantissa bits of a float storage type (`None` for quantized and integer types).
pub fn mantissa_bits(d: Dtype) -> Option<i32> {
    match d {
        Dtype::F64 => Some(52),
        Dtype::F32 => Some(23),
        Dtype::F16 => Some(10),
        Dtype::BF16 => Some(7),
        _ => None,
    }
}

/// Distance between neighbouring values of a float type with `bits` mantissa bits near `x`.
pub fn resolution(x: f32, bits: i32) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return 0.0;
    }
    // floor(log2 |x|) from the bits of the f32 (this runs per element: no libm calls): the
    // unbiased exponent of a normal number, the top mantissa bit of a subnormal one.
    let b = x.to_bits();
    let e = ((b >> 23) & 0xff) as i32;
    let log2 = if e > 0 {
        e - 127
    } else {
        -149 + (31 - (b & 0x7f_ffff).leading_zeros() as i32)
    };
    let p = log2 - bits; // ≥ −149 − 52: 2^p is a positive f64 (normal, or subnormal below −1022)
    if p >= -1022 {
        f64::from_bits(((p + 1023) as u64) << 52)
    } else {
        f64::from_bits(1u64 << (p + 1074).max(0))
    }
}

/// Most moved weights whose median [`unchanged_fraction`] takes exactly.
const MEDIAN_SAMPLE: usize = 1 << 16;

/// See [`PairDelta::unchanged`].
pub(crate) fn unchanged_fraction(a: &[f32], b: &[f32], dtypes: (Dtype, Dtype)) -> Option<f64> {
    unchanged_fraction_bits(a, b, (mantissa_bits(dtypes.0)?, mantissa_bits(dtypes.1)?))
}

/// [`PairDelta::unchanged`] of two value lists stored with `bits` mantissa bits each
/// ([`mantissa_bits`]): the share left bit-identical, or equal after rounding to the coarser
/// of the two types, among the values whose resolution can show a typical change.
pub fn unchanged_fraction_bits(a: &[f32], b: &[f32], bits: (i32, i32)) -> Option<f64> {
    if a.len() != b.len() {
        return None;
    }
    let exact = bits.0 == bits.1 || bits.0.min(bits.1) >= 23;
    let bits = bits.0.min(bits.1);
    // Equal, or within half a step of the coarser storage (one side is the other rounded).
    let same = |x: f32, y: f32| {
        x == y || (!exact && f64::from(x - y).abs() <= 0.5 * resolution(x.abs().max(y.abs()), bits))
    };
    // The typical move is the median over the moved weights; above MEDIAN_SAMPLE of them it
    // is taken over every k-th one (a systematic sample, accurate to a fraction of a per
    // cent), so the buffer stays small whatever the tensor's size.
    let n_moved = a.iter().zip(b).filter(|(x, y)| !same(**x, **y)).count();
    let stride = n_moved.div_ceil(MEDIAN_SAMPLE).max(1);
    let mut moved: Vec<f64> = a
        .iter()
        .zip(b)
        .filter(|(x, y)| !same(**x, **y))
        .step_by(stride)
        .map(|(x, y)| f64::from(*x - *y).abs())
        .collect();
    if a.is_empty() {
        return None;
    }
    if moved.is_empty() {
        return Some(1.0);
    }
    let mid = moved.len() / 2;
    let typical = *moved.select_nth_unstable_by(mid, f64::total_cmp).1;
    let (mut eligible, mut kept) = (0usize, 0usize);
    for (x, y) in a.iter().zip(b) {
        // Zeros on both sides are left out: a model pruned to a sparsity pattern and trained
        // with its mask keeps them, which is no sparse update of the weights it has.
        if *x == 0.0 && *y == 0.0 {
            continue;
        }
        if resolution(x.abs().max(y.abs()), bits) <= typical / 8.0 {
            eligible += 1;
            kept += usize::from(same(*x, *y));
        }
    }
    (eligible >= 16).then(|| kept as f64 / eligible as f64)
}

/// See [`PairDelta::sorted_rel`].
fn sorted_rel(a: &[f32], b: &[f32]) -> f64 {
    let sorted = |v: &[f32]| {
        let mut s: Vec<f32> = v.iter().map(|x| x.abs()).collect();
        s.sort_by(f32::total_cmp);
        s
    };
    delta(&sorted(a), &sorted(b)).rel
}

/// Standard deviation of `ln(|y|/|x|)` over rows (or elements when there is one row).
fn scale_spread(a: &taoke_stats::Matrix, b: &taoke_stats::Matrix) -> f64 {
    let logs: Vec<f64> = if a.rows <= 1 {
        a.data
            .iter()
            .zip(&b.data)
            .filter(|(x, y)| **x != 0.0 && **y != 0.0)
            .map(|(x, y)| (f64::from(*y).abs() / f64::from(*x).abs()).ln())
            .collect()
    } else {
        (0..a.rows)
            .filter_map(|r| {
                let n = |v: &[f32]| v.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>();
                let (x, y) = (n(a.row(r)), n(b.row(r)));
                (x > 0.0 && y > 0.0).then(|| 0.5 * (y / x).ln())
            })
            .collect()
    };
    if logs.len() < 2 {
        return 0.0;
    }
    let m = logs.iter().sum::<f64>() / logs.len() as f64;
    (logs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (logs.len() - 1) as f64).sqrt()
}

fn mean_row_cosine(a: &taoke_stats::Matrix, b: &taoke_stats::Matrix) -> f64 {
    if a.rows == 0 || a.cols == 0 {
        return 1.0;
    }
    let mut sum = 0f64;
    for r in 0..a.rows {
        let (x, y) = (a.row(r), b.row(r));
        let (mut xy, mut xx, mut yy) = (0f64, 0f64, 0f64);
        for (&p, &q) in x.iter().zip(y) {
            xy += f64::from(p) * f64::from(q);
            xx += f64::from(p) * f64::from(p);
            yy += f64::from(q) * f64::from(q);
        }
        sum += if xx > 0.0 && yy > 0.0 {
            xy / (xx * yy).sqrt()
        } else {
            1.0
        };
    }
    sum / a.rows as f64
}

/// Rows compared per large tensor in [`pair_deltas`].
pub const SAMPLED_ROWS: usize = 256;

/// Element-wise comparison of every canonical tensor present in both with the same shape
/// (after orientation), in A's coordinates (no alignment applied); matrices of more than
/// `sample_above` elements are compared on [`SAMPLED_ROWS`] seeded rows
/// ([`crate::Options::large_above`] by default).
pub fn pair_deltas(
    a: &ModelView<'_>,
    b: &ModelView<'_>,
    max_elems: u64,
    sample_above: u64,
) -> Vec<PairDelta> {
    // Tensor pairs in parallel; collected in key order, so the result does not depend on
    // the thread count.
    use rayon::prelude::*;
    let pairs: Vec<(usize, usize)> = a
        .by_key
        .iter()
        .filter_map(|(k, &ia)| b.by_key.get(k).map(|&ib| (ia, ib)))
        .collect();
    pairs
        .par_iter()
        .map(|&(ia, ib)| pair_delta(a, ia, b, ib, max_elems, sample_above))
        .collect::<Vec<_>>()
        .into_iter()
        .flatten()
        .collect()
}

/// [`pair_deltas`] between mapped blocks of models of different depths: block `i` of A against
/// block `j` of B for each link `(i, j)`, tensor by tensor at the same role. `block` is A's.
pub fn mapped_block_deltas(
    a: &ModelView<'_>,
    b: &ModelView<'_>,
    links: &[(u32, u32)],
    max_elems: u64,
    sample_above: u64,
) -> Vec<PairDelta> {
    let mut out = Vec::new();
    for &(i, j) in links {
        for (k, &ia) in a.by_key.iter().filter(|(k, _)| k.0 == Some(i)) {
            let Some(&ib) = b.by_key.get(&(Some(j), k.1, k.2, k.3)) else {
                continue;
            };
            out.extend(pair_delta(a, ia, b, ib, max_elems, sample_above));
        }
    }
    out
}

/// Element-wise relation of tensor `ia` of A and tensor `ib` of B (same role), `None` when their
/// sizes differ or they cannot be read.
fn pair_delta(
    a: &ModelView<'_>,
    ia: usize,
    b: &ModelView<'_>,
    ib: usize,
    max_elems: u64,
    sample_above: u64,
) -> Option<PairDelta> {
    let (ta, tb) = (&a.ck.tensors[ia], &b.ck.tensors[ib]);
    if ta.n_elements() != tb.n_elements() || ta.n_elements() > max_elems {
        return None;
    }
    // Large matrices: a seeded sample of rows (the same rows on both sides), so a pass over a
    // 7B pair reads a few MB per tensor; `equal` then means "equal on those rows".
    let sampled = ta.n_elements() > sample_above && ta.shape.len() == 2;
    let read = |v: &ModelView<'_>, i: usize| {
        if sampled {
            let n = v.canonical_rows(i);
            let rows =
                taoke_stats::rng::SplitMix64::new(0x7a1e ^ n as u64).sample_sorted(n, SAMPLED_ROWS);
            v.matrix_rows(i, &rows)
        } else {
            v.matrix(i)
        }
    };
    if sampled && a.canonical_rows(ia) != b.canonical_rows(ib) {
        return None;
    }
    let (Ok(ma), Ok(mb)) = (read(a, ia), read(b, ib)) else {
        return None;
    };
    if (ma.rows, ma.cols) != (mb.rows, mb.cols) {
        return None;
    }
    let canon = &a.anatomy.tensors[ia].canonical;
    let equal = ma.data == mb.data;
    let tol = precision_tolerance(ta.dtype).max(precision_tolerance(tb.dtype));
    Some(PairDelta {
        name: a.canonical_name(ia),
        role: canon.role,
        param: canon.param,
        block: canon.block,
        delta: delta(&ma.data, &mb.data),
        equal,
        tolerance: tol,
        renamed: ta.name != tb.name,
        transposed: a.anatomy.tensors[ia].orientation != b.anatomy.tensors[ib].orientation
            && a.anatomy.tensors[ia].orientation != Orientation::NotMatrix,
        dtypes: (ta.dtype, tb.dtype),
        row_cos: mean_row_cosine(&ma, &mb),
        scale_spread: scale_spread(&ma, &mb),
        all_ones: (
            ma.data.iter().all(|&x| x == 1.0),
            mb.data.iter().all(|&x| x == 1.0),
        ),
        unchanged: unchanged_fraction(&ma.data, &mb.data, (ta.dtype, tb.dtype)),
        sorted_rel: (ma.rows <= 1).then(|| sorted_rel(&ma.data, &mb.data)),
    })
}

/// Effective rank (singular values holding 90 % of the energy) of the change between block
/// `ba` of A and block `bb` of B, for the Q, MLP up and MLP down matrices, as a fraction of the
/// largest possible rank, on at most [`SAMPLED_ROWS`] seeded rows (a row sample of a rank-r
/// change has rank ≤ r). Both sides must be in the same residual coordinates. A LoRA update of
/// rank 4 gives ≈ 0.05 on the zoo; full fine-tunes 0.3–0.7.
pub fn delta_ranks(a: &ModelView<'_>, ba: u32, b: &ModelView<'_>, bb: u32) -> Vec<f64> {
    use taoke_anatomy::Param;
    let mut out = Vec::new();
    for role in [Role::AttnQ, Role::MlpUp, Role::MlpDown] {
        let (Some(ia), Some(ib)) = (
            a.index(Some(ba), role, Param::Weight),
            b.index(Some(bb), role, Param::Weight),
        ) else {
            continue;
        };
        let n = a.canonical_rows(ia);
        if n != b.canonical_rows(ib)
            || a.ck.tensors[ia].n_elements() != b.ck.tensors[ib].n_elements()
        {
            continue;
        }
        let rows =
            taoke_stats::rng::SplitMix64::new(0xde17a ^ n as u64).sample_sorted(n, SAMPLED_ROWS);
        let (Ok(x), Ok(y)) = (a.matrix_rows(ia, &rows), b.matrix_rows(ib, &rows)) else {
            continue;
        };
        if (x.rows, x.cols) != (y.rows, y.cols) {
            continue;
        }
        let d = taoke_stats::Matrix::from_fn(x.rows, x.cols, |i, j| y.get(i, j) - x.get(i, j));
        let Ok(sv) = taoke_stats::spectral::singular_values(d.view()) else {
            continue;
        };
        let total: f64 = sv.iter().map(|v| v * v).sum();
        if total.is_nan() || total <= 0.0 {
            continue;
        }
        let mut acc = 0.0;
        let mut r90 = sv.len();
        for (k, v) in sv.iter().enumerate() {
            acc += v * v;
            if acc >= 0.9 * total {
                r90 = k + 1;
                break;
            }
        }
        out.push(r90 as f64 / sv.len().max(1) as f64);
    }
    out
}

/// Mean cosine between the rows of the dense MLP up-projection of `dense` and the same rows of
/// each expert's up-projection in `moe`, in place, over every block and expert present on both
/// sides with the same shape: near 1 when the experts were up-cycled from the dense MLP in its
/// unit order (even after training), near 0 when the units were reordered. `None` when no
/// expert matrix lines up with a dense one.
pub fn expert_rows_in_place(dense: &ModelView<'_>, moe: &ModelView<'_>) -> Option<f64> {
    use taoke_anatomy::Param;
    let mut cos = Vec::new();
    for (key, &ie) in &moe.by_key {
        let (Some(block), Some(_), Role::ExpertUp, Param::Weight) = *key else {
            continue;
        };
        let Some(id) = dense.index(Some(block), Role::MlpUp, Param::Weight) else {
            continue;
        };
        if dense.ck.tensors[id].n_elements() != moe.ck.tensors[ie].n_elements() {
            continue;
        }
        let (Ok(x), Ok(y)) = (dense.matrix(id), moe.matrix(ie)) else {
            continue;
        };
        if (x.rows, x.cols) == (y.rows, y.cols) {
            cos.push(mean_row_cosine(&x, &y));
        }
    }
    (!cos.is_empty()).then(|| cos.iter().sum::<f64>() / cos.len() as f64)
}

/// Spread of the rescaling between matched MLP units of block `block` (A) and `block_b` (B):
/// the standard deviation of `ln(‖b_j‖ / ‖a_i‖)` over the matched pairs `(i, j)` of the
/// up-projection rows (see [`PairDelta::scale_spread`], here after the units' matching rather
/// than in place). `None` when the matrices cannot be read or the matching does not index them.
pub fn matched_rows_scale_spread(
    a: &ModelView<'_>,
    block: u32,
    b: &ModelView<'_>,
    block_b: u32,
    pairs: &[(usize, usize)],
) -> Option<f64> {
    use taoke_anatomy::Param;
    let ia = a.index(Some(block), Role::MlpUp, Param::Weight)?;
    let ib = b.index(Some(block_b), Role::MlpUp, Param::Weight)?;
    let (x, y) = (a.matrix(ia).ok()?, b.matrix(ib).ok()?);
    if x.cols != y.cols || pairs.len() < 2 {
        return None;
    }
    let norm = |v: &[f32]| v.iter().map(|&t| f64::from(t).powi(2)).sum::<f64>();
    let logs: Vec<f64> = pairs
        .iter()
        .filter(|&&(i, j)| i < x.rows && j < y.rows)
        .filter_map(|&(i, j)| {
            let (p, q) = (norm(x.row(i)), norm(y.row(j)));
            (p > 0.0 && q > 0.0).then(|| 0.5 * (q / p).ln())
        })
        .collect();
    if logs.len() < 2 {
        return None;
    }
    let m = logs.iter().sum::<f64>() / logs.len() as f64;
    Some((logs.iter().map(|t| (t - m).powi(2)).sum::<f64>() / (logs.len() - 1) as f64).sqrt())
}
