//! End to end on zoo models registered under real family names in a test knowledge base
//! (`tests/fixtures/kb/families.toml` with the repository's licences and rules): a fine-tune of
//! a "Llama 3.1" root released as "Foo-7B" fails the naming and attribution duties, released as
//! "Llama-3.1-Foo" passes the naming duty, an independent root inherits nothing; rule statuses
//! differ between 2024-06-01 and 2026-01-01; the Markdown report renders the chain and every
//! duty with its source link; the CycloneDX ML-BOM validates against the official 1.6 schema.
//!
//! The zoo's small profile (`taoke-zoo`, models a1, a1-ft-code, a2) is read from
//! `TAOKE_ZOO_DIR` or `~/.cache/taoke/zoo/small`; the tests skip when it is not built.

use std::path::{Path, PathBuf};

use serde_json::Value;
use taoke_audit::audit::{Audit, CheckStatus};
use taoke_audit::lineage::{verify, Candidate};
use taoke_audit::{audit, AncestorInput, AuditOptions, Date, Kb, ModelFacts};

fn zoo_dir() -> Option<PathBuf> {
    let base = match std::env::var_os("TAOKE_ZOO_DIR") {
        Some(d) => PathBuf::from(d),
        None => std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?
            .join("taoke")
            .join("zoo"),
    };
    let d = base.join("small").join("models");
    let ok = ["a1", "a1-ft-code", "a2"]
        .iter()
        .all(|m| d.join(m).join("model.safetensors").is_file());
    if ok {
        Some(d)
    } else if taoke_test::in_ci() {
        panic!("zoo small profile missing at {}", d.display());
    } else {
        eprintln!("skipping: zoo small profile not built at {}", d.display());
        None
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn test_kb(tmp: &Path) -> Kb {
    let dir = tmp.join("kb");
    std::fs::create_dir_all(&dir).unwrap();
    let repo_kb = taoke_test::repo_root().join("kb");
    for f in ["licences.toml", "rules.toml"] {
        std::fs::copy(repo_kb.join(f), dir.join(f)).unwrap();
    }
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kb/families.toml"),
        dir.join("families.toml"),
    )
    .unwrap();
    Kb::load_dir(&dir).unwrap()
}

struct Fixture {
    _tmp: tempfile::TempDir,
    kb: Kb,
    root: PathBuf,
    finetune: PathBuf,
    other_root: PathBuf,
}

fn fixture() -> Option<Fixture> {
    let zoo = zoo_dir()?;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("llama-root");
    let finetune = tmp.path().join("foo");
    let other_root = tmp.path().join("other-root");
    copy_dir(&zoo.join("a1"), &root);
    copy_dir(&zoo.join("a1-ft-code"), &finetune);
    copy_dir(&zoo.join("a2"), &other_root);
    // The fine-tune's model card: declares Apache-2.0 and lacks "Built with Llama".
    std::fs::write(
        finetune.join("README.md"),
        "---\nlicense: apache-2.0\n---\n# Foo\n\nA small code model we trained.\n",
    )
    .unwrap();
    let kb = test_kb(tmp.path());
    Some(Fixture {
        _tmp: tmp,
        kb,
        root,
        finetune,
        other_root,
    })
}

fn run(fx: &Fixture, model: &Path, name: &str, as_of: &str, tokens: Option<f64>) -> Audit {
    let ck = taoke_model::open(model.to_str().unwrap()).unwrap();
    let facts = ModelFacts::from_checkpoint(&ck);
    let cand: Candidate = format!("{}=zoo-llama-3.1-root", fx.root.display())
        .parse()
        .unwrap();
    let input: AncestorInput =
        verify(&fx.kb, &ck, &cand, &taoke_evidence::Options::default()).unwrap();
    audit(
        &fx.kb,
        &facts,
        &[input],
        &AuditOptions {
            as_of: as_of.parse::<Date>().unwrap(),
            released_name: Some(name.to_owned()),
            training_tokens: tokens,
        },
    )
}

fn check<'a>(a: &'a Audit, kind: &str) -> &'a taoke_audit::audit::DutyCheck {
    a.duty_checks()
        .find(|(_, d)| d.kind == kind)
        .map(|(_, d)| d)
        .unwrap_or_else(|| panic!("no {kind} check"))
}

#[test]
fn finetune_of_llama_root_inherits_duties() {
    let Some(fx) = fixture() else { return };
    let a = run(&fx, &fx.finetune, "Foo-7B", "2026-01-01", Some(1e6));
    assert_eq!(a.ancestors.len(), 1, "{:?}", a.rejected);
    let an = &a.ancestors[0];
    assert_eq!(an.lineage.verdict, "related");
    assert!(
        an.lineage.log10_p_value.unwrap() < -20.0,
        "{:?}",
        an.lineage
    );
    let k = an.kb.as_ref().unwrap();
    assert_eq!(
        (k.publisher.as_str(), k.country.as_str()),
        ("Meta Platforms, Inc.", "US")
    );
    assert_eq!(an.licences.len(), 1);
    assert_eq!(an.licences[0].id, "llama3.1-community");
    let name = check(&a, "name-prefix");
    assert_eq!(name.status, CheckStatus::Fail, "{}", name.detail);
    assert!(name
        .detail
        .contains("\"Foo-7B\" does not begin with \"Llama\""));
    let attr = check(&a, "attribution");
    assert_eq!(attr.status, CheckStatus::Fail, "{}", attr.detail);
    assert!(attr.detail.contains("Built with Llama"));
    let decl = check(&a, "licence-declared");
    assert_eq!(decl.status, CheckStatus::Fail, "{}", decl.detail);
    assert!(decl.detail.contains("apache-2.0"));
    assert_eq!(check(&a, "mau-limit").status, CheckStatus::Manual);
    assert_eq!(check(&a, "notice-file").status, CheckStatus::Fail);
    assert_eq!(check(&a, "licence-copy").status, CheckStatus::NotChecked);
    assert_eq!(a.failures().len(), 4);
    // Compute: the root's 6·N·D plus the modification's, inputs shown.
    let c = &a.compute;
    let anc = c.ancestor.as_ref().unwrap();
    assert_eq!(anc.flop, 6.0 * 311_872.0 * 1e6);
    let m = c.modification.as_ref().unwrap();
    assert_eq!(m.parameters.value, 311_872.0);
    assert_eq!(m.tokens.source, "--training-tokens");
    assert_eq!(c.cumulative_flop, Some(2.0 * 6.0 * 311_872.0 * 1e6));
    assert_eq!(c.modification_fraction, Some(1.0));
    assert!(c.thresholds.iter().all(|t| !t.meets));
}

#[test]
fn llama_prefixed_name_passes_the_naming_duty() {
    let Some(fx) = fixture() else { return };
    let a = run(&fx, &fx.finetune, "Llama-3.1-Foo", "2026-01-01", None);
    assert_eq!(check(&a, "name-prefix").status, CheckStatus::Pass);
    assert_eq!(check(&a, "attribution").status, CheckStatus::Fail);
    // With the attribution in the model card and the licence declared, both pass.
    std::fs::write(
        fx.finetune.join("README.md"),
        "---\nlicense: llama3.1\n---\n# Llama-3.1-Foo\n\nBuilt with Llama.\n",
    )
    .unwrap();
    let a = run(&fx, &fx.finetune, "Llama-3.1-Foo", "2026-01-01", None);
    assert_eq!(check(&a, "attribution").status, CheckStatus::Pass);
    assert_eq!(check(&a, "licence-declared").status, CheckStatus::Pass);
    assert_eq!(check(&a, "name-prefix").status, CheckStatus::Pass);
}

#[test]
fn independent_root_inherits_nothing() {
    let Some(fx) = fixture() else { return };
    let a = run(&fx, &fx.other_root, "Foo-7B", "2026-01-01", None);
    assert!(a.ancestors.is_empty(), "{:?}", a.ancestors);
    assert_eq!(a.rejected.len(), 1);
    assert_eq!(a.rejected[0].verdict, "independent");
    assert_eq!(a.duty_checks().count(), 0);
    assert!(a.failures().is_empty());
    let md = taoke_audit::markdown::render(&a);
    assert!(md.contains("No ancestor found among the candidates"));
    assert!(md.contains("None inherited."));
}

#[test]
fn rule_statuses_differ_between_dates() {
    let Some(fx) = fixture() else { return };
    let early = run(&fx, &fx.finetune, "Foo-7B", "2024-06-01", None);
    let late = run(&fx, &fx.finetune, "Foo-7B", "2026-01-01", None);
    let state = |a: &Audit, id: &str| {
        a.export_rules
            .iter()
            .find(|r| r.rule == id)
            .map(|r| (r.state.clone(), r.state_date))
            .unwrap()
    };
    let d = |s: &str| Some(s.parse::<Date>().unwrap());
    assert_eq!(
        state(&early, "us-enforce-act-hr8315"),
        ("committee-approved".to_owned(), d("2024-05-22"))
    );
    assert_eq!(
        state(&late, "us-enforce-act-hr8315"),
        ("lapsed".to_owned(), d("2025-01-03"))
    );
    assert_eq!(
        state(&early, "us-bis-eccn-4e091"),
        ("not-yet".to_owned(), None)
    );
    assert_eq!(
        state(&late, "us-bis-eccn-4e091"),
        ("rescinded".to_owned(), d("2025-05-13"))
    );
    let bis = late
        .export_rules
        .iter()
        .find(|r| r.rule == "us-bis-eccn-4e091")
        .unwrap();
    assert!(bis
        .applies
        .contains("never covered published (open) weights"));
    let filing = &late.filing_rules[0];
    assert!(filing
        .applies
        .contains("Llama-3.1-Zoo-Root (Meta Platforms, Inc., US)"));
}

#[test]
fn markdown_renders_chain_and_duties_with_sources() {
    let Some(fx) = fixture() else { return };
    let a = run(&fx, &fx.finetune, "Foo-7B", "2026-01-01", Some(1e6));
    let md = taoke_audit::markdown::render(&a);
    assert!(md.starts_with("# Lineage audit: Foo-7B\n"));
    assert!(md.contains("not legal advice"));
    // The chain: model ← related (p) ← the root with publisher and country.
    let chain = md
        .lines()
        .find(|l| l.starts_with("`Foo-7B` ← *related, p = 1e"))
        .unwrap_or_else(|| panic!("no chain line in\n{md}"));
    assert!(
        chain.ends_with("← **Llama-3.1-Zoo-Root (Meta Platforms, Inc., US)**"),
        "{chain}"
    );
    // Every duty of the Llama 3.1 licence with its check and source link.
    let lic = "https://github.com/meta-llama/llama-models/blob/main/models/llama3_1/LICENSE";
    for (kind, status) in [
        ("name-prefix", "**FAIL**"),
        ("attribution", "**FAIL**"),
        ("licence-declared", "**FAIL**"),
        ("mau-limit", "manual"),
        ("acceptable-use-policy", "manual"),
    ] {
        let row = md
            .lines()
            .find(|l| l.starts_with(&format!("| {kind}: ")))
            .unwrap_or_else(|| panic!("no {kind} row"));
        assert!(row.contains(&format!("| {status} |")), "{row}");
        assert!(row.contains(&format!("[source]({lic})")), "{row}");
    }
    assert!(md.contains("6 × N = 3.12e5 parameters"));
    assert!(md.contains(
        "| Enhancing National Frameworks for Overseas Restriction of Critical Exports Act"
    ));
    assert!(md.contains("lapsed: not enacted"));
}

#[test]
fn cyclonedx_bom_validates_against_the_1_6_schema() {
    let Some(fx) = fixture() else { return };
    let a = run(&fx, &fx.finetune, "Foo-7B", "2026-01-01", Some(1e6));
    let ck = taoke_model::open(fx.finetune.to_str().unwrap()).unwrap();
    let files = taoke_audit::cyclonedx::hash_checkpoint(&ck).unwrap();
    assert_eq!(files.len(), 1);
    // The streamed digest equals the digest of the whole file.
    let whole = {
        use sha2::Digest;
        let b = std::fs::read(fx.finetune.join("model.safetensors")).unwrap();
        sha2::Sha256::digest(&b)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<String>()
    };
    assert_eq!(files[0].sha256, whole);
    let bom = taoke_audit::cyclonedx::bom(
        &a,
        &files,
        &taoke_audit::cyclonedx::BomOptions {
            timestamp: Some("2026-01-01T00:00:00Z".into()),
            tool_version: "0.1.0".into(),
        },
    );
    let schemas = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let load = |n: &str| -> Value {
        serde_json::from_slice(&std::fs::read(schemas.join(n)).unwrap()).unwrap()
    };
    let registry = jsonschema::Registry::new()
        .add(
            "http://cyclonedx.org/schema/spdx.SNAPSHOT.schema.json",
            load("spdx.SNAPSHOT.schema.json"),
        )
        .unwrap()
        .add(
            "http://cyclonedx.org/schema/jsf-0.82.SNAPSHOT.schema.json",
            load("jsf-0.82.SNAPSHOT.schema.json"),
        )
        .unwrap()
        .prepare()
        .unwrap();
    let validator = jsonschema::options()
        .with_registry(&registry)
        .build(&load("bom-1.6.SNAPSHOT.schema.json"))
        .unwrap();
    let errors: Vec<String> = validator.iter_errors(&bom).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}\n{bom:#}");
    // A broken BOM fails (the validator is not vacuous).
    let mut bad = bom.clone();
    bad["components"][0]["type"] = Value::from("weights");
    assert!(!validator.is_valid(&bad));

    let comp = &bom["components"][0];
    assert_eq!(comp["type"], "machine-learning-model");
    assert_eq!(comp["hashes"][0]["content"], Value::from(whole));
    assert_eq!(
        comp["modelCard"]["modelParameters"]["architectureFamily"],
        "llama"
    );
    let anc = &comp["pedigree"]["ancestors"][0];
    assert_eq!(anc["name"], "Llama-3.1-Zoo-Root");
    let props = anc["properties"].as_array().unwrap();
    let get = |n: &str| {
        props
            .iter()
            .find(|p| p["name"] == n)
            .and_then(|p| p["value"].as_str())
            .unwrap_or_else(|| panic!("no {n}"))
            .to_owned()
    };
    assert_eq!(get("taoke:lineage.verdict"), "related");
    assert!(get("taoke:lineage.log10_p_value").parse::<f64>().unwrap() < -20.0);
    assert_eq!(get("taoke:kb.checkpoint"), "zoo-llama-3.1-root");
    let lic = comp["licenses"].as_array().unwrap();
    assert_eq!(lic[0]["license"]["acknowledgement"], "declared");
    assert_eq!(lic[1]["license"]["acknowledgement"], "concluded");
}
