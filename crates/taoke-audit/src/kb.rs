//! The knowledge base: licences, model families and rules, read from three TOML files
//! (`licences.toml`, `families.toml`, `rules.toml`) into strict types (unknown fields are
//! errors), then checked for consistency ([`Kb::problems`]).
//!
//! The repository's `kb/` folder is embedded in the binary ([`Kb::embedded`]); a folder with
//! the same three files can replace it ([`Kb::load_dir`]). The format is described in
//! `kb/README.md`.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::date::{Date, PartialDate};
use crate::Error;

/// The schema version these types read.
pub const SCHEMA_VERSION: u32 = 1;

/// Largest KB file read from disk (the embedded files are a few tens of kB).
pub const MAX_KB_FILE_BYTES: u64 = 8 << 20;

/// How a fact was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Confidence {
    /// Checked against the primary text (statute, rule, licence file, publisher's repository or
    /// model card).
    Primary,
    /// Checked only against secondary sources (law-firm notes, news, trackers).
    Secondary,
}

impl Confidence {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Primary => "primary",
            Confidence::Secondary => "secondary",
        }
    }
}

/// One value with its own source and confidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fact<T> {
    /// The value.
    pub value: T,
    /// URL of the source.
    pub source: String,
    /// How it was checked.
    pub confidence: Confidence,
    /// A remark (the exact wording, a caveat).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

// ------------------------------------------------------------------------------------------
// Licences

/// Whether commercial use is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Commercial {
    /// Allowed.
    Yes,
    /// Not allowed.
    No,
    /// Allowed under conditions (user caps, registration, …).
    Conditional,
}

/// The kind of a licence duty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DutyKind {
    /// Give recipients a copy of the licence.
    LicenceCopy,
    /// Keep a notice text (`strings`, when the licence fixes it) in a Notice file.
    NoticeFile,
    /// Display an attribution string (any one of `strings`).
    Attribution,
    /// Derived model names must begin with `prefix`.
    NamePrefix,
    /// Outputs may not be used to improve other model families.
    OutputUseRestriction,
    /// A user-count cap (`users` per `period`) above which a separate licence is needed.
    MauLimit,
    /// Rights not granted in some regions (`regions`).
    RegionalRestriction,
    /// Follow an acceptable-use policy (`url`).
    AcceptableUsePolicy,
    /// Non-commercial use only.
    NonCommercial,
    /// Commercial use needs registration or an application.
    CommercialRegistration,
    /// Use restrictions must be passed on as enforceable terms to recipients.
    UseRestrictionsPassThrough,
}

impl DutyKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            DutyKind::LicenceCopy => "licence-copy",
            DutyKind::NoticeFile => "notice-file",
            DutyKind::Attribution => "attribution",
            DutyKind::NamePrefix => "name-prefix",
            DutyKind::OutputUseRestriction => "output-use-restriction",
            DutyKind::MauLimit => "mau-limit",
            DutyKind::RegionalRestriction => "regional-restriction",
            DutyKind::AcceptableUsePolicy => "acceptable-use-policy",
            DutyKind::NonCommercial => "non-commercial",
            DutyKind::CommercialRegistration => "commercial-registration",
            DutyKind::UseRestrictionsPassThrough => "use-restrictions-pass-through",
        }
    }
}

/// What triggers a naming duty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    /// Using the licensed materials (weights, code, documentation).
    Materials,
    /// Using the materials or their outputs (distillation counts).
    MaterialsOrOutputs,
}

/// The period of a user cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Period {
    /// Monthly active users.
    Month,
    /// Daily active users.
    Day,
}

/// One duty a licence puts on derivatives or their distributors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Duty {
    /// The kind; decides which of the optional fields must be present.
    pub kind: DutyKind,
    /// `name-prefix`: the required beginning of a derived model's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// `name-prefix`: what triggers it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
    /// `attribution`: accepted strings (any one); `notice-file`: the notice text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub strings: Vec<String>,
    /// `mau-limit`: the user cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<u64>,
    /// `mau-limit`: per month or per day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
    /// `regional-restriction`: regions (ISO 3166 codes or `EU`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
    /// `acceptable-use-policy`: the policy's URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The duty in plain words.
    pub summary: String,
    /// URL of the source (the clause's text).
    pub source: String,
    /// How it was checked.
    pub confidence: Confidence,
}

/// A licence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Licence {
    /// Knowledge-base id (`llama3.1-community`).
    pub id: String,
    /// Full name.
    pub name: String,
    /// SPDX license id when the SPDX list has one (`spdx_listed`), else a `LicenseRef-…`.
    pub spdx: String,
    /// Whether `spdx` is on the SPDX License List.
    pub spdx_listed: bool,
    /// The Hugging Face `license:` tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hf_tag: Option<Fact<String>>,
    /// Who grants it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licensor: Option<String>,
    /// Release or effective date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<PartialDate>,
    /// URL of the licence text.
    pub url: String,
    /// Commercial use.
    pub commercial: Commercial,
    /// A licence that replaced it for the same models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
    /// URL of the source of this record.
    pub source: String,
    /// How it was checked.
    pub confidence: Confidence,
    /// Remarks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Duties on derivatives.
    #[serde(default, rename = "duty")]
    pub duties: Vec<Duty>,
}

// ------------------------------------------------------------------------------------------
// Families

/// A released checkpoint of a family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointEntry {
    /// Knowledge-base id (`llama-3.1-8b`), unique over all families.
    pub id: String,
    /// Published name.
    pub name: String,
    /// Other names it goes by (repository ids), matched case-insensitively.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Licence ids (all apply).
    pub licences: Vec<String>,
    /// The checkpoint it was made from, per its publisher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// Release date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released: Option<PartialDate>,
    /// Takes images or audio as well as text.
    #[serde(default)]
    pub multimodal: bool,
    /// Hugging Face `architectures` values of this checkpoint when they differ from its
    /// family's (a distillation into another family's architecture).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<String>,
    /// Total parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Fact<f64>>,
    /// Parameters active per token (mixture-of-experts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_params: Option<Fact<f64>>,
    /// Pre-training tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_tokens: Option<Fact<f64>>,
    /// Training compute as reported by its publisher or others (FLOP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_training_flop: Option<Fact<f64>>,
    /// URL of the source of this record.
    pub source: String,
    /// How it was checked.
    pub confidence: Confidence,
    /// Remarks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// A model family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Family {
    /// Knowledge-base id (`llama`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Publisher.
    pub publisher: String,
    /// Publisher's country (ISO 3166-1 alpha-2).
    pub country: String,
    /// Hugging Face `architectures` values the family uses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<String>,
    /// URL of the source of this record.
    pub source: String,
    /// How it was checked.
    pub confidence: Confidence,
    /// Remarks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Checkpoints.
    #[serde(default, rename = "checkpoint")]
    pub checkpoints: Vec<CheckpointEntry>,
}

// ------------------------------------------------------------------------------------------
// Rules

/// The kind of instrument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleKind {
    /// A regulation or statute.
    Regulation,
    /// Official guidance interpreting one.
    Guidance,
    /// A bill.
    Bill,
    /// An export-control classification or rule.
    ExportControl,
    /// An executive order.
    ExecutiveOrder,
    /// A proposed rule.
    ProposedRule,
    /// A technical standard.
    Standard,
}

/// What a rule attaches to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Topic {
    /// Obligations triggered by training compute.
    ComputeThreshold,
    /// Controls on exporting model weights.
    ExportControl,
    /// Filing of the base model a service uses.
    BaseModelFiling,
}

/// The quantity a threshold is stated in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Metric {
    /// Floating-point operations used in training.
    TrainingFlop,
    /// Integer or floating-point operations used in training.
    TrainingOperations,
    /// Capabilities (no number).
    Capability,
    /// None.
    None,
}

/// How a threshold compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparator {
    /// Strictly greater.
    #[serde(rename = ">")]
    Greater,
    /// Greater or equal.
    #[serde(rename = ">=")]
    GreaterOrEqual,
}

impl Comparator {
    /// Whether `x` meets a threshold `t`.
    pub fn meets(self, x: f64, t: f64) -> bool {
        match self {
            Comparator::Greater => x > t,
            Comparator::GreaterOrEqual => x >= t,
        }
    }
    /// The symbol.
    pub fn as_str(self) -> &'static str {
        match self {
            Comparator::Greater => ">",
            Comparator::GreaterOrEqual => "≥",
        }
    }
}

/// Yes, no or unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tristate {
    /// Yes.
    Yes,
    /// No.
    No,
    /// Not known.
    Unknown,
}

/// A state in a rule's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleState {
    /// Proposed (a notice of proposed rulemaking).
    Proposed,
    /// A bill introduced.
    Introduced,
    /// A bill approved by a committee.
    CommitteeApproved,
    /// Adopted or published, not yet in force.
    Adopted,
    /// In force (applicable unless a later `applicable` entry exists).
    InForce,
    /// Obligations apply.
    Applicable,
    /// A bill that died at the end of its legislature.
    Lapsed,
    /// Rescinded (or announced rescinded and not enforced).
    Rescinded,
    /// Revoked.
    Revoked,
    /// Withdrawn.
    Withdrawn,
}

impl RuleState {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleState::Proposed => "proposed",
            RuleState::Introduced => "introduced",
            RuleState::CommitteeApproved => "committee-approved",
            RuleState::Adopted => "adopted",
            RuleState::InForce => "in-force",
            RuleState::Applicable => "applicable",
            RuleState::Lapsed => "lapsed",
            RuleState::Rescinded => "rescinded",
            RuleState::Revoked => "revoked",
            RuleState::Withdrawn => "withdrawn",
        }
    }
}

/// One dated entry of a rule's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusEntry {
    /// The state reached.
    pub state: RuleState,
    /// When.
    pub date: Date,
    /// Details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// URL of the source.
    pub source: String,
    /// How it was checked.
    pub confidence: Confidence,
}

/// A rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Knowledge-base id.
    pub id: String,
    /// Jurisdiction (`EU`, `US`, `CN`).
    pub jurisdiction: String,
    /// Kind of instrument.
    pub kind: RuleKind,
    /// What it attaches to.
    pub topic: Topic,
    /// Name.
    pub name: String,
    /// Citation of the instrument.
    pub instrument: String,
    /// Threshold quantity.
    pub metric: Metric,
    /// Comparator of the threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparator: Option<Comparator>,
    /// The threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Whether it covers published (open) weights (export rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub covers_published_weights: Option<Tristate>,
    /// Fraction of the original model's compute above which a modifier becomes a provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modifier_fraction: Option<f64>,
    /// The rule in plain words.
    pub summary: String,
    /// URL of the main source.
    pub source: String,
    /// Further sources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// How the record was checked.
    pub confidence: Confidence,
    /// Dated history, oldest first.
    pub status: Vec<StatusEntry>,
}

impl Rule {
    /// The last status entry on or before `date`, or `None` before the first one.
    pub fn status_at(&self, date: Date) -> Option<&StatusEntry> {
        self.status.iter().rev().find(|s| s.date <= date)
    }

    /// Whether its obligations bind at `date`: the state is `applicable`, or `in-force` for a
    /// rule whose history has no separate `applicable` entry.
    pub fn binding_at(&self, date: Date) -> bool {
        match self.status_at(date).map(|s| s.state) {
            Some(RuleState::Applicable) => true,
            Some(RuleState::InForce) => {
                !self.status.iter().any(|s| s.state == RuleState::Applicable)
            }
            _ => false,
        }
    }
}

// ------------------------------------------------------------------------------------------
// Files and the loaded KB

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LicenceFile {
    schema_version: u32,
    #[serde(default)]
    licence: Vec<Licence>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FamilyFile {
    schema_version: u32,
    #[serde(default)]
    family: Vec<Family>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    schema_version: u32,
    #[serde(default)]
    rule: Vec<Rule>,
}

/// The file names of a KB folder.
pub const KB_FILES: [&str; 3] = ["licences.toml", "families.toml", "rules.toml"];

const EMBEDDED_LICENCES: &str = include_str!("../../../kb/licences.toml");
const EMBEDDED_FAMILIES: &str = include_str!("../../../kb/families.toml");
const EMBEDDED_RULES: &str = include_str!("../../../kb/rules.toml");

/// Edit distance (Levenshtein, case ignored) within which an id counts as a near match of an
/// unknown one: two edits catch a dropped or doubled character and one swapped pair
/// (`llama-3.1-8` for `llama-3.1-8b`, `lama-3.1-8b`, `llama-31-8b`).
pub const NEAR_ID_DISTANCE: usize = 2;

/// Most near matches listed for an unknown id.
pub const MAX_NEAR_IDS: usize = 8;

/// What a knowledge-base tag names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tagged<'a> {
    /// A checkpoint, with its family.
    Checkpoint(&'a Family, &'a CheckpointEntry),
    /// A family only.
    Family(&'a Family),
}

/// The loaded knowledge base.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Kb {
    /// Where it came from (`embedded` or a folder).
    pub origin: String,
    /// Licences.
    pub licences: Vec<Licence>,
    /// Families.
    pub families: Vec<Family>,
    /// Rules.
    pub rules: Vec<Rule>,
}

fn parse<T: serde::de::DeserializeOwned>(file: &str, text: &str) -> Result<T, Error> {
    toml::from_str(text).map_err(|e| Error::Kb {
        file: file.to_owned(),
        msg: e.to_string(),
    })
}

fn check_version(file: &str, v: u32) -> Result<(), Error> {
    if v == SCHEMA_VERSION {
        Ok(())
    } else {
        Err(Error::Kb {
            file: file.to_owned(),
            msg: format!("schema_version {v}, this build reads {SCHEMA_VERSION}"),
        })
    }
}

impl Kb {
    /// The knowledge base compiled into the binary (the repository's `kb/`).
    pub fn embedded() -> Result<Kb, Error> {
        Kb::from_toml(
            "embedded",
            EMBEDDED_LICENCES,
            EMBEDDED_FAMILIES,
            EMBEDDED_RULES,
        )
    }

    /// Reads `licences.toml`, `families.toml` and `rules.toml` from `dir`.
    pub fn load_dir(dir: &Path) -> Result<Kb, Error> {
        let mut texts = Vec::with_capacity(3);
        for name in KB_FILES {
            let p = dir.join(name);
            let meta = std::fs::metadata(&p).map_err(|e| Error::io(&p, e))?;
            if meta.len() > MAX_KB_FILE_BYTES {
                return Err(Error::Kb {
                    file: p.display().to_string(),
                    msg: format!(
                        "{} bytes, more than the {MAX_KB_FILE_BYTES}-byte cap",
                        meta.len()
                    ),
                });
            }
            texts.push(std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?);
        }
        Kb::from_toml(&dir.display().to_string(), &texts[0], &texts[1], &texts[2])
    }

    /// Parses the three files' texts and checks consistency.
    pub fn from_toml(
        origin: &str,
        licences: &str,
        families: &str,
        rules: &str,
    ) -> Result<Kb, Error> {
        let l: LicenceFile = parse("licences.toml", licences)?;
        check_version("licences.toml", l.schema_version)?;
        let f: FamilyFile = parse("families.toml", families)?;
        check_version("families.toml", f.schema_version)?;
        let r: RuleFile = parse("rules.toml", rules)?;
        check_version("rules.toml", r.schema_version)?;
        let kb = Kb {
            origin: origin.to_owned(),
            licences: l.licence,
            families: f.family,
            rules: r.rule,
        };
        let problems = kb.problems();
        if problems.is_empty() {
            Ok(kb)
        } else {
            Err(Error::Inconsistent(problems))
        }
    }

    /// A licence by id.
    pub fn licence(&self, id: &str) -> Option<&Licence> {
        self.licences.iter().find(|l| l.id == id)
    }

    /// A family by id.
    pub fn family(&self, id: &str) -> Option<&Family> {
        self.families.iter().find(|f| f.id == id)
    }

    /// A checkpoint by id, with its family.
    pub fn checkpoint(&self, id: &str) -> Option<(&Family, &CheckpointEntry)> {
        self.families
            .iter()
            .find_map(|f| f.checkpoints.iter().find(|c| c.id == id).map(|c| (f, c)))
    }

    /// A checkpoint by id, name or alias (case-insensitive; an `org/` prefix of `name` is
    /// also tried without the org).
    pub fn find_checkpoint(&self, name: &str) -> Option<(&Family, &CheckpointEntry)> {
        let name = name.trim();
        let bare = name.rsplit('/').next().unwrap_or(name);
        for f in &self.families {
            for c in &f.checkpoints {
                let hit = std::iter::once(&c.id)
                    .chain(std::iter::once(&c.name))
                    .chain(c.aliases.iter())
                    .any(|n| n.eq_ignore_ascii_case(name) || n.eq_ignore_ascii_case(bare));
                if hit {
                    return Some((f, c));
                }
            }
        }
        None
    }

    /// Resolves a knowledge-base tag (a checkpoint or family id, exactly as `taoke kb list`
    /// prints it) or refuses it with the nearest ids ([`Error::UnknownKbId`]).
    pub fn resolve_tag(&self, id: &str) -> Result<Tagged<'_>, Error> {
        if let Some((f, c)) = self.checkpoint(id) {
            return Ok(Tagged::Checkpoint(f, c));
        }
        if let Some(f) = self.family(id) {
            return Ok(Tagged::Family(f));
        }
        Err(Error::UnknownKbId {
            id: id.to_owned(),
            near: self.near_ids(id),
        })
    }

    /// Every checkpoint and family id, checkpoints first, in file order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        let checkpoints = self
            .families
            .iter()
            .flat_map(|f| f.checkpoints.iter().map(|c| c.id.as_str()));
        checkpoints.chain(self.families.iter().map(|f| f.id.as_str()))
    }

    /// The ids nearest to `id` (case ignored): at most [`MAX_NEAR_IDS`], within
    /// [`NEAR_ID_DISTANCE`] edits or holding `id` as a part, nearest first.
    pub fn near_ids(&self, id: &str) -> Vec<String> {
        let want = id.trim().to_lowercase();
        let mut scored: Vec<(usize, &str)> = self
            .ids()
            .filter_map(|k| {
                let d = strsim::levenshtein(&want, &k.to_lowercase());
                let part = want.len() >= 3 && k.to_lowercase().contains(&want);
                (d <= NEAR_ID_DISTANCE || part).then_some((d, k))
            })
            .collect();
        scored.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(b.1)));
        scored.dedup_by(|a, b| a.1 == b.1);
        scored
            .into_iter()
            .take(MAX_NEAR_IDS)
            .map(|(_, k)| k.to_owned())
            .collect()
    }

    /// A rule by id.
    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// Every consistency problem, in file order (empty when consistent).
    ///
    /// Checks: unique ids; every referenced licence, base checkpoint and superseding licence
    /// exists; no cycle of bases; every source is an http(s) URL; SPDX ids are listed ids or
    /// `LicenseRef-` ids; duty fields match their kind; quantities are finite and positive,
    /// active ≤ total parameters; thresholds come with a comparator and a compute metric;
    /// every rule has a dated status history in chronological order.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        self.licence_problems(&mut p);
        self.family_problems(&mut p);
        self.base_problems(&mut p);
        self.rule_problems(&mut p);
        p
    }

    /// Licences: unique ids, URLs, SPDX ids, superseding licences, duty fields.
    fn licence_problems(&self, p: &mut Vec<String>) {
        let mut ids = BTreeSet::new();
        for l in &self.licences {
            let w = format!("licence `{}`", l.id);
            if !ids.insert(l.id.as_str()) {
                p.push(format!("{w}: duplicate id"));
            }
            check_url(p, &w, &l.source);
            check_url(p, &format!("{w} url"), &l.url);
            if let Some(t) = &l.hf_tag {
                check_url(p, &format!("{w} hf_tag"), &t.source);
            }
            let spdx_ok = l
                .spdx
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
                && !l.spdx.is_empty();
            if !spdx_ok {
                p.push(format!("{w}: spdx `{}` is not an SPDX id", l.spdx));
            }
            if l.spdx_listed == l.spdx.starts_with("LicenseRef-") {
                p.push(format!(
                    "{w}: spdx `{}` must be a listed SPDX id (spdx_listed = true) or a LicenseRef- id (spdx_listed = false)",
                    l.spdx
                ));
            }
            if let Some(s) = &l.superseded_by {
                if self.licence(s).is_none() {
                    p.push(format!("{w}: superseded_by `{s}` is not a licence"));
                }
            }
            for (i, d) in l.duties.iter().enumerate() {
                let dw = format!("{w} duty {} ({})", i + 1, d.kind.as_str());
                check_url(p, &dw, &d.source);
                duty_problems(p, &dw, d);
            }
        }
    }

    /// Families and checkpoints: unique ids, URLs, countries, licences, quantities.
    fn family_problems(&self, p: &mut Vec<String>) {
        let mut fam_ids = BTreeSet::new();
        let mut ck_ids = BTreeSet::new();
        for f in &self.families {
            let w = format!("family `{}`", f.id);
            if !fam_ids.insert(f.id.as_str()) {
                p.push(format!("{w}: duplicate id"));
            }
            check_url(p, &w, &f.source);
            if f.country.len() != 2 || !f.country.bytes().all(|b| b.is_ascii_uppercase()) {
                p.push(format!(
                    "{w}: country `{}` is not an ISO 3166 alpha-2 code",
                    f.country
                ));
            }
            for c in &f.checkpoints {
                let cw = format!("checkpoint `{}`", c.id);
                if !ck_ids.insert(c.id.as_str()) {
                    p.push(format!("{cw}: duplicate id"));
                }
                check_url(p, &cw, &c.source);
                if c.licences.is_empty() {
                    p.push(format!("{cw}: no licence"));
                }
                for l in &c.licences {
                    if self.licence(l).is_none() {
                        p.push(format!("{cw}: licence `{l}` is not in licences.toml"));
                    }
                }
                for (name, fact) in [
                    ("params", &c.params),
                    ("active_params", &c.active_params),
                    ("training_tokens", &c.training_tokens),
                    ("reported_training_flop", &c.reported_training_flop),
                ] {
                    if let Some(x) = fact {
                        check_url(p, &format!("{cw} {name}"), &x.source);
                        if !(x.value.is_finite() && x.value > 0.0) {
                            p.push(format!("{cw}: {name} {} is not a positive number", x.value));
                        }
                    }
                }
                if let (Some(a), Some(t)) = (&c.active_params, &c.params) {
                    if a.value > t.value {
                        p.push(format!("{cw}: active_params above params"));
                    }
                }
            }
        }
    }

    /// Bases: every base is a checkpoint, and no chain of bases is a cycle.
    fn base_problems(&self, p: &mut Vec<String>) {
        for f in &self.families {
            for c in &f.checkpoints {
                let mut seen = BTreeSet::new();
                let mut cur = c;
                seen.insert(cur.id.as_str());
                while let Some(b) = &cur.base {
                    match self.checkpoint(b) {
                        None => {
                            p.push(format!(
                                "checkpoint `{}`: base `{b}` is not a checkpoint",
                                cur.id
                            ));
                            break;
                        }
                        Some((_, next)) => {
                            if !seen.insert(next.id.as_str()) {
                                p.push(format!("checkpoint `{}`: cycle of bases", c.id));
                                break;
                            }
                            cur = next;
                        }
                    }
                }
            }
        }
    }

    /// Rules: unique ids, URLs, thresholds, fractions, dated status histories.
    fn rule_problems(&self, p: &mut Vec<String>) {
        let mut rule_ids = BTreeSet::new();
        for r in &self.rules {
            let w = format!("rule `{}`", r.id);
            if !rule_ids.insert(r.id.as_str()) {
                p.push(format!("{w}: duplicate id"));
            }
            check_url(p, &w, &r.source);
            for s in &r.sources {
                check_url(p, &w, s);
            }
            let compute = matches!(r.metric, Metric::TrainingFlop | Metric::TrainingOperations);
            match (r.threshold, r.comparator, compute) {
                (Some(t), Some(_), true) if t.is_finite() && t > 0.0 => {}
                (None, None, false) => {}
                _ => p.push(format!(
                    "{w}: a threshold needs a comparator and a training-flop/training-operations metric (and only then)"
                )),
            }
            if let Some(fr) = r.modifier_fraction {
                if !(fr > 0.0 && fr < 1.0) {
                    p.push(format!("{w}: modifier_fraction {fr} outside (0, 1)"));
                }
            }
            if r.status.is_empty() {
                p.push(format!("{w}: no status history"));
            }
            for (i, s) in r.status.iter().enumerate() {
                check_url(p, &format!("{w} status {}", i + 1), &s.source);
                if i > 0 && s.date < r.status[i - 1].date {
                    p.push(format!(
                        "{w}: status {} ({}) is dated before status {} ({})",
                        i + 1,
                        s.date,
                        i,
                        r.status[i - 1].date
                    ));
                }
            }
        }
    }
}

/// A problem when `s` is not an http(s) URL.
fn check_url(p: &mut Vec<String>, what: &str, s: &str) {
    if !(s.starts_with("https://") || s.starts_with("http://")) {
        p.push(format!("{what}: source `{s}` is not an http(s) URL"));
    }
}

fn duty_problems(p: &mut Vec<String>, w: &str, d: &Duty) {
    let want_prefix = d.kind == DutyKind::NamePrefix;
    let want_strings = d.kind == DutyKind::Attribution;
    let allow_strings = want_strings || d.kind == DutyKind::NoticeFile;
    let want_users = d.kind == DutyKind::MauLimit;
    let want_regions = d.kind == DutyKind::RegionalRestriction;
    let allow_url = d.kind == DutyKind::AcceptableUsePolicy;
    if want_prefix != (d.prefix.as_deref().is_some_and(|s| !s.is_empty()) && d.trigger.is_some()) {
        p.push(format!(
            "{w}: `prefix` and `trigger` belong to (and are required by) name-prefix duties"
        ));
    }
    if (want_strings && d.strings.is_empty()) || (!allow_strings && !d.strings.is_empty()) {
        p.push(format!(
            "{w}: `strings` are required by attribution duties and allowed only there and on notice-file duties"
        ));
    }
    if d.strings.iter().any(|s| s.trim().is_empty()) {
        p.push(format!("{w}: empty string in `strings`"));
    }
    if want_users != (d.users.is_some() && d.period.is_some()) {
        p.push(format!(
            "{w}: `users` and `period` belong to (and are required by) mau-limit duties"
        ));
    }
    if want_regions == d.regions.is_empty() {
        p.push(format!(
            "{w}: `regions` belong to (and are required by) regional-restriction duties"
        ));
    }
    if !allow_url && d.url.is_some() {
        p.push(format!(
            "{w}: `url` belongs to acceptable-use-policy duties"
        ));
    }
    if d.summary.trim().is_empty() {
        p.push(format!("{w}: empty summary"));
    }
}
