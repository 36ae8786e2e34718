//! `taoke inspect`: what a checkpoint holds.
//!
//! # JSON format (`--format json`, `schema_version` 1)
//! ```text
//! { "schema_version": 1, "path", "reference", "format": "safetensors|gguf|onnx|pytorch|llama2c",
//!   "files": [{"path","bytes"}], "architecture": {key: value}, "tensor_count", "parameter_count",
//!   "stored_bytes", "dtypes": [{"dtype","tensors","parameters","bytes"}],
//!   "tensors": [{"name","shape","dtype","bytes"}], "tokenizer": {...} | null,
//!   "metadata": {key: short value}, "notes": [..] }
//! ```
//!
//! When some tensors have no role from their names (opaque names), the roles inferred from the
//! model alone are added: per tensor `role_source` `single-model`, `role_candidates` (the
//! roles its shape allows, the chosen one first) and `role_margin` (how sure; below 1 the
//! statistics barely decide), and at the top `inferred` (the skeleton read from the shapes).
//! Reports of models whose names explain every tensor are unchanged.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::Context;
use serde::Serialize;
use serde_json::Value;
use taoke_anatomy::RoleSource;
use taoke_model::{Checkpoint, MetaValue, TensorSummary};

use crate::args::{Format, InspectArgs};
use crate::output::Output;
use crate::Status;

/// The inspect report (JSON wire type).
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct InspectReport {
    /// Always 1 for this layout.
    pub schema_version: u32,
    /// Resolved path.
    pub path: String,
    /// What the user gave.
    pub reference: String,
    /// Container format.
    pub format: String,
    /// Files read.
    pub files: Vec<FileEntry>,
    /// Architecture hints from config.json or format metadata.
    pub architecture: BTreeMap<String, Value>,
    /// Number of tensors.
    pub tensor_count: usize,
    /// Total elements.
    pub parameter_count: u64,
    /// Total stored bytes of tensor data.
    pub stored_bytes: u64,
    /// Histogram by stored dtype.
    pub dtypes: Vec<DtypeCount>,
    /// Every tensor.
    pub tensors: Vec<TensorEntry>,
    /// Architecture description from the anatomy (config, GGUF metadata or shapes), with the
    /// source of each field.
    pub description: serde_json::Value,
    /// How roles were assigned: tensors per source (`name`, `shape`, `graph-position`,
    /// `unassigned`).
    pub role_sources: BTreeMap<String, usize>,
    /// Tokenizer summary when one is found.
    pub tokenizer: Option<BTreeMap<String, Value>>,
    /// Other metadata (short renderings).
    pub metadata: BTreeMap<String, String>,
    /// The skeleton inferred from the shapes when names left tensors without a role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inferred: Option<InferredSkeleton>,
    /// Remarks.
    pub notes: Vec<String>,
}

/// One tensor: the stored facts plus its canonical role.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct TensorEntry {
    /// Stored name, shape, dtype, bytes.
    #[serde(flatten)]
    #[schemars(with = "taoke_report::schema::TensorSummary")]
    pub summary: TensorSummary,
    /// Canonical name (`blk.3.attn_q.weight`, `unknown.weight` when unassigned).
    pub role: String,
    /// How the role was assigned (`name`, `shape`, `graph-position`, `unassigned`).
    pub role_source: String,
    /// Storage orientation of matrices (`expected`, `transposed`, `ambiguous`, …).
    pub orientation: String,
    /// For roles inferred from the model alone: the roles the shape allows, the chosen one
    /// first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_candidates: Option<Vec<String>>,
    /// For roles inferred by statistics: distance from the split in units of the
    /// within-group spread (below 1: barely decided).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_margin: Option<f64>,
}

/// The architecture skeleton read from the shapes alone (names and config.json not trusted).
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct InferredSkeleton {
    /// Residual width.
    pub hidden: u64,
    /// Blocks.
    pub layers: u64,
    /// MLP width.
    pub intermediate: Option<u64>,
    /// Head dimension used by the head statistics.
    pub head_dim: Option<u64>,
    /// Gated MLP.
    pub gated: bool,
    /// Matrices stored `[in, out]`.
    pub transposed: bool,
    /// Whether the block of each tensor was recovered (else roles carry no block index).
    pub blocks_ordered: bool,
    /// Tensors that took a role.
    pub assigned: usize,
}

/// One file.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct FileEntry {
    /// Path.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// One dtype's share.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct DtypeCount {
    /// Stored type name.
    pub dtype: String,
    /// Tensors of this type.
    pub tensors: usize,
    /// Elements in them.
    pub parameters: u64,
    /// Stored bytes.
    pub bytes: u64,
}

/// Runs `taoke inspect`.
pub fn run(args: InspectArgs, out: &Output) -> anyhow::Result<Status> {
    let InspectArgs {
        model,
        format,
        output,
        max_tensors,
    } = args;
    let ck = taoke_model::open(&model).with_context(|| format!("cannot open `{model}`"))?;
    let report = build(&ck);
    let text = match format {
        Format::Json => serde_json::to_string_pretty(&report)? + "\n",
        Format::Terminal => render_terminal(&report, max_tensors, out),
    };
    out.write_data(output.as_deref(), &text)?;
    Ok(Status::Ok)
}

const CONFIG_KEYS: &[&str] = &[
    "model_type",
    "architectures",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "vocab_size",
    "max_position_embeddings",
    "rope_theta",
    "rms_norm_eps",
    "layer_norm_eps",
    "hidden_act",
    "tie_word_embeddings",
    "num_local_experts",
    "num_experts_per_tok",
    "torch_dtype",
];

fn meta_json(v: &MetaValue) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn wire<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        Ok(Value::Object(o)) => o
            .get("by")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_owned(),
        _ => "unknown".to_owned(),
    }
}

/// Builds the report from an opened checkpoint.
pub fn build(ck: &Checkpoint) -> InspectReport {
    let mut anatomy = taoke_evidence::view::anatomy_of(ck);
    let vocab = taoke_evidence::view::vocab_of(ck);
    let (architecture, metadata, mut tokenizer) = architecture_and_metadata(ck);
    let mut notes = ck.notes.clone();
    let unknown: Vec<&str> = ck
        .tensors
        .iter()
        .filter(|t| t.dtype == taoke_dtype::Dtype::Unknown)
        .map(|t| t.name.as_str())
        .collect();
    if !unknown.is_empty() {
        notes.push(format!(
            "{} tensor(s) have a dtype this version cannot decode (listed, not read): {}",
            unknown.len(),
            unknown
                .iter()
                .take(5)
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let inferred = infer_roles(ck, &mut anatomy, &mut notes);
    if let Some(v) = &vocab {
        tokenizer.insert(
            "kind".into(),
            serde_json::to_value(v.kind).unwrap_or(Value::Null),
        );
        tokenizer.insert("tokens".into(), Value::from(v.tokens.len()));
        tokenizer.insert("merges".into(), Value::from(v.merges.len()));
        tokenizer.insert("source".into(), Value::from(v.source.clone()));
    }
    InspectReport {
        schema_version: 1,
        path: ck.path.display().to_string(),
        reference: ck.reference.clone(),
        format: ck.format.name().to_owned(),
        files: ck
            .files
            .iter()
            .map(|f| FileEntry {
                path: f.path.display().to_string(),
                bytes: f.len,
            })
            .collect(),
        architecture,
        tensor_count: ck.tensors.len(),
        parameter_count: ck.parameter_count(),
        stored_bytes: ck.tensors.iter().map(|t| t.stored_bytes).sum(),
        dtypes: dtype_histogram(ck),
        tensors: tensor_entries(ck, &anatomy),
        description: serde_json::to_value(&anatomy.description).unwrap_or(Value::Null),
        role_sources: {
            let mut m = BTreeMap::new();
            for a in &anatomy.tensors {
                *m.entry(wire(&a.source)).or_insert(0) += 1;
            }
            m
        },
        tokenizer: (!tokenizer.is_empty()).then_some(tokenizer),
        metadata,
        inferred,
        notes,
    }
}

type Sections = (
    BTreeMap<String, Value>,
    BTreeMap<String, String>,
    BTreeMap<String, Value>,
);

/// Architecture hints, other metadata and the tokenizer section (before the vocabulary).
fn architecture_and_metadata(ck: &Checkpoint) -> Sections {
    let mut architecture = BTreeMap::new();
    if let Some(cfg) = &ck.config {
        for k in CONFIG_KEYS {
            if let Some(v) = cfg.get(*k) {
                architecture.insert((*k).to_owned(), v.clone());
            }
        }
    }
    let mut metadata = BTreeMap::new();
    let mut tokenizer = BTreeMap::new();
    let arch = ck.meta("general.architecture").and_then(|v| v.as_str());
    for (k, v) in &ck.metadata {
        if let Some(rest) = k.strip_prefix("tokenizer.") {
            let val = match v {
                MetaValue::Array(a) => Value::from(a.len()),
                MetaValue::Str(s) if s.len() > 200 => Value::from(format!("({} chars)", s.len())),
                other => meta_json(other),
            };
            tokenizer.insert(rest.to_owned(), val);
            continue;
        }
        let is_arch = k.starts_with("general.")
            || k.starts_with("llama2c.")
            || arch.is_some_and(|a| k.starts_with(&format!("{a}.")));
        if is_arch && !matches!(v, MetaValue::Array(_)) {
            architecture.insert(k.clone(), meta_json(v));
        } else {
            metadata.insert(k.clone(), v.short());
        }
    }
    for f in &ck.side_files {
        if let Some(n) = f.file_name().and_then(|n| n.to_str()) {
            if n.starts_with("tokenizer") || n.starts_with("vocab") || n == "merges.txt" {
                let files = tokenizer
                    .entry("files".to_owned())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(a) = files {
                    a.push(Value::from(n));
                }
            }
        }
    }
    (architecture, metadata, tokenizer)
}

fn dtype_histogram(ck: &Checkpoint) -> Vec<DtypeCount> {
    let mut hist: BTreeMap<String, DtypeCount> = BTreeMap::new();
    for t in &ck.tensors {
        let e = hist
            .entry(t.dtype_name.clone())
            .or_insert_with(|| DtypeCount {
                dtype: t.dtype_name.clone(),
                tensors: 0,
                parameters: 0,
                bytes: 0,
            });
        e.tensors += 1;
        e.parameters += t.n_elements();
        e.bytes += t.stored_bytes;
    }
    hist.into_values().collect()
}

fn tensor_entries(ck: &Checkpoint, anatomy: &taoke_anatomy::Anatomy) -> Vec<TensorEntry> {
    ck.tensors
        .iter()
        .zip(&anatomy.tensors)
        .map(|(t, a)| {
            let (role_candidates, role_margin) = match &a.source {
                RoleSource::SingleModel {
                    candidates, margin, ..
                } => (
                    Some(candidates.iter().map(|r| r.as_str().to_owned()).collect()),
                    margin.map(|m| (m * 100.0).round() / 100.0),
                ),
                _ => (None, None),
            };
            TensorEntry {
                summary: TensorSummary::from(t),
                role: a.canonical.to_string(),
                role_source: wire(&a.source),
                orientation: wire(&a.orientation),
                role_candidates,
                role_margin,
            }
        })
        .collect()
}

/// Reads sampled rows of a checkpoint's tensors for the single-model inference.
struct Rows<'a>(&'a Checkpoint);

impl taoke_anatomy::TensorSource for Rows<'_> {
    fn read_f32(&self, index: usize) -> Result<Vec<f32>, taoke_anatomy::SourceError> {
        let t = self.0.tensors.get(index).ok_or("no such tensor")?;
        Ok(self.0.read_f32(t)?)
    }

    fn read_rows_f32(
        &self,
        index: usize,
        cols: u64,
        rows: &[u64],
    ) -> Result<Vec<f32>, taoke_anatomy::SourceError> {
        let t = self.0.tensors.get(index).ok_or("no such tensor")?;
        let c = usize::try_from(cols)?;
        let mut out = vec![0f32; rows.len().checked_mul(c).ok_or("row sample too large")?];
        // Consecutive rows are read together.
        let mut k = 0;
        while k < rows.len() {
            let mut n = 1;
            while k + n < rows.len() && rows[k + n] == rows[k] + n as u64 {
                n += 1;
            }
            self.0
                .read_rows(t, rows[k], n as u64, &mut out[k * c..(k + n) * c])?;
            k += n;
        }
        Ok(out)
    }
}

/// A note on the named matrices whose values clearly say another role (lying or misleading
/// names: GPT-2's `c_fc` on a llama gate), at most five listed.
fn disagreements(
    anatomy: &taoke_anatomy::Anatomy,
    inf: &taoke_anatomy::SingleInference,
) -> Option<String> {
    let found: Vec<String> = inf
        .roles
        .iter()
        .filter(|r| r.decided())
        .filter_map(|r| {
            let t = anatomy.tensors.get(r.index)?;
            // Matrices only: the statistics of norm vectors are too weak to overrule a name.
            let named = matches!(t.source, RoleSource::Name { .. }) && t.shape.len() == 2;
            let differs = t.canonical.role != taoke_anatomy::Role::Unknown
                && t.canonical.role != r.role
                && t.canonical.param == r.param;
            (named && differs).then(|| {
                format!(
                    "`{}` is named {}, its values say {}",
                    t.name, t.canonical.role, r.role
                )
            })
        })
        .collect();
    (!found.is_empty()).then(|| {
        format!(
            "names and values disagree on {} tensor(s): {}",
            found.len(),
            found.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
        )
    })
}

/// When names leave tensors without a role, infers them from the model alone (shapes and
/// sampled statistics) and applies them; a read failure becomes a note.
fn infer_roles(
    ck: &Checkpoint,
    anatomy: &mut taoke_anatomy::Anatomy,
    notes: &mut Vec<String>,
) -> Option<InferredSkeleton> {
    let unknown = anatomy
        .unknown()
        .filter(|(_, t)| matches!(t.shape.len(), 1 | 2))
        .count();
    if unknown == 0 {
        return None;
    }
    let descs = taoke_evidence::view::descs(ck);
    let inf = match taoke_anatomy::infer_single(&descs, ck.config.as_ref(), &Rows(ck)) {
        Ok(Some(inf)) => inf,
        Ok(None) => return None,
        Err(e) => {
            notes.push(format!("roles not inferred from the values: {e}"));
            return None;
        }
    };
    if let Some(n) = disagreements(anatomy, &inf) {
        notes.push(n);
    }
    let assigned = anatomy.apply_single(&inf);
    notes.extend(inf.notes.iter().cloned());
    let blocks_ordered = anatomy
        .tensors
        .iter()
        .filter(|t| matches!(t.source, RoleSource::SingleModel { .. }))
        .filter(|t| t.canonical.role.kind() == taoke_anatomy::role::RoleKind::Block)
        .all(|t| t.canonical.block.is_some());
    Some(InferredSkeleton {
        hidden: inf.hidden,
        layers: inf.layers,
        intermediate: inf.intermediate,
        head_dim: inf.head_dim,
        gated: inf.gated,
        transposed: inf.transposed,
        blocks_ordered,
        assigned,
    })
}

fn human(n: u64) -> String {
    let f = n as f64;
    if f >= 1e9 {
        format!("{:.2} B", f / 1e9)
    } else if f >= 1e6 {
        format!("{:.1} M", f / 1e6)
    } else if f >= 1e3 {
        format!("{:.1} K", f / 1e3)
    } else {
        n.to_string()
    }
}

fn bytes(n: u64) -> String {
    let f = n as f64;
    if f >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2} GiB", f / 1024f64.powi(3))
    } else if f >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", f / 1024f64.powi(2))
    } else if f >= 1024.0 {
        format!("{:.1} KiB", f / 1024.0)
    } else {
        format!("{n} B")
    }
}

/// Widest name column of the terminal tensor table, in characters.
const NAME_COLUMN_CAP: usize = 96;

/// `text` with control characters (C0, DEL, C1; including newlines and escapes) replaced by
/// their `\u{..}` escapes, so a hostile name cannot move the cursor or forge lines.
fn terminal_safe(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

fn render_tensors(s: &mut String, r: &InspectReport, max_tensors: usize) {
    let shown = if max_tensors == 0 {
        r.tensors.len()
    } else {
        max_tensors.min(r.tensors.len())
    };
    let _ = writeln!(s, "\ntensors ({} of {}):", shown, r.tensors.len());
    let names: Vec<String> = r
        .tensors
        .iter()
        .take(shown)
        .map(|t| terminal_safe(&t.summary.name))
        .collect();
    // Pad names to a common width, but never past NAME_COLUMN_CAP characters (a longer name
    // runs over; format widths above u16::MAX would panic).
    let w = names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(0)
        .min(NAME_COLUMN_CAP);
    for (t, name) in r.tensors.iter().take(shown).zip(&names) {
        let inferred = if t.role_source == "name" { "" } else { " *" };
        let role = role_text(t);
        let pad = w.saturating_sub(name.chars().count());
        let _ = writeln!(
            s,
            "  {name}{:pad$}  {:<8} {:<18} {:>10}  {}{}{}",
            "",
            t.summary.dtype,
            format!("{:?}", t.summary.shape),
            bytes(t.summary.bytes),
            terminal_safe(&role),
            inferred,
            if t.orientation == "transposed" {
                " (stored transposed)"
            } else {
                ""
            }
        );
    }
    let _ = writeln!(
        s,
        "  roles assigned by: {}  (* = not from the name)",
        r.role_sources
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if shown < r.tensors.len() {
        let _ = writeln!(
            s,
            "  … {} more (--max-tensors 0 lists all)",
            r.tensors.len() - shown
        );
    }
}

/// The role as shown: inferred roles the statistics barely decide list their candidates.
fn role_text(t: &TensorEntry) -> String {
    match (&t.role_candidates, t.role_margin) {
        (Some(c), Some(m)) if m < taoke_anatomy::single::DECIDED_MARGIN && c.len() > 1 => {
            // `blk.3.attn_q.weight` → `blk.3.attn_q|attn_output.weight`
            let (head, param) = t
                .role
                .rsplit_once('.')
                .unwrap_or((t.role.as_str(), "weight"));
            let prefix = head.rsplit_once('.').map_or("", |x| x.0);
            let sep = if prefix.is_empty() { "" } else { "." };
            format!(
                "{prefix}{sep}{}.{param} (undecided, margin {m:.2})",
                c.join("|")
            )
        }
        (Some(_), Some(m)) => format!("{} (margin {m:.2})", t.role),
        _ => t.role.clone(),
    }
}

fn render_terminal(r: &InspectReport, max_tensors: usize, out: &Output) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} {} — {} tensors, {} parameters ({}), {}",
        out.bold(&r.format),
        terminal_safe(&r.path),
        r.tensor_count,
        human(r.parameter_count),
        r.parameter_count,
        bytes(r.stored_bytes)
    );
    if r.files.len() > 1 {
        let _ = writeln!(s, "\nfiles ({}):", r.files.len());
        for f in &r.files {
            let _ = writeln!(s, "  {}  {}", terminal_safe(&f.path), bytes(f.bytes));
        }
    }
    if !r.architecture.is_empty() {
        let _ = writeln!(s, "\narchitecture:");
        for (k, v) in &r.architecture {
            let _ = writeln!(s, "  {}: {v}", terminal_safe(k));
        }
    }
    let _ = writeln!(s, "\ndtypes:");
    for d in &r.dtypes {
        let _ = writeln!(
            s,
            "  {:<8} {:>6} tensors  {:>10} params  {:>10}",
            d.dtype,
            d.tensors,
            human(d.parameters),
            bytes(d.bytes)
        );
    }
    if let Some(i) = &r.inferred {
        let _ = writeln!(
            s,
            "\nroles inferred from the model alone for {} tensors the names leave unknown: {} blocks, width {}, MLP {}{}, head dim {}{}",
            i.assigned,
            i.layers,
            i.hidden,
            i.intermediate.map_or("?".to_owned(), |x| x.to_string()),
            if i.gated { " gated" } else { "" },
            i.head_dim.map_or("?".to_owned(), |x| x.to_string()),
            if i.blocks_ordered { "" } else { "; block order not recovered" }
        );
    }
    if let Some(t) = &r.tokenizer {
        let _ = writeln!(s, "\ntokenizer:");
        for (k, v) in t {
            let _ = writeln!(s, "  {}: {v}", terminal_safe(k));
        }
    }
    render_tensors(&mut s, r, max_tensors);
    for n in &r.notes {
        let _ = writeln!(s, "\nnote: {}", terminal_safe(n));
    }
    s
}
