//! Generator of the hostile corpus: small model files (and model folders) that are broken,
//! lying or malicious in one precise way each, for every format taoke reads.
//!
//! `cases()` returns every case with the bytes of its files. The committed corpus under
//! `tests/hostile/corpus/` is exactly what this generator writes (the test checks it, and
//! `TAOKE_WRITE_HOSTILE=1 cargo test -p taoke-cli --test hostile` rewrites it). Cases whose
//! files are too large to commit (`committed: false`) are written to a temporary folder at
//! test time instead. The fuzz seed generator (`fuzz/examples/seeds.rs`) includes this file
//! too.

#![allow(dead_code)]

use taoke_dtype::Dtype;
use taoke_pytorch::builder::{write_zip, CheckpointBuilder, PickleWriter, PyValue, ZipInput};

/// What `taoke inspect` must do with a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Exit 2 with a one-line error naming the file, and this tensor when `Some`.
    Error(Option<&'static str>),
    /// Exit 0: the weights are genuinely readable (a broken side file is ignored).
    Readable,
}

/// One hostile case.
#[derive(Debug, Clone)]
pub struct Case {
    /// Relative path of the case inside the corpus: a file, or a folder for several files.
    pub path: String,
    /// Files of the case (relative to `path` when it is a folder; one entry named "" when the
    /// case is a single file).
    pub files: Vec<(String, Vec<u8>)>,
    /// What inspect must do.
    pub expect: Expect,
    /// Whether the case is committed (false: generated at test time because it is large).
    pub committed: bool,
}

fn file(path: &str, bytes: Vec<u8>, expect: Expect) -> Case {
    Case {
        path: path.to_owned(),
        files: vec![(String::new(), bytes)],
        expect,
        committed: true,
    }
}

fn folder(path: &str, files: Vec<(&str, Vec<u8>)>, expect: Expect) -> Case {
    Case {
        path: path.to_owned(),
        files: files.into_iter().map(|(n, b)| (n.to_owned(), b)).collect(),
        expect,
        committed: true,
    }
}

const ERR: Expect = Expect::Error(None);

fn f32_bytes(n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| ((i as f32) * 0.25 - 1.0).to_le_bytes())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// safetensors

/// A safetensors file from a raw JSON header (bytes, so it may be invalid UTF-8) and data.
fn st_raw(header: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header);
    out.extend_from_slice(data);
    out
}

/// A safetensors header entry.
fn st_entry(name: &str, dtype: &str, shape: &str, begin: i128, end: i128) -> String {
    format!(r#""{name}":{{"dtype":"{dtype}","shape":{shape},"data_offsets":[{begin},{end}]}}"#)
}

/// The good safetensors file: `a` F32 [2,3] and `b` F16 [4].
pub fn good_safetensors() -> Vec<u8> {
    let a = f32_bytes(6);
    let b: Vec<u8> = (0..4u16).flat_map(|i| (0x3c00 + i).to_le_bytes()).collect();
    let mut data = a.clone();
    data.extend_from_slice(&b);
    let header = format!(
        "{{{},{}}}",
        st_entry("a", "F32", "[2,3]", 0, 24),
        st_entry("b", "F16", "[4]", 24, 32)
    );
    st_raw(header.as_bytes(), &data)
}

fn safetensors_cases(out: &mut Vec<Case>) {
    let good = good_safetensors();
    let header_len = u64::from_le_bytes(good[..8].try_into().expect("8 bytes")) as usize;
    out.push(file(
        "safetensors/good.safetensors",
        good.clone(),
        Expect::Readable,
    ));
    for (what, at) in [
        ("empty", 0),
        ("in-length", 3),
        ("after-length", 8),
        ("mid-header", 8 + header_len / 2),
        ("after-header", 8 + header_len),
        ("mid-data", 8 + header_len + 12),
        ("last-byte", good.len() - 1),
    ] {
        out.push(file(
            &format!("safetensors/truncated-{what}.safetensors"),
            good[..at].to_vec(),
            ERR,
        ));
    }
    let mut huge = 100_000_000_000u64.to_le_bytes().to_vec();
    huge.extend_from_slice(&good[8..]);
    out.push(file(
        "safetensors/header-claims-100gb.safetensors",
        huge,
        ERR,
    ));
    let mut max = u64::MAX.to_le_bytes().to_vec();
    max.extend_from_slice(&good[8..]);
    out.push(file("safetensors/header-len-u64-max.safetensors", max, ERR));
    let data = f32_bytes(8);
    let one = |name: &str, entry: String| {
        file(
            &format!("safetensors/{name}.safetensors"),
            st_raw(format!("{{{entry}}}").as_bytes(), &data),
            ERR,
        )
    };
    out.push(one(
        "offsets-past-end",
        st_entry("a", "F32", "[2,3]", 0, 1_000_000),
    ));
    out.push(one(
        "dtype-shape-mismatch",
        st_entry("a", "F32", "[2,3]", 0, 20),
    ));
    out.push(one(
        "shape-overflows",
        st_entry("a", "F32", "[4294967296,4294967296,16]", 0, 32),
    ));
    out.push(one(
        "too-many-dims",
        st_entry("a", "F32", &format!("[{}]", vec!["1"; 17].join(",")), 0, 4),
    ));
    out.push(one("begin-after-end", st_entry("a", "F32", "[0]", 24, 0)));
    out.push(one("negative-offset", st_entry("a", "F32", "[2]", -8, 0)));
    out.push(one(
        "huge-offsets",
        st_entry(
            "a",
            "F32",
            "[2]",
            18446744073709551608,
            18446744073709551615,
        ),
    ));
    out.push(one(
        "missing-dtype",
        r#""a":{"shape":[2],"data_offsets":[0,8]}"#.to_owned(),
    ));
    out.push(file(
        "safetensors/overlapping-tensors.safetensors",
        st_raw(
            format!(
                "{{{},{}}}",
                st_entry("a", "F32", "[2,3]", 0, 24),
                st_entry("b", "F32", "[2]", 16, 24)
            )
            .as_bytes(),
            &f32_bytes(6),
        ),
        ERR,
    ));
    out.push(file(
        "safetensors/duplicate-names.safetensors",
        st_raw(
            format!(
                "{{{},{}}}",
                st_entry("a", "F32", "[2]", 0, 8),
                st_entry("a", "F32", "[2]", 8, 16)
            )
            .as_bytes(),
            &f32_bytes(4),
        ),
        ERR,
    ));
    let bad_name =
        b"{\"a\xff\xfe\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}".to_vec();
    out.push(file(
        "safetensors/non-utf8-name.safetensors",
        st_raw(&bad_name, &f32_bytes(2)),
        ERR,
    ));
    let deep = format!(
        "{{\"__metadata__\":{{\"x\":{}{}}},{}}}",
        "[".repeat(10_000),
        "]".repeat(10_000),
        st_entry("a", "F32", "[2]", 0, 8)
    );
    out.push(file(
        "safetensors/deep-json.safetensors",
        st_raw(deep.as_bytes(), &f32_bytes(2)),
        ERR,
    ));
    out.push(file(
        "safetensors/header-not-object.safetensors",
        st_raw(b"[1,2,3]", &[]),
        ERR,
    ));
}

// ---------------------------------------------------------------------------------------------
// sharded safetensors (folders with an index)

fn one_tensor_st(name: &str) -> Vec<u8> {
    st_raw(
        format!("{{{}}}", st_entry(name, "F32", "[2]", 0, 8)).as_bytes(),
        &f32_bytes(2),
    )
}

fn index(map: &[(&str, &str)]) -> Vec<u8> {
    let m: Vec<String> = map
        .iter()
        .map(|(t, f)| format!("\"{t}\":\"{f}\""))
        .collect();
    format!(
        "{{\"metadata\":{{\"total_size\":16}},\"weight_map\":{{{}}}}}",
        m.join(",")
    )
    .into_bytes()
}

const INDEX: &str = "model.safetensors.index.json";

fn shard_cases(out: &mut Vec<Case>) {
    let s1 = "model-00001-of-00002.safetensors";
    let s2 = "model-00002-of-00002.safetensors";
    out.push(folder(
        "shards/good",
        vec![
            (INDEX, index(&[("a", s1), ("b", s2)])),
            (s1, one_tensor_st("a")),
            (s2, one_tensor_st("b")),
        ],
        Expect::Readable,
    ));
    out.push(folder(
        "shards/index-escapes-folder",
        vec![
            (INDEX, index(&[("a", s1), ("b", "../outside.safetensors")])),
            (s1, one_tensor_st("a")),
        ],
        ERR,
    ));
    out.push(folder(
        "shards/index-absolute-path",
        vec![
            (INDEX, index(&[("a", s1), ("b", "/etc/passwd")])),
            (s1, one_tensor_st("a")),
        ],
        ERR,
    ));
    out.push(folder(
        "shards/missing-shard",
        vec![
            (INDEX, index(&[("a", s1), ("b", s2)])),
            (s1, one_tensor_st("a")),
        ],
        ERR,
    ));
    out.push(folder(
        "shards/tensor-in-no-shard",
        vec![
            (INDEX, index(&[("a", s1), ("b", s2), ("c", s2)])),
            (s1, one_tensor_st("a")),
            (s2, one_tensor_st("b")),
        ],
        Expect::Error(Some("c")),
    ));
    out.push(folder(
        "shards/duplicate-across-shards",
        vec![
            (INDEX, index(&[("a", s1), ("b", s2)])),
            (s1, one_tensor_st("a")),
            (s2, one_tensor_st("a")),
        ],
        Expect::Error(Some("a")),
    ));
    out.push(folder(
        "shards/index-deep-json",
        vec![
            (
                INDEX,
                format!(
                    "{{\"weight_map\":{}{}}}",
                    "[".repeat(10_000),
                    "]".repeat(10_000)
                )
                .into_bytes(),
            ),
            (s1, one_tensor_st("a")),
        ],
        ERR,
    ));
    out.push(folder(
        "shards/index-not-json",
        vec![
            (INDEX, b"\xff\xfe not json".to_vec()),
            (s1, one_tensor_st("a")),
        ],
        ERR,
    ));
    out.push(folder(
        "shards/bad-shard",
        vec![
            (INDEX, index(&[("a", s1), ("b", s2)])),
            (s1, one_tensor_st("a")),
            (s2, one_tensor_st("b")[..20].to_vec()),
        ],
        ERR,
    ));
}

// ---------------------------------------------------------------------------------------------
// GGUF

/// A little GGUF writer that can lie: raw pieces appended in order.
#[derive(Default)]
struct G(Vec<u8>);

impl G {
    fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn str(&mut self, s: &[u8]) -> &mut Self {
        self.u64(s.len() as u64);
        self.0.extend_from_slice(s);
        self
    }
    fn kv_str(&mut self, k: &str, v: &str) -> &mut Self {
        self.str(k.as_bytes()).u32(8).str(v.as_bytes())
    }
    fn kv_u32(&mut self, k: &str, v: u32) -> &mut Self {
        self.str(k.as_bytes()).u32(4).u32(v)
    }
    fn tensor(&mut self, name: &[u8], dims: &[u64], ty: u32, offset: u64) -> &mut Self {
        self.str(name).u32(dims.len() as u32);
        for &d in dims {
            self.u64(d);
        }
        self.u32(ty).u64(offset)
    }
    fn pad(&mut self, align: usize) -> &mut Self {
        while !self.0.len().is_multiple_of(align) {
            self.0.push(0);
        }
        self
    }
}

/// Section boundaries of the good GGUF, for truncation.
struct GgufMarks {
    bytes: Vec<u8>,
    marks: Vec<(&'static str, usize)>,
}

fn good_gguf_marked() -> GgufMarks {
    let mut g = G::default();
    let mut marks = Vec::new();
    g.0.extend_from_slice(b"GGUF");
    marks.push(("after-magic", g.0.len()));
    g.u32(3);
    marks.push(("after-version", g.0.len()));
    g.u64(2);
    marks.push(("after-tensor-count", g.0.len()));
    g.u64(2);
    marks.push(("after-kv-count", g.0.len()));
    g.kv_str("general.architecture", "llama");
    marks.push(("mid-kv", g.0.len() - 3));
    g.kv_u32("llama.embedding_length", 4);
    marks.push(("after-kvs", g.0.len()));
    g.tensor(b"token_embd.weight", &[4, 8], 0, 0);
    marks.push(("mid-tensor-infos", g.0.len() - 5));
    g.tensor(b"output_norm.weight", &[4], 0, 128);
    marks.push(("after-tensor-infos", g.0.len()));
    g.pad(32);
    let data_start = g.0.len();
    g.0.extend_from_slice(&f32_bytes(32));
    g.0.extend_from_slice(&f32_bytes(4));
    marks.push(("mid-data", data_start + 64));
    marks.push(("last-byte", g.0.len() - 1));
    GgufMarks { bytes: g.0, marks }
}

/// The good GGUF: `token_embd.weight` F32 [8,4] and `output_norm.weight` F32 [4].
pub fn good_gguf() -> Vec<u8> {
    good_gguf_marked().bytes
}

/// A GGUF with the given header counts, kv bytes and tensor-info bytes, then 256 data bytes.
fn gguf_with(version: u32, n_tensors: u64, n_kv: u64, body: impl FnOnce(&mut G)) -> Vec<u8> {
    let mut g = G::default();
    g.0.extend_from_slice(b"GGUF");
    g.u32(version).u64(n_tensors).u64(n_kv);
    body(&mut g);
    g.pad(32);
    g.0.extend_from_slice(&f32_bytes(64));
    g.0
}

fn gguf_cases(out: &mut Vec<Case>) {
    let m = good_gguf_marked();
    out.push(file("gguf/good.gguf", m.bytes.clone(), Expect::Readable));
    for (what, at) in &m.marks {
        out.push(file(
            &format!("gguf/truncated-{what}.gguf"),
            m.bytes[..*at].to_vec(),
            ERR,
        ));
    }
    out.push(file(
        "gguf/tensor-count-2e60.gguf",
        gguf_with(3, 1 << 60, 0, |_| {}),
        ERR,
    ));
    out.push(file(
        "gguf/kv-count-2e60.gguf",
        gguf_with(3, 0, 1 << 60, |_| {}),
        ERR,
    ));
    out.push(file(
        "gguf/key-length-2e60.gguf",
        gguf_with(3, 0, 1, |g| {
            g.u64(1 << 60);
        }),
        ERR,
    ));
    out.push(file(
        "gguf/string-value-4gb.gguf",
        gguf_with(3, 0, 1, |g| {
            g.str(b"general.name").u32(8).u64(1 << 32);
        }),
        ERR,
    ));
    out.push(file(
        "gguf/array-length-2e40.gguf",
        gguf_with(3, 0, 1, |g| {
            g.str(b"tokenizer.ggml.scores").u32(9).u32(6).u64(1 << 40);
        }),
        ERR,
    ));
    out.push(file(
        "gguf/nested-arrays.gguf",
        gguf_with(3, 0, 1, |g| {
            g.str(b"deep");
            g.u32(9);
            for _ in 0..1000 {
                g.u32(9).u64(1);
            }
            g.u32(4).u64(0);
        }),
        ERR,
    ));
    out.push(file(
        "gguf/bad-value-type.gguf",
        gguf_with(3, 0, 1, |g| {
            g.str(b"general.name").u32(77).u64(0);
        }),
        ERR,
    ));
    out.push(file(
        "gguf/version-99.gguf",
        gguf_with(99, 0, 0, |_| {}),
        ERR,
    ));
    out.push(file(
        "gguf/n-dims-100.gguf",
        gguf_with(3, 1, 0, |g| {
            g.tensor(b"t", &[1; 100], 0, 0);
        }),
        Expect::Error(Some("t")),
    ));
    out.push(file(
        "gguf/dims-overflow.gguf",
        gguf_with(3, 1, 0, |g| {
            g.tensor(b"t", &[1 << 32, 1 << 32, 1 << 32], 0, 0);
        }),
        Expect::Error(Some("t")),
    ));
    out.push(file(
        "gguf/offset-past-end.gguf",
        gguf_with(3, 1, 0, |g| {
            g.tensor(b"t", &[4], 0, 1 << 40);
        }),
        Expect::Error(Some("t")),
    ));
    out.push(file(
        "gguf/data-past-end.gguf",
        gguf_with(3, 1, 0, |g| {
            g.tensor(b"t", &[1024], 0, 0);
        }),
        Expect::Error(Some("t")),
    ));
    out.push(file(
        "gguf/unaligned-offset.gguf",
        gguf_with(3, 1, 0, |g| {
            g.tensor(b"t", &[4], 0, 4);
        }),
        Expect::Error(Some("t")),
    ));
    out.push(file(
        "gguf/overlapping-tensors.gguf",
        gguf_with(3, 2, 0, |g| {
            g.tensor(b"t0", &[16], 0, 0);
            g.tensor(b"t1", &[16], 0, 32);
        }),
        ERR,
    ));
    out.push(file(
        "gguf/duplicate-names.gguf",
        gguf_with(3, 2, 0, |g| {
            g.tensor(b"t", &[4], 0, 0);
            g.tensor(b"t", &[4], 0, 32);
        }),
        Expect::Error(Some("t")),
    ));
    out.push(file(
        "gguf/non-utf8-name.gguf",
        gguf_with(3, 1, 0, |g| {
            g.tensor(b"t\xff\xfe", &[4], 0, 0);
        }),
        ERR,
    ));
    out.push(file(
        "gguf/alignment-3.gguf",
        gguf_with(3, 1, 1, |g| {
            g.kv_u32("general.alignment", 3);
            g.tensor(b"t", &[4], 0, 0);
        }),
        ERR,
    ));
    out.push(file(
        "gguf/alignment-0.gguf",
        gguf_with(3, 1, 1, |g| {
            g.kv_u32("general.alignment", 0);
            g.tensor(b"t", &[4], 0, 0);
        }),
        ERR,
    ));
    out.push(file(
        "gguf/quant-partial-block.gguf",
        gguf_with(3, 1, 0, |g| {
            // Q4_0 (type 2) rows must be whole 32-element blocks.
            g.tensor(b"t", &[17], 2, 0);
        }),
        Expect::Error(Some("t")),
    ));
}

// ---------------------------------------------------------------------------------------------
// ONNX (hand-encoded protobuf)

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A protobuf message under construction.
#[derive(Default, Clone)]
struct P(Vec<u8>);

impl P {
    fn int(mut self, field: u32, v: i64) -> P {
        varint(&mut self.0, u64::from(field) << 3);
        varint(&mut self.0, v as u64);
        self
    }
    fn bytes(mut self, field: u32, b: &[u8]) -> P {
        varint(&mut self.0, (u64::from(field) << 3) | 2);
        varint(&mut self.0, b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }
    fn str(self, field: u32, s: &str) -> P {
        self.bytes(field, s.as_bytes())
    }
    fn msg(self, field: u32, m: P) -> P {
        self.bytes(field, &m.0)
    }
}

/// TensorProto: dims (1), data_type (2), name (8), raw_data (9).
fn onnx_tensor(name: &[u8], dims: &[i64], data_type: i64, raw: Option<&[u8]>) -> P {
    let mut t = P::default();
    for &d in dims {
        t = t.int(1, d);
    }
    t = t.int(2, data_type).bytes(8, name);
    if let Some(r) = raw {
        t = t.bytes(9, r);
    }
    t
}

/// TensorProto with external data (`data_location` = 1 and `location` / `offset` /
/// `length` entries).
fn onnx_external(name: &str, dims: &[i64], location: &str, offset: u64, length: u64) -> P {
    let mut t = P::default();
    for &d in dims {
        t = t.int(1, d);
    }
    let entry = |k: &str, v: &str| P::default().str(1, k).str(2, v);
    t.int(2, 1)
        .str(8, name)
        .msg(13, entry("location", location))
        .msg(13, entry("offset", &offset.to_string()))
        .msg(13, entry("length", &length.to_string()))
        .int(14, 1)
}

/// A ModelProto: ir_version 8, opset 17, and a graph of one MatMul `y = x · W` plus the given
/// initializers.
fn onnx_model(inits: Vec<P>) -> Vec<u8> {
    onnx_model_graph(onnx_graph(inits))
}

fn onnx_graph(inits: Vec<P>) -> P {
    let node = P::default()
        .str(1, "x")
        .str(1, "W")
        .str(2, "y")
        .str(3, "matmul")
        .str(4, "MatMul");
    let mut g = P::default().msg(1, node).str(2, "g");
    for i in inits {
        g = g.msg(5, i);
    }
    g.msg(11, P::default().str(1, "x"))
        .msg(12, P::default().str(1, "y"))
}

fn onnx_model_graph(graph: P) -> Vec<u8> {
    P::default()
        .int(1, 8)
        .msg(8, P::default().str(1, "").int(2, 17))
        .str(2, "taoke-hostile")
        .msg(7, graph)
        .0
}

/// The good ONNX model: initializer `W` F32 [4,4].
pub fn good_onnx() -> Vec<u8> {
    onnx_model(vec![onnx_tensor(b"W", &[4, 4], 1, Some(&f32_bytes(16)))])
}

fn onnx_cases(out: &mut Vec<Case>) {
    let good = good_onnx();
    out.push(file("onnx/good.onnx", good.clone(), Expect::Readable));
    // Truncations: inside the opset, inside the graph, inside the raw data, last byte.
    for (what, at) in [
        ("mid-opset", 5),
        ("mid-graph", 40),
        ("mid-raw-data", good.len() - 30),
        ("last-byte", good.len() - 1),
    ] {
        out.push(file(
            &format!("onnx/truncated-{what}.onnx"),
            good[..at].to_vec(),
            ERR,
        ));
    }
    let ext = |loc: &str, offset: u64, len: u64| {
        onnx_model(vec![onnx_external("W", &[4, 4], loc, offset, len)])
    };
    out.push(folder(
        "onnx/external-parent-escape",
        vec![("model.onnx", ext("../../etc/passwd", 0, 64))],
        Expect::Error(Some("W")),
    ));
    out.push(folder(
        "onnx/external-absolute-path",
        vec![("model.onnx", ext("/etc/passwd", 0, 64))],
        Expect::Error(Some("W")),
    ));
    out.push(folder(
        "onnx/external-missing-file",
        vec![("model.onnx", ext("weights.bin", 0, 64))],
        Expect::Error(Some("W")),
    ));
    out.push(folder(
        "onnx/external-range-past-end",
        vec![
            ("model.onnx", ext("weights.bin", 1 << 40, 64)),
            ("weights.bin", f32_bytes(16)),
        ],
        Expect::Error(Some("W")),
    ));
    out.push(folder(
        "onnx/external-length-mismatch",
        vec![
            ("model.onnx", ext("weights.bin", 0, 60)),
            ("weights.bin", f32_bytes(16)),
        ],
        Expect::Error(Some("W")),
    ));
    out.push(folder(
        "onnx/external-good",
        vec![
            ("model.onnx", ext("weights.bin", 0, 64)),
            ("weights.bin", f32_bytes(16)),
        ],
        Expect::Readable,
    ));
    let one = |name: &str, t: P, expect: Expect| {
        file(&format!("onnx/{name}.onnx"), onnx_model(vec![t]), expect)
    };
    out.push(one(
        "raw-data-length-mismatch",
        onnx_tensor(b"W", &[4, 4], 1, Some(&f32_bytes(3))),
        Expect::Error(Some("W")),
    ));
    out.push(one(
        "negative-dim",
        onnx_tensor(b"W", &[-1, 4], 1, Some(&f32_bytes(4))),
        Expect::Error(Some("W")),
    ));
    out.push(one(
        "dims-overflow",
        onnx_tensor(b"W", &[1 << 40, 1 << 40], 1, Some(&f32_bytes(4))),
        Expect::Error(Some("W")),
    ));
    out.push(one(
        "too-many-dims",
        onnx_tensor(b"W", &[1; 100], 1, Some(&f32_bytes(1))),
        ERR,
    ));
    out.push(one(
        "non-utf8-name",
        onnx_tensor(b"W\xff\xfe", &[4], 1, Some(&f32_bytes(4))),
        ERR,
    ));
    out.push(file(
        "onnx/duplicate-initializers.onnx",
        onnx_model(vec![
            onnx_tensor(b"W", &[4], 1, Some(&f32_bytes(4))),
            onnx_tensor(b"W", &[4], 1, Some(&f32_bytes(4))),
        ]),
        Expect::Error(Some("W")),
    ));
    // A varint of eleven bytes, and a length-delimited field claiming 2^40 bytes.
    let mut overlong = vec![0x08, 0x08, 0x42];
    overlong.extend_from_slice(&[0xff; 11]);
    out.push(file("onnx/overlong-varint.onnx", overlong, ERR));
    let mut long_field = vec![0x08, 0x08, 0x3a];
    varint(&mut long_field, 1 << 40);
    long_field.extend_from_slice(&[0; 16]);
    out.push(file("onnx/field-length-2e40.onnx", long_field, ERR));
    // Subgraphs nested 5000 deep in node attributes (`If` bodies).
    let mut g = onnx_graph(vec![onnx_tensor(b"W", &[4], 1, Some(&f32_bytes(4)))]);
    for _ in 0..5000 {
        let attr = P::default().str(1, "then_branch").int(20, 5).msg(6, g);
        let node = P::default()
            .str(1, "c")
            .str(2, "o")
            .str(4, "If")
            .msg(5, attr);
        g = P::default().msg(1, node);
    }
    // The parser does not recurse: the model is readable (its one initializer is nested,
    // so no tensor is listed).
    out.push(file(
        "onnx/nested-subgraphs.onnx",
        onnx_model_graph(g),
        Expect::Readable,
    ));
}

// ---------------------------------------------------------------------------------------------
// PyTorch

fn torch_builder_with_tensor() -> (CheckpointBuilder, PyValue) {
    let mut b = CheckpointBuilder::new();
    let t = b.tensor(Dtype::F32, &[2, 3], f32_bytes(6));
    (b, PyValue::OrderedDict(vec![("weight".into(), t)]))
}

/// The good PyTorch zip checkpoint: `weight` F32 [2,3].
pub fn good_pytorch() -> Vec<u8> {
    let (b, root) = torch_builder_with_tensor();
    b.build(&root)
}

/// A pickle that calls `module.name(arg)` through GLOBAL + REDUCE.
fn pickle_call(module: &str, name: &str, arg: &str) -> Vec<u8> {
    let mut w = PickleWriter::new();
    w.raw(&[0x80, 2]);
    w.global(module, name);
    w.tuple(1, |w| {
        w.str(arg);
    });
    w.raw(b"R");
    w.finish()
}

fn torch_with_pickle(pkl: Vec<u8>) -> Vec<u8> {
    let (b, _) = torch_builder_with_tensor();
    b.build_with_pickle(&pkl)
}

/// A checkpoint whose (deflated) `data.pkl` builds the one tensor of the good checkpoint,
/// memoizes it in slot 200, then runs `ops` (which leave the root on the stack).
fn torch_amplified(ops: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let (mut b, root) = torch_builder_with_tensor();
    let PyValue::OrderedDict(items) = root else {
        unreachable!("the good root is a dict")
    };
    let mut pkl = b.pickle(&items[0].1);
    assert_eq!(pkl.pop(), Some(b'.'));
    pkl.extend_from_slice(&[b'q', 200, b'0']);
    ops(&mut pkl);
    pkl.push(b'.');
    b.deflate_pickle = true;
    b.build_with_pickle(&pkl)
}

/// SETITEMS batches of `n` entries `(): tensor` on the dict on top of the stack: each empty
/// tuple is a new key, named by its position (`#i`), so every entry is a distinct tensor name.
fn tuple_keyed_entries(pkl: &mut Vec<u8>, n: usize) {
    for _ in 0..n / 100_000 {
        pkl.push(b'(');
        for _ in 0..100_000 {
            pkl.extend_from_slice(&[b')', b'h', 200]);
        }
        pkl.push(b'u');
    }
}

/// 60 nested dicts keyed by one memoized 1,000-byte string, the innermost holding the tensor
/// 1 Mi times: 60 KB per name, 60 GB of names from a 6 KB file.
fn torch_long_nested_keys() -> Vec<u8> {
    torch_amplified(|p| {
        // The key, memo 201; the root dict, memo 202.
        p.push(b'X');
        p.extend_from_slice(&1000u32.to_le_bytes());
        p.extend(std::iter::repeat_n(b'k', 1000));
        p.extend_from_slice(&[b'q', 201, b'0', b'}', b'q', 202]);
        for _ in 0..60 {
            // parent K {} -> memo 203 -> parent[K] = child; continue with the child.
            p.extend_from_slice(&[b'h', 201, b'}', b'q', 203, b's', b'0', b'h', 203]);
        }
        tuple_keyed_entries(p, 1 << 20);
        p.extend_from_slice(&[b'0', b'h', 202]);
    })
}

/// One list holding the tensor 1 Mi - 2 times (DUP): a million tensor records from a few KB.
fn torch_one_tensor_listed_1m_times() -> Vec<u8> {
    torch_amplified(|p| {
        p.extend_from_slice(&[b']', b'(', b'h', 200]);
        p.extend(std::iter::repeat_n(b'2', (1 << 20) - 4));
        p.push(b'e');
    })
}

fn pytorch_cases(out: &mut Vec<Case>) {
    out.push(file(
        "pytorch/one-tensor-under-long-nested-keys.pt",
        torch_long_nested_keys(),
        ERR,
    ));
    out.push(file(
        "pytorch/one-tensor-listed-1m-times.pt",
        torch_one_tensor_listed_1m_times(),
        ERR,
    ));
    let good = good_pytorch();
    out.push(file("pytorch/good.pt", good.clone(), Expect::Readable));
    for (what, at) in [
        ("local-header", 10),
        ("half", good.len() / 2),
        ("no-end-record", good.len() - 22),
        ("last-byte", good.len() - 1),
    ] {
        out.push(file(
            &format!("pytorch/truncated-{what}.pt"),
            good[..at].to_vec(),
            ERR,
        ));
    }
    for (module, name) in [
        ("os", "system"),
        ("posix", "system"),
        ("builtins", "eval"),
        ("builtins", "exec"),
        ("__builtin__", "getattr"),
        ("subprocess", "Popen"),
        ("torch", "load"),
    ] {
        out.push(file(
            &format!("pytorch/global-{module}-{name}.pt"),
            torch_with_pickle(pickle_call(module, name, "touch taoke-pwned")),
            ERR,
        ));
    }
    // Opcodes outside the restricted set.
    for (what, body) in [
        ("inst", b"(ios\nsystem\nS'id'\n".to_vec()),
        ("obj", b"(cos\nsystem\nS'id'\no".to_vec()),
        ("ext1", vec![0x82, 0x01]),
        ("persid-text", b"Pfoo\n".to_vec()),
        ("next-buffer", vec![0x97]),
        ("unknown-0xff", vec![0xff]),
        ("stack-underflow", b"R".to_vec()),
        ("memo-get-missing", vec![b'j', 0xff, 0xff, 0xff, 0x7f]),
        ("binunicode-4gb", vec![b'X', 0xff, 0xff, 0xff, 0xff]),
        ("marks-5000", vec![b'('; 5000]),
        ("long4-huge", vec![0x8b, 0xff, 0xff, 0xff, 0x7f]),
    ] {
        let mut pkl = vec![0x80, 2];
        pkl.extend_from_slice(&body);
        pkl.push(b'.');
        out.push(file(
            &format!("pytorch/opcode-{what}.pt"),
            torch_with_pickle(pkl),
            ERR,
        ));
    }
    // Tensor views that lie about their storage.
    let lying = |shape: &[u64], offset: u64| {
        let mut b = CheckpointBuilder::new();
        let s = b.storage(Dtype::F32, f32_bytes(6));
        // Row-major strides, wrapping on overflow (the point of one case).
        let mut strides = vec![1u64; shape.len()];
        for i in (0..shape.len().saturating_sub(1)).rev() {
            strides[i] = strides[i + 1].wrapping_mul(shape[i + 1]);
        }
        let spec = taoke_pytorch::builder::TensorSpec {
            storage: s,
            dtype: Dtype::F32,
            offset,
            shape: shape.to_vec(),
            strides,
            parameter: false,
        };
        b.build(&PyValue::OrderedDict(vec![(
            "weight".into(),
            PyValue::Tensor(spec),
        )]))
    };
    out.push(file(
        "pytorch/view-past-storage.pt",
        lying(&[100, 100], 0),
        Expect::Error(Some("weight")),
    ));
    out.push(file(
        "pytorch/offset-past-storage.pt",
        lying(&[2], 1 << 40),
        Expect::Error(Some("weight")),
    ));
    out.push(file(
        "pytorch/shape-overflows.pt",
        lying(&[1 << 40, 1 << 40, 1 << 40], 0),
        Expect::Error(Some("weight")),
    ));
    // A storage entry missing from the archive.
    let (b, root) = torch_builder_with_tensor();
    let pkl = b.pickle(&root);
    let entries = vec![
        ZipInput::new("archive/data.pkl", pkl),
        ZipInput::new("archive/version", b"3\n".to_vec()),
    ];
    out.push(file(
        "pytorch/missing-storage.pt",
        write_zip(&entries, false),
        ERR,
    ));
    // Zip bombs: a data.pkl declaring 100 bytes that inflates to 64 MiB, one declaring 1 TiB,
    // and one that truly inflates to 65 MiB (within the deflate ratio, over the 64 MiB cap).
    let zeros = vec![0u8; 64 << 20];
    let mut lie = ZipInput::new("archive/data.pkl", zeros.clone()).deflate(true);
    lie.declared_len = Some(100);
    out.push(file(
        "pytorch/zip-bomb-declared-small.pt",
        write_zip(&[lie], false),
        ERR,
    ));
    let mut tib = ZipInput::new("archive/data.pkl", zeros).deflate(true);
    tib.declared_len = Some(1 << 40);
    out.push(file(
        "pytorch/zip-bomb-declared-1tib.pt",
        write_zip(&[tib], true),
        ERR,
    ));
    let big = ZipInput::new("archive/data.pkl", vec![0u8; 65 << 20]).deflate(true);
    out.push(file(
        "pytorch/zip-bomb-65mib-pickle.pt",
        write_zip(&[big], false),
        ERR,
    ));
    out.push(file(
        "pytorch/duplicate-entries.pt",
        {
            let (b, root) = torch_builder_with_tensor();
            let pkl = b.pickle(&root);
            write_zip(
                &[
                    ZipInput::new("archive/data.pkl", pkl.clone()),
                    ZipInput::new("archive/data.pkl", pickle_call("os", "system", "id")),
                    ZipInput::new("archive/data/0", f32_bytes(6)),
                ],
                false,
            )
        },
        ERR,
    ));
    let mut legacy = vec![0x80, 0x02, 0x8a, 0x0a];
    legacy.extend_from_slice(&[0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]);
    legacy.push(b'.');
    out.push(file("pytorch/legacy-pickle.pt", legacy, ERR));
}

// ---------------------------------------------------------------------------------------------
// llama2.c

fn llama2c(h: [i32; 7], extra: i64) -> Vec<u8> {
    let mut out: Vec<u8> = h.iter().flat_map(|v| v.to_le_bytes()).collect();
    let [dim, hidden, layers, heads, kv, vocab, seq] = h.map(|v| v.unsigned_abs() as usize);
    let head = dim / heads.max(1);
    let kvd = kv * head;
    let per_layer = dim + dim * dim * 2 + kvd * dim * 2 + dim + hidden * dim * 3;
    let mut n = vocab * dim + layers * per_layer + dim + seq * head;
    if h[5] < 0 {
        n += vocab * dim;
    }
    let len = (n * 4) as i64 + extra;
    out.extend((0..len.max(0) as usize).map(|i| (i % 7) as u8));
    out
}

/// The good llama2.c file: dim 8, hidden 16, 1 layer, 2 heads, vocab 16, seq 4.
pub fn good_llama2c() -> Vec<u8> {
    llama2c([8, 16, 1, 2, 2, 16, 4], 0)
}

fn llama2c_cases(out: &mut Vec<Case>) {
    out.push(file("llama2c/good.bin", good_llama2c(), Expect::Readable));
    out.push(file(
        "llama2c/one-byte-short.bin",
        llama2c([8, 16, 1, 2, 2, 16, 4], -1),
        ERR,
    ));
    out.push(file(
        "llama2c/one-byte-long.bin",
        llama2c([8, 16, 1, 2, 2, 16, 4], 1),
        ERR,
    ));
    out.push(file(
        "llama2c/header-only.bin",
        llama2c([8, 16, 1, 2, 2, 16, 4], 0)[..28].to_vec(),
        ERR,
    ));
    let mut huge: Vec<u8> = [65536, 262144, 1024, 1024, 1024, -4194304, 4194304]
        .iter()
        .flat_map(|v: &i32| v.to_le_bytes())
        .collect();
    huge.extend_from_slice(&[0; 64]);
    out.push(file("llama2c/huge-header.bin", huge, ERR));
    let mut neg: Vec<u8> = [-8, 16, 1, 2, 2, 16, 4]
        .iter()
        .flat_map(|v: &i32| v.to_le_bytes())
        .collect();
    neg.extend_from_slice(&[0; 64]);
    out.push(file("llama2c/negative-dim.bin", neg, ERR));
}

// ---------------------------------------------------------------------------------------------
// Side files beside good weights: config.json and tokenizer files.

fn side_cases(out: &mut Vec<Case>) {
    let w = || ("model.safetensors", good_safetensors());
    let side = |name: &str, file_name: &'static str, bytes: Vec<u8>| {
        folder(
            &format!("side/{name}"),
            vec![w(), (file_name, bytes)],
            Expect::Readable,
        )
    };
    out.push(side(
        "config-deep-json",
        "config.json",
        format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes(),
    ));
    out.push(side(
        "config-lying-numbers",
        "config.json",
        br#"{"model_type":"llama","architectures":["LlamaForCausalLM"],"num_hidden_layers":1e30,
"hidden_size":-5,"num_attention_heads":0,"num_key_value_heads":4294967297,
"intermediate_size":18446744073709551615,"vocab_size":-1,"head_dim":0,
"text_config":{"num_hidden_layers":"many"},"rope_scaling":{"factor":1e308}}"#
            .to_vec(),
    ));
    out.push(side(
        "config-not-utf8",
        "config.json",
        b"{\"a\":\"\xff\xfe\"}".to_vec(),
    ));
    out.push(side(
        "tokenizer-json-deep",
        "tokenizer.json",
        format!(
            "{{\"model\":{{\"type\":\"BPE\",\"vocab\":{}{}}}}}",
            "[".repeat(10_000),
            "]".repeat(10_000)
        )
        .into_bytes(),
    ));
    out.push(side(
        "tokenizer-json-sparse-ids",
        "tokenizer.json",
        br#"{"model":{"type":"WordPiece","vocab":{"a":0,"b":4000000000,"c":2147483647}}}"#.to_vec(),
    ));
    out.push(side(
        "tokenizer-json-duplicate-ids",
        "tokenizer.json",
        br#"{"model":{"type":"BPE","vocab":{"a":0,"b":0,"c":1},"merges":["a b","b c"]}}"#.to_vec(),
    ));
    out.push(side("tokenizer-model-garbage", "tokenizer.model", {
        let mut v = vec![0x0a];
        varint(&mut v, 1 << 40);
        v.extend_from_slice(&[0xff; 32]);
        v
    }));
    out.push(side(
        "vocab-txt-non-utf8",
        "vocab.txt",
        b"[PAD]\n\xff\xfe\n[UNK]\n".to_vec(),
    ));
    out.push(side(
        "special-tokens-map-lies",
        "special_tokens_map.json",
        br#"{"bos_token":{"content":"\u0000"},"eos_token":[1,2,3],"unk_token":99999999999}"#
            .to_vec(),
    ));
}

/// Cases too large to commit: huge counts of tiny items (GGUF tensors and metadata values,
/// safetensors entries, ONNX nodes), a 17 MiB config.json (over the 16 MiB cap) and a 40 MiB
/// vocab.txt of one line.
pub fn large_cases() -> Vec<Case> {
    let mut big_config = b"{\"pad\":\"".to_vec();
    big_config.extend(std::iter::repeat_n(b'x', 17 << 20));
    big_config.extend_from_slice(b"\"}");
    // 4 Mi nodes of 4 bytes each: past the node cap, and ~850 MiB of RSS without it.
    let node = P::default().msg(1, P::default().str(2, "")).0;
    let many_nodes = onnx_model_graph(P(node.repeat(1 << 22)));
    // 1 Mi empty GGUF tensors (36 MiB) and 256 Ki empty safetensors entries (13 MiB): past
    // the tensor caps, and 1.5 GiB / 650 MiB of RSS in `taoke inspect` without them.
    let many_gguf = gguf_with(3, 1 << 20, 0, |g| {
        for i in 0..1u64 << 20 {
            g.tensor(format!("{i:07x}").as_bytes(), &[0], 0, 0);
        }
    });
    let entries: Vec<String> = (0..1u32 << 18)
        .map(|i| st_entry(&format!("{i:x}"), "F32", "[0]", 0, 0))
        .collect();
    let many_st = st_raw(format!("{{{}}}", entries.join(",")).as_bytes(), &[]);
    // 2 Mi + 1 metadata values: one u8 array over the total.
    let many_values = gguf_with(3, 0, 1, |g| {
        g.str(b"tokenizer.ggml.token_type")
            .u32(9)
            .u32(0)
            .u64((1 << 21) + 1);
        g.0.extend(std::iter::repeat_n(1u8, (1 << 21) + 1));
    });
    // A 77 MB `__metadata__` of 5.2 M tiny entries (1.5 GB of RSS before its caps), a
    // 58 MB shard index of 1.15 M entries (1.75 GB for 63 MiB), a 71 MB tokenizer.json of
    // 2.2 M tokens and 1.7 M merges (1.36 GB for 73 MB).
    let mut meta = String::from(r#"{"__metadata__":{"#);
    for i in 0..5_200_000u32 {
        if i > 0 {
            meta.push(',');
        }
        meta.push_str(&format!(r#""k{i}":"v""#));
    }
    meta.push_str("},");
    meta.push_str(&st_entry("a", "F32", "[1]", 0, 4));
    meta.push('}');
    let big_metadata = st_raw(meta.as_bytes(), &f32_bytes(1));
    let mut idx = String::from(r#"{"metadata":{"total_size":4},"weight_map":{"#);
    for i in 0..1_150_000u32 {
        if i > 0 {
            idx.push(',');
        }
        idx.push_str(&format!(r#""model.layers.{i}.weight":"model.safetensors""#));
    }
    idx.push_str("}}");
    let mut tok = String::from(r#"{"model":{"type":"BPE","vocab":{"#);
    for i in 0..2_200_000u32 {
        if i > 0 {
            tok.push(',');
        }
        tok.push_str(&format!(r#""t{i}":{i}"#));
    }
    tok.push_str(r#"},"merges":["#);
    for i in 0..1_700_000u32 {
        if i > 0 {
            tok.push(',');
        }
        tok.push_str(&format!(r#""t{i} t{}""#, i + 1));
    }
    tok.push_str("]}}");
    vec![
        Case {
            path: "safetensors/metadata-77mb.safetensors".into(),
            files: vec![(String::new(), big_metadata)],
            expect: ERR,
            committed: false,
        },
        Case {
            path: "shards/index-58mb-1mi-entries".into(),
            files: vec![
                ("model.safetensors".into(), good_safetensors()),
                ("model.safetensors.index.json".into(), idx.into_bytes()),
            ],
            expect: ERR,
            committed: false,
        },
        Case {
            path: "side/tokenizer-json-71mb".into(),
            files: vec![
                ("model.safetensors".into(), good_safetensors()),
                ("tokenizer.json".into(), tok.into_bytes()),
            ],
            expect: Expect::Readable,
            committed: false,
        },
        Case {
            path: "gguf/tensors-1mi.gguf".into(),
            files: vec![(String::new(), many_gguf)],
            expect: ERR,
            committed: false,
        },
        Case {
            path: "gguf/metadata-values-2mi.gguf".into(),
            files: vec![(String::new(), many_values)],
            expect: ERR,
            committed: false,
        },
        Case {
            path: "safetensors/tensors-256ki.safetensors".into(),
            files: vec![(String::new(), many_st)],
            expect: ERR,
            committed: false,
        },
        Case {
            path: "onnx/nodes-4mi.onnx".into(),
            files: vec![(String::new(), many_nodes)],
            expect: ERR,
            committed: false,
        },
        Case {
            path: "side/config-17mib".into(),
            files: vec![
                ("model.safetensors".into(), good_safetensors()),
                ("config.json".into(), big_config),
            ],
            expect: Expect::Readable,
            committed: false,
        },
        Case {
            path: "side/vocab-txt-one-40mib-line".into(),
            files: vec![
                ("model.safetensors".into(), good_safetensors()),
                ("vocab.txt".into(), vec![b'a'; 40 << 20]),
            ],
            expect: Expect::Readable,
            committed: false,
        },
    ]
}

/// Every committed case, in a fixed order.
pub fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    safetensors_cases(&mut out);
    shard_cases(&mut out);
    gguf_cases(&mut out);
    onnx_cases(&mut out);
    pytorch_cases(&mut out);
    llama2c_cases(&mut out);
    side_cases(&mut out);
    out
}
