//! Identify against 10,000 registry entries: the small zoo's 25 fingerprints plus synthetic
//! entries (the zoo roots' prescreen signatures with their Gram matrices perturbed, whose
//! fingerprints are other roots'), in memory and from an SQLite registry.
//!
//! `cargo run --release -p taoke-registry --example identify_bench -- [ENTRIES]`

use std::time::Instant;

use taoke_registry::identify::{entries_of, identify, Options};
use taoke_registry::registry::{EntryMeta, Registry};
use taoke_registry::Fingerprint;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let dir = taoke_zoo::default_dir(taoke_zoo::Profile::Small);
    let manifest = taoke_zoo::Manifest::load(&dir.join("zoo.json")).expect("small zoo");
    let fps: Vec<(String, Fingerprint)> = manifest
        .models
        .iter()
        .map(|m| {
            let ck = taoke_model::open(dir.join(&m.path).to_string_lossy()).expect("open");
            (
                m.id.clone(),
                taoke_registry::fingerprint(&ck, &m.id).expect("fingerprint"),
            )
        })
        .collect();
    let query_i = fps
        .iter()
        .position(|f| f.0 == "a1-gguf-q4_k")
        .expect("query");
    let query = fps[query_i].1.clone();
    let real: Vec<(String, Fingerprint)> = fps
        .iter()
        .filter(|f| f.0 != "a1-gguf-q4_k")
        .cloned()
        .collect();
    let roots = ["a2", "a4", "b1"];
    let entries = synthetic_entries(entries_of(&real), n);
    let load = |i: usize| -> Fingerprint {
        if i < real.len() {
            real[i].1.clone()
        } else {
            let r = roots[i % roots.len()];
            real.iter().find(|f| f.0 == r).expect("root").1.clone()
        }
    };
    let opts = Options::default();
    let t = Instant::now();
    let r = identify(&query, &entries, &mut |i| Ok(load(i)), &opts).expect("identify");
    let total = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let qs = taoke_registry::Screen::of(&query);
    let top = taoke_registry::identify::prescreen(&qs, &entries, opts.candidates);
    let screen = t.elapsed().as_secs_f64();
    println!(
        "in memory: {} entries, identify {:.3} s (prescreen {:.4} s, exact tests on {} candidates); best {} ({})",
        entries.len(),
        total,
        screen,
        top.len(),
        r.matches[0].name,
        r.matches[0].verdict
    );
    // The same from an SQLite registry (entries' blobs: the roots' fingerprints).
    let tmp = std::env::temp_dir().join(format!("taoke-identify-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let path = tmp.join("registry.sqlite");
    fill_registry(&path, &entries, real.len(), &load);
    let t = Instant::now();
    let reg = Registry::open(&path).expect("registry");
    let es = reg.entries().expect("entries");
    let t_list = t.elapsed().as_secs_f64();
    let t_load = Instant::now();
    let top = taoke_registry::identify::prescreen(
        &taoke_registry::Screen::of(&query),
        &es,
        opts.candidates,
    );
    for (i, _) in &top {
        reg.load(es[*i].id).expect("load");
    }
    eprintln!(
        "loading the {} candidates' fingerprints: {:.3} s",
        top.len(),
        t_load.elapsed().as_secs_f64()
    );
    let r = identify(&query, &es, &mut |i| reg.load(es[i].id), &opts).expect("identify");
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(tmp.join("registry.sqlite-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
    println!(
        "sqlite: {} entries ({} MB), open + read signatures {:.3} s, identify total {:.3} s; best {} ({})",
        es.len(),
        size >> 20,
        t_list,
        t.elapsed().as_secs_f64(),
        r.matches[0].name,
        r.matches[0].verdict
    );
    scan_bench(&path);
    let _ = std::fs::remove_dir_all(&tmp);
}

/// `entries` grown to `n` with synthetic ones: copies of the real entries' prescreen
/// signatures with their Gram matrices perturbed (a seeded LCG).
fn synthetic_entries(
    mut entries: Vec<taoke_registry::identify::EntryRef>,
    n: usize,
) -> Vec<taoke_registry::identify::EntryRef> {
    let mut s: u64 = 1;
    let mut rnd = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 33) as f64 / (1u64 << 31) as f64) - 0.5
    };
    let base: Vec<_> = entries.clone();
    while entries.len() < n {
        let k = entries.len() % base.len();
        let mut e = base[k].clone();
        e.id = entries.len() as i64;
        e.name = format!("synthetic-{}", entries.len());
        for g in &mut e.screen.gram {
            *g += (0.6 * rnd()) as f32;
        }
        entries.push(e);
    }
    entries
}

/// An SQLite registry at `path` with every entry (its fingerprint from `load`; synthetic
/// ones, from index `real` on, thinned).
fn fill_registry(
    path: &std::path::Path,
    entries: &[taoke_registry::identify::EntryRef],
    real: usize,
    load: &dyn Fn(usize) -> Fingerprint,
) {
    let mut reg = Registry::open(path).expect("registry");
    let t = Instant::now();
    for (k, e) in entries.iter().enumerate() {
        // Synthetic entries keep 32 anchors, 8 units per block and 4 sampled matrices
        // (~57 kB each on disk);
        // the exact tests compare units of the same index only, as in any registry.
        let mut fp = load(k);
        if k >= real {
            fp.anchors.truncate(32);
            for m in [&mut fp.emb, &mut fp.canon].into_iter().flatten() {
                let cols = m.cols;
                m.data.truncate(32 * cols);
                m.rows = 32;
            }
            for b in fp.blocks.iter_mut().flatten() {
                let cols = b.units.cols;
                b.units.data.truncate(8 * cols);
                b.units.rows = 8;
                b.index.truncate(8);
            }
            if let Some(s) = fp.samples.as_mut() {
                s.matrices.truncate(4);
            }
        }
        reg.add(
            &EntryMeta {
                name: e.name.clone(),
                publisher: None,
                licence: None,
                source: None,
            },
            &fp,
            false,
        )
        .expect("add");
    }
    eprintln!(
        "filled {} entries in {:.1} s",
        entries.len(),
        t.elapsed().as_secs_f64()
    );
}

/// Baseline in the same run: the schema-1 scan (the same columns read from the `entries`
/// rows, which also hold the fingerprints), against the schema-2 `catalog` scan.
fn scan_bench(path: &std::path::Path) {
    let scan = |table: &str| -> (f64, usize) {
        let c = rusqlite::Connection::open(path).expect("open");
        let t = Instant::now();
        let mut st = c
            .prepare(&format!(
                "SELECT id, name, publisher, kind, tokenizer_hash, algorithm, screen FROM {table} ORDER BY id"
            ))
            .expect("prepare");
        let n = st
            .query_map([], |r| r.get::<_, Vec<u8>>(6))
            .expect("query")
            .filter_map(|b| b.ok())
            .filter(|b| taoke_registry::Screen::from_bytes(b).is_some())
            .count();
        (t.elapsed().as_secs_f64(), n)
    };
    let (t_entries, n1) = scan("entries");
    let (t_catalog, n2) = scan("catalog");
    println!(
        "signature scan: schema-1 rows (entries) {t_entries:.3} s, schema-2 catalog {t_catalog:.3} s ({:.1}x); {n1}/{n2} signatures",
        t_entries / t_catalog.max(1e-9)
    );
}
