//! The ONNX adapter on the real models: B (int8 weight-only export of all-MiniLM-L6-v2,
//! dequantized in the graph by Cast + Mul) against A (the safetensors original), and C
//! (paraphrase-MiniLM-L3-v2, float32).

use taoke_dtype::Dtype;
use taoke_model::{Layout, TensorInfo};

fn pearson(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let n = a.len() as f64;
    let ma = a.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let mb = b.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (dx, dy) = (f64::from(x) - ma, f64::from(y) - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    sab / (saa * sbb).sqrt()
}

fn transpose(v: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; v.len()];
    for i in 0..rows {
        for j in 0..cols {
            t[j * rows + i] = v[i * cols + j];
        }
    }
    t
}

#[test]
fn int8_onnx_b_matches_safetensors_a() {
    let pb = taoke_test::model_or_skip!(taoke_test::test_model(
        "all-MiniLM-L6-v2-int8-onnx/model.onnx"
    ));
    let pa =
        taoke_test::model_or_skip!(taoke_test::test_model("all-MiniLM-L6-v2/model.safetensors"));
    let b = taoke_model::open(pb.to_str().unwrap()).unwrap();
    let a = taoke_model::open(pa.to_str().unwrap()).unwrap();
    assert_eq!(b.format, taoke_model::Format::Onnx);

    // 160 initializers: 38 int8 + 38 scales fold into 38 tensors → 122 listed.
    assert_eq!(b.tensors.len(), 122);
    let affine: Vec<&TensorInfo> = b
        .tensors
        .iter()
        .filter(|t| matches!(t.layout, Layout::Affine { .. }))
        .collect();
    assert_eq!(affine.len(), 38);
    assert_eq!(
        b.meta("onnx.quantized_weights").and_then(|v| v.as_u64()),
        Some(38)
    );
    assert!(b.meta("onnx.rejected_patterns").is_none());
    assert!(b.tensor("val_49_q").is_none() && b.tensor("val_49_scale").is_none());
    let folded: usize = b.tensors.iter().map(|t| t.folded.len()).sum();
    assert_eq!(folded, 76);

    let emb = b.tensor("inner.embeddings.word_embeddings.weight").unwrap();
    assert_eq!(
        (emb.shape.as_slice(), emb.dtype),
        (&[30522u64, 384][..], Dtype::I8)
    );
    assert!(matches!(emb.layout, Layout::Affine { axis: Some(0), .. }));
    assert_eq!(emb.stored_bytes, 30522 * 384 + 30522 * 4);
    let eb = b.read_f32(emb).unwrap();
    let ea = a
        .read_f32(a.tensor("embeddings.word_embeddings.weight").unwrap())
        .unwrap();
    let r = pearson(&eb, &ea);
    eprintln!("word embeddings r = {r:.6}");
    assert!(r >= 0.9999, "word embeddings r = {r}");
    let max_err = eb
        .iter()
        .zip(&ea)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    eprintln!("word embeddings max abs error = {max_err}");
    assert!(max_err < 0.01, "max abs error {max_err}");

    // The 36 anonymous matrices: each the transpose of one A encoder matrix.
    let a_mats: Vec<(&str, Vec<u64>, Vec<f32>)> = a
        .tensors
        .iter()
        .filter(|t| t.name.starts_with("encoder.") && t.shape.len() == 2)
        .map(|t| (t.name.as_str(), t.shape.clone(), a.read_f32(t).unwrap()))
        .collect();
    assert_eq!(a_mats.len(), 36);
    let vals: Vec<&&TensorInfo> = affine
        .iter()
        .filter(|t| t.name.starts_with("val_"))
        .collect();
    assert_eq!(vals.len(), 36);
    let mut targets = Vec::new();
    let mut worst = 1.0f64;
    for t in vals {
        assert!(
            matches!(t.layout, Layout::Affine { axis: Some(1), .. }),
            "{}",
            t.name
        );
        let (rows, cols) = (t.shape[0] as usize, t.shape[1] as usize);
        let v = transpose(&b.read_f32(t).unwrap(), rows, cols);
        let (r, name) = a_mats
            .iter()
            .filter(|(_, s, _)| s[..] == [t.shape[1], t.shape[0]])
            .map(|(n, _, d)| (pearson(&v, d), *n))
            .max_by(|x, y| x.0.total_cmp(&y.0))
            .unwrap();
        assert!(r >= 0.999, "{}: best r = {r} ({name})", t.name);
        worst = worst.min(r);
        targets.push(name);
    }
    eprintln!("worst matrix r = {worst:.6}");
    targets.sort_unstable();
    targets.dedup();
    assert_eq!(targets.len(), 36, "one-to-one");

    // Plain float tensors are bit-identical to A (`inner.` prefix).
    let ln = b
        .tensor("inner.encoder.layer.3.output.LayerNorm.weight")
        .unwrap();
    assert!(matches!(
        ln.layout,
        Layout::Dense {
            dtype: Dtype::F32,
            ..
        }
    ));
    assert_eq!(
        b.read_f32(ln).unwrap(),
        a.read_f32(a.tensor("encoder.layer.3.output.LayerNorm.weight").unwrap())
            .unwrap()
    );
}

#[test]
fn float_onnx_c_lists_53_tensors() {
    let p = taoke_test::model_or_skip!(taoke_test::test_model(
        "paraphrase-MiniLM-L3-v2-onnx/paraphrase-MiniLM-L3-v2.onnx"
    ));
    let c = taoke_model::open(p.to_str().unwrap()).unwrap();
    assert_eq!(c.tensors.len(), 53);
    assert_eq!(c.parameter_count(), 17_241_984);
    assert!(c
        .tensors
        .iter()
        .all(|t| t.dtype == Dtype::F32 && t.dtype_name == "FLOAT"));
    assert_eq!(c.meta("onnx.opset").and_then(|v| v.as_u64()), Some(17));
    assert_eq!(
        c.meta("onnx.producer").and_then(|v| v.as_str()),
        Some("pytorch")
    );
    let m = c.tensor("onnx::MatMul_470").unwrap();
    assert_eq!(m.shape, [384, 384]);
    let v = c.read_f32(m).unwrap();
    assert!(v.iter().all(|x| x.is_finite()) && v.iter().any(|&x| x != 0.0));
}

/// A minimal protobuf writer for the synthetic model below.
#[derive(Default)]
struct Pb(Vec<u8>);

impl Pb {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn int(mut self, n: u64, v: i64) -> Self {
        self.varint(n << 3);
        self.varint(v as u64);
        self
    }
    fn bytes(mut self, n: u64, b: &[u8]) -> Self {
        self.varint((n << 3) | 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }
    fn str(self, n: u64, s: &str) -> Self {
        self.bytes(n, s.as_bytes())
    }
    fn msg(self, n: u64, m: Pb) -> Self {
        self.bytes(n, &m.0)
    }
}

fn tensor(name: &str, dims: &[i64], data_type: i64) -> Pb {
    let mut t = Pb::default();
    for &d in dims {
        t = t.int(1, d);
    }
    t.int(2, data_type).str(8, name)
}

fn node(op: &str, inputs: &[&str], outputs: &[&str], axis: Option<i64>) -> Pb {
    let mut n = Pb::default();
    for i in inputs {
        n = n.str(1, i);
    }
    for o in outputs {
        n = n.str(2, o);
    }
    n = n.str(4, op);
    if let Some(a) = axis {
        n = n.msg(5, Pb::default().str(1, "axis").int(3, a).int(20, 2));
    }
    n
}

fn external(name: &str, dims: &[i64], location: &str, offset: u64, length: u64) -> Pb {
    tensor(name, dims, 1)
        .msg(13, Pb::default().str(1, "location").str(2, location))
        .msg(
            13,
            Pb::default().str(1, "offset").str(2, &offset.to_string()),
        )
        .msg(
            13,
            Pb::default().str(1, "length").str(2, &length.to_string()),
        )
        .int(14, 1)
}

fn write_model(dir: &std::path::Path, inits: Vec<Pb>, nodes: Vec<Pb>) -> std::path::PathBuf {
    let mut g = Pb::default().str(2, "g");
    for n in nodes {
        g = g.msg(1, n);
    }
    for t in inits {
        g = g.msg(5, t);
    }
    let m = Pb::default()
        .int(1, 8)
        .str(2, "taoke-test")
        .msg(7, g)
        .msg(8, Pb::default().str(1, "").int(2, 13));
    let p = dir.join("model.onnx");
    std::fs::write(&p, m.0).unwrap();
    p
}

#[test]
fn synthetic_onnx_external_packed_and_dequantize_linear() {
    let dir = tempfile::tempdir().unwrap();
    // external data: 8 bytes of padding, then [1, 2, 3, 4] as f32
    let mut ext = vec![0u8; 8];
    ext.extend([1f32, 2., 3., 4.].iter().flat_map(|v| v.to_le_bytes()));
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/w.bin"), &ext).unwrap();
    let packed: Vec<u8> = [0.5f32, -1.5, 2.5]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let q: [i8; 6] = [-3, -2, -1, 1, 2, 3];
    let q: Vec<u8> = q.iter().map(|&v| v as u8).collect();
    let scale: Vec<u8> = [0.5f32, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    let p = write_model(
        dir.path(),
        vec![
            external("ext", &[2, 2], "data/w.bin", 8, 16),
            tensor("packed", &[3], 1).bytes(4, &packed),
            tensor("m_quantized", &[2, 3], 3).bytes(9, &q),
            tensor("m_scale", &[2], 1).bytes(9, &scale),
            tensor("m_zp", &[2], 3).bytes(9, &[1, 0xff]),
        ],
        vec![
            node(
                "DequantizeLinear",
                &["m_quantized", "m_scale", "m_zp"],
                &["M"],
                Some(0),
            ),
            node("MatMul", &["x", "M"], &["y"], None),
        ],
    );
    for io in [taoke_model::IoMode::Mmap, taoke_model::IoMode::Buffered] {
        let opts = taoke_model::OpenOptions { io };
        let c = taoke_model::open_with(p.to_str().unwrap(), opts).unwrap();
        let names: Vec<&str> = c.tensors.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["ext", "packed", "m"]);
        assert_eq!(c.read_f32(&c.tensors[0]).unwrap(), [1., 2., 3., 4.]);
        assert_ne!(
            match c.tensors[0].layout {
                Layout::Dense { file, .. } => file,
                _ => 0,
            },
            0,
            "external data has its own file"
        );
        assert_eq!(c.read_f32(&c.tensors[1]).unwrap(), [0.5, -1.5, 2.5]);
        let m = &c.tensors[2];
        assert_eq!(m.folded, ["m_quantized", "m_scale", "m_zp"]);
        // row 0: (q - 1) * 0.5, row 1: (q + 1) * 2
        assert_eq!(c.read_f32(m).unwrap(), [-2., -1.5, -1., 4., 6., 8.]);
    }

    // An external location escaping the folder through a symlink is refused.
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.bin"), [0u8; 16]).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.bin"),
        dir.path().join("link.bin"),
    )
    .unwrap();
    let p = write_model(
        dir.path(),
        vec![external("e", &[4], "link.bin", 0, 16)],
        vec![],
    );
    let e = taoke_model::open(p.to_str().unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("`e`") && e.contains("outside the model folder"),
        "{e}"
    );
    // `..` is refused by the parser, naming the tensor.
    let p = write_model(
        dir.path(),
        vec![external("e", &[4], "../x.bin", 0, 16)],
        vec![],
    );
    let e = taoke_model::open(p.to_str().unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"e\"") && e.contains("parent-directory"), "{e}");
    // external data past the end of its file
    let p = write_model(
        dir.path(),
        vec![external("e", &[4], "data/w.bin", 16, 16)],
        vec![],
    );
    let e = taoke_model::open(p.to_str().unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("`e`") && e.contains("is outside data/w.bin"),
        "{e}"
    );
}
