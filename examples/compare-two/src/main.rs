//! Uses taoke as a library, through the `taoke` crate alone:
//!
//! ```sh
//! cargo run -p compare-two -- MODEL_A MODEL_B
//! ```
//!
//! Prints the verdict, the kinds and the decisive evidence; exits 2 on an unreadable model.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [a, b] = args.as_slice() else {
        eprintln!("usage: compare-two MODEL_A MODEL_B");
        return ExitCode::from(2);
    };
    match run(a, b) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(a: &str, b: &str) -> taoke::Result<()> {
    let a = taoke::open(a)?;
    let b = taoke::open(b)?;
    // Stages are reported on stderr; the flag would stop the comparison if set.
    let stop = AtomicBool::new(false);
    let progress = |stage: &str| eprintln!("taoke: {stage}");
    let control = taoke::Control::none().progress(&progress).interrupt(&stop);
    let context = taoke::Context::new(Vec::new());
    let c = taoke::compare_with(&a, &b, &taoke::Options::default(), &context, &control)?;
    println!("verdict: {}", c.verdict.as_str());
    let kinds: Vec<&str> = c.kinds.iter().map(|k| k.as_str()).collect();
    println!("kinds: {}", kinds.join(", "));
    println!(
        "log10 p: {}",
        c.log10_p_value.map_or("n/a".into(), |l| format!("{l:.1}"))
    );
    println!("{}", c.decisive);
    Ok(())
}
