//! Terminal text: the verdict in one line, the decisive evidence, then the evidence table,
//! the components and the layer map.

use std::fmt::Write as _;

use crate::model::{PairReport, Report};

/// Terminal styling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Style {
    /// Use ANSI bold for the verdict.
    pub color: bool,
}

impl Style {
    fn bold(self, s: &str) -> String {
        if self.color {
            format!("\x1b[1m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }
}

/// Renders every pair of the report, separated by a blank line.
pub fn render(r: &Report, style: Style) -> String {
    let mut parts = Vec::with_capacity(r.pairs.len());
    for p in &r.pairs {
        parts.push(render_pair(p, style));
    }
    parts.join("\n")
}

/// Renders one pair.
pub fn render_pair(p: &PairReport, style: Style) -> String {
    let c = &p.comparison;
    let h = &p.headline;
    let mut s = String::new();
    let kinds = if h.kinds.is_empty() {
        String::new()
    } else {
        format!(" [{}]", h.kinds.join(", "))
    };
    let _ = writeln!(
        s,
        "{}{} ({}, direction {})",
        style.bold(&h.verdict.to_uppercase()),
        kinds,
        h.p_text,
        crate::model::direction_wire(c.direction)
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
    for e in &p.evidence {
        let lp = if e.log10_p_text == "—" {
            "-"
        } else {
            e.log10_p_text.as_str()
        };
        let _ = writeln!(
            s,
            "  {:<20} {:<28} {:>11} {:>10}  {}",
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
