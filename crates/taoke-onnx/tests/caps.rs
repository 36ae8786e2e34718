//! Every documented cap of the ONNX parser refuses one item past it, naming what it counts.

mod common;

use common::{model, node, raw_f32, Msg};
use taoke_onnx::{
    parse, Error, MAX_DIMS, MAX_ENTRIES, MAX_INITIALIZERS, MAX_NAME_LEN, MAX_NODES, MAX_NODE_ITEMS,
};

fn opset() -> Msg {
    Msg::new().str(1, "").int(2, 17)
}

/// A model whose graph is `graph` bytes (fields already encoded).
fn with_graph(graph: Vec<u8>) -> Vec<u8> {
    Msg::new().int(1, 8).msg(8, opset()).bytes(7, &graph).0
}

#[test]
fn node_and_initializer_counts() {
    // MAX_NODES + 1 nodes of one output each (4 bytes a node).
    let one = Msg::new().msg(1, Msg::new().str(2, "")).0;
    let graph = one.repeat(MAX_NODES + 1);
    let err = parse(&with_graph(graph)).unwrap_err();
    assert!(
        matches!(err, Error::TooMany { what: "graph nodes", cap } if cap == MAX_NODES),
        "{err}"
    );
    // MAX_NODES nodes are fine.
    let graph = one.repeat(MAX_NODES);
    assert_eq!(parse(&with_graph(graph)).unwrap().nodes.len(), MAX_NODES);
    // MAX_INITIALIZERS + 1 initializers with distinct names.
    let mut graph = Vec::new();
    for i in 0..=MAX_INITIALIZERS {
        graph.extend(
            Msg::new()
                .msg(5, Msg::new().int(2, 1).str(8, &format!("{i:x}")))
                .0,
        );
    }
    let err = parse(&with_graph(graph)).unwrap_err();
    assert!(
        matches!(err, Error::TooMany { cap, .. } if cap == MAX_INITIALIZERS),
        "{err}"
    );
}

#[test]
fn names_dims_items_entries() {
    // MAX_NAME_LEN: a tensor name one byte too long.
    let long = "n".repeat(MAX_NAME_LEN + 1);
    let err = parse(&model(vec![raw_f32(&long, &[1], &[1.0])], vec![])).unwrap_err();
    assert!(
        matches!(err, Error::TooLong { len, cap, .. } if len == MAX_NAME_LEN + 1 && cap == MAX_NAME_LEN),
        "{err}"
    );
    assert!(parse(&model(vec![raw_f32(&long[1..], &[1], &[1.0])], vec![])).is_ok());
    // MAX_DIMS: rank 65.
    let dims = vec![1i64; MAX_DIMS + 1];
    let err = parse(&model(vec![raw_f32("w", &dims, &[1.0])], vec![])).unwrap_err();
    assert!(err.to_string().contains(&MAX_DIMS.to_string()), "{err}");
    assert!(parse(&model(vec![raw_f32("w", &dims[1..], &[1.0])], vec![])).is_ok());
    // MAX_NODE_ITEMS: a node with one input too many.
    let inputs: Vec<String> = (0..=MAX_NODE_ITEMS).map(|i| format!("i{i}")).collect();
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let err = parse(&model(vec![], vec![node("Concat", &refs, &["y"], vec![])])).unwrap_err();
    assert!(
        matches!(err, Error::TooMany { cap, .. } if cap == MAX_NODE_ITEMS),
        "{err}"
    );
    // MAX_ENTRIES: opset imports.
    let mut m = Msg::new().int(1, 8);
    for _ in 0..=MAX_ENTRIES {
        m = m.msg(8, opset());
    }
    let err = parse(&m.0).unwrap_err();
    assert!(
        matches!(err, Error::TooMany { cap, .. } if cap == MAX_ENTRIES),
        "{err}"
    );
}
