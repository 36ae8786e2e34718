//! Writing the synthetic checkpoints with the workspace's own writers
//! ([`taoke_safetensors::write`], [`taoke_gguf::GgufWriter`]) in bounded memory.
//!
//! Both writers take every tensor's bytes up front. Here each tensor is declared with a
//! borrowed slice of one shared zero buffer of the right length (allocated zeroed and never
//! touched, so it costs address space, not memory); the sink given to the writer recognises
//! that buffer when the writer hands it over and writes the tensor's real bytes instead,
//! generated on the spot in row chunks. The writers still lay out headers, offsets, alignment
//! and padding exactly as they do for any file.

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use half::bf16;
use rayon::prelude::*;
use taoke_dtype::Dtype;

use crate::shape::{Kind, Shape, TensorSpec};
use crate::synth::{TensorGen, Variant};

/// Largest safetensors shard (Hugging Face's default `max_shard_size`, 5 GB).
pub const MAX_SHARD_BYTES: u64 = 5_000_000_000;

/// Values generated per chunk (bounded memory: 8 Mi f32 = 32 MiB plus its encoding).
const CHUNK_ELEMS: usize = 8 << 20;

/// A sink that replaces the writes of the shared zero buffer by generated tensor bytes.
struct Splice<W: Write, F: FnMut(usize, usize, &mut W) -> io::Result<u64>> {
    out: W,
    zero: usize,
    next: usize,
    fill: F,
}

impl<W: Write, F: FnMut(usize, usize, &mut W) -> io::Result<u64>> Write for Splice<W, F> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        if !buf.is_empty() && buf.as_ptr() as usize == self.zero {
            let k = self.next;
            self.next += 1;
            let n = (self.fill)(k, buf.len(), &mut self.out)?;
            if n != buf.len() as u64 {
                return Err(io::Error::other(format!(
                    "tensor {k}: generated {n} bytes, the writer expected {}",
                    buf.len()
                )));
            }
            Ok(())
        } else {
            self.out.write_all(buf)
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Encodes one tensor in `dtype` (BF16, F32 or Q4_K) and writes it; returns the bytes written.
fn write_tensor<W: Write>(
    gen: &TensorGen<'_>,
    spec: &TensorSpec,
    dtype: Dtype,
    out: &mut W,
) -> io::Result<u64> {
    let cols = spec.cols;
    let rows_per = (CHUNK_ELEMS / cols).max(1);
    let mut vals = vec![0f32; rows_per.min(spec.rows) * cols];
    let mut bytes: Vec<u8> = Vec::new();
    let mut written = 0u64;
    let mut r = 0;
    while r < spec.rows {
        let n = rows_per.min(spec.rows - r);
        let v = &mut vals[..n * cols];
        gen.rows(r, v);
        match dtype {
            Dtype::BF16 => {
                bytes.resize(v.len() * 2, 0);
                bytes
                    .par_chunks_mut(2 * cols)
                    .zip(v.par_chunks(cols))
                    .for_each(|(b, x)| {
                        for (o, &f) in b.chunks_exact_mut(2).zip(x) {
                            o.copy_from_slice(&bf16::from_f32(f).to_le_bytes());
                        }
                    });
            }
            Dtype::F32 => {
                bytes.clear();
                bytes.extend(v.iter().flat_map(|f| f.to_le_bytes()));
            }
            q => {
                let parts: Vec<Vec<u8>> = v
                    .par_chunks(cols)
                    .map(|x| taoke_dtype::quant::quantize(q, x))
                    .collect::<Result<_, _>>()
                    .map_err(|e| io::Error::other(format!("{}: {e}", spec.name)))?;
                bytes.clear();
                for p in parts {
                    bytes.extend_from_slice(&p);
                }
            }
        }
        out.write_all(&bytes)?;
        written += bytes.len() as u64;
        r += n;
    }
    Ok(written)
}

/// The vocabulary: Llama's three specials, the 256 byte tokens, then distinct pseudo-words
/// (half of them with the SentencePiece word mark).
pub fn vocab(n: usize) -> Vec<String> {
    const C: &[u8] = b"bcdfghjklmnprstvwxyzq";
    const V: &[u8] = b"aeiou";
    let mut out = vec!["<unk>".to_string(), "<s>".into(), "</s>".into()];
    out.extend((0..256).map(|b| format!("<0x{b:02X}>")));
    let mut i = 0usize;
    while out.len() < n {
        let mut w = String::new();
        let mut x = i;
        loop {
            let s = x % (C.len() * V.len());
            w.push(C[s / V.len()] as char);
            w.push(V[s % V.len()] as char);
            x /= C.len() * V.len();
            if x == 0 {
                break;
            }
            x -= 1;
        }
        out.push(if i.is_multiple_of(2) {
            format!("\u{2581}{w}")
        } else {
            w
        });
        i += 1;
    }
    out.truncate(n);
    out
}

/// The `tokenizer.json` (SentencePiece-style BPE with byte fallback, like Llama-2's).
pub fn tokenizer_json(vocab: &[String]) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for (i, s) in vocab.iter().enumerate() {
        map.insert(s.clone(), i.into());
    }
    let added: Vec<serde_json::Value> = (0..3)
        .map(|i| {
            serde_json::json!({"id": i, "content": vocab[i], "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "\u{2581}"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "\u{2581}"}]},
        "pre_tokenizer": null,
        "post_processor": null,
        "decoder": null,
        "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>",
            "continuing_subword_prefix": null, "end_of_word_suffix": null,
            "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
            "vocab": map, "merges": []}
    })
}

fn io_err(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Writes a Hugging Face folder: `config.json`, `tokenizer.json`, bf16 safetensors shards of at
/// most [`MAX_SHARD_BYTES`] and `model.safetensors.index.json`. Returns the bytes written.
pub fn write_hf(dir: &Path, shape: &Shape, seed: u64, variant: Variant) -> io::Result<u64> {
    fs_create(dir)?;
    let put = |name: &str, v: &serde_json::Value| -> io::Result<()> {
        let p = dir.join(name);
        std::fs::write(&p, serde_json::to_vec_pretty(v).map_err(io::Error::other)?)
            .map_err(|e| io_err(&p, e))
    };
    put("config.json", &shape.config_json())?;
    put("tokenizer.json", &tokenizer_json(&vocab(shape.vocab)))?;
    let specs = shape.tensors();
    // Shards: consecutive tensors up to the size limit.
    let mut shards: Vec<Vec<&TensorSpec>> = vec![Vec::new()];
    let mut size = 0u64;
    for t in &specs {
        let b = 2 * t.len() as u64;
        if size + b > MAX_SHARD_BYTES && !shards.last().is_some_and(Vec::is_empty) {
            shards.push(Vec::new());
            size = 0;
        }
        size += b;
        shards.last_mut().expect("invariant: one shard").push(t);
    }
    let max_len = specs.iter().map(|t| 2 * t.len()).max().unwrap_or(0);
    let zero = vec![0u8; max_len];
    let n = shards.len();
    let mut weight_map = serde_json::Map::new();
    let mut total = 0u64;
    let mut meta = BTreeMap::new();
    meta.insert("format".to_string(), "pt".to_string());
    for (k, shard) in shards.iter().enumerate() {
        let file = format!("model-{:05}-of-{n:05}.safetensors", k + 1);
        let path = dir.join(&file);
        let shapes: Vec<Vec<u64>> = shard.iter().map(|t| t.shape()).collect();
        let list: Vec<(&str, Dtype, &[u64], &[u8])> = shard
            .iter()
            .zip(&shapes)
            .map(|(t, s)| (t.name.as_str(), Dtype::BF16, &s[..], &zero[..2 * t.len()]))
            .collect();
        let f = std::fs::File::create(&path).map_err(|e| io_err(&path, e))?;
        let mut sink = Splice {
            out: BufWriter::with_capacity(1 << 22, f),
            zero: zero.as_ptr() as usize,
            next: 0,
            fill: |i: usize, _len: usize, out: &mut BufWriter<std::fs::File>| {
                let t = shard[i];
                let gen = TensorGen::new(shape, t, seed, variant, false);
                write_tensor(&gen, t, Dtype::BF16, out)
            },
        };
        taoke_safetensors::write(&mut sink, &list, &meta).map_err(|e| io_err(&path, e))?;
        sink.flush().map_err(|e| io_err(&path, e))?;
        for t in shard {
            weight_map.insert(t.name.clone(), file.clone().into());
            total += 2 * t.len() as u64;
        }
    }
    put(
        "model.safetensors.index.json",
        &serde_json::json!({"metadata": {"total_size": total}, "weight_map": weight_map}),
    )?;
    Ok(total)
}

fn fs_create(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))
}

/// Writes a GGUF v3 file with llama.cpp names, Q/K row order and metadata; matrices in
/// `quant` (Q4_K), vectors in F32. Returns the file size.
pub fn write_gguf(
    path: &Path,
    shape: &Shape,
    seed: u64,
    variant: Variant,
    quant: Dtype,
) -> io::Result<u64> {
    use taoke_gguf::Value;
    let werr = |e: taoke_gguf::WriteError| io::Error::other(format!("{}: {e}", path.display()));
    let mut g = taoke_gguf::GgufWriter::new();
    let voc = vocab(shape.vocab);
    let u = |x: usize| Value::from(x as u32);
    let mut kv: Vec<(&str, Value)> = vec![
        ("general.architecture", "llama".into()),
        (
            "general.name",
            format!("taoke-bench-{}", shape.name).as_str().into(),
        ),
        ("general.file_type", 14u32.into()),
        ("llama.context_length", 4096u32.into()),
        ("llama.embedding_length", u(shape.hidden)),
        ("llama.block_count", u(shape.blocks)),
        ("llama.feed_forward_length", u(shape.mlp)),
        ("llama.attention.head_count", u(shape.heads)),
        ("llama.attention.head_count_kv", u(shape.kv_heads)),
        ("llama.rope.dimension_count", u(shape.head_dim())),
        ("llama.rope.freq_base", 10000f32.into()),
        ("llama.attention.layer_norm_rms_epsilon", 1e-5f32.into()),
        ("llama.vocab_size", u(shape.vocab)),
        ("tokenizer.ggml.model", "llama".into()),
        (
            "tokenizer.ggml.tokens",
            Value::Array(voc.iter().map(|s| s.as_str().into()).collect()),
        ),
        (
            "tokenizer.ggml.scores",
            Value::Array((0..voc.len()).map(|i| Value::from(-(i as f32))).collect()),
        ),
        (
            "tokenizer.ggml.token_type",
            Value::Array(
                (0..voc.len())
                    .map(|i| {
                        Value::I32(match i {
                            0 => 2,
                            1 | 2 => 3,
                            3..259 => 6,
                            _ => 1,
                        })
                    })
                    .collect(),
            ),
        ),
        ("tokenizer.ggml.bos_token_id", 1u32.into()),
        ("tokenizer.ggml.eos_token_id", 2u32.into()),
        ("tokenizer.ggml.unknown_token_id", 0u32.into()),
    ];
    if shape.experts > 0 {
        kv.push(("llama.expert_count", u(shape.experts)));
        kv.push(("llama.expert_used_count", 2u32.into()));
    }
    for (k, v) in kv {
        g.add_kv(k, v).map_err(werr)?;
    }
    let specs = shape.tensors();
    let dtype_of = |t: &TensorSpec| {
        if t.vector || t.kind == Kind::Router {
            Dtype::F32
        } else {
            quant
        }
    };
    let len_of = |t: &TensorSpec| dtype_of(t).bytes_for(t.len() as u64).unwrap_or(0) as usize;
    let max_len = specs.iter().map(len_of).max().unwrap_or(0);
    let zero = vec![0u8; max_len];
    for t in &specs {
        g.add_tensor(t.gguf_name(), &t.shape(), dtype_of(t), &zero[..len_of(t)])
            .map_err(werr)?;
    }
    let f = std::fs::File::create(path).map_err(|e| io_err(path, e))?;
    let mut sink = Splice {
        out: BufWriter::with_capacity(1 << 22, f),
        zero: zero.as_ptr() as usize,
        next: 0,
        fill: |i: usize, _len: usize, out: &mut BufWriter<std::fs::File>| {
            let t = &specs[i];
            let gen = TensorGen::new(shape, t, seed, variant, true);
            write_tensor(&gen, t, dtype_of(t), out)
        },
    };
    let n = g.write_to(&mut sink).map_err(|e| io_err(path, e))?;
    sink.flush().map_err(|e| io_err(path, e))?;
    Ok(n)
}
