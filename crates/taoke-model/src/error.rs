//! Errors of opening and reading checkpoints. Every error names the file, and the tensor when
//! one is involved.

use std::path::PathBuf;

/// Returned by [`crate::open`] and the reading methods of [`crate::Checkpoint`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error on a file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not in a format taoke reads, or its format is damaged.
    #[error("{}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, in the parser's words (names the tensor or field).
        message: String,
    },
    /// A tensor could not be decoded.
    #[error("{}: tensor `{tensor}`: {message}", path.display())]
    Tensor {
        /// The file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// What is wrong.
        message: String,
    },
    /// A model reference (path, repo id, Ollama name) could not be resolved.
    #[error("cannot find model `{reference}`: {message}")]
    NotFound {
        /// What the user gave.
        reference: String,
        /// Where we looked.
        message: String,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn format(path: impl Into<PathBuf>, message: impl ToString) -> Error {
        Error::Format {
            path: path.into(),
            message: message.to_string(),
        }
    }

    pub(crate) fn tensor(path: impl Into<PathBuf>, tensor: &str, message: impl ToString) -> Error {
        Error::Tensor {
            path: path.into(),
            tensor: tensor.to_owned(),
            message: message.to_string(),
        }
    }
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
