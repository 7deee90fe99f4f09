//! `lightnasc sweep PLAN`: `--shard I/N` runs one shard's runs in this process; `--local -j K`
//! runs the shards as K parallel processes of `--shard`; `--emit slurm|k8s` prints the cluster
//! script that does; `--status` shows where each run stands.
//!
//! A shard never counts a run twice: a run already in any ledger file of the sweep is skipped, a
//! run with a checkpoint resumes from it, and a run is locked (an OS file lock, released when its
//! process dies) while a process works on it. Each shard appends to its own ledger file.

use std::collections::BTreeMap;
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

use clap::Parser;
use serde::Serialize;

use lightnasc::error::Error;
use lightnasc::ledger::{self, Entry};
use lightnasc::search::checkpoint;
use lightnasc::sweep::{SweepPlan, Unit, emit};

use super::{Cli, Emit, Shard, SweepArgs, emit as print, fail};
use lightnasc::util::AtPath as _;

pub fn run(args: &SweepArgs) -> ExitCode {
    let plan = match SweepPlan::from_file(&args.plan) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    // Every run's command line must parse before anything runs anywhere.
    for u in &plan.units {
        let argv = std::iter::once("lightnasc".to_string()).chain(u.start_args(&plan.out));
        if let Err(e) = Cli::try_parse_from(argv) {
            let msg = e.render().to_string();
            let first = msg.lines().next().unwrap_or_default().trim_start_matches("error: ");
            return fail(format!("{}: run `{}`: {first}", args.plan.display(), u.name));
        }
    }
    let shards = args.shards.map_or(plan.units.len(), |n| n as usize);
    let plan_path = args.plan.display().to_string();
    if let Some(s) = args.shard {
        return run_shard(&plan, s);
    }
    if args.local {
        return run_local(&plan_path, &plan, shards, args.jobs as usize);
    }
    if args.status {
        return status(&plan, shards);
    }
    match args.emit {
        Some(Emit::Slurm) => {
            let exe = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or("lightnasc".into());
            let workdir = std::env::current_dir().map(|p| p.display().to_string()).unwrap_or(".".into());
            // sbatch does not make the log folder; a job whose log cannot be opened fails unseen.
            if let Err(e) = std::fs::create_dir_all(plan.out.join("logs")) {
                return fail(format!("{}: {e}", plan.out.join("logs").display()));
            }
            let o =
                emit::Slurm { exe, workdir, parallel: args.parallel.map(|p| p as usize), extra: args.sbatch.clone() };
            print(&emit::slurm(&plan_path, &plan, shards, &o));
        }
        Some(Emit::K8s) => {
            let o = emit::Kubernetes {
                image: args.image.clone(),
                claim: args.claim.clone(),
                mount: args.mount.clone(),
                parallel: args.parallel.map(|p| p as usize),
                retries: args.retries as usize,
            };
            print(&emit::kubernetes(&plan_path, &plan, shards, &o));
        }
        None => unreachable!("clap requires one mode"),
    }
    ExitCode::SUCCESS
}

/// The finished runs of the sweep, by run-folder name, from every ledger file in its folder.
fn finished(plan: &SweepPlan) -> Result<BTreeMap<String, Entry>, Error> {
    Ok(ledger::read_folder(&plan.out)?
        .into_iter()
        .filter_map(|e| Some((Path::new(&e.run).file_name()?.to_string_lossy().into_owned(), e)))
        .collect())
}

/// A run's lock, held while a process works on it.
fn lock_path(plan: &SweepPlan, unit: &Unit) -> PathBuf {
    plan.out.join("locks").join(format!("{}.lock", unit.name))
}

/// Take a run's lock without waiting: `None` if another process holds it.
fn try_lock(path: &Path) -> Result<Option<File>, Error> {
    std::fs::create_dir_all(path.parent().expect("under the sweep folder")).at(path)?;
    let f = File::options().create(true).truncate(false).write(true).open(path).at(path)?;
    match f.try_lock() {
        Ok(()) => Ok(Some(f)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(Error::usage(format!("{}: {e}", path.display()))),
    }
}

#[derive(Serialize)]
struct ShardStatus<'a> {
    shard: usize,
    of: usize,
    pid: u32,
    host: String,
    state: &'a str,
    runs: Vec<(&'a str, &'a str)>,
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

fn status_path(plan: &SweepPlan, s: Shard) -> PathBuf {
    plan.out.join("shards").join(format!("shard-{}-of-{}.json", s.index, s.count))
}

fn write_status(plan: &SweepPlan, s: Shard, state: &str, runs: &[(&str, &str)]) {
    let path = status_path(plan, s);
    let st =
        ShardStatus { shard: s.index, of: s.count, pid: std::process::id(), host: host(), state, runs: runs.to_vec() };
    let text = serde_json::to_string_pretty(&st).expect("serialises");
    // The status is for people and the local runner; a run goes on without it.
    let _ = std::fs::create_dir_all(path.parent().expect("under the sweep folder"));
    let _ = lightnasc::util::write_atomic(&path, text.as_bytes());
}

/// Run one shard's runs here, one after the other.
fn run_shard(plan: &SweepPlan, s: Shard) -> ExitCode {
    let units = plan.shard(s.index, s.count);
    let ledger_file = plan.out.join(format!("ledger-shard-{}-of-{}.jsonl", s.index, s.count));
    eprintln!("sweep `{}`: shard {}/{}: {} of its {} runs", plan.name, s.index, s.count, units.len(), plan.units.len());
    let mut outcome: Vec<(&str, &str)> = units.iter().map(|u| (u.name.as_str(), "waiting")).collect();
    write_status(plan, s, "running", &outcome);
    for (k, unit) in units.iter().enumerate() {
        let result = run_unit(plan, unit, &ledger_file);
        outcome[k].1 = match &result {
            Ok(state) => state,
            Err(e) => {
                eprintln!("error: {}: {e}", unit.name);
                "failed"
            }
        };
        write_status(plan, s, "running", &outcome);
    }
    let failed: Vec<&str> = outcome.iter().filter(|o| o.1 != "finished" && o.1 != "skipped").map(|o| o.0).collect();
    write_status(plan, s, if failed.is_empty() { "done" } else { "failed" }, &outcome);
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        fail(format!("shard {}/{}: {} did not finish: {}", s.index, s.count, failed.len(), failed.join(", ")))
    }
}

/// Run (or resume, or skip) one run; `Ok` with what happened.
fn run_unit(plan: &SweepPlan, unit: &Unit, ledger_file: &Path) -> Result<&'static str, Error> {
    if finished(plan)?.contains_key(&unit.name) {
        eprintln!("{}: finished (in the ledger); skipped", unit.name);
        return Ok("skipped");
    }
    let Some(_lock) = try_lock(&lock_path(plan, unit))? else {
        return Err(Error::usage("another process is running it (its lock is held)"));
    };
    // It may have finished while we waited for the lock.
    if finished(plan)?.contains_key(&unit.name) {
        return Ok("skipped");
    }
    let dir = plan.out.join(&unit.name);
    let mut argv = if checkpoint::find(&dir).is_some() {
        eprintln!("{}: resuming from its checkpoint", unit.name);
        vec![unit.command.name().to_string(), "--resume".into(), dir.display().to_string()]
    } else {
        if dir.exists() {
            // Killed before its first checkpoint: nothing in it is worth keeping.
            std::fs::remove_dir_all(&dir).at(&dir)?;
        }
        eprintln!("{}: starting", unit.name);
        unit.start_args(&plan.out)
    };
    argv.extend(["--ledger".into(), ledger_file.display().to_string()]);
    let cli = Cli::try_parse_from(std::iter::once("lightnasc".to_string()).chain(argv)).map_err(Error::usage)?;
    if super::run(cli) == ExitCode::SUCCESS {
        Ok("finished")
    } else {
        Err(Error::usage("the run failed (its error is above)"))
    }
}

/// Every shard as a child process, `jobs` at a time; shards whose runs are all finished are not
/// started. Each shard's output goes to `logs/shard-I-of-N.log` in the sweep folder.
fn run_local(plan_path: &str, plan: &SweepPlan, shards: usize, jobs: usize) -> ExitCode {
    let done = match finished(plan) {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    let logs = plan.out.join("logs");
    if let Err(e) = std::fs::create_dir_all(&logs) {
        return fail(format!("{}: {e}", logs.display()));
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return fail(format!("cannot find this program to start its shards: {e}")),
    };
    let mut pending: Vec<Shard> = vec![];
    for index in 0..shards {
        let s = Shard { index, count: shards };
        if plan.shard(index, shards).iter().all(|u| done.contains_key(&u.name)) {
            eprintln!("shard {index}/{shards}: all its runs are finished");
        } else {
            pending.push(s);
        }
    }
    pending.reverse(); // pop from the front
    // A bar on a terminal, else a line every 10 s: a sweep killed at a time limit says how far it got.
    let (total, mut finished) = (pending.len() as u64, 0);
    let template = "{prefix} [{bar:30}] {pos}/{len} shards, {elapsed} elapsed, ETA {eta} | {msg}";
    let mut bar = lightnasc::progress::Bar::new(total, "sweep".into(), "shards", template);
    let mut running: Vec<(Shard, Child)> = vec![];
    let mut failed: Vec<(Shard, String)> = vec![];
    while !pending.is_empty() || !running.is_empty() {
        while running.len() < jobs
            && let Some(s) = pending.pop()
        {
            let log = logs.join(format!("shard-{}-of-{}.log", s.index, s.count));
            let child = File::create(&log).and_then(|out| {
                Command::new(&exe)
                    .args(["sweep", plan_path, "--shard", &format!("{}/{}", s.index, s.count)])
                    .stdin(Stdio::null())
                    .stdout(out.try_clone()?)
                    .stderr(out)
                    .spawn()
            });
            match child {
                Ok(c) => running.push((s, c)),
                Err(e) => failed.push((s, format!("could not start: {e}"))),
            }
        }
        bar.set_message(format!(
            "running {}",
            running.iter().map(|r| r.0.index.to_string()).collect::<Vec<_>>().join(",")
        ));
        std::thread::sleep(Duration::from_millis(100));
        let mut k = 0;
        while k < running.len() {
            match running[k].1.try_wait() {
                Ok(None) => k += 1,
                other => {
                    let (s, _) = running.remove(k);
                    match other {
                        Ok(Some(st)) if st.success() => {}
                        Ok(Some(st)) => failed.push((s, describe_exit(st))),
                        Err(e) => failed.push((s, e.to_string())),
                        Ok(None) => unreachable!(),
                    }
                    finished += 1;
                    bar.set_position(finished);
                }
            }
        }
    }
    bar.finish();
    if failed.is_empty() {
        eprintln!("sweep `{}`: every shard finished; the results are in {}", plan.name, plan.out.display());
        return ExitCode::SUCCESS;
    }
    failed.sort_by_key(|f| f.0.index);
    for (s, why) in &failed {
        eprintln!(
            "shard {}/{} {why}; its log: {}; rerun it alone with `lightnasc sweep {plan_path} --shard {}/{}`",
            s.index,
            s.count,
            logs.join(format!("shard-{}-of-{}.log", s.index, s.count)).display(),
            s.index,
            s.count
        );
    }
    fail(format!("{} of {shards} shards failed", failed.len()))
}

fn describe_exit(st: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    match (st.code(), st.signal()) {
        (Some(c), _) => format!("failed (exit {c})"),
        (None, Some(sig)) => format!("was killed (signal {sig})"),
        _ => "failed".into(),
    }
}

/// A table of the runs: shard, state (finished with its accuracy, running, half done, not
/// started).
fn status(plan: &SweepPlan, shards: usize) -> ExitCode {
    let done = match finished(plan) {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    let mut o =
        format!("sweep `{}`: {} runs in {} shards, in {}\n", plan.name, plan.units.len(), shards, plan.out.display());
    o.push_str(&format!("{:>5}  {:<11}  run\n", "shard", "state"));
    let mut counts = BTreeMap::<&str, usize>::new();
    for (j, u) in plan.units.iter().enumerate() {
        let (state, detail) = if let Some(e) = done.get(&u.name) {
            ("finished", format!("val {:.4}, {:.0}s on {}", e.val_accuracy, e.wall_seconds, e.device))
        } else if matches!(try_lock(&lock_path(plan, u)), Ok(None)) {
            ("running", String::new())
        } else if let Some(c) = checkpoint::find(&plan.out.join(&u.name)) {
            let st = checkpoint::load_state(&c).map(|s| format!("epoch {}, batch {}", s.epoch + 1, s.batch));
            ("stopped", format!("checkpoint at {}", st.unwrap_or_else(|e| e.to_string())))
        } else {
            ("not started", String::new())
        };
        *counts.entry(state).or_default() += 1;
        o.push_str(&format!("{:>5}  {:<11}  {}  {detail}\n", j % shards, state, u.name));
    }
    let summary: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
    o.push_str(&format!("{}\n", summary.join(", ")));
    print(&o);
    ExitCode::SUCCESS
}
