//! SIGKILL at random instants: a search and a training run are killed again and again at instants
//! drawn from a seed (printed, so a failure reproduces), each time resumed with `--resume`, until
//! one attempt finishes; the result must be bit for bit the uninterrupted run's (weights digest,
//! history) and the ledger must hold it once. CI kills each kind 3 times;
//! `LIGHTNASC_KILLS=25 cargo test --release --test kill` (25 of each, 50 in all) is the long version
//! (docs/runs.md).
//!
//! The instants are drawn over the run's life once its folder holds its config: a kill while the
//! folder is being made (a few milliseconds) is not covered.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lightnasc::util::SplitMix64;

fn ledger_entries(runs: &Path, name: &str) -> usize {
    let text = std::fs::read_to_string(runs.join("ledger.jsonl")).unwrap_or_default();
    let run = |l: &str| serde_json::from_str::<serde_json::Value>(l).unwrap()["run"].as_str().unwrap().to_string();
    text.lines().filter(|l| Path::new(&run(l)).file_name().is_some_and(|f| f == name)).count()
}

/// `args` run whole as `whole`, then as `killed` with up to `kills` SIGKILLs and resumes (an
/// attempt may finish first); returns the kills that landed.
fn killed_runs_end_as_the_whole_one(sub: &str, args: &[&str], kills: usize, rng: &mut SplitMix64) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let spawn = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_lightnasc"))
            .arg(sub)
            .args(extra)
            .args(["--runs-dir", runs.to_str().unwrap()])
            .current_dir(common::root())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let started = Instant::now();
    let whole = spawn(&[args, &["--name", "whole"]].concat()).wait_with_output().unwrap();
    assert!(whole.status.success(), "{}", String::from_utf8_lossy(&whole.stderr));
    let span = started.elapsed().as_millis() as u64;

    let run = runs.join("killed");
    let mut landed = 0;
    let finished = loop {
        let fresh = !run.join("config.yml").is_file();
        let mut child = if fresh {
            spawn(&[args, &["--name", "killed"]].concat())
        } else {
            spawn(&["--resume", run.to_str().unwrap()])
        };
        if landed == kills {
            break child.wait_with_output().unwrap();
        }
        let begun = Instant::now();
        while !run.join("config.yml").is_file() && begun.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(5));
        }
        // Within a third of a whole run: most kills land before the attempt could finish.
        std::thread::sleep(Duration::from_millis(rng.below(span / 3)));
        if child.try_wait().unwrap().is_some() {
            break child.wait_with_output().unwrap(); // it finished first
        }
        child.kill().unwrap();
        child.wait().unwrap();
        landed += 1;
    };
    let err = String::from_utf8_lossy(&finished.stderr);
    assert!(finished.status.success(), "after {landed} kills: {err}");
    let (a, b) = (common::checkpoint_state(&runs.join("whole")), common::checkpoint_state(&run));
    assert_eq!(b["weights_digest"], a["weights_digest"], "after {landed} kills");
    assert_eq!(common::history_without_times(&b), common::history_without_times(&a), "after {landed} kills");
    assert_eq!(ledger_entries(&runs, "killed"), 1, "after {landed} kills");
    eprintln!("{sub}: {landed} kills, resumed to the uninterrupted result");
    landed
}

/// Rounds of [`killed_runs_end_as_the_whole_one`] until `LIGHTNASC_KILLS` kills (default 3) landed.
fn kill_until_enough(sub: &str, args: &[&str], rng: &mut SplitMix64) {
    let want: usize = std::env::var("LIGHTNASC_KILLS").ok().and_then(|k| k.parse().ok()).unwrap_or(3);
    let mut landed = 0;
    for _ in 0..want * 10 {
        if landed >= want {
            break;
        }
        landed += killed_runs_end_as_the_whole_one(sub, args, want - landed, rng);
    }
    assert!(landed >= want, "{sub}: only {landed} of {want} kills landed before the attempts finished");
    eprintln!("{sub}: {landed} kills in all");
}

#[test]
fn searches_and_training_runs_killed_at_random_instants_resume_to_the_same_result() {
    let seed = std::env::var("LIGHTNASC_KILL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    eprintln!("kill instants from LIGHTNASC_KILL_SEED={seed}");
    let mut rng = SplitMix64(seed);
    let demo = common::root().join("specs/demo.lnas");
    let demo = demo.to_str().unwrap();
    let common_args = ["--data", "mock:fashion-mnist", "--epochs", "2", "--batch-size", "32", "--seed", "5"];
    let frequent = ["--set", "checkpoint_steps=2", "--set", "reward.latency=ops"];
    let search = [&[demo][..], &common_args, &frequent].concat();
    kill_until_enough("search", &search, &mut rng);
    let train = [&[demo, "--pin", "random:1"][..], &common_args, &frequent].concat();
    kill_until_enough("train", &train, &mut rng);
}
