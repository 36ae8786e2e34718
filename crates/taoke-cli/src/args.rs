//! Command-line arguments (clap derive). Doc comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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

/// Options for every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// When to use colour on the terminal (NO_COLOR is respected with `auto`).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,
    /// No progress bars or hints on stderr.
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

/// Colour choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when stdout is a terminal and NO_COLOR is unset.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// Largest significance level accepted by `--alpha` (exclusive).
pub const MAX_ALPHA: f64 = 0.01;

/// The default significance level of every command (the comparison engine's).
pub fn default_alpha() -> f64 {
    taoke_evidence::Options::default().alpha
}

/// Parses `--alpha`: a number with 0 < α < [`MAX_ALPHA`]. A larger α calls independent pairs
/// related (and makes `--fail-on related` fire); 0, a negative value or NaN makes no p-value
/// significant, so a fine-tune passes a CI gate as "inconclusive".
pub fn parse_alpha(s: &str) -> Result<f64, String> {
    let a: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    if !a.is_finite() || a <= 0.0 {
        return Err(format!(
            "{s} is not a significance level: α must be a number above 0 (at 0 or NaN no p-value is significant, so every related pair would pass as inconclusive)"
        ));
    }
    if a >= MAX_ALPHA {
        return Err(format!(
            "{s} is too large: α must be below {MAX_ALPHA} (a larger α calls independent models related; the default is {})",
            default_alpha()
        ));
    }
    Ok(a)
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable text.
    Terminal,
    /// JSON (versioned by `schema_version`).
    Json,
}

/// Output format of reports (`compare`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Human-readable text.
    Terminal,
    /// JSON (versioned by `schema_version`; schema in `schemas/compare.schema.json`).
    Json,
    /// Markdown (GitHub tables), for pull requests and model cards.
    Markdown,
    /// One self-contained HTML file with the heatmap and charts (use with `-o report.html`).
    Html,
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
    Audit(crate::commands::audit::AuditArgs),
    /// Write a compact, versioned fingerprint of a model (for the registry and sharing).
    Fingerprint(crate::commands::fingerprint::FingerprintArgs),
    /// The registry of known models' fingerprints: add, list, remove, export, import,
    /// build-default.
    Registry(crate::commands::registry::RegistryArgs),
    /// Which known model is inside this one? Ranks registry entries with verdicts and
    /// p-values, or says "no known ancestor".
    Identify(crate::commands::identify::IdentifyArgs),
    /// The family tree of many models: fingerprints every model found, infers the lineage
    /// forest, writes JSON, Graphviz DOT and HTML.
    Census(crate::commands::census::CensusArgs),
    /// The knowledge base compiled into the binary: `taoke kb list` shows every checkpoint and
    /// family id `audit --base MODEL=KB_ID` accepts, with names and licences.
    Kb(crate::commands::kb::KbArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    Completions(crate::commands::completions::CompletionsArgs),
    /// Print the manual page (roff) to stdout: `taoke man > taoke.1`.
    Man(crate::commands::completions::ManArgs),
}

/// `taoke tokenizer-diff`.
#[derive(Debug, Args)]
pub struct TokenizerDiffArgs {
    /// Tokenizer or model A.
    pub a: String,
    /// Tokenizer or model B.
    pub b: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Terminal)]
    pub format: Format,
}

/// When `compare` should exit with code 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Verdict related (or closer: same-weights, identical).
    Related,
    /// Verdict same-weights or identical.
    SameWeights,
    /// Any verdict but independent.
    Any,
}

/// `taoke compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Model A (file, folder, `org/name`, `ollama:name:tag`).
    pub a: String,
    /// Model B.
    pub b: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Terminal)]
    pub format: ReportFormat,
    /// Write the output to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Exit with code 1 when the verdict matches.
    #[arg(long, value_enum)]
    pub fail_on: Option<FailOn>,
    /// Significance level for "related" (combined p-value of independence); 0 < α < 0.01.
    #[arg(long, default_value_t = default_alpha(), value_parser = parse_alpha)]
    pub alpha: f64,
    /// Large models: no sampling (every unit, token, row and block); slow and memory-hungry,
    /// for checking that the default sampled analysis reaches the same verdict.
    #[arg(long)]
    pub exhaustive: bool,
    /// Other models to look for merge parents among (repeatable): a side of a related pair
    /// that is a linear, spherical or sparse (TIES/DARE) merge of two of these (or of one of
    /// these and the other side) gets the kind `merge` and a `merge-fit` evidence row. A merge
    /// leaves no trace between two models alone.
    #[arg(long = "context", value_name = "MODEL")]
    pub context: Vec<String>,
    /// Also look for merge parents among the registry's entries, on their weight samples
    /// (fingerprints of `anchored-units/3`): the 32 entries closest to A and the 32 closest
    /// to B by prescreen. A and B are fingerprinted for that (about a second at 7B).
    #[arg(long)]
    pub context_registry: bool,
    /// The registry file (with `--context-registry`).
    #[command(flatten)]
    pub registry: crate::commands::registry::RegistryPath,
}

/// `taoke inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A weight file, a model folder, an HF cache repo id (`org/name`, `hf:org/name@rev`) or an
    /// Ollama model (`ollama:name:tag`).
    pub model: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Terminal)]
    pub format: Format,
    /// Write the output to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Terminal output: list at most this many tensors (0 = all).
    #[arg(long, default_value_t = 40)]
    pub max_tensors: usize,
}

/// `taoke demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to write the HTML report (default: `demo-report.html` in the zoo directory).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Zoo directory (default: `$TAOKE_ZOO_DIR/small`, else `~/.cache/taoke/zoo/small`).
    #[arg(long)]
    pub zoo: Option<PathBuf>,
}
