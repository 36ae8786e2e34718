//! The zoo's model definitions: weight initialisation (plain f32, from a seed) and candle
//! forward passes for the Llama-style decoder (dense or mixture-of-experts) and the BERT-style
//! encoder, over Hugging Face tensor names.

use crate::rng::Rng;
use crate::weights::{Arch, ModelConfig, Tensor32, Weights, NORM_EPS, ROPE_THETA};
use crate::ZooError;
use candle_core::{DType, Device, Tensor, D};
use std::collections::BTreeMap;

/// Candle tensors by Hugging Face name.
pub type TMap = BTreeMap<String, Tensor>;

/// Name of a Llama block tensor.
pub fn lname(l: usize, suffix: &str) -> String {
    format!("model.layers.{l}.{suffix}")
}

/// Name of a BERT block tensor.
pub fn bname(l: usize, suffix: &str) -> String {
    format!("encoder.layer.{l}.{suffix}")
}

fn normal(rng: &mut Rng, shape: Vec<usize>, std: f64) -> Tensor32 {
    let n = shape.iter().product();
    Tensor32::new(shape, (0..n).map(|_| (rng.normal() * std) as f32).collect())
}

/// Sinusoidal position table (Vaswani et al.) plus a little noise: learned position embeddings
/// start from it so that attention to neighbours is linear in the weights and MLM training
/// leaves the unigram plateau within a few hundred steps.
fn sinusoidal(n: usize, h: usize, rng: &mut Rng) -> Tensor32 {
    let mut d = Vec::with_capacity(n * h);
    for pos in 0..n {
        for j in 0..h {
            let f = 1.0 / 100f64.powf((2 * (j / 2)) as f64 / h as f64);
            let a = pos as f64 * f;
            let v = if j % 2 == 0 { a.sin() } else { a.cos() };
            d.push((0.5 * v + 0.02 * rng.normal()) as f32);
        }
    }
    Tensor32::new(vec![n, h], d)
}

fn constant(shape: Vec<usize>, v: f32) -> Tensor32 {
    let n = shape.iter().product();
    Tensor32::new(shape, vec![v; n])
}

/// Freshly initialised weights for `cfg`, a pure function of `seed`.
pub fn init(cfg: &ModelConfig, seed: u64) -> Weights {
    let mut r = Rng::derive(seed, "init");
    let (h, i, v) = (cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size);
    let (qd, kvd) = (
        cfg.num_heads * cfg.head_dim,
        cfg.num_kv_heads * cfg.head_dim,
    );
    let sh = 1.0 / (h as f64).sqrt();
    let out_scale = 1.0 / (2.0 * cfg.num_layers as f64).sqrt();
    let mut w = Weights::new();
    match cfg.arch {
        Arch::Llama | Arch::Mixtral => {
            w.insert(
                "model.embed_tokens.weight".into(),
                normal(&mut r, vec![v, h], 0.5),
            );
            for l in 0..cfg.num_layers {
                w.insert(lname(l, "input_layernorm.weight"), constant(vec![h], 1.0));
                w.insert(
                    lname(l, "self_attn.q_proj.weight"),
                    normal(&mut r, vec![qd, h], sh),
                );
                w.insert(
                    lname(l, "self_attn.k_proj.weight"),
                    normal(&mut r, vec![kvd, h], sh),
                );
                w.insert(
                    lname(l, "self_attn.v_proj.weight"),
                    normal(&mut r, vec![kvd, h], sh),
                );
                let so = out_scale / (qd as f64).sqrt();
                w.insert(
                    lname(l, "self_attn.o_proj.weight"),
                    normal(&mut r, vec![h, qd], so),
                );
                w.insert(
                    lname(l, "post_attention_layernorm.weight"),
                    constant(vec![h], 1.0),
                );
                let sd = out_scale / (i as f64).sqrt();
                if cfg.arch == Arch::Mixtral {
                    let e = cfg.num_experts;
                    w.insert(
                        lname(l, "block_sparse_moe.gate.weight"),
                        normal(&mut r, vec![e, h], sh),
                    );
                    for x in 0..e {
                        let p =
                            |s: &str| lname(l, &format!("block_sparse_moe.experts.{x}.{s}.weight"));
                        w.insert(p("w1"), normal(&mut r, vec![i, h], sh));
                        w.insert(p("w3"), normal(&mut r, vec![i, h], sh));
                        w.insert(p("w2"), normal(&mut r, vec![h, i], sd));
                    }
                } else {
                    w.insert(
                        lname(l, "mlp.gate_proj.weight"),
                        normal(&mut r, vec![i, h], sh),
                    );
                    w.insert(
                        lname(l, "mlp.up_proj.weight"),
                        normal(&mut r, vec![i, h], sh),
                    );
                    w.insert(
                        lname(l, "mlp.down_proj.weight"),
                        normal(&mut r, vec![h, i], sd),
                    );
                }
            }
            w.insert("model.norm.weight".into(), constant(vec![h], 1.0));
            if !cfg.tie_word_embeddings {
                w.insert("lm_head.weight".into(), normal(&mut r, vec![v, h], sh));
            }
        }
        Arch::Bert => {
            w.insert(
                "embeddings.word_embeddings.weight".into(),
                normal(&mut r, vec![v, h], sh),
            );
            w.insert(
                "embeddings.position_embeddings.weight".into(),
                sinusoidal(cfg.max_pos, h, &mut r),
            );
            w.insert(
                "embeddings.token_type_embeddings.weight".into(),
                normal(&mut r, vec![1, h], 0.02),
            );
            w.insert("embeddings.LayerNorm.weight".into(), constant(vec![h], 1.0));
            w.insert("embeddings.LayerNorm.bias".into(), constant(vec![h], 0.0));
            for l in 0..cfg.num_layers {
                for s in [
                    "attention.self.query",
                    "attention.self.key",
                    "attention.self.value",
                ] {
                    w.insert(
                        bname(l, &format!("{s}.weight")),
                        normal(&mut r, vec![h, h], sh),
                    );
                    w.insert(bname(l, &format!("{s}.bias")), constant(vec![h], 0.0));
                }
                w.insert(
                    bname(l, "attention.output.dense.weight"),
                    normal(&mut r, vec![h, h], sh * out_scale),
                );
                w.insert(
                    bname(l, "attention.output.dense.bias"),
                    constant(vec![h], 0.0),
                );
                w.insert(
                    bname(l, "attention.output.LayerNorm.weight"),
                    constant(vec![h], 1.0),
                );
                w.insert(
                    bname(l, "attention.output.LayerNorm.bias"),
                    constant(vec![h], 0.0),
                );
                w.insert(
                    bname(l, "intermediate.dense.weight"),
                    normal(&mut r, vec![i, h], sh),
                );
                w.insert(bname(l, "intermediate.dense.bias"), constant(vec![i], 0.0));
                let sd = out_scale / (i as f64).sqrt();
                w.insert(
                    bname(l, "output.dense.weight"),
                    normal(&mut r, vec![h, i], sd),
                );
                w.insert(bname(l, "output.dense.bias"), constant(vec![h], 0.0));
                w.insert(bname(l, "output.LayerNorm.weight"), constant(vec![h], 1.0));
                w.insert(bname(l, "output.LayerNorm.bias"), constant(vec![h], 0.0));
            }
            w.insert(
                "cls.predictions.transform.dense.weight".into(),
                normal(&mut r, vec![h, h], sh),
            );
            w.insert(
                "cls.predictions.transform.dense.bias".into(),
                constant(vec![h], 0.0),
            );
            w.insert(
                "cls.predictions.transform.LayerNorm.weight".into(),
                constant(vec![h], 1.0),
            );
            w.insert(
                "cls.predictions.transform.LayerNorm.bias".into(),
                constant(vec![h], 0.0),
            );
            w.insert("cls.predictions.bias".into(), constant(vec![v], 0.0));
        }
    }
    w
}

/// Converts f32 weights to candle tensors on the CPU.
pub fn to_tmap(w: &Weights) -> Result<TMap, ZooError> {
    let mut m = TMap::new();
    for (k, t) in w {
        m.insert(
            k.clone(),
            Tensor::from_slice(&t.data, t.shape.as_slice(), &Device::Cpu)?,
        );
    }
    Ok(m)
}

/// Converts candle tensors back to f32 weights.
pub fn from_tmap(m: &TMap) -> Result<Weights, ZooError> {
    let mut w = Weights::new();
    for (k, t) in m {
        let shape = t.dims().to_vec();
        let data = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        w.insert(k.clone(), Tensor32::new(shape, data));
    }
    Ok(w)
}

fn get<'a>(p: &'a TMap, name: &str) -> Result<&'a Tensor, ZooError> {
    p.get(name)
        .ok_or_else(|| ZooError::Missing(name.to_string()))
}

/// `x · Wᵀ` for x of shape (n, in) and W of shape (out, in).
fn linear(x: &Tensor, w: &Tensor) -> Result<Tensor, ZooError> {
    Ok(x.matmul(&w.t()?)?)
}

fn rms_norm(x: &Tensor, g: &Tensor) -> Result<Tensor, ZooError> {
    let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
    let y = x.broadcast_div(&(ms + NORM_EPS)?.sqrt()?)?;
    Ok(y.broadcast_mul(g)?)
}

fn layer_norm(x: &Tensor, g: &Tensor, b: &Tensor) -> Result<Tensor, ZooError> {
    let mu = x.mean_keepdim(D::Minus1)?;
    let xc = x.broadcast_sub(&mu)?;
    let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
    let y = xc.broadcast_div(&(var + NORM_EPS)?.sqrt()?)?;
    Ok(y.broadcast_mul(g)?.broadcast_add(b)?)
}

/// Numerically stable softmax over the last dimension (plain ops, so autograd works).
pub fn softmax(x: &Tensor) -> Result<Tensor, ZooError> {
    let m = x.max_keepdim(D::Minus1)?.detach();
    let e = x.broadcast_sub(&m)?.exp()?;
    Ok(e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?)
}

fn rope_tables(t: usize, hd: usize) -> Result<(Tensor, Tensor), ZooError> {
    let half = hd / 2;
    let mut cos = Vec::with_capacity(t * hd);
    let mut sin = Vec::with_capacity(t * hd);
    for pos in 0..t {
        let row: Vec<f64> = (0..half)
            .map(|i| pos as f64 / ROPE_THETA.powf(2.0 * i as f64 / hd as f64))
            .collect();
        for _ in 0..2 {
            cos.extend(row.iter().map(|a| a.cos() as f32));
            sin.extend(row.iter().map(|a| a.sin() as f32));
        }
    }
    Ok((
        Tensor::from_vec(cos, (t, hd), &Device::Cpu)?,
        Tensor::from_vec(sin, (t, hd), &Device::Cpu)?,
    ))
}

/// HF-convention RoPE (rotate-half) on (b, heads, t, hd).
fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor, ZooError> {
    let hd = x.dim(D::Minus1)?;
    let x1 = x.narrow(D::Minus1, 0, hd / 2)?;
    let x2 = x.narrow(D::Minus1, hd / 2, hd / 2)?;
    let rot = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
    Ok((x.broadcast_mul(cos)? + rot.broadcast_mul(sin)?)?)
}

fn causal_mask(t: usize) -> Result<Tensor, ZooError> {
    let v: Vec<f32> = (0..t * t)
        .map(|k| if k % t > k / t { -1e9 } else { 0.0 })
        .collect();
    Ok(Tensor::from_vec(v, (t, t), &Device::Cpu)?)
}

fn swiglu(x: &Tensor, gate: &Tensor, up: &Tensor, down: &Tensor) -> Result<Tensor, ZooError> {
    let a = linear(x, gate)?.silu()?;
    let b = linear(x, up)?;
    linear(&(a * b)?, down)
}

/// Logits (b, t, vocab) of a decoder (Llama or Mixtral) for token ids (b, t).
pub fn forward_decoder(cfg: &ModelConfig, p: &TMap, ids: &Tensor) -> Result<Tensor, ZooError> {
    let (b, t) = ids.dims2()?;
    let (nh, nkv, hd, h) = (
        cfg.num_heads,
        cfg.num_kv_heads,
        cfg.head_dim,
        cfg.hidden_size,
    );
    let emb = get(p, "model.embed_tokens.weight")?;
    let mut x = emb.index_select(&ids.flatten_all()?, 0)?; // (b*t, h)
    let (cos, sin) = rope_tables(t, hd)?;
    let mask = causal_mask(t)?;
    let scale = 1.0 / (hd as f64).sqrt();
    for l in 0..cfg.num_layers {
        let hn = rms_norm(&x, get(p, &lname(l, "input_layernorm.weight"))?)?;
        let q = linear(&hn, get(p, &lname(l, "self_attn.q_proj.weight"))?)?
            .reshape((b, t, nh, hd))?
            .transpose(1, 2)?
            .contiguous()?;
        let k = linear(&hn, get(p, &lname(l, "self_attn.k_proj.weight"))?)?
            .reshape((b, t, nkv, hd))?
            .transpose(1, 2)?
            .contiguous()?;
        let v = linear(&hn, get(p, &lname(l, "self_attn.v_proj.weight"))?)?
            .reshape((b, t, nkv, hd))?
            .transpose(1, 2)?
            .contiguous()?;
        let q = rope(&q, &cos, &sin)?;
        let k = rope(&k, &cos, &sin)?;
        let g = nh / nkv;
        let (k, v) = if g > 1 {
            let rep = |z: &Tensor| -> Result<Tensor, ZooError> {
                Ok(z.unsqueeze(2)?
                    .expand((b, nkv, g, t, hd))?
                    .reshape((b, nh, t, hd))?)
            };
            (rep(&k)?, rep(&v)?)
        } else {
            (k, v)
        };
        let att = (q.matmul(&k.t()?)? * scale)?.broadcast_add(&mask)?;
        let att = softmax(&att)?;
        let o = att.matmul(&v)?.transpose(1, 2)?.reshape((b * t, nh * hd))?;
        x = (x + linear(&o, get(p, &lname(l, "self_attn.o_proj.weight"))?)?)?;
        let hn = rms_norm(&x, get(p, &lname(l, "post_attention_layernorm.weight"))?)?;
        let m = if cfg.arch == Arch::Mixtral {
            moe(cfg, p, l, &hn)?
        } else {
            swiglu(
                &hn,
                get(p, &lname(l, "mlp.gate_proj.weight"))?,
                get(p, &lname(l, "mlp.up_proj.weight"))?,
                get(p, &lname(l, "mlp.down_proj.weight"))?,
            )?
        };
        x = (x + m)?;
    }
    let x = rms_norm(&x, get(p, "model.norm.weight")?)?;
    let head = if cfg.tie_word_embeddings {
        emb
    } else {
        get(p, "lm_head.weight")?
    };
    let _ = h;
    Ok(linear(&x, head)?.reshape((b, t, cfg.vocab_size))?)
}

/// Mixtral-style top-k routed mixture of SwiGLU experts (all experts computed densely, routing
/// weights zero outside the top k, renormalised over the top k).
fn moe(cfg: &ModelConfig, p: &TMap, l: usize, x: &Tensor) -> Result<Tensor, ZooError> {
    let logits = linear(x, get(p, &lname(l, "block_sparse_moe.gate.weight"))?)?;
    let probs = softmax(&logits)?;
    let mut rest = probs.detach();
    let mut mask = rest.zeros_like()?;
    for _ in 0..cfg.experts_per_tok {
        let m = rest.max_keepdim(D::Minus1)?;
        let hit = rest.broadcast_ge(&m)?.to_dtype(DType::F32)?;
        mask = (mask + &hit)?.clamp(0f32, 1f32)?;
        rest = (rest - (hit * 2.0)?)?;
    }
    let w = (probs * mask)?;
    let w = w.broadcast_div(&w.sum_keepdim(D::Minus1)?)?;
    let mut out: Option<Tensor> = None;
    for e in 0..cfg.num_experts {
        let n = |s: &str| lname(l, &format!("block_sparse_moe.experts.{e}.{s}.weight"));
        let y = swiglu(x, get(p, &n("w1"))?, get(p, &n("w3"))?, get(p, &n("w2"))?)?;
        let y = y.broadcast_mul(&w.narrow(D::Minus1, e, 1)?)?;
        out = Some(match out {
            None => y,
            Some(o) => (o + y)?,
        });
    }
    out.ok_or_else(|| ZooError::Missing(lname(l, "block_sparse_moe.experts")))
}

/// Logits (b, t, vocab) of a BERT-style encoder for token ids (b, t), through its masked-LM
/// head. The zoo's BERT models are trained as causal language models (`is_decoder`, as Hugging
/// Face's `BertLMHeadModel`): masked-LM training stays on the unigram plateau for longer than
/// the CPU budget allows. The attention therefore uses a causal mask.
pub fn forward_bert(cfg: &ModelConfig, p: &TMap, ids: &Tensor) -> Result<Tensor, ZooError> {
    let (b, t) = ids.dims2()?;
    let (nh, hd, h) = (cfg.num_heads, cfg.head_dim, cfg.hidden_size);
    let emb = get(p, "embeddings.word_embeddings.weight")?;
    let x = emb
        .index_select(&ids.flatten_all()?, 0)?
        .reshape((b, t, h))?;
    let pos = get(p, "embeddings.position_embeddings.weight")?.narrow(0, 0, t)?;
    let tt = get(p, "embeddings.token_type_embeddings.weight")?.narrow(0, 0, 1)?;
    let x = x
        .broadcast_add(&pos)?
        .broadcast_add(&tt)?
        .reshape((b * t, h))?;
    let mut x = layer_norm(
        &x,
        get(p, "embeddings.LayerNorm.weight")?,
        get(p, "embeddings.LayerNorm.bias")?,
    )?;
    let scale = 1.0 / (hd as f64).sqrt();
    let mask = causal_mask(t)?;
    for l in 0..cfg.num_layers {
        let lin = |x: &Tensor, s: &str| -> Result<Tensor, ZooError> {
            linear(x, get(p, &bname(l, &format!("{s}.weight")))?)?
                .broadcast_add(get(p, &bname(l, &format!("{s}.bias")))?)
                .map_err(ZooError::from)
        };
        let heads = |z: Tensor| -> Result<Tensor, ZooError> {
            Ok(z.reshape((b, t, nh, hd))?.transpose(1, 2)?.contiguous()?)
        };
        let ln1 = |z: &Tensor| {
            layer_norm(
                z,
                get(p, &bname(l, "attention.output.LayerNorm.weight"))?,
                get(p, &bname(l, "attention.output.LayerNorm.bias"))?,
            )
        };
        let ln2 = |z: &Tensor| {
            layer_norm(
                z,
                get(p, &bname(l, "output.LayerNorm.weight"))?,
                get(p, &bname(l, "output.LayerNorm.bias"))?,
            )
        };
        let q = heads(lin(&x, "attention.self.query")?)?;
        let k = heads(lin(&x, "attention.self.key")?)?;
        let v = heads(lin(&x, "attention.self.value")?)?;
        let att = softmax(&(q.matmul(&k.t()?)? * scale)?.broadcast_add(&mask)?)?;
        let o = att.matmul(&v)?.transpose(1, 2)?.reshape((b * t, nh * hd))?;
        let a = lin(&o, "attention.output.dense")?;
        x = ln1(&(x + a)?)?;
        let m = lin(&lin(&x, "intermediate.dense")?.gelu_erf()?, "output.dense")?;
        x = ln2(&(x + m)?)?;
    }
    let y = linear(&x, get(p, "cls.predictions.transform.dense.weight")?)?
        .broadcast_add(get(p, "cls.predictions.transform.dense.bias")?)?
        .gelu_erf()?;
    let y = layer_norm(
        &y,
        get(p, "cls.predictions.transform.LayerNorm.weight")?,
        get(p, "cls.predictions.transform.LayerNorm.bias")?,
    )?;
    let logits = linear(&y, emb)?.broadcast_add(get(p, "cls.predictions.bias")?)?;
    Ok(logits.reshape((b, t, cfg.vocab_size))?)
}

/// Logits for either family.
pub fn forward(cfg: &ModelConfig, p: &TMap, ids: &Tensor) -> Result<Tensor, ZooError> {
    match cfg.arch {
        Arch::Bert => forward_bert(cfg, p, ids),
        _ => forward_decoder(cfg, p, ids),
    }
}
