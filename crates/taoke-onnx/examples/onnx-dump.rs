//! Prints an ONNX model's initializers, nodes and recovered quantized weights.
//!
//! `cargo run -p taoke-onnx --example onnx-dump -- MODEL.onnx [VALUE]`: with `VALUE`, prints
//! only the nodes within two steps of that value.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: onnx-dump MODEL.onnx [VALUE]");
        return ExitCode::from(2);
    };
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let m = match taoke_onnx::parse(&bytes) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let idx = taoke_onnx::GraphIndex::new(&m);
    if let Some(v) = args.get(1) {
        let mut frontier = vec![v.clone()];
        for _ in 0..3 {
            let mut next = Vec::new();
            for val in &frontier {
                for c in idx.consumers(val) {
                    let n = &m.nodes[c.node];
                    println!(
                        "#{} {} {:?} -> {:?} {:?}",
                        c.node, n.op_type, n.inputs, n.outputs, n.attributes
                    );
                    next.extend(n.outputs.iter().cloned());
                }
            }
            frontier = next;
        }
        return ExitCode::SUCCESS;
    }
    println!(
        "ir {} producer {} {} opsets {:?}",
        m.ir_version, m.producer, m.producer_version, m.opsets
    );
    println!("metadata {:?}", m.metadata);
    println!("inputs {:?}", m.inputs);
    println!("outputs {:?}", m.outputs);
    for t in &m.initializers {
        let uses: Vec<String> = idx
            .consumers(&t.name)
            .iter()
            .map(|c| format!("{}#{}[{}]", c.op_type, c.node, c.slot))
            .collect();
        println!(
            "init {} {:?} {} {:?} uses {}",
            t.name,
            t.dims,
            t.dtype,
            t.data,
            uses.join(",")
        );
    }
    for &i in idx.topo_order() {
        let n = &m.nodes[i];
        println!(
            "node #{i} {} {:?} {:?} -> {:?}",
            n.op_type, n.name, n.inputs, n.outputs
        );
    }
    let scan = taoke_onnx::find_quantized_weights(&m, &idx);
    for w in &scan.weights {
        println!("quant {w:?}");
    }
    for r in &scan.rejected {
        println!("rejected {r:?}");
    }
    ExitCode::SUCCESS
}
