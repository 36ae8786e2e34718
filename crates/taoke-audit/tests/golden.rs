//! The Markdown, CycloneDX and JSON renderings of one audit, byte for byte against committed
//! files (`tests/golden/`), so that restructuring the renderers cannot change a byte unseen.
//! The audit is built without weights: a model's facts and two candidates' lineage evidence
//! written here, against the embedded knowledge base (a distillation of Llama 3.1 8B tagged
//! with its DeepSeek checkpoint id, so the chain holds a declared base, two licences with
//! every kind of duty check, compute thresholds and a rejected candidate).
//!
//! After an intended change of the outputs: `TAOKE_BLESS=1 cargo test -p taoke-audit --test
//! golden`, and review the diff of `tests/golden/`.

use std::path::{Path, PathBuf};

use taoke_audit::audit::{AncestorInput, Lineage, LineageMethod};
use taoke_audit::identity::{FileDigest, Identity, IdentityKind};
use taoke_audit::model::{DeclaredLicence, TextFile};
use taoke_audit::{audit, Audit, AuditOptions, Date, Kb, ModelFacts};

fn model() -> ModelFacts {
    ModelFacts {
        reference: "/somewhere/local/foo".into(),
        path: PathBuf::from("/somewhere/local/foo/model.safetensors"),
        identity: Identity {
            kind: IdentityKind::File,
            name: "foo/model.safetensors".into(),
            repo: None,
            revision: None,
            files: vec![FileDigest {
                name: "model.safetensors".into(),
                bytes: 16_060_522_496,
                sha256: Some("ab".repeat(32)),
            }],
        },
        format: "safetensors".into(),
        architecture_family: "llama".into(),
        architecture: Some("LlamaForCausalLM".into()),
        parameters: 8_030_261_248,
        active_parameters: None,
        experts: None,
        self_name: Some(("Foo-8B".into(), "README.md model_name".into())),
        declared_licences: vec![
            DeclaredLicence {
                value: "mit".into(),
                origin: "README.md license".into(),
            },
            DeclaredLicence {
                value: "acme-licence".into(),
                origin: "config.json license".into(),
            },
        ],
        model_card: Some(TextFile {
            name: "README.md".into(),
            text: "---\nlicense: mit\n---\n# Foo-8B\n\nBuilt with Llama.\n".into(),
        }),
        notice_files: vec![TextFile {
            name: "LICENSE".into(),
            text: "MIT License\n".into(),
        }],
    }
}

fn lineage(verdict: &str, log10_p: Option<f64>, summary: &str) -> Lineage {
    Lineage {
        method: LineageMethod::WeightComparison,
        verdict: verdict.into(),
        kinds: if verdict == "related" {
            vec!["fine-tuned".into()]
        } else {
            Vec::new()
        },
        direction: "b-from-a".into(),
        p_value: log10_p.map(|l| 10f64.powf(l)),
        log10_p_value: log10_p,
        summary: summary.into(),
    }
}

fn the_audit() -> Audit {
    let kb = Kb::embedded().unwrap();
    let hf = Identity {
        kind: IdentityKind::HuggingFace,
        name:
            "hf:deepseek-ai/DeepSeek-R1-Distill-Llama-8B@0123456789abcdef0123456789abcdef01234567"
                .into(),
        repo: Some("deepseek-ai/DeepSeek-R1-Distill-Llama-8B".into()),
        revision: Some("0123456789abcdef0123456789abcdef01234567".into()),
        files: vec![FileDigest {
            name: "model.safetensors".into(),
            bytes: 16_060_522_496,
            sha256: Some("cd".repeat(32)),
        }],
    };
    let candidates = [
        AncestorInput {
            reference: "deepseek-ai/DeepSeek-R1-Distill-Llama-8B".into(),
            identity: hf,
            kb_id: Some("deepseek-r1-distill-llama-8b".into()),
            kb_id_origin: Some("--base tag".into()),
            declared_licences: vec![DeclaredLicence {
                value: "mit".into(),
                origin: "README.md license".into(),
            }],
            notes: vec!["tag fits: architecture family llama".into()],
            lineage: lineage(
                "related",
                Some(-42.3),
                "attention weights match | layer for layer",
            ),
        },
        AncestorInput {
            reference: "/somewhere/local/other".into(),
            identity: Identity::named("other/model.gguf"),
            kb_id: None,
            kb_id_origin: None,
            declared_licences: Vec::new(),
            notes: Vec::new(),
            lineage: lineage("independent", None, "no shared weights"),
        },
    ];
    audit(
        &kb,
        &model(),
        &candidates,
        &AuditOptions {
            as_of: "2026-01-01".parse::<Date>().unwrap(),
            released_name: None,
            training_tokens: Some(2e12),
        },
    )
}

fn golden(name: &str, got: &str) {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("TAOKE_BLESS").is_some() {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e} (TAOKE_BLESS=1 writes it)", p.display()));
    if want != got {
        let line = want
            .lines()
            .zip(got.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(want.lines().count().min(got.lines().count()));
        panic!(
            "{name} differs from the golden file at line {}:\n  want: {:?}\n  got:  {:?}",
            line + 1,
            want.lines().nth(line),
            got.lines().nth(line)
        );
    }
}

#[test]
fn markdown_is_byte_identical() {
    golden("audit.md", &taoke_audit::markdown::render(&the_audit()));
}

#[test]
fn cyclonedx_is_byte_identical() {
    let a = the_audit();
    let files = [taoke_audit::cyclonedx::FileHash {
        path: PathBuf::from("model.safetensors"),
        name: "model.safetensors".into(),
        bytes: 16_060_522_496,
        sha256: "ab".repeat(32),
    }];
    let bom = taoke_audit::cyclonedx::bom(
        &a,
        &files,
        &taoke_audit::cyclonedx::BomOptions {
            timestamp: Some("2026-01-01T00:00:00Z".into()),
            tool_version: "0.0.0-golden".into(),
        },
    );
    golden(
        "audit.cdx.json",
        &(serde_json::to_string_pretty(&bom).unwrap() + "\n"),
    );
}

#[test]
fn json_is_byte_identical() {
    let a = the_audit();
    golden(
        "audit.json",
        &(serde_json::to_string_pretty(&a).unwrap() + "\n"),
    );
}

#[test]
fn no_local_path_reaches_the_outputs() {
    let a = the_audit();
    let md = taoke_audit::markdown::render(&a);
    let json = serde_json::to_string(&a).unwrap();
    let bom =
        serde_json::to_string(&taoke_audit::cyclonedx::bom(&a, &[], &Default::default())).unwrap();
    for (what, t) in [("markdown", md), ("json", json), ("cyclonedx", bom)] {
        assert!(!t.contains("/somewhere/local"), "{what}:\n{t}");
    }
}
