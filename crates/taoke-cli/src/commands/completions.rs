//! `taoke completions SHELL` and `taoke man`: shell completion scripts (clap_complete) and the
//! manual page in roff (clap_mangen), both generated from the argument definitions so they
//! never drift from the binary, and printed to stdout so they work after `cargo install`:
//!
//! ```text
//! taoke completions bash > ~/.local/share/bash-completion/completions/taoke
//! taoke man > ~/.local/share/man/man1/taoke.1
//! ```

use clap::Args;

use crate::output::Output;
use crate::Status;

/// `taoke completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `taoke man`.
#[derive(Debug, Args)]
pub struct ManArgs {}

/// Runs `taoke completions`.
pub fn completions(args: CompletionsArgs, out: &Output) -> anyhow::Result<Status> {
    let mut cmd = crate::command();
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "taoke", &mut buf);
    out.write_data(None, &String::from_utf8(buf)?)?;
    Ok(Status::Ok)
}

/// Runs `taoke man`.
pub fn man(_args: ManArgs, out: &Output) -> anyhow::Result<Status> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(crate::command()).render(&mut buf)?;
    out.write_data(None, &String::from_utf8(buf)?)?;
    Ok(Status::Ok)
}
