//! Knowledge-base tags are checked: an unknown id is refused with its near matches, a tag that
//! cannot be true of the weights (a 22.7 M-parameter BERT tagged as an 8 B Llama) is refused
//! with the reason before any compute is derived from it, and a tag that fits is used. On the
//! fetched real model all-MiniLM-L6-v2 and its int8 ONNX export (`scripts/fetch-test-models`;
//! the tests skip when they are missing, outside CI).

use std::path::Path;

use taoke_audit::lineage::{verify, Candidate};
use taoke_audit::{audit, AuditOptions, Date, Error, Kb, ModelFacts};
use taoke_test::{model_or_skip, test_model};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn minilm_kb(tmp: &Path) -> Kb {
    let dir = tmp.join("kb");
    std::fs::create_dir_all(&dir).unwrap();
    let repo_kb = taoke_test::repo_root().join("kb");
    for f in ["licences.toml", "rules.toml"] {
        std::fs::copy(repo_kb.join(f), dir.join(f)).unwrap();
    }
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kb-minilm/families.toml"),
        dir.join("families.toml"),
    )
    .unwrap();
    Kb::load_dir(&dir).unwrap()
}

fn cand(model: &Path, id: &str) -> Candidate {
    format!("{}={id}", model.display()).parse().unwrap()
}

fn open(p: &Path) -> taoke_model::Checkpoint {
    taoke_model::open(s(p)).unwrap()
}

#[test]
fn unknown_ids_are_refused_with_near_matches() {
    let kb = Kb::embedded().unwrap();
    for (typo, want) in [
        ("llama-3.1-8", "llama-3.1-8b"),
        ("lama-3.1-8b", "llama-3.1-8b"),
        ("LLAMA-3.1-8B", "llama-3.1-8b"),
        ("qwen2.5-7", "qwen2.5-7b"),
    ] {
        let err = kb.resolve_tag(typo).unwrap_err();
        let Error::UnknownKbId { id, near } = &err else {
            panic!("{err}")
        };
        assert_eq!(id, typo);
        assert_eq!(
            near.first().map(String::as_str),
            Some(want),
            "{typo}: {near:?}"
        );
        assert!(near.len() <= taoke_audit::kb::MAX_NEAR_IDS);
        let msg = err.to_string();
        assert!(msg.contains(&format!("did you mean `{want}`")), "{msg}");
        assert!(msg.contains("taoke kb list"), "{msg}");
    }
    // Far from everything: no suggestion, but the way to list the ids.
    let err = kb.resolve_tag("zzzzzzzzzzzz").unwrap_err();
    assert!(matches!(&err, Error::UnknownKbId { near, .. } if near.is_empty()));
    assert!(err.to_string().contains("`taoke kb list` shows the ids"));
    // Valid ids resolve.
    assert!(kb.resolve_tag("llama-3.1-8b").is_ok());
    assert!(kb.resolve_tag("llama").is_ok());
}

#[test]
fn an_unknown_tag_is_refused_before_the_models_are_read() {
    let kb = Kb::embedded().unwrap();
    let ck = open(&model_or_skip!(test_model("all-MiniLM-L6-v2")));
    // The candidate path does not even exist: the id is checked first.
    let c: Candidate = "/nonexistent/base=llama-3.1-8".parse().unwrap();
    let err = verify(&kb, &ck, &c, &taoke_evidence::Options::default()).unwrap_err();
    assert!(matches!(err, Error::UnknownKbId { .. }), "{err}");
}

#[test]
fn a_bert_tagged_as_llama_is_refused_with_the_reason() {
    let kb = Kb::embedded().unwrap();
    let minilm = model_or_skip!(test_model("all-MiniLM-L6-v2"));
    let int8 = model_or_skip!(test_model("all-MiniLM-L6-v2-int8-onnx/model.onnx"));
    let model = open(&int8);
    let err = verify(
        &kb,
        &model,
        &cand(&minilm, "llama-3.1-8b"),
        &taoke_evidence::Options::default(),
    )
    .unwrap_err();
    let Error::TagMismatch { id, reason, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(id, "llama-3.1-8b");
    assert!(
        reason.contains("the architecture family is bert (BertModel)"),
        "{reason}"
    );
    assert!(reason.contains("LlamaForCausalLM"), "{reason}");
    assert!(
        reason.contains("it has 22.7 M parameters, the knowledge base records 8.000 B: 352× apart"),
        "{reason}"
    );
    // The family alone is refused on the architecture.
    let err = verify(
        &kb,
        &model,
        &cand(&minilm, "llama"),
        &taoke_evidence::Options::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::TagMismatch { reason, .. } if reason.contains("bert") && !reason.contains("parameters")),
        "{err}"
    );
}

#[test]
fn a_tag_that_fits_is_used_and_names_the_base_portably() {
    let tmp = tempfile::tempdir().unwrap();
    let kb = minilm_kb(tmp.path());
    let minilm = model_or_skip!(test_model("all-MiniLM-L6-v2"));
    let int8 = model_or_skip!(test_model("all-MiniLM-L6-v2-int8-onnx/model.onnx"));
    let model = open(&int8);
    let input = verify(
        &kb,
        &model,
        &cand(&minilm, "all-minilm-l6-v2"),
        &taoke_evidence::Options::default(),
    )
    .unwrap();
    assert_eq!(input.kb_id.as_deref(), Some("all-minilm-l6-v2"));
    assert!(
        input.notes.iter().any(|n| n.starts_with(
            "tag fits: architecture family bert, 22.7 M parameters (22.7 M recorded, within 4×)"
        )),
        "{:?}",
        input.notes
    );
    assert_eq!(input.lineage.verdict, "same-weights");
    // The base is named by its folder and file, with the file's digest; no local path.
    assert_eq!(input.identity.name, "all-MiniLM-L6-v2/model.safetensors");
    let sha = input.identity.files[0].sha256.as_deref().unwrap();
    assert_eq!(sha.len(), 64);
    // The base declares Apache-2.0 in its model card.
    assert_eq!(input.declared_licences[0].value, "apache-2.0");
    assert_eq!(input.declared_licences[0].origin, "README.md license");

    let mut facts = ModelFacts::from_checkpoint(&model);
    facts.identity.hash_files(&model).unwrap();
    let a = audit(
        &kb,
        &facts,
        &[input],
        &AuditOptions {
            as_of: "2026-01-01".parse::<Date>().unwrap(),
            released_name: None,
            training_tokens: None,
        },
    );
    assert_eq!(a.ancestors.len(), 1);
    let an = &a.ancestors[0];
    assert_eq!(an.licences[0].id, "apache-2.0");
    assert_eq!(
        an.declared_licences[0].kb_licence.as_deref(),
        Some("apache-2.0")
    );
    // The int8 export itself declares nothing.
    assert!(a.declared_licences.is_empty());
    assert_eq!(
        a.model.identity.name,
        "all-MiniLM-L6-v2-int8-onnx/model.onnx"
    );
}

#[test]
fn a_name_match_that_does_not_fit_is_dropped_with_a_note() {
    // A KB whose llama-3.1-8b entry carries MiniLM's repository id as an alias: the base's
    // folder name matches it, the weights do not fit, so the match is not used.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("kb");
    std::fs::create_dir_all(&dir).unwrap();
    let repo_kb = taoke_test::repo_root().join("kb");
    for f in ["licences.toml", "rules.toml"] {
        std::fs::copy(repo_kb.join(f), dir.join(f)).unwrap();
    }
    let fam = std::fs::read_to_string(repo_kb.join("families.toml"))
        .unwrap()
        .replace(
            "aliases = [\"meta-llama/Llama-3.1-8B\", \"Meta-Llama-3.1-8B\"]",
            "aliases = [\"meta-llama/Llama-3.1-8B\", \"Meta-Llama-3.1-8B\", \"all-MiniLM-L6-v2\"]",
        );
    std::fs::write(dir.join("families.toml"), fam).unwrap();
    let kb = Kb::load_dir(&dir).unwrap();
    let minilm = model_or_skip!(test_model("all-MiniLM-L6-v2"));
    let int8 = model_or_skip!(test_model("all-MiniLM-L6-v2-int8-onnx/model.onnx"));
    let model = open(&int8);
    let c: Candidate = s(&minilm).parse().unwrap();
    let input = verify(&kb, &model, &c, &taoke_evidence::Options::default()).unwrap();
    assert_eq!(input.kb_id, None);
    assert!(
        input
            .notes
            .iter()
            .any(|n| n.contains("suggests knowledge-base id `llama-3.1-8b`, not used")),
        "{:?}",
        input.notes
    );
    let facts = ModelFacts::from_checkpoint(&model);
    let a = audit(
        &kb,
        &facts,
        &[input],
        &AuditOptions {
            as_of: "2026-01-01".parse::<Date>().unwrap(),
            released_name: None,
            training_tokens: Some(1e9),
        },
    );
    // No compute from the tag: only the model's own training is estimated.
    assert!(a.compute.ancestor.is_none());
    assert!(a.ancestors[0].licences.is_empty());
}
