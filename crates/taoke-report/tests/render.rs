//! Every renderer on the shared sample report: snapshots (committed under `tests/snapshots/`;
//! a changed rendering fails until reviewed with `cargo insta review` or regenerated with
//! `INSTA_UPDATE=always cargo test -p taoke-report`), plus assertions on the numbers that
//! matter.

mod common;

use taoke_report::{html, json, markdown, model, terminal, Report};

fn report() -> Report {
    Report::single(common::sample())
}

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    // Paths and versions are the only things that may legitimately vary.
    s.add_filter(r#"taoke \d+\.\d+\.\d+"#, "taoke [version]");
    s.set_prepend_module_to_snapshot(false);
    s
}

#[test]
fn terminal_snapshot() {
    let r = report();
    let plain = terminal::render(&r, terminal::Style { color: false });
    assert!(plain.starts_with(
        "RELATED [format-change, fine-tune, pruned-depth] (p = 1e-215, direction b-from-a)"
    ));
    assert!(!plain.contains('\x1b'));
    let colored = terminal::render(&r, terminal::Style { color: true });
    assert!(colored.starts_with("\x1b[1mRELATED\x1b[0m"));
    settings().bind(|| insta::assert_snapshot!("terminal", plain));
}

#[test]
fn json_snapshot() {
    let r = report();
    let text = json::render(&r.pairs[0].comparison).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    for k in [
        "schema_version",
        "a",
        "b",
        "verdict",
        "kinds",
        "direction",
        "p_value",
        "evidence",
        "components",
        "block_matrix",
    ] {
        assert!(v.get(k).is_some(), "missing {k}");
    }
    assert_eq!(v["verdict"], "related");
    assert_eq!(v["block_matrix"][2][2], serde_json::Value::Null);
    settings().bind(|| insta::assert_snapshot!("json", text));
}

#[test]
fn markdown_snapshot() {
    let r = report();
    let md = markdown::render(&r);
    // The heatmap table: 4 rows of A, 3 columns of B, layer map marked on 3 cells.
    assert_eq!(md.matches("\\*").count(), 3);
    assert!(md.contains("| 3 | 0.1 | 0.9 | 30.0\\* |"), "{md}");
    assert!(md.contains("| 2 | 0.4 | 1.2 | · |"));
    // Pipes inside text are escaped so the evidence table keeps 7 columns.
    assert!(md.contains("bit-identical \\| &lt;none&gt;"));
    assert!(md.contains("### What this verdict does not prove"));
    settings().bind(|| insta::assert_snapshot!("markdown", md));
}

#[test]
fn html_snapshot() {
    let r = report();
    let page = html::render(&r).unwrap();
    assert_eq!(page.matches(r#"<rect class="cell"#).count(), 12);
    assert_eq!(page.matches(r#"<rect class="cell na""#).count(), 1);
    assert_eq!(page.matches(r#"<circle class="link""#).count(), 3);
    // Text is escaped; no raw markup from the data reaches the page.
    assert!(page.contains("base &lt;v1&gt;"));
    assert!(!page.contains("<v1>"));
    assert!(page.contains("pruned &amp; tuned.gguf"));
    // Self-contained: no scripts, no remote assets.
    assert!(!page.contains("<script"));
    assert!(
        !page.contains("http://")
            || page.matches("http://").count()
                == page.matches("http://www.w3.org/2000/svg").count()
    );
    assert!(!page.contains("https://"));
    // Depth charts: best match and invariant products.
    assert!(page.contains(r#"id="pair-1-depth-match""#));
    assert!(page.contains(r#"id="pair-1-depth-invariants""#));
    assert!(page.contains("What this verdict does not prove"));
    // Deterministic.
    assert_eq!(page, html::render(&r).unwrap());
    settings().bind(|| insta::assert_snapshot!("html", page));
}

#[test]
fn heatmap_values_capped_and_links_kept() {
    let r = report();
    let h = r.pairs[0].heatmap.as_ref().unwrap();
    assert_eq!((h.rows, h.cols), (4, 3));
    assert_eq!(h.cells[0][0], Some(model::HEATMAP_CAP));
    assert_eq!(h.cells[0][1], Some(0.3));
    assert_eq!(h.cells[2][2], None);
    assert_eq!(h.links, vec![(0, 0), (1, 1), (3, 2)]);
    assert!((h.threshold - 6.0).abs() < 1e-12);
    let d = &r.pairs[0].depth;
    assert_eq!(d.len(), 4);
    assert_eq!(d[3].best_b, Some(2));
    assert_eq!(d[3].best_neg_log10_p, Some(52.0));
    assert_eq!(d[2].invariant, [None, None, None]);
    assert!((d[3].invariant[2].unwrap() - 0.24).abs() < 1e-12);
}

#[test]
fn p_text_formats() {
    assert_eq!(model::p_text(Some(0.0), Some(-214.7)), "1e-215");
    assert_eq!(model::p_text(Some(0.2773), Some(-0.557)), "0.277");
    assert_eq!(model::p_text(Some(2e-4), Some(-3.7)), "2.0e-4");
    assert_eq!(model::p_text(None, None), "—");
}

#[test]
fn multi_pair_report_has_an_index() {
    let mut r = report();
    let mut second = taoke_report::PairReport::new("pair-2", "twin", common::sample());
    second.expected = Some(taoke_report::Expected {
        relation: "independent".into(),
        kinds: vec![],
    });
    r.pairs.push(second);
    let page = html::render(&r).unwrap();
    assert!(page.contains(r##"<a href="#pair-2">twin</a>"##));
    assert_eq!(
        page.matches(r#"<svg xmlns="http://www.w3.org/2000/svg" class="heatmap""#)
            .count(),
        2
    );
    let md = markdown::render(&r);
    assert!(md.contains("| [twin](#pair-2) | **related** |"));
    let all: serde_json::Value = serde_json::from_str(&json::render_all(&r).unwrap()).unwrap();
    assert_eq!(all.as_array().map(Vec::len), Some(2));
}
