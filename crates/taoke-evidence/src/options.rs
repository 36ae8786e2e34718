//! Options of a comparison and the size threshold of the streaming path: the one place every
//! stage reads its significance levels and budgets from.

/// The default significance level for `related` (family-wise, on the combined p-value).
pub const DEFAULT_ALPHA: f64 = 1e-6;

/// α must stay below this (the default `independent_above`): at or above it, one p-value could
/// be both "related" and "independent", and the verdict words ("a match this strong would
/// happen with probability p") would accuse unrelated models at that rate.
pub const MAX_ALPHA: f64 = 1e-2;

/// Options of [`crate::compare`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Significance level for `related` (family-wise, on the combined p-value).
    pub alpha: f64,
    /// Combined p-values at or above this call `independent` (when the tests had power).
    pub independent_above: f64,
    /// Most shared tokens used for alignment.
    pub max_tokens: usize,
    /// Most units per unit-matching test (a seeded subset above; the p-value stays exact).
    pub max_units: usize,
    /// Most block pairs tested (all pairs when `blocks_a × blocks_b` fits, else a band).
    pub max_block_pairs: usize,
    /// Seed for subsets and sketches.
    pub seed: u64,
    /// Models whose MLP matrices have more elements than this take the streaming path
    /// (sampled rows, unit subsets, diagonal-first, products on three blocks).
    pub large_above: u64,
    /// No sampling on large models: every unit in the unit tests (full assignments), every
    /// shared token, every row in the element-wise triage, every attention row in the CKA
    /// and products on every linked block. Memory grows with the model (a few GB at 7B) and
    /// time by one to two orders of magnitude; it exists to check that the sampled analysis
    /// reaches the same verdict. (The unit screening of permuted large models keeps its
    /// subsets, and transposed storage is still checked on block 0.)
    pub exhaustive: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            alpha: DEFAULT_ALPHA,
            independent_above: 1e-2,
            max_tokens: 4096,
            max_units: 1024,
            max_block_pairs: 1024,
            seed: 0x0007_a06e,
            large_above: LARGE,
            exhaustive: false,
        }
    }
}

impl Options {
    /// `ln α`.
    pub(crate) fn ln_alpha(&self) -> f64 {
        self.alpha.ln()
    }

    /// Checks that α is a significance level the verdicts can honour: `0 < α < MAX_ALPHA`.
    pub fn check_alpha(alpha: f64) -> Result<f64, String> {
        if alpha.is_finite() && alpha > 0.0 && alpha < MAX_ALPHA {
            Ok(alpha)
        } else {
            Err(format!(
                "α must be a number with 0 < α < {MAX_ALPHA} (got {alpha}): `related` means a \
                 match this strong has probability below α under independence, so α = 0 would \
                 never accuse and a large α would accuse unrelated models"
            ))
        }
    }
}

/// Tensors with more elements than this are "large": models with one take the sampled path
/// (rows sampled in the triage, unit subsets, diagonal-first block tests, products on three
/// blocks). Every real checkpoint the project meets is above (all-MiniLM-L6-v2's MLP matrices
/// hold 589,824 values, SmolLM2-135M's 884,736), so real models from 20 M to 13 B parameters
/// share one cost model; only the zoo's tiny trained models (at most 65,536 values per matrix)
/// and stories260K are read whole. Measured before the threshold moved down from 4 Mi values:
/// a 135 M pair took 13 s of CPU on the exhaustive path against 5 s for a 0.5 B pair on this
/// one (BENCHMARKS.md, issue 18). [`Options::large_above`].
pub const LARGE: u64 = 1 << 18;
