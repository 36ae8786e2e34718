//! A TIES merge and the models it contains: distances cannot orient base, fine-tunes and
//! merge (a near-parallelogram), exact equality of the sampled weights can.

mod support;

use support::*;
use taoke_registry::identify::{entries_of, identify, Identification, Options};
use taoke_registry::samples::unchanged_share;
use taoke_registry::Fingerprint;

type Tensors = Vec<Tensor>;

/// `base` plus the changes of `x` and `y` from it.
fn plus(base: &Tensors, x: &Tensors, y: &Tensors) -> Tensors {
    base.iter()
        .zip(x.iter().zip(y))
        .map(|((n, s, b), ((_, _, x), (_, _, y)))| {
            let v = b
                .iter()
                .zip(x.iter().zip(y))
                .map(|(b, (x, y))| x + y - b)
                .collect();
            (n.clone(), s.clone(), v)
        })
        .collect()
}

/// Base, two "fine-tunes" (every weight moved; as two fine-tunes of one base usually do, they
/// share part of their change) and their TIES merge at density 0.3.
fn family() -> Vec<(String, Fingerprint)> {
    let base = tiny_tensors(1, 0.0, 0);
    let common = tiny_tensors(1, 0.04, 10);
    let ft_a = plus(&common, &tiny_tensors(1, 0.08, 11), &base);
    let ft_b = plus(&common, &tiny_tensors(1, 0.08, 12), &base);
    let ties = ties_merge(&base, &[&ft_a, &ft_b], 0.3);
    [
        ("base", &base),
        ("ft-a", &ft_a),
        ("ft-b", &ft_b),
        ("merge-ties", &ties),
    ]
    .into_iter()
    .map(|(n, t)| (n.to_owned(), tensors_fingerprint(t, n)))
    .collect()
}

fn identify_among(fps: &[(String, Fingerprint)], query: &str) -> Identification {
    let q = &fps.iter().find(|f| f.0 == query).unwrap().1;
    let reg: Vec<(String, Fingerprint)> = fps.iter().filter(|f| f.0 != query).cloned().collect();
    identify(
        q,
        &entries_of(&reg),
        &mut |i| Ok(reg[i].1.clone()),
        &Options::default(),
    )
    .unwrap()
}

fn share(fps: &[(String, Fingerprint)], a: &str, b: &str) -> f64 {
    let get = |n: &str| fps.iter().find(|f| f.0 == n).unwrap().1.samples.clone();
    unchanged_share(&get(a).unwrap(), &get(b).unwrap())
        .unwrap()
        .unchanged
}

#[test]
fn exact_shares_of_a_ties_merge() {
    let fps = family();
    // Training moves every weight; the merge keeps about half at the base, a fifth at each
    // fine-tune.
    assert!(share(&fps, "base", "ft-a") < 0.01);
    assert!(share(&fps, "ft-a", "ft-b") < 0.01);
    let b = share(&fps, "merge-ties", "base");
    assert!((0.4..0.6).contains(&b), "merge vs base {b}");
    for ft in ["ft-a", "ft-b"] {
        let s = share(&fps, "merge-ties", ft);
        assert!((0.15..0.3).contains(&s), "merge vs {ft} {s}");
    }
    // A fingerprint round trip keeps the samples bit for bit.
    let fp = &fps[3].1;
    assert_eq!(
        &Fingerprint::from_bytes(&fp.to_bytes().unwrap(), "m.fp").unwrap(),
        fp
    );
}

#[test]
fn the_ties_merge_is_a_descendant_of_the_fine_tune_it_contains() {
    let fps = family();
    let r = identify_among(&fps, "ft-a");
    assert_eq!(r.matches[0].name, "base", "{:#?}", r.matches);
    let m = r.matches.iter().find(|m| m.name == "merge-ties").unwrap();
    assert_eq!(m.direction, Some("probable-descendant"));
    assert!(
        m.direction_reason
            .as_deref()
            .unwrap()
            .contains("bit-identical"),
        "{:?}",
        m.direction_reason
    );
    // The merge itself: every model it contains is a probable ancestor.
    let r = identify_among(&fps, "merge-ties");
    for m in &r.matches {
        assert_eq!(m.direction, Some("probable-ancestor"), "{}", m.name);
    }
    // The base sees the merge as a descendant too.
    let r = identify_among(&fps, "base");
    let m = r.matches.iter().find(|m| m.name == "merge-ties").unwrap();
    assert_eq!(m.direction, Some("probable-descendant"));
}

/// Without the weight samples (fingerprints of `anchored-units/2`), the fine-tune's closest
/// relative is the merge that contains it, and nothing orients them: the evidence above is
/// what puts the base first. Mixed registries work, without that evidence.
#[test]
fn without_samples_the_merge_outranks_the_base() {
    let mut fps = family();
    for f in &mut fps {
        f.1.samples = None;
        // Written and read back as `/2`.
        let bytes = f.1.to_bytes().unwrap();
        assert!(bytes.windows(16).any(|w| w == b"anchored-units/2"));
        assert_eq!(Fingerprint::from_bytes(&bytes, "x.fp").unwrap(), f.1);
    }
    let r = identify_among(&fps, "ft-a");
    assert_eq!(r.matches[0].name, "merge-ties", "{:#?}", r.matches);
    // census hangs a fine-tune from the merge that contains it.
    let c = taoke_registry::census::census(&fps, 1e-6).unwrap();
    let ft_a = c.models.iter().find(|m| m.name == "ft-a").unwrap();
    assert_eq!(ft_a.parent.as_deref(), Some("merge-ties"));
    assert!(r.matches.iter().all(|m| m.direction_reason.is_none()
        || !m
            .direction_reason
            .as_deref()
            .unwrap()
            .contains("bit-identical")));
    // A `/3` query against `/2` entries: compared on what both hold.
    let full = family();
    let q = &full[1].1;
    let reg: Vec<(String, Fingerprint)> = fps.iter().filter(|f| f.0 != "ft-a").cloned().collect();
    let r = identify(
        q,
        &entries_of(&reg),
        &mut |i| Ok(reg[i].1.clone()),
        &Options::default(),
    )
    .unwrap();
    assert_eq!(r.matches[0].name, "merge-ties");
    assert_eq!(r.matches[0].verdict, "related");
}

/// census: the merge gets the base and both fine-tunes as parents, and the fine-tunes hang
/// from the base, not from the merge that contains them.
#[test]
fn census_gives_the_ties_merge_its_three_parents() {
    let fps = family();
    let c = taoke_registry::census::census(&fps, 1e-6).unwrap();
    let parent = |n: &str| {
        c.models
            .iter()
            .find(|m| m.name == n)
            .unwrap()
            .parent
            .clone()
    };
    assert_eq!(parent("base"), None);
    assert_eq!(parent("ft-a").as_deref(), Some("base"));
    assert_eq!(parent("ft-b").as_deref(), Some("base"));
    let mut merge_parents: Vec<&str> = c
        .edges
        .iter()
        .filter(|e| e.child == "merge-ties")
        .map(|e| {
            assert_eq!(e.direction, "merge");
            e.parent.as_str()
        })
        .collect();
    merge_parents.sort_unstable();
    assert_eq!(merge_parents, ["base", "ft-a", "ft-b"]);
}

/// identify's `merge_of`: on the weight samples, the TIES merge is a sparse merge containing
/// the base, a linear merge of the two fine-tunes is their linear merge, and neither the base
/// nor a fine-tune is called a merge (a fine-tune is 2·linear − the other: no interpolation);
/// census gives the linear merge both fine-tunes as parents.
#[test]
fn identify_names_the_parents_of_a_merge() {
    let mut fps = family();
    let tensors = |seed: u64| {
        let base = tiny_tensors(1, 0.0, 0);
        let common = tiny_tensors(1, 0.04, 10);
        plus(&common, &tiny_tensors(1, 0.08, seed), &base)
    };
    let (ft_a, ft_b) = (tensors(11), tensors(12));
    let linear: Tensors = ft_a
        .iter()
        .zip(&ft_b)
        .map(|((n, s, x), (_, _, y))| {
            let v = x.iter().zip(y).map(|(p, q)| 0.5 * p + 0.5 * q).collect();
            (n.clone(), s.clone(), v)
        })
        .collect();
    fps.push((
        "merge-linear".to_owned(),
        tensors_fingerprint(&linear, "merge-linear"),
    ));
    let r = identify_among(&fps, "merge-ties");
    let m = r.merge_of.expect("the TIES merge is a merge");
    assert_eq!(m.method, taoke_evidence::MergeMethod::Sparse);
    assert!(m.parents.contains(&"base".to_owned()), "{m:?}");
    assert!(
        r.summary.contains("sparse (TIES/DARE) merge"),
        "{}",
        r.summary
    );
    let r = identify_among(&fps, "merge-linear");
    let m = r.merge_of.expect("the linear merge is a merge");
    assert_eq!(m.method, taoke_evidence::MergeMethod::Linear);
    let mut parents = m.parents.to_vec();
    parents.sort();
    assert_eq!(parents, ["ft-a", "ft-b"]);
    assert!(m.weights.iter().all(|w| (0.45..0.55).contains(w)), "{m:?}");
    for q in ["base", "ft-a", "ft-b"] {
        assert!(identify_among(&fps, q).merge_of.is_none(), "{q}");
    }
    // census attaches the linear merge to both fine-tunes, and the fine-tunes to the base.
    let c = taoke_registry::census::census(&fps, 1e-6).unwrap();
    let mut parents: Vec<&str> = c
        .edges
        .iter()
        .filter(|e| e.child == "merge-linear")
        .map(|e| {
            assert_eq!(e.direction, "merge");
            e.parent.as_str()
        })
        .collect();
    parents.sort_unstable();
    assert_eq!(parents, ["ft-a", "ft-b"]);
    for ft in ["ft-a", "ft-b"] {
        let e = c.edges.iter().find(|e| e.child == ft).unwrap();
        assert_eq!(e.parent, "base", "{ft}");
    }
}
