//! taoke fingerprint files (`taoke fingerprint`, registry entries): `Fingerprint::from_bytes`
//! on the whole input; an accepted fingerprint is written back and read again (same value), and
//! its prescreen signature and the exact tests against itself run without a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use taoke_registry::Fingerprint;

fuzz_target!(|data: &[u8]| {
    let _ = Fingerprint::sniff(data);
    if let Ok(fp) = Fingerprint::from_bytes(data, "fuzz.fp") {
        assert!(fp.blocks.len() <= taoke_registry::fingerprint::MAX_BLOCKS);
        assert!(fp.anchors.len() <= taoke_registry::fingerprint::MAX_ANCHORS);
        let _ = taoke_registry::Screen::of(&fp);
        let _ = taoke_registry::compare::compare(&fp, &fp);
        if let Ok(bytes) = fp.to_bytes() {
            let again = Fingerprint::from_bytes(&bytes, "again.fp");
            assert!(again.is_ok(), "a written fingerprint is refused: {again:?}");
        }
    }
});
