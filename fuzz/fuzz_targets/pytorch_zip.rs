//! PyTorch zip checkpoints: the zip reader (entries, deflate with its ratio cap) and the
//! restricted unpickler behind `parse`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = taoke_pytorch::sniff(data);
    let _ = taoke_pytorch::parse(data);
    if let Ok(z) = taoke_pytorch::zip::ZipArchive::parse(data) {
        for e in z.entries() {
            let _ = z.read(e, 1 << 20);
        }
    }
});
