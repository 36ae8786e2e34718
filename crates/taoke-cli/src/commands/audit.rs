//! `taoke audit MODEL --base BASE[=KB_ID]…`: what the model's verified lineage brings with it —
//! licences and their duties (checked where mechanical), training-compute estimate against
//! threshold rules, export and filing rules at a date. Never legal advice.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use taoke_audit::audit::{Audit, CheckStatus, DeclaredReport};
use taoke_audit::compute::sci;
use taoke_audit::{AuditOptions, Candidate, Date, Kb, ModelFacts};

use crate::output::Output;
use crate::Status;

/// Output format of `audit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    /// Human-readable text.
    Terminal,
    /// JSON (versioned by `schema_version`).
    Json,
    /// A Markdown report with the ancestry chain and every duty with its source link.
    Markdown,
    /// A CycloneDX 1.6 ML-BOM (JSON) with file hashes, licences and pedigree.
    Cyclonedx,
}

/// `taoke audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The model to audit (file, folder, `org/name`, `ollama:name:tag`).
    pub model: String,
    /// A candidate base model, compared with MODEL: `PATH` or `PATH=KB_ID`, where KB_ID is the
    /// knowledge-base checkpoint id it is (e.g. `llama-3.1-8b`; see `kb/families.toml`).
    /// Without a tag the base's own name (general.name, _name_or_path, folder) is looked up.
    /// Repeatable.
    #[arg(long = "base", value_name = "MODEL[=KB_ID]")]
    pub bases: Vec<String>,
    /// The name MODEL is (or will be) released under, checked against naming duties.
    /// Default: the model's own name (general.name, model-card model_name, folder name).
    #[arg(long)]
    pub name: Option<String>,
    /// Tokens MODEL was trained on beyond its ancestor (for a root: in total), for the
    /// compute estimate.
    #[arg(long, value_name = "N")]
    pub training_tokens: Option<f64>,
    /// Read rule statuses at this date (YYYY-MM-DD). Default: today.
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
    /// A knowledge-base folder (licences.toml, families.toml, rules.toml) replacing the
    /// embedded one.
    #[arg(long, value_name = "DIR")]
    pub kb: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = AuditFormat::Terminal)]
    pub format: AuditFormat,
    /// Write the output to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Exit with code 1 when a mechanical duty check fails.
    #[arg(long)]
    pub fail_on_duty: bool,
    /// Significance level for "related" in the comparisons.
    #[arg(long, default_value_t = crate::args::default_alpha(), value_parser = crate::args::parse_alpha)]
    pub alpha: f64,
}

/// Runs `taoke audit`.
pub fn run(args: AuditArgs, out: &Output) -> anyhow::Result<Status> {
    let kb = match &args.kb {
        Some(d) => Kb::load_dir(d)?,
        None => Kb::embedded()?,
    };
    let as_of = match &args.as_of {
        Some(s) => s
            .parse::<Date>()
            .map_err(|e| anyhow::anyhow!("--as-of: {e}"))?,
        None => Date::today(),
    };
    let candidates = args
        .bases
        .iter()
        .map(|b| {
            b.parse::<Candidate>()
                .map_err(|e| anyhow::anyhow!("--base: {e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    for c in &candidates {
        if let Some(id) = &c.kb_id {
            kb.resolve_tag(id)
                .map_err(|e| anyhow::anyhow!("--base {}: {e}", c.reference))?;
        }
    }
    let ck =
        taoke_model::open(&args.model).with_context(|| format!("cannot open `{}`", args.model))?;
    let mut facts = ModelFacts::from_checkpoint(&ck);
    facts.identity.hash_files(&ck)?;
    let opts = taoke_evidence::Options {
        alpha: args.alpha,
        ..taoke_evidence::Options::default()
    };
    let mut inputs = Vec::new();
    for c in &candidates {
        if !out.quiet {
            eprintln!("comparing with {} …", c.reference);
        }
        inputs.push(taoke_audit::lineage::verify(&kb, &ck, c, &opts)?);
    }
    if candidates.is_empty() {
        out.hint("no --base given: without candidate bases no ancestor can be verified");
    }
    let audit = taoke_audit::audit(
        &kb,
        &facts,
        &inputs,
        &AuditOptions {
            as_of,
            released_name: args.name.clone(),
            training_tokens: args.training_tokens,
        },
    );
    let text = match args.format {
        AuditFormat::Json => serde_json::to_string_pretty(&audit)? + "\n",
        AuditFormat::Markdown => taoke_audit::markdown::render(&audit),
        AuditFormat::Cyclonedx => {
            let files = taoke_audit::cyclonedx::file_hashes(&audit.model.identity, &ck)?;
            let bom = taoke_audit::cyclonedx::bom(
                &audit,
                &files,
                &taoke_audit::cyclonedx::BomOptions {
                    timestamp: Some(taoke_audit::date::rfc3339_now()),
                    tool_version: env!("CARGO_PKG_VERSION").to_owned(),
                },
            );
            serde_json::to_string_pretty(&bom)? + "\n"
        }
        AuditFormat::Terminal => render_terminal(&audit, out),
    };
    out.write_data(args.output.as_deref(), &text)?;
    let failed = !audit.failures().is_empty();
    Ok(if args.fail_on_duty && failed {
        Status::CheckFailed
    } else {
        Status::Ok
    })
}

/// The declared licences beside the knowledge base's, one line each.
fn declared_lines(s: &mut String, indent: &str, declared: &[DeclaredReport]) {
    if declared.is_empty() {
        let _ = writeln!(s, "{indent}declared licence: none found");
    }
    for d in declared {
        let kb = match (&d.kb_licence, &d.kb_licence_name) {
            (Some(id), Some(n)) => format!("knowledge base: {n} ({id})"),
            _ => "not in the knowledge base".to_owned(),
        };
        let _ = writeln!(
            s,
            "{indent}declared licence: {} ({}) — {kb}",
            d.value, d.origin
        );
    }
}

fn render_terminal(a: &Audit, out: &Output) -> String {
    let mut s = String::new();
    let name = a
        .released_name
        .as_ref()
        .map(|(n, o)| format!("{n} (name from {o})"))
        .unwrap_or_else(|| a.model.identity.name.clone());
    let _ = writeln!(s, "{} {name}, rules as of {}", out.bold("AUDIT"), a.as_of);
    let _ = writeln!(s, "model: {}", a.model.identity.display());
    declared_lines(&mut s, "", &a.declared_licences);
    if a.ancestors.is_empty() {
        let _ = writeln!(
            s,
            "\nno ancestor found among the candidates: nothing inherited"
        );
    }
    for an in &a.ancestors {
        let who = an
            .kb
            .as_ref()
            .map(|k| {
                format!(
                    "{} — {}, {}",
                    k.checkpoint_name.as_deref().unwrap_or(&k.family_name),
                    k.publisher,
                    k.country
                )
            })
            .unwrap_or_else(|| format!("{} (not in the knowledge base)", an.reference));
        let p = an
            .lineage
            .log10_p_value
            .map(|l| format!(", log10 p {l:.1}"))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "\nancestor {}: {who}\n  {}{p}: {}",
            an.depth, an.lineage.verdict, an.lineage.summary
        );
        if an.identity.is_some() {
            declared_lines(&mut s, "  ", &an.declared_licences);
        }
        for n in &an.notes {
            let _ = writeln!(s, "  note: {n}");
        }
        for l in &an.licences {
            let _ = writeln!(s, "  licence {} ({})", l.name, l.spdx);
            for d in &l.duties {
                let st = match d.status {
                    CheckStatus::Fail => out.bold("FAIL"),
                    other => other.as_str().to_owned(),
                };
                let _ = writeln!(s, "    [{st}] {}: {}", d.kind, d.detail);
                let _ = writeln!(
                    s,
                    "           {} ({}, {})",
                    d.summary,
                    d.source,
                    d.confidence.as_str()
                );
            }
        }
    }
    for r in &a.rejected {
        let _ = writeln!(s, "\nnot an ancestor: {} ({})", r.reference, r.verdict);
    }
    let c = &a.compute;
    let _ = writeln!(s, "\ntraining compute (6·N·D estimate):");
    for e in c.ancestor.iter().chain(c.modification.iter()) {
        let _ = writeln!(
            s,
            "  {}: 6 × {} × {} tokens = {} FLOP",
            e.subject,
            sci(e.parameters.value),
            sci(e.tokens.value),
            sci(e.flop)
        );
    }
    for t in &c.thresholds {
        let _ = writeln!(
            s,
            "  {} {} {}: {} ({}{})",
            t.jurisdiction,
            t.comparator.as_str(),
            sci(t.threshold),
            if t.meets { "meets" } else { "below" },
            t.state.as_deref().unwrap_or("not yet issued"),
            if t.binding { ", binding" } else { "" }
        );
    }
    for n in &c.notes {
        let _ = writeln!(s, "  note: {n}");
    }
    let _ = writeln!(s, "\nexport and filing rules at {}:", a.as_of);
    for r in a.export_rules.iter().chain(&a.filing_rules) {
        let since = r
            .state_date
            .map(|d| format!(" since {d}"))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "  {} [{}]: {}{since} — {}",
            r.name, r.jurisdiction, r.state, r.applies
        );
        let _ = writeln!(s, "    {}", r.state_source.as_deref().unwrap_or(&r.source));
    }
    let _ = writeln!(s, "\n{}", a.disclaimer);
    s
}
