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

/// A file written by the reference writer of the `gguf` Python package (see
/// `tests/data/gen_fixture.py`): every value type, alignment 64, four tensors.
#[test]
fn python_writer_fixture() {
    let bytes = include_bytes!("data/python-writer.gguf");
    let g = Gguf::parse(bytes).unwrap();
    assert_eq!(g.version, 3);
    assert_eq!(g.alignment, 64);
    assert_eq!(g.data_offset, 768);
    assert_eq!(g.architecture(), Some("llama"));
    assert_eq!(g.get("t.u8"), Some(&Value::U8(200)));
    assert_eq!(g.get("t.i8"), Some(&Value::I8(-5)));
    assert_eq!(g.get("t.u16"), Some(&Value::U16(65000)));
    assert_eq!(g.get("t.i16"), Some(&Value::I16(-30000)));
    assert_eq!(g.get("t.u32"), Some(&Value::U32(4_000_000_000)));
    assert_eq!(g.get("t.i32"), Some(&Value::I32(-2_000_000_000)));
    assert_eq!(g.get("t.f32"), Some(&Value::F32(1.5)));
    assert_eq!(g.get("t.bool"), Some(&Value::Bool(true)));
    assert_eq!(g.get_str("t.string"), Some("héllo ▁world"));
    assert_eq!(g.get("t.u64"), Some(&Value::U64(u64::MAX)));
    assert_eq!(g.get("t.i64"), Some(&Value::I64(i64::MIN)));
    assert_eq!(g.get("t.f64"), Some(&Value::F64(-1e300)));
    assert_eq!(g.get_str_array("t.strings").unwrap(), ["a", "", "ü"]);
    assert_eq!(g.get_i64_array("t.ints").unwrap(), [1, -2, 3]);
    let nested = g.get_array("t.nested").unwrap();
    assert_eq!(nested.len(), 2);
    assert_eq!(nested[0].as_array().unwrap().len(), 2);

    // Name, dtype, row-major shape, offset, and the sum and first value the reference reader
    // decodes.
    struct Want {
        name: &'static str,
        dtype: Dtype,
        shape: &'static [u64],
        offset: u64,
        sum: f64,
        first: f32,
    }
    let expected = [
        Want {
            name: "f32",
            dtype: Dtype::F32,
            shape: &[2, 3],
            offset: 0,
            sum: 15.0,
            first: 0.0,
        },
        Want {
            name: "f16",
            dtype: Dtype::F16,
            shape: &[4],
            offset: 64,
            sum: 65503.5,
            first: 1.0,
        },
        Want {
            name: "q8",
            dtype: Dtype::Q8_0,
            shape: &[2, 32],
            offset: 128,
            sum: -1.3820228576660156,
            first: 0.0,
        },
        Want {
            name: "q4k",
            dtype: Dtype::Q4_K,
            shape: &[1, 256],
            offset: 256,
            sum: 375.84027099609375,
            first: 1.6953621,
        },
    ];
    assert_eq!(g.tensors.len(), 4);
    for Want {
        name,
        dtype,
        shape,
        offset,
        sum,
        first,
    } in expected
    {
        let t = g.tensor(name).unwrap();
        assert_eq!(t.dtype, dtype, "{name}");
        assert_eq!(t.shape_row_major(), shape, "{name}");
        assert_eq!(t.offset, offset, "{name}");
        let mut v = vec![0.0; t.n_elements().unwrap() as usize];
        decode_f32(dtype, g.tensor_data(bytes, t).unwrap(), &mut v).unwrap();
        let s: f64 = v.iter().map(|&x| f64::from(x)).sum();
        assert!(
            (s - sum).abs() <= 1e-12 * sum.abs().max(1.0),
            "{name}: sum {s} vs {sum}"
        );
        assert_eq!(v[0], first, "{name}");
    }
}
