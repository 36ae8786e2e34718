//! taoke (套殼) as a library: is this model derived from that one, how, and how sure are we?
//!
//! ```no_run
//! let a = taoke::open("models/base")?;                 // a folder, file, `org/name`, `ollama:…`
//! let b = taoke::open("models/suspect.gguf")?;
//! let c = taoke::compare(&a, &b, &taoke::Options::default())?;
//! println!("{}: {}", c.verdict.as_str(), c.decisive);  // e.g. "related: … p = 1e-212 …"
//! # Ok::<(), taoke::Error>(())
//! ```
//!
//! # What is here
//!
//! | function | what it does | result |
//! |---|---|---|
//! | [`open`] | reads a checkpoint (safetensors, GGUF, ONNX, PyTorch, llama2.c, HF cache, Ollama) without loading its weights | [`Checkpoint`] |
//! | [`inspect`] | the anatomy of a checkpoint: architecture, roles of its tensors | [`Anatomy`] |
//! | [`compare`] | the calibrated lineage tests between two checkpoints | [`Comparison`] (verdict, kinds, p-value, evidence) |
//! | [`compare_with`] | the same, with context models among which a merge's parents are sought | [`Comparison`] |
//! | [`fingerprint`] | a compact fingerprint of a checkpoint, to store and identify | [`Fingerprint`] |
//! | [`identify`] | which known model of a [`Registry`] is inside a fingerprinted model | [`Identification`] |
//! | [`census`] | the lineage forest of many fingerprinted models | [`Census`] |
//! | [`audit`] | the licence duties and rules a model inherits from its known ancestors | [`Audit`] |
//!
//! Long operations take a [`Control`] where they can be observed or stopped: a progress
//! callback and an interrupt flag, checked between stages.
//!
//! The crates underneath stay available for deeper use: [`model`] (formats and tensors),
//! [`evidence`] (the tests), [`registry`] (fingerprints, identify, census), [`audit`](mod@audit_crate).

#![deny(missing_docs)]

use std::sync::atomic::{AtomicBool, Ordering};

pub use taoke_audit as audit_crate;
pub use taoke_evidence as evidence;
pub use taoke_model as model;
pub use taoke_registry as registry;

pub use taoke_anatomy::Anatomy;
pub use taoke_audit::{Audit, AuditOptions};
pub use taoke_evidence::view::anatomy_of;
pub use taoke_evidence::{
    Comparison, Context, Direction, Evidence, Kind, Options, Scope, TestId, Verdict,
};
pub use taoke_model::{Checkpoint, OpenOptions};
pub use taoke_registry::census::Census;
pub use taoke_registry::identify::Identification;
pub use taoke_registry::registry::Registry;
pub use taoke_registry::Fingerprint;

/// Errors of the library. Each names the file (and the tensor) it is about.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading a checkpoint failed.
    #[error(transparent)]
    Model(#[from] taoke_model::Error),
    /// A comparison failed.
    #[error(transparent)]
    Evidence(#[from] taoke_evidence::Error),
    /// Fingerprinting, the registry, identify or census failed.
    #[error(transparent)]
    Registry(#[from] taoke_registry::Error),
    /// The operation was interrupted through its [`Control`].
    #[error("interrupted")]
    Interrupted,
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Progress and interruption of a long operation, as gitoxide passes them: the caller keeps
/// the flag (set it from a signal handler or another thread) and sees each stage's name.
#[derive(Default)]
pub struct Control<'a> {
    progress: Option<&'a (dyn Fn(&str) + Sync)>,
    interrupt: Option<&'a AtomicBool>,
}

impl<'a> Control<'a> {
    /// No progress, no interrupt.
    pub fn none() -> Control<'a> {
        Control::default()
    }

    /// Calls `f` with the name of each stage as it starts.
    pub fn progress(mut self, f: &'a (dyn Fn(&str) + Sync)) -> Control<'a> {
        self.progress = Some(f);
        self
    }

    /// Stops at the next stage boundary once `flag` is set.
    pub fn interrupt(mut self, flag: &'a AtomicBool) -> Control<'a> {
        self.interrupt = Some(flag);
        self
    }

    /// Reports `stage`, or fails with [`Error::Interrupted`] when the flag is set.
    pub fn stage(&self, stage: &str) -> Result<()> {
        if self.interrupt.is_some_and(|f| f.load(Ordering::Relaxed)) {
            return Err(Error::Interrupted);
        }
        if let Some(p) = self.progress {
            p(stage);
        }
        Ok(())
    }
}

/// Opens a checkpoint: a weight file, a model folder (single or sharded), a Hugging Face
/// cache repo id (`org/name`) or an Ollama model (`ollama:name:tag`). Only headers are read;
/// tensor values are decoded on demand.
pub fn open(reference: impl AsRef<str>) -> Result<Checkpoint> {
    Ok(taoke_model::open(reference)?)
}

/// The anatomy of a checkpoint: architecture family, residual width, blocks, and the
/// canonical role of every tensor (found by name, ONNX graph position, shape or content).
pub fn inspect(ck: &Checkpoint) -> Anatomy {
    anatomy_of(ck)
}

/// Compares two checkpoints: verdict (`identical`, `same-weights`, `related`, `independent`,
/// `inconclusive`), kinds, direction, a p-value against a measured null, and the evidence.
pub fn compare(a: &Checkpoint, b: &Checkpoint, opts: &Options) -> Result<Comparison> {
    Ok(taoke_evidence::compare(a, b, opts)?)
}

/// [`compare`] with context models: a side of a related pair that is a merge of two of them
/// (or of one of them and the other side) is named a merge, with its parents.
pub fn compare_with(
    a: &Checkpoint,
    b: &Checkpoint,
    opts: &Options,
    ctx: &Context<'_>,
    control: &Control<'_>,
) -> Result<Comparison> {
    control.stage("compare")?;
    Ok(taoke_evidence::compare_with(a, b, opts, ctx)?)
}

/// A fingerprint of a checkpoint (`source` is recorded as its origin).
pub fn fingerprint(ck: &Checkpoint, source: &str) -> Result<Fingerprint> {
    Ok(taoke_registry::fingerprint(ck, source)?)
}

/// Which known model of `registry` is inside the fingerprinted `query`: a prescreen of every
/// entry, then the exact tests on the best candidates; `known-ancestor` only below α.
pub fn identify(
    query: &Fingerprint,
    registry: &Registry,
    opts: &taoke_registry::identify::Options,
    control: &Control<'_>,
) -> Result<Identification> {
    control.stage("prescreen")?;
    let entries = registry.entries()?;
    control.stage("exact tests")?;
    Ok(taoke_registry::identify::identify(
        query,
        &entries,
        &mut |i| registry.load(entries[i].id),
        opts,
    )?)
}

/// The lineage forest of labelled fingerprints: families, parent edges with their verdicts
/// and kinds.
pub fn census(
    models: &[(String, Fingerprint)],
    alpha: f64,
    control: &Control<'_>,
) -> Result<Census> {
    control.stage("census")?;
    Ok(taoke_registry::census::census(models, alpha)?)
}

/// The duties and rules `model` inherits from its ancestors in the knowledge base.
pub fn audit(
    kb: &taoke_audit::Kb,
    model: &taoke_audit::ModelFacts,
    ancestors: &[taoke_audit::AncestorInput],
    opts: &AuditOptions,
) -> Audit {
    taoke_audit::audit(kb, model, ancestors, opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interrupt_stops_at_the_next_stage() {
        let flag = AtomicBool::new(false);
        let seen = std::sync::Mutex::new(Vec::new());
        let log = |s: &str| seen.lock().unwrap().push(s.to_owned());
        let c = Control::none().progress(&log).interrupt(&flag);
        c.stage("one").unwrap();
        flag.store(true, Ordering::Relaxed);
        assert!(matches!(c.stage("two"), Err(Error::Interrupted)));
        assert_eq!(*seen.lock().unwrap(), ["one"]);
    }
}
