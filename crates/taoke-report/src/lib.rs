//! Reports people read. One report model ([`Report`], built from
//! [`taoke_evidence::Comparison`]s) rendered by pure functions into
//!
//! - terminal text ([`terminal::render`]),
//! - JSON ([`json::render`], the `Comparison` wire format, `schema_version` 1),
//! - Markdown ([`markdown::render`]),
//! - one self-contained HTML file ([`html::render`]): a verdict banner, the decisive evidence in
//!   words, the evidence table, a block × block heatmap with the layer map drawn on it, per-block
//!   values along depth, the tokenizer relation, per-component verdicts and what the verdict
//!   does not prove — inline CSS and hand-written SVG, no scripts, no network assets.
//!
//! Output is deterministic: no timestamps unless the caller passes one in
//! [`Report::generated`], stable ordering, fixed number formatting.
//!
//! [`schema`] holds the JSON Schemas of taoke's JSON outputs; [`browser`] opens an HTML file in
//! headless Chromium (used by the tests and to take the docs screenshot).
#![deny(missing_docs)]

pub mod browser;
pub mod html;
pub mod json;
pub mod markdown;
pub mod model;
pub mod schema;
pub mod svg;
pub mod terminal;

pub use model::{Expected, PairReport, Report};

/// Errors of rendering.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The HTML template failed to render.
    #[error("html template {0}")]
    Template(String),
    /// JSON serialization failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
