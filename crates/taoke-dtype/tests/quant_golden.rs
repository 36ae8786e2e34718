//! Dequantization (and quantization) against golden vectors from the `gguf` Python package.
//! See `testdata/README.md` for how the vectors were made.

use taoke_dtype::{decode_f32, quant, Dtype};

struct Vectors<'a> {
    elems: usize,
    bytes: usize,
    /// (input, blocks, expected) made by the reference quantizer; empty input when the type
    /// has no reference quantizer.
    quantized: (Vec<f32>, &'a [u8], Vec<f32>),
    /// (blocks, expected) from random block bytes.
    random: (&'a [u8], Vec<f32>),
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
    fn u32(&mut self) -> usize {
        u32::from_le_bytes(self.take(4).try_into().unwrap()) as usize
    }
    fn f32s(&mut self, n: usize) -> Vec<f32> {
        self.take(4 * n)
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }
}

fn parse(file: &[u8]) -> Vectors<'_> {
    let mut c = Cursor(file);
    assert_eq!(c.take(4), b"TQV1");
    let _ggml_type = c.u32();
    let elems = c.u32();
    let bytes = c.u32();
    let nq = c.u32();
    let input = c.f32s(nq * elems);
    let qblocks = c.take(nq * bytes);
    let qexp = c.f32s(nq * elems);
    let nr = c.u32();
    let rblocks = c.take(nr * bytes);
    let rexp = c.f32s(nr * elems);
    assert!(c.0.is_empty());
    Vectors {
        elems,
        bytes,
        quantized: (input, qblocks, qexp),
        random: (rblocks, rexp),
    }
}

fn check_bits(dtype: Dtype, what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(
            g.to_bits(),
            w.to_bits(),
            "{dtype} {what}: element {i}: got {g}, reference {w}"
        );
    }
}

fn check(dtype: Dtype, file: &[u8], quantizer_matches_reference: bool) {
    let v = parse(file);
    assert_eq!(dtype.block_elems() as usize, v.elems, "{dtype}");
    assert_eq!(dtype.bytes_for(v.elems as u64), Some(v.bytes as u64));
    let (blocks, expected) = &v.random;
    assert!(!blocks.is_empty());
    let mut out = vec![0.0; expected.len()];
    quant::dequantize(dtype, blocks, &mut out).unwrap();
    check_bits(dtype, "random blocks", &out, expected);
    // Same through the public decoder.
    decode_f32(dtype, blocks, &mut out).unwrap();
    check_bits(dtype, "random blocks via decode_f32", &out, expected);

    let (input, blocks, expected) = &v.quantized;
    if !input.is_empty() {
        let mut out = vec![0.0; expected.len()];
        quant::dequantize(dtype, blocks, &mut out).unwrap();
        check_bits(dtype, "reference-quantized blocks", &out, expected);
        if quantizer_matches_reference {
            let ours = quant::quantize(dtype, input).unwrap();
            assert_eq!(
                &ours, blocks,
                "{dtype}: quantizer differs from the reference"
            );
        }
    }
}

macro_rules! golden {
    ($($test:ident: $dtype:ident, $same_quantizer:literal;)*) => {$(
        #[test]
        fn $test() {
            check(
                Dtype::$dtype,
                include_bytes!(concat!("../testdata/quant/", stringify!($dtype), ".bin")),
                $same_quantizer,
            );
        }
    )*};
}

golden! {
    q4_0: Q4_0, true;
    q4_1: Q4_1, true;
    q5_0: Q5_0, true;
    q5_1: Q5_1, true;
    q8_0: Q8_0, true;
    q2_k: Q2_K, false;
    q3_k: Q3_K, false;
    q4_k: Q4_K, false;
    q5_k: Q5_K, false;
    q6_k: Q6_K, false;
    iq4_nl: IQ4_NL, false;
    iq4_xs: IQ4_XS, false;
    tq1_0: TQ1_0, false;
    tq2_0: TQ2_0, false;
    mxfp4: MXFP4, false;
    nvfp4: NVFP4, false;
    iq2_xxs: IQ2_XXS, false;
    iq2_xs: IQ2_XS, false;
    iq2_s: IQ2_S, false;
    iq3_xxs: IQ3_XXS, false;
    iq3_s: IQ3_S, false;
    iq1_s: IQ1_S, false;
    iq1_m: IQ1_M, false;
}

/// Our k-quantizers differ from llama.cpp's, but their blocks must decode, with our
/// dequantizer, close to the input: a check that scales and codes are packed where the
/// (reference-verified) dequantizer reads them.
#[test]
fn k_quantizers_reconstruct_gaussian_data() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut gauss = || {
        // Sum of uniforms: roughly normal, deterministic.
        (0..6)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 11) as f32 / (1u64 << 53) as f32 - 0.5
            })
            .sum::<f32>()
            * 0.05
    };
    let x: Vec<f32> = (0..4096).map(|_| gauss()).collect();
    let rms = (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt();
    // Relative RMS error bounds: about 2^-bits of the range, with headroom.
    for (dtype, bound) in [
        (Dtype::Q4_K, 0.12),
        (Dtype::Q5_K, 0.06),
        (Dtype::Q6_K, 0.03),
        (Dtype::Q8_K, 0.01),
    ] {
        let q = quant::quantize(dtype, &x).unwrap();
        let mut y = vec![0.0; x.len()];
        quant::dequantize(dtype, &q, &mut y).unwrap();
        let err = (x
            .iter()
            .zip(&y)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f32>()
            / x.len() as f32)
            .sqrt();
        assert!(
            err / rms < bound,
            "{dtype}: relative rms error {}",
            err / rms
        );
        eprintln!("{dtype}: relative rms error {:.4}", err / rms);
    }
}

#[test]
fn q8_1_scales_codes_and_ignores_the_sum() {
    // d = 0.5 (f16 0x3800), s = anything, codes -2, 0, 127, ...
    let mut block = vec![0x00, 0x38, 0x00, 0x3c];
    block.extend((0..32).map(|i: i32| (i - 2) as i8 as u8));
    let mut out = [0.0f32; 32];
    quant::dequantize(Dtype::Q8_1, &block, &mut out).unwrap();
    assert_eq!(out[0], -1.0);
    assert_eq!(out[2], 0.0);
    assert_eq!(out[31], 14.5);
}
