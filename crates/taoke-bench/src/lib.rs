//! Benchmarks of taoke at real scale.
//!
//! - [`shape`]: the published shapes (TinyLlama-1.1B, Llama-2-7B, Llama-3-8B, Llama-2-13B, a
//!   scaled Mixtral-like MoE) and their tensor lists;
//! - [`synth`]: seeded synthetic weights, row by row (a base, and a disguised fine-tune of it);
//! - [`write`](mod@write): Hugging Face folders (bf16 shards) and GGUF files (Q4_K) written with the
//!   workspace's own writers in bounded memory;
//! - [`measure`]: what a benchmark run records (wall, CPU, peak RSS, bytes read) and the
//!   plain sequential read it is compared with.
//!
//! The binaries are `taoke-bench-gen` (make a checkpoint) and `taoke-bench` (run and measure
//! workloads); `BENCHMARKS.md` at the repository root has the commands and the figures.
#![deny(missing_docs)]

pub mod measure;
pub mod shape;
pub mod synth;
pub mod write;

/// Where the benchmark checkpoints are cached: `$TAOKE_BENCH_DIR`, else
/// `$HOME/.cache/taoke/bench`.
pub fn cache_dir() -> std::path::PathBuf {
    if let Some(d) = std::env::var_os("TAOKE_BENCH_DIR") {
        return d.into();
    }
    let home = std::env::var_os("HOME").map_or_else(std::env::temp_dir, std::path::PathBuf::from);
    home.join(".cache").join("taoke").join("bench")
}
