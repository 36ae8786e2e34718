//! `census`: the lineage forest of many models, from their fingerprints.
//!
//! 1. Every pair is compared ([`crate::compare::compare`]); a pair is *related* when its
//!    p-value, Bonferroni-corrected for the number of pairs, is below α (default 1e-6).
//! 2. **Families** are the connected components of related pairs; a model related to nothing
//!    is a family of one (independent roots, distilled students).
//! 3. **Trees**: in each family, the root is the most original-looking model (full precision,
//!    not a GGUF conversion, then the medoid under `sqrt(1 − closeness)`, then the shorter
//!    name, as releases derived from a model usually append to its name);
//!    models are attached in order of closeness to the growing tree (Prim), each to the tree
//!    member it is closest to. Among equally close members (within
//!    [`crate::identify::TIE_WINDOW`]: copies that differ only by rounding), the parent is the
//!    one with the same depth, then in the same coordinates, then of higher precision, then
//!    not a GGUF, then the earliest attached.
//!
//! 4. **Merges** are attached last, to all their parents (edge direction `merge`): a model
//!    lying between two trained relatives that the exact tests relate (its distances to them
//!    add up to theirs, as a weighted average's do), or a sparse (TIES/DARE-style) merge found
//!    by exact equality of sampled weights (`anchored-units/3`): it shares a sparse share of
//!    its values with two or more models that share none with each other, which are its
//!    parents (the most original-looking of each group of copies).
//!
//! Direction is inferred from that order; it is stated as evidence only when the parent has
//! higher precision than the child (a lossy copy cannot be the original) or the models differ
//! in depth and the tree order agrees. Otherwise `direction` is `tree-order` (a heuristic).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rayon::prelude::*;
use serde::Serialize;

use crate::compare::{compare_at, FpComparison};
use crate::fingerprint::Fingerprint;
use crate::identify::TIE_WINDOW;
use crate::Result;

/// JSON schema version of [`Census`].
pub const SCHEMA_VERSION: u32 = 1;

/// One model in the census.
#[derive(Debug, Clone, Serialize)]
pub struct CensusModel {
    /// Name (file or folder name, or as given).
    pub name: String,
    /// What was fingerprinted.
    pub source: String,
    /// Format, architecture, blocks, dtype.
    pub format: String,
    /// Architecture, if known.
    pub architecture: Option<String>,
    /// Blocks.
    pub blocks: u32,
    /// Dominant dtype.
    pub dtype: Option<String>,
    /// Family index.
    pub family: usize,
    /// Parent in the inferred tree (None for roots).
    pub parent: Option<String>,
}

/// What `taoke compare` says on a pair of models: the census's judge of every related pair
/// (see [`census_judged`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Judgement {
    /// compare's verdict (`identical`, `same-weights`, `related`, `independent`,
    /// `inconclusive`).
    pub verdict: &'static str,
    /// compare's kinds (`quantized`, `format-change`, `shared-components`, …).
    pub kinds: Vec<&'static str>,
    /// compare's log10 p-value of independence.
    pub log10_p_value: Option<f64>,
}

impl Judgement {
    /// Whether compare calls the pair copies (`identical` or `same-weights`).
    pub fn copies(&self) -> bool {
        matches!(self.verdict, "identical" | "same-weights")
    }

    /// Whether compare relates the pair (copies or `related`).
    pub fn related(&self) -> bool {
        self.copies() || self.verdict == "related"
    }
}

/// One inferred edge (child derives from parent).
#[derive(Debug, Clone, Serialize)]
pub struct CensusEdge {
    /// Parent.
    pub parent: String,
    /// Child.
    pub child: String,
    /// `identical`, `same-weights` (copies: no training between them) or `related` (training,
    /// pruning or shared components between them): what `taoke compare` says on the pair when
    /// `judged_by` is `compare`, else the fingerprints' verdict.
    pub verdict: &'static str,
    /// log10 p-value of independence (uncorrected) of the fingerprint tests.
    pub log10_p: f64,
    /// Closeness of the fingerprints: mean cosine of the matched MLP units (1 for copies,
    /// lower the more training separates the two; lossy quantization lowers it too).
    pub closeness: f64,
    /// What supports the direction: `precision`, `merge`, `tree-order`.
    pub direction: &'static str,
    /// compare's kinds on the pair (empty when judged by fingerprints only); merge edges add
    /// `merge`.
    pub kinds: Vec<&'static str>,
    /// log10 p-value of independence behind `verdict` (compare's when judged by compare).
    pub log10_p_value: Option<f64>,
    /// `compare` (both models were read and compared in full) or `fingerprint` (only
    /// fingerprints were available).
    pub judged_by: &'static str,
}

/// A family.
#[derive(Debug, Clone, Serialize)]
pub struct Family {
    /// Index.
    pub id: usize,
    /// Root.
    pub root: String,
    /// Members (root first).
    pub members: Vec<String>,
}

/// The census result.
#[derive(Debug, Clone, Serialize)]
pub struct Census {
    /// Always 1.
    pub schema_version: u32,
    /// α used.
    pub alpha: f64,
    /// Pairs compared.
    pub pairs_compared: usize,
    /// Models.
    pub models: Vec<CensusModel>,
    /// Families, largest first.
    pub families: Vec<Family>,
    /// Parent edges.
    pub edges: Vec<CensusEdge>,
}

fn precision_rank(d: Option<&str>) -> u8 {
    match d.unwrap_or("") {
        "F64" | "F32" => 4,
        "BF16" | "F16" => 3,
        "Q8_0" | "Q8_1" | "Q8_K" | "I8" | "int8" => 2,
        "" => 0,
        _ => 1,
    }
}

fn aligned(c: &FpComparison) -> bool {
    let emb = c
        .tests
        .iter()
        .find(|t| t.test == "embedding-columns")
        .is_some_and(|t| t.rho > 0.9);
    let blocks: Vec<f64> = c
        .tests
        .iter()
        .filter(|t| t.test == "block-units")
        .map(|t| t.rho)
        .collect();
    emb && !blocks.is_empty() && blocks.iter().sum::<f64>() / blocks.len() as f64 > 0.9
}

/// Infers the lineage forest of `models` (name, fingerprint) from fingerprints alone.
pub fn census(models: &[(String, Fingerprint)], alpha: f64) -> Result<Census> {
    census_judged(models, alpha, &|_, _| None)
}

/// Infers the lineage forest of `models`, with `judge(i, j)` (`i < j`) giving what `taoke
/// compare` says on a pair of models (`None` when it cannot say: only fingerprints). Every
/// pair the fingerprints relate is judged; the judge's word decides whether the pair is
/// related and whether it is a pair of copies (copies are joined as `same-weights` and are
/// never the two parents of a merge), and every edge carries its verdict and kinds.
pub fn census_judged(
    models: &[(String, Fingerprint)],
    alpha: f64,
    judge: &dyn Fn(usize, usize) -> Option<Judgement>,
) -> Result<Census> {
    let n = models.len();
    let pairs: Vec<(usize, usize)> = (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .filter(|&(i, j)| models[i].1.has_weights() && models[j].1.has_weights())
        .collect();
    let results: Vec<((usize, usize), FpComparison)> = pairs
        .par_iter()
        .map(|&(i, j)| compare_at(&models[i].1, &models[j].1, alpha).map(|c| ((i, j), c)))
        .collect::<Result<_>>()?;
    let m = pairs.len().max(1) as f64;
    let thr = alpha.log10() - m.log10();
    let mut cmp: BTreeMap<(usize, usize), FpComparison> = BTreeMap::new();
    for ((i, j), c) in results {
        cmp.insert((i, j), c);
    }
    let get = |i: usize, j: usize| cmp.get(&(i.min(j), i.max(j)));
    let fp_related =
        |i: usize, j: usize| get(i, j).and_then(|c| c.log10_p).is_some_and(|l| l < thr);
    // compare's word on every pair the fingerprints relate (one pair at a time: compare reads
    // both models and is parallel inside).
    let judged: BTreeMap<(usize, usize), Judgement> = pairs
        .iter()
        .filter(|&&(i, j)| fp_related(i, j))
        .filter_map(|&(i, j)| judge(i, j).map(|v| ((i, j), v)))
        .collect();
    let judgement = |i: usize, j: usize| judged.get(&(i.min(j), i.max(j)));
    let related = |i: usize, j: usize| match judgement(i, j) {
        Some(v) => v.related(),
        None => fp_related(i, j),
    };
    let copies = |i: usize, j: usize| match judgement(i, j) {
        Some(v) => v.copies(),
        None => get(i, j).is_some_and(|c| c.copy_like),
    };
    let fp_close = |i: usize, j: usize| get(i, j).map_or(f64::NEG_INFINITY, |c| c.closeness);
    // Families: union-find.
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(p: &mut [usize], x: usize) -> usize {
        let mut x = x;
        while p[x] != x {
            p[x] = p[p[x]];
            x = p[x];
        }
        x
    }
    for &(i, j) in &pairs {
        if related(i, j) {
            let (a, b) = (find(&mut parent, i), find(&mut parent, j));
            if a != b {
                parent[a.max(b)] = a.min(b);
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..n {
        let r = find(&mut parent, i);
        groups.entry(r).or_default().push(i);
    }
    let mut groups: Vec<Vec<usize>> = groups.into_values().collect();
    groups.sort_by(|a, b| b.len().cmp(&a.len()).then(a[0].cmp(&b[0])));

    // Copies (by compare's word) are as close as copies get, whatever rounding did to their
    // fingerprints (an int8 export's matched units sit lower than an f16 copy's).
    let close = |i: usize, j: usize| {
        if copies(i, j) {
            fp_close(i, j).max(1.0)
        } else {
            fp_close(i, j)
        }
    };
    let info = |i: usize| &models[i].1.info;
    let edge = |p: usize, x: usize, c: &FpComparison, j: Option<&Judgement>, direction| {
        let (verdict, kinds, log10_p_value, judged_by) = match j {
            Some(j) => (j.verdict, j.kinds.clone(), j.log10_p_value, "compare"),
            None => (
                if c.copy_like {
                    "same-weights"
                } else {
                    "related"
                },
                Vec::new(),
                c.log10_p,
                "fingerprint",
            ),
        };
        CensusEdge {
            parent: models[p].0.clone(),
            child: models[x].0.clone(),
            verdict,
            log10_p: c.log10_p.unwrap_or(0.0),
            closeness: c.closeness,
            direction,
            kinds,
            log10_p_value,
            judged_by,
        }
    };
    let mut tree_parent: Vec<Option<usize>> = vec![None; n];
    let mut families = Vec::new();
    let mut family_of = vec![0usize; n];
    let mut edges = Vec::new();
    for (f, g) in groups.iter().enumerate() {
        for &i in g {
            family_of[i] = f;
        }
        // Root: most original-looking, then the medoid under the distance sqrt(1 − closeness)
        // (≈ relative error, which adds in quadrature along a lineage, so in a star the
        // centre has the smallest sum).
        let dist = |i: usize, j: usize| (1.0 - close(i, j)).max(0.0).sqrt();
        let score = |i: usize| {
            let spread: f64 = g.iter().filter(|&&j| j != i).map(|&j| dist(i, j)).sum();
            (
                precision_rank(info(i).dtype.as_deref()),
                info(i).format != "gguf",
                spread,
            )
        };
        // Merges found on the weight samples are never the root (a linear merge of two
        // fine-tunes sits at the centre of its family).
        // A merge needs parents that are not copies of each other (a model "between" a model
        // and its own export is a relative of both, not their merge), and is related to each.
        let sound = |m: usize, ps: &[usize]| {
            ps.iter().all(|&p| related(m, p) && !copies(m, p))
                && ps
                    .iter()
                    .enumerate()
                    .all(|(k, &x)| ps[k + 1..].iter().all(|&y| !copies(x, y)))
        };
        let linear: Vec<(usize, Vec<usize>)> = linear_merges(models, g, &related, &close)
            .into_iter()
            .filter(|(m, ps)| sound(*m, ps))
            .collect();
        let sparse: Vec<(usize, Vec<usize>)> = sparse_merges(models, g, &related, &close)
            .into_iter()
            .filter(|(m, ps)| sound(*m, ps))
            .collect();
        let found_merge = |i: usize| linear.iter().chain(&sparse).any(|(m, _)| *m == i);
        let root = *g
            .iter()
            .filter(|&&i| !found_merge(i))
            .max_by(|&&a, &&b| {
                let (sa, sb) = (score(a), score(b));
                // Spreads within the copy window are equal: the shorter name, then the first
                // in name order.
                let spread = if (sa.2 - sb.2).abs() <= TIE_WINDOW.sqrt() * g.len() as f64 {
                    std::cmp::Ordering::Equal
                } else {
                    sb.2.total_cmp(&sa.2)
                };
                (sa.0, sa.1)
                    .cmp(&(sb.0, sb.1))
                    .then(spread)
                    .then(models[b].0.len().cmp(&models[a].0.len()))
                    .then(models[b].0.cmp(&models[a].0))
            })
            .unwrap_or(&g[0]);
        let mut order = vec![root];
        // Merges: a model between two trained relatives (its distances to them add up to
        // theirs, as a weighted average's do) is attached to both, after the rest of the tree;
        // copies of a merge (within the copy window) are attached afterwards, to it.
        // The distance rule is no merge-fit evidence: it stands in only for fingerprints
        // without weight samples (older packs), where no fit can be made.
        let sampled = |i: usize| models[i].1.samples.is_some();
        let mut merge_of: BTreeMap<usize, Vec<usize>> = merges(g, &dist, &close, &related)
            .into_iter()
            .filter(|(m, (x, y))| *m != root && !(sampled(*m) && sampled(*x) && sampled(*y)))
            .filter(|(m, (x, y))| sound(*m, &[*x, *y]))
            .map(|(m, (x, y))| (m, vec![x, y]))
            .collect();
        // Linear merges found on the weight samples (a positive two-parent combination in
        // every sampled matrix) replace the distance rule's guess for that model, and sparse
        // merges found by exact equality take precedence over both: their parents are the
        // models they share values with (TIES: the base and each fine-tune).
        for (m, ps) in linear.into_iter().chain(sparse) {
            if m != root {
                merge_of.insert(m, ps);
            }
        }
        let (first, later): (Vec<usize>, Vec<usize>) = g
            .iter()
            .copied()
            .filter(|&i| i != root && !merge_of.contains_key(&i))
            .partition(|&i| {
                !merge_of
                    .keys()
                    .any(|&m| close(i, m) >= 1.0 - TIE_WINDOW && close(i, m) > close(i, root))
            });
        let mut rest = first;
        let mut stage = 0;
        loop {
            if rest.is_empty() {
                stage += 1;
                match stage {
                    1 => {
                        for (&m, ps) in &merge_of {
                            let near = ps
                                .iter()
                                .copied()
                                .max_by(|&a, &b| close(m, a).total_cmp(&close(m, b)))
                                .unwrap_or(root);
                            tree_parent[m] = Some(near);
                            for &p in ps {
                                if let Some(c) = get(m, p) {
                                    let mut e = edge(p, m, c, judgement(p, m), "merge");
                                    e.verdict = "related";
                                    if !e.kinds.contains(&"merge") {
                                        e.kinds.push("merge");
                                    }
                                    edges.push(e);
                                }
                            }
                            order.push(m);
                        }
                        rest = later.clone();
                        continue;
                    }
                    _ => break,
                }
            }
            // Next: the outside model closest to the tree.
            let (k, _) = rest
                .iter()
                .enumerate()
                .map(|(k, &x)| {
                    let best = order
                        .iter()
                        .map(|&t| close(x, t))
                        .fold(f64::NEG_INFINITY, f64::max);
                    (k, best)
                })
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
                .unwrap_or((0, 0.0));
            let x = rest.remove(k);
            let best = order
                .iter()
                .map(|&t| close(x, t))
                .fold(f64::NEG_INFINITY, f64::max);
            let key = |t: usize| {
                let tie = close(x, t) >= best - TIE_WINDOW;
                (
                    tie,
                    tie && info(t).blocks == info(x).blocks,
                    if tie {
                        precision_rank(info(t).dtype.as_deref())
                    } else {
                        0
                    },
                    tie && get(x, t).is_some_and(aligned),
                    tie && info(t).format != "gguf",
                    if tie {
                        usize::MAX - models[t].0.len()
                    } else {
                        0
                    },
                )
            };
            let mut p = order[0];
            let mut pk = key(p);
            let mut pc = close(x, p);
            for &t in &order[1..] {
                let k = key(t);
                // The better key, then the closer; the earliest attached on exact ties.
                if k > pk || (k == pk && close(x, t) > pc) {
                    p = t;
                    pk = k;
                    pc = close(x, t);
                }
            }
            tree_parent[x] = Some(p);
            if let Some(c) = get(x, p) {
                let lower = precision_rank(info(p).dtype.as_deref())
                    > precision_rank(info(x).dtype.as_deref());
                let direction = if lower { "precision" } else { "tree-order" };
                edges.push(edge(p, x, c, judgement(p, x), direction));
            }
            order.push(x);
        }
        families.push(Family {
            id: f,
            root: models[root].0.clone(),
            members: order.iter().map(|&i| models[i].0.clone()).collect(),
        });
    }
    let out_models = (0..n)
        .map(|i| CensusModel {
            name: models[i].0.clone(),
            source: info(i).source.clone(),
            format: info(i).format.clone(),
            architecture: info(i).architecture.clone(),
            blocks: info(i).blocks,
            dtype: info(i).dtype.clone(),
            family: family_of[i],
            parent: tree_parent[i].map(|p| models[p].0.clone()),
        })
        .collect();
    Ok(Census {
        schema_version: SCHEMA_VERSION,
        alpha,
        pairs_compared: pairs.len(),
        models: out_models,
        families,
        edges,
    })
}

/// Linear or spherical merges in family `g`, on the weight samples (`taoke compare
/// --context`'s rule, [`taoke_evidence::context`]): a model that is a positive combination of
/// two related models in every sampled block matrix, up to a small residual. Copies of a merge
/// are found with the same parents: the most original of each group is kept.
fn linear_merges(
    models: &[(String, Fingerprint)],
    g: &[usize],
    related: &(dyn Fn(usize, usize) -> bool + Sync),
    close: &dyn Fn(usize, usize) -> f64,
) -> Vec<(usize, Vec<usize>)> {
    let sets: Vec<(usize, taoke_evidence::context::SampleSet)> = g
        .iter()
        .filter_map(|&i| crate::identify::sample_set(&models[i].1).map(|s| (i, s)))
        .collect();
    let found: Vec<(usize, Vec<usize>)> = sets
        .par_iter()
        .filter_map(|(m, q)| {
            let mut ctx = taoke_evidence::Context::new(Vec::new());
            for (y, set) in &sets {
                if y != m && related(*m, *y) {
                    ctx.push_samples(y.to_string(), set.clone());
                }
            }
            let f = taoke_evidence::context::merge_finding_samples(&ctx, q, &m.to_string())?;
            let parents: Vec<usize> = f.parents.iter().filter_map(|p| p.parse().ok()).collect();
            (f.method == taoke_evidence::MergeMethod::Linear && parents.len() == 2)
                .then_some((*m, parents))
        })
        .collect();
    drop_merge_copies(models, found, |(o, qs), (m, ps)| {
        qs == ps && close(*o, *m) >= 1.0 - TIE_WINDOW
    })
}

/// Orders copies of one model: the most original first (full precision, not a GGUF, the
/// shorter name, then the name).
fn original_key(
    models: &[(String, Fingerprint)],
    i: usize,
) -> (std::cmp::Reverse<u8>, bool, usize, String) {
    let info = &models[i].1.info;
    (
        std::cmp::Reverse(precision_rank(info.dtype.as_deref())),
        info.format == "gguf",
        models[i].0.len(),
        models[i].0.clone(),
    )
}

/// Merges found with their parents, without those that are a copy (`copy(other, merge)`) of
/// a more original merge found too.
fn drop_merge_copies(
    models: &[(String, Fingerprint)],
    found: Vec<(usize, Vec<usize>)>,
    copy: impl Fn(&(usize, Vec<usize>), &(usize, Vec<usize>)) -> bool,
) -> Vec<(usize, Vec<usize>)> {
    found
        .iter()
        .filter(|f| {
            !found.iter().any(|o| {
                o.0 != f.0 && original_key(models, o.0) < original_key(models, f.0) && copy(o, f)
            })
        })
        .cloned()
        .collect()
}

/// Sparse merges in family `g` (exact equality of sampled weights, [`crate::samples`]): a model
/// of the same depth as its relatives that shares a sparse share of its values
/// ([`crate::identify::SPARSE_SHARE`]) with at least two related models which share none with
/// each other (every matrix moved, as training moves them). Its parents are such models, one
/// per group of models sharing values with each other, the most original-looking of each
/// (full precision, not a GGUF, shorter name): a TIES merge gets its base and each fine-tune.
fn sparse_merges(
    models: &[(String, Fingerprint)],
    g: &[usize],
    related: &(dyn Fn(usize, usize) -> bool + Sync),
    close: &dyn Fn(usize, usize) -> f64,
) -> Vec<(usize, Vec<usize>)> {
    use crate::identify::{NO_SHARE, SPARSE_SHARE};
    use crate::samples::{unchanged_share, Share};
    let share = |a: usize, b: usize| -> Option<Share> {
        let s = unchanged_share(models[a].1.samples.as_ref()?, models[b].1.samples.as_ref()?)?;
        (s.moved > 0).then_some(s)
    };
    let with: Vec<usize> = g
        .iter()
        .copied()
        .filter(|&i| models[i].1.samples.is_some())
        .collect();
    let found: Vec<(usize, Vec<usize>)> = with
        .par_iter()
        .filter_map(|&m| {
            let blocks = models[m].1.info.blocks;
            let mut sharing: Vec<usize> = with
                .iter()
                .copied()
                .filter(|&x| x != m && models[x].1.info.blocks == blocks && related(m, x))
                .filter(|&x| share(m, x).is_some_and(|s| s.unchanged >= SPARSE_SHARE))
                .collect();
            if sharing.len() < 2 {
                return None;
            }
            sharing.sort_by_key(|&i| original_key(models, i));
            let mut parents: Vec<usize> = Vec::new();
            for x in sharing {
                let apart = parents.iter().all(|&p| {
                    share(p, x).is_some_and(|s| s.unchanged <= NO_SHARE && s.moved == s.compared)
                });
                if apart {
                    parents.push(x);
                }
            }
            (parents.len() >= 2).then_some((m, parents))
        })
        .collect();
    // A merge's copies (an f16 copy shares the same values) share with the same parents:
    // keep the most original of each group.
    drop_merge_copies(models, found, |(o, _), (m, _)| {
        share(*o, *m).is_none_or(|s| s.unchanged >= crate::samples::UNMOVED)
            && close(*o, *m) >= 1.0 - TIE_WINDOW
    })
}

/// Models of family `g` that lie between two trained relatives: `(merge, (x, y))` where
/// `d(m,x) + d(m,y) ≤ 1.15·d(x,y)`, each part at least a fifth of `d(x,y)`, `d(x,y)` above
/// copy level, and x, y related by the exact tests.
fn merges(
    g: &[usize],
    dist: &dyn Fn(usize, usize) -> f64,
    close: &dyn Fn(usize, usize) -> f64,
    related: &dyn Fn(usize, usize) -> bool,
) -> Vec<(usize, (usize, usize))> {
    let floor = (20.0 * TIE_WINDOW).sqrt();
    let mut out = Vec::new();
    for &m in g {
        let mut best: Option<(f64, usize, usize)> = None;
        for (k, &x) in g.iter().enumerate() {
            for &y in &g[k + 1..] {
                // The parents must be related by the exact tests: the distance between two
                // copies that defeat each other's tests (one rotated, one MLP-permuted) means
                // nothing.
                if x == m || y == m || !close(x, y).is_finite() || !related(x, y) {
                    continue;
                }
                let dxy = dist(x, y);
                let (a, b) = (dist(m, x), dist(m, y));
                if dxy < floor || a < 0.2 * dxy || b < 0.2 * dxy {
                    continue;
                }
                let r = (a + b) / dxy;
                if r < 1.15 && best.is_none_or(|bb| r < bb.0) {
                    best = Some((r, x, y));
                }
            }
        }
        if let Some((_, x, y)) = best {
            out.push((m, (x, y)));
        }
    }
    // A merge's copies sit between the same parents: keep the most original of each group.
    let mut keep: Vec<(usize, (usize, usize))> = Vec::new();
    for (m, xy) in out {
        if let Some(k) = keep
            .iter()
            .position(|(o, _)| close(*o, m) >= 1.0 - TIE_WINDOW)
        {
            let _ = k;
            continue;
        }
        keep.push((m, xy));
    }
    keep
}

fn dot_id(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Graphviz DOT of the forest (one cluster per family of two or more).
pub fn to_dot(c: &Census) -> String {
    let mut s = String::from(
        "digraph census {\n  rankdir=TB;\n  node [shape=box, fontname=\"sans-serif\"];\n",
    );
    for f in &c.families {
        if f.members.len() > 1 {
            let _ = writeln!(
                s,
                "  subgraph cluster_{} {{\n    label={};",
                f.id,
                dot_id(&format!("family {} (root {})", f.id, f.root))
            );
        }
        for m in &f.members {
            let shape = if *m == f.root { ", style=bold" } else { "" };
            let _ = writeln!(s, "    {} [label={}{shape}];", dot_id(m), dot_id(m));
        }
        if f.members.len() > 1 {
            s.push_str("  }\n");
        }
    }
    for e in &c.edges {
        let style = if matches!(e.verdict, "same-weights" | "identical") {
            "dashed"
        } else {
            "solid"
        };
        let _ = writeln!(
            s,
            "  {} -> {} [label={}, style={style}];",
            dot_id(&e.parent),
            dot_id(&e.child),
            dot_id(&format!("{} {:.3}", e.verdict, e.closeness))
        );
    }
    s.push_str("}\n");
    s
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One family drawn as a tree: inline SVG (no scripts, no Graphviz), the root on top, each
/// model under its tree parent, edges coloured by verdict (same-weights dashed), the extra
/// parents of a merge joined by dotted lines.
fn family_svg(c: &Census, f: &Family) -> String {
    const W: f64 = 230.0;
    const H: f64 = 30.0;
    const GAP_X: f64 = 20.0;
    const GAP_Y: f64 = 60.0;
    let parent_of = |m: &str| {
        c.models
            .iter()
            .find(|x| x.name == m)
            .and_then(|x| x.parent.clone())
    };
    let mut kids: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for m in &f.members {
        if *m != f.root {
            if let Some(p) = parent_of(m) {
                if let Some(p) = f.members.iter().find(|x| **x == p) {
                    kids.entry(p.as_str()).or_default().push(m.as_str());
                }
            }
        }
    }
    // Depth-first: leaves take the next column, parents sit over their children's middle.
    let mut pos: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
    fn place<'a>(
        n: &'a str,
        depth: usize,
        kids: &BTreeMap<&'a str, Vec<&'a str>>,
        next: &mut f64,
        pos: &mut BTreeMap<&'a str, (f64, usize)>,
    ) -> f64 {
        if pos.contains_key(n) || depth > 10_000 {
            return pos.get(n).map_or(0.0, |p| p.0);
        }
        pos.insert(n, (0.0, depth));
        let xs: Vec<f64> = kids
            .get(n)
            .map(|k| {
                k.iter()
                    .map(|&c| place(c, depth + 1, kids, next, pos))
                    .collect()
            })
            .unwrap_or_default();
        let x = if xs.is_empty() {
            let x = *next;
            *next += 1.0;
            x
        } else {
            (xs[0] + xs[xs.len() - 1]) / 2.0
        };
        pos.insert(n, (x, depth));
        x
    }
    let mut next = 0.0;
    place(f.root.as_str(), 0, &kids, &mut next, &mut pos);
    for m in &f.members {
        if !pos.contains_key(m.as_str()) {
            place(m.as_str(), 0, &kids, &mut next, &mut pos);
        }
    }
    let depth = pos.values().map(|p| p.1).max().unwrap_or(0);
    let width = next.max(1.0) * (W + GAP_X) + GAP_X;
    let height = (depth + 1) as f64 * (H + GAP_Y) + GAP_Y / 2.0;
    let at = |n: &str| {
        pos.get(n).map(|&(x, d)| {
            (
                GAP_X + x * (W + GAP_X),
                GAP_Y / 2.0 + d as f64 * (H + GAP_Y),
            )
        })
    };
    let mut s = format!(
        "<svg class=\"tree\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" role=\"img\" aria-label=\"family {} tree\">",
        f.id
    );
    for e in c.edges.iter().filter(|e| f.members.contains(&e.child)) {
        let (Some((px, py)), Some((cx, cy))) = (at(&e.parent), at(&e.child)) else {
            continue;
        };
        let dash = match (e.direction, e.verdict) {
            ("merge", _) => " stroke-dasharray=\"2 3\"",
            (_, "same-weights" | "identical") => " stroke-dasharray=\"6 4\"",
            _ => "",
        };
        let (x1, y1, x2, y2) = (px + W / 2.0, py + H, cx + W / 2.0, cy);
        let _ = write!(
            s,
            "<line class=\"edge {}\" x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\"{dash}/>\
<text class=\"elabel\" x=\"{:.1}\" y=\"{:.1}\">{} {:.4}</text>",
            e.verdict,
            (x1 + x2) / 2.0 + 4.0,
            (y1 + y2) / 2.0 + 4.0,
            if e.direction == "merge" {
                "merge"
            } else {
                e.verdict
            },
            e.closeness
        );
    }
    for m in &f.members {
        let Some((x, y)) = at(m) else { continue };
        let label: String = if m.chars().count() > 34 {
            let tail: String = m
                .chars()
                .rev()
                .take(33)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            format!("…{tail}")
        } else {
            m.clone()
        };
        let _ = write!(
            s,
            "<g class=\"node{}\"><title>{}</title><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{W}\" height=\"{H}\" rx=\"5\"/>\
<text x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
            if *m == f.root { " root" } else { "" },
            esc(m),
            x + 8.0,
            y + H / 2.0 + 4.0,
            esc(&label)
        );
    }
    s.push_str("</svg>");
    s
}

/// A self-contained HTML view of the forest: each family drawn as a tree (inline SVG), then
/// its edges in words (nested lists); no scripts, no network.
pub fn to_html(c: &Census) -> String {
    let mut children: BTreeMap<&str, Vec<&CensusEdge>> = BTreeMap::new();
    for e in &c.edges {
        children.entry(e.parent.as_str()).or_default().push(e);
    }
    fn node(
        out: &mut String,
        name: &str,
        children: &BTreeMap<&str, Vec<&CensusEdge>>,
        depth: usize,
    ) {
        if depth > 10_000 {
            return;
        }
        if let Some(ch) = children.get(name) {
            out.push_str("<ul>");
            for e in ch {
                let _ = write!(
                    out,
                    "<li><span class=\"{}\">{}</span> <small>{}{} · closeness {:.4} · p ≤ 1e{:.0} · direction: {} · judged by {}</small>",
                    e.verdict,
                    esc(&e.child),
                    e.verdict,
                    if e.kinds.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", e.kinds.join(", "))
                    },
                    e.closeness,
                    e.log10_p_value.unwrap_or(e.log10_p).ceil(),
                    e.direction,
                    e.judged_by
                );
                node(out, &e.child, children, depth + 1);
                out.push_str("</li>");
            }
            out.push_str("</ul>");
        }
    }
    let mut s = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>taoke census</title><style>\
body{font-family:sans-serif;margin:2em;max-width:70em}ul{list-style:none;border-left:1px solid #bbb;margin-left:.6em;padding-left:1.2em}\
li{margin:.25em 0}.root{font-weight:bold}.same-weights{color:#8a2be2}.related{color:#b35900}small{color:#666}\
section{border:1px solid #ddd;border-radius:6px;padding:.5em 1em;margin:1em 0}\
svg.tree{display:block;max-width:100%;height:auto;margin:.5em 0}svg.tree rect{fill:#f7f7f7;stroke:#555}\
svg.tree .root rect{stroke-width:2.5}svg.tree text{font:12px sans-serif}svg.tree .elabel{font-size:11px;fill:#444}\
svg.tree line{stroke-width:2}svg.tree line.same-weights,svg.tree line.identical{stroke:#8a2be2}\
svg.tree line.related{stroke:#b35900}</style></head><body>",
    );
    let singles = c.families.iter().filter(|f| f.members.len() == 1).count();
    let _ = write!(
        s,
        "<h1>Lineage census</h1><p>{} models, {} families ({} with relatives, {} alone), {} pairs compared, α = {:e}. \
Edges point from parent to child; <span class=\"same-weights\">same-weights</span> edges are copies in disguise, \
<span class=\"related\">related</span> edges involve training, pruning or shared components. \
Verdicts and kinds are what <code>taoke compare</code> says on the pair (<i>judged by compare</i>) or, when only \
fingerprints were at hand, the fingerprints' (<i>judged by fingerprint</i>). <i>closeness</i> is the mean cosine of \
the two fingerprints' matched MLP units (of their embedding columns when a side has no tokenizer): 1 for copies, lower \
the more training separates them; it builds the tree and is not a test. <i>p</i> is the p-value of independence. \
Directions marked <i>tree-order</i> are heuristic.</p>",
        c.models.len(),
        c.families.len(),
        c.families.len() - singles,
        singles,
        c.pairs_compared,
        c.alpha
    );
    for f in &c.families {
        let _ = write!(
            s,
            "<section><h2>Family {} — root <span class=\"root\">{}</span> ({} models)</h2>",
            f.id,
            esc(&f.root),
            f.members.len()
        );
        if f.members.len() > 1 {
            s.push_str(&family_svg(c, f));
        }
        node(&mut s, &f.root, &children, 0);
        s.push_str("</section>");
    }
    s.push_str("</body></html>\n");
    s
}
