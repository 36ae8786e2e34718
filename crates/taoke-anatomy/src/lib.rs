//! Model anatomy: what every tensor of a checkpoint *is*, even when its name lies.
//!
//! # Overview
//!
//! Comparing two models needs, for every tensor, its block, its role (token embedding, attention
//! Q/K/V/O, MLP gate/up/down, norms, experts, heads, …) and its layout. This crate derives them:
//!
//! - [`scheme`]: naming schemes written once as data ([`tables`]) — Hugging Face llama / mistral /
//!   qwen2 / gemma / phi / gpt2 / gpt-neox / bert / falcon / mixtral / deepseek, llama.cpp GGUF,
//!   Megatron, Yi's `ln1`/`ln2` — and a matcher with `{N}`/`{E}` placeholders that reports the
//!   scheme used and what stayed unmatched.
//! - [`mod@describe`]: the [`ModelDescription`] (family, layers, widths, heads, vocabulary, norm,
//!   rope, experts, tied embeddings) from `config.json`, GGUF metadata or the shapes, with the
//!   source of every field.
//! - [`layout`]: llama.cpp's Q/K row permutation and its inverse, transposed-storage detection,
//!   fused QKV / gate-up splits.
//! - [`infer`]: roles for anonymous tensors from ONNX graph position, shapes, or content
//!   matching against a reference model.
//! - [`values`]: equal / transposed / same-multiset / correlated relations between two tensors.
//!
//! [`analyze`] runs names → description → graph → shapes and returns an [`Anatomy`], where every
//! tensor records *how* its role was assigned ([`RoleSource`]). Names are hints, content decides:
//! [`Anatomy::apply_content_matches`] overrides roles with content matches.
//!
//! # Example
//!
//! ```
//! use taoke_anatomy::{analyze, AnatomyInput, SchemeId, TensorDesc};
//!
//! let tensors = vec![
//!     TensorDesc::new("model.embed_tokens.weight", vec![512, 64]),
//!     TensorDesc::new("model.layers.0.ln1.weight", vec![64]),
//!     TensorDesc::new("model.layers.0.self_attn.k_proj.weight", vec![32, 64]),
//!     TensorDesc::new("model.layers.0.mlp.up_proj.weight", vec![172, 64]),
//! ];
//! let a = analyze(&AnatomyInput { tensors: &tensors, ..Default::default() });
//! assert_eq!(a.primary_scheme, Some(SchemeId::Yi));
//! assert_eq!(a.tensors[1].canonical.to_string(), "blk.0.attn_norm.weight");
//! assert_eq!(a.description.intermediate.as_ref().map(|f| f.value), Some(172));
//! ```
//!
//! # Should I use this crate?
//!
//! It needs only tensor names and shapes ([`TensorDesc`]), optionally `config.json`, GGUF
//! metadata ([`Metadata`]), ONNX graph hints ([`GraphHint`]) and, for content steps, a
//! [`TensorSource`]. It does not open files; `taoke-model` does.
//!
//! # Terminology
//!
//! - *canonical name*: `[blk.N.][exp.E.]<role>.<param>` ([`CanonicalName`]).
//! - *scheme*: a family of tensor names (a table of patterns).
//! - *orientation*: `[out, in]` (expected) or `[in, out]` (transposed) storage of a matrix.

#![deny(missing_docs)]

pub mod describe;
pub mod infer;
pub mod invariant;
pub mod layout;
pub mod role;
pub mod scheme;
pub mod single;
pub mod tables;
pub mod values;

use serde::{Deserialize, Serialize};

pub use describe::{
    describe, Family, Field, FieldSource, MetaValue, Metadata, ModelDescription, NormKind,
};
pub use infer::{match_by_content, ContentMatch, ContentOptions};
pub use invariant::{match_by_invariants, InvariantMatch, ResidualAxis};
pub use layout::{halve_qk_rows, interleave_qk_rows, normalize_qk_rows, Orientation, QkRowOrder};
pub use role::{CanonicalName, Component, Param, Role};
pub use scheme::{classify_names, NameReport, SchemeId};
pub use single::{infer_single, SingleEvidence, SingleInference, SingleRole};
pub use values::{compare_matrix_values, compare_tensor_values, TensorValueRelation};

/// A tensor as the anatomy sees it: name and row-major shape (`[out, in]` like PyTorch; GGUF
/// dims already reversed by the reader).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorDesc {
    /// Name in the checkpoint.
    pub name: String,
    /// Row-major shape.
    pub shape: Vec<u64>,
}

impl TensorDesc {
    /// A descriptor.
    pub fn new(name: impl Into<String>, shape: impl Into<Vec<u64>>) -> Self {
        TensorDesc {
            name: name.into(),
            shape: shape.into(),
        }
    }
}

/// Where an ONNX initializer is consumed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphHint {
    /// Operator of the first node consuming the tensor (`MatMul`, `Add`, `Gather`, …).
    pub consumer_op: String,
    /// Input slot of the tensor in that node.
    pub input_slot: usize,
    /// Position of that node in graph (topological) order.
    pub order: usize,
}

/// Boxed error of a [`TensorSource`].
pub type SourceError = Box<dyn std::error::Error + Send + Sync>;

/// Reads tensor values as `f32` (dequantized), by index into the [`TensorDesc`] list.
pub trait TensorSource {
    /// All values of tensor `index`, row-major.
    fn read_f32(&self, index: usize) -> Result<Vec<f32>, SourceError>;

    /// Rows `rows` (increasing) of 2-D tensor `index`, whose rows hold `cols` values,
    /// concatenated. The default reads the whole tensor and keeps those rows; sources over
    /// files override it to read only them.
    fn read_rows_f32(
        &self,
        index: usize,
        cols: u64,
        rows: &[u64],
    ) -> Result<Vec<f32>, SourceError> {
        let all = self.read_f32(index)?;
        let c = usize::try_from(cols)?;
        let mut out = Vec::with_capacity(rows.len().saturating_mul(c));
        for &r in rows {
            let start = usize::try_from(r)?.saturating_mul(c);
            let row = all
                .get(start..start.saturating_add(c))
                .ok_or_else(|| format!("row {r} past the {} values read", all.len()))?;
            out.extend_from_slice(row);
        }
        Ok(out)
    }
}

/// Errors of the anatomy's content steps.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnatomyError {
    /// The tensor source failed.
    #[error("tensor `{name}`: reading values failed")]
    Read {
        /// Tensor name.
        name: String,
        /// The source's error.
        #[source]
        source: SourceError,
    },
    /// The source returned a different number of values than the shape holds.
    #[error("tensor `{name}`: source returned {got} values for shape {shape:?}")]
    ValueCount {
        /// Tensor name.
        name: String,
        /// Values returned.
        got: usize,
        /// Declared shape.
        shape: Vec<u64>,
    },
}

/// How a tensor's role was assigned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "by")]
pub enum RoleSource {
    /// From the tensor's name (`scheme` `None`: vision-tower marker).
    Name {
        /// The scheme whose table matched.
        scheme: Option<SchemeId>,
        /// Wrapper prefix dropped before matching.
        stripped_prefix: String,
    },
    /// From the shape alone.
    Shape,
    /// From the ONNX graph position.
    GraphPosition,
    /// From content matching against a reference model.
    Content {
        /// The matched reference tensor's name.
        matched: String,
        /// Pearson correlation.
        r: f64,
        /// Whether stored transposed relative to the reference.
        transposed: bool,
    },
    /// From statistics that survive permutations and rotations, matched against a reference
    /// model ([`match_by_invariants`]).
    Invariant {
        /// The matched reference tensor's name.
        matched: String,
        /// Distance of the two tensors' invariant signatures.
        distance: f64,
        /// Second-best candidate's distance over the best one (how sure).
        margin: f64,
        /// Whether stored transposed relative to the reference.
        transposed: bool,
    },
    /// From the model alone: its shape skeleton and, within a shape class, statistics that
    /// survive permutations ([`infer_single`]).
    SingleModel {
        /// Shape or statistics.
        evidence: SingleEvidence,
        /// Distance from the split in units of the within-group spread (`None`: the shape
        /// decided); below 1 the statistics barely decide.
        margin: Option<f64>,
        /// The roles the shape allows, the chosen one first.
        candidates: Vec<Role>,
    },
    /// Not assigned: the role is [`Role::Unknown`].
    Unassigned,
}

/// One tensor's anatomy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorAnatomy {
    /// Name in the checkpoint.
    pub name: String,
    /// Shape.
    pub shape: Vec<u64>,
    /// Canonical name (role [`Role::Unknown`] when unassigned).
    pub canonical: CanonicalName,
    /// How the role was assigned.
    pub source: RoleSource,
    /// Storage orientation for 2-D roles.
    pub orientation: Orientation,
}

/// Inputs of [`analyze`].
#[derive(Debug, Clone, Copy, Default)]
pub struct AnatomyInput<'a> {
    /// Tensors, in checkpoint order.
    pub tensors: &'a [TensorDesc],
    /// Hugging Face `config.json`.
    pub config: Option<&'a serde_json::Value>,
    /// GGUF metadata (or a header mapped to GGUF keys, e.g. llama2.c).
    pub metadata: Option<&'a Metadata>,
    /// ONNX graph hints, aligned with `tensors`.
    pub graph: Option<&'a [Option<GraphHint>]>,
    /// Scheme to prefer on ties (e.g. [`SchemeId::Gguf`] for GGUF files).
    pub preferred_scheme: Option<SchemeId>,
}

/// A model's anatomy: description and per-tensor roles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anatomy {
    /// Architecture and hyper-parameters.
    pub description: ModelDescription,
    /// The naming scheme explaining most names.
    pub primary_scheme: Option<SchemeId>,
    /// Names explained per scheme.
    pub scheme_counts: Vec<(SchemeId, usize)>,
    /// Names no scheme explained.
    pub unmatched_names: Vec<String>,
    /// Rotary row order of Q/K.
    pub qk_row_order: QkRowOrder,
    /// Per tensor, in input order.
    pub tensors: Vec<TensorAnatomy>,
}

/// Derives the anatomy: roles from names, the description, roles of anonymous tensors from graph
/// position and shapes, and each matrix's orientation.
pub fn analyze(input: &AnatomyInput<'_>) -> Anatomy {
    let tensors = input.tensors;
    let names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
    let report = scheme::classify_names_with(&names, input.preferred_scheme);
    let mut roles: Vec<Option<CanonicalName>> = report
        .matches
        .iter()
        .map(|m| m.as_ref().map(|m| m.canonical))
        .collect();
    let mut sources: Vec<RoleSource> = report
        .matches
        .iter()
        .map(|m| match m {
            Some(m) => RoleSource::Name {
                scheme: m.scheme,
                stripped_prefix: m.stripped_prefix.clone(),
            },
            None => RoleSource::Unassigned,
        })
        .collect();
    let mut desc = describe(tensors, &roles, input.config, input.metadata);
    let mut changed = false;
    if let Some(hints) = input.graph.filter(|h| h.len() == tensors.len()) {
        for (i, c) in infer::assign_from_graph(tensors, &roles, hints, &desc) {
            roles[i] = Some(c);
            sources[i] = RoleSource::GraphPosition;
            changed = true;
        }
    }
    for (i, c) in infer::assign_from_shapes(tensors, &roles, &desc) {
        roles[i] = Some(c);
        sources[i] = RoleSource::Shape;
        changed = true;
    }
    if changed {
        desc = describe(tensors, &roles, input.config, input.metadata);
    }
    let storage = report.primary.map(|s| scheme::scheme(s).linear);
    let tensors_out = tensors
        .iter()
        .zip(roles.iter().zip(sources))
        .enumerate()
        .map(|(i, (t, (r, source)))| {
            let canonical = r.unwrap_or_else(CanonicalName::unknown);
            let st = match &source {
                RoleSource::GraphPosition => Some(scheme::LinearStorage::InOut),
                RoleSource::Name { .. } => storage,
                _ => None,
            };
            let by_op = input
                .graph
                .and_then(|g| g.get(i))
                .and_then(Option::as_ref)
                .filter(|h| h.consumer_op == "MatMul" && h.input_slot == 1)
                .map(|_| scheme::LinearStorage::InOut);
            TensorAnatomy {
                name: t.name.clone(),
                shape: t.shape.clone(),
                canonical,
                orientation: layout::orientation(canonical.role, &t.shape, &desc, by_op.or(st)),
                source,
            }
        })
        .collect();
    let gguf_arch = input
        .metadata
        .and_then(|m| m.get("general.architecture"))
        .and_then(|v| match v {
            MetaValue::Str(s) => Some(s.as_str()),
            _ => None,
        });
    Anatomy {
        qk_row_order: layout::qk_row_order(report.primary, gguf_arch, desc.family.value),
        description: desc,
        primary_scheme: report.primary,
        scheme_counts: report.scheme_counts,
        unmatched_names: report.unmatched,
        tensors: tensors_out,
    }
}

impl Anatomy {
    /// Tensors whose role is still unknown.
    pub fn unknown(&self) -> impl Iterator<Item = (usize, &TensorAnatomy)> {
        self.tensors
            .iter()
            .enumerate()
            .filter(|(_, t)| t.canonical.role == Role::Unknown)
    }

    /// The first tensor with this canonical name.
    pub fn find(&self, c: &CanonicalName) -> Option<(usize, &TensorAnatomy)> {
        self.tensors
            .iter()
            .enumerate()
            .find(|(_, t)| t.canonical == *c)
    }

    /// Overrides roles with content matches against `reference` (matches from
    /// [`match_by_content`] with this anatomy's tensors as targets): content decides.
    pub fn apply_content_matches(&mut self, reference: &Anatomy, matches: &[ContentMatch]) {
        for m in matches {
            let source = |r: &TensorAnatomy| RoleSource::Content {
                matched: r.name.clone(),
                r: m.r,
                transposed: m.transposed,
            };
            self.take_role(reference, m.target, m.reference, m.transposed, source);
        }
    }

    /// Overrides roles with invariant matches against `reference` (from
    /// [`match_by_invariants`] with this anatomy's tensors as targets).
    pub fn apply_invariant_matches(&mut self, reference: &Anatomy, matches: &[InvariantMatch]) {
        for m in matches {
            let source = |r: &TensorAnatomy| RoleSource::Invariant {
                matched: r.name.clone(),
                distance: m.distance,
                margin: m.margin,
                transposed: m.transposed,
            };
            self.take_role(reference, m.target, m.reference, m.transposed, source);
        }
    }

    /// Gives the tensors whose role is still unknown the role inferred from the model alone
    /// ([`infer_single`]); roles from names, graphs or a reference are kept. Returns how many
    /// tensors took a role.
    pub fn apply_single(&mut self, inferred: &SingleInference) -> usize {
        let mut n = 0;
        for r in &inferred.roles {
            let Some(t) = self.tensors.get_mut(r.index) else {
                continue;
            };
            if t.canonical.role != Role::Unknown {
                continue;
            }
            t.canonical = CanonicalName {
                block: r.block,
                expert: None,
                role: r.role,
                param: r.param,
            };
            t.source = RoleSource::SingleModel {
                evidence: r.evidence,
                margin: r.margin.is_finite().then_some(r.margin),
                candidates: r.candidates.clone(),
            };
            t.orientation = match (t.shape.len(), inferred.transposed) {
                (2, false) => Orientation::Expected,
                (2, true) => Orientation::Transposed,
                _ => Orientation::NotMatrix,
            };
            n += 1;
        }
        n
    }

    /// Tensor `target` takes the role of `reference`'s tensor `from`.
    fn take_role(
        &mut self,
        reference: &Anatomy,
        target: usize,
        from: usize,
        transposed: bool,
        source: impl Fn(&TensorAnatomy) -> RoleSource,
    ) {
        let (Some(t), Some(r)) = (self.tensors.get_mut(target), reference.tensors.get(from)) else {
            return;
        };
        t.canonical = r.canonical;
        t.source = source(r);
        t.orientation = match (r.orientation, transposed) {
            (Orientation::Expected, false) | (Orientation::Transposed, true) => {
                Orientation::Expected
            }
            (Orientation::Expected, true) | (Orientation::Transposed, false) => {
                Orientation::Transposed
            }
            (o, _) => o,
        };
    }

    /// The residual axis of tensor `i` as stored, from its role and orientation: the input
    /// axis of matrices that read the residual stream, the output axis of those that write it.
    pub fn residual_axis(&self, i: usize) -> Option<ResidualAxis> {
        let t = self.tensors.get(i)?;
        let reads = matches!(
            t.canonical.role,
            Role::AttnQ
                | Role::AttnK
                | Role::AttnV
                | Role::AttnQkv
                | Role::MlpGate
                | Role::MlpUp
                | Role::MlpGateUp
                | Role::TokenEmbedding
                | Role::LmHead
                | Role::PositionEmbedding
                | Role::ExpertGate
                | Role::ExpertUp
                | Role::MoeRouter
                | Role::SharedExpertGate
                | Role::SharedExpertUp
        );
        let writes = matches!(
            t.canonical.role,
            Role::AttnO | Role::MlpDown | Role::ExpertDown | Role::SharedExpertDown
        );
        // [out, in] as expected: rows are outputs; embeddings are [tokens, hidden].
        let embedding = matches!(
            t.canonical.role,
            Role::TokenEmbedding | Role::LmHead | Role::PositionEmbedding
        );
        let rows_are_out = match t.orientation {
            Orientation::Expected => true,
            Orientation::Transposed => false,
            _ => return None,
        };
        match (reads || embedding, writes) {
            (true, _) => Some(if rows_are_out {
                ResidualAxis::Cols
            } else {
                ResidualAxis::Rows
            }),
            (_, true) => Some(if rows_are_out {
                ResidualAxis::Rows
            } else {
                ResidualAxis::Cols
            }),
            _ => None,
        }
    }
}
