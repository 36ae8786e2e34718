//! Command-line arguments (clap derive). Doc comments are the help text.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use taoke_registry::registry::{default_path, Registry};

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

/// Largest significance level accepted by `--alpha` (exclusive): the engine's.
pub use taoke_evidence::MAX_ALPHA;

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
    /// Tensors with more elements than this take the sampled path (default: the engine's
    /// threshold). For benchmarks and for checking the sampled path on small models.
    #[arg(long, hide = true, value_name = "ELEMENTS")]
    pub large_above: Option<u64>,
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
    pub registry: RegistryPath,
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

/// The registry file option (shared by `registry`, `identify`).
#[derive(Debug, Args)]
pub struct RegistryPath {
    /// The registry file (default: `$TAOKE_REGISTRY`, else
    /// `$XDG_DATA_HOME/taoke/registry.sqlite`, else `~/.local/share/taoke/registry.sqlite`).
    #[arg(long, global = true)]
    pub registry: Option<PathBuf>,
}

impl RegistryPath {
    /// The registry file.
    pub fn path(&self) -> PathBuf {
        self.registry.clone().unwrap_or_else(default_path)
    }

    /// Opens the registry for writing, creating it (and its folders) when missing.
    pub fn open(&self) -> anyhow::Result<Registry> {
        Ok(Registry::open(&self.path())?)
    }

    /// Opens an existing registry without creating anything (the commands that read it): a
    /// missing file is an error naming it.
    pub fn open_existing(&self) -> anyhow::Result<Registry> {
        let p = self.path();
        if std::fs::symlink_metadata(&p).is_err() {
            anyhow::bail!(
                "registry {} does not exist (build one with `taoke registry add MODEL` or `taoke registry build-default`, or name it with --registry or $TAOKE_REGISTRY)",
                p.display()
            );
        }
        Ok(Registry::open_existing(&p)?)
    }

    /// [`RegistryPath::open_existing`], and an error when the registry holds no entry.
    pub fn open_nonempty(&self) -> anyhow::Result<Registry> {
        let reg = self.open_existing()?;
        if reg.list()?.is_empty() {
            anyhow::bail!(
                "registry {} is empty; build one with `taoke registry add MODEL` or `taoke registry build-default`",
                reg.path().display()
            );
        }
        Ok(reg)
    }
}
