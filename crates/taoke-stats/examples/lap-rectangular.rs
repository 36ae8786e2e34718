//! Times the assignment solvers on row-cosine costs of the shapes the unit tests meet
//! (square, and a unit subset of one side against every unit of a wider side), unrelated and
//! related rows: `cargo run --release -p taoke-stats --example lap-rectangular`.
//! `assign_min` is the default solver (lapjv on squares, the shortest augmenting path solver
//! on rectangles); `assign_min_hungarian` the own solver alone. Both totals must agree.

use std::time::Instant;

use taoke_stats::lap;
use taoke_stats::rng::SplitMix64;

fn main() {
    let mut rng = SplitMix64::new(7);
    let d = 64;
    for &(k, n, related) in &[
        (512usize, 512usize, false),
        (512, 512, true),
        (1024, 1536, false),
        (256, 1536, false),
        (1024, 4864, false),
        (1024, 4864, true),
    ] {
        let b: Vec<Vec<f64>> = (0..n)
            .map(|_| (0..d).map(|_| rng.normal()).collect())
            .collect();
        let a: Vec<Vec<f64>> = (0..k)
            .map(|i| {
                (0..d)
                    .map(|t| {
                        if related {
                            b[i][t] + 0.2 * rng.normal()
                        } else {
                            rng.normal()
                        }
                    })
                    .collect()
            })
            .collect();
        let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
        let mut c = vec![0.0; k * n];
        for i in 0..k {
            for j in 0..n {
                let dot: f64 = a[i].iter().zip(&b[j]).map(|(x, y)| x * y).sum();
                c[i * n + j] = -dot / norm(&a[i]) / norm(&b[j]);
            }
        }
        let t = Instant::now();
        let x = lap::assign_min(&c, k, n).expect("finite costs");
        let t_default = t.elapsed();
        let t = Instant::now();
        let y = lap::assign_min_hungarian(&c, k, n).expect("finite costs");
        let t_own = t.elapsed();
        println!(
            "{k} x {n} related={related}: assign_min {t_default:?} (total {:.6}), \
             assign_min_hungarian {t_own:?} (total {:.6})",
            x.total, y.total
        );
        assert!((x.total - y.total).abs() < 1e-9 * x.total.abs().max(1.0));
    }
}
