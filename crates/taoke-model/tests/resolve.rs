//! Offline resolution of Hugging Face cache repo ids and Ollama model names. One test per
//! process state: the environment variables are set once, in this binary only.

use std::path::Path;

use taoke_model::{open, Format};
use taoke_test::{model_or_skip, shared_model};

fn link_or_copy(src: &Path, dst: &Path) {
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(src, dst).unwrap();
    }
    #[cfg(not(unix))]
    {
        std::fs::copy(src, dst).unwrap();
    }
}

#[test]
fn hf_cache_and_ollama_store() {
    let gguf = model_or_skip!(shared_model("stories260K/tinyllamas-stories-260k-f32.gguf"));
    let bin = model_or_skip!(shared_model("stories260K/stories260K.bin"));
    let tmp = tempfile::tempdir().unwrap();

    // Hugging Face hub cache: models--org--name/{refs/main, snapshots/REV/…, blobs/SHA}.
    let hub = tmp.path().join("hub");
    let repo = hub.join("models--karpathy--stories260K");
    let rev = "0123456789abcdef0123456789abcdef01234567";
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::create_dir_all(repo.join("blobs")).unwrap();
    std::fs::create_dir_all(repo.join("snapshots").join(rev)).unwrap();
    std::fs::write(repo.join("refs").join("main"), format!("{rev}\n")).unwrap();
    std::fs::copy(&bin, repo.join("blobs").join("f00d")).unwrap();
    link_or_copy(
        Path::new("../../blobs/f00d"),
        &repo.join("snapshots").join(rev).join("model.bin"),
    );
    std::env::set_var("HF_HUB_CACHE", &hub);
    let ck = open("karpathy/stories260K").unwrap();
    assert_eq!(ck.format, Format::Llama2c);
    assert_eq!(ck.tensors.len(), 49);
    let ck = open(format!("hf:karpathy/stories260K@{rev}")).unwrap();
    assert_eq!(ck.tensors.len(), 49);
    assert!(open("hf:karpathy/stories260K@nope").is_err());
    assert!(open("hf:karpathy/missing").is_err());

    // Ollama store: manifests/registry.ollama.ai/library/NAME/TAG → blobs/sha256-HEX.
    let store = tmp.path().join("ollama");
    let hex = "ab".repeat(32);
    let man = store
        .join("manifests")
        .join("registry.ollama.ai")
        .join("library")
        .join("tinystories");
    std::fs::create_dir_all(&man).unwrap();
    std::fs::create_dir_all(store.join("blobs")).unwrap();
    std::fs::copy(&gguf, store.join("blobs").join(format!("sha256-{hex}"))).unwrap();
    std::fs::write(
        man.join("260k"),
        format!(
            r#"{{"schemaVersion":2,"layers":[{{"mediaType":"application/vnd.ollama.image.license","digest":"sha256:{}"}},{{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:{hex}","size":1}}]}}"#,
            "cd".repeat(32)
        ),
    )
    .unwrap();
    std::env::set_var("OLLAMA_MODELS", &store);
    let ck = open("ollama:tinystories:260k").unwrap();
    assert_eq!(ck.format, Format::Gguf);
    assert_eq!(ck.tensors.len(), 48);
    let ck = open("tinystories:260k").unwrap();
    assert_eq!(ck.tensors.len(), 48);
    assert!(open("ollama:tinystories:missing").is_err());
    assert!(open("ollama:../etc:passwd").is_err());
}
