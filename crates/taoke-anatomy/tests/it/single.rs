//! Roles from one model alone ([`taoke_anatomy::infer_single`]) on real checkpoints whose
//! names are hidden: every tensor renamed to an opaque name and the order shuffled, so only
//! shapes and values are left. The ground truth is the anatomy of the original names.

use std::collections::BTreeMap;

use taoke_anatomy::{
    analyze, infer_single, AnatomyInput, Role, SourceError, TensorDesc, TensorSource,
};

use crate::common::{load, Loaded};

/// A checkpoint seen through opaque names in a shuffled order.
struct Opaque<'a> {
    inner: &'a Loaded,
    /// Shuffled position → original index.
    order: Vec<usize>,
    tensors: Vec<TensorDesc>,
}

impl<'a> Opaque<'a> {
    fn new(inner: &'a Loaded, seed: u64) -> Self {
        let n = inner.tensors.len();
        let mut order: Vec<usize> = (0..n).collect();
        let mut x = seed | 1;
        for i in (1..n).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            order.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let tensors = order
            .iter()
            .enumerate()
            .map(|(k, &i)| TensorDesc::new(format!("w.x{k:04x}"), inner.tensors[i].shape.clone()))
            .collect();
        Opaque {
            inner,
            order,
            tensors,
        }
    }
}

impl TensorSource for Opaque<'_> {
    fn read_f32(&self, index: usize) -> Result<Vec<f32>, SourceError> {
        self.inner.read_f32(self.order[index])
    }

    fn read_rows_f32(
        &self,
        index: usize,
        cols: u64,
        rows: &[u64],
    ) -> Result<Vec<f32>, SourceError> {
        let ck = &self.inner.ckpt;
        let t = &ck.tensors[self.order[index]];
        let mut out = vec![0f32; rows.len() * cols as usize];
        for (k, &r) in rows.iter().enumerate() {
            let c = cols as usize;
            ck.read_rows(t, r, 1, &mut out[k * c..(k + 1) * c])?;
        }
        Ok(out)
    }
}

/// Role class of a ground-truth role, for the per-class tally.
fn class(r: Role) -> Option<&'static str> {
    Some(match r {
        Role::AttnQ | Role::AttnO => "q/o",
        Role::AttnK | Role::AttnV => "k/v",
        Role::MlpGate | Role::MlpUp => "gate/up",
        Role::MlpDown => "down",
        Role::AttnNorm | Role::FfnNorm => "block norms",
        Role::FinalNorm => "final norm",
        _ => return None,
    })
}

/// Per class: (right, of them undecided, wrong); plus the block matrices left unknown.
pub struct Tally {
    pub classes: BTreeMap<&'static str, (usize, usize, usize)>,
    pub unknown_matrices: usize,
}

impl Tally {
    pub fn right(&self, c: &str) -> f64 {
        let (r, _, w) = self.classes.get(c).copied().unwrap_or_default();
        r as f64 / (r + w).max(1) as f64
    }
}

fn measure(l: &Loaded, seed: u64) -> Tally {
    let truth = l.anatomy();
    let op = Opaque::new(l, seed);
    let config = l.ckpt.config.as_ref();
    let inf = infer_single(&op.tensors, config, &op)
        .expect("read")
        .expect("skeleton found");
    let mut hidden = analyze(&AnatomyInput {
        tensors: &op.tensors,
        config,
        ..Default::default()
    });
    hidden.apply_single(&inf);
    let by_index: BTreeMap<usize, _> = inf.roles.iter().map(|r| (r.index, r)).collect();
    let mut classes: BTreeMap<&'static str, (usize, usize, usize)> = BTreeMap::new();
    let mut unknown_matrices = 0;
    for (k, &i) in op.order.iter().enumerate() {
        let gt = truth.tensors[i].canonical;
        if gt.param != taoke_anatomy::Param::Weight {
            continue;
        }
        if gt.role.is_linear()
            && gt.block.is_some()
            && hidden.tensors[k].canonical.role == Role::Unknown
        {
            unknown_matrices += 1;
        }
        let Some(c) = class(gt.role) else { continue };
        let e = classes.entry(c).or_default();
        match by_index.get(&k) {
            Some(r) if r.role == gt.role => {
                e.0 += 1;
                e.1 += usize::from(!r.decided());
            }
            _ => e.2 += 1,
        }
    }
    eprintln!(
        "{}: layers {} hd {:?} gated {} notes {:?}",
        l.ckpt.path.display(),
        inf.layers,
        inf.head_dim,
        inf.gated,
        inf.notes
    );
    for (c, (r, u, w)) in &classes {
        eprintln!("  {c:12} right {r:3} (margin < 1: {u:3})  wrong {w:3}");
    }
    Tally {
        classes,
        unknown_matrices,
    }
}

#[test]
fn stories260k_opaque_roles() {
    let Some(p) = taoke_test::shared_model("stories260K/tinyllamas-stories-260k-f32.gguf") else {
        return;
    };
    let t = measure(&load(&p), 7);
    assert_eq!(t.unknown_matrices, 0);
    for c in ["q/o", "down", "final norm"] {
        assert_eq!(t.right(c), 1.0, "{c}");
    }
}

/// Prints the tally for the checkpoints listed in `SINGLE_PATHS` (comma-separated): the
/// accuracy figures of the report.
#[test]
#[ignore]
fn measure_paths() {
    let list = std::env::var("SINGLE_PATHS").unwrap_or_default();
    for p in list.split(',').filter(|p| !p.is_empty()) {
        let t = measure(&load(std::path::Path::new(p)), 11);
        eprintln!("  unknown block matrices: {}", t.unknown_matrices);
    }
}
