//! `taoke-bench-copy`: rewrites a real GGUF checkpoint (e.g. SmolLM2-135M in Q4_1) as a BF16
//! GGUF with the same metadata and tensor names, optionally with fine-tune-sized Gaussian noise
//! added to every matrix: the "bf16 copy" and "fine-tuned copy" of a real model for
//! `scripts/bench real`. A benchmark helper, not a converter: it reads the whole file.

use std::io::BufWriter;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use clap::Parser;
use half::bf16;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use taoke_dtype::Dtype;
use taoke_gguf::{Gguf, GgufWriter, Value};

/// Largest input read (the benchmark's real models are a few hundred MB).
const MAX_INPUT: u64 = 4 << 30;

/// llama.cpp's `general.file_type` for "mostly BF16".
const FTYPE_BF16: u32 = 32;

/// Writes a BF16 copy of a GGUF checkpoint, optionally perturbed like a fine-tune.
#[derive(Debug, Parser)]
#[command(name = "taoke-bench-copy")]
struct Args {
    /// The GGUF file to copy.
    input: PathBuf,
    /// Where to write the copy.
    output: PathBuf,
    /// Noise added to every matrix, relative to that matrix's weight std (0: a plain copy).
    #[arg(long, default_value_t = 0.0)]
    eps: f32,
    #[arg(long, default_value_t = 20_261_207)]
    seed: u64,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("taoke-bench-copy: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let name = args.input.display().to_string();
    let len = std::fs::metadata(&args.input)
        .with_context(|| name.clone())?
        .len();
    if len > MAX_INPUT {
        bail!("{name}: {len} bytes, more than this helper reads ({MAX_INPUT})");
    }
    let bytes = std::fs::read(&args.input).with_context(|| name.clone())?;
    let g = Gguf::parse(&bytes).with_context(|| name.clone())?;
    let mut w = GgufWriter::new();
    for (k, v) in &g.metadata {
        let v = if k == "general.file_type" {
            Value::U32(FTYPE_BF16)
        } else {
            v.clone()
        };
        w.add_kv(k.clone(), v)?;
    }
    let mut datas = Vec::with_capacity(g.tensors.len());
    for (i, t) in g.tensors.iter().enumerate() {
        let data = g
            .tensor_data(&bytes, t)
            .ok_or_else(|| anyhow!("{name}: tensor {}: data out of the file", t.name))?;
        let n = t
            .n_elements()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| anyhow!("{name}: tensor {}: bad element count", t.name))?;
        let mut vals = vec![0f32; n];
        taoke_dtype::decode_f32(t.dtype, data, &mut vals)
            .with_context(|| format!("{name}: tensor {}", t.name))?;
        if args.eps > 0.0 && t.dims.len() >= 2 {
            let mean = vals.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
            let var = vals
                .iter()
                .map(|&v| (f64::from(v) - mean).powi(2))
                .sum::<f64>()
                / n as f64;
            let s = args.eps * var.sqrt() as f32;
            let mut rng = SmallRng::seed_from_u64(taoke_bench::synth::mix(&[args.seed, i as u64]));
            for v in &mut vals {
                *v += s * rng.sample::<f32, _>(StandardNormal);
            }
        }
        let (dtype, out): (Dtype, Vec<u8>) = if t.dims.len() >= 2 {
            (
                Dtype::BF16,
                vals.iter()
                    .flat_map(|&v| bf16::from_f32(v).to_le_bytes())
                    .collect(),
            )
        } else {
            (
                Dtype::F32,
                vals.iter().flat_map(|&v| v.to_le_bytes()).collect(),
            )
        };
        datas.push((t.name.clone(), t.shape_row_major(), dtype, out));
    }
    for (n, shape, dtype, data) in &datas {
        w.add_tensor(n.clone(), shape, *dtype, data.as_slice())?;
    }
    let tmp = args.output.with_extension("partial");
    let mut f = BufWriter::new(fs_create(&tmp)?);
    w.write_to(&mut f)
        .with_context(|| tmp.display().to_string())?;
    drop(f);
    std::fs::rename(&tmp, &args.output).with_context(|| args.output.display().to_string())?;
    println!("{}", args.output.display());
    Ok(())
}

fn fs_create(p: &std::path::Path) -> anyhow::Result<std::fs::File> {
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d)?;
    }
    std::fs::File::create(p).with_context(|| p.display().to_string())
}
