//! Writer → parser round trips.

use taoke_dtype::{decode_f32, quant, Dtype};
use taoke_gguf::{Gguf, GgufWriter, Value, WriteError};

fn all_values() -> Vec<(&'static str, Value)> {
    vec![
        ("u8", Value::U8(200)),
        ("i8", Value::I8(-5)),
        ("u16", Value::U16(65000)),
        ("i16", Value::I16(-30000)),
        ("u32", Value::U32(4_000_000_000)),
        ("i32", Value::I32(-2_000_000_000)),
        ("f32", Value::F32(1.5)),
        ("bool", Value::Bool(true)),
        ("string", Value::from("héllo ▁world")),
        (
            "array.strings",
            Value::Array(vec!["a".into(), "".into(), "ü".into()]),
        ),
        (
            "array.nested",
            Value::Array(vec![
                Value::Array(vec![Value::I32(1), Value::I32(-2)]),
                Value::Array(vec![]),
            ]),
        ),
        ("array.empty", Value::Array(vec![])),
        ("array.f32", Value::Array(vec![Value::F32(-0.25); 5])),
        ("u64", Value::U64(u64::MAX)),
        ("i64", Value::I64(i64::MIN)),
        ("f64", Value::F64(-1e300)),
    ]
}

#[test]
fn metadata_and_tensors_round_trip() {
    let values: Vec<f32> = (0..512)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    let f32_bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let q8 = quant::quantize(Dtype::Q8_0, &values).unwrap();
    let q4k = quant::quantize(Dtype::Q4_K, &values).unwrap();
    let f16_bytes = vec![0x3cu8; 2 * 3 * 5];

    for alignment in [None, Some(64u64), Some(1)] {
        let mut w = GgufWriter::new();
        for (k, v) in all_values() {
            w.add_kv(k, v).unwrap();
        }
        if let Some(a) = alignment {
            w.set_alignment(a).unwrap();
        }
        w.add_tensor("f32", &[2, 256], Dtype::F32, f32_bytes.as_slice())
            .unwrap();
        w.add_tensor("odd", &[3, 5], Dtype::F16, f16_bytes.clone())
            .unwrap();
        w.add_tensor("q8", &[16, 32], Dtype::Q8_0, q8.as_slice())
            .unwrap();
        w.add_tensor("q4k", &[2, 256], Dtype::Q4_K, q4k.as_slice())
            .unwrap();
        let bytes = w.to_bytes();
        let mut sink = Vec::new();
        assert_eq!(w.write_to(&mut sink).unwrap(), bytes.len() as u64);
        assert_eq!(sink, bytes);

        let g = Gguf::parse(&bytes).unwrap();
        assert_eq!(g.version, 3);
        assert_eq!(g.alignment, alignment.unwrap_or(32));
        assert!(g.data_offset.is_multiple_of(g.alignment));
        let mut want: Vec<(String, Value)> = all_values()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        if let Some(a) = alignment {
            want.push(("general.alignment".into(), Value::U32(a as u32)));
        }
        assert_eq!(g.metadata, want);
        assert_eq!(g.get_u64("u8"), Some(200));
        assert_eq!(g.get_i64("i64"), Some(i64::MIN));
        assert_eq!(g.get_f64("f32"), Some(1.5));
        assert_eq!(g.get_bool("bool"), Some(true));
        assert_eq!(g.get_str_array("array.strings").unwrap(), ["a", "", "ü"]);
        assert_eq!(g.get_f64_array("array.f32").unwrap(), [-0.25; 5]);

        let names: Vec<&str> = g.tensors.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["f32", "odd", "q8", "q4k"]);
        for (name, dtype, shape, data) in [
            ("f32", Dtype::F32, vec![2, 256], f32_bytes.as_slice()),
            ("odd", Dtype::F16, vec![3, 5], f16_bytes.as_slice()),
            ("q8", Dtype::Q8_0, vec![16, 32], q8.as_slice()),
            ("q4k", Dtype::Q4_K, vec![2, 256], q4k.as_slice()),
        ] {
            let t = g.tensor(name).unwrap();
            assert_eq!(t.dtype, dtype);
            assert_eq!(t.type_name, dtype.name());
            assert_eq!(t.shape_row_major(), shape);
            assert!(t.offset.is_multiple_of(g.alignment));
            assert_eq!(g.tensor_data(&bytes, t).unwrap(), data);
        }
        let t = g.tensor("q8").unwrap();
        let mut out = vec![0.0; 512];
        decode_f32(t.dtype, g.tensor_data(&bytes, t).unwrap(), &mut out).unwrap();
        let max_err = out
            .iter()
            .zip(&values)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(max_err < 0.5 / 127.0 + 1e-3, "{max_err}");
    }
}

#[test]
fn empty_file_round_trips() {
    let bytes = GgufWriter::new().to_bytes();
    assert_eq!(bytes.len(), 24);
    let g = Gguf::parse(&bytes).unwrap();
    assert!(g.metadata.is_empty() && g.tensors.is_empty());
}

#[test]
fn writer_rejects_bad_input() {
    let mut w = GgufWriter::new();
    w.add_kv("k", 1u8).unwrap();
    assert_eq!(
        w.add_kv("k", 2u8).unwrap_err(),
        WriteError::DuplicateKey("k".into())
    );
    assert!(matches!(
        w.add_kv("mixed", Value::Array(vec![Value::U8(1), Value::I8(1)])),
        Err(WriteError::MixedArray(_))
    ));
    assert!(matches!(
        w.set_alignment(48),
        Err(WriteError::BadAlignment(48))
    ));
    assert!(matches!(
        w.add_tensor("t", &[3], Dtype::F32, vec![0u8; 8]),
        Err(WriteError::Length {
            needed: Some(12),
            got: 8,
            ..
        })
    ));
    assert!(matches!(
        w.add_tensor("t", &[2, 16], Dtype::Q8_0, vec![0u8; 34]),
        Err(WriteError::PartialBlock { row_len: 16, .. })
    ));
    assert!(matches!(
        w.add_tensor("t", &[4], Dtype::U8, vec![0u8; 4]),
        Err(WriteError::UnsupportedDtype { .. })
    ));
    w.add_tensor("t", &[1], Dtype::F32, vec![0u8; 4]).unwrap();
    assert!(matches!(
        w.add_tensor("t", &[1], Dtype::F32, vec![0u8; 4]),
        Err(WriteError::DuplicateTensor(_))
    ));
}
