//! The `lightnasc` command line.

use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    keep_freed_memory();
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

/// A training step allocates and frees maps of tens of MB. glibc serves those from fresh `mmap`s
/// and gives freed heap tops back to the system, so every step faulted its pages in again (the
/// kernel zeroing each one): about a tenth of a MeliusNet-22 step on the CPU. So: no `mmap`s, no
/// trimming, and one arena (a thread's own arena holds at most 64 MiB; a larger map, as at batch
/// 64, was mmapped and unmapped whatever the first two say: a quarter slower). Pages are kept
/// between steps; peak resident memory of the MeliusNet-22 benchmark went from 532-586 to 444-468
/// MiB at batch 32, 1052-1136 to 829 at 64. Called before any thread starts.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets allocator parameters; no other thread exists yet.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
