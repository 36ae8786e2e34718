//! Hostile and broken inputs: every one must give an error (never a panic), and the errors
//! must name what was refused.

use taoke_dtype::Dtype;
use taoke_pytorch::builder::{write_zip, CheckpointBuilder, PyValue, TensorSpec, ZipInput};
use taoke_pytorch::zip::ZipArchive;
use taoke_pytorch::{parse, parse_state_dict, Error, MAX_PICKLE_LEN};

use crate::util::f32_bytes;

const FORBIDDEN: &[(&str, &str)] = &[
    ("os", "system"),
    ("posix", "system"),
    ("builtins", "eval"),
    ("builtins", "exec"),
    ("__builtin__", "getattr"),
    ("subprocess", "Popen"),
    ("torch", "load"),
    ("torch.nn.modules.linear", "Linear"),
    ("collections", "defaultdict"),
];

fn small_checkpoint() -> Vec<u8> {
    let mut b = CheckpointBuilder::new();
    let w = b.tensor(Dtype::F32, &[2, 2], f32_bytes(&[1.0, 2.0, 3.0, 4.0]));
    let s = b.storage(Dtype::F16, vec![0; 8]);
    let v = TensorSpec {
        storage: s,
        dtype: Dtype::F16,
        offset: 1,
        shape: vec![3],
        strides: vec![1],
        parameter: true,
    };
    b.build(&PyValue::OrderedDict(vec![
        ("w".into(), w),
        ("v".into(), PyValue::Tensor(v)),
    ]))
}

#[test]
fn forbidden_globals_via_global_are_named() {
    for &(m, n) in FORBIDDEN {
        // c<module>\n<name>\n (X 'id') TUPLE1 REDUCE STOP
        let mut p = vec![0x80, 2, b'c'];
        p.extend_from_slice(format!("{m}\n{n}\n").as_bytes());
        p.extend_from_slice(b"X\x02\x00\x00\x00id\x85R.");
        let err = parse_state_dict(&p).unwrap_err();
        assert!(
            matches!(&err, Error::PickleGlobal { module, name, offset: 2 } if module == m && name == n),
            "{m}.{n}: {err}"
        );
        assert!(err.to_string().contains(&format!("`{m}.{n}`")), "{err}");
        // The same inside an archive.
        let file = CheckpointBuilder::new().build_with_pickle(&p);
        assert!(
            matches!(parse(&file), Err(Error::PickleGlobal { .. })),
            "{m}.{n} in a zip"
        );
    }
}

#[test]
fn forbidden_globals_via_stack_global_are_named() {
    for &(m, n) in FORBIDDEN {
        let mut p = vec![0x80, 4, 0x8c, m.len() as u8];
        p.extend_from_slice(m.as_bytes());
        p.extend_from_slice(&[0x94, 0x8c, n.len() as u8]);
        p.extend_from_slice(n.as_bytes());
        p.push(0x94);
        let at = p.len() as u64;
        p.extend_from_slice(b"\x93\x94\x8c\x02id\x94\x85\x94R\x94.");
        let err = parse_state_dict(&p).unwrap_err();
        assert!(
            matches!(&err, Error::PickleGlobal { module, name, offset } if module == m && name == n && *offset == at),
            "{m}.{n}: {err}"
        );
    }
}

#[test]
fn unknown_and_refused_opcodes_are_named() {
    let err = parse_state_dict(b"\x80\x02\xff.").unwrap_err();
    assert!(
        matches!(
            err,
            Error::PickleOpcode {
                opcode: 0xff,
                name: "unknown",
                offset: 2
            }
        ),
        "{err}"
    );
    // INST would import and call a class by name; EXT1 uses the copyreg registry; PERSID is
    // the text form of persistent ids torch never writes.
    for (op, name) in [
        (b'i', "INST"),
        (b'o', "OBJ"),
        (0x82, "EXT1"),
        (b'P', "PERSID"),
        (0x97, "NEXT_BUFFER"),
    ] {
        let err = parse_state_dict(&[0x80, 2, b'N', op, 0, 0, b'.']).unwrap_err();
        assert!(
            matches!(err, Error::PickleOpcode { name: n, offset: 3, .. } if n == name),
            "{err}"
        );
    }
}

#[test]
fn zip_bombs_are_refused() {
    let pkl = CheckpointBuilder::new().pickle(&PyValue::Dict(vec![]));
    // 1. Declares more than the data.pkl cap: refused before inflating.
    let mut e = ZipInput::new("archive/data.pkl", pkl.clone()).deflate(true);
    e.declared_len = Some(300 << 20);
    let err = parse(&write_zip(&[e], false)).unwrap_err();
    assert!(
        matches!(&err, Error::ZipBomb { name, len, cap } if name == "archive/data.pkl" && *len == 300 << 20 && *cap == MAX_PICKLE_LEN),
        "{err}"
    );
    // 1b. One byte over the cap is refused, by the cap (not the ratio).
    let mut big = pkl.clone();
    big.resize(1 << 20, 0);
    let mut e = ZipInput::new("archive/data.pkl", big).deflate(true);
    e.declared_len = Some(MAX_PICKLE_LEN + 1);
    let err = parse(&write_zip(&[e], false)).unwrap_err();
    assert!(
        matches!(&err, Error::ZipBomb { len, cap, .. } if *len == MAX_PICKLE_LEN + 1 && *cap == MAX_PICKLE_LEN),
        "{err}"
    );
    assert_eq!(MAX_PICKLE_LEN, 64 << 20);
    // 2. Declares a size far beyond deflate's possible ratio.
    let mut e = ZipInput::new("archive/data.pkl", pkl.clone()).deflate(true);
    e.declared_len = Some(100 << 20);
    assert!(matches!(
        parse(&write_zip(&[e], false)),
        Err(Error::ZipBomb { .. })
    ));
    // 3. Declares a small size but really expands further (8 MiB of zeros, ~8 KiB deflated):
    //    the inflater stops at the declared size.
    let mut zeros = pkl.clone();
    zeros.resize(8 << 20, 0);
    let mut e = ZipInput::new("archive/data.pkl", zeros).deflate(true);
    e.declared_len = Some(pkl.len() as u64);
    let err = parse(&write_zip(&[e], false)).unwrap_err();
    assert!(matches!(err, Error::ZipBomb { .. }), "{err}");
    // 4. Compressed storages are refused by name.
    let mut b = CheckpointBuilder::new();
    let t = b.tensor(Dtype::F32, &[1], f32_bytes(&[1.0]));
    let pkl = b.pickle(&t);
    let file = write_zip(
        &[
            ZipInput::new("archive/data.pkl", pkl),
            ZipInput::new("archive/data/0", f32_bytes(&[1.0])).deflate(true),
        ],
        false,
    );
    let err = parse(&file).unwrap_err();
    assert!(
        matches!(&err, Error::ZipMethod { name, method: 8, .. } if name == "archive/data/0"),
        "{err}"
    );
}

#[test]
fn every_truncation_of_an_archive_is_an_error() {
    let file = small_checkpoint();
    assert!(parse(&file).is_ok());
    for n in 0..file.len() {
        assert!(parse(&file[..n]).is_err(), "prefix of {n} bytes parsed");
    }
}

#[test]
fn every_truncation_of_a_pickle_is_an_error() {
    let mut b = CheckpointBuilder::new();
    let w = b.tensor(Dtype::F32, &[2, 2], f32_bytes(&[1.0, 2.0, 3.0, 4.0]));
    let pkl = b.pickle(&PyValue::OrderedDict(vec![("w".into(), w)]));
    for n in 0..pkl.len() {
        assert!(
            parse_state_dict(&pkl[..n]).is_err(),
            "prefix of {n} bytes parsed"
        );
    }
}

#[test]
fn single_byte_corruptions_never_panic() {
    let file = small_checkpoint();
    let mut failures = 0;
    for i in 0..file.len() {
        for x in [0xff, 0x01, 0x80] {
            let mut f = file.clone();
            f[i] ^= x;
            if parse(&f).is_err() {
                failures += 1;
            }
        }
    }
    // Most bytes are checked (CRC of data.pkl, headers); storage payload bytes are not.
    assert!(
        failures > file.len(),
        "only {failures} corruptions detected"
    );
}

#[test]
fn pickle_caps() {
    let cap = |p: &[u8], what: &str| {
        let err = parse_state_dict(p).unwrap_err();
        assert!(
            matches!(&err, Error::PickleCap { what: w, .. } if *w == what),
            "{what}: {err}"
        );
    };
    let mut marks = vec![0x80, 2];
    marks.extend(std::iter::repeat_n(b'(', 5000));
    cap(&marks, "open MARKs");
    let mut nones = vec![0x80, 2];
    nones.extend(std::iter::repeat_n(b'N', (1 << 20) + 1));
    cap(&nones, "stack depth");
    cap(
        b"\x80\x04\x8d\x00\x00\x00\x00\x00\x01\x00\x00",
        "string length",
    );
    cap(b"\x80\x02\x8b\x00\x00\x01\x00", "integer length");
    let mut rank = b"\x80\x02(".to_vec();
    for _ in 0..65 {
        rank.extend_from_slice(b"K\x01");
    }
    rank.push(b't');
    // Feed the 65-dim size into a real tensor constructor.
    let mut p = b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x01tQK\x00".to_vec();
    p.extend_from_slice(&rank[2..]);
    p.extend_from_slice(&rank[2..]);
    p.extend_from_slice(b"\x89)tR.");
    cap(&p, "tensor rank");
    // A huge GLOBAL line.
    let mut g = b"\x80\x02c".to_vec();
    g.extend(std::iter::repeat_n(b'a', 5000));
    cap(&g, "GLOBAL line length");
}

#[test]
fn structural_pickle_errors() {
    let invalid = |p: &[u8]| {
        let err = parse_state_dict(p).unwrap_err();
        assert!(matches!(err, Error::PickleInvalid { .. }), "{err}");
        err.to_string()
    };
    assert!(invalid(b"\x80\x02h\x05.").contains("memo key 5"));
    assert!(invalid(b"\x80\x02s.").contains("stack underflow"));
    assert!(invalid(b"\x80\x02t.").contains("no MARK"));
    assert!(invalid(b"\x80\x02K\x01K\x02K\x03s.").contains("cannot set items on a int"));
    assert!(invalid(b"\x80\x09.").contains("protocol 9"));
    // A persistent id that is not torch's storage tuple.
    assert!(invalid(b"\x80\x02K\x01Q.").contains("persistent id"));
    // Calling a storage class or a plain str.
    assert!(invalid(b"\x80\x02ctorch\nFloatStorage\n)R.").contains("not supported"));
    assert!(invalid(b"\x80\x02X\x01\x00\x00\x00a)R.").contains("cannot call a str"));
    // No STOP.
    assert!(matches!(
        parse_state_dict(b"\x80\x02N"),
        Err(Error::PickleEof { .. })
    ));
    // A root that is not a container.
    assert!(matches!(
        parse_state_dict(b"\x80\x02K\x01."),
        Err(Error::Root { found: "int" })
    ));
}

#[test]
fn one_key_two_storage_types_is_refused() {
    let p = b"\x80\x02(\
ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x01tQK\x00))\x89)tR\
ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nHalfStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x01tQK\x00))\x89)tR\
l.";
    let err = parse_state_dict(p).unwrap_err();
    assert!(
        matches!(&err, Error::StorageConflict { key, .. } if key == "0"),
        "{err}"
    );
}

#[test]
fn self_referencing_and_deeply_nested_containers() {
    // A list that contains itself: walked once, no tensors, no hang.
    let s = parse_state_dict(b"\x80\x02]q\x00h\x00a.").expect("parses");
    assert!(s.tensors.is_empty());
    // 100 nested dicts: beyond MAX_NESTING.
    let mut p = b"\x80\x02".to_vec();
    for _ in 0..100 {
        p.extend_from_slice(b"}X\x01\x00\x00\x00k");
    }
    p.extend_from_slice(b"N");
    p.extend(std::iter::repeat_n(b's', 100));
    p.push(b'.');
    assert!(matches!(
        parse_state_dict(&p),
        Err(Error::Nesting { cap: 64, .. })
    ));
}

#[test]
fn zip_structure_errors() {
    // Overlap: entry `b`'s central record points inside `a`'s data, where a valid local
    // header for `b` was planted.
    let inner = write_zip(&[ZipInput::new("b", b"xyz".to_vec())], false);
    let outer = write_zip(
        &[
            ZipInput::new("a", inner.clone()),
            ZipInput::new("b", b"xyz".to_vec()),
        ],
        false,
    );
    let a_data = ZipArchive::parse(&outer)
        .expect("valid")
        .find("a")
        .expect("a")
        .data_offset;
    let cds: Vec<usize> = outer
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == b"PK\x01\x02")
        .map(|(i, _)| i)
        .collect();
    // The planted archive has its own central record inside `a`; the outer ones are last.
    let b_central = cds[cds.len() - 1];
    let mut bad = outer.clone();
    bad[b_central + 42..b_central + 46].copy_from_slice(&(a_data as u32).to_le_bytes());
    let err = ZipArchive::parse(&bad).unwrap_err();
    assert!(
        matches!(&err, Error::ZipEntryRange { problem, .. } if problem.contains("overlapping")),
        "{err}"
    );

    // Data running past the central directory.
    let mut bad = outer.clone();
    for off in [20, 24] {
        bad[b_central + off..b_central + off + 4].copy_from_slice(&1_000_000u32.to_le_bytes());
    }
    let err = ZipArchive::parse(&bad).unwrap_err();
    assert!(
        matches!(&err, Error::ZipEntryRange { name, .. } if name == "b"),
        "{err}"
    );

    // Duplicate names.
    let dup = write_zip(
        &[ZipInput::new("a", vec![1]), ZipInput::new("a", vec![2])],
        false,
    );
    assert!(matches!(ZipArchive::parse(&dup), Err(Error::ZipDuplicate { name }) if name == "a"));

    // Name longer than the cap.
    let long = write_zip(&[ZipInput::new("n".repeat(5000), vec![1])], false);
    assert!(matches!(
        ZipArchive::parse(&long),
        Err(Error::ZipCap {
            what: "entry name length",
            value: 5000,
            ..
        })
    ));

    // An end record claiming more entries than the directory can hold.
    let mut bad = outer.clone();
    let n = bad.len();
    bad[n - 12..n - 10].copy_from_slice(&500u16.to_le_bytes());
    bad[n - 14..n - 12].copy_from_slice(&500u16.to_le_bytes());
    assert!(matches!(
        ZipArchive::parse(&bad),
        Err(Error::ZipInvalid {
            what: "central directory",
            ..
        })
    ));

    // CRC mismatch on data.pkl.
    let mut file = small_checkpoint();
    let z = ZipArchive::parse(&file).expect("valid");
    let pkl = z.find("archive/data.pkl").expect("data.pkl").data_offset as usize;
    file[pkl + 3] ^= 0x20;
    assert!(matches!(parse(&file), Err(Error::ZipCrc { name, .. }) if name == "archive/data.pkl"));

    // No data.pkl at all.
    let none = write_zip(&[ZipInput::new("x/readme", vec![1])], false);
    assert!(matches!(parse(&none), Err(Error::NoDataPkl { .. })));
    assert!(matches!(parse(b"GGUF\x03\x00\x00\x00"), Err(Error::NotZip)));
}

/// Seeded random corruption (byte flips, deletions, insertions, truncations) of a data.pkl:
/// never a panic, and each outcome is a result.
#[test]
fn random_pickle_mutations_never_panic() {
    let mut b = CheckpointBuilder::new();
    let w = b.tensor(Dtype::F32, &[2, 2], f32_bytes(&[1.0, 2.0, 3.0, 4.0]));
    let s = b.storage(Dtype::F32, f32_bytes(&[0.0; 8]));
    let t = TensorSpec {
        storage: s,
        dtype: Dtype::F32,
        offset: 2,
        shape: vec![2, 3],
        strides: vec![1, 2],
        parameter: true,
    };
    let root = PyValue::Dict(vec![
        (
            "model".into(),
            PyValue::OrderedDict(vec![("w".into(), w), ("t".into(), PyValue::Tensor(t))]),
        ),
        ("epoch".into(), PyValue::Int(3)),
        (
            "hist".into(),
            PyValue::List(vec![PyValue::Float(0.5), PyValue::Str("x".into())]),
        ),
    ]);
    let pkl = b.pickle(&root);
    assert_eq!(parse_state_dict(&pkl).expect("valid").tensors.len(), 2);
    let mut rng = taoke_test::XorShift64(0x9E37_79B9_7F4A_7C15);
    let mut next = move || rng.next_u64();
    let mut errors = 0;
    for _ in 0..20_000 {
        let mut p = pkl.clone();
        for _ in 0..1 + next() % 3 {
            if p.is_empty() {
                break;
            }
            let at = (next() % p.len() as u64) as usize;
            match next() % 4 {
                0 => p[at] = next() as u8,
                1 => {
                    p.remove(at);
                }
                2 => p.insert(at, next() as u8),
                _ => p.truncate(at.max(1)),
            }
        }
        if parse_state_dict(&p).is_err() {
            errors += 1;
        }
    }
    assert!(errors > 10_000, "only {errors} of 20000 mutations rejected");
}
