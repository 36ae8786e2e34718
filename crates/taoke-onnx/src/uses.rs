//! Where each stored weight is used, under the names a checkpoint lists.
//!
//! [`tensor_uses`] walks the same list as a checkpoint view of the model: every initializer
//! that is not a component of a recovered quantized weight (under its own name), then every
//! recovered weight (under [`QuantizedWeight::name`], followed from the graph value it
//! dequantizes to). For each it gives the consuming nodes, the topological position of the
//! first one, and, for weights reaching a `MatMul` or `Gemm` (possibly through `Identity`,
//! `Cast` or a 2-D `Transpose`), the input slot and whether the stored matrix is the transpose
//! of the PyTorch `Linear` convention (`[out, in]`).

use crate::quant::QuantScan;
use crate::{Consumer, GraphIndex, Node, OnnxModel};

/// Cap on pass-through nodes followed from a weight to its matrix product.
const MAX_HOPS: usize = 8;

/// How a stored tensor is used by the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorUse {
    /// The tensor's name (initializer name, or recovered weight name).
    pub name: String,
    /// The graph value carrying it (for a recovered weight: the dequantized output).
    pub value: String,
    /// Direct consumers of `value`, in topological order.
    pub consumers: Vec<Consumer>,
    /// Topological position of the first consumer.
    pub first_use: Option<usize>,
    /// The `MatMul`/`Gemm`/`MatMulInteger` use reached from `value`, if any.
    pub matmul: Option<MatmulUse>,
}

/// A weight's use as a factor of a matrix product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatmulUse {
    /// The product node.
    pub node: usize,
    /// The product's operator.
    pub op_type: String,
    /// Input slot: 0 = left factor `A`, 1 = right factor `B` (2 = `C` of `Gemm`).
    pub slot: usize,
    /// Topological position of the product node.
    pub order: usize,
    /// Whether the stored 2-D tensor is `[in, out]`, the transpose of PyTorch's
    /// `Linear.weight` (`[out, in]`): true for the right factor of `MatMul`, `!transB` for
    /// `Gemm`, flipped by each `Transpose` on the way. `None` for other slots.
    pub transposed_vs_linear: Option<bool>,
}

/// Uses of every stored tensor, in the order described in the module docs.
pub fn tensor_uses(model: &OnnxModel, index: &GraphIndex, scan: &QuantScan) -> Vec<TensorUse> {
    let folded = scan.components();
    let mut out: Vec<TensorUse> = model
        .initializers
        .iter()
        .filter(|t| !folded.contains(t.name.as_str()))
        .map(|t| use_of(model, index, &t.name, &t.name))
        .collect();
    out.extend(
        scan.weights
            .iter()
            .map(|w| use_of(model, index, &w.name, &w.output)),
    );
    out
}

fn use_of(model: &OnnxModel, index: &GraphIndex, name: &str, value: &str) -> TensorUse {
    let consumers = index.consumers(value).to_vec();
    TensorUse {
        name: name.to_string(),
        value: value.to_string(),
        first_use: consumers.first().map(|c| c.order),
        consumers,
        matmul: matmul_use(model, index, value),
    }
}

fn is_2d_transpose(n: &Node) -> bool {
    match n.attribute("perm") {
        Some(crate::AttrValue::Ints(p)) => p.as_slice() == [1, 0],
        None => true, // default perm reverses the dims; only meaningful for 2-D weights
        _ => false,
    }
}

/// Follows single-consumer pass-through chains from `value` to a matrix product.
fn matmul_use(model: &OnnxModel, index: &GraphIndex, value: &str) -> Option<MatmulUse> {
    let mut v = value.to_string();
    let mut flipped = false;
    for _ in 0..MAX_HOPS {
        let cs = index.consumers(&v);
        if let Some(c) = cs
            .iter()
            .find(|c| matches!(c.op_type.as_str(), "MatMul" | "Gemm" | "MatMulInteger"))
        {
            let node = &model.nodes[c.node];
            let base = match (c.op_type.as_str(), c.slot) {
                ("MatMul" | "MatMulInteger", 1) => Some(true),
                ("MatMul" | "MatMulInteger", 0) => Some(false),
                ("Gemm", 1) => Some(node.attr_int("transB").unwrap_or(0) == 0),
                ("Gemm", 0) => Some(node.attr_int("transA").unwrap_or(0) != 0),
                _ => None,
            };
            return Some(MatmulUse {
                node: c.node,
                op_type: c.op_type.clone(),
                slot: c.slot,
                order: c.order,
                transposed_vs_linear: base.map(|b| b != flipped),
            });
        }
        let [c] = cs else { return None };
        let n = &model.nodes[c.node];
        match n.op_type.as_str() {
            "Identity" | "Cast" => {}
            "Transpose" if is_2d_transpose(n) => flipped = !flipped,
            _ => return None,
        }
        v = n.outputs.first()?.clone();
    }
    None
}

/// Parses a model and returns [`tensor_uses`] of its stored tensors in one call: the names
/// match those a checkpoint view lists (recovered quantized weights under their own name).
pub fn tensor_uses_of(bytes: &[u8]) -> Result<Vec<TensorUse>, crate::Error> {
    let model = crate::parse(bytes)?;
    let index = GraphIndex::new(&model);
    let scan = crate::find_quantized_weights(&model, &index);
    Ok(tensor_uses(&model, &index, &scan))
}
