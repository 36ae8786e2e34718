//! Where each value sits in the graph: producer, consumers, topological order.
//!
//! Exporters often give weights anonymous names (`onnx::MatMul_470`, `val_49`); what
//! identifies them is where they are used. [`GraphIndex`] answers "which nodes consume this
//! value, in which input slot, and how early in the computation".

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use crate::OnnxModel;

/// One use of a value as a node input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumer {
    /// Index of the node in [`OnnxModel::nodes`].
    pub node: usize,
    /// The node's operator, e.g. `MatMul`.
    pub op_type: String,
    /// The input slot the value feeds (0 = first input; for `MatMul` 0 is the left factor
    /// `A`, 1 the right factor `B`; for `Gemm` 1 is `B` and 2 is `C`).
    pub slot: usize,
    /// Position of the node in [`GraphIndex::topo_order`].
    pub order: usize,
}

/// Producer/consumer index over the main graph of an [`OnnxModel`].
#[derive(Debug, Clone)]
pub struct GraphIndex {
    producer: BTreeMap<String, usize>,
    consumers: BTreeMap<String, Vec<Consumer>>,
    order: Vec<usize>,
    rank: Vec<usize>,
    cyclic: bool,
}

impl GraphIndex {
    /// Builds the index. The topological order is Kahn's algorithm, taking ready nodes in file
    /// order, so a file already in topological order (as ONNX requires) keeps its order.
    pub fn new(model: &OnnxModel) -> Self {
        let n = model.nodes.len();
        let mut producer = BTreeMap::new();
        for (i, node) in model.nodes.iter().enumerate() {
            for o in node.outputs.iter().filter(|o| !o.is_empty()) {
                producer.entry(o.clone()).or_insert(i);
            }
        }
        // Dependencies: node i waits for the producers of its inputs.
        let mut indegree = vec![0usize; n];
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, node) in model.nodes.iter().enumerate() {
            let mut deps: Vec<usize> = node
                .inputs
                .iter()
                .filter_map(|v| producer.get(v).copied())
                .filter(|&p| p != i)
                .collect();
            deps.sort_unstable();
            deps.dedup();
            indegree[i] = deps.len();
            for p in deps {
                dependents[p].push(i);
            }
        }
        let mut ready: BinaryHeap<Reverse<usize>> =
            (0..n).filter(|&i| indegree[i] == 0).map(Reverse).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(Reverse(i)) = ready.pop() {
            order.push(i);
            for &d in &dependents[i] {
                indegree[d] -= 1;
                if indegree[d] == 0 {
                    ready.push(Reverse(d));
                }
            }
        }
        let cyclic = order.len() < n;
        if cyclic {
            let mut placed = vec![false; n];
            for &i in &order {
                placed[i] = true;
            }
            order.extend((0..n).filter(|&i| !placed[i]));
        }
        let mut rank = vec![0; n];
        for (k, &i) in order.iter().enumerate() {
            rank[i] = k;
        }
        let mut consumers: BTreeMap<String, Vec<Consumer>> = BTreeMap::new();
        for &i in &order {
            let node = &model.nodes[i];
            for (slot, v) in node.inputs.iter().enumerate() {
                if v.is_empty() {
                    continue;
                }
                consumers.entry(v.clone()).or_default().push(Consumer {
                    node: i,
                    op_type: node.op_type.clone(),
                    slot,
                    order: rank[i],
                });
            }
        }
        GraphIndex {
            producer,
            consumers,
            order,
            rank,
            cyclic,
        }
    }

    /// The node producing `value`, if any (initializers and graph inputs have none).
    pub fn producer(&self, value: &str) -> Option<usize> {
        self.producer.get(value).copied()
    }

    /// The uses of `value`, in topological order of the consuming nodes.
    pub fn consumers(&self, value: &str) -> &[Consumer] {
        self.consumers.get(value).map_or(&[], Vec::as_slice)
    }

    /// Topological position of the first node consuming `value`.
    pub fn first_use(&self, value: &str) -> Option<usize> {
        self.consumers(value).first().map(|c| c.order)
    }

    /// For a value used by a `MatMul`, `Gemm` or `MatMulInteger` node: the first such use
    /// (its input slot says whether the value is the left or right factor).
    pub fn matmul_use(&self, value: &str) -> Option<&Consumer> {
        self.consumers(value)
            .iter()
            .find(|c| matches!(c.op_type.as_str(), "MatMul" | "Gemm" | "MatMulInteger"))
    }

    /// Node indices in topological order.
    pub fn topo_order(&self) -> &[usize] {
        &self.order
    }

    /// Position of node `node` in [`GraphIndex::topo_order`].
    pub fn rank(&self, node: usize) -> Option<usize> {
        self.rank.get(node).copied()
    }

    /// Whether the graph has a cycle (invalid ONNX); the nodes on it are then appended to the
    /// order in file order.
    pub fn is_cyclic(&self) -> bool {
        self.cyclic
    }
}
