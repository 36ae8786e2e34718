//! JSON: the [`taoke_evidence::Comparison`] wire format (`schema_version` 1), pretty-printed with
//! a trailing newline. The schema is `schemas/compare.schema.json` ([`crate::schema`]).

use taoke_evidence::Comparison;

/// The comparison as pretty JSON.
pub fn render(c: &Comparison) -> Result<String, crate::Error> {
    Ok(serde_json::to_string_pretty(c)? + "\n")
}

/// Every comparison of a report as a JSON array (for multi-pair reports such as the demo).
pub fn render_all(r: &crate::Report) -> Result<String, crate::Error> {
    let all: Vec<&Comparison> = r.pairs.iter().map(|p| &p.comparison).collect();
    Ok(serde_json::to_string_pretty(&all)? + "\n")
}
