//! The taoke command-line interface: argument types ([`args`]), one module per command
//! ([`commands`]) and the output policy ([`output`]). The binary's `main` only calls [`main`].

pub mod args;
pub mod commands;
pub mod output;

use std::process::ExitCode;

use clap::Parser;

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

/// Parses the command line, runs it and returns the exit code.
pub fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
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
