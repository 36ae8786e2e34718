//! `data.pkl` streams written out byte by byte in the exact form torch (CPython's C pickler,
//! protocol 2) emits them, independent of this crate's writer.

use taoke_dtype::Dtype;
use taoke_pytorch::builder::{write_zip, CheckpointBuilder, PyValue, ZipInput};
use taoke_pytorch::{parse, parse_state_dict, Error};

use crate::util::{f32_bytes, values};

/// `torch.save(OrderedDict(weight=torch.arange(6.).view(2, 3)), f)` after `state_dict()` of
/// a bias-free `nn.Linear(3, 2)`: the OrderedDict, one SETITEM, then the `_metadata` state.
const ONE_TENSOR: &[u8] = b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01\
X\x06\x00\x00\x00weightq\x02ctorch._utils\n_rebuild_tensor_v2\nq\x03\
((X\x07\x00\x00\x00storageq\x04ctorch\nFloatStorage\nq\x05X\x01\x00\x00\x000q\x06\
X\x03\x00\x00\x00cpuq\x07K\x06tq\x08QK\x00K\x02K\x03\x86q\tK\x03K\x01\x86q\n\
\x89h\x00)Rq\x0btq\x0cRq\rs}q\x0eX\t\x00\x00\x00_metadataq\x0fh\x00)Rq\x10\
X\x00\x00\x00\x00q\x11}q\x12X\x07\x00\x00\x00versionq\x13K\x01sssb.";

/// `nn.Linear(3, 2).state_dict()`: two items, so MARK … SETITEMS, and the second tensor
/// reuses the memoized `_rebuild_tensor_v2`, `'storage'`, `FloatStorage` and `'cpu'` (BINGET).
const LINEAR: &[u8] = b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01(\
X\x06\x00\x00\x00weightq\x02ctorch._utils\n_rebuild_tensor_v2\nq\x03\
((X\x07\x00\x00\x00storageq\x04ctorch\nFloatStorage\nq\x05X\x01\x00\x00\x000q\x06\
X\x03\x00\x00\x00cpuq\x07K\x06tq\x08QK\x00K\x02K\x03\x86q\tK\x03K\x01\x86q\n\
\x89h\x00)Rq\x0btq\x0cRq\r\
X\x04\x00\x00\x00biasq\x0eh\x03((h\x04h\x05X\x01\x00\x00\x001q\x0fh\x07K\x02tq\x10\
QK\x00K\x02\x85q\x11K\x01\x85q\x12\x89h\x00)Rq\x13tq\x14Rq\x15u\
}q\x16X\t\x00\x00\x00_metadataq\x17h\x00)Rq\x18X\x00\x00\x00\x00q\x19}q\x1a\
X\x07\x00\x00\x00versionq\x1bK\x01sssb.";

/// `torch.save({'t': t}, f)` where `t` is a half tensor carrying a Python attribute
/// (`t.tag = 'x'`): torch wraps it in `_rebuild_from_type_v2(func, torch.Tensor, args, state)`.
const FROM_TYPE_V2: &[u8] = b"\x80\x02}q\x00X\x01\x00\x00\x00tq\x01\
ctorch._tensor\n_rebuild_from_type_v2\nq\x02(ctorch._utils\n_rebuild_tensor_v2\nq\x03\
ctorch\nTensor\nq\x04((X\x07\x00\x00\x00storageq\x05ctorch\nHalfStorage\nq\x06\
X\x01\x00\x00\x000q\x07X\x03\x00\x00\x00cpuq\x08K\x02tq\tQK\x00K\x02\x85q\nK\x01\x85q\x0b\
\x89ccollections\nOrderedDict\nq\x0c)Rq\rtq\x0e}q\x0fX\x03\x00\x00\x00tagq\x10\
X\x01\x00\x00\x00xq\x11stq\x12Rq\x13s.";

#[test]
fn builder_writes_exactly_what_torch_writes() {
    let mut b = CheckpointBuilder::new();
    let w = b.tensor(Dtype::F32, &[2, 3], f32_bytes(&[0.0; 6]));
    assert_eq!(
        b.pickle(&PyValue::OrderedDict(vec![("weight".into(), w.clone())])),
        ONE_TENSOR
    );
    let bias = b.tensor(Dtype::F32, &[2], f32_bytes(&[0.0; 2]));
    let root = PyValue::OrderedDict(vec![("weight".into(), w), ("bias".into(), bias)]);
    assert_eq!(b.pickle(&root), LINEAR);
}

#[test]
fn one_tensor_state_dict() {
    let s = parse_state_dict(ONE_TENSOR).expect("parses");
    assert_eq!(s.tensors.len(), 1);
    let t = &s.tensors[0];
    assert_eq!(
        (t.name.as_str(), t.dtype, t.torch_dtype),
        ("weight", Dtype::F32, "torch.float32")
    );
    assert_eq!(
        (t.shape.as_slice(), t.strides.as_slice()),
        (&[2u64, 3][..], &[3u64, 1][..])
    );
    assert_eq!(s.storages.len(), 1);
    assert_eq!((s.storages[0].key.as_str(), s.storages[0].numel), ("0", 6));
    assert_eq!(s.storages[0].location, "cpu");
}

#[test]
fn linear_state_dict_in_a_torch_zip() {
    let mut b = CheckpointBuilder::new();
    b.storage(Dtype::F32, f32_bytes(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
    b.storage(Dtype::F32, f32_bytes(&[-1.0, -2.0]));
    let file = b.build_with_pickle(LINEAR);
    let c = parse(&file).expect("parses");
    let names: Vec<&str> = c.tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["weight", "bias"]);
    assert_eq!(c.tensors[1].shape, [2]);
    assert_eq!(c.tensors[1].strides, [1]);
    assert_eq!(c.tensors[1].storage_key, "1");
    assert_eq!(
        values(&file, &c, &c.tensors[0]),
        [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    );
    assert_eq!(values(&file, &c, &c.tensors[1]), [-1.0, -2.0]);
}

#[test]
fn rebuild_from_type_v2_wrapper() {
    let s = parse_state_dict(FROM_TYPE_V2).expect("parses");
    assert_eq!(s.tensors.len(), 1);
    assert_eq!(
        (s.tensors[0].name.as_str(), s.tensors[0].dtype),
        ("t", Dtype::F16)
    );
    assert_eq!(s.tensors[0].shape, [2]);
}

#[test]
fn protocol_4_stack_global_and_frames() {
    // pickle.dumps(OrderedDict(), protocol=4)
    let p = b"\x80\x04\x95\x22\x00\x00\x00\x00\x00\x00\x00\x8c\x0bcollections\x94\x8c\x0bOrderedDict\x94\x93\x94)R\x94.";
    let s = parse_state_dict(p).expect("parses");
    assert!(s.tensors.is_empty());
}

#[test]
fn legacy_and_torchscript_files_are_named() {
    // A pre-1.6 torch.save file starts with the pickled magic number 0x1950a86a20f9469cfc6c.
    let legacy = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.\x80\x02M\xe9\x03.";
    let err = parse(legacy).unwrap_err();
    assert!(matches!(err, Error::Legacy { kind: "pickle" }));
    assert!(
        err.to_string()
            .contains("legacy PyTorch format not supported"),
        "{err}"
    );

    let ts = write_zip(
        &[
            ZipInput::new("model/data.pkl", ONE_TENSOR.to_vec()),
            ZipInput::new("model/constants.pkl", b"\x80\x02).".to_vec()),
            ZipInput::new("model/code/__torch__.py", b"".to_vec()),
        ],
        false,
    );
    let err = parse(&ts).unwrap_err();
    assert!(
        matches!(&err, Error::TorchScript { entry } if entry == "model/constants.pkl"),
        "{err}"
    );
}

/// A training checkpoint's non-tensor values as CPython pickles them (protocol 2):
/// `np.float64(0.5)` (numpy scalar + `_codecs.encode` for its bytes) and an
/// `argparse.Namespace(lr=0.1)` (NEWOBJ + BUILD). They parse and are ignored.
#[test]
fn numpy_scalars_and_namespaces_parse_and_are_ignored() {
    let mut p = b"\x80\x02}q\x00(X\x08\x00\x00\x00best_accq\x01\
cnumpy.core.multiarray\nscalar\nq\x02cnumpy\ndtype\nq\x03X\x02\x00\x00\x00f8q\x04\x89\x88\x87q\x05Rq\x06\
(K\x03X\x01\x00\x00\x00<q\x07NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tq\x08b\
c_codecs\nencode\nq\t"
        .to_vec();
    // 0.5f64 little-endian = 00 00 00 00 00 00 e0 3f; as latin-1 text in UTF-8, 0xe0 is C3 A0.
    p.extend_from_slice(b"X\x09\x00\x00\x00\x00\x00\x00\x00\x00\x00\xc3\xa0?q\nX\x06\x00\x00\x00latin1q\x0b\x86q\x0cRq\r\x86q\x0eRq\x0f");
    p.extend_from_slice(b"X\x04\x00\x00\x00argsq\x10cargparse\nNamespace\nq\x11)\x81q\x12}q\x13X\x02\x00\x00\x00lrq\x14G?\xb9\x99\x99\x99\x99\x99\x9asb");
    p.extend_from_slice(b"X\x05\x00\x00\x00modelq\x15ccollections\nOrderedDict\nq\x16)Rq\x17u.");
    let s = parse_state_dict(&p).expect("parses");
    assert!(s.tensors.is_empty());
    assert!(s.storages.is_empty());
}
