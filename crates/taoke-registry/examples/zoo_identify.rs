//! Identify on every zoo model against (a) the zoo roots and (b) all zoo models, each minus
//! the model itself; prints the accuracy table (docs/registry.md).
//!
//! `cargo run --release -p taoke-registry --example zoo_identify -- [small|full]`
//!
//! `TAOKE_ZOO_NO_SAMPLES=1` drops the fingerprints' raw weight samples (the `anchored-units/2`
//! behaviour, without the exact-equality evidence): an ablation.

use std::time::Instant;

use taoke_registry::identify::{entries_of, identify, Options};
use taoke_registry::Fingerprint;
use taoke_zoo::{Manifest, Relation};

fn main() {
    let profile = std::env::args().nth(1).unwrap_or_else(|| "small".into());
    let p = if profile == "full" {
        taoke_zoo::Profile::Full
    } else {
        taoke_zoo::Profile::Small
    };
    let dir = taoke_zoo::default_dir(p);
    let manifest =
        Manifest::load(&dir.join("zoo.json")).expect("zoo manifest (build the zoo first)");
    let t0 = Instant::now();
    let fps: Vec<(String, Fingerprint)> = manifest
        .models
        .iter()
        .map(|m| {
            let path = dir.join(&m.path);
            let ck = taoke_model::open(path.to_string_lossy()).expect("open");
            let mut fp = taoke_registry::fingerprint(&ck, &m.id).expect("fingerprint");
            if std::env::var("TAOKE_ZOO_NO_SAMPLES").is_ok_and(|v| v == "1") {
                fp.samples = None;
            }
            (m.id.clone(), fp)
        })
        .collect();
    let fp_secs = t0.elapsed().as_secs_f64();
    let bytes: usize = fps.iter().map(|f| f.1.to_bytes().unwrap().len()).sum();
    eprintln!(
        "fingerprinted {} models in {fp_secs:.1} s, mean {} bytes",
        fps.len(),
        bytes / fps.len()
    );
    let rel = |a: &str, b: &str| -> Relation {
        manifest
            .pairs
            .iter()
            .find(|p| p.a == a && p.b == b)
            .map(|p| p.relation)
            .unwrap_or(Relation::Independent)
    };
    let ancestors = |id: &str| -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![id.to_owned()];
        while let Some(x) = stack.pop() {
            if let Some(m) = manifest.model(&x) {
                for p in &m.parents {
                    if !out.contains(p) {
                        out.push(p.clone());
                        stack.push(p.clone());
                    }
                }
            }
        }
        out
    };
    let is_root = |id: &str| {
        manifest
            .model(id)
            .is_some_and(|m| m.recipe.get("kind").and_then(|k| k.as_str()) == Some("root"))
    };
    for (label, roots_only) in [("roots", true), ("all", false)] {
        let (mut derived, mut first_right, mut first_related, mut none_expected, mut none_said) =
            (0, 0, 0, 0, 0);
        let mut false_acc = 0;
        let mut misses = Vec::new();
        // Merges named from the weight samples: (queries that are merges or copies of one,
        // of those named a merge with both parents among their ancestors or copies of them,
        // other queries named a merge).
        let (mut merge_queries, mut merge_right, mut merge_false) = (0, 0, 0);
        let t = Instant::now();
        for (q, qfp) in &fps {
            let reg: Vec<(String, Fingerprint)> = fps
                .iter()
                .filter(|(id, _)| id != q && (!roots_only || is_root(id)))
                .cloned()
                .collect();
            let entries = entries_of(&reg);
            let res = identify(
                qfp,
                &entries,
                &mut |i| Ok(reg[i].1.clone()),
                &Options::default(),
            )
            .expect("identify");
            if std::env::var("TAOKE_ZOO_SHOW").is_ok_and(|v| v.split(',').any(|x| x == q)) {
                eprintln!("{q} ({label}):");
                for m in res.matches.iter().filter(|m| m.direction.is_some()) {
                    eprintln!(
                        "  {:<32} {:<13} {:.6} {:<22} {}",
                        m.name,
                        m.verdict,
                        m.closeness,
                        m.direction.unwrap_or(""),
                        m.direction_reason.as_deref().unwrap_or("")
                    );
                }
            }
            let anc = ancestors(q);
            let merged = std::iter::once(q.as_str())
                .chain(anc.iter().map(String::as_str))
                .any(|id| {
                    manifest.model(id).is_some_and(|m| {
                        m.recipe
                            .get("kind")
                            .and_then(|k| k.as_str())
                            .is_some_and(|k| k.starts_with("merge"))
                    })
                });
            // Copies of the merge itself are no ancestors: only models upstream of a merge.
            let upstream = |p: &str| {
                anc.iter().any(|a| {
                    a == p || matches!(rel(a, p), Relation::SameWeights | Relation::Identical)
                })
            };
            merge_queries += usize::from(merged);
            if let Some(mo) = &res.merge_of {
                if merged && mo.parents.iter().all(|p| upstream(p)) {
                    merge_right += 1;
                } else {
                    merge_false += 1;
                    misses.push(format!("MERGE {q}: {:?}", mo.parents));
                }
            }
            let related: Vec<&String> = reg
                .iter()
                .map(|r| &r.0)
                .filter(|id| rel(q, id) != Relation::Independent)
                .collect();
            for m in &res.matches {
                if matches!(m.verdict, "identical" | "same-weights" | "related")
                    && rel(q, &m.name) == Relation::Independent
                {
                    false_acc += 1;
                    misses.push(format!(
                        "FALSE {q} -> {} ({:?})",
                        m.name, m.log10_p_corrected
                    ));
                }
            }
            let top = res
                .matches
                .first()
                .filter(|_| res.verdict == "known-ancestor");
            if related.is_empty() {
                none_expected += 1;
                match top {
                    None => none_said += 1,
                    Some(t) => misses.push(format!("{q}: expected none, got {}", t.name)),
                }
                continue;
            }
            let expected_anc: Vec<&String> = related
                .iter()
                .copied()
                .filter(|r| anc.contains(r))
                .collect();
            if expected_anc.is_empty() {
                // A root with descendants in the registry: related is right, not an ancestor.
                if top.is_some_and(|t| related.contains(&&t.name)) {
                    first_related += 1;
                } else {
                    misses.push(format!(
                        "{q} (root): related expected, got {:?}",
                        top.map(|t| &t.name)
                    ));
                }
                continue;
            }
            derived += 1;
            match top {
                Some(t) if anc.contains(&t.name) => first_right += 1,
                Some(t) => misses.push(format!(
                    "{q}: top {} ({}, {:.5}) not an ancestor; ancestors {:?}",
                    t.name, t.verdict, t.closeness, expected_anc
                )),
                None => misses.push(format!("{q}: no known ancestor, expected {expected_anc:?}")),
            }
        }
        println!(
            "profile {profile}, registry {label}-minus-self: derived {derived}, ancestor first {first_right}; \
             no-relative queries {none_expected}, 'no known ancestor' {none_said}; roots with relatives: related first {first_related}; \
             false ancestors {false_acc}; merge_of: {merge_right} of {merge_queries} merges (or copies) with their parents, \
             {merge_false} other; {:.2} s",
            t.elapsed().as_secs_f64()
        );
        for m in misses {
            println!("  {m}");
        }
    }
}
