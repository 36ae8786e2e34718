//! safetensors: `Header::parse` on the whole input, and `parse_with_len` claiming a longer
//! file (the path used when only a prefix is read).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = taoke_safetensors::Header::parse(data) {
        for t in &h.tensors {
            // Offsets were validated: the range must lie inside the input.
            let start = h.data_start + t.data_offsets.0;
            let end = h.data_start + t.data_offsets.1;
            assert!(start <= end && end <= data.len() as u64, "{t:?}");
        }
    }
    let _ = taoke_safetensors::Header::parse_with_len(data, (data.len() as u64).saturating_mul(3));
    let _ = taoke_safetensors::Header::parse_with_len(data, u64::MAX);
});
