//! Values of the synthetic weights, row by row, so any row of any tensor can be generated
//! independently (in parallel, in any order, with bounded memory).
//!
//! **Base**: `w[r][c] = mean + std · (g[r][c] + ¼ Σₖ u[r][k]·v[k][c])`, with `g`, `u`, `v`
//! standard Gaussian (seeded per tensor and row), i.e. Gaussian weights with a per-tensor
//! standard deviation like trained Llama weights plus a rank-4 component carrying a fifth of
//! the energy (real weight matrices are far from white).
//!
//! **Derived** (a disguised fine-tune): every block's MLP hidden units permuted (gate and up
//! rows, down columns, one random permutation per block and expert), then Gaussian noise of
//! `eps · std` added to every weight (a fine-tune-sized update), seeded independently.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rayon::prelude::*;

use crate::shape::{Kind, Shape, TensorSpec};

/// Which model of a pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Variant {
    /// The base model.
    Base,
    /// The disguised fine-tune, with relative noise `eps`.
    Derived {
        /// Noise standard deviation relative to the tensor's weight std.
        eps: f32,
        /// Whether the MLP hidden units are permuted (the disguise); without it, a plain
        /// fine-tune.
        permute: bool,
    },
}

const SALT_NOISE: u64 = 0x6e6f_6973_6521;
const SALT_PERM: u64 = 0x7065_726d_7574;
const SALT_LOWRANK: u64 = 0x6c6f_7772_616e;
const RANK: usize = 4;

/// A well-mixed seed from several words: each word is added with the SplitMix64 increment
/// and the sum finalized by the SplitMix64 mixer (the chain starts at the increment itself).
pub fn mix(words: &[u64]) -> u64 {
    use taoke_stats::rng::{splitmix64_mix, SPLITMIX64_GAMMA};
    words.iter().fold(SPLITMIX64_GAMMA, |z, &w| {
        splitmix64_mix(z.wrapping_add(w).wrapping_add(SPLITMIX64_GAMMA))
    })
}

/// The random permutation of MLP units applied by the derived model in `block` (and
/// `expert`): derived unit `i` is base unit `perm[i]`.
pub fn unit_permutation(seed: u64, block: usize, expert: Option<usize>, n: usize) -> Vec<u32> {
    let mut rng = SmallRng::seed_from_u64(mix(&[
        seed,
        SALT_PERM,
        block as u64,
        expert.map_or(u64::MAX, |e| e as u64),
    ]));
    let mut p: Vec<u32> = (0..n as u32).collect();
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        p.swap(i, j);
    }
    p
}

/// Generator of one tensor's rows.
pub struct TensorGen<'a> {
    spec: &'a TensorSpec,
    seed: u64,
    variant: Variant,
    /// `RANK × cols` low-rank factor (empty for vectors).
    v: Vec<f32>,
    /// Unit permutation (gate/up rows, down columns) for the derived model.
    perm: Option<Vec<u32>>,
    /// Interleave Q/K rows per head (llama.cpp's GGUF order) with this many heads.
    qk_heads: Option<usize>,
}

impl<'a> TensorGen<'a> {
    /// A generator for `spec`; `gguf_order` applies llama.cpp's Q/K row order.
    pub fn new(
        shape: &Shape,
        spec: &'a TensorSpec,
        seed: u64,
        variant: Variant,
        gguf_order: bool,
    ) -> Self {
        let v = if spec.vector {
            Vec::new()
        } else {
            let mut rng = SmallRng::seed_from_u64(mix(&[seed, SALT_LOWRANK, spec.id]));
            (0..RANK * spec.cols)
                .map(|_| rng.sample::<f32, _>(StandardNormal))
                .collect()
        };
        let perm = match (variant, spec.kind) {
            (Variant::Derived { permute: true, .. }, Kind::Gate | Kind::Up | Kind::Down) => Some(
                unit_permutation(seed, spec.block.unwrap_or(0), spec.expert, shape.mlp),
            ),
            _ => None,
        };
        let qk_heads = match spec.kind {
            Kind::Q if gguf_order => Some(shape.heads),
            Kind::K if gguf_order => Some(shape.kv_heads),
            _ => None,
        };
        TensorGen {
            spec,
            seed,
            variant,
            v,
            perm,
            qk_heads,
        }
    }

    fn base_row(&self, r: usize, out: &mut [f32]) {
        let s = self.spec;
        let mut rng = SmallRng::seed_from_u64(mix(&[self.seed, s.id, r as u64]));
        let (mean, std) = (s.mean(), s.std());
        if s.vector {
            for o in out.iter_mut() {
                *o = mean + std * rng.sample::<f32, _>(StandardNormal);
            }
            return;
        }
        let u: [f32; RANK] = std::array::from_fn(|_| 0.25 * rng.sample::<f32, _>(StandardNormal));
        for o in out.iter_mut() {
            *o = rng.sample::<f32, _>(StandardNormal);
        }
        for (k, &uk) in u.iter().enumerate() {
            let vk = &self.v[k * s.cols..(k + 1) * s.cols];
            for (o, &x) in out.iter_mut().zip(vk) {
                *o += uk * x;
            }
        }
        for o in out.iter_mut() {
            *o = mean + std * *o;
        }
    }

    /// Row `r` (in the stored order) into `out` (`cols` values); `tmp` is scratch of `cols`.
    pub fn row(&self, r: usize, out: &mut [f32], tmp: &mut Vec<f32>) {
        let s = self.spec;
        // llama.cpp's Q/K order: within each head, stored row 2i + j is HF row j·hd/2 + i.
        let r_hf = match self.qk_heads {
            Some(h) => {
                let hd = s.rows / h;
                let (head, k) = (r / hd, r % hd);
                head * hd + (k % 2) * (hd / 2) + k / 2
            }
            None => r,
        };
        match self.variant {
            Variant::Base => self.base_row(r_hf, out),
            Variant::Derived { eps, .. } => {
                match (&self.perm, s.kind) {
                    (Some(p), Kind::Gate | Kind::Up) => self.base_row(p[r_hf] as usize, out),
                    (Some(p), Kind::Down) => {
                        tmp.resize(s.cols, 0.0);
                        self.base_row(r_hf, tmp);
                        for (o, &j) in out.iter_mut().zip(p.iter()) {
                            *o = tmp[j as usize];
                        }
                    }
                    _ => self.base_row(r_hf, out),
                }
                let mut rng =
                    SmallRng::seed_from_u64(mix(&[self.seed, SALT_NOISE, s.id, r as u64]));
                let sd = eps * s.std();
                for o in out.iter_mut() {
                    *o += sd * rng.sample::<f32, _>(StandardNormal);
                }
            }
        }
    }

    /// Rows `[row0, row0 + out.len() / cols)` into `out`, in parallel.
    pub fn rows(&self, row0: usize, out: &mut [f32]) {
        let cols = self.spec.cols;
        out.par_chunks_mut(cols)
            .enumerate()
            .for_each_init(Vec::new, |tmp, (i, o)| self.row(row0 + i, o, tmp));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::by_name;

    /// Every synthetic model is drawn from seeds mixed here: the values must never change.
    #[test]
    fn mix_is_pinned() {
        assert_eq!(mix(&[]), 0x9e37_79b9_7f4a_7c15);
        assert_eq!(mix(&[1]), 13757245211066428519);
        assert_eq!(mix(&[42, 7, 3]), 9116439297505885044);
        assert_eq!(mix(&[u64::MAX, 5]), 14316558075802576244);
    }

    #[test]
    fn derived_rows_are_permuted_noisy_base_rows() {
        let shape = by_name("1b").unwrap();
        let specs = shape.tensors();
        let up = specs
            .iter()
            .find(|t| t.kind == Kind::Up && t.block == Some(3))
            .unwrap();
        let base = TensorGen::new(shape, up, 7, Variant::Base, false);
        let der = TensorGen::new(
            shape,
            up,
            7,
            Variant::Derived {
                eps: 0.02,
                permute: true,
            },
            false,
        );
        let perm = unit_permutation(7, 3, None, shape.mlp);
        let (mut a, mut b, mut tmp) = (vec![0f32; up.cols], vec![0f32; up.cols], Vec::new());
        der.row(10, &mut b, &mut tmp);
        base.row(perm[10] as usize, &mut a, &mut tmp);
        let dot: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
        let cos = dot / (na * nb);
        assert!(cos > 0.999 && cos < 1.0, "cos {cos}");
        // The row std is close to the spec's (Gaussian plus the rank-4 part).
        let sd = (a.iter().map(|x| x * x).sum::<f32>() / a.len() as f32).sqrt();
        assert!((sd / up.std() - 1.0).abs() < 0.6, "sd {sd}");
    }

    #[test]
    fn gguf_order_interleaves_qk_rows_per_head() {
        let shape = by_name("1b").unwrap();
        let specs = shape.tensors();
        let k = specs.iter().find(|t| t.kind == Kind::K).unwrap();
        let hf = TensorGen::new(shape, k, 1, Variant::Base, false);
        let gg = TensorGen::new(shape, k, 1, Variant::Base, true);
        let hd = shape.head_dim();
        let (mut a, mut b, mut tmp) = (vec![0f32; k.cols], vec![0f32; k.cols], Vec::new());
        // Stored row 1 of head 1 is HF row hd/2 of head 1.
        gg.row(hd + 1, &mut a, &mut tmp);
        hf.row(hd + hd / 2, &mut b, &mut tmp);
        assert_eq!(a, b);
    }
}
