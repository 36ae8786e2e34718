//! Integration tests of taoke-pytorch, by topic.

/// Pickle bytes written by hand exactly as torch emits them.
mod handwritten;
/// Hostile inputs: forbidden globals, unknown opcodes, zip bombs, truncation, corruption.
mod hostile;
/// Builder-written checkpoints read back: dtypes, views, shared storages, nesting.
mod roundtrip;
/// Shared helpers.
mod util;
