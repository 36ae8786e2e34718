//! What the comparison measured, as named records: the input of the verdict and kinds stages
//! ([`crate::verdict`], [`crate::kinds`]), which build no measurement of their own beyond
//! reading the two models.

use crate::align::Transform;
use crate::cka::BlockCka;
use crate::products::ProductDelta;
use crate::report::Product;
use crate::triage::PairDelta;
use crate::units::UnitTest;

/// The exact unit-matching test of one block pair.
#[derive(Debug, Clone)]
pub(crate) struct BlockTest {
    /// Block of A.
    pub a: u32,
    /// Block of B.
    pub b: u32,
    /// The test.
    pub test: UnitTest,
}

/// The experts of one side's block against the other side's dense MLP (Fisher over experts).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExpertTest {
    /// Block of A.
    pub a: u32,
    /// Block of B.
    pub b: u32,
    /// Combined natural-log p-value.
    pub ln_p: f64,
    /// Experts tested.
    pub experts: usize,
}

/// The invariant products of one block pair.
#[derive(Debug, Clone)]
pub(crate) struct BlockProducts {
    /// Block of A.
    pub a: u32,
    /// Block of B.
    pub b: u32,
    /// Each product's comparison, in report order.
    pub products: Vec<(Product, ProductDelta)>,
}

/// The vocabulary-anchored CKA of one block pair.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BlockCkaRow {
    /// Block of A.
    pub a: u32,
    /// Block of B.
    pub b: u32,
    /// MLP and attention CKAs.
    pub cka: BlockCka,
}

/// Relative residuals of the three residual maps on the shared-token embeddings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fit {
    /// B's coordinates as they are.
    pub identity: f64,
    /// The best signed permutation.
    pub permutation: f64,
    /// The best rotation (Procrustes).
    pub rotation: f64,
}

impl Fit {
    /// Not measured.
    pub const NONE: Fit = Fit {
        identity: f64::NAN,
        permutation: f64::NAN,
        rotation: f64::NAN,
    };
}

/// The held-out test of the residual map ([`crate::anchor::held_out_alignment`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct AlignmentTest {
    /// The kind of map refitted.
    pub kind: crate::align::TransformKind,
    /// Median over A's hidden dimensions of the held-out Fisher z.
    pub median_z: f64,
    /// Hidden dimensions of A.
    pub dims: usize,
    /// Held-out tokens.
    pub held_out: usize,
}

/// The rounding-grid test ([`crate::rounding::grid_test`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct GridTest {
    /// Share of compared values outside the pair's rounding cells.
    pub outside: f64,
    /// Share inside the coarser side's cell but off its centre by more than the finer side's
    /// own rounding.
    pub in_cell: f64,
    /// Of those (formula formats only), the share in the inner half of the cell: rounding
    /// from a finer original spreads over the cell (≈ 0.5); a small change of the quantized
    /// values stays near the centre (≈ 1).
    pub inner: Option<f64>,
    /// Mean |difference| over the row's standard deviation.
    pub change: f64,
    /// Mean distance beyond the cells (0 inside) over the row's standard deviation.
    pub excess: f64,
    /// Values compared.
    pub values: usize,
}

/// The vocabulary anchoring: shared tokens, the embedding test and the residual map.
#[derive(Debug, Clone)]
pub(crate) struct Anchoring {
    /// Shared tokens used.
    pub tokens_shared: usize,
    /// No tokenizer on one side: token ids assumed to correspond.
    pub tokens_assumed: bool,
    /// The exact test of the embeddings' hidden dimensions.
    pub emb_test: Option<UnitTest>,
    /// Embedding widths (A, B); 0 when absent.
    pub emb_dims: (usize, usize),
    /// The map from B's residual coordinates to A's.
    pub transform: Transform,
    /// Residuals of the candidate maps.
    pub fit: Fit,
    /// Shared-token embeddings after the map.
    pub emb_delta: Option<ProductDelta>,
    /// The held-out test of the map.
    pub alignment: Option<AlignmentTest>,
    /// Residual width used for features (A's).
    pub d_a: usize,
}

impl Anchoring {
    /// Nothing anchored (identical files, no embeddings).
    pub fn none() -> Anchoring {
        Anchoring {
            tokens_shared: 0,
            tokens_assumed: false,
            emb_test: None,
            emb_dims: (0, 0),
            transform: Transform::Identity,
            fit: Fit {
                identity: 0.0,
                permutation: 0.0,
                rotation: 0.0,
            },
            emb_delta: None,
            alignment: None,
            d_a: 0,
        }
    }
}

/// The block-level tests: unit tests, CKA, experts, and the unit counts seen.
#[derive(Debug, Clone, Default)]
pub(crate) struct BlockEvidence {
    /// Unit test of each tested block pair.
    pub tests: Vec<BlockTest>,
    /// MoE: experts of one side against the other side's dense MLP.
    pub experts: Vec<ExpertTest>,
    /// Vocabulary-anchored CKA of block pairs.
    pub cka: Vec<BlockCkaRow>,
    /// MLP units per block (A, B).
    pub hidden_units: (Vec<usize>, Vec<usize>),
}

/// Everything measured, handed to the verdict stage (`verdict::judge`).
pub(crate) struct Measurements {
    /// Every weight file byte-identical, or every tensor.
    pub identical_files: bool,
    /// Tensors whose role was recovered by content.
    pub roles_recovered: usize,
    /// Element-wise relations of tensors at the same canonical role.
    pub pairs: Vec<PairDelta>,
    /// The vocabulary anchoring.
    pub anchor: Anchoring,
    /// Depths (A, B).
    pub blocks: (u32, u32),
    /// The block-level tests.
    pub block: BlockEvidence,
    /// Invariant products of the mapped block pairs.
    pub products: Vec<BlockProducts>,
    /// The tokenizer relation, when both sides have one.
    pub tokenizer: Option<taoke_tokenizer::VocabComparison>,
    /// Effective rank of the weight change (B − A) of a few matrices, as a fraction of the
    /// largest possible rank (same coordinates and depth only).
    pub delta_rank: Vec<f64>,
    /// The rounding-grid test, when a side is block-quantized.
    pub grid: Option<GridTest>,
}

impl Measurements {
    /// The residual map is the identity (B's coordinates kept).
    pub fn residual_identity(&self) -> bool {
        self.anchor.transform.kind() == crate::align::TransformKind::Identity
    }

    /// Every product comparison of every mapped block pair.
    pub fn product_deltas(&self) -> impl Iterator<Item = (Product, &ProductDelta)> {
        self.products
            .iter()
            .flat_map(|b| b.products.iter().map(|(p, d)| (*p, d)))
    }
}
