//! `taoke demo`: builds (or reuses) the zoo's small profile, compares a handful of instructive
//! pairs picked from its manifest by recipe kind — a fine-tune, a disguised copy, a quantized
//! GGUF copy, a pruned model, an independent twin — and writes one HTML report (an index of the
//! pairs, each with its heatmap). The report's path goes to stdout, progress to stderr.

use std::path::{Path, PathBuf};

use anyhow::Context;
use taoke_evidence::Options;
use taoke_report::{html, Expected, PairReport, Report};
use taoke_zoo::{Manifest, ModelEntry, Profile, Relation};

use crate::args::DemoArgs;
use crate::output::Output;
use crate::Status;

/// One pair the demo shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoPair {
    /// Short label.
    pub label: String,
    /// Why it is instructive.
    pub note: String,
    /// Model id of A (the original).
    pub a: String,
    /// Model id of B.
    pub b: String,
}

fn recipe_kind(m: &ModelEntry) -> &str {
    m.recipe.get("kind").and_then(|v| v.as_str()).unwrap_or("")
}

fn child_of_kind<'m>(man: &'m Manifest, kinds: &[&str]) -> Option<&'m ModelEntry> {
    kinds.iter().find_map(|k| {
        man.models
            .iter()
            .find(|m| recipe_kind(m) == *k && !m.parents.is_empty())
    })
}

/// Picks the demo pairs from a manifest by recipe kind (at most one per category; categories
/// the manifest lacks are left out).
pub fn pick_pairs(man: &Manifest) -> Vec<DemoPair> {
    let mut out = Vec::new();
    let mut push = |label: &str, note: &str, child: Option<&ModelEntry>| {
        if let Some(m) = child {
            if let Some(p) = m.parents.first() {
                out.push(DemoPair {
                    label: label.to_owned(),
                    note: note.to_owned(),
                    a: p.clone(),
                    b: m.id.clone(),
                });
            }
        }
    };
    push(
        "fine-tune",
        "B is A trained further on another corpus: the weights moved, the unit order did not.",
        child_of_kind(man, &["fine-tune", "lora", "continued-pretraining"]),
    );
    push(
        "disguised copy",
        "B is A with its hidden units permuted and rotated away — the same function under different weights; a naive tensor diff calls them unrelated.",
        child_of_kind(
            man,
            &["rotate-residual", "permute-residual", "permute-mlp", "scale-mlp"],
        ),
    );
    push(
        "quantized GGUF copy",
        "B is A converted to GGUF and quantized: every tensor changed bytes, format and names.",
        man.models
            .iter()
            .find(|m| recipe_kind(m) == "gguf" && m.id.contains("q4"))
            .or_else(|| child_of_kind(man, &["gguf"])),
    );
    push(
        "pruned model",
        "B is A with a block removed and healed by a little training: the layer map skips the dropped block.",
        child_of_kind(man, &["prune-depth", "prune-width"]),
    );
    // An independent twin: two roots with the same architecture and size, different seeds.
    let roots: Vec<&ModelEntry> = man
        .models
        .iter()
        .filter(|m| recipe_kind(m) == "root")
        .collect();
    'twin: for (i, x) in roots.iter().enumerate() {
        for y in &roots[i + 1..] {
            if let Some(p) = man.pair(&x.id, &y.id) {
                if p.relation == Relation::Independent && p.same_architecture {
                    out.push(DemoPair {
                        label: "independent twin".to_owned(),
                        note: "Same architecture, same size, same data, different random seed: nothing shared but the recipe.".to_owned(),
                        a: x.id.clone(),
                        b: y.id.clone(),
                    });
                    break 'twin;
                }
            }
        }
    }
    out
}

fn relation_name(r: Relation) -> String {
    serde_json::to_value(r)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn model_path(dir: &Path, man: &Manifest, id: &str) -> anyhow::Result<PathBuf> {
    let m = man
        .model(id)
        .with_context(|| format!("zoo manifest has no model `{id}`"))?;
    Ok(dir.join(&m.path))
}

/// Runs `taoke demo`.
pub fn run(args: DemoArgs, out: &Output) -> anyhow::Result<Status> {
    let dir = args
        .zoo
        .unwrap_or_else(|| taoke_zoo::default_dir(Profile::Small));
    let sp = out.spinner(format!(
        "building the small zoo in {} (reused when cached)",
        dir.display()
    ));
    let man = taoke_zoo::build(Profile::Small, &dir, &mut |line: &str| {
        sp.set(format!("zoo: {line}"));
    })
    .with_context(|| format!("building the small zoo in {}", dir.display()))?;
    sp.done();
    let picks = pick_pairs(&man);
    if picks.is_empty() {
        anyhow::bail!(
            "the zoo in {} has none of the demo's pairs (fine-tune, disguise, gguf, pruning, twin roots)",
            dir.display()
        );
    }
    let opts = Options::default();
    let mut pairs = Vec::with_capacity(picks.len());
    for (k, pick) in picks.iter().enumerate() {
        let pa = model_path(&dir, &man, &pick.a)?;
        let pb = model_path(&dir, &man, &pick.b)?;
        let c = super::compare::compare_paths(
            &pa.display().to_string(),
            &pb.display().to_string(),
            &opts,
            out,
        )?;
        // Paths relative to the zoo: the report reads the same on every machine.
        let mut c = c;
        for side in [&mut c.a, &mut c.b] {
            if let Ok(rel) = Path::new(&side.path).strip_prefix(&dir) {
                side.path = rel.display().to_string();
            }
        }
        let mut pr = PairReport::new(
            format!("pair-{}", k + 1),
            format!("{}: {} ↔ {}", pick.label, pick.a, pick.b),
            c,
        );
        pr.note = Some(pick.note.clone());
        pr.expected = man.pair(&pick.a, &pick.b).map(|p| Expected {
            relation: relation_name(p.relation),
            kinds: p.kinds.clone(),
        });
        pairs.push(pr);
    }
    let report = Report {
        title: "taoke demo: tiny models with known lineage".to_owned(),
        generated: None,
        intro: Some(format!(
            "{} pairs from the zoo's small profile ({} models trained on synthetic corpora, each pair labelled by how it was made; paths are relative to the zoo directory). For each: the verdict from the weights alone, the ground truth, and the evidence.",
            pairs.len(),
            man.models.len()
        )),
        pairs,
    };
    let path = args.output.unwrap_or_else(|| dir.join("demo-report.html"));
    let page = html::render(&report)?;
    std::fs::write(&path, page).with_context(|| format!("cannot write {}", path.display()))?;
    for p in &report.pairs {
        let truth = p
            .expected
            .as_ref()
            .map(|e| format!(" (ground truth: {})", e.relation))
            .unwrap_or_default();
        if !out.quiet {
            eprintln!("{:<55} {}{truth}", p.label, p.headline.verdict);
        }
    }
    println!("{}", path.display());
    Ok(Status::Ok)
}
