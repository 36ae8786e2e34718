#!/usr/bin/env python3
"""Writes python-writer.gguf: a small GGUF made by the reference writer of the `gguf` package.

    python3 -m venv ~/.cache/taoke/venv-gguf
    ~/.cache/taoke/venv-gguf/bin/pip install gguf==0.19.0 numpy==2.4.6
    ~/.cache/taoke/venv-gguf/bin/python gen_fixture.py

Contents: metadata of every value type (including a nested array), alignment 64, and four
tensors (F32 2x3, F16 4, Q8_0 2x32, Q4_K 1x256) quantized by the package from seeded data.
The test `python_writer_fixture` in tests/round_trip.rs checks what it reads against the values
printed at the end of this script.
"""

from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T

OUT = Path(__file__).resolve().parent / "python-writer.gguf"

w = gguf.GGUFWriter(str(OUT), "llama")
w.data_alignment = 64
w.add_uint32("general.alignment", 64)
w.add_uint8("t.u8", 200)
w.add_int8("t.i8", -5)
w.add_uint16("t.u16", 65000)
w.add_int16("t.i16", -30000)
w.add_uint32("t.u32", 4_000_000_000)
w.add_int32("t.i32", -2_000_000_000)
w.add_float32("t.f32", 1.5)
w.add_bool("t.bool", True)
w.add_string("t.string", "h\u00e9llo \u2581world")
w.add_uint64("t.u64", 2**64 - 1)
w.add_int64("t.i64", -(2**63))
w.add_float64("t.f64", -1e300)
w.add_array("t.strings", ["a", "", "\u00fc"])
w.add_array("t.ints", [1, -2, 3])
w.add_array("t.nested", [[1, 2], [3]])

rng = np.random.default_rng(7)
w.add_tensor("f32", np.arange(6, dtype=np.float32).reshape(2, 3))
w.add_tensor("f16", np.array([1.0, -2.0, 0.5, 65504.0], dtype=np.float16))
x = (rng.standard_normal((2, 32)) * 0.1).astype(np.float32)
w.add_tensor("q8", gguf.quants.quantize(x, T.Q8_0), raw_dtype=T.Q8_0)
blocks = rng.integers(0, 256, size=(1, 144), dtype=np.uint8)
blocks[:, 0:4] = np.array([0.01, 0.005], dtype=np.float16).view(np.uint8)
w.add_tensor("q4k", blocks, raw_dtype=T.Q4_K)

w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()

r = gguf.GGUFReader(str(OUT))
for t in r.tensors:
    v = gguf.quants.dequantize(t.data, t.tensor_type).reshape(-1)
    s = float(np.sum(v.astype(np.float64)))
    print(t.name, t.tensor_type.name, list(t.shape), f"sum={s!r}", f"first={v[0]!r}")
print(OUT, OUT.stat().st_size, "bytes")
