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
/// kernel zeroing each one): about a tenth of a MeliusNet-22 step on the CPU. Keep freed memory
/// in the heap instead: pages are not returned between steps (peak resident memory of a
/// MeliusNet-22 benchmark: 532-586 MiB before, 577-644 after). Called before any thread starts.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets allocator parameters; no other thread exists yet.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}
