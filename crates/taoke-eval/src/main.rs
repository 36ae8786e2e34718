//! `taoke-eval`: accuracy of taoke's verdicts on the zoo.
//!
//! ```sh
//! cargo run --release -p taoke-eval -- --profile full --out ACCURACY.md
//! ```

use std::path::PathBuf;

use clap::Parser;

/// Runs compare on every labelled zoo pair and writes the accuracy report.
#[derive(Debug, Parser)]
struct Args {
    /// Zoo profile to build or reuse.
    #[arg(long, default_value = "small")]
    profile: String,
    /// Zoo directory (default: the zoo's cache for the profile).
    #[arg(long)]
    zoo: Option<PathBuf>,
    /// Write the Markdown report here (default: stdout).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write per-pair results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Evaluate at most this many pairs (0 = all).
    #[arg(long, default_value_t = 0)]
    limit: usize,
    /// Only pairs with one of these model ids on either side (comma-separated).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Only pairs whose ground truth is related, same-weights or identical.
    #[arg(long)]
    related_only: bool,
    /// Compare each pair alone (by default every zoo model is context for every pair, so a
    /// merge can be named from a third model).
    #[arg(long)]
    no_context: bool,
    /// Evaluate the real-weight shells of `shells.json` in this directory (made by
    /// scripts/make-shells) instead of the zoo, and write the `## Shells` section.
    #[arg(long)]
    shells: Option<PathBuf>,
}

fn run_shells(args: &Args, dir: &std::path::Path) -> anyhow::Result<()> {
    let manifest = taoke_zoo::shell::ShellManifest::load(&dir.join("shells.json"))?;
    let pairs: Vec<_> = taoke_eval::shells::unordered_pairs(&manifest)
        .into_iter()
        .filter(|p| args.only.is_empty() || args.only.iter().any(|id| *id == p.a || *id == p.b))
        .collect();
    let results = taoke_eval::shells::evaluate_shells(dir, &manifest, &pairs, &mut |k, n| {
        if k % 10 == 0 || k == n {
            eprintln!("compared {k}/{n}");
        }
    });
    let mut command =
        "cargo run --release -p taoke-eval -- --shells \"$(scripts/make-shells --print)\""
            .to_owned();
    if let Some(o) = &args.out {
        command.push_str(&format!(" --out {}", o.display()));
    }
    let md = taoke_eval::shells::shells_markdown(&results, &manifest, &command);
    match &args.out {
        Some(p) => std::fs::write(p, &md)?,
        None => print!("{md}"),
    }
    if let Some(j) = &args.json {
        std::fs::write(j, serde_json::to_string_pretty(&results)?)?;
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(dir) = &args.shells {
        return run_shells(&args, dir);
    }
    let profile = taoke_zoo::Profile::parse(&args.profile)
        .ok_or_else(|| anyhow::anyhow!("bad profile `{}` (small or full)", args.profile))?;
    let dir = args
        .zoo
        .clone()
        .unwrap_or_else(|| taoke_zoo::default_dir(profile));
    eprintln!("zoo: {} ({})", dir.display(), args.profile);
    let manifest = taoke_zoo::build(profile, &dir, &mut |m: &str| eprintln!("zoo: {m}"))?;
    let results = taoke_eval::evaluate(
        &dir,
        &manifest,
        &taoke_eval::EvalOptions {
            limit: args.limit,
            only: args.only.clone(),
            related_only: args.related_only,
            no_context: args.no_context,
        },
        &mut |k, n| {
            if k % 50 == 0 || k == n {
                eprintln!("compared {k}/{n}");
            }
        },
    );
    let summary = taoke_eval::summarize(&results);
    let mut command = format!(
        "cargo run --release -p taoke-eval -- --profile {}",
        args.profile
    );
    if args.limit > 0 {
        command.push_str(&format!(" --limit {}", args.limit));
    }
    if !args.only.is_empty() {
        command.push_str(&format!(" --only {}", args.only.join(",")));
    }
    if args.related_only {
        command.push_str(" --related-only");
    }
    if args.no_context {
        command.push_str(" --no-context");
    }
    if let Some(o) = &args.out {
        command.push_str(&format!(" --out {}", o.display()));
    }
    let md = taoke_eval::markdown(&summary, &command, &args.profile);
    match &args.out {
        Some(p) => std::fs::write(p, &md)?,
        None => print!("{md}"),
    }
    if let Some(j) = &args.json {
        std::fs::write(j, serde_json::to_string_pretty(&results)?)?;
    }
    Ok(())
}
