//! The shared sample report every renderer's snapshot is taken on: a depth-pruned fine-tune
//! (4 blocks → 3), with every section filled in, and text that needs escaping.

use taoke_evidence::report::{
    Comparison, ComponentVerdict, Direction, Evidence, Kind, LayerLink, ModelSide, Product, Scope,
    TestId, TokenizerEvidence, Verdict,
};

fn ev(test: TestId, scope: Scope, statistic: f64, log10_p: Option<f64>, summary: &str) -> Evidence {
    Evidence {
        test,
        scope,
        statistic,
        p_value: log10_p.map(|l| 10f64.powf(l)),
        log10_p_value: log10_p,
        summary: summary.into(),
    }
}

/// The sample comparison.
pub fn sample() -> Comparison {
    let diag = [-41.5, -38.25, f64::NAN, -52.0];
    let mut evidence = vec![ev(
        TestId::EmbeddingColumns,
        Scope::Embeddings,
        0.998,
        Some(-89.1),
        "matching the 64 hidden dimensions of the two token embeddings over 512 shared tokens gives Spearman ρ = 0.998; p = 1e-90",
    )];
    let map = [(0u32, 0u32), (1, 1), (3, 2)];
    for (i, (a, b)) in map.iter().enumerate() {
        evidence.push(ev(
            TestId::MlpUnits,
            Scope::BlockPair { a: *a, b: *b },
            0.91 - 0.05 * i as f64,
            Some(diag[*a as usize]),
            "256 MLP units matched with Spearman ρ = 0.91 (97 % in place, mean cosine 0.83)",
        ));
    }
    for (a, b) in map {
        for (k, product) in Product::ALL.into_iter().enumerate() {
            let v = 0.02 * (1.0 + a as f64) * (1.0 + k as f64);
            let prod = product.as_str();
            evidence.push(ev(
                TestId::InvariantProduct,
                Scope::Product { a, b, product },
                v,
                None,
                &format!("{prod} products differ by {v:.2e} relative"),
            ));
        }
    }
    evidence.push(ev(
        TestId::TensorEquality,
        Scope::Model,
        0.0,
        None,
        "0 of 30 tensors at the same role and shape are bit-identical | <none> & \"quoted\"",
    ));
    let block_matrix = vec![
        vec![Some(-41.5), Some(-0.3), Some(-0.1)],
        vec![Some(-0.2), Some(-38.25), Some(-0.6)],
        vec![Some(-0.4), Some(-1.2), None],
        vec![Some(-0.05), Some(-0.9), Some(-52.0)],
    ];
    Comparison {
        schema_version: 1,
        a: ModelSide {
            path: "models/base <v1>/model.safetensors".into(),
            format: "safetensors".into(),
            architecture: "llama".into(),
            parameters: 262_144,
            blocks: 4,
            hidden: Some(64),
            vocab: Some(512),
        },
        b: ModelSide {
            path: "models/pruned & tuned.gguf".into(),
            format: "gguf".into(),
            architecture: "llama".into(),
            parameters: 200_704,
            blocks: 3,
            hidden: Some(64),
            vocab: Some(512),
        },
        verdict: Verdict::Related,
        kinds: vec![Kind::FormatChange, Kind::FineTune, Kind::PrunedDepth],
        direction: Direction::BFromA,
        p_value: Some(0.0),
        log10_p_value: Some(-214.7),
        alpha: 1e-6,
        decisive: "3 of 3 blocks of B match blocks of A one-to-one (block 2 of A was dropped) and the token embeddings are shared; if the two models had been initialised independently, a match this strong would happen with probability p = 1e-215".into(),
        evidence,
        components: vec![
            ComponentVerdict {
                a: "embeddings".into(),
                b: "embeddings".into(),
                verdict: Verdict::Related,
                p_value: Some(0.0),
                log10_p_value: Some(-89.1),
            },
            ComponentVerdict {
                a: "blk.0".into(),
                b: "blk.0".into(),
                verdict: Verdict::Related,
                p_value: Some(0.0),
                log10_p_value: Some(-41.5),
            },
            ComponentVerdict {
                a: "blk.2".into(),
                b: "—".into(),
                verdict: Verdict::Inconclusive,
                p_value: None,
                log10_p_value: None,
            },
        ],
        layer_map: map
            .iter()
            .map(|&(a, b)| LayerLink {
                a,
                b,
                log10_p_value: block_matrix[a as usize][b as usize].unwrap_or(0.0),
            })
            .collect(),
        block_matrix,
        tokenizer: Some(TokenizerEvidence {
            relation: "identical".into(),
            jaccard: 1.0,
            equal_id_fraction: 1.0,
            summary: "the same 512 tokens at the same ids".into(),
        }),
        caveats: vec![
            "weights-only tests cannot see distillation or training on another model's outputs; a distilled model is reported independent".into(),
            "related means a shared weight ancestor; it does not say who copied whom or whether reuse was licensed".into(),
        ],
    }
}
