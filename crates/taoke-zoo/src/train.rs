//! Training and evaluation with candle's autograd and AdamW: next-token (decoders) or masked-LM
//! (encoders) objectives, optional LoRA adapters (merged into the weights at the end), and
//! distillation from a teacher's soft outputs. Every batch and mask comes from the crate's own
//! seeded RNG, so a run is a pure function of its inputs.

use crate::corpus::Corpus;
use crate::model::{forward, to_tmap, TMap};
use crate::rng::Rng;
use crate::weights::{ModelConfig, Tensor32, Weights};
use crate::ZooError;
use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Token streams of each corpus, train and held-out, under one tokenizer.
#[derive(Debug, Clone, Default)]
pub struct TokenData {
    /// Training tokens per corpus.
    pub train: BTreeMap<Corpus, Vec<u32>>,
    /// Held-out tokens per corpus (generated from a different seed).
    pub heldout: BTreeMap<Corpus, Vec<u32>>,
}

/// What the weights are fitted to.
#[derive(Debug, Clone)]
pub enum Objective<'a> {
    /// Next-token prediction (decoders) or masked-LM (encoders) on the data.
    Data,
    /// Match a teacher's next-token distribution (same tokenizer).
    Distill {
        /// Teacher config.
        cfg: &'a ModelConfig,
        /// Teacher weights.
        weights: &'a Weights,
    },
}

/// LoRA settings: rank-`rank` adapters on every attention and MLP matrix, base frozen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Lora {
    /// Adapter rank.
    pub rank: usize,
    /// Scale numerator (update = alpha / rank · B·A).
    pub alpha: f64,
}

/// One training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSpec {
    /// Optimiser steps.
    pub steps: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Sequences per batch.
    pub batch: usize,
    /// Tokens per sequence.
    pub seq: usize,
    /// Corpus mixture (corpus, weight).
    pub mix: Vec<(Corpus, f64)>,
    /// Seed of the batch stream.
    pub seed: u64,
    /// LoRA adapters instead of full training.
    pub lora: Option<Lora>,
}

/// Statistics of a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainStats {
    /// Optimiser steps.
    pub steps: usize,
    /// Mean training loss over the last 10% of steps.
    pub final_train_loss: f64,
    /// Training loss of the first step.
    pub first_train_loss: f64,
}

fn sample_batch(
    rng: &mut Rng,
    data: &BTreeMap<Corpus, Vec<u32>>,
    mix: &[(Corpus, f64)],
    batch: usize,
    seq: usize,
) -> Result<Vec<Vec<u32>>, ZooError> {
    let total: f64 = mix.iter().map(|m| m.1).sum();
    let mut out = Vec::with_capacity(batch);
    for _ in 0..batch {
        let mut u = rng.uniform() * total;
        let mut pick = mix[0].0;
        for (c, w) in mix {
            if u < *w {
                pick = *c;
                break;
            }
            u -= w;
        }
        let s = data
            .get(&pick)
            .ok_or_else(|| ZooError::Missing(format!("token stream of corpus {}", pick.name())))?;
        if s.len() <= seq + 1 {
            return Err(ZooError::Missing(format!(
                "corpus {} too short",
                pick.name()
            )));
        }
        let o = rng.below(s.len() - seq - 1);
        out.push(s[o..o + seq + 1].to_vec());
    }
    Ok(out)
}

/// Loss of one batch of windows (each `seq + 1` tokens).
fn batch_loss(
    cfg: &ModelConfig,
    p: &TMap,
    windows: &[Vec<u32>],
    rng: &mut Rng,
    teacher: Option<(&ModelConfig, &TMap)>,
) -> Result<Tensor, ZooError> {
    let b = windows.len();
    let seq = windows[0].len() - 1;
    let dev = &Device::Cpu;
    let _ = rng;
    let ids: Vec<u32> = windows
        .iter()
        .flat_map(|w| w[..seq].iter().copied())
        .collect();
    let ids = Tensor::from_vec(ids, (b, seq), dev)?;
    let logits = forward(cfg, p, &ids)?.reshape((b * seq, cfg.vocab_size))?;
    match teacher {
        None => {
            let tgt: Vec<u32> = windows
                .iter()
                .flat_map(|w| w[1..].iter().copied())
                .collect();
            let tgt = Tensor::from_vec(tgt, b * seq, dev)?;
            Ok(candle_nn::loss::cross_entropy(&logits, &tgt)?)
        }
        Some((tcfg, tp)) => {
            let tl = forward(tcfg, tp, &ids)?
                .reshape((b * seq, tcfg.vocab_size))?
                .detach();
            let pt = crate::model::softmax(&tl)?;
            let ls = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
            Ok(((pt * ls)?.sum(D::Minus1)?.mean_all()?.neg())?)
        }
    }
}

fn lr_at(step: usize, steps: usize, peak: f64) -> f64 {
    let warm = (steps / 10).max(1);
    if step < warm {
        return peak * (step + 1) as f64 / warm as f64;
    }
    let t = (step - warm) as f64 / (steps - warm).max(1) as f64;
    peak * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * t).cos()))
}

/// Names of the matrices that get LoRA adapters.
fn lora_targets(w: &Weights) -> Vec<String> {
    w.keys()
        .filter(|k| {
            (k.contains(".self_attn.")
                || k.contains(".mlp.")
                || k.contains(".attention.")
                || k.contains(".intermediate.")
                || k.contains("output.dense"))
                && k.ends_with(".weight")
                && w[*k].shape.len() == 2
        })
        .cloned()
        .collect()
}

/// Trains `start` under `spec` and returns the new weights and statistics.
pub fn train(
    cfg: &ModelConfig,
    start: &Weights,
    spec: &TrainSpec,
    data: &TokenData,
    objective: Objective<'_>,
) -> Result<(Weights, TrainStats), ZooError> {
    let mut rng = Rng::derive(spec.seed, "batches");
    let teacher = match objective {
        Objective::Data => None,
        Objective::Distill { cfg, weights } => Some((cfg, to_tmap(weights)?)),
    };
    let base = to_tmap(start)?;
    let mut vars: BTreeMap<String, Var> = BTreeMap::new();
    let mut lora_ab: BTreeMap<String, (Var, Var)> = BTreeMap::new();
    let scale = spec.lora.map(|l| l.alpha / l.rank as f64).unwrap_or(0.0);
    match spec.lora {
        None => {
            for (k, t) in &base {
                vars.insert(k.clone(), Var::from_tensor(t)?);
            }
        }
        Some(l) => {
            let mut init = Rng::derive(spec.seed, "lora");
            for k in lora_targets(start) {
                let (o, i) = start[&k].rows_cols();
                let a: Vec<f32> = (0..l.rank * i)
                    .map(|_| (init.normal() / (i as f64).sqrt()) as f32)
                    .collect();
                let a = Var::from_tensor(&Tensor::from_vec(a, (l.rank, i), &Device::Cpu)?)?;
                let b = Var::from_tensor(&Tensor::zeros((o, l.rank), DType::F32, &Device::Cpu)?)?;
                lora_ab.insert(k, (a, b));
            }
        }
    }
    let mut all: Vec<Var> = vars.values().cloned().collect();
    for (a, b) in lora_ab.values() {
        all.push(a.clone());
        all.push(b.clone());
    }
    let params = ParamsAdamW {
        lr: spec.lr,
        beta1: 0.9,
        beta2: 0.95,
        eps: 1e-8,
        weight_decay: 0.01,
    };
    let mut opt = AdamW::new(all, params)?;
    let effective = |vars: &BTreeMap<String, Var>| -> Result<TMap, ZooError> {
        if spec.lora.is_none() {
            return Ok(vars
                .iter()
                .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
                .collect());
        }
        let mut m = base.clone();
        for (k, (a, b)) in &lora_ab {
            let upd = (b.as_tensor().matmul(a.as_tensor())? * scale)?;
            let w = (&base[k] + upd)?;
            m.insert(k.clone(), w);
        }
        Ok(m)
    };
    let mut losses = Vec::with_capacity(spec.steps);
    for step in 0..spec.steps {
        opt.set_learning_rate(lr_at(step, spec.steps, spec.lr));
        let windows = sample_batch(&mut rng, &data.train, &spec.mix, spec.batch, spec.seq)?;
        let p = effective(&vars)?;
        let loss = batch_loss(
            cfg,
            &p,
            &windows,
            &mut rng,
            teacher.as_ref().map(|(c, t)| (*c, t)),
        )?;
        opt.backward_step(&loss)?;
        losses.push(loss.to_scalar::<f32>()? as f64);
    }
    let final_p = effective(&vars)?;
    let w = crate::model::from_tmap(&final_p)?;
    let tail = (spec.steps / 10).max(1).min(losses.len().max(1));
    let final_train_loss = if losses.is_empty() {
        f64::NAN
    } else {
        losses[losses.len() - tail..].iter().sum::<f64>() / tail as f64
    };
    Ok((
        w,
        TrainStats {
            steps: spec.steps,
            final_train_loss,
            first_train_loss: losses.first().copied().unwrap_or(f64::NAN),
        },
    ))
}

/// Mean held-out loss (nats per token) on `corpus`, over fixed batches.
pub fn eval_loss(
    cfg: &ModelConfig,
    w: &Weights,
    data: &TokenData,
    corpus: Corpus,
    batches: usize,
    seq: usize,
) -> Result<f64, ZooError> {
    let p = to_tmap(w)?;
    let mut rng = Rng::derive(0xE7A1, corpus.name());
    let mut total = 0.0;
    for _ in 0..batches {
        let windows = sample_batch(&mut rng, &data.heldout, &[(corpus, 1.0)], 16, seq)?;
        total += batch_loss(cfg, &p, &windows, &mut rng, None)?.to_scalar::<f32>()? as f64;
    }
    Ok(total / batches as f64)
}

/// Cross-entropy (nats per token) of the held-out stream under the training stream's
/// add-one-smoothed unigram distribution: the baseline a model must beat.
pub fn unigram_baseline(data: &TokenData, corpus: Corpus, vocab: usize) -> f64 {
    let mut counts = vec![1.0f64; vocab];
    if let Some(s) = data.train.get(&corpus) {
        for &t in s {
            if let Some(c) = counts.get_mut(t as usize) {
                *c += 1.0;
            }
        }
    }
    let total: f64 = counts.iter().sum();
    let h = data
        .heldout
        .get(&corpus)
        .map(|v| v.as_slice())
        .unwrap_or(&[]);
    if h.is_empty() {
        return f64::NAN;
    }
    h.iter()
        .map(|&t| -(counts.get(t as usize).copied().unwrap_or(1.0) / total).ln())
        .sum::<f64>()
        / h.len() as f64
}

/// Merges trained weights: used by tests to build a tensor from values.
pub fn tensor(shape: &[usize], data: Vec<f32>) -> Tensor32 {
    Tensor32::new(shape.to_vec(), data)
}
