//! `taoke demo` end to end: builds (or reuses) the small zoo, writes one HTML report, prints its
//! path on stdout; the report passes the Chromium check (one heatmap per pair with one cell per
//! block pair, no console errors). Fails under `CI` when Chromium is missing.
#![cfg(feature = "demo")]

use std::process::Command;

use taoke_report::browser;

#[test]
fn demo_writes_a_report_that_renders() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("demo.html");
    let out = Command::new(env!("CARGO_BIN_EXE_taoke"))
        .args(["demo", "-o"])
        .arg(&page)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.trim_end(), page.display().to_string());
    let html = std::fs::read_to_string(&page).unwrap();
    let pairs = html.matches(r#"<section class="pair""#).count();
    assert!(pairs >= 4, "demo shows {pairs} pairs");
    for label in [
        "fine-tune",
        "disguised copy",
        "pruned model",
        "independent twin",
    ] {
        assert!(html.contains(&format!(">{label}: ")), "no {label} pair");
    }
    // Expected cells: the sum over heatmaps of data-rows × data-cols.
    let mut expected_cells = 0;
    let mut heatmaps = 0;
    for chunk in html.split(r#"class="heatmap" id=""#).skip(1) {
        let num = |attr: &str| -> usize {
            let i = chunk.find(attr).unwrap() + attr.len();
            chunk[i..].split('"').next().unwrap().parse().unwrap()
        };
        expected_cells += num(r#"data-rows=""#) * num(r#"data-cols=""#);
        heatmaps += 1;
    }
    assert_eq!(heatmaps, pairs, "every pair has a heatmap");
    assert!(expected_cells >= 4 * 9);
    // --fail-on related on zoo pairs the demo just built: an independent twin exits 0, a
    // fine-tune exits 1.
    let zoo = taoke_zoo::default_dir(taoke_zoo::Profile::Small);
    let fail_on = |x: &str, y: &str| {
        Command::new(env!("CARGO_BIN_EXE_taoke"))
            .args(["compare", "--fail-on", "related"])
            .arg(zoo.join("models").join(x))
            .arg(zoo.join("models").join(y))
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(fail_on("a1", "a2"), Some(0), "independent twin must exit 0");
    assert_eq!(
        fail_on("a1", "a1-ft-code"),
        Some(1),
        "fine-tune must exit 1"
    );
    if !browser::available() {
        if std::env::var_os("CI").is_some() {
            panic!(
                "{} is missing under CI (scripts/ci-deps installs it)",
                browser::CHROMIUM
            );
        }
        eprintln!(
            "skipped the Chromium check: {} not installed",
            browser::CHROMIUM
        );
        return;
    }
    let profile = dir.path().join("profile");
    std::fs::create_dir(&profile).unwrap();
    let r = browser::dump_dom(&page, &profile).unwrap();
    assert!(
        r.console_errors.is_empty(),
        "console errors: {:?}",
        r.console_errors
    );
    assert_eq!(r.count(r#"class="heatmap""#), pairs);
    assert_eq!(r.count(r#"<rect class="cell"#), expected_cells);
}
