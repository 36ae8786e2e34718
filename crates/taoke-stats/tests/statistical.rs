//! Statistical tests of the tests: null calibration by simulation and power on synthetic
//! related pairs. All seeded, so every number asserted here is deterministic.

use taoke_stats::calibration::ks_uniform;
use taoke_stats::cka::{align_hidden_dims, cka_matrix, cka_unbiased, procrustes, rotate_columns};
use taoke_stats::combine::fisher;
use taoke_stats::delta::{analyze_delta, DeltaOptions};
use taoke_stats::depth::{align_depth_monotone, DepthPenalties};
use taoke_stats::matching::{match_rows, matching_agreement, phi_u, phi_u_subset};
use taoke_stats::rng::SplitMix64;
use taoke_stats::{Alternative, Matrix};

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
/// order-preserving copy is decisive for φ_U; the permuted copy needs the agreement statistic.
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
    // Permuted copy: identity-based φ_U sees nothing (documented limitation) ...
    let r = phi_u(up_a.view(), up_b.view(), Alternative::Greater).unwrap();
    assert!(r.test.ln_p > (1e-4f64).ln(), "{}", r.test.ln_p);
    // ... while the two matchings agree perfectly.
    let ag = matching_agreement(&m_up, &m_gate, Alternative::Greater).unwrap();
    assert_eq!(ag.rho, 1.0);
    assert!(ag.ln_p < (1e-30f64).ln());
    eprintln!(
        "noisy copy: mean matched cos {:.3}; agreement ln p = {:.1}",
        m_up.mean_similarity(),
        ag.ln_p
    );
}

/// The agreement statistic is uniform when up and gate are independent within each model.
#[test]
fn agreement_null_with_independent_matrices() {
    let mut ps = Vec::new();
    for seed in 0..100u64 {
        let mut rng = SplitMix64::new(9000 + seed);
        let (ua, ga) = (
            rng.gaussian_matrix(64, 32, 1.0),
            rng.gaussian_matrix(64, 32, 1.0),
        );
        let (ub, gb) = (
            rng.gaussian_matrix(64, 32, 1.0),
            rng.gaussian_matrix(64, 32, 1.0),
        );
        let m1 = match_rows(ua.view(), ub.view()).unwrap();
        let m2 = match_rows(ga.view(), gb.view()).unwrap();
        ps.push(
            matching_agreement(&m1, &m2, Alternative::Greater)
                .unwrap()
                .ln_p
                .exp(),
        );
    }
    let ks = ks_uniform(&ps).unwrap();
    eprintln!("agreement null KS p = {:.4}", ks.p_value);
    assert!(ks.p_value > 0.01);
}

/// AWM pipeline on a rotated derivative: Procrustes on shared-token embeddings restores the
/// CKA of the unrotated pair; without alignment the rotation destroys it.
#[test]
fn cka_after_procrustes_undoes_rotation() {
    let mut rng = SplitMix64::new(31);
    let (n_tok, d, r) = (400, 32, 48);
    let e_a = rng.gaussian_matrix(n_tok, d, 1.0);
    let w_a = rng.gaussian_matrix(r, d, 1.0); // W_q of A: r × d
                                              // B before rotation: a fine-tune (noise on both).
    let e_b0 = noisy(&e_a, 0.2, &mut rng);
    let w_b0 = noisy(&w_a, 0.5, &mut rng);
    let base = cka_unbiased(
        w_a.view().transpose().view(),
        w_b0.view().transpose().view(),
    )
    .unwrap();
    // Rotate B's residual stream.
    let rot = orthogonal(d, &mut rng);
    let e_b = rotate_columns(e_b0.view(), rot.view()).unwrap();
    let w_b = rotate_columns(w_b0.view(), rot.view()).unwrap();
    let raw = cka_unbiased(w_a.view().transpose().view(), w_b.view().transpose().view()).unwrap();
    let r_hat = procrustes(e_a.view(), e_b.view()).unwrap();
    let w_a_in_b = rotate_columns(w_a.view(), r_hat.view()).unwrap();
    let aligned = cka_unbiased(
        w_a_in_b.view().transpose().view(),
        w_b.view().transpose().view(),
    )
    .unwrap();
    eprintln!("cka: unrotated {base:.4}, rotated raw {raw:.4}, after procrustes {aligned:.4}");
    assert!(base > 0.7);
    assert!((aligned - base).abs() < 0.02, "{aligned} vs {base}");
    assert!(raw < base - 0.3);
    // Permutation + sign variant: the signed assignment recovers the same CKA.
    let perm = rng.permutation(d);
    let signs: Vec<f32> = (0..d)
        .map(|_| if rng.next_f64() < 0.5 { -1.0 } else { 1.0 })
        .collect();
    let ps = Matrix::from_fn(d, d, |i, j| if perm[i] == j { signs[i] } else { 0.0 });
    let e_bp = rotate_columns(e_b0.view(), ps.view()).unwrap();
    let w_bp = rotate_columns(w_b0.view(), ps.view()).unwrap();
    let al = align_hidden_dims(e_a.view(), e_bp.view(), true).unwrap();
    let x = al.rows_a(w_a.view()).unwrap();
    let y = al.rows_b(w_bp.view()).unwrap();
    for (t, &(i, j)) in al.pairs.iter().enumerate() {
        assert_eq!((j, al.signs[t]), (perm[i], signs[i]));
    }
    // Unbiased HSIC is not exactly invariant to flipping the sign of an example on both
    // sides (the centring terms change), hence a small tolerance.
    let c = cka_unbiased(x.view(), y.view()).unwrap();
    eprintln!("cka after signed-permutation alignment {c:.4}");
    assert!((c - base).abs() < 0.01, "{c} vs {base}");
}

/// Unbiased CKA of independent random matrices is ≈ 0.
#[test]
fn cka_independent_is_near_zero() {
    let mut vals = Vec::new();
    for seed in 0..20u64 {
        let mut rng = SplitMix64::new(300 + seed);
        let x = rng.gaussian_matrix(256, 32, 1.0);
        let y = rng.gaussian_matrix(256, 48, 1.0);
        vals.push(cka_unbiased(x.view(), y.view()).unwrap());
    }
    let mean = vals.iter().sum::<f64>() / vals.len() as f64;
    let max = vals.iter().map(|v| v.abs()).fold(0.0, f64::max);
    eprintln!("cka independent: mean {mean:.5}, max |c| {max:.4}");
    assert!(mean.abs() < 0.01 && max < 0.05);
}

/// Depth alignment from CKA block scores: B drops blocks 2 and 7 of A and duplicates block 4.
#[test]
fn depth_alignment_from_cka_scores() {
    let mut rng = SplitMix64::new(55);
    let n_a = 10;
    let blocks_a: Vec<Matrix> = (0..n_a).map(|_| rng.gaussian_matrix(64, 24, 1.0)).collect();
    let truth = [0usize, 1, 3, 4, 4, 5, 6, 8, 9];
    let blocks_b: Vec<Matrix> = truth
        .iter()
        .map(|&i| noisy(&blocks_a[i], 0.8, &mut rng))
        .collect();
    let n_b = truth.len();
    let xs: Vec<_> = blocks_a.iter().map(|m| m.view()).collect();
    let ys: Vec<_> = blocks_b.iter().map(|m| m.view()).collect();
    // centred: subtract a null level of 0.05
    let scores: Vec<f64> = cka_matrix(&xs, &ys)
        .unwrap()
        .into_iter()
        .map(|c| c - 0.05)
        .collect();
    let al = align_depth_monotone(
        &scores,
        n_a,
        n_b,
        DepthPenalties {
            gap_a: 0.0,
            gap_b: 0.1,
            repeat: 0.05,
        },
    )
    .unwrap();
    let got: Vec<usize> = al.b_to_a.iter().map(|a| a.unwrap()).collect();
    assert_eq!(got, truth);
    assert_eq!(al.unmatched_a(n_a), vec![2, 7]);
}

/// Noise-washed copy (delta = Gaussian, std = weight std / 700) against a LoRA-style
/// fine-tune (rank-8 delta plus a few large sparse changes).
#[test]
fn delta_noise_washed_vs_fine_tune() {
    let mut rng = SplitMix64::new(700);
    let (m, n, std) = (256, 384, 0.02);
    let w = rng.gaussian_matrix(m, n, std);
    let washed = noisy(&w, std / 700.0, &mut rng);
    let a = rng.gaussian_matrix(m, 8, 1.0);
    let b = rng.gaussian_matrix(8, n, 1.0);
    let mut tuned = w.clone();
    for i in 0..m {
        for j in 0..n {
            let mut lora = 0.0f32;
            for k in 0..8 {
                lora += a.get(i, k) * b.get(k, j);
            }
            tuned.data[i * n + j] += lora * 2e-4;
        }
    }
    let opts = DeltaOptions::default();
    let dw = analyze_delta(washed.view(), w.view(), opts).unwrap();
    let dt = analyze_delta(tuned.view(), w.view(), opts).unwrap();
    eprintln!(
        "noise-washed: std ratio {:.5} (1/700 = {:.5}), kurt {:.3}, K2 ln p {:.2}, edge ratio {:.3}, erank {:.1}",
        dw.std_ratio,
        1.0 / 700.0,
        dw.moments.excess_kurtosis,
        dw.dagostino.ln_p,
        dw.isotropy.edge_ratio,
        dw.effective_rank.unwrap()
    );
    eprintln!(
        "lora-tuned: rel norm {:.4}, kurt {:.3}, K2 ln p {:.1}, edge ratio {:.2}, erank {:.2}, energy top-8 {:.5}",
        dt.relative_norm,
        dt.moments.excess_kurtosis,
        dt.dagostino.ln_p,
        dt.isotropy.edge_ratio,
        dt.effective_rank.unwrap(),
        dt.energy_top
    );
    assert!((dw.std_ratio * 700.0 - 1.0).abs() < 0.02);
    assert!(dw.moments.excess_kurtosis.abs() < 0.1);
    assert!(dw.dagostino.ln_p > (1e-3f64).ln());
    assert!(dw.isotropy.edge_ratio < 1.1 && dw.isotropy.n_above_edge == 0);
    assert!(dw.effective_rank.unwrap() > 0.5 * m as f64);
    assert!(dw.energy_top < 0.1);

    assert!(dt.effective_rank.unwrap() < 9.0);
    assert!(dt.energy_top > 0.999);
    // For an exactly rank-r delta, σ₁/edge ≈ 1/(√r (1/√m + 1/√n)) ≈ 3 here.
    assert!(dt.isotropy.edge_ratio > 2.5);
    assert_eq!(dt.isotropy.n_above_edge, 8);
    assert!(dt.isotropy.energy_above_edge > 0.999);
    assert!(dw.isotropy.energy_above_edge == 0.0);
}
