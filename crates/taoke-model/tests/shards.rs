//! Sharded safetensors folders read exactly like the same tensors in one file.

use std::collections::BTreeMap;

use taoke_dtype::Dtype;
use taoke_model::open;

fn tensors() -> Vec<(String, Vec<u64>, Vec<u8>)> {
    (0..6u32)
        .map(|i| {
            let shape = vec![u64::from(i) + 2, 3];
            let n = shape.iter().product::<u64>() as usize;
            let bytes = (0..n)
                .flat_map(|k| ((k as f32) * 0.5 + i as f32).to_le_bytes())
                .collect();
            (format!("layers.{i}.w"), shape, bytes)
        })
        .collect()
}

fn write(path: &std::path::Path, ts: &[(String, Vec<u64>, Vec<u8>)]) {
    let refs: Vec<(&str, Dtype, &[u64], &[u8])> = ts
        .iter()
        .map(|(n, s, b)| (n.as_str(), Dtype::F32, s.as_slice(), b.as_slice()))
        .collect();
    let mut f = std::fs::File::create(path).unwrap();
    taoke_safetensors::write(&mut f, &refs, &BTreeMap::new()).unwrap();
}

#[test]
fn sharded_equals_single() {
    let ts = tensors();
    let single = tempfile::tempdir().unwrap();
    write(&single.path().join("model.safetensors"), &ts);
    let sharded = tempfile::tempdir().unwrap();
    write(
        &sharded.path().join("model-00001-of-00002.safetensors"),
        &ts[..3],
    );
    write(
        &sharded.path().join("model-00002-of-00002.safetensors"),
        &ts[3..],
    );
    let map: serde_json::Map<String, serde_json::Value> = ts
        .iter()
        .enumerate()
        .map(|(i, (n, _, _))| {
            let f = if i < 3 {
                "model-00001-of-00002.safetensors"
            } else {
                "model-00002-of-00002.safetensors"
            };
            (n.clone(), serde_json::Value::from(f))
        })
        .collect();
    std::fs::write(
        sharded.path().join("model.safetensors.index.json"),
        serde_json::json!({"metadata": {"total_size": 0}, "weight_map": map}).to_string(),
    )
    .unwrap();
    let a = open(single.path().to_str().unwrap()).unwrap();
    let b = open(sharded.path().to_str().unwrap()).unwrap();
    assert_eq!(b.files.len(), 2);
    assert_eq!(a.tensors.len(), b.tensors.len());
    let mut an: Vec<_> = a
        .tensors
        .iter()
        .map(|t| (&t.name, &t.shape, &t.dtype_name))
        .collect();
    let mut bn: Vec<_> = b
        .tensors
        .iter()
        .map(|t| (&t.name, &t.shape, &t.dtype_name))
        .collect();
    an.sort();
    bn.sort();
    assert_eq!(an, bn);
    for t in &a.tensors {
        let u = b.tensor(&t.name).unwrap();
        assert_eq!(a.read_f32(t).unwrap(), b.read_f32(u).unwrap());
    }
    assert_eq!(a.parameter_count(), b.parameter_count());

    // An index naming a missing tensor is an error that names it.
    let mut bad = map.clone();
    bad.insert("ghost".into(), "model-00001-of-00002.safetensors".into());
    std::fs::write(
        sharded.path().join("model.safetensors.index.json"),
        serde_json::json!({"weight_map": bad}).to_string(),
    )
    .unwrap();
    let e = open(sharded.path().to_str().unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("ghost"), "{e}");
    // An index pointing outside the folder is rejected.
    std::fs::write(
        sharded.path().join("model.safetensors.index.json"),
        r#"{"weight_map": {"a": "../x.safetensors"}}"#,
    )
    .unwrap();
    assert!(open(sharded.path().to_str().unwrap()).is_err());
}
