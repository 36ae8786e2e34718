//! Resolving what the user names (a file, a model folder, an HF cache repo id, an Ollama model
//! name) to files, and opening them as one [`Checkpoint`].

use std::path::{Path, PathBuf};

use crate::format::{self, Loader};
use crate::side::{config_of, SIDE_FILES};
use crate::{fsafe, resolve, Checkpoint, Error, Format, IoMode, Result};

/// Options for [`open_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenOptions {
    /// How tensor bytes are read.
    pub io: IoMode,
}

/// Opens a checkpoint with default options. See [`open_with`].
pub fn open(reference: impl AsRef<str>) -> Result<Checkpoint> {
    open_with(reference.as_ref(), OpenOptions::default())
}

/// Opens `reference`:
///
/// - an existing file: its format is detected from its bytes;
/// - an existing folder: the weights inside (sharded safetensors index, `model.safetensors`,
///   `pytorch_model.bin[.index.json]`, one `*.gguf`, `*.onnx`, or one file of a known format),
///   plus its config and tokenizer files;
/// - `org/name` or `hf:org/name[@revision]`: a repository in the local Hugging Face cache
///   (`HF_HUB_CACHE`, `HF_HOME/hub` or `~/.cache/huggingface/hub`), resolved offline;
/// - `ollama:name[:tag]` or `name:tag`: a model in the local Ollama store (`OLLAMA_MODELS` or
///   `~/.ollama/models`), through its manifest;
/// - `hf://org/name[@rev][/path]`, `https://…`, `http://…`: a remote model, read with HTTP
///   ranges through the cache (see [`crate::open_remote`]).
pub fn open_with(reference: &str, opts: OpenOptions) -> Result<Checkpoint> {
    if crate::remote::is_remote(reference) {
        return crate::remote::open_remote(reference, opts);
    }
    let path = resolve::resolve(reference)?;
    if path.is_dir() {
        open_folder(reference, &path, opts)
    } else {
        let folder = path.parent().map(Path::to_path_buf).unwrap_or_default();
        open_files(
            reference,
            &path,
            &folder,
            std::slice::from_ref(&path),
            None,
            opts,
        )
    }
}

fn open_folder(reference: &str, dir: &Path, opts: OpenOptions) -> Result<Checkpoint> {
    let mut entries: Vec<PathBuf> = fs_err::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    let named = |n: &str| {
        entries
            .iter()
            .find(|p| p.file_name().is_some_and(|f| f == n))
    };
    let with_ext = |ext: &str| -> Vec<PathBuf> {
        entries
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == ext))
            .cloned()
            .collect()
    };
    let mut notes = Vec::new();
    for index_name in [
        "model.safetensors.index.json",
        "pytorch_model.bin.index.json",
    ] {
        if let Some(index) = named(index_name) {
            let index = confined(dir, index)?;
            let bytes = fsafe::read_capped(&index, taoke_safetensors::MAX_INDEX_LEN as u64)
                .map_err(|e| Error::io(&index, e))?;
            let idx = taoke_safetensors::ShardIndex::parse(&bytes)
                .map_err(|e| Error::format(&index, e))?;
            drop(bytes);
            let mut shards: Vec<PathBuf> = Vec::new();
            for f in idx.files() {
                let s = dir.join(f);
                if std::fs::symlink_metadata(&s).is_err() {
                    return Err(Error::format(
                        &index,
                        format!("lists shard {} which is missing", s.display()),
                    ));
                }
                shards.push(confined(dir, &s)?);
            }
            return open_files(
                reference,
                dir,
                dir,
                &shards,
                Some((index.clone(), idx)),
                opts,
            );
        }
    }
    let candidates: Vec<PathBuf> = [
        named("model.safetensors").cloned().into_iter().collect(),
        with_ext("safetensors"),
        named("pytorch_model.bin").cloned().into_iter().collect(),
        with_ext("gguf"),
        with_ext("onnx"),
        with_ext("bin"),
        with_ext("pt"),
        with_ext("pth"),
    ]
    .concat();
    let Some(main) = candidates.first().cloned() else {
        return Err(Error::NotFound {
            reference: reference.to_owned(),
            message: format!(
                "no weight file (safetensors, gguf, onnx, bin) in {}",
                dir.display()
            ),
        });
    };
    // Several same-kind safetensors without an index: treat as shards of one model.
    let safetensors = with_ext("safetensors");
    let files = if main.extension().is_some_and(|e| e == "safetensors") && safetensors.len() > 1 {
        safetensors
    } else {
        vec![main.clone()]
    };
    let files = files
        .iter()
        .map(|f| confined(dir, f))
        .collect::<Result<Vec<_>>>()?;
    let mut others: Vec<&PathBuf> = candidates.iter().filter(|c| !files.contains(c)).collect();
    others.dedup();
    if !others.is_empty() {
        notes.push(format!(
            "also present and not read: {}",
            others
                .iter()
                .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let mut ck = open_files(
        reference,
        if files.len() > 1 { dir } else { &main },
        dir,
        &files,
        None,
        opts,
    )?;
    ck.notes.extend(notes);
    Ok(ck)
}

/// `path` (a file found in `dir`) when it resolves inside `dir`; otherwise an error naming it
/// and the cause.
fn confined(dir: &Path, path: &Path) -> Result<PathBuf> {
    let name = path.file_name().map(Path::new).unwrap_or(path);
    fsafe::confine(dir, name).map_err(|e| match e {
        fsafe::ConfineError::Io(source) => Error::io(path, source),
        other => Error::format(path, other),
    })
}

fn open_files(
    reference: &str,
    path: &Path,
    folder: &Path,
    files: &[PathBuf],
    index: Option<(PathBuf, taoke_safetensors::ShardIndex)>,
    opts: OpenOptions,
) -> Result<Checkpoint> {
    let mut loader = Loader::new(folder.to_path_buf(), opts.io);
    let mut format = None;
    let mut tensors = Vec::new();
    let mut metadata = Vec::new();
    for f in files {
        let id = loader.open(f)?;
        let file = &loader.files[id];
        let fmt = format::sniff(file.bytes()).ok_or_else(|| {
            Error::format(
                f,
                "not a recognized model file (safetensors, GGUF, ONNX, PyTorch zip or llama2.c)",
            )
        })?;
        if *format.get_or_insert(fmt) != fmt {
            return Err(Error::format(
                f,
                "shards of one model have different formats",
            ));
        }
        let parsed = format::load(&mut loader, id, fmt)?;
        tensors.extend(parsed.tensors);
        if metadata.is_empty() {
            metadata = parsed.metadata;
        }
    }
    let format = format.unwrap_or(Format::Safetensors);
    // Tensor names must be unique across shards.
    let mut names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(Error::format(
            path,
            format!("tensor `{}` appears twice", w[0]),
        ));
    }
    if let Some((index_path, idx)) = index {
        for t in &tensors {
            if !idx.weight_map.contains_key(&t.name) {
                // Extra tensors in a shard happen (quantization aux tensors); keep them.
                continue;
            }
        }
        for name in idx.weight_map.keys() {
            if names.binary_search(&name.as_str()).is_err() {
                return Err(Error::format(
                    &index_path,
                    format!("lists tensor `{name}` which no shard holds"),
                ));
            }
        }
    }
    let mut side_files = Vec::new();
    let mut notes = Vec::new();
    for n in SIDE_FILES {
        let p = folder.join(n);
        if std::fs::symlink_metadata(&p).is_err() {
            continue;
        }
        // Side files are read only when they are regular files inside the folder.
        match fsafe::confine(folder, Path::new(n)) {
            Ok(p) => match fsafe::check_regular(&p) {
                Ok(_) => side_files.push(p),
                Err(e) => notes.push(format!("{n} ignored: {e}")),
            },
            Err(e) => notes.push(format!("{n} ignored: {e}")),
        }
    }
    let config = config_of(&side_files, &mut notes);
    Ok(Checkpoint {
        reference: reference.to_owned(),
        path: path.to_path_buf(),
        folder: Some(folder.to_path_buf()),
        format,
        files: loader.files,
        tensors,
        metadata,
        config,
        side_files,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use taoke_dtype::Dtype;

    use crate::side::MAX_CONFIG_LEN;

    use super::*;

    fn folder_with_config(config: &[u8]) -> (tempfile::TempDir, Checkpoint) {
        let dir = tempfile::tempdir().unwrap();
        let mut st = Vec::new();
        let data = [0u8; 8];
        taoke_safetensors::write(&mut st, &[("w", Dtype::F32, &[2], &data)], &BTreeMap::new())
            .unwrap();
        std::fs::write(dir.path().join("model.safetensors"), st).unwrap();
        std::fs::write(dir.path().join("config.json"), config).unwrap();
        let ck = open(dir.path().to_str().unwrap()).unwrap();
        (dir, ck)
    }

    #[test]
    fn config_json_caps() {
        let (_d, ck) = folder_with_config(br#"{"model_type":"llama","hidden_size":4}"#);
        assert_eq!(ck.config.as_ref().unwrap()["hidden_size"], 4);
        assert!(ck.notes.is_empty(), "{:?}", ck.notes);
        // Over MAX_CONFIG_LEN: ignored with a note, never read.
        let mut big = b"{\"pad\":\"".to_vec();
        big.resize(MAX_CONFIG_LEN as usize + 1, b'x');
        let (_d, ck) = folder_with_config(&big);
        assert!(ck.config.is_none());
        assert!(ck.notes[0].contains("more than the cap"), "{:?}", ck.notes);
        // Nesting past serde_json's recursion limit, invalid UTF-8, not an object.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        for (bytes, why) in [
            (deep.as_bytes(), "not valid JSON"),
            (&b"{\"a\":\"\xff\"}"[..], "not valid JSON"),
            (&b"[1,2]"[..], "not a JSON object"),
        ] {
            let (_d, ck) = folder_with_config(bytes);
            assert!(ck.config.is_none());
            assert!(
                ck.notes.iter().any(|n| n.contains(why)),
                "{why}: {:?}",
                ck.notes
            );
        }
    }
}
