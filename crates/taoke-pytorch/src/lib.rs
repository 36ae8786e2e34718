//! Sans-IO reader for PyTorch checkpoints (`torch.save`, torch >= 1.6: `pytorch_model.bin`,
//! `*.pt`, `*.pth`, `*.ckpt`).
//!
//! # Overview
//!
//! A modern torch checkpoint is a zip archive with one top-level folder holding `data.pkl`
//! (a pickle of the saved object, usually a state dict), one STORED entry `data/<key>` per
//! storage, and small `version` / `byteorder` entries. This crate parses it from a byte slice
//! (typically a memory map) without copying storage data:
//!
//! - [`zip`]: a strict zip central-directory reader (ZIP64 aware, every offset checked,
//!   overlapping entries refused, DEFLATE only under a zip-bomb cap);
//! - [`pickle`]: a restricted pickle machine that builds an inert object graph, resolves
//!   GLOBALs against an allow-list and **never imports or executes anything**;
//! - [`parse`] / [`parse_state_dict`]: the torch meaning of both, a flat list of
//!   [`TensorRecord`]s (dotted names, dtype, shape, strides, storage offset) and the
//!   storages' byte ranges in the file;
//! - [`builder`]: writers producing the same files torch writes, for tests and synthetic
//!   model zoos.
//!
//! # Should I use this crate?
//!
//! Use it to list and locate the tensors of a `torch.save` file. To read values, hand the
//! records to `taoke-model`, which turns them into layouts and decodes them. Pickles that
//! need code to load (whole `nn.Module` objects, custom classes, TorchScript archives) are
//! refused with an error naming the offending global, and pre-1.6 (non-zip) files are
//! detected and refused ([`Error::Legacy`]).
//!
//! # Example
//!
//! ```
//! use taoke_pytorch::builder::{CheckpointBuilder, PyValue};
//! use taoke_dtype::Dtype;
//!
//! let mut b = CheckpointBuilder::new();
//! let bytes: Vec<u8> = [1.0f32, 2.0, 3.0].iter().flat_map(|v| v.to_le_bytes()).collect();
//! let w = b.tensor(Dtype::F32, &[3], bytes);
//! let file = b.build(&PyValue::OrderedDict(vec![("weight".into(), w)]));
//!
//! let ckpt = taoke_pytorch::parse(&file).unwrap();
//! assert_eq!(ckpt.tensors[0].name, "weight");
//! assert_eq!(ckpt.tensors[0].shape, [3]);
//! let s = &ckpt.storages[ckpt.tensors[0].storage_index];
//! assert_eq!(&file[s.offset as usize..][..4], &1.0f32.to_le_bytes());
//! ```
//!
//! # Terminology
//!
//! - *storage*: a flat buffer of elements (`data/<key>` in the archive); several tensors may
//!   view one storage (tied weights, slices).
//! - *tensor record*: a view into a storage: element offset, shape and strides in elements.
//! - *persistent id*: how a pickle refers to a storage without containing it:
//!   `('storage', torch.FloatStorage, key, location, numel)`.
//!
//! # Caps
//!
//! `data.pkl` at most [`MAX_PICKLE_LEN`] bytes; zip: [`zip::MAX_ENTRIES`],
//! [`zip::MAX_NAME_LEN`], [`zip::MAX_DEFLATE_RATIO`]; pickle: [`pickle::MAX_STACK`],
//! [`pickle::MAX_MARKS`], [`pickle::MAX_MEMO`], [`pickle::MAX_OBJECTS`],
//! [`pickle::MAX_STRING_LEN`], [`pickle::MAX_LONG_LEN`], [`pickle::MAX_RANK`]; names:
//! [`MAX_NESTING`], [`MAX_TENSORS`], [`MAX_NAME_BYTES`].

#![deny(missing_docs)]

pub mod builder;
mod checkpoint;
mod error;
pub mod pickle;
pub mod zip;

pub use checkpoint::{
    parse, parse_state_dict, sniff, Checkpoint, Sniff, StateDict, StorageDecl, StorageRecord,
    TensorRecord, MAX_NAME_BYTES, MAX_NESTING, MAX_PICKLE_LEN, MAX_TENSORS,
};
pub use error::Error;
