//! Output policy: stdout carries data; errors, warnings and hints go to stderr. Colour only
//! when wanted and allowed (`--color`, `NO_COLOR`).

use std::io::{IsTerminal, Write};
use std::path::Path;

use crate::args::{ColorChoice, GlobalArgs};

/// Where and how a command writes.
#[derive(Debug)]
pub struct Output {
    /// Use ANSI colours on stdout.
    pub color: bool,
    /// Suppress progress and hints.
    pub quiet: bool,
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
        Output {
            color,
            quiet: g.quiet,
        }
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
