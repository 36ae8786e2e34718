//! Output files written whole or not at all, and outputs that would overwrite an input refused.
//!
//! [`write`](fn@write) (and [`write_many`] for a set of files that belong together) writes each file to a
//! temporary file in the same folder (`.NAME.tmp-PID-N`, created new), flushes it to disk
//! (`fsync`), then renames it over the target, so a reader, a crash or a full disk sees the old
//! file or the new one, never a truncated one. On any error the temporary file is removed and
//! the target is left as it was. [`refuse_input`] refuses an output path that names one of the
//! command's inputs (same device and inode, or the same canonical path).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Test hook: a write of more than this many bytes fails with "no space left on device" after
/// writing that many (the full-disk test's fallback when it cannot mount a small tmpfs).
pub const ENV_TEST_WRITE_LIMIT: &str = "TAOKE_TEST_WRITE_LIMIT";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The temporary file for `target`: hidden, in the same folder, unique to this process and
/// call.
fn temp_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = format!(".{name}.tmp-{}-{n}", std::process::id());
    match target.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => dir.join(tmp),
        None => PathBuf::from(tmp),
    }
}

/// Removes the temporary file when dropped unless disarmed (any error path, a panic).
struct TempGuard(Option<PathBuf>);

impl TempGuard {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn write_temp(tmp: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)?;
    let limit = std::env::var(ENV_TEST_WRITE_LIMIT)
        .ok()
        .and_then(|v| v.parse::<usize>().ok());
    match limit {
        Some(l) if data.len() > l => {
            f.write_all(&data[..l])?;
            return Err(std::io::Error::from_raw_os_error(28)); // ENOSPC
        }
        _ => f.write_all(data)?,
    }
    f.sync_all()
}

/// Flushes the folder's entry of a renamed file (best effort: not every file system allows
/// opening a folder).
fn sync_dir(target: &Path) {
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// An error writing `path`: the I/O error with the file named.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}: {source}", path.display())]
pub struct WriteError {
    /// The target file.
    pub path: PathBuf,
    /// The cause.
    pub source: std::io::Error,
}

/// Writes `data` to `path` atomically (see the module docs).
pub fn write(path: &Path, data: &[u8]) -> Result<(), WriteError> {
    write_many(&[(path, data)])
}

/// Writes several files that belong together: every temporary file is written and flushed
/// first, and only when all succeeded are they renamed into place (so a full disk leaves every
/// previous file as it was).
pub fn write_many(files: &[(&Path, &[u8])]) -> Result<(), WriteError> {
    let mut guards = Vec::with_capacity(files.len());
    for (path, data) in files {
        let tmp = temp_path(path);
        let guard = TempGuard(Some(tmp.clone()));
        write_temp(&tmp, data).map_err(|source| WriteError {
            path: path.to_path_buf(),
            source,
        })?;
        guards.push((guard, tmp, *path));
    }
    for (guard, tmp, path) in &mut guards {
        let path: &Path = path;
        std::fs::rename(&*tmp, path).map_err(|source| WriteError {
            path: path.to_path_buf(),
            source,
        })?;
        guard.disarm();
        sync_dir(path);
    }
    Ok(())
}

/// Whether `a` and `b` name the same existing file (same device and inode, or the same
/// canonical path).
pub fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            if ma.dev() == mb.dev() && ma.ino() == mb.ino() {
                return true;
            }
        }
    }
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// An output path that is one of the inputs.
#[derive(Debug, thiserror::Error)]
#[error("refusing to write {}: it is the input {input}", output.display())]
pub struct InputOverwrite {
    /// The output path.
    pub output: PathBuf,
    /// The input it names (as given).
    pub input: String,
}

/// Refuses `output` when it names one of `inputs` (files or folders, as given on the command
/// line; references that are not local paths never match).
pub fn refuse_input<S: AsRef<str>>(output: &Path, inputs: &[S]) -> Result<(), InputOverwrite> {
    for i in inputs {
        let i = i.as_ref();
        if same_file(output, Path::new(i)) {
            return Err(InputOverwrite {
                output: output.to_path_buf(),
                input: i.to_owned(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect()
    }

    #[test]
    fn writes_replaces_and_cleans_up_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.json");
        write(&p, b"first").unwrap();
        write(&p, b"second").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"second");
        // A target that cannot be replaced (a folder): an error naming it, the temp file gone.
        let d = dir.path().join("sub");
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("x"), b"x").unwrap();
        let e = write(&d, b"data").unwrap_err();
        assert!(e.to_string().contains("sub"), "{e}");
        assert!(
            leftovers(dir.path()).is_empty(),
            "{:?}",
            leftovers(dir.path())
        );
        // A missing folder: an error, nothing created.
        assert!(write(&dir.path().join("no/such/file"), b"x").is_err());
        assert!(!dir.path().join("no").exists());
    }

    #[test]
    fn same_file_through_links_and_spellings() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.bin");
        std::fs::write(&a, b"a").unwrap();
        let dotted = dir.path().join(".").join("a.bin");
        assert!(same_file(&a, &dotted));
        let hard = dir.path().join("hard.bin");
        std::fs::hard_link(&a, &hard).unwrap();
        assert!(same_file(&a, &hard));
        assert!(!same_file(&a, &dir.path().join("missing")));
        let e = refuse_input(&hard, &[a.to_string_lossy()]).unwrap_err();
        assert!(e.to_string().contains("hard.bin"), "{e}");
        assert!(refuse_input(&dir.path().join("new.bin"), &[a.to_string_lossy()]).is_ok());
    }
}
