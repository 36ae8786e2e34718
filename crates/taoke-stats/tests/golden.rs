//! Golden values from scipy/mpmath, printed by `testdata/golden.py`:
//!
//! ```text
//! python3 -m venv ~/.cache/taoke/venv-stats
//! ~/.cache/taoke/venv-stats/bin/pip install numpy scipy mpmath
//! ~/.cache/taoke/venv-stats/bin/python crates/taoke-stats/testdata/golden.py
//! ```
//!
//! (scipy 1.17.1, numpy 2.4.6, mpmath 1.4.1). `det_uniform` mirrors the script's integer hash.

use taoke_stats::calibration::ks_uniform;
use taoke_stats::cka::CkaPrepared;
use taoke_stats::combine::fisher;
use taoke_stats::correlation::pearson;
use taoke_stats::lap::{assign_max, assign_min, assign_min_hungarian};
use taoke_stats::special::{chi2_even_ln_sf, ln_beta_inc_reg, norm_ln_sf, t_ln_sf};
use taoke_stats::Matrix;

fn det_uniform(i: u64, seed: u64) -> f64 {
    const M: u64 = 1 << 32;
    let mut x = (i.wrapping_mul(2654435761) + seed * 40503 + 12345) % M;
    x = ((x ^ (x >> 13)) * 1274126177) % M;
    x ^= x >> 16;
    (x % 1000003) as f64 / 1000003.0
}

fn det_normalish(i: u64, seed: u64) -> f64 {
    let mut s = 0.0;
    for k in 0..12 {
        s += det_uniform(i * 12 + k, seed);
    }
    s - 6.0
}

#[track_caller]
fn assert_rel(got: f64, want: f64, rel: f64) {
    let tol = rel * want.abs().max(1e-300);
    assert!(
        (got - want).abs() <= tol,
        "got {got:e}, want {want:e} (rel err {:e})",
        ((got - want) / want).abs()
    );
}

#[test]
fn student_t_log_sf() {
    for &(t, df, want) in &[
        (0.5, 3.0, -1.1217049359318676),
        (2.0, 10.0, -3.3051415512324533),
        (-1.5, 7.0, -0.09282743221880306),
        (10.0, 30.0, -24.50092155365831),
        (50.0, 10.0, -29.720791687120556),
        (300.0, 126.0, -417.4173450058881),
        // scipy underflows to -inf below; 50-digit mpmath references
        (1e4, 1000.0, -5760.840793642774),
        (40.0, 11006.0, -751.4755138902125),
        (1e8, 126.0, -2019.6590771928925),
        (1e200, 10.0, -4595.752450421769),
    ] {
        assert_rel(t_ln_sf(t, df), want, 1e-11);
    }
}

#[test]
fn chi2_and_normal_log_sf() {
    for &(x, df, want) in &[
        (3.0, 4.0, -0.5837092681258446),
        (100.0, 10.0, -37.44838565575167),
        (5000.0, 64.0, -2335.534324776415),
        (1e5, 2000.0, -45096.24173519999),
    ] {
        assert_rel(chi2_even_ln_sf(x, df as usize / 2), want, 1e-11);
    }
    for &(z, want) in &[
        (-3.0, -0.0013508099647481925),
        (-1.0, -0.1727537790234499),
        (0.5, -1.1759117615936188),
        (1.4, -2.5163148529883292),
        (1.6, -2.9040780103022463),
        (4.0, -10.360101486527292),
        (6.0, -20.73676894997471),
        (10.0, -53.23128515051248),
        (40.0, -804.6084420137539),
    ] {
        assert_rel(norm_ln_sf(z), want, 1e-12);
    }
    for &(a, b, x, want) in &[
        (2.5, 0.5, 0.3, -3.9671592496583292),
        (60.0, 0.5, 0.01, -278.92688930298266),
        (0.5, 3.0, 0.9, -0.00032502749498496846),
    ] {
        assert_rel(ln_beta_inc_reg(a, b, x, 1.0 - x), want, 1e-11);
    }
}

#[test]
fn correlation() {
    let x: Vec<f64> = (0..40).map(|i| det_uniform(i, 1)).collect();
    let y: Vec<f64> = (0..40)
        .map(|i| (det_uniform(i as u64, 2) * 5.0 + x[i] * 3.0).round())
        .collect();
    assert_rel(pearson(&x, &y).unwrap(), 0.4877745182973294, 1e-13);
}

#[test]
fn linear_sum_assignment_totals() {
    for &(rows, cols, seed, min_total, max_total) in &[
        (8usize, 8usize, 3u64, 1.28666514000458, 7.085142744571766),
        (30, 30, 4, 1.5349443951668147, 28.494480516558447),
        (20, 35, 5, 0.6823219530341409, 19.356761929714214),
        (35, 20, 6, 0.5265944202167393, 19.29870210389369),
    ] {
        let c: Vec<f64> = (0..rows * cols)
            .map(|k| det_uniform(k as u64, seed))
            .collect();
        let a = assign_min(&c, rows, cols).unwrap();
        assert_rel(a.total, min_total, 1e-12);
        assert_eq!(a.pairs().len(), rows.min(cols));
        let h = assign_min_hungarian(&c, rows, cols).unwrap();
        assert_rel(h.total, min_total, 1e-12);
        assert_eq!(h.pairs().len(), rows.min(cols));
        let a = assign_max(&c, rows, cols).unwrap();
        assert_rel(a.total, max_total, 1e-12);
    }
}

#[test]
fn kolmogorov_smirnov_uniform() {
    for &(n, seed, pow, d, p) in &[
        (50usize, 7u64, 1.0, 0.11582985251044248, 0.4782603812587599),
        // p for n > 140: 50-digit Marsaglia–Tsang–Wang (`ks_p_mtw_mp`); scipy's
        // approximation there (0.1834492246432775, 0.0005895779621336759) is off by ~1e-6.
        (300, 8, 1.0, 0.06253242906937939, 0.18344937581311166),
        (200, 9, 1.3, 0.1414865428562479, 0.0005895779621239512),
    ] {
        let u: Vec<f64> = (0..n as u64)
            .map(|i| det_uniform(i, seed).powf(pow))
            .collect();
        let r = ks_uniform(&u).unwrap();
        assert!(r.exact);
        assert_rel(r.statistic, d, 1e-13);
        assert_rel(r.p_value, p, 1e-11);
    }
}

#[test]
fn p_value_combination() {
    let ln: Vec<f64> = [0.01f64, 0.2, 0.03].iter().map(|p| p.ln()).collect();
    let (x, lp) = fisher(&ln).unwrap();
    assert_rel(x, 19.442331991484345, 1e-14);
    assert_rel(lp, -5.661211032648623, 1e-12);
    // mpmath: ln P(χ²(6) > 3401)
    let (_, lp) = fisher(&[-800.0, -900.0, -0.5]).unwrap();
    assert_rel(lp, -1686.314615847267, 1e-12);
}

#[test]
fn prepared_cka_matches_kernel_form() {
    let x = Matrix::from_fn(20, 5, |i, j| det_normalish((i * 5 + j) as u64, 20) as f32);
    let y = Matrix::from_fn(20, 7, |i, j| {
        let xv = det_normalish((i * 5 + j % 5) as u64, 20);
        (xv * (j as f64 + 1.0) * 0.3 + det_normalish((i * 7 + j) as u64, 21)) as f32
    });
    // The script uses float64 inputs; ours are f32, so compare at f32-rounding tolerance.
    let (px, py) = (
        CkaPrepared::new(x.view()).unwrap(),
        CkaPrepared::new(y.view()).unwrap(),
    );
    assert_rel(px.cka(&py).unwrap(), 0.5662949386889414, 1e-5);
}
