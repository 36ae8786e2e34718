//! Test support: tiny generated Llama-style checkpoints (kilobytes) with known lineage, and the
//! small zoo.

#![allow(dead_code)]

use std::path::Path;

/// A deterministic Gaussian stream (SplitMix64 + Box–Muller).
pub struct Rng(taoke_stats::rng::SplitMix64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(taoke_stats::rng::SplitMix64::new(seed ^ 0x5eed_0000_7a0c))
    }
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }
    pub fn gauss(&mut self) -> f32 {
        let u = ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let v = ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
    }
}

/// The generated checkpoints depend on this stream: the first values for seed 5.
#[test]
fn gauss_stream_is_pinned() {
    let mut r = Rng::new(5);
    let got: Vec<f32> = (0..4).map(|_| r.gauss()).collect();
    assert_eq!(
        got,
        [0.341_662_53, -2.181_657_6, -0.084_073_75, 1.474_972_4]
    );
}

/// Tiny Llama sizes: vocab, hidden, MLP, blocks.
pub const VOCAB: usize = 48;
pub const HIDDEN: usize = 12;
pub const MLP: usize = 24;
pub const BLOCKS: usize = 2;

/// The tensors of a tiny Llama with seed `seed`; `noise` > 0 adds a "fine-tune" of that
/// relative size drawn from `noise_seed`.
pub fn tiny_tensors(seed: u64, noise: f32, noise_seed: u64) -> Vec<(String, Vec<u64>, Vec<f32>)> {
    let mut rng = Rng::new(seed);
    let mut nz = Rng::new(noise_seed);
    let mut t = Vec::new();
    let mut push = |name: String, shape: Vec<u64>, rng: &mut Rng| {
        let n: u64 = shape.iter().product();
        let ones = name.contains("norm");
        let v: Vec<f32> = (0..n)
            .map(|_| {
                let base = if ones {
                    1.0 + 0.1 * rng.gauss()
                } else {
                    rng.gauss() * 0.2
                };
                base + noise * 0.2 * nz.gauss()
            })
            .collect();
        t.push((name, shape, v));
    };
    let (v, d, h) = (VOCAB as u64, HIDDEN as u64, MLP as u64);
    push("model.embed_tokens.weight".into(), vec![v, d], &mut rng);
    for b in 0..BLOCKS {
        let p = format!("model.layers.{b}");
        push(format!("{p}.input_layernorm.weight"), vec![d], &mut rng);
        for x in ["q", "k", "v", "o"] {
            push(
                format!("{p}.self_attn.{x}_proj.weight"),
                vec![d, d],
                &mut rng,
            );
        }
        push(
            format!("{p}.post_attention_layernorm.weight"),
            vec![d],
            &mut rng,
        );
        push(format!("{p}.mlp.gate_proj.weight"), vec![h, d], &mut rng);
        push(format!("{p}.mlp.up_proj.weight"), vec![h, d], &mut rng);
        push(format!("{p}.mlp.down_proj.weight"), vec![d, h], &mut rng);
    }
    push("model.norm.weight".into(), vec![d], &mut rng);
    push("lm_head.weight".into(), vec![v, d], &mut rng);
    t
}

/// Writes a tiny Llama folder (config.json + model.safetensors) at `dir`.
pub fn write_tiny(dir: &Path, seed: u64, noise: f32, noise_seed: u64) {
    write_tensors(dir, &tiny_tensors(seed, noise, noise_seed));
}

/// A named tensor: name, shape, values.
pub type Tensor = (String, Vec<u64>, Vec<f32>);

/// A TIES merge (Yadav et al., as the zoo builds it) of `models` on `base`: each task vector
/// trimmed to its `density` share of largest magnitudes, signs elected by the summed trimmed
/// values, the disjoint mean of the agreeing entries added back.
pub fn ties_merge(base: &[Tensor], models: &[&[Tensor]], density: f64) -> Vec<Tensor> {
    base.iter()
        .enumerate()
        .map(|(ti, (name, shape, b))| {
            let n = b.len();
            let keep = ((n as f64 * density).ceil() as usize).clamp(1, n);
            let trimmed: Vec<Vec<f64>> = models
                .iter()
                .map(|m| {
                    let tv: Vec<f64> = m[ti]
                        .2
                        .iter()
                        .zip(b)
                        .map(|(&x, &y)| f64::from(x) - f64::from(y))
                        .collect();
                    let mut mags: Vec<f64> = tv.iter().map(|x| x.abs()).collect();
                    mags.sort_by(|a, b| b.total_cmp(a));
                    let thr = mags[keep - 1];
                    tv.into_iter()
                        .map(|x| if x.abs() >= thr { x } else { 0.0 })
                        .collect()
                })
                .collect();
            let merged = (0..n)
                .map(|i| {
                    let s: f64 = trimmed.iter().map(|t| t[i]).sum();
                    let agree: Vec<f64> = trimmed
                        .iter()
                        .map(|t| t[i])
                        .filter(|&x| x != 0.0 && (x > 0.0) == (s > 0.0))
                        .collect();
                    let m = if agree.is_empty() {
                        0.0
                    } else {
                        agree.iter().sum::<f64>() / agree.len() as f64
                    };
                    (f64::from(b[i]) + m) as f32
                })
                .collect();
            (name.clone(), shape.clone(), merged)
        })
        .collect()
}

/// Fingerprint of tensors written as a tiny Llama folder in a temporary folder.
pub fn tensors_fingerprint(
    t: &[(String, Vec<u64>, Vec<f32>)],
    name: &str,
) -> taoke_registry::Fingerprint {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name);
    write_tensors(&p, t);
    let ck = taoke_model::open(p.to_string_lossy()).unwrap();
    taoke_registry::fingerprint(&ck, name).unwrap()
}

/// Writes tiny Llama tensors as a folder (config.json + model.safetensors) at `dir`.
pub fn write_tensors(dir: &Path, t: &[(String, Vec<u64>, Vec<f32>)]) {
    std::fs::create_dir_all(dir).unwrap();
    let bytes: Vec<Vec<u8>> = t
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let refs: Vec<(&str, taoke_dtype::Dtype, &[u64], &[u8])> = t
        .iter()
        .zip(&bytes)
        .map(|((n, s, _), b)| {
            (
                n.as_str(),
                taoke_dtype::Dtype::F32,
                s.as_slice(),
                b.as_slice(),
            )
        })
        .collect();
    let mut out = Vec::new();
    taoke_safetensors::write(&mut out, &refs, &Default::default()).unwrap();
    std::fs::write(dir.join("model.safetensors"), out).unwrap();
    let config = serde_json::json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": VOCAB,
        "hidden_size": HIDDEN,
        "intermediate_size": MLP,
        "num_hidden_layers": BLOCKS,
        "num_attention_heads": 3,
        "num_key_value_heads": 3,
        "rms_norm_eps": 1e-5,
        "tie_word_embeddings": false
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
}

/// Fingerprint of a tiny model written to a temporary folder.
pub fn tiny_fingerprint(
    seed: u64,
    noise: f32,
    noise_seed: u64,
    name: &str,
) -> taoke_registry::Fingerprint {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name);
    write_tiny(&p, seed, noise, noise_seed);
    let ck = taoke_model::open(p.to_string_lossy()).unwrap();
    taoke_registry::fingerprint(&ck, name).unwrap()
}
