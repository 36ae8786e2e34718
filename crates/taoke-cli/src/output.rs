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
    /// The command's inputs (never written over).
    inputs: std::sync::Mutex<Vec<String>>,
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
            inputs: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The same policy without progress or hints (for work nested under a spinner).
    pub fn silent(&self) -> Output {
        Output {
            color: self.color,
            quiet: true,
            progress: false,
            stderr_color: self.stderr_color,
            inputs: std::sync::Mutex::new(Vec::new()),
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

    /// Records the command's inputs (model paths as given): [`Output::write_data`] refuses
    /// to write over any of them.
    pub fn set_inputs<S: AsRef<str>>(&self, inputs: &[S]) {
        if let Ok(mut v) = self.inputs.lock() {
            *v = inputs.iter().map(|s| s.as_ref().to_owned()).collect();
        }
    }

    /// Refuses `path` when it names one of the inputs recorded by [`Output::set_inputs`] or
    /// given here.
    pub fn refuse_input(&self, path: &Path, more: &[&str]) -> anyhow::Result<()> {
        let mut all: Vec<String> = self.inputs.lock().map(|v| v.clone()).unwrap_or_default();
        all.extend(more.iter().map(|s| (*s).to_owned()));
        taoke_registry::atomic::refuse_input(path, &all)?;
        Ok(())
    }

    /// Writes data to `path` (atomically: a temporary file in the same folder, flushed, then
    /// renamed; never over an input), or to stdout when `None`.
    pub fn write_data(&self, path: Option<&Path>, data: &str) -> anyhow::Result<()> {
        match path {
            Some(p) => {
                self.refuse_input(p, &[])?;
                taoke_registry::atomic::write(p, data.as_bytes())?;
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
            eprintln!("hint: {}", escape(msg));
        }
    }

    /// A `warning:` line on stderr.
    pub fn warn(&self, msg: &str) {
        eprintln!("warning: {}", escape(msg));
    }

    /// Prints an error and its causes on stderr.
    pub fn error(&self, err: &anyhow::Error) {
        eprintln!("error: {}", error_line(err));
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

/// One line for an error: its context chain joined with ": " (scripts and logs read one line
/// per error; the innermost cause names the file and the tensor), a cause left out when the
/// message before it already says it (library errors that print their source, SQLite's text
/// repeated by rusqlite), control characters escaped.
pub fn error_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    let mut prev = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        let text = text.trim();
        // Said already, or the previous cause again with a prefix ("Error code 26: …").
        let repeated = line.contains(text) || (!prev.is_empty() && text.ends_with(&prev));
        prev = text.to_owned();
        if text.is_empty() || repeated {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(text);
    }
    escape(&line.replace('\n', " ")).into_owned()
}

/// `s` safe to print on a terminal: control characters (escape sequences, carriage returns,
/// newlines) and the bidirectional-text overrides that can make a name read as another are
/// written as `\u{..}` escapes (`\n`, `\r`, `\t` as such). Names come from registry packs and
/// file names written by strangers.
pub fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !s.chars().any(bad) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if bad(c) => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
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
