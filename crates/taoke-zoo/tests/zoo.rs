//! Tests of the zoo: the full plan's counts and labels (no training), the small profile's
//! learning and disguise checks, and byte-identical rebuilds.

use candle_core::{Device, Tensor};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use taoke_zoo::manifest::{label_pairs, Direction};
use taoke_zoo::model::{forward, to_tmap};
use taoke_zoo::plan::{plan, Budget, Plan, Profile, Recipe, Spec};
use taoke_zoo::storage::{qk_from_interleaved, read_folder_canonical, Storage};
use taoke_zoo::weights::{ModelConfig, Weights};
use taoke_zoo::{Manifest, Relation};

const KINDS: [&str; 19] = [
    "format-change",
    "dtype-recast",
    "quantized",
    "renamed",
    "transposed",
    "permuted",
    "rotated",
    "rescaled",
    "fine-tune",
    "low-rank-update",
    "continued-pretraining",
    "noise-washed",
    "pruned-depth",
    "pruned-width",
    "depth-upscaled",
    "moe-upcycled",
    "merge",
    "vocab-extended",
    "shared-components",
];

#[test]
fn full_plan_meets_the_counts_and_labels_follow_the_lineage() {
    let p = plan(Profile::Full);
    let pairs = label_pairs(&p).expect("labels");
    let n = p.specs.len();
    assert!(n >= 60, "{n} models");
    assert_eq!(pairs.len(), n * (n - 1));
    assert!(pairs.len() >= 1500);
    let indep_same = pairs
        .iter()
        .filter(|x| x.relation == Relation::Independent && x.same_architecture)
        .count();
    assert!(
        indep_same >= 100,
        "{indep_same} independent same-architecture pairs"
    );
    let roots = p
        .specs
        .iter()
        .filter(|s| matches!(&s.recipe, Recipe::Root { shape, .. } if shape == "llama-64x4"))
        .count();
    assert!(roots >= 6, "{roots} roots of the main shape");
    let get = |a: &str, b: &str| {
        pairs
            .iter()
            .find(|x| x.a == a && x.b == b)
            .unwrap_or_else(|| panic!("pair {a} {b}"))
    };
    assert_eq!(get("a1", "a2").relation, Relation::Independent);
    assert_eq!(get("a1", "d1-from-a1").relation, Relation::Independent);
    assert!(get("a1", "d1-from-a1").same_architecture);
    let ft = get("a1-ft-code", "a1");
    assert_eq!(ft.relation, Relation::Related);
    assert_eq!(ft.kinds, vec!["fine-tune"]);
    assert_eq!(ft.direction, Direction::AFromB);
    assert_eq!(get("a1", "a1-sharded").relation, Relation::Identical);
    let sw = get("a1-bf16", "a1-perm-mlp");
    assert_eq!(sw.relation, Relation::SameWeights);
    assert_eq!(sw.kinds, vec!["dtype-recast", "permuted"]);
    assert_eq!(sw.direction, Direction::CommonAncestor);
    let chain = get("a1-ft-code-pruned-gguf-q4_k", "a1");
    assert_eq!(chain.relation, Relation::Related);
    for k in ["fine-tune", "pruned-depth", "quantized", "format-change"] {
        assert!(
            chain.kinds.iter().any(|x| x == k),
            "{k} in {:?}",
            chain.kinds
        );
    }
    let merge = get("a1-merge-ties", "a1");
    assert_eq!(merge.kinds, vec!["fine-tune", "merge"]);
    assert_eq!(
        get("a1-merge-slerp", "a1-merge-linear").relation,
        Relation::Related
    );
    assert_eq!(
        get("a5-perm-residual-renamed-yi", "a5").relation,
        Relation::SameWeights
    );
    assert_eq!(get("a1-noise700", "a1").relation, Relation::SameWeights);
    assert_eq!(get("a7-shared-emb", "a7").kinds, vec!["shared-components"]);
    assert_eq!(get("b1", "a1").relation, Relation::Independent);
    assert!(!get("b1", "a1").same_architecture);
    // every kind of the vocabulary occurs, and no other
    let seen: BTreeSet<&str> = pairs
        .iter()
        .flat_map(|x| x.kinds.iter().map(|k| k.as_str()))
        .collect();
    let vocab: BTreeSet<&str> = KINDS.into_iter().collect();
    assert!(seen.is_subset(&vocab), "{seen:?}");
    assert_eq!(seen, vocab, "every kind occurs in the full zoo");
    // labels are symmetric up to direction
    for x in &pairs {
        let y = get(&x.b, &x.a);
        assert_eq!((x.relation, &x.kinds), (y.relation, &y.kinds));
    }
}

/// The small zoo, built once per test process into the default cache directory (reused
/// between runs through the recipe-hash cache).
fn small() -> &'static (Manifest, PathBuf) {
    static ZOO: OnceLock<(Manifest, PathBuf)> = OnceLock::new();
    ZOO.get_or_init(|| {
        let dir = taoke_zoo::default_dir(Profile::Small);
        let m = taoke_zoo::build(Profile::Small, &dir, &mut |l| eprintln!("{l}"))
            .expect("small zoo builds");
        (m, dir)
    })
}

fn loss(m: &Manifest, id: &str, corpus: &str) -> f64 {
    m.model(id).expect(id).heldout_loss[corpus]
}

#[test]
fn small_roots_learn_and_fine_tunes_move_to_their_corpus() {
    let (m, _) = small();
    let uni = &m.unigram_baseline["bpe-512"];
    // margins: Llama roots at most half the unigram loss; the BERT root (slower to train)
    // at most 85% of it
    for (id, corpus, ratio) in [
        ("a1", "stories", 0.5),
        ("a2", "stories", 0.5),
        ("a4", "code", 0.5),
        ("b1", "stories", 0.85),
    ] {
        let l = loss(m, id, corpus);
        let u = uni[corpus];
        eprintln!("{id} {corpus}: held-out {l:.3} vs unigram {u:.3}");
        assert!(
            l < ratio * u,
            "{id}: held-out {l} not below {ratio} x unigram {u}"
        );
    }
    // lossy untrained copies keep the source's held-out loss
    for e in m
        .models
        .iter()
        .filter(|e| e.parents == ["a1"] && e.training.is_none())
    {
        let d = (loss(m, &e.id, "stories") - loss(m, "a1", "stories")).abs();
        assert!(d < 0.01, "{}: held-out loss moved by {d}", e.id);
    }
    let before = loss(m, "a1", "code");
    let after = loss(m, "a1-ft-code", "code");
    eprintln!("a1 code {before:.3} -> a1-ft-code {after:.3}");
    assert!(
        after < before - 2.0,
        "fine-tune on code: {before} -> {after}"
    );
    // healed pruned / up-scaled models stay close to their parent on its corpus
    let (p, pr) = (
        loss(m, "a1", "stories"),
        loss(m, "a1-pruned-depth", "stories"),
    );
    assert!(pr < p + 0.3, "pruned-depth {pr} vs parent {p}");
    let (p, up) = (loss(m, "a2", "stories"), loss(m, "a2-upscaled", "stories"));
    assert!(up < p + 0.1, "depth-upscaled {up} vs parent {p}");
    let n = m.models.len();
    assert_eq!(m.pairs.len(), n * (n - 1));
}

fn random_ids(vocab: usize, seed: u64) -> Tensor {
    let mut r = taoke_zoo::rng::Rng::new(seed);
    let v: Vec<u32> = (0..2 * 32).map(|_| r.below(vocab) as u32).collect();
    Tensor::from_vec(v, (2, 32), &Device::Cpu).expect("ids")
}

fn logits(cfg: &ModelConfig, w: &Weights, ids: &Tensor) -> Vec<f32> {
    let p = to_tmap(w).expect("tmap");
    forward(cfg, &p, ids)
        .expect("forward")
        .flatten_all()
        .expect("flat")
        .to_vec1::<f32>()
        .expect("vec")
}

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Reads a written model back into canonical names and layout.
fn read_back(dir: &Path, entry: &taoke_zoo::ModelEntry, names: &[String]) -> Weights {
    let path = dir.join(&entry.path);
    if entry.format == "gguf" {
        let bytes = std::fs::read(&path).expect("gguf");
        let g = taoke_gguf::Gguf::parse(&bytes).expect("parse gguf");
        let mut out = Weights::new();
        for name in names {
            let stored = taoke_zoo::storage::llama_cpp_name(name);
            let info = g.tensor(&stored).unwrap_or_else(|| panic!("{stored}"));
            let range = g.tensor_range(info).expect("range");
            let dtype = info.dtype;
            let shape: Vec<usize> = info.shape_row_major().iter().map(|&d| d as usize).collect();
            let n: usize = shape.iter().product();
            let mut v = vec![0f32; n];
            taoke_dtype::decode_f32(dtype, &bytes[range], &mut v).expect("decode");
            let t = taoke_zoo::weights::Tensor32::new(shape, v);
            let c = &entry.config;
            let t = if name.ends_with("q_proj.weight") {
                qk_from_interleaved(&t, c.num_heads)
            } else if name.ends_with("k_proj.weight") {
                qk_from_interleaved(&t, c.num_kv_heads)
            } else {
                t
            };
            out.insert(name.clone(), t);
        }
        return out;
    }
    let recipe: Recipe = serde_json::from_value(entry.recipe.clone()).expect("recipe");
    let st = match recipe {
        Recipe::Rename { scheme } => Storage {
            rename: Some(scheme),
            ..Storage::default()
        },
        Recipe::Transpose => Storage {
            transposed: true,
            ..Storage::default()
        },
        _ => Storage::default(),
    };
    read_folder_canonical(&path, &st, names).expect("read back")
}

#[test]
fn small_disguises_give_the_same_logits_as_their_source() {
    let (m, dir) = small();
    let src = m.model("a1").expect("a1");
    let src_w = read_back(dir, src, &[]);
    assert!(src_w.is_empty());
    let names: Vec<String> = taoke_zoo::weights::read_model_dir(&dir.join(&src.path))
        .expect("a1")
        .keys()
        .cloned()
        .collect();
    let src_w = read_back(dir, src, &names);
    let ids = random_ids(src.config.vocab_size, 5);
    let base = logits(&src.config, &src_w, &ids);
    let mut checked = 0;
    for e in m.models.iter().filter(|e| e.parents == ["a1"]) {
        let recipe: Recipe = serde_json::from_value(e.recipe.clone()).expect("recipe");
        if recipe.steps() > 0 {
            continue;
        }
        let w = read_back(dir, e, &names);
        let d = max_abs(&base, &logits(&e.config, &w, &ids));
        let bound = match recipe {
            Recipe::DtypeRecast { .. } => 0.3,
            Recipe::NoiseWash { .. } => 0.3,
            Recipe::Gguf {
                dtype: taoke_zoo::plan::GgufType::F16,
            } => 0.3,
            Recipe::Gguf {
                dtype: taoke_zoo::plan::GgufType::Q8_0,
            } => 0.5,
            Recipe::Gguf {
                dtype: taoke_zoo::plan::GgufType::Q4K,
            } => 2.0,
            _ => 1e-4,
        };
        eprintln!("{:<24} max |Δlogit| = {d:.2e} (bound {bound:.0e})", e.id);
        assert!(d <= bound, "{}: max abs logit difference {d}", e.id);
        if bound < 1e-3 {
            // output-preserving disguises must also actually change the stored tensors or names
            checked += 1;
        }
        assert!(d > 0.0 || bound < 1e-3, "{}: lossy copy is bit-exact", e.id);
    }
    assert!(
        checked >= 11,
        "{checked} output-preserving disguises checked"
    );
}

fn tiny_plan() -> Plan {
    let mut p = plan(Profile::Small);
    p.budget = Budget {
        batch: 4,
        seq: 32,
        root_steps: 8,
        ft_steps: 4,
        eval_batches: 1,
        corpus_chars: 20_000,
    };
    let keep = ["a1", "a1-ft-code", "a1-perm-mlp", "a1-gguf-q8_0"];
    p.specs.retain(|s: &Spec| keep.contains(&s.id.as_str()));
    for s in &mut p.specs {
        match &mut s.recipe {
            Recipe::Root { steps, .. } => *steps = 8,
            Recipe::FineTune { steps, .. } => *steps = 4,
            _ => {}
        }
    }
    p
}

fn all_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.join("models")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).expect("prefix").display().to_string();
                out.push((rel, std::fs::read(&p).expect("read")));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn two_builds_give_identical_bytes() {
    let p = tiny_plan();
    let a = tempfile::tempdir().expect("tmp");
    let b = tempfile::tempdir().expect("tmp");
    let ma = taoke_zoo::build_plan(&p, a.path(), &mut |_| {}).expect("build a");
    let mb = taoke_zoo::build_plan(&p, b.path(), &mut |_| {}).expect("build b");
    let fa = all_files(a.path());
    let fb = all_files(b.path());
    assert_eq!(fa.len(), fb.len());
    assert!(fa.len() >= 10, "{} files", fa.len());
    for ((na, ba), (nb, bb)) in fa.iter().zip(&fb) {
        assert_eq!(na, nb);
        assert!(ba == bb, "{na} differs between two builds");
    }
    assert_eq!(ma.pairs, mb.pairs);
    for (x, y) in ma.models.iter().zip(&mb.models) {
        assert_eq!(x.recipe_hash, y.recipe_hash);
        assert_eq!(x.heldout_loss, y.heldout_loss);
    }
    // the fine-tune really changed the weights
    let root = taoke_zoo::weights::read_model_dir(&a.path().join("models/a1")).expect("a1");
    let ft = taoke_zoo::weights::read_model_dir(&a.path().join("models/a1-ft-code")).expect("ft");
    assert_ne!(root, ft);
}

/// Issue 17: combined shells and hard-negative twins in the full profile, labelled by the rule.
#[test]
fn full_plan_labels_combined_shells_and_twins() {
    let p = plan(Profile::Full);
    let pairs = label_pairs(&p).expect("labels");
    let get = |a: &str, b: &str| {
        pairs
            .iter()
            .find(|x| x.a == a && x.b == b)
            .unwrap_or_else(|| panic!("{a} {b}"))
    };
    let shell = get("a4", "a4-lft-pr-pm-ph-opaque-bf16");
    assert_eq!(shell.relation, Relation::Related);
    assert_eq!(
        shell.kinds,
        vec!["dtype-recast", "fine-tune", "permuted", "renamed"]
    );
    assert_eq!(shell.direction, Direction::BFromA);
    let up = get("a2", "a2-upscaled-pm-pr-gpt2-bf16");
    assert_eq!(up.relation, Relation::Related);
    assert!(up.kinds.iter().any(|k| k == "depth-upscaled"));
    assert_eq!(
        get("a5-lft", "a5-lft-rot-q4_k").relation,
        Relation::SameWeights
    );
    // twins share no weights with their source or its shells
    for (t, o) in [
        ("a4-twin-stats-pr-pm-opaque-bf16", "a4"),
        ("a4-twin-spectrum-q8_0", "a4-lft-pr-pm-ph-opaque-bf16"),
        ("b2-twin-stats-opaque-bf16", "b2-lft-opaque-bf16"),
    ] {
        assert_eq!(get(t, o).relation, Relation::Independent, "{t} {o}");
        assert!(get(t, o).same_architecture, "{t} {o}");
    }
    // at least 200 new labelled pairs involve a combined shell or a twin
    let new_ids: Vec<&str> = p
        .specs
        .iter()
        .filter(|s| {
            s.id.contains("-twin-")
                || s.id.contains("-lft")
                || s.id.contains("-opaque")
                || s.id.contains("-gpt2")
        })
        .map(|s| s.id.as_str())
        .collect();
    let new_pairs = pairs
        .iter()
        .filter(|x| new_ids.contains(&x.a.as_str()) || new_ids.contains(&x.b.as_str()))
        .count();
    assert!(new_pairs >= 200, "{new_pairs}");
}
