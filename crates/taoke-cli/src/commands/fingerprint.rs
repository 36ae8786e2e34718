//! `taoke fingerprint MODEL -o FILE`: a compact, versioned fingerprint of a model (see
//! `taoke-registry`), for `registry add`, `identify` and sharing.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use taoke_registry::Fingerprint;

use crate::output::Output;
use crate::Status;

/// `taoke fingerprint`.
#[derive(Debug, Args)]
pub struct FingerprintArgs {
    /// The model (file, folder, `org/name`, `ollama:name:tag`).
    pub model: String,
    /// Where to write the fingerprint (a safetensors file).
    #[arg(long, short)]
    pub output: PathBuf,
}

/// A model reference or a fingerprint file: the fingerprint.
pub fn load_or_fingerprint(reference: &str, out: &Output) -> anyhow::Result<Fingerprint> {
    load_or_fingerprint_file(reference, out).map(|(fp, _)| fp)
}

pub use crate::provenance::portable_source;

/// [`load_or_fingerprint`], and whether `reference` was a fingerprint file (not a model).
pub fn load_or_fingerprint_file(
    reference: &str,
    out: &Output,
) -> anyhow::Result<(Fingerprint, bool)> {
    let p = Path::new(reference);
    if p.is_file() {
        let mut head = vec![0u8; 8];
        if let Ok(mut f) = std::fs::File::open(p) {
            use std::io::Read;
            let _ = f.read_exact(&mut head);
        }
        let looks_st = u64::from_le_bytes(head[..8].try_into().unwrap_or([0; 8])) < (1 << 26);
        if looks_st && p.metadata().map(|m| m.len()).unwrap_or(0) < (64 << 20) {
            let bytes = std::fs::read(p).with_context(|| format!("cannot read `{reference}`"))?;
            if Fingerprint::sniff(&bytes) {
                return Ok((Fingerprint::from_bytes(&bytes, reference)?, true));
            }
        }
    }
    let sp = out.spinner(format!("opening {reference}"));
    let ck = taoke_model::open(reference).with_context(|| format!("cannot open `{reference}`"))?;
    sp.set(format!("fingerprinting {reference}"));
    let fp = taoke_registry::fingerprint(&ck, &portable_source(reference))
        .with_context(|| format!("cannot fingerprint `{reference}`"))?;
    sp.done();
    // As stored (f16 for large models), so that a model and its stored fingerprint compare
    // as identical.
    let bytes = fp.to_bytes()?;
    Ok((Fingerprint::from_bytes(&bytes, reference)?, false))
}

/// Runs `taoke fingerprint`.
pub fn run(args: FingerprintArgs, out: &Output) -> anyhow::Result<Status> {
    let FingerprintArgs { model, output } = args;
    // Never over the model (`fingerprint M -o M` replaced the model with its fingerprint).
    out.set_inputs(&[model.as_str()]);
    out.refuse_input(&output, &[])?;
    let fp = load_or_fingerprint(&model, out)?;
    let bytes = fp.to_bytes()?;
    taoke_registry::atomic::write(&output, &bytes)?;
    out.hint(&format!(
        "{} bytes: {} anchors, {} blocks, algorithm {}",
        bytes.len(),
        fp.anchors.len(),
        fp.blocks.len(),
        fp.algorithm()
    ));
    out.write_data(None, &format!("{}\n", output.display()))?;
    Ok(Status::Ok)
}
