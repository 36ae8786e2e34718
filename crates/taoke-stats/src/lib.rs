//! Numerical core of taoke's evidence engine.
//!
//! Pure numerical building blocks over dense matrices; no I/O, no knowledge of checkpoints.
//! The caller (the compare engine) decodes tensors to `f32`, picks the roles to compare and
//! wires these functions together.
//!
//! | module | what it does | null hypothesis / output |
//! |---|---|---|
//! | [`matching`] | Zhu et al.'s φ_U: LAP matching of hidden-unit rows on cosine similarity, Spearman of the matching, `ln p` | H0: the two weight sets are independent and one of them has an exchangeable (permutation-invariant) law over hidden units |
//! | [`lap`] | linear assignment (shortest augmenting paths, rectangular without padding; ties break by the cost matrix alone) | an optimal assignment |
//! | [`combine`] | Fisher's combination of natural-log p-values | independent p-values under H0 |
//! | [`cka`] | unbiased linear CKA, prepared once per matrix for block × block comparisons | a similarity, not a p-value: calibrate it on independent pairs |
//! | [`align`] | `f32` products and orthogonal Procrustes between two models' hidden coordinates | an orthogonal map |
//! | [`spectral`] | singular values, randomized top-k singular values of a product (`W_qᵀ W_k`, `W_o W_v`) without forming it, spectrum distances | a distance |
//! | [`depth`] | monotone block-to-block depth map (dynamic programme with repeats and gaps) | a mapping |
//! | [`calibration`] | Kolmogorov–Smirnov test against U(0,1) (are null p-values uniform?) | H0: i.i.d. U(0,1) |
//! | [`correlation`] | centred Pearson | a coefficient |
//! | [`special`] | log-space special functions: Student t, χ² (even dof) and normal tails, regularized incomplete beta | |
//! | [`rng`] | the seeded SplitMix64 generator and its finalizer | |
//! | [`hash`] | 64-bit FNV-1a | |
//!
//! # Conventions
//!
//! - Matrices are [`Matrix`] (owned, row-major `f32`) and [`MatrixRef`] (a borrowed view). The
//!   weights stay `f32` in memory; reductions and decompositions run in `f64` through `faer`;
//!   the large products (cosine matrices, CKA cross products, Procrustes' `Bᵀ A`) are `f32`
//!   GEMMs, as each function documents.
//! - Every p-value is returned as its natural logarithm `ln p`, computed in log space so that
//!   the astronomically small p-values of related models (Zhu et al. report the float64
//!   underflow 2.2e-308) stay finite and comparable. `ln p = 0` means p = 1.
//! - Randomness (subset sampling, sketches, random test matrices) comes from the seeded,
//!   platform-independent [`rng::SplitMix64`]; the same seed gives the same result everywhere
//!   (up to floating-point reduction order inside `faer`).

#![deny(missing_docs)]

pub mod align;
pub mod calibration;
pub mod cka;
pub mod combine;
pub mod correlation;
pub mod depth;
mod error;
pub mod hash;
pub mod lap;
pub mod matching;
mod matrix;
pub mod rng;
pub mod special;
pub mod spectral;
mod summary;

pub use error::StatsError;
pub use matrix::{Matrix, MatrixRef};
pub use summary::median;

/// Result alias of this crate.
pub type Result<T, E = StatsError> = std::result::Result<T, E>;

/// Which alternative a test is one-sided against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alternative {
    /// One-sided: the statistic is larger (e.g. positive correlation) under the alternative.
    Greater,
    /// Two-sided: any departure from the null, in either direction.
    TwoSided,
}
