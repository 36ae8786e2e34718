//! Candidate ancestors and their verification by weight comparison.
//!
//! A [`Candidate`] is a base model at hand (a path or repository id) optionally tagged with the
//! knowledge-base id it is. [`verify`] compares it with the audited model
//! ([`taoke_evidence::compare`]) and returns an [`AncestorInput`] for [`crate::audit()`]. A later
//! registry lookup (`identify`) can produce `AncestorInput`s directly.

use std::str::FromStr;

use taoke_model::Checkpoint;

use crate::audit::{AncestorInput, Lineage, LineageMethod};
use crate::kb::Kb;
use crate::model::ModelFacts;
use crate::{tag, Error};

/// A candidate base: `PATH` or `PATH=KB_ID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Path, folder or repository id of the base's weights.
    pub reference: String,
    /// The knowledge-base checkpoint (or family) id it is, when the user says so.
    pub kb_id: Option<String>,
}

impl FromStr for Candidate {
    type Err = String;
    /// `PATH` or `PATH=KB_ID` (split at the last `=`; a KB id never holds `/` or `=`).
    fn from_str(s: &str) -> Result<Candidate, String> {
        match s.rsplit_once('=') {
            Some((p, id)) if !id.contains('/') && !id.contains('\\') => {
                if p.is_empty() || id.is_empty() {
                    return Err(format!("`{s}`: expected PATH or PATH=KB_ID"));
                }
                Ok(Candidate {
                    reference: p.to_owned(),
                    kb_id: Some(id.to_owned()),
                })
            }
            _ if s.is_empty() => Err("empty --base".to_owned()),
            _ => Ok(Candidate {
                reference: s.to_owned(),
                kb_id: None,
            }),
        }
    }
}

/// Names a checkpoint gives itself, with where each came from: GGUF `general.name`,
/// `config.json` `_name_or_path`, the folder or file stem.
pub fn self_names(ck: &Checkpoint) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(n) = ck.meta("general.name").and_then(|v| v.as_str()) {
        out.push((n.to_owned(), "general.name".to_owned()));
    }
    if let Some(n) = ck
        .config
        .as_ref()
        .and_then(|c| c.get("_name_or_path"))
        .and_then(|v| v.as_str())
    {
        out.push((n.to_owned(), "config.json _name_or_path".to_owned()));
    }
    let folder = if ck.path.is_dir() {
        Some(ck.path.as_path())
    } else {
        ck.folder.as_deref()
    };
    if let Some(n) = folder.and_then(|f| f.file_name()) {
        out.push((n.to_string_lossy().into_owned(), "folder name".to_owned()));
    }
    if let Some(n) = ck.path.file_stem().filter(|_| ck.path.is_file()) {
        out.push((n.to_string_lossy().into_owned(), "file name".to_owned()));
    }
    out
}

/// The knowledge-base checkpoint a base checkpoint names itself as, if any.
pub fn match_kb(kb: &Kb, ck: &Checkpoint) -> Option<(String, String)> {
    self_names(ck).into_iter().find_map(|(n, origin)| {
        kb.find_checkpoint(&n)
            .map(|(_, c)| (c.id.clone(), format!("name match: {origin} \"{n}\"")))
    })
}

/// The lineage evidence of one comparison (A = candidate base, B = audited model).
pub fn lineage_of(c: &taoke_evidence::Comparison) -> Lineage {
    let direction = serde_json::to_value(c.direction)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into());
    Lineage {
        method: LineageMethod::WeightComparison,
        verdict: c.verdict.as_str().to_owned(),
        kinds: c.kinds.iter().map(|k| k.as_str().to_owned()).collect(),
        direction,
        p_value: c.p_value,
        log10_p_value: c.log10_p_value,
        summary: c.decisive.clone(),
    }
}

/// The knowledge-base id of a base and where it came from, after checking it fits the base
/// ([`crate::tag::check`]): a `--base` tag that does not fit is an error, a name match that
/// does not fit is dropped with a note.
fn kb_id_of(
    kb: &Kb,
    base: &Checkpoint,
    facts: &ModelFacts,
    candidate: &Candidate,
    notes: &mut Vec<String>,
) -> Result<(Option<String>, Option<String>), Error> {
    if let Some(id) = &candidate.kb_id {
        let tagged = kb.resolve_tag(id)?;
        let fit = tag::check(facts, tagged).map_err(|reason| Error::TagMismatch {
            reference: candidate.reference.clone(),
            id: id.clone(),
            reason,
        })?;
        notes.push(fit);
        return Ok((Some(id.clone()), Some("--base tag".to_owned())));
    }
    let Some((id, origin)) = match_kb(kb, base) else {
        return Ok((None, None));
    };
    match tag::check(facts, kb.resolve_tag(&id)?) {
        Ok(fit) => {
            notes.push(fit);
            Ok((Some(id), Some(origin)))
        }
        Err(reason) => {
            notes.push(format!(
                "{origin} suggests knowledge-base id `{id}`, not used: {reason}"
            ));
            Ok((None, None))
        }
    }
}

/// Opens the candidate, checks its knowledge-base tag against it (the tag, else a name match;
/// an unknown id or a tag that does not fit the weights is an error), compares it with the
/// audited model, and names it by its portable identity (file digests computed here).
pub fn verify(
    kb: &Kb,
    model: &Checkpoint,
    candidate: &Candidate,
    opts: &taoke_evidence::Options,
) -> Result<AncestorInput, Error> {
    if let Some(id) = &candidate.kb_id {
        kb.resolve_tag(id)?;
    }
    let candidate_error = |msg: String| Error::Candidate {
        reference: candidate.reference.clone(),
        msg,
    };
    let base =
        taoke_model::open(&candidate.reference).map_err(|e| candidate_error(e.to_string()))?;
    let facts = ModelFacts::from_checkpoint(&base);
    let mut notes = Vec::new();
    let (kb_id, kb_id_origin) = kb_id_of(kb, &base, &facts, candidate, &mut notes)?;
    let cmp =
        taoke_evidence::compare(&base, model, opts).map_err(|e| candidate_error(e.to_string()))?;
    let mut identity = facts.identity.clone();
    identity.hash_files(&base)?;
    Ok(AncestorInput {
        reference: candidate.reference.clone(),
        identity,
        kb_id,
        kb_id_origin,
        declared_licences: facts.declared_licences,
        notes,
        lineage: lineage_of(&cmp),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidate_syntax() {
        let c: Candidate = "models/base=llama-3.1-8b".parse().unwrap();
        assert_eq!(c.reference, "models/base");
        assert_eq!(c.kb_id.as_deref(), Some("llama-3.1-8b"));
        let c: Candidate = "meta-llama/Llama-3.1-8B".parse().unwrap();
        assert_eq!(c.kb_id, None);
        let c: Candidate = "a=b/c".parse().unwrap();
        assert_eq!(c.reference, "a=b/c");
        assert!("=x".parse::<Candidate>().is_err());
        assert!("x=".parse::<Candidate>().is_err());
    }
}
