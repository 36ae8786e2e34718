use taoke_dtype::{decode_f32, Dtype};
use taoke_pytorch::{Checkpoint, TensorRecord};

pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The tensor's values in row-major order, following its strides through the file bytes.
pub fn values(file: &[u8], ckpt: &Checkpoint, t: &TensorRecord) -> Vec<f32> {
    let s = &ckpt.storages[t.storage_index];
    let n = t.numel() as usize;
    let mut out = Vec::with_capacity(n);
    let mut idx = vec![0u64; t.shape.len()];
    for _ in 0..n {
        let elem =
            t.storage_offset_elems + idx.iter().zip(&t.strides).map(|(i, s)| i * s).sum::<u64>();
        let at = (s.offset + elem * t.elem_bytes) as usize;
        let mut v = [0f32];
        decode_f32(t.dtype, &file[at..at + t.elem_bytes as usize], &mut v).expect("decodable");
        out.push(v[0]);
        for d in (0..idx.len()).rev() {
            idx[d] += 1;
            if idx[d] < t.shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
}

pub fn find<'a>(ckpt: &'a Checkpoint, name: &str) -> &'a TensorRecord {
    ckpt.tensors
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no tensor {name}"))
}

#[allow(dead_code)]
pub fn dtype_of(ckpt: &Checkpoint, name: &str) -> Dtype {
    find(ckpt, name).dtype
}
