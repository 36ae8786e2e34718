//! A small seeded pseudo-random generator (SplitMix64), platform-independent.
//!
//! Used for seeded row subsets (whose independence from the weights is what keeps the
//! subset p-values exact), randomized SVD sketches and synthetic test matrices. Not
//! cryptographic. The stream for a seed is fixed forever: changing it would change
//! published subset choices.

use crate::Matrix;

/// The Weyl increment of SplitMix64 (`⌊2⁶⁴/φ⌋`, odd).
pub const SPLITMIX64_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// The SplitMix64 finalizer (Stafford's "Mix13" variant of the MurmurHash3 mixer): a
/// bijection of `u64` whose output bits each depend on every input bit. [`SplitMix64`] returns
/// `splitmix64_mix(state)` after adding [`SPLITMIX64_GAMMA`] to its state; on its own it
/// hashes a counter or combines seed words.
pub fn splitmix64_mix(z: u64) -> u64 {
    let z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// SplitMix64 (Steele, Lea & Flood 2014): a 64-bit state advanced by a Weyl increment and
/// finalised by a bijective mixer. Passes BigCrush; ample for sampling.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(SPLITMIX64_GAMMA);
        splitmix64_mix(self.state)
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in `[0, n)` (Lemire's multiply-shift with rejection; unbiased).
    /// Returns 0 when `n == 0`.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }

    /// Standard normal deviate (Box–Muller; one of the pair is discarded for simplicity).
    pub fn normal(&mut self) -> f64 {
        loop {
            let u = self.next_f64();
            if u > 0.0 {
                let v = self.next_f64();
                return (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
            }
        }
    }

    /// A uniformly random permutation of `0..n` (Fisher–Yates).
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.below(i as u64 + 1) as usize;
            p.swap(i, j);
        }
        p
    }

    /// `k` distinct indices from `0..n`, uniformly at random, returned in increasing order.
    /// `k` is clamped to `n`.
    pub fn sample_sorted(&mut self, n: usize, k: usize) -> Vec<usize> {
        let k = k.min(n);
        // Partial Fisher–Yates over an index vector: O(n) memory, fine for row counts.
        let mut p: Vec<usize> = (0..n).collect();
        for i in 0..k {
            let j = i + self.below((n - i) as u64) as usize;
            p.swap(i, j);
        }
        p.truncate(k);
        p.sort_unstable();
        p
    }

    /// A `rows x cols` matrix of i.i.d. N(0, std²) entries.
    pub fn gaussian_matrix(&mut self, rows: usize, cols: usize, std: f64) -> Matrix {
        Matrix::from_fn(rows, cols, |_, _| (self.normal() * std) as f32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_stream() {
        // Reference values of SplitMix64 for seed 1234567 (from the algorithm's published
        // test vector).
        let mut r = SplitMix64::new(1234567);
        assert_eq!(r.next_u64(), 6457827717110365317);
        assert_eq!(r.next_u64(), 3203168211198807973);
        // The generator is the finalizer applied to a Weyl sequence.
        let mut r = SplitMix64::new(99);
        for k in 1..=5u64 {
            let want = splitmix64_mix(99u64.wrapping_add(k.wrapping_mul(SPLITMIX64_GAMMA)));
            assert_eq!(r.next_u64(), want);
        }
        assert_eq!(splitmix64_mix(0), 0);
    }

    #[test]
    fn sample_and_permutation_are_valid() {
        let mut r = SplitMix64::new(7);
        let s = r.sample_sorted(100, 10);
        assert_eq!(s.len(), 10);
        assert!(s.windows(2).all(|w| w[0] < w[1]) && s[9] < 100);
        let mut p = r.permutation(50);
        p.sort_unstable();
        assert_eq!(p, (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn normal_moments() {
        let mut r = SplitMix64::new(42);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| r.normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.01, "var {var}");
    }
}
