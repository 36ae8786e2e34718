//! `taoke compare A B`: the verdict in one line, then the evidence table, then the layer map.

use std::fmt::Write as _;

use anyhow::Context;
use taoke_evidence::{Comparison, Options, Verdict};

use crate::args::{CompareArgs, FailOn, Format};
use crate::output::Output;
use crate::Status;

/// Runs `taoke compare`.
pub fn run(args: CompareArgs, out: &Output) -> anyhow::Result<Status> {
    let CompareArgs {
        a,
        b,
        format,
        output,
        fail_on,
        alpha,
    } = args;
    let ca = taoke_model::open(&a).with_context(|| format!("cannot open `{a}`"))?;
    let cb = taoke_model::open(&b).with_context(|| format!("cannot open `{b}`"))?;
    let opts = Options {
        alpha,
        ..Options::default()
    };
    let c = taoke_evidence::compare(&ca, &cb, &opts)
        .with_context(|| format!("comparing `{a}` with `{b}`"))?;
    let text = match format {
        Format::Json => serde_json::to_string_pretty(&c)? + "\n",
        Format::Terminal => render_terminal(&c, out),
    };
    out.write_data(output.as_deref(), &text)?;
    let hit = match fail_on {
        None => false,
        Some(FailOn::Related) => matches!(
            c.verdict,
            Verdict::Related | Verdict::SameWeights | Verdict::Identical
        ),
        Some(FailOn::SameWeights) => {
            matches!(c.verdict, Verdict::SameWeights | Verdict::Identical)
        }
        Some(FailOn::Any) => c.verdict != Verdict::Independent,
    };
    Ok(if hit { Status::CheckFailed } else { Status::Ok })
}

fn render_terminal(c: &Comparison, out: &Output) -> String {
    let mut s = String::new();
    let p = match c.log10_p_value {
        Some(l) if l < -4.0 => format!("p = 1e{:.0}", l.floor()),
        Some(_) => format!("p = {:.3}", c.p_value.unwrap_or(f64::NAN)),
        None => "p = n/a".into(),
    };
    let kinds = if c.kinds.is_empty() {
        String::new()
    } else {
        format!(
            " [{}]",
            c.kinds
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let _ = writeln!(
        s,
        "{}{} ({p}, direction {})",
        out.bold(&c.verdict.as_str().to_uppercase()),
        kinds,
        serde_json::to_value(c.direction)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    );
    let _ = writeln!(s, "  {}", c.decisive);
    let _ = writeln!(
        s,
        "\nA: {} ({}, {}, {} blocks, {} parameters)\nB: {} ({}, {}, {} blocks, {} parameters)",
        c.a.path,
        c.a.format,
        c.a.architecture,
        c.a.blocks,
        c.a.parameters,
        c.b.path,
        c.b.format,
        c.b.architecture,
        c.b.blocks,
        c.b.parameters
    );
    if let Some(t) = &c.tokenizer {
        let _ = writeln!(s, "tokenizer: {} — {}", t.relation, t.summary);
    }
    let _ = writeln!(s, "\nevidence:");
    let _ = writeln!(
        s,
        "  {:<20} {:<28} {:>11} {:>10}  summary",
        "test", "scope", "statistic", "log10 p"
    );
    for e in &c.evidence {
        let lp = e
            .log10_p_value
            .map(|l| format!("{l:.1}"))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            s,
            "  {:<20} {:<28} {:>11.4} {:>10}  {}",
            e.test, e.scope, e.statistic, lp, e.summary
        );
    }
    if !c.components.is_empty() {
        let _ = writeln!(s, "\ncomponents:");
        for comp in &c.components {
            let lp = comp
                .log10_p_value
                .map(|l| format!("log10 p {l:.1}"))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "  {:<12} ↔ {:<12} {:<13} {lp}",
                comp.a,
                comp.b,
                comp.verdict.as_str()
            );
        }
    }
    if !c.layer_map.is_empty() {
        let _ = writeln!(s, "\nlayer map (A → B):");
        let links: Vec<String> = c
            .layer_map
            .iter()
            .map(|l| format!("{}→{}", l.a, l.b))
            .collect();
        let _ = writeln!(s, "  {}", links.join("  "));
    }
    for cv in &c.caveats {
        let _ = writeln!(s, "\nnote: {cv}");
    }
    s
}
