//! The knowledge base: the repository's files load into the strict types and are consistent;
//! broken files are rejected with the problem named; rule statuses at dates.

use taoke_audit::kb::{Confidence, DutyKind, Kb, Period, Topic};
use taoke_audit::Date;

fn kb() -> Kb {
    Kb::embedded().expect("embedded knowledge base loads")
}

fn d(s: &str) -> Date {
    s.parse().unwrap()
}

#[test]
fn embedded_kb_is_consistent_and_complete() {
    let kb = kb();
    assert!(kb.problems().is_empty(), "{:?}", kb.problems());
    assert!(kb.licences.len() >= 20, "{} licences", kb.licences.len());
    assert!(kb.families.len() >= 10, "{} families", kb.families.len());
    assert!(kb.rules.len() >= 8, "{} rules", kb.rules.len());
    // Every referenced licence exists (also part of problems(), asserted here directly).
    for f in &kb.families {
        for c in &f.checkpoints {
            for l in &c.licences {
                assert!(kb.licence(l).is_some(), "{} -> {l}", c.id);
            }
        }
    }
    // Every rule has a source and a dated, ordered history; every fact a confidence (the
    // type has no "unverified" value, so parsing enforces it).
    for r in &kb.rules {
        assert!(r.source.starts_with("http"), "{}", r.id);
        assert!(!r.status.is_empty(), "{}", r.id);
        assert!(
            r.status.windows(2).all(|w| w[0].date <= w[1].date),
            "{}",
            r.id
        );
    }
    // Only Apache-2.0 and MIT are SPDX-listed.
    let listed: Vec<&str> = kb
        .licences
        .iter()
        .filter(|l| l.spdx_listed)
        .map(|l| l.spdx.as_str())
        .collect();
    assert_eq!(listed, ["Apache-2.0", "MIT"]);
}

#[test]
fn kb_folder_matches_embedded() {
    let dir = taoke_test::repo_root().join("kb");
    let from_dir = Kb::load_dir(&dir).unwrap();
    let emb = kb();
    assert_eq!(from_dir.licences, emb.licences);
    assert_eq!(from_dir.families, emb.families);
    assert_eq!(from_dir.rules, emb.rules);
}

#[test]
fn licence_duties_as_structured_fields() {
    let kb = kb();
    let l31 = kb.licence("llama3.1-community").unwrap();
    assert_eq!(l31.confidence, Confidence::Primary);
    let prefix = l31
        .duties
        .iter()
        .find(|x| x.kind == DutyKind::NamePrefix)
        .unwrap();
    assert_eq!(prefix.prefix.as_deref(), Some("Llama"));
    let attr = l31
        .duties
        .iter()
        .find(|x| x.kind == DutyKind::Attribution)
        .unwrap();
    assert_eq!(attr.strings, ["Built with Llama"]);
    let mau = l31
        .duties
        .iter()
        .find(|x| x.kind == DutyKind::MauLimit)
        .unwrap();
    assert_eq!(
        (mau.users, mau.period),
        (Some(700_000_000), Some(Period::Month))
    );
    let l3 = kb.licence("llama3-community").unwrap();
    assert!(l3
        .duties
        .iter()
        .any(|x| x.prefix.as_deref() == Some("Llama 3")));
    let q = kb.licence("qwen-license").unwrap();
    assert!(q.duties.iter().any(
        |x| x.kind == DutyKind::Attribution && x.strings.iter().any(|s| s == "Built with Qwen")
    ));
    for id in ["llama2-community", "tongyi-qianwen"] {
        assert!(
            kb.licence(id)
                .unwrap()
                .duties
                .iter()
                .any(|x| x.kind == DutyKind::OutputUseRestriction),
            "{id}"
        );
    }
    let l32 = kb.licence("llama3.2-community").unwrap();
    assert!(l32
        .duties
        .iter()
        .any(|x| x.kind == DutyKind::RegionalRestriction && x.regions == ["EU"]));
    // The Qwen2.5-72B checkpoint carries the Qwen licence; the 7B Apache-2.0.
    assert_eq!(
        kb.checkpoint("qwen2.5-72b").unwrap().1.licences,
        ["qwen-license"]
    );
    assert_eq!(
        kb.checkpoint("qwen2.5-7b").unwrap().1.licences,
        ["apache-2.0"]
    );
    assert_eq!(
        kb.find_checkpoint("meta-llama/Llama-3.1-8B").unwrap().1.id,
        "llama-3.1-8b"
    );
}

#[test]
fn rule_statuses_change_between_dates() {
    let kb = kb();
    let early = d("2024-06-01");
    let late = d("2026-01-01");
    let enforce = kb.rule("us-enforce-act-hr8315").unwrap();
    assert_eq!(
        enforce.status_at(early).unwrap().state.as_str(),
        "committee-approved"
    );
    assert_eq!(enforce.status_at(early).unwrap().date, d("2024-05-22"));
    assert_eq!(enforce.status_at(late).unwrap().state.as_str(), "lapsed");
    assert_eq!(enforce.status_at(late).unwrap().date, d("2025-01-03"));
    assert!(enforce.threshold.is_none());
    let bis = kb.rule("us-bis-eccn-4e091").unwrap();
    assert!(bis.status_at(early).is_none(), "not yet issued in mid-2024");
    assert_eq!(bis.status_at(late).unwrap().state.as_str(), "rescinded");
    assert_eq!(bis.status_at(late).unwrap().date, d("2025-05-13"));
    assert_eq!(
        bis.status_at(d("2025-03-01")).unwrap().state.as_str(),
        "in-force"
    );
    assert_eq!(bis.threshold, Some(1e26));
    let eu = kb.rule("eu-ai-act-art51-systemic-risk").unwrap();
    assert_eq!(eu.threshold, Some(1e25));
    assert!(!eu.binding_at(early));
    assert!(
        !eu.binding_at(d("2025-01-01")),
        "in force, Chapter V not yet applicable"
    );
    assert!(eu.binding_at(late));
    let filing = kb.rule("cn-genai-interim-measures").unwrap();
    assert_eq!(filing.topic, Topic::BaseModelFiling);
    assert!(filing.binding_at(early));
}

const L: &str = r#"
schema_version = 1
[[licence]]
id = "x"
name = "X"
spdx = "LicenseRef-X"
spdx_listed = false
url = "https://example.invalid/x"
commercial = "yes"
source = "https://example.invalid/x"
confidence = "primary"
[[licence.duty]]
kind = "name-prefix"
summary = "names"
source = "https://example.invalid/x"
confidence = "primary"
"#;

const F: &str = r#"
schema_version = 1
[[family]]
id = "f"
name = "F"
publisher = "P"
country = "US"
source = "https://example.invalid/f"
confidence = "secondary"
[[family.checkpoint]]
id = "c"
name = "C"
licences = ["x", "missing"]
source = "https://example.invalid/c"
confidence = "secondary"
"#;

const R: &str = r#"
schema_version = 1
[[rule]]
id = "r"
jurisdiction = "EU"
kind = "regulation"
topic = "compute-threshold"
name = "R"
instrument = "I"
metric = "training-flop"
threshold = 1e25
summary = "s"
source = "not-a-url"
confidence = "primary"
[[rule.status]]
state = "applicable"
date = "2025-08-02"
source = "https://example.invalid/r"
confidence = "primary"
[[rule.status]]
state = "in-force"
date = "2024-08-01"
source = "https://example.invalid/r"
confidence = "primary"
"#;

#[test]
fn inconsistent_kb_is_rejected_with_every_problem() {
    let err = Kb::from_toml("test", L, F, R).unwrap_err().to_string();
    for needle in [
        "licence `x` duty 1 (name-prefix): `prefix` and `trigger`",
        "checkpoint `c`: licence `missing` is not in licences.toml",
        "rule `r`: source `not-a-url` is not an http(s) URL",
        "rule `r`: a threshold needs a comparator",
        "rule `r`: status 2 (2024-08-01) is dated before status 1 (2025-08-02)",
    ] {
        assert!(err.contains(needle), "missing `{needle}` in {err}");
    }
}

#[test]
fn unknown_fields_and_bad_values_are_parse_errors() {
    let bad = L.replace(
        "commercial = \"yes\"",
        "commercial = \"yes\"\ncolour = \"red\"",
    );
    let e = Kb::from_toml("t", &bad, F, R).unwrap_err().to_string();
    assert!(e.contains("licences.toml") && e.contains("colour"), "{e}");
    let bad = R.replace(
        "confidence = \"primary\"\n[[rule.status]]",
        "confidence = \"unverified\"\n[[rule.status]]",
    );
    let e = Kb::from_toml("t", L, F, &bad).unwrap_err().to_string();
    assert!(e.contains("rules.toml") && e.contains("unverified"), "{e}");
    let bad = R.replace("2025-08-02", "2025-02-30");
    let e = Kb::from_toml("t", L, F, &bad).unwrap_err().to_string();
    assert!(e.contains("2025-02-30"), "{e}");
    let bad = L.replace("schema_version = 1", "schema_version = 2");
    let e = Kb::from_toml("t", &bad, F, R).unwrap_err().to_string();
    assert!(e.contains("schema_version 2"), "{e}");
}
