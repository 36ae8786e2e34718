//! The error type of the crate.

use thiserror::Error;

/// Errors of the numerical routines. Messages are lower-case and name the operand.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum StatsError {
    /// A matrix view was built over a buffer of the wrong length.
    #[error("{what}: buffer holds {len} values but {rows}x{cols} needs {needed}")]
    BufferLength {
        /// Which operand.
        what: &'static str,
        /// Declared rows.
        rows: usize,
        /// Declared columns.
        cols: usize,
        /// rows * cols (saturating).
        needed: usize,
        /// Actual buffer length.
        len: usize,
    },
    /// Two operands have incompatible shapes.
    #[error("{what}: shapes {a_rows}x{a_cols} and {b_rows}x{b_cols} are incompatible")]
    ShapeMismatch {
        /// Which operation.
        what: &'static str,
        /// Rows of the first operand.
        a_rows: usize,
        /// Columns of the first operand.
        a_cols: usize,
        /// Rows of the second operand.
        b_rows: usize,
        /// Columns of the second operand.
        b_cols: usize,
    },
    /// Too few observations for the statistic.
    #[error("{what}: needs at least {needed} {unit}, got {got}")]
    TooSmall {
        /// Which statistic.
        what: &'static str,
        /// Minimum count.
        needed: usize,
        /// Actual count.
        got: usize,
        /// What is counted (rows, samples, ...).
        unit: &'static str,
    },
    /// An input holds NaN or infinity.
    #[error("{what}: input holds a non-finite value at index {index}")]
    NonFinite {
        /// Which operand.
        what: &'static str,
        /// Flat index of the first offending value.
        index: usize,
    },
    /// An argument is out of its valid range.
    #[error("{what}: {message}")]
    InvalidArgument {
        /// Which argument.
        what: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A decomposition (SVD, eigen) did not converge.
    #[error("{what}: decomposition did not converge")]
    NoConvergence {
        /// Which decomposition.
        what: &'static str,
    },
    /// The assignment solver failed.
    #[error("linear assignment ({rows}x{cols}): {message}")]
    Assignment {
        /// Rows of the score matrix.
        rows: usize,
        /// Columns of the score matrix.
        cols: usize,
        /// Solver message.
        message: String,
    },
}
