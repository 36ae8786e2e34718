//! Prints the element-wise relations of canonical tensor pairs (a debugging aid):
//! `cargo run -p taoke-evidence --example debug_pairs -- A B`
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let a = taoke_model::open(&args[1]).unwrap();
    let b = taoke_model::open(&args[2]).unwrap();
    let va = taoke_evidence::view::ModelView::new(&a);
    let vb = taoke_evidence::view::ModelView::new(&b);
    for (k, ia) in &va.by_key {
        let ib = vb.by_key.get(k);
        println!(
            "{:<32} {:<40} {:?} {:?}",
            va.canonical_name(*ia),
            a.tensors[*ia].name,
            va.anatomy.tensors[*ia].orientation,
            ib.map(|i| (&b.tensors[*i].name, vb.anatomy.tensors[*i].orientation))
        );
    }
    println!(
        "qk order a {:?} b {:?}",
        va.anatomy.qk_row_order, vb.anatomy.qk_row_order
    );
    for p in taoke_evidence::triage::pair_deltas(&va, &vb, 1 << 26, taoke_evidence::LARGE) {
        println!(
            "{:<32} rel {:.3e} r {:.4} equal {} row_cos {:.3} spread {:.3} ones {:?}",
            p.name, p.delta.rel, p.delta.r, p.equal, p.row_cos, p.scale_spread, p.all_ones
        );
    }
}
