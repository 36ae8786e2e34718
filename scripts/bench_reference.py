"""Reference implementations (numpy/scipy, as published) of two lineage statistics, for
taoke's benchmarks: run on the same pair as `taoke compare`, to give a speed ratio and to check
that taoke's faster versions agree.

1. Zhu et al. (ICML 2025), phi_U: for every block, the cosine similarity matrix of the MLP
   up-projection rows of A and B (float64), a full linear assignment
   (scipy.optimize.linear_sum_assignment, maximizing total cosine), Spearman's rho of the
   matching against the identity (scipy.stats.spearmanr, p-value from the t distribution
   with h-2 degrees of freedom), and Fisher's method across blocks (chi2 with 2L degrees of
   freedom). As in their code the p-values underflow at ~1e-308; the log10 p computed in log
   space (t.logsf, chi2.logsf) is reported next to them.
   With --units gate+up the rows are the concatenated gate and up rows (taoke's features,
   without the norm gain).
2. AWM (Zeng et al., ICLR 2026): shared tokens by string from tokenizer.json; the hidden
   dimensions of B aligned to A by a linear assignment on 1 - |cos| between the columns of
   the shared-token embeddings (a permutation with signs); then per block the unbiased
   linear CKA (HSIC U-statistic, Song et al. 2012) between W_q^T of A and the aligned W_q^T
   of B, and the same for W_k; score = mean over blocks of the mean of the two; Z against the
   published negative reference (mean 0.00375, std 0.0028). No sketching, no row sampling.

Reads safetensors with the `safetensors` numpy API (safe_open(framework="numpy")); bf16
tensors, which numpy cannot hold, are read as raw uint16 from the same file (the header
offsets) and widened to float32 exactly.

Output: one JSON document on stdout (timings, per-block statistics, verdicts).
"""

import argparse
import json
import os
import struct
import sys
import time

import numpy as np
from scipy import stats
from scipy.optimize import linear_sum_assignment
from safetensors import safe_open

ALPHA = 1e-6
AWM_NEG_MEAN, AWM_NEG_STD = 0.00375, 0.0028


class Model:
    """A Hugging Face folder: shards, index, tokenizer."""

    def __init__(self, path):
        self.path = path
        idx = os.path.join(path, "model.safetensors.index.json")
        if os.path.exists(idx):
            with open(idx) as f:
                wm = json.load(f)["weight_map"]
        else:
            f1 = os.path.join(path, "model.safetensors")
            with safe_open(f1, framework="numpy") as h:
                wm = {k: "model.safetensors" for k in h.keys()}
        self.weight_map = wm
        self.headers = {}
        self.bytes_read = 0

    def _header(self, file):
        if file not in self.headers:
            with open(os.path.join(self.path, file), "rb") as f:
                n = struct.unpack("<Q", f.read(8))[0]
                self.headers[file] = (8 + n, json.loads(f.read(n)))
        return self.headers[file]

    def get(self, name):
        file = self.weight_map[name]
        full = os.path.join(self.path, file)
        start, hdr = self._header(file)
        info = hdr[name]
        if info["dtype"] == "BF16":
            b, e = info["data_offsets"]
            raw = np.fromfile(full, dtype="<u2", count=(e - b) // 2, offset=start + b)
            x = (raw.astype(np.uint32) << 16).view(np.float32).reshape(info["shape"])
        else:
            with safe_open(full, framework="numpy") as h:
                x = h.get_tensor(name).astype(np.float32)
        self.bytes_read += x.size * (2 if info["dtype"] == "BF16" else x.dtype.itemsize)
        return x

    def blocks(self):
        n = 0
        while f"model.layers.{n}.mlp.up_proj.weight" in self.weight_map:
            n += 1
        return n

    def vocab(self):
        with open(os.path.join(self.path, "tokenizer.json")) as f:
            tj = json.load(f)
        special = {t["content"] for t in tj.get("added_tokens", []) if t.get("special")}
        return {s: i for s, i in tj["model"]["vocab"].items() if s not in special}


def unit_rows(x):
    x = x.astype(np.float64)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    n[n == 0] = 1.0
    return x / n


def phi_u_block(a, b):
    """Zhu et al.'s MATCH + SPEARMAN on two row matrices; returns rho, p, log10 p."""
    cos = unit_rows(a) @ unit_rows(b).T
    rows, cols = linear_sum_assignment(cos, maximize=True)
    perm = cols[np.argsort(rows)]
    h = len(perm)
    res = stats.spearmanr(perm, np.arange(h))
    rho = float(res.statistic)
    # As published: the two-sided t-distribution p-value of spearmanr. In log space too.
    t = rho * np.sqrt((h - 2) / max(1e-300, (1 - rho) * (1 + rho)))
    log10p = (np.log(2) + stats.t.logsf(abs(t), h - 2)) / np.log(10) if rho < 1 else -np.inf
    return rho, float(res.pvalue), float(log10p), float(np.mean(cos[rows, cols]))


def fisher(log10ps):
    lnp = np.array(log10ps) * np.log(10)
    x = -2 * lnp.sum()
    ln = stats.chi2.logsf(x, 2 * len(lnp))
    return float(np.exp(ln)), float(ln / np.log(10))


def unbiased_hsic(k, l):
    n = k.shape[0]
    k = k.copy()
    l = l.copy()
    np.fill_diagonal(k, 0)
    np.fill_diagonal(l, 0)
    one = np.ones(n)
    kl = np.sum(k * l)
    s = kl + (one @ k @ one) * (one @ l @ one) / ((n - 1) * (n - 2)) - 2 * (one @ k) @ (l @ one) / (n - 2)
    return s / (n * (n - 3))


def cka(x, y):
    """Unbiased linear CKA between row-sample matrices x, y (float64)."""
    k = x @ x.T
    l = y @ y.T
    return unbiased_hsic(k, l) / np.sqrt(unbiased_hsic(k, k) * unbiased_hsic(l, l))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--units", choices=["up", "gate+up"], default="up")
    ap.add_argument("--blocks", type=int, default=0, help="only the first N blocks (0 = all)")
    ap.add_argument("--skip-awm", action="store_true")
    ap.add_argument("--skip-phi", action="store_true")
    args = ap.parse_args()
    ma, mb = Model(args.a), Model(args.b)
    nb = min(ma.blocks(), mb.blocks())
    if args.blocks:
        nb = min(nb, args.blocks)
    out = {"a": args.a, "b": args.b, "blocks": nb, "units": args.units}
    log = lambda *x: print(*x, file=sys.stderr, flush=True)

    if not args.skip_phi:
        t0 = time.time()
        per = []
        for i in range(nb):
            p = f"model.layers.{i}.mlp."
            if args.units == "up":
                a, b = ma.get(p + "up_proj.weight"), mb.get(p + "up_proj.weight")
            else:
                a = np.concatenate([ma.get(p + "gate_proj.weight"), ma.get(p + "up_proj.weight")], axis=1)
                b = np.concatenate([mb.get(p + "gate_proj.weight"), mb.get(p + "up_proj.weight")], axis=1)
            tb = time.time()
            rho, pv, l10, mc = phi_u_block(a, b)
            per.append({"block": i, "rho": rho, "p": pv, "log10_p": l10, "mean_cos": mc,
                        "seconds": time.time() - tb})
            log(f"phi_U block {i}: rho {rho:.4f} log10 p {l10:.1f} ({time.time() - tb:.1f} s)")
        p_pub = stats.combine_pvalues([x["p"] for x in per], method="fisher").pvalue
        p, l10 = fisher([x["log10_p"] for x in per])
        out["phi_u"] = {"per_block": per, "fisher_p_as_published": float(p_pub),
                        "fisher_log10_p": l10, "seconds": time.time() - t0,
                        "verdict": "related" if l10 < np.log10(ALPHA) else "independent"}

    if not args.skip_awm:
        t0 = time.time()
        va, vb = ma.vocab(), mb.vocab()
        shared = sorted(set(va) & set(vb))
        ia = np.array([va[s] for s in shared])
        ib = np.array([vb[s] for s in shared])
        ea = ma.get("model.embed_tokens.weight")[ia].astype(np.float64)
        eb = mb.get("model.embed_tokens.weight")[ib].astype(np.float64)
        ca, cb = unit_rows(ea.T), unit_rows(eb.T)
        cos = ca @ cb.T
        r, c = linear_sum_assignment(1 - np.abs(cos))
        perm = c[np.argsort(r)]
        sign = np.sign(cos[np.arange(len(perm)), perm])
        t_align = time.time() - t0
        log(f"AWM alignment: {len(shared)} shared tokens, {np.mean(perm == np.arange(len(perm))) * 100:.1f} % in place ({t_align:.1f} s)")
        per = []
        for i in range(nb):
            tb = time.time()
            vals = []
            for w in ["q_proj", "k_proj"]:
                name = f"model.layers.{i}.self_attn.{w}.weight"
                xa = ma.get(name).astype(np.float64).T  # hidden dims as samples
                xb = mb.get(name).astype(np.float64).T[perm] * sign[:, None]
                vals.append(cka(xa, xb))
            per.append({"block": i, "cka_q": float(vals[0]), "cka_k": float(vals[1]),
                        "seconds": time.time() - tb})
            log(f"AWM block {i}: CKA q {vals[0]:.4f} k {vals[1]:.4f} ({time.time() - tb:.1f} s)")
        score = float(np.mean([(x["cka_q"] + x["cka_k"]) / 2 for x in per]))
        z = abs(score - AWM_NEG_MEAN) / AWM_NEG_STD
        out["awm"] = {"shared_tokens": len(shared), "identity_fraction": float(np.mean(perm == np.arange(len(perm)))),
                      "per_block": per, "score": score, "z": z, "seconds": time.time() - t0,
                      "align_seconds": t_align,
                      # One-sided normal tail at alpha = 1e-6 is z = 4.75.
                      "verdict": "related" if z > 4.75 else "independent"}
    out["bytes_read"] = ma.bytes_read + mb.bytes_read
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
