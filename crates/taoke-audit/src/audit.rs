//! The audit: for each verified ancestor, who published it, its licences and their duties
//! (checked mechanically where that is possible), the training-compute estimate against each
//! threshold rule, and the status of export and filing rules at a date.

use serde::Serialize;

use crate::compute::{self, Estimate, Input, ParameterBasis, ThresholdResult};
use crate::date::Date;
use crate::identity::Identity;
use crate::kb::{
    CheckpointEntry, Confidence, Duty, DutyKind, Family, Kb, Licence, Tagged, Topic, Tristate,
};
use crate::model::{DeclaredLicence, ModelFacts};

/// Printed with every audit.
pub const DISCLAIMER: &str = "This audit is not legal advice. It lists what the knowledge base \
records about the licences and rules attached to the model's verified ancestors, with sources, \
confidences and dates, and the results of mechanical checks; compute figures are 6·N·D \
estimates. Check the sources and ask a lawyer before acting on it.";

/// The audit JSON's `schema_version`. 2: models and ancestors are named by their portable
/// identity (`model.identity`, `ancestors[].identity`; `model.reference` and `model.path`
/// are gone, they could hold local paths); declared licences sit beside the knowledge base's
/// (`declared_licences`, `ancestors[].declared_licences`).
pub const SCHEMA_VERSION: u32 = 2;

/// How an ancestor was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LineageMethod {
    /// By comparing weights (`taoke compare`).
    WeightComparison,
    /// By the knowledge base: the publisher's stated base of a verified ancestor.
    KnowledgeBase,
}

/// The lineage evidence for one ancestor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lineage {
    /// How it was established.
    pub method: LineageMethod,
    /// Verdict (`identical`, `same-weights`, `related`, …; `declared` for KB bases).
    pub verdict: String,
    /// Derivation kinds found.
    pub kinds: Vec<String>,
    /// Direction (`b-from-a` = the audited model derives from the ancestor).
    pub direction: String,
    /// Combined p-value of independence.
    pub p_value: Option<f64>,
    /// log10 of it.
    pub log10_p_value: Option<f64>,
    /// The decisive evidence in words.
    pub summary: String,
}

impl Lineage {
    /// Whether this verdict makes the candidate an ancestor (related, same weights, identical,
    /// or declared by the knowledge base).
    pub fn is_ancestor(&self) -> bool {
        matches!(
            self.verdict.as_str(),
            "identical" | "same-weights" | "related" | "declared"
        )
    }
}

/// A candidate base with its lineage evidence: what `--base` (and later `identify`) supplies.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AncestorInput {
    /// The candidate as given (path, repository id); not in the reports (it may be a local
    /// path).
    #[serde(skip)]
    pub reference: String,
    /// Its portable identity, the name the reports use.
    pub identity: Identity,
    /// Knowledge-base checkpoint or family id it is, if known.
    pub kb_id: Option<String>,
    /// How `kb_id` was found (`--base tag`, `name match: general.name`, …).
    pub kb_id_origin: Option<String>,
    /// Licences the candidate itself declares.
    pub declared_licences: Vec<DeclaredLicence>,
    /// Remarks (the tag check, a name match not used).
    pub notes: Vec<String>,
    /// The evidence.
    pub lineage: Lineage,
}

/// Options of [`audit`].
#[derive(Debug, Clone, PartialEq)]
pub struct AuditOptions {
    /// Date at which rule statuses are read.
    pub as_of: Date,
    /// The name the model is (or will be) released under; `None` uses the model's own name.
    pub released_name: Option<String>,
    /// Tokens the audited model was trained on beyond its ancestor (or in total for a root).
    pub training_tokens: Option<f64>,
}

/// The result of a mechanical check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckStatus {
    /// Checked and met.
    Pass,
    /// Checked and not met (on the material at hand).
    Fail,
    /// Checkable, but the material to check is missing.
    NotChecked,
    /// Not mechanically checkable; listed for a human.
    Manual,
}

impl CheckStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Pass => "pass",
            CheckStatus::Fail => "fail",
            CheckStatus::NotChecked => "not-checked",
            CheckStatus::Manual => "manual",
        }
    }
}

/// One duty and its check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DutyCheck {
    /// `name-prefix`, `attribution`, …, or `licence-declared` (the model's declared licence
    /// against the inherited one).
    pub kind: String,
    /// The duty in plain words.
    pub summary: String,
    /// Check result.
    pub status: CheckStatus,
    /// What was checked and found.
    pub detail: String,
    /// URL of the source.
    pub source: String,
    /// How the duty was checked in the knowledge base.
    pub confidence: Confidence,
}

/// A licence inherited from an ancestor, with its duties.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InheritedLicence {
    /// Knowledge-base id.
    pub id: String,
    /// Name.
    pub name: String,
    /// SPDX id or LicenseRef.
    pub spdx: String,
    /// Whether the SPDX id is listed.
    pub spdx_listed: bool,
    /// URL of the text.
    pub url: String,
    /// Record source.
    pub source: String,
    /// Record confidence.
    pub confidence: Confidence,
    /// Duties and checks.
    pub duties: Vec<DutyCheck>,
}

/// The knowledge-base record an ancestor matched.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KbRecord {
    /// Checkpoint id (none when only the family is known).
    pub checkpoint_id: Option<String>,
    /// Checkpoint name.
    pub checkpoint_name: Option<String>,
    /// Family id.
    pub family_id: String,
    /// Family name.
    pub family_name: String,
    /// Publisher.
    pub publisher: String,
    /// Publisher's country.
    pub country: String,
    /// Release date.
    pub released: Option<String>,
    /// Record source.
    pub source: String,
    /// Record confidence.
    pub confidence: Confidence,
}

/// A licence a model declares, beside the knowledge-base licence it names (if any).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeclaredReport {
    /// The declared value.
    pub value: String,
    /// Where it is declared.
    pub origin: String,
    /// The knowledge-base licence it names; `None`: not in the knowledge base.
    pub kb_licence: Option<String>,
    /// That licence's name.
    pub kb_licence_name: Option<String>,
}

/// One ancestor in the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AncestorReport {
    /// Position in the chain (1 = nearest).
    pub depth: usize,
    /// The candidate's portable name ([`Identity::name`]), or the KB id for bases found
    /// through the KB.
    pub reference: String,
    /// The candidate's portable identity (none for bases found through the KB).
    pub identity: Option<Identity>,
    /// Licences the candidate declares, with the knowledge-base licence each names.
    pub declared_licences: Vec<DeclaredReport>,
    /// Knowledge-base record, when known.
    pub kb: Option<KbRecord>,
    /// How the ancestor was found.
    pub lineage: Lineage,
    /// Inherited licences and duties.
    pub licences: Vec<InheritedLicence>,
    /// Remarks (unknown KB id, family-only match, …).
    pub notes: Vec<String>,
}

/// A candidate that turned out not to be an ancestor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejected {
    /// The candidate.
    pub reference: String,
    /// Verdict.
    pub verdict: String,
    /// Why, in words.
    pub summary: String,
}

/// The training-compute section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComputeReport {
    /// The ancestor's training (nearest ancestor with public N and D).
    pub ancestor: Option<Estimate>,
    /// The audited model's own training beyond the ancestor (`--training-tokens`).
    pub modification: Option<Estimate>,
    /// Sum of the above: the estimate compared with thresholds.
    pub cumulative_flop: Option<f64>,
    /// Modification compute over ancestor compute (EU downstream-modifier criterion).
    pub modification_fraction: Option<f64>,
    /// Every threshold rule against the cumulative estimate.
    pub thresholds: Vec<ThresholdResult>,
    /// Remarks.
    pub notes: Vec<String>,
}

/// The status of a rule at the audit date.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleStatusReport {
    /// Rule id.
    pub rule: String,
    /// Name.
    pub name: String,
    /// Jurisdiction.
    pub jurisdiction: String,
    /// Instrument.
    pub instrument: String,
    /// State at the date (`not-yet` before the first entry).
    pub state: String,
    /// Date of that state.
    pub state_date: Option<Date>,
    /// Note of that state.
    pub state_note: Option<String>,
    /// Source of that state.
    pub state_source: Option<String>,
    /// Confidence of that state.
    pub state_confidence: Option<Confidence>,
    /// The first dated entry (what happens later, for `not-yet`).
    pub first: Option<(String, Date)>,
    /// Whether the rule binds at the date.
    pub binding: bool,
    /// Whether it covers published (open) weights.
    pub covers_published_weights: Option<Tristate>,
    /// What it means for this model, in words.
    pub applies: String,
    /// Rule summary.
    pub summary: String,
    /// Main source.
    pub source: String,
    /// Record confidence.
    pub confidence: Confidence,
}

/// The audit report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Audit {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Rule statuses are read at this date.
    pub as_of: Date,
    /// Not legal advice.
    pub disclaimer: &'static str,
    /// Knowledge-base origin.
    pub kb: String,
    /// The audited model.
    pub model: ModelFacts,
    /// Name checked against naming duties, and where it came from.
    pub released_name: Option<(String, String)>,
    /// Licences the model declares, with the knowledge-base licence each names.
    pub declared_licences: Vec<DeclaredReport>,
    /// Ancestors, nearest first (weight-verified ones, then bases declared in the KB).
    pub ancestors: Vec<AncestorReport>,
    /// Candidates that are not ancestors.
    pub rejected: Vec<Rejected>,
    /// Training compute and thresholds.
    pub compute: ComputeReport,
    /// Export-control rules at the date.
    pub export_rules: Vec<RuleStatusReport>,
    /// Base-model filing rules at the date.
    pub filing_rules: Vec<RuleStatusReport>,
}

impl Audit {
    /// Every duty check over all ancestors, with the ancestor's reference.
    pub fn duty_checks(&self) -> impl Iterator<Item = (&AncestorReport, &DutyCheck)> {
        self.ancestors.iter().flat_map(|a| {
            a.licences
                .iter()
                .flat_map(move |l| l.duties.iter().map(move |d| (a, d)))
        })
    }

    /// The checks that failed.
    pub fn failures(&self) -> Vec<&DutyCheck> {
        self.duty_checks()
            .filter(|(_, d)| d.status == CheckStatus::Fail)
            .map(|(_, d)| d)
            .collect()
    }
}

// ------------------------------------------------------------------------------------------
// Checks

/// Lower-case, `-`/`_` as spaces, runs of whitespace collapsed.
fn norm_name(s: &str) -> String {
    s.chars()
        .map(|c| if c == '-' || c == '_' { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Lower-case with whitespace collapsed (for searching text).
fn norm_text(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Checks a released name against a required prefix: the part after the last `/` (an
/// organisation prefix is not part of the model name) must begin with the prefix, with `-`, `_`
/// and spaces treated alike and case ignored.
pub fn check_name_prefix(name: &str, prefix: &str) -> (CheckStatus, String) {
    let bare = name.rsplit('/').next().unwrap_or(name);
    let (n, p) = (norm_name(bare), norm_name(prefix));
    let exact = bare.starts_with(prefix);
    if n.starts_with(&p) {
        let how = if exact {
            String::new()
        } else {
            " (ignoring case and separators)".to_owned()
        };
        (
            CheckStatus::Pass,
            format!("released name \"{bare}\" begins with \"{prefix}\"{how}"),
        )
    } else {
        (
            CheckStatus::Fail,
            format!("released name \"{bare}\" does not begin with \"{prefix}\""),
        )
    }
}

fn find_any<'a>(text: &str, strings: &'a [String]) -> Option<&'a str> {
    let t = norm_text(text);
    strings
        .iter()
        .find(|s| t.contains(&norm_text(s)))
        .map(String::as_str)
}

fn quote_list(strings: &[String]) -> String {
    strings
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(" or ")
}

fn check_duty(d: &Duty, licence: &Licence, model: &ModelFacts, name: Option<&str>) -> DutyCheck {
    let (status, detail) = match d.kind {
        DutyKind::NamePrefix => match (name, &d.prefix) {
            (Some(n), Some(p)) => check_name_prefix(n, p),
            _ => (
                CheckStatus::NotChecked,
                "no released name: pass --name".to_owned(),
            ),
        },
        DutyKind::Attribution => match &model.model_card {
            None => (
                CheckStatus::NotChecked,
                "no README.md model card beside the weights; the display may be elsewhere (website, UI, blog post, documentation)".to_owned(),
            ),
            Some(card) => match find_any(&card.text, &d.strings) {
                Some(s) => (CheckStatus::Pass, format!("model card shows \"{s}\"")),
                None => (
                    CheckStatus::Fail,
                    format!(
                        "model card does not show {} (it may be displayed elsewhere)",
                        quote_list(&d.strings)
                    ),
                ),
            },
        },
        DutyKind::NoticeFile if !d.strings.is_empty() => {
            let mut files: Vec<&crate::model::TextFile> = model.notice_files.iter().collect();
            files.extend(model.model_card.as_ref());
            match files.iter().find_map(|f| find_any(&f.text, &d.strings).map(|_| &f.name)) {
                Some(f) => (CheckStatus::Pass, format!("notice text found in {f}")),
                None if files.is_empty() => (
                    CheckStatus::NotChecked,
                    "no NOTICE, LICENSE or README.md beside the weights".to_owned(),
                ),
                None => (
                    CheckStatus::Fail,
                    format!(
                        "notice text not found in {}",
                        files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                ),
            }
        }
        DutyKind::LicenceCopy => {
            let lic: Vec<&crate::model::TextFile> = model
                .notice_files
                .iter()
                .filter(|f| f.name.starts_with("LICEN"))
                .collect();
            let needle = norm_text(&licence.name);
            if lic.is_empty() {
                (
                    CheckStatus::NotChecked,
                    "no LICENSE file beside the weights".to_owned(),
                )
            } else if let Some(f) = lic.iter().find(|f| norm_text(&f.text).contains(&needle)) {
                (CheckStatus::Pass, format!("{} holds \"{}\"", f.name, licence.name))
            } else {
                (
                    CheckStatus::Fail,
                    format!(
                        "{} does not name \"{}\"",
                        lic.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", "),
                        licence.name
                    ),
                )
            }
        }
        _ => (
            CheckStatus::Manual,
            "not checkable from the weights and files".to_owned(),
        ),
    };
    DutyCheck {
        kind: d.kind.as_str().to_owned(),
        summary: d.summary.clone(),
        status,
        detail,
        source: d.source.clone(),
        confidence: d.confidence,
    }
}

/// Whether a declared licence value names `licence`.
fn declares(value: &str, licence: &Licence) -> bool {
    let v = norm_name(value);
    let tag_hit = licence
        .hf_tag
        .as_ref()
        .is_some_and(|t| t.value != "other" && norm_name(&t.value) == v);
    tag_hit
        || norm_name(&licence.spdx) == v
        || norm_name(&licence.id) == v
        || norm_name(&licence.name) == v
        || value.trim() == licence.url
}

/// The knowledge-base licence a declared value names, if any.
pub fn kb_licence_declared_as<'a>(kb: &'a Kb, value: &str) -> Option<&'a Licence> {
    kb.licences.iter().find(|l| declares(value, l))
}

/// Declared licences beside the knowledge-base licences they name.
pub fn declared_reports(kb: &Kb, declared: &[DeclaredLicence]) -> Vec<DeclaredReport> {
    declared
        .iter()
        .map(|d| {
            let l = kb_licence_declared_as(kb, &d.value);
            DeclaredReport {
                value: d.value.clone(),
                origin: d.origin.clone(),
                kb_licence: l.map(|l| l.id.clone()),
                kb_licence_name: l.map(|l| l.name.clone()),
            }
        })
        .collect()
}

fn check_declared(licence: &Licence, model: &ModelFacts) -> DutyCheck {
    let inherits_terms = licence
        .duties
        .iter()
        .any(|d| d.kind == DutyKind::LicenceCopy);
    let declared: Vec<String> = model
        .declared_licences
        .iter()
        .map(|d| format!("{} ({})", d.value, d.origin))
        .collect();
    let (status, detail) = if model.declared_licences.is_empty() {
        (
            CheckStatus::NotChecked,
            "the model declares no licence (README.md front matter, general.license, config.json)"
                .to_owned(),
        )
    } else if model
        .declared_licences
        .iter()
        .any(|d| declares(&d.value, licence))
    {
        (
            CheckStatus::Pass,
            format!("declares {}", declared.join(", ")),
        )
    } else if inherits_terms {
        (
            CheckStatus::Fail,
            format!(
                "declares {} but derives from a model under {}, whose terms go with derivatives",
                declared.join(", "),
                licence.name
            ),
        )
    } else {
        (
            CheckStatus::Manual,
            format!(
                "declares {}; {} lets derivatives carry other terms if its notices are kept",
                declared.join(", "),
                licence.name
            ),
        )
    };
    DutyCheck {
        kind: "licence-declared".to_owned(),
        summary: format!(
            "The model's declared licence against the inherited {}.",
            licence.name
        ),
        status,
        detail,
        source: licence.url.clone(),
        confidence: licence.confidence,
    }
}

fn inherited(
    kb: &Kb,
    ids: &[String],
    model: &ModelFacts,
    name: Option<&str>,
) -> Vec<InheritedLicence> {
    ids.iter()
        .filter_map(|id| kb.licence(id))
        .map(|l| {
            let mut duties = vec![check_declared(l, model)];
            duties.extend(l.duties.iter().map(|d| check_duty(d, l, model, name)));
            InheritedLicence {
                id: l.id.clone(),
                name: l.name.clone(),
                spdx: l.spdx.clone(),
                spdx_listed: l.spdx_listed,
                url: l.url.clone(),
                source: l.source.clone(),
                confidence: l.confidence,
                duties,
            }
        })
        .collect()
}

fn record(f: &Family, c: Option<&CheckpointEntry>) -> KbRecord {
    KbRecord {
        checkpoint_id: c.map(|c| c.id.clone()),
        checkpoint_name: c.map(|c| c.name.clone()),
        family_id: f.id.clone(),
        family_name: f.name.clone(),
        publisher: f.publisher.clone(),
        country: f.country.clone(),
        released: c.and_then(|c| c.released.map(|d| d.to_string())),
        source: c.map_or_else(|| f.source.clone(), |c| c.source.clone()),
        confidence: c.map_or(f.confidence, |c| c.confidence),
    }
}

// ------------------------------------------------------------------------------------------
// Rules

fn rule_status(r: &crate::kb::Rule, as_of: Date, applies: String) -> RuleStatusReport {
    let st = r.status_at(as_of);
    RuleStatusReport {
        rule: r.id.clone(),
        name: r.name.clone(),
        jurisdiction: r.jurisdiction.clone(),
        instrument: r.instrument.clone(),
        state: st.map_or_else(|| "not-yet".to_owned(), |s| s.state.as_str().to_owned()),
        state_date: st.map(|s| s.date),
        state_note: st.and_then(|s| s.note.clone()),
        state_source: st.map(|s| s.source.clone()),
        state_confidence: st.map(|s| s.confidence),
        first: r
            .status
            .first()
            .map(|s| (s.state.as_str().to_owned(), s.date)),
        binding: r.binding_at(as_of),
        covers_published_weights: r.covers_published_weights,
        applies,
        summary: r.summary.clone(),
        source: r.source.clone(),
        confidence: r.confidence,
    }
}

// ------------------------------------------------------------------------------------------
// The audit

/// The ancestors and rejected candidates the audit is building.
struct Chain {
    ancestors: Vec<AncestorReport>,
    rejected: Vec<Rejected>,
    /// Knowledge-base checkpoints already in the chain.
    seen: Vec<String>,
    /// Bases the knowledge base declares, still to add: (base id, the checkpoint's name).
    declared: Vec<(String, String)>,
}

/// The name checked against naming duties: `--name`, else the model's own.
fn released_name(model: &ModelFacts, opts: &AuditOptions) -> Option<(String, String)> {
    opts.released_name
        .as_ref()
        .map(|n| (n.clone(), "--name".to_owned()))
        .or_else(|| model.self_name.clone())
}

/// The knowledge-base record and inherited licences of a weight-verified ancestor, with notes.
fn kb_side(
    kb: &Kb,
    c: &AncestorInput,
    model: &ModelFacts,
    name: Option<&str>,
    chain: &mut Chain,
    notes: &mut Vec<String>,
) -> (Option<KbRecord>, Vec<InheritedLicence>) {
    let Some(id) = c.kb_id.as_deref() else {
        notes.push("not in the knowledge base: tag the base with its KB id (--base PATH=ID) to inherit its licence and rules".to_owned());
        return (None, Vec::new());
    };
    match kb.resolve_tag(id) {
        Ok(Tagged::Checkpoint(f, ck)) => {
            chain.seen.push(ck.id.clone());
            if let Some(b) = &ck.base {
                chain.declared.push((b.clone(), ck.name.clone()));
            }
            (
                Some(record(f, Some(ck))),
                inherited(kb, &ck.licences, model, name),
            )
        }
        Ok(Tagged::Family(f)) => {
            notes.push(format!("matched family `{}` only: licences differ between its checkpoints, so none is inherited; tag a checkpoint id", f.id));
            (Some(record(f, None)), Vec::new())
        }
        Err(e) => {
            notes.push(e.to_string());
            (None, Vec::new())
        }
    }
}

/// Candidates verified by weights: ancestors (with their KB records and licences) and the
/// rejected ones.
fn weight_ancestors(
    kb: &Kb,
    model: &ModelFacts,
    candidates: &[AncestorInput],
    name: Option<&str>,
) -> Chain {
    let mut chain = Chain {
        ancestors: Vec::new(),
        rejected: Vec::new(),
        seen: Vec::new(),
        declared: Vec::new(),
    };
    for c in candidates {
        if !c.lineage.is_ancestor() {
            chain.rejected.push(Rejected {
                reference: c.identity.name.clone(),
                verdict: c.lineage.verdict.clone(),
                summary: c.lineage.summary.clone(),
            });
            continue;
        }
        let mut notes = Vec::new();
        let (kbrec, licences) = kb_side(kb, c, model, name, &mut chain, &mut notes);
        if let Some(o) = &c.kb_id_origin {
            notes.push(format!("knowledge-base id from {o}"));
        }
        notes.extend(c.notes.iter().cloned());
        chain.ancestors.push(AncestorReport {
            depth: 0,
            reference: c.identity.name.clone(),
            identity: Some(c.identity.clone()),
            declared_licences: declared_reports(kb, &c.declared_licences),
            kb: kbrec,
            lineage: c.lineage.clone(),
            licences,
            notes,
        });
    }
    chain
}

/// Appends the bases the knowledge base declares, transitively, then numbers the chain.
fn declared_ancestors(kb: &Kb, model: &ModelFacts, name: Option<&str>, chain: &mut Chain) {
    while let Some((id, via)) = chain.declared.pop() {
        if chain.seen.contains(&id) {
            continue;
        }
        let Some((f, ck)) = kb.checkpoint(&id) else {
            continue;
        };
        chain.seen.push(ck.id.clone());
        if let Some(b) = &ck.base {
            chain.declared.push((b.clone(), ck.name.clone()));
        }
        chain.ancestors.push(AncestorReport {
            depth: 0,
            reference: ck.id.clone(),
            identity: None,
            declared_licences: Vec::new(),
            kb: Some(record(f, Some(ck))),
            lineage: Lineage {
                method: LineageMethod::KnowledgeBase,
                verdict: "declared".into(),
                kinds: Vec::new(),
                direction: "unknown".into(),
                p_value: None,
                log10_p_value: None,
                summary: format!("{via} is made from {} per its publisher", ck.name),
            },
            licences: inherited(kb, &ck.licences, model, name),
            notes: Vec::new(),
        });
    }
    for (i, a) in chain.ancestors.iter_mut().enumerate() {
        a.depth = i + 1;
    }
}

/// 6·N·D of the audited model's own training (`--training-tokens`).
fn modification_estimate(model: &ModelFacts, tokens: f64, has_ancestors: bool) -> Estimate {
    let (n, basis) = match model.active_parameters {
        Some(a) => (a, ParameterBasis::Active),
        None => (model.parameters, ParameterBasis::Total),
    };
    Estimate {
        subject: if has_ancestors {
            "the modification (training beyond the ancestor)".to_owned()
        } else {
            "the model's training".to_owned()
        },
        parameters: Input {
            value: n as f64,
            source: "tensor shapes of the audited model".into(),
            confidence: None,
        },
        parameter_basis: basis,
        tokens: Input {
            value: tokens,
            source: "--training-tokens".into(),
            confidence: None,
        },
        flop: compute::six_nd(n as f64, tokens),
        reported_flop: None,
        formula: "6·N·D",
    }
}

/// The training-compute section: the nearest ancestor's estimate, the modification's, their
/// sum against every threshold rule.
fn compute_report(
    kb: &Kb,
    model: &ModelFacts,
    ancestors: &[AncestorReport],
    opts: &AuditOptions,
) -> ComputeReport {
    let mut notes = Vec::new();
    let ancestor_est = ancestors
        .iter()
        .filter_map(|a| a.kb.as_ref()?.checkpoint_id.as_deref())
        .filter_map(|id| kb.checkpoint(id))
        .find_map(|(_, c)| compute::estimate_checkpoint(c));
    if !ancestors.is_empty() && ancestor_est.is_none() {
        notes.push(
            "no ancestor with public parameter and token counts in the knowledge base".to_owned(),
        );
    }
    let modification = opts
        .training_tokens
        .map(|d| modification_estimate(model, d, !ancestors.is_empty()));
    if modification.is_none() {
        notes.push("the audited model's own training tokens are unknown (pass --training-tokens); its training is not counted".to_owned());
    }
    let cumulative = match (&ancestor_est, &modification) {
        (None, None) => None,
        (a, m) => Some(a.as_ref().map_or(0.0, |e| e.flop) + m.as_ref().map_or(0.0, |e| e.flop)),
    };
    let modification_fraction = match (&ancestor_est, &modification) {
        (Some(a), Some(m)) if a.flop > 0.0 => Some(m.flop / a.flop),
        _ => None,
    };
    let thresholds = cumulative.map_or_else(Vec::new, |c| compute::thresholds(kb, c, opts.as_of));
    let active = |e: &Option<Estimate>| {
        e.as_ref()
            .is_some_and(|e| e.parameter_basis == ParameterBasis::Active)
    };
    if active(&ancestor_est) || active(&modification) {
        notes.push("mixture of experts: N counts parameters active per token; the regulatory treatment of MoE compute is not settled".to_owned());
    }
    ComputeReport {
        ancestor: ancestor_est,
        modification,
        cumulative_flop: cumulative,
        modification_fraction,
        thresholds,
        notes,
    }
}

/// Export-control rules at the date, with what each means for the compute estimate.
fn export_rules(kb: &Kb, cumulative: Option<f64>, as_of: Date) -> Vec<RuleStatusReport> {
    kb.rules
        .iter()
        .filter(|r| r.topic == Topic::ExportControl)
        .map(|r| {
            let mut s = String::new();
            match r.covers_published_weights {
                Some(Tristate::No) => s.push_str("never covered published (open) weights. "),
                Some(Tristate::Unknown) => s.push_str("coverage of published weights unclear. "),
                Some(Tristate::Yes) | None => {}
            }
            match (r.threshold, r.comparator, cumulative) {
                (Some(t), Some(c), Some(x)) => s.push_str(&format!(
                    "Estimated training compute {} {} the threshold {} {}.",
                    compute::sci(x),
                    if c.meets(x, t) { "meets" } else { "is below" },
                    c.as_str(),
                    compute::sci(t)
                )),
                (Some(_), Some(_), None) => s.push_str("Training compute unknown."),
                _ => s.push_str("No compute threshold: capability-based."),
            }
            rule_status(r, as_of, s.trim().to_owned())
        })
        .collect()
}

/// Base-model filing rules at the date, with the chain a filing would name.
fn filing_rules(kb: &Kb, ancestors: &[AncestorReport], as_of: Date) -> Vec<RuleStatusReport> {
    let ancestor_desc: Vec<String> = ancestors
        .iter()
        .filter_map(|a| a.kb.as_ref())
        .map(|k| {
            format!(
                "{} ({}, {})",
                k.checkpoint_name.as_deref().unwrap_or(&k.family_name),
                k.publisher,
                k.country
            )
        })
        .collect();
    kb.rules
        .iter()
        .filter(|r| r.topic == Topic::BaseModelFiling)
        .map(|r| {
            let s = if ancestor_desc.is_empty() {
                "No verified ancestor in the knowledge base: a service built on this model would report it as its own (or an unlisted) base model.".to_owned()
            } else {
                format!(
                    "A service offered to the public in the PRC built on this model would, in filing practice, be built on {}.",
                    ancestor_desc.join(" ← ")
                )
            };
            rule_status(r, as_of, s)
        })
        .collect()
}

/// Runs the audit of `model` given candidate ancestors with their lineage evidence.
///
/// Candidates whose verdict is not an ancestor verdict go to [`Audit::rejected`] and bring no
/// duty. For each ancestor with a knowledge-base checkpoint, the bases the KB declares for it
/// are appended to the chain (method `knowledge-base`) and bring their licences too. Ids are
/// expected to be checked already ([`crate::lineage::verify`] refuses unknown ids and tags that
/// do not fit); an unknown id here brings nothing and a note.
pub fn audit(
    kb: &Kb,
    model: &ModelFacts,
    candidates: &[AncestorInput],
    opts: &AuditOptions,
) -> Audit {
    let released_name = released_name(model, opts);
    let name = released_name.as_ref().map(|(n, _)| n.as_str());
    let mut chain = weight_ancestors(kb, model, candidates, name);
    declared_ancestors(kb, model, name, &mut chain);
    let compute = compute_report(kb, model, &chain.ancestors, opts);
    let export_rules = export_rules(kb, compute.cumulative_flop, opts.as_of);
    let filing_rules = filing_rules(kb, &chain.ancestors, opts.as_of);
    Audit {
        schema_version: SCHEMA_VERSION,
        as_of: opts.as_of,
        disclaimer: DISCLAIMER,
        kb: kb.origin.clone(),
        model: model.clone(),
        released_name,
        declared_licences: declared_reports(kb, &model.declared_licences),
        ancestors: chain.ancestors,
        rejected: chain.rejected,
        compute,
        export_rules,
        filing_rules,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_prefix_rules() {
        assert_eq!(check_name_prefix("Foo-7B", "Llama").0, CheckStatus::Fail);
        assert_eq!(
            check_name_prefix("Llama-3.1-Foo", "Llama").0,
            CheckStatus::Pass
        );
        assert_eq!(
            check_name_prefix("org/Llama-3.1-Foo", "Llama").0,
            CheckStatus::Pass
        );
        assert_eq!(
            check_name_prefix("llama-3-foo", "Llama 3").0,
            CheckStatus::Pass
        );
        assert_eq!(
            check_name_prefix("Llama-2-Foo", "Llama 3").0,
            CheckStatus::Fail
        );
        assert_eq!(check_name_prefix("Foo-Llama", "Llama").0, CheckStatus::Fail);
        assert_eq!(
            check_name_prefix("glm-4-9b-foo", "glm-4").0,
            CheckStatus::Pass
        );
    }
}
