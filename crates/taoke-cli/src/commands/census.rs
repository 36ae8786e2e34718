//! `taoke census DIR|MODELS... -o OUT`: fingerprints every model found, infers the lineage
//! forest and writes `census.json`, `census.dot` and `census.html` into OUT.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use taoke_registry::census::{census_judged, to_dot, to_html, Census, Judgement};
use taoke_registry::Fingerprint;

use crate::args::Format;
use crate::commands::fingerprint::load_or_fingerprint_file;
use crate::output::{escape, Output};
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
    #[arg(long, default_value_t = crate::args::default_alpha(), value_parser = crate::args::parse_alpha)]
    pub alpha: f64,
    /// Format of the summary on stdout.
    #[arg(long, value_enum, default_value_t = Format::Terminal)]
    pub format: Format,
    /// Judge related pairs by their fingerprints only (faster), not by a full `compare` of
    /// the two models.
    #[arg(long)]
    pub fingerprints_only: bool,
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

/// What identifies a file or folder however it is reached (symlinks, `.`, hard links): its
/// device and inode, else its canonical path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum FileId {
    Inode(u64, u64),
    Path(PathBuf),
}

fn file_id(p: &Path) -> Option<FileId> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let Ok(m) = std::fs::metadata(p) {
            return Some(FileId::Inode(m.dev(), m.ino()));
        }
    }
    p.canonicalize().ok().map(FileId::Path)
}

/// The walk's state: folders entered and models found, by [`FileId`], so a symlink loop
/// (`l0 -> .`) is entered once and a model reached by two paths is counted once.
#[derive(Default)]
struct Walk {
    dirs: std::collections::HashSet<FileId>,
    models: std::collections::HashSet<FileId>,
    found: Vec<(String, String)>,
    /// Models reached again by another path: (path, the name it was first found under).
    duplicates: Vec<(String, String)>,
}

impl Walk {
    /// Adds a model unless it was found already.
    fn add(&mut self, name: String, reference: String) {
        match file_id(Path::new(&reference)) {
            Some(id) if !self.models.insert(id.clone()) => {
                let first = self
                    .found
                    .iter()
                    .find(|(_, r)| file_id(Path::new(r)).as_ref() == Some(&id))
                    .map(|(n, _)| n.clone())
                    .unwrap_or_default();
                self.duplicates.push((name, first));
            }
            _ => self.found.push((name, reference)),
        }
    }
}

/// Whether a file is a shard or a weight file that belongs to a folder model (safetensors,
/// PyTorch), as opposed to a single-file model (GGUF, ONNX).
fn is_folder_weight(p: &Path) -> bool {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    is_weight_file(p) && !name.ends_with(".gguf") && !name.ends_with(".onnx")
}

/// Finds models under `dir`: a folder holding safetensors or PyTorch weights with a
/// `config.json` (or only shards of one model) is one model; every GGUF and every ONNX file is
/// one model; loose safetensors files side by side without a `config.json` are one model each;
/// other folders are searched (depth ≤ 8). Symlinks are followed, but every folder is entered
/// once and every model counted once.
fn discover(dir: &Path, base: &Path, depth: usize, walk: &mut Walk) {
    let Some(id) = file_id(dir) else {
        return;
    };
    if !walk.dirs.insert(id) {
        return;
    }
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
    // An Ollama store: every manifest is one model, named `ollama:NAME:TAG`, read from its blob.
    if dir.join("manifests").is_dir() && dir.join("blobs").is_dir() {
        ollama_store(dir, walk);
        return;
    }
    let weights: Vec<&PathBuf> = entries
        .iter()
        .filter(|p| p.is_file() && is_folder_weight(p))
        .collect();
    // One model per folder when the folder says so (a config, an index of shards) or when its
    // weight files are the shards of one model; loose files one each otherwise.
    let sharded = |p: &Path| {
        let n = p
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        n.contains("-of-")
    };
    let folder_model = !weights.is_empty()
        && (dir.join("config.json").is_file()
            || entries.iter().any(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().ends_with(".index.json"))
            })
            || weights.len() == 1
            || weights.iter().all(|p| sharded(p)));
    if folder_model {
        walk.add(rel(dir), dir.to_string_lossy().into_owned());
    }
    for p in &entries {
        if !p.is_file() {
            if p.is_dir() && !folder_model && depth < 8 {
                discover(p, base, depth + 1, walk);
            }
            continue;
        }
        let name = p.to_string_lossy().to_lowercase();
        let single = name.ends_with(".gguf") || name.ends_with(".onnx");
        if single || (!folder_model && is_folder_weight(p)) {
            walk.add(rel(p), p.to_string_lossy().into_owned());
        }
    }
}

/// The models of an Ollama store (`manifests/HOST/NAMESPACE/MODEL/TAG` naming a model layer
/// `blobs/sha256-HEX`), in name order; manifests that do not parse are skipped.
fn ollama_store(root: &Path, walk: &mut Walk) {
    let list = |p: &Path| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(p)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        v.sort();
        v
    };
    let name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    for host in list(&root.join("manifests")) {
        for ns in list(&host) {
            for model in list(&ns) {
                for tag in list(&model) {
                    let Some(blob) = ollama_blob(root, &tag) else {
                        continue;
                    };
                    let n = if name(&host) == "registry.ollama.ai" && name(&ns) == "library" {
                        format!("ollama:{}:{}", name(&model), name(&tag))
                    } else {
                        format!(
                            "ollama:{}/{}/{}:{}",
                            name(&host),
                            name(&ns),
                            name(&model),
                            name(&tag)
                        )
                    };
                    walk.add(n, blob.to_string_lossy().into_owned());
                }
            }
        }
    }
}

/// The model blob a manifest names (`None` when it is not a readable manifest of one).
fn ollama_blob(root: &Path, manifest: &Path) -> Option<PathBuf> {
    let m = std::fs::metadata(manifest).ok()?;
    if !m.is_file() || m.len() > 1 << 20 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(manifest).ok()?).ok()?;
    let digest = v["layers"]
        .as_array()?
        .iter()
        .find(|l| l["mediaType"] == "application/vnd.ollama.image.model")?["digest"]
        .as_str()?;
    let hex = digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))?;
    let blob = root.join("blobs").join(format!("sha256-{hex}"));
    blob.is_file().then_some(blob)
}

/// What an edge line says (docs/registry.md).
const LEGEND: &str =
    "verdict and kinds: what `taoke compare` says on the pair (judged by compare), \
or the fingerprints' verdict (judged by fingerprint). same-weights: a copy (format, dtype, \
quantization; no training between them); related: training, pruning or shared components.\n\
closeness: mean cosine of the two fingerprints' matched MLP units (of the embedding columns \
when a side has no tokenizer); 1 for copies, lower the more training separates the two; it \
builds the tree, it is not a test.\n";

/// The three output files of a census in `dir`.
const OUTPUTS: [&str; 3] = ["census.json", "census.dot", "census.html"];

/// Runs `taoke census`.
pub fn run(args: CensusArgs, out: &Output) -> anyhow::Result<Status> {
    let CensusArgs {
        inputs,
        output,
        alpha,
        format,
        fingerprints_only,
    } = args;
    // Never over an input (checked before the work).
    for name in OUTPUTS {
        taoke_registry::atomic::refuse_input(&output.join(name), &inputs)?;
    }
    let found = find_models(&inputs, out)?;
    let (fps, sources) = fingerprint_all(&found, out)?;
    let sp = out.spinner(format!("comparing {} models pairwise", fps.len()));
    // compare's word on each related pair: the census says what compare would.
    let opts = taoke_evidence::Options {
        alpha,
        ..Default::default()
    };
    let quiet = out.silent();
    let judge = |i: usize, j: usize| -> Option<Judgement> {
        if fingerprints_only {
            return None;
        }
        let (a, b) = (sources[i].as_deref()?, sources[j].as_deref()?);
        sp.set(format!("comparing {} and {}", fps[i].0, fps[j].0));
        match crate::commands::compare::compare_paths(a, b, &opts, &quiet) {
            Ok(c) => Some(Judgement {
                verdict: c.verdict.as_str(),
                kinds: c.kinds.iter().map(|k| k.as_str()).collect(),
                log10_p_value: c.log10_p_value,
            }),
            Err(e) => {
                out.warn(&format!(
                    "compare of {} and {} failed ({}); that pair is judged by its fingerprints",
                    fps[i].0,
                    fps[j].0,
                    crate::output::error_line(&e)
                ));
                None
            }
        }
    };
    let c = census_judged(&fps, alpha, &judge)?;
    sp.done();
    std::fs::create_dir_all(&output)
        .with_context(|| format!("cannot create `{}`", output.display()))?;
    // All three or none: each is written to a temporary file first, and only when all three
    // are on disk are they renamed over the previous census.
    // The census as JSON with how it was made and what each model is (its portable identity
    // and file digests; none for fingerprint files).
    let json = census_json(&c, &sources)?;
    let texts = [json.clone(), to_dot(&c), to_html(&c)];
    let paths = OUTPUTS.map(|n| output.join(n));
    let files: Vec<(&Path, &[u8])> = paths
        .iter()
        .zip(&texts)
        .map(|(p, t)| (p.as_path(), t.as_bytes()))
        .collect();
    taoke_registry::atomic::write_many(&files)?;
    let text = match format {
        Format::Json => json,
        Format::Terminal => terminal_text(&c, &output),
    };
    out.write_data(None, &text)?;
    Ok(Status::Ok)
}

/// The models a census covers: folders walked for models, links followed once; at least two.
fn find_models(inputs: &[String], out: &Output) -> anyhow::Result<Vec<(String, String)>> {
    let mut walk = Walk::default();
    for i in inputs {
        let p = Path::new(i);
        if p.is_dir() && !p.join("config.json").exists() && !p.join("model.safetensors").exists() {
            discover(p, p, 0, &mut walk);
        } else {
            walk.add(i.clone(), i.clone());
        }
    }
    for (name, first) in &walk.duplicates {
        out.warn(&format!(
            "skipping {name}: the same model as {first} (reached again through a link)"
        ));
    }
    if walk.found.len() < 2 {
        anyhow::bail!(
            "census needs at least two models; found {}",
            walk.found.len()
        );
    }
    Ok(walk.found)
}

/// Each model's fingerprint (computed, or read from a fingerprint file), and the model behind
/// it (None for fingerprint files) for compare; models that cannot be read are skipped.
#[allow(clippy::type_complexity)]
fn fingerprint_all(
    found: &[(String, String)],
    out: &Output,
) -> anyhow::Result<(Vec<(String, Fingerprint)>, Vec<Option<String>>)> {
    let mut fps = Vec::new();
    // The models behind the fingerprints (None for fingerprint files), for compare.
    let mut sources: Vec<Option<String>> = Vec::new();
    let mut failed = Vec::new();
    for (k, (name, reference)) in found.iter().enumerate() {
        out.hint(&format!("[{}/{}] {name}", k + 1, found.len()));
        match load_or_fingerprint_file(reference, out) {
            Ok((fp, from_file)) => {
                fps.push((name.clone(), fp));
                sources.push((!from_file).then(|| reference.clone()));
            }
            Err(e) => {
                out.warn(&format!(
                    "skipping {name}: {}",
                    crate::output::error_line(&e)
                ));
                failed.push(name.clone());
            }
        }
    }
    if fps.len() < 2 {
        anyhow::bail!(
            "census needs at least two models; {} of {} could not be read ({}; see the warnings above)",
            failed.len(),
            found.len(),
            failed.join(", ")
        );
    }
    Ok((fps, sources))
}

/// The census as JSON with how it was made and what each model is (its portable identity and
/// file digests; none for fingerprint files).
fn census_json(c: &Census, sources: &[Option<String>]) -> anyhow::Result<String> {
    let mut json = serde_json::to_value(c)?;
    crate::provenance::stamp(&mut json);
    if let Some(models) = json["models"].as_array_mut() {
        for (m, src) in models.iter_mut().zip(sources) {
            m["identity"] = src
                .as_deref()
                .and_then(crate::provenance::identity)
                .unwrap_or(serde_json::Value::Null);
        }
    }
    Ok(serde_json::to_string_pretty(&json)? + "\n")
}

/// The terminal summary: families with their edges, models without relatives, the legend.
fn terminal_text(c: &Census, output: &Path) -> String {
    let mut s = format!(
        "{} models, {} families, {} parent edges; wrote census.json, census.dot, census.html to {}\n",
        c.models.len(),
        c.families.len(),
        c.edges.len(),
        escape(&output.display().to_string())
    );
    for f in c.families.iter().filter(|f| f.members.len() > 1) {
        let _ = writeln!(s, "family {} (root {}):", f.id, escape(&f.root));
        for e in c.edges.iter().filter(|e| f.members.contains(&e.child)) {
            let kinds = if e.kinds.is_empty() {
                String::new()
            } else {
                format!("; {}", e.kinds.join(", "))
            };
            let _ = writeln!(
                s,
                "  {} -> {}  [{}{}; closeness {:.4}; judged by {}]",
                escape(&e.parent),
                escape(&e.child),
                if e.direction == "merge" {
                    "merge parent"
                } else {
                    e.verdict
                },
                kinds,
                e.closeness,
                e.judged_by
            );
        }
    }
    let alone: Vec<std::borrow::Cow<str>> = c
        .families
        .iter()
        .filter(|f| f.members.len() == 1)
        .map(|f| escape(&f.root))
        .collect();
    if !alone.is_empty() {
        let _ = writeln!(s, "no relatives: {}", alone.join(", "));
    }
    if !c.edges.is_empty() {
        s.push_str(LEGEND);
    }
    s
}
