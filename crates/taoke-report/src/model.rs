//! The report model: what every renderer shows, computed once from a [`Comparison`].
//!
//! A [`Report`] holds one or more [`PairReport`]s (the CLI's `compare` makes one, `demo` makes
//! several). Each pair keeps the [`Comparison`] it was built from and the derived views the
//! renderers draw: the headline, the heatmap of block pairs, the per-block depth profile and the
//! evidence rows with formatted p-values.

use serde::Serialize;
use taoke_evidence::report::{Direction, Kind};
use taoke_evidence::{Comparison, Product, Scope, TestId};

/// −log10 p at which heatmap colours saturate.
pub const HEATMAP_CAP: f64 = 30.0;

/// Largest block count per side drawn as a heatmap (larger grids are summarised).
pub const MAX_HEATMAP_SIDE: usize = 256;

/// A report: one or more comparisons, with a title and an optional caller-given stamp.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Title of the document.
    pub title: String,
    /// A stamp such as a date, shown only when the caller passes one (reports are otherwise
    /// byte-for-byte deterministic).
    pub generated: Option<String>,
    /// Free text shown under the title.
    pub intro: Option<String>,
    /// The comparisons, in the order given.
    pub pairs: Vec<PairReport>,
}

/// Ground truth for a pair, when the caller knows it (the zoo's manifest in `taoke demo`).
#[derive(Debug, Clone, Serialize)]
pub struct Expected {
    /// Expected verdict (`related`, `same-weights`, `independent`, …).
    pub relation: String,
    /// Expected kinds.
    pub kinds: Vec<String>,
}

/// One comparison and its derived views.
#[derive(Debug, Clone, Serialize)]
pub struct PairReport {
    /// Anchor id (`pair-1`, …), unique within the report.
    pub id: String,
    /// Short label (`fine-tune`, `disguised copy`); defaults to `A ↔ B` file names.
    pub label: String,
    /// Why this pair is shown (demo), if given.
    pub note: Option<String>,
    /// Ground truth, if known.
    pub expected: Option<Expected>,
    /// The comparison.
    pub comparison: Comparison,
    /// Headline figures as text.
    pub headline: Headline,
    /// Evidence rows, as given by the engine (stable order).
    pub evidence: Vec<EvidenceRow>,
    /// The block × block heatmap, when both sides have blocks.
    pub heatmap: Option<Heatmap>,
    /// Per-block values along depth (blocks of A).
    pub depth: Vec<DepthPoint>,
}

/// The headline in words and numbers.
#[derive(Debug, Clone, Serialize)]
pub struct Headline {
    /// Verdict wire name.
    pub verdict: String,
    /// CSS class / tone: `same`, `related`, `independent`, `inconclusive`.
    pub tone: String,
    /// Kinds, wire names.
    pub kinds: Vec<String>,
    /// Direction in words.
    pub direction: String,
    /// `p = 1e-87`, `p = 0.277` or `p = n/a`.
    pub p_text: String,
    /// `−log10 p` rounded (0 when unknown).
    pub neg_log10_p: f64,
}

/// One evidence row with display text.
#[derive(Debug, Clone, Serialize)]
pub struct EvidenceRow {
    /// Test id.
    pub test: String,
    /// Scope.
    pub scope: String,
    /// Statistic, formatted.
    pub statistic: String,
    /// p-value text (`1e-89`, `0.277`, `—`).
    pub p_text: String,
    /// log10 p, formatted (`-89.1`), or `—`.
    pub log10_p_text: String,
    /// The range of the statistic expected under the null of independence, when the engine
    /// reports one (it does not yet: shown as `—`).
    pub null_range: Option<String>,
    /// Whether this row alone is below α.
    pub significant: bool,
    /// One sentence.
    pub summary: String,
}

/// The heatmap: `cells[i][j]` is `min(−log10 p, cap)` for block `i` of A and block `j` of B.
#[derive(Debug, Clone, Serialize)]
pub struct Heatmap {
    /// Blocks of A (rows).
    pub rows: usize,
    /// Blocks of B (columns).
    pub cols: usize,
    /// Capped −log10 p, `None` where the pair was not tested.
    pub cells: Vec<Vec<Option<f64>>>,
    /// Colour saturation value.
    pub cap: f64,
    /// −log10 α (cells at or above are significant on their own).
    pub threshold: f64,
    /// Layer map links `(a, b)` inside the grid.
    pub links: Vec<(usize, usize)>,
}

/// Values for one block of A along depth.
#[derive(Debug, Clone, Serialize)]
pub struct DepthPoint {
    /// Block index in A.
    pub block: usize,
    /// −log10 p of the best-matching block of B (row maximum of the block matrix).
    pub best_neg_log10_p: Option<f64>,
    /// The block of B it matches best.
    pub best_b: Option<usize>,
    /// Relative difference of the function-invariant products at this block
    /// (`invariant-product` evidence), per product: attn-vo, attn-qk, mlp-down-up.
    pub invariant: [Option<f64>; 3],
}

/// Names of the invariant products, in [`DepthPoint::invariant`] order.
pub const INVARIANT_PRODUCTS: [&str; 3] = [
    Product::ALL[0].as_str(),
    Product::ALL[1].as_str(),
    Product::ALL[2].as_str(),
];

impl Report {
    /// A report of one comparison.
    pub fn single(c: Comparison) -> Report {
        let label = default_label(&c);
        Report {
            title: format!("taoke: {label}"),
            generated: None,
            intro: None,
            pairs: vec![PairReport::new("pair-1", label, c)],
        }
    }
}

/// File name of a path (either separator).
pub fn file_name(path: &str) -> &str {
    let trimmed = path.trim_end_matches(['/', '\\']);
    trimmed.rsplit(['/', '\\']).next().unwrap_or(trimmed)
}

/// The last two components of a path (`a1/model.safetensors`).
fn short_path(path: &str) -> &str {
    let trimmed = path.trim_end_matches(['/', '\\']);
    match trimmed.rfind(['/', '\\']) {
        Some(i) => match trimmed[..i].rfind(['/', '\\']) {
            Some(j) => &trimmed[j + 1..],
            None => trimmed,
        },
        None => trimmed,
    }
}

fn default_label(c: &Comparison) -> String {
    let (a, b) = (file_name(&c.a.path), file_name(&c.b.path));
    if a == b {
        format!("{} ↔ {}", short_path(&c.a.path), short_path(&c.b.path))
    } else {
        format!("{a} ↔ {b}")
    }
}

/// `1e-87` for tiny p-values, `0.277` otherwise, from `log10 p` (preferred) or `p`.
pub fn p_text(p: Option<f64>, log10_p: Option<f64>) -> String {
    match (log10_p, p) {
        (Some(l), _) if l.is_finite() && l < -4.0 => format!("1e{:.0}", l.floor()),
        (_, Some(p)) if p.is_finite() => {
            if p >= 0.001 || p == 0.0 {
                format!("{p:.3}")
            } else {
                format!("{p:.1e}")
            }
        }
        (Some(l), None) if l.is_finite() => format!("{:.3}", 10f64.powf(l)),
        _ => "—".to_owned(),
    }
}

/// A statistic with a sensible number of digits.
pub fn num_text(x: f64) -> String {
    if !x.is_finite() {
        return "—".to_owned();
    }
    let a = x.abs();
    if a == 0.0 {
        "0".to_owned()
    } else if !(1e-3..1e5).contains(&a) {
        format!("{x:.2e}")
    } else if a >= 100.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.4}")
    }
}

/// Direction in words.
pub fn direction_text(d: Direction) -> &'static str {
    match d {
        Direction::AFromB => "A was made from B",
        Direction::BFromA => "B was made from A",
        Direction::CommonAncestor => "both descend from a common ancestor",
        Direction::Unknown => "unknown",
    }
}

/// Wire name of a direction.
pub fn direction_wire(d: Direction) -> &'static str {
    match d {
        Direction::AFromB => "a-from-b",
        Direction::BFromA => "b-from-a",
        Direction::CommonAncestor => "common-ancestor",
        Direction::Unknown => "unknown",
    }
}

fn tone(v: taoke_evidence::Verdict) -> &'static str {
    use taoke_evidence::Verdict::*;
    match v {
        Identical | SameWeights => "same",
        Related => "related",
        Independent => "independent",
        Inconclusive => "inconclusive",
    }
}

impl PairReport {
    /// Builds the derived views of `c`.
    pub fn new(id: impl Into<String>, label: impl Into<String>, c: Comparison) -> PairReport {
        let threshold = if c.alpha > 0.0 && c.alpha < 1.0 {
            -c.alpha.log10()
        } else {
            6.0
        };
        let headline = Headline {
            verdict: c.verdict.as_str().to_owned(),
            tone: tone(c.verdict).to_owned(),
            kinds: c
                .kinds
                .iter()
                .map(|k: &Kind| k.as_str().to_owned())
                .collect(),
            direction: direction_text(c.direction).to_owned(),
            p_text: format!("p = {}", p_text(c.p_value, c.log10_p_value)),
            neg_log10_p: c
                .log10_p_value
                .filter(|l| l.is_finite())
                .map(|l| (-l).max(0.0))
                .unwrap_or(0.0),
        };
        let evidence = c
            .evidence
            .iter()
            .map(|e| EvidenceRow {
                test: e.test.as_str().to_owned(),
                scope: e.scope.to_string(),
                statistic: num_text(e.statistic),
                p_text: p_text(e.p_value, e.log10_p_value),
                log10_p_text: e
                    .log10_p_value
                    .filter(|l| l.is_finite())
                    .map(|l| format!("{l:.1}"))
                    .unwrap_or_else(|| "—".to_owned()),
                null_range: None,
                significant: e.log10_p_value.is_some_and(|l| -l >= threshold),
                summary: e.summary.clone(),
            })
            .collect();
        let rows = c.block_matrix.len();
        let cols = c.block_matrix.iter().map(Vec::len).max().unwrap_or(0);
        let heatmap =
            (rows > 0 && cols > 0 && rows <= MAX_HEATMAP_SIDE && cols <= MAX_HEATMAP_SIDE).then(
                || Heatmap {
                    rows,
                    cols,
                    cells: c
                        .block_matrix
                        .iter()
                        .map(|r| {
                            (0..cols)
                                .map(|j| {
                                    r.get(j)
                                        .copied()
                                        .flatten()
                                        .filter(|l| !l.is_nan())
                                        .map(|l| (-l).clamp(0.0, HEATMAP_CAP))
                                })
                                .collect()
                        })
                        .collect(),
                    cap: HEATMAP_CAP,
                    threshold,
                    links: c
                        .layer_map
                        .iter()
                        .filter_map(|l| {
                            let (a, b) = (l.a as usize, l.b as usize);
                            (a < rows && b < cols).then_some((a, b))
                        })
                        .collect(),
                },
            );
        let depth_len = rows.max(c.a.blocks as usize).min(4096);
        let mut depth: Vec<DepthPoint> = (0..depth_len)
            .map(|i| {
                let best = c.block_matrix.get(i).and_then(|r| {
                    r.iter()
                        .enumerate()
                        .filter_map(|(j, v)| v.filter(|x| !x.is_nan()).map(|x| (j, -x)))
                        .fold(None, |acc: Option<(usize, f64)>, (j, v)| match acc {
                            Some((_, bv)) if bv >= v => acc,
                            _ => Some((j, v)),
                        })
                });
                DepthPoint {
                    block: i,
                    best_neg_log10_p: best.map(|(_, v)| v.max(0.0)),
                    best_b: best.map(|(j, _)| j),
                    invariant: [None; 3],
                }
            })
            .collect();
        for e in c
            .evidence
            .iter()
            .filter(|e| e.test == TestId::InvariantProduct)
        {
            if let Scope::Product { a, product, .. } = e.scope {
                let k = Product::ALL.iter().position(|p| *p == product).unwrap_or(0);
                if let Some(d) = depth.get_mut(a as usize) {
                    if e.statistic.is_finite() {
                        d.invariant[k] = Some(e.statistic);
                    }
                }
            }
        }
        PairReport {
            id: id.into(),
            label: label.into(),
            note: None,
            expected: None,
            comparison: c,
            headline,
            evidence,
            heatmap,
            depth,
        }
    }

    /// Whether any depth point has an invariant-product value.
    pub fn has_invariants(&self) -> bool {
        self.depth
            .iter()
            .any(|d| d.invariant.iter().any(Option::is_some))
    }

    /// Whether any depth point has a block-match value.
    pub fn has_block_matches(&self) -> bool {
        self.depth.iter().any(|d| d.best_neg_log10_p.is_some())
    }
}
