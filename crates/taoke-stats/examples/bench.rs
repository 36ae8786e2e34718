//! Timings of the heavy kernels on synthetic data (no assertions; informational).
//!
//! `cargo run -p taoke-stats --release --example bench [h]` (default h = 2048).

use std::time::Instant;
use taoke_stats::cka::CkaPrepared;
use taoke_stats::lap::assign_max;
use taoke_stats::matching::{cosine_matrix, phi_u_subset, rank_pairs_test};
use taoke_stats::rng::SplitMix64;
use taoke_stats::spectral::{top_singular_values_of_product, RsvdOptions};
use taoke_stats::{Alternative, Matrix};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let h: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(2048);
    let d = 1024;
    let mut rng = SplitMix64::new(1);
    let a = rng.gaussian_matrix(h, d, 1.0);
    let b_rel = Matrix::from_fn(h, d, |i, j| a.get(i, j) + (rng.normal() * 0.5) as f32);
    let b_ind = rng.gaussian_matrix(h, d, 1.0);
    for (name, b) in [("related", &b_rel), ("independent", &b_ind)] {
        let t = Instant::now();
        let c = cosine_matrix(a.view(), b.view())?;
        let t_cos = t.elapsed();
        let t = Instant::now();
        let asg = assign_max(&c, h, h)?;
        let t_lap = t.elapsed();
        let test = rank_pairs_test(&asg.pairs(), Alternative::Greater)?;
        println!(
            "phi_u {name} h={h} d={d}: cosine GEMM {:.3} s, LAP {:.3} s, rho {:.4}, ln p {:.1}",
            t_cos.as_secs_f64(),
            t_lap.as_secs_f64(),
            test.rho,
            test.ln_p
        );
    }
    let t = Instant::now();
    let s = phi_u_subset(a.view(), b_rel.view(), 512, 7, Alternative::Greater)?;
    println!(
        "phi_u subset k=512 of h={h}: {:.3} s, ln p {:.1}",
        t.elapsed().as_secs_f64(),
        s.test.ln_p
    );

    let x = rng.gaussian_matrix(h, h, 1.0);
    let y = rng.gaussian_matrix(h, h, 1.0);
    let t = Instant::now();
    let c = CkaPrepared::new(x.view())?.cka(&CkaPrepared::new(y.view())?)?;
    println!(
        "unbiased CKA n={h} p=q={h}: {:.3} s (value {c:.5})",
        t.elapsed().as_secs_f64()
    );

    // QK circuit W_qᵀ W_k (d × d) from r × d factors, never formed.
    let wq = rng.gaussian_matrix(256, h, 1.0);
    let wk = rng.gaussian_matrix(256, h, 1.0);
    let qt = wq.view().transpose();
    let t = Instant::now();
    let top = top_singular_values_of_product(qt.view(), wk.view(), 32, RsvdOptions::default())?;
    println!(
        "randomized top-32 of the qk product r=256 d={h}: {:.3} s (σ1 {:.2})",
        t.elapsed().as_secs_f64(),
        top[0]
    );
    let t = Instant::now();
    let full = taoke_stats::spectral::singular_values(x.view())?;
    println!(
        "full singular values of {h}x{h}: {:.3} s (σ1 {:.2})",
        t.elapsed().as_secs_f64(),
        full[0]
    );
    Ok(())
}
