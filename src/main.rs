//! The `lightnasc` command line.

use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    // Lowering recurses once per nested block; run on a thread with a generous stack so that no
    // accepted input can overflow it.
    let worker = std::thread::Builder::new().stack_size(256 << 20).spawn(move || cli::run(args));
    match worker.map(|h| h.join()) {
        Ok(Ok(code)) => code,
        _ => {
            eprintln!("error: lightnasc stopped unexpectedly (an internal error); please report it with the input");
            ExitCode::from(70)
        }
    }
}
