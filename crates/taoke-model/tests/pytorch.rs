//! PyTorch checkpoints (written by taoke-pytorch's builder, byte-compatible with torch.save)
//! open and read like any other format: dense and strided views, tied storages, shards.

use taoke_dtype::Dtype;
use taoke_model::{open, Format, Layout};
use taoke_pytorch::builder::{CheckpointBuilder, PyValue, TensorSpec};

fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// `embed` [3, 2], `head` tied to it, `proj_t` the transpose of a 2x3 matrix, `norm` BF16.
fn checkpoint(names: &[&str]) -> Vec<u8> {
    let mut b = CheckpointBuilder::new();
    let s = b.storage(Dtype::F32, f32s(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
    let embed = TensorSpec::contiguous(s, Dtype::F32, 0, &[3, 2]);
    let m = b.storage(Dtype::F32, f32s(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]));
    let proj = TensorSpec {
        storage: m,
        dtype: Dtype::F32,
        offset: 0,
        shape: vec![3, 2],
        strides: vec![1, 3],
        parameter: false,
    };
    let norm: Vec<u8> = [0.5f32, -0.25]
        .iter()
        .flat_map(|v| half::bf16::from_f32(*v).to_le_bytes())
        .collect();
    let norm = b.tensor(Dtype::BF16, &[2], norm);
    let all = [
        ("embed", PyValue::Tensor(embed.clone())),
        ("head", PyValue::Tensor(embed)),
        ("proj_t", PyValue::Tensor(proj)),
        ("norm", norm),
    ];
    let items = all
        .into_iter()
        .filter(|(n, _)| names.contains(n))
        .map(|(n, v)| (n.to_owned(), v))
        .collect();
    b.build(&PyValue::OrderedDict(items))
}

const ALL: &[&str] = &["embed", "head", "proj_t", "norm"];

#[test]
fn single_file_dense_strided_and_tied() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.pt");
    std::fs::write(&path, checkpoint(ALL)).unwrap();
    let c = open(path.to_str().unwrap()).unwrap();
    assert_eq!(c.format, Format::Pytorch);
    let names: Vec<&str> = c.tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ALL);
    let proj = c.tensor("proj_t").unwrap();
    assert!(matches!(proj.layout, Layout::Strided { .. }));
    assert_eq!(c.read_f32(proj).unwrap(), [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    let embed = c.tensor("embed").unwrap();
    assert!(matches!(embed.layout, Layout::Dense { .. }));
    assert_eq!(embed.layout, c.tensor("head").unwrap().layout);
    assert_eq!(
        c.read_f32(c.tensor("head").unwrap()).unwrap(),
        [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    );
    let norm = c.tensor("norm").unwrap();
    assert_eq!(
        (norm.dtype, norm.dtype_name.as_str()),
        (Dtype::BF16, "torch.bfloat16")
    );
    assert_eq!(c.read_f32(norm).unwrap(), [0.5, -0.25]);
}

#[test]
fn sharded_bin_with_index() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        "pytorch_model-00001-of-00002.bin",
        "pytorch_model-00002-of-00002.bin",
    );
    std::fs::write(dir.path().join(a), checkpoint(&["embed", "head"])).unwrap();
    std::fs::write(dir.path().join(b), checkpoint(&["proj_t", "norm"])).unwrap();
    let index = format!(
        r#"{{"metadata": {{"total_size": 100}}, "weight_map": {{"embed": "{a}", "head": "{a}", "proj_t": "{b}", "norm": "{b}"}}}}"#
    );
    std::fs::write(dir.path().join("pytorch_model.bin.index.json"), index).unwrap();
    let c = open(dir.path().to_str().unwrap()).unwrap();
    assert_eq!(c.format, Format::Pytorch);
    assert_eq!(c.tensors.len(), 4);
    assert_eq!(
        c.read_f32(c.tensor("proj_t").unwrap()).unwrap(),
        [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
    );
    assert_eq!(
        c.read_f32(c.tensor("embed").unwrap()).unwrap(),
        [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    );
}

#[test]
fn legacy_files_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.pt");
    std::fs::write(
        &path,
        b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.\x80\x02M\xe9\x03.",
    )
    .unwrap();
    let err = open(path.to_str().unwrap()).unwrap_err().to_string();
    assert!(err.contains("legacy PyTorch format not supported"), "{err}");
}
