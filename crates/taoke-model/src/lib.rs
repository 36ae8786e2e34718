//! The format-agnostic view of a checkpoint.
#![deny(missing_docs)]

mod layout;
pub use layout::{FileId, Layout, PackedEncoding};
