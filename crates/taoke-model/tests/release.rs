//! Reads of large tensors release their mapped pages afterwards; the values read again later
//! (faulted back in from the file) must be the same, in both I/O modes.

use std::collections::BTreeMap;

use taoke_dtype::Dtype;
use taoke_model::{open_with, IoMode, OpenOptions};

#[test]
fn values_survive_page_release() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    // 2 Mi bf16 values (4 MiB, above the release threshold) and a small vector.
    let n = 2usize << 20;
    let big: Vec<u8> = (0..n)
        .flat_map(|i| half::bf16::from_f32((i as f32 * 0.37).sin()).to_le_bytes())
        .collect();
    let small: Vec<u8> = (0..64).flat_map(|i| (i as f32).to_le_bytes()).collect();
    let mut f = std::fs::File::create(&path).unwrap();
    taoke_safetensors::write(
        &mut f,
        &[
            ("w", Dtype::BF16, &[2048, 1024], &big),
            ("v", Dtype::F32, &[64], &small),
        ],
        &BTreeMap::new(),
    )
    .unwrap();
    drop(f);
    let expect: Vec<f32> = big
        .chunks_exact(2)
        .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
        .collect();
    for io in [IoMode::Mmap, IoMode::Buffered] {
        let ck = open_with(path.to_str().unwrap(), OpenOptions { io }).unwrap();
        let t = ck.tensor("w").unwrap();
        for _ in 0..2 {
            assert_eq!(ck.read_f32(t).unwrap(), expect);
        }
        // Row blocks after a whole read (pages released in between).
        let mut rows = vec![0f32; 3 * 1024];
        ck.read_rows(t, 100, 3, &mut rows).unwrap();
        assert_eq!(rows, expect[100 * 1024..103 * 1024]);
        let v = ck.tensor("v").unwrap();
        assert_eq!(ck.read_f32(v).unwrap()[63], 63.0);
    }
}
