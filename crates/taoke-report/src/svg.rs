//! Hand-written inline SVG charts: the block × block heatmap with the layer map drawn on it, and
//! line charts of per-block values along depth. Pure functions from numbers to markup; every
//! number is printed with a fixed precision so output is byte-for-byte deterministic.

use std::fmt::Write as _;

use crate::model::Heatmap;

/// Escapes text for XML/HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Colour stops of the sequential palette (light = no evidence, dark = strong match).
const STOPS: [(f64, [f64; 3]); 5] = [
    (0.0, [247.0, 251.0, 255.0]),
    (0.25, [198.0, 219.0, 239.0]),
    (0.5, [107.0, 174.0, 214.0]),
    (0.75, [33.0, 113.0, 181.0]),
    (1.0, [8.0, 48.0, 107.0]),
];

/// The palette colour of `t` in [0, 1] as `#rrggbb`.
pub fn colour(t: f64) -> String {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let mut rgb = STOPS[STOPS.len() - 1].1;
    for w in STOPS.windows(2) {
        let ((t0, c0), (t1, c1)) = (w[0], w[1]);
        if t <= t1 {
            let f = if t1 > t0 { (t - t0) / (t1 - t0) } else { 0.0 };
            rgb = [
                c0[0] + f * (c1[0] - c0[0]),
                c0[1] + f * (c1[1] - c0[1]),
                c0[2] + f * (c1[2] - c0[2]),
            ];
            break;
        }
    }
    format!(
        "#{:02x}{:02x}{:02x}",
        rgb[0].round() as u8,
        rgb[1].round() as u8,
        rgb[2].round() as u8
    )
}

/// Every `step`-th label is drawn so labels never overlap.
fn label_step(n: usize, cell: f64) -> usize {
    let min_px = 14.0;
    let mut step = 1usize;
    while (step as f64) * cell < min_px && step < n.max(1) {
        step = match step {
            1 => 2,
            2 => 5,
            s => s * 2,
        };
    }
    step
}

/// The heatmap: one `<rect class="cell">` per block pair (`class="cell na"` where not tested),
/// the layer map as a polyline through the matched cells, axis labels and a colour legend.
pub fn heatmap(h: &Heatmap, id: &str) -> String {
    let side = h.rows.max(h.cols).max(1) as f64;
    let cell = (440.0 / side).clamp(4.0, 36.0);
    let (left, top) = (46.0, 40.0);
    let grid_w = cell * h.cols as f64;
    let grid_h = cell * h.rows as f64;
    let legend_w = 70.0;
    let width = left + grid_w + 20.0 + legend_w;
    let height = (top + grid_h + 16.0).max(top + 180.0);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="heatmap" id="{id}-heatmap" data-rows="{}" data-cols="{}" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" role="img" aria-label="block by block match strength, blocks of A down, blocks of B across">"#,
        h.rows,
        h.cols,
        id = esc(id)
    );
    let _ = write!(
        s,
        r#"<text class="axis-title" x="{:.1}" y="12">blocks of B →</text><text class="axis-title" x="10" y="{:.1}" transform="rotate(-90 10 {:.1})">blocks of A →</text>"#,
        left,
        top + grid_h / 2.0 + 30.0,
        top + grid_h / 2.0 + 30.0
    );
    let step_c = label_step(h.cols, cell);
    for j in (0..h.cols).step_by(step_c) {
        let _ = write!(
            s,
            r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="middle">{j}</text>"#,
            left + (j as f64 + 0.5) * cell,
            top - 6.0
        );
    }
    let step_r = label_step(h.rows, cell);
    for i in (0..h.rows).step_by(step_r) {
        let _ = write!(
            s,
            r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="end" dominant-baseline="middle">{i}</text>"#,
            left - 6.0,
            top + (i as f64 + 0.5) * cell
        );
    }
    s.push_str(r#"<g class="cells">"#);
    for (i, row) in h.cells.iter().enumerate() {
        for j in 0..h.cols {
            let v = row.get(j).copied().flatten();
            let (x, y) = (left + j as f64 * cell, top + i as f64 * cell);
            match v {
                Some(v) => {
                    let _ = write!(
                        s,
                        r#"<rect class="cell" x="{x:.1}" y="{y:.1}" width="{cell:.1}" height="{cell:.1}" fill="{}" data-a="{i}" data-b="{j}" data-v="{v:.2}"><title>A blk.{i} ↔ B blk.{j}: −log10 p = {v:.1}{}</title></rect>"#,
                        colour(v / h.cap),
                        if v >= h.cap { " (capped)" } else { "" }
                    );
                }
                None => {
                    let _ = write!(
                        s,
                        r#"<rect class="cell na" x="{x:.1}" y="{y:.1}" width="{cell:.1}" height="{cell:.1}" data-a="{i}" data-b="{j}"><title>A blk.{i} ↔ B blk.{j}: not tested</title></rect>"#
                    );
                }
            }
        }
    }
    s.push_str("</g>");
    if !h.links.is_empty() {
        let pts: Vec<String> = h
            .links
            .iter()
            .map(|&(a, b)| {
                format!(
                    "{:.1},{:.1}",
                    left + (b as f64 + 0.5) * cell,
                    top + (a as f64 + 0.5) * cell
                )
            })
            .collect();
        let _ = write!(
            s,
            r#"<g class="layer-map"><polyline points="{}" fill="none"/>"#,
            pts.join(" ")
        );
        let r = (cell * 0.22).clamp(1.5, 6.0);
        for &(a, b) in &h.links {
            let _ = write!(
                s,
                r#"<circle class="link" cx="{:.1}" cy="{:.1}" r="{r:.1}"><title>layer map: A blk.{a} → B blk.{b}</title></circle>"#,
                left + (b as f64 + 0.5) * cell,
                top + (a as f64 + 0.5) * cell
            );
        }
        s.push_str("</g>");
    }
    // Legend: a vertical gradient from 0 (bottom) to the cap (top).
    let lx = left + grid_w + 20.0;
    let lh = 140.0;
    let _ = write!(
        s,
        r#"<defs><linearGradient id="{id}-grad" x1="0" y1="1" x2="0" y2="0">"#,
        id = esc(id)
    );
    for (t, _) in STOPS {
        let _ = write!(s, r#"<stop offset="{t:.2}" stop-color="{}"/>"#, colour(t));
    }
    let _ = write!(
        s,
        r##"</linearGradient></defs><g class="legend"><rect x="{lx:.1}" y="{top:.1}" width="14" height="{lh:.1}" fill="url(#{id}-grad)" stroke="#999"/>"##,
        id = esc(id)
    );
    for (v, label) in [
        (0.0, "0".to_owned()),
        (h.threshold.min(h.cap), format!("{:.0} (α)", h.threshold)),
        (h.cap, format!("≥{:.0}", h.cap)),
    ] {
        let y = top + lh * (1.0 - v / h.cap);
        let _ = write!(
            s,
            r##"<line x1="{:.1}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#333"/><text class="tick" x="{:.1}" y="{y:.1}" dominant-baseline="middle">{}</text>"##,
            lx + 14.0,
            lx + 18.0,
            lx + 20.0,
            esc(&label)
        );
    }
    let _ = write!(
        s,
        r#"<text class="tick" x="{lx:.1}" y="{:.1}">−log10 p</text></g></svg>"#,
        top + lh + 16.0
    );
    s
}

/// The smallest of 1, 2, 2.5, 5 × 10^k times 4 at or above `x` (so 4 ticks are round numbers).
fn nice_ceil(x: f64) -> f64 {
    let raw = x / 4.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    4.0 * step
}

/// One series of a line chart.
#[derive(Debug, Clone)]
pub struct Series<'a> {
    /// Legend name.
    pub name: &'a str,
    /// Stroke colour.
    pub colour: &'a str,
    /// Value per x position (`None` = gap).
    pub values: Vec<Option<f64>>,
}

/// A line chart over block index. With `log_y`, values are drawn on a log10 axis (values ≤ 0
/// are dropped). `hline` draws a dashed reference line with a label.
pub fn line_chart(
    id: &str,
    title: &str,
    y_label: &str,
    series: &[Series<'_>],
    log_y: bool,
    hline: Option<(f64, &str)>,
) -> String {
    let n = series.iter().map(|s| s.values.len()).max().unwrap_or(0);
    let tf = |v: f64| -> Option<f64> {
        if !v.is_finite() {
            None
        } else if log_y {
            (v > 0.0).then(|| v.log10())
        } else {
            Some(v)
        }
    };
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for s in series {
        for v in s.values.iter().flatten().filter_map(|&v| tf(v)) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    if let Some((h, _)) = hline {
        if let Some(h) = tf(h) {
            lo = lo.min(h);
            hi = hi.max(h);
        }
    }
    if !lo.is_finite() || !hi.is_finite() {
        lo = 0.0;
        hi = 1.0;
    }
    if log_y {
        lo = lo.floor();
        hi = hi.ceil();
    } else {
        lo = lo.min(0.0);
        hi = if hi > 0.0 { nice_ceil(hi) } else { 1.0 };
    }
    if hi - lo < 1e-9 {
        hi = lo + 1.0;
    }
    let (w, h) = (560.0, 200.0);
    let (left, right, top, bottom) = (56.0, 130.0, 24.0, 30.0);
    let pw = w - left - right;
    let ph = h - top - bottom;
    let xs = |i: usize| {
        if n <= 1 {
            left + pw / 2.0
        } else {
            left + pw * i as f64 / (n - 1) as f64
        }
    };
    let ys = |v: f64| top + ph * (1.0 - (v - lo) / (hi - lo));
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{}" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" role="img" aria-label="{}">"#,
        esc(id),
        esc(title)
    );
    let _ = write!(
        s,
        r##"<rect x="{left:.1}" y="{top:.1}" width="{pw:.1}" height="{ph:.1}" fill="#fafafa" stroke="#ccc"/>"##
    );
    // y ticks
    let ticks: Vec<f64> = if log_y {
        let step = ((hi - lo) / 5.0).ceil().max(1.0);
        let mut t = Vec::new();
        let mut v = lo;
        while v <= hi + 1e-9 {
            t.push(v);
            v += step;
        }
        t
    } else {
        (0..=4).map(|k| lo + (hi - lo) * k as f64 / 4.0).collect()
    };
    for t in ticks {
        let y = ys(t);
        let label = if log_y {
            format!("1e{t:.0}")
        } else {
            format!("{}", (t * 100.0).round() / 100.0 + 0.0)
        };
        let _ = write!(
            s,
            r##"<line x1="{left:.1}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#e4e4e4"/><text class="tick" x="{:.1}" y="{y:.1}" text-anchor="end" dominant-baseline="middle">{label}</text>"##,
            left + pw,
            left - 4.0
        );
    }
    let step = label_step(n, if n > 1 { pw / (n - 1) as f64 } else { pw });
    for i in (0..n).step_by(step) {
        let _ = write!(
            s,
            r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="middle">{i}</text>"#,
            xs(i),
            top + ph + 14.0
        );
    }
    let _ = write!(
        s,
        r#"<text class="axis-title" x="{:.1}" y="{:.1}" text-anchor="middle">block of A</text><text class="axis-title" x="12" y="{:.1}" transform="rotate(-90 12 {:.1})" text-anchor="middle">{}</text>"#,
        left + pw / 2.0,
        h - 2.0,
        top + ph / 2.0,
        top + ph / 2.0,
        esc(y_label)
    );
    if let Some((hv, label)) = hline {
        if let Some(t) = tf(hv) {
            let y = ys(t);
            let _ = write!(
                s,
                r##"<line class="threshold" x1="{left:.1}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#c0392b" stroke-dasharray="4 3"/><text class="tick" x="{:.1}" y="{:.1}" fill="#c0392b">{}</text>"##,
                left + pw,
                left + pw + 4.0,
                y,
                esc(label)
            );
        }
    }
    for (k, ser) in series.iter().enumerate() {
        let mut segs: Vec<Vec<(f64, f64, f64)>> = vec![Vec::new()];
        for (i, v) in ser.values.iter().enumerate() {
            match v.and_then(|v| tf(v).map(|t| (v, t))) {
                Some((raw, t)) => {
                    if let Some(seg) = segs.last_mut() {
                        seg.push((xs(i), ys(t), raw));
                    }
                }
                None => segs.push(Vec::new()),
            }
        }
        let _ = write!(s, r#"<g class="series" data-name="{}">"#, esc(ser.name));
        for seg in segs.iter().filter(|g| g.len() > 1) {
            let pts: Vec<String> = seg
                .iter()
                .map(|(x, y, _)| format!("{x:.1},{y:.1}"))
                .collect();
            let _ = write!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>"#,
                pts.join(" "),
                esc(ser.colour)
            );
        }
        for (idx, seg) in segs.iter().enumerate() {
            let _ = idx;
            for (x, y, raw) in seg {
                let _ = write!(
                    s,
                    r#"<circle cx="{x:.1}" cy="{y:.1}" r="3" fill="{}"><title>{}: {}</title></circle>"#,
                    esc(ser.colour),
                    esc(ser.name),
                    esc(&crate::model::num_text(*raw))
                );
            }
        }
        s.push_str("</g>");
        let ly = top + 10.0 + 16.0 * k as f64;
        let _ = write!(
            s,
            r#"<line x1="{:.1}" x2="{:.1}" y1="{ly:.1}" y2="{ly:.1}" stroke="{}" stroke-width="3"/><text class="tick" x="{:.1}" y="{ly:.1}" dominant-baseline="middle">{}</text>"#,
            left + pw + 8.0,
            left + pw + 24.0,
            esc(ser.colour),
            left + pw + 28.0,
            esc(ser.name)
        );
    }
    s.push_str("</svg>");
    s
}
