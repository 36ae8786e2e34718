//! taoke-audit: what a model's lineage brings with it.
//!
//! Given a model and its verified ancestors (from weight comparison, [`lineage::verify`], or
//! later a registry), [`audit()`] reports for each ancestor its publisher and country, the
//! licences it carries and their duties — checked mechanically where that is possible (the
//! released name's prefix, the attribution string in the model card, the declared licence,
//! notice and licence files) — a training-compute estimate (6·N·D, active parameters for
//! mixture-of-experts) against every compute-threshold rule with its status at a date, and the
//! status at that date of export-control and base-model filing rules. Everything comes from a
//! knowledge base of sourced facts ([`kb::Kb`], the repository's `kb/` folder, embedded), each
//! with a source URL and a confidence. It is never legal advice ([`audit::DISCLAIMER`]).
//!
//! Outputs: JSON (serde), Markdown ([`markdown::render`]) and a CycloneDX 1.6 ML-BOM
//! ([`cyclonedx::bom`]).
#![deny(missing_docs)]

pub mod audit;
pub mod compute;
pub mod cyclonedx;
pub mod date;
pub mod identity;
pub mod kb;
pub mod lineage;
pub mod markdown;
pub mod model;
pub mod tag;

use std::path::{Path, PathBuf};

pub use audit::{audit, AncestorInput, Audit, AuditOptions, CheckStatus, Lineage, LineageMethod};
pub use date::Date;
pub use identity::Identity;
pub use kb::Kb;
pub use lineage::Candidate;
pub use model::ModelFacts;

/// Errors of the audit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A knowledge-base file does not parse or has the wrong schema version.
    #[error("knowledge base {file}: {msg}")]
    Kb {
        /// The file.
        file: String,
        /// What is wrong.
        msg: String,
    },
    /// The knowledge base is inconsistent.
    #[error("knowledge base inconsistent: {}", .0.join("; "))]
    Inconsistent(Vec<String>),
    /// A knowledge-base tag (`--base PATH=ID`) names no checkpoint or family.
    #[error("`{id}` is not a checkpoint or family id of the knowledge base{}", near_list(.near))]
    UnknownKbId {
        /// The id given.
        id: String,
        /// The nearest valid ids.
        near: Vec<String>,
    },
    /// A knowledge-base tag does not fit the model it is put on.
    #[error("`{reference}` is not `{id}`: {reason}")]
    TagMismatch {
        /// The tagged model.
        reference: String,
        /// The tag.
        id: String,
        /// Why it does not fit.
        reason: String,
    },
    /// Reading a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A candidate base could not be opened or compared.
    #[error("candidate base `{reference}`: {msg}")]
    Candidate {
        /// The candidate.
        reference: String,
        /// What went wrong.
        msg: String,
    },
}

fn near_list(near: &[String]) -> String {
    if near.is_empty() {
        "; `taoke kb list` shows the ids".to_owned()
    } else {
        format!(
            "; did you mean {}? (`taoke kb list` shows every id)",
            near.iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
