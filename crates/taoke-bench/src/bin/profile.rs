//! `taoke-bench-profile A B`: times the public phases of `taoke_evidence::compare` one by one
//! on a pair (wall time, and anonymous RSS after each phase), to show where compare spends its
//! time and memory. The phases are called as compare calls them (same arguments, default
//! options); the private steps of compare (role recovery by content, transposed-bytes
//! detection, transform choice) are approximated by their public building blocks.

use std::time::Instant;

use taoke_evidence::units;
use taoke_evidence::view::ModelView;

fn rss() -> String {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let get = |k: &str| -> f64 {
        s.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|x| x.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1048576.0
    };
    format!(
        "anon {:.2} GiB, file {:.2} GiB, peak {:.2} GiB",
        get("RssAnon:"),
        get("RssFile:"),
        get("VmHWM:")
    )
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(args.len() >= 2, "usage: taoke-bench-profile A B [blocks]");
    let max_blocks: u32 = args.get(2).and_then(|x| x.parse().ok()).unwrap_or(u32::MAX);
    let opts = taoke_evidence::Options::default();
    let t = Instant::now();
    let a = taoke_model::open(&args[0])?;
    let b = taoke_model::open(&args[1])?;
    eprintln!("open: {:.2} s; {}", t.elapsed().as_secs_f64(), rss());
    let t = Instant::now();
    let va = ModelView::new(&a);
    let vb = ModelView::new(&b);
    eprintln!(
        "views (anatomy, vocab): {:.2} s; {}",
        t.elapsed().as_secs_f64(),
        rss()
    );

    // Transposed-bytes detection reads every shared tensor of at most 2^24 elements.
    let t = Instant::now();
    let (mut n, mut elems) = (0usize, 0u64);
    for (k, &ib) in &vb.by_key {
        let Some(&ia) = va.by_key.get(k) else {
            continue;
        };
        let (ta, tb) = (&a.tensors[ia], &b.tensors[ib]);
        if ta.shape.len() != 2 || ta.n_elements() != tb.n_elements() || ta.n_elements() > 1 << 24 {
            continue;
        }
        let (ma, mb) = (va.matrix(ia)?, vb.matrix(ib)?);
        let _ = taoke_evidence::products::delta(&ma.data, &mb.data);
        n += 1;
        elems += ta.n_elements();
    }
    eprintln!(
        "detect_reinterpreted-like reads: {n} pairs, {:.2} G elements each side, {:.2} s; {}",
        elems as f64 / 1e9,
        t.elapsed().as_secs_f64(),
        rss()
    );

    let t = Instant::now();
    let pairs = taoke_evidence::triage::pair_deltas(&va, &vb, 1 << 26, taoke_evidence::LARGE);
    eprintln!(
        "triage::pair_deltas: {} tensor pairs, {:.2} s; {}",
        pairs.len(),
        t.elapsed().as_secs_f64(),
        rss()
    );

    let d_a = a
        .tensors
        .iter()
        .find(|t| t.name.contains("embed") || t.name.contains("token_embd"))
        .map(|t| t.rows_cols().1 as usize)
        .unwrap_or(0);
    let t = Instant::now();
    let la = va.n_blocks().min(max_blocks);
    let mut fa = Vec::new();
    let mut fb = Vec::new();
    let id = taoke_evidence::align::Transform::Identity;
    for i in 0..la {
        let t1 = Instant::now();
        let x = units::features(&va, i, None, &id, d_a)?.map(|f| f.m);
        let y = units::features(&vb, i, None, &id, d_a)?.map(|f| f.m);
        if i == 0 {
            if let (Some(x), Some(y)) = (&x, &y) {
                eprintln!(
                    "  features of block 0: A {}×{}, B {}×{} f32 ({:.2} GiB each), {:.2} s",
                    x.rows,
                    x.cols,
                    y.rows,
                    y.cols,
                    (x.data.len() * 4) as f64 / (1u64 << 30) as f64,
                    t1.elapsed().as_secs_f64()
                );
            }
        }
        fa.push(x);
        fb.push(y);
    }
    eprintln!(
        "units::features, {la} blocks of both (all held, as compare does): {:.2} s; {}",
        t.elapsed().as_secs_f64(),
        rss()
    );
    for budget in [256usize, opts.max_units] {
        let t = Instant::now();
        let mut k = 0;
        for i in 0..la.min(4) as usize {
            if let (Some(x), Some(y)) = (&fa[i], &fb[i]) {
                let u = units::unit_test(x, y, budget, opts.seed)?;
                if i == 0 {
                    eprintln!(
                        "  unit_test block 0, budget {budget}: rho {:.3}, ln p {:.1}, mean cos {:.3}",
                        u.rho, u.ln_p, u.mean_cos
                    );
                }
                k += 1;
            }
        }
        eprintln!(
            "units::unit_test, budget {budget}: {:.3} s per block pair ({k} pairs); {}",
            t.elapsed().as_secs_f64() / k.max(1) as f64,
            rss()
        );
    }
    let tested = (la as usize) * (la as usize);
    eprintln!(
        "(compare tests {tested} block pairs at budget 256, then about {la} at {})",
        opts.max_units
    );
    drop((fa, fb));
    let t = Instant::now();
    let k = la.min(4);
    for i in 0..k {
        let _ = taoke_evidence::products::compare_block(&va, i, &vb, i, &id, d_a, opts.seed)?;
    }
    eprintln!(
        "products::compare_block: {:.2} s per block; {}",
        t.elapsed().as_secs_f64() / f64::from(k.max(1)),
        rss()
    );
    Ok(())
}
