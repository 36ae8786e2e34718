use half::{bf16, f16};
use taoke_dtype::Dtype;
use taoke_pytorch::builder::{CheckpointBuilder, PyValue, TensorSpec};
use taoke_pytorch::{parse, Error};

use crate::util::{f32_bytes, find, values};

fn od(items: Vec<(&str, PyValue)>) -> PyValue {
    PyValue::OrderedDict(items.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}
fn dict(items: Vec<(&str, PyValue)>) -> PyValue {
    PyValue::Dict(items.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// One checkpoint with F32, F16, BF16 and I64 tensors.
fn mixed(b: &mut CheckpointBuilder) -> PyValue {
    let w = b.tensor(
        Dtype::F32,
        &[2, 3],
        f32_bytes(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.5]),
    );
    let h: Vec<u8> = [0.5f32, -2.0, 65504.0, 1e-3]
        .iter()
        .flat_map(|&v| f16::from_f32(v).to_le_bytes())
        .collect();
    let h = b.tensor(Dtype::F16, &[4], h);
    let bf: Vec<u8> = [1.0f32, -1.5, 3.0e38, 0.25]
        .iter()
        .flat_map(|&v| bf16::from_f32(v).to_le_bytes())
        .collect();
    let bf = b.tensor(Dtype::BF16, &[2, 2], bf);
    let ids: Vec<u8> = [-1i64, 5, 1 << 40]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let ids = b.tensor(Dtype::I64, &[3], ids);
    od(vec![("w", w), ("h", h), ("bf", bf), ("position_ids", ids)])
}

#[test]
fn dtypes_shapes_and_values_round_trip() {
    let mut b = CheckpointBuilder::new();
    let root = mixed(&mut b);
    let file = b.build(&root);
    let c = parse(&file).expect("parses");
    assert_eq!(c.folder, "archive");
    assert_eq!(c.version, Some(3));
    let names: Vec<&str> = c.tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["w", "h", "bf", "position_ids"]);
    let dtypes: Vec<Dtype> = c.tensors.iter().map(|t| t.dtype).collect();
    assert_eq!(dtypes, [Dtype::F32, Dtype::F16, Dtype::BF16, Dtype::I64]);
    assert_eq!(c.tensors[0].shape, [2, 3]);
    assert_eq!(c.tensors[0].strides, [3, 1]);
    assert_eq!(c.tensors[2].shape, [2, 2]);
    assert!(c.tensors.iter().all(|t| t.is_contiguous()));
    assert_eq!(c.storages.len(), 4);
    for s in &c.storages {
        assert_eq!(
            s.offset % 64,
            0,
            "storage {} not 64-byte aligned",
            s.decl.key
        );
    }
    assert_eq!(c.storages[3].decl.torch_dtype, "torch.int64");
    assert_eq!(c.storages[3].decl.numel, 3);
    assert_eq!(c.storages[3].len, 24);
    assert_eq!(
        values(&file, &c, find(&c, "w")),
        [0.0, 1.0, 2.0, 3.0, 4.0, 5.5]
    );
    assert_eq!(
        values(&file, &c, find(&c, "h")),
        [0.5, -2.0, 65504.0, f16::from_f32(1e-3).to_f32()]
    );
    assert_eq!(
        values(&file, &c, find(&c, "bf")),
        [1.0, -1.5, bf16::from_f32(3.0e38).to_f32(), 0.25]
    );
    assert_eq!(
        values(&file, &c, find(&c, "position_ids")),
        [-1.0, 5.0, 1099511627776.0]
    );
}

#[test]
fn zip64_and_deflated_pickle_give_the_same_tensors() {
    let mut b = CheckpointBuilder::new();
    let root = mixed(&mut b);
    let plain = parse(&b.build(&root)).expect("plain");
    b.zip64 = true;
    b.deflate_pickle = true;
    let file = b.build(&root);
    let c = parse(&file).expect("zip64 + deflate");
    assert_eq!(c.tensors, plain.tensors);
    assert_eq!(
        values(&file, &c, find(&c, "w")),
        [0.0, 1.0, 2.0, 3.0, 4.0, 5.5]
    );
}

#[test]
fn transposed_view_and_storage_offset() {
    let mut b = CheckpointBuilder::new();
    let s = b.storage(Dtype::F32, f32_bytes(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]));
    // The transpose of the 2x3 matrix [[0,1,2],[3,4,5]].
    let t = TensorSpec {
        storage: s,
        dtype: Dtype::F32,
        offset: 0,
        shape: vec![3, 2],
        strides: vec![1, 3],
        parameter: false,
    };
    let s2 = b.storage(
        Dtype::F32,
        f32_bytes(&(0..10).map(|i| i as f32).collect::<Vec<_>>()),
    );
    let off = TensorSpec::contiguous(s2, Dtype::F32, 5, &[2, 2]);
    let root = od(vec![
        ("t", PyValue::Tensor(t)),
        ("off", PyValue::Tensor(off)),
    ]);
    let file = b.build(&root);
    let c = parse(&file).expect("parses");
    let t = find(&c, "t");
    assert_eq!(
        (t.shape.as_slice(), t.strides.as_slice()),
        (&[3u64, 2][..], &[1u64, 3][..])
    );
    assert!(!t.is_contiguous());
    assert_eq!(values(&file, &c, t), [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    let o = find(&c, "off");
    assert_eq!(o.storage_offset_elems, 5);
    assert_eq!(o.storage_elems, 10);
    assert!(o.is_contiguous());
    assert_eq!(values(&file, &c, o), [5.0, 6.0, 7.0, 8.0]);
}

#[test]
fn tensors_sharing_one_storage() {
    let mut b = CheckpointBuilder::new();
    let s = b.storage(Dtype::F32, f32_bytes(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
    let emb = TensorSpec::contiguous(s, Dtype::F32, 0, &[3, 2]);
    let head = emb.clone(); // tied weights: a second tensor object over the same storage
    let tail = TensorSpec::contiguous(s, Dtype::F32, 4, &[2]);
    let root = od(vec![
        ("embed.weight", PyValue::Tensor(emb)),
        ("lm_head.weight", PyValue::Tensor(head)),
        ("tail", PyValue::Tensor(tail)),
    ]);
    let file = b.build(&root);
    let c = parse(&file).expect("parses");
    assert_eq!(c.storages.len(), 1);
    assert_eq!(c.tensors.len(), 3);
    assert!(c
        .tensors
        .iter()
        .all(|t| t.storage_index == 0 && t.storage_key == "0"));
    assert_eq!(
        values(&file, &c, find(&c, "lm_head.weight")),
        [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    );
    assert_eq!(values(&file, &c, find(&c, "tail")), [5.0, 6.0]);
}

#[test]
fn nested_checkpoint_dict_is_flattened_and_non_tensors_ignored() {
    let mut b = CheckpointBuilder::new();
    let w = b.tensor(Dtype::F32, &[2], f32_bytes(&[1.0, 2.0]));
    let bias = b.tensor(Dtype::F32, &[1], f32_bytes(&[3.0]));
    let mut m = b.tensor(Dtype::F32, &[1], f32_bytes(&[4.0]));
    if let PyValue::Tensor(t) = &mut m {
        t.parameter = true;
    }
    let hist = b.tensor(Dtype::F32, &[1], f32_bytes(&[7.0]));
    let root = dict(vec![
        ("epoch", PyValue::Int(12)),
        ("lr", PyValue::Float(3e-4)),
        ("arch", PyValue::Str("resnet".into())),
        ("big", PyValue::Int(1 << 50)),
        (
            "model",
            od(vec![("enc.w", w), ("dec", dict(vec![("b", bias)]))]),
        ),
        (
            "optimizer",
            dict(vec![
                ("state", dict(vec![("m", m)])),
                (
                    "param_groups",
                    PyValue::List(vec![dict(vec![
                        ("lr", PyValue::Float(0.1)),
                        (
                            "betas",
                            PyValue::Tuple(vec![PyValue::Float(0.9), PyValue::Float(0.999)]),
                        ),
                    ])]),
                ),
            ]),
        ),
        (
            "history",
            PyValue::List(vec![hist, PyValue::None, PyValue::Bool(true)]),
        ),
    ]);
    let file = b.build(&root);
    let c = parse(&file).expect("parses");
    let names: Vec<&str> = c.tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "model.enc.w",
            "model.dec.b",
            "optimizer.state.m",
            "history.0"
        ]
    );
    assert_eq!(values(&file, &c, find(&c, "optimizer.state.m")), [4.0]);
    assert_eq!(values(&file, &c, find(&c, "history.0")), [7.0]);
}

#[test]
fn untyped_storages_with_a_dtype_global() {
    let mut b = CheckpointBuilder::new();
    let f8 = b.tensor(Dtype::F8_E4M3, &[2], vec![0x38, 0xb8]); // 1.0, -1.0
    let u16s = b.tensor(
        Dtype::U16,
        &[2],
        [1u16, 65535].iter().flat_map(|v| v.to_le_bytes()).collect(),
    );
    let file = b.build(&od(vec![("f8", f8), ("u16", u16s)]));
    assert!(file.windows(21).any(|w| w == b"torch\nUntypedStorage\n"));
    let c = parse(&file).expect("parses");
    assert_eq!(find(&c, "f8").dtype, Dtype::F8_E4M3);
    assert_eq!(find(&c, "f8").torch_dtype, "torch.float8_e4m3fn");
    assert_eq!(c.storages[1].decl.dtype, Dtype::U8);
    assert_eq!(c.storages[1].decl.numel, 4);
    assert_eq!(find(&c, "u16").storage_elems, 2);
    assert_eq!(values(&file, &c, find(&c, "f8")), [1.0, -1.0]);
    assert_eq!(values(&file, &c, find(&c, "u16")), [1.0, 65535.0]);
}

#[test]
fn thousands_of_tensors_use_setitems_batches_and_long_memo_keys() {
    let mut b = CheckpointBuilder::new();
    let n = 2500;
    let items: Vec<(String, PyValue)> = (0..n)
        .map(|i| {
            (
                format!("layers.{i}.weight"),
                b.tensor(Dtype::F32, &[1], f32_bytes(&[i as f32])),
            )
        })
        .collect();
    let file = b.build(&PyValue::OrderedDict(items));
    let c = parse(&file).expect("parses");
    assert_eq!(c.tensors.len(), n);
    assert_eq!(c.storages.len(), n);
    assert_eq!(c.tensors[1234].name, "layers.1234.weight");
    assert_eq!(c.tensors[1234].storage_key, "1234");
    assert_eq!(values(&file, &c, &c.tensors[2499]), [2499.0]);
}

#[test]
fn root_tensor_list_and_custom_folder() {
    let mut b = CheckpointBuilder::new();
    b.folder = "pytorch_model".into();
    b.byteorder = None;
    b.version = None;
    let t = b.tensor(Dtype::F32, &[], f32_bytes(&[9.0]));
    let file = b.build(&t);
    let c = parse(&file).expect("parses");
    assert_eq!(c.folder, "pytorch_model");
    assert_eq!(c.version, None);
    assert_eq!(c.tensors.len(), 1);
    assert_eq!(c.tensors[0].name, "tensor");
    assert_eq!(c.tensors[0].numel(), 1);
    assert_eq!(values(&file, &c, &c.tensors[0]), [9.0]);
    let file = b.build(&PyValue::List(vec![t.clone(), t]));
    let c = parse(&file).expect("parses");
    let names: Vec<&str> = c.tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["0", "1"]);
}

#[test]
fn big_endian_and_bad_version_are_refused() {
    let mut b = CheckpointBuilder::new();
    let root = mixed(&mut b);
    b.byteorder = Some("big".into());
    let err = parse(&b.build(&root)).unwrap_err();
    assert!(
        matches!(&err, Error::ByteOrder { value } if value == "big"),
        "{err}"
    );
    b.byteorder = Some("little".into());
    b.version = Some("three".into());
    assert!(matches!(parse(&b.build(&root)), Err(Error::Version { .. })));
}

#[test]
fn views_past_their_storage_are_refused() {
    let mut b = CheckpointBuilder::new();
    let s = b.storage(Dtype::F32, f32_bytes(&[0.0; 6]));
    let t = TensorSpec::contiguous(s, Dtype::F32, 3, &[4]);
    let err = parse(&b.build(&od(vec![("x", PyValue::Tensor(t))]))).unwrap_err();
    assert!(
        matches!(&err, Error::Tensor { name, .. } if name == "x"),
        "{err}"
    );
    assert!(err.to_string().contains("reaches element 6"), "{err}");
    // Strided: the last element of a [3, 2] view with strides [1, 3] is 2 + 3 = 5 < 6: fits;
    // with strides [1, 4] it is 6: does not.
    let t = TensorSpec {
        storage: s,
        dtype: Dtype::F32,
        offset: 0,
        shape: vec![3, 2],
        strides: vec![1, 4],
        parameter: false,
    };
    assert!(matches!(
        parse(&b.build(&od(vec![("y", PyValue::Tensor(t))]))),
        Err(Error::Tensor { .. })
    ));
}

#[test]
fn missing_and_short_storages_are_refused() {
    let mut a = CheckpointBuilder::new();
    let x = a.tensor(Dtype::F32, &[2], f32_bytes(&[1.0, 2.0]));
    let y = a.tensor(Dtype::F32, &[3], f32_bytes(&[1.0, 2.0, 3.0]));
    let pkl = a.pickle(&od(vec![("x", x), ("y", y)]));
    // Same pickle, archive holding only storage 0.
    let mut b = CheckpointBuilder::new();
    b.storage(Dtype::F32, f32_bytes(&[1.0, 2.0]));
    let err = parse(&b.build_with_pickle(&pkl)).unwrap_err();
    assert!(
        matches!(&err, Error::StorageMissing { key, entry } if key == "1" && entry == "archive/data/1"),
        "{err}"
    );
    // Storage 1 present but one element short.
    b.storage(Dtype::F32, f32_bytes(&[1.0, 2.0]));
    let err = parse(&b.build_with_pickle(&pkl)).unwrap_err();
    assert!(
        matches!(&err, Error::StorageSize { key, needed: 12, len: 8, .. } if key == "1"),
        "{err}"
    );
}

#[test]
fn duplicate_flattened_names_are_refused() {
    let mut b = CheckpointBuilder::new();
    let t = b.tensor(Dtype::F32, &[1], f32_bytes(&[1.0]));
    let root = dict(vec![("a.b", t.clone()), ("a", dict(vec![("b", t)]))]);
    let err = parse(&b.build(&root)).unwrap_err();
    assert!(
        matches!(&err, Error::DuplicateTensor { name } if name == "a.b"),
        "{err}"
    );
}
