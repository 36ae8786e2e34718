//! The whole opening path of `taoke-model` on one file: format sniffing (llama2.c has no
//! magic and is recognized by its header and size), each format adapter, and decoding of
//! the small tensors through the layouts the adapter produced.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = taoke_fuzz::scratch();
    let path = dir.join("model.bin");
    std::fs::write(&path, data).expect("write scratch file");
    for io in [taoke_model::IoMode::Mmap, taoke_model::IoMode::Buffered] {
        let opts = taoke_model::OpenOptions { io };
        if let Ok(ck) = taoke_model::open_with(path.to_str().expect("utf-8 path"), opts) {
            taoke_fuzz::read_small_tensors(&ck);
        }
    }
});
