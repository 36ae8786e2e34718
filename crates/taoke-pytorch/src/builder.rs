//! Writers for torch-style checkpoints, for tests and synthetic model zoos.
//!
//! [`CheckpointBuilder`] writes what `torch.save(obj, f)` (torch >= 1.6) writes: a zip whose
//! single folder holds `data.pkl` (pickle protocol 2, with `collections.OrderedDict`,
//! `torch._utils._rebuild_tensor_v2` and BINPERSID storage ids, memoized the way CPython's
//! pickler memoizes), `byteorder`, the storages `data/<key>` STORED and 64-byte aligned,
//! `version` and `.data/serialization_id`. Dtypes without a typed storage class (FP8,
//! uint16, …) are written as torch 2.x does: `torch.UntypedStorage` plus
//! `_rebuild_tensor_v3` with a dtype global.
//!
//! [`PickleWriter`] and [`write_zip`] are exposed for hand-made (and hostile) files.

use std::collections::HashMap;

use taoke_dtype::Dtype;

use crate::pickle::TorchDtype;
use crate::zip::crc32;

/// A Python value to pickle.
#[derive(Debug, Clone, PartialEq)]
pub enum PyValue {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An int.
    Int(i64),
    /// A float.
    Float(f64),
    /// A str.
    Str(String),
    /// A plain dict with str keys.
    Dict(Vec<(String, PyValue)>),
    /// A `collections.OrderedDict` with str keys (what `state_dict()` returns).
    OrderedDict(Vec<(String, PyValue)>),
    /// A list.
    List(Vec<PyValue>),
    /// A tuple.
    Tuple(Vec<PyValue>),
    /// A tensor view of a storage added with [`CheckpointBuilder::storage`].
    Tensor(TensorSpec),
}

/// A tensor: a view into a storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    /// Storage index returned by [`CheckpointBuilder::storage`].
    pub storage: usize,
    /// Element type of the view (must equal the storage's for typed storages).
    pub dtype: Dtype,
    /// Offset of the first element, in elements.
    pub offset: u64,
    /// Size of each dimension.
    pub shape: Vec<u64>,
    /// Stride of each dimension, in elements.
    pub strides: Vec<u64>,
    /// Pickle as an `nn.Parameter` (`_rebuild_parameter` around the tensor).
    pub parameter: bool,
}

impl TensorSpec {
    /// A contiguous view of `shape` at `offset` of storage `storage`.
    pub fn contiguous(storage: usize, dtype: Dtype, offset: u64, shape: &[u64]) -> TensorSpec {
        let mut strides = vec![1u64; shape.len()];
        for i in (0..shape.len().saturating_sub(1)).rev() {
            strides[i] = strides[i + 1] * shape[i + 1];
        }
        TensorSpec {
            storage,
            dtype,
            offset,
            shape: shape.to_vec(),
            strides,
            parameter: false,
        }
    }
}

/// A protocol-2 pickle writer that memoizes like CPython (globals and strings by value,
/// containers when created), so BINGET appears where torch's files have it.
#[derive(Debug, Default)]
pub struct PickleWriter {
    out: Vec<u8>,
    memo: HashMap<String, u32>,
    next: u32,
}

impl PickleWriter {
    /// Starts a stream with `PROTO 2`.
    pub fn new() -> PickleWriter {
        let mut w = PickleWriter::default();
        w.out.extend_from_slice(&[0x80, 2]);
        w
    }

    /// Appends raw bytes (for hand-made and hostile streams).
    pub fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.out.extend_from_slice(b);
        self
    }

    /// Writes BINPUT (or LONG_BINPUT) for the next memo slot.
    pub fn memoize(&mut self) -> &mut Self {
        let k = self.next;
        self.next += 1;
        self.put(k)
    }

    fn put(&mut self, k: u32) -> &mut Self {
        if k < 256 {
            self.out.extend_from_slice(&[b'q', k as u8]);
        } else {
            self.out.push(b'r');
            self.out.extend_from_slice(&k.to_le_bytes());
        }
        self
    }

    fn get(&mut self, k: u32) -> &mut Self {
        if k < 256 {
            self.out.extend_from_slice(&[b'h', k as u8]);
        } else {
            self.out.push(b'j');
            self.out.extend_from_slice(&k.to_le_bytes());
        }
        self
    }

    fn memo_or(&mut self, key: String, write: impl FnOnce(&mut Self)) -> &mut Self {
        if let Some(&k) = self.memo.get(&key) {
            return self.get(k);
        }
        write(self);
        let k = self.next;
        self.memo.insert(key, k);
        self.memoize()
    }

    /// `GLOBAL module\nname\n`, memoized.
    pub fn global(&mut self, module: &str, name: &str) -> &mut Self {
        self.memo_or(format!("g:{module}.{name}"), |w| {
            w.out.push(b'c');
            w.out
                .extend_from_slice(format!("{module}\n{name}\n").as_bytes());
        })
    }

    /// A str (BINUNICODE), memoized by value.
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.memo_or(format!("s:{s}"), |w| {
            w.out.push(b'X');
            w.out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            w.out.extend_from_slice(s.as_bytes());
        })
    }

    /// An int, in the smallest opcode CPython would use.
    pub fn int(&mut self, v: i64) -> &mut Self {
        if (0..256).contains(&v) {
            self.out.extend_from_slice(&[b'K', v as u8]);
        } else if (0..65536).contains(&v) {
            self.out.push(b'M');
            self.out.extend_from_slice(&(v as u16).to_le_bytes());
        } else if let Ok(x) = i32::try_from(v) {
            self.out.push(b'J');
            self.out.extend_from_slice(&x.to_le_bytes());
        } else {
            let b = v.to_le_bytes();
            self.out.extend_from_slice(&[0x8a, 8]);
            self.out.extend_from_slice(&b);
        }
        self
    }

    /// A float (BINFLOAT, big-endian).
    pub fn float(&mut self, v: f64) -> &mut Self {
        self.out.push(b'G');
        self.out.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// `True` / `False`.
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.out.push(if v { 0x88 } else { 0x89 });
        self
    }

    /// `None`.
    pub fn none(&mut self) -> &mut Self {
        self.out.push(b'N');
        self
    }

    /// Writes a tuple of `n` items using `items` to write them, the way CPython does
    /// (EMPTY_TUPLE, TUPLE1-3, or MARK … TUPLE), memoizing non-empty tuples.
    pub fn tuple(&mut self, n: usize, items: impl FnOnce(&mut Self)) -> &mut Self {
        if n == 0 {
            self.out.push(b')');
            return self;
        }
        if n > 3 {
            self.out.push(b'(');
        }
        items(self);
        self.out.push(match n {
            1 => 0x85,
            2 => 0x86,
            3 => 0x87,
            _ => b't',
        });
        self.memoize()
    }

    /// `collections.OrderedDict()`: GLOBAL, EMPTY_TUPLE, REDUCE, memoized.
    pub fn ordered_dict(&mut self) -> &mut Self {
        self.global("collections", "OrderedDict");
        self.out.extend_from_slice(b")R");
        self.memoize()
    }

    /// Writes `n` dict items (key and value written by `item(w, i)`) the way CPython batches
    /// them: SETITEM for a lone item, MARK … SETITEMS for up to 1000.
    pub fn set_items(&mut self, n: usize, mut item: impl FnMut(&mut Self, usize)) -> &mut Self {
        let mut i = 0;
        while i < n {
            let batch = (n - i).min(1000);
            if batch == 1 {
                item(self, i);
                self.out.push(b's');
            } else {
                self.out.push(b'(');
                for j in i..i + batch {
                    item(self, j);
                }
                self.out.push(b'u');
            }
            i += batch;
        }
        self
    }

    /// Ends the stream with STOP and returns it.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.push(b'.');
        self.out
    }
}

/// A storage to write.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StorageSpec {
    dtype: Dtype,
    bytes: Vec<u8>,
}

/// Writes torch-style checkpoints. See the module documentation.
#[derive(Debug, Clone)]
pub struct CheckpointBuilder {
    /// Top-level folder (`archive` by default).
    pub folder: String,
    /// Compress `data.pkl` with deflate (torch never does; for tests of the inflater).
    pub deflate_pickle: bool,
    /// Write ZIP64 structures even for a small archive.
    pub zip64: bool,
    /// Content of the `byteorder` entry (`None`: omit it, as torch < 1.10 did).
    pub byteorder: Option<String>,
    /// Content of the `version` entry (`None`: omit it).
    pub version: Option<String>,
    /// Device location in persistent ids.
    pub location: String,
    /// Give a root OrderedDict torch's `_metadata` attribute (BUILD after the items).
    pub metadata: bool,
    storages: Vec<StorageSpec>,
}

impl Default for CheckpointBuilder {
    fn default() -> Self {
        CheckpointBuilder {
            folder: "archive".into(),
            deflate_pickle: false,
            zip64: false,
            byteorder: Some("little".into()),
            version: Some("3\n".into()),
            location: "cpu".into(),
            metadata: true,
            storages: Vec::new(),
        }
    }
}

impl CheckpointBuilder {
    /// A builder with torch's defaults.
    pub fn new() -> CheckpointBuilder {
        CheckpointBuilder::default()
    }

    /// Adds a storage holding `bytes` of `dtype` elements; returns its index (its key is the
    /// index in decimal, as torch numbers them).
    pub fn storage(&mut self, dtype: Dtype, bytes: Vec<u8>) -> usize {
        self.storages.push(StorageSpec { dtype, bytes });
        self.storages.len() - 1
    }

    /// Adds a storage and returns a contiguous tensor covering all of it.
    pub fn tensor(&mut self, dtype: Dtype, shape: &[u64], bytes: Vec<u8>) -> PyValue {
        let s = self.storage(dtype, bytes);
        PyValue::Tensor(TensorSpec::contiguous(s, dtype, 0, shape))
    }

    /// The `data.pkl` stream for `root`.
    ///
    /// # Panics
    /// On a tensor whose dtype torch cannot name, or a storage index out of range (test
    /// code only).
    pub fn pickle(&self, root: &PyValue) -> Vec<u8> {
        let mut w = PickleWriter::new();
        self.value(&mut w, root, true);
        w.finish()
    }

    fn value(&self, w: &mut PickleWriter, v: &PyValue, root: bool) {
        match v {
            PyValue::None => {
                w.none();
            }
            PyValue::Bool(b) => {
                w.bool(*b);
            }
            PyValue::Int(i) => {
                w.int(*i);
            }
            PyValue::Float(f) => {
                w.float(*f);
            }
            PyValue::Str(s) => {
                w.str(s);
            }
            PyValue::Dict(items) => {
                w.raw(b"}").memoize();
                w.set_items(items.len(), |w, i| {
                    w.str(&items[i].0);
                    self.value(w, &items[i].1, false);
                });
            }
            PyValue::OrderedDict(items) => {
                w.ordered_dict();
                w.set_items(items.len(), |w, i| {
                    w.str(&items[i].0);
                    self.value(w, &items[i].1, false);
                });
                if root && self.metadata {
                    // state = {'_metadata': OrderedDict([('', {'version': 1})])}; BUILD
                    w.raw(b"}").memoize();
                    w.str("_metadata");
                    w.ordered_dict();
                    w.str("");
                    w.raw(b"}").memoize();
                    w.str("version").int(1).raw(b"s");
                    w.raw(b"s");
                    w.raw(b"s");
                    w.raw(b"b");
                }
            }
            PyValue::List(items) => {
                w.raw(b"]").memoize();
                let mut i = 0;
                while i < items.len() {
                    let batch = (items.len() - i).min(1000);
                    if batch == 1 {
                        self.value(w, &items[i], false);
                        w.raw(b"a");
                    } else {
                        w.raw(b"(");
                        for it in &items[i..i + batch] {
                            self.value(w, it, false);
                        }
                        w.raw(b"e");
                    }
                    i += batch;
                }
            }
            PyValue::Tuple(items) => {
                w.tuple(items.len(), |w| {
                    for it in items {
                        self.value(w, it, false);
                    }
                });
            }
            PyValue::Tensor(t) => self.write_tensor(w, t),
        }
    }

    fn write_tensor(&self, w: &mut PickleWriter, t: &TensorSpec) {
        if t.parameter {
            w.global("torch._utils", "_rebuild_parameter");
            w.tuple(3, |w| {
                self.plain_tensor(w, t);
                w.bool(false);
                w.ordered_dict();
            });
            w.raw(b"R").memoize();
        } else {
            self.plain_tensor(w, t);
        }
    }

    fn plain_tensor(&self, w: &mut PickleWriter, t: &TensorSpec) {
        let s = &self.storages[t.storage];
        let sd = TorchDtype::from_dtype(s.dtype).expect("a dtype torch can name");
        let td = TorchDtype::from_dtype(t.dtype).expect("a dtype torch can name");
        let v3 = sd.storage_class().is_none() || td.storage_class().is_none();
        let key = t.storage.to_string();
        let pid = |w: &mut PickleWriter| {
            w.tuple(5, |w| {
                w.str("storage");
                if v3 {
                    w.global("torch", "UntypedStorage");
                } else {
                    w.global("torch", sd.storage_class().unwrap_or_default());
                }
                w.str(&key);
                w.str(&self.location);
                let numel = if v3 {
                    s.bytes.len() as u64
                } else {
                    s.bytes.len() as u64 / sd.elem_bytes
                };
                w.int(numel as i64);
            });
            w.raw(b"Q");
        };
        let dims = |w: &mut PickleWriter, d: &[u64]| {
            w.tuple(d.len(), |w| {
                for &x in d {
                    w.int(x as i64);
                }
            });
        };
        if v3 {
            w.global("torch._utils", "_rebuild_tensor_v3");
        } else {
            w.global("torch._utils", "_rebuild_tensor_v2");
        }
        w.tuple(if v3 { 7 } else { 6 }, |w| {
            pid(w);
            w.int(t.offset as i64);
            dims(w, &t.shape);
            dims(w, &t.strides);
            w.bool(false);
            w.ordered_dict();
            if v3 {
                w.global("torch", td.attr());
            }
        });
        w.raw(b"R").memoize();
    }

    /// The whole checkpoint for `root`.
    pub fn build(&self, root: &PyValue) -> Vec<u8> {
        self.build_with_pickle(&self.pickle(root))
    }

    /// A checkpoint with a given `data.pkl` (hand-written or hostile) and this builder's
    /// storages.
    pub fn build_with_pickle(&self, pkl: &[u8]) -> Vec<u8> {
        let f = &self.folder;
        let mut entries =
            vec![ZipInput::new(format!("{f}/data.pkl"), pkl.to_vec()).deflate(self.deflate_pickle)];
        entries.push(ZipInput::new(format!("{f}/.format_version"), b"1".to_vec()));
        entries.push(ZipInput::new(
            format!("{f}/.storage_alignment"),
            b"64".to_vec(),
        ));
        if let Some(b) = &self.byteorder {
            entries.push(ZipInput::new(
                format!("{f}/byteorder"),
                b.as_bytes().to_vec(),
            ));
        }
        for (i, s) in self.storages.iter().enumerate() {
            entries.push(ZipInput::new(format!("{f}/data/{i}"), s.bytes.clone()));
        }
        if let Some(v) = &self.version {
            entries.push(ZipInput::new(format!("{f}/version"), v.as_bytes().to_vec()));
        }
        entries.push(ZipInput::new(
            format!("{f}/.data/serialization_id"),
            b"0123456789012345678901234567890123456789".to_vec(),
        ));
        write_zip(&entries, self.zip64)
    }
}

/// One entry for [`write_zip`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipInput {
    /// Entry name.
    pub name: String,
    /// Uncompressed content.
    pub data: Vec<u8>,
    /// Compress with deflate instead of storing.
    pub deflate: bool,
    /// Uncompressed size to declare instead of the true one (for hostile archives).
    pub declared_len: Option<u64>,
}

impl ZipInput {
    /// A STORED entry.
    pub fn new(name: impl Into<String>, data: Vec<u8>) -> ZipInput {
        ZipInput {
            name: name.into(),
            data,
            deflate: false,
            declared_len: None,
        }
    }

    /// Sets whether to deflate.
    pub fn deflate(mut self, yes: bool) -> ZipInput {
        self.deflate = yes;
        self
    }
}

fn le16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn le32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn le64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Writes a zip archive the way torch's writer does: every entry's data 64-byte aligned
/// (local extra field `FB` holding padding), sizes in the local header, and with `zip64`
/// the ZIP64 extra fields, end record and locator.
pub fn write_zip(entries: &[ZipInput], zip64: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for e in entries {
        let payload = if e.deflate {
            miniz_oxide::deflate::compress_to_vec(&e.data, 6)
        } else {
            e.data.clone()
        };
        let len = e.declared_len.unwrap_or(e.data.len() as u64);
        let clen = payload.len() as u64;
        let crc = crc32(&e.data);
        let method: u16 = if e.deflate { 8 } else { 0 };
        let offset = out.len() as u64;

        let mut extra = Vec::new();
        if zip64 {
            le16(&mut extra, 1);
            le16(&mut extra, 16);
            le64(&mut extra, len);
            le64(&mut extra, clen);
        }
        let unpadded = offset + 30 + e.name.len() as u64 + extra.len() as u64 + 4;
        let pad = (64 - unpadded % 64) % 64;
        le16(&mut extra, 0x4246); // "FB"
        le16(&mut extra, pad as u16);
        extra.extend(std::iter::repeat_n(b'Z', pad as usize));

        le32(&mut out, 0x0403_4b50);
        le16(&mut out, if zip64 { 45 } else { 20 });
        le16(&mut out, 0);
        le16(&mut out, method);
        le16(&mut out, 0);
        le16(&mut out, 0x21);
        le32(&mut out, crc);
        le32(&mut out, if zip64 { u32::MAX } else { clen as u32 });
        le32(&mut out, if zip64 { u32::MAX } else { len as u32 });
        le16(&mut out, e.name.len() as u16);
        le16(&mut out, extra.len() as u16);
        out.extend_from_slice(e.name.as_bytes());
        out.extend_from_slice(&extra);
        debug_assert_eq!(out.len() % 64, 0);
        out.extend_from_slice(&payload);

        let mut c = Vec::new();
        le32(&mut c, 0x0201_4b50);
        le16(&mut c, if zip64 { 45 } else { 20 });
        le16(&mut c, if zip64 { 45 } else { 20 });
        le16(&mut c, 0);
        le16(&mut c, method);
        le16(&mut c, 0);
        le16(&mut c, 0x21);
        le32(&mut c, crc);
        le32(&mut c, if zip64 { u32::MAX } else { clen as u32 });
        le32(&mut c, if zip64 { u32::MAX } else { len as u32 });
        le16(&mut c, e.name.len() as u16);
        le16(&mut c, if zip64 { 28 } else { 0 });
        le16(&mut c, 0);
        le16(&mut c, 0);
        le16(&mut c, 0);
        le32(&mut c, 0);
        le32(&mut c, if zip64 { u32::MAX } else { offset as u32 });
        c.extend_from_slice(e.name.as_bytes());
        if zip64 {
            le16(&mut c, 1);
            le16(&mut c, 24);
            le64(&mut c, len);
            le64(&mut c, clen);
            le64(&mut c, offset);
        }
        central.push(c);
    }
    let cd_offset = out.len() as u64;
    for c in &central {
        out.extend_from_slice(c);
    }
    let cd_len = out.len() as u64 - cd_offset;
    let n = entries.len() as u64;
    if zip64 {
        let rec = out.len() as u64;
        le32(&mut out, 0x0606_4b50);
        le64(&mut out, 44);
        le16(&mut out, 45);
        le16(&mut out, 45);
        le32(&mut out, 0);
        le32(&mut out, 0);
        le64(&mut out, n);
        le64(&mut out, n);
        le64(&mut out, cd_len);
        le64(&mut out, cd_offset);
        le32(&mut out, 0x0706_4b50);
        le32(&mut out, 0);
        le64(&mut out, rec);
        le32(&mut out, 1);
    }
    le32(&mut out, 0x0605_4b50);
    le16(&mut out, 0);
    le16(&mut out, 0);
    le16(&mut out, if zip64 { u16::MAX } else { n as u16 });
    le16(&mut out, if zip64 { u16::MAX } else { n as u16 });
    le32(&mut out, if zip64 { u32::MAX } else { cd_len as u32 });
    le32(&mut out, if zip64 { u32::MAX } else { cd_offset as u32 });
    le16(&mut out, 0);
    out
}
