//! Recovery of weight-only quantized tensors dequantized inside the graph.
//!
//! Third-party exports often store a weight `W` as integers `q` plus a scale (and a zero
//! point) and compute `W = (q - zero_point) * scale` with graph nodes. Two shapes of that
//! computation are recognized, with `q`, the scale and the zero point all constants
//! (initializers or `Constant` nodes, possibly behind `Identity` nodes):
//!
//! 1. `DequantizeLinear(q, scale[, zero_point])`, attribute `axis` (default 1) when the scale
//!    is a vector, per-tensor when it has one element. Blocked quantization (`block_size`) is
//!    rejected.
//! 2. `Cast(q → float)` then `Mul(·, scale)` (either input order), optionally with
//!    `Sub(·, zero_point)` between them. The scale's and zero point's shapes are broadcast
//!    against `q` with numpy rules; they may vary along at most one axis (`[N]`, `[1, N]`,
//!    `[N, 1]`, ...), which becomes [`QuantizedWeight::axis`]. Scales or zero points stored in
//!    another float type and `Cast` to the compute type are followed to their constant.
//!
//! Each match becomes one [`QuantizedWeight`]; candidate patterns that do not fit (for
//! example, a scale whose shape does not broadcast along one axis) are listed in
//! [`QuantScan::rejected`] with the reason, never silently dropped.

use std::collections::{BTreeMap, BTreeSet};

use taoke_dtype::Dtype;

use crate::{GraphIndex, Initializer, Node, OnnxModel};

/// How the quantized weight is dequantized in the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// A `DequantizeLinear` node.
    DequantizeLinear,
    /// `Cast` then `Mul`.
    CastMul,
    /// `Cast`, `Sub` (zero point), then `Mul`.
    CastSubMul,
}

/// A weight stored quantized and dequantized in the graph: `(q - zero_point) * scale`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantizedWeight {
    /// A name for the weight: `q`'s name without a quantization suffix (`_q`, `_quantized`,
    /// `_quant`, `_int8`, `_uint8`) when that leaves a name no other initializer has; else the
    /// graph value the pattern outputs; made unique.
    pub name: String,
    /// The graph value holding the dequantized weight (the pattern's last output). Its
    /// consumers in [`GraphIndex`] say where the weight is used.
    pub output: String,
    /// The constant holding the quantized integers (same shape as the weight).
    pub q: String,
    /// The constant holding the scales.
    pub scale: String,
    /// The constant holding the zero points, if any (same element count as the scales).
    pub zero_point: Option<String>,
    /// The axis of `q` the scales run along; `None` for a single per-tensor scale.
    pub axis: Option<usize>,
    /// Shape of the weight (that of `q`).
    pub dims: Vec<u64>,
    /// Which graph pattern dequantizes it.
    pub pattern: Pattern,
    /// The pattern's nodes (indices into [`OnnxModel::nodes`]), in graph order.
    pub nodes: Vec<usize>,
}

/// A candidate quantization pattern that was not recovered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The node where the pattern starts (`DequantizeLinear` or `Cast`).
    pub node: usize,
    /// The quantized constant involved.
    pub q: String,
    /// Why it was not recovered.
    pub reason: String,
}

/// What [`find_quantized_weights`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuantScan {
    /// The recovered weights, in graph order of their first node.
    pub weights: Vec<QuantizedWeight>,
    /// Candidates that did not fit.
    pub rejected: Vec<Rejected>,
}

impl QuantScan {
    /// Names of all constants consumed by recovered weights (`q`, scales, zero points).
    pub fn components(&self) -> BTreeSet<&str> {
        let mut s = BTreeSet::new();
        for w in &self.weights {
            s.insert(w.q.as_str());
            s.insert(w.scale.as_str());
            if let Some(z) = &w.zero_point {
                s.insert(z.as_str());
            }
        }
        s
    }
}

/// Suffixes stripped from a quantized constant's name to name the weight.
const SUFFIXES: &[&str] = &["_quantized", "_quant", "_int8", "_uint8", "_q"];

/// Cap on `Identity`/`Cast` hops followed back to a constant.
const MAX_HOPS: usize = 8;

/// Finds weight-only quantized tensors in the main graph. See the module docs.
pub fn find_quantized_weights(model: &OnnxModel, index: &GraphIndex) -> QuantScan {
    let mut scan = QuantScan::default();
    let lookup = Lookup::new(model, index);
    for &i in index.topo_order() {
        let node = &model.nodes[i];
        if !node.domain_is_onnx() && node.domain != "com.microsoft" {
            continue;
        }
        let r = match node.op_type.as_str() {
            "DequantizeLinear" => dequantize_linear(&lookup, i, node),
            "Cast" => cast_chain(&lookup, i, node),
            _ => continue,
        };
        match r {
            Ok(Some(w)) => scan.weights.push(w),
            Ok(None) => {}
            Err((q, reason)) => scan.rejected.push(Rejected { node: i, q, reason }),
        }
    }
    name_weights(&lookup, &mut scan.weights);
    scan
}

type Found = Result<Option<QuantizedWeight>, (String, String)>;

/// Constants by value name: initializers, then tensor-valued `Constant` node outputs.
struct Lookup<'m> {
    model: &'m OnnxModel,
    index: &'m GraphIndex,
    consts: BTreeMap<&'m str, &'m Initializer>,
}

impl<'m> Lookup<'m> {
    fn new(model: &'m OnnxModel, index: &'m GraphIndex) -> Self {
        let mut consts = BTreeMap::new();
        for t in &model.initializers {
            consts.entry(t.name.as_str()).or_insert(t);
        }
        for n in model.nodes.iter().filter(|n| n.domain_is_onnx()) {
            if let Some(t) = n.constant_value() {
                consts.entry(t.name.as_str()).or_insert(t);
            }
        }
        Lookup {
            model,
            index,
            consts,
        }
    }

    /// Follows `Identity` (and, when `through_cast`, `Cast`) nodes back to a constant.
    fn resolve(&self, value: &str, through_cast: bool) -> Option<&'m Initializer> {
        let mut v = value;
        for _ in 0..MAX_HOPS {
            if let Some(t) = self.consts.get(v) {
                return Some(t);
            }
            let n = &self.model.nodes[self.index.producer(v)?];
            let passes = n.op_type == "Identity" || (through_cast && n.op_type == "Cast");
            if !passes || !n.domain_is_onnx() {
                return None;
            }
            v = n.inputs.first()?;
        }
        None
    }
}

fn is_int(d: Dtype) -> bool {
    matches!(
        d,
        Dtype::I8 | Dtype::U8 | Dtype::I16 | Dtype::U16 | Dtype::I32 | Dtype::U32
    )
}

fn is_float(d: Dtype) -> bool {
    matches!(d, Dtype::F32 | Dtype::F16 | Dtype::BF16 | Dtype::F64)
}

fn dequantize_linear(lookup: &Lookup<'_>, i: usize, node: &Node) -> Found {
    let input = |k: usize| node.inputs.get(k).filter(|s| !s.is_empty());
    let Some(q) = input(0).and_then(|v| lookup.resolve(v, false)) else {
        return Ok(None); // activation quantization, not a stored weight
    };
    let fail = |reason: String| Err((q.name.clone(), reason));
    let Some(scale) = input(1).and_then(|v| lookup.resolve(v, true)) else {
        return fail("scale is not a constant".into());
    };
    let zp = match input(2) {
        Some(v) => match lookup.resolve(v, true) {
            Some(z) => Some(z),
            None => return fail("zero point is not a constant".into()),
        },
        None => None,
    };
    if node.attr_int("block_size").is_some_and(|b| b != 0) {
        return fail("blocked quantization (block_size) is not supported".into());
    }
    if !is_float(scale.dtype) {
        return fail(format!("scale {:?} has type {}", scale.name, scale.dtype));
    }
    let rank = q.dims.len() as i64;
    let axis = if scale.numel() == 1 {
        None
    } else {
        let a = node.attr_int("axis").unwrap_or(1);
        let a = if a < 0 { a + rank } else { a };
        if !(0..rank).contains(&a) {
            return fail(format!("axis {a} out of range for rank {rank}"));
        }
        let a = a as usize;
        if scale.dims.len() != 1 || scale.dims[0] != q.dims[a] {
            return fail(format!(
                "scale dims {:?} do not match dim {a} of q dims {:?}",
                scale.dims, q.dims
            ));
        }
        Some(a)
    };
    if let Some(z) = zp {
        if z.numel() != scale.numel() {
            return fail(format!(
                "zero point dims {:?} differ from scale dims {:?}",
                z.dims, scale.dims
            ));
        }
    }
    Ok(Some(QuantizedWeight {
        name: String::new(),
        output: node.outputs.first().cloned().unwrap_or_default(),
        q: q.name.clone(),
        scale: scale.name.clone(),
        zero_point: zp.map(|z| z.name.clone()),
        axis,
        dims: q.dims.clone(),
        pattern: crate::quant::Pattern::DequantizeLinear,
        nodes: vec![i],
    }))
}

/// The axis a constant of shape `s` varies along when broadcast against `q` (numpy rules):
/// `Ok(None)` for per-tensor, `Ok(Some(axis))`, or why it does not fit.
fn broadcast_axis(s: &[u64], q: &[u64]) -> Result<Option<usize>, String> {
    let mut s = s;
    while s.len() > q.len() {
        if s[0] != 1 {
            return Err(format!("dims {s:?} have a higher rank than q dims {q:?}"));
        }
        s = &s[1..];
    }
    let lead = q.len() - s.len();
    let mut axis = None;
    for (k, &d) in s.iter().enumerate() {
        let qd = q[lead + k];
        if d == 1 {
            continue;
        }
        if d != qd {
            return Err(format!("dims {s:?} do not broadcast against q dims {q:?}"));
        }
        if axis.is_some() {
            return Err(format!(
                "dims {s:?} vary along more than one axis of q dims {q:?}"
            ));
        }
        axis = Some(lead + k);
    }
    Ok(axis)
}

/// The single consumer of `value`, when there is exactly one.
fn only_consumer<'m>(
    model: &'m OnnxModel,
    index: &GraphIndex,
    value: &str,
) -> Option<(usize, &'m Node, usize)> {
    match index.consumers(value) {
        [c] => Some((c.node, &model.nodes[c.node], c.slot)),
        _ => None,
    }
}

fn cast_chain(lookup: &Lookup<'_>, i: usize, cast: &Node) -> Found {
    let (model, index) = (lookup.model, lookup.index);
    let Some(q) = cast.inputs.first().and_then(|v| lookup.resolve(v, false)) else {
        return Ok(None);
    };
    // Cast to FLOAT, FLOAT16, DOUBLE or BFLOAT16 of an integer constant.
    if !is_int(q.dtype) || !matches!(cast.attr_int("to"), Some(1 | 10 | 11 | 16)) {
        return Ok(None);
    }
    let fail = |reason: String| Err((q.name.clone(), reason));
    let Some(out) = cast.outputs.first() else {
        return Ok(None);
    };
    let mut nodes = vec![i];
    let Some((mut j, mut next, mut slot)) = only_consumer(model, index, out) else {
        return fail(format!(
            "the cast output {out:?} is not used by exactly one node"
        ));
    };
    let mut zp = None;
    if next.op_type == "Sub" && next.domain_is_onnx() {
        if slot != 0 || next.inputs.len() != 2 {
            return Ok(None); // the cast value is subtracted (a zero point, not a weight)
        }
        let Some(z) = lookup.resolve(&next.inputs[1], true) else {
            return fail("Sub operand is not a constant zero point".into());
        };
        zp = Some(z);
        nodes.push(j);
        let Some(sub_out) = next.outputs.first() else {
            return Ok(None);
        };
        match only_consumer(model, index, sub_out) {
            Some(c) => (j, next, slot) = c,
            None => {
                return fail(format!(
                    "the Sub output {sub_out:?} is not used by exactly one node"
                ))
            }
        }
    }
    if next.op_type != "Mul" || !next.domain_is_onnx() || next.inputs.len() != 2 {
        if zp.is_some() {
            return fail(format!(
                "Sub is followed by {} rather than Mul",
                next.op_type
            ));
        }
        return Ok(None); // a plain integer-to-float cast (e.g. of an index tensor)
    }
    let Some(scale) = lookup.resolve(&next.inputs[1 - slot], true) else {
        return fail("Mul operand is not a constant scale".into());
    };
    if !is_float(scale.dtype) {
        return fail(format!("scale {:?} has type {}", scale.name, scale.dtype));
    }
    nodes.push(j);
    let axis = broadcast_axis(&scale.dims, &q.dims)
        .map_err(|e| (q.name.clone(), format!("scale {:?}: {e}", scale.name)))?;
    if let Some(z) = zp {
        let zaxis = broadcast_axis(&z.dims, &q.dims)
            .map_err(|e| (q.name.clone(), format!("zero point {:?}: {e}", z.name)))?;
        if zaxis != axis || z.numel() != scale.numel() {
            return fail(format!(
                "zero point dims {:?} and scale dims {:?} broadcast differently",
                z.dims, scale.dims
            ));
        }
    }
    let pattern = if zp.is_some() {
        Pattern::CastSubMul
    } else {
        Pattern::CastMul
    };
    Ok(Some(QuantizedWeight {
        name: String::new(),
        output: next.outputs.first().cloned().unwrap_or_default(),
        q: q.name.clone(),
        scale: scale.name.clone(),
        zero_point: zp.map(|z| z.name.clone()),
        axis,
        dims: q.dims.clone(),
        pattern,
        nodes,
    }))
}

/// Gives each weight a unique name that no unrelated initializer has.
fn name_weights(lookup: &Lookup<'_>, weights: &mut [QuantizedWeight]) {
    let consumed: BTreeSet<String> = weights
        .iter()
        .flat_map(|w| {
            [
                Some(w.q.clone()),
                Some(w.scale.clone()),
                w.zero_point.clone(),
            ]
        })
        .flatten()
        .collect();
    let taken_by_other = |n: &str| !consumed.contains(n) && lookup.consts.contains_key(n);
    let mut used: BTreeSet<String> = BTreeSet::new();
    for w in weights.iter_mut() {
        let stripped = SUFFIXES
            .iter()
            .find_map(|s| w.q.strip_suffix(s))
            .filter(|s| !s.is_empty());
        let candidates = [
            stripped.map(str::to_owned),
            Some(w.output.clone()),
            Some(w.q.clone()),
        ];
        let mut name = candidates
            .into_iter()
            .flatten()
            .find(|c| !c.is_empty() && !taken_by_other(c) && !used.contains(c))
            .unwrap_or_else(|| w.q.clone());
        if used.contains(&name) || taken_by_other(&name) {
            let base = name.clone();
            let mut k = 1;
            while used.contains(&name) || taken_by_other(&name) {
                name = format!("{base}#{k}");
                k += 1;
            }
        }
        used.insert(name.clone());
        w.name = name;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast() {
        assert_eq!(broadcast_axis(&[], &[4, 5]), Ok(None));
        assert_eq!(broadcast_axis(&[1], &[4, 5]), Ok(None));
        assert_eq!(broadcast_axis(&[5], &[4, 5]), Ok(Some(1)));
        assert_eq!(broadcast_axis(&[1, 5], &[4, 5]), Ok(Some(1)));
        assert_eq!(broadcast_axis(&[4, 1], &[4, 5]), Ok(Some(0)));
        assert_eq!(broadcast_axis(&[1, 4, 1], &[4, 5]), Ok(Some(0)));
        assert!(broadcast_axis(&[4], &[4, 5]).is_err());
        assert!(broadcast_axis(&[4, 5], &[4, 5]).is_err());
        assert!(broadcast_axis(&[2, 4, 1], &[4, 5]).is_err());
    }
}
