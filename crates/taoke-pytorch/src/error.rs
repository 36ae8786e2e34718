//! The one error type of this crate.
//!
//! Zip errors name the entry (or the structure) and its byte offset, pickle errors the
//! opcode and its byte offset inside `data.pkl`, checkpoint errors the tensor or storage key.

/// Everything that can go wrong while reading a PyTorch checkpoint.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- container detection -------------------------------------------------------------
    /// A pre-1.6 checkpoint (a bare pickle stream starting with torch's magic number, or the
    /// even older tar container).
    #[error(
        "legacy PyTorch format not supported (a pre-1.6 {kind} file); re-save it with \
         torch >= 1.6, e.g. torch.save(torch.load(f), g)"
    )]
    Legacy {
        /// `"pickle"` or `"tar"`.
        kind: &'static str,
    },
    /// A zip archive that is a TorchScript module, not a `torch.save` checkpoint.
    #[error("`{entry}` found: this is a TorchScript archive (torch.jit.save), not a torch.save checkpoint")]
    TorchScript {
        /// The entry that gave it away.
        entry: String,
    },
    /// Not a zip archive at all.
    #[error("not a PyTorch checkpoint: no zip end-of-central-directory record found")]
    NotZip,
    /// The archive has no `<folder>/data.pkl`, or more than one.
    #[error("not a PyTorch checkpoint: {reason}")]
    NoDataPkl {
        /// What was found instead.
        reason: String,
    },

    // ---- zip -----------------------------------------------------------------------------
    /// A zip structure extends past the end of the file.
    #[error("zip: {what} at byte {offset} is truncated (needs {needed} bytes, file has {len})")]
    ZipTruncated {
        /// The structure being read.
        what: &'static str,
        /// Where it starts.
        offset: u64,
        /// Bytes it needs from `offset`.
        needed: u64,
        /// Length of the file.
        len: u64,
    },
    /// A zip structure does not start with its signature.
    #[error("zip: bad signature for {what} at byte {offset}")]
    ZipSignature {
        /// The structure being read.
        what: &'static str,
        /// Where it was expected.
        offset: u64,
    },
    /// A malformed field in a zip structure.
    #[error("zip: invalid {what}: {detail}")]
    ZipInvalid {
        /// The structure or field.
        what: &'static str,
        /// What is wrong, with the numbers.
        detail: String,
    },
    /// Too many entries or too long a name.
    #[error("zip: {what} is {value}, above the cap of {cap}")]
    ZipCap {
        /// The capped quantity.
        what: &'static str,
        /// Its value in the file.
        value: u64,
        /// The cap.
        cap: u64,
    },
    /// An entry's data lies outside the file or overlaps another entry or the directory.
    #[error("zip: entry `{name}` spans bytes {start}..{end}, {problem}")]
    ZipEntryRange {
        /// Entry name.
        name: String,
        /// First byte of the local header.
        start: u64,
        /// One past the last data byte.
        end: u64,
        /// `"beyond the central directory"`, `"overlapping `other`"`, …
        problem: String,
    },
    /// Two entries with the same name.
    #[error("zip: duplicate entry `{name}`")]
    ZipDuplicate {
        /// Entry name.
        name: String,
    },
    /// An entry whose compression method is not supported for its purpose.
    #[error("zip: entry `{name}` uses compression method {method}; {reason}")]
    ZipMethod {
        /// Entry name.
        name: String,
        /// The zip method number (0 stored, 8 deflate, …).
        method: u16,
        /// Why it is refused.
        reason: &'static str,
    },
    /// Encrypted entries are refused.
    #[error("zip: entry `{name}` is encrypted")]
    ZipEncrypted {
        /// Entry name.
        name: String,
    },
    /// A deflated entry is corrupt, or inflates to a size other than declared.
    #[error("zip: entry `{name}` does not inflate: {detail}")]
    ZipInflate {
        /// Entry name.
        name: String,
        /// What went wrong.
        detail: String,
    },
    /// A compressed entry would inflate past a cap (zip-bomb guard).
    #[error("zip: entry `{name}` would inflate to {len} bytes, above the cap of {cap} bytes")]
    ZipBomb {
        /// Entry name.
        name: String,
        /// Declared (or reached) uncompressed length.
        len: u64,
        /// The cap that applied.
        cap: u64,
    },
    /// CRC-32 mismatch on an entry that was checked.
    #[error("zip: entry `{name}` has CRC-32 {actual:#010x}, the directory says {expected:#010x}")]
    ZipCrc {
        /// Entry name.
        name: String,
        /// CRC-32 from the central directory.
        expected: u32,
        /// CRC-32 of the bytes.
        actual: u32,
    },

    // ---- archive metadata ----------------------------------------------------------------
    /// `byteorder` says something other than `little`.
    #[error("`byteorder` entry says `{value}`: only little-endian checkpoints are supported")]
    ByteOrder {
        /// The entry's (trimmed) content, at most 32 bytes of it.
        value: String,
    },
    /// `version` is not a decimal integer.
    #[error("`version` entry is not a decimal number: `{value}`")]
    Version {
        /// The entry's (trimmed) content, at most 32 bytes of it.
        value: String,
    },

    // ---- pickle --------------------------------------------------------------------------
    /// An opcode this reader does not implement (or refuses: INST, OBJ, EXT*, buffers).
    #[error("data.pkl: unsupported pickle opcode {name} (0x{opcode:02x}) at byte {offset}")]
    PickleOpcode {
        /// The opcode byte.
        opcode: u8,
        /// Its pickletools name, or `"unknown"`.
        name: &'static str,
        /// Byte offset in `data.pkl`.
        offset: u64,
    },
    /// A global that is not on the allow-list.
    #[error("data.pkl: global `{module}.{name}` at byte {offset} is not on the allow-list (refused, nothing is ever executed)")]
    PickleGlobal {
        /// Module part.
        module: String,
        /// Attribute part.
        name: String,
        /// Byte offset of the GLOBAL / STACK_GLOBAL opcode.
        offset: u64,
    },
    /// The stream ends inside an opcode or before STOP.
    #[error("data.pkl: truncated {what} at byte {offset}")]
    PickleEof {
        /// The opcode or argument being read.
        what: &'static str,
        /// Byte offset where it started.
        offset: u64,
    },
    /// A structural error: stack underflow, missing MARK, wrong operand type, bad memo key…
    #[error("data.pkl: {opcode} at byte {offset}: {detail}")]
    PickleInvalid {
        /// The opcode being executed.
        opcode: &'static str,
        /// Byte offset of the opcode.
        offset: u64,
        /// What is wrong.
        detail: String,
    },
    /// A documented cap was exceeded.
    #[error("data.pkl: {what} exceeds the cap of {cap} at byte {offset}")]
    PickleCap {
        /// The capped quantity (stack depth, memo size, objects, string length…).
        what: &'static str,
        /// The cap.
        cap: u64,
        /// Byte offset of the opcode that hit it.
        offset: u64,
    },

    // ---- checkpoint ----------------------------------------------------------------------
    /// The pickled root object holds no dictionary or tensor.
    #[error("data.pkl: the root object is a {found}, expected a dict or a tensor")]
    Root {
        /// Kind of the root object.
        found: &'static str,
    },
    /// Dictionaries nested deeper than [`crate::MAX_NESTING`].
    #[error("data.pkl: containers nested deeper than {cap} levels under `{name}`")]
    Nesting {
        /// The dotted name reached.
        name: String,
        /// The cap.
        cap: usize,
    },
    /// Flattening built more name bytes than [`crate::MAX_NAME_BYTES`].
    #[error(
        "data.pkl: tensor names take more than {cap} bytes (one tensor or container listed \
         many times under long keys?) near `{prefix}`"
    )]
    NameBudget {
        /// The start of the name being built.
        prefix: String,
        /// The cap.
        cap: u64,
    },
    /// More tensors than [`crate::MAX_TENSORS`].
    #[error("data.pkl: lists more than {cap} tensors")]
    TooManyTensors {
        /// The cap.
        cap: usize,
    },
    /// Two tensors flatten to the same dotted name.
    #[error("tensor name `{name}` occurs twice after flattening nested dicts")]
    DuplicateTensor {
        /// The name.
        name: String,
    },
    /// The same storage key is declared with two different types or sizes.
    #[error("storage `{key}` is declared as {first} and as {second}")]
    StorageConflict {
        /// Storage key.
        key: String,
        /// First declaration.
        first: String,
        /// Conflicting declaration.
        second: String,
    },
    /// A storage's `data/<key>` entry is missing.
    #[error("storage `{key}`: archive entry `{entry}` is missing")]
    StorageMissing {
        /// Storage key.
        key: String,
        /// The entry name looked for.
        entry: String,
    },
    /// A storage entry is shorter than its declared element count needs.
    #[error("storage `{key}`: {numel} elements of {dtype} need {needed} bytes, entry holds {len}")]
    StorageSize {
        /// Storage key.
        key: String,
        /// Declared element count.
        numel: u64,
        /// Torch dtype name.
        dtype: &'static str,
        /// Bytes needed (`u64::MAX` when the count overflows).
        needed: u64,
        /// Entry length.
        len: u64,
    },
    /// A tensor's view does not fit its storage, or its shape is malformed.
    #[error("tensor `{name}`: {detail}")]
    Tensor {
        /// Tensor name.
        name: String,
        /// What is wrong, with the numbers.
        detail: String,
    },
}
