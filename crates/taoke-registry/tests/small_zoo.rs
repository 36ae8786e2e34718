//! identify and census on the small zoo (trained tiny models with known lineage).

use taoke_registry::census::census;
use taoke_registry::identify::{entries_of, identify, Options};
use taoke_registry::Fingerprint;
use taoke_zoo::{Manifest, Relation};

fn zoo() -> (Manifest, Vec<(String, Fingerprint)>) {
    let profile = taoke_zoo::Profile::Small;
    let dir = taoke_zoo::default_dir(profile);
    let manifest = taoke_zoo::build(profile, &dir, &mut |_| {}).expect("small zoo builds");
    let fps = manifest
        .models
        .iter()
        .map(|m| {
            let ck = taoke_model::open(dir.join(&m.path).to_string_lossy()).expect("open");
            (
                m.id.clone(),
                taoke_registry::fingerprint(&ck, &m.id).expect("fingerprint"),
            )
        })
        .collect();
    (manifest, fps)
}

fn related(m: &Manifest, a: &str, b: &str) -> bool {
    m.pairs
        .iter()
        .any(|p| p.a == a && p.b == b && p.relation != Relation::Independent)
}

#[test]
fn identify_every_small_zoo_model_against_the_other_roots() {
    let (manifest, fps) = zoo();
    let root = |id: &str| manifest.model(id).is_some_and(|m| m.parents.is_empty());
    let mut derived = 0;
    for (q, qfp) in &fps {
        let reg: Vec<(String, Fingerprint)> = fps
            .iter()
            .filter(|(id, _)| id != q && root(id))
            .cloned()
            .collect();
        let r = identify(
            qfp,
            &entries_of(&reg),
            &mut |i| Ok(reg[i].1.clone()),
            &Options::default(),
        )
        .unwrap();
        // Never a false ancestor.
        for m in &r.matches {
            if matches!(m.verdict, "identical" | "same-weights" | "related") {
                assert!(
                    related(&manifest, q, &m.name),
                    "{q}: false ancestor {}",
                    m.name
                );
            }
        }
        let parents = &manifest.model(q).unwrap().parents;
        if parents.is_empty() {
            assert_eq!(r.verdict, "no-known-ancestor", "{q}: {}", r.summary);
        } else {
            derived += 1;
            assert_eq!(r.verdict, "known-ancestor", "{q}");
            assert_eq!(&r.matches[0].name, &parents[0], "{q}");
            assert!(r.matches[0].log10_p_corrected.unwrap() < -6.0);
        }
    }
    assert_eq!(derived, 21);
}

#[test]
fn identify_ranks_the_parent_first_among_all_other_models() {
    let (manifest, fps) = zoo();
    for q in [
        "a1-ft-code",
        "a1-rotated",
        "a1-gguf-q4_k",
        "a2-upscaled",
        "a1-f16",
        "a1-perm-mlp",
    ] {
        let reg: Vec<(String, Fingerprint)> =
            fps.iter().filter(|(id, _)| id != q).cloned().collect();
        let qfp = &fps.iter().find(|f| f.0 == q).unwrap().1;
        let r = identify(
            qfp,
            &entries_of(&reg),
            &mut |i| Ok(reg[i].1.clone()),
            &Options::default(),
        )
        .unwrap();
        let parent = &manifest.model(q).unwrap().parents[0];
        assert_eq!(
            &r.matches[0].name,
            parent,
            "{q}: {:?}",
            r.matches
                .iter()
                .take(3)
                .map(|m| (&m.name, m.closeness))
                .collect::<Vec<_>>()
        );
        assert!(r
            .matches
            .iter()
            .all(|m| m.verdict == "independent" || related(&manifest, q, &m.name)));
    }
}

/// Against all other small-zoo models (copies and derivatives of the query included), the
/// ancestor ranks first for every derived model, and the disguised copies of a model are
/// labelled as its probable descendants, each for its own reason.
#[test]
fn identify_against_all_others_ranks_ancestors_before_descendants() {
    let (manifest, fps) = zoo();
    let mut derived = 0;
    let mut first = 0;
    let mut labels = std::collections::BTreeMap::new();
    for (q, qfp) in &fps {
        let reg: Vec<(String, Fingerprint)> =
            fps.iter().filter(|(id, _)| id != q).cloned().collect();
        let r = identify(
            qfp,
            &entries_of(&reg),
            &mut |i| Ok(reg[i].1.clone()),
            &Options::default(),
        )
        .unwrap();
        for m in &r.matches {
            if matches!(m.verdict, "identical" | "same-weights" | "related") {
                assert!(
                    related(&manifest, q, &m.name),
                    "{q}: false ancestor {}",
                    m.name
                );
            }
        }
        let parents = &manifest.model(q).unwrap().parents;
        if !parents.is_empty() {
            derived += 1;
            if parents.contains(&r.matches[0].name) {
                first += 1;
            }
        }
        if q == "a1" {
            for m in &r.matches {
                labels.insert(m.name.clone(), (m.direction, m.direction_reason.clone()));
            }
        }
        if q == "a1-gguf-q4_k" {
            assert_eq!(r.matches[0].name, "a1");
            assert_eq!(r.matches[0].direction, Some("probable-ancestor"));
        }
    }
    assert_eq!((derived, first), (21, 21));
    let reason = |name: &str| {
        let (d, why) = labels[name].clone();
        assert_eq!(d, Some("probable-descendant"), "{name}: {why:?}");
        why.unwrap()
    };
    assert!(reason("a1-noise700").contains("quadrature"));
    assert!(reason("a1-renamed-yi").contains("renamed to the yi scheme"));
    assert!(reason("a1-rotated").contains("coordinates"));
    assert!(reason("a1-bf16").contains("lower-precision copy"));
    assert!(reason("a1-gguf-f32").contains("GGUF conversion"));
    assert_eq!(labels["a1-ft-code"].0, Some("ancestor-or-relative"));
}

#[test]
fn census_of_the_small_zoo_recovers_families_and_parents() {
    let (manifest, fps) = zoo();
    let c = census(&fps, 1e-6).unwrap();
    // Families: a1 (21 models with its derivatives), a2 (+ upscaled), a4, b1.
    let mut sizes: Vec<usize> = c.families.iter().map(|f| f.members.len()).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [1, 1, 2, 21]);
    let mut right = 0;
    for m in &manifest.models {
        let got = c
            .models
            .iter()
            .find(|x| x.name == m.id)
            .unwrap()
            .parent
            .clone();
        if got.as_ref() == m.parents.first() {
            right += 1;
        }
    }
    assert_eq!(
        right,
        manifest.models.len(),
        "{}",
        serde_json::to_string_pretty(&c.edges).unwrap()
    );
}
