//! Census on a zoo profile against its truth: family ARI and parent-edge F1.
//!
//! `cargo run --release -p taoke-registry --example zoo_census -- [small|full] [OUT_DIR]`

use std::collections::BTreeMap;
use std::time::Instant;

use taoke_registry::census::{census, to_dot, to_html};
use taoke_registry::Fingerprint;
use taoke_zoo::Manifest;

fn comb2(x: usize) -> f64 {
    (x * x.saturating_sub(1)) as f64 / 2.0
}

/// Adjusted Rand index of two labelings.
fn ari(a: &[usize], b: &[usize]) -> f64 {
    let mut t: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    let mut ra: BTreeMap<usize, usize> = BTreeMap::new();
    let mut rb: BTreeMap<usize, usize> = BTreeMap::new();
    for (&x, &y) in a.iter().zip(b) {
        *t.entry((x, y)).or_default() += 1;
        *ra.entry(x).or_default() += 1;
        *rb.entry(y).or_default() += 1;
    }
    let idx: f64 = t.values().map(|&v| comb2(v)).sum();
    let sa: f64 = ra.values().map(|&v| comb2(v)).sum();
    let sb: f64 = rb.values().map(|&v| comb2(v)).sum();
    let exp = sa * sb / comb2(a.len());
    let max = (sa + sb) / 2.0;
    if max == exp {
        return 1.0;
    }
    (idx - exp) / (max - exp)
}

fn main() {
    let profile = std::env::args().nth(1).unwrap_or_else(|| "full".into());
    let out = std::env::args().nth(2);
    let p = if profile == "small" {
        taoke_zoo::Profile::Small
    } else {
        taoke_zoo::Profile::Full
    };
    let dir = taoke_zoo::default_dir(p);
    let manifest = Manifest::load(&dir.join("zoo.json")).expect("zoo manifest");
    let t0 = Instant::now();
    let fps = fingerprint_zoo(&dir, &manifest);
    let t1 = Instant::now();
    let c = census(&fps, 1e-6).expect("census");
    let secs = (t0.elapsed().as_secs_f64(), t1.elapsed().as_secs_f64());
    let ids: Vec<&str> = manifest.models.iter().map(|m| m.id.as_str()).collect();
    let truth = truth_families(&manifest, &ids);
    let pred: Vec<usize> = ids
        .iter()
        .map(|id| {
            c.models
                .iter()
                .find(|m| m.name == *id)
                .expect("model")
                .family
        })
        .collect();
    let a = ari(&truth, &pred);
    let true_edges: Vec<(String, String)> = manifest
        .models
        .iter()
        .flat_map(|m| m.parents.iter().map(move |p| (p.clone(), m.id.clone())))
        .collect();
    let pred_edges: Vec<(String, String)> = c
        .edges
        .iter()
        .map(|e| (e.parent.clone(), e.child.clone()))
        .collect();
    let (pd, rd, fd, pu, ru, fu) = edge_scores(&true_edges, &pred_edges);
    println!(
        "profile {profile}: {} models, {} families (truth {}), ARI {a:.3}; edges predicted {}, true {}; \
         directed parent-edge P {pd:.3} R {rd:.3} F1 {fd:.3}; undirected P {pu:.3} R {ru:.3} F1 {fu:.3}; \
         {:.1} s total ({:.1} s census of {} pairs)",
        ids.len(),
        c.families.len(),
        { let mut t = truth.clone(); t.sort_unstable(); t.dedup(); t.len() },
        pred_edges.len(),
        true_edges.len(),
        secs.0,
        secs.1,
        c.pairs_compared
    );
    for e in &pred_edges {
        if !true_edges.contains(e) {
            let m = manifest.model(&e.1).expect("child");
            println!(
                "  wrong edge {} -> {} (true parents of {}: {:?})",
                e.0, e.1, e.1, m.parents
            );
        }
    }
    if let Some(o) = out {
        write_outputs(&c, std::path::PathBuf::from(o));
    }
}

/// Every zoo model's fingerprint, named by its id.
fn fingerprint_zoo(dir: &std::path::Path, manifest: &Manifest) -> Vec<(String, Fingerprint)> {
    manifest
        .models
        .iter()
        .map(|m| {
            let ck = taoke_model::open(dir.join(&m.path).to_string_lossy()).expect("open");
            (
                m.id.clone(),
                taoke_registry::fingerprint(&ck, &m.id).expect("fingerprint"),
            )
        })
        .collect()
}

/// Truth families: components of the parent graph (a label per model of `ids`).
fn truth_families(manifest: &Manifest, ids: &[&str]) -> Vec<usize> {
    let mut fam: Vec<usize> = (0..ids.len()).collect();
    fn find(p: &mut [usize], x: usize) -> usize {
        let mut x = x;
        while p[x] != x {
            x = p[x];
        }
        x
    }
    for (i, m) in manifest.models.iter().enumerate() {
        for par in &m.parents {
            let j = ids.iter().position(|x| x == par).expect("parent id");
            let (a, b) = (find(&mut fam, i), find(&mut fam, j));
            if a != b {
                fam[a.max(b)] = a.min(b);
            }
        }
    }
    (0..ids.len()).map(|i| find(&mut fam, i)).collect()
}

/// Precision, recall and F1 of the predicted parent edges, directed then undirected.
fn edge_scores(
    true_edges: &[(String, String)],
    pred_edges: &[(String, String)],
) -> (f64, f64, f64, f64, f64, f64) {
    let tp_dir = pred_edges.iter().filter(|e| true_edges.contains(e)).count();
    let tp_und = pred_edges
        .iter()
        .filter(|(p, ch)| {
            true_edges
                .iter()
                .any(|(tp, tc)| (tp == p && tc == ch) || (tp == ch && tc == p))
        })
        .count();
    let f1 = |tp: usize| {
        let pr = tp as f64 / pred_edges.len().max(1) as f64;
        let rc = tp as f64 / true_edges.len().max(1) as f64;
        (
            pr,
            rc,
            if pr + rc > 0.0 {
                2.0 * pr * rc / (pr + rc)
            } else {
                0.0
            },
        )
    };
    let (pd, rd, fd) = f1(tp_dir);
    let (pu, ru, fu) = f1(tp_und);
    (pd, rd, fd, pu, ru, fu)
}

/// census.json, census.dot and census.html in `o`.
fn write_outputs(c: &taoke_registry::census::Census, o: std::path::PathBuf) {
    std::fs::create_dir_all(&o).expect("out dir");
    std::fs::write(
        o.join("census.json"),
        serde_json::to_string_pretty(c).expect("json"),
    )
    .expect("write");
    std::fs::write(o.join("census.dot"), to_dot(c)).expect("write");
    std::fs::write(o.join("census.html"), to_html(c)).expect("write");
}
