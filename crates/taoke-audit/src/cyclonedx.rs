//! CycloneDX 1.6 ML-BOM of an audited model.
//!
//! The model is a `machine-learning-model` component with its model card (architecture family
//! from the anatomy, parameter counts), one `file` sub-component per weight file with its
//! SHA-256 (streamed, never loaded whole), its licences (declared ones with acknowledgement
//! `declared`, inherited ones with `concluded`), and `pedigree.ancestors` holding each
//! ancestor with the lineage evidence as `taoke:` properties (verdict, p-value, kinds, method,
//! knowledge-base record). Checked duties and the compute estimate are `taoke:` properties of
//! the model component.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::audit::{AncestorReport, Audit, InheritedLicence, KbRecord, LineageMethod};
use crate::compute::sci;
use crate::identity::Identity;
pub use crate::identity::{sha256_file, FileHash};
use crate::model::ModelFacts;
use crate::Error;

/// SHA-256 of every weight file of a checkpoint, in file order.
pub fn hash_checkpoint(ck: &taoke_model::Checkpoint) -> Result<Vec<FileHash>, Error> {
    ck.files.iter().map(|f| sha256_file(&f.path)).collect()
}

/// The weight files of a checkpoint with the digests of its identity (hashing those not
/// known yet), so the files are read once for the identity and the BOM.
pub fn file_hashes(
    identity: &Identity,
    ck: &taoke_model::Checkpoint,
) -> Result<Vec<FileHash>, Error> {
    ck.files
        .iter()
        .zip(&identity.files)
        .map(|(f, d)| match &d.sha256 {
            Some(sha) => Ok(FileHash {
                path: f.path.clone(),
                name: d.name.clone(),
                bytes: d.bytes,
                sha256: sha.clone(),
            }),
            None => sha256_file(&f.path),
        })
        .collect()
}

/// Options of [`bom`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BomOptions {
    /// `metadata.timestamp` (RFC 3339), when wanted.
    pub timestamp: Option<String>,
    /// Version of taoke, for `metadata.tools`.
    pub tool_version: String,
}

fn prop(name: &str, value: impl ToString) -> Value {
    json!({ "name": format!("taoke:{name}"), "value": value.to_string() })
}

fn licence_json(l: &InheritedLicence, ack: &str) -> Value {
    let mut lic = Map::new();
    if l.spdx_listed {
        lic.insert("id".into(), json!(l.spdx));
    } else {
        lic.insert("name".into(), json!(format!("{} ({})", l.name, l.spdx)));
    }
    lic.insert("acknowledgement".into(), json!(ack));
    lic.insert("url".into(), json!(l.url));
    json!({ "license": Value::Object(lic) })
}

/// The portable identity of an ancestor: its revision as `version`, its digest as `hashes`
/// (one file) and every file as a `taoke:file` property.
fn identity_fields(c: &mut Map<String, Value>, props: &mut Vec<Value>, id: &Identity) {
    if let Some(rev) = &id.revision {
        c.insert("version".into(), json!(rev));
    }
    if let [f] = id.files.as_slice() {
        if let Some(sha) = &f.sha256 {
            c.insert(
                "hashes".into(),
                json!([{ "alg": "SHA-256", "content": sha }]),
            );
        }
    }
    props.push(prop("identity", &id.name));
    if let Some(repo) = &id.repo {
        props.push(prop("identity.repo", repo));
    }
    for f in &id.files {
        props.push(prop(
            "identity.file",
            match &f.sha256 {
                Some(s) => format!("{} sha256:{s} ({} bytes)", f.name, f.bytes),
                None => format!("{} ({} bytes)", f.name, f.bytes),
            },
        ));
    }
}

/// A v4-style UUID from a digest (deterministic for the same inputs).
fn uuid_from(seed: &[u8]) -> String {
    let d = Sha256::digest(seed);
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The model's licences: declared by the model, then concluded from ancestors (deduplicated by
/// value and id).
fn model_licences(audit: &Audit) -> Vec<Value> {
    let mut licences = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for d in &audit.model.declared_licences {
        if d.origin.ends_with("license_link") || seen.contains(&d.value) {
            continue;
        }
        seen.push(d.value.clone());
        licences.push(json!({ "license": { "name": d.value, "acknowledgement": "declared" } }));
    }
    for an in &audit.ancestors {
        for l in &an.licences {
            if seen.contains(&l.id) {
                continue;
            }
            seen.push(l.id.clone());
            licences.push(licence_json(l, "concluded"));
        }
    }
    licences
}

/// One `file` sub-component per weight file, with its digest and size.
fn file_components(files: &[FileHash]) -> Vec<Value> {
    files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            json!({
                "type": "file",
                "bom-ref": format!("model-file-{}", i + 1),
                "name": f.name,
                "hashes": [{ "alg": "SHA-256", "content": f.sha256 }],
                "properties": [prop("bytes", f.bytes)],
            })
        })
        .collect()
}

/// The model card: architecture, parameter counts, limitations.
fn model_card(m: &ModelFacts) -> Value {
    let mut card_props = vec![prop("parameters", m.parameters), prop("format", &m.format)];
    if let Some(a) = m.active_parameters {
        card_props.push(prop("active_parameters", a));
    }
    if let Some((e, k)) = m.experts {
        card_props.push(prop("experts", format!("{k} of {e} per token")));
    }
    let mut model_params = Map::new();
    model_params.insert("architectureFamily".into(), json!(m.architecture_family));
    model_params.insert(
        "modelArchitecture".into(),
        json!(m
            .architecture
            .clone()
            .unwrap_or_else(|| m.architecture_family.clone())),
    );
    json!({
        "modelParameters": Value::Object(model_params),
        "considerations": {
            "technicalLimitations": [
                "Lineage is established by weight comparison with the candidate bases supplied; ancestors not among them are not found.",
                "Training compute is a 6·N·D estimate.",
                crate::audit::DISCLAIMER,
            ]
        },
        "properties": card_props,
    })
}

/// The lineage evidence of an ancestor as `taoke:` properties.
fn lineage_props(an: &AncestorReport) -> Vec<Value> {
    let mut props = vec![
        prop("depth", an.depth),
        prop(
            "lineage.method",
            match an.lineage.method {
                LineageMethod::WeightComparison => "weight-comparison",
                LineageMethod::KnowledgeBase => "knowledge-base",
            },
        ),
        prop("lineage.verdict", &an.lineage.verdict),
        prop("lineage.direction", &an.lineage.direction),
        prop("lineage.evidence", &an.lineage.summary),
        prop("reference", &an.reference),
    ];
    if !an.lineage.kinds.is_empty() {
        props.push(prop("lineage.kinds", an.lineage.kinds.join(",")));
    }
    if let Some(p) = an.lineage.p_value {
        props.push(prop("lineage.p_value", format!("{p:e}")));
    }
    if let Some(l) = an.lineage.log10_p_value {
        props.push(prop("lineage.log10_p_value", format!("{l:.3}")));
    }
    props
}

/// The knowledge-base record of an ancestor: publisher, supplier, source, `kb.` properties.
fn kb_fields(c: &mut Map<String, Value>, props: &mut Vec<Value>, k: &KbRecord) {
    c.insert("publisher".into(), json!(k.publisher));
    c.insert("supplier".into(), json!({ "name": k.publisher }));
    if let Some(id) = &k.checkpoint_id {
        props.push(prop("kb.checkpoint", id));
    }
    props.push(prop("kb.family", &k.family_id));
    props.push(prop("kb.country", &k.country));
    props.push(prop("kb.confidence", k.confidence.as_str()));
    c.insert(
        "externalReferences".into(),
        json!([{ "type": "documentation", "url": k.source, "comment": "knowledge-base source" }]),
    );
}

/// One `pedigree.ancestors` entry: named by its KB checkpoint or portable identity, with its
/// lineage evidence, KB record and licences (declared, then concluded).
fn ancestor_component(an: &AncestorReport) -> Value {
    let mut props = lineage_props(an);
    let mut c = Map::new();
    c.insert("type".into(), json!("machine-learning-model"));
    c.insert("bom-ref".into(), json!(format!("ancestor-{}", an.depth)));
    let display = an
        .kb
        .as_ref()
        .and_then(|k| k.checkpoint_name.clone())
        .unwrap_or_else(|| an.reference.clone());
    c.insert("name".into(), json!(display));
    if let Some(id) = &an.identity {
        identity_fields(&mut c, &mut props, id);
    }
    if let Some(k) = &an.kb {
        kb_fields(&mut c, &mut props, k);
    }
    let mut lic: Vec<Value> = an
        .declared_licences
        .iter()
        .filter(|d| !d.origin.ends_with("license_link"))
        .map(|d| json!({ "license": { "name": d.value, "acknowledgement": "declared" } }))
        .collect();
    lic.extend(an.licences.iter().map(|l| licence_json(l, "concluded")));
    if !lic.is_empty() {
        c.insert("licenses".into(), Value::Array(lic));
    }
    c.insert("properties".into(), Value::Array(props));
    Value::Object(c)
}

/// The model's `taoke:` properties: identity, date, declared licences, compute, thresholds and
/// every duty check.
fn model_props(audit: &Audit) -> Vec<Value> {
    let mut model_props = vec![
        prop("identity", &audit.model.identity.name),
        prop("audit.as_of", audit.as_of),
    ];
    for d in &audit.declared_licences {
        model_props.push(prop(
            &format!("licence.declared.{}", d.origin.replace(' ', "_")),
            match &d.kb_licence {
                Some(id) => format!("{} (knowledge base: {id})", d.value),
                None => format!("{} (not in the knowledge base)", d.value),
            },
        ));
    }
    if let Some(x) = audit.compute.cumulative_flop {
        model_props.push(prop("training_compute.estimate_flop", sci(x)));
    }
    for t in &audit.compute.thresholds {
        model_props.push(prop(
            &format!("threshold.{}", t.rule),
            format!(
                "{} ({} {}; {} at {}{})",
                if t.meets { "meets" } else { "below" },
                t.comparator.as_str(),
                sci(t.threshold),
                t.state.as_deref().unwrap_or("not-yet"),
                audit.as_of,
                if t.binding { ", binding" } else { "" }
            ),
        ));
    }
    for (an, d) in audit.duty_checks() {
        model_props.push(prop(
            &format!("duty.{}.{}", an.depth, d.kind),
            format!("{}: {}", d.status.as_str(), d.detail),
        ));
    }
    model_props
}

/// The model component: hashes, licences, model card, files, pedigree, properties.
fn model_component(audit: &Audit, files: &[FileHash], name: &str) -> Value {
    let mut comp = Map::new();
    comp.insert("type".into(), json!("machine-learning-model"));
    comp.insert("bom-ref".into(), json!("model"));
    comp.insert("name".into(), json!(name));
    if files.len() == 1 {
        let hashes: Vec<Value> = files
            .iter()
            .map(|f| json!({ "alg": "SHA-256", "content": f.sha256 }))
            .collect();
        comp.insert("hashes".into(), Value::Array(hashes));
    }
    let licences = model_licences(audit);
    if !licences.is_empty() {
        comp.insert("licenses".into(), Value::Array(licences));
    }
    comp.insert("modelCard".into(), model_card(&audit.model));
    let file_components = file_components(files);
    if !file_components.is_empty() {
        comp.insert("components".into(), Value::Array(file_components));
    }
    let ancestors: Vec<Value> = audit.ancestors.iter().map(ancestor_component).collect();
    if !ancestors.is_empty() {
        comp.insert("pedigree".into(), json!({ "ancestors": ancestors }));
    }
    comp.insert("properties".into(), Value::Array(model_props(audit)));
    Value::Object(comp)
}

/// `metadata`: timestamp, the tool, the subject.
fn metadata(name: &str, opts: &BomOptions) -> Value {
    let mut metadata = Map::new();
    if let Some(t) = &opts.timestamp {
        metadata.insert("timestamp".into(), json!(t));
    }
    metadata.insert(
        "tools".into(),
        json!({ "components": [{ "type": "application", "name": "taoke", "version": opts.tool_version }] }),
    );
    metadata.insert(
        "component".into(),
        json!({ "type": "machine-learning-model", "bom-ref": "bom-subject", "name": name }),
    );
    Value::Object(metadata)
}

/// The serial number: a UUID from the name, the date, the digests and the timestamp.
fn serial_number(name: &str, audit: &Audit, files: &[FileHash], opts: &BomOptions) -> String {
    let mut seed = Vec::new();
    seed.extend_from_slice(name.as_bytes());
    seed.extend_from_slice(audit.as_of.to_string().as_bytes());
    for f in files {
        seed.extend_from_slice(f.sha256.as_bytes());
    }
    if let Some(t) = &opts.timestamp {
        seed.extend_from_slice(t.as_bytes());
    }
    uuid_from(&seed)
}

/// The CycloneDX 1.6 BOM (JSON) of an audit and the model's file hashes.
pub fn bom(audit: &Audit, files: &[FileHash], opts: &BomOptions) -> Value {
    let name = audit
        .released_name
        .as_ref()
        .map(|(n, _)| n.clone())
        .unwrap_or_else(|| audit.model.identity.name.clone());
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": serial_number(&name, audit, files, opts),
        "version": 1,
        "metadata": metadata(&name, opts),
        "components": [model_component(audit, files, &name)],
    })
}
