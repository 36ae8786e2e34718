//! Hostile and malformed input: every case is an error (never a panic or a huge allocation).

use taoke_dtype::Dtype;
use taoke_gguf::{
    Error, Gguf, GgufWriter, Value, MAX_KV, MAX_METADATA_VALUES, MAX_NESTING_DEPTH, MAX_TENSORS,
};

/// A small valid file: metadata of several types and two tensors.
fn sample() -> Vec<u8> {
    let mut w = GgufWriter::new();
    w.add_kv("general.architecture", "llama").unwrap();
    w.add_kv("n", 7u32).unwrap();
    w.add_kv(
        "tokens",
        Value::Array(vec!["a".into(), "bc".into(), "".into()]),
    )
    .unwrap();
    w.add_kv("f", 0.5f64).unwrap();
    let f32s: Vec<u8> = (0..6).flat_map(|i| (i as f32).to_le_bytes()).collect();
    w.add_tensor("a", &[2, 3], Dtype::F32, f32s).unwrap();
    w.add_tensor("b", &[32], Dtype::Q8_0, vec![0u8; 34])
        .unwrap();
    w.to_bytes()
}

fn position(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).position(|w| w == needle).unwrap()
}

/// Byte offset of the `offset` field of tensor `name` (names must be unique in the header).
fn tensor_offset_field(bytes: &[u8], name: &str, n_dims: usize) -> usize {
    let mut key = (name.len() as u64).to_le_bytes().to_vec();
    key.extend_from_slice(name.as_bytes());
    // After the name: n_dims (4), dims (8 each), type (4).
    position(bytes, &key) + key.len() + 4 + 8 * n_dims + 4
}

fn header(version: u32, n_tensors: u64, n_kv: u64) -> Vec<u8> {
    let mut h = b"GGUF".to_vec();
    h.extend_from_slice(&version.to_le_bytes());
    h.extend_from_slice(&n_tensors.to_le_bytes());
    h.extend_from_slice(&n_kv.to_le_bytes());
    h
}

fn push_str(h: &mut Vec<u8>, s: &[u8]) {
    h.extend_from_slice(&(s.len() as u64).to_le_bytes());
    h.extend_from_slice(s);
}

#[test]
fn every_truncation_fails_cleanly() {
    let bytes = sample();
    let g = Gguf::parse(&bytes).unwrap();
    let data_end = g
        .tensors
        .iter()
        .map(|t| g.tensor_range(t).unwrap().end)
        .max()
        .unwrap();
    for cut in 0..bytes.len() {
        let r = Gguf::parse(&bytes[..cut]);
        if cut < data_end {
            assert!(r.is_err(), "truncated at {cut} parsed");
        } else {
            // Only trailing padding is missing.
            assert!(r.is_ok(), "truncated at {cut}: {r:?}");
        }
    }
    assert!(matches!(
        Gguf::parse(&bytes[..20]),
        Err(Error::Truncated { .. })
    ));
}

#[test]
fn huge_counts_fail_fast() {
    let err = Gguf::parse(&header(3, 1 << 60, 0)).unwrap_err();
    assert!(
        matches!(err, Error::OverLimit { value, .. } if value == 1 << 60),
        "{err}"
    );
    let err = Gguf::parse(&header(3, 0, 1 << 60)).unwrap_err();
    assert!(matches!(err, Error::OverLimit { .. }), "{err}");
    // Within the cap, but the bytes to hold them are not there.
    let err = Gguf::parse(&header(3, MAX_TENSORS, 0)).unwrap_err();
    assert!(matches!(err, Error::Truncated { .. }), "{err}");
    // One over MAX_TENSORS: refused by count.
    let err = Gguf::parse(&header(3, MAX_TENSORS + 1, 0)).unwrap_err();
    assert!(
        matches!(err, Error::OverLimit { value, max, .. } if value == MAX_TENSORS + 1 && max == MAX_TENSORS),
        "{err}"
    );
    // Version 1: counts are u32.
    let mut v1 = b"GGUF".to_vec();
    v1.extend_from_slice(&1u32.to_le_bytes());
    v1.extend_from_slice(&u32::MAX.to_le_bytes());
    v1.extend_from_slice(&0u32.to_le_bytes());
    assert!(matches!(Gguf::parse(&v1), Err(Error::OverLimit { .. })));
}

#[test]
fn metadata_count_and_total_value_caps() {
    // MAX_KV + 1 pairs: refused by count, before reading any.
    let err = Gguf::parse(&header(3, 0, MAX_KV + 1)).unwrap_err();
    assert!(
        matches!(err, Error::OverLimit { value, max, .. } if value == MAX_KV + 1 && max == MAX_KV),
        "{err}"
    );
    // Two u8 arrays of 3/4 of MAX_METADATA_VALUES each: the first is fine, the second goes
    // over the total.
    let n = MAX_METADATA_VALUES * 3 / 4;
    let mut h = header(3, 0, 2);
    for key in [&b"a"[..], b"b"] {
        push_str(&mut h, key);
        h.extend_from_slice(&9u32.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(&n.to_le_bytes());
        h.extend(std::iter::repeat_n(1u8, n as usize));
    }
    let err = Gguf::parse(&h).unwrap_err();
    assert!(
        matches!(&err, Error::OverLimit { value, max, context, .. }
            if *value == 2 * n && *max == MAX_METADATA_VALUES && context.contains("`b`")),
        "{err}"
    );
    // One of them alone parses.
    let mut one = header(3, 0, 1);
    push_str(&mut one, b"a");
    one.extend_from_slice(&9u32.to_le_bytes());
    one.extend_from_slice(&0u32.to_le_bytes());
    one.extend_from_slice(&n.to_le_bytes());
    one.extend(std::iter::repeat_n(1u8, n as usize));
    let g = Gguf::parse(&one).unwrap();
    assert_eq!(g.get_array("a").unwrap().len() as u64, n);
}

#[test]
fn string_lengths_past_the_end() {
    let mut h = header(3, 0, 1);
    h.extend_from_slice(&1000u64.to_le_bytes());
    h.extend_from_slice(b"short");
    let err = Gguf::parse(&h).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Truncated {
                needed: 1000,
                offset: 32,
                ..
            }
        ),
        "{err}"
    );
    let mut h = header(3, 0, 1);
    h.extend_from_slice(&(u64::MAX).to_le_bytes());
    h.extend_from_slice(&[0; 16]);
    assert!(matches!(Gguf::parse(&h), Err(Error::OverLimit { .. })));
    // A string value whose length runs past the end names its key.
    let mut h = header(3, 0, 1);
    push_str(&mut h, b"general.name");
    h.extend_from_slice(&8u32.to_le_bytes());
    h.extend_from_slice(&(1u64 << 40).to_le_bytes());
    let err = Gguf::parse(&h).unwrap_err();
    assert!(err.to_string().contains("general.name"), "{err}");
}

#[test]
fn arrays_nested_too_deep_or_too_long() {
    let mut v = Value::U8(1);
    for _ in 0..=MAX_NESTING_DEPTH {
        v = Value::Array(vec![v]);
    }
    let mut w = GgufWriter::new();
    w.add_kv("deep", v).unwrap();
    let err = Gguf::parse(&w.to_bytes()).unwrap_err();
    assert!(
        matches!(&err, Error::NestingTooDeep { key, .. } if key == "deep"),
        "{err}"
    );

    // One level less is fine.
    let mut v = Value::U8(1);
    for _ in 0..MAX_NESTING_DEPTH {
        v = Value::Array(vec![v]);
    }
    let mut w = GgufWriter::new();
    w.add_kv("deep", v.clone()).unwrap();
    assert_eq!(Gguf::parse(&w.to_bytes()).unwrap().get("deep"), Some(&v));

    // An array of 2^40 u64: over the cap. An array of 2^20 u64 with no bytes: truncated.
    for (len, over) in [(1u64 << 40, true), (1 << 20, false)] {
        let mut h = header(3, 0, 1);
        push_str(&mut h, b"arr");
        h.extend_from_slice(&9u32.to_le_bytes());
        h.extend_from_slice(&10u32.to_le_bytes());
        h.extend_from_slice(&len.to_le_bytes());
        let err = Gguf::parse(&h).unwrap_err();
        if over {
            assert!(matches!(err, Error::OverLimit { .. }), "{err}");
        } else {
            assert!(matches!(err, Error::Truncated { .. }), "{err}");
        }
    }
}

#[test]
fn tensor_offsets_out_of_bounds_or_misaligned() {
    let bytes = sample();
    let at = tensor_offset_field(&bytes, "b", 1);
    for (offset, misaligned) in [(1u64 << 20, false), (u64::MAX - 31, false), (8, true)] {
        let mut b = bytes.clone();
        b[at..at + 8].copy_from_slice(&offset.to_le_bytes());
        let err = Gguf::parse(&b).unwrap_err();
        if misaligned {
            assert!(
                matches!(&err, Error::Misaligned { tensor, .. } if tensor == "b"),
                "{err}"
            );
        } else {
            assert!(
                matches!(&err, Error::OutOfBounds { tensor, .. } if tensor == "b"),
                "{err}"
            );
            assert!(err.to_string().contains("`b`"));
        }
    }
}

#[test]
fn overlapping_tensors_are_refused() {
    // `b` (34 bytes of Q8_0) moved onto `a` (24 bytes at offset 0): offset 0 overlaps.
    let bytes = sample();
    let at = tensor_offset_field(&bytes, "b", 1);
    let mut b = bytes.clone();
    b[at..at + 8].copy_from_slice(&0u64.to_le_bytes());
    let err = Gguf::parse(&b).unwrap_err();
    assert!(
        matches!(&err, Error::Overlap { tensor, other, offset: 0, other_end: 24 } if tensor == "b" && other == "a"),
        "{err}"
    );
    // Adjacent tensors (b right after a at the next aligned offset) are fine.
    assert!(Gguf::parse(&bytes).is_ok());
}

#[test]
fn malformed_headers() {
    assert!(matches!(Gguf::parse(b"GGU"), Err(Error::BadMagic { .. })));
    assert!(matches!(
        Gguf::parse(b"GGML\x03\0\0\0"),
        Err(Error::BadMagic { .. })
    ));
    assert!(matches!(
        Gguf::parse(&header(4, 0, 0)),
        Err(Error::UnsupportedVersion { version: 4 })
    ));
    // Unknown value type, bad bool, invalid utf-8, duplicate key, bad alignment.
    let kv = |key: &[u8], ty: u32, payload: &[u8]| {
        let mut h = header(3, 0, 1);
        push_str(&mut h, key);
        h.extend_from_slice(&ty.to_le_bytes());
        h.extend_from_slice(payload);
        h
    };
    assert!(matches!(
        Gguf::parse(&kv(b"k", 13, &[0; 8])),
        Err(Error::BadValueType { type_id: 13, .. })
    ));
    assert!(matches!(
        Gguf::parse(&kv(b"k", 7, &[2])),
        Err(Error::BadBool { byte: 2, .. })
    ));
    assert!(matches!(
        Gguf::parse(&kv(b"k\xff", 7, &[1])),
        Err(Error::InvalidUtf8 { .. })
    ));
    assert!(matches!(
        Gguf::parse(&kv(b"general.alignment", 4, &3u32.to_le_bytes())),
        Err(Error::BadAlignment { .. })
    ));
    assert!(matches!(
        Gguf::parse(&kv(b"general.alignment", 8, b"\x01\0\0\0\0\0\0\0x")),
        Err(Error::BadAlignment { .. })
    ));
    let mut h = header(3, 0, 2);
    for _ in 0..2 {
        push_str(&mut h, b"k");
        h.extend_from_slice(&0u32.to_le_bytes());
        h.push(1);
    }
    assert!(matches!(Gguf::parse(&h), Err(Error::DuplicateKey { .. })));
}

fn one_tensor(dims: &[u64], ggml_type: u32) -> Vec<u8> {
    let mut h = header(3, 1, 0);
    push_str(&mut h, b"t");
    h.extend_from_slice(&(dims.len() as u32).to_le_bytes());
    for d in dims {
        h.extend_from_slice(&d.to_le_bytes());
    }
    h.extend_from_slice(&ggml_type.to_le_bytes());
    h.extend_from_slice(&0u64.to_le_bytes());
    h.resize(h.len().next_multiple_of(32) + 64, 0);
    h
}

#[test]
fn malformed_tensor_infos() {
    assert!(matches!(
        Gguf::parse(&one_tensor(&[1 << 32, 1 << 32, 1 << 32], 0)),
        Err(Error::ShapeOverflow { .. })
    ));
    assert!(matches!(
        Gguf::parse(&one_tensor(&[33], 2)),
        Err(Error::PartialBlock { row_len: 33, .. })
    ));
    assert!(matches!(
        Gguf::parse(&one_tensor(&[1; 9], 0)),
        Err(Error::OverLimit { .. })
    ));
    // 16 f32 = 64 bytes fit; 17 do not.
    assert!(Gguf::parse(&one_tensor(&[16], 0)).is_ok());
    assert!(matches!(
        Gguf::parse(&one_tensor(&[17], 0)),
        Err(Error::OutOfBounds { .. })
    ));
    // An unknown type is listed by name, with no size.
    let g = Gguf::parse(&one_tensor(&[1 << 40], 99)).unwrap();
    let t = &g.tensors[0];
    assert_eq!(
        (t.dtype, t.type_name.as_str(), t.byte_len),
        (Dtype::Unknown, "type_99", None)
    );
    assert_eq!(g.tensor_range(t), None);
    let g = Gguf::parse(&one_tensor(&[32], 31)).unwrap();
    assert_eq!(g.tensors[0].type_name, "Q4_0_4_4");
    // Two tensors of one name.
    let mut h = header(3, 2, 0);
    for _ in 0..2 {
        push_str(&mut h, b"t");
        h.extend_from_slice(&1u32.to_le_bytes());
        h.extend_from_slice(&1u64.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(&0u64.to_le_bytes());
    }
    h.resize(128, 0);
    assert!(matches!(
        Gguf::parse(&h),
        Err(Error::DuplicateTensor { .. })
    ));
}

#[test]
fn random_mutations_never_panic() {
    let bytes = sample();
    let mut rng = taoke_test::XorShift64(0x9e37_79b9_7f4a_7c15);
    let mut next = move || rng.next_u64();
    let mut errors = 0;
    for _ in 0..20_000 {
        let mut b = bytes.clone();
        for _ in 0..1 + next() % 4 {
            let i = (next() % b.len() as u64) as usize;
            b[i] = match next() % 3 {
                0 => next() as u8,
                1 => 0xff,
                _ => b[i] ^ (1 << (next() % 8)),
            };
        }
        errors += usize::from(Gguf::parse(&b).is_err());
    }
    // Most single-byte changes land in names or values and still parse; many do not.
    assert!(errors > 1000, "{errors}");
}
