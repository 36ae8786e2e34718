//! The evidence engine of taoke: is checkpoint B derived from checkpoint A, how, and how sure
//! are we?
//!
//! [`compare`] runs, on two checkpoints in any formats:
//!
//! - **triage**: byte identity, stored names and dtypes, element-wise relations of tensors at
//!   the same canonical role ([`triage`]);
//! - **vocabulary anchoring and residual alignment** ([`align`]): shared tokens by normalized
//!   string, their embedding rows, and the map from B's hidden coordinates to A's (identity,
//!   signed permutation or rotation);
//! - **exact unit-matching tests** ([`units`]): Zhu et al.'s φ_U generalized to every hidden
//!   unit family whose order is exchangeable under independent initialisation (embedding
//!   columns, MLP units per block pair, experts), with p-values exact under that null, combined
//!   by Fisher (diagonal) and Bonferroni (all block pairs);
//! - **function-invariant products** ([`products`]): `W_oW_v`, `W_qᵀW_k`, `W_down·W_up` with
//!   norm gains folded, compared through random sketches, to tell disguised copies (the same
//!   weights) from trained derivatives;
//! - a **verdict** with kinds, direction, per-component verdicts and the decisive evidence in
//!   words (the `verdict`, `kinds` and `words` stages).
//!
//! # Terminology
//! - *related*: sharing a weight ancestor; the null hypothesis is independent initialisation
//!   (so a distilled student counts as independent).
//! - *same weights*: equal up to lossless or untrained transforms.
#![deny(missing_docs)]

pub mod align;
mod anchor;
mod blocks;
pub mod calibration;
pub mod cka;
mod compare;
pub mod context;
mod kinds;
mod layers;
mod measure;
mod options;
pub mod products;
pub mod report;
mod roles;
mod rounding;
pub mod triage;
pub mod units;
mod verdict;
pub mod view;
mod words;

#[cfg(test)]
mod rules;

pub use compare::{compare, compare_traced, compare_with, Trace};
pub use context::{Context, MergeFinding, MergeMethod, SideMerge};
pub use options::{Options, DEFAULT_ALPHA, LARGE, MAX_ALPHA};
pub use report::{
    Comparison, ComponentVerdict, Direction, Evidence, Kind, Product, Scope, Side, TestId, Verdict,
};

/// Errors of a comparison.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading a checkpoint failed.
    #[error(transparent)]
    Model(taoke_model::Error),
    /// A numerical routine failed.
    #[error("statistics: {0}")]
    Stats(String),
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
