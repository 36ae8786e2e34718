//! What the audited model says about itself: names, declared licences, model card, notice and
//! licence files beside the weights, architecture and parameter counts.

use std::path::{Path, PathBuf};

use serde::Serialize;
use taoke_anatomy::Role;
use taoke_model::Checkpoint;

use crate::identity::Identity;

/// Largest side text file read (model card, LICENSE, NOTICE).
pub const MAX_TEXT_FILE_BYTES: u64 = 4 << 20;

/// Text files beside the weights that may carry notices or licence text.
pub const NOTICE_FILES: &[&str] = &[
    "NOTICE",
    "NOTICE.txt",
    "NOTICE.md",
    "LICENSE",
    "LICENSE.txt",
    "LICENSE.md",
    "LICENCE",
    "LICENCE.txt",
    "USE_POLICY.md",
];

/// A licence the model declares, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeclaredLicence {
    /// The declared value (`llama3.1`, `apache-2.0`, `other`, a name).
    pub value: String,
    /// Where (`README.md license`, `README.md license_name`, `general.license`,
    /// `onnx metadata license`, `config.json license`).
    pub origin: String,
}

/// A text file beside the weights.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TextFile {
    /// File name.
    pub name: String,
    /// Its text (lossy UTF-8).
    #[serde(skip)]
    pub text: String,
}

/// The audited model's self-description.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelFacts {
    /// What the user asked for (not in the outputs: it may be a local path).
    #[serde(skip)]
    pub reference: String,
    /// Resolved path (not in the outputs).
    #[serde(skip)]
    pub path: PathBuf,
    /// The portable identity: repository and revision, Ollama name, or file names and
    /// digests.
    pub identity: Identity,
    /// Container format.
    pub format: String,
    /// Architecture family from the anatomy (`llama`, `qwen2`, …).
    pub architecture_family: String,
    /// Declared architecture (`LlamaForCausalLM`, GGUF `general.architecture`), if any.
    pub architecture: Option<String>,
    /// Total elements over all tensors.
    pub parameters: u64,
    /// Parameters active per token for MoE models (routed experts scaled by k/E).
    pub active_parameters: Option<u64>,
    /// Routed experts and experts per token, when MoE.
    pub experts: Option<(u64, u64)>,
    /// Name the model gives itself (`general.name`, model-card `model_name`, folder name).
    pub self_name: Option<(String, String)>,
    /// Declared licences.
    pub declared_licences: Vec<DeclaredLicence>,
    /// `README.md` beside the weights.
    pub model_card: Option<TextFile>,
    /// NOTICE / LICENSE / USE_POLICY files beside the weights.
    pub notice_files: Vec<TextFile>,
}

fn read_text(p: &Path) -> Option<String> {
    let meta = std::fs::metadata(p).ok()?;
    if !meta.is_file() || meta.len() > MAX_TEXT_FILE_BYTES {
        return None;
    }
    let bytes = std::fs::read(p).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// The YAML front matter of a model card (between the first two `---` lines), as
/// `key: value` pairs of its top level (lists are skipped).
pub fn front_matter(card: &str) -> Vec<(String, String)> {
    let mut lines = card.lines();
    if lines.next().map(str::trim) != Some("---") {
        return Vec::new();
    }
    let mut out = Vec::new();
    for line in lines {
        if line.trim() == "---" {
            break;
        }
        if line.starts_with(' ') || line.starts_with('-') || line.starts_with('\t') {
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            let v = v.trim().trim_matches('"').trim_matches('\'').trim();
            if !v.is_empty() {
                out.push((k.trim().to_owned(), v.to_owned()));
            }
        }
    }
    out
}

/// What the anatomy says: architecture family, declared architecture, experts and active
/// parameters.
struct Anatomy {
    family: String,
    architecture: Option<String>,
    experts: Option<(u64, u64)>,
    active_parameters: Option<u64>,
}

fn anatomy_facts(ck: &Checkpoint, parameters: u64) -> Anatomy {
    let anatomy = taoke_evidence::view::anatomy_of(ck);
    let d = &anatomy.description;
    let family = serde_json::to_value(d.family.value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into());
    let architecture = ck
        .config
        .as_ref()
        .and_then(|c| c.get("architectures"))
        .and_then(|a| a.get(0))
        .and_then(|a| a.as_str())
        .map(str::to_owned)
        .or_else(|| d.architecture.as_ref().map(|a| a.value.clone()));
    let experts = match (&d.experts, &d.experts_per_token) {
        (Some(e), Some(k)) if e.value > 1 && k.value >= 1 && k.value <= e.value => {
            Some((e.value, k.value))
        }
        _ => None,
    };
    let active_parameters = experts.map(|(e, k)| {
        let routed: u64 = anatomy
            .tensors
            .iter()
            .filter(|t| {
                matches!(
                    t.canonical.role,
                    Role::ExpertGate | Role::ExpertUp | Role::ExpertDown
                )
            })
            .map(|t| t.shape.iter().product::<u64>())
            .sum();
        let dense = parameters.saturating_sub(routed);
        let active_routed = (routed as u128 * k as u128 / e as u128) as u64;
        dense.saturating_add(active_routed)
    });
    Anatomy {
        family,
        architecture,
        experts,
        active_parameters,
    }
}

/// The folder holding the model's side files.
fn side_folder(ck: &Checkpoint) -> Option<PathBuf> {
    ck.folder
        .clone()
        .or_else(|| ck.path.parent().map(Path::to_path_buf))
}

/// `README.md` beside the weights.
fn model_card(ck: &Checkpoint, folder: Option<&Path>) -> Option<TextFile> {
    ck.side_file("README.md")
        .cloned()
        .or_else(|| folder.map(|f| f.join("README.md")))
        .and_then(|p| read_text(&p))
        .map(|text| TextFile {
            name: "README.md".into(),
            text,
        })
}

/// NOTICE, LICENSE and USE_POLICY files beside the weights.
fn notice_files(folder: Option<&Path>) -> Vec<TextFile> {
    let Some(f) = folder else {
        return Vec::new();
    };
    NOTICE_FILES
        .iter()
        .filter_map(|n| {
            read_text(&f.join(n)).map(|text| TextFile {
                name: (*n).to_owned(),
                text,
            })
        })
        .collect()
}

/// Licences the model declares: model-card front matter (`license`, `license_name`,
/// `license_link`), GGUF `general.license`, a `license` metadata entry (ONNX
/// `metadata_props`, safetensors `__metadata__`), `config.json` `license`.
fn declared_licences(ck: &Checkpoint, front: &[(String, String)]) -> Vec<DeclaredLicence> {
    let mut declared = Vec::new();
    for (k, v) in front {
        if k == "license" || k == "license_name" || k == "license_link" {
            declared.push(DeclaredLicence {
                value: v.clone(),
                origin: format!("README.md {k}"),
            });
        }
    }
    if let Some(v) = ck.meta("general.license").and_then(|v| v.as_str()) {
        declared.push(DeclaredLicence {
            value: v.to_owned(),
            origin: "general.license".into(),
        });
    }
    if let Some(v) = ck.meta("license").and_then(|v| v.as_str()) {
        declared.push(DeclaredLicence {
            value: v.to_owned(),
            origin: format!("{} metadata license", ck.format.name()),
        });
    }
    if let Some(v) = ck
        .config
        .as_ref()
        .and_then(|c| c.get("license"))
        .and_then(|v| v.as_str())
    {
        declared.push(DeclaredLicence {
            value: v.to_owned(),
            origin: "config.json license".into(),
        });
    }
    declared.retain(|d| !d.value.trim().is_empty());
    declared
}

/// The name the model gives itself: GGUF `general.name`, model-card `model_name`, folder name.
fn self_name(ck: &Checkpoint, front: &[(String, String)]) -> Option<(String, String)> {
    ck.meta("general.name")
        .and_then(|v| v.as_str())
        .map(|n| (n.to_owned(), "general.name".to_owned()))
        .or_else(|| {
            front
                .iter()
                .find(|(k, _)| k == "model_name")
                .map(|(_, v)| (v.clone(), "README.md model_name".to_owned()))
        })
        .or_else(|| {
            let base = if ck.path.is_dir() {
                ck.path.file_name()
            } else {
                ck.folder.as_ref().and_then(|f| f.file_name())
            };
            base.map(|n| (n.to_string_lossy().into_owned(), "folder name".to_owned()))
        })
}

impl ModelFacts {
    /// Gathers the facts of an opened checkpoint (reads small text files beside it; never the
    /// weights).
    pub fn from_checkpoint(ck: &Checkpoint) -> ModelFacts {
        let parameters = ck.parameter_count();
        let anatomy = anatomy_facts(ck, parameters);
        let folder = side_folder(ck);
        let model_card = model_card(ck, folder.as_deref());
        let front = model_card
            .as_ref()
            .map(|c| front_matter(&c.text))
            .unwrap_or_default();
        ModelFacts {
            reference: ck.reference.clone(),
            path: ck.path.clone(),
            identity: Identity::of(ck),
            format: ck.format.name().to_owned(),
            architecture_family: anatomy.family,
            architecture: anatomy.architecture,
            parameters,
            active_parameters: anatomy.active_parameters,
            experts: anatomy.experts,
            self_name: self_name(ck, &front),
            declared_licences: declared_licences(ck, &front),
            notice_files: notice_files(folder.as_deref()),
            model_card,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_matter_top_level_keys() {
        let card = "---\nlicense: llama3.1\ntags:\n- a\nlicense_name: \"foo\"\n---\n# Title\nlicense: no\n";
        assert_eq!(
            front_matter(card),
            vec![
                ("license".to_owned(), "llama3.1".to_owned()),
                ("license_name".to_owned(), "foo".to_owned())
            ]
        );
        assert!(front_matter("# no front matter\nlicense: x\n").is_empty());
    }
}
