//! The audit as a Markdown report: the ancestry chain, every inherited duty with its check and
//! source link, the compute estimate against each threshold, and the export and filing rules at
//! the date.

use std::fmt::Write as _;

use crate::audit::{Audit, CheckStatus, DeclaredReport, LineageMethod, RuleStatusReport};
use crate::compute::{sci, Estimate, ParameterBasis};
use crate::identity::Identity;
use crate::kb::Tristate;

/// Escapes a table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn link(url: &str) -> String {
    format!("[source]({url})")
}

fn p_text(log10: Option<f64>, p: Option<f64>) -> String {
    match (log10, p) {
        (Some(l), _) if l < -4.0 => format!("p = 1e{:.0}", l.floor()),
        (_, Some(p)) => format!("p = {p:.3}"),
        _ => "p n/a".to_owned(),
    }
}

fn status_text(s: CheckStatus) -> &'static str {
    match s {
        CheckStatus::Pass => "pass",
        CheckStatus::Fail => "**FAIL**",
        CheckStatus::NotChecked => "not checked",
        CheckStatus::Manual => "manual",
    }
}

fn estimate_line(s: &mut String, e: &Estimate) {
    let basis = match e.parameter_basis {
        ParameterBasis::Active => "active parameters",
        ParameterBasis::Total => "parameters",
    };
    let conf = |c: Option<crate::kb::Confidence>| {
        c.map(|c| format!(", {}", c.as_str())).unwrap_or_default()
    };
    let src = |x: &str| {
        if x.starts_with("http") {
            link(x)
        } else {
            x.to_owned()
        }
    };
    let _ = writeln!(
        s,
        "- {}: 6 × N = {} {basis} ({}{}) × D = {} tokens ({}{}) ≈ **{} FLOP** (estimate)",
        e.subject,
        sci(e.parameters.value),
        src(&e.parameters.source),
        conf(e.parameters.confidence),
        sci(e.tokens.value),
        src(&e.tokens.source),
        conf(e.tokens.confidence),
        sci(e.flop)
    );
    if let Some(r) = &e.reported_flop {
        let _ = writeln!(
            s,
            "  - reported elsewhere: {} FLOP ({}{})",
            sci(r.value),
            src(&r.source),
            conf(r.confidence)
        );
    }
}

fn rule_rows(s: &mut String, rules: &[RuleStatusReport]) {
    let _ = writeln!(
        s,
        "| rule | jurisdiction | status at date | since | published weights | for this model | source |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|");
    for r in rules {
        let since = match (&r.state_date, &r.first) {
            (Some(d), _) => d.to_string(),
            (None, Some((st, d))) => format!("({st} on {d})"),
            (None, None) => "-".into(),
        };
        let pw = match r.covers_published_weights {
            Some(Tristate::Yes) => "covered",
            Some(Tristate::No) => "not covered",
            Some(Tristate::Unknown) => "unclear",
            None => "-",
        };
        let mut state = r.state.clone();
        if let Some(n) = &r.state_note {
            state = format!("{state}: {n}");
        }
        let src = r.state_source.as_deref().unwrap_or(&r.source);
        let conf = r.state_confidence.unwrap_or(r.confidence);
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} ({}) |",
            cell(&r.name),
            cell(&r.jurisdiction),
            cell(&state),
            since,
            pw,
            cell(&r.applies),
            link(src),
            conf.as_str()
        );
    }
}

/// One line per declared licence, beside the knowledge-base licence it names.
fn declared_lines(s: &mut String, what: &str, declared: &[DeclaredReport]) {
    if declared.is_empty() {
        let _ = writeln!(
            s,
            "- {what}: none (README.md front matter, config.json, GGUF general.license, ONNX metadata)"
        );
    }
    for d in declared {
        let kb = match (&d.kb_licence, &d.kb_licence_name) {
            (Some(id), Some(n)) => format!("knowledge base: {n} (`{id}`)"),
            _ => "not in the knowledge base".to_owned(),
        };
        let _ = writeln!(s, "- {what}: `{}` ({}) — {kb}", cell(&d.value), d.origin);
    }
}

/// The title (released name, else the model's portable name).
fn title(a: &Audit) -> String {
    a.released_name
        .as_ref()
        .map(|(n, _)| n.clone())
        .unwrap_or_else(|| a.model.identity.name.clone())
}

/// The title, the disclaimer and the model's facts.
fn header(s: &mut String, a: &Audit, title: &str) {
    let _ = writeln!(s, "# Lineage audit: {title}\n");
    let _ = writeln!(s, "> {}\n", a.disclaimer);
    let m = &a.model;
    let _ = writeln!(s, "- model: `{}` ({})", m.identity.display(), m.format);
    let _ = writeln!(
        s,
        "- architecture: {}{}",
        m.architecture_family,
        m.architecture
            .as_ref()
            .map(|x| format!(" ({x})"))
            .unwrap_or_default()
    );
    let _ = write!(s, "- parameters: {}", m.parameters);
    if let Some(ap) = m.active_parameters {
        let _ = write!(s, " ({ap} active per token)");
    }
    let _ = writeln!(s);
    if let Some((n, o)) = &a.released_name {
        let _ = writeln!(s, "- released name checked: \"{n}\" (from {o})");
    }
    declared_lines(s, "declared licence", &a.declared_licences);
    let _ = writeln!(s, "- rule statuses as of: {}", a.as_of);
    let _ = writeln!(s, "- knowledge base: {}\n", a.kb);
}

/// The chain in one line: the model ← how ← ancestor ← …
fn chain_line(s: &mut String, a: &Audit, title: &str) {
    let mut chain = format!("`{}`", cell(title));
    for an in &a.ancestors {
        let n = an
            .kb
            .as_ref()
            .map(|k| {
                format!(
                    "{} ({}, {})",
                    k.checkpoint_name.as_deref().unwrap_or(&k.family_name),
                    k.publisher,
                    k.country
                )
            })
            .unwrap_or_else(|| an.reference.clone());
        let how = match an.lineage.method {
            LineageMethod::WeightComparison => format!(
                "{}, {}",
                an.lineage.verdict,
                p_text(an.lineage.log10_p_value, an.lineage.p_value)
            ),
            LineageMethod::KnowledgeBase => "declared base".to_owned(),
        };
        let _ = write!(chain, " ← *{how}* ← **{}**", cell(&n));
    }
    let _ = writeln!(s, "{chain}\n");
}

/// One table row per ancestor: who, publisher, lineage, evidence, source.
fn ancestor_table(s: &mut String, a: &Audit) {
    let _ = writeln!(
        s,
        "| # | ancestor | publisher (country) | lineage | evidence | source |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|");
    for an in &a.ancestors {
        let (name, pubc, src) = match &an.kb {
            Some(k) => (
                k.checkpoint_name
                    .clone()
                    .unwrap_or_else(|| k.family_name.clone()),
                format!("{} ({})", k.publisher, k.country),
                format!("{} ({})", link(&k.source), k.confidence.as_str()),
            ),
            None => (
                an.identity
                    .as_ref()
                    .map_or_else(|| an.reference.clone(), Identity::display),
                "unknown".into(),
                "-".into(),
            ),
        };
        let lin = match an.lineage.method {
            LineageMethod::WeightComparison => {
                let kinds = if an.lineage.kinds.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", an.lineage.kinds.join(", "))
                };
                format!(
                    "weights: {}{kinds}, {}",
                    an.lineage.verdict,
                    p_text(an.lineage.log10_p_value, an.lineage.p_value)
                )
            }
            LineageMethod::KnowledgeBase => "declared by its publisher".into(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            an.depth,
            cell(&name),
            cell(&pubc),
            cell(&lin),
            cell(&an.lineage.summary),
            src
        );
    }
    let _ = writeln!(s);
}

/// Each ancestor's declared licences and notes.
fn ancestor_notes(s: &mut String, a: &Audit) {
    for an in &a.ancestors {
        if an.identity.is_some() {
            let what = format!("declared by `{}`", cell(&an.reference));
            declared_lines(s, &what, &an.declared_licences);
        }
        for n in &an.notes {
            let _ = writeln!(s, "- note ({}): {}", cell(&an.reference), n);
        }
    }
}

/// The ancestry chain section, with the candidates that are not ancestors.
fn chain_section(s: &mut String, a: &Audit, title: &str) {
    let _ = writeln!(s, "## Ancestry chain\n");
    if a.ancestors.is_empty() {
        let _ = writeln!(
            s,
            "No ancestor found among the candidates: no licence duty or rule is inherited.\n"
        );
    } else {
        chain_line(s, a, title);
        ancestor_table(s, a);
        ancestor_notes(s, a);
    }
    if a.ancestors
        .iter()
        .any(|an| !an.notes.is_empty() || an.identity.is_some())
    {
        let _ = writeln!(s);
    }
    if !a.rejected.is_empty() {
        let _ = writeln!(s, "\nCandidates that are not ancestors:\n");
        for r in &a.rejected {
            let _ = writeln!(s, "- `{}`: {} — {}", r.reference, r.verdict, r.summary);
        }
        let _ = writeln!(s);
    }
}

/// Every inherited licence with its duties and checks.
fn duties_section(s: &mut String, a: &Audit) {
    let _ = writeln!(s, "## Inherited licences and duties\n");
    let mut any = false;
    for an in &a.ancestors {
        for l in &an.licences {
            any = true;
            let who = an
                .kb
                .as_ref()
                .and_then(|k| k.checkpoint_name.clone())
                .unwrap_or_else(|| an.reference.clone());
            let _ = writeln!(
                s,
                "### {} (`{}`{}) — from {}\n",
                l.name,
                l.spdx,
                if l.spdx_listed {
                    ""
                } else {
                    ", not on the SPDX list"
                },
                who
            );
            let _ = writeln!(
                s,
                "Licence text: {} · record {} ({})\n",
                l.url,
                link(&l.source),
                l.confidence.as_str()
            );
            let _ = writeln!(s, "| duty | check | detail | source |");
            let _ = writeln!(s, "|---|---|---|---|");
            for d in &l.duties {
                let _ = writeln!(
                    s,
                    "| {}: {} | {} | {} | {} ({}) |",
                    d.kind,
                    cell(&d.summary),
                    status_text(d.status),
                    cell(&d.detail),
                    link(&d.source),
                    d.confidence.as_str()
                );
            }
            let _ = writeln!(s);
        }
    }
    if !any {
        let _ = writeln!(s, "None inherited.\n");
    }
}

/// The compute estimates and the thresholds they are compared with.
fn compute_section(s: &mut String, a: &Audit) {
    let c = &a.compute;
    let _ = writeln!(s, "## Training compute (estimate)\n");
    if let Some(e) = &c.ancestor {
        estimate_line(s, e);
    }
    if let Some(e) = &c.modification {
        estimate_line(s, e);
    }
    match c.cumulative_flop {
        Some(x) => {
            let _ = writeln!(
                s,
                "- cumulative estimate compared below: **{} FLOP**",
                sci(x)
            );
        }
        None => {
            let _ = writeln!(s, "- no estimate possible");
        }
    }
    if let Some(f) = c.modification_fraction {
        let _ = writeln!(
            s,
            "- modification / ancestor compute: {:.3} (EU GPAI guidelines: a downstream modifier becomes a provider above one third, indicative)",
            f
        );
    }
    for n in &c.notes {
        let _ = writeln!(s, "- note: {n}");
    }
    if !c.thresholds.is_empty() {
        let _ = writeln!(
            s,
            "\n| rule | jurisdiction | threshold | status at {} | binding | estimate | source |",
            a.as_of
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|");
        for t in &c.thresholds {
            let st = match (&t.state, &t.state_date) {
                (Some(st), Some(d)) => format!("{st} since {d}"),
                _ => "not yet".to_owned(),
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} {} | {} | {} | {} {} | {} ({}) |",
                cell(&t.name),
                t.jurisdiction,
                t.comparator.as_str(),
                sci(t.threshold),
                st,
                if t.binding { "yes" } else { "no" },
                sci(t.estimate_flop),
                if t.meets { "meets it" } else { "below" },
                link(&t.source),
                t.confidence.as_str()
            );
        }
    }
    let _ = writeln!(s);
}

/// Renders the audit as Markdown: header, chain, duties, compute, export and filing rules.
pub fn render(a: &Audit) -> String {
    let mut s = String::new();
    let title = title(a);
    header(&mut s, a, &title);
    chain_section(&mut s, a, &title);
    duties_section(&mut s, a);
    compute_section(&mut s, a);
    let _ = writeln!(s, "## Export-control rules at {}\n", a.as_of);
    rule_rows(&mut s, &a.export_rules);
    let _ = writeln!(s, "\n## Base-model filing rules at {}\n", a.as_of);
    rule_rows(&mut s, &a.filing_rules);
    let _ = writeln!(s, "\n---\n{}", a.disclaimer);
    s
}
