//! Running one workload as a child process and measuring it.
//!
//! - **wall time**: measured here, around the child;
//! - **CPU time, peak RSS, faults, block input**: the kernel's `getrusage` of the child, as
//!   reported by GNU `/usr/bin/time` (`%U`, `%S`, `%M`, `%F`, `%R`, `%I`); `%I` counts
//!   512-byte blocks read from the device, i.e. `read_bytes` of `/proc/<pid>/io` — zero when
//!   the page cache already holds the files;
//! - **RSS split**: `/proc/<pid>/status` (`RssAnon`, `RssFile`) sampled every 20 ms, so heap
//!   memory is told apart from mapped file pages (both count in the peak RSS);
//! - a **memory cap** and a **timeout**: the child is killed when its anonymous RSS exceeds
//!   the cap or the wall time the limit (memory maps make `prlimit --as` useless here).
//!
//! A **cold** run first drops the page cache of the workload's files only
//! (`dd iflag=nocache count=0`, i.e. `posix_fadvise(DONTNEED)`, which needs no privileges).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What one measured run gave.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// Seconds of wall time.
    pub wall: f64,
    /// Seconds of user CPU time.
    pub user: f64,
    /// Seconds of system CPU time.
    pub sys: f64,
    /// Peak RSS in bytes (`ru_maxrss`).
    pub max_rss: u64,
    /// Peak sampled anonymous RSS in bytes.
    pub peak_anon: u64,
    /// Peak sampled file-backed RSS in bytes.
    pub peak_file: u64,
    /// Major page faults.
    pub majflt: u64,
    /// Minor page faults.
    pub minflt: u64,
    /// Bytes read from the block device (`%I` × 512).
    pub disk_read: u64,
    /// Exit status (`None` when killed).
    pub status: Option<i32>,
    /// Why the run was killed, if it was.
    pub killed: Option<String>,
    /// The child's stdout.
    pub stdout: String,
}

/// Limits of a run.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Kill when anonymous RSS exceeds this many bytes.
    pub max_anon: u64,
    /// Kill after this long.
    pub timeout: Duration,
}

fn status_kb(pid: u32, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The (grand)child of `/usr/bin/time`, i.e. the measured process.
fn measured_pid(time_pid: u32) -> Option<u32> {
    std::fs::read_to_string(format!("/proc/{time_pid}/task/{time_pid}/children"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Drops the page cache of `files` (cold runs).
pub fn drop_cache(files: &[PathBuf]) {
    for f in files {
        let _ = Command::new("dd")
            .arg(format!("if={}", f.display()))
            .args(["iflag=nocache", "count=0", "status=none"])
            .status();
    }
}

/// Runs `argv` under `/usr/bin/time` and measures it.
pub fn run(argv: &[String], limits: Limits) -> std::io::Result<Run> {
    let out = std::env::temp_dir().join(format!("taoke-bench-{}.time", std::process::id()));
    let mut child = Command::new("/usr/bin/time")
        .arg("-o")
        .arg(&out)
        .arg("-f")
        .arg("%e %U %S %M %F %R %I %x")
        .args(argv)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let t0 = Instant::now();
    let mut stdout = child.stdout.take().expect("invariant: piped");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let mut r = Run::default();
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        if let Some(pid) = measured_pid(child.id()) {
            let anon = status_kb(pid, "RssAnon:").unwrap_or(0) * 1024;
            let file = status_kb(pid, "RssFile:").unwrap_or(0) * 1024;
            r.peak_anon = r.peak_anon.max(anon);
            r.peak_file = r.peak_file.max(file);
            let why = if anon > limits.max_anon {
                Some(format!(
                    "anonymous RSS {:.1} GiB over the cap",
                    anon as f64 / GIB
                ))
            } else if t0.elapsed() > limits.timeout {
                Some(format!(
                    "timeout after {:.0} s",
                    limits.timeout.as_secs_f64()
                ))
            } else {
                None
            };
            if let Some(why) = why {
                let _ = Command::new("kill").arg(pid.to_string()).status();
                r.killed = Some(why);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    r.wall = t0.elapsed().as_secs_f64();
    r.stdout = reader.join().unwrap_or_default();
    let t = std::fs::read_to_string(&out).unwrap_or_default();
    let _ = std::fs::remove_file(&out);
    // The last line holds the format (earlier lines may say "Command exited with ...").
    let f: Vec<&str> = t.lines().last().unwrap_or("").split_whitespace().collect();
    let num = |i: usize| {
        f.get(i)
            .and_then(|x| x.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    r.user = num(1);
    r.sys = num(2);
    r.max_rss = (num(3) * 1024.0) as u64;
    r.majflt = num(4) as u64;
    r.minflt = num(5) as u64;
    r.disk_read = (num(6) * 512.0) as u64;
    r.status = status.code();
    Ok(r)
}

/// Bytes in a GiB.
pub const GIB: f64 = (1u64 << 30) as f64;

/// The weight files of a model reference (a file, or every regular file of a folder).
pub fn files_of(path: &Path) -> Vec<PathBuf> {
    if path.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(path)
            .map(|d| {
                d.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.is_file())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    } else {
        vec![path.to_owned()]
    }
}

/// Reads `files` front to back with 16 MiB `read()` calls; returns the bytes read. The plain
/// sequential read that workloads are compared with.
pub fn sequential_read(files: &[PathBuf]) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 16 << 20];
    let mut total = 0u64;
    let mut x = 0u8;
    for f in files {
        let mut h = std::fs::File::open(f)?;
        loop {
            let n = h.read(&mut buf)?;
            if n == 0 {
                break;
            }
            // Touch the data so the read is not a no-op.
            x ^= buf[n - 1];
            total += n as u64;
        }
    }
    std::hint::black_box(x);
    Ok(total)
}
