//! Writes the JSON Schemas of taoke's JSON outputs into `schemas/` at the repository root.
//!
//! `cargo run -p taoke-cli --example gen-schemas` (the test `json_schemas` fails when the
//! committed files and the types drift).

#[path = "../tests/support/schemas.rs"]
mod schemas;

fn main() -> std::io::Result<()> {
    let dir = schemas::dir();
    std::fs::create_dir_all(&dir)?;
    for (name, schema) in schemas::generated() {
        let path = dir.join(name);
        std::fs::write(&path, taoke_report::schema::to_file_text(&schema))?;
        println!("{}", path.display());
    }
    Ok(())
}
