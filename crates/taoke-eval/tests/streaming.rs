//! The streaming path for large models (sampled rows, unit subsets, diagonal-first block tests,
//! products on three blocks) must reach the same verdicts as the full analysis. Forced on the
//! small zoo with `Options::large_above = 0`, on every labelled pair that involves a weight
//! root of the llama family (the big models of issue 10 take this path by default).

use taoke_evidence::{compare, Options};

#[test]
fn streaming_path_agrees_with_the_full_analysis_on_the_small_zoo() {
    let dir = taoke_zoo::default_dir(taoke_zoo::Profile::Small);
    let m = taoke_zoo::build(taoke_zoo::Profile::Small, &dir, &mut |_| {}).expect("zoo builds");
    let roots: Vec<&str> = m
        .models
        .iter()
        .filter(|e| e.architecture == "llama" && e.parents.is_empty() && e.teacher.is_none())
        .map(|e| e.id.as_str())
        .collect();
    assert!(!roots.is_empty());
    let root = roots[0];
    let open = |id: &str| {
        let e = m.model(id).expect("model in manifest");
        taoke_model::open(dir.join(&e.path).to_string_lossy()).expect("opens")
    };
    let full = Options::default();
    let streaming = Options {
        large_above: 0,
        ..Options::default()
    };
    let mut checked = 0;
    let mut related = 0;
    let mut disagreements = Vec::new();
    for p in m.pairs.iter().filter(|p| p.a == root) {
        let (a, b) = (open(&p.a), open(&p.b));
        let x = compare(&a, &b, &full).expect("full compare");
        let y = compare(&a, &b, &streaming).expect("streaming compare");
        checked += 1;
        if x.verdict.as_str() != "independent" {
            related += 1;
        }
        if x.verdict != y.verdict {
            disagreements.push(format!(
                "{} vs {}: full {} / streaming {}",
                p.a,
                p.b,
                x.verdict.as_str(),
                y.verdict.as_str()
            ));
        }
    }
    assert!(checked >= 20, "{checked} pairs");
    assert!(related >= 10, "{related} related pairs");
    assert!(disagreements.is_empty(), "{disagreements:#?}");
}
