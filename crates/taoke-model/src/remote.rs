//! Remote checkpoints: `hf://org/name[@rev][/path]`, `https://…` and `http://…` locations.
//!
//! Weight files are read through [`taoke_remote::RemoteFile`]: the header is parsed from a
//! fetched prefix (safetensors: the 8-byte length, then exactly the header; GGUF: a prefix grown
//! until the parser succeeds or [`GGUF_PREFIX_CAP`] is reached), and tensor bytes are fetched
//! by range when read. Formats whose header is not at the start (PyTorch zip, ONNX, llama2.c)
//! are fetched whole into the cache (streamed to disk) and read from there. Side files
//! (config, tokenizer) are fetched whole into a snapshot folder of the cache, which becomes the
//! checkpoint's folder.
//!
//! A repository (`hf://org/name`, or a folder in it) is listed through the hub's API and its
//! weights chosen as for a local folder.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use taoke_remote::hf::{self, HfLocation};
use taoke_remote::{Client, RemoteFile};

use crate::format::{self, Loader};
use crate::side::{config_of, SIDE_FILES};
use crate::{Checkpoint, Error, FileId, Format, ModelFile, OpenOptions, Result};

/// Largest GGUF header prefix fetched.
pub const GGUF_PREFIX_CAP: u64 = 256 << 20;

/// First prefix fetched of a weight file.
const FIRST_PREFIX: u64 = 64 << 10;

/// Largest side file fetched (tokenizers of large vocabularies are tens of MiB).
const SIDE_FILE_CAP: u64 = 64 << 20;

/// The bytes of a remote [`ModelFile`]: the remote file and its header prefix.
#[derive(Debug)]
pub(crate) struct Remote {
    pub file: RemoteFile,
    /// The header prefix, followed by a version tag (see [`ModelFile::bytes`]).
    pub view: Vec<u8>,
}

/// The process's client, configured from the environment on first use.
pub fn client() -> Arc<Client> {
    static CLIENT: OnceLock<Arc<Client>> = OnceLock::new();
    CLIENT.get_or_init(|| Arc::new(Client::from_env())).clone()
}

fn remote_err(url: &str, e: taoke_remote::Error) -> Error {
    let msg = e.to_string();
    let msg = msg
        .strip_prefix(url)
        .and_then(|m| m.strip_prefix(": "))
        .unwrap_or(&msg)
        .to_owned();
    Error::io(PathBuf::from(url), std::io::Error::other(msg))
}

/// Where a remote model's files are.
struct Plan {
    /// What the checkpoint's `path` shows: the weight file's URL, or the folder's.
    display: String,
    /// URLs of the weight files, in order.
    weights: Vec<String>,
    /// The shard index (its URL and parsed content), when the weights come from one.
    index: Option<(String, taoke_safetensors::ShardIndex)>,
    /// Side files: (file name, URL).
    side: Vec<(String, String)>,
    /// Base URL of the folder (keys the snapshot folder).
    base: String,
    notes: Vec<String>,
}

/// Opens a remote location with the process's client. See [`open_remote_with`].
pub fn open_remote(reference: &str, opts: OpenOptions) -> Result<Checkpoint> {
    open_remote_with(reference, opts, client())
}

/// Opens `reference` (`hf://…`, `https://…`, `http://…`) with `client`.
pub fn open_remote_with(
    reference: &str,
    opts: OpenOptions,
    client: Arc<Client>,
) -> Result<Checkpoint> {
    let plan = if reference
        .get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("hf://"))
    {
        plan_hf(reference, &client)?
    } else {
        plan_url(reference)?
    };
    let snapshot = client
        .config
        .cache_dir
        .join("snapshots")
        .join(&sha_hex(&plan.base)[..32]);
    let mut side_files = Vec::new();
    for (name, url) in &plan.side {
        if let Some(p) = hf::fetch_file_to(&client, url, &snapshot, name, SIDE_FILE_CAP)
            .map_err(|e| remote_err(url, e))?
        {
            side_files.push(p);
        }
    }
    side_files.sort_by_key(|p| {
        SIDE_FILES
            .iter()
            .position(|n| p.file_name().is_some_and(|f| f == *n))
    });
    let mut loader = Loader::new(snapshot.clone(), opts.io);
    let mut fmt_seen = None;
    let mut tensors = Vec::new();
    let mut metadata = Vec::new();
    for url in &plan.weights {
        let id = open_weight(&mut loader, &client, url)?;
        let file = &loader.files[id];
        let fmt = format::sniff(file.bytes()).ok_or_else(|| {
            Error::format(
                url,
                "not a recognized model file (safetensors, GGUF, ONNX, PyTorch zip or llama2.c)",
            )
        })?;
        if *fmt_seen.get_or_insert(fmt) != fmt {
            return Err(Error::format(
                url,
                "shards of one model have different formats",
            ));
        }
        let parsed = format::load(&mut loader, id, fmt)?;
        tensors.extend(parsed.tensors);
        if metadata.is_empty() {
            metadata = parsed.metadata;
        }
    }
    let mut names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(Error::format(
            &plan.display,
            format!("tensor `{}` appears twice", w[0]),
        ));
    }
    if let Some((index_url, idx)) = &plan.index {
        for name in idx.weight_map.keys() {
            if names.binary_search(&name.as_str()).is_err() {
                return Err(Error::format(
                    index_url,
                    format!("lists tensor `{name}` which no shard holds"),
                ));
            }
        }
    }
    let mut notes = plan.notes;
    let config = config_of(&side_files, &mut notes);
    Ok(Checkpoint {
        reference: reference.to_owned(),
        path: PathBuf::from(&plan.display),
        folder: Some(snapshot),
        format: fmt_seen.unwrap_or(Format::Safetensors),
        files: loader.files,
        tensors,
        metadata,
        config,
        side_files,
        notes,
    })
}

fn sha_hex(s: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Opens one remote weight file into `loader`: header prefix fetched, or the whole file for
/// formats without a leading header.
fn open_weight(loader: &mut Loader, client: &Arc<Client>, url: &str) -> Result<FileId> {
    let rf = RemoteFile::open(client.clone(), url).map_err(|e| remote_err(url, e))?;
    let len = rf.len();
    let read_prefix = |n: u64| -> Result<Vec<u8>> {
        let mut buf = vec![0u8; n as usize];
        rf.read_at(0, &mut buf).map_err(|e| remote_err(url, e))?;
        Ok(buf)
    };
    let mut prefix = read_prefix(len.min(FIRST_PREFIX))?;
    let kind = if prefix.starts_with(b"GGUF") {
        let mut n = prefix.len() as u64;
        while taoke_gguf::Gguf::parse_with_len(&prefix, len).is_err()
            && n < len.min(GGUF_PREFIX_CAP)
        {
            n = (n * 2).min(len).min(GGUF_PREFIX_CAP);
            prefix = read_prefix(n)?;
        }
        Some(Format::Gguf)
    } else if let Ok(h) = taoke_safetensors::Header::header_len(&prefix) {
        let want = h.checked_add(8).filter(|&w| {
            w <= len && h <= taoke_safetensors::MAX_HEADER_LEN && prefix.get(8) == Some(&b'{')
        });
        match want {
            Some(w) => {
                if w > prefix.len() as u64 {
                    prefix = read_prefix(w)?;
                }
                Some(Format::Safetensors)
            }
            None => None,
        }
    } else {
        None
    };
    if kind.is_none() {
        // No header at the start to read alone: fetch the file whole into the cache (streamed
        // to disk), then read it as a local file.
        rf.fetch_all().map_err(|e| remote_err(url, e))?;
        let mut f = ModelFile::open(&rf.data_path(), loader.mode)
            .map_err(|e| Error::io(rf.data_path(), e))?;
        f.path = PathBuf::from(url);
        loader.files.push(f);
        return Ok(loader.files.len() - 1);
    }
    // The version tag after the header makes two views byte-equal only for the same version
    // of the same remote file (whole-file identity checks compare `bytes()`).
    let mut view = prefix;
    view.extend_from_slice(format!("\n#taoke-remote {url} {}", rf.etag()).as_bytes());
    let f = ModelFile::remote(PathBuf::from(url), Remote { file: rf, view }, loader.mode)
        .map_err(|e| Error::io(url, e))?;
    loader.files.push(f);
    Ok(loader.files.len() - 1)
}

/// What a folder of files holds: weights chosen as for a local folder, side files present.
/// `names` are the file names directly in the folder, `url_of` their URLs.
fn plan_folder(
    client: &Arc<Client>,
    reference: &str,
    names: &[String],
    url_of: &dyn Fn(&str) -> String,
    display: String,
    base: String,
) -> Result<Plan> {
    let has = |n: &str| names.iter().any(|x| x == n);
    let with_ext = |ext: &str| -> Vec<String> {
        names
            .iter()
            .filter(|n| Path::new(n).extension().is_some_and(|e| e == ext))
            .cloned()
            .collect()
    };
    let side: Vec<(String, String)> = SIDE_FILES
        .iter()
        .filter(|n| has(n))
        .map(|n| ((*n).to_owned(), url_of(n)))
        .collect();
    for index_name in [
        "model.safetensors.index.json",
        "pytorch_model.bin.index.json",
    ] {
        if !has(index_name) {
            continue;
        }
        let index_url = url_of(index_name);
        let snapshot = client
            .config
            .cache_dir
            .join("snapshots")
            .join(&sha_hex(&base)[..32]);
        let p = hf::fetch_file_to(
            client,
            &index_url,
            &snapshot,
            index_name,
            taoke_safetensors::MAX_INDEX_LEN as u64,
        )
        .map_err(|e| remote_err(&index_url, e))?
        .ok_or_else(|| Error::NotFound {
            reference: reference.to_owned(),
            message: format!("{index_url} is listed but cannot be fetched"),
        })?;
        let bytes = fs_err::read(&p).map_err(|e| Error::io(&p, e))?;
        let idx = taoke_safetensors::ShardIndex::parse(&bytes)
            .map_err(|e| Error::format(&index_url, e))?;
        let mut weights = Vec::new();
        for f in idx.files() {
            if !has(f) {
                return Err(Error::format(
                    &index_url,
                    format!("lists shard {f} which is missing"),
                ));
            }
            weights.push(url_of(f));
        }
        return Ok(Plan {
            display,
            weights,
            index: Some((index_url, idx)),
            side,
            base,
            notes: Vec::new(),
        });
    }
    let one = |n: &str| -> Vec<String> { has(n).then(|| n.to_owned()).into_iter().collect() };
    let candidates: Vec<String> = [
        one("model.safetensors"),
        with_ext("safetensors"),
        one("pytorch_model.bin"),
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
            message: format!("no weight file (safetensors, gguf, onnx, bin) in {display}"),
        });
    };
    let safetensors = with_ext("safetensors");
    let files = if main.ends_with(".safetensors") && safetensors.len() > 1 {
        safetensors
    } else {
        vec![main.clone()]
    };
    let mut others: Vec<&String> = candidates.iter().filter(|c| !files.contains(c)).collect();
    others.dedup();
    let mut notes = Vec::new();
    if !others.is_empty() {
        notes.push(format!(
            "also present and not read: {}",
            others
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let display = if files.len() > 1 {
        display
    } else {
        url_of(&main)
    };
    Ok(Plan {
        display,
        weights: files.iter().map(|f| url_of(f)).collect(),
        index: None,
        side,
        base,
        notes,
    })
}

/// `hf://org/name[@rev][/path]`: a file of the repository, or a folder (the root by default).
fn plan_hf(reference: &str, client: &Arc<Client>) -> Result<Plan> {
    let loc = HfLocation::parse(reference).map_err(|e| Error::NotFound {
        reference: reference.to_owned(),
        message: e.to_string(),
    })?;
    let listing = hf::list(client, &loc).map_err(|e| Error::NotFound {
        reference: reference.to_owned(),
        message: e.to_string(),
    })?;
    let rev = listing
        .commit
        .clone()
        .unwrap_or_else(|| loc.revision.clone());
    let endpoint = client.config.endpoint.clone();
    let (folder, file) = if listing.files.contains(&loc.path) {
        match loc.path.rsplit_once('/') {
            Some((d, f)) => (d.to_owned(), Some(f.to_owned())),
            None => (String::new(), Some(loc.path.clone())),
        }
    } else {
        (loc.path.clone(), None)
    };
    let prefix = if folder.is_empty() {
        String::new()
    } else {
        format!("{folder}/")
    };
    let names: Vec<String> = listing
        .files
        .iter()
        .filter_map(|f| f.strip_prefix(&prefix))
        .filter(|f| !f.contains('/'))
        .map(str::to_owned)
        .collect();
    if names.is_empty() {
        return Err(Error::NotFound {
            reference: reference.to_owned(),
            message: format!(
                "no file or folder `{}` in {} at {}",
                loc.path, loc.repo, loc.revision
            ),
        });
    }
    let url_of = |n: &str| loc.resolve_url(&endpoint, &rev, &format!("{prefix}{n}"));
    let base = url_of("");
    match file {
        Some(f) => {
            let side = SIDE_FILES
                .iter()
                .filter(|n| names.iter().any(|x| x == *n))
                .map(|n| ((*n).to_owned(), url_of(n)))
                .collect();
            Ok(Plan {
                display: url_of(&f),
                weights: vec![url_of(&f)],
                index: None,
                side,
                base,
                notes: Vec::new(),
            })
        }
        None => plan_folder(client, reference, &names, &url_of, base.clone(), base),
    }
}

/// `http(s)://…/file`: the file, and the side files found beside it (asked one by one: plain
/// HTTP cannot list a folder).
fn plan_url(reference: &str) -> Result<Plan> {
    let url = reference.to_owned();
    let path_end = url.find(['?', '#']).unwrap_or(url.len());
    let Some(slash) = url[..path_end]
        .rfind('/')
        .filter(|&i| i > url.find("://").unwrap_or(0) + 2)
    else {
        return Err(Error::NotFound {
            reference: reference.to_owned(),
            message: "a URL must name a file (…/model.safetensors)".into(),
        });
    };
    let base = url[..=slash].to_owned();
    if slash + 1 == path_end {
        return Err(Error::NotFound {
            reference: reference.to_owned(),
            message: "a URL must name a file (…/model.safetensors), not a folder; use \
                      hf://org/name for a whole repository"
                .into(),
        });
    }
    let side = SIDE_FILES
        .iter()
        .map(|n| ((*n).to_owned(), format!("{base}{n}")))
        .collect();
    Ok(Plan {
        display: url.clone(),
        weights: vec![url],
        index: None,
        side,
        base,
        notes: Vec::new(),
    })
}

/// `hf://`, `http://` or `https://`.
pub(crate) fn is_remote(reference: &str) -> bool {
    taoke_remote::is_remote(reference)
}
