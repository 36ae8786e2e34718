//! `taoke-zoo`: builds the labelled model zoo (`build`), or prints a profile's plan counts
//! (`plan`).

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use taoke_zoo::{Profile, Relation};

#[derive(Parser)]
#[command(
    name = "taoke-zoo",
    about = "Train and write taoke's labelled model zoo"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Train (or reuse cached) models and write them with `zoo.json`.
    Build {
        /// `small` (unit tests) or `full` (accuracy report).
        #[arg(long, default_value = "small")]
        profile: String,
        /// Output directory (default: $TAOKE_ZOO_DIR/<profile> or ~/.cache/taoke/zoo/<profile>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Delete the output directory (and its cache) first: regenerate from nothing.
        #[arg(long)]
        fresh: bool,
    },
    /// Build the real-weight shells (disguised SmolLM2 and MiniLM copies and hard-negative
    /// twins) with `shells.json`; shells whose recipe is unchanged are kept.
    Shell {
        /// Output directory (default: $TAOKE_SHELLS_DIR or ~/.cache/taoke/shells).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Directory of the fetched test models (default: $TAOKE_TEST_MODELS_DIR or
        /// ~/.cache/taoke/test-models).
        #[arg(long)]
        models: Option<PathBuf>,
    },
    /// Print the model and pair counts of a profile's plan (no training).
    Plan {
        /// `small` or `full`.
        #[arg(long, default_value = "full")]
        profile: String,
    },
}

fn profile(s: &str) -> anyhow::Result<Profile> {
    Profile::parse(s)
        .ok_or_else(|| anyhow::anyhow!("unknown profile {s:?} (expected small or full)"))
}

/// `$TAOKE_TEST_MODELS_DIR`, else `${XDG_CACHE_HOME:-~/.cache}/taoke/test-models`.
fn default_models_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("TAOKE_TEST_MODELS_DIR") {
        return PathBuf::from(d);
    }
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"))
        .join("taoke")
        .join("test-models")
}

fn run() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Build {
            profile: p,
            out,
            fresh,
        } => {
            let p = profile(&p)?;
            let out = out.unwrap_or_else(|| taoke_zoo::default_dir(p));
            if fresh && out.exists() {
                std::fs::remove_dir_all(&out)?;
            }
            let t0 = std::time::Instant::now();
            let m = taoke_zoo::build(p, &out, &mut |line| eprintln!("{line}"))?;
            let count = |r: Relation| m.pairs.iter().filter(|x| x.relation == r).count();
            println!(
                "{} models, {} ordered pairs ({} identical, {} same-weights, {} related, {} independent) in {:.1}s -> {}",
                m.models.len(),
                m.pairs.len(),
                count(Relation::Identical),
                count(Relation::SameWeights),
                count(Relation::Related),
                count(Relation::Independent),
                t0.elapsed().as_secs_f64(),
                out.join("zoo.json").display()
            );
        }
        Cmd::Shell { out, models } => {
            let out = out.unwrap_or_else(taoke_zoo::shell::default_dir);
            let models = models.unwrap_or_else(default_models_dir);
            let t0 = std::time::Instant::now();
            let m = taoke_zoo::shell::build_shells(&models, &out, &mut |l| eprintln!("{l}"))?;
            let count = |r: Relation| m.pairs.iter().filter(|x| x.relation == r).count();
            let bytes: u64 = m.shells.iter().map(|s| s.bytes).sum();
            println!(
                "{} shells ({} MB), {} ordered pairs ({} identical, {} same-weights, {} related, {} independent, {} hard negatives) in {:.1}s -> {}",
                m.shells.len(),
                bytes >> 20,
                m.pairs.len(),
                count(Relation::Identical),
                count(Relation::SameWeights),
                count(Relation::Related),
                count(Relation::Independent),
                m.pairs.iter().filter(|p| p.hard_negative).count(),
                t0.elapsed().as_secs_f64(),
                out.join("shells.json").display()
            );
        }
        Cmd::Plan { profile: p } => {
            let plan = taoke_zoo::plan(profile(&p)?);
            let pairs = taoke_zoo::manifest::label_pairs(&plan)?;
            let count = |r: Relation| pairs.iter().filter(|x| x.relation == r).count();
            let same_arch_indep = pairs
                .iter()
                .filter(|x| x.relation == Relation::Independent && x.same_architecture)
                .count();
            let trained = plan.specs.iter().filter(|s| s.recipe.steps() > 0).count();
            println!(
                "{} models ({} trained), {} ordered pairs: {} identical, {} same-weights, {} related, {} independent ({} of the same architecture and size)",
                plan.specs.len(),
                trained,
                pairs.len(),
                count(Relation::Identical),
                count(Relation::SameWeights),
                count(Relation::Related),
                count(Relation::Independent),
                same_arch_indep
            );
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("taoke-zoo: {e:#}");
            ExitCode::from(2)
        }
    }
}
