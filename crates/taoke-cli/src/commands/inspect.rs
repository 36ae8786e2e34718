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

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::Context;
use serde::Serialize;
use serde_json::Value;
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
    let anatomy = taoke_evidence::view::anatomy_of(ck);
    let vocab = taoke_evidence::view::vocab_of(ck);
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
        dtypes: hist.into_values().collect(),
        tensors: ck
            .tensors
            .iter()
            .zip(&anatomy.tensors)
            .map(|(t, a)| TensorEntry {
                summary: TensorSummary::from(t),
                role: a.canonical.to_string(),
                role_source: wire(&a.source),
                orientation: wire(&a.orientation),
            })
            .collect(),
        description: serde_json::to_value(&anatomy.description).unwrap_or(Value::Null),
        role_sources: {
            let mut m = BTreeMap::new();
            for a in &anatomy.tensors {
                *m.entry(wire(&a.source)).or_insert(0) += 1;
            }
            m
        },
        tokenizer: {
            if let Some(v) = &vocab {
                tokenizer.insert(
                    "kind".into(),
                    serde_json::to_value(v.kind).unwrap_or(Value::Null),
                );
                tokenizer.insert("tokens".into(), Value::from(v.tokens.len()));
                tokenizer.insert("merges".into(), Value::from(v.merges.len()));
                tokenizer.insert("source".into(), Value::from(v.source.clone()));
            }
            (!tokenizer.is_empty()).then_some(tokenizer)
        },
        metadata,
        notes,
    }
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
    if let Some(t) = &r.tokenizer {
        let _ = writeln!(s, "\ntokenizer:");
        for (k, v) in t {
            let _ = writeln!(s, "  {}: {v}", terminal_safe(k));
        }
    }
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
        let pad = w.saturating_sub(name.chars().count());
        let _ = writeln!(
            s,
            "  {name}{:pad$}  {:<8} {:<18} {:>10}  {}{}{}",
            "",
            t.summary.dtype,
            format!("{:?}", t.summary.shape),
            bytes(t.summary.bytes),
            terminal_safe(&t.role),
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
    for n in &r.notes {
        let _ = writeln!(s, "\nnote: {}", terminal_safe(n));
    }
    s
}
