//! Registry packs (`taoke registry export` / `import`): `registry::parse_pack` on the whole
//! input, then every entry's fingerprint through `Fingerprint::from_bytes` (as `import` checks
//! them before adding any); accepted entries lie inside the input.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = taoke_registry::registry::parse_pack(data, "fuzz.pack") {
        assert!(entries.len() <= taoke_registry::registry::MAX_PACK_ENTRIES);
        let total: usize = entries.iter().map(|e| e.1.len()).sum();
        assert!(total <= data.len(), "{total} bytes of entries in {} bytes", data.len());
        for (meta, bytes) in &entries {
            let _ = taoke_registry::Fingerprint::from_bytes(bytes, &meta.name);
        }
    }
});
