//! Dropping a tensor's mapped pages from the process's resident set after a pass of small
//! reads (for example sampled rows), so that scanning a model larger than memory keeps a
//! bounded RSS. The page cache keeps the bytes; nothing observable changes.

use crate::{Checkpoint, Layout, TensorInfo};

impl Checkpoint {
    /// Releases the mapped pages holding `t`'s bytes (dense and packed layouts; a no-op for
    /// positioned reads and other layouts).
    pub fn release_tensor(&self, t: &TensorInfo) {
        match &t.layout {
            Layout::Dense {
                file, offset, len, ..
            }
            | Layout::Packed {
                file, offset, len, ..
            } => {
                if let Some(f) = self.files.get(*file) {
                    f.release(*offset, *len);
                }
            }
            _ => {}
        }
    }
}
