//! One module per command; [`run`] dispatches.

use crate::args::Command;
use crate::output::Output;
use crate::Status;

pub mod compare;
pub mod inspect;

/// Runs a parsed command.
pub fn run(cmd: Command, out: &Output) -> anyhow::Result<Status> {
    match cmd {
        Command::Inspect(a) => inspect::run(a, out),
        Command::Compare(a) => compare::run(a, out),
    }
}
