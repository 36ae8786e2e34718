//! A tiny protobuf encoder to build ONNX files in tests.

#![allow(dead_code)]

/// A message under construction.
#[derive(Default, Clone)]
pub struct Msg(pub Vec<u8>);

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

impl Msg {
    pub fn new() -> Self {
        Msg(Vec::new())
    }
    fn tag(&mut self, n: u32, w: u8) {
        varint(&mut self.0, (u64::from(n) << 3) | u64::from(w));
    }
    pub fn int(mut self, n: u32, v: i64) -> Self {
        self.tag(n, 0);
        varint(&mut self.0, v as u64);
        self
    }
    pub fn bytes(mut self, n: u32, b: &[u8]) -> Self {
        self.tag(n, 2);
        varint(&mut self.0, b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }
    pub fn str(self, n: u32, s: &str) -> Self {
        self.bytes(n, s.as_bytes())
    }
    pub fn msg(self, n: u32, m: Msg) -> Self {
        self.bytes(n, &m.0)
    }
    pub fn f32(mut self, n: u32, v: f32) -> Self {
        self.tag(n, 5);
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn packed_varints(self, n: u32, vs: &[i64]) -> Self {
        let mut p = Vec::new();
        for &v in vs {
            varint(&mut p, v as u64);
        }
        self.bytes(n, &p)
    }
    pub fn packed_f32(self, n: u32, vs: &[f32]) -> Self {
        let p: Vec<u8> = vs.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.bytes(n, &p)
    }
}

/// A TensorProto with dims (unpacked, as proto2 writers do), type and name.
pub fn tensor(name: &str, dims: &[i64], data_type: i64) -> Msg {
    let mut t = Msg::new();
    for &d in dims {
        t = t.int(1, d);
    }
    t.int(2, data_type).str(8, name)
}

/// A tensor with raw data.
pub fn raw(name: &str, dims: &[i64], data_type: i64, data: &[u8]) -> Msg {
    tensor(name, dims, data_type).bytes(9, data)
}

/// A float32 tensor with raw data.
pub fn raw_f32(name: &str, dims: &[i64], vals: &[f32]) -> Msg {
    let b: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
    raw(name, dims, 1, &b)
}

/// A NodeProto.
pub fn node(op: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<Msg>) -> Msg {
    let mut n = Msg::new();
    for i in inputs {
        n = n.str(1, i);
    }
    for o in outputs {
        n = n.str(2, o);
    }
    n = n
        .str(
            3,
            &format!("node_{}", outputs.first().copied().unwrap_or(op)),
        )
        .str(4, op);
    for a in attrs {
        n = n.msg(5, a);
    }
    n
}

/// An integer attribute.
pub fn attr_int(name: &str, v: i64) -> Msg {
    Msg::new().str(1, name).int(3, v).int(20, 2)
}

/// A graph input/output ValueInfoProto with a float tensor type of the given dims.
pub fn value_info(name: &str, dims: &[i64]) -> Msg {
    let mut shape = Msg::new();
    for &d in dims {
        shape = shape.msg(1, Msg::new().int(1, d));
    }
    let tt = Msg::new().int(1, 1).msg(2, shape);
    Msg::new().str(1, name).msg(2, Msg::new().msg(1, tt))
}

/// A ModelProto around a graph made of initializers and nodes.
pub fn model(initializers: Vec<Msg>, nodes: Vec<Msg>) -> Vec<u8> {
    let mut g = Msg::new().str(2, "test-graph");
    for n in nodes {
        g = g.msg(1, n);
    }
    for t in initializers {
        g = g.msg(5, t);
    }
    g = g
        .msg(11, value_info("x", &[1, 4]))
        .msg(12, value_info("y", &[1, 3]));
    Msg::new()
        .int(1, 9)
        .str(2, "taoke-test")
        .msg(7, g)
        .msg(8, Msg::new().str(1, "").int(2, 17))
        .msg(14, Msg::new().str(1, "k").str(2, "v"))
        .0
}
