//! Faults and hostile files, round 2 (issue 19): concurrent writers on one registry, reads that
//! must not create it, fingerprint files that declare huge counts, packs from strangers, and
//! outputs written whole or not at all.

mod support;

use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use taoke_registry::registry::{EntryMeta, Registry, MIGRATIONS};
use taoke_registry::Fingerprint;

use support::*;

fn meta(name: &str) -> EntryMeta {
    EntryMeta {
        name: name.into(),
        publisher: None,
        licence: None,
        source: None,
    }
}

/// `writers` connections (threads, one connection each, as separate processes have) open the
/// registry at `path` at the same moment and each add `per_writer` entries.
fn add_concurrently(path: &Path, fp: &Fingerprint, writers: usize, per_writer: usize) {
    let start = Arc::new(Barrier::new(writers));
    let handles: Vec<_> = (0..writers)
        .map(|w| {
            let (path, fp, start) = (path.to_owned(), fp.clone(), start.clone());
            std::thread::spawn(move || -> Result<(), String> {
                start.wait();
                let mut reg = Registry::open(&path).map_err(|e| format!("open: {e}"))?;
                for k in 0..per_writer {
                    reg.add(&meta(&format!("w{w}-{k}")), &fp, false)
                        .map_err(|e| format!("add w{w}-{k}: {e}"))?;
                }
                Ok(())
            })
        })
        .collect();
    for h in handles {
        h.join()
            .expect("writer thread")
            .expect("every writer succeeds");
    }
}

fn expected_names(writers: usize, per_writer: usize) -> Vec<String> {
    let mut v: Vec<String> = (0..writers)
        .flat_map(|w| (0..per_writer).map(move |k| format!("w{w}-{k}")))
        .collect();
    v.sort();
    v
}

/// Four writers on a new file (the migrations raced: "table entries already exists") and on an
/// existing one (deferred transactions failed at once with "database is locked"): all succeed,
/// every entry is there once, the file is sound.
#[test]
fn concurrent_writers_all_succeed_on_a_new_and_an_existing_registry() {
    let fp = tiny_fingerprint(1, 0.0, 0, "base");
    let dir = tempfile::tempdir().unwrap();
    for round in 0..3 {
        let path = dir.path().join(format!("new-{round}.sqlite"));
        add_concurrently(&path, &fp, 4, 3);
        let reg = Registry::open_existing(&path).unwrap();
        let names: Vec<String> = reg
            .list()
            .unwrap()
            .into_iter()
            .map(|e| e.meta.name)
            .collect();
        assert_eq!(names, expected_names(4, 3), "round {round}");
        assert!(reg.integrity_ok().unwrap());
        assert_eq!(reg.schema_version().unwrap(), MIGRATIONS.len() as i64);
    }
    let path = dir.path().join("existing.sqlite");
    Registry::open(&path)
        .unwrap()
        .add(&meta("old"), &fp, false)
        .unwrap();
    add_concurrently(&path, &fp, 4, 5);
    let reg = Registry::open_existing(&path).unwrap();
    let names: Vec<String> = reg
        .list()
        .unwrap()
        .into_iter()
        .map(|e| e.meta.name)
        .collect();
    let mut want = expected_names(4, 5);
    want.push("old".into());
    want.sort();
    assert_eq!(names, want);
    assert!(reg.integrity_ok().unwrap());
}

/// Reading never creates: a missing registry (or folder) is an error naming it and nothing
/// appears on disk; an empty file reads as no entries and stays empty.
#[test]
fn reading_a_missing_or_empty_registry_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no").join("such").join("registry.sqlite");
    let e = Registry::open_existing(&missing).err().expect("refused");
    assert!(
        e.to_string().contains("registry.sqlite") && e.to_string().contains("does not exist"),
        "{e}"
    );
    assert!(!dir.path().join("no").exists());
    let empty = dir.path().join("empty.sqlite");
    std::fs::write(&empty, b"").unwrap();
    let reg = Registry::open_existing(&empty).unwrap();
    assert!(reg.is_empty_file());
    assert!(reg.list().unwrap().is_empty());
    assert!(reg.entries().unwrap().is_empty());
    drop(reg);
    assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0);
    // A folder where the file should be: an error, not a panic.
    assert!(Registry::open_existing(dir.path()).is_err());
}

/// A fingerprint whose `blocks` key says `n` (the stored tensors are those of a 2-block model
/// plus `pad` empty tensors).
fn declaring_blocks(fp: &Fingerprint, n: u32, pad: usize) -> Vec<u8> {
    let bytes = fp.to_bytes().unwrap();
    let h = taoke_safetensors::Header::parse(&bytes).unwrap();
    let mut meta = h.metadata.clone();
    let key = taoke_registry::fingerprint::KEY_MODEL;
    let mut info: serde_json::Value = serde_json::from_str(&meta[key]).unwrap();
    info["blocks"] = n.into();
    meta.insert(key.to_owned(), info.to_string());
    let pad_names: Vec<String> = (0..pad).map(|k| format!("pad.{k}")).collect();
    let mut tensors: Vec<(&str, taoke_dtype::Dtype, &[u64], &[u8])> = h
        .tensors
        .iter()
        .map(|t| {
            let s = (h.data_start + t.data_offsets.0) as usize;
            let e = (h.data_start + t.data_offsets.1) as usize;
            (t.name.as_str(), t.dtype, t.shape.as_slice(), &bytes[s..e])
        })
        .collect();
    for name in &pad_names {
        tensors.push((name.as_str(), taoke_dtype::Dtype::U8, &[0u64][..], &[][..]));
    }
    let mut out = Vec::new();
    taoke_safetensors::write(&mut out, &tensors, &meta).unwrap();
    out
}

/// A fingerprint declaring 65,536 blocks (with 60,000 tensors to search) took 19 s to load:
/// each block's three tensors were found by a linear search. Counts are capped and tensors
/// found by name once.
#[test]
fn fingerprint_declaring_huge_counts_is_refused_fast() {
    let fp = tiny_fingerprint(1, 0.0, 0, "base");
    let huge = declaring_blocks(&fp, 65_536, 60_000);
    let t = Instant::now();
    let e = Fingerprint::from_bytes(&huge, "huge.fp").expect_err("refused");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let msg = e.to_string();
    assert!(
        msg.contains("huge.fp") && msg.contains("65536 blocks"),
        "{msg}"
    );
    // The most blocks allowed, with as many tensors to search: linear, well under a second.
    let max = taoke_registry::fingerprint::MAX_BLOCKS as u32;
    let big = declaring_blocks(&fp, max, 60_000);
    let t = Instant::now();
    let g = Fingerprint::from_bytes(&big, "big.fp").unwrap();
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(g.blocks.len(), max as usize);
    assert_eq!(g.blocks.iter().flatten().count(), BLOCKS);
    // A tensor whose declared shape lies about its bytes: an error naming it, no allocation.
    // (Written by hand: the writer refuses such a shape, an attacker does not; the dtype is
    // one the safetensors parser does not size-check.)
    let bytes = fp.to_bytes().unwrap();
    let h = taoke_safetensors::Header::parse(&bytes).unwrap();
    let header = serde_json::json!({
        "__metadata__": h.metadata,
        "embedding.anchors": {"dtype": "X9", "shape": [1u64 << 20, 1u64 << 20], "data_offsets": [0, 0]},
    })
    .to_string();
    let mut out = Vec::new();
    out.extend((header.len() as u64).to_le_bytes());
    out.extend(header.as_bytes());
    let e = Fingerprint::from_bytes(&out, "liar.fp").expect_err("refused");
    assert!(e.to_string().contains("liar.fp"), "{e}");
}

/// Packs: a FIFO or a folder is refused before it is opened (no hang), a pack naming more
/// entries than it holds is an error naming the file, and an export never overwrites the
/// registry it reads.
#[test]
fn hostile_packs_and_exports() {
    let dir = tempfile::tempdir().unwrap();
    let reg_path = dir.path().join("r.sqlite");
    let mut reg = Registry::open(&reg_path).unwrap();
    reg.add(&meta("one"), &tiny_fingerprint(1, 0.0, 0, "one"), false)
        .unwrap();
    let e = reg.export(&reg_path, &[]).expect_err("refused");
    assert!(e.to_string().contains("r.sqlite"), "{e}");
    assert!(reg.integrity_ok().unwrap());
    assert_eq!(reg.list().unwrap().len(), 1);
    let fifo = dir.path().join("pack.fifo");
    let ok = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        let t = Instant::now();
        let e = reg.import(&fifo, false).expect_err("refused");
        assert!(t.elapsed() < Duration::from_secs(2));
        assert!(e.to_string().contains("pack.fifo"), "{e}");
    }
    let e = reg.import(dir.path(), false).expect_err("refused");
    assert!(e.to_string().contains("not a regular file"), "{e}");
    // A pack claiming two entries with one tensor.
    let pack = dir.path().join("short.pack");
    reg.export(&pack, &[]).unwrap();
    let bytes = std::fs::read(&pack).unwrap();
    let h = taoke_safetensors::Header::parse(&bytes).unwrap();
    let mut metas: Vec<serde_json::Value> =
        serde_json::from_str(&h.metadata["taoke.pack.entries"]).unwrap();
    metas.push(metas[0].clone());
    let mut meta = h.metadata.clone();
    meta.insert(
        "taoke.pack.entries".into(),
        serde_json::to_string(&metas).unwrap(),
    );
    let t = &h.tensors[0];
    let data = &bytes[(h.data_start + t.data_offsets.0) as usize..];
    let mut out = Vec::new();
    taoke_safetensors::write(
        &mut out,
        &[(t.name.as_str(), t.dtype, t.shape.as_slice(), data)],
        &meta,
    )
    .unwrap();
    let e = taoke_registry::registry::parse_pack(&out, "short.pack").expect_err("refused");
    assert!(
        e.to_string().contains("short.pack") && e.to_string().contains("entry.1"),
        "{e}"
    );
    // Exports leave no temporary file behind.
    let leftovers: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
