//! Worked examples of policy-facts.md: 6·N·D from the knowledge base's checkpoint facts, against
//! the threshold rules at a date.

use taoke_audit::compute::{estimate_checkpoint, sci, thresholds, ParameterBasis};
use taoke_audit::kb::Kb;
use taoke_audit::Date;

fn check(kb: &Kb, id: &str) -> (f64, ParameterBasis) {
    let (_, c) = kb.checkpoint(id).unwrap();
    let e = estimate_checkpoint(c).unwrap();
    (e.flop, e.parameter_basis)
}

fn meets(kb: &Kb, flop: f64, rule: &str, as_of: &str) -> (bool, bool) {
    let t = thresholds(kb, flop, as_of.parse::<Date>().unwrap());
    let r = t.iter().find(|r| r.rule == rule).unwrap();
    (r.meets, r.binding)
}

#[test]
fn llama_3_1_405b_is_above_the_eu_presumption() {
    let kb = Kb::embedded().unwrap();
    let (flop, basis) = check(&kb, "llama-3.1-405b");
    assert_eq!(basis, ParameterBasis::Total);
    // 6 × 405e9 × 15.6e12 = 3.7908e25 ≈ 3.8e25 (the figure reported from the Llama 3 paper).
    assert!((flop - 3.7908e25).abs() / 3.7908e25 < 1e-9, "{flop}");
    assert_eq!(sci(flop), "3.79e25");
    let reported = kb
        .checkpoint("llama-3.1-405b")
        .unwrap()
        .1
        .reported_training_flop
        .as_ref()
        .unwrap()
        .value;
    assert!((flop / reported - 1.0).abs() < 0.01);
    assert_eq!(
        meets(&kb, flop, "eu-ai-act-art51-systemic-risk", "2026-01-01"),
        (true, true)
    );
    assert_eq!(
        meets(&kb, flop, "eu-ai-act-art51-systemic-risk", "2024-06-01"),
        (true, false)
    );
    assert_eq!(
        meets(&kb, flop, "us-bis-eccn-4e091", "2025-03-01"),
        (false, true)
    );
    assert_eq!(
        meets(&kb, flop, "us-eo-14110-reporting", "2024-06-01"),
        (false, true)
    );
    assert_eq!(
        meets(&kb, flop, "eu-ai-act-gpai-indicative", "2026-01-01"),
        (true, true)
    );
}

#[test]
fn deepseek_v3_counts_active_parameters_and_is_below() {
    let kb = Kb::embedded().unwrap();
    let (flop, basis) = check(&kb, "deepseek-v3");
    assert_eq!(basis, ParameterBasis::Active);
    // 6 × 37e9 × 14.8e12 = 3.2856e24 ≈ 3.3e24.
    assert!((flop - 3.2856e24).abs() / 3.2856e24 < 1e-9, "{flop}");
    assert_eq!(sci(flop), "3.29e24");
    assert_eq!(
        meets(&kb, flop, "eu-ai-act-art51-systemic-risk", "2026-01-01"),
        (false, true)
    );
    assert_eq!(
        meets(&kb, flop, "us-bis-eccn-4e091", "2026-01-01"),
        (false, false)
    );
}

#[test]
fn llama_3_1_70b_and_4_maverick_are_below() {
    let kb = Kb::embedded().unwrap();
    // 6 × 70e9 × 15e12 = 6.3e24.
    let (flop, _) = check(&kb, "llama-3.1-70b");
    assert!((flop - 6.3e24).abs() / 6.3e24 < 1e-9, "{flop}");
    assert_eq!(
        meets(&kb, flop, "eu-ai-act-art51-systemic-risk", "2026-01-01"),
        (false, true)
    );
    // Llama 4 Maverick: 6 × 17e9 (active) × 22e12 = 2.244e24.
    let (flop, basis) = check(&kb, "llama-4-maverick-17b-128e");
    assert_eq!(basis, ParameterBasis::Active);
    assert!((flop - 2.244e24).abs() / 2.244e24 < 1e-9, "{flop}");
}
