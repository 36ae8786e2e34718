//! The restricted unpickler alone (a `data.pkl` stream), as `parse_state_dict` runs it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = taoke_pytorch::parse_state_dict(data);
});
