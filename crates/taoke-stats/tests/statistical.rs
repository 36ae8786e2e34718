//! Statistical tests of the tests: null calibration by simulation and power on synthetic
//! related pairs. All seeded, so every number asserted here is deterministic.

use taoke_stats::align::{matmul, procrustes_f32};
use taoke_stats::calibration::ks_uniform;
use taoke_stats::cka::CkaPrepared;
use taoke_stats::combine::fisher;
use taoke_stats::depth::monotone_map;
use taoke_stats::matching::{match_rows, phi_u, phi_u_subset};
use taoke_stats::rng::SplitMix64;
use taoke_stats::{Alternative, Matrix, MatrixRef};

/// Unbiased CKA of `x` and `y` (same rows).
fn cka(x: MatrixRef<'_>, y: MatrixRef<'_>) -> f64 {
    let px = CkaPrepared::new(x).unwrap();
    px.cka(&CkaPrepared::new(y).unwrap()).unwrap()
}

fn noisy(a: &Matrix, sigma: f64, rng: &mut SplitMix64) -> Matrix {
    Matrix::from_fn(a.rows, a.cols, |i, j| {
        a.get(i, j) + (rng.normal() * sigma) as f32
    })
}

fn permute_rows(a: &Matrix, perm: &[usize]) -> Matrix {
    // row perm[i] of the result is row i of a
    let mut out = Matrix::zeros(a.rows, a.cols);
    for (i, &p) in perm.iter().enumerate() {
        out.data[p * a.cols..(p + 1) * a.cols].copy_from_slice(a.row(i));
    }
    out
}

fn orthogonal(d: usize, rng: &mut SplitMix64) -> Matrix {
    // Gram–Schmidt on a Gaussian matrix (f64), enough for a test rotation.
    let mut q: Vec<Vec<f64>> = Vec::new();
    while q.len() < d {
        let mut v: Vec<f64> = (0..d).map(|_| rng.normal()).collect();
        for u in &q {
            let dot: f64 = v.iter().zip(u).map(|(a, b)| a * b).sum();
            for (x, y) in v.iter_mut().zip(u) {
                *x -= dot * y;
            }
        }
        let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if n > 1e-6 {
            q.push(v.iter().map(|x| x / n).collect());
        }
    }
    Matrix::from_fn(d, d, |i, j| q[i][j] as f32)
}

/// Independent Gaussian pairs, h = 128, d = 64, 200 seeds: φ_U p-values are uniform.
#[test]
fn phi_u_null_is_uniform() {
    let mut ps_greater = Vec::new();
    let mut ps_two = Vec::new();
    for seed in 0..200u64 {
        let mut rng = SplitMix64::new(1000 + seed);
        let a = rng.gaussian_matrix(128, 64, 1.0);
        let b = rng.gaussian_matrix(128, 64, 1.0);
        let r = phi_u(a.view(), b.view(), Alternative::Greater).unwrap();
        ps_greater.push(r.test.ln_p.exp());
        let t = taoke_stats::matching::rank_pairs_test(&r.matching.pairs, Alternative::TwoSided)
            .unwrap();
        ps_two.push(t.ln_p.exp());
    }
    let min = ps_greater.iter().copied().fold(1.0, f64::min);
    let ks = ks_uniform(&ps_greater).unwrap();
    let ks2 = ks_uniform(&ps_two).unwrap();
    eprintln!(
        "phi_u null: KS D = {:.4}, p = {:.4} (one-sided); two-sided KS p = {:.4}; min p = {min:.2e}",
        ks.statistic, ks.p_value, ks2.p_value
    );
    assert!(ks.p_value > 0.01, "KS p {}", ks.p_value);
    assert!(ks2.p_value > 0.01, "KS p {}", ks2.p_value);
    assert!(min > 1e-4, "min p {min}");
    assert!(ps_two.iter().all(|&p| p > 1e-4));
    // Fisher over all 200 independent "blocks" is not significant either.
    let ln: Vec<f64> = ps_greater.iter().map(|p| p.ln()).collect();
    let (_, lp) = fisher(&ln).unwrap();
    assert!(lp > (0.01f64).ln(), "fisher ln p {lp}");
}

/// The subset and rectangular variants are uniform under the null too.
#[test]
fn subset_and_rectangular_nulls_are_uniform() {
    let mut subset = Vec::new();
    let mut rect = Vec::new();
    for seed in 0..150u64 {
        let mut rng = SplitMix64::new(5000 + seed);
        let a = rng.gaussian_matrix(256, 32, 1.0);
        let b = rng.gaussian_matrix(256, 32, 1.0);
        let s = phi_u_subset(a.view(), b.view(), 64, seed, Alternative::Greater).unwrap();
        subset.push(s.test.ln_p.exp());
        let c = rng.gaussian_matrix(90, 32, 1.0);
        let r = phi_u(
            c.view(),
            b.view()
                .select_rows(&(0..128).collect::<Vec<_>>())
                .unwrap()
                .view(),
            Alternative::Greater,
        )
        .unwrap();
        rect.push(r.test.ln_p.exp());
    }
    let k1 = ks_uniform(&subset).unwrap();
    let k2 = ks_uniform(&rect).unwrap();
    eprintln!(
        "subset null KS p = {:.4}; rectangular (90 into 128) null KS p = {:.4}",
        k1.p_value, k2.p_value
    );
    assert!(k1.p_value > 0.01 && k2.p_value > 0.01);
    assert!(subset.iter().chain(&rect).all(|&p| p > 1e-4));
}

/// B = A + noise (σ = 0.5·std), rows permuted: the permutation is recovered exactly; the
/// order-preserving copy is decisive for φ_U; the permuted copy is not (it must be aligned
/// first).
#[test]
fn noisy_permuted_copy() {
    let mut rng = SplitMix64::new(77);
    let (h, d) = (128, 64);
    let up_a = rng.gaussian_matrix(h, d, 1.0);
    let gate_a = rng.gaussian_matrix(h, d, 1.0);
    let perm = rng.permutation(h);
    let up_b = permute_rows(&noisy(&up_a, 0.5, &mut rng), &perm);
    let gate_b = permute_rows(&noisy(&gate_a, 0.5, &mut rng), &perm);

    let m_up = match_rows(up_a.view(), up_b.view()).unwrap();
    let m_gate = match_rows(gate_a.view(), gate_b.view()).unwrap();
    for &(i, j) in m_up.pairs.iter().chain(&m_gate.pairs) {
        assert_eq!(j, perm[i], "unit {i}");
    }
    // Unpermuted noisy copy: φ_U against the identity.
    let up_b0 = noisy(&up_a, 0.5, &mut rng);
    let r = phi_u(up_a.view(), up_b0.view(), Alternative::Greater).unwrap();
    assert!(r.test.ln_p < (1e-30f64).ln(), "{}", r.test.ln_p);
    // Permuted copy: identity-based φ_U sees nothing (documented limitation).
    let r = phi_u(up_a.view(), up_b.view(), Alternative::Greater).unwrap();
    assert!(r.test.ln_p > (1e-4f64).ln(), "{}", r.test.ln_p);
    eprintln!("noisy copy: mean matched cos {:.3}", m_up.mean_similarity());
}

/// A rotated derivative: Procrustes on shared-token embeddings restores the CKA of the
/// unrotated pair; without alignment the rotation destroys it.
#[test]
fn cka_after_procrustes_undoes_rotation() {
    let mut rng = SplitMix64::new(31);
    let (n_tok, d, r) = (400, 32, 48);
    let e_a = rng.gaussian_matrix(n_tok, d, 1.0);
    let w_a = rng.gaussian_matrix(r, d, 1.0); // W_q of A: r × d
                                              // B before rotation: a fine-tune (noise on both).
    let e_b0 = noisy(&e_a, 0.2, &mut rng);
    let w_b0 = noisy(&w_a, 0.5, &mut rng);
    let t = |m: &Matrix| m.view().transpose();
    let base = cka(t(&w_a).view(), t(&w_b0).view());
    // Rotate B's residual stream.
    let rot = orthogonal(d, &mut rng);
    let e_b = matmul(e_b0.view(), rot.view());
    let w_b = matmul(w_b0.view(), rot.view());
    let raw = cka(t(&w_a).view(), t(&w_b).view());
    // M maps B's coordinates to A's: ‖E_B M − E_A‖ minimal.
    let m = procrustes_f32(e_a.view(), e_b.view()).unwrap();
    let w_b_in_a = matmul(w_b.view(), m.view());
    let aligned = cka(t(&w_a).view(), t(&w_b_in_a).view());
    eprintln!("cka: unrotated {base:.4}, rotated raw {raw:.4}, after procrustes {aligned:.4}");
    assert!(base > 0.7);
    assert!((aligned - base).abs() < 0.02, "{aligned} vs {base}");
    assert!(raw < base - 0.3);
}

/// Unbiased CKA of independent random matrices is ≈ 0.
#[test]
fn cka_independent_is_near_zero() {
    let mut vals = Vec::new();
    for seed in 0..20u64 {
        let mut rng = SplitMix64::new(300 + seed);
        let x = rng.gaussian_matrix(256, 32, 1.0);
        let y = rng.gaussian_matrix(256, 48, 1.0);
        vals.push(cka(x.view(), y.view()));
    }
    let mean = vals.iter().sum::<f64>() / vals.len() as f64;
    let max = vals.iter().map(|v| v.abs()).fold(0.0, f64::max);
    eprintln!("cka independent: mean {mean:.5}, max |c| {max:.4}");
    assert!(mean.abs() < 0.01 && max < 0.05);
}

/// Depth map from CKA block scores: A's blocks are B's blocks 0, 1, 3, 4, 4, 5, 6, 8, 9
/// (B's 2 and 7 dropped, 4 duplicated) with noise.
#[test]
fn depth_map_from_cka_scores() {
    let mut rng = SplitMix64::new(55);
    let n_b = 10;
    let blocks_b: Vec<Matrix> = (0..n_b).map(|_| rng.gaussian_matrix(64, 24, 1.0)).collect();
    let truth = [0usize, 1, 3, 4, 4, 5, 6, 8, 9];
    let blocks_a: Vec<Matrix> = truth
        .iter()
        .map(|&j| noisy(&blocks_b[j], 0.8, &mut rng))
        .collect();
    let n_a = truth.len();
    let pb: Vec<CkaPrepared> = blocks_b
        .iter()
        .map(|m| CkaPrepared::new(m.view()).unwrap())
        .collect();
    let mut scores = Vec::with_capacity(n_a * n_b);
    for a in &blocks_a {
        let pa = CkaPrepared::new(a.view()).unwrap();
        scores.extend(pb.iter().map(|b| pa.cka(b).unwrap()));
    }
    assert_eq!(monotone_map(&scores, n_a, n_b), truth);
}
