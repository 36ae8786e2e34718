//! `taoke-bench`: runs taoke's workloads on benchmark pairs and measures each (wall, CPU,
//! peak RSS, bytes read) next to a plain sequential read of the same files in the same run.
//! See `BENCHMARKS.md` at the repository root.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use taoke_bench::measure::{self, Limits, Run, GIB};

/// Measures taoke at real scale.
#[derive(Debug, Parser)]
#[command(name = "taoke-bench")]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Runs the workloads on pairs and prints one Markdown row per workload.
    Run {
        /// Pairs: a name from the cache (`1b`, `1b-gguf`, `7b`, `8b`, `13b`, `moe`) or `A,B`.
        #[arg(long = "pair", required = true)]
        pairs: Vec<String>,
        /// Workloads, among seqread, compare, inspect, fingerprint.
        #[arg(long, value_delimiter = ',', default_value = "seqread,compare,inspect")]
        workloads: Vec<String>,
        /// The taoke binary.
        #[arg(long, default_value = "taoke")]
        taoke: PathBuf,
        /// Drop the files' page cache before each workload (cold runs).
        #[arg(long)]
        cold: bool,
        /// Kill a workload whose anonymous RSS exceeds this (GiB).
        #[arg(long, default_value_t = 14.0)]
        max_anon_gib: f64,
        /// Kill a workload after this many seconds.
        #[arg(long, default_value_t = 900)]
        timeout: u64,
        /// Append one JSON line per workload to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Decoding throughput of taoke_dtype::decode_f32 (BF16, F16, Q4_K, Q8_0) on 64 Mi values.
    Decode,
    /// Reads files sequentially with 16 MiB read() calls (the baseline workload).
    Seqread {
        /// Files or folders.
        paths: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("taoke-bench: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The pair called `name` in the cache, or `A,B`.
fn pair(name: &str) -> (PathBuf, PathBuf) {
    if let Some((a, b)) = name.split_once(',') {
        return (a.into(), b.into());
    }
    let d = taoke_bench::cache_dir();
    let (a, b) = match name {
        "1b" => ("1b-base".to_string(), "1b-derived".to_string()),
        "13b" => ("13b-base.Q4_K.gguf".into(), "13b-derived.Q4_K.gguf".into()),
        n => {
            let s = n.trim_end_matches("-gguf");
            (format!("{s}-base"), format!("{s}-derived.Q4_K.gguf"))
        }
    };
    (d.join(a), d.join(b))
}

fn gb(x: u64) -> String {
    format!("{:.2}", x as f64 / GIB)
}

fn run(args: Args) -> anyhow::Result<()> {
    match args.cmd {
        Cmd::Decode => {
            decode_throughput()?;
            Ok(())
        }
        Cmd::Seqread { paths } => {
            let files: Vec<PathBuf> = paths.iter().flat_map(|p| measure::files_of(p)).collect();
            let n = measure::sequential_read(&files)?;
            println!("{n}");
            Ok(())
        }
        Cmd::Run {
            pairs,
            workloads,
            taoke,
            cold,
            max_anon_gib,
            timeout,
            json,
        } => {
            let limits = Limits {
                max_anon: (max_anon_gib * GIB) as u64,
                timeout: Duration::from_secs(timeout),
            };
            let me = std::env::current_exe()?;
            println!("| pair | workload | wall s | user s | sys s | peak RSS GiB | anon GiB | file GiB | disk read GiB | wall / seqread | result |");
            println!("|---|---|---|---|---|---|---|---|---|---|---|");
            for p in &pairs {
                let (a, b) = pair(p);
                for x in [&a, &b] {
                    anyhow::ensure!(
                        x.exists(),
                        "{} is missing (make it with taoke-bench-gen)",
                        x.display()
                    );
                }
                let files: Vec<PathBuf> = measure::files_of(&a)
                    .into_iter()
                    .chain(measure::files_of(&b))
                    .collect();
                let mut seq_wall = None;
                for w in &workloads {
                    let argv: Vec<String> = match w.as_str() {
                        "seqread" => vec![s(&me), "seqread".into(), s(&a), s(&b)],
                        "compare" => vec![
                            s(&taoke),
                            "compare".into(),
                            s(&a),
                            s(&b),
                            "--format".into(),
                            "json".into(),
                        ],
                        "inspect" => vec![
                            s(&taoke),
                            "inspect".into(),
                            s(&b),
                            "--format".into(),
                            "json".into(),
                        ],
                        "fingerprint" => vec![
                            s(&taoke),
                            "fingerprint".into(),
                            s(&a),
                            "-o".into(),
                            s(&std::env::temp_dir().join("taoke-bench.fingerprint.safetensors")),
                        ],
                        other => anyhow::bail!("unknown workload `{other}`"),
                    };
                    if cold {
                        measure::drop_cache(&files);
                    }
                    eprintln!("[{p}] {}", argv.join(" "));
                    let r = measure::run(&argv, limits)?;
                    if w == "seqread" {
                        seq_wall = Some(r.wall);
                    }
                    let result = summary(w, &r);
                    if w == "compare" && !r.stdout.is_empty() {
                        // Keep the report next to the results, for agreement checks.
                        let tag: String = p
                            .chars()
                            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                            .collect();
                        let out = taoke_bench::cache_dir().join(format!("compare-{tag}.json"));
                        std::fs::write(&out, &r.stdout)?;
                    }
                    let ratio = seq_wall.map_or("".into(), |sq| format!("{:.1}", r.wall / sq));
                    println!(
                        "| {p} | {w} | {:.1} | {:.1} | {:.1} | {} | {} | {} | {} | {ratio} | {result} |",
                        r.wall, r.user, r.sys, gb(r.max_rss), gb(r.peak_anon), gb(r.peak_file), gb(r.disk_read)
                    );
                    if let Some(path) = &json {
                        let line = serde_json::json!({
                            "pair": p, "workload": w, "argv": argv, "cold": cold,
                            "wall_s": r.wall, "user_s": r.user, "sys_s": r.sys,
                            "max_rss": r.max_rss, "peak_anon": r.peak_anon, "peak_file": r.peak_file,
                            "majflt": r.majflt, "minflt": r.minflt, "disk_read": r.disk_read,
                            "seqread_wall_s": seq_wall, "status": r.status, "killed": r.killed,
                            "result": result,
                        });
                        use std::io::Write;
                        let mut f = std::fs::OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(path)?;
                        writeln!(f, "{line}")?;
                    }
                }
            }
            Ok(())
        }
    }
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// A short result: the verdict of compare, the byte count of seqread, else the exit status.
fn summary(w: &str, r: &Run) -> String {
    if let Some(k) = &r.killed {
        return format!("killed: {k}");
    }
    if r.status != Some(0) && !(w == "compare" && r.status == Some(1)) {
        return format!("exit {:?}", r.status);
    }
    match w {
        "seqread" => format!(
            "{:.2} GB read",
            r.stdout.trim().parse::<f64>().unwrap_or(0.0) / 1e9
        ),
        "compare" => match serde_json::from_str::<serde_json::Value>(&r.stdout) {
            Ok(v) => format!(
                "{} [{}] p={}",
                v["verdict"].as_str().unwrap_or("?"),
                v["kinds"]
                    .as_array()
                    .map(|k| k
                        .iter()
                        .filter_map(|x| x.as_str())
                        .collect::<Vec<_>>()
                        .join(", "))
                    .unwrap_or_default(),
                v["p_value"]
            ),
            Err(_) => "unparsed output".into(),
        },
        _ => "ok".into(),
    }
}

/// Prints decode throughput (input bytes and output values per second, one thread).
fn decode_throughput() -> anyhow::Result<()> {
    use taoke_dtype::Dtype;
    let n = 64usize << 20;
    let vals: Vec<f32> = (0..n).map(|i| ((i as f32) * 0.618).sin() * 0.02).collect();
    let mut out = vec![0f32; n];
    for dtype in [Dtype::BF16, Dtype::F16, Dtype::Q8_0, Dtype::Q4_K] {
        let bytes: Vec<u8> = match dtype {
            Dtype::BF16 => vals
                .iter()
                .flat_map(|v| half::bf16::from_f32(*v).to_le_bytes())
                .collect(),
            Dtype::F16 => vals
                .iter()
                .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
                .collect(),
            q => taoke_dtype::quant::quantize(q, &vals)?,
        };
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            let t = std::time::Instant::now();
            taoke_dtype::decode_f32(dtype, &bytes, &mut out)?;
            best = best.min(t.elapsed().as_secs_f64());
        }
        std::hint::black_box(&out);
        println!(
            "{dtype}: {:.2} GB/s of input, {:.0} M values/s",
            bytes.len() as f64 / best / 1e9,
            n as f64 / best / 1e6
        );
    }
    Ok(())
}
