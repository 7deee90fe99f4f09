//! The `lightnasc` command line.

use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    keep_freed_memory();
    quiet_wayland_probe();
    let args = cli::Cli::parse();
    // Commands run on a worker thread so that a panic ends in the message below, not a backtrace.
    // Lowering has its own large-stack thread (`check::LOWERING_STACK`); this one gets as much
    // for the other recursive walks of user input (the formatter's, the language server's).
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

/// Mesa's Vulkan drivers (lavapipe among them) try a Wayland display while wgpu lists adapters,
/// and libwayland prints `error: XDG_RUNTIME_DIR is invalid or not set in the environment` for
/// each try where the variable is unset (a server, a container, CI): two to six such lines on a
/// successful `--device wgpu` run. An empty folder of our own, owned by us and private, quiets
/// it (no display there, so the driver goes on without one); a set variable is left alone.
/// Called before any thread starts.
fn quiet_wayland_probe() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt};
        if std::env::var_os("XDG_RUNTIME_DIR").is_some() {
            return;
        }
        // SAFETY: getuid has no preconditions.
        let uid = unsafe { libc::getuid() };
        let dir = std::env::temp_dir().join(format!("lightnasc-runtime-{uid}"));
        let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
        // Only a folder that is ours and private: one someone else made could hold a display.
        let Ok(meta) = std::fs::symlink_metadata(&dir) else { return };
        if meta.is_dir() && meta.uid() == uid && meta.mode() & 0o077 == 0 {
            // SAFETY: no other thread exists yet, so nothing reads the environment meanwhile.
            unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
        }
    }
}
