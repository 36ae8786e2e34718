//! ONNX adapter: initializers become tensors; weight-only quantized weights recovered from the
//! graph become one [`Layout::Affine`] tensor each.
//!
//! - A plain initializer is [`Layout::Dense`] (`raw_data`, or an external-data file opened as a
//!   sibling confined to the model folder; a missing, escaping or too short external file is
//!   an error naming the tensor) or [`Layout::Packed`] (`float_data`, `int32_data`,
//!   ...). Its name is the initializer name.
//! - A weight stored as integers plus scale (and zero point) and dequantized in the graph
//!   (`DequantizeLinear`, or `Cast` → [`Sub`] → `Mul`, see [`taoke_onnx::find_quantized_weights`])
//!   is listed once, under the recovered name, with the quantized integers' shape and dtype and
//!   `folded` naming the integer, scale and zero-point initializers, which are then not
//!   listed on their own.
//! - Large tensor-valued `Constant` nodes (at least [`MIN_CONSTANT_ELEMS`] elements) are listed
//!   too, under their output name: some exporters store weights that way. Smaller constants
//!   are graph plumbing (shapes, axes, epsilons).
//! - Initializers whose data cannot be described as one byte range (string tensors, unpacked
//!   repeated fields) and sparse initializers are not listed; `onnx.skipped` names them with
//!   the reason.
//!
//! Metadata keys: `onnx.ir_version`, `onnx.producer`, `onnx.producer_version`, `onnx.opset`
//! (the default domain) and `onnx.opset.<domain>`, `onnx.graph_name`, `onnx.quantized_weights`
//! (count), `onnx.rejected_patterns` (quantization-looking patterns left alone, with reasons),
//! `onnx.skipped`, then the model's `metadata_props` under their own keys.
//!
//! [`Sub`]: https://onnx.ai/onnx/operators/onnx__Sub.html

use std::collections::{BTreeMap, BTreeSet};

use taoke_dtype::Dtype;
use taoke_onnx::{InitData, Initializer, PackedField, QuantizedWeight};

use super::{Loader, Parsed};
use crate::{Error, FileId, Layout, MetaValue, PackedEncoding, Result, TensorInfo};

/// Smallest `Constant` node tensor listed as a tensor (in elements).
pub(crate) const MIN_CONSTANT_ELEMS: u64 = 1024;

pub(crate) fn load(loader: &mut Loader, id: FileId) -> Result<Parsed> {
    let path = loader.files[id].path.clone();
    let model = taoke_onnx::parse(loader.files[id].bytes()).map_err(|e| Error::format(&path, e))?;
    let index = taoke_onnx::GraphIndex::new(&model);
    let scan = taoke_onnx::find_quantized_weights(&model, &index);

    let mut skipped: Vec<MetaValue> = Vec::new();
    // Every stored tensor: initializers, then large Constant values not shadowing one.
    let names: BTreeSet<&str> = model.initializers.iter().map(|t| t.name.as_str()).collect();
    let constants = model
        .nodes
        .iter()
        .filter(|n| n.domain_is_onnx())
        .filter_map(|n| n.constant_value())
        .filter(|t| t.numel() >= MIN_CONSTANT_ELEMS && !names.contains(t.name.as_str()));
    let stored: Vec<&Initializer> = model.initializers.iter().chain(constants).collect();

    // Layout of each stored tensor, by name (None when it cannot be described).
    let mut layouts: BTreeMap<&str, (Layout, u64)> = BTreeMap::new();
    for t in &stored {
        match layout_of(loader, id, t) {
            Ok(Some(l)) => {
                layouts.insert(t.name.as_str(), l);
            }
            Ok(None) => {}
            // External data that is missing, outside the model folder or outside its file is
            // a broken (or hostile) model, not an unsupported encoding: fail naming the tensor.
            Err(reason) if matches!(t.data, InitData::External { .. }) => {
                return Err(Error::tensor(&path, &t.name, reason));
            }
            Err(reason) => skipped.push(MetaValue::Str(format!("{}: {reason}", t.name))),
        }
    }
    for s in &model.sparse_initializers {
        skipped.push(MetaValue::Str(format!(
            "{}: sparse initializer of dims {:?} (not read)",
            s.name, s.dims
        )));
    }

    // Quantized weights, keyed by the name of their integer tensor (first one wins when the
    // same integers are dequantized twice).
    let mut quant: BTreeMap<&str, &QuantizedWeight> = BTreeMap::new();
    let mut folded: BTreeSet<&str> = BTreeSet::new();
    let mut rejected = Vec::new();
    for w in &scan.weights {
        let parts: Vec<&str> = [
            Some(w.q.as_str()),
            Some(w.scale.as_str()),
            w.zero_point.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect();
        if let Some(missing) = parts.iter().find(|p| !layouts.contains_key(*p)) {
            rejected.push(MetaValue::Str(format!(
                "{}: component {missing} has no readable data",
                w.q
            )));
            continue;
        }
        if quant.contains_key(w.q.as_str()) {
            continue;
        }
        quant.insert(w.q.as_str(), w);
        folded.extend(parts);
    }
    for r in &scan.rejected {
        rejected.push(MetaValue::Str(format!(
            "{} (node {}): {}",
            r.q, r.node, r.reason
        )));
    }

    let mut tensors = Vec::new();
    for t in &stored {
        let name = t.name.as_str();
        if let Some(w) = quant.get(name) {
            tensors.extend(affine(&layouts, t, w));
        } else if folded.contains(name) {
            continue;
        } else if let Some((layout, bytes)) = layouts.get(name) {
            tensors.push(TensorInfo {
                name: t.name.clone(),
                shape: t.dims.clone(),
                dtype: t.dtype,
                dtype_name: type_name(t.data_type),
                layout: layout.clone(),
                stored_bytes: *bytes,
                folded: Vec::new(),
                graph: None,
            });
        }
    }

    let mut metadata = vec![
        ("onnx.ir_version".to_string(), uint(model.ir_version)),
        (
            "onnx.producer".into(),
            MetaValue::Str(model.producer.clone()),
        ),
        (
            "onnx.producer_version".into(),
            MetaValue::Str(model.producer_version.clone()),
        ),
    ];
    for (domain, version) in &model.opsets {
        let key = if domain.is_empty() || domain == "ai.onnx" {
            "onnx.opset".to_string()
        } else {
            format!("onnx.opset.{domain}")
        };
        metadata.push((key, uint(*version)));
    }
    metadata.push((
        "onnx.graph_name".into(),
        MetaValue::Str(model.graph_name.clone()),
    ));
    metadata.push(("onnx.quantized_weights".into(), uint(quant.len() as u64)));
    if !rejected.is_empty() {
        metadata.push(("onnx.rejected_patterns".into(), MetaValue::Array(rejected)));
    }
    if !skipped.is_empty() {
        metadata.push(("onnx.skipped".into(), MetaValue::Array(skipped)));
    }
    metadata.extend(
        model
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), MetaValue::Str(v.clone()))),
    );
    // Graph positions, for the anatomy's roles of anonymous tensors.
    let uses = taoke_onnx::tensor_uses(&model, &index, &scan);
    let by_name: BTreeMap<&str, &taoke_onnx::TensorUse> =
        uses.iter().map(|u| (u.name.as_str(), u)).collect();
    for t in &mut tensors {
        let Some(u) = by_name.get(t.name.as_str()) else {
            continue;
        };
        t.graph = match (&u.matmul, u.consumers.first()) {
            (Some(m), _) => Some(crate::GraphUse {
                op: m.op_type.clone(),
                slot: m.slot,
                order: m.order,
                transposed_vs_linear: m.transposed_vs_linear,
            }),
            (None, Some(c)) => Some(crate::GraphUse {
                op: c.op_type.clone(),
                slot: c.slot,
                order: c.order,
                transposed_vs_linear: None,
            }),
            (None, None) => None,
        };
    }
    Ok(Parsed { tensors, metadata })
}

fn uint(v: u64) -> MetaValue {
    i64::try_from(v).map_or(MetaValue::UInt(v), MetaValue::Int)
}

fn type_name(data_type: i32) -> String {
    taoke_onnx::data_type_name(data_type).map_or_else(|| format!("type_{data_type}"), str::to_owned)
}

/// The layout of a stored tensor and its stored bytes; `Ok(None)` for a tensor without
/// weights (strings); `Err(reason)` when it cannot be described.
fn layout_of(
    loader: &mut Loader,
    id: FileId,
    t: &Initializer,
) -> Result<Option<(Layout, u64)>, String> {
    let expected = t.dtype.bytes_for(t.numel());
    let dense = |file, offset, len| Layout::Dense {
        file,
        offset,
        len,
        dtype: t.dtype,
    };
    match &t.data {
        InitData::Raw { offset, len } => Ok(Some((dense(id, *offset, *len), *len))),
        InitData::Packed {
            offset, len, field, ..
        } => {
            let encoding = match field {
                PackedField::Float => PackedEncoding::F32,
                PackedField::Double => PackedEncoding::F64,
                PackedField::Int32 => PackedEncoding::Int32Varint(t.dtype),
                PackedField::Int64 => PackedEncoding::Int64Varint,
                PackedField::Uint64 => PackedEncoding::Uint64Varint,
            };
            if t.dtype == Dtype::Unknown || t.dtype == Dtype::C64 {
                return Err(format!(
                    "packed data of ONNX type {} is not supported",
                    type_name(t.data_type)
                ));
            }
            let layout = Layout::Packed {
                file: id,
                offset: *offset,
                len: *len,
                encoding,
            };
            Ok(Some((layout, *len)))
        }
        InitData::External {
            location,
            offset,
            length,
        } => {
            let referrer = loader.files[id].path.clone();
            let file = loader
                .open_sibling(&referrer, location)
                .map_err(|e| format!("external data: {e}"))?;
            let len = length.or(expected).ok_or_else(|| {
                format!(
                    "external data of ONNX type {} without a length",
                    type_name(t.data_type)
                )
            })?;
            let file_len = loader.files[file].len;
            if offset.checked_add(len).is_none_or(|e| e > file_len) {
                return Err(format!(
                    "external data [{offset}, +{len}) is outside {location} ({file_len} bytes)"
                ));
            }
            Ok(Some((dense(file, *offset, len), len)))
        }
        InitData::Empty if t.numel() == 0 => Ok(Some((dense(id, 0, 0), 0))),
        InitData::Empty => Err(format!("no data for {} elements", t.numel())),
        InitData::Strings { .. } => Ok(None),
        InitData::Unsupported { reason } => Err(reason.clone()),
        other => Err(format!("unsupported storage {other:?}")),
    }
}

/// The one tensor of a recovered quantized weight (`None` if a component has no layout,
/// which the caller has already excluded).
fn affine(
    layouts: &BTreeMap<&str, (Layout, u64)>,
    q: &Initializer,
    w: &QuantizedWeight,
) -> Option<TensorInfo> {
    let (ql, qb) = layouts.get(w.q.as_str())?.clone();
    let (sl, sb) = layouts.get(w.scale.as_str())?.clone();
    let zp = match w.zero_point.as_deref() {
        Some(z) => Some(layouts.get(z)?.clone()),
        None => None,
    };
    let mut folded = vec![w.q.clone(), w.scale.clone()];
    folded.extend(w.zero_point.clone());
    Some(TensorInfo {
        name: w.name.clone(),
        shape: w.dims.clone(),
        dtype: q.dtype,
        dtype_name: type_name(q.data_type),
        stored_bytes: qb + sb + zp.as_ref().map_or(0, |z| z.1),
        layout: Layout::Affine {
            q: Box::new(ql),
            scale: Box::new(sl),
            zero_point: zp.map(|z| Box::new(z.0)),
            axis: w.axis,
        },
        folded,
        graph: None,
    })
}
