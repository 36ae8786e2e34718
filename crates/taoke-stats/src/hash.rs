//! Non-cryptographic hashing for stable identifiers: token anchors, vocabulary signatures and
//! named random sub-streams. Platform-independent; the value for given bytes is fixed forever
//! (registry fingerprints and the zoo's seeds are derived from it).

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// 64-bit FNV-1a (Fowler–Noll–Vo, variant 1a): offset basis `0xcbf29ce484222325`, prime
/// `0x100000001b3`, one xor-then-multiply per byte.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(FNV_PRIME)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_test_vectors() {
        // Reference values of 64-bit FNV-1a (Fowler, Noll & Vo's test suite).
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
