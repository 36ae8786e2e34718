//! Executing a plan: tokenizers and token streams, then every model in order (trained or
//! transformed), cached by recipe hash, evaluated, written, and the manifest.

use crate::bpe::Tokenizer;
use crate::corpus::Corpus;
use crate::manifest::{
    configs, label_pairs, Manifest, ModelEntry, Training, RELATION_RULE, SCHEMA_VERSION,
};
use crate::model::init;
use crate::plan::{plan, shape, Budget, Plan, Profile, Recipe, Spec};
use crate::storage::{gguf_round_trip, write_folder, write_gguf, Storage};
use crate::train::{eval_loss, train, unigram_baseline, Lora, Objective, TokenData, TrainSpec};
use crate::transform as tf;
use crate::weights::{read_safetensors, safetensors_bytes, Arch, ModelConfig, Tensor32, Weights};
use crate::ZooError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

/// Bumped whenever a change to the code changes the weights it produces (invalidates caches).
pub const CODE_VERSION: u32 = 2;

/// Id of the base tokenizer.
pub const BASE_TOKENIZER: &str = "bpe-512";

/// The default zoo directory of a profile: `$TAOKE_ZOO_DIR/<profile>` when set, else
/// `${XDG_CACHE_HOME:-~/.cache}/taoke/zoo/<profile>`.
pub fn default_dir(profile: Profile) -> PathBuf {
    let base = if let Some(d) = std::env::var_os("TAOKE_ZOO_DIR") {
        PathBuf::from(d)
    } else {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(|| PathBuf::from(".cache"));
        cache.join("taoke").join("zoo")
    };
    base.join(profile.name())
}

/// A model as produced in memory.
#[derive(Debug, Clone)]
pub struct Produced {
    /// Config.
    pub cfg: ModelConfig,
    /// Canonical weights (Hugging Face names and layouts, values as stored).
    pub weights: Weights,
    /// Tokenizer id.
    pub tokenizer: String,
    /// Storage.
    pub storage: Storage,
    /// Training statistics.
    pub training: Option<Training>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CacheMeta {
    hash: String,
    cfg: ModelConfig,
    tokenizer: String,
    storage: Storage,
    training: Option<Training>,
    heldout_loss: BTreeMap<String, f64>,
}

/// Tokenizers and token streams of a build.
#[derive(Debug, Default)]
pub struct Corpora {
    /// Tokenizers by id.
    pub tokenizers: BTreeMap<String, Tokenizer>,
    /// Token streams by tokenizer id.
    pub data: BTreeMap<String, TokenData>,
}

impl Corpora {
    /// The base tokenizer and its streams for a budget.
    pub fn new(b: &Budget) -> Corpora {
        let mut text = String::new();
        for c in [Corpus::Stories, Corpus::Code, Corpus::Arith] {
            text.push_str(&c.generate(7, 60_000));
        }
        let tok = Tokenizer::train(&text, crate::plan::BASE_VOCAB);
        let mut c = Corpora::default();
        c.add(BASE_TOKENIZER, tok, b);
        c
    }

    fn add(&mut self, id: &str, tok: Tokenizer, b: &Budget) {
        let mut d = TokenData::default();
        for (i, c) in Corpus::ALL.iter().enumerate() {
            d.train
                .insert(*c, tok.encode(&c.generate(1000 + i as u64, b.corpus_chars)));
            d.heldout
                .insert(*c, tok.encode(&c.generate(9000 + i as u64, 40_000)));
        }
        self.data.insert(id.to_string(), d);
        self.tokenizers.insert(id.to_string(), tok);
    }

    fn tok(&self, id: &str) -> Result<&Tokenizer, ZooError> {
        self.tokenizers
            .get(id)
            .ok_or_else(|| ZooError::Missing(format!("tokenizer {id}")))
    }

    fn data(&self, id: &str) -> Result<&TokenData, ZooError> {
        self.data
            .get(id)
            .ok_or_else(|| ZooError::Missing(format!("token data of {id}")))
    }
}

/// Recipe hash: sha256 over the code version, the spec, the budget and the parents' and
/// teacher's hashes.
fn recipe_hash(spec: &Spec, budget: &Budget, deps: &[&str]) -> String {
    let v = serde_json::json!({"code": CODE_VERSION, "spec": spec, "budget": budget, "deps": deps});
    let h = Sha256::digest(serde_json::to_vec(&v).unwrap_or_default());
    h.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

fn mix(c: &[Corpus]) -> Vec<(Corpus, f64)> {
    c.iter().map(|&c| (c, 1.0)).collect()
}

struct Ctx<'a> {
    plan: &'a Plan,
    corpora: &'a Corpora,
    done: BTreeMap<String, Arc<Produced>>,
}

impl Ctx<'_> {
    fn parent(&self, spec: &Spec, i: usize) -> Result<&Produced, ZooError> {
        let id = spec.parents.get(i).ok_or_else(|| ZooError::Recipe {
            id: spec.id.clone(),
            msg: format!("needs parent {i}"),
        })?;
        self.done
            .get(id)
            .map(|p| p.as_ref())
            .ok_or_else(|| ZooError::Missing(format!("model {id}")))
    }

    /// One training run of `spec` (the arguments are the recipe's training fields).
    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        spec: &Spec,
        cfg: &ModelConfig,
        start: &Weights,
        tok: &str,
        corpus: &[Corpus],
        steps: usize,
        lr: f64,
        lora: Option<Lora>,
        teacher: Option<(&ModelConfig, &Weights)>,
    ) -> Result<(Weights, Training), ZooError> {
        let b = &self.plan.budget;
        let ts = TrainSpec {
            steps,
            lr,
            batch: b.batch,
            seq: b.seq,
            mix: mix(corpus),
            seed: spec.seed,
            lora,
        };
        let obj = match teacher {
            None => Objective::Data,
            Some((cfg, weights)) => Objective::Distill { cfg, weights },
        };
        let t0 = Instant::now();
        let (w, st) = train(cfg, start, &ts, self.corpora.data(tok)?, obj)?;
        Ok((
            w,
            Training {
                steps: st.steps,
                final_train_loss: st.final_train_loss,
                first_train_loss: st.first_train_loss,
                seconds: t0.elapsed().as_secs_f64(),
            },
        ))
    }

    fn make(&self, spec: &Spec) -> Result<Produced, ZooError> {
        use Recipe::*;
        let id = spec.id.clone();
        let bad = |m: &str| ZooError::Recipe {
            id: id.clone(),
            msg: m.to_string(),
        };
        let base = BASE_TOKENIZER.to_string();
        let untrained = |p: &Produced, w: Weights| Produced {
            cfg: p.cfg.clone(),
            weights: w,
            tokenizer: p.tokenizer.clone(),
            storage: Storage::default(),
            training: None,
        };
        let trained = |cfg: ModelConfig, tokenizer: String, (w, t): (Weights, Training)| Produced {
            cfg,
            weights: w,
            tokenizer,
            storage: Storage::default(),
            training: Some(t),
        };
        Ok(match &spec.recipe {
            Root {
                shape: sh,
                corpus,
                steps,
                lr,
            } => {
                let cfg = shape(sh).ok_or_else(|| bad("unknown shape"))?;
                let w0 = init(&cfg, spec.seed);
                let r = self.run(spec, &cfg, &w0, &base, corpus, *steps, *lr, None, None)?;
                trained(cfg, base, r)
            }
            Distill {
                shape: sh,
                teacher,
                corpus,
                steps,
                lr,
            } => {
                let cfg = shape(sh).ok_or_else(|| bad("unknown shape"))?;
                let t = self
                    .done
                    .get(teacher)
                    .ok_or_else(|| ZooError::Missing(format!("teacher {teacher}")))?;
                let w0 = init(&cfg, spec.seed);
                let r = self.run(
                    spec,
                    &cfg,
                    &w0,
                    &t.tokenizer,
                    corpus,
                    *steps,
                    *lr,
                    None,
                    Some((&t.cfg, &t.weights)),
                )?;
                trained(cfg, t.tokenizer.clone(), r)
            }
            Twin { twin, of } => {
                let src = self
                    .done
                    .get(of)
                    .ok_or_else(|| ZooError::Missing(format!("twin source {of}")))?;
                let w = match twin {
                    crate::plan::TwinKind::Stats => {
                        crate::shell::twin_stats(&src.weights, spec.seed)
                    }
                    crate::plan::TwinKind::Spectrum => {
                        crate::shell::twin_spectrum(&src.weights, spec.seed)?
                    }
                };
                Produced {
                    cfg: src.cfg.clone(),
                    weights: w,
                    tokenizer: src.tokenizer.clone(),
                    storage: Storage::default(),
                    training: None,
                }
            }
            FineTune { corpus, steps, lr } | ContinuedPretraining { corpus, steps, lr } => {
                let p = self.parent(spec, 0)?;
                let r = self.run(
                    spec,
                    &p.cfg,
                    &p.weights,
                    &p.tokenizer,
                    corpus,
                    *steps,
                    *lr,
                    None,
                    None,
                )?;
                trained(p.cfg.clone(), p.tokenizer.clone(), r)
            }
            Lora {
                corpus,
                rank,
                alpha,
                steps,
                lr,
            } => {
                let p = self.parent(spec, 0)?;
                let l = crate::train::Lora {
                    rank: *rank,
                    alpha: *alpha,
                };
                let r = self.run(
                    spec,
                    &p.cfg,
                    &p.weights,
                    &p.tokenizer,
                    corpus,
                    *steps,
                    *lr,
                    Some(l),
                    None,
                )?;
                trained(p.cfg.clone(), p.tokenizer.clone(), r)
            }
            PruneDepth {
                keep: layers,
                corpus,
                steps,
                lr,
            }
            | UpscaleDepth {
                layers,
                corpus,
                steps,
                lr,
            } => {
                let p = self.parent(spec, 0)?;
                let (cfg, w) = tf::select_blocks(&p.cfg, &p.weights, layers)?;
                let r = self.run(
                    spec,
                    &cfg,
                    &w,
                    &p.tokenizer,
                    corpus,
                    *steps,
                    *lr,
                    None,
                    None,
                )?;
                trained(cfg, p.tokenizer.clone(), r)
            }
            PruneWidth {
                keep_neurons,
                drop_kv_groups,
                corpus,
                steps,
                lr,
            } => {
                let p = self.parent(spec, 0)?;
                let (cfg, w) = tf::prune_width(&p.cfg, &p.weights, *keep_neurons, *drop_kv_groups)?;
                let r = self.run(
                    spec,
                    &cfg,
                    &w,
                    &p.tokenizer,
                    corpus,
                    *steps,
                    *lr,
                    None,
                    None,
                )?;
                trained(cfg, p.tokenizer.clone(), r)
            }
            MoeUpcycle {
                experts,
                top_k,
                corpus,
                steps,
                lr,
            } => {
                let p = self.parent(spec, 0)?;
                let (cfg, w) = tf::moe_upcycle(&p.cfg, &p.weights, *experts, *top_k, spec.seed)?;
                let r = self.run(
                    spec,
                    &cfg,
                    &w,
                    &p.tokenizer,
                    corpus,
                    *steps,
                    *lr,
                    None,
                    None,
                )?;
                trained(cfg, p.tokenizer.clone(), r)
            }
            VocabExtend {
                new_tokens,
                corpus,
                steps,
                lr,
            } => {
                let p = self.parent(spec, 0)?;
                let old = self.corpora.tok(&p.tokenizer)?;
                let tid = ext_tokenizer_id(&p.tokenizer, corpus, *new_tokens);
                let new = self.corpora.tok(&tid)?;
                let (cfg, w) = tf::extend_vocab(&p.cfg, &p.weights, old, new)?;
                let r = self.run(spec, &cfg, &w, &tid, corpus, *steps, *lr, None, None)?;
                trained(cfg, tid, r)
            }
            SharedComponents { corpus, steps, lr } => {
                let p = self.parent(spec, 0)?;
                let mut w = init(&p.cfg, spec.seed);
                for name in ["model.embed_tokens.weight", "lm_head.weight"] {
                    if let Some(t) = p.weights.get(name) {
                        w.insert(name.to_string(), t.clone());
                    }
                }
                let r = self.run(
                    spec,
                    &p.cfg,
                    &w,
                    &p.tokenizer,
                    corpus,
                    *steps,
                    *lr,
                    None,
                    None,
                )?;
                trained(p.cfg.clone(), p.tokenizer.clone(), r)
            }
            MergeLinear { t } => {
                let (a, b) = (self.parent(spec, 0)?, self.parent(spec, 1)?);
                untrained(a, tf::merge_linear(&a.weights, &b.weights, *t)?)
            }
            MergeSlerp { t } => {
                let (a, b) = (self.parent(spec, 0)?, self.parent(spec, 1)?);
                untrained(a, tf::merge_slerp(&a.weights, &b.weights, *t)?)
            }
            MergeTies { density, lambda } => {
                let base = self.parent(spec, 0)?;
                let rest: Vec<&Weights> = (1..spec.parents.len())
                    .map(|i| self.parent(spec, i).map(|p| &p.weights))
                    .collect::<Result<_, _>>()?;
                untrained(
                    base,
                    tf::merge_ties(&base.weights, &rest, *density, *lambda)?,
                )
            }
            PermuteResidual => {
                let p = self.parent(spec, 0)?;
                untrained(p, tf::permute_residual(&p.cfg, &p.weights, spec.seed)?)
            }
            PermuteMlp => {
                let p = self.parent(spec, 0)?;
                untrained(p, tf::permute_mlp(&p.cfg, &p.weights, spec.seed)?)
            }
            PermuteHeads => {
                let p = self.parent(spec, 0)?;
                untrained(p, tf::permute_heads(&p.cfg, &p.weights, spec.seed)?)
            }
            RotateResidual => {
                let p = self.parent(spec, 0)?;
                untrained(p, tf::rotate_residual(&p.cfg, &p.weights, spec.seed)?)
            }
            ScaleMlp => {
                let p = self.parent(spec, 0)?;
                untrained(p, tf::scale_mlp(&p.cfg, &p.weights, spec.seed)?)
            }
            FoldNorms => {
                let p = self.parent(spec, 0)?;
                untrained(p, tf::fold_norms(&p.cfg, &p.weights)?)
            }
            RescaleNorms => {
                let p = self.parent(spec, 0)?;
                untrained(p, tf::rescale_norms(&p.cfg, &p.weights, spec.seed)?)
            }
            NoiseWash { divisor } => {
                let p = self.parent(spec, 0)?;
                untrained(p, tf::noise_wash(&p.weights, *divisor, spec.seed))
            }
            DtypeRecast { dtype } => {
                let p = self.parent(spec, 0)?;
                let mut out = untrained(p, tf::round_to(&p.weights, *dtype));
                out.storage = Storage {
                    dtype: Some(*dtype),
                    gguf: None,
                    ..p.storage
                };
                out
            }
            Rename { scheme } => {
                let p = self.parent(spec, 0)?;
                let mut out = untrained(p, p.weights.clone());
                out.storage = Storage {
                    rename: Some(*scheme),
                    gguf: None,
                    ..p.storage
                };
                out
            }
            Transpose => {
                let p = self.parent(spec, 0)?;
                let mut out = untrained(p, p.weights.clone());
                out.storage = Storage {
                    transposed: true,
                    gguf: None,
                    ..p.storage
                };
                out
            }
            Shard { shards } => {
                let p = self.parent(spec, 0)?;
                let mut out = untrained(p, p.weights.clone());
                out.storage = Storage {
                    shards: *shards,
                    gguf: None,
                    ..p.storage
                };
                out
            }
            Gguf { dtype } => {
                let p = self.parent(spec, 0)?;
                if p.cfg.arch != Arch::Llama {
                    return Err(bad("GGUF copies need a dense llama parent"));
                }
                let w = p
                    .weights
                    .iter()
                    .map(|(k, t)| Ok((k.clone(), gguf_round_trip(k, t, *dtype)?)))
                    .collect::<Result<Weights, ZooError>>()?;
                let mut out = untrained(p, w);
                out.storage = Storage {
                    gguf: Some(*dtype),
                    ..Storage::default()
                };
                out
            }
        })
    }
}

fn heldout(
    plan: &Plan,
    corpora: &Corpora,
    p: &Produced,
) -> Result<BTreeMap<String, f64>, ZooError> {
    let mut out = BTreeMap::new();
    let data = corpora.data(&p.tokenizer)?;
    for c in Corpus::ALL {
        let l = eval_loss(
            &p.cfg,
            &p.weights,
            data,
            c,
            plan.budget.eval_batches,
            plan.budget.seq,
        )?;
        out.insert(c.name().to_string(), (l * 1e4).round() / 1e4);
    }
    Ok(out)
}

fn to_named(w: &Weights) -> Vec<(String, &Tensor32)> {
    w.iter().map(|(k, t)| (k.clone(), t)).collect()
}

/// Builds (or reuses from the cache) every model of `profile` under `out`, writes the models
/// and `zoo.json`, and returns the manifest. `progress` receives one line per model.
pub fn build(
    profile: Profile,
    out: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<Manifest, ZooError> {
    build_plan(&plan(profile), out, progress)
}

/// Id of the tokenizer a vocabulary extension makes.
fn ext_tokenizer_id(parent: &str, corpus: &[Corpus], n: usize) -> String {
    let names: Vec<&str> = corpus.iter().map(|c| c.name()).collect();
    format!("{parent}+{}{n}", names.join("-"))
}

/// The base tokenizer plus every tokenizer a vocabulary extension of the plan makes.
fn plan_corpora(plan: &Plan) -> Result<Corpora, ZooError> {
    let mut corpora = Corpora::new(&plan.budget);
    let mut tok_of: BTreeMap<&str, String> = BTreeMap::new();
    for s in &plan.specs {
        let parent_tok = s
            .parents
            .first()
            .and_then(|p| tok_of.get(p.as_str()).cloned())
            .unwrap_or_else(|| BASE_TOKENIZER.to_string());
        let t = match &s.recipe {
            Recipe::Distill { teacher, .. } | Recipe::Twin { of: teacher, .. } => tok_of
                .get(teacher.as_str())
                .cloned()
                .unwrap_or_else(|| BASE_TOKENIZER.to_string()),
            Recipe::VocabExtend {
                new_tokens, corpus, ..
            } => {
                let tid = ext_tokenizer_id(&parent_tok, corpus, *new_tokens);
                if !corpora.tokenizers.contains_key(&tid) {
                    let mut text = String::new();
                    for c in corpus {
                        text.push_str(&c.generate(8, 60_000));
                    }
                    let new = corpora.tok(&parent_tok)?.extend(&text, *new_tokens);
                    corpora.add(&tid, new, &plan.budget);
                }
                tid
            }
            _ => parent_tok,
        };
        tok_of.insert(s.id.as_str(), t);
    }
    Ok(corpora)
}

/// Number of models built in parallel: `TAOKE_ZOO_JOBS`, else the available cores (at most 4).
pub fn jobs() -> usize {
    std::env::var("TAOKE_ZOO_JOBS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
        .clamp(1, 4)
}

/// One finished model.
struct Done {
    produced: Arc<Produced>,
    losses: BTreeMap<String, f64>,
    hash: String,
    rel: String,
    format: &'static str,
}

#[derive(Default)]
struct State {
    started: Vec<bool>,
    done: BTreeMap<String, Arc<Produced>>,
    hashes: BTreeMap<String, String>,
    results: BTreeMap<usize, Done>,
    failed: Option<ZooError>,
}

fn deps(spec: &Spec) -> Vec<&str> {
    let mut d: Vec<&str> = spec.parents.iter().map(|s| s.as_str()).collect();
    match &spec.recipe {
        Recipe::Distill { teacher, .. } => d.push(teacher),
        Recipe::Twin { of, .. } => d.push(of),
        _ => {}
    }
    d
}

/// Produces (or loads from the cache), evaluates and writes one model.
fn build_one(
    plan: &Plan,
    corpora: &Corpora,
    out: &Path,
    spec: &Spec,
    done: BTreeMap<String, Arc<Produced>>,
    hash: &str,
    planned: &ModelConfig,
) -> Result<(Done, String), ZooError> {
    let t0 = Instant::now();
    let cache = out.join(".cache");
    let meta_path = cache.join(format!("{}.json", spec.id));
    let w_path = cache.join(format!("{}.safetensors", spec.id));
    let cached: Option<(CacheMeta, Weights)> = (|| {
        let m: CacheMeta = serde_json::from_slice(&std::fs::read(&meta_path).ok()?).ok()?;
        if m.hash != hash {
            return None;
        }
        let w = read_safetensors(&std::fs::read(&w_path).ok()?, "cache").ok()?;
        Some((m, w))
    })();
    let ctx = Ctx {
        plan,
        corpora,
        done,
    };
    let (produced, losses, from_cache) = match cached {
        Some((m, w)) => (
            Produced {
                cfg: m.cfg,
                weights: w,
                tokenizer: m.tokenizer,
                storage: m.storage,
                training: m.training,
            },
            m.heldout_loss,
            true,
        ),
        None => {
            let p = ctx.make(spec)?;
            let losses = heldout(plan, corpora, &p)?;
            let m = CacheMeta {
                hash: hash.to_string(),
                cfg: p.cfg.clone(),
                tokenizer: p.tokenizer.clone(),
                storage: p.storage,
                training: p.training.clone(),
                heldout_loss: losses.clone(),
            };
            let wb = safetensors_bytes(
                &to_named(&p.weights),
                crate::weights::StDtype::F32,
                &BTreeMap::new(),
            );
            std::fs::write(&w_path, wb).map_err(|e| ZooError::io(&w_path, e))?;
            let mb = serde_json::to_vec_pretty(&m).unwrap_or_default();
            std::fs::write(&meta_path, mb).map_err(|e| ZooError::io(&meta_path, e))?;
            (p, losses, false)
        }
    };
    if &produced.cfg != planned {
        return Err(ZooError::Recipe {
            id: spec.id.clone(),
            msg: "produced config differs from the planned one".into(),
        });
    }
    let gguf_source = match spec.recipe {
        Recipe::Gguf { .. } => spec
            .parents
            .first()
            .and_then(|p| ctx.done.get(p))
            .map(|p| &p.weights),
        _ => None,
    };
    let (rel, format) = write_model(out, &spec.id, &produced, gguf_source, corpora, hash)?;
    let line = format!(
        "{:<34} {:<22} {:>6.1}s{} loss {}",
        spec.id,
        spec.recipe.kind(),
        t0.elapsed().as_secs_f64(),
        if from_cache { " (cached)" } else { "" },
        losses
            .iter()
            .map(|(k, v)| format!("{k}={v:.3}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    Ok((
        Done {
            produced: Arc::new(produced),
            losses,
            hash: hash.to_string(),
            rel,
            format,
        },
        line,
    ))
}

/// [`build`] for an explicit plan (e.g. a subset, in tests). Models whose parents are done are
/// built in parallel by [`jobs`] workers; every model is a pure function of its recipe, so the
/// result does not depend on the schedule.
pub fn build_plan(
    plan: &Plan,
    out: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<Manifest, ZooError> {
    let cache = out.join(".cache");
    std::fs::create_dir_all(&cache).map_err(|e| ZooError::io(&cache, e))?;
    std::fs::create_dir_all(out.join("models")).map_err(|e| ZooError::io(out, e))?;
    let cfgs = configs(plan)?;
    let corpora = plan_corpora(plan)?;
    let n = plan.specs.len();
    let state = Mutex::new(State {
        started: vec![false; n],
        ..State::default()
    });
    let wake = std::sync::Condvar::new();
    let (tx, rx) = mpsc::channel::<String>();
    let worker = |tx: mpsc::Sender<String>| loop {
        // pick the first unstarted spec whose dependencies are done
        let picked = {
            let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if st.failed.is_some() || st.results.len() == n {
                    break None;
                }
                let ready = (0..n).find(|&i| {
                    !st.started[i]
                        && deps(&plan.specs[i])
                            .iter()
                            .all(|d| st.done.contains_key(*d))
                });
                if let Some(i) = ready {
                    st.started[i] = true;
                    let spec = &plan.specs[i];
                    let dep_hashes: Vec<String> = deps(spec)
                        .iter()
                        .filter_map(|d| st.hashes.get(*d).cloned())
                        .collect();
                    let dh: Vec<&str> = dep_hashes.iter().map(|s| s.as_str()).collect();
                    let hash = recipe_hash(spec, &plan.budget, &dh);
                    break Some((i, hash, st.done.clone()));
                }
                if st.started.iter().all(|&s| s) {
                    break None;
                }
                st = wake.wait(st).unwrap_or_else(|e| e.into_inner());
            }
        };
        let Some((i, hash, done)) = picked else {
            wake.notify_all();
            return;
        };
        let spec = &plan.specs[i];
        let r = build_one(plan, &corpora, out, spec, done, &hash, &cfgs[&spec.id]);
        let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
        match r {
            Ok((d, line)) => {
                let _ = tx.send(line);
                st.done.insert(spec.id.clone(), d.produced.clone());
                st.hashes.insert(spec.id.clone(), d.hash.clone());
                st.results.insert(i, d);
            }
            Err(e) => {
                if st.failed.is_none() {
                    st.failed = Some(e);
                }
            }
        }
        drop(st);
        wake.notify_all();
    };
    std::thread::scope(|s| {
        for _ in 0..jobs().min(n.max(1)) {
            let tx = tx.clone();
            s.spawn(move || worker(tx));
        }
        drop(tx);
        for line in rx {
            progress(&line);
        }
    });
    let st = state.into_inner().unwrap_or_else(|e| e.into_inner());
    if let Some(e) = st.failed {
        return Err(e);
    }
    let mut entries = Vec::with_capacity(n);
    for (i, spec) in plan.specs.iter().enumerate() {
        let d = st
            .results
            .get(&i)
            .ok_or_else(|| ZooError::Missing(format!("model {}", spec.id)))?;
        let produced = &d.produced;
        let teacher = match &spec.recipe {
            Recipe::Distill { teacher, .. } => Some(teacher.clone()),
            _ => None,
        };
        entries.push(ModelEntry {
            id: spec.id.clone(),
            path: d.rel.clone(),
            format: d.format.to_string(),
            architecture: match produced.cfg.arch {
                Arch::Llama => "llama",
                Arch::Mixtral => "mixtral",
                Arch::Bert => "bert",
            }
            .to_string(),
            config: produced.cfg.clone(),
            params: ModelConfig::param_count(&produced.weights),
            recipe: serde_json::to_value(&spec.recipe).unwrap_or_default(),
            kinds: spec
                .recipe
                .kinds()
                .into_iter()
                .map(str::to_string)
                .collect(),
            parents: spec.parents.clone(),
            teacher,
            seed: spec.seed,
            tokenizer: produced.tokenizer.clone(),
            recipe_hash: d.hash.clone(),
            training: produced.training.clone(),
            heldout_loss: d.losses.clone(),
        });
    }
    let mut unigram = BTreeMap::new();
    for (tid, data) in &corpora.data {
        let v = corpora.tokenizers[tid].vocab_size();
        let m: BTreeMap<String, f64> = Corpus::ALL
            .iter()
            .map(|c| {
                (
                    c.name().to_string(),
                    (unigram_baseline(data, *c, v) * 1e4).round() / 1e4,
                )
            })
            .collect();
        unigram.insert(tid.clone(), m);
    }
    let manifest = Manifest {
        schema_version: SCHEMA_VERSION,
        profile: plan.profile.name().to_string(),
        relation_rule: RELATION_RULE.to_string(),
        unigram_baseline: unigram,
        tokenizers: corpora
            .tokenizers
            .iter()
            .map(|(k, t)| (k.clone(), t.vocab_size()))
            .collect(),
        models: entries,
        pairs: label_pairs(plan)?,
    };
    let mp = out.join("zoo.json");
    std::fs::write(
        &mp,
        serde_json::to_vec_pretty(&manifest).unwrap_or_default(),
    )
    .map_err(|e| ZooError::io(&mp, e))?;
    Ok(manifest)
}

fn write_model(
    out: &Path,
    id: &str,
    p: &Produced,
    gguf_source: Option<&Weights>,
    corpora: &Corpora,
    hash: &str,
) -> Result<(String, &'static str), ZooError> {
    let stamp = out.join(".cache").join(format!("{id}.written"));
    let (rel, target) = if p.storage.gguf.is_some() {
        (
            format!("models/{id}.gguf"),
            out.join("models").join(format!("{id}.gguf")),
        )
    } else {
        (format!("models/{id}"), out.join("models").join(id))
    };
    let fresh = std::fs::read_to_string(&stamp)
        .map(|s| s == hash)
        .unwrap_or(false)
        && target.exists();
    if !fresh {
        let tok = corpora.tok(&p.tokenizer)?;
        if target.is_dir() {
            std::fs::remove_dir_all(&target).map_err(|e| ZooError::io(&target, e))?;
        }
        match p.storage.gguf {
            Some(t) => write_gguf(
                &target,
                id,
                &p.cfg,
                gguf_source.unwrap_or(&p.weights),
                tok,
                t,
            )?,
            None => write_folder(&target, &p.cfg, &p.weights, tok, &p.storage)?,
        }
        std::fs::write(&stamp, hash).map_err(|e| ZooError::io(&stamp, e))?;
    }
    Ok((rel, p.storage.format()))
}
