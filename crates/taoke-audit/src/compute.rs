//! Training-compute estimates (C ≈ 6·N·D) and their comparison with compute thresholds.
//!
//! The 6·N·D rule counts 2N operations forward and 4N backward per training token for a dense
//! transformer of N parameters trained on D tokens; for mixture-of-experts models N is the
//! number of parameters active per token. It is an *estimate*: it ignores attention's
//! context-length term, re-computation and hardware utilisation, and regulators' treatment of
//! MoE models is not settled.

use serde::Serialize;

use crate::date::Date;
use crate::kb::{CheckpointEntry, Comparator, Confidence, Kb, Metric, Rule, Topic};

/// One input of an estimate, with where it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Input {
    /// The value.
    pub value: f64,
    /// Where it came from (a URL, `--training-tokens`, `tensor shapes`).
    pub source: String,
    /// How it was checked, when it is a knowledge-base fact.
    pub confidence: Option<Confidence>,
}

/// An estimate C = 6·N·D.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    /// What was trained (`Llama-3.1-405B pre-training`, `the modification`).
    pub subject: String,
    /// N: parameters (active parameters for MoE).
    pub parameters: Input,
    /// Whether N counts active (MoE) or all parameters.
    pub parameter_basis: ParameterBasis,
    /// D: training tokens.
    pub tokens: Input,
    /// 6·N·D in floating-point operations.
    pub flop: f64,
    /// Compute as reported elsewhere, for comparison.
    pub reported_flop: Option<Input>,
    /// Always `6·N·D`.
    pub formula: &'static str,
}

/// What N counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ParameterBasis {
    /// All parameters (dense model).
    Total,
    /// Parameters active per token (mixture of experts).
    Active,
}

/// 6·N·D.
pub fn six_nd(parameters: f64, tokens: f64) -> f64 {
    6.0 * parameters * tokens
}

/// The estimate for a knowledge-base checkpoint, when its parameters and tokens are known.
pub fn estimate_checkpoint(c: &CheckpointEntry) -> Option<Estimate> {
    let (n, basis) = match (&c.active_params, &c.params) {
        (Some(a), _) => (a, ParameterBasis::Active),
        (None, Some(t)) => (t, ParameterBasis::Total),
        (None, None) => return None,
    };
    let d = c.training_tokens.as_ref()?;
    Some(Estimate {
        subject: format!("{} training", c.name),
        parameters: Input {
            value: n.value,
            source: n.source.clone(),
            confidence: Some(n.confidence),
        },
        parameter_basis: basis,
        tokens: Input {
            value: d.value,
            source: d.source.clone(),
            confidence: Some(d.confidence),
        },
        flop: six_nd(n.value, d.value),
        reported_flop: c.reported_training_flop.as_ref().map(|r| Input {
            value: r.value,
            source: r.source.clone(),
            confidence: Some(r.confidence),
        }),
        formula: "6·N·D",
    })
}

/// One compute-threshold rule against an estimate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThresholdResult {
    /// Rule id.
    pub rule: String,
    /// Rule name.
    pub name: String,
    /// Jurisdiction.
    pub jurisdiction: String,
    /// Topic (compute threshold or export control).
    pub topic: Topic,
    /// Metric.
    pub metric: Metric,
    /// Threshold.
    pub threshold: f64,
    /// Comparator.
    pub comparator: Comparator,
    /// State at the date (`None` before its first dated entry).
    pub state: Option<String>,
    /// Date of that state.
    pub state_date: Option<Date>,
    /// Whether the rule binds at the date.
    pub binding: bool,
    /// The estimate compared (FLOP).
    pub estimate_flop: f64,
    /// Whether the estimate meets the threshold.
    pub meets: bool,
    /// Main source.
    pub source: String,
    /// Record confidence.
    pub confidence: Confidence,
}

/// Every rule with a compute threshold (compute-threshold and export-control topics), against
/// `flop`, with its status at `as_of`. Operations and FLOP are compared alike (6·N·D counts
/// floating-point operations).
pub fn thresholds(kb: &Kb, flop: f64, as_of: Date) -> Vec<ThresholdResult> {
    kb.rules
        .iter()
        .filter_map(|r| threshold_result(r, flop, as_of))
        .collect()
}

fn threshold_result(r: &Rule, flop: f64, as_of: Date) -> Option<ThresholdResult> {
    let (t, c) = (r.threshold?, r.comparator?);
    let st = r.status_at(as_of);
    Some(ThresholdResult {
        rule: r.id.clone(),
        name: r.name.clone(),
        jurisdiction: r.jurisdiction.clone(),
        topic: r.topic,
        metric: r.metric,
        threshold: t,
        comparator: c,
        state: st.map(|s| s.state.as_str().to_owned()),
        state_date: st.map(|s| s.date),
        binding: r.binding_at(as_of),
        estimate_flop: flop,
        meets: c.meets(flop, t),
        source: r.source.clone(),
        confidence: r.confidence,
    })
}

/// `3.79e25` style.
pub fn sci(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let e = x.abs().log10().floor() as i32;
    let m = x / 10f64.powi(e);
    // 9.995 rounds to 10.0: renormalise.
    if (m.abs() * 100.0).round() >= 1000.0 {
        format!("{:.2}e{}", m / 10.0, e + 1)
    } else {
        format!("{m:.2}e{e}")
    }
}
