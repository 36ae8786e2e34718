//! The JSON Schemas of taoke's JSON outputs, generated from the types. Shared by the drift test
//! (`tests/json_schemas.rs`) and the generator (`cargo run -p taoke-cli --example gen-schemas`).

/// `(file name under schemas/, schema)` for every JSON output.
pub fn generated() -> Vec<(&'static str, serde_json::Value)> {
    vec![
        ("compare.schema.json", taoke_report::schema::compare()),
        (
            "inspect.schema.json",
            serde_json::to_value(schemars::schema_for!(
                taoke_cli::commands::inspect::InspectReport
            ))
            .unwrap_or(serde_json::Value::Null),
        ),
        (
            "tokenizer-diff.schema.json",
            taoke_report::schema::tokenizer_diff(),
        ),
    ]
}

/// The committed schema directory (`schemas/` at the repository root).
pub fn dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas")
}
