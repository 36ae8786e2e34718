//! Sparse updates (issue 5, kind `merge`): a TIES or DARE merge resets most entries of each
//! task vector to the base, so many weights of every changed matrix stay bit-identical, while
//! training moves every weight. Built on stories260K (llama2.c) written to safetensors:
//!
//! - a dense update (noise of 10 % of each block matrix's RMS on every weight) is a fine-tune,
//!   not a merge;
//! - the same update kept on about half of the weights (the rest reset to the base) is a merge;
//! - in bf16 storage, an update too small for bf16 to show on large weights leaves many of
//!   them bit-identical, yet it is dense: the share of unchanged weights is only counted where
//!   the storage could show a typical change, so it is no sparse update;
//! - with context models (`compare_with`), a linear or spherical merge of two "fine-tunes" and
//!   a TIES merge of them on their base are named merges from a third model, while the base
//!   and the fine-tunes are not (merges found by `context::merge_finding`).

use std::collections::BTreeMap;
use std::path::Path;

use taoke_dtype::Dtype;
use taoke_evidence::{
    compare, compare_with, context::merge_finding, triage, view::ModelView, Context, Direction,
    Kind, Options, Verdict,
};
use taoke_test::{model_or_skip, shared_model, Noise};

#[derive(Clone)]
struct Tensor {
    name: String,
    shape: Vec<u64>,
    values: Vec<f32>,
}

/// Round to nearest even bf16, as its stored 16 bits.
fn bf16_bits(x: f32) -> u16 {
    let b = x.to_bits();
    let round = 0x7fff + ((b >> 16) & 1);
    (b.wrapping_add(round) >> 16) as u16
}

fn write(path: &Path, tensors: &[Tensor], dtype: Dtype) {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|t| match dtype {
            Dtype::BF16 => t
                .values
                .iter()
                .flat_map(|&x| bf16_bits(x).to_le_bytes())
                .collect(),
            _ => t.values.iter().flat_map(|x| x.to_le_bytes()).collect(),
        })
        .collect();
    let list: Vec<(&str, Dtype, &[u64], &[u8])> = tensors
        .iter()
        .zip(&bytes)
        .map(|(t, b)| (t.name.as_str(), dtype, t.shape.as_slice(), b.as_slice()))
        .collect();
    let mut out = Vec::new();
    taoke_safetensors::write(&mut out, &list, &BTreeMap::new()).expect("write safetensors");
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, out).expect("write file");
}

/// The model's tensors.
fn load(bin: &Path) -> Vec<Tensor> {
    let ck = taoke_model::open(bin.to_str().expect("utf-8")).expect("open stories260K");
    ck.tensors
        .iter()
        .filter(|t| !t.name.starts_with("freq_cis"))
        .map(|t| Tensor {
            name: t.name.clone(),
            shape: t.shape.clone(),
            values: ck.read_f32(t).expect("read tensor"),
        })
        .collect()
}

/// Every block matrix plus `scale` × its RMS × noise, on the weights where `keep` holds.
fn updated(
    base: &[Tensor],
    scale: f32,
    seed: u64,
    keep: impl Fn(&mut Noise) -> bool,
) -> Vec<Tensor> {
    let mut noise = Noise(seed);
    let mut mask = Noise(seed ^ 0x5eed);
    base.iter()
        .map(|t| {
            let block_matrix = t.shape.len() == 2 && t.name.starts_with("layers.");
            if !block_matrix {
                return t.clone();
            }
            let rms = (t.values.iter().map(|v| v * v).sum::<f32>() / t.values.len() as f32).sqrt();
            let values = t
                .values
                .iter()
                .map(|&v| {
                    let d = scale * rms * noise.next();
                    if keep(&mut mask) {
                        v + d
                    } else {
                        v
                    }
                })
                .collect();
            Tensor {
                values,
                ..t.clone()
            }
        })
        .collect()
}

fn open(path: &Path) -> taoke_model::Checkpoint {
    taoke_model::open(path.to_str().expect("utf-8")).expect("open")
}

/// Median share of unchanged weights over the changed block matrices, and the median share of
/// bit-identical weights (no resolution filter).
fn unchanged(a: &Path, b: &Path) -> (f64, f64) {
    let (ca, cb) = (open(a), open(b));
    let (va, vb) = (ModelView::new(&ca), ModelView::new(&cb));
    let pairs = triage::pair_deltas(&va, &vb, 1 << 26, taoke_evidence::LARGE);
    let mut us: Vec<f64> = pairs
        .iter()
        .filter(|p| p.block.is_some() && !p.role.is_norm() && !p.equal)
        .map(|p| p.unchanged.expect("float storage"))
        .collect();
    assert!(us.len() >= 10, "block matrices compared: {}", us.len());
    us.sort_by(f64::total_cmp);
    let (ta, tb) = (load(a), load(b));
    let mut raw: Vec<f64> = ta
        .iter()
        .zip(&tb)
        .filter(|(x, y)| {
            x.shape.len() == 2 && x.name.starts_with("layers.") && x.values != y.values
        })
        .map(|(x, y)| {
            let same = x
                .values
                .iter()
                .zip(&y.values)
                .filter(|(p, q)| p == q)
                .count();
            same as f64 / x.values.len() as f64
        })
        .collect();
    raw.sort_by(f64::total_cmp);
    (us[us.len() / 2], raw[raw.len() / 2])
}

#[test]
fn sparse_updates_are_merges_and_dense_ones_are_not() {
    let bin = model_or_skip!(shared_model("stories260K/stories260K.bin"));
    let dir = tempfile::tempdir().expect("tempdir");
    let base = load(&bin);
    let p = |name: &str| dir.path().join(name).join("model.safetensors");
    write(&p("base"), &base, Dtype::F32);
    write(&p("dense"), &updated(&base, 0.1, 1, |_| true), Dtype::F32);
    write(
        &p("sparse"),
        &updated(&base, 0.1, 1, |m| m.next() > 0.0),
        Dtype::F32,
    );

    let (u_dense, _) = unchanged(&p("base"), &p("dense"));
    let (u_sparse, _) = unchanged(&p("base"), &p("sparse"));
    assert!(u_dense < 0.01, "dense update: {u_dense}");
    assert!((0.4..0.6).contains(&u_sparse), "half reset: {u_sparse}");

    let opts = Options::default();
    let dense = compare(&open(&p("base")), &open(&p("dense")), &opts).expect("compare");
    assert_eq!(dense.verdict, Verdict::Related);
    assert!(dense.kinds.contains(&Kind::FineTune), "{:?}", dense.kinds);
    assert!(!dense.kinds.contains(&Kind::Merge), "{:?}", dense.kinds);
    let sparse = compare(&open(&p("base")), &open(&p("sparse")), &opts).expect("compare");
    assert_eq!(sparse.verdict, Verdict::Related);
    assert!(sparse.kinds.contains(&Kind::Merge), "{:?}", sparse.kinds);
    assert!(
        sparse
            .evidence
            .iter()
            .any(|e| e.test == taoke_evidence::TestId::SparseUpdate),
        "the evidence names the sparse update"
    );
}

#[test]
fn updates_below_bf16_resolution_are_not_sparse() {
    let bin = model_or_skip!(shared_model("stories260K/stories260K.bin"));
    let dir = tempfile::tempdir().expect("tempdir");
    let base = load(&bin);
    let p = |name: &str| dir.path().join(name).join("model.safetensors");
    write(&p("base"), &base, Dtype::BF16);
    // 1 % of the RMS: below half a bf16 step (2⁻⁸ relative) on every weight above ~1.3 RMS
    // and on many others.
    write(&p("light"), &updated(&base, 0.01, 2, |_| true), Dtype::BF16);
    let (u, raw) = unchanged(&p("base"), &p("light"));
    assert!(raw > 0.15, "many weights bit-identical in bf16: {raw}");
    assert!(u < 0.05, "but not where bf16 can show the change: {u}");
}

/// Tensor-wise combination of two models.
fn combine(a: &[Tensor], b: &[Tensor], f: impl Fn(&[f32], &[f32]) -> Vec<f32>) -> Vec<Tensor> {
    a.iter()
        .zip(b)
        .map(|(x, y)| Tensor {
            values: f(&x.values, &y.values),
            ..x.clone()
        })
        .collect()
}

fn lerp(x: &[f32], y: &[f32]) -> Vec<f32> {
    x.iter().zip(y).map(|(p, q)| 0.5 * p + 0.5 * q).collect()
}

fn slerp(x: &[f32], y: &[f32]) -> Vec<f32> {
    let d = |u: &[f32], v: &[f32]| {
        u.iter()
            .zip(v)
            .map(|(p, q)| *p as f64 * *q as f64)
            .sum::<f64>()
    };
    let cos = (d(x, y) / (d(x, x) * d(y, y)).sqrt().max(1e-30)).clamp(-1.0, 1.0);
    let om = cos.acos();
    let c = if om < 1e-4 {
        0.5
    } else {
        (0.5 * om).sin() / om.sin()
    };
    x.iter()
        .zip(y)
        .map(|(p, q)| (c * *p as f64 + c * *q as f64) as f32)
        .collect()
}

/// TIES on `base` with task vectors from `a` and `b`: keep each task vector's largest 30 % of
/// entries, elect the sign of their sum, average the agreeing kept entries.
fn ties(base: &[Tensor], a: &[Tensor], b: &[Tensor]) -> Vec<Tensor> {
    let trim = |t: Vec<f32>| -> Vec<f32> {
        let mut mags: Vec<f32> = t.iter().map(|v| v.abs()).collect();
        mags.sort_by(f32::total_cmp);
        let cut = mags[(mags.len() as f64 * 0.7) as usize];
        t.into_iter()
            .map(|v| if v.abs() >= cut { v } else { 0.0 })
            .collect()
    };
    base.iter()
        .zip(a.iter().zip(b))
        .map(|(o, (x, y))| {
            if o.values == x.values && o.values == y.values {
                return o.clone();
            }
            let ta = trim(x.values.iter().zip(&o.values).map(|(p, q)| p - q).collect());
            let tb = trim(y.values.iter().zip(&o.values).map(|(p, q)| p - q).collect());
            let values = o
                .values
                .iter()
                .zip(ta.iter().zip(&tb))
                .map(|(&w, (&u, &v))| {
                    let sign = (u + v).signum();
                    let kept: Vec<f32> = [u, v]
                        .into_iter()
                        .filter(|d| *d != 0.0 && d.signum() == sign)
                        .collect();
                    if kept.is_empty() {
                        w
                    } else {
                        w + kept.iter().sum::<f32>() / kept.len() as f32
                    }
                })
                .collect();
            Tensor {
                values,
                ..o.clone()
            }
        })
        .collect()
}

#[test]
fn merges_are_named_from_a_third_model() {
    let bin = model_or_skip!(shared_model("stories260K/stories260K.bin"));
    let dir = tempfile::tempdir().expect("tempdir");
    let base = load(&bin);
    let f1 = updated(&base, 0.1, 11, |_| true);
    let f2 = updated(&base, 0.1, 12, |_| true);
    let p = |name: &str| dir.path().join(name).join("model.safetensors");
    write(&p("base"), &base, Dtype::F32);
    write(&p("f1"), &f1, Dtype::F32);
    write(&p("f2"), &f2, Dtype::F32);
    write(&p("linear"), &combine(&f1, &f2, lerp), Dtype::F32);
    write(&p("slerp"), &combine(&f1, &f2, slerp), Dtype::F32);
    write(&p("linear-bf16"), &combine(&f1, &f2, lerp), Dtype::BF16);
    write(&p("ties"), &ties(&base, &f1, &f2), Dtype::F32);
    let names = ["base", "f1", "f2", "linear", "slerp", "linear-bf16", "ties"];
    let cks: Vec<taoke_model::Checkpoint> = names.iter().map(|n| open(&p(n))).collect();
    let ck = |n: &str| &cks[names.iter().position(|x| *x == n).expect("model")];
    let ctx = Context::new(names.iter().map(|n| (n.to_string(), ck(n))).collect());
    let opts = Options::default();

    // Alone, a linear merge against its base looks like a fine-tune.
    let alone = compare(ck("linear"), ck("base"), &opts).expect("compare");
    assert_eq!(alone.verdict, Verdict::Related);
    assert!(!alone.kinds.contains(&Kind::Merge), "{:?}", alone.kinds);

    for (merge, method) in [
        ("linear", "linear"),
        ("slerp", "linear"),
        ("linear-bf16", "linear"),
        ("ties", "sparse"),
    ] {
        let f = merge_finding(&ctx, ck(merge), &[]).unwrap_or_else(|| panic!("{merge}"));
        assert_eq!(f.method.as_str(), method, "{merge}: {f:?}");
        if method == "linear" {
            let mut parents = f.parents.to_vec();
            parents.sort();
            assert_eq!(parents, ["f1", "f2"], "{merge}: {f:?}");
            assert!(f.residual < 0.05, "{merge}: {f:?}");
            assert!(f.weights.iter().all(|w| (0.45..0.55).contains(w)), "{f:?}");
        } else {
            assert!(f.parents.contains(&"base".to_string()), "{f:?}");
        }
        let c = compare_with(ck(merge), ck("base"), &opts, &ctx).expect("compare");
        assert_eq!(c.verdict, Verdict::Related, "{merge}");
        assert!(c.kinds.contains(&Kind::Merge), "{merge}: {:?}", c.kinds);
        assert!(
            c.evidence
                .iter()
                .any(|e| e.test == taoke_evidence::TestId::MergeFit),
            "{merge}"
        );
        // The decisive sentence names the merge (from the context, or from the pair alone
        // for the TIES merge against its base).
        assert!(c.decisive.contains("merge"), "{}", c.decisive);
        if method == "linear" {
            assert!(c.decisive.contains("A is a linear or spherical merge of f"));
        }
    }
    // The parents and the base are no merges, and a pair of them names none.
    for n in ["base", "f1", "f2"] {
        assert_eq!(merge_finding(&ctx, ck(n), &[]), None, "{n}");
    }
    let siblings = compare_with(ck("f1"), ck("f2"), &opts, &ctx).expect("compare");
    assert_eq!(siblings.verdict, Verdict::Related);
    assert!(
        !siblings.kinds.contains(&Kind::Merge),
        "{:?}",
        siblings.kinds
    );
    // A merge against one of its parents: made from it.
    let child = compare_with(ck("linear"), ck("f1"), &opts, &ctx).expect("compare");
    assert!(child.kinds.contains(&Kind::Merge));
    assert_eq!(child.direction, Direction::AFromB);
}
