//! [`ModelView`]: a checkpoint with its anatomy and vocabulary, and canonical access to its
//! matrices (oriented `[out, in]`, rotary Q/K rows in Hugging Face order).

use std::collections::{BTreeMap, BTreeSet};

use taoke_anatomy::{
    Anatomy, AnatomyInput, CanonicalName, Orientation, Param, QkRowOrder, Role, RoleSource,
    TensorDesc,
};
use taoke_model::{Checkpoint, Format, MetaValue};
use taoke_stats::Matrix;
use taoke_tokenizer::Vocab;

use crate::{Error, Result};

/// Key of a canonical tensor: block, expert, role, param.
pub type Key = (Option<u32>, Option<u32>, Role, Param);

/// A checkpoint prepared for comparison.
pub struct ModelView<'a> {
    /// The checkpoint.
    pub ck: &'a Checkpoint,
    /// Its anatomy.
    pub anatomy: Anatomy,
    /// Its vocabulary, when a tokenizer was found.
    pub vocab: Option<Vocab>,
    /// Canonical key → tensor index (first tensor wins on duplicates).
    pub by_key: BTreeMap<Key, usize>,
    /// Tensors whose bytes hold the transpose of their declared shape (found by content).
    pub reinterpret: BTreeSet<usize>,
}

fn key(c: &CanonicalName) -> Key {
    (c.block, c.expert, c.role, c.param)
}

fn meta_to_anatomy(v: &MetaValue) -> taoke_anatomy::MetaValue {
    use taoke_anatomy::MetaValue as A;
    match v {
        MetaValue::Bool(b) => A::Bool(*b),
        MetaValue::Int(i) if *i >= 0 => A::UInt(*i as u64),
        MetaValue::Int(i) => A::Int(*i),
        MetaValue::UInt(u) => A::UInt(*u),
        MetaValue::Float(f) => A::Float(*f),
        MetaValue::Str(s) => A::Str(s.clone()),
        MetaValue::Array(a) => A::Array {
            len: a.len() as u64,
        },
    }
}

/// The tensor descriptors the anatomy needs.
pub fn descs(ck: &Checkpoint) -> Vec<TensorDesc> {
    ck.tensors
        .iter()
        .map(|t| TensorDesc::new(t.name.clone(), t.shape.clone()))
        .collect()
}

/// Runs the anatomy on a checkpoint.
pub fn anatomy_of(ck: &Checkpoint) -> Anatomy {
    let tensors = descs(ck);
    let metadata: taoke_anatomy::Metadata = ck
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), meta_to_anatomy(v)))
        .collect();
    let preferred = match ck.format {
        Format::Gguf => Some(taoke_anatomy::SchemeId::Gguf),
        _ => None,
    };
    let graph: Vec<Option<taoke_anatomy::GraphHint>> = ck
        .tensors
        .iter()
        .map(|t| {
            t.graph.as_ref().map(|g| taoke_anatomy::GraphHint {
                consumer_op: g.op.clone(),
                input_slot: g.slot,
                order: g.order,
            })
        })
        .collect();
    let has_graph = graph.iter().any(Option::is_some);
    taoke_anatomy::analyze(&AnatomyInput {
        tensors: &tensors,
        config: ck.config.as_ref(),
        metadata: (!metadata.is_empty()).then_some(&metadata),
        graph: has_graph.then_some(&graph[..]),
        preferred_scheme: preferred,
    })
}

/// Loads the vocabulary: GGUF `tokenizer.ggml.*` metadata, else the folder's tokenizer files.
pub fn vocab_of(ck: &Checkpoint) -> Option<Vocab> {
    if let Some(tokens) = ck
        .meta("tokenizer.ggml.tokens")
        .and_then(MetaValue::as_array)
    {
        let strs = |k: &str| -> Vec<String> {
            ck.meta(k)
                .and_then(MetaValue::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let meta = taoke_tokenizer::GgmlTokenizer {
            model: ck
                .meta("tokenizer.ggml.model")
                .and_then(MetaValue::as_str)
                .unwrap_or("")
                .to_owned(),
            pre: ck
                .meta("tokenizer.ggml.pre")
                .and_then(MetaValue::as_str)
                .map(str::to_owned),
            tokens: tokens
                .iter()
                .map(|v| v.as_str().unwrap_or("").to_owned())
                .collect(),
            token_types: ck
                .meta("tokenizer.ggml.token_type")
                .and_then(MetaValue::as_array)
                .map(|a| a.iter().map(|v| v.as_f64().unwrap_or(1.0) as i32).collect()),
            scores: ck
                .meta("tokenizer.ggml.scores")
                .and_then(MetaValue::as_array)
                .map(|a| a.iter().map(|v| v.as_f64().unwrap_or(0.0) as f32).collect()),
            merges: strs("tokenizer.ggml.merges"),
            special: {
                let id = |k: &str| {
                    ck.meta(&format!("tokenizer.ggml.{k}_token_id"))
                        .and_then(MetaValue::as_u64)
                        .and_then(|v| u32::try_from(v).ok())
                };
                taoke_tokenizer::SpecialTokens {
                    bos: id("bos"),
                    eos: id("eos"),
                    unk: id("unknown"),
                    pad: id("padding"),
                    sep: id("seperator").or_else(|| id("separator")),
                    cls: id("cls"),
                    mask: id("mask"),
                    ..Default::default()
                }
            },
            ..Default::default()
        };
        if let Ok(v) = Vocab::from_ggml(meta) {
            return Some(v);
        }
    }
    let folder = ck.folder.as_ref()?;
    taoke_tokenizer::load_dir(folder).ok().flatten()
}

/// A writer stores all matrices of a file one way. When most role-assigned non-square matrices
/// are stored transposed, square ones (whose orientation no shape can prove) are taken to be
/// transposed too.
fn infer_square_orientation(an: &mut Anatomy) {
    let square = |s: &[u64]| s.len() == 2 && s[0] == s[1];
    let (mut t, mut e) = (0usize, 0usize);
    for x in &an.tensors {
        if x.canonical.role == Role::Unknown || square(&x.shape) {
            continue;
        }
        match x.orientation {
            Orientation::Transposed => t += 1,
            Orientation::Expected => e += 1,
            _ => {}
        }
    }
    if t > e && t >= 2 {
        for x in &mut an.tensors {
            if x.canonical.role != Role::Unknown
                && square(&x.shape)
                && matches!(
                    x.orientation,
                    Orientation::Ambiguous | Orientation::Expected
                )
            {
                x.orientation = Orientation::Transposed;
            }
        }
    }
}

impl<'a> ModelView<'a> {
    /// Prepares a checkpoint: anatomy, vocabulary, canonical index.
    pub fn new(ck: &'a Checkpoint) -> ModelView<'a> {
        let anatomy = anatomy_of(ck);
        let vocab = vocab_of(ck);
        let mut anatomy = anatomy;
        infer_square_orientation(&mut anatomy);
        let mut v = ModelView {
            ck,
            anatomy,
            vocab,
            by_key: BTreeMap::new(),
            reinterpret: BTreeSet::new(),
        };
        v.reindex();
        v
    }

    /// Rebuilds [`ModelView::by_key`] after roles changed.
    pub fn reindex(&mut self) {
        self.by_key.clear();
        for (i, t) in self.anatomy.tensors.iter().enumerate() {
            if t.canonical.role != Role::Unknown {
                self.by_key.entry(key(&t.canonical)).or_insert(i);
            }
        }
    }

    /// Index of the tensor with this canonical key.
    pub fn index(&self, block: Option<u32>, role: Role, param: Param) -> Option<usize> {
        self.by_key.get(&(block, None, role, param)).copied()
    }

    /// Number of blocks (highest block index + 1).
    pub fn n_blocks(&self) -> u32 {
        self.by_key
            .keys()
            .filter_map(|k| k.0)
            .max()
            .map_or(0, |b| b + 1)
    }

    /// Whether any role was assigned from something other than the name.
    pub fn roles_inferred(&self) -> usize {
        self.anatomy
            .tensors
            .iter()
            .filter(|t| !matches!(t.source, RoleSource::Name { .. } | RoleSource::Unassigned))
            .count()
    }

    /// Reads tensor `i` as a matrix oriented `[out, in]` (vectors as one row), with rotary Q/K
    /// rows in Hugging Face order.
    pub fn matrix(&self, i: usize) -> Result<Matrix> {
        self.matrix_as(i, self.reinterpret.contains(&i))
    }

    /// [`ModelView::matrix`], reading the bytes as the transpose of the declared shape when
    /// `reinterpreted` (whatever the view has recorded for the tensor).
    pub fn matrix_as(&self, i: usize, reinterpreted: bool) -> Result<Matrix> {
        let t = &self.ck.tensors[i];
        let an = &self.anatomy.tensors[i];
        let data = self.ck.read_f32(t).map_err(Error::Model)?;
        let (rows, cols) = match t.shape.len() {
            0 => (1, 1),
            1 => (1, t.shape[0] as usize),
            _ => {
                let r = t.shape[0] as usize;
                (r, data.len() / r.max(1))
            }
        };
        let mut m = if reinterpreted {
            Matrix::new(cols, rows, data)
                .map_err(|e| Error::Stats(e.to_string()))?
                .view()
                .transpose()
        } else {
            Matrix::new(rows, cols, data).map_err(|e| Error::Stats(e.to_string()))?
        };
        if an.orientation == Orientation::Transposed {
            m = m.view().transpose();
        }
        if let Some(h) = self.qk_heads(i).filter(|&h| m.rows % (2 * h) == 0) {
            if let Ok(v) = taoke_anatomy::halve_qk_rows(&m.data, m.rows, m.cols, h) {
                m.data = v;
            }
        }
        Ok(m)
    }

    /// Reads the canonical rows `rows` (ascending, of the `[out, in]` orientation that
    /// [`ModelView::matrix`] returns) of tensor `i`, decoding only those rows when the stored
    /// layout allows (no transposition); otherwise reads the whole matrix and selects.
    pub fn matrix_rows(&self, i: usize, rows: &[usize]) -> Result<Matrix> {
        let t = &self.ck.tensors[i];
        let an = &self.anatomy.tensors[i];
        let direct = t.shape.len() == 2
            && !self.reinterpret.contains(&i)
            && an.orientation != Orientation::Transposed;
        if !direct {
            let m = self.matrix(i)?;
            return m
                .view()
                .select_rows(rows)
                .map_err(|e| Error::Stats(e.to_string()));
        }
        let (n_rows, cols) = (t.shape[0] as usize, t.shape[1] as usize);
        if rows.iter().any(|&r| r >= n_rows) {
            return Err(Error::Stats(format!(
                "{}: row index out of {n_rows}",
                t.name
            )));
        }
        // Canonical row → stored row (llama.cpp's interleaved rotary Q/K order).
        let stored: Vec<usize> = match self.qk_heads(i) {
            Some(h) if n_rows % (2 * h) == 0 => {
                let idx: Vec<f32> = (0..n_rows).map(|r| r as f32).collect();
                match taoke_anatomy::halve_qk_rows(&idx, n_rows, 1, h) {
                    Ok(map) => rows.iter().map(|&r| map[r] as usize).collect(),
                    Err(_) => rows.to_vec(),
                }
            }
            _ => rows.to_vec(),
        };
        let mut data = vec![0f32; rows.len() * cols];
        for (k, &s) in stored.iter().enumerate() {
            self.ck
                .read_rows(t, s as u64, 1, &mut data[k * cols..(k + 1) * cols])
                .map_err(Error::Model)?;
        }
        self.ck.release_tensor(t);
        Matrix::new(rows.len(), cols, data).map_err(|e| Error::Stats(e.to_string()))
    }

    /// Rows of tensor `i` in the canonical `[out, in]` orientation (1 for vectors).
    pub fn canonical_rows(&self, i: usize) -> usize {
        let t = &self.ck.tensors[i];
        if t.shape.len() != 2 {
            return 1;
        }
        let transposed = self.anatomy.tensors[i].orientation == Orientation::Transposed;
        t.shape[usize::from(transposed != self.reinterpret.contains(&i))] as usize
    }

    /// Heads of a rotary Q/K tensor stored in llama.cpp's interleaved row order.
    fn qk_heads(&self, i: usize) -> Option<usize> {
        let role = self.anatomy.tensors[i].canonical.role;
        if !matches!(role, Role::AttnQ | Role::AttnK)
            || self.anatomy.qk_row_order != QkRowOrder::Interleaved
        {
            return None;
        }
        let d = &self.anatomy.description;
        let heads = if role == Role::AttnQ {
            d.heads.as_ref().map(|f| f.value)
        } else {
            d.kv_heads
                .as_ref()
                .map(|f| f.value)
                .or(d.heads.as_ref().map(|f| f.value))
        };
        heads.filter(|&h| h > 0).map(|h| h as usize)
    }

    /// The canonical text name of tensor `i` (`blk.3.ffn_up.weight`).
    pub fn canonical_name(&self, i: usize) -> String {
        self.anatomy.tensors[i].canonical.to_string()
    }
}
