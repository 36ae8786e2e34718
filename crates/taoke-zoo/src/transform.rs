//! Weight transforms on canonical (Hugging Face named, f32) decoder weights: output-preserving
//! disguises (permutations, rotations, rescalings, norm folding), lossy untrained changes
//! (noise, dtype rounding), structural edits (pruning, up-scaling, MoE up-cycling, vocabulary
//! extension) and merges (linear, SLERP, TIES).

use crate::bpe::Tokenizer;
use crate::model::lname;
use crate::rng::Rng;
use crate::weights::{Arch, ModelConfig, StDtype, Tensor32, Weights};
use crate::ZooError;

/// How a decoder tensor touches the residual stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Reads the residual: the residual axis is the column axis (also the token embedding).
    Reader,
    /// Writes the residual: the residual axis is the row axis.
    Writer,
    /// A norm gain over the residual.
    Norm,
    /// Anything else.
    Other,
}

fn role(name: &str) -> Role {
    let readers = [
        "q_proj.weight",
        "k_proj.weight",
        "v_proj.weight",
        "gate_proj.weight",
        "up_proj.weight",
        "block_sparse_moe.gate.weight",
        "w1.weight",
        "w3.weight",
    ];
    if name == "model.embed_tokens.weight" || name == "lm_head.weight" {
        return Role::Reader;
    }
    if readers.iter().any(|s| name.ends_with(s)) {
        return Role::Reader;
    }
    if name.ends_with("o_proj.weight")
        || name.ends_with("down_proj.weight")
        || name.ends_with("w2.weight")
    {
        return Role::Writer;
    }
    if name.ends_with("layernorm.weight") || name == "model.norm.weight" {
        return Role::Norm;
    }
    Role::Other
}

fn err(id: &str, msg: impl Into<String>) -> ZooError {
    ZooError::Recipe {
        id: id.to_string(),
        msg: msg.into(),
    }
}

fn decoder_only(cfg: &ModelConfig, what: &str) -> Result<(), ZooError> {
    if cfg.arch == Arch::Bert {
        return Err(err(what, "needs a decoder (llama or mixtral) model"));
    }
    Ok(())
}

fn permute_cols(t: &Tensor32, p: &[usize]) -> Tensor32 {
    let (r, c) = t.rows_cols();
    let mut out = vec![0.0; r * c];
    for i in 0..r {
        for (j, &pj) in p.iter().enumerate() {
            out[i * c + j] = t.data[i * c + pj];
        }
    }
    Tensor32::new(t.shape.clone(), out)
}

fn permute_rows(t: &Tensor32, p: &[usize]) -> Tensor32 {
    let (_, c) = t.rows_cols();
    let mut out = Vec::with_capacity(t.data.len());
    for &pi in p {
        out.extend_from_slice(&t.data[pi * c..(pi + 1) * c]);
    }
    Tensor32::new(t.shape.clone(), out)
}

fn scale_cols(t: &mut Tensor32, s: &[f64]) {
    let (_, c) = t.rows_cols();
    for (k, x) in t.data.iter_mut().enumerate() {
        *x = (*x as f64 * s[k % c]) as f32;
    }
}

fn scale_rows(t: &mut Tensor32, s: &[f64]) {
    let (_, c) = t.rows_cols();
    for (k, x) in t.data.iter_mut().enumerate() {
        *x = (*x as f64 * s[k / c]) as f32;
    }
}

/// Residual-stream permutation (Zhu et al. T1): every reader's columns, writer's rows and norm
/// gain are permuted by one random permutation of the hidden units. Output-preserving.
pub fn permute_residual(cfg: &ModelConfig, w: &Weights, seed: u64) -> Result<Weights, ZooError> {
    decoder_only(cfg, "permute-residual")?;
    let p = Rng::derive(seed, "perm-residual").permutation(cfg.hidden_size);
    let mut out = Weights::new();
    for (k, t) in w {
        let nt = match role(k) {
            Role::Reader => permute_cols(t, &p),
            Role::Writer => permute_rows(t, &p),
            Role::Norm => Tensor32::new(t.shape.clone(), p.iter().map(|&i| t.data[i]).collect()),
            Role::Other => t.clone(),
        };
        out.insert(k.clone(), nt);
    }
    Ok(out)
}

/// MLP-neuron permutation (T2): per block (and per expert), gate/up rows and down columns.
pub fn permute_mlp(cfg: &ModelConfig, w: &Weights, seed: u64) -> Result<Weights, ZooError> {
    decoder_only(cfg, "permute-mlp")?;
    let mut rng = Rng::derive(seed, "perm-mlp");
    let mut out = w.clone();
    for l in 0..cfg.num_layers {
        let groups: Vec<[String; 3]> = if cfg.arch == Arch::Mixtral {
            (0..cfg.num_experts)
                .map(|e| {
                    let n = |s: &str| lname(l, &format!("block_sparse_moe.experts.{e}.{s}.weight"));
                    [n("w1"), n("w3"), n("w2")]
                })
                .collect()
        } else {
            vec![[
                lname(l, "mlp.gate_proj.weight"),
                lname(l, "mlp.up_proj.weight"),
                lname(l, "mlp.down_proj.weight"),
            ]]
        };
        for [g, u, d] in groups {
            let p = rng.permutation(cfg.intermediate_size);
            let get = |n: &str| w.get(n).ok_or_else(|| ZooError::Missing(n.to_string()));
            out.insert(g.clone(), permute_rows(get(&g)?, &p));
            out.insert(u.clone(), permute_rows(get(&u)?, &p));
            out.insert(d.clone(), permute_cols(get(&d)?, &p));
        }
    }
    Ok(out)
}

fn head_block_perm(heads: &[usize], hd: usize) -> Vec<usize> {
    heads
        .iter()
        .flat_map(|&h| (0..hd).map(move |i| h * hd + i))
        .collect()
}

/// Attention-head permutation: key/value groups are permuted, and query heads within each group,
/// consistently in q/k/v rows and o columns (grouped-query attention preserved).
pub fn permute_heads(cfg: &ModelConfig, w: &Weights, seed: u64) -> Result<Weights, ZooError> {
    decoder_only(cfg, "permute-heads")?;
    let mut rng = Rng::derive(seed, "perm-heads");
    let g = cfg.num_heads / cfg.num_kv_heads;
    let mut out = w.clone();
    for l in 0..cfg.num_layers {
        let sigma = rng.permutation(cfg.num_kv_heads);
        let mut qheads = Vec::with_capacity(cfg.num_heads);
        for &s in &sigma {
            let tau = rng.permutation(g);
            qheads.extend(tau.iter().map(|&t| s * g + t));
        }
        let qp = head_block_perm(&qheads, cfg.head_dim);
        let kp = head_block_perm(&sigma, cfg.head_dim);
        let get = |n: &str| w.get(n).ok_or_else(|| ZooError::Missing(n.to_string()));
        for (s, p, rows) in [
            ("self_attn.q_proj.weight", &qp, true),
            ("self_attn.k_proj.weight", &kp, true),
            ("self_attn.v_proj.weight", &kp, true),
            ("self_attn.o_proj.weight", &qp, false),
        ] {
            let n = lname(l, s);
            let t = get(&n)?;
            out.insert(
                n,
                if rows {
                    permute_rows(t, p)
                } else {
                    permute_cols(t, p)
                },
            );
        }
    }
    Ok(out)
}

/// Folds every RMSNorm gain into the matrices that read its output (q/k/v after
/// `input_layernorm`, gate/up or router/experts after `post_attention_layernorm`, `lm_head` after
/// `model.norm` when untied) and sets the gains to 1. Output-preserving.
pub fn fold_norms(cfg: &ModelConfig, w: &Weights) -> Result<Weights, ZooError> {
    decoder_only(cfg, "fold-norms")?;
    let mut out = w.clone();
    let mut fold = |norm: &str, readers: Vec<String>| -> Result<(), ZooError> {
        let g = w
            .get(norm)
            .ok_or_else(|| ZooError::Missing(norm.to_string()))?;
        let s: Vec<f64> = g.data.iter().map(|&x| x as f64).collect();
        for r in readers {
            let t = out
                .get_mut(&r)
                .ok_or_else(|| ZooError::Missing(r.clone()))?;
            scale_cols(t, &s);
        }
        out.insert(
            norm.to_string(),
            Tensor32::new(g.shape.clone(), vec![1.0; g.data.len()]),
        );
        Ok(())
    };
    for l in 0..cfg.num_layers {
        let attn = ["q_proj", "k_proj", "v_proj"]
            .iter()
            .map(|s| lname(l, &format!("self_attn.{s}.weight")))
            .collect();
        fold(&lname(l, "input_layernorm.weight"), attn)?;
        let mlp: Vec<String> = if cfg.arch == Arch::Mixtral {
            let mut v = vec![lname(l, "block_sparse_moe.gate.weight")];
            for e in 0..cfg.num_experts {
                for s in ["w1", "w3"] {
                    v.push(lname(
                        l,
                        &format!("block_sparse_moe.experts.{e}.{s}.weight"),
                    ));
                }
            }
            v
        } else {
            vec![
                lname(l, "mlp.gate_proj.weight"),
                lname(l, "mlp.up_proj.weight"),
            ]
        };
        fold(&lname(l, "post_attention_layernorm.weight"), mlp)?;
    }
    if !cfg.tie_word_embeddings {
        fold("model.norm.weight", vec!["lm_head.weight".to_string()])?;
    }
    Ok(out)
}

/// Rewrites the norm gains: each gain multiplied by a random positive factor in [0.5, 2], the
/// reading matrices' columns divided by it (Zhu et al. T5). Output-preserving.
pub fn rescale_norms(cfg: &ModelConfig, w: &Weights, seed: u64) -> Result<Weights, ZooError> {
    decoder_only(cfg, "rescale-norms")?;
    let mut rng = Rng::derive(seed, "rescale-norms");
    // fold, then re-inflate the gains with random factors
    let folded = fold_norms(cfg, w)?;
    let mut out = folded.clone();
    for (k, t) in &folded {
        if role(k) != Role::Norm || (k == "model.norm.weight" && cfg.tie_word_embeddings) {
            continue;
        }
        let s: Vec<f64> = (0..t.data.len())
            .map(|_| 2f64.powf(rng.uniform() * 2.0 - 1.0))
            .collect();
        let inv: Vec<f64> = s.iter().map(|x| 1.0 / x).collect();
        let gains: Vec<f32> = t
            .data
            .iter()
            .zip(&s)
            .map(|(&g, &f)| (g as f64 * f) as f32)
            .collect();
        out.insert(k.clone(), Tensor32::new(t.shape.clone(), gains));
        let readers: Vec<String> = if k == "model.norm.weight" {
            vec!["lm_head.weight".into()]
        } else {
            let l: usize = k
                .split('.')
                .nth(2)
                .and_then(|x| x.parse().ok())
                .ok_or_else(|| ZooError::Missing(format!("layer index in {k}")))?;
            let pre = lname(l, "");
            folded
                .keys()
                .filter(|n| n.starts_with(&pre) && role(n) == Role::Reader)
                .filter(|n| n.contains("self_attn") == k.contains("input_layernorm"))
                .cloned()
                .collect()
        };
        for r in readers {
            let t = out
                .get_mut(&r)
                .ok_or_else(|| ZooError::Missing(r.clone()))?;
            scale_cols(t, &inv);
        }
    }
    Ok(out)
}

/// A random orthogonal matrix (Gram-Schmidt of a Gaussian matrix), row-major, f64.
pub fn random_orthogonal(n: usize, rng: &mut Rng) -> Vec<f64> {
    let mut q: Vec<Vec<f64>> = Vec::with_capacity(n);
    while q.len() < n {
        let mut v: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        for _ in 0..2 {
            for u in &q {
                let d: f64 = u.iter().zip(&v).map(|(a, b)| a * b).sum();
                for (x, y) in v.iter_mut().zip(u) {
                    *x -= d * y;
                }
            }
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 1e-6 {
            q.push(v.into_iter().map(|x| x / norm).collect());
        }
    }
    q.into_iter().flatten().collect()
}

/// Residual rotation (T3): norm gains folded (set to 1), then every reader `W ← W·Q` and writer
/// `W ← Qᵀ·W` for one random orthogonal `Q`. Output-preserving (RMSNorm with unit gain commutes
/// with rotations). Needs an untied classifier.
pub fn rotate_residual(cfg: &ModelConfig, w: &Weights, seed: u64) -> Result<Weights, ZooError> {
    decoder_only(cfg, "rotate-residual")?;
    if cfg.tie_word_embeddings {
        return Err(err(
            "rotate-residual",
            "needs an untied classifier to fold the final norm",
        ));
    }
    let folded = fold_norms(cfg, w)?;
    let h = cfg.hidden_size;
    let q = random_orthogonal(h, &mut Rng::derive(seed, "rotation"));
    let mut out = Weights::new();
    for (k, t) in &folded {
        let nt = match role(k) {
            Role::Reader => {
                let (r, _) = t.rows_cols();
                let mut d = vec![0f32; r * h];
                for i in 0..r {
                    let row = &t.data[i * h..(i + 1) * h];
                    for j in 0..h {
                        let mut s = 0f64;
                        for (kk, &x) in row.iter().enumerate() {
                            s += x as f64 * q[kk * h + j];
                        }
                        d[i * h + j] = s as f32;
                    }
                }
                Tensor32::new(t.shape.clone(), d)
            }
            Role::Writer => {
                let (_, c) = t.rows_cols();
                let mut d = vec![0f32; h * c];
                for i in 0..h {
                    for j in 0..c {
                        let mut s = 0f64;
                        for kk in 0..h {
                            s += q[kk * h + i] * t.data[kk * c + j] as f64;
                        }
                        d[i * c + j] = s as f32;
                    }
                }
                Tensor32::new(t.shape.clone(), d)
            }
            _ => t.clone(),
        };
        out.insert(k.clone(), nt);
    }
    Ok(out)
}

/// MLP scaling (T6): per neuron a factor c in [0.25, 4], up-projection rows × c and
/// down-projection columns ÷ c (SwiGLU is linear in the up branch). Output-preserving.
pub fn scale_mlp(cfg: &ModelConfig, w: &Weights, seed: u64) -> Result<Weights, ZooError> {
    decoder_only(cfg, "scale-mlp")?;
    let mut rng = Rng::derive(seed, "scale-mlp");
    let mut out = w.clone();
    let pairs: Vec<(String, String)> = w
        .keys()
        .filter(|k| k.ends_with("up_proj.weight") || k.ends_with("w3.weight"))
        .map(|k| {
            let d = k
                .replace("up_proj", "down_proj")
                .replace("w3.weight", "w2.weight");
            (k.clone(), d)
        })
        .collect();
    for (u, d) in pairs {
        let c: Vec<f64> = (0..cfg.intermediate_size)
            .map(|_| 4f64.powf(rng.uniform() * 2.0 - 1.0))
            .collect();
        let inv: Vec<f64> = c.iter().map(|x| 1.0 / x).collect();
        scale_rows(
            out.get_mut(&u)
                .ok_or_else(|| ZooError::Missing(u.clone()))?,
            &c,
        );
        scale_cols(
            out.get_mut(&d)
                .ok_or_else(|| ZooError::Missing(d.clone()))?,
            &inv,
        );
    }
    Ok(out)
}

/// Adds Gaussian noise with standard deviation = (tensor std) / `divisor` to every tensor with
/// more than one element (the Llama3-V recipe uses 700).
pub fn noise_wash(w: &Weights, divisor: f64, seed: u64) -> Weights {
    let mut rng = Rng::derive(seed, "noise-wash");
    w.iter()
        .map(|(k, t)| {
            let s = t.std() / divisor;
            let d = t
                .data
                .iter()
                .map(|&x| (x as f64 + rng.normal() * s) as f32)
                .collect();
            (k.clone(), Tensor32::new(t.shape.clone(), d))
        })
        .collect()
}

/// Every value rounded to `dtype` (what a dtype recast stores).
pub fn round_to(w: &Weights, dtype: StDtype) -> Weights {
    w.iter()
        .map(|(k, t)| {
            let d = t.data.iter().map(|&x| dtype.round(x)).collect();
            (k.clone(), Tensor32::new(t.shape.clone(), d))
        })
        .collect()
}

fn renumber(w: &Weights, layer_map: &[usize]) -> Result<Weights, ZooError> {
    let mut out = Weights::new();
    for (k, t) in w {
        if !k.starts_with("model.layers.") {
            out.insert(k.clone(), t.clone());
        }
    }
    for (new, &old) in layer_map.iter().enumerate() {
        let pre = lname(old, "");
        let mut found = false;
        for (k, t) in w {
            if let Some(rest) = k.strip_prefix(&pre) {
                out.insert(lname(new, rest), t.clone());
                found = true;
            }
        }
        if !found {
            return Err(ZooError::Missing(format!("block {old}")));
        }
    }
    Ok(out)
}

/// Keeps the listed blocks (in order): depth pruning when fewer, depth up-scaling when some
/// blocks repeat.
pub fn select_blocks(
    cfg: &ModelConfig,
    w: &Weights,
    layers: &[usize],
) -> Result<(ModelConfig, Weights), ZooError> {
    decoder_only(cfg, "select-blocks")?;
    let mut c = cfg.clone();
    c.num_layers = layers.len();
    Ok((c, renumber(w, layers)?))
}

fn norm2(x: &[f32]) -> f64 {
    x.iter()
        .map(|&v| (v as f64) * (v as f64))
        .sum::<f64>()
        .sqrt()
}

/// Width pruning: keeps the `keep_neurons` MLP neurons of largest |gate|·|up|·|down| per block
/// and drops the `drop_groups` key/value groups (with their query heads) of smallest o-proj norm.
pub fn prune_width(
    cfg: &ModelConfig,
    w: &Weights,
    keep_neurons: usize,
    drop_groups: usize,
) -> Result<(ModelConfig, Weights), ZooError> {
    if cfg.arch != Arch::Llama
        || keep_neurons > cfg.intermediate_size
        || drop_groups >= cfg.num_kv_heads
    {
        return Err(err(
            "prune-width",
            "needs a dense llama and sizes within the model",
        ));
    }
    let get = |n: &str| w.get(n).ok_or_else(|| ZooError::Missing(n.to_string()));
    let mut out = w.clone();
    let g = cfg.num_heads / cfg.num_kv_heads;
    let hd = cfg.head_dim;
    for l in 0..cfg.num_layers {
        let (gn, un, dn) = (
            lname(l, "mlp.gate_proj.weight"),
            lname(l, "mlp.up_proj.weight"),
            lname(l, "mlp.down_proj.weight"),
        );
        let (gt, ut, dt) = (get(&gn)?, get(&un)?, get(&dn)?);
        let dtt = dt.transposed();
        let mut score: Vec<(f64, usize)> = (0..cfg.intermediate_size)
            .map(|i| {
                (
                    -(norm2(gt.row(i)) * norm2(ut.row(i)) * norm2(dtt.row(i))),
                    i,
                )
            })
            .collect();
        score.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        let mut keep: Vec<usize> = score[..keep_neurons].iter().map(|s| s.1).collect();
        keep.sort_unstable();
        out.insert(gn, rows_subset(gt, &keep));
        out.insert(un, rows_subset(ut, &keep));
        out.insert(dn, rows_subset(&dtt, &keep).transposed());
        // heads: score each kv group by the norm of its o-proj columns
        let (qn, kn, vn, on) = (
            lname(l, "self_attn.q_proj.weight"),
            lname(l, "self_attn.k_proj.weight"),
            lname(l, "self_attn.v_proj.weight"),
            lname(l, "self_attn.o_proj.weight"),
        );
        let ot = get(&on)?.transposed();
        let mut gs: Vec<(f64, usize)> = (0..cfg.num_kv_heads)
            .map(|k| {
                let s: f64 = (k * g * hd..(k + 1) * g * hd)
                    .map(|r| norm2(ot.row(r)).powi(2))
                    .sum();
                (s, k)
            })
            .collect();
        gs.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        let mut kept: Vec<usize> = gs[drop_groups..].iter().map(|s| s.1).collect();
        kept.sort_unstable();
        let qheads: Vec<usize> = kept
            .iter()
            .flat_map(|&k| (0..g).map(move |j| k * g + j))
            .collect();
        let qrows = head_block_perm(&qheads, hd);
        let krows = head_block_perm(&kept, hd);
        out.insert(qn.clone(), rows_subset(get(&qn)?, &qrows));
        out.insert(kn.clone(), rows_subset(get(&kn)?, &krows));
        out.insert(vn.clone(), rows_subset(get(&vn)?, &krows));
        out.insert(on, rows_subset(&ot, &qrows).transposed());
    }
    let mut c = cfg.clone();
    c.intermediate_size = keep_neurons;
    c.num_kv_heads -= drop_groups;
    c.num_heads = c.num_kv_heads * g;
    Ok((c, out))
}

fn rows_subset(t: &Tensor32, rows: &[usize]) -> Tensor32 {
    let (_, c) = t.rows_cols();
    let mut d = Vec::with_capacity(rows.len() * c);
    for &r in rows {
        d.extend_from_slice(t.row(r));
    }
    let mut shape = t.shape.clone();
    shape[0] = rows.len();
    Tensor32::new(shape, d)
}

/// MoE up-cycling: every dense MLP copied into `experts` experts (Mixtral names `w1`=gate,
/// `w3`=up, `w2`=down) plus a freshly initialised router.
pub fn moe_upcycle(
    cfg: &ModelConfig,
    w: &Weights,
    experts: usize,
    top_k: usize,
    seed: u64,
) -> Result<(ModelConfig, Weights), ZooError> {
    if cfg.arch != Arch::Llama {
        return Err(err("moe-upcycle", "needs a dense llama"));
    }
    let mut rng = Rng::derive(seed, "router");
    let mut out = Weights::new();
    for (k, t) in w {
        if !k.contains(".mlp.") {
            out.insert(k.clone(), t.clone());
        }
    }
    let h = cfg.hidden_size;
    for l in 0..cfg.num_layers {
        let get = |s: &str| {
            let n = lname(l, s);
            w.get(&n).ok_or(ZooError::Missing(n))
        };
        let (g, u, d) = (
            get("mlp.gate_proj.weight")?,
            get("mlp.up_proj.weight")?,
            get("mlp.down_proj.weight")?,
        );
        for e in 0..experts {
            let n = |s: &str| lname(l, &format!("block_sparse_moe.experts.{e}.{s}.weight"));
            out.insert(n("w1"), g.clone());
            out.insert(n("w3"), u.clone());
            out.insert(n("w2"), d.clone());
        }
        let r: Vec<f32> = (0..experts * h)
            .map(|_| (rng.normal() * 0.02) as f32)
            .collect();
        out.insert(
            lname(l, "block_sparse_moe.gate.weight"),
            Tensor32::new(vec![experts, h], r),
        );
    }
    let mut c = cfg.clone();
    c.arch = Arch::Mixtral;
    c.num_experts = experts;
    c.experts_per_tok = top_k;
    Ok((c, out))
}

/// Vocabulary extension: rows for the tokens `old.vocab_size()..new.vocab_size()` appended to the
/// embedding (and untied classifier), each the mean of the rows of the pair it merges.
pub fn extend_vocab(
    cfg: &ModelConfig,
    w: &Weights,
    old: &Tokenizer,
    new: &Tokenizer,
) -> Result<(ModelConfig, Weights), ZooError> {
    decoder_only(cfg, "extend-vocab")?;
    let (n_old, n_new) = (old.vocab_size(), new.vocab_size());
    if n_old != cfg.vocab_size || n_new < n_old {
        return Err(err(
            "extend-vocab",
            "tokenizer sizes do not match the model",
        ));
    }
    let mut out = w.clone();
    for name in ["model.embed_tokens.weight", "lm_head.weight"] {
        let Some(t) = w.get(name) else { continue };
        let h = cfg.hidden_size;
        let mut d = t.data.clone();
        for id in n_old..n_new {
            let merge_idx = new.merges.len() - (n_new - id);
            let (a, b) = new.merges[merge_idx];
            let (a, b) = (a as usize, b as usize);
            for j in 0..h {
                let v = 0.5 * (d[a * h + j] + d[b * h + j]);
                d.push(v);
            }
        }
        out.insert(name.to_string(), Tensor32::new(vec![n_new, h], d));
    }
    let mut c = cfg.clone();
    c.vocab_size = n_new;
    Ok((c, out))
}

fn check_same(a: &Weights, b: &Weights) -> Result<(), ZooError> {
    if a.len() != b.len()
        || a.iter()
            .zip(b)
            .any(|((ka, ta), (kb, tb))| ka != kb || ta.shape != tb.shape)
    {
        return Err(err(
            "merge",
            "models to merge differ in tensor names or shapes",
        ));
    }
    Ok(())
}

/// Linear merge `(1 − t)·a + t·b`.
pub fn merge_linear(a: &Weights, b: &Weights, t: f64) -> Result<Weights, ZooError> {
    check_same(a, b)?;
    Ok(a.iter()
        .zip(b.values())
        .map(|((k, x), y)| {
            let d = x
                .data
                .iter()
                .zip(&y.data)
                .map(|(&p, &q)| ((1.0 - t) * p as f64 + t * q as f64) as f32)
                .collect();
            (k.clone(), Tensor32::new(x.shape.clone(), d))
        })
        .collect())
}

/// Spherical linear interpolation per tensor (flattened), falling back to linear when the
/// tensors are nearly parallel.
pub fn merge_slerp(a: &Weights, b: &Weights, t: f64) -> Result<Weights, ZooError> {
    check_same(a, b)?;
    Ok(a.iter()
        .zip(b.values())
        .map(|((k, x), y)| {
            let na = norm2(&x.data);
            let nb = norm2(&y.data);
            let dot: f64 = x
                .data
                .iter()
                .zip(&y.data)
                .map(|(&p, &q)| p as f64 * q as f64)
                .sum();
            let cos = (dot / (na * nb).max(1e-30)).clamp(-1.0, 1.0);
            let om = cos.acos();
            let (ca, cb) = if om.abs() < 1e-4 {
                (1.0 - t, t)
            } else {
                (((1.0 - t) * om).sin() / om.sin(), (t * om).sin() / om.sin())
            };
            let d = x
                .data
                .iter()
                .zip(&y.data)
                .map(|(&p, &q)| (ca * p as f64 + cb * q as f64) as f32)
                .collect();
            (k.clone(), Tensor32::new(x.shape.clone(), d))
        })
        .collect())
}

/// TIES merge (Yadav et al.): task vectors relative to `base`, each trimmed to its `density`
/// fraction of largest magnitudes, sign elected by the summed trimmed values, disjoint mean of
/// the agreeing entries, added back with scale `lambda`.
pub fn merge_ties(
    base: &Weights,
    models: &[&Weights],
    density: f64,
    lambda: f64,
) -> Result<Weights, ZooError> {
    for m in models {
        check_same(base, m)?;
    }
    let mut out = Weights::new();
    for (k, b) in base {
        let n = b.data.len();
        let mut trimmed: Vec<Vec<f64>> = Vec::with_capacity(models.len());
        for m in models {
            let tv: Vec<f64> = m[k]
                .data
                .iter()
                .zip(&b.data)
                .map(|(&x, &y)| x as f64 - y as f64)
                .collect();
            let mut mags: Vec<f64> = tv.iter().map(|x| x.abs()).collect();
            mags.sort_by(|a, b| b.partial_cmp(a).unwrap_or(std::cmp::Ordering::Equal));
            let keep = ((n as f64 * density).ceil() as usize).clamp(1, n);
            let thr = mags[keep - 1];
            trimmed.push(
                tv.into_iter()
                    .map(|x| if x.abs() >= thr { x } else { 0.0 })
                    .collect(),
            );
        }
        let d = (0..n)
            .map(|i| {
                let s: f64 = trimmed.iter().map(|t| t[i]).sum();
                let (mut sum, mut cnt) = (0.0, 0usize);
                for t in &trimmed {
                    if t[i] != 0.0 && (t[i] > 0.0) == (s > 0.0) {
                        sum += t[i];
                        cnt += 1;
                    }
                }
                let m = if cnt > 0 { sum / cnt as f64 } else { 0.0 };
                (b.data[i] as f64 + lambda * m) as f32
            })
            .collect();
        out.insert(k.clone(), Tensor32::new(b.shape.clone(), d));
    }
    Ok(out)
}
