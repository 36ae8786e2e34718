//! `taoke-bench-gen`: writes one synthetic benchmark checkpoint (a base or its disguised
//! fine-tune) as a Hugging Face folder of bf16 shards or as a GGUF Q4_K file.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use taoke_bench::shape::{by_name, SHAPES};
use taoke_bench::synth::Variant;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Which {
    Base,
    Derived,
    /// A plain fine-tune: noise as `derived`, no permutation.
    Tuned,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    /// Hugging Face folder, bf16 safetensors shards.
    Hf,
    /// GGUF v3, matrices in Q4_K.
    Gguf,
}

/// Writes a synthetic checkpoint with a real model's shape.
#[derive(Debug, Parser)]
#[command(name = "taoke-bench-gen")]
struct Args {
    /// Shape: 22m, 135m, 360m, 0.5b, 1b, 7b, 8b, 13b or moe.
    #[arg(long)]
    shape: String,
    /// Base model or its disguised fine-tune (MLP units permuted per block, noise added).
    #[arg(long, value_enum, default_value = "base")]
    which: Which,
    #[arg(long, value_enum, default_value = "hf")]
    format: Format,
    /// Fine-tune noise, relative to each tensor's weight std.
    #[arg(long, default_value_t = 0.02)]
    eps: f32,
    #[arg(long, default_value_t = 20_261_129)]
    seed: u64,
    /// Output path (default: the cache, `<shape>-<which>` or `<shape>-<which>.Q4_K.gguf`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Rewrite even when the output exists.
    #[arg(long)]
    force: bool,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("taoke-bench-gen: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let shape = by_name(&args.shape).ok_or_else(|| {
        let names: Vec<&str> = SHAPES.iter().map(|s| s.name).collect();
        anyhow::anyhow!(
            "unknown shape `{}` (known: {})",
            args.shape,
            names.join(", ")
        )
    })?;
    let (variant, w) = match args.which {
        Which::Base => (Variant::Base, "base"),
        Which::Derived => (
            Variant::Derived {
                eps: args.eps,
                permute: true,
            },
            "derived",
        ),
        Which::Tuned => (
            Variant::Derived {
                eps: args.eps,
                permute: false,
            },
            "tuned",
        ),
    };
    let out = args.out.clone().unwrap_or_else(|| {
        let name = match args.format {
            Format::Hf => format!("{}-{w}", shape.name),
            Format::Gguf => format!("{}-{w}.Q4_K.gguf", shape.name),
        };
        taoke_bench::cache_dir().join(name)
    });
    if out.exists() && !args.force {
        eprintln!("{} exists (use --force to rewrite)", out.display());
        println!("{}", out.display());
        return Ok(());
    }
    if let Some(p) = out.parent() {
        std::fs::create_dir_all(p)?;
    }
    // Write under a temporary name, then rename: a half-written model is never reused.
    let tmp = out.with_extension("partial");
    if tmp.is_dir() {
        std::fs::remove_dir_all(&tmp)?;
    } else if tmp.exists() {
        std::fs::remove_file(&tmp)?;
    }
    let t0 = Instant::now();
    eprintln!(
        "writing {} {w} ({}, {:.2} B parameters) to {}",
        shape.name,
        shape.like,
        shape.parameters() as f64 / 1e9,
        out.display()
    );
    let bytes = match args.format {
        Format::Hf => taoke_bench::write::write_hf(&tmp, shape, args.seed, variant)?,
        Format::Gguf => taoke_bench::write::write_gguf(
            &tmp,
            shape,
            args.seed,
            variant,
            taoke_dtype::Dtype::Q4_K,
        )?,
    };
    if out.is_dir() {
        std::fs::remove_dir_all(&out)?;
    } else if out.exists() {
        std::fs::remove_file(&out)?;
    }
    std::fs::rename(&tmp, &out)?;
    let s = t0.elapsed().as_secs_f64();
    eprintln!(
        "wrote {:.2} GB in {s:.1} s ({:.2} GB/s)",
        bytes as f64 / 1e9,
        bytes as f64 / 1e9 / s
    );
    println!("{}", out.display());
    Ok(())
}
