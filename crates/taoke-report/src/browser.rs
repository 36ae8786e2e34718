//! Opening an HTML report in headless Chromium (Debian's `chromium`): dump the DOM after
//! rendering, collect console errors, take screenshots. Used by the tests (the report must
//! render its heatmap without console errors) and to take the screenshot in `docs/`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Debian installs Chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Errors of a browser run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrowserError {
    /// Chromium is not installed.
    #[error("chromium not found at {0} (install Debian's `chromium`, see scripts/ci-deps)")]
    Missing(String),
    /// Running it failed.
    #[error("running chromium on {path}: {source}")]
    Io {
        /// The page.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// It exited with a failure.
    #[error("chromium failed on {path} ({status}): {stderr}")]
    Failed {
        /// The page.
        path: PathBuf,
        /// Exit status.
        status: String,
        /// The end of its stderr.
        stderr: String,
    },
}

/// What a page looked like after Chromium rendered it.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The serialized DOM (`--dump-dom`).
    pub dom: String,
    /// Console errors and uncaught exceptions found in Chromium's log.
    pub console_errors: Vec<String>,
}

impl Rendered {
    /// How many times `needle` occurs in the DOM.
    pub fn count(&self, needle: &str) -> usize {
        self.dom.matches(needle).count()
    }
}

/// Whether Chromium is installed.
pub fn available() -> bool {
    Path::new(CHROMIUM).is_file()
}

fn base_command(profile: &Path) -> Command {
    let mut c = Command::new(CHROMIUM);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
    ]);
    c.arg(format!("--user-data-dir={}", profile.display()));
    c
}

fn url(page: &Path) -> String {
    let abs = std::fs::canonicalize(page).unwrap_or_else(|_| page.to_path_buf());
    format!("file://{}", abs.display())
}

fn console_errors(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| {
            l.contains("Uncaught") || l.contains("ERROR:CONSOLE") || l.contains(":CONSOLE(")
        })
        .map(str::to_owned)
        .collect()
}

fn run(mut cmd: Command, page: &Path) -> Result<(String, String), BrowserError> {
    if !available() {
        return Err(BrowserError::Missing(CHROMIUM.to_owned()));
    }
    let out = cmd.output().map_err(|e| BrowserError::Io {
        path: page.to_path_buf(),
        source: e,
    })?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        let tail: String = stderr
            .chars()
            .rev()
            .take(2000)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Err(BrowserError::Failed {
            path: page.to_path_buf(),
            status: out.status.to_string(),
            stderr: tail,
        });
    }
    Ok((String::from_utf8_lossy(&out.stdout).into_owned(), stderr))
}

/// Renders `page` and returns its DOM and console errors. `profile` must be a fresh, empty
/// directory (Chromium's user data dir).
pub fn dump_dom(page: &Path, profile: &Path) -> Result<Rendered, BrowserError> {
    let mut cmd = base_command(profile);
    cmd.arg("--dump-dom").arg(url(page));
    let (dom, stderr) = run(cmd, page)?;
    Ok(Rendered {
        dom,
        console_errors: console_errors(&stderr),
    })
}

/// Takes a PNG screenshot of `page` at `width × height` CSS pixels into `png`.
pub fn screenshot(
    page: &Path,
    png: &Path,
    width: u32,
    height: u32,
    profile: &Path,
) -> Result<Vec<String>, BrowserError> {
    let mut cmd = base_command(profile);
    cmd.arg(format!("--screenshot={}", png.display()))
        .arg(format!("--window-size={width},{height}"))
        .arg(url(page));
    let (_, stderr) = run(cmd, page)?;
    Ok(console_errors(&stderr))
}
