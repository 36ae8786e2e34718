//! Fingerprints, the registry, packs, migrations and the compatibility fixture, on tiny
//! generated models (kilobytes).

mod support;

use taoke_registry::compare::compare;
use taoke_registry::identify::{entries_of, identify, Options};
use taoke_registry::registry::{EntryMeta, Registry, MIGRATIONS};
use taoke_registry::{Error, Fingerprint, Screen};

use support::*;

fn meta(name: &str) -> EntryMeta {
    EntryMeta {
        name: name.into(),
        publisher: Some("taoke tests".into()),
        licence: Some("MIT".into()),
        source: None,
    }
}

#[test]
fn fingerprint_round_trips_and_refuses_other_algorithms() {
    let fp = tiny_fingerprint(1, 0.0, 0, "base");
    assert_eq!(fp.anchors.len(), VOCAB);
    assert_eq!(fp.blocks.len(), BLOCKS);
    let b = fp.blocks[0].as_ref().expect("block units");
    assert_eq!((b.units.rows, b.units.cols), (MLP, 2 * HIDDEN));
    let bytes = fp.to_bytes().unwrap();
    assert!(Fingerprint::sniff(&bytes));
    assert_eq!(Fingerprint::from_bytes(&bytes, "x").unwrap(), fp);
    // Another algorithm version in the same container: an error, never a silent comparison.
    let needle = taoke_registry::fingerprint::ALGORITHM.as_bytes();
    let pos = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    let mut other = bytes.clone();
    other[pos + needle.len() - 1] = b'9';
    match Fingerprint::from_bytes(&other, "old.fp") {
        Err(Error::Incompatible { file, .. }) => assert_eq!(file, "old.fp"),
        r => panic!("expected Incompatible, got {r:?}"),
    }
    // Hostile bytes: an error naming the file, no panic.
    for cut in [0, 7, 100, bytes.len() / 2] {
        let e = Fingerprint::from_bytes(&bytes[..cut], "cut.fp").unwrap_err();
        assert!(e.to_string().contains("cut.fp"), "{e}");
    }
}

#[test]
fn exact_tests_separate_a_fine_tune_from_an_independent_model() {
    let base = tiny_fingerprint(1, 0.0, 0, "base");
    let tuned = tiny_fingerprint(1, 0.1, 77, "tuned");
    let other = tiny_fingerprint(2, 0.0, 0, "other");
    let r = compare(&base, &tuned).unwrap();
    let p = r.log10_p.unwrap();
    assert!(p < -15.0, "fine-tune log10 p = {p}");
    assert!(r.closeness > 0.9, "closeness {}", r.closeness);
    let i = compare(&base, &other).unwrap();
    let pi = i.log10_p.unwrap();
    assert!(pi > -4.0, "independent log10 p = {pi}");
    assert!(i.closeness < r.closeness);
}

#[test]
fn registry_add_list_identify_export_import_remove() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reg").join("registry.sqlite");
    let mut reg = Registry::open(&path).unwrap();
    assert_eq!(reg.schema_version().unwrap(), MIGRATIONS.len() as i64);
    for (seed, name) in [(1, "base-1"), (2, "base-2"), (3, "base-3")] {
        reg.add(&meta(name), &tiny_fingerprint(seed, 0.0, 0, name), false)
            .unwrap();
    }
    // Same name again: refused without --replace.
    let e = reg
        .add(&meta("base-1"), &tiny_fingerprint(1, 0.0, 0, "x"), false)
        .unwrap_err();
    assert!(e.to_string().contains("registry.sqlite"), "{e}");
    assert_eq!(reg.list().unwrap().len(), 3);
    let query = tiny_fingerprint(2, 0.1, 5, "suspect");
    let entries = reg.entries().unwrap();
    let r = identify(
        &query,
        &entries,
        &mut |i| reg.load(entries[i].id),
        &Options::default(),
    )
    .unwrap();
    assert_eq!(r.verdict, "known-ancestor");
    assert_eq!(r.matches[0].name, "base-2");
    assert_eq!(r.matches[0].verdict, "related");
    assert!(r.matches[1..].iter().all(|m| m.verdict != "related"));
    let unknown = tiny_fingerprint(9, 0.0, 0, "stranger");
    let r = identify(
        &unknown,
        &entries,
        &mut |i| reg.load(entries[i].id),
        &Options::default(),
    )
    .unwrap();
    assert_eq!(r.verdict, "no-known-ancestor");
    // Packs: export two, import into a fresh registry.
    let pack = dir.path().join("pack.taoke");
    assert_eq!(
        reg.export(&pack, &["base-1".into(), "base-2".into()])
            .unwrap(),
        2
    );
    let mut other = Registry::open(&dir.path().join("other.sqlite")).unwrap();
    assert_eq!(other.import(&pack, false).unwrap(), (2, 0));
    assert_eq!(other.import(&pack, false).unwrap(), (0, 2));
    let (m, fp) = other.get("base-2").unwrap().unwrap();
    assert_eq!(m.publisher.as_deref(), Some("taoke tests"));
    assert_eq!(fp, reg.get("base-2").unwrap().unwrap().1);
    assert!(reg.remove("base-3").unwrap());
    assert!(!reg.remove("base-3").unwrap());
    assert_eq!(reg.list().unwrap().len(), 2);
    assert!(reg.integrity_ok().unwrap());
}

#[test]
fn a_registry_from_a_newer_taoke_is_refused_not_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.sqlite");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
    }
    let e = Registry::open(&path).err().expect("refused");
    assert!(e.to_string().contains("newer"), "{e}");
    // Not a database at all: an error naming the file.
    let junk = dir.path().join("junk.sqlite");
    std::fs::write(
        &junk,
        b"this is not a database, just text that is long enough to matter",
    )
    .unwrap();
    let e = Registry::open(&junk).err().expect("refused");
    assert!(e.to_string().contains("junk.sqlite"), "{e}");
}

/// The committed fixture (`tests/compat/registry-v1.sqlite`, written by schema version 1 and
/// fingerprint algorithm `anchored-units/1`) must stay readable and identify its models: the
/// compatibility promise. Regenerate only for a new schema, as a new file, with
/// `cargo test -p taoke-registry --test registry -- --ignored write_compat_fixture`.
#[test]
fn committed_v1_registry_still_opens_and_identifies() {
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/registry-v1.sqlite");
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("registry.sqlite");
    std::fs::copy(&fixture, &copy).unwrap();
    // Opening migrates it (schema 2 adds the `catalog` table, backfilled from the entries).
    let reg = Registry::open(&copy).unwrap();
    assert_eq!(reg.schema_version().unwrap(), MIGRATIONS.len() as i64);
    assert!(reg.integrity_ok().unwrap());
    assert_eq!(reg.entries().unwrap().len(), 2);
    let names: Vec<String> = reg
        .list()
        .unwrap()
        .into_iter()
        .map(|e| e.meta.name)
        .collect();
    assert_eq!(names, ["tiny-base-1", "tiny-base-2"]);
    let query = tiny_fingerprint(1, 0.1, 42, "tiny-tuned");
    let entries = reg.entries().unwrap();
    let r = identify(
        &query,
        &entries,
        &mut |i| reg.load(entries[i].id),
        &Options::default(),
    )
    .unwrap();
    assert_eq!(r.matches[0].name, "tiny-base-1");
    assert_eq!(r.matches[0].verdict, "related");
    // The stored fingerprint is exactly today's fingerprint of the same generated model, but
    // for what later algorithms added. (The tensor naming scheme is metadata recorded since;
    // the raw weight samples came with `anchored-units/3`: the v1 file has neither.)
    let (_, fp) = reg.get("tiny-base-2").unwrap().unwrap();
    let mut today = tiny_fingerprint(2, 0.0, 0, "tiny-base-2");
    assert!(today.info.naming.is_some());
    assert!(today.samples.is_some());
    today.info.naming = None;
    today.samples = None;
    assert_eq!(fp, today);
}

#[test]
#[ignore = "writes the committed compatibility fixture"]
fn write_compat_fixture() {
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/registry-v1.sqlite");
    let _ = std::fs::remove_file(&fixture);
    {
        let mut reg = Registry::open(&fixture).unwrap();
        for (seed, name) in [(1, "tiny-base-1"), (2, "tiny-base-2")] {
            reg.add(&meta(name), &tiny_fingerprint(seed, 0.0, 0, name), false)
                .unwrap();
        }
    }
    // Fold the WAL into the main file so the fixture is one file.
    let c = rusqlite::Connection::open(&fixture).unwrap();
    c.pragma_update(None, "journal_mode", "DELETE").unwrap();
    c.execute_batch("VACUUM").unwrap();
}

#[test]
fn in_memory_entries_rank_the_parent_first() {
    let fps = vec![
        ("p".to_string(), tiny_fingerprint(4, 0.0, 0, "p")),
        ("q".to_string(), tiny_fingerprint(5, 0.0, 0, "q")),
    ];
    let child = tiny_fingerprint(4, 0.05, 3, "child");
    let r = identify(
        &child,
        &entries_of(&fps),
        &mut |i| Ok(fps[i].1.clone()),
        &Options::default(),
    )
    .unwrap();
    assert_eq!(r.matches[0].name, "p");
    assert_eq!(r.schema_version, 1);
}

/// The `catalog` table (what identify scans) follows every add, replace and remove, in the
/// writer's transaction.
#[test]
fn catalog_follows_add_replace_remove() {
    let dir = tempfile::tempdir().unwrap();
    let mut reg = Registry::open(&dir.path().join("r.sqlite")).unwrap();
    reg.add(&meta("x"), &tiny_fingerprint(1, 0.0, 0, "x"), false)
        .unwrap();
    reg.add(&meta("y"), &tiny_fingerprint(2, 0.0, 0, "y"), false)
        .unwrap();
    reg.add(&meta("x"), &tiny_fingerprint(3, 0.0, 0, "x"), true)
        .unwrap();
    let names = |reg: &Registry| {
        let mut n: Vec<String> = reg.entries().unwrap().into_iter().map(|e| e.name).collect();
        n.sort();
        n
    };
    assert_eq!(names(&reg), ["x", "y"]);
    // The replaced entry's signature is the new one.
    let x = reg
        .entries()
        .unwrap()
        .into_iter()
        .find(|e| e.name == "x")
        .unwrap();
    assert_eq!(x.screen, Screen::of(&tiny_fingerprint(3, 0.0, 0, "x")));
    assert!(reg.remove("y").unwrap());
    assert_eq!(names(&reg), ["x"]);
}

/// A fingerprint of the previous algorithm (`anchored-units/1`, top units by norm) is read
/// only when every block kept all its units (then its values are the `/2` ones); otherwise it
/// is refused with a message that says to re-fingerprint.
#[test]
fn legacy_fingerprints_are_read_only_when_they_hold_the_same_values() {
    // Without its weight samples, today's fingerprint is written as `anchored-units/2`.
    let relabel = |fp: &Fingerprint| -> Vec<u8> {
        let mut fp = fp.clone();
        fp.samples = None;
        let mut b = fp.to_bytes().unwrap();
        let (new, old) = (b"anchored-units/2", b"anchored-units/1");
        let at = b.windows(new.len()).position(|w| w == new).unwrap();
        b[at..at + new.len()].copy_from_slice(old);
        b
    };
    let mut full = tiny_fingerprint(1, 0.0, 0, "full");
    full.samples = None;
    assert_eq!(
        Fingerprint::from_bytes(&relabel(&full), "full.fp").unwrap(),
        full
    );
    let mut thinned = full.clone();
    let b = thinned.blocks[0].as_mut().unwrap();
    let cols = b.units.cols;
    b.units.data.truncate(8 * cols);
    b.units.rows = 8;
    b.index.truncate(8);
    let e = Fingerprint::from_bytes(&relabel(&thinned), "old.fp").unwrap_err();
    assert!(matches!(e, Error::Incompatible { .. }), "{e}");
    assert!(e.to_string().contains("re-fingerprint"), "{e}");
    // The current algorithm reads the same thinned fingerprint.
    assert!(Fingerprint::from_bytes(&thinned.to_bytes().unwrap(), "new.fp").is_ok());
}

/// A registry mixing `anchored-units/2` entries (no weight samples) and `/3` ones: each entry
/// records its own algorithm, every entry is listed for identify, and the `/2` one is compared
/// on what both algorithms hold (the same values), never on samples it does not have.
#[test]
fn a_registry_mixing_algorithm_versions_identifies_on_shared_values() {
    let dir = tempfile::tempdir().unwrap();
    let mut reg = Registry::open(&dir.path().join("mixed.sqlite")).unwrap();
    let mut old = tiny_fingerprint(1, 0.0, 0, "old-base");
    old.samples = None;
    assert_eq!(old.algorithm(), "anchored-units/2");
    reg.add(&meta("old-base"), &old, false).unwrap();
    let new = tiny_fingerprint(2, 0.0, 0, "new-base");
    assert_eq!(new.algorithm(), taoke_registry::fingerprint::ALGORITHM);
    reg.add(&meta("new-base"), &new, false).unwrap();
    let algos: Vec<(String, String)> = reg
        .list()
        .unwrap()
        .into_iter()
        .map(|e| (e.meta.name, e.algorithm))
        .collect();
    assert!(algos.contains(&("old-base".into(), "anchored-units/2".into())));
    assert!(algos.contains(&("new-base".into(), "anchored-units/3".into())));
    let entries = reg.entries().unwrap();
    assert_eq!(entries.len(), 2);
    let (_, back) = reg.get("old-base").unwrap().unwrap();
    assert_eq!(back, old);
    for (seed, parent) in [(1, "old-base"), (2, "new-base")] {
        let query = tiny_fingerprint(seed, 0.1, 42, "tuned");
        let r = identify(
            &query,
            &entries,
            &mut |i| reg.load(entries[i].id),
            &Options::default(),
        )
        .unwrap();
        assert_eq!(r.matches[0].name, parent);
        assert_eq!(r.matches[0].verdict, "related");
        assert!(r.matches[1..].iter().all(|m| m.verdict != "related"));
    }
}
