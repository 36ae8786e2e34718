//! `taoke identify MODEL`: which known model is inside this one? Ranks the registry's entries
//! (prescreen, then exact unit-matching tests on the top candidates) and says "no known
//! ancestor" when none passes.

use std::fmt::Write as _;

use clap::Args;
use taoke_registry::identify::{identify, Identification, Options};

use crate::args::Format;
use crate::args::RegistryPath;
use crate::commands::fingerprint::load_or_fingerprint;
use crate::output::{escape, Output};
use crate::Status;

/// `taoke identify`.
#[derive(Debug, Args)]
pub struct IdentifyArgs {
    /// The suspect model (file, folder, `org/name`, `ollama:name:tag`) or its fingerprint file.
    pub model: String,
    /// The registry file.
    #[command(flatten)]
    pub path: RegistryPath,
    /// Output format (JSON: `schema_version` 1).
    #[arg(long, value_enum, default_value_t = Format::Terminal)]
    pub format: Format,
    /// Entries given the exact tests (the top ones by prescreen).
    #[arg(long, default_value_t = 32)]
    pub candidates: usize,
    /// Significance level for "related" (after correction for the candidates tested).
    #[arg(long, default_value_t = crate::args::default_alpha(), value_parser = crate::args::parse_alpha)]
    pub alpha: f64,
    /// When the best match's `source` is a local model, confirm with a full `compare`.
    #[arg(long)]
    pub confirm: bool,
    /// Matches shown in terminal output.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
}

/// What the numbers of a match line mean (printed under the matches; docs/registry.md).
const LEGEND: &str =
    "  ranked by verdict (identical > same-weights > related), then closeness.\n  \
log10 p (corrected): evidence against independent training, Bonferroni-corrected for the \
candidates tested (below log10 α: related).\n  \
closeness: mean cosine of the matched MLP units (of the embedding columns when a side has no \
tokenizer); 1 for copies, ≥ 0.998 for lossless or 8-bit copies, lower the more training \
separates the two. It ranks; it is not a test.\n  \
screen: the prescreen's similarity (correlation of 24 anchors' Gram matrices, −1..1) that \
chose which entries get the exact tests; not evidence.\n";

fn terminal(r: &Identification, top: usize, out: &Output) -> String {
    let mut s = String::new();
    // Names come from the registry (packs written by others): escaped.
    let _ = writeln!(s, "{}", out.bold(&escape(&r.summary)));
    for (k, m) in r.matches.iter().take(top).enumerate() {
        let _ = writeln!(
            s,
            "  {:>2}. {:<32} {:<13} log10 p {:>9} (corrected)  closeness {:.4}  screen {:.3}{}",
            k + 1,
            escape(&m.name),
            m.verdict,
            m.log10_p_corrected
                .map_or("-".into(), |l| format!("{l:.1}")),
            m.closeness,
            m.screen,
            m.publisher
                .as_deref()
                .map_or(String::new(), |p| format!("  [{}]", escape(p)))
        );
        if let (Some(d), Some(why)) = (m.direction, m.direction_reason.as_deref()) {
            let _ = writeln!(s, "      {d}: {}", escape(why));
        }
    }
    if !r.matches.is_empty() {
        s.push_str(LEGEND);
    }
    if !r.same_tokenizer.is_empty() {
        let names: Vec<String> = r
            .same_tokenizer
            .iter()
            .map(|t| match &t.publisher {
                Some(p) => format!("{} ({})", escape(&t.name), escape(p)),
                None => escape(&t.name).into_owned(),
            })
            .collect();
        let _ = writeln!(
            s,
            "tokenizer: same token set as {} (context only: a shared tokenizer is not shared weights)",
            names.join(", ")
        );
    }
    s
}

/// Runs `taoke identify`.
pub fn run(args: IdentifyArgs, out: &Output) -> anyhow::Result<Status> {
    let IdentifyArgs {
        model,
        path,
        format,
        candidates,
        alpha,
        confirm,
        top,
    } = args;
    // Only read: a missing or empty registry is an error naming it, never created.
    let reg = path.open_nonempty()?;
    let query = load_or_fingerprint(&model, out)?;
    let entries = reg.entries()?;
    let r = identify(
        &query,
        &entries,
        &mut |i| reg.load(entries[i].id),
        &Options { alpha, candidates },
    )?;
    let mut confirmation = None;
    if confirm && r.verdict == "known-ancestor" {
        if let Some((meta, _)) = reg.get(&r.matches[0].name)? {
            match meta
                .source
                .as_deref()
                .filter(|s| std::path::Path::new(s).exists())
            {
                Some(src) => {
                    let opts = taoke_evidence::Options {
                        alpha,
                        ..Default::default()
                    };
                    let c = crate::commands::compare::compare_paths(src, &model, &opts, out)?;
                    confirmation = Some(serde_json::json!({
                        "entry": meta.name,
                        "a": src,
                        "verdict": c.verdict.as_str(),
                        "log10_p": c.log10_p_value,
                        "kinds": c.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
                    }));
                }
                None => {
                    out.hint("--confirm: the best match's source is not a local model; skipped")
                }
            }
        }
    }
    let text = match format {
        Format::Json => {
            let mut v = serde_json::to_value(&r)?;
            crate::provenance::stamp(&mut v);
            v["query_identity"] =
                crate::provenance::identity(&model).unwrap_or(serde_json::Value::Null);
            if let Some(c) = confirmation {
                v["confirmation"] = c;
            }
            serde_json::to_string_pretty(&v)? + "\n"
        }
        Format::Terminal => {
            let mut s = terminal(&r, top, out);
            if let Some(c) = confirmation {
                let _ = writeln!(
                    s,
                    "confirmed by compare against {}: {}",
                    escape(c["a"].as_str().unwrap_or("")),
                    c["verdict"].as_str().unwrap_or("")
                );
            }
            s
        }
    };
    out.write_data(None, &text)?;
    Ok(Status::Ok)
}
