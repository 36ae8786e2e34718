//! `taoke census DIR|MODELS... -o OUT`: fingerprints every model found, infers the lineage
//! forest and writes `census.json`, `census.dot` and `census.html` into OUT.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use taoke_registry::census::{census, to_dot, to_html};

use crate::args::Format;
use crate::commands::fingerprint::load_or_fingerprint;
use crate::output::Output;
use crate::Status;

/// `taoke census`.
#[derive(Debug, Args)]
pub struct CensusArgs {
    /// Folders to search (HF model folders, GGUF files, fingerprint files, nested folders) or
    /// model references.
    #[arg(required = true)]
    pub inputs: Vec<String>,
    /// Folder for census.json, census.dot and census.html.
    #[arg(long, short)]
    pub output: PathBuf,
    /// Significance level for "related" (after correction for the number of pairs).
    #[arg(long, default_value_t = 1e-6)]
    pub alpha: f64,
    /// Format of the summary on stdout.
    #[arg(long, value_enum, default_value_t = Format::Terminal)]
    pub format: Format,
}

fn is_weight_file(p: &Path) -> bool {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    [".safetensors", ".gguf", ".onnx", ".bin", ".pt", ".pth"]
        .iter()
        .any(|e| name.ends_with(e))
}

/// Finds models under `dir`: a folder holding safetensors/ONNX/PyTorch weights is one model;
/// every GGUF file is one model; other folders are searched (depth ≤ 8).
fn discover(dir: &Path, base: &Path, depth: usize, found: &mut Vec<(String, String)>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    let rel = |p: &Path| {
        p.strip_prefix(base)
            .ok()
            .filter(|r| !r.as_os_str().is_empty())
            .unwrap_or(p)
            .to_string_lossy()
            .into_owned()
    };
    let folder_model = entries.iter().any(|p| {
        p.is_file() && is_weight_file(p) && !p.to_string_lossy().to_lowercase().ends_with(".gguf")
    });
    if folder_model {
        found.push((rel(dir), dir.to_string_lossy().into_owned()));
    }
    for p in &entries {
        if p.is_file() && p.to_string_lossy().to_lowercase().ends_with(".gguf") {
            found.push((rel(p), p.to_string_lossy().into_owned()));
        } else if p.is_dir() && !folder_model && depth < 8 {
            discover(p, base, depth + 1, found);
        }
    }
}

/// Runs `taoke census`.
pub fn run(args: CensusArgs, out: &Output) -> anyhow::Result<Status> {
    let CensusArgs {
        inputs,
        output,
        alpha,
        format,
    } = args;
    let mut found = Vec::new();
    for i in &inputs {
        let p = Path::new(i);
        if p.is_dir() && !p.join("config.json").exists() && !p.join("model.safetensors").exists() {
            discover(p, p, 0, &mut found);
        } else {
            found.push((i.clone(), i.clone()));
        }
    }
    if found.len() < 2 {
        anyhow::bail!("census needs at least two models; found {}", found.len());
    }
    let mut fps = Vec::new();
    for (k, (name, reference)) in found.iter().enumerate() {
        out.hint(&format!("[{}/{}] {name}", k + 1, found.len()));
        match load_or_fingerprint(reference, out) {
            Ok(fp) => fps.push((name.clone(), fp)),
            Err(e) => out.warn(&format!("skipping {name}: {e:#}")),
        }
    }
    let sp = out.spinner(format!("comparing {} models pairwise", fps.len()));
    let c = census(&fps, alpha)?;
    sp.done();
    std::fs::create_dir_all(&output)
        .with_context(|| format!("cannot create `{}`", output.display()))?;
    let write = |name: &str, text: &str| -> anyhow::Result<()> {
        let p = output.join(name);
        std::fs::write(&p, text).with_context(|| format!("cannot write `{}`", p.display()))
    };
    write("census.json", &(serde_json::to_string_pretty(&c)? + "\n"))?;
    write("census.dot", &to_dot(&c))?;
    write("census.html", &to_html(&c))?;
    let text = match format {
        Format::Json => serde_json::to_string_pretty(&c)? + "\n",
        Format::Terminal => {
            let mut s = format!(
                "{} models, {} families, {} parent edges; wrote census.json, census.dot, census.html to {}\n",
                c.models.len(),
                c.families.len(),
                c.edges.len(),
                output.display()
            );
            for f in c.families.iter().filter(|f| f.members.len() > 1) {
                let _ = writeln!(s, "family {} (root {}):", f.id, f.root);
                for e in c.edges.iter().filter(|e| f.members.contains(&e.child)) {
                    let _ = writeln!(
                        s,
                        "  {} -> {}  [{} {:.4}]",
                        e.parent, e.child, e.verdict, e.closeness
                    );
                }
            }
            let alone: Vec<&str> = c
                .families
                .iter()
                .filter(|f| f.members.len() == 1)
                .map(|f| f.root.as_str())
                .collect();
            if !alone.is_empty() {
                let _ = writeln!(s, "no relatives: {}", alone.join(", "));
            }
            s
        }
    };
    out.write_data(None, &text)?;
    Ok(Status::Ok)
}
