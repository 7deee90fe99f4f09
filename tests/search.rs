//! `lightnasc search` end to end: data loading against known facts of the real files, the
//! controller on a task with a known answer, kill-and-resume equivalence, a NaN stop, the mock
//! configs, and the TensorBoard files read back by TensorBoard itself.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{checkpoint_state as state, history_without_times, lightnasc, root};
use lightnasc::data::{self, DataArg, Kind};

const FASHION: &str = "/usr/share/datasets/fashion-mnist";

fn search(args: &[&str]) -> std::process::Output {
    let mut all = vec!["search"];
    all.extend_from_slice(args);
    lightnasc(&all)
}

/// `search SPEC -c CFG --data DATA --runs-dir RUNS --name NAME`.
fn search_run(spec: &Path, cfg: &Path, data: &str, runs: &Path, name: &str) -> std::process::Output {
    search(&run_args(spec, cfg, data, runs, name).iter().map(String::as_str).collect::<Vec<_>>())
}

fn run_args(spec: &Path, cfg: &Path, data: &str, runs: &Path, name: &str) -> Vec<String> {
    let p = |p: &Path| p.to_str().unwrap().to_string();
    vec![
        p(spec),
        "-c".into(),
        p(cfg),
        "--data".into(),
        data.into(),
        "--runs-dir".into(),
        p(runs),
        "--name".into(),
        name.into(),
    ]
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn fashion_mnist_loads_with_its_known_labels_and_mean() {
    if !common::full_tier("Debian's Fashion-MNIST") {
        return;
    }
    assert!(Path::new(FASHION).is_dir(), "{FASHION} is missing: install Debian's dataset-fashion-mnist (.ci/run does)");
    let s = data::load(&"fashion-mnist".parse().unwrap(), None, None, 0).unwrap().0;
    assert_eq!((s.train.len(), s.test.len()), (60_000, 10_000));
    let first = |d: &data::Dataset| d.labels[..10].to_vec();
    assert_eq!(first(&s.train), [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
    assert_eq!(first(&s.test), [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
    let mean = s.train.pixels.iter().map(|&p| p as f64).sum::<f64>() / s.train.pixels.len() as f64;
    assert!((mean - 72.94).abs() < 0.01, "mean pixel {mean}");
    // The validation split is carved from the training set, disjoint and seeded.
    let (tr, val) = data::split_validation(&s.train, 0.1, 3);
    assert_eq!((tr.len(), val.len()), (54_000, 6_000));
    let (_, val2) = data::split_validation(&s.train, 0.1, 3);
    assert_eq!(val.labels, val2.labels);
}

#[test]
fn bad_data_files_are_named_in_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let msg =
        |r: Result<(data::Splits, Option<data::DataSource>), data::DataError>| r.expect_err("an error").to_string();
    let fm: DataArg = "fashion-mnist".parse().unwrap();
    // Missing files.
    let e = msg(data::load(&fm, Some(d), None, 0));
    assert!(e.contains("train-images-idx3-ubyte.gz") && e.contains("dataset-fashion-mnist"), "{e}");
    // A truncated IDX file: the header promises more than there is.
    let mut images = vec![0, 0, 8, 3, 0, 0, 0xea, 0x60, 0, 0, 0, 28, 0, 0, 0, 28];
    images.extend(vec![7u8; 1000]);
    std::fs::write(d.join("train-images-idx3-ubyte"), &images).unwrap();
    let e = msg(data::load(&fm, Some(d), None, 0));
    assert!(e.contains("train-images-idx3-ubyte") && e.contains("truncated"), "{e}");
    // Not IDX at all.
    std::fs::write(d.join("train-images-idx3-ubyte"), b"hello, world").unwrap();
    assert!(msg(data::load(&fm, Some(d), None, 0)).contains("not an IDX file"));
    // Corrupt gzip.
    std::fs::remove_file(d.join("train-images-idx3-ubyte")).unwrap();
    std::fs::write(d.join("train-images-idx3-ubyte.gz"), [0x1f, 0x8b, 8, 0, 1, 2, 3]).unwrap();
    assert!(msg(data::load(&fm, Some(d), None, 0)).contains("corrupt gzip"));
    // CIFAR-10: a file that is not whole records, and a label out of range.
    let c10: DataArg = "cifar10".parse().unwrap();
    for i in 1..=5 {
        std::fs::write(d.join(format!("data_batch_{i}.bin")), vec![1u8; 3073 * 2]).unwrap();
    }
    std::fs::write(d.join("test_batch.bin"), vec![1u8; 3073 + 5]).unwrap();
    let e = msg(data::load(&c10, Some(d), None, 0));
    assert!(e.contains("test_batch.bin") && e.contains("3073-byte records"), "{e}");
    std::fs::write(d.join("test_batch.bin"), vec![12u8; 3073]).unwrap();
    assert!(msg(data::load(&c10, Some(d), None, 0)).contains("label 12"));
    std::fs::write(d.join("test_batch.bin"), vec![3u8; 3073]).unwrap();
    let s = data::load(&c10, Some(d), None, 0).unwrap().0;
    assert_eq!((s.train.len(), s.test.len(), s.test.labels[0]), (10, 1, 3));
    // CIFAR-100 uses the fine label (the second byte).
    let mut rec = vec![4u8, 57];
    rec.extend(vec![0u8; 3072]);
    std::fs::write(d.join("train.bin"), &rec).unwrap();
    std::fs::write(d.join("test.bin"), &rec).unwrap();
    let s = data::load(&"cifar100".parse().unwrap(), Some(d), None, 0).unwrap().0;
    assert_eq!(s.train.labels, [57]);
    // Through the CLI: exit 1 and the file named.
    let out = search(&[
        "specs/demo.lnas",
        "--data",
        "fashion-mnist",
        "--data-dir",
        d.to_str().unwrap(),
        "--runs-dir",
        d.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("train-images-idx3-ubyte.gz"));
    // Nothing ran, so no run folder is left behind.
    let left: Vec<_> = std::fs::read_dir(d).unwrap().filter_map(|e| e.ok()).filter(|e| e.path().is_dir()).collect();
    assert!(left.is_empty(), "a failed start left {left:?}");
    let out = search(&["specs/demo.lnas", "--data", "imagenet"]);
    assert_eq!(out.status.code(), Some(2), "an unknown dataset is a usage error");
    if !cfg!(feature = "cuda") {
        // Refused before anything is made: no run folder appears.
        let runs = d.join("cuda-runs");
        let out = search(&[
            "specs/demo.lnas",
            "--data",
            "mock:cifar10",
            "--device",
            "cuda",
            "--runs-dir",
            runs.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("built without CUDA"));
        assert!(!runs.exists());
    }
    // Mock data has the dataset's shape and class count.
    let m = data::mock(Kind::Cifar100, (50, 10), 1);
    assert_eq!(m.train.shape, [3, 32, 32]);
    assert!(m.train.labels.iter().all(|&l| l < 100) && m.train.labels.iter().any(|&l| l >= 10));
}

/// A space with one decision between a path that sees the image and a blind one that only sees
/// its mean brightness. With the plain-accuracy reward the controller must learn to look.
#[test]
fn the_controller_learns_the_better_option() {
    if !common::full_tier("Debian's Fashion-MNIST") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = write(
        dir.path(),
        "synth.lnas",
        r#"
space synth(x: tensor = [1, 28, 28], classes: int = 10) {
    y = choice path {
        blind => x |> avgpool(kernel: 28) |> conv(16, kernel: 1) |> bn |> relu |> flatten
        sight => x |> conv(16, kernel: 3, stride: 2, pad: 1) |> bn |> relu |> conv(16, kernel: 3, stride: 2, pad: 1) |> bn |> relu |> global_avgpool
    }
    return y |> dense(classes)
}
"#,
    );
    let cfg = write(
        dir.path(),
        "c.yml",
        "epochs: 4\nwarmup_epochs: 1\nbatch_size: 32\ntrain_limit: 3000\naugment: false\n\
         controller: {lr: 0.05}\nreward: {kind: accuracy}\n",
    );
    let runs = dir.path().join("runs");
    let out = search_run(&spec, &cfg, "fashion-mnist", &runs, "synth");
    common::ok(&out);
    let st = state(&runs.join("synth"));
    let last = st["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["argmax"], serde_json::json!([1]), "{last}");
    let p_sight = last["probs"][0][1].as_f64().unwrap();
    assert!(p_sight > 0.8, "p(sight) = {p_sight}");
    assert!(last["test_accuracy"].as_f64().unwrap() > 0.3, "{last}");
}

/// Kill a run mid-epoch (SIGKILL, no warning) and resume it: the result is bit for bit the one
/// of an uninterrupted run with the same seed.
#[test]
fn a_killed_run_resumes_to_the_same_result() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    // Every scoring and controller option on (latencies from the cost model, the default).
    let cfg = write(
        dir.path(),
        "c.yml",
        "epochs: 2\nbatch_size: 32\ncheckpoint_steps: 4\nseed: 5\nupdate_arch_frequency: 3\n\
         scoring: {batch_norm: recalibrate, calibration_batches: 2, reward_batches: 2}\n\
         controller: {entropy_weight: 0.01, tanh_constant: 1.5, baseline_decay: 0.99, batch_size: 4}\n",
    );
    let demo = root().join("specs/demo.lnas");
    common::ok(&search_run(&demo, &cfg, "mock:fashion-mnist", &runs, "whole"));
    let whole = state(&runs.join("whole"));

    // The killed run reads the first run's latency table back (`--latency-table`): the same.
    let table = runs.join("whole/latency.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_lightnasc"))
        .arg("search")
        .args(run_args(&demo, &cfg, "mock:fashion-mnist", &runs, "killed"))
        .args(["--latency-table", table.to_str().unwrap()])
        .current_dir(root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let run = runs.join("killed");
    let start = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(run.join("checkpoint/state.json"))
            && let Ok(st) = serde_json::from_str::<serde_json::Value>(&text)
            && st["batch"].as_u64().unwrap_or(0) >= 8
        {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be killed");
        assert!(start.elapsed() < Duration::from_secs(300), "no mid-epoch checkpoint appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(std::fs::read_to_string(run.join("latency.json")).unwrap(), std::fs::read_to_string(&table).unwrap());
    let at_kill = state(&run);
    assert!(!at_kill["finished"].as_bool().unwrap());
    assert!(at_kill["batch"].as_u64().unwrap() > 0, "killed mid-epoch");
    common::ok(&search(&["--resume", run.to_str().unwrap()]));
    let resumed = state(&run);
    assert_eq!(resumed["weights_digest"], whole["weights_digest"], "weights differ after resume");
    assert_eq!(history_without_times(&resumed), history_without_times(&whole));
    assert_eq!(
        std::fs::read_to_string(run.join("result.lnas")).unwrap().lines().skip(1).collect::<Vec<_>>(),
        std::fs::read_to_string(runs.join("whole/result.lnas")).unwrap().lines().skip(1).collect::<Vec<_>>()
    );
    // A corrupt checkpoint is refused with a clear error.
    std::fs::write(run.join("checkpoint/supernet.bin"), b"garbage").unwrap();
    let out = search(&["--resume", run.to_str().unwrap(), "--epochs", "3"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("corrupt"), "{}", String::from_utf8_lossy(&out.stderr));
    // An existing run name is never overwritten.
    let out = search_run(&demo, &cfg, "mock:fashion-mnist", &runs, "whole");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    let out = search(&["--resume", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a run folder"));
}

/// Evolution trains the random baseline's paths (same seed, same shared weights: the two differ
/// only in how they choose), stops and resumes to the same run, and its ledger line says what
/// it was.
#[test]
fn evolution_trains_the_random_paths_and_resumes_to_the_same_result() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let cfg = write(
        dir.path(),
        "c.yml",
        "epochs: 2\nbatch_size: 32\ncheckpoint_steps: 4\nseed: 5\nupdate_arch_frequency: 3\n\
         controller: {batch_size: 6}\n",
    );
    let demo = root().join("specs/demo.lnas");
    let run = |name: &str, extra: &[&str]| {
        let mut args = run_args(&demo, &cfg, "mock:fashion-mnist", &runs, name);
        args.extend(extra.iter().map(|s| s.to_string()));
        common::ok(&search(&args.iter().map(String::as_str).collect::<Vec<_>>()))
    };
    run("random", &["--controller", "random"]);
    run("evolution", &["--controller", "evolution"]);
    let (random, evolution) = (state(&runs.join("random")), state(&runs.join("evolution")));
    assert_eq!(random["weights_digest"], evolution["weights_digest"], "not the same training paths");
    assert!(evolution["controller_updates"].as_u64().unwrap() > 2);
    // Both end the same way: the policy's pick first, then its next best (random search's best
    // scored, distinct and best first; evolution's survivors), all scored on the whole
    // validation split; the result is the best of them on the reward.
    let top = random["random_top"].as_array().unwrap();
    assert!(top.len() == 8 && top.windows(2).all(|w| w[0][1].as_f64() >= w[1][1].as_f64()), "{top:?}");
    for (st, own) in [(&random, Some(&top[0][0])), (&evolution, None)] {
        let last = st["history"].as_array().unwrap().last().unwrap();
        let finalists = last["finalists"].as_array().unwrap();
        assert!((2..=8).contains(&finalists.len()), "{last}");
        if let Some(own) = own {
            assert_eq!(&finalists[0]["arch"], own, "random search's own pick comes first");
        }
        let best =
            finalists.iter().max_by(|a, b| a["reward"].as_f64().unwrap().total_cmp(&b["reward"].as_f64().unwrap()));
        assert_eq!(last["argmax"], best.unwrap()["arch"], "{last}");
        assert_eq!(last["val_accuracy"], best.unwrap()["val_accuracy"]);
    }
    // `scoring.finalists: 1` keeps the policy's own pick unchecked, as before.
    run("own", &["--controller", "random", "--set", "scoring.finalists=1"]);
    let own = state(&runs.join("own"));
    let last = own["history"].as_array().unwrap().last().unwrap();
    assert!(last.get("finalists").is_none(), "{last}");
    assert_eq!(last["argmax"], own["random_top"][0][0]);

    run("stopped", &["--controller", "evolution", "--stop-after-steps", "40"]);
    assert!(!state(&runs.join("stopped"))["finished"].as_bool().unwrap());
    common::ok(&search(&["--resume", runs.join("stopped").to_str().unwrap()]));
    let resumed = state(&runs.join("stopped"));
    assert_eq!(history_without_times(&resumed), history_without_times(&evolution));
    let ledger = std::fs::read_to_string(runs.join("ledger.jsonl")).unwrap();
    let kinds: Vec<String> =
        ledger.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["kind"].to_string()).collect();
    assert_eq!(kinds, ["\"random\"", "\"evolution\"", "\"random\"", "\"evolution\""]);
}

#[test]
fn a_nan_loss_stops_the_run_and_keeps_the_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let cfg = write(
        dir.path(),
        "c.yml",
        "epochs: 1\nbatch_size: 32\ncheckpoint_steps: 1\noptimizer: {kind: sgd, lr: 1.0e30, momentum: 0.0}\n",
    );
    let out = search_run(&root().join("specs/demo.lnas"), &cfg, "mock:fashion-mnist", &runs, "nan");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the training loss is") && err.contains("checkpoint"), "{err}");
    let st = state(&runs.join("nan"));
    assert!(st["global_step"].as_u64().unwrap() >= 1, "a checkpoint from before the NaN is there: {st}");
}

#[test]
fn the_mock_configs_run() {
    let dir = tempfile::tempdir().unwrap();
    for cfg in ["specs/configs/resnet18-mock.yml", "specs/configs/meliusnet22-mock.yml"] {
        let out = search(&["-c", cfg, "--runs-dir", dir.path().to_str().unwrap()]);
        common::ok(&out);
        assert!(String::from_utf8_lossy(&out.stdout).contains("test accuracy"), "{cfg}");
    }
}

/// The event files our writer makes, read by TensorBoard's own EventAccumulator.
#[test]
fn tensorboard_reads_every_tag() {
    if !common::full_tier("TensorBoard (pip)") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let cfg = write(dir.path(), "c.yml", "epochs: 2\nbatch_size: 64\ntest_each_epoch: true\nexport_each_epoch: true\n");
    common::ok(&search_run(&root().join("specs/demo.lnas"), &cfg, "mock:fashion-mnist", &runs, "tb"));
    let run = runs.join("tb");
    for f in [
        "config.yml",
        "source/demo.lnas",
        "std/melius.lnas",
        "result.lnas",
        "latency.json",
        "epochs/epoch-001.lnas",
        "epochs/epoch-002.lnas",
    ] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    // The per-epoch pins check back to a network.
    let (code, report) = common::check_json(&[run.join("epochs/epoch-002.lnas").to_str().unwrap()]);
    assert_eq!(code, 0, "{report}");
    let python = common::python_venv("tensorboard", &["tensorboard==2.21.0"]);
    let script = r#"
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0, "images": 0, "tensors": 0})
acc.Reload()
tags = acc.Tags()
out = {"scalars": {t: [[e.step, e.value] for e in acc.Scalars(t)] for t in tags["scalars"]},
       "images": {t: [[e.step, e.width, e.height] for e in acc.Images(t)] for t in tags["images"]}}
print(json.dumps(out))
"#;
    let out = Command::new(&python).args(["-c", script]).arg(run.join("tensorboard")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for tag in [
        "train/accuracy",
        "train/loss",
        "val/accuracy",
        "test/accuracy",
        "controller/reward",
        "controller/baseline",
        "controller/entropy",
        "lr",
        "latency/argmax",
    ] {
        assert!(v["scalars"][tag].as_array().is_some_and(|a| !a.is_empty()), "scalar {tag} missing: {v}");
    }
    let val = v["scalars"]["val/accuracy"].as_array().unwrap();
    assert_eq!(val.iter().map(|e| e[0].as_i64().unwrap()).collect::<Vec<_>>(), [1, 2]);
    let st = state(&run);
    let logged = val[1][1].as_f64().unwrap();
    assert!((logged - st["history"][1]["val_accuracy"].as_f64().unwrap()).abs() < 1e-6);
    let probs = v["images"]["controller/probabilities"].as_array().expect("the probabilities image");
    assert_eq!(probs.len(), 2);
    // 10 decisions x 2 options, 8 pixels a cell.
    assert_eq!((probs[0][1].as_i64(), probs[0][2].as_i64()), (Some(16), Some(80)));
}

#[test]
fn shipped_configs_parse_and_typos_are_refused() {
    let dir = root().join("specs/configs");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let cfg = lightnasc::search::config::SearchConfig::from_yaml_file(&p).unwrap_or_else(|e| panic!("{e}"));
        cfg.validate().unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(cfg.spec.as_ref().is_some_and(|s| s.is_file()), "{}: spec {:?}", p.display(), cfg.spec);
        n += 1;
    }
    assert_eq!(n, 5);
    let tmp = tempfile::tempdir().unwrap();
    let bad = write(tmp.path(), "bad.yml", "epochs: 2\nbatch_sise: 32\n");
    let out = search(&["specs/demo.lnas", "-c", bad.to_str().unwrap(), "--data", "mock:fashion-mnist"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yml") && err.contains("batch_sise") && err.contains("line 2"), "{err}");
    // A typo is answered with the nearest key, not serde's list of every key.
    assert!(err.contains("unknown key `batch_sise` at line 2") && err.contains("did you mean `batch_size`?"), "{err}");
    assert!(!err.contains("expected one of"), "{err}");
    // The flags' spelling (`train-limit`) is read as the config's (`train_limit`), with a note, in
    // a config file and in `--set`.
    let hyphens = write(tmp.path(), "hyphens.yml", "epochs: 1\ntrain-limit: 64\nbatch-size: 16\n");
    let runs = tmp.path().join("hyphen-runs");
    let mut args = vec!["specs/demo.lnas", "-c", hyphens.to_str().unwrap(), "--data", "mock:fashion-mnist"];
    args.extend(["--runs-dir", runs.to_str().unwrap(), "--set", "data-seed=3"]);
    let out = search(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    // The epoch line gives the latency with its unit (the default source is the cost model's OPs).
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.lines().any(|l| l.starts_with("epoch 1/1:") && l.contains("M OPs | entropy")), "{stdout}");
    for key in ["train-limit", "batch-size", "data-seed"] {
        let want = format!("note: config key `{key}` read as `{}`", key.replace('-', "_"));
        assert!(err.contains(&want), "{want}: {err}");
    }
    // A repeated key is named on its own line, with the first (serde names the map, or no line).
    let twice = write(tmp.path(), "twice.yml", "seed: 1\nscoring:\n  finalists: 2\n  finalists: 3\n");
    let out = search(&["specs/demo.lnas", "-c", twice.to_str().unwrap(), "--data", "mock:fashion-mnist"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("twice.yml: scoring: line 4: duplicate key `finalists` (first at line 3)"), "{err}");
    let bad = write(tmp.path(), "bad2.yml", "epochs: 0\n");
    let out = search(&["specs/demo.lnas", "-c", bad.to_str().unwrap(), "--data", "mock:fashion-mnist"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`epochs` must be at least 1"));

    // `--set` goes through the same checks: unknown keys, wrong types, bad values.
    let runs = tmp.path().join("runs");
    let set = |kv: &str, extra: &[&str]| {
        let mut args = vec!["specs/demo.lnas", "--data", "mock:fashion-mnist", "--runs-dir", runs.to_str().unwrap()];
        args.extend(["--set", kv]);
        args.extend(extra);
        let out = search(&args);
        assert_eq!(out.status.code(), Some(1), "--set {kv}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(set("scoring.batch_nrom=batch", &[]).contains("batch_nrom"));
    assert!(set("scoring.batch_norm=sometimes", &[]).contains("sometimes"));
    assert!(set("scoring.reward_batches=0", &[]).contains("`scoring.reward_batches` must be at least 1"));
    assert!(set("epochs", &[]).contains("KEY=VALUE"));
    // A latency table for another space, or not a table at all.
    let other = write(tmp.path(), "other.json", r#"{"options": [[1.0, 2.0]], "source": ["ops"]}"#);
    let err = set("seed=2", &["--latency-table", other.to_str().unwrap()]);
    assert!(err.contains("other.json") && err.contains("another space"), "{err}");
    let junk = write(tmp.path(), "junk.json", "not json");
    assert!(set("seed=2", &["--latency-table", junk.to_str().unwrap()]).contains("not a latency table"));
    // Nothing was left behind by the refused runs.
    assert!(std::fs::read_dir(&runs).map_or(true, |d| d.count() == 0));
}

/// Augmentation against a hand computation: every augmented image is the original shifted by
/// (dy, dx) in [-4, 4] with zero fill, flipped or not, then normalised; batches are a function of
/// (seed, epoch, batch) alone.
#[test]
fn augmentation_is_a_padded_crop_and_flip_of_the_image() {
    use lightnasc::data::loader::BatchPlan;
    let (h, w) = (32usize, 32usize);
    let img: Vec<u8> = (0..3 * h * w).map(|i| (i * 7 % 251) as u8).collect();
    let ds = data::Dataset { pixels: img.repeat(8), labels: vec![3; 8], shape: [3, h, w] };
    let plan = BatchPlan { norm: Kind::Cifar10.norm(), batch: 8, augment: true, drop_last: true, shuffle: Some(9) };
    let (mean, std) = Kind::Cifar10.stats();
    let candidate = |dy: i64, dx: i64, flip: bool| -> Vec<f32> {
        let mut v = vec![];
        for c in 0..3 {
            for y in 0..h as i64 {
                for x in 0..w as i64 {
                    let xs = if flip { w as i64 - 1 - x } else { x };
                    let (sy, sx) = (y + dy, xs + dx);
                    let p = if sy < 0 || sx < 0 || sy >= h as i64 || sx >= w as i64 {
                        0.0
                    } else {
                        img[(c * h + sy as usize) * w + sx as usize] as f32 / 255.0
                    };
                    v.push((p - mean[c]) / std[c]);
                }
            }
        }
        v
    };
    let mut seen = std::collections::HashSet::new();
    for b in 0..6u64 {
        let batch = plan.make(&ds, &(0..8).collect::<Vec<_>>(), 0, b);
        assert_eq!(batch.labels, vec![3; 8]);
        for i in 0..8 {
            let got = &batch.pixels[i * 3 * h * w..(i + 1) * 3 * h * w];
            let found = (-4..=4)
                .flat_map(|dy| (-4..=4).flat_map(move |dx| [false, true].map(|f| (dy, dx, f))))
                .find(|&(dy, dx, f)| candidate(dy, dx, f) == got);
            let (dy, dx, f) = found.expect("an augmented image is a crop of the padded image, flipped or not");
            seen.insert((dy, dx, f));
        }
        // The same (seed, epoch, batch) gives the same batch.
        assert_eq!(batch.pixels, plan.make(&ds, &(0..8).collect::<Vec<_>>(), 0, b).pixels);
    }
    assert!(seen.len() > 20, "offsets and flips vary: {} distinct", seen.len());
    assert!(seen.iter().any(|s| s.2) && seen.iter().any(|s| !s.2));
    // Without augmentation the batch is the normalised image itself.
    let plain = BatchPlan { augment: false, ..plan.clone() };
    assert_eq!(plain.make(&ds, &[0], 0, 0).pixels, candidate(0, 0, false));
    // Fashion-MNIST takes crops but no flips.
    assert!(!Kind::FashionMnist.flips() && Kind::Cifar100.flips());
}
