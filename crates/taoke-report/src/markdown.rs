//! Markdown (GitHub-flavoured tables): for pull requests, issues and model cards.

use std::fmt::Write as _;

use crate::model::{direction_wire, file_name, PairReport, Report, INVARIANT_PRODUCTS};

/// Largest heatmap side written as a Markdown table.
pub const MAX_TABLE_SIDE: usize = 24;

/// Escapes text for a Markdown table cell or paragraph (`|`, `*`, `_`, backticks, `<`,
/// newlines).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '|' | '*' | '_' | '`' | '[' | ']' | '\\' | '#' => {
                out.push('\\');
                out.push(ch);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Renders the report.
pub fn render(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# {}\n", escape(&r.title));
    if let Some(g) = &r.generated {
        let _ = writeln!(s, "_Generated {}_\n", escape(g));
    }
    if let Some(i) = &r.intro {
        let _ = writeln!(s, "{}\n", escape(i));
    }
    if r.pairs.len() > 1 {
        let _ = writeln!(s, "| pair | verdict | kinds | p |\n|---|---|---|---|");
        for p in &r.pairs {
            let _ = writeln!(
                s,
                "| [{}](#{}) | **{}** | {} | {} |",
                escape(&p.label),
                p.id,
                p.headline.verdict,
                escape(&p.headline.kinds.join(", ")),
                escape(&p.headline.p_text)
            );
        }
        s.push('\n');
    }
    for p in &r.pairs {
        render_pair(&mut s, p, r.pairs.len() > 1);
    }
    s
}

fn render_pair(s: &mut String, p: &PairReport, multi: bool) {
    let c = &p.comparison;
    let h = &p.headline;
    if multi {
        let _ = writeln!(s, "## {} {{#{}}}\n", escape(&p.label), p.id);
    }
    let kinds = if h.kinds.is_empty() {
        String::new()
    } else {
        format!(" — {}", escape(&h.kinds.join(", ")))
    };
    let _ = writeln!(
        s,
        "**Verdict: {}**{} ({}, direction {})\n",
        h.verdict.to_uppercase(),
        kinds,
        escape(&h.p_text),
        direction_wire(c.direction)
    );
    let _ = writeln!(s, "> {}\n", escape(&c.decisive));
    if let Some(n) = &p.note {
        let _ = writeln!(s, "{}\n", escape(n));
    }
    if let Some(e) = &p.expected {
        let _ = writeln!(
            s,
            "Ground truth: **{}**{}\n",
            escape(&e.relation),
            if e.kinds.is_empty() {
                String::new()
            } else {
                format!(" ({})", escape(&e.kinds.join(", ")))
            }
        );
    }
    let _ = writeln!(
        s,
        "| | file | format | architecture | blocks | parameters |\n|---|---|---|---|---|---|"
    );
    for (side, m) in [("A", &c.a), ("B", &c.b)] {
        let _ = writeln!(
            s,
            "| {side} | `{}` | {} | {} | {} | {} |",
            file_name(&m.path).replace('`', "'"),
            escape(&m.format),
            escape(&m.architecture),
            m.blocks,
            m.parameters
        );
    }
    s.push('\n');
    if let Some(t) = &c.tokenizer {
        let _ = writeln!(
            s,
            "**Tokenizer:** {} — {} (Jaccard {:.4}, equal ids {:.1} %)\n",
            escape(&t.relation),
            escape(&t.summary),
            t.jaccard,
            100.0 * t.equal_id_fraction
        );
    }
    let _ = writeln!(s, "### Evidence\n");
    let _ = writeln!(
        s,
        "| test | scope | statistic | p | log10 p | null range | summary |\n|---|---|---:|---:|---:|---|---|"
    );
    for e in &p.evidence {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} |",
            escape(&e.test),
            escape(&e.scope),
            e.statistic,
            e.p_text,
            e.log10_p_text,
            e.null_range
                .as_deref()
                .map(escape)
                .unwrap_or_else(|| "—".into()),
            escape(&e.summary)
        );
    }
    s.push('\n');
    if !c.components.is_empty() {
        let _ = writeln!(s, "### Components\n");
        let _ = writeln!(s, "| A | B | verdict | log10 p |\n|---|---|---|---:|");
        for comp in &c.components {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                escape(&comp.a),
                escape(&comp.b),
                comp.verdict.as_str(),
                comp.log10_p_value
                    .filter(|l| l.is_finite())
                    .map(|l| format!("{l:.1}"))
                    .unwrap_or_else(|| "—".into())
            );
        }
        s.push('\n');
    }
    if let Some(hm) = &p.heatmap {
        let _ = writeln!(
            s,
            "### Block matches (−log10 p, capped at {:.0}; `*` = layer map)\n",
            hm.cap
        );
        if hm.rows <= MAX_TABLE_SIDE && hm.cols <= MAX_TABLE_SIDE {
            let _ = write!(s, "| A ↓ B → |");
            for j in 0..hm.cols {
                let _ = write!(s, " {j} |");
            }
            let _ = write!(s, "\n|---|");
            for _ in 0..hm.cols {
                s.push_str("---:|");
            }
            s.push('\n');
            for (i, row) in hm.cells.iter().enumerate() {
                let _ = write!(s, "| {i} |");
                for (j, v) in row.iter().enumerate() {
                    let mark = if hm.links.contains(&(i, j)) { "*" } else { "" };
                    match v {
                        Some(v) => {
                            let _ =
                                write!(s, " {v:.1}{} |", if mark.is_empty() { "" } else { "\\*" });
                        }
                        None => s.push_str(" · |"),
                    }
                }
                s.push('\n');
            }
            s.push('\n');
        } else {
            let _ = writeln!(
                s,
                "{} × {} block pairs (too many for a table; see the HTML report).\n",
                hm.rows, hm.cols
            );
        }
    }
    if !c.layer_map.is_empty() {
        let links: Vec<String> = c
            .layer_map
            .iter()
            .map(|l| format!("{}→{}", l.a, l.b))
            .collect();
        let _ = writeln!(s, "**Layer map (A → B):** {}\n", links.join(", "));
    }
    if p.has_invariants() {
        let _ = writeln!(
            s,
            "### Invariant products along depth (relative difference)\n"
        );
        let _ = writeln!(
            s,
            "| block | {} |\n|---:|---:|---:|---:|",
            INVARIANT_PRODUCTS.join(" | ")
        );
        for d in &p.depth {
            if d.invariant.iter().all(Option::is_none) {
                continue;
            }
            let cells: Vec<String> = d
                .invariant
                .iter()
                .map(|v| v.map(|x| format!("{x:.2e}")).unwrap_or_else(|| "—".into()))
                .collect();
            let _ = writeln!(s, "| {} | {} |", d.block, cells.join(" | "));
        }
        s.push('\n');
    }
    if !c.caveats.is_empty() {
        let _ = writeln!(s, "### What this verdict does not prove\n");
        for cv in &c.caveats {
            let _ = writeln!(s, "- {}", escape(cv));
        }
        s.push('\n');
    }
}
