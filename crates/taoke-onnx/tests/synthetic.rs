//! Parsing and pattern recovery on small ONNX files built in the test.

mod common;

use common::*;
use taoke_dtype::Dtype;
use taoke_onnx::{
    find_quantized_weights, parse, tensor_uses, Error, GraphIndex, InitData, PackedField, Pattern,
};

#[test]
fn model_fields_and_storage_kinds() {
    let f16_bits: Vec<i64> = [1.0f32, -2.0]
        .iter()
        .map(|&v| i64::from(half_bits(v)))
        .collect();
    let inits = vec![
        raw_f32("w", &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        tensor("pf", &[3], 1).packed_f32(4, &[0.5, 1.5, 2.5]),
        tensor("h", &[2], 10).packed_varints(5, &f16_bits),
        tensor("i64s", &[2], 7).int(7, 5).int(7, 6), // unpacked repeated int64
        tensor("ext", &[4], 1)
            .msg(13, Msg::new().str(1, "location").str(2, "weights/data.bin"))
            .msg(13, Msg::new().str(1, "offset").str(2, "128"))
            .msg(13, Msg::new().str(1, "length").str(2, "16"))
            .int(14, 1),
        tensor("empty", &[0, 5], 1),
        tensor("s", &[2], 8).str(6, "a").str(6, "b"),
    ];
    let nodes = vec![node("MatMul", &["x", "w"], &["y"], vec![])];
    let bytes = model(inits, nodes);
    let m = parse(&bytes).unwrap();
    assert_eq!(m.ir_version, 9);
    assert_eq!(m.producer, "taoke-test");
    assert_eq!(m.opsets, [(String::new(), 17)]);
    assert_eq!(m.onnx_opset(), Some(17));
    assert_eq!(m.metadata, [("k".to_string(), "v".to_string())]);
    assert_eq!(m.graph_name, "test-graph");
    assert_eq!(m.inputs[0].name, "x");
    assert_eq!(m.outputs[0].name, "y");
    assert_eq!(m.initializers.len(), 7);

    let w = &m.initializers[0];
    assert_eq!(
        (w.dims.as_slice(), w.dtype, w.numel()),
        (&[2u64, 3][..], Dtype::F32, 6)
    );
    let InitData::Raw { offset, len } = w.data else {
        panic!("{:?}", w.data)
    };
    assert_eq!(len, 24);
    let o = offset as usize;
    assert_eq!(&bytes[o..o + 4], &1.0f32.to_le_bytes());

    let pf = &m.initializers[1];
    let InitData::Packed {
        offset,
        len,
        field,
        count,
    } = pf.data
    else {
        panic!()
    };
    assert_eq!((len, field, count), (12, PackedField::Float, 3));
    assert_eq!(&bytes[offset as usize..][..4], &0.5f32.to_le_bytes());

    let h = &m.initializers[2];
    assert_eq!(h.dtype, Dtype::F16);
    assert!(matches!(
        h.data,
        InitData::Packed {
            field: PackedField::Int32,
            count: 2,
            ..
        }
    ));

    assert!(
        matches!(&m.initializers[3].data, InitData::Unsupported { reason } if reason.contains("split"))
    );
    assert_eq!(
        m.initializers[4].data,
        InitData::External {
            location: "weights/data.bin".into(),
            offset: 128,
            length: Some(16)
        }
    );
    assert_eq!(m.initializers[5].data, InitData::Empty);
    assert_eq!(m.initializers[6].data, InitData::Strings { count: 2 });

    let idx = GraphIndex::new(&m);
    let c = idx.matmul_use("w").unwrap();
    assert_eq!((c.node, c.slot, c.order), (0, 1, 0));
    assert_eq!(idx.first_use("w"), Some(0));
    assert_eq!(idx.producer("y"), Some(0));
}

fn half_bits(v: f32) -> u16 {
    // exact for the small values used here
    let b = v.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xff) as i32 - 127 + 15;
    let man = ((b >> 13) & 0x3ff) as u16;
    sign | ((exp as u16) << 10) | man
}

#[test]
fn size_mismatch_is_an_error_naming_the_tensor() {
    let bytes = model(vec![raw("w", &[2, 3], 1, &[0; 20])], vec![]);
    let e = parse(&bytes).unwrap_err();
    assert!(
        matches!(
            e,
            Error::TensorSize {
                expected: 24,
                got: 20,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("\"w\""), "{e}");

    let bytes = model(vec![tensor("p", &[4], 1).packed_f32(4, &[1.0; 3])], vec![]);
    assert!(matches!(
        parse(&bytes),
        Err(Error::TensorSize {
            expected: 4,
            got: 3,
            ..
        })
    ));

    let bytes = model(vec![tensor("neg", &[-1], 1)], vec![]);
    assert!(matches!(
        parse(&bytes),
        Err(Error::Invalid { field: "dims", .. })
    ));

    let huge = model(vec![tensor("big", &[1 << 40, 1 << 40], 1)], vec![]);
    assert!(parse(&huge).is_err());
}

#[test]
fn external_locations_are_confined() {
    for (loc, ok) in [
        ("data.bin", true),
        ("sub/dir/data.bin", true),
        ("..", false),
        ("../data.bin", false),
        ("sub/../../data.bin", false),
        ("sub\\..\\data.bin", false),
        ("/etc/passwd", false),
        ("\\\\server\\share", false),
        ("C:\\data.bin", false),
        ("", false),
    ] {
        let t = tensor("e", &[1], 1)
            .msg(13, Msg::new().str(1, "location").str(2, loc))
            .int(14, 1);
        let r = parse(&model(vec![t], vec![]));
        assert_eq!(r.is_ok(), ok, "{loc:?}: {r:?}");
        if !ok {
            assert!(
                matches!(
                    r,
                    Err(Error::ExternalLocation { .. }) | Err(Error::Invalid { .. })
                ),
                "{loc:?}"
            );
        }
    }
    // an external length contradicting the shape
    let t = tensor("e", &[4], 1)
        .msg(13, Msg::new().str(1, "location").str(2, "d.bin"))
        .msg(13, Msg::new().str(1, "length").str(2, "15"))
        .int(14, 1);
    assert!(matches!(
        parse(&model(vec![t], vec![])),
        Err(Error::TensorSize { .. })
    ));
}

#[test]
fn hostile_bytes_never_panic() {
    let q: Vec<u8> = (0..12).map(|i| i as u8).collect();
    let bytes = model(
        vec![
            raw("w_q", &[3, 4], 3, &q),
            raw_f32("w_scale", &[3, 1], &[0.1, 0.2, 0.3]),
            tensor("pf", &[3], 1).packed_f32(4, &[0.5, 1.5, 2.5]),
        ],
        vec![
            node("Cast", &["w_q"], &["w_f"], vec![attr_int("to", 1)]),
            node("Mul", &["w_f", "w_scale"], &["w"], vec![]),
            node("MatMul", &["x", "w"], &["y"], vec![]),
        ],
    );
    assert!(parse(&bytes).is_ok());
    // every truncation
    for n in 0..bytes.len() {
        let _ = parse(&bytes[..n]);
    }
    // deterministic byte corruption (xorshift)
    let mut rng = taoke_test::XorShift64(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        let mut b = bytes.clone();
        for _ in 0..3 {
            let s = rng.next_u64();
            let i = (s as usize) % b.len();
            b[i] = (s >> 32) as u8;
        }
        if let Ok(m) = parse(&b) {
            let idx = GraphIndex::new(&m);
            let _ = find_quantized_weights(&m, &idx);
            // every range stays inside the buffer
            for t in &m.initializers {
                if let InitData::Raw { offset, len } | InitData::Packed { offset, len, .. } = t.data
                {
                    assert!(offset + len <= b.len() as u64);
                }
            }
        }
    }
    // a length prefix far beyond the buffer
    let bad = [0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
    assert!(matches!(parse(&bad), Err(Error::Wire { .. })));
    assert!(matches!(parse(&[]), Err(Error::NoGraph)));
}

#[test]
fn dequantize_linear_patterns() {
    let q: Vec<u8> = (0..12).map(|i| i as u8).collect();
    let bytes = model(
        vec![
            raw("a_quantized", &[3, 4], 3, &q),
            raw_f32("a_scale", &[3], &[0.1, 0.2, 0.3]),
            raw("a_zp", &[3], 3, &[0, 1, 2]),
            raw("b_q", &[3, 4], 2, &q),
            raw_f32("b_scale", &[], &[0.5]),
            raw("c_q", &[3, 4], 3, &q),
            raw_f32("c_scale", &[2], &[0.1, 0.2]),
            raw("d_q", &[3, 4], 3, &q),
            raw_f32("d_scale", &[4], &[0.1, 0.2, 0.3, 0.4]),
        ],
        vec![
            node(
                "DequantizeLinear",
                &["a_quantized", "a_scale", "a_zp"],
                &["A"],
                vec![attr_int("axis", 0)],
            ),
            node("DequantizeLinear", &["b_q", "b_scale"], &["B"], vec![]),
            node(
                "DequantizeLinear",
                &["c_q", "c_scale"],
                &["C"],
                vec![attr_int("axis", -1)],
            ),
            // default axis 1
            node("DequantizeLinear", &["d_q", "d_scale"], &["D"], vec![]),
            // activation quantization: not a weight
            node("DequantizeLinear", &["x", "b_scale"], &["X"], vec![]),
        ],
    );
    let m = parse(&bytes).unwrap();
    let idx = GraphIndex::new(&m);
    let scan = find_quantized_weights(&m, &idx);
    let names: Vec<_> = scan
        .weights
        .iter()
        .map(|w| (w.name.as_str(), w.axis))
        .collect();
    assert_eq!(names, [("a", Some(0)), ("b", None), ("d", Some(1))]);
    let a = &scan.weights[0];
    assert_eq!(a.zero_point.as_deref(), Some("a_zp"));
    assert_eq!(
        (a.output.as_str(), a.pattern),
        ("A", Pattern::DequantizeLinear)
    );
    assert_eq!(scan.rejected.len(), 1);
    assert_eq!(scan.rejected[0].q, "c_q");
    assert!(
        scan.rejected[0].reason.contains("do not match"),
        "{:?}",
        scan.rejected
    );
    assert_eq!(scan.components().len(), 7);
}

#[test]
fn cast_mul_patterns() {
    let q: Vec<u8> = (0..12).map(|i| i as u8).collect();
    let bytes = model(
        vec![
            raw("w_q", &[3, 4], 3, &q),
            raw_f32("w_scale", &[3, 1], &[0.1, 0.2, 0.3]),
            raw("v_q", &[3, 4], 3, &q),
            raw_f32("v_scale", &[1, 4], &[0.1, 0.2, 0.3, 0.4]),
            raw("v_zp", &[4], 3, &[1, 2, 3, 4]),
            raw("u_q", &[3, 4], 3, &q),
            raw_f32("u_scale", &[3, 4], &[0.1; 12]),
            raw("idx", &[3], 7, &[0; 24]),
            // collides with the stripped name of "t_q"
            raw_f32("t", &[1], &[1.0]),
            raw("t_q", &[3, 4], 3, &q),
            raw_f32("t_scale", &[], &[0.5]),
        ],
        vec![
            node("Cast", &["w_q"], &["w_f"], vec![attr_int("to", 1)]),
            // scale first
            node("Mul", &["w_scale", "w_f"], &["W"], vec![]),
            node("Cast", &["v_q"], &["v_f"], vec![attr_int("to", 1)]),
            node("Sub", &["v_f", "v_zp_f"], &["v_c"], vec![]),
            node("Cast", &["v_zp"], &["v_zp_f"], vec![attr_int("to", 1)]),
            node("Mul", &["v_c", "v_scale"], &["V"], vec![]),
            node("Cast", &["u_q"], &["u_f"], vec![attr_int("to", 1)]),
            node("Mul", &["u_f", "u_scale"], &["U"], vec![]),
            // an index cast: not a weight, not a rejection
            node("Cast", &["idx"], &["idx_f"], vec![attr_int("to", 1)]),
            node("Add", &["idx_f", "x"], &["z"], vec![]),
            node("Cast", &["t_q"], &["t_f"], vec![attr_int("to", 1)]),
            node("Mul", &["t_f", "t_scale"], &["T"], vec![]),
            node("MatMul", &["x", "W"], &["y"], vec![]),
        ],
    );
    let m = parse(&bytes).unwrap();
    let idx = GraphIndex::new(&m);
    // the Sub node (file index 3) waits for the zero-point Cast (file index 4)
    let pos = |i: usize| idx.topo_order().iter().position(|&n| n == i).unwrap();
    assert!(pos(4) < pos(3));
    let scan = find_quantized_weights(&m, &idx);
    let got: Vec<_> = scan
        .weights
        .iter()
        .map(|w| {
            (
                w.name.as_str(),
                w.scale.as_str(),
                w.zero_point.as_deref(),
                w.axis,
                w.pattern,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("w", "w_scale", None, Some(0), Pattern::CastMul),
            ("v", "v_scale", Some("v_zp"), Some(1), Pattern::CastSubMul),
            ("T", "t_scale", None, None, Pattern::CastMul),
        ]
    );
    assert_eq!(scan.rejected.len(), 1);
    assert_eq!(scan.rejected[0].q, "u_q");
    assert!(scan.rejected[0].reason.contains("more than one axis"));
    let w = &scan.weights[0];
    assert_eq!(idx.matmul_use(&w.output).map(|c| c.slot), Some(1));
}

#[test]
fn matmul_orientation() {
    let w = |n: &str| raw_f32(n, &[2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let bytes = model(
        vec![
            w("mm"),
            w("gemm_t"),
            w("gemm"),
            w("tr"),
            w("left"),
            w("bias"),
        ],
        vec![
            node("MatMul", &["x", "mm"], &["a"], vec![]),
            node(
                "Gemm",
                &["a", "gemm_t", "bias"],
                &["b"],
                vec![attr_int("transB", 1)],
            ),
            node("Gemm", &["b", "gemm"], &["c"], vec![]),
            node("Transpose", &["tr"], &["tr_t"], vec![]),
            node("MatMul", &["c", "tr_t"], &["d"], vec![]),
            node("MatMul", &["left", "d"], &["y"], vec![]),
        ],
    );
    let m = parse(&bytes).unwrap();
    let idx = GraphIndex::new(&m);
    let scan = find_quantized_weights(&m, &idx);
    let got: Vec<_> = tensor_uses(&m, &idx, &scan)
        .into_iter()
        .map(|u| {
            let mm = u.matmul.unwrap();
            (u.name, mm.slot, mm.order, mm.transposed_vs_linear)
        })
        .collect();
    let want = [
        ("mm", 1, 0, Some(true)),
        ("gemm_t", 1, 1, Some(false)),
        ("gemm", 1, 2, Some(true)),
        ("tr", 1, 4, Some(false)),
        ("left", 0, 5, Some(false)),
        ("bias", 2, 1, None),
    ];
    let want: Vec<_> = want
        .iter()
        .map(|&(n, s, o, t)| (n.to_string(), s, o, t))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn duplicate_initializer_names_are_rejected() {
    let bytes = model(
        vec![raw_f32("w", &[1], &[1.0]), raw_f32("w", &[1], &[2.0])],
        vec![],
    );
    let e = parse(&bytes).unwrap_err();
    assert!(e.to_string().contains("two initializers"), "{e}");
}

#[test]
fn constant_nodes_feed_patterns() {
    let q: Vec<u8> = (0..6).map(|i| i as u8).collect();
    let scale_tensor = raw_f32("ignored", &[], &[0.25]);
    let value = Msg::new().str(1, "value").msg(5, scale_tensor).int(20, 4);
    let bytes = model(
        vec![raw("k_q", &[2, 3], 3, &q)],
        vec![
            node("Constant", &[], &["k_scale_c"], vec![value]),
            node("Identity", &["k_scale_c"], &["k_scale"], vec![]),
            node("DequantizeLinear", &["k_q", "k_scale"], &["K"], vec![]),
        ],
    );
    let m = parse(&bytes).unwrap();
    let c = m.constant("k_scale_c").unwrap();
    assert_eq!(
        (c.name.as_str(), c.numel(), c.dtype),
        ("k_scale_c", 1, Dtype::F32)
    );
    assert!(m.constant("k_scale").is_none());
    let idx = GraphIndex::new(&m);
    let scan = find_quantized_weights(&m, &idx);
    assert_eq!(scan.weights.len(), 1);
    let w = &scan.weights[0];
    assert_eq!(
        (w.name.as_str(), w.scale.as_str(), w.axis),
        ("k", "k_scale_c", None)
    );
}
