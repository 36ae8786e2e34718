//! From an archive to a tensor list: the torch meaning of the zip entries and of the pickled
//! object graph.
//!
//! [`parse`] finds the archive folder, checks `byteorder` and `version`, runs `data.pkl`
//! through the restricted pickle reader ([`parse_state_dict`]), flattens nested dicts into
//! dotted names, and binds each storage key to its `data/<key>` entry. Every tensor view is
//! checked to fit inside its storage.

use std::collections::{BTreeMap, BTreeSet};

use taoke_dtype::Dtype;

use crate::pickle::{self, Obj, Pickle, Value};
use crate::zip::ZipArchive;
use crate::Error;

/// Largest `data.pkl` accepted (after inflation), in bytes. A state dict's pickle takes a
/// few hundred bytes per tensor (a few MiB for the largest models); the cap keeps a deflated
/// `data.pkl` bomb (deflate reaches ~1030:1) from inflating past what a 256 MiB process can
/// hold.
pub const MAX_PICKLE_LEN: u64 = 64 << 20;
/// Deepest nesting of dicts/lists followed when flattening names.
pub const MAX_NESTING: usize = 64;
/// Most tensors listed from one pickle (as many as safetensors and GGUF accept).
pub const MAX_TENSORS: usize = 1 << 16;
/// Most bytes of names built while flattening (tensor and container names, counted with the
/// listed tensors' storage keys and shapes). Real state dicts use well under 1 MiB; the cap
/// stops a small pickle that references one tensor or container under long keys many times
/// from multiplying its size into gigabytes of names.
pub const MAX_NAME_BYTES: u64 = 16 << 20;
/// Largest small metadata entry (`version`, `byteorder`) read.
const MAX_SMALL_ENTRY: u64 = 64;

/// torch's legacy magic number, as the LONG1 pickle opcode that starts a pre-1.6 file.
const LEGACY_MAGIC: [u8; 12] = [
    0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19,
];

/// One tensor of the checkpoint: a (possibly strided) view into a storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorRecord {
    /// Dotted name: the state-dict key, prefixed by the keys of enclosing dicts
    /// (`{"model": {"w": t}}` gives `model.w`; list items use their index).
    pub name: String,
    /// Element type ([`Dtype::Unknown`] for torch types taoke lacks; see `torch_dtype`).
    pub dtype: Dtype,
    /// Torch name of the element type (`"torch.bfloat16"`).
    pub torch_dtype: &'static str,
    /// Bytes per element.
    pub elem_bytes: u64,
    /// Size of each dimension.
    pub shape: Vec<u64>,
    /// Stride of each dimension, in elements.
    pub strides: Vec<u64>,
    /// Offset of the first element in the storage, in elements.
    pub storage_offset_elems: u64,
    /// Key of the storage (`data/<key>` in the archive).
    pub storage_key: String,
    /// Index of the storage in [`StateDict::storages`] / [`Checkpoint::storages`].
    pub storage_index: usize,
    /// Length of the storage in elements of this tensor's type.
    pub storage_elems: u64,
}

impl TensorRecord {
    /// Number of elements (product of the shape; 1 for a scalar).
    pub fn numel(&self) -> u64 {
        // Checked at parse time to fit in the storage, hence in u64.
        self.shape.iter().product()
    }

    /// Whether the view is row-major contiguous (strides of a C-order array; dimensions of
    /// size 1 may have any stride, as in torch's own `is_contiguous`).
    pub fn is_contiguous(&self) -> bool {
        let mut expected = 1u64;
        for (&n, &s) in self.shape.iter().zip(&self.strides).rev() {
            if n != 1 && s != expected {
                return false;
            }
            expected = expected.saturating_mul(n);
        }
        true
    }
}

/// A storage as its persistent id declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageDecl {
    /// The key (`"0"`, `"1"`, …): the archive entry is `<folder>/data/<key>`.
    pub key: String,
    /// Element type of the storage (`U8` for `torch.UntypedStorage`).
    pub dtype: Dtype,
    /// Torch name of the element type.
    pub torch_dtype: &'static str,
    /// Bytes per element.
    pub elem_bytes: u64,
    /// Element count (bytes for untyped storages).
    pub numel: u64,
    /// Device it was saved from (`"cpu"`, `"cuda:0"`).
    pub location: String,
}

impl StorageDecl {
    /// Bytes the storage occupies (checked at parse time not to overflow).
    pub fn byte_len(&self) -> u64 {
        self.numel.saturating_mul(self.elem_bytes)
    }
}

/// A storage bound to its archive entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageRecord {
    /// What the pickle declared.
    pub decl: StorageDecl,
    /// Archive entry name (`archive/data/0`).
    pub entry: String,
    /// Byte offset of the storage's first byte in the archive file.
    pub offset: u64,
    /// Byte length of the entry (at least [`StorageDecl::byte_len`]).
    pub len: u64,
}

/// What `data.pkl` describes: tensors in state-dict order and the storages they use, in
/// order of first use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDict {
    /// Tensors, in the order they appear in the (flattened) dict.
    pub tensors: Vec<TensorRecord>,
    /// Storages, in order of first appearance.
    pub storages: Vec<StorageDecl>,
}

/// A parsed `torch.save` checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The archive's top-level folder (`archive` or the file stem at save time).
    pub folder: String,
    /// The `version` entry, when present.
    pub version: Option<u64>,
    /// Tensors, in state-dict order.
    pub tensors: Vec<TensorRecord>,
    /// Storages, in order of first use, bound to archive entries.
    pub storages: Vec<StorageRecord>,
}

/// What the first bytes of a file say about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniff {
    /// A zip archive (`PK\x03\x04`, or an empty archive): maybe a torch checkpoint.
    Zip,
    /// A pre-1.6 torch file (pickle starting with torch's magic number, or tar).
    Legacy,
    /// Neither.
    Other,
}

/// Classifies a file by its first bytes (give at least 512 for tar detection).
pub fn sniff(head: &[u8]) -> Sniff {
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Sniff::Zip
    } else if legacy_kind(head).is_some() {
        Sniff::Legacy
    } else {
        Sniff::Other
    }
}

fn legacy_kind(head: &[u8]) -> Option<&'static str> {
    if head.len() >= 14 && head[0] == 0x80 && head[1] <= 5 && head[2..14] == LEGACY_MAGIC {
        Some("pickle")
    } else if head.get(257..262) == Some(b"ustar".as_slice()) {
        Some("tar")
    } else {
        None
    }
}

/// Parses a whole `torch.save` file (zip, torch >= 1.6) held in memory or memory-mapped.
///
/// Storage data is not read or copied: each [`StorageRecord`] gives its byte range in
/// `bytes`. Only `data.pkl`, `byteorder` and `version` are read (and CRC-checked).
pub fn parse(bytes: &[u8]) -> Result<Checkpoint, Error> {
    if let Some(kind) = legacy_kind(bytes) {
        return Err(Error::Legacy { kind });
    }
    let zip = ZipArchive::parse(bytes)?;
    let folder = find_folder(&zip)?;

    for marker in ["constants.pkl", "code/"] {
        let probe = format!("{folder}/{marker}");
        if let Some(e) = zip.entries().iter().find(|e| e.name.starts_with(&probe)) {
            return Err(Error::TorchScript {
                entry: e.name.clone(),
            });
        }
    }

    if let Some(e) = zip.find(&format!("{folder}/byteorder")) {
        let b = zip.read(e, MAX_SMALL_ENTRY)?;
        let v = String::from_utf8_lossy(&b).trim().to_owned();
        if v != "little" {
            return Err(Error::ByteOrder { value: v });
        }
    }
    let version = match zip
        .find(&format!("{folder}/version"))
        .or_else(|| zip.find(&format!("{folder}/.data/version")))
    {
        None => None,
        Some(e) => {
            let b = zip.read(e, MAX_SMALL_ENTRY)?;
            let v = String::from_utf8_lossy(&b).trim().to_owned();
            Some(v.parse::<u64>().map_err(|_| Error::Version { value: v })?)
        }
    };

    let pkl_name = format!("{folder}/data.pkl");
    let pkl_entry = zip.find(&pkl_name).ok_or_else(|| Error::NoDataPkl {
        reason: format!("no `{pkl_name}`"),
    })?;
    let pkl = zip.read(pkl_entry, MAX_PICKLE_LEN)?;
    let state = parse_state_dict(&pkl)?;

    let mut storages = Vec::with_capacity(state.storages.len());
    for decl in state.storages {
        let entry = format!("{folder}/data/{}", decl.key);
        let e = zip.find(&entry).ok_or_else(|| Error::StorageMissing {
            key: decl.key.clone(),
            entry: entry.clone(),
        })?;
        let data = zip.stored(
            e,
            "compressed storages are not supported (torch.save always stores them)",
        )?;
        let needed = decl.byte_len();
        if (data.len() as u64) < needed {
            return Err(Error::StorageSize {
                key: decl.key.clone(),
                numel: decl.numel,
                dtype: decl.torch_dtype,
                needed,
                len: data.len() as u64,
            });
        }
        storages.push(StorageRecord {
            decl,
            entry,
            offset: e.data_offset,
            len: e.compressed_len,
        });
    }
    Ok(Checkpoint {
        folder,
        version,
        tensors: state.tensors,
        storages,
    })
}

/// The folder holding `data.pkl`: the one top-level folder with a `data.pkl`.
fn find_folder(zip: &ZipArchive<'_>) -> Result<String, Error> {
    let folders: BTreeSet<&str> = zip
        .entries()
        .iter()
        .filter_map(|e| e.name.strip_suffix("/data.pkl"))
        .filter(|f| !f.contains('/'))
        .collect();
    let mut it = folders.iter();
    match (it.next(), it.next()) {
        (Some(f), None) => Ok((*f).to_owned()),
        (None, _) => {
            if let Some(e) = zip
                .entries()
                .iter()
                .find(|e| e.name.ends_with("constants.pkl") || e.name.contains("/code/"))
            {
                return Err(Error::TorchScript {
                    entry: e.name.clone(),
                });
            }
            Err(Error::NoDataPkl {
                reason: format!(
                    "no `<folder>/data.pkl` among {} zip entries",
                    zip.entries().len()
                ),
            })
        }
        (Some(a), Some(b)) => Err(Error::NoDataPkl {
            reason: format!("several folders hold a data.pkl (`{a}`, `{b}`, …)"),
        }),
    }
}

/// Runs a `data.pkl` stream through the restricted pickle reader and flattens the result.
///
/// The root may be a dict (state dict or checkpoint dict, nested dicts flattened with dotted
/// names), a list or tuple (items named by index), or a single tensor (named `tensor`).
/// Non-tensor values are parsed and ignored.
pub fn parse_state_dict(pkl: &[u8]) -> Result<StateDict, Error> {
    let p = pickle::run(pkl)?;
    let storages: Vec<StorageDecl> = p
        .storages
        .iter()
        .map(|s| {
            let d = s.ty.dtype();
            let decl = StorageDecl {
                key: s.key.clone(),
                dtype: d.dtype,
                torch_dtype: d.name,
                elem_bytes: d.elem_bytes,
                numel: s.numel,
                location: s.location.clone(),
            };
            match s.numel.checked_mul(d.elem_bytes) {
                Some(_) => Ok(decl),
                None => Err(Error::StorageSize {
                    key: s.key.clone(),
                    numel: s.numel,
                    dtype: d.name,
                    needed: u64::MAX,
                    len: 0,
                }),
            }
        })
        .collect::<Result<_, _>>()?;

    let mut out = Flatten {
        p: &p,
        storages: &storages,
        tensors: Vec::new(),
        names: BTreeMap::new(),
        seen: BTreeSet::new(),
        name_bytes: 0,
    };
    match p.obj(p.root) {
        Some(Obj::Tensor(_)) => out.visit(p.root, "tensor".to_owned(), 0)?,
        Some(Obj::Dict(_) | Obj::List(_) | Obj::Tuple(_)) => out.visit(p.root, String::new(), 0)?,
        _ => {
            return Err(Error::Root {
                found: p.kind(p.root),
            })
        }
    }
    let tensors = out.tensors;
    Ok(StateDict { tensors, storages })
}

struct Flatten<'p> {
    p: &'p Pickle,
    storages: &'p [StorageDecl],
    tensors: Vec<TensorRecord>,
    names: BTreeMap<String, ()>,
    /// Containers already walked (a container reachable twice is walked once).
    seen: BTreeSet<u32>,
    /// Bytes of names built so far (containers' and tensors'), with the storage keys and
    /// shapes of the listed tensors: bounded by [`MAX_NAME_BYTES`].
    name_bytes: u64,
}

/// The name of `key` under `prefix`.
fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        let mut s = String::with_capacity(prefix.len() + 1 + key.len());
        s.push_str(prefix);
        s.push('.');
        s.push_str(key);
        s
    }
}

impl Flatten<'_> {
    /// Whether visiting `v` can list a tensor: a tensor, or a container not walked yet.
    /// Anything else is skipped before its name is built.
    fn worth_visiting(&self, v: Value) -> bool {
        let Value::Obj(id) = v else { return false };
        match self.p.obj(v) {
            Some(Obj::Tensor(_)) => true,
            Some(Obj::Dict(_) | Obj::List(_) | Obj::Tuple(_)) => !self.seen.contains(&id),
            _ => false,
        }
    }

    /// Charges `n` bytes to the name budget; `Err` naming `prefix` past [`MAX_NAME_BYTES`].
    fn charge(&mut self, n: u64, prefix: &str) -> Result<(), Error> {
        self.name_bytes = self.name_bytes.saturating_add(n);
        if self.name_bytes > MAX_NAME_BYTES {
            return Err(Error::NameBudget {
                prefix: prefix.chars().take(80).collect(),
                cap: MAX_NAME_BYTES,
            });
        }
        Ok(())
    }

    /// Visits `val` under the name `prefix.key`, building the name only when it is needed
    /// and within the budget.
    fn child(&mut self, val: Value, prefix: &str, key: &str, depth: usize) -> Result<(), Error> {
        if !self.worth_visiting(val) {
            return Ok(());
        }
        self.charge((prefix.len() + 1 + key.len()) as u64, prefix)?;
        self.visit(val, join(prefix, key), depth + 1)
    }

    fn visit(&mut self, v: Value, name: String, depth: usize) -> Result<(), Error> {
        let Value::Obj(id) = v else { return Ok(()) };
        let Some(obj) = self.p.obj(v) else {
            return Ok(());
        };
        if let Obj::Tensor(t) = obj {
            return self.tensor(t, name);
        }
        let is_container = matches!(obj, Obj::Dict(_) | Obj::List(_) | Obj::Tuple(_));
        if !is_container || !self.seen.insert(id) {
            return Ok(());
        }
        if depth >= MAX_NESTING {
            return Err(Error::Nesting {
                name: name.chars().take(200).collect(),
                cap: MAX_NESTING,
            });
        }
        match obj {
            Obj::Dict(d) => {
                for (i, &(k, val)) in d.entries.iter().enumerate() {
                    let owned;
                    let key: &str = match (k, self.p.obj(k)) {
                        (_, Some(Obj::Str(s))) => s,
                        (Value::Int(n), _) => {
                            owned = n.to_string();
                            &owned
                        }
                        (Value::Bool(b), _) => {
                            if b {
                                "True"
                            } else {
                                "False"
                            }
                        }
                        (Value::None, _) => "None",
                        _ => {
                            owned = format!("#{i}");
                            &owned
                        }
                    };
                    self.child(val, &name, key, depth)?;
                }
            }
            Obj::List(items) | Obj::Tuple(items) => {
                for (i, &val) in items.iter().enumerate() {
                    self.child(val, &name, &i.to_string(), depth)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn tensor(&mut self, t: &pickle::RawTensor, name: String) -> Result<(), Error> {
        let bad = |detail: String| Error::Tensor {
            name: name.clone(),
            detail,
        };
        let s = &self.storages[t.storage];
        let storage_elems = s.byte_len() / t.dtype.elem_bytes;
        // Highest element index touched, when the tensor is not empty.
        if !t.shape.contains(&0) {
            let mut last = t.offset;
            for (&n, &st) in t.shape.iter().zip(&t.strides) {
                last = (n - 1)
                    .checked_mul(st)
                    .and_then(|x| last.checked_add(x))
                    .ok_or_else(|| {
                        bad(format!(
                            "shape {:?} with strides {:?} overflows",
                            t.shape, t.strides
                        ))
                    })?;
            }
            if last >= storage_elems {
                return Err(bad(format!(
                    "view (offset {}, shape {:?}, strides {:?}) reaches element {last} of storage `{}` \
                     holding {storage_elems} elements of {}",
                    t.offset, t.shape, t.strides, s.key, t.dtype.name
                )));
            }
        } else if t.offset > storage_elems {
            return Err(bad(format!(
                "offset {} lies past storage `{}` ({storage_elems} elements)",
                t.offset, s.key
            )));
        }
        if self.tensors.len() >= MAX_TENSORS {
            return Err(Error::TooManyTensors { cap: MAX_TENSORS });
        }
        // The name is kept twice (the record and the duplicate check), with the storage key
        // and the shape and strides.
        let record_bytes = name.len() as u64 + (s.key.len() + 16 * t.shape.len()) as u64;
        self.charge(record_bytes, &name)?;
        if self.names.insert(name.clone(), ()).is_some() {
            return Err(Error::DuplicateTensor {
                name: name.chars().take(200).collect(),
            });
        }
        self.tensors.push(TensorRecord {
            name,
            dtype: t.dtype.dtype,
            torch_dtype: t.dtype.name,
            elem_bytes: t.dtype.elem_bytes,
            shape: t.shape.clone(),
            strides: t.strides.clone(),
            storage_offset_elems: t.offset,
            storage_key: s.key.clone(),
            storage_index: t.storage,
            storage_elems,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(shape: &[u64], strides: &[u64]) -> TensorRecord {
        TensorRecord {
            name: "t".into(),
            dtype: Dtype::F32,
            torch_dtype: "torch.float32",
            elem_bytes: 4,
            shape: shape.to_vec(),
            strides: strides.to_vec(),
            storage_offset_elems: 0,
            storage_key: "0".into(),
            storage_index: 0,
            storage_elems: 100,
        }
    }

    #[test]
    fn contiguity() {
        assert!(rec(&[2, 3], &[3, 1]).is_contiguous());
        assert!(!rec(&[2, 3], &[1, 2]).is_contiguous());
        assert!(rec(&[1, 3], &[7, 1]).is_contiguous());
        assert!(rec(&[], &[]).is_contiguous());
        assert!(!rec(&[4], &[2]).is_contiguous());
    }

    #[test]
    fn sniffing() {
        let mut legacy = vec![0x80, 0x02];
        legacy.extend_from_slice(&LEGACY_MAGIC);
        assert_eq!(sniff(&legacy), Sniff::Legacy);
        assert!(matches!(
            parse(&legacy),
            Err(Error::Legacy { kind: "pickle" })
        ));
        assert_eq!(sniff(b"PK\x03\x04rest"), Sniff::Zip);
        assert_eq!(sniff(b"GGUF"), Sniff::Other);
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert!(matches!(parse(&tar), Err(Error::Legacy { kind: "tar" })));
    }
}
