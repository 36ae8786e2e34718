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
    let pairs = JudgedPairs::measure(models, alpha, judge)?;
    let mut forest = Forest::new(models.len());
    let families = pairs
        .families()
        .iter()
        .enumerate()
        .map(|(f, g)| pairs.grow_family(f, g, &mut forest))
        .collect();
    Ok(pairs.into_census(alpha, families, forest))
}

/// Every pair of models with weights, compared on their fingerprints, and compare's word on
/// the pairs the fingerprints relate: what the census's stages ask of a pair.
struct JudgedPairs<'a> {
    models: &'a [(String, Fingerprint)],
    /// `(i, j)`, `i < j`, both with weights.
    pairs: Vec<(usize, usize)>,
    /// The fingerprint comparison of each pair.
    fingerprints: BTreeMap<(usize, usize), FpComparison>,
    /// log10 of α, Bonferroni-corrected for the number of pairs.
    log10_threshold: f64,
    /// compare's word on the pairs the fingerprints relate (when the judge could say).
    judged: BTreeMap<(usize, usize), Judgement>,
}

/// The tree parents and edges of the whole forest, filled family by family.
struct Forest {
    tree_parent: Vec<Option<usize>>,
    family_of: Vec<usize>,
    edges: Vec<CensusEdge>,
}

impl Forest {
    fn new(n: usize) -> Self {
        Forest {
            tree_parent: vec![None; n],
            family_of: vec![0; n],
            edges: Vec::new(),
        }
    }
}

/// How original a model looks as a family's root (compared field by field, greater first).
struct RootScore {
    precision: u8,
    not_gguf: bool,
    /// Sum of the distances `sqrt(1 − closeness)` to the rest of the family (smaller: more
    /// central).
    spread: f64,
}

/// How good a tree member is as a model's parent (compared field by field, greater first);
/// every field but `tie` counts only among the members within the copy window of the closest.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct ParentKey {
    tie: bool,
    same_depth: bool,
    precision: u8,
    aligned: bool,
    not_gguf: bool,
    /// `usize::MAX` minus the name's length: the shorter name first.
    short_name: usize,
}

/// A merge and its parents.
type Merge = (usize, Vec<usize>);

/// Union-find root of `x`, halving paths.
fn find(p: &mut [usize], x: usize) -> usize {
    let mut x = x;
    while p[x] != x {
        p[x] = p[p[x]];
        x = p[x];
    }
    x
}

impl<'a> JudgedPairs<'a> {
    /// Compares every pair of models with weights on their fingerprints (in parallel), then
    /// asks `judge` about each pair the fingerprints relate (one pair at a time: compare reads
    /// both models and is parallel inside).
    fn measure(
        models: &'a [(String, Fingerprint)],
        alpha: f64,
        judge: &dyn Fn(usize, usize) -> Option<Judgement>,
    ) -> Result<Self> {
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
        let mut out = JudgedPairs {
            models,
            pairs,
            fingerprints: results.into_iter().collect(),
            log10_threshold: alpha.log10() - m.log10(),
            judged: BTreeMap::new(),
        };
        out.judged = out
            .pairs
            .iter()
            .filter(|&&(i, j)| out.fp_related(i, j))
            .filter_map(|&(i, j)| judge(i, j).map(|v| ((i, j), v)))
            .collect();
        Ok(out)
    }

    fn get(&self, i: usize, j: usize) -> Option<&FpComparison> {
        self.fingerprints.get(&(i.min(j), i.max(j)))
    }

    fn fp_related(&self, i: usize, j: usize) -> bool {
        self.get(i, j)
            .and_then(|c| c.log10_p)
            .is_some_and(|l| l < self.log10_threshold)
    }

    fn judgement(&self, i: usize, j: usize) -> Option<&Judgement> {
        self.judged.get(&(i.min(j), i.max(j)))
    }

    /// compare's word when it has one, else the fingerprints'.
    fn related(&self, i: usize, j: usize) -> bool {
        match self.judgement(i, j) {
            Some(v) => v.related(),
            None => self.fp_related(i, j),
        }
    }

    fn copies(&self, i: usize, j: usize) -> bool {
        match self.judgement(i, j) {
            Some(v) => v.copies(),
            None => self.get(i, j).is_some_and(|c| c.copy_like),
        }
    }

    /// The fingerprints' closeness, except that copies (by compare's word) are as close as
    /// copies get, whatever rounding did to their fingerprints (an int8 export's matched units
    /// sit lower than an f16 copy's).
    fn close(&self, i: usize, j: usize) -> f64 {
        let fp_close = self.get(i, j).map_or(f64::NEG_INFINITY, |c| c.closeness);
        if self.copies(i, j) {
            fp_close.max(1.0)
        } else {
            fp_close
        }
    }

    /// `sqrt(1 − closeness)` (≈ relative error, which adds in quadrature along a lineage, so
    /// in a star the centre has the smallest sum).
    fn dist(&self, i: usize, j: usize) -> f64 {
        (1.0 - self.close(i, j)).max(0.0).sqrt()
    }

    fn info(&self, i: usize) -> &crate::fingerprint::ModelInfo {
        &self.models[i].1.info
    }

    fn name(&self, i: usize) -> &str {
        &self.models[i].0
    }

    /// Families: the connected components of related pairs (union-find), largest first, then
    /// by first member.
    fn families(&self) -> Vec<Vec<usize>> {
        let n = self.models.len();
        let mut parent: Vec<usize> = (0..n).collect();
        for &(i, j) in &self.pairs {
            if self.related(i, j) {
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
        groups
    }

    /// The edge `p → x` with compare's verdict and kinds when it judged the pair, else the
    /// fingerprints' (`c` is the pair's fingerprint comparison).
    fn edge(&self, p: usize, x: usize, c: &FpComparison, direction: &'static str) -> CensusEdge {
        let (verdict, kinds, log10_p_value, judged_by) = match self.judgement(p, x) {
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
            parent: self.name(p).to_string(),
            child: self.name(x).to_string(),
            verdict,
            log10_p: c.log10_p.unwrap_or(0.0),
            closeness: c.closeness,
            direction,
            kinds,
            log10_p_value,
            judged_by,
        }
    }

    /// The tree of family `f` (members `g`): the root, the merges, then the rest attached in
    /// order of closeness to the growing tree; fills `forest` and returns the family.
    fn grow_family(&self, f: usize, g: &[usize], forest: &mut Forest) -> Family {
        for &i in g {
            forest.family_of[i] = f;
        }
        let sampled_merges = self.sampled_merges(g);
        let root = self.choose_root(g, &sampled_merges);
        let merge_of = self.merge_parents(g, root, sampled_merges);
        // Copies of a merge (within the copy window) are attached after the merges, to it.
        let (first, later): (Vec<usize>, Vec<usize>) = g
            .iter()
            .copied()
            .filter(|&i| i != root && !merge_of.contains_key(&i))
            .partition(|&i| {
                !merge_of.keys().any(|&m| {
                    self.close(i, m) >= 1.0 - TIE_WINDOW && self.close(i, m) > self.close(i, root)
                })
            });
        let mut order = vec![root];
        self.attach_nearest(first, &mut order, forest);
        self.attach_merges(&merge_of, root, &mut order, forest);
        self.attach_nearest(later, &mut order, forest);
        Family {
            id: f,
            root: self.name(root).to_string(),
            members: order.iter().map(|&i| self.name(i).to_string()).collect(),
        }
    }

    /// A merge needs parents that are not copies of each other (a model "between" a model
    /// and its own export is a relative of both, not their merge), and is related to each.
    fn sound_merge(&self, m: usize, ps: &[usize]) -> bool {
        ps.iter().all(|&p| self.related(m, p) && !self.copies(m, p))
            && ps
                .iter()
                .enumerate()
                .all(|(k, &x)| ps[k + 1..].iter().all(|&y| !self.copies(x, y)))
    }

    /// Merges found on the weight samples of family `g`: the linear ones, then the sparse
    /// ones (which take precedence when both name a model).
    fn sampled_merges(&self, g: &[usize]) -> Vec<Merge> {
        let related = |i: usize, j: usize| self.related(i, j);
        let close = |i: usize, j: usize| self.close(i, j);
        let linear = linear_merges(self.models, g, &related, &close);
        let sparse = sparse_merges(self.models, g, &related, &close);
        linear
            .into_iter()
            .filter(|(m, ps)| self.sound_merge(*m, ps))
            .chain(
                sparse
                    .into_iter()
                    .filter(|(m, ps)| self.sound_merge(*m, ps)),
            )
            .collect()
    }

    fn root_score(&self, g: &[usize], i: usize) -> RootScore {
        RootScore {
            precision: precision_rank(self.info(i).dtype.as_deref()),
            not_gguf: self.info(i).format != "gguf",
            spread: g
                .iter()
                .filter(|&&j| j != i)
                .map(|&j| self.dist(i, j))
                .sum(),
        }
    }

    /// The root: most original-looking, then the medoid under [`Self::dist`], then the
    /// shorter name, then the first in name order. Merges found on the weight samples are
    /// never the root (a linear merge of two fine-tunes sits at the centre of its family).
    fn choose_root(&self, g: &[usize], sampled_merges: &[Merge]) -> usize {
        let found_merge = |i: usize| sampled_merges.iter().any(|(m, _)| *m == i);
        *g.iter()
            .filter(|&&i| !found_merge(i))
            .max_by(|&&a, &&b| {
                let (sa, sb) = (self.root_score(g, a), self.root_score(g, b));
                // Spreads within the copy window are equal: the shorter name, then the first
                // in name order.
                let spread = if (sa.spread - sb.spread).abs() <= TIE_WINDOW.sqrt() * g.len() as f64
                {
                    std::cmp::Ordering::Equal
                } else {
                    sb.spread.total_cmp(&sa.spread)
                };
                (sa.precision, sa.not_gguf)
                    .cmp(&(sb.precision, sb.not_gguf))
                    .then(spread)
                    .then(self.name(b).len().cmp(&self.name(a).len()))
                    .then(self.name(b).cmp(self.name(a)))
            })
            .unwrap_or(&g[0])
    }

    /// Each merge of family `g` and its parents. A model between two trained relatives (its
    /// distances to them add up to theirs, as a weighted average's do) is a merge of both;
    /// that distance rule is no merge-fit evidence: it stands in only for fingerprints
    /// without weight samples (older packs), where no fit can be made. Linear merges found on
    /// the weight samples (a positive two-parent combination in every sampled matrix) replace
    /// the distance rule's guess for that model, and sparse merges found by exact equality
    /// take precedence over both: their parents are the models they share values with (TIES:
    /// the base and each fine-tune).
    fn merge_parents(
        &self,
        g: &[usize],
        root: usize,
        sampled_merges: Vec<Merge>,
    ) -> BTreeMap<usize, Vec<usize>> {
        let sampled = |i: usize| self.models[i].1.samples.is_some();
        let dist = |i: usize, j: usize| self.dist(i, j);
        let close = |i: usize, j: usize| self.close(i, j);
        let related = |i: usize, j: usize| self.related(i, j);
        let mut merge_of: BTreeMap<usize, Vec<usize>> = merges(g, &dist, &close, &related)
            .into_iter()
            .filter(|(m, (x, y))| *m != root && !(sampled(*m) && sampled(*x) && sampled(*y)))
            .filter(|(m, (x, y))| self.sound_merge(*m, &[*x, *y]))
            .map(|(m, (x, y))| (m, vec![x, y]))
            .collect();
        for (m, ps) in sampled_merges {
            if m != root {
                merge_of.insert(m, ps);
            }
        }
        merge_of
    }

    /// Attaches each merge to all its parents (edges `merge`, verdict `related`), its tree
    /// parent the closest of them.
    fn attach_merges(
        &self,
        merge_of: &BTreeMap<usize, Vec<usize>>,
        root: usize,
        order: &mut Vec<usize>,
        forest: &mut Forest,
    ) {
        for (&m, ps) in merge_of {
            let near = ps
                .iter()
                .copied()
                .max_by(|&a, &b| self.close(m, a).total_cmp(&self.close(m, b)))
                .unwrap_or(root);
            forest.tree_parent[m] = Some(near);
            for &p in ps {
                if let Some(c) = self.get(m, p) {
                    let mut e = self.edge(p, m, c, "merge");
                    e.verdict = "related";
                    if !e.kinds.contains(&"merge") {
                        e.kinds.push("merge");
                    }
                    forest.edges.push(e);
                }
            }
            order.push(m);
        }
    }

    /// Prim: attaches the models of `rest` one by one, the one closest to the tree `order`
    /// first, each under its [`Self::best_parent`].
    fn attach_nearest(&self, mut rest: Vec<usize>, order: &mut Vec<usize>, forest: &mut Forest) {
        let nearest = |x: usize, order: &[usize]| {
            order
                .iter()
                .map(|&t| self.close(x, t))
                .fold(f64::NEG_INFINITY, f64::max)
        };
        while !rest.is_empty() {
            let (k, _) = rest
                .iter()
                .enumerate()
                .map(|(k, &x)| (k, nearest(x, order)))
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
                .unwrap_or((0, 0.0));
            let x = rest.remove(k);
            let p = self.best_parent(x, order, nearest(x, order));
            forest.tree_parent[x] = Some(p);
            if let Some(c) = self.get(x, p) {
                let lower = precision_rank(self.info(p).dtype.as_deref())
                    > precision_rank(self.info(x).dtype.as_deref());
                let direction = if lower { "precision" } else { "tree-order" };
                forest.edges.push(self.edge(p, x, c, direction));
            }
            order.push(x);
        }
    }

    fn parent_key(&self, x: usize, t: usize, best: f64) -> ParentKey {
        let tie = self.close(x, t) >= best - TIE_WINDOW;
        ParentKey {
            tie,
            same_depth: tie && self.info(t).blocks == self.info(x).blocks,
            precision: if tie {
                precision_rank(self.info(t).dtype.as_deref())
            } else {
                0
            },
            aligned: tie && self.get(x, t).is_some_and(aligned),
            not_gguf: tie && self.info(t).format != "gguf",
            short_name: if tie {
                usize::MAX - self.name(t).len()
            } else {
                0
            },
        }
    }

    /// The parent of `x` among the tree members `order` (`best`: the closeness of the
    /// closest): among those within the copy window of the closest, the same depth, then in
    /// the same coordinates, then of higher precision, then not a GGUF, then the shorter
    /// name, then the closer; the earliest attached on exact ties.
    fn best_parent(&self, x: usize, order: &[usize], best: f64) -> usize {
        let mut p = order[0];
        let mut pk = self.parent_key(x, p, best);
        let mut pc = self.close(x, p);
        for &t in &order[1..] {
            let k = self.parent_key(x, t, best);
            if k > pk || (k == pk && self.close(x, t) > pc) {
                p = t;
                pk = k;
                pc = self.close(x, t);
            }
        }
        p
    }

    /// The census of the models, their `families` and the `forest`'s edges.
    fn into_census(self, alpha: f64, families: Vec<Family>, forest: Forest) -> Census {
        let models = (0..self.models.len())
            .map(|i| CensusModel {
                name: self.name(i).to_string(),
                source: self.info(i).source.clone(),
                format: self.info(i).format.clone(),
                architecture: self.info(i).architecture.clone(),
                blocks: self.info(i).blocks,
                dtype: self.info(i).dtype.clone(),
                family: forest.family_of[i],
                parent: forest.tree_parent[i].map(|p| self.name(p).to_string()),
            })
            .collect();
        Census {
            schema_version: SCHEMA_VERSION,
            alpha,
            pairs_compared: self.pairs.len(),
            models,
            families,
            edges: forest.edges,
        }
    }
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

/// Box width, box height and the gaps between boxes of a family's tree drawing.
const W: f64 = 230.0;
const H: f64 = 30.0;
const GAP_X: f64 = 20.0;
const GAP_Y: f64 = 60.0;

/// Where each member of a family sits in its tree drawing: (column, depth).
struct TreeLayout<'a> {
    pos: BTreeMap<&'a str, (f64, usize)>,
    /// Columns taken (one per leaf).
    columns: f64,
}

impl<'a> TreeLayout<'a> {
    /// Depth-first from the root (then from members the tree does not reach): leaves take
    /// the next column, parents sit over their children's middle.
    fn of(c: &Census, f: &'a Family) -> Self {
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
        let mut layout = TreeLayout {
            pos: BTreeMap::new(),
            columns: 0.0,
        };
        layout.place(f.root.as_str(), 0, &kids);
        for m in &f.members {
            if !layout.pos.contains_key(m.as_str()) {
                layout.place(m.as_str(), 0, &kids);
            }
        }
        layout
    }

    fn place(&mut self, n: &'a str, depth: usize, kids: &BTreeMap<&'a str, Vec<&'a str>>) -> f64 {
        if self.pos.contains_key(n) || depth > 10_000 {
            return self.pos.get(n).map_or(0.0, |p| p.0);
        }
        self.pos.insert(n, (0.0, depth));
        let xs: Vec<f64> = kids
            .get(n)
            .map(|k| k.iter().map(|&c| self.place(c, depth + 1, kids)).collect())
            .unwrap_or_default();
        let x = if xs.is_empty() {
            let x = self.columns;
            self.columns += 1.0;
            x
        } else {
            (xs[0] + xs[xs.len() - 1]) / 2.0
        };
        self.pos.insert(n, (x, depth));
        x
    }

    /// Width and height of the drawing.
    fn size(&self) -> (f64, f64) {
        let depth = self.pos.values().map(|p| p.1).max().unwrap_or(0);
        let width = self.columns.max(1.0) * (W + GAP_X) + GAP_X;
        let height = (depth + 1) as f64 * (H + GAP_Y) + GAP_Y / 2.0;
        (width, height)
    }

    /// Top-left corner of a member's box.
    fn at(&self, n: &str) -> Option<(f64, f64)> {
        self.pos.get(n).map(|&(x, d)| {
            (
                GAP_X + x * (W + GAP_X),
                GAP_Y / 2.0 + d as f64 * (H + GAP_Y),
            )
        })
    }
}

/// One family drawn as a tree: inline SVG (no scripts, no Graphviz), the root on top, each
/// model under its tree parent, edges coloured by verdict (same-weights dashed), the extra
/// parents of a merge joined by dotted lines.
fn family_svg(c: &Census, f: &Family) -> String {
    let layout = TreeLayout::of(c, f);
    let (width, height) = layout.size();
    let mut s = format!(
        "<svg class=\"tree\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" role=\"img\" aria-label=\"family {} tree\">",
        f.id
    );
    svg_edges(&mut s, c, f, &layout);
    svg_nodes(&mut s, f, &layout);
    s.push_str("</svg>");
    s
}

/// The edges into `f`'s members, labelled with verdict (or `merge`) and closeness.
fn svg_edges(s: &mut String, c: &Census, f: &Family, layout: &TreeLayout) {
    for e in c.edges.iter().filter(|e| f.members.contains(&e.child)) {
        let (Some((px, py)), Some((cx, cy))) = (layout.at(&e.parent), layout.at(&e.child)) else {
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
}

/// One box per member, its name (the last 33 characters of a long one) inside, the full
/// name as its title.
fn svg_nodes(s: &mut String, f: &Family, layout: &TreeLayout) {
    for m in &f.members {
        let Some((x, y)) = layout.at(m) else { continue };
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
