#!/usr/bin/env python3
"""Writes src/quant/iq_grids.bin: the codebooks (lattice grids) of the GGML IQ types.

The grids are constants of the file format (a quantized block stores indices into them), taken
from the `gguf` Python package (see README.md for the exact version). Output: the grids one
after the other, one byte per value, in this order and size:

    IQ2_XXS 256 x 8, IQ2_XS 512 x 8, IQ2_S 1024 x 8   (values 8, 25, 43)
    IQ3_XXS 256 x 4, IQ3_S 512 x 4                     (values 4..62, 1..15)
    IQ1_S   2048 x 8                                   (values -1, 0, 1 as i8)
"""

from pathlib import Path

import numpy as np
from gguf import quants

OUT = Path(__file__).resolve().parent.parent / "src" / "quant" / "iq_grids.bin"

out = bytearray()
for cls in (quants.IQ2_XXS, quants.IQ2_XS, quants.IQ2_S, quants.IQ3_XXS, quants.IQ3_S, quants.IQ1_S):
    cls.init_grid()
    g = np.asarray(cls.grid, dtype=np.float32).reshape(cls.grid_shape)
    assert (g == np.round(g)).all()
    out += g.astype(np.int8).tobytes()
OUT.write_bytes(bytes(out))
print(OUT, len(out))
