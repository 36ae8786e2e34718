//! Does a knowledge-base tag fit the model it is put on?
//!
//! A tag (`--base PATH=llama-3.1-8b`, or a name match) says which released checkpoint a base
//! model is; everything the audit inherits (licences, the 6·N·D compute of the ancestor)
//! follows from it, so a tag that cannot be true is refused, with the reason, before anything
//! is computed from it. Two checks, each only when both sides are known:
//!
//! - **architecture family**: the model's family from its anatomy (`llama`, `qwen2`, `bert`, …)
//!   must be one of the families of the knowledge-base entry's Hugging Face `architectures`
//!   (the checkpoint's own list when it has one, else its family's). Llama, Mistral and Mixtral
//!   count as one family: llama.cpp writes Mistral and Mixtral GGUFs as `llama`.
//! - **parameter count**: the model's total parameters must be within a factor of
//!   [`PARAMETER_TOLERANCE`] of the entry's `params`, either way. Derived models change size:
//!   pruning (Llama-3.1-Minitron-4B from Llama-3.1-8B, 2×; Sheared-LLaMA-2.7B from
//!   Llama-2-7B, 2.6×; Minitron-4B from Nemotron-4-15B, 3.75×), depth up-scaling (SOLAR-10.7B
//!   from Mistral-7B, 1.5×), added vision towers (Llama-3.2-11B-Vision from Llama-3.1-8B,
//!   1.4×), self-merges (Goliath-120B from Llama-2-70B, 1.7×). A factor of 4 admits all of
//!   these and still refuses a 22.7 M-parameter BERT tagged as an 8 B Llama (353×) or a 135 M
//!   SmolLM tagged as Llama-3.2-1B (9×). Prunes beyond 4× (Sheared-LLaMA-1.3B, 5.4×) are
//!   refused: tag them with the family id instead, which inherits no licence or compute.

use crate::kb::{CheckpointEntry, Family, Tagged};
use crate::model::ModelFacts;

/// Largest ratio between a model's parameter count and its tag's (either way).
pub const PARAMETER_TOLERANCE: f64 = 4.0;

/// Families llama.cpp and converters write under each other's name.
const SAME_FAMILY: &[&[&str]] = &[&["llama", "mistral", "mixtral"]];

/// The anatomy family (wire name) of a Hugging Face architecture class
/// (`LlamaForCausalLM` → `llama`), or `None` when the anatomy does not know it.
pub fn family_of_class(class: &str) -> Option<String> {
    let lower = class.to_ascii_lowercase();
    let mut stem = lower.as_str();
    for suffix in [
        "forcausallm",
        "forconditionalgeneration",
        "lmheadmodel",
        "formaskedlm",
        "model",
    ] {
        if let Some(s) = stem.strip_suffix(suffix) {
            stem = s;
            break;
        }
    }
    let fam = if stem.starts_with("deepseek") {
        taoke_anatomy::Family::Deepseek
    } else {
        taoke_anatomy::Family::from_arch(stem)
    };
    let name = serde_json::to_value(fam)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))?;
    (name != "unknown").then_some(name)
}

fn same_family(a: &str, b: &str) -> bool {
    a == b
        || SAME_FAMILY
            .iter()
            .any(|group| group.contains(&a) && group.contains(&b))
}

/// The architecture classes the knowledge base records for an entry.
fn classes<'a>(f: &'a Family, c: Option<&'a CheckpointEntry>) -> &'a [String] {
    match c {
        Some(c) if !c.architectures.is_empty() => &c.architectures,
        _ => &f.architectures,
    }
}

/// How far apart two parameter counts are (≥ 1).
pub fn size_ratio(a: f64, b: f64) -> f64 {
    if a >= b {
        a / b
    } else {
        b / a
    }
}

/// A parameter count in words (`22.7 M`, `8.03 B`).
pub fn human_params(n: f64) -> String {
    if n >= 1e9 {
        format!("{:.3} B", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.1} M", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1} k", n / 1e3)
    } else {
        format!("{n}")
    }
}

/// Checks a tag against the model: `Ok` with what was checked, or `Err` with why the tag
/// cannot be true.
pub fn check(model: &ModelFacts, tagged: Tagged<'_>) -> Result<String, String> {
    let (family, ck) = match tagged {
        Tagged::Checkpoint(f, c) => (f, Some(c)),
        Tagged::Family(f) => (f, None),
    };
    let kb_classes = classes(family, ck);
    let kb_families: Vec<String> = kb_classes
        .iter()
        .filter_map(|c| family_of_class(c))
        .collect();
    let mut checked = Vec::new();
    let mut wrong = Vec::new();
    let model_family = model.architecture_family.as_str();
    let model_arch = model
        .architecture
        .as_ref()
        .map(|a| format!(" ({a})"))
        .unwrap_or_default();
    if model_family != "unknown" && !kb_families.is_empty() {
        if kb_families.iter().any(|k| same_family(k, model_family)) {
            checked.push(format!("architecture family {model_family}"));
        } else {
            wrong.push(format!(
                "the architecture family is {model_family}{model_arch}, the knowledge base records {}",
                kb_classes.join(", ")
            ));
        }
    }
    if let Some(p) = ck.and_then(|c| c.params.as_ref()) {
        let n = model.parameters as f64;
        if n > 0.0 {
            let ratio = size_ratio(n, p.value);
            if ratio <= PARAMETER_TOLERANCE {
                checked.push(format!(
                    "{} parameters ({} recorded, within {PARAMETER_TOLERANCE}×)",
                    human_params(n),
                    human_params(p.value)
                ));
            } else {
                wrong.push(format!(
                    "it has {} parameters, the knowledge base records {}: {ratio:.0}× apart, beyond the {PARAMETER_TOLERANCE}× tolerance for pruned or enlarged derivatives",
                    human_params(n),
                    human_params(p.value)
                ));
            }
        }
    }
    if wrong.is_empty() {
        Ok(if checked.is_empty() {
            "nothing to check the tag against (architecture and size unknown)".to_owned()
        } else {
            format!("tag fits: {}", checked.join(", "))
        })
    } else {
        Err(wrong.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_map_to_anatomy_families() {
        assert_eq!(
            family_of_class("LlamaForCausalLM").as_deref(),
            Some("llama")
        );
        assert_eq!(
            family_of_class("Qwen2MoeForCausalLM").as_deref(),
            Some("qwen2")
        );
        assert_eq!(family_of_class("BertModel").as_deref(), Some("bert"));
        assert_eq!(
            family_of_class("DeepseekV3ForCausalLM").as_deref(),
            Some("deepseek")
        );
        assert_eq!(family_of_class("ChatGLMModel"), None);
        assert!(same_family("mistral", "llama"));
        assert!(!same_family("qwen2", "llama"));
        assert_eq!(size_ratio(2.0, 8.0), 4.0);
        assert_eq!(human_params(22_713_216.0), "22.7 M");
    }
}
