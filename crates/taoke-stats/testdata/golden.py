#!/usr/bin/env python3
"""Reference values for taoke-stats' golden tests (tests/golden.rs).

Run (numpy + scipy in a virtualenv outside the repository):
    python3 -m venv ~/.cache/taoke/venv-stats
    ~/.cache/taoke/venv-stats/bin/pip install numpy scipy mpmath
    ~/.cache/taoke/venv-stats/bin/python crates/taoke-stats/testdata/golden.py

It prints `name = value` lines; tests/golden.rs asserts the same quantities computed by the
crate. The deterministic inputs come from `det_uniform`, an integer hash mirrored exactly in
tests/golden.rs (every float operation on it is exactly reproducible).
"""
import mpmath
import numpy as np
import scipy
from scipy import stats, optimize, special

M32 = 2**32


def det_uniform(i, seed):
    x = (i * 2654435761 + seed * 40503 + 12345) % M32
    x = ((x ^ (x >> 13)) * 1274126177) % M32
    x = x ^ (x >> 16)
    return (x % 1000003) / 1000003.0


def det_normalish(i, seed):
    # Irwin-Hall(12) - 6, summed left to right in float64.
    s = 0.0
    for k in range(12):
        s += det_uniform(i * 12 + k, seed)
    return s - 6.0


def out(name, value):
    print(f"{name} = {float(value)!r}")


print(f"# scipy {scipy.__version__}, numpy {np.__version__}")

for t, df in [(0.5, 3), (2.0, 10), (-1.5, 7), (10.0, 30), (50.0, 10), (300.0, 126),
              (1e4, 1000), (40.0, 11006), (1e8, 126)]:
    out(f"t_logsf({t}, {df})", stats.t.logsf(t, df))

# scipy underflows to -inf in the far tail: 50-digit mpmath references there.
mpmath.mp.dps = 50
for t, df in [(300.0, 126), (1e4, 1000), (40.0, 11006), (1e8, 126), (1e200, 10)]:
    t_, df_ = mpmath.mpf(t), mpmath.mpf(df)
    sf = mpmath.betainc(df_ / 2, mpmath.mpf(1) / 2, 0, df_ / (df_ + t_**2), regularized=True) / 2
    out(f"t_logsf_mp({t}, {df})", mpmath.log(sf))
for x, df in [(5000.0, 64), (1e5, 2000), (3401.0, 6)]:
    q = mpmath.gammainc(mpmath.mpf(df) / 2, mpmath.mpf(x) / 2, mpmath.inf, regularized=True)
    out(f"chi2_logsf_mp({x}, {df})", mpmath.log(q))

for x, df in [(3.0, 4), (100.0, 10), (5000.0, 64), (1e5, 2000)]:
    out(f"chi2_logsf({x}, {df})", stats.chi2.logsf(x, df))

for z in [-3.0, -1.0, 0.5, 1.4, 1.6, 4.0, 6.0, 10.0, 40.0]:
    out(f"norm_logsf({z})", stats.norm.logsf(z))

for a, b, x in [(2.5, 0.5, 0.3), (60.0, 0.5, 0.01), (0.5, 3.0, 0.9)]:
    out(f"ln_betainc({a}, {b}, {x})", np.log(special.betainc(a, b, x)))

# correlation on deterministic vectors; y has ties (rounded)
x = np.array([det_uniform(i, 1) for i in range(40)])
y = np.array([round(det_uniform(i, 2) * 5 + x[i] * 3, 0) for i in range(40)])
out("pearson_r", stats.pearsonr(x, y).statistic)

# assignments on integer-derived matrices
for rows, cols, seed in [(8, 8, 3), (30, 30, 4), (20, 35, 5), (35, 20, 6)]:
    c = np.array([[det_uniform(i * cols + j, seed) for j in range(cols)] for i in range(rows)])
    ri, ci = optimize.linear_sum_assignment(c)
    out(f"lsa_min_total({rows}x{cols}, seed {seed})", c[ri, ci].sum())
    ri, ci = optimize.linear_sum_assignment(c, maximize=True)
    out(f"lsa_max_total({rows}x{cols}, seed {seed})", c[ri, ci].sum())

# KS against U(0,1), exact method (scipy's default for these n)
for n, seed, power in [(50, 7, 1.0), (300, 8, 1.0), (200, 9, 1.3)]:
    u = np.array([det_uniform(i, seed) ** power for i in range(n)])
    r = stats.kstest(u, "uniform", method="exact")
    out(f"ks_stat(n={n}, seed {seed}, pow {power})", r.statistic)
    out(f"ks_p(n={n}, seed {seed}, pow {power})", r.pvalue)

# Exact KS distribution by Marsaglia-Tsang-Wang (2003) in 50-digit arithmetic: scipy's
# kstwo switches to approximations for n > 140, so the n = 300 reference comes from here
# (checked against scipy where scipy is exact, n = 50).
def mtw_sf(n, d):
    mpmath.mp.dps = 50
    d = mpmath.mpf(d)
    k = int(mpmath.floor(n * d)) + 1
    m = 2 * k - 1
    h = k - n * d
    H = mpmath.matrix(m, m)
    for i in range(m):
        for j in range(m):
            H[i, j] = 1 if i - j + 1 >= 0 else 0
    for i in range(m):
        H[i, 0] -= h ** (i + 1)
        H[m - 1, i] -= h ** (m - i)
    if 2 * h - 1 > 0:
        H[m - 1, 0] += (2 * h - 1) ** m
    for i in range(m):
        for j in range(m):
            if i - j + 1 > 0:
                H[i, j] /= mpmath.factorial(i - j + 1)
    Q = H ** n
    s = Q[k - 1, k - 1] * mpmath.factorial(n) / mpmath.mpf(n) ** n
    return 1 - s


for n, seed, power in [(50, 7, 1.0), (300, 8, 1.0), (200, 9, 1.3)]:
    u = np.array([det_uniform(i, seed) ** power for i in range(n)])
    d = stats.kstest(u, "uniform").statistic
    out(f"ks_p_mtw_mp(n={n}, seed {seed}, pow {power})", mtw_sf(n, d))

# p-value combination
ps = [0.01, 0.2, 0.03]
r = stats.combine_pvalues(ps, method="fisher")
out("fisher_stat", r.statistic)
out("fisher_logp", np.log(r.pvalue))


# unbiased linear CKA (Song et al. 2012 U-statistic), kernel form, as an independent check
def hsic_u(K, L):
    n = K.shape[0]
    K = K.copy(); L = L.copy()
    np.fill_diagonal(K, 0.0); np.fill_diagonal(L, 0.0)
    one = np.ones(n)
    t1 = np.trace(K @ L)
    t2 = (one @ K @ one) * (one @ L @ one) / ((n - 1) * (n - 2))
    t3 = 2.0 / (n - 2) * (one @ K @ L @ one)
    return (t1 + t2 - t3) / (n * (n - 3))


X = np.array([[det_normalish(i * 5 + j, 20) for j in range(5)] for i in range(20)])
Y = np.array([[X[i, j % 5] * (j + 1) * 0.3 + det_normalish(i * 7 + j, 21) for j in range(7)]
              for i in range(20)])
K, L = X @ X.T, Y @ Y.T
out("cka_unbiased", hsic_u(K, L) / np.sqrt(hsic_u(K, K) * hsic_u(L, L)))
