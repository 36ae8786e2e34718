//! The `taoke` binary: parses arguments, runs the command, maps errors to exit codes.
//!
//! Exit codes: 0 success; 1 a `--fail-on` check matched; 2 error (bad input file, bad
//! arguments, I/O).

use std::process::ExitCode;

fn main() -> ExitCode {
    taoke_cli::main()
}
