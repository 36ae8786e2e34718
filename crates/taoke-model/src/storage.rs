//! Bytes of one model file: memory-mapped (default) or read with positioned reads.
//!
//! This is the only module of the workspace that uses `unsafe` (to create the memory map).

use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// How files are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IoMode {
    /// Memory-map files (zero-copy).
    #[default]
    Mmap,
    /// Read tensor bytes with positioned reads into owned buffers (headers are still parsed
    /// from a map). Exists so tests can check that both paths give identical results.
    Buffered,
}

/// Ranges up to this many bytes are read with a positioned read even in [`IoMode::Mmap`].
const SMALL_READ: u64 = 256 << 10;

/// One opened file.
#[derive(Debug)]
pub struct ModelFile {
    /// Path of the file.
    pub path: PathBuf,
    /// File length in bytes.
    pub len: u64,
    map: memmap2::Mmap,
    file: std::fs::File,
    mode: IoMode,
    /// For a remote file: its ranges are fetched into the cache file `file` before reading.
    remote: Option<crate::remote::Remote>,
}

impl ModelFile {
    /// Opens and maps `path`, which must be a regular file (a FIFO or a device is refused
    /// before it can block).
    pub fn open(path: &Path, mode: IoMode) -> std::io::Result<ModelFile> {
        let file = crate::fsafe::open_regular(path)?;
        let len = file.metadata()?.len();
        let map = map(&file)?;
        Ok(ModelFile {
            path: path.to_owned(),
            len,
            map,
            file,
            mode,
            remote: None,
        })
    }

    /// A remote file (`path` is its URL): read through the cache's sparse copy.
    pub(crate) fn remote(
        path: PathBuf,
        remote: crate::remote::Remote,
        mode: IoMode,
    ) -> std::io::Result<ModelFile> {
        let file = remote.file.cache_file().map_err(std::io::Error::other)?;
        Ok(ModelFile {
            path,
            len: remote.file.len(),
            map: empty_map()?,
            file,
            mode,
            remote: Some(remote),
        })
    }

    /// The whole file as a byte slice (used by the header parsers). For a remote file: the
    /// fetched header prefix followed by a version tag (its URL and ETag), so two views are
    /// byte-equal only for the same version of the same remote file.
    pub fn bytes(&self) -> &[u8] {
        match &self.remote {
            Some(r) => &r.view,
            None => &self.map,
        }
    }

    /// `len` bytes at `offset`, borrowed from the map or read into a buffer depending on the
    /// mode. Fails when the range is outside the file.
    pub fn read_at(&self, offset: u64, len: u64) -> std::io::Result<Cow<'_, [u8]>> {
        let end = offset
            .checked_add(len)
            .filter(|&e| e <= self.len)
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "range [{offset}, +{len}) is outside {} ({} bytes)",
                        self.path.display(),
                        self.len
                    ),
                )
            })?;
        if let Some(r) = &self.remote {
            // Fetch what the cache lacks; the positioned read below reads the cache file.
            r.file
                .ensure(offset, len)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
        }
        match self.mode {
            // Small ranges (a sampled row, a norm gain) are copied with one positioned read:
            // touching the map instead faults in the page and, by fault-around, its
            // neighbours (64 KiB per sampled row), which stay resident until the tensor is
            // released: 0.14 GB of a 7B comparison's peak was such mapped pages.
            IoMode::Mmap if len > SMALL_READ && self.remote.is_none() => {
                Ok(Cow::Borrowed(&self.map[offset as usize..end as usize]))
            }
            IoMode::Mmap | IoMode::Buffered => {
                use std::os::unix::fs::FileExt;
                let mut buf = vec![0u8; len as usize];
                self.file.read_exact_at(&mut buf, offset)?;
                Ok(Cow::Owned(buf))
            }
        }
    }

    /// Tells the kernel that the pages of `[offset, offset+len)` are no longer needed, so a
    /// pass over a file larger than memory keeps a bounded resident set.
    pub fn release(&self, offset: u64, len: u64) {
        if self.mode == IoMode::Mmap && self.remote.is_none() && offset < self.len {
            let len = len.min(self.len - offset) as usize;
            // Advice only; failure changes nothing observable.
            let _ = self
                .map
                .advise_range(memmap2::Advice::Normal, offset as usize, len);
            release_pages(&self.map, offset as usize, len);
        }
    }
}

#[allow(unsafe_code)]
fn map(file: &std::fs::File) -> std::io::Result<memmap2::Mmap> {
    if file.metadata()?.len() == 0 {
        // Mapping an empty file fails on some platforms; map nothing instead.
        return empty_map();
    }
    // SAFETY: the map is read-only. If another process truncates or rewrites the file while
    // it is mapped, reads may see the new bytes or fault (SIGBUS); taoke treats model files
    // as immutable inputs, as every mmap-based model reader does.
    unsafe { memmap2::Mmap::map(file) }
}

fn empty_map() -> std::io::Result<memmap2::Mmap> {
    memmap2::MmapOptions::new().len(0).map_anon().map(|m| {
        m.make_read_only()
            .expect("invariant: an anonymous map can be made read-only")
    })
}

#[allow(unsafe_code)]
fn release_pages(map: &memmap2::Mmap, offset: usize, len: usize) {
    // SAFETY: DontNeed on a private read-only file mapping only drops clean pages; later
    // reads fault them back in from the file, so the contents seen never change.
    let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, offset, len) };
}
