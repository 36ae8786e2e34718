//! Opening real checkpoints and turning them into the anatomy's inputs.

use std::path::Path;

use taoke_anatomy::{
    analyze, Anatomy, AnatomyInput, GraphHint, MetaValue, Metadata, SchemeId, SourceError,
    TensorDesc, TensorSource,
};
use taoke_model::Checkpoint;

/// A checkpoint with its anatomy inputs.
pub struct Loaded {
    pub ckpt: Checkpoint,
    pub tensors: Vec<TensorDesc>,
    pub meta: Metadata,
}

fn meta_value(v: &taoke_model::MetaValue) -> MetaValue {
    use taoke_model::MetaValue as M;
    match v {
        M::Bool(b) => MetaValue::Bool(*b),
        M::Int(i) => MetaValue::Int(*i),
        M::UInt(u) => MetaValue::UInt(*u),
        M::Float(f) => MetaValue::Float(*f),
        M::Str(s) => MetaValue::Str(s.clone()),
        M::Array(a) => MetaValue::Array {
            len: a.len() as u64,
        },
    }
}

pub fn load(path: &Path) -> Loaded {
    let ckpt = taoke_model::open(path.to_string_lossy()).expect("open checkpoint");
    let tensors = ckpt
        .tensors
        .iter()
        .map(|t| TensorDesc::new(t.name.clone(), t.shape.clone()))
        .collect();
    let meta = ckpt
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), meta_value(v)))
        .collect();
    Loaded {
        ckpt,
        tensors,
        meta,
    }
}

impl Loaded {
    pub fn anatomy(&self) -> Anatomy {
        self.anatomy_with_graph(None)
    }

    pub fn anatomy_with_graph(&self, graph: Option<&[Option<GraphHint>]>) -> Anatomy {
        let preferred = match self.ckpt.format {
            taoke_model::Format::Gguf => Some(SchemeId::Gguf),
            taoke_model::Format::Llama2c => Some(SchemeId::MetaLlama),
            _ => None,
        };
        analyze(&AnatomyInput {
            tensors: &self.tensors,
            config: self.ckpt.config.as_ref(),
            metadata: Some(&self.meta),
            graph,
            preferred_scheme: preferred,
        })
    }

    pub fn values(&self, i: usize) -> Vec<f32> {
        self.ckpt
            .read_f32(&self.ckpt.tensors[i])
            .expect("read tensor values")
    }
}

impl TensorSource for Loaded {
    fn read_f32(&self, index: usize) -> Result<Vec<f32>, SourceError> {
        let t = self
            .ckpt
            .tensors
            .get(index)
            .ok_or_else(|| format!("no tensor {index}"))?;
        Ok(self.ckpt.read_f32(t)?)
    }
}

/// ONNX graph hints for a checkpoint's tensors: the first consumer of each tensor (for weights
/// dequantized in the graph, the first consumer of the dequantized value).
pub fn onnx_hints(path: &Path, tensors: &[TensorDesc]) -> Vec<Option<GraphHint>> {
    let bytes = std::fs::read(path).expect("read onnx");
    let model = taoke_onnx::parse(&bytes).expect("parse onnx");
    let index = taoke_onnx::GraphIndex::new(&model);
    let scan = taoke_onnx::find_quantized_weights(&model, &index);
    tensors
        .iter()
        .map(|t| {
            let value = scan
                .weights
                .iter()
                .find(|w| w.name == t.name)
                .map(|w| w.output.as_str())
                .unwrap_or(t.name.as_str());
            index.consumers(value).first().map(|c| GraphHint {
                consumer_op: c.op_type.clone(),
                input_slot: c.slot,
                order: c.order,
            })
        })
        .collect()
}

/// Role text of every tensor, `name -> canonical`.
#[allow(dead_code)]
pub fn dump(a: &Anatomy) -> String {
    a.tensors
        .iter()
        .map(|t| {
            format!(
                "{} {:?} -> {} {:?} {:?}\n",
                t.name, t.shape, t.canonical, t.source, t.orientation
            )
        })
        .collect()
}
