//! One module per command; [`run`] dispatches.

use clap::{Parser, Subcommand};

use crate::args::*;
use crate::output::Output;
use crate::Status;

pub mod audit;
pub mod census;
pub mod compare;
pub mod completions;
#[cfg(feature = "demo")]
pub mod demo;
/// `taoke demo` needs the zoo (candle, to train its models): a build without the `demo`
/// feature says so.
#[cfg(not(feature = "demo"))]
pub mod demo {
    /// Fails: this build has no zoo.
    pub fn run(
        _: crate::args::DemoArgs,
        _: &crate::output::Output,
    ) -> anyhow::Result<crate::Status> {
        anyhow::bail!(
            "this taoke was built without the `demo` feature (the zoo of trained tiny models); \
             reinstall with `cargo install --path crates/taoke-cli` (default features)"
        )
    }
}
pub mod fingerprint;
pub mod identify;
pub mod inspect;
pub mod kb;
pub mod registry;
pub mod tokenizer_diff;

/// taoke (套殼): is this model derived from that one, how, and how sure are we?
///
/// Exit codes: 0 success, 1 a --fail-on check matched, 2 error.
#[derive(Debug, Parser)]
#[command(name = "taoke", version, about, long_about = None)]
pub struct Cli {
    /// Options for every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what a checkpoint holds: format, files, architecture, tensors, dtypes, tokenizer.
    Inspect(InspectArgs),
    /// Is B derived from A? Verdict, kinds, direction, p-value and the evidence behind them.
    ///
    /// Exit code 1 when --fail-on matches the verdict.
    Compare(CompareArgs),
    /// Compare two tokenizers: identical, extended, reordered, overlapping or unrelated.
    ///
    /// Each side is a model (file, folder, repo id) or a tokenizer file (tokenizer.json,
    /// tokenizer.model, vocab.txt, vocab.json).
    TokenizerDiff(TokenizerDiffArgs),
    /// Build (or reuse) the small zoo of tiny models with known lineage, compare a few
    /// instructive pairs (a fine-tune, a disguised copy, a pruned model, an independent twin)
    /// and write one HTML report; prints its path.
    Demo(DemoArgs),
    /// What the model's verified lineage brings with it: licence duties (checked where
    /// mechanical), compute estimate against threshold rules, export and filing rules at a
    /// date, CycloneDX ML-BOM. Not legal advice.
    ///
    /// Exit code 1 with --fail-on-duty when a duty check fails.
    Audit(audit::AuditArgs),
    /// Write a compact, versioned fingerprint of a model (for the registry and sharing).
    Fingerprint(fingerprint::FingerprintArgs),
    /// The registry of known models' fingerprints: add, list, remove, export, import,
    /// build-default.
    Registry(registry::RegistryArgs),
    /// Which known model is inside this one? Ranks registry entries with verdicts and
    /// p-values, or says "no known ancestor".
    Identify(identify::IdentifyArgs),
    /// The family tree of many models: fingerprints every model found, infers the lineage
    /// forest, writes JSON, Graphviz DOT and HTML.
    Census(census::CensusArgs),
    /// The knowledge base compiled into the binary: `taoke kb list` shows every checkpoint and
    /// family id `audit --base MODEL=KB_ID` accepts, with names and licences.
    Kb(kb::KbArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    Completions(completions::CompletionsArgs),
    /// Print the manual page (roff) to stdout: `taoke man > taoke.1`.
    Man(completions::ManArgs),
}

/// Runs a parsed command.
pub fn run(cmd: Command, out: &Output) -> anyhow::Result<Status> {
    match cmd {
        Command::Inspect(a) => {
            // `-o` never writes over the model (the output helper refuses its inputs).
            out.set_inputs(&[a.model.as_str()]);
            inspect::run(a, out)
        }
        Command::Compare(a) => compare::run(a, out),
        Command::Demo(a) => demo::run(a, out),
        Command::TokenizerDiff(a) => tokenizer_diff::run(a, out),
        Command::Audit(a) => {
            out.set_inputs(&[a.model.as_str()]);
            audit::run(a, out)
        }
        Command::Fingerprint(a) => fingerprint::run(a, out),
        Command::Registry(a) => registry::run(a, out),
        Command::Identify(a) => identify::run(a, out),
        Command::Census(a) => census::run(a, out),
        Command::Kb(a) => kb::run(a, out),
        Command::Completions(a) => completions::completions(a, out),
        Command::Man(a) => completions::man(a, out),
    }
}
