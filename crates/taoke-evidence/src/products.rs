//! Function-invariant block products, for telling "the same weights in disguise" from "related
//! by training".
//!
//! Output-preserving disguises (permuting or rotating the residual stream, permuting MLP units
//! or attention heads, scaling MLP units, folding or rewriting norm gains, transposing storage)
//! change every matrix but not these `d × d` products:
//! `W_oW_v` (attention value-output path), `W_qᵀW_k` (attention scores) and `W_down·W_up`
//! (MLP), with norm gains folded into the input side. After mapping B's residual coordinates to
//! A's (`Mᵀ P_B M`), equal weights give equal products; quantization or added noise gives a
//! small relative error; training gives a larger, structured one.
//!
//! Products are compared through a random sketch `P·Z` (`Z` Gaussian `d × k`), which costs
//! `O(d·h·k)` instead of `O(d²·h)` and estimates the Frobenius error without forming `P`.

use taoke_anatomy::{Param, Role};
use taoke_stats::Matrix;

use taoke_stats::rng::SplitMix64;

use crate::align::{matmul, Transform};
use crate::report::Product;
use crate::units::{attn_gain, ffn_gain, fold_gain};
use crate::view::ModelView;
use crate::Result;

/// Columns of the random sketch.
pub const SKETCH_COLS: usize = 48;

/// Relative error and correlation of one product between A and B.
#[derive(Debug, Clone, Copy)]
pub struct ProductDelta {
    /// ‖S_A − S_B‖ / ‖S_A‖.
    pub rel: f64,
    /// Pearson correlation of the sketches.
    pub r: f64,
    /// GhostSpec-style spectral distance of the two products: mean squared difference of the
    /// max-normalised top singular values (invariant to any rotation or permutation of the
    /// residual stream, computed in each model's own coordinates). `None` when not computed.
    pub spectral_mse: Option<f64>,
}

/// Singular values compared per product by the spectral signature.
pub const SPECTRUM_K: usize = 16;

fn top_spectrum(left: &Matrix, right: &Matrix) -> Option<Vec<f64>> {
    let k = SPECTRUM_K.min(left.rows).min(right.cols);
    taoke_stats::spectral::top_singular_values_of_product(
        left.view(),
        right.view(),
        k,
        taoke_stats::spectral::RsvdOptions::default(),
    )
    .ok()
}

fn gaussian(rows: usize, cols: usize, seed: u64) -> Matrix {
    let mut rng = SplitMix64::new(seed ^ taoke_stats::rng::SPLITMIX64_GAMMA);
    // Open interval (0, 1): the half-step keeps ln(u) finite.
    let mut u = move || ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    Matrix::from_fn(rows, cols, |_, _| {
        // Box–Muller (one value per pair; simplicity over speed).
        let (a, b) = (u(), u());
        ((-2.0 * a.ln()).sqrt() * (2.0 * std::f64::consts::PI * b).cos()) as f32
    })
}

/// Key/value heads declared by the model (grouped-query attention), when known.
fn kv_heads(v: &ModelView<'_>) -> Option<usize> {
    v.anatomy
        .description
        .kv_heads
        .as_ref()
        .map(|f| f.value as usize)
        .filter(|&h| h > 0)
}

fn transpose(m: &Matrix) -> Matrix {
    m.view().transpose()
}

fn w(v: &ModelView<'_>, block: u32, role: Role) -> Result<Option<Matrix>> {
    match v.index(Some(block), role, Param::Weight) {
        Some(i) => v.matrix(i).map(Some),
        None => Ok(None),
    }
}

/// The sketches `P·Z` of one block's products, in the model's own coordinates: for each
/// product, `(left, right)` factors such that `P = left · right`, `left: d × h`,
/// `right: h × d`.
fn factors(v: &ModelView<'_>, block: u32, only: Product) -> Result<Vec<(Product, Matrix, Matrix)>> {
    let want = |p: Product| only == p;
    let mut out = Vec::new();
    let ag = attn_gain(v, block);
    let fg = ffn_gain(v, block);
    let kv_heads = kv_heads(v);
    if !want(Product::AttnVo) {
    } else if let (Some(o), Some(val)) = (w(v, block, Role::AttnO)?, w(v, block, Role::AttnV)?) {
        let val = fold_gain(val, ag.as_ref());
        if o.cols == val.rows {
            out.push((Product::AttnVo, o, val));
        } else if let Some(vv) = kv_heads.and_then(|h| repeat_heads(&val, h, o.cols)) {
            out.push((Product::AttnVo, o, vv));
        }
    }
    if !want(Product::AttnQk) {
    } else if let (Some(q), Some(k)) = (w(v, block, Role::AttnQ)?, w(v, block, Role::AttnK)?) {
        // Qᵀ K needs equal head widths; with grouped-query attention, repeat K's heads.
        let q = fold_gain(q, ag.as_ref());
        let k = fold_gain(k, ag.as_ref());
        if q.rows == k.rows {
            out.push((Product::AttnQk, transpose(&q), k));
        } else if let Some(kk) = kv_heads.and_then(|h| repeat_heads(&k, h, q.rows)) {
            out.push((Product::AttnQk, transpose(&q), kk));
        }
    }
    if !want(Product::MlpDownUp) {
    } else if let (Some(d), Some(u)) = (w(v, block, Role::MlpDown)?, w(v, block, Role::MlpUp)?) {
        if d.cols == u.rows {
            out.push((Product::MlpDownUp, d, fold_gain(u, fg.as_ref())));
        }
    }
    Ok(out)
}

/// Repeats the rows of `m` (`kv_heads` heads of equal width) so that it has `rows` rows, the
/// grouped-query layout (query head `h` uses key/value head `h / (rows / m.rows)`).
fn repeat_heads(m: &Matrix, kv_heads: usize, rows: usize) -> Option<Matrix> {
    if m.rows == 0 || !rows.is_multiple_of(m.rows) || !m.rows.is_multiple_of(kv_heads) {
        return None;
    }
    let rep = rows / m.rows;
    let hd = m.rows / kv_heads;
    let mut out = Matrix::zeros(rows, m.cols);
    for g in 0..kv_heads {
        for r in 0..rep {
            for x in 0..hd {
                let dst = ((g * rep + r) * hd + x) * m.cols;
                let src = (g * hd + x) * m.cols;
                out.data[dst..dst + m.cols].copy_from_slice(&m.data[src..src + m.cols]);
            }
        }
    }
    Some(out)
}

/// Sketch of `Mᵀ·(left·right)·M·Z` for B, or `left·right·Z` for A (`t` identity).
fn sketch(left: &Matrix, right: &Matrix, t: &Transform, z: &Matrix, d_a: usize) -> Matrix {
    // right·M: map right's columns (residual, input side) to A's coordinates.
    let rm = t.apply(right, d_a); // h × d_a
    let y = matmul(rm.view(), z.view()); // h × k
    let ly = matmul(left.view(), y.view()); // d_b × k
                                            // Mᵀ on the output side: rows of `ly` are B's residual coordinates.
    transpose(&t.apply(&transpose(&ly), d_a)) // d_a × k
}

/// Compares the block products of A's `block_a` and B's `block_b`.
pub fn compare_block(
    a: &ModelView<'_>,
    block_a: u32,
    b: &ModelView<'_>,
    block_b: u32,
    t: &Transform,
    d_a: usize,
    seed: u64,
) -> Result<Vec<(Product, ProductDelta)>> {
    compare_block_with(a, block_a, b, block_b, t, d_a, seed, false)
}

/// [`compare_block`], with the spectral signatures of the products when `spectra` is set.
#[allow(clippy::too_many_arguments)]
pub fn compare_block_with(
    a: &ModelView<'_>,
    block_a: u32,
    b: &ModelView<'_>,
    block_b: u32,
    t: &Transform,
    d_a: usize,
    seed: u64,
    spectra: bool,
) -> Result<Vec<(Product, ProductDelta)>> {
    let z = gaussian(d_a, SKETCH_COLS, seed);
    let mut out = Vec::new();
    // One product at a time, so only its two factors per side are in memory (a 13B block's
    // seven matrices would take 2.5 GB of f32 for both sides).
    for product in Product::ALL {
        let fa = factors(a, block_a, product)?;
        let fb = factors(b, block_b, product)?;
        for (name, la, ra) in &fa {
            let Some((_, lb, rb)) = fb.iter().find(|(n, _, _)| n == name) else {
                continue;
            };
            if ra.cols != d_a {
                continue;
            }
            let sa = sketch(la, ra, &Transform::Identity, &z, d_a);
            let sb = sketch(lb, rb, t, &z, d_a);
            if sa.data.len() != sb.data.len() {
                continue;
            }
            let mut d = delta(&sa.data, &sb.data);
            if spectra {
                if let (Some(x), Some(y)) = (top_spectrum(la, ra), top_spectrum(lb, rb)) {
                    d.spectral_mse =
                        taoke_stats::spectral::spectrum_distance(&x, &y, Some(SPECTRUM_K))
                            .ok()
                            .map(|s| s.mse);
                }
            }
            out.push((*name, d));
        }
    }
    Ok(out)
}

/// Most rows read per chunk by the streamed sketches.
const CHUNK_ROWS: usize = 256;

/// Bytes of `f32` per chunk: chunks stay below the allocator's mmap threshold (4 MiB, set
/// by the CLI), so their buffers are reused instead of being mapped and faulted in afresh
/// for every chunk (which took a third of the CPU time of a 1B comparison).
const CHUNK_BYTES: usize = 2 << 20;

/// Canonical `(rows, cols)` of tensor `i` without reading it.
fn dims(v: &ModelView<'_>, i: usize) -> (usize, usize) {
    let n = v.canonical_rows(i).max(1);
    (n, v.ck.tensors[i].n_elements() as usize / n)
}

/// Calls `f(start, chunk)` on consecutive row chunks of tensor `i` (canonical rows, the
/// norm gain folded into the columns when given); at most [`CHUNK_ROWS`] rows and
/// [`CHUNK_BYTES`] are decoded at a time.
fn for_chunks(
    v: &ModelView<'_>,
    i: usize,
    gain: Option<&Matrix>,
    mut f: impl FnMut(usize, Matrix),
) -> Result<()> {
    let (n, cols) = dims(v, i);
    let step = (CHUNK_BYTES / (4 * cols.max(1))).clamp(8, CHUNK_ROWS);
    let mut start = 0;
    while start < n {
        let end = (start + step).min(n);
        let rows: Vec<usize> = (start..end).collect();
        f(start, fold_gain(v.matrix_rows(i, &rows)?, gain));
        start = end;
    }
    Ok(())
}

/// `right·M·Z` (`h × k`), reading `right` (`h × d_b`, tensor `i`) by row chunks.
fn stream_right(
    v: &ModelView<'_>,
    i: usize,
    gain: Option<&Matrix>,
    t: &Transform,
    z: &Matrix,
    d_a: usize,
) -> Result<Matrix> {
    let (h, _) = dims(v, i);
    let k = z.cols;
    let mut y = Matrix::zeros(h, k);
    for_chunks(v, i, gain, |start, m| {
        let c = matmul(t.apply_owned(m, d_a).view(), z.view());
        y.data[start * k..(start + c.rows) * k].copy_from_slice(&c.data);
    })?;
    Ok(y)
}

/// `left·Y` (`d × k`), reading `left` (`d × h`, tensor `i`) by row chunks.
fn stream_left(v: &ModelView<'_>, i: usize, y: &Matrix) -> Result<Option<Matrix>> {
    let (d, h) = dims(v, i);
    if h != y.rows {
        return Ok(None);
    }
    let k = y.cols;
    let mut out = Matrix::zeros(d, k);
    for_chunks(v, i, None, |start, m| {
        let c = matmul(m.view(), y.view());
        out.data[start * k..(start + c.rows) * k].copy_from_slice(&c.data);
    })?;
    Ok(Some(out))
}

/// `leftᵀ·Y` (`d × k`), reading `left` (`h × d`, tensor `i`, gain folded) by row chunks:
/// `Σ_chunks chunkᵀ · Y[chunk]`.
fn stream_left_t(
    v: &ModelView<'_>,
    i: usize,
    gain: Option<&Matrix>,
    y: &Matrix,
) -> Result<Option<Matrix>> {
    let (h, d) = dims(v, i);
    if h != y.rows {
        return Ok(None);
    }
    let k = y.cols;
    let mut acc = vec![0f64; d * k];
    for_chunks(v, i, gain, |start, m| {
        let ys = Matrix {
            rows: m.rows,
            cols: k,
            data: y.data[start * k..(start + m.rows) * k].to_vec(),
        };
        let c = crate::align::matmul_tn(m.view(), ys.view());
        for (a, &x) in acc.iter_mut().zip(&c.data) {
            *a += f64::from(x);
        }
    })?;
    Ok(Some(Matrix {
        rows: d,
        cols: k,
        data: acc.into_iter().map(|x| x as f32).collect(),
    }))
}

/// The sketch of one product of a block, streamed (see [`compare_block_streamed`]); `None`
/// when the block lacks the product or its shapes do not fit.
fn sketch_streamed(
    v: &ModelView<'_>,
    block: u32,
    product: Product,
    t: &Transform,
    z: &Matrix,
    d_a: usize,
) -> Result<Option<Matrix>> {
    let idx = |role| v.index(Some(block), role, Param::Weight);
    let kv_heads = kv_heads(v);
    // Repeats Y's rows to `rows` (grouped-query attention), when needed.
    let fit = |y: Matrix, rows: usize| -> Option<Matrix> {
        if y.rows == rows {
            Some(y)
        } else {
            kv_heads.and_then(|h| repeat_heads(&y, h, rows))
        }
    };
    let s = match product {
        Product::AttnVo => {
            let (Some(io), Some(iv)) = (idx(Role::AttnO), idx(Role::AttnV)) else {
                return Ok(None);
            };
            let ag = attn_gain(v, block);
            let y = stream_right(v, iv, ag.as_ref(), t, z, d_a)?;
            let Some(y) = fit(y, dims(v, io).1) else {
                return Ok(None);
            };
            stream_left(v, io, &y)?
        }
        Product::AttnQk => {
            let (Some(iq), Some(ik)) = (idx(Role::AttnQ), idx(Role::AttnK)) else {
                return Ok(None);
            };
            let ag = attn_gain(v, block);
            let y = stream_right(v, ik, ag.as_ref(), t, z, d_a)?;
            let Some(y) = fit(y, dims(v, iq).0) else {
                return Ok(None);
            };
            stream_left_t(v, iq, ag.as_ref(), &y)?
        }
        Product::MlpDownUp => {
            let (Some(id), Some(iu)) = (idx(Role::MlpDown), idx(Role::MlpUp)) else {
                return Ok(None);
            };
            let fg = ffn_gain(v, block);
            let y = stream_right(v, iu, fg.as_ref(), t, z, d_a)?;
            stream_left(v, id, &y)?
        }
    };
    // Mᵀ on the output side: rows of the sketch are the model's residual coordinates.
    Ok(s.map(|s| transpose(&t.apply(&transpose(&s), d_a))))
}

/// [`compare_block`] for large models: each product's sketch `left·(right·Z)` is computed by
/// reading the factors in chunks of at most 256 rows (`right·Z` first, then `left` times
/// it), so memory is `O((d + h)·k)` plus one chunk, whatever the model's size. The same
/// sketch as the in-memory path up to floating-point summation order; no spectra.
pub fn compare_block_streamed(
    a: &ModelView<'_>,
    block_a: u32,
    b: &ModelView<'_>,
    block_b: u32,
    t: &Transform,
    d_a: usize,
    seed: u64,
) -> Result<Vec<(Product, ProductDelta)>> {
    let z = gaussian(d_a, SKETCH_COLS, seed);
    let mut out = Vec::new();
    for product in Product::ALL {
        let Some(sa) = sketch_streamed(a, block_a, product, &Transform::Identity, &z, d_a)? else {
            continue;
        };
        let Some(sb) = sketch_streamed(b, block_b, product, t, &z, d_a)? else {
            continue;
        };
        if sa.data.len() != sb.data.len() {
            continue;
        }
        out.push((product, delta(&sa.data, &sb.data)));
    }
    Ok(out)
}

/// Relative error and Pearson correlation of two equally long vectors.
pub fn delta(a: &[f32], b: &[f32]) -> ProductDelta {
    let n = a.len().max(1) as f64;
    let (mut num, mut den) = (0f64, 0f64);
    let ma = a.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let mb = b.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let (mut sab, mut saa, mut sbb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        num += (x - y).powi(2);
        den += x * x;
        sab += (x - ma) * (y - mb);
        saa += (x - ma).powi(2);
        sbb += (y - mb).powi(2);
    }
    ProductDelta {
        rel: if den > 0.0 {
            (num / den).sqrt()
        } else {
            f64::INFINITY
        },
        r: if saa > 0.0 && sbb > 0.0 {
            sab / (saa * sbb).sqrt()
        } else {
            0.0
        },
        spectral_mse: None,
    }
}
