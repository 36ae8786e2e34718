//! Rule tests (issue 20): the decision rules of the verdict and kinds stages, one row per rule
//! and per threshold edge, on measurements built directly (no pipeline). Each row names the
//! measurement that set its threshold. The two models are a tiny Llama written to
//! safetensors (both sides the same file layout, f32), so storage kinds stay out of the way.

use std::collections::BTreeMap;

use crate::align::Transform;
use crate::cka::BlockCka;
use crate::measure::*;
use crate::options::Options;
use crate::products::ProductDelta;
use crate::report::{Direction, Kind, Product, Verdict};
use crate::units::UnitTest;
use crate::view::ModelView;

/// A Llama of `blocks` blocks, width 16, MLP 32, with HF names, in a temporary folder.
fn tiny(dir: &std::path::Path, blocks: u32) -> taoke_model::Checkpoint {
    let (d, h, v) = (16u64, 32u64, 64u64);
    let mut tensors: Vec<(String, Vec<u64>)> = vec![
        ("model.embed_tokens.weight".into(), vec![v, d]),
        ("model.norm.weight".into(), vec![d]),
        ("lm_head.weight".into(), vec![v, d]),
    ];
    for i in 0..blocks {
        let p = format!("model.layers.{i}");
        for (n, s) in [
            ("self_attn.q_proj.weight", vec![d, d]),
            ("self_attn.k_proj.weight", vec![d, d]),
            ("self_attn.v_proj.weight", vec![d, d]),
            ("self_attn.o_proj.weight", vec![d, d]),
            ("mlp.gate_proj.weight", vec![h, d]),
            ("mlp.up_proj.weight", vec![h, d]),
            ("mlp.down_proj.weight", vec![d, h]),
            ("input_layernorm.weight", vec![d]),
            ("post_attention_layernorm.weight", vec![d]),
        ] {
            tensors.push((format!("{p}.{n}"), s));
        }
    }
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .enumerate()
        .map(|(k, (_, s))| {
            let n: u64 = s.iter().product();
            (0..n)
                .flat_map(|i| (((i * 7 + k as u64 * 13) % 17) as f32 / 17.0 - 0.5).to_le_bytes())
                .collect()
        })
        .collect();
    let list: Vec<(&str, taoke_dtype::Dtype, &[u64], &[u8])> = tensors
        .iter()
        .zip(&bytes)
        .map(|((n, s), b)| {
            (
                n.as_str(),
                taoke_dtype::Dtype::F32,
                s.as_slice(),
                b.as_slice(),
            )
        })
        .collect();
    let path = dir.join(format!("tiny-{blocks}.safetensors"));
    let mut out = Vec::new();
    taoke_safetensors::write(&mut out, &list, &BTreeMap::new()).expect("write");
    std::fs::write(&path, out).expect("write file");
    taoke_model::open(path.to_string_lossy()).expect("open")
}

fn test(ln_p: f64, n: usize, in_place: f64, mean_cos: f64) -> UnitTest {
    UnitTest {
        ln_p,
        rho: 0.5,
        n,
        identity_fraction: in_place,
        mean_cos,
        pairs: Vec::new(),
    }
}

fn products(blocks: u32, rel: f64, r: f64) -> Vec<BlockProducts> {
    (0..blocks)
        .map(|i| BlockProducts {
            a: i,
            b: i,
            products: Product::ALL
                .into_iter()
                .map(|p| {
                    let d = ProductDelta {
                        rel,
                        r,
                        spectral_mse: None,
                    };
                    (p, d)
                })
                .collect(),
        })
        .collect()
}

/// Measurements of two models of `blocks` blocks with the given embedding test, diagonal
/// block tests (one ln p for all) and product deltas.
fn measured(blocks: u32, emb: UnitTest, diag: Option<UnitTest>, rel: f64, r: f64) -> Measurements {
    Measurements {
        identical_files: false,
        roles_recovered: 0,
        pairs: Vec::new(),
        anchor: Anchoring {
            tokens_shared: 64,
            tokens_assumed: false,
            // The embeddings move a tenth as much as the products (copies: both below the
            // storage tolerance).
            emb_delta: Some(ProductDelta {
                rel: rel / 10.0,
                r,
                spectral_mse: None,
            }),
            emb_test: Some(emb),
            emb_dims: (16, 16),
            transform: Transform::Identity,
            fit: Fit {
                identity: 0.01,
                permutation: 1.3,
                rotation: 0.01,
            },
            alignment: None,
            d_a: 16,
        },
        blocks: (blocks, blocks),
        block: BlockEvidence {
            tests: diag
                .map(|t| {
                    (0..blocks)
                        .map(|i| BlockTest {
                            a: i,
                            b: i,
                            test: t.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            experts: Vec::new(),
            cka: Vec::new(),
            hidden_units: (vec![32; blocks as usize], vec![32; blocks as usize]),
        },
        products: products(blocks, rel, r),
        tokenizer: None,
        delta_rank: Vec::new(),
        grid: None,
    }
}

fn judged_with_direction(m: &Measurements) -> (Verdict, Vec<Kind>, Direction) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ca, cb) = (tiny(dir.path(), m.blocks.0), tiny(dir.path(), m.blocks.1));
    let (a, b) = (ModelView::new(&ca), ModelView::new(&cb));
    let j = crate::verdict::judge(&a, &b, m, &Options::default());
    (j.verdict, j.kinds.into_iter().collect(), j.direction)
}

fn judged(m: &Measurements) -> (Verdict, Vec<Kind>) {
    let (v, k, _) = judged_with_direction(m);
    (v, k)
}

const LN_STRONG: f64 = -300.0;

/// (row, measurements, verdict, kinds that must be present, kinds that must be absent)
type Row = (
    &'static str,
    Measurements,
    Verdict,
    &'static [Kind],
    &'static [Kind],
);

/// Rows of the same-weights test and the training kinds.
fn copy_and_training_rows() -> Vec<Row> {
    vec![
        (
            // α = 1e-6 (DEFAULT_ALPHA); products 1e-7 relative: float copies give ≤ 1e-6.
            "same weights: exact tests significant, products within 2 × tolerance",
            measured(
                2,
                test(LN_STRONG, 64, 1.0, 1.0),
                Some(test(LN_STRONG, 32, 1.0, 1.0)),
                1e-7,
                1.0,
            ),
            Verdict::SameWeights,
            &[],
            &[Kind::FineTune],
        ),
        (
            // Tolerance 5e-3 (MIN_TOLERANCE, f32): products at 2 × 5e-3 + ε are no copy.
            "products just above 2 × tolerance: related, a fine-tune",
            measured(
                2,
                test(LN_STRONG, 64, 1.0, 1.0),
                Some(test(LN_STRONG, 32, 1.0, 1.0)),
                1.01e-2,
                0.999,
            ),
            Verdict::Related,
            &[Kind::FineTune],
            &[Kind::ContinuedPretraining],
        ),
        (
            "products exactly 2 × tolerance: still the same weights",
            measured(
                2,
                test(LN_STRONG, 64, 1.0, 1.0),
                Some(test(LN_STRONG, 32, 1.0, 1.0)),
                1e-2,
                0.999,
            ),
            Verdict::SameWeights,
            &[],
            &[],
        ),
        (
            // CONTINUED = 0.5: zoo fine-tunes 0.05–0.3, continued pre-training 0.6–1.1.
            "products moved by more than half: continued pre-training",
            measured(
                2,
                test(LN_STRONG, 64, 1.0, 0.9),
                Some(test(LN_STRONG, 32, 1.0, 0.9)),
                0.51,
                0.8,
            ),
            Verdict::Related,
            &[Kind::ContinuedPretraining],
            &[Kind::FineTune],
        ),
        (
            "products moved by just under half: a fine-tune",
            measured(
                2,
                test(LN_STRONG, 64, 1.0, 0.9),
                Some(test(LN_STRONG, 32, 1.0, 0.9)),
                0.49,
                0.8,
            ),
            Verdict::Related,
            &[Kind::FineTune],
            &[Kind::ContinuedPretraining],
        ),
    ]
}

/// Rows of the verdict when nothing was copied: power, the middle band, shared embeddings.
fn verdict_rows() -> Vec<Row> {
    let ln = f64::ln;
    vec![
        (
            // POWER_UNITS = 32; independent_above = 0.01.
            "uniform p-values with power: independent",
            measured(
                2,
                test(ln(0.5), 64, 0.0, 0.1),
                Some(test(ln(0.4), 32, 0.0, 0.1)),
                1.4,
                0.0,
            ),
            Verdict::Independent,
            &[],
            &[],
        ),
        (
            "uniform p-values, 31 units at most: no power, inconclusive",
            measured(
                2,
                test(ln(0.5), 31, 0.0, 0.1),
                Some(test(ln(0.4), 31, 0.0, 0.1)),
                1.4,
                0.0,
            ),
            Verdict::Inconclusive,
            &[],
            &[],
        ),
        (
            // Fisher of three p = 1e-2 tests: χ² = 27.6 on 6 df, p ≈ 1e-4, between α and 0.01.
            "combined p between α and 0.01: inconclusive",
            measured(
                2,
                test(ln(1e-2), 64, 0.0, 0.1),
                Some(test(ln(1e-2), 64, 0.0, 0.1)),
                1.4,
                0.0,
            ),
            Verdict::Inconclusive,
            &[],
            &[],
        ),
        (
            "embeddings related, no block: shared components, not a fine-tune",
            measured(
                2,
                test(LN_STRONG, 64, 1.0, 1.0),
                Some(test(ln(0.5), 64, 0.0, 0.1)),
                1.4,
                0.0,
            ),
            Verdict::Related,
            &[Kind::SharedComponents],
            &[Kind::FineTune],
        ),
    ]
}

/// A residual-permuted pair: the map is a signed permutation, the embedding test (against the
/// identity) sees nothing, the blocks were not tested, and the held-out alignment gives `z`.
fn permuted_untested(z: f64) -> Measurements {
    let mut m = measured(2, test(f64::ln(0.5), 64, 0.0, 0.1), None, 1.4, 0.0);
    m.anchor.transform =
        Transform::SignedPermutation((0..16).rev().map(|i| Some((i, 1.0))).collect());
    m.anchor.alignment = Some(crate::measure::AlignmentTest {
        kind: crate::align::TransformKind::SignedPermutation,
        median_z: z,
        dims: 64,
        held_out: 32,
    });
    m.products.clear();
    m
}

/// A copy within every tolerance, with the rounding-grid test given.
fn copy_with_grid(
    outside: f64,
    in_cell: f64,
    inner: Option<f64>,
    change: f64,
    excess: f64,
) -> Measurements {
    let mut m = measured(
        2,
        test(LN_STRONG, 64, 1.0, 1.0),
        Some(test(LN_STRONG, 64, 1.0, 1.0)),
        1e-3,
        0.99999,
    );
    m.grid = Some(crate::measure::GridTest {
        outside,
        in_cell,
        inner,
        change,
        excess,
        values: 4096,
    });
    m
}

/// Rows of the disguise-proof rules: the held-out alignment decides on its own, and a strong
/// alignment with untested blocks is never `independent`.
fn disguise_rows() -> Vec<Row> {
    let null = crate::calibration::alignment_null(crate::align::TransformKind::SignedPermutation);
    // Half-way between the null and significance: not significant, not chance either.
    let middling = null.mean + 3.0 * null.std;
    let grid = copy_with_grid(0.05, 0.9, Some(0.5), 0.1, 0.01);
    let grid_copy = copy_with_grid(0.0, 0.9, Some(0.5), 0.1, 0.01);
    let grid_inner = copy_with_grid(0.0, 0.95, Some(0.99), 0.02, 0.0);
    let grid_noise = copy_with_grid(0.0, 0.6, Some(1.0), 0.001, 0.0);
    vec![
        (
            "a change inside the cells, near their centres, of 2 % of the row std: trained",
            grid_inner,
            Verdict::Related,
            &[Kind::FineTune],
            &[],
        ),
        (
            "a change inside the cells of 0.1 % of the row std (a noise wash): a copy",
            grid_noise,
            Verdict::SameWeights,
            &[],
            &[Kind::FineTune],
        ),
        (
            "permuted embeddings predicting held-out tokens (z = 2): related, permuted",
            permuted_untested(2.0),
            Verdict::Related,
            &[Kind::Permuted],
            &[],
        ),
        (
            "a middling held-out alignment with nothing else: inconclusive, never independent",
            permuted_untested(middling),
            Verdict::Inconclusive,
            &[],
            &[],
        ),
        (
            "a chance held-out alignment (z = null mean), untested blocks: nothing has power after the map",
            permuted_untested(null.mean),
            Verdict::Independent,
            &[],
            &[],
        ),
        (
            "products within the copy tolerance but 5 % of values outside the rounding cells: trained",
            grid,
            Verdict::Related,
            &[Kind::FineTune],
            &[],
        ),
        (
            "products within the copy tolerance, every value inside the rounding cells: a copy",
            grid_copy,
            Verdict::SameWeights,
            &[],
            &[Kind::FineTune],
        ),
    ]
}

#[test]
fn verdict_rules() {
    let mut failures = Vec::new();
    let rows = copy_and_training_rows()
        .into_iter()
        .chain(verdict_rows())
        .chain(disguise_rows());
    for (row, m, verdict, present, absent) in rows {
        let (v, kinds) = judged(&m);
        if v != verdict
            || present.iter().any(|k| !kinds.contains(k))
            || absent.iter().any(|k| kinds.contains(k))
        {
            failures.push(format!(
                "{row}: got {v:?} {kinds:?}, want {verdict:?} with {present:?} without {absent:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn cka_rule_edge() {
    // CKA_DERIVED = 0.8: all-MiniLM-L6-v2 vs paraphrase-MiniLM-L3-v2 blocks (independent
    // weights on a shared embedding) give 0.15–0.58; copied or fine-tuned blocks ≥ 0.98.
    for (cka, related) in [(0.79, false), (0.81, true)] {
        let mut m = measured(
            2,
            test(LN_STRONG, 64, 1.0, 1.0),
            Some(test(f64::ln(0.5), 64, 0.0, 0.1)),
            1.4,
            0.0,
        );
        m.block.cka = (0..2)
            .map(|i| BlockCkaRow {
                a: i,
                b: i,
                cka: BlockCka {
                    mlp: Some(cka),
                    attn: Some(cka),
                },
            })
            .collect();
        let (v, kinds) = judged(&m);
        assert_eq!(v, Verdict::Related, "CKA {cka}");
        assert_eq!(
            !kinds.contains(&Kind::SharedComponents),
            related,
            "CKA {cka}: {kinds:?}"
        );
    }
}

#[test]
fn residual_map_kinds() {
    let base = || {
        measured(
            2,
            test(LN_STRONG, 64, 0.0, 1.0),
            Some(test(LN_STRONG, 32, 1.0, 1.0)),
            1e-7,
            1.0,
        )
    };
    // A signed permutation that moves coordinates is a permutation.
    let mut m = base();
    m.anchor.transform =
        Transform::SignedPermutation((0..16).map(|j| Some(((j + 1) % 16, 1.0))).collect());
    assert!(judged(&m).1.contains(&Kind::Permuted));
    // ROTATION_FITS = 0.5: a rotation is named when it fits below half the identity's and
    // the permutation's residual (zoo: 0.02 against 1.2–1.4), not at 0.06 against 0.07.
    for (rot, named) in [(0.4, true), (0.6, false)] {
        let mut m = base();
        m.anchor.transform = Transform::Rotation(taoke_stats::Matrix::zeros(16, 16));
        m.anchor.fit = Fit {
            identity: 1.0,
            permutation: 1.0,
            rotation: rot,
        };
        assert_eq!(
            judged(&m).1.contains(&Kind::Rotated),
            named,
            "rotation residual {rot}"
        );
    }
}

#[test]
fn depth_kinds_and_direction() {
    // LINK_P = 1e-4. A of 4 blocks, B of 2: blocks 0, 1 of A both map to block 0 of B, and
    // 2, 3 to 1 (duplicated blocks: A up-scaled from B); one-to-one links: B pruned from A.
    for (links, kind, direction) in [
        (
            vec![(0, 0), (1, 0), (2, 1), (3, 1)],
            Kind::DepthUpscaled,
            Direction::AFromB,
        ),
        (vec![(0, 0), (3, 1)], Kind::PrunedDepth, Direction::BFromA),
    ] {
        let mut m = measured(4, test(LN_STRONG, 64, 1.0, 0.95), None, 0.05, 0.99);
        m.blocks = (4, 2);
        m.products = Vec::new();
        m.block.hidden_units = (vec![32; 4], vec![32; 2]);
        m.block.tests = links
            .iter()
            .map(|&(a, b)| BlockTest {
                a,
                b,
                test: test(LN_STRONG, 32, 1.0, 0.95),
            })
            .collect();
        let (v, kinds, d) = judged_with_direction(&m);
        assert_eq!(v, Verdict::Related, "{kind:?}");
        assert!(kinds.contains(&kind), "{kind:?}: {kinds:?}");
        assert_eq!(d, direction, "{kind:?}");
    }
}
