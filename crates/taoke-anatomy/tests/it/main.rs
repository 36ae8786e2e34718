//! Integration tests of taoke-anatomy on real checkpoints (opened with `taoke-model`) and on
//! synthetic tensor lists.

mod common;
mod content;
mod models;
mod onnx_graph;
mod renames;
mod single;
mod stories;
