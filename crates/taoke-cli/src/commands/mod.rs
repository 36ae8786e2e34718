//! One module per command; [`run`] dispatches.

use crate::args::Command;
use crate::output::Output;
use crate::Status;

pub mod audit;
pub mod census;
pub mod compare;
pub mod completions;
#[cfg(feature = "demo")]
pub mod demo;
/// `taoke demo` needs the zoo (candle, to train its models): a build without the `demo`
/// feature says so.
#[cfg(not(feature = "demo"))]
pub mod demo {
    /// Fails: this build has no zoo.
    pub fn run(
        _: crate::args::DemoArgs,
        _: &crate::output::Output,
    ) -> anyhow::Result<crate::Status> {
        anyhow::bail!(
            "this taoke was built without the `demo` feature (the zoo of trained tiny models); \
             reinstall with `cargo install --path crates/taoke-cli` (default features)"
        )
    }
}
pub mod fingerprint;
pub mod identify;
pub mod inspect;
pub mod kb;
pub mod registry;
pub mod tokenizer_diff;

/// Runs a parsed command.
pub fn run(cmd: Command, out: &Output) -> anyhow::Result<Status> {
    match cmd {
        Command::Inspect(a) => {
            // `-o` never writes over the model (the output helper refuses its inputs).
            out.set_inputs(&[a.model.as_str()]);
            inspect::run(a, out)
        }
        Command::Compare(a) => compare::run(a, out),
        Command::Demo(a) => demo::run(a, out),
        Command::TokenizerDiff(a) => tokenizer_diff::run(a, out),
        Command::Audit(a) => {
            out.set_inputs(&[a.model.as_str()]);
            audit::run(a, out)
        }
        Command::Fingerprint(a) => fingerprint::run(a, out),
        Command::Registry(a) => registry::run(a, out),
        Command::Identify(a) => identify::run(a, out),
        Command::Census(a) => census::run(a, out),
        Command::Kb(a) => kb::run(a, out),
        Command::Completions(a) => completions::completions(a, out),
        Command::Man(a) => completions::man(a, out),
    }
}
