//! A full disk and a read-only runs folder: the run stops with one clear error naming the file
//! and the cause, nothing panics, nothing already written is lost, and once the disk has room
//! (or is writable again) `--resume` ends bit for bit where an uninterrupted run ends.
//!
//! The disk is a small tmpfs the test mounts (root, with the right to mount: CI's machines and
//! this project's have it); where mounting is refused the test says so and stops.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const RUN: &[&str] = &[
    "search",
    "specs/demo.lnas",
    "--data",
    "mock:fashion-mnist",
    "--epochs",
    "2",
    "--train-limit",
    "256",
    "--batch-size",
    "32",
    "--set",
    "checkpoint_steps=2",
];

/// A tmpfs of `size` mounted at `dir`, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(dir).output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs(dir.to_path_buf())),
            Ok(o) => {
                eprintln!("skipped: mounting a tmpfs was refused: {}", String::from_utf8_lossy(&o.stderr).trim());
                None
            }
            Err(e) => {
                eprintln!("skipped: no `mount`: {e}");
                None
            }
        }
    }

    fn remount(&self, options: &str) {
        let out = Command::new("mount").args(["-o", &format!("remount,{options}")]).arg(&self.0).output().unwrap();
        assert!(out.status.success(), "remount {options}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn run(runs: &Path, extra: &[&str]) -> Output {
    let mut args = RUN.to_vec();
    args.extend(["--runs-dir", runs.to_str().unwrap()]);
    args.extend(extra);
    common::lightnasc(&args)
}

fn resume(run: &Path) -> Output {
    common::lightnasc(&["search", "--resume", run.to_str().unwrap()])
}

/// The finished run's result: weights digest and history without wall times.
fn result(run: &Path) -> (serde_json::Value, Vec<serde_json::Value>) {
    let st = common::checkpoint_state(run);
    (st["weights_digest"].clone(), common::history_without_times(&st))
}

/// One error line naming the cause, exit code 1, no panic.
#[track_caller]
fn refused(out: &Output, cause: &str) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{err}");
    let line = err.lines().find(|l| l.starts_with("error: ")).unwrap_or_else(|| panic!("no error line: {err}"));
    // The error line names the cause and the file (inside the test's disk).
    assert!(line.contains(cause) && line.contains("/disk/runs/r"), "{err}");
    assert!(!err.contains("panicked") && !err.contains("internal error"), "{err}");
    eprintln!("{err}");
    err
}

#[test]
fn a_full_disk_and_a_read_only_folder_stop_the_run_clearly_and_lose_nothing() {
    if !common::full_tier("root and a tmpfs mount") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let whole_runs = dir.path().join("whole");
    common::ok_for(&run(&whole_runs, &["--name", "r"]), "the uninterrupted run");
    let want = result(&whole_runs.join("r"));
    let size: u64 = common::files(&whole_runs.join("r")).values().map(|b| b.len() as u64).sum();

    // A disk with room for a third of the run: the first checkpoint does not fit. The error
    // names the file; the folder, which holds nothing to resume, is removed, and the same
    // command starts afresh once there is room.
    let kb = |bytes: u64| format!("{}k", bytes / 1024);
    let Some(disk) = Tmpfs::mount(&dir.path().join("disk"), &kb(size / 3)) else { return };
    let runs = disk.0.join("runs");
    let err = refused(&run(&runs, &["--name", "r"]), "No space left on device");
    assert!(err.contains("the same command starts it afresh"), "{err}");
    assert!(!runs.join("r").exists());
    disk.remount(&format!("size={}", kb(size * 4)));
    common::ok_for(&run(&runs, &["--name", "r"]), "the same command, with room");
    assert_eq!(result(&runs.join("r")), want);

    // Room for one checkpoint but not for the next beside it (a checkpoint is written whole
    // before the last one goes): the run stops at the second, the first intact; `--resume`
    // with room ends as the whole run.
    std::fs::remove_dir_all(&runs).unwrap();
    disk.remount(&format!("size={}", kb(size * 7 / 5)));
    let err = refused(&run(&runs, &["--name", "r"]), "No space left on device");
    assert!(err.contains("checkpoint.new"), "{err}");
    assert!(runs.join("r/checkpoint/state.json").is_file(), "the last checkpoint is kept");
    disk.remount(&format!("size={}", kb(size * 4)));
    common::ok_for(&resume(&runs.join("r")), "resume after the disk had room");
    assert_eq!(result(&runs.join("r")), want);

    // A run stopped half-way (as if killed), then its folder made read-only: resuming says so
    // and changes nothing; `report` still reads it; writable again, it ends as the whole run.
    std::fs::remove_dir_all(&runs).unwrap();
    common::ok_for(&run(&runs, &["--name", "r", "--stop-after-steps", "5"]), "a stopped run");
    let before = common::files(&runs);
    disk.remount("ro");
    refused(&resume(&runs.join("r")), "Read-only file system");
    assert!(common::files(&runs) == before, "a refused resume changed the folder");
    let report = common::lightnasc(&["report", runs.to_str().unwrap()]);
    assert!(!String::from_utf8_lossy(&report.stderr).contains("panicked"));
    disk.remount("rw");
    common::ok_for(&resume(&runs.join("r")), "resume once writable");
    assert_eq!(result(&runs.join("r")), want);
}
