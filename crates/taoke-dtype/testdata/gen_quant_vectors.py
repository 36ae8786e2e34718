#!/usr/bin/env python3
"""Writes the GGML dequantization golden vectors in testdata/quant/ (see README.md).

Uses the reference (de)quantizers of the `gguf` Python package on seeded data. Output format
of each `quant/<TYPE>.bin` (all little-endian):

    b"TQV1", u32 ggml_type, u32 block_elems, u32 block_bytes,
    u32 n_q, f32 input[n_q * block_elems], u8 blocks[n_q * block_bytes], f32 expected[...]
    u32 n_r, u8 blocks[n_r * block_bytes], f32 expected[n_r * block_elems]

The first section (empty for types the package cannot quantize) holds seeded Gaussian input,
its `gguf.quants.quantize` blocks and their `gguf.quants.dequantize` output; the second holds
random block bytes (with finite f16 scales patched in) and their dequantized values.
"""

import struct
import sys
from pathlib import Path

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType as T
from gguf import quants

OUT = Path(__file__).resolve().parent / "quant"

# Byte offsets of the f16 scale fields of each type, patched with finite values.
F16_FIELDS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
    T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
    T.IQ4_NL: [0], T.IQ4_XS: [0], T.TQ1_0: [52], T.TQ2_0: [64],
    T.MXFP4: [], T.NVFP4: [],
    T.IQ2_XXS: [0], T.IQ2_XS: [0], T.IQ2_S: [0], T.IQ3_XXS: [0], T.IQ3_S: [0], T.IQ1_S: [0],
    T.IQ1_M: [],
}
CAN_QUANTIZE = {T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.TQ1_0, T.TQ2_0, T.MXFP4}


def random_blocks(rng, qtype, n):
    elems, nbytes = GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(n, nbytes), dtype=np.uint8)
    for off in F16_FIELDS[qtype]:
        # Mostly typical magnitudes, one negative, one subnormal, one zero.
        scales = (rng.standard_normal(n) * 0.01).astype(np.float16)
        scales[0] = np.float16(6.1e-6)  # subnormal half
        if n > 1:
            scales[1] = -abs(scales[1])
        if n > 2:
            scales[2] = 0
        raw[:, off:off + 2] = scales.view(np.uint8).reshape(n, 2)
    if qtype == T.IQ1_M:
        # The f16 scale is spread over the top nibbles of the four u16 at bytes 48..56.
        scales = (np.abs(rng.standard_normal(n)) * 0.01).astype(np.float16).view(np.uint16)
        words = raw[:, 48:56].copy().view(np.uint16).reshape(n, 4)
        for i, shift in enumerate((12, 8, 4, 0)):
            words[:, i] = (words[:, i] & 0x0FFF) | (((scales >> shift) & 0xF) << 12)
        raw[:, 48:56] = words.view(np.uint8).reshape(n, 8)
    if qtype == T.MXFP4:
        # Keep the E8M0 exponent in a range where values stay finite.
        raw[:, 0] = rng.integers(0, 200, size=n, dtype=np.uint8)
        raw[0, 0] = 0
    return raw


def main():
    OUT.mkdir(exist_ok=True)
    for qtype, fields in F16_FIELDS.items():
        rng = np.random.default_rng(20240 + int(qtype))
        elems, nbytes = GGML_QUANT_SIZES[qtype]
        n = 8 if elems <= 64 else 3
        out = bytearray(b"TQV1")
        out += struct.pack("<III", int(qtype), elems, nbytes)
        if qtype in CAN_QUANTIZE:
            x = (rng.standard_normal(n * elems) * 0.05).astype(np.float32)
            x[::37] *= 8  # a few outliers
            blocks = quants.quantize(x.reshape(n, elems), qtype).reshape(n, nbytes)
            y = quants.dequantize(blocks, qtype).astype(np.float32).reshape(-1)
            out += struct.pack("<I", n) + x.tobytes() + blocks.tobytes() + y.tobytes()
        else:
            out += struct.pack("<I", 0)
        blocks = random_blocks(rng, qtype, n)
        y = quants.dequantize(blocks, qtype).astype(np.float32).reshape(-1)
        assert np.isfinite(y).all(), qtype.name
        out += struct.pack("<I", n) + blocks.tobytes() + y.tobytes()
        (OUT / f"{qtype.name}.bin").write_bytes(bytes(out))
        print(f"{qtype.name}: {len(out)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
