//! llama2.c raw checkpoints (Karpathy's `run.c` format, "version 0").
//!
//! Layout: a header of seven little-endian i32 (`dim, hidden_dim, n_layers, n_heads,
//! n_kv_heads, vocab_size, seq_len`; a negative vocab size means the classifier is stored
//! separately), then f32 arrays: token embedding, attention norms, wq, wk, wv, wo, FFN norms,
//! w1, w2, w3, final norm, the RoPE tables (freq_cis real and imaginary) and, when not shared,
//! the classifier. Per-layer arrays are stored for all layers back to back; each is exposed as
//! one tensor per layer with the names of llama2.c's PyTorch model (`layers.N.attention.wq.weight`).
//!
//! There is no magic number: a file is accepted when its header is plausible and the file size
//! equals exactly the size the header implies.

use super::{Loader, Parsed};
use crate::{Error, FileId, Layout, MetaValue, Result, TensorInfo};
use taoke_dtype::Dtype;

const HEADER: u64 = 28;

#[derive(Debug, Clone, Copy)]
struct Config {
    dim: u64,
    hidden: u64,
    layers: u64,
    heads: u64,
    kv_heads: u64,
    vocab: u64,
    shared: bool,
    seq: u64,
}

fn header(b: &[u8]) -> Option<Config> {
    let h: Vec<i32> = b
        .get(..HEADER as usize)?
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes(c.try_into().expect("invariant: 4 bytes")))
        .collect();
    let pos = |i: usize, max: i32| (1..=max).contains(&h[i]).then_some(h[i] as u64);
    let c = Config {
        dim: pos(0, 1 << 16)?,
        hidden: pos(1, 1 << 18)?,
        layers: pos(2, 1024)?,
        heads: pos(3, 1024)?,
        kv_heads: pos(4, 1024)?,
        vocab: u64::from(h[5].unsigned_abs()),
        shared: h[5] > 0,
        seq: pos(6, 1 << 22)?,
    };
    (c.vocab > 0
        && c.vocab <= 1 << 22
        && c.dim.is_multiple_of(c.heads)
        && c.heads.is_multiple_of(c.kv_heads))
    .then_some(c)
}

fn tensors(c: Config) -> Vec<(String, Vec<u64>)> {
    let head = c.dim / c.heads;
    let kv = c.kv_heads * head;
    let mut v: Vec<(String, Vec<u64>)> =
        vec![("tok_embeddings.weight".into(), vec![c.vocab, c.dim])];
    let per_layer: [(&str, Vec<u64>); 9] = [
        ("attention_norm.weight", vec![c.dim]),
        ("attention.wq.weight", vec![c.dim, c.dim]),
        ("attention.wk.weight", vec![kv, c.dim]),
        ("attention.wv.weight", vec![kv, c.dim]),
        ("attention.wo.weight", vec![c.dim, c.dim]),
        ("ffn_norm.weight", vec![c.dim]),
        ("feed_forward.w1.weight", vec![c.hidden, c.dim]),
        ("feed_forward.w2.weight", vec![c.dim, c.hidden]),
        ("feed_forward.w3.weight", vec![c.hidden, c.dim]),
    ];
    // Stored grouped by kind: all layers of one kind, then the next kind.
    for (name, shape) in per_layer {
        for l in 0..c.layers {
            v.push((format!("layers.{l}.{name}"), shape.clone()));
        }
    }
    v.push(("norm.weight".into(), vec![c.dim]));
    v.push(("freq_cis_real".into(), vec![c.seq, head / 2]));
    v.push(("freq_cis_imag".into(), vec![c.seq, head / 2]));
    if !c.shared {
        v.push(("output.weight".into(), vec![c.vocab, c.dim]));
    }
    v
}

fn expected_len(c: Config) -> Option<u64> {
    tensors(c).iter().try_fold(HEADER, |acc, (_, s)| {
        acc.checked_add(s.iter().try_fold(4u64, |a, &d| a.checked_mul(d))?)
    })
}

pub(crate) fn looks_like(b: &[u8]) -> bool {
    // Only the length check against the real file size is conclusive; `load` does it.
    header(b).is_some_and(|c| expected_len(c) == Some(b.len() as u64))
}

pub(crate) fn load(loader: &mut Loader, id: FileId) -> Result<Parsed> {
    let f = &loader.files[id];
    let c = header(f.bytes())
        .ok_or_else(|| Error::format(&f.path, "not a plausible llama2.c header"))?;
    if expected_len(c) != Some(f.len) {
        return Err(Error::format(
            &f.path,
            format!(
                "llama2.c header implies {:?} bytes but the file has {}",
                expected_len(c),
                f.len
            ),
        ));
    }
    let mut offset = HEADER;
    let mut out = Vec::new();
    for (name, shape) in tensors(c) {
        let len = shape.iter().product::<u64>() * 4;
        out.push(TensorInfo {
            name,
            shape,
            dtype: Dtype::F32,
            dtype_name: "F32".into(),
            layout: Layout::Dense {
                file: id,
                offset,
                len,
                dtype: Dtype::F32,
            },
            stored_bytes: len,
            folded: Vec::new(),
            graph: None,
        });
        offset += len;
    }
    // GGUF-style keys, so every consumer reads one vocabulary of metadata.
    let meta = |k: &str, v: u64| (k.to_owned(), MetaValue::UInt(v));
    let metadata = vec![
        (
            "general.architecture".to_owned(),
            MetaValue::Str("llama".into()),
        ),
        ("llama2c.version".to_owned(), MetaValue::UInt(0)),
        meta("llama.embedding_length", c.dim),
        meta("llama.feed_forward_length", c.hidden),
        meta("llama.block_count", c.layers),
        meta("llama.attention.head_count", c.heads),
        meta("llama.attention.head_count_kv", c.kv_heads),
        meta("llama.vocab_size", c.vocab),
        meta("llama.context_length", c.seq),
        meta("llama.rope.dimension_count", c.dim / c.heads),
        (
            "llama2c.shared_classifier".into(),
            MetaValue::Bool(c.shared),
        ),
    ];
    Ok(Parsed {
        tensors: out,
        metadata,
    })
}
