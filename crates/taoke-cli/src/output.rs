//! Output policy: stdout carries data; errors, warnings, hints and progress go to stderr.
//! Colour only when wanted and allowed (`--color`, `NO_COLOR`). Progress spinners only when
//! stderr is a terminal and `--quiet` is not given.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::args::{ColorChoice, GlobalArgs};

/// Where and how a command writes.
#[derive(Debug)]
pub struct Output {
    /// Use ANSI colours on stdout.
    pub color: bool,
    /// Suppress progress and hints.
    pub quiet: bool,
    /// Draw progress on stderr (a terminal, not quiet).
    pub progress: bool,
    /// Use ANSI colours on stderr (progress).
    pub stderr_color: bool,
}

impl Output {
    /// From the global flags and the environment.
    pub fn new(g: &GlobalArgs) -> Output {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let color = match g.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => !no_color && std::io::stdout().is_terminal(),
        };
        let stderr_tty = std::io::stderr().is_terminal();
        let stderr_color = match g.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => !no_color && stderr_tty,
        };
        Output {
            color,
            quiet: g.quiet,
            progress: !g.quiet && stderr_tty,
            stderr_color,
        }
    }

    /// A spinner on stderr with `msg` and the elapsed time; hidden (a no-op) when progress is
    /// off. Finish it with [`Progress::done`].
    pub fn spinner(&self, msg: impl Into<String>) -> Progress {
        let bar = if self.progress {
            let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            let template = if self.stderr_color {
                "{spinner:.cyan} {msg} {elapsed:.dim}"
            } else {
                "{spinner} {msg} {elapsed}"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                pb.set_style(style);
            }
            pb.enable_steady_tick(Duration::from_millis(120));
            pb
        } else {
            ProgressBar::hidden()
        };
        bar.set_message(msg.into());
        Progress { bar }
    }

    /// Writes data to `path`, or to stdout when `None`.
    pub fn write_data(&self, path: Option<&Path>, data: &str) -> anyhow::Result<()> {
        match path {
            Some(p) => {
                std::fs::write(p, data)
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", p.display()))?;
                self.hint(&format!("wrote {}", p.display()));
            }
            None => {
                let mut out = std::io::stdout().lock();
                out.write_all(data.as_bytes())?;
                out.flush()?;
            }
        }
        Ok(())
    }

    /// A `hint:` line on stderr (unless quiet).
    pub fn hint(&self, msg: &str) {
        if !self.quiet {
            eprintln!("hint: {msg}");
        }
    }

    /// A `warning:` line on stderr.
    pub fn warn(&self, msg: &str) {
        eprintln!("warning: {msg}");
    }

    /// Prints an error and its causes on stderr.
    pub fn error(&self, err: &anyhow::Error) {
        // One line: the context chain joined with ": " (scripts and logs read one line per
        // error; the innermost cause names the file and the tensor).
        let line = format!("{err:#}").replace('\n', " ");
        eprintln!("error: {line}");
    }

    /// Wraps `s` in bold when colour is on.
    pub fn bold(&self, s: &str) -> String {
        if self.color {
            format!("\x1b[1m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }
}

/// A phase-level progress indicator on stderr (see [`Output::spinner`]).
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// Changes the message.
    pub fn set(&self, msg: impl Into<String>) {
        self.bar.set_message(msg.into());
    }

    /// Prints a line above the spinner (nothing when progress is off).
    pub fn line(&self, msg: &str) {
        if !self.bar.is_hidden() {
            self.bar.println(msg);
        }
    }

    /// Removes the spinner.
    pub fn done(self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if !self.bar.is_finished() {
            self.bar.finish_and_clear();
        }
    }
}
