//! Calibration check: the Kolmogorov–Smirnov test against U(0, 1), used to check that the
//! p-values of independent pairs are uniform.

use crate::{Result, StatsError};

/// Result of a one-sample Kolmogorov–Smirnov test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KsTest {
    /// Sample size.
    pub n: usize,
    /// `D = sup |F_n(x) − x|`.
    pub statistic: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// `true` when the exact distribution (Marsaglia–Tsang–Wang 2003) was used, `false` for
    /// the asymptotic Kolmogorov series with Stephens' correction.
    pub exact: bool,
}

/// Kolmogorov–Smirnov test of `values` against U(0, 1) (two-sided). Values outside `[0, 1]`
/// are allowed (they just increase `D`). Needs `n ≥ 1`.
///
/// H0: the values are i.i.d. U(0, 1), e.g. the p-values of independent model pairs.
pub fn ks_uniform(values: &[f64]) -> Result<KsTest> {
    if values.is_empty() {
        return Err(StatsError::TooSmall {
            what: "kolmogorov-smirnov test",
            needed: 1,
            got: 0,
            unit: "values",
        });
    }
    if let Some(index) = values.iter().position(|v| v.is_nan()) {
        return Err(StatsError::NonFinite {
            what: "kolmogorov-smirnov values",
            index,
        });
    }
    let mut x = values.to_vec();
    x.sort_by(f64::total_cmp);
    let n = x.len();
    let nf = n as f64;
    let mut d: f64 = 0.0;
    for (i, &v) in x.iter().enumerate() {
        let f = v.clamp(0.0, 1.0);
        d = d.max((i as f64 + 1.0) / nf - f).max(f - i as f64 / nf);
    }
    let (p, exact) = ks_two_sided_sf(n, d);
    Ok(KsTest {
        n,
        statistic: d,
        p_value: p,
        exact,
    })
}

/// `P(D_n ≥ d)` (two-sided). Exact via Marsaglia–Tsang–Wang when the matrix is small,
/// asymptotic otherwise.
fn ks_two_sided_sf(n: usize, d: f64) -> (f64, bool) {
    if d <= 0.0 {
        return (1.0, true);
    }
    if d >= 1.0 {
        return (0.0, true);
    }
    let nf = n as f64;
    let k = (nf * d).floor() as usize + 1;
    let m = 2 * k - 1;
    if m <= 200 && n <= 100_000 {
        let cdf = mtw_cdf(n, d);
        return ((1.0 - cdf).clamp(0.0, 1.0), true);
    }
    let sn = nf.sqrt();
    let lambda = (sn + 0.12 + 0.11 / sn) * d;
    let mut sum = 0.0;
    for j in 1..=100 {
        let jf = j as f64;
        let term = (-2.0 * jf * jf * lambda * lambda).exp();
        sum += if j % 2 == 1 { term } else { -term };
        if term < 1e-17 {
            break;
        }
    }
    ((2.0 * sum).clamp(0.0, 1.0), false)
}

/// `P(D_n < d)` by Marsaglia, Tsang & Wang (2003), "Evaluating Kolmogorov's distribution":
/// `n!/nⁿ · (Hⁿ)_{kk}` with an `m × m` matrix `H`, `m = 2k − 1`, `k = ⌊nd⌋ + 1`, with the
/// power computed by squaring and a separate decimal exponent to avoid overflow.
fn mtw_cdf(n: usize, d: f64) -> f64 {
    let nf = n as f64;
    let k = (nf * d).floor() as usize + 1;
    let m = 2 * k - 1;
    let h = k as f64 - nf * d;
    let mut hm = vec![0.0f64; m * m];
    for i in 0..m {
        for j in 0..m {
            hm[i * m + j] = if i + 1 >= j { 1.0 } else { 0.0 };
        }
    }
    for i in 0..m {
        hm[i * m] -= h.powi(i as i32 + 1);
        hm[(m - 1) * m + i] -= h.powi((m - i) as i32);
    }
    if 2.0 * h - 1.0 > 0.0 {
        hm[(m - 1) * m] += (2.0 * h - 1.0).powi(m as i32);
    }
    for i in 0..m {
        for j in 0..m {
            if i + 1 > j {
                let mut f = 1.0;
                for g in 1..=(i + 1 - j) {
                    f *= g as f64;
                }
                hm[i * m + j] /= f;
            }
        }
    }
    let (q, mut e) = mat_pow(&hm, m, n);
    let mut s = q[(k - 1) * m + (k - 1)];
    for i in 1..=n {
        s = s * i as f64 / nf;
        if s < 1e-140 {
            s *= 1e140;
            e -= 140;
        }
    }
    s * 10f64.powi(e)
}

fn mat_mul(a: &[f64], b: &[f64], m: usize) -> Vec<f64> {
    let mut c = vec![0.0; m * m];
    for i in 0..m {
        for k in 0..m {
            let aik = a[i * m + k];
            if aik == 0.0 {
                continue;
            }
            for j in 0..m {
                c[i * m + j] += aik * b[k * m + j];
            }
        }
    }
    c
}

/// `aⁿ` with a power-of-ten exponent kept apart (value = result · 10^exp).
fn mat_pow(a: &[f64], m: usize, n: usize) -> (Vec<f64>, i32) {
    if n == 1 {
        return (a.to_vec(), 0);
    }
    let (half, e_half) = mat_pow(a, m, n / 2);
    let mut v = mat_mul(&half, &half, m);
    let mut e = 2 * e_half;
    if n % 2 == 1 {
        v = mat_mul(a, &v, m);
    }
    if v[(m / 2) * m + m / 2] > 1e140 {
        for x in &mut v {
            *x *= 1e-140;
        }
        e += 140;
    }
    (v, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ks_asymptotic_close_to_exact() {
        for &(n, d) in &[(400usize, 0.05), (1000, 0.03)] {
            let exact = 1.0 - mtw_cdf(n, d);
            let sn = (n as f64).sqrt();
            let lambda = (sn + 0.12 + 0.11 / sn) * d;
            let asym: f64 = 2.0
                * (1..50)
                    .map(|j| {
                        let t = (-2.0 * (j * j) as f64 * lambda * lambda).exp();
                        if j % 2 == 1 {
                            t
                        } else {
                            -t
                        }
                    })
                    .sum::<f64>();
            assert!((exact - asym).abs() < 5e-3, "n={n}: {exact} vs {asym}");
        }
    }
}
