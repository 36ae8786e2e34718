//! [`RemoteFile`]: one remote file seen through the range cache.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::cache::{self, Meta};
use crate::client::Got;
use crate::ranges::split;
use crate::{Client, Error, RangeSet, Result};

/// What is cached and what is being fetched.
#[derive(Debug)]
struct State {
    have: RangeSet,
    busy: RangeSet,
    /// Append handle of the `ranges` index.
    index: std::fs::File,
}

/// A remote file: length and version from the server (or, offline, from the cache), bytes
/// fetched on demand into the cache's sparse file.
#[derive(Debug)]
pub struct RemoteFile {
    meta: Meta,
    dir: PathBuf,
    data: std::fs::File,
    state: Mutex<State>,
    cond: Condvar,
    /// Set once the server has answered a range with 206: later reads are fetched
    /// concurrently. Until then they go one at a time, so a server that ignores ranges sends
    /// the whole file once, not once per concurrent request.
    ranges_ok: AtomicBool,
    client: Arc<Client>,
}

impl RemoteFile {
    /// Opens `url`: a `HEAD` for its length and ETag (offline: the cache's record of it),
    /// then the cache folder of that version.
    pub fn open(client: Arc<Client>, url: &str) -> Result<RemoteFile> {
        let cache_dir = client.config.cache_dir.clone();
        let meta = if let Some(err) = client.offline_error(url, "the file is") {
            cache::recorded(&cache_dir, url).ok_or(err)?
        } else {
            let head = client.head(url)?;
            Meta {
                url: url.to_owned(),
                etag: head.etag,
                len: head.len,
            }
        };
        let dir = meta.dir(&cache_dir);
        fs_err::create_dir_all(&dir).map_err(|e| Error::cache(&dir, e))?;
        let data_path = dir.join("data");
        let ranges_path = dir.join("ranges");
        let data = fs_err::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&data_path)
            .map_err(|e| Error::cache(&data_path, e))?
            .into_parts()
            .0;
        let on_disk = data
            .metadata()
            .map_err(|e| Error::cache(&data_path, e))?
            .len();
        let have = if on_disk == meta.len {
            cache::load_ranges(&ranges_path, meta.len)
        } else {
            // New, or left inconsistent: start empty (a sparse file of the right length).
            data.set_len(0)
                .and_then(|()| data.set_len(meta.len))
                .map_err(|e| Error::cache(&data_path, e))?;
            RangeSet::new()
        };
        // Compact the index to its merged form, then append to it.
        cache::write_atomic(&ranges_path, cache::ranges_text(&have).as_bytes())?;
        let index = fs_err::OpenOptions::new()
            .append(true)
            .open(&ranges_path)
            .map_err(|e| Error::cache(&ranges_path, e))?
            .into_parts()
            .0;
        let meta_json = serde_json::to_vec_pretty(&meta).expect("invariant: Meta serializes");
        cache::write_atomic(&dir.join("meta.json"), &meta_json)?;
        if client.config.offline.is_none() {
            cache::write_atomic(&cache::url_record(&cache_dir, url), &meta_json)?;
        }
        Ok(RemoteFile {
            meta,
            dir,
            data,
            state: Mutex::new(State {
                have,
                busy: RangeSet::new(),
                index,
            }),
            cond: Condvar::new(),
            ranges_ok: AtomicBool::new(false),
            client,
        })
    }

    /// The URL.
    pub fn url(&self) -> &str {
        &self.meta.url
    }

    /// The file length in bytes.
    pub fn len(&self) -> u64 {
        self.meta.len
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.meta.len == 0
    }

    /// The server's ETag of this version (empty if it sent none).
    pub fn etag(&self) -> &str {
        &self.meta.etag
    }

    /// The cache's sparse copy of the file (bytes outside [`RemoteFile::cached`] are zeros
    /// until fetched).
    pub fn data_path(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The cache folder of this version.
    pub fn cache_dir(&self) -> &Path {
        &self.dir
    }

    /// The ranges held in the cache.
    pub fn cached(&self) -> RangeSet {
        self.lock().have.clone()
    }

    /// Whether the whole file is in the cache.
    pub fn is_complete(&self) -> bool {
        self.lock().have.contains(0, self.meta.len)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves sets that are still valid.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes sure `[offset, offset + len)` is in the cache.
    pub fn ensure(&self, offset: u64, len: u64) -> Result<()> {
        let end = offset.checked_add(len).ok_or_else(|| {
            Error::protocol(
                &self.meta.url,
                format!("range [{offset}, +{len}) overflows"),
            )
        })?;
        self.ensure_many(&[(offset, end)])
    }

    /// Makes sure every `[start, end)` of `ranges` is in the cache: the missing parts are
    /// merged when closer than the merge gap, split into chunks, and fetched (concurrently
    /// once the server has shown it honours ranges). Parts another thread is fetching are
    /// waited for, not fetched twice.
    pub fn ensure_many(&self, ranges: &[(u64, u64)]) -> Result<()> {
        for &(a, b) in ranges {
            if a > b || b > self.meta.len {
                return Err(Error::protocol(
                    &self.meta.url,
                    format!(
                        "range [{a}, {b}) is outside the file ({} bytes)",
                        self.meta.len
                    ),
                ));
            }
        }
        loop {
            let mut st = self.lock();
            let mut need = Vec::new();
            let mut waiting = false;
            for &(a, b) in ranges {
                for (x, y) in st.have.missing(a, b) {
                    let free = st.busy.missing(x, y);
                    waiting |= free.iter().map(|(p, q)| q - p).sum::<u64>() < y - x;
                    need.extend(free);
                }
            }
            if need.is_empty() && !waiting {
                return Ok(());
            }
            if let Some(e) = self.client.offline_error(
                &self.meta.url,
                format!(
                    "bytes [{}, {}) are",
                    need.first().map_or(0, |r| r.0),
                    need.last().map_or(0, |r| r.1)
                ),
            ) {
                return Err(e);
            }
            if need.is_empty() {
                drop(self.cond.wait(st));
                continue;
            }
            // Merge pieces closer than the merge gap when the bytes between are neither cached
            // nor being fetched (fetching them again would only waste bytes).
            need.sort_unstable();
            let gap = self.client.config.merge_gap;
            let mut merged: Vec<(u64, u64)> = Vec::with_capacity(need.len());
            for (a, b) in need {
                match merged.last_mut() {
                    Some(last)
                        if a <= last.1
                            || (a - last.1 <= gap
                                && st.have.missing(last.1, a) == [(last.1, a)]
                                && st.busy.missing(last.1, a) == [(last.1, a)]) =>
                    {
                        last.1 = last.1.max(b)
                    }
                    _ => merged.push((a, b)),
                }
            }
            let need = merged;
            for &(a, b) in &need {
                st.busy.insert(a, b);
            }
            drop(st);
            let r = self.fetch(&need);
            let mut st = self.lock();
            for &(a, b) in &need {
                st.busy.remove(a, b);
            }
            drop(st);
            self.cond.notify_all();
            r?;
        }
    }

    /// Fetches `need` (sorted, disjoint) into the cache.
    fn fetch(&self, need: &[(u64, u64)]) -> Result<()> {
        let pieces = split(need, self.client.config.chunk);
        let first_error: Mutex<Option<Error>> = Mutex::new(None);
        let next = AtomicUsize::new(0);
        let work = || loop {
            if first_error.lock().map(|e| e.is_some()).unwrap_or(true) {
                return;
            }
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(&(a, b)) = pieces.get(i) else {
                return;
            };
            if let Err(e) = self.fetch_one(a, b) {
                if let Ok(mut slot) = first_error.lock() {
                    slot.get_or_insert(e);
                }
                return;
            }
        };
        let mut start = 0;
        if !self.ranges_ok.load(Ordering::Relaxed) && !pieces.is_empty() {
            // Learn whether the server honours ranges before asking several at once.
            next.store(1, Ordering::Relaxed);
            self.fetch_one(pieces[0].0, pieces[0].1)?;
            start = 1;
        }
        let workers = self
            .client
            .config
            .concurrency
            .clamp(1, 64)
            .min(pieces.len().saturating_sub(start));
        if workers <= 1 {
            work();
        } else {
            std::thread::scope(|s| {
                for _ in 0..workers {
                    s.spawn(work);
                }
            });
        }
        match first_error.into_inner() {
            Ok(Some(e)) => Err(e),
            _ => Ok(()),
        }
    }

    /// Fetches one piece (skipped if it arrived meanwhile, e.g. with a whole-file answer).
    fn fetch_one(&self, a: u64, b: u64) -> Result<()> {
        if self.lock().have.contains(a, b) {
            return Ok(());
        }
        let data_path = self.dir.join("data");
        let got =
            self.client
                .get_range(&self.meta.url, a, b, self.meta.len, &mut |off, bytes| {
                    self.data.write_all_at(bytes, off)
                })?;
        let (s, e) = match got {
            Got::Range => {
                self.ranges_ok.store(true, Ordering::Relaxed);
                (a, b)
            }
            Got::Whole => (0, self.meta.len),
        };
        let mut st = self.lock();
        st.have.insert(s, e);
        cache::append_range(&mut st.index, s, e).map_err(|e| Error::cache(&data_path, e))
    }

    /// Reads `buf.len()` bytes at `offset`, fetching what the cache lacks.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.ensure(offset, buf.len() as u64)?;
        self.data
            .read_exact_at(buf, offset)
            .map_err(|e| Error::cache(self.data_path(), e))
    }

    /// Fetches the whole file into the cache (for formats read from a local copy).
    pub fn fetch_all(&self) -> Result<()> {
        self.ensure(0, self.meta.len)
    }

    /// A read-only handle on the cache's sparse copy.
    pub fn cache_file(&self) -> Result<std::fs::File> {
        let p = self.data_path();
        fs_err::File::open(&p)
            .map(|f| f.into_parts().0)
            .map_err(|e| Error::cache(&p, e))
    }
}
