//! The manifest (`zoo.json`): every model with its recipe, parents and statistics, and the
//! ground-truth relation of every ordered pair, computed from the lineage graph.
//!
//! Rule. Let E(X) be the set of lineage edges (child → weight parent) reachable upward from X.
//! X and Y are *related* when they share a weight ancestor (either may be the other's ancestor;
//! a distilled student has no weight parent). For related X, Y the edges between them are the
//! symmetric difference D = E(X) Δ E(Y); the pair's `kinds` are the union of the recipe kinds on
//! D. The pair is `identical` when every edge in D only changes the container (sharding),
//! `same-weights` when every edge is output-preserving or lossy-but-untrained (permutations,
//! rotations, rescalings, renames, transposes, dtype recasts, quantization, noise washing,
//! format changes), and `related` otherwise. Pairs with no shared ancestor are `independent`.

use crate::plan::{shape, EdgeClass, Plan, Spec};
use crate::weights::ModelConfig;
use crate::ZooError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Manifest format version.
pub const SCHEMA_VERSION: u32 = 1;

/// Ground-truth relation of an ordered pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Relation {
    /// Same tensors under the same names; only the container differs.
    Identical,
    /// Same weights up to output-preserving or untrained lossy transforms.
    SameWeights,
    /// Share a weight ancestor, with training or structural change in between.
    Related,
    /// No shared weight ancestor.
    Independent,
}

/// Direction of a related pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// `a` descends from `b`.
    AFromB,
    /// `b` descends from `a`.
    BFromA,
    /// Both descend from a common ancestor.
    CommonAncestor,
    /// Not related.
    None,
}

/// One labelled ordered pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pair {
    /// First model id.
    pub a: String,
    /// Second model id.
    pub b: String,
    /// Ground truth.
    pub relation: Relation,
    /// Kinds along the lineage path (empty when independent).
    pub kinds: Vec<String>,
    /// Direction.
    pub direction: Direction,
    /// Whether both models have the same architecture and size (identical configs).
    pub same_architecture: bool,
}

/// Training statistics of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Training {
    /// Optimiser steps.
    pub steps: usize,
    /// Mean training loss over the last 10% of steps.
    pub final_train_loss: f64,
    /// Loss at the first step.
    pub first_train_loss: f64,
    /// Wall-clock seconds of the run (informative only; not part of the cache key).
    pub seconds: f64,
}

/// One model of the zoo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelEntry {
    /// Id.
    pub id: String,
    /// Path relative to the manifest: a folder (safetensors) or a `.gguf` file.
    pub path: String,
    /// `safetensors`, `safetensors-sharded` or `gguf`.
    pub format: String,
    /// `llama`, `mixtral` or `bert`.
    pub architecture: String,
    /// Hyper-parameters.
    pub config: ModelConfig,
    /// Parameter count.
    pub params: usize,
    /// Recipe (with its `kind` tag and parameters).
    pub recipe: serde_json::Value,
    /// Kinds of the edge to the parents.
    pub kinds: Vec<String>,
    /// Weight parents.
    pub parents: Vec<String>,
    /// Teacher of a distilled student (not a weight parent).
    pub teacher: Option<String>,
    /// Seed.
    pub seed: u64,
    /// Tokenizer id (see `tokenizers`).
    pub tokenizer: String,
    /// Hash of the recipe, parents' hashes and budget (the cache key).
    pub recipe_hash: String,
    /// Training statistics, when the recipe trains.
    pub training: Option<Training>,
    /// Held-out loss per corpus (nats per token; masked-LM loss for BERT models).
    pub heldout_loss: BTreeMap<String, f64>,
}

/// The zoo manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version (1).
    pub schema_version: u32,
    /// Profile name.
    pub profile: String,
    /// The labelling rule, in words.
    pub relation_rule: String,
    /// Unigram baseline loss per tokenizer and corpus.
    pub unigram_baseline: BTreeMap<String, BTreeMap<String, f64>>,
    /// Tokenizers: id → vocabulary size.
    pub tokenizers: BTreeMap<String, usize>,
    /// Models in build order.
    pub models: Vec<ModelEntry>,
    /// Every ordered pair of distinct models.
    pub pairs: Vec<Pair>,
}

/// The labelling rule as stored in the manifest.
pub const RELATION_RULE: &str = "related iff the two models share a weight ancestor (a distilled student has none); \
kinds = union of recipe kinds on the symmetric difference of their upward edge sets; identical if all those edges are \
container-only (sharding); same-weights if all are output-preserving or lossy-but-untrained (permute, rotate, rescale, \
rename, transpose, dtype recast, quantize, noise wash, format change); related otherwise";

impl Manifest {
    /// Loads a manifest.
    pub fn load(path: &Path) -> Result<Manifest, ZooError> {
        let b = std::fs::read(path).map_err(|e| ZooError::io(path, e))?;
        serde_json::from_slice(&b).map_err(|e| ZooError::Format(format!("{}: {e}", path.display())))
    }

    /// The model with this id.
    pub fn model(&self, id: &str) -> Option<&ModelEntry> {
        self.models.iter().find(|m| m.id == id)
    }

    /// The label of the ordered pair (a, b).
    pub fn pair(&self, a: &str, b: &str) -> Option<&Pair> {
        self.pairs.iter().find(|p| p.a == a && p.b == b)
    }
}

/// Resolved config of every planned model (following parents through structural recipes).
pub fn configs(plan: &Plan) -> Result<BTreeMap<String, ModelConfig>, ZooError> {
    use crate::plan::Recipe::*;
    let mut out: BTreeMap<String, ModelConfig> = BTreeMap::new();
    for s in &plan.specs {
        let bad = |m: &str| ZooError::Recipe {
            id: s.id.clone(),
            msg: m.to_string(),
        };
        let parent = || -> Result<ModelConfig, ZooError> {
            let p = s.parents.first().ok_or_else(|| bad("no parent"))?;
            out.get(p)
                .cloned()
                .ok_or_else(|| bad("parent planned after child"))
        };
        let c = match &s.recipe {
            Root { shape: sh, .. } | Distill { shape: sh, .. } => {
                shape(sh).ok_or_else(|| bad("unknown shape"))?
            }
            Twin { of, .. } => out
                .get(of)
                .cloned()
                .ok_or_else(|| bad("twin planned before its source"))?,
            PruneDepth { keep, .. } => ModelConfig {
                num_layers: keep.len(),
                ..parent()?
            },
            UpscaleDepth { layers, .. } => ModelConfig {
                num_layers: layers.len(),
                ..parent()?
            },
            PruneWidth {
                keep_neurons,
                drop_kv_groups,
                ..
            } => {
                let p = parent()?;
                let g = p.num_heads / p.num_kv_heads;
                ModelConfig {
                    intermediate_size: *keep_neurons,
                    num_kv_heads: p.num_kv_heads - drop_kv_groups,
                    num_heads: (p.num_kv_heads - drop_kv_groups) * g,
                    ..p
                }
            }
            MoeUpcycle { experts, top_k, .. } => ModelConfig {
                arch: crate::weights::Arch::Mixtral,
                num_experts: *experts,
                experts_per_tok: *top_k,
                ..parent()?
            },
            VocabExtend { new_tokens, .. } => {
                let p = parent()?;
                ModelConfig {
                    vocab_size: p.vocab_size + new_tokens,
                    ..p
                }
            }
            _ => parent()?,
        };
        out.insert(s.id.clone(), c);
    }
    Ok(out)
}

type Edge = (String, String);

fn upward_edges(
    id: &str,
    by_id: &BTreeMap<&str, &Spec>,
    memo: &mut BTreeMap<String, BTreeSet<Edge>>,
) -> BTreeSet<Edge> {
    if let Some(e) = memo.get(id) {
        return e.clone();
    }
    let mut out = BTreeSet::new();
    if let Some(s) = by_id.get(id) {
        for p in &s.parents {
            out.insert((id.to_string(), p.clone()));
            out.extend(upward_edges(p, by_id, memo));
        }
    }
    memo.insert(id.to_string(), out.clone());
    out
}

/// Labels every ordered pair of distinct planned models.
pub fn label_pairs(plan: &Plan) -> Result<Vec<Pair>, ZooError> {
    let cfgs = configs(plan)?;
    let by_id: BTreeMap<&str, &Spec> = plan.specs.iter().map(|s| (s.id.as_str(), s)).collect();
    let mut memo = BTreeMap::new();
    let mut edges: BTreeMap<&str, BTreeSet<Edge>> = BTreeMap::new();
    let mut anc: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for s in &plan.specs {
        let e = upward_edges(&s.id, &by_id, &mut memo);
        let mut a: BTreeSet<String> = e.iter().map(|x| x.1.clone()).collect();
        a.insert(s.id.clone());
        anc.insert(s.id.as_str(), a);
        edges.insert(s.id.as_str(), e);
    }
    let mut pairs = Vec::new();
    for x in &plan.specs {
        for y in &plan.specs {
            if x.id == y.id {
                continue;
            }
            let (ax, ay) = (&anc[x.id.as_str()], &anc[y.id.as_str()]);
            let same_architecture = cfgs[&x.id] == cfgs[&y.id];
            if ax.is_disjoint(ay) {
                pairs.push(Pair {
                    a: x.id.clone(),
                    b: y.id.clone(),
                    relation: Relation::Independent,
                    kinds: vec![],
                    direction: Direction::None,
                    same_architecture,
                });
                continue;
            }
            let d: Vec<&Edge> = edges[x.id.as_str()]
                .symmetric_difference(&edges[y.id.as_str()])
                .collect();
            let mut kinds = BTreeSet::new();
            let mut class = EdgeClass::Identical;
            for (child, _) in &d {
                let r = &by_id[child.as_str()].recipe;
                kinds.extend(r.kinds().into_iter().map(str::to_string));
                class = class.max(r.class());
            }
            let relation = match class {
                EdgeClass::Identical => Relation::Identical,
                EdgeClass::SameWeights => Relation::SameWeights,
                EdgeClass::Related => Relation::Related,
            };
            let direction = if ax.contains(&y.id) {
                Direction::AFromB
            } else if ay.contains(&x.id) {
                Direction::BFromA
            } else {
                Direction::CommonAncestor
            };
            pairs.push(Pair {
                a: x.id.clone(),
                b: y.id.clone(),
                relation,
                kinds: kinds.into_iter().collect(),
                direction,
                same_architecture,
            });
        }
    }
    Ok(pairs)
}
