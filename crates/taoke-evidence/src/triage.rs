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
/// (after orientation), in A's coordinates (no alignment applied).
pub fn pair_deltas(a: &ModelView<'_>, b: &ModelView<'_>, max_elems: u64) -> Vec<PairDelta> {
    pair_deltas_sampled(a, b, max_elems, crate::compare::LARGE)
}

/// [`pair_deltas`] with matrices of more than `sample_above` elements compared on
/// [`SAMPLED_ROWS`] seeded rows.
pub fn pair_deltas_sampled(
    a: &ModelView<'_>,
    b: &ModelView<'_>,
    max_elems: u64,
    sample_above: u64,
) -> Vec<PairDelta> {
    let mut out = Vec::new();
    for (k, &ia) in &a.by_key {
        let Some(&ib) = b.by_key.get(k) else { continue };
        let (ta, tb) = (&a.ck.tensors[ia], &b.ck.tensors[ib]);
        if ta.n_elements() != tb.n_elements() || ta.n_elements() > max_elems {
            continue;
        }
        // Large matrices: a seeded sample of rows (the same rows on both sides), so a pass
        // over a 7B pair reads a few MB per tensor; `equal` then means "equal on those rows".
        let sampled = ta.n_elements() > sample_above && ta.shape.len() == 2;
        let read = |v: &ModelView<'_>, i: usize| {
            if sampled {
                let n = v.canonical_rows(i);
                let rows = taoke_stats::rng::SplitMix64::new(0x7a1e ^ n as u64)
                    .sample_sorted(n, SAMPLED_ROWS);
                v.matrix_rows(i, &rows)
            } else {
                v.matrix(i)
            }
        };
        if sampled && a.canonical_rows(ia) != b.canonical_rows(ib) {
            continue;
        }
        let (Ok(ma), Ok(mb)) = (read(a, ia), read(b, ib)) else {
            continue;
        };
        if (ma.rows, ma.cols) != (mb.rows, mb.cols) {
            continue;
        }
        let equal = ma.data == mb.data;
        let tol = precision_tolerance(ta.dtype).max(precision_tolerance(tb.dtype));
        out.push(PairDelta {
            name: a.canonical_name(ia),
            role: k.2,
            block: k.0,
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
        });
    }
    out
}
