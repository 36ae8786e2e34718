//! Declared licences are read from every place a model states one — model-card front matter,
//! `config.json`, GGUF `general.license`, ONNX `metadata_props` — and reported beside the
//! knowledge base's licence in every output; a licence the knowledge base does not know is
//! reported as such, not dropped. Small real files written here (GGUF by the project's writer,
//! ONNX and safetensors by hand).

use std::path::Path;

use taoke_audit::{audit, AuditOptions, Date, Kb, ModelFacts};

fn facts(path: &Path) -> ModelFacts {
    let ck = taoke_model::open(path.to_str().unwrap()).unwrap();
    ModelFacts::from_checkpoint(&ck)
}

fn run(kb: &Kb, m: &ModelFacts) -> taoke_audit::Audit {
    audit(
        kb,
        m,
        &[],
        &AuditOptions {
            as_of: "2026-01-01".parse::<Date>().unwrap(),
            released_name: None,
            training_tokens: None,
        },
    )
}

fn f32_bytes(n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| (i as f32 * 0.25).to_le_bytes())
        .collect()
}

// Protocol buffers, just enough for an ONNX ModelProto.
fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}
fn field_int(out: &mut Vec<u8>, field: u64, v: u64) {
    varint(field << 3, out);
    varint(v, out);
}
fn field_bytes(out: &mut Vec<u8>, field: u64, b: &[u8]) {
    varint((field << 3) | 2, out);
    varint(b.len() as u64, out);
    out.extend_from_slice(b);
}

/// A ModelProto: ir_version 8, opset 17, a graph with the initializer `W` F32 [4, 4], and one
/// `metadata_props` entry `license`.
fn onnx_with_license(licence: &str) -> Vec<u8> {
    let mut tensor = Vec::new();
    field_int(&mut tensor, 1, 4);
    field_int(&mut tensor, 1, 4);
    field_int(&mut tensor, 2, 1);
    field_bytes(&mut tensor, 8, b"W");
    field_bytes(&mut tensor, 9, &f32_bytes(16));
    let mut graph = Vec::new();
    field_bytes(&mut graph, 2, b"g");
    field_bytes(&mut graph, 5, &tensor);
    let mut opset = Vec::new();
    field_bytes(&mut opset, 1, b"");
    field_int(&mut opset, 2, 17);
    let mut prop = Vec::new();
    field_bytes(&mut prop, 1, b"license");
    field_bytes(&mut prop, 2, licence.as_bytes());
    let mut model = Vec::new();
    field_int(&mut model, 1, 8);
    field_bytes(&mut model, 8, &opset);
    field_bytes(&mut model, 7, &graph);
    field_bytes(&mut model, 14, &prop);
    model
}

#[test]
fn gguf_general_license_is_read_and_named_in_the_kb() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("tiny.gguf");
    let data = f32_bytes(16);
    let mut w = taoke_gguf::GgufWriter::new();
    w.add_kv("general.architecture", "llama").unwrap();
    w.add_kv("general.license", "llama3.1").unwrap();
    w.add_tensor(
        "token_embd.weight",
        &[4, 4],
        taoke_dtype::Dtype::F32,
        &data[..],
    )
    .unwrap();
    std::fs::write(&p, w.to_bytes()).unwrap();
    let m = facts(&p);
    assert_eq!(m.declared_licences.len(), 1);
    assert_eq!(m.declared_licences[0].value, "llama3.1");
    assert_eq!(m.declared_licences[0].origin, "general.license");
    let a = run(&Kb::embedded().unwrap(), &m);
    assert_eq!(
        a.declared_licences[0].kb_licence.as_deref(),
        Some("llama3.1-community")
    );
    let md = taoke_audit::markdown::render(&a);
    assert!(
        md.contains("- declared licence: `llama3.1` (general.license) — knowledge base: Llama 3.1 Community License Agreement (`llama3.1-community`)"),
        "{md}"
    );
}

#[test]
fn onnx_metadata_licence_outside_the_kb_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("model.onnx");
    std::fs::write(&p, onnx_with_license("acme-model-licence-2.1")).unwrap();
    let m = facts(&p);
    assert_eq!(m.declared_licences.len(), 1, "{:?}", m.declared_licences);
    assert_eq!(m.declared_licences[0].value, "acme-model-licence-2.1");
    assert_eq!(m.declared_licences[0].origin, "onnx metadata license");
    let a = run(&Kb::embedded().unwrap(), &m);
    assert_eq!(a.declared_licences[0].kb_licence, None);
    // Markdown, JSON and CycloneDX all carry it.
    let md = taoke_audit::markdown::render(&a);
    assert!(
        md.contains("- declared licence: `acme-model-licence-2.1` (onnx metadata license) — not in the knowledge base"),
        "{md}"
    );
    let json = serde_json::to_value(&a).unwrap();
    assert_eq!(
        json["declared_licences"][0]["value"],
        "acme-model-licence-2.1"
    );
    assert!(json["declared_licences"][0]["kb_licence"].is_null());
    let bom = taoke_audit::cyclonedx::bom(&a, &[], &Default::default());
    let comp = &bom["components"][0];
    assert_eq!(
        comp["licenses"][0]["license"]["name"],
        "acme-model-licence-2.1"
    );
    assert_eq!(
        comp["licenses"][0]["license"]["acknowledgement"],
        "declared"
    );
    let props = comp["properties"].as_array().unwrap();
    assert!(props.iter().any(
        |p| p["name"] == "taoke:licence.declared.onnx_metadata_license"
            && p["value"] == "acme-model-licence-2.1 (not in the knowledge base)"
    ));
}

#[test]
fn model_card_and_config_licences_are_read() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tiny");
    std::fs::create_dir_all(&dir).unwrap();
    let header = br#"{"w":{"dtype":"F32","shape":[4,4],"data_offsets":[0,64]}}"#;
    let mut st = (header.len() as u64).to_le_bytes().to_vec();
    st.extend_from_slice(header);
    st.extend_from_slice(&f32_bytes(16));
    std::fs::write(dir.join("model.safetensors"), st).unwrap();
    std::fs::write(
        dir.join("README.md"),
        "---\nlicense: apache-2.0\n---\n# tiny\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("config.json"),
        r#"{"architectures":["LlamaForCausalLM"],"model_type":"llama","license":"mit"}"#,
    )
    .unwrap();
    let m = facts(&dir);
    let got: Vec<(&str, &str)> = m
        .declared_licences
        .iter()
        .map(|d| (d.value.as_str(), d.origin.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("apache-2.0", "README.md license"),
            ("mit", "config.json license")
        ]
    );
    let a = run(&Kb::embedded().unwrap(), &m);
    let kb: Vec<Option<&str>> = a
        .declared_licences
        .iter()
        .map(|d| d.kb_licence.as_deref())
        .collect();
    assert_eq!(kb, [Some("apache-2.0"), Some("mit")]);
}
