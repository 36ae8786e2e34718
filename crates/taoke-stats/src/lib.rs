//! Numerical core of taoke's evidence engine.
//!
//! Pure numerical building blocks over dense matrices; no I/O, no knowledge of checkpoints.
//! The caller (the compare engine) decodes tensors to `f32`, picks the roles to compare and
//! wires these functions together.
//!
//! | module | what it does | null hypothesis / output |
//! |---|---|---|
//! | [`matching`] | Zhu et al.'s φ_U: LAP matching of hidden-unit rows on cosine similarity, Spearman of the matching, `ln p` | H0: the two weight sets are independent and one of them has an exchangeable (permutation-invariant) law over hidden units |
//! | [`combine`] | Fisher, Stouffer, Holm–Bonferroni, all on natural-log p-values | independent p-values under H0 |
//! | [`cka`] | unbiased linear CKA; vocabulary-anchored hidden-dimension alignment (assignment with signs, orthogonal Procrustes) | a similarity, not a p-value: calibrate with [`calibration`] |
//! | [`spectral`] | singular values of products (`W_q W_kᵀ`, `W_v W_o`) via thin QR, randomized top-k SVD, spectrum distances | a distance |
//! | [`depth`] | block-to-block depth alignment: monotone DP with gaps and repeats, LAP, argmax | a mapping and score |
//! | [`delta`] | `‖A−B‖/‖B‖`, effective rank, energy fractions, skewness/kurtosis, Jarque–Bera and D'Agostino K², isotropy against the Marchenko–Pastur edge | H0 of the normality tests: the delta is i.i.d. Gaussian |
//! | [`calibration`] | empirical null with the `(r+1)/(n+1)` rule, labelled parametric tail extrapolation, KS test against U(0,1) | |
//! | [`correlation`] | centred Pearson, Spearman with average ranks, their t-test `ln p` | H0: no correlation |
//! | [`special`] | log-space special functions: Student t, χ², normal tails, regularized incomplete beta and gamma | |
//!
//! # Conventions
//!
//! - Matrices are [`Matrix`] (owned, row-major `f32`) and [`MatrixRef`] (a borrowed view). The
//!   weights stay `f32` in memory; every reduction, Gram product and decomposition runs in `f64`
//!   through `faer`.
//! - Every p-value is returned as its natural logarithm `ln p`, computed in log space so that
//!   the astronomically small p-values of related models (Zhu et al. report the float64
//!   underflow 2.2e-308) stay finite and comparable. `ln p = 0` means p = 1.
//! - Randomness (subset sampling, sketches, random test matrices) comes from the seeded,
//!   platform-independent [`rng::SplitMix64`]; the same seed gives the same result everywhere
//!   (up to floating-point reduction order inside `faer`).

#![deny(missing_docs)]

pub mod calibration;
pub mod cka;
pub mod combine;
pub mod correlation;
pub mod delta;
pub mod depth;
mod error;
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
