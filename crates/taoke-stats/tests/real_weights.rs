//! The tests on real weights (all-MiniLM-L6-v2, fetched by `scripts/fetch-test-models`):
//! synthetic derivatives built from a real checkpoint, so the statistics see real weight
//! distributions (heavy tails, structured rows) rather than Gaussian toys.

use taoke_stats::matching::{match_rows, phi_u, phi_u_subset};
use taoke_stats::rng::SplitMix64;
use taoke_stats::{Alternative, Matrix};

fn load(path: &std::path::Path, names: &[&str]) -> Vec<Matrix> {
    let bytes = std::fs::read(path).expect("read all-MiniLM-L6-v2");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("parse safetensors");
    names
        .iter()
        .map(|name| {
            let t = st.tensor(name).expect("tensor present");
            assert_eq!(t.dtype(), safetensors::Dtype::F32, "{name}");
            let shape = t.shape();
            assert_eq!(shape.len(), 2, "{name}");
            let data: Vec<f32> = t
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            Matrix::new(shape[0], shape[1], data).expect("shape matches data")
        })
        .collect()
}

fn std_of(m: &Matrix) -> f64 {
    let n = m.data.len() as f64;
    let mean = m.data.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    (m.data
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n)
        .sqrt()
}

/// A LoRA-like fine-tune of `w`: rank-8 update of relative norm ≈ `rel`.
fn lora(w: &Matrix, rel: f64, rng: &mut SplitMix64) -> Matrix {
    let a = rng.gaussian_matrix(w.rows, 8, 1.0);
    let b = rng.gaussian_matrix(8, w.cols, 1.0);
    let mut upd = Matrix::zeros(w.rows, w.cols);
    for i in 0..w.rows {
        for j in 0..w.cols {
            upd.data[i * w.cols + j] = (0..8).map(|k| a.get(i, k) * b.get(k, j)).sum();
        }
    }
    let scale = rel * w.view().frobenius_norm() / upd.view().frobenius_norm();
    Matrix::from_fn(w.rows, w.cols, |i, j| {
        w.get(i, j) + (f64::from(upd.get(i, j)) * scale) as f32
    })
}

#[test]
fn minilm_ffn_fine_tune_and_permuted_copy() {
    let p =
        taoke_test::model_or_skip!(taoke_test::test_model("all-MiniLM-L6-v2/model.safetensors"));
    let m = load(
        &p,
        &[
            "encoder.layer.2.intermediate.dense.weight", // up: 1536 × 384
            "encoder.layer.2.output.dense.weight",       // down: 384 × 1536
        ],
    );
    let (up, down) = (&m[0], &m[1]);
    assert_eq!(
        (up.rows, up.cols, down.rows, down.cols),
        (1536, 384, 384, 1536)
    );
    let mut rng = SplitMix64::new(2026);

    // A heavy fine-tune: 30 % relative LoRA update plus noise of half the weight std.
    let s = std_of(up);
    let tuned = lora(up, 0.3, &mut rng);
    let tuned = Matrix::from_fn(up.rows, up.cols, |i, j| {
        tuned.get(i, j) + (rng.normal() * 0.5 * s) as f32
    });
    let full = phi_u(up.view(), tuned.view(), Alternative::Greater).unwrap();
    let sub = phi_u_subset(up.view(), tuned.view(), 256, 1, Alternative::Greater).unwrap();
    eprintln!(
        "minilm up-proj fine-tune: rho {:.4}, ln p {:.1} (full), subset-256 ln p {:.1}, mean cos {:.3}",
        full.test.rho,
        full.test.ln_p,
        sub.test.ln_p,
        full.matching.mean_similarity()
    );
    assert!(full.test.ln_p < -1000.0);
    assert!(sub.test.ln_p < (1e-30f64).ln());

    // Against a different layer of the same model: no identity correspondence. (Subset mode:
    // the full 1536-row assignment between unrelated real matrices takes ~4 s of CPU, 7x the
    // related case.)
    let other = load(&p, &["encoder.layer.4.intermediate.dense.weight"]);
    let cross = phi_u_subset(up.view(), other[0].view(), 384, 2, Alternative::Greater).unwrap();
    eprintln!(
        "minilm layer 2 vs layer 4 up-proj (subset 384): rho {:.4}, ln p {:.2}, mean cos {:.3}",
        cross.test.rho,
        cross.test.ln_p,
        cross.matching.mean_similarity()
    );
    assert!(cross.matching.mean_similarity() < 0.5 * full.matching.mean_similarity());

    // Permuted copy (hidden units permuted consistently in up rows and down columns).
    let perm = rng.permutation(1536);
    let s_down = std_of(down);
    let mut up_p = Matrix::zeros(1536, 384);
    let mut down_t = Matrix::zeros(1536, 384); // rows = hidden units
    let mut down_t_p = Matrix::zeros(1536, 384);
    for (u, &pu) in perm.iter().enumerate() {
        for j in 0..384 {
            up_p.data[pu * 384 + j] = up.get(u, j) + (rng.normal() * 0.3 * s) as f32;
            let dv = down.get(j, u);
            down_t.data[u * 384 + j] = dv;
            down_t_p.data[pu * 384 + j] = dv + (rng.normal() * 0.3 * s_down) as f32;
        }
    }
    let m_up = match_rows(up.view(), up_p.view()).unwrap();
    let m_down = match_rows(down_t.view(), down_t_p.view()).unwrap();
    let exact_up = m_up.pairs.iter().filter(|&&(i, j)| j == perm[i]).count();
    let exact_down = m_down.pairs.iter().filter(|&&(i, j)| j == perm[i]).count();
    eprintln!("permuted copy: up recovered {exact_up}/1536, down {exact_down}/1536");
    assert_eq!(exact_up, 1536);
    assert_eq!(exact_down, 1536);
}
