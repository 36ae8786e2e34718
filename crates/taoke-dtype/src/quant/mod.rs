//! GGML block-quantized types: dequantization (and quantization for the writers).
//!
//! Block layouts follow the GGUF/GGML format description; this code is written from the
//! layouts, not copied from ggml. Each type stores elements in fixed-size blocks (32, 64, 128
//! or 256 elements) holding one or more scales and packed integer codes:
//!
//! - `legacy`: `Q4_0`, `Q4_1`, `Q5_0`, `Q5_1`, `Q8_0`, `Q8_1` (32 elements, one scale);
//! - `k`: the k-quants `Q2_K` … `Q8_K` (256-element super-blocks of 16 or 32-element
//!   sub-blocks with quantized sub-scales);
//! - `iq`: the lattice-codebook types `IQ2_XXS`, `IQ2_XS`, `IQ2_S`, `IQ3_XXS`, `IQ3_S`,
//!   `IQ1_S`, `IQ1_M`;
//! - `nonlinear`: codebook and ternary types `IQ4_NL`, `IQ4_XS`, `TQ1_0`, `TQ2_0`, `MXFP4`,
//!   `NVFP4`.
//!
//! The arithmetic mirrors the reference dequantizers operation for operation (scales are
//! multiplied before codes, no fused multiply-add), so results are bit-identical to them; the
//! golden-vector tests in `tests/quant_golden.rs` check this against the `gguf` Python package.
//! `Q1_0` is not implemented and returns [`DecodeError::Unsupported`].

use crate::{DecodeError, Dtype, Storage};

mod iq;
mod k;
mod legacy;
mod nonlinear;

/// Whether [`dequantize`] supports `dtype`.
pub fn can_dequantize(dtype: Dtype) -> bool {
    use Dtype::*;
    matches!(
        dtype,
        Q4_0 | Q4_1
            | Q5_0
            | Q5_1
            | Q8_0
            | Q8_1
            | Q2_K
            | Q3_K
            | Q4_K
            | Q5_K
            | Q6_K
            | Q8_K
            | IQ4_NL
            | IQ4_XS
            | TQ1_0
            | TQ2_0
            | MXFP4
            | NVFP4
            | IQ2_XXS
            | IQ2_XS
            | IQ2_S
            | IQ3_XXS
            | IQ3_S
            | IQ1_S
            | IQ1_M
    )
}

/// Whether [`quantize`] supports `dtype`.
pub fn can_quantize(dtype: Dtype) -> bool {
    use Dtype::*;
    matches!(
        dtype,
        Q4_0 | Q4_1 | Q5_0 | Q5_1 | Q8_0 | Q4_K | Q5_K | Q6_K | Q8_K
    )
}

/// Elements and bytes per block, or `Unsupported` for non-block types.
fn block_geometry(dtype: Dtype) -> Result<(usize, usize), DecodeError> {
    match dtype.storage() {
        Storage::Block { elems, bytes } => Ok((elems as usize, bytes as usize)),
        _ => Err(DecodeError::Unsupported(dtype)),
    }
}

/// Dequantizes whole blocks of a block-quantized `dtype` into `out`: `bytes` must hold exactly
/// `out.len() / block_elems` blocks, and `out.len()` must be a multiple of the block size.
///
/// Types not (yet) implemented return [`DecodeError::Unsupported`] (see [`can_dequantize`]).
pub fn dequantize(dtype: Dtype, bytes: &[u8], out: &mut [f32]) -> Result<(), DecodeError> {
    let (elems, block_bytes) = block_geometry(dtype)?;
    if !out.len().is_multiple_of(elems) || bytes.len() != out.len() / elems * block_bytes {
        return Err(DecodeError::Length {
            dtype,
            elems: out.len(),
            needed: dtype.bytes_for(out.len() as u64).unwrap_or(0),
            got: bytes.len(),
        });
    }
    match dtype {
        Dtype::Q4_0 => run(bytes, out, legacy::dequant_q4_0),
        Dtype::Q4_1 => run(bytes, out, legacy::dequant_q4_1),
        Dtype::Q5_0 => run(bytes, out, legacy::dequant_q5_0),
        Dtype::Q5_1 => run(bytes, out, legacy::dequant_q5_1),
        Dtype::Q8_0 => run(bytes, out, legacy::dequant_q8_0),
        Dtype::Q8_1 => run(bytes, out, legacy::dequant_q8_1),
        Dtype::Q2_K => run(bytes, out, k::dequant_q2_k),
        Dtype::Q3_K => run(bytes, out, k::dequant_q3_k),
        Dtype::Q4_K => run(bytes, out, k::dequant_q4_k),
        Dtype::Q5_K => run(bytes, out, k::dequant_q5_k),
        Dtype::Q6_K => run(bytes, out, k::dequant_q6_k),
        Dtype::Q8_K => run(bytes, out, k::dequant_q8_k),
        Dtype::IQ4_NL => run(bytes, out, nonlinear::dequant_iq4_nl),
        Dtype::IQ4_XS => run(bytes, out, nonlinear::dequant_iq4_xs),
        Dtype::TQ1_0 => run(bytes, out, nonlinear::dequant_tq1_0),
        Dtype::TQ2_0 => run(bytes, out, nonlinear::dequant_tq2_0),
        Dtype::MXFP4 => run(bytes, out, nonlinear::dequant_mxfp4),
        Dtype::NVFP4 => run(bytes, out, nonlinear::dequant_nvfp4),
        Dtype::IQ2_XXS => run(bytes, out, iq::dequant_iq2_xxs),
        Dtype::IQ2_XS => run(bytes, out, iq::dequant_iq2_xs),
        Dtype::IQ2_S => run(bytes, out, iq::dequant_iq2_s),
        Dtype::IQ3_XXS => run(bytes, out, iq::dequant_iq3_xxs),
        Dtype::IQ3_S => run(bytes, out, iq::dequant_iq3_s),
        Dtype::IQ1_S => run(bytes, out, iq::dequant_iq1_s),
        Dtype::IQ1_M => run(bytes, out, iq::dequant_iq1_m),
        d => return Err(DecodeError::Unsupported(d)),
    }
    Ok(())
}

/// Quantizes `values` (a multiple of the block size) into blocks of `dtype`.
///
/// The quantizers are simple (no iterative search for the best scales, no importance
/// weights), so their error is somewhat larger than llama.cpp's; their blocks are valid and
/// decode identically with any conforming dequantizer. Unsupported types (see
/// [`can_quantize`]) return [`DecodeError::Unsupported`].
pub fn quantize(dtype: Dtype, values: &[f32]) -> Result<Vec<u8>, DecodeError> {
    let (elems, block_bytes) = block_geometry(dtype)?;
    if !can_quantize(dtype) {
        return Err(DecodeError::Unsupported(dtype));
    }
    if !values.len().is_multiple_of(elems) {
        return Err(DecodeError::Length {
            dtype,
            elems: values.len(),
            needed: 0,
            got: 0,
        });
    }
    let mut out = vec![0u8; values.len() / elems * block_bytes];
    match dtype {
        Dtype::Q4_0 => run_q(values, &mut out, legacy::quant_q4_0),
        Dtype::Q4_1 => run_q(values, &mut out, legacy::quant_q4_1),
        Dtype::Q5_0 => run_q(values, &mut out, legacy::quant_q5_0),
        Dtype::Q5_1 => run_q(values, &mut out, legacy::quant_q5_1),
        Dtype::Q8_0 => run_q(values, &mut out, legacy::quant_q8_0),
        Dtype::Q4_K => run_q(values, &mut out, k::quant_q4_k),
        Dtype::Q5_K => run_q(values, &mut out, k::quant_q5_k),
        Dtype::Q6_K => run_q(values, &mut out, k::quant_q6_k),
        Dtype::Q8_K => run_q(values, &mut out, k::quant_q8_k),
        d => return Err(DecodeError::Unsupported(d)),
    }
    Ok(out)
}

/// Applies a per-block dequantizer over whole blocks. Lengths were checked by the caller;
/// `as_chunks` yields fixed-size arrays, so the per-block code has no bounds checks.
#[inline]
fn run<const B: usize, const N: usize>(
    bytes: &[u8],
    out: &mut [f32],
    f: fn(&[u8; B], &mut [f32; N]),
) {
    let (blocks, _) = bytes.as_chunks::<B>();
    let (outs, _) = out.as_chunks_mut::<N>();
    for (b, o) in blocks.iter().zip(outs) {
        f(b, o);
    }
}

/// Applies a per-block quantizer over whole blocks.
#[inline]
fn run_q<const B: usize, const N: usize>(
    values: &[f32],
    out: &mut [u8],
    f: fn(&[f32; N], &mut [u8; B]),
) {
    let (vals, _) = values.as_chunks::<N>();
    let (blocks, _) = out.as_chunks_mut::<B>();
    for (v, b) in vals.iter().zip(blocks) {
        f(v, b);
    }
}

/// An IEEE half stored little-endian at `b[0..2]`, as f32.
#[inline]
fn f16_at(b: &[u8], i: usize) -> f32 {
    half::f16::from_bits(u16::from_le_bytes([b[i], b[i + 1]])).to_f32()
}

/// Rounds an f32 to the nearest half (ties to even) and returns its little-endian bytes.
#[inline]
fn f16_bytes(x: f32) -> [u8; 2] {
    half::f16::from_f32(x).to_bits().to_le_bytes()
}

/// The value of `f16_bytes(x)` read back as f32.
#[inline]
fn f16_round(x: f32) -> f32 {
    half::f16::from_f32(x).to_f32()
}

/// Rounds half away from zero (C `roundf`).
#[inline]
fn round_away(x: f32) -> f32 {
    x.round()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_is_checked() {
        let mut out = [0.0f32; 32];
        assert!(matches!(
            dequantize(Dtype::Q8_0, &[0; 33], &mut out),
            Err(DecodeError::Length { .. })
        ));
        let mut out = [0.0f32; 31];
        assert!(matches!(
            dequantize(Dtype::Q8_0, &[0; 34], &mut out),
            Err(DecodeError::Length { .. })
        ));
        assert!(matches!(
            dequantize(Dtype::F32, &[0; 4], &mut [0.0]),
            Err(DecodeError::Unsupported(Dtype::F32))
        ));
        assert!(matches!(
            quantize(Dtype::Q8_0, &[0.0; 33]),
            Err(DecodeError::Length { .. })
        ));
        assert!(matches!(
            quantize(Dtype::IQ2_XXS, &[0.0; 256]),
            Err(DecodeError::Unsupported(Dtype::IQ2_XXS))
        ));
    }

    #[test]
    fn zero_blocks_and_empty_input() {
        for &d in Dtype::ALL.iter().filter(|d| can_dequantize(**d)) {
            let (n, b) = block_geometry(d).unwrap();
            let mut out = vec![1.0f32; 2 * n];
            dequantize(d, &vec![0u8; 2 * b], &mut out).unwrap();
            // All-zero bytes: zero scale (or, for MXFP4, the smallest power of two times a
            // zero code), so every value is zero.
            assert!(out.iter().all(|&v| v == 0.0), "{d}");
            dequantize(d, &[], &mut []).unwrap();
        }
    }

    #[test]
    fn quantize_round_trips_within_tolerance() {
        // Smooth data with a few outliers; each type must reconstruct it within a tolerance
        // relative to the block range that matches its bit width.
        let values: Vec<f32> = (0..1024usize)
            .map(|i| {
                let x = i as f32;
                (x * 0.37).sin() * 0.1 + if i.is_multiple_of(97) { 0.5 } else { 0.0 }
            })
            .collect();
        let cases = [
            (Dtype::Q8_0, 0.004),
            (Dtype::Q8_K, 0.004),
            (Dtype::Q6_K, 0.02),
            (Dtype::Q5_0, 0.04),
            (Dtype::Q5_1, 0.04),
            (Dtype::Q5_K, 0.04),
            (Dtype::Q4_0, 0.08),
            (Dtype::Q4_1, 0.08),
            (Dtype::Q4_K, 0.08),
        ];
        for (d, tol) in cases {
            let q = quantize(d, &values).unwrap();
            assert_eq!(Some(q.len() as u64), d.bytes_for(values.len() as u64));
            let mut back = vec![0.0; values.len()];
            dequantize(d, &q, &mut back).unwrap();
            let max_err = values
                .iter()
                .zip(&back)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            // The data spans [-0.1, 0.6]: tolerances are fractions of that range.
            assert!(max_err <= tol * 0.7, "{d}: max error {max_err}");
            assert!(max_err > 0.0, "{d}: lossless is suspicious");
        }
    }
}
