//! The shells evaluation (issue 17): `compare` on the real-weight shells' labelled pairs
//! (`shells.json`, written by `scripts/make-shells`) and the `## Shells` table of ACCURACY.md.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use serde::Serialize;
use taoke_evidence::Options;
use taoke_zoo::shell::{ShellManifest, ShellPair};
use taoke_zoo::Relation;

/// A class of pairs in the table.
type ResultFilter = Box<dyn Fn(&ShellResult) -> bool>;

/// One evaluated shell pair.
#[derive(Debug, Clone, Serialize)]
pub struct ShellResult {
    /// Model A id.
    pub a: String,
    /// Model B id.
    pub b: String,
    /// Ground truth (`identical`, `same-weights`, `related`, `independent`).
    pub truth: String,
    /// Ground-truth kinds.
    pub truth_kinds: Vec<String>,
    /// Ground-truth direction (`a-from-b`, `b-from-a`, `common-ancestor`, `none`).
    pub truth_direction: String,
    /// Whether the pair is a hard negative (a twin against its source's lineage).
    pub hard_negative: bool,
    /// Predicted verdict (`error` when compare failed).
    pub verdict: String,
    /// Predicted kinds.
    pub kinds: Vec<String>,
    /// Predicted direction.
    pub direction: String,
    /// Combined p-value (log10).
    pub log10_p: Option<f64>,
    /// Seconds spent.
    pub seconds: f64,
    /// Error, if compare failed.
    pub error: Option<String>,
}

fn truth_name(r: Relation) -> &'static str {
    match r {
        Relation::Identical => "identical",
        Relation::SameWeights => "same-weights",
        Relation::Related => "related",
        Relation::Independent => "independent",
    }
}

fn json_str<T: Serialize>(x: &T) -> String {
    serde_json::to_value(x)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Compares the given pairs of a shells manifest in `dir` (checkpoints opened once each).
/// `progress` receives (done, total).
pub fn evaluate_shells(
    dir: &Path,
    manifest: &ShellManifest,
    pairs: &[&ShellPair],
    progress: &mut dyn FnMut(usize, usize),
) -> Vec<ShellResult> {
    let mut opened: BTreeMap<String, Result<taoke_model::Checkpoint, String>> = BTreeMap::new();
    let mut out = Vec::with_capacity(pairs.len());
    for (k, p) in pairs.iter().enumerate() {
        for id in [&p.a, &p.b] {
            if !opened.contains_key(id) {
                let ck = manifest
                    .path_of(dir, id)
                    .ok_or_else(|| format!("model {id} not in shells.json"))
                    .and_then(|path| {
                        taoke_model::open(path.to_string_lossy()).map_err(|e| e.to_string())
                    });
                opened.insert(id.clone(), ck);
            }
        }
        let t0 = Instant::now();
        let res = match (&opened[&p.a], &opened[&p.b]) {
            (Ok(a), Ok(b)) => {
                taoke_evidence::compare(a, b, &Options::default()).map_err(|e| e.to_string())
            }
            (Err(e), _) | (_, Err(e)) => Err(e.clone()),
        };
        let (verdict, kinds, direction, log10_p, error) = match res {
            Ok(c) => (
                c.verdict.as_str().to_owned(),
                c.kinds.iter().map(|k| k.as_str().to_owned()).collect(),
                json_str(&c.direction),
                c.log10_p_value,
                None,
            ),
            Err(e) => ("error".to_owned(), Vec::new(), String::new(), None, Some(e)),
        };
        out.push(ShellResult {
            a: p.a.clone(),
            b: p.b.clone(),
            truth: truth_name(p.relation).to_owned(),
            truth_kinds: p.kinds.clone(),
            truth_direction: json_str(&p.direction),
            hard_negative: p.hard_negative,
            verdict,
            kinds,
            direction,
            log10_p,
            seconds: t0.elapsed().as_secs_f64(),
            error,
        });
        progress(k + 1, pairs.len());
    }
    out
}

/// The unordered pairs of a manifest (a < b in manifest order), which the evaluation compares:
/// compare is symmetric up to the direction, which the table scores on these.
pub fn unordered_pairs(manifest: &ShellManifest) -> Vec<&ShellPair> {
    let order: BTreeMap<&str, usize> = manifest
        .sources
        .iter()
        .map(|s| s.id.as_str())
        .chain(manifest.shells.iter().map(|s| s.id.as_str()))
        .enumerate()
        .map(|(i, id)| (id, i))
        .collect();
    manifest
        .pairs
        .iter()
        .filter(|p| order.get(p.a.as_str()) < order.get(p.b.as_str()))
        .collect()
}

/// Kinds that a verdict must name for a pair (the label's kinds that change weights or names;
/// storage details such as `format-change` and `dtype-recast` are scored too).
fn kinds_right(r: &ShellResult) -> bool {
    r.truth_kinds.iter().all(|k| r.kinds.contains(k))
}

/// Whether a verdict matches the ground truth: related pairs must be called related (or
/// same-weights/identical when no training is on the path), same-weights pairs same-weights or
/// identical, independent pairs independent (or inconclusive).
pub fn verdict_right(r: &ShellResult) -> bool {
    match r.truth.as_str() {
        "related" => r.verdict == "related",
        "same-weights" | "identical" => r.verdict == "same-weights" || r.verdict == "identical",
        _ => r.verdict != "related" && r.verdict != "same-weights" && r.verdict != "identical",
    }
}

/// The `## Shells` section: per class of pair, how many, verdict counts, false accusations on
/// hard negatives, kinds right, and the KS test of independent pairs' p-values.
pub fn shells_markdown(results: &[ShellResult], manifest: &ShellManifest, command: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "## Shells\n");
    let _ = writeln!(
        s,
        "Real-weight shells (issue 17): {} shells made by `scripts/make-shells` from SmolLM2-135M \
         (Q4_1 GGUF) and all-MiniLM-L6-v2, fine-tunes `{}`, {} unordered pairs compared.\n",
        manifest.shells.len(),
        manifest.fine_tune,
        results.len()
    );
    let classes: [(&str, ResultFilter); 4] = [
        (
            "related (a shell of a source)",
            Box::new(|r: &ShellResult| r.truth == "related"),
        ),
        (
            "same-weights",
            Box::new(|r: &ShellResult| r.truth == "same-weights" || r.truth == "identical"),
        ),
        (
            "hard negatives (twins)",
            Box::new(|r: &ShellResult| r.truth == "independent" && r.hard_negative),
        ),
        (
            "other independent",
            Box::new(|r: &ShellResult| r.truth == "independent" && !r.hard_negative),
        ),
    ];
    let _ = writeln!(
        s,
        "| pairs | n | verdict right | related | same-weights | identical | independent | inconclusive | error | kinds right |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|");
    for (name, f) in &classes {
        let rs: Vec<&ShellResult> = results.iter().filter(|r| f(r)).collect();
        let c = |v: &str| rs.iter().filter(|r| r.verdict == v).count();
        let scored: Vec<&&ShellResult> = rs.iter().filter(|r| r.truth != "independent").collect();
        let kr = if scored.is_empty() {
            "–".to_owned()
        } else {
            let k = scored.iter().filter(|r| kinds_right(r)).count();
            format!(
                "{k} / {} ({:.0} %)",
                scored.len(),
                100.0 * k as f64 / scored.len() as f64
            )
        };
        let _ = writeln!(
            s,
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {kr} |",
            rs.len(),
            rs.iter().filter(|r| verdict_right(r)).count(),
            c("related"),
            c("same-weights"),
            c("identical"),
            c("independent"),
            c("inconclusive"),
            c("error"),
        );
    }
    let accusations = results
        .iter()
        .filter(|r| r.truth == "independent" && r.hard_negative && !verdict_right(r))
        .count();
    let _ = writeln!(
        s,
        "\nFalse accusations on the disguised hard negatives: **{accusations}**."
    );
    let ps: Vec<f64> = results
        .iter()
        .filter(|r| r.truth == "independent")
        .filter_map(|r| r.log10_p.map(|l| 10f64.powf(l).clamp(0.0, 1.0)))
        .collect();
    match taoke_stats::calibration::ks_uniform(&ps) {
        Ok(ks) => {
            let _ = writeln!(
                s,
                "Independent pairs' p-values: n = {}, KS D = {:.3}, KS p = {:.3}.",
                ks.n, ks.statistic, ks.p_value
            );
        }
        Err(_) => {
            let _ = writeln!(
                s,
                "Independent pairs' p-values: n = {} (too few for a KS test).",
                ps.len()
            );
        }
    }
    let _ = writeln!(
        s,
        "\n| a | b | truth | truth kinds | verdict | kinds | direction | log10 p |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    for r in results
        .iter()
        .filter(|r| r.truth != "independent" || r.hard_negative)
    {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.a,
            r.b,
            r.truth,
            r.truth_kinds.join(", "),
            r.verdict,
            r.kinds.join(", "),
            r.direction,
            r.log10_p.map_or("–".to_owned(), |l| format!("{l:.1}"))
        );
    }
    let _ = writeln!(
        s,
        "\nMade by:\n\n```sh\nscripts/make-shells\n{command}\n```"
    );
    s
}
