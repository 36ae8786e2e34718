//! safetensors / PyTorch shard index (`*.index.json`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(idx) = taoke_safetensors::ShardIndex::parse(data) {
        for f in idx.files() {
            assert!(!f.is_empty() && !f.contains('/') && f != "..", "{f:?}");
        }
    }
});
