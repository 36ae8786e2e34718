//! The taoke command-line interface: argument types ([`args`]), one module per command
//! ([`commands`]) and the output policy ([`output`]). The binary's `main` only calls [`main`].

pub mod args;
pub mod commands;
pub mod output;
pub mod provenance;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

/// Exit status of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Success.
    Ok,
    /// A requested check matched (`--fail-on`).
    CheckFailed,
    /// An error.
    Error,
}

impl From<Status> for ExitCode {
    fn from(s: Status) -> ExitCode {
        ExitCode::from(match s {
            Status::Ok => 0,
            Status::CheckFailed => 1,
            Status::Error => 2,
        })
    }
}

/// `taoke --version`: the package version and the git commit it was built from (`unknown`
/// outside a git checkout; see `build.rs`).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("TAOKE_GIT_COMMIT"),
    ")"
);

/// The clap command of the whole CLI, with [`VERSION`] (also used for completions and the
/// manual page).
pub fn command() -> clap::Command {
    commands::Cli::command().version(VERSION)
}

/// Parses the command line, runs it and returns the exit code.
pub fn main() -> ExitCode {
    tune_allocator();
    let parsed = command()
        .try_get_matches()
        .and_then(|m| commands::Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let out = output::Output::new(&cli.global);
    match commands::run(cli.command, &out) {
        Ok(status) => status.into(),
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::from(0);
            }
            out.error(&err);
            Status::Error.into()
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// glibc's malloc raises its mmap threshold each time a large block is freed, after which
/// blocks of that size come from the per-thread arenas and stay resident once freed: on the
/// 7B compare, 350 MB of freed per-block buffers stayed in the arenas (peak RSS 0.56 GB; with
/// a fixed threshold 0.26 GB). A fixed threshold hands every buffer above 4 MiB back to the
/// kernel when it is freed (1 MiB: the same peak, but 1.5 s more system time mapping fresh
/// pages on the 1B compare; 16 MiB: 10 % more peak at 7B). Below that size, freed memory
/// stays in the arenas up to 64 MiB instead of being trimmed after each large free and
/// faulted in again: page faults of the 1B compare 1.09 M -> 0.50 M, of the 13B compare
/// 3.6 M -> 1.6 M; peak RSS 0.23 / 0.26 / 0.27 GB at 1B / 7B / 13B (was 0.23 / 0.20 / 0.23).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn tune_allocator() {
    // SAFETY: `mallopt` only sets a parameter of the C allocator; it is called once, at the
    // start of `main`, before any thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}
