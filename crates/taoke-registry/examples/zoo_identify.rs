//! Identify on every zoo model against (a) the zoo roots and (b) all zoo models, each minus
//! the model itself; prints the accuracy table (docs/registry.md).
//!
//! `cargo run --release -p taoke-registry --example zoo_identify -- [small|full]`
//!
//! `TAOKE_ZOO_NO_SAMPLES=1` drops the fingerprints' raw weight samples (the `anchored-units/2`
//! behaviour, without the exact-equality evidence): an ablation.

use std::time::Instant;

use taoke_registry::identify::{entries_of, identify, Identification, Options};
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
    let fps = fingerprint_zoo(&dir, &manifest);
    let fp_secs = t0.elapsed().as_secs_f64();
    let bytes: usize = fps.iter().map(|f| f.1.to_bytes().unwrap().len()).sum();
    eprintln!(
        "fingerprinted {} models in {fp_secs:.1} s, mean {} bytes",
        fps.len(),
        bytes / fps.len()
    );
    let truth = Truth {
        manifest: &manifest,
    };
    for (label, roots_only) in [("roots", true), ("all", false)] {
        let mut tally = Tally::default();
        let t = Instant::now();
        for (q, qfp) in &fps {
            let reg: Vec<(String, Fingerprint)> = fps
                .iter()
                .filter(|(id, _)| id != q && (!roots_only || truth.is_root(id)))
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
                show(q, label, &res);
            }
            tally.score(&truth, q, &reg, &res);
        }
        let Tally {
            derived,
            first_right,
            first_related,
            none_expected,
            none_said,
            false_acc,
            merge_queries,
            merge_right,
            merge_false,
            misses,
        } = tally;
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

/// Every zoo model's fingerprint, named by its id (without weight samples under
/// `TAOKE_ZOO_NO_SAMPLES=1`).
fn fingerprint_zoo(dir: &std::path::Path, manifest: &Manifest) -> Vec<(String, Fingerprint)> {
    manifest
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
        .collect()
}

/// The matches given a direction, on stderr (`TAOKE_ZOO_SHOW=ID,...`).
fn show(q: &str, label: &str, res: &Identification) {
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

/// The zoo's known lineage.
struct Truth<'a> {
    manifest: &'a Manifest,
}

impl Truth<'_> {
    fn rel(&self, a: &str, b: &str) -> Relation {
        self.manifest
            .pairs
            .iter()
            .find(|p| p.a == a && p.b == b)
            .map(|p| p.relation)
            .unwrap_or(Relation::Independent)
    }

    fn ancestors(&self, id: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![id.to_owned()];
        while let Some(x) = stack.pop() {
            if let Some(m) = self.manifest.model(&x) {
                for p in &m.parents {
                    if !out.contains(p) {
                        out.push(p.clone());
                        stack.push(p.clone());
                    }
                }
            }
        }
        out
    }

    fn is_root(&self, id: &str) -> bool {
        self.manifest
            .model(id)
            .is_some_and(|m| m.recipe.get("kind").and_then(|k| k.as_str()) == Some("root"))
    }

    /// Whether `q` or one of its ancestors `anc` is a merge.
    fn merged(&self, q: &str, anc: &[String]) -> bool {
        std::iter::once(q)
            .chain(anc.iter().map(String::as_str))
            .any(|id| {
                self.manifest.model(id).is_some_and(|m| {
                    m.recipe
                        .get("kind")
                        .and_then(|k| k.as_str())
                        .is_some_and(|k| k.starts_with("merge"))
                })
            })
    }
}

/// The counts of one registry setting, query by query.
#[derive(Default)]
struct Tally {
    derived: usize,
    first_right: usize,
    first_related: usize,
    none_expected: usize,
    none_said: usize,
    false_acc: usize,
    /// Merges named from the weight samples: queries that are merges or copies of one, of
    /// those named a merge with both parents among their ancestors or copies of them, other
    /// queries named a merge.
    merge_queries: usize,
    merge_right: usize,
    merge_false: usize,
    misses: Vec<String>,
}

impl Tally {
    /// Scores the identification `res` of query `q` against registry `reg`.
    fn score(
        &mut self,
        truth: &Truth,
        q: &str,
        reg: &[(String, Fingerprint)],
        res: &Identification,
    ) {
        let anc = truth.ancestors(q);
        let merged = truth.merged(q, &anc);
        // Copies of the merge itself are no ancestors: only models upstream of a merge.
        let upstream = |p: &str| {
            anc.iter().any(|a| {
                a == p || matches!(truth.rel(a, p), Relation::SameWeights | Relation::Identical)
            })
        };
        self.merge_queries += usize::from(merged);
        if let Some(mo) = &res.merge_of {
            if merged && mo.parents.iter().all(|p| upstream(p)) {
                self.merge_right += 1;
            } else {
                self.merge_false += 1;
                self.misses.push(format!("MERGE {q}: {:?}", mo.parents));
            }
        }
        let related: Vec<&String> = reg
            .iter()
            .map(|r| &r.0)
            .filter(|id| truth.rel(q, id) != Relation::Independent)
            .collect();
        for m in &res.matches {
            if matches!(m.verdict, "identical" | "same-weights" | "related")
                && truth.rel(q, &m.name) == Relation::Independent
            {
                self.false_acc += 1;
                self.misses.push(format!(
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
            self.none_expected += 1;
            match top {
                None => self.none_said += 1,
                Some(t) => self
                    .misses
                    .push(format!("{q}: expected none, got {}", t.name)),
            }
            return;
        }
        let expected_anc: Vec<&String> = related
            .iter()
            .copied()
            .filter(|r| anc.contains(r))
            .collect();
        if expected_anc.is_empty() {
            // A root with descendants in the registry: related is right, not an ancestor.
            if top.is_some_and(|t| related.contains(&&t.name)) {
                self.first_related += 1;
            } else {
                self.misses.push(format!(
                    "{q} (root): related expected, got {:?}",
                    top.map(|t| &t.name)
                ));
            }
            return;
        }
        self.derived += 1;
        match top {
            Some(t) if anc.contains(&t.name) => self.first_right += 1,
            Some(t) => self.misses.push(format!(
                "{q}: top {} ({}, {:.5}) not an ancestor; ancestors {:?}",
                t.name, t.verdict, t.closeness, expected_anc
            )),
            None => self
                .misses
                .push(format!("{q}: no known ancestor, expected {expected_anc:?}")),
        }
    }
}
