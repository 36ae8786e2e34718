//! The error type of every reader in this crate.
//!
//! Each variant names the file it came from (`file`): the readers are sans-IO and name the
//! conventional file of their format (`tokenizer.json`, `tokenizer.model`, …); [`crate::load_dir`]
//! replaces that with the real path via [`Error::with_file`]. Variants that concern one field
//! name it too.

use std::path::PathBuf;

/// An error while reading a tokenizer file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading a file from disk failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The input is larger than the reader accepts.
    #[error("{file}: {size} bytes exceeds the cap of {cap} bytes")]
    TooLarge {
        /// The file.
        file: String,
        /// Its size.
        size: usize,
        /// The cap.
        cap: usize,
    },
    /// The JSON text does not parse (or does not have the expected shape).
    #[error("{file}: invalid JSON: {source}")]
    Json {
        /// The file.
        file: String,
        /// The serde_json error (with line and column).
        #[source]
        source: serde_json::Error,
    },
    /// A field is missing or has an unusable value.
    #[error("{file}: field `{field}`: {reason}")]
    Field {
        /// The file.
        file: String,
        /// The field, as a path such as `model.vocab` or `pieces[12].piece`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// More entries than the cap allows (vocabulary, merges, ids).
    #[error("{file}: field `{field}`: {count} entries exceed the cap of {cap}")]
    TooMany {
        /// The file.
        file: String,
        /// The field.
        field: String,
        /// The number found (or the id that implies it).
        count: usize,
        /// The cap.
        cap: usize,
    },
    /// A token longer than [`crate::MAX_TOKEN_LEN`] bytes.
    #[error("{file}: field `{field}`: token {index} is {len} bytes long, over the cap of {cap}")]
    TokenTooLong {
        /// The file.
        file: String,
        /// The field.
        field: String,
        /// The token's index in that field.
        index: usize,
        /// Its length in bytes.
        len: usize,
        /// The cap.
        cap: usize,
    },
    /// A protobuf structure error in a sentencepiece model.
    #[error("{file}: protobuf field `{field}` at byte {offset}: {reason}")]
    Protobuf {
        /// The file.
        file: String,
        /// The field being read.
        field: String,
        /// Byte offset in the file where the problem was found.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// A line of a text vocabulary file is unusable.
    #[error("{file}: line {line}: {reason}")]
    Line {
        /// The file.
        file: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

impl Error {
    /// The same error, naming `file` instead of the file name the reader assumed.
    pub fn with_file(self, file: impl Into<String>) -> Error {
        let new = file.into();
        match self {
            Error::Io { path, source } => Error::Io { path, source },
            Error::TooLarge { size, cap, .. } => Error::TooLarge {
                file: new,
                size,
                cap,
            },
            Error::Json { source, .. } => Error::Json { file: new, source },
            Error::Field { field, reason, .. } => Error::Field {
                file: new,
                field,
                reason,
            },
            Error::TooMany {
                field, count, cap, ..
            } => Error::TooMany {
                file: new,
                field,
                count,
                cap,
            },
            Error::TokenTooLong {
                field,
                index,
                len,
                cap,
                ..
            } => Error::TokenTooLong {
                file: new,
                field,
                index,
                len,
                cap,
            },
            Error::Protobuf {
                field,
                offset,
                reason,
                ..
            } => Error::Protobuf {
                file: new,
                field,
                offset,
                reason,
            },
            Error::Line { line, reason, .. } => Error::Line {
                file: new,
                line,
                reason,
            },
        }
    }

    /// The file the error names (a path for I/O errors).
    pub fn file(&self) -> String {
        match self {
            Error::Io { path, .. } => path.display().to_string(),
            Error::TooLarge { file, .. }
            | Error::Json { file, .. }
            | Error::Field { file, .. }
            | Error::TooMany { file, .. }
            | Error::TokenTooLong { file, .. }
            | Error::Protobuf { file, .. }
            | Error::Line { file, .. } => file.clone(),
        }
    }

    pub(crate) fn field(file: &str, field: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Field {
            file: file.to_string(),
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
