//! GGUF: header, metadata and tensor descriptors; every tensor range it accepts must be
//! inside the input.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(g) = taoke_gguf::Gguf::parse(data) {
        for t in &g.tensors {
            let _ = t.n_elements();
            let _ = t.shape_row_major();
            if let Some(r) = g.tensor_range(t) {
                assert!(r.start <= r.end && r.end <= data.len(), "{t:?}");
            }
            let _ = g.tensor_data(data, t);
        }
        let _ = g.architecture();
        let _ = g.get_str_array("tokenizer.ggml.tokens");
    }
});
