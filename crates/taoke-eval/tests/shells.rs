//! The real-weight shells of issue 17, from the cache `scripts/make-shells` writes
//! (`$TAOKE_SHELLS_DIR`, default `~/.cache/taoke/shells`): the must-shows. Skipped with
//! a message when the cache is missing; under `CI` a missing cache is a failure.

use std::path::PathBuf;

use taoke_eval::shells::{evaluate_shells, ShellResult};
use taoke_zoo::shell::{default_dir, ShellManifest};

fn manifest() -> Option<(PathBuf, ShellManifest)> {
    let dir = default_dir();
    let path = dir.join("shells.json");
    if !path.exists() {
        if taoke_test::in_ci() {
            panic!(
                "shells missing under CI: {} (run scripts/make-shells)",
                path.display()
            );
        }
        eprintln!(
            "skipping: shells missing: {} (run scripts/make-shells)",
            path.display()
        );
        return None;
    }
    let m = ShellManifest::load(&path).expect("shells.json loads");
    Some((dir, m))
}

/// Compares the listed ordered pairs and prints one line each.
fn run(pairs: &[(&str, &str)]) -> Option<Vec<ShellResult>> {
    let (dir, m) = manifest()?;
    let ps: Vec<_> = pairs
        .iter()
        .map(|(a, b)| {
            m.pair(a, b)
                .unwrap_or_else(|| panic!("pair {a} {b} not labelled in shells.json"))
        })
        .collect();
    let mut rs = Vec::new();
    // one pair at a time, so each line is printed as soon as it is known
    for p in ps {
        let r = evaluate_shells(&dir, &m, &[p], &mut |_, _| {}).remove(0);
        eprintln!(
            "{} ↔ {}: truth {} [{}] → {} [{}] direction {} log10 p {:?} {:.1}s{}",
            r.a,
            r.b,
            r.truth,
            r.truth_kinds.join(","),
            r.verdict,
            r.kinds.join(","),
            r.direction,
            r.log10_p,
            r.seconds,
            r.error
                .as_deref()
                .map_or(String::new(), |e| format!(" ERROR {e}"))
        );
        rs.push(r);
    }
    Some(rs)
}

fn has(r: &ShellResult, kinds: &[&str]) -> bool {
    kinds.iter().all(|k| r.kinds.iter().any(|x| x == k))
}

#[test]
fn the_smollm2_shell_is_related_permuted_fine_tuned_renamed() {
    let Some(rs) = run(&[("smollm2", "smol-shell"), ("smollm2", "smol-shell-notok")]) else {
        return;
    };
    for r in &rs {
        assert_eq!(r.truth, "related");
        assert_eq!(r.verdict, "related", "{} ↔ {}", r.a, r.b);
        assert!(
            has(r, &["permuted", "fine-tune", "renamed"]),
            "{} ↔ {}: kinds {:?}",
            r.a,
            r.b,
            r.kinds
        );
    }
}

#[test]
fn a_fine_tune_against_its_quantized_original_is_related_with_fine_tune() {
    let Some(rs) = run(&[("smollm2", "smol-ft-bf16"), ("smollm2", "smol-ft-q8_0")]) else {
        return;
    };
    for r in &rs {
        assert_eq!(r.verdict, "related", "{} ↔ {}", r.a, r.b);
        assert!(has(r, &["fine-tune"]), "{} ↔ {}: {:?}", r.a, r.b, r.kinds);
    }
}

#[test]
fn an_upscaled_copy_is_depth_upscaled_from_the_original() {
    let Some(rs) = run(&[
        ("smollm2", "smol-upscaled"),
        ("smollm2", "smol-upscaled-ft"),
    ]) else {
        return;
    };
    for r in &rs {
        assert_eq!(r.truth_direction, "b-from-a");
        assert_eq!(r.verdict, "related", "{} ↔ {}", r.a, r.b);
        assert!(
            has(r, &["depth-upscaled"]),
            "{} ↔ {}: {:?}",
            r.a,
            r.b,
            r.kinds
        );
        assert_eq!(r.direction, "b-from-a", "{} ↔ {}", r.a, r.b);
    }
}

#[test]
fn hard_negatives_are_never_called_related() {
    let twins = [
        "smol-twin-stats-shell",
        "smol-twin-stats-q8_0",
        "smol-twin-spectrum-shell",
        "smol-twin-spectrum-q8_0",
    ];
    let mut pairs = Vec::new();
    for t in twins {
        pairs.push(("smollm2", t));
        pairs.push(("smol-shell", t));
    }
    pairs.push(("minilm", "minilm-twin-stats-shell"));
    pairs.push(("minilm", "minilm-twin-spectrum-shell"));
    let Some(rs) = run(&pairs) else {
        return;
    };
    for r in &rs {
        assert_eq!(r.truth, "independent");
        assert!(r.hard_negative);
        assert!(r.error.is_none(), "{} ↔ {}: {:?}", r.a, r.b, r.error);
        assert!(
            !["related", "same-weights", "identical"].contains(&r.verdict.as_str()),
            "false accusation: {} ↔ {} called {}",
            r.a,
            r.b,
            r.verdict
        );
    }
}

#[test]
fn disguised_copies_without_training_are_same_weights() {
    same_weights(&[("smol-bf16", "smol-bf16-noise700-f32")]);
}

/// Known weakness (issue 17, left open): against the Q4_1 original, the folded-and-rotated
/// copy and the copies under GPT-2-style or lying names are found related (never
/// independent) but are not yet recognised as untrained copies: the rotated copy's products
/// differ by a scale after the norm folding, and the renamed ones keep a mismatched MLP role
/// pair. Two shells that both have opaque names are not matched at all (roles are recovered
/// against a named side only). Run with `cargo test -p taoke-eval --test shells -- --ignored`.
#[test]
#[ignore = "known weakness: rotated, misnamed and doubly opaque copies are called related"]
fn rotated_and_misnamed_copies_are_same_weights() {
    same_weights(&[
        ("smollm2", "smol-rotated"),
        ("smollm2", "smol-gpt2-names"),
        ("smollm2", "smol-lying-names"),
        ("smol-shell", "smol-shell-notok"),
    ]);
}

fn same_weights(pairs: &[(&str, &str)]) {
    let Some(rs) = run(pairs) else {
        return;
    };
    for r in &rs {
        assert_eq!(r.truth, "same-weights");
        assert!(
            r.verdict == "same-weights" || r.verdict == "identical",
            "{} ↔ {} called {}",
            r.a,
            r.b,
            r.verdict
        );
    }
}

#[test]
fn the_minilm_shell_is_related_with_fine_tune_and_permuted() {
    let Some(rs) = run(&[("minilm", "minilm-shell")]) else {
        return;
    };
    let r = &rs[0];
    assert_eq!(r.verdict, "related");
    assert!(
        has(r, &["fine-tune", "permuted", "renamed"]),
        "{:?}",
        r.kinds
    );
}

#[test]
fn the_manifest_labels_every_pair_and_records_the_fine_tune() {
    let Some((dir, m)) = manifest() else {
        return;
    };
    let n = m.sources.len() + m.shells.len();
    assert_eq!(m.pairs.len(), n * (n - 1));
    assert_eq!(m.fine_tune, "synthetic-low-rank");
    for s in &m.shells {
        assert!(dir.join(&s.path).exists(), "{} missing", s.path);
        assert!(s.bytes > 1 << 20, "{} is {} bytes", s.id, s.bytes);
    }
    // the light fine-tune moves every matrix class by a few percent
    let ft = m
        .shells
        .iter()
        .find(|s| s.id == "smol-ft-bf16")
        .and_then(|s| s.relative_change.clone())
        .expect("relative change of smol-ft-bf16");
    for (class, x) in &ft {
        if class.ends_with("proj.weight") {
            assert!((0.01..0.06).contains(x), "{class}: {x}");
        }
    }
}
