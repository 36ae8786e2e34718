//! File safety for everything taoke opens from a model folder, a cache or a registry: only
//! regular files are opened (a FIFO or a device would block or never end), reads stop at a
//! cap before memory is spent, and names found inside a folder (shards, side files, external
//! data) must resolve inside that folder.
//!
//! The one place these rules live; readers call [`open_regular`], [`read_capped`] and
//! [`confine`] instead of opening files themselves. Errors are [`std::io::Error`]s whose text
//! says the cause (callers add the path).

use std::fs::File;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// What kind of file `meta` describes, in words, when it is not a regular file.
fn special_kind(meta: &std::fs::Metadata) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_file() {
        None
    } else if t.is_dir() {
        Some("a folder")
    } else if t.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if t.is_socket() {
        Some("a socket")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else {
        Some("a special file")
    }
}

fn not_regular(kind: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("is {kind}, not a regular file"),
    )
}

/// Checks, without opening it, that `path` (symlinks followed) is a regular file. A symlink
/// loop or a dangling link reports its own cause, not "no such file".
pub fn check_regular(path: &Path) -> std::io::Result<std::fs::Metadata> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return Err(explain_missing(path, e)),
    };
    match special_kind(&meta) {
        None => Ok(meta),
        Some(kind) => Err(not_regular(kind)),
    }
}

/// Rewords "no such file" when `path` exists as a dangling symlink.
fn explain_missing(path: &Path, e: std::io::Error) -> std::io::Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        if let Ok(target) = std::fs::read_link(path) {
            return std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "is a symbolic link to `{}`, which does not exist",
                    target.display()
                ),
            );
        }
    }
    e
}

/// Opens `path` for reading only if it is a regular file. It is checked before opening (so a
/// device is never opened) and again on the open descriptor, opened non-blocking (so a FIFO
/// swapped in between cannot block the open).
pub fn open_regular(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    check_regular(path)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| explain_missing(path, e))?;
    let meta = file.metadata()?;
    if let Some(kind) = special_kind(&meta) {
        return Err(not_regular(kind));
    }
    Ok(file)
}

/// The error of a file longer than its cap.
fn too_large(len: u64, cap: u64) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("{len} bytes, more than the cap of {cap} bytes"),
    )
}

/// Reads a whole regular file of at most `cap` bytes. The size is checked before reading and
/// at most `cap + 1` bytes are read, so a sparse, growing or endless file (`/proc`) costs no
/// more than the cap.
pub fn read_capped(path: &Path, cap: u64) -> std::io::Result<Vec<u8>> {
    let file = open_regular(path)?;
    let len = file.metadata()?.len();
    if len > cap {
        return Err(too_large(len, cap));
    }
    let mut buf = Vec::with_capacity(len as usize);
    file.take(cap + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > cap {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("more than the cap of {cap} bytes (the file grows as it is read)"),
        ));
    }
    Ok(buf)
}

/// Why [`confine`] refused a name.
#[derive(Debug)]
pub enum ConfineError {
    /// The name is empty, absolute or has `..` components.
    NotPlain,
    /// The name resolves (through symlinks) outside the folder.
    Outside,
    /// The name or the folder cannot be resolved (missing, a symlink loop, no permission).
    Io(std::io::Error),
}

impl std::fmt::Display for ConfineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfineError::NotPlain => f.write_str("is not a plain path inside the model folder"),
            ConfineError::Outside => f.write_str("resolves outside the model folder"),
            ConfineError::Io(e) => write!(f, "cannot be resolved: {e}"),
        }
    }
}

impl std::error::Error for ConfineError {}

/// Whether `rel` is a plain relative path: not empty, not absolute, only normal components
/// (and `.`).
pub fn is_plain(rel: &Path) -> bool {
    !rel.as_os_str().is_empty()
        && !rel.is_absolute()
        && rel
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// Folders a file named in `canon_folder` may resolve into: the folder itself, and for a
/// Hugging Face cache snapshot (`models--org--name/snapshots/<commit>`) the repository's
/// `blobs` folder, which its files link to (`../../blobs/<hash>`).
fn allowed_roots(canon_folder: &Path) -> Vec<PathBuf> {
    let mut roots = vec![canon_folder.to_path_buf()];
    let snapshots = canon_folder.parent();
    let repo = snapshots.and_then(Path::parent);
    if let (Some(snapshots), Some(repo)) = (snapshots, repo) {
        let is_repo = repo
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("models--") || n.starts_with("datasets--"));
        if is_repo && snapshots.file_name().is_some_and(|n| n == "snapshots") {
            roots.push(repo.join("blobs"));
        }
    }
    roots
}

/// Resolves `rel` (a name found inside `folder`: a shard, a side file, external data) to
/// `folder/rel`, refusing names that are not plain or that resolve, through symlinks, outside
/// the folder (the Hugging Face cache's snapshot → blobs links are allowed). Returns the
/// joined path (not the resolved one, so messages keep the name the user sees).
pub fn confine(folder: &Path, rel: &Path) -> Result<PathBuf, ConfineError> {
    if !is_plain(rel) {
        return Err(ConfineError::NotPlain);
    }
    let canon_folder = folder.canonicalize().map_err(ConfineError::Io)?;
    let full = folder.join(rel);
    let canon = full
        .canonicalize()
        .map_err(|e| ConfineError::Io(explain_missing(&full, e)))?;
    if allowed_roots(&canon_folder)
        .iter()
        .any(|r| canon.starts_with(r))
    {
        Ok(full)
    } else {
        Err(ConfineError::Outside)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_and_folders_are_refused_without_blocking() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("pipe");
        let st = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(st.success());
        let e = open_regular(&fifo).unwrap_err().to_string();
        assert!(e.contains("FIFO"), "{e}");
        let e = read_capped(d.path(), 10).unwrap_err().to_string();
        assert!(e.contains("folder"), "{e}");
        let e = read_capped(Path::new("/dev/zero"), 10)
            .unwrap_err()
            .to_string();
        assert!(e.contains("character device"), "{e}");
    }

    #[test]
    fn caps_are_checked_before_and_while_reading() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sparse");
        std::fs::File::create(&p).unwrap().set_len(2 << 30).unwrap();
        let e = read_capped(&p, 1 << 20).unwrap_err().to_string();
        assert!(e.contains("more than the cap"), "{e}");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(read_capped(&p, 3).unwrap(), b"abc");
        assert!(read_capped(&p, 2).is_err());
        // /proc files report a length of 0 and may be huge (pagemap: 8 bytes per page of the
        // address space): the read stops at cap + 1 bytes (or the kernel refuses it).
        assert!(read_capped(Path::new("/proc/self/pagemap"), 1 << 16).is_err());
        let e = read_capped(Path::new("/proc/self/maps"), 1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("grows as it is read"), "{e}");
    }

    #[test]
    fn confinement_allows_the_hf_snapshot_blobs() {
        let d = tempfile::tempdir().unwrap();
        let repo = d.path().join("models--org--name");
        let snap = repo.join("snapshots").join("0123");
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::create_dir_all(repo.join("blobs")).unwrap();
        std::fs::write(repo.join("blobs/abc"), b"x").unwrap();
        std::fs::write(d.path().join("secret"), b"x").unwrap();
        std::os::unix::fs::symlink("../../blobs/abc", snap.join("w.bin")).unwrap();
        std::os::unix::fs::symlink("../../../secret", snap.join("s.bin")).unwrap();
        std::os::unix::fs::symlink("loop", snap.join("loop")).unwrap();
        assert_eq!(
            confine(&snap, Path::new("w.bin")).unwrap(),
            snap.join("w.bin")
        );
        assert!(matches!(
            confine(&snap, Path::new("s.bin")),
            Err(ConfineError::Outside)
        ));
        assert!(matches!(
            confine(&snap, Path::new("../x")),
            Err(ConfineError::NotPlain)
        ));
        let e = confine(&snap, Path::new("loop")).unwrap_err().to_string();
        assert!(e.contains("symbolic links"), "{e}");
        // Outside a snapshot, blobs are not special.
        let plain = d.path().join("plain");
        std::fs::create_dir_all(&plain).unwrap();
        std::os::unix::fs::symlink("../models--org--name/blobs/abc", plain.join("w")).unwrap();
        assert!(matches!(
            confine(&plain, Path::new("w")),
            Err(ConfineError::Outside)
        ));
    }
}
