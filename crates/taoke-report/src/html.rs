//! Self-contained HTML: one file, inline CSS and SVG, no scripts and no network assets. Text is
//! escaped by the template engine (minijinja's HTML auto-escaping); only the SVG produced by
//! [`crate::svg`] is inserted as markup.

use minijinja::value::Serde;
use minijinja::{context, Environment, Value};
use serde::Serialize;

use crate::model::{PairReport, Report, INVARIANT_PRODUCTS};
use crate::svg::{self, Series};
use crate::Error;

const TEMPLATE: &str = include_str!("../templates/report.html");

/// Invariant-product differences are drawn on a log axis; smaller values (exact copies give
/// 0) are drawn at this floor.
const INVARIANT_FLOOR: f64 = 1e-7;

/// Colours of the invariant-product series.
const PRODUCT_COLOURS: [&str; 3] = ["#2471a3", "#d35400", "#27ae60"];

#[derive(Serialize)]
struct Component {
    a: String,
    b: String,
    verdict: &'static str,
    tone: &'static str,
    lp: String,
}

#[derive(Serialize)]
struct Chart {
    svg: Value,
    caption: String,
}

/// The charts of one pair, as inline SVG: the heatmap (when the pair has blocks) and the depth
/// charts (best block match, invariant products).
pub fn pair_charts(p: &PairReport) -> (Option<String>, Vec<(String, String)>) {
    let heat = p.heatmap.as_ref().map(|h| svg::heatmap(h, &p.id));
    let mut depth = Vec::new();
    if p.has_block_matches() {
        let cap = p
            .heatmap
            .as_ref()
            .map(|h| h.cap)
            .unwrap_or(crate::model::HEATMAP_CAP);
        let thr = p.heatmap.as_ref().map(|h| h.threshold).unwrap_or(6.0);
        depth.push((
            svg::line_chart(
                &format!("{}-depth-match", p.id),
                "best block match along depth",
                "−log10 p",
                &[Series {
                    name: "best match",
                    colour: "#2c3e50",
                    values: p
                        .depth
                        .iter()
                        .map(|d| d.best_neg_log10_p.map(|v| v.min(cap * 10.0)))
                        .collect(),
                }],
                false,
                Some((thr, "α")),
            ),
            "Per block of A: −log10 p of its best-matching block of B (dashed: the significance level).".to_owned(),
        ));
    }
    if p.has_invariants() {
        let series: Vec<Series<'_>> = INVARIANT_PRODUCTS
            .iter()
            .enumerate()
            .map(|(k, name)| Series {
                name,
                colour: PRODUCT_COLOURS[k],
                values: p
                    .depth
                    .iter()
                    .map(|d| d.invariant[k].map(|v| v.max(INVARIANT_FLOOR)))
                    .collect(),
            })
            .collect();
        depth.push((
            svg::line_chart(
                &format!("{}-depth-invariants", p.id),
                "invariant products along depth",
                "relative difference",
                &series,
                true,
                None,
            ),
            "Per block: relative difference of the function-invariant products (W_oW_v, W_qᵀW_k, W_down·W_up). Near 0: the same function (a disguised copy); near 1 or above: unrelated or retrained. Values below 1e-7 (exact copies) are drawn at 1e-7.".to_owned(),
        ));
    }
    (heat, depth)
}

/// Renders the report as one HTML document.
pub fn render(r: &Report) -> Result<String, Error> {
    let mut env = Environment::new();
    env.add_template("report.html", TEMPLATE)
        .map_err(|e| Error::Template(format!("report.html: {e}")))?;
    let tmpl = env
        .get_template("report.html")
        .map_err(|e| Error::Template(format!("report.html: {e}")))?;
    let pairs: Vec<Value> = r
        .pairs
        .iter()
        .map(|p| {
            let (heat, depth) = pair_charts(p);
            let components: Vec<Component> = p
                .comparison
                .components
                .iter()
                .map(|c| Component {
                    a: c.a.clone(),
                    b: c.b.clone(),
                    verdict: c.verdict.as_str(),
                    tone: match c.verdict {
                        taoke_evidence::Verdict::Identical
                        | taoke_evidence::Verdict::SameWeights => "same",
                        taoke_evidence::Verdict::Related => "related",
                        taoke_evidence::Verdict::Independent => "independent",
                        taoke_evidence::Verdict::Inconclusive => "inconclusive",
                    },
                    lp: c
                        .log10_p_value
                        .filter(|l| l.is_finite())
                        .map(|l| format!("{l:.1}"))
                        .unwrap_or_else(|| "—".into()),
                })
                .collect();
            let tok = p.comparison.tokenizer.as_ref();
            context! {
                p => Value::from(Serde(p)),
                heatmap_svg => heat.map(Value::from_safe_string),
                depth_svgs => depth
                    .into_iter()
                    .map(|(svg, caption)| Chart { svg: Value::from_safe_string(svg), caption })
                    .map(|c| Value::from(Serde(&c)))
                    .collect::<Vec<_>>(),
                cap => format!("{:.0}", p.heatmap.as_ref().map(|h| h.cap).unwrap_or(crate::model::HEATMAP_CAP)),
                components => Value::from(Serde(&components)),
                tok_jaccard => tok.map(|t| format!("{:.4}", t.jaccard)),
                tok_equal => tok.map(|t| format!("{:.1}", 100.0 * t.equal_id_fraction)),
            }
        })
        .collect();
    tmpl.render(context! {
        report => Value::from(Serde(r)),
        pairs => pairs,
        version => env!("CARGO_PKG_VERSION"),
    })
    .map_err(|e| Error::Template(format!("report.html: {e}")))
}
