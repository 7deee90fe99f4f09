//! `lightnasc sweep`: six shards run locally two at a time, one of them killed (SIGKILL) mid-run
//! and rerun alone, give a ledger with every run exactly once and a merged report; the Slurm
//! script passes `bash -n` and runs as a shard when bash runs it; the Kubernetes manifest parses
//! with PyYAML as an Indexed Job and its command runs as a shard.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{lightnasc, root, sweep_ledger as ledger};

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn six_shards_with_one_killed_and_rerun_count_every_run_once() {
    if !common::full_tier("PyYAML (pip), minutes") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let cfg = dir.path().join("c.yml");
    // Latencies from the cost model (timing noise would make runs differ); frequent checkpoints.
    std::fs::write(&cfg, "epochs: 2\nbatch_size: 32\ncheckpoint_steps: 2\nreward: {latency: ops}\n").unwrap();
    let demo = root().join("specs/demo.lnas");
    let plan = dir.path().join("plan.yml");
    std::fs::write(
        &plan,
        format!(
            "name: t\nout: {out}\ncommon:\n  config: {cfg}\n  data: mock:fashion-mnist\nruns:\n  \
             - search: {demo}\n    seed: [1, 2, 3, 4]\n  \
             - search: {demo}\n    controller: random\n  \
             - train: {demo}\n    pin: random:1\n    epochs: 1\n",
            out = out.display(),
            cfg = cfg.display(),
            demo = demo.display()
        ),
    )
    .unwrap();
    let plan_arg = plan.to_str().unwrap();
    let units = [
        "000-search-demo-seed=1",
        "001-search-demo-seed=2",
        "002-search-demo-seed=3",
        "003-search-demo-seed=4",
        "004-search-demo-controller=random",
        "005-train-demo-pin=random_1-epochs=1",
    ];

    // The cluster scripts first (they run nothing).
    let slurm = lightnasc(&["sweep", plan_arg, "--emit", "slurm", "--parallel", "2", "--sbatch=--time=00:30:00"]);
    common::ok(&slurm);
    let script = dir.path().join("t.sbatch");
    std::fs::write(&script, &slurm.stdout).unwrap();
    let syntax = Command::new("bash").arg("-n").arg(&script).output().unwrap();
    assert!(syntax.status.success(), "bash -n: {}", text(&syntax));
    let s = String::from_utf8_lossy(&slurm.stdout).into_owned();
    assert!(s.lines().any(|l| l == "#SBATCH --array=0-5%2"), "{s}");
    assert!(s.lines().any(|l| l == "#SBATCH --time=00:30:00"), "{s}");
    assert!(s.contains("--shard \"${SLURM_ARRAY_TASK_ID}/6\""), "{s}");
    assert!(out.join("logs").is_dir(), "sbatch needs the log folder to exist");

    let k8s = lightnasc(&["sweep", plan_arg, "--emit", "k8s", "--parallel", "2", "--image", "reg.example/lightnasc:1"]);
    common::ok(&k8s);
    let manifest = dir.path().join("t.yaml");
    std::fs::write(&manifest, &k8s.stdout).unwrap();
    let python = common::python_venv("yaml", &["pyyaml==6.0.2"]);
    let parsed = Command::new(&python)
        .args(["-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))"])
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(parsed.status.success(), "PyYAML: {}", text(&parsed));
    let job: serde_json::Value = serde_json::from_slice(&parsed.stdout).unwrap();
    assert_eq!(job["apiVersion"], "batch/v1");
    assert_eq!(job["kind"], "Job");
    assert_eq!(job["spec"]["completionMode"], "Indexed");
    assert_eq!(job["spec"]["completions"], 6);
    assert_eq!(job["spec"]["parallelism"], 2);
    assert_eq!(job["spec"]["template"]["spec"]["restartPolicy"], "Never");
    let container = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "reg.example/lightnasc:1");
    let command: Vec<String> =
        container["command"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
    assert_eq!(command, ["lightnasc", "sweep", plan_arg, "--shard", "$(JOB_COMPLETION_INDEX)/6"]);

    // Six shards, two at a time; shard 3 is killed once its run has a checkpoint.
    let mut local = Command::new(env!("CARGO_BIN_EXE_lightnasc"))
        .args(["sweep", plan_arg, "--local", "-j", "2"])
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status_file = out.join("shards/shard-3-of-6.json");
    let started = Instant::now();
    let pid = loop {
        let shard: Option<serde_json::Value> =
            std::fs::read_to_string(&status_file).ok().and_then(|t| serde_json::from_str(&t).ok());
        let checkpoint = out.join(units[3]).join("checkpoint/state.json");
        if let Some(s) = shard
            && s["state"] == "running"
            && checkpoint.is_file()
        {
            break s["pid"].as_u64().unwrap();
        }
        assert!(local.try_wait().unwrap().is_none(), "the sweep ended before shard 3 could be killed");
        assert!(started.elapsed() < Duration::from_secs(600), "shard 3 never checkpointed");
        std::thread::sleep(Duration::from_millis(20));
    };
    let kill = Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap();
    assert!(kill.success());
    let first = local.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(1), "{}", text(&first));
    let log = text(&first);
    assert!(log.contains("shard 3/6 was killed (signal 9)"), "{log}");
    assert!(log.contains("--shard 3/6`"), "the rerun command is given: {log}");
    assert!(log.contains("1 of 6 shards failed"), "{log}");
    // Off a terminal, the progress is lines (at most every 10 s, and one at the end).
    assert!(log.contains("sweep: 6/6 shards | running"), "{log}");
    let before: Vec<String> = ledger(&out).into_iter().map(|e| e.0).collect();
    assert_eq!(before.len(), 5, "the five other runs finished: {before:?}");
    assert!(!before.contains(&units[3].to_string()));
    let status = lightnasc(&["sweep", plan_arg, "--status"]);
    common::ok(&status);
    assert!(text(&status).contains("5 finished, 1 stopped"), "{}", text(&status));

    // The killed shard alone: its run resumes from the checkpoint.
    let rerun = lightnasc(&["sweep", plan_arg, "--shard", "3/6"]);
    common::ok(&rerun);
    assert!(text(&rerun).contains(&format!("{}: resuming from its checkpoint", units[3])), "{}", text(&rerun));
    // Everything again: nothing runs twice.
    let again = lightnasc(&["sweep", plan_arg, "--local", "-j", "2"]);
    common::ok(&again);
    assert_eq!(text(&again).matches("all its runs are finished").count(), 6, "{}", text(&again));
    // The Slurm script and the Kubernetes command run as shards, and skip what is done.
    let slurm_run =
        Command::new("bash").arg(&script).env("SLURM_ARRAY_TASK_ID", "0").current_dir(root()).output().unwrap();
    common::ok(&slurm_run);
    assert!(text(&slurm_run).contains(&format!("{}: finished (in the ledger); skipped", units[0])));
    let k8s_run = Command::new(env!("CARGO_BIN_EXE_lightnasc"))
        .args(command[1..].iter().map(|c| c.replace("$(JOB_COMPLETION_INDEX)", "5")))
        .current_dir(root())
        .output()
        .unwrap();
    common::ok(&k8s_run);
    assert!(text(&k8s_run).contains(&format!("{}: finished (in the ledger); skipped", units[5])));

    // Each run exactly once in the ledger, from the shard that ran it.
    let entries = ledger(&out);
    let mut count = BTreeMap::<String, usize>::new();
    for (run, _) in &entries {
        *count.entry(run.clone()).or_default() += 1;
    }
    assert_eq!(count.keys().map(String::as_str).collect::<Vec<_>>(), units);
    assert!(count.values().all(|&n| n == 1), "{count:?}");
    for (run, e) in &entries {
        let k: usize = run[..3].parse().unwrap();
        let file = out.join(format!("ledger-shard-{k}-of-6.jsonl"));
        assert!(std::fs::read_to_string(file).unwrap().contains(run.as_str()), "{run} is in its shard's ledger");
        let kind = if k == 4 {
            "random"
        } else if k == 5 {
            "train"
        } else {
            "search"
        };
        assert_eq!(e["kind"], kind, "{run}");
    }
    // Seeds 1..4 really are different runs.
    let seeds: Vec<u64> =
        entries.iter().filter(|e| e.1["kind"] == "search").map(|e| e.1["seed"].as_u64().unwrap()).collect();
    assert_eq!(
        {
            let mut s = seeds.clone();
            s.sort();
            s
        },
        [1, 2, 3, 4]
    );

    // The report merges the shards: six runs, each with its ledger entry's device and wall time.
    let report = lightnasc(&["report", out.to_str().unwrap(), "--format", "json"]);
    common::ok(&report);
    let r: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    let runs = r["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 6);
    for run in runs {
        let name = Path::new(run["run"].as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned();
        let e = &entries.iter().find(|e| e.0 == name).unwrap().1;
        assert_eq!(run["device"], e["device"], "{name}");
        assert_eq!(run["wall_seconds"], e["wall_seconds"], "{name}");
        assert_eq!(run["result"]["val_accuracy"], e["val_accuracy"], "{name}");
    }

    // The shipped sample plan is valid: every run's command line parses.
    let sample = lightnasc(&["sweep", "specs/sweeps/demo.yml", "--status"]);
    common::ok(&sample);
    assert!(text(&sample).contains("6 runs in 6 shards"), "{}", text(&sample));
    // A plan whose run has a bad flag is refused before anything runs.
    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, format!("name: b\nout: {}\nruns:\n  - search: x.lnas\n    epoch: 3\n", out.display()))
        .unwrap();
    let refused = lightnasc(&["sweep", bad.to_str().unwrap(), "--shard", "0/1"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused).contains("000-search-x") && text(&refused).contains("--epoch"), "{}", text(&refused));
}
