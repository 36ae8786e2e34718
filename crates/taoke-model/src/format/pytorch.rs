//! PyTorch adapter (`torch.save` zip archives, torch >= 1.6; sharded
//! `pytorch_model.bin.index.json` checkpoints come through `open.rs` like safetensors shards).
//!
//! The archive is parsed by `taoke-pytorch` without executing any pickle code. Contiguous
//! views become [`Layout::Dense`] runs of the storage entry; views with other strides (a
//! transposed weight, a slice of a larger storage) become [`Layout::Strided`]. Tied weights
//! (several tensors over one storage) are listed once per name, each pointing at the shared
//! bytes. Pre-1.6 (non-zip) files fail with taoke-pytorch's "legacy PyTorch format not
//! supported" error.

use taoke_pytorch::TensorRecord;

use super::{Loader, Parsed};
use crate::{Error, FileId, Layout, MetaValue, Result, TensorInfo};

/// The layout of one tensor record whose storage starts at byte `storage_offset` of `file`.
fn layout(file: FileId, storage_offset: u64, t: &TensorRecord) -> Layout {
    if t.is_contiguous() {
        // The view fits its storage (checked by taoke-pytorch), so none of this overflows.
        Layout::Dense {
            file,
            offset: storage_offset + t.storage_offset_elems * t.elem_bytes,
            len: t.numel() * t.elem_bytes,
            dtype: t.dtype,
        }
    } else {
        Layout::Strided {
            file,
            storage_offset,
            storage_elems: t.storage_elems,
            dtype: t.dtype,
            elem_offset: t.storage_offset_elems,
            strides: t.strides.clone(),
        }
    }
}

pub(crate) fn load(loader: &mut Loader, id: FileId) -> Result<Parsed> {
    let f = &loader.files[id];
    let ckpt = taoke_pytorch::parse(f.bytes()).map_err(|e| Error::format(&f.path, e))?;
    let tensors = ckpt
        .tensors
        .iter()
        .map(|t| {
            let storage = &ckpt.storages[t.storage_index];
            TensorInfo {
                name: t.name.clone(),
                shape: t.shape.clone(),
                dtype: t.dtype,
                dtype_name: t.torch_dtype.to_owned(),
                layout: layout(id, storage.offset, t),
                stored_bytes: t.numel() * t.elem_bytes,
                folded: Vec::new(),
                graph: None,
            }
        })
        .collect();
    let mut metadata = vec![(
        "pytorch.archive".to_owned(),
        MetaValue::Str(ckpt.folder.clone()),
    )];
    if let Some(v) = ckpt.version {
        metadata.push((
            "pytorch.version".to_owned(),
            i64::try_from(v).map_or(MetaValue::UInt(v), MetaValue::Int),
        ));
    }
    Ok(Parsed { tensors, metadata })
}

#[cfg(test)]
mod tests {
    use super::*;
    use taoke_dtype::Dtype;

    fn record(shape: &[u64], strides: &[u64], offset: u64) -> TensorRecord {
        TensorRecord {
            name: "w".into(),
            dtype: Dtype::BF16,
            torch_dtype: "torch.bfloat16",
            elem_bytes: 2,
            shape: shape.to_vec(),
            strides: strides.to_vec(),
            storage_offset_elems: offset,
            storage_key: "0".into(),
            storage_index: 0,
            storage_elems: 100,
        }
    }

    #[test]
    fn contiguous_views_are_dense_runs() {
        let l = layout(3, 640, &record(&[2, 5], &[5, 1], 7));
        assert_eq!(
            l,
            Layout::Dense {
                file: 3,
                offset: 640 + 14,
                len: 20,
                dtype: Dtype::BF16
            }
        );
    }

    #[test]
    fn other_views_are_strided() {
        let l = layout(0, 64, &record(&[5, 2], &[1, 5], 3));
        assert_eq!(
            l,
            Layout::Strided {
                file: 0,
                storage_offset: 64,
                storage_elems: 100,
                dtype: Dtype::BF16,
                elem_offset: 3,
                strides: vec![1, 5],
            }
        );
    }
}
