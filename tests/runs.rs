//! Run folders stand on their own: a run reads its own copy of its spec (and of the standard
//! library files it imported), so editing, moving or deleting the source spec changes nothing;
//! weights are checked against the graph by every reader; and a damaged run folder gives clear
//! errors, never a panic, and loses nothing.

mod common;

use std::path::{Path, PathBuf};

use common::{lightnasc, root};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The demo space, written outside the source tree with a relative import (`lib/blocks.lnas`,
/// which imports the standard library), so a test may edit, move and delete it.
fn demo_spec(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(root().join("specs/demo.lnas")).unwrap();
    let text = text.replace("import \"std/melius.lnas\"", "import \"lib/blocks.lnas\"");
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    std::fs::write(dir.join("lib/blocks.lnas"), "import \"std/melius.lnas\"\n").unwrap();
    let spec = dir.join("demo.lnas");
    std::fs::write(&spec, text).unwrap();
    spec
}

/// A one-epoch mock search of `spec` in `runs/NAME`.
fn search(spec: &Path, runs: &Path, name: &str) -> PathBuf {
    let out = lightnasc(&[
        "search",
        s(spec),
        "--data",
        "mock:fashion-mnist",
        "--epochs",
        "1",
        "--batch-size",
        "64",
        "--train-limit",
        "256",
        "--runs-dir",
        s(runs),
        "--name",
        name,
    ]);
    common::ok_for(&out, "search");
    runs.join(name)
}

/// `train SOURCE --epochs 1 --train-limit 64 --runs-dir RUNS --name NAME EXTRA...`.
fn train(source: &str, runs: &Path, name: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "train",
        source,
        "--epochs",
        "1",
        "--train-limit",
        "64",
        "--batch-size",
        "16",
        "--runs-dir",
        s(runs),
        "--name",
        name,
    ];
    args.extend_from_slice(extra);
    lightnasc(&args)
}

fn export_onnx(source: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["export", s(source), "--format", "onnx", "-o", s(out)];
    args.extend_from_slice(extra);
    lightnasc(&args)
}

/// onnxruntime runs the model on a batch and gives our logits for it.
fn onnxruntime_agrees(model: &Path, run: &Path) {
    use burn::backend::Flex;
    use burn::tensor::{Tensor, TensorData};
    let run = lightnasc::search::run::Run::open(run).unwrap();
    let (_, a) = run.architecture(None, false).unwrap();
    let fixed = run.supernet::<Flex>(&Default::default()).unwrap().extract(&a).unwrap();
    run.recalibrate(&fixed, 16, &Default::default()).unwrap(); // as export does by default
    let xv = common::normal(2 * 28 * 28, 5);
    let x = Tensor::<Flex, 4>::from_data(TensorData::new(xv.clone(), [2, 1, 28, 28]), &Default::default());
    let y: Vec<f32> = fixed
        .logits(x, &lightnasc::ir::pin::Assignment(vec![]), lightnasc::net::Mode::Eval)
        .into_data()
        .to_vec()
        .unwrap();
    let python = common::python_venv("onnx", &["onnx==1.23.2", "onnxruntime==1.32.0", "numpy"]);
    let script = r#"
import sys, json
import numpy as np, onnxruntime as ort
x = np.array(json.loads(sys.argv[2]), dtype=np.float32).reshape(2, 1, 28, 28)
got = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"]).run(["output"], {"input": x})[0]
print(json.dumps(got.ravel().tolist()))
"#;
    let out = std::process::Command::new(python)
        .args(["-c", script, s(model), &serde_json::to_string(&xv).unwrap()])
        .output()
        .unwrap();
    common::ok_for(&out, "onnxruntime");
    let got: Vec<f32> = serde_json::from_slice(&out.stdout).unwrap();
    let scale = y.iter().fold(1f32, |m, v| m.max(v.abs()));
    let diff = got.iter().zip(&y).fold(0f32, |m, (g, w)| m.max((g - w).abs()));
    assert_eq!(got.len(), y.len());
    assert!(diff <= 1e-6 * scale, "onnxruntime differs by {diff} (scale {scale})");
}

#[test]
fn a_run_reads_its_own_copy_when_the_spec_is_edited_moved_or_deleted() {
    if !common::full_tier("onnxruntime (pip)") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let spec = demo_spec(&src);
    let runs = dir.path().join("runs");
    let run = search(&spec, &runs, "r");
    // The copy: the spec, its import (same layout) and the standard-library files it used.
    for f in ["source/demo.lnas", "source/lib/blocks.lnas", "std/melius.lnas", "std/layers.lnas"] {
        assert!(run.join(f).is_file(), "{f}");
    }
    let before = dir.path().join("before");
    common::ok_for(&export_onnx(&run, &before, &[]), "export");
    let model = std::fs::read(before.with_extension("onnx")).unwrap();
    onnxruntime_agrees(&before.with_extension("onnx"), &run);

    let edit = |spec: &Path| {
        let text = std::fs::read_to_string(spec).unwrap().replacen("growth: 16", "growth: 24", 1);
        std::fs::write(spec, text).unwrap();
    };
    let moved = dir.path().join("elsewhere");
    type Step<'a> = (&'a str, Box<dyn Fn() + 'a>);
    let steps: [Step; 3] = [
        ("edited", Box::new(|| edit(&spec))),
        ("moved", Box::new(|| std::fs::rename(&src, &moved).unwrap())),
        ("deleted", Box::new(|| std::fs::remove_dir_all(&moved).unwrap())),
    ];
    for (k, (what, step)) in steps.iter().enumerate() {
        step();
        // Resuming the finished run reads its config, spec copy and checkpoint, and changes nothing.
        common::ok_for(&lightnasc(&["search", "--resume", s(&run)]), what);
        let again = dir.path().join(format!("after-{what}"));
        common::ok_for(&export_onnx(&run, &again, &[]), what);
        assert_eq!(std::fs::read(again.with_extension("onnx")).unwrap(), model, "{what}: the same model");
        let svg = dir.path().join(format!("{what}.dot"));
        common::ok_for(&lightnasc(&["render", s(&run), "--format", "dot", "-o", s(&svg)]), what);
        common::ok_for(&lightnasc(&["report", s(&runs)]), what);
        let name = format!("t{k}");
        let out = train(s(&run), &runs, &name, &[]);
        common::ok_for(&out, what);
        assert!(runs.join(&name).join("model.onnx").is_file(), "{what}");
    }
    // The source is gone; the run goes on from its copy, and so does a training run made from it.
    common::ok_for(&lightnasc(&["search", "--resume", s(&run), "--epochs", "2"]), "resume");
    common::ok_for(&lightnasc(&["train", "--resume", s(&runs.join("t2")), "--epochs", "2"]), "resume a training run");
    // A run folder moved elsewhere still opens: the config names its copy relative to itself.
    let resumed = dir.path().join("resumed");
    common::ok_for(&export_onnx(&run, &resumed, &[]), "export after resume");
    let far = dir.path().join("far");
    std::fs::rename(&run, &far).unwrap();
    common::ok_for(&export_onnx(&far, &dir.path().join("far-export"), &[]), "a moved run");
    assert_eq!(
        std::fs::read(dir.path().join("far-export.onnx")).unwrap(),
        std::fs::read(resumed.with_extension("onnx")).unwrap()
    );
}

#[test]
fn weights_for_another_width_are_refused_by_every_reader() {
    let dir = tempfile::tempdir().unwrap();
    let spec = demo_spec(&dir.path().join("src"));
    let runs = dir.path().join("runs");
    let run = search(&spec, &runs, "r");
    let latent = dir.path().join("w");
    common::ok_for(&lightnasc(&["export", s(&run), "--format", "params", "-o", s(&latent)]), "latent export");
    let wider = dir.path().join("wider.lnas");
    let text = std::fs::read_to_string(root().join("specs/demo.lnas")).unwrap();
    std::fs::write(&wider, text.replacen("growth: 16", "growth: 24", 1)).unwrap();
    let key = "stage1.block1.dense.keep.";
    let refused = |out: std::process::Output, what: &str| {
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{what}: {err}");
        assert!(err.contains(key) && err.contains("[16, 32,") && err.contains("[24, 32,"), "{what}: {err}");
    };
    let out = dir.path().join("out");
    // A latent-params file (it holds the run's result, so the wider network is pinned to that
    // architecture: only the width differs) and a run's checkpoint, given with another spec.
    let result = std::fs::read_to_string(run.join("result.lnas")).unwrap();
    let body = &result[result.find('{').unwrap() + 1..result.rfind('}').unwrap()];
    let settings: Vec<String> =
        body.lines().filter_map(|l| l.split_once('=')).map(|(c, o)| format!("{}={}", c.trim(), o.trim())).collect();
    let params = format!("{}-latent.params", latent.display());
    refused(export_onnx(&wider, &out, &["--pin", &settings.join(","), "--weights", &params]), "--weights FILE");
    refused(export_onnx(&wider, &out, &["--pin", "random:1", "--weights", s(&run)]), "--weights RUN");
    assert!(!out.with_extension("onnx").exists(), "nothing written");
    // A run whose own copy of the spec no longer fits its checkpoint (edited by hand).
    std::fs::write(
        run.join("source/demo.lnas"),
        text.replace("import \"std/melius.lnas\"", "import \"lib/blocks.lnas\"").replacen(
            "growth: 16",
            "growth: 24",
            1,
        ),
    )
    .unwrap();
    refused(export_onnx(&run, &out, &[]), "checkpoint (export)");
    refused(lightnasc(&["search", "--resume", s(&run), "--epochs", "2"]), "checkpoint (resume)");
    refused(lightnasc(&["infer", s(&run), "--limit", "8"]), "checkpoint (infer)");
}

#[test]
fn a_scaled_architecture_trains_and_exports_both_formats() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let train = |name: &str, extra: &[&str]| {
        let mut args = vec!["--pin", "scale=xnor", "--data", "mock:fashion-mnist"];
        args.extend_from_slice(extra);
        train("fixtures/models/scaled.lnas", &runs, name, &args)
    };
    // XNOR scaling lowers to stock MXNet ops now: both formats, and the ledger line.
    common::ok_for(&train("both", &[]), "train");
    for f in ["model.onnx", "model-symbol.json", "model-0000.params"] {
        assert!(runs.join("both").join(f).is_file(), "{f}");
    }
    assert!(std::fs::read_to_string(runs.join("ledger.jsonl")).unwrap().contains("both"));
    // The formats are the user's to choose, checked before the first step.
    common::ok_for(&train("onnx-only", &["--set", "export.formats=[onnx]"]), "train");
    assert!(runs.join("onnx-only/model.onnx").is_file());
    assert!(!runs.join("onnx-only/model-symbol.json").exists());
    let out = train("typo", &["--set", "export.formats=[tflite]"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!runs.join("typo").exists(), "refused before the run folder is made");
}

/// Every file of a run folder, deleted or truncated in turn, under every command that reads runs:
/// exit 0 or 1 with a message, never a panic, and a failing command changes nothing in the folder.
#[test]
fn a_damaged_run_folder_gives_clear_errors_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let spec = demo_spec(&dir.path().join("src"));
    let runs = dir.path().join("runs");
    let pristine = search(&spec, &runs, "r");
    std::fs::remove_file(runs.join("ledger.jsonl")).unwrap();
    let files = [
        "config.yml",
        "checkpoint/state.json",
        "checkpoint/supernet.bin",
        "checkpoint/controller.bin",
        "checkpoint/optim-decayed.bin",
        "checkpoint/optim-plain.bin",
        "checkpoint/optim-controller.bin",
        "source/demo.lnas",
        "source/lib/blocks.lnas",
        "std/melius.lnas",
        "latency.json",
    ];
    let contents = common::files;
    let mut failures = 0;
    for (k, file) in files.iter().enumerate() {
        for (how, damage) in [("deleted", 0), ("truncated", 1)] {
            let run = runs.join(format!("d{k}-{how}"));
            let status = std::process::Command::new("cp").arg("-r").arg(&pristine).arg(&run).status().unwrap();
            assert!(status.success());
            let f = run.join(file);
            if damage == 0 {
                std::fs::remove_file(&f).unwrap();
            } else {
                let bytes = std::fs::read(&f).unwrap();
                std::fs::write(&f, &bytes[..bytes.len() / 2]).unwrap();
            }
            let r = s(&run);
            let out_prefix = dir.path().join("x");
            let commands: [Vec<&str>; 6] = [
                vec!["search", "--resume", r, "--epochs", "1"],
                vec!["export", r, "--format", "onnx", "-o", s(&out_prefix)],
                vec!["render", r, "--format", "dot"],
                vec![
                    "train",
                    r,
                    "--epochs",
                    "1",
                    "--train-limit",
                    "32",
                    "--batch-size",
                    "8",
                    "--runs-dir",
                    s(&runs),
                    "--name",
                    "t",
                ],
                vec!["report", r],
                vec!["infer", r, "--limit", "8"],
            ];
            for args in commands {
                let before = contents(&run);
                let out = lightnasc(&args);
                let err = String::from_utf8_lossy(&out.stderr);
                let what = format!("{file} {how}: {}", args[0]);
                assert!(matches!(out.status.code(), Some(0 | 1)), "{what}: exit {:?}: {err}", out.status.code());
                assert!(!err.contains("panicked") && !err.contains("internal error"), "{what}: {err}");
                if out.status.code() == Some(1) {
                    failures += 1;
                    assert!(err.contains("error"), "{what}: no message: {err}");
                    assert_eq!(contents(&run), before, "{what}: the run folder changed");
                }
                let _ = std::fs::remove_dir_all(runs.join("t"));
            }
        }
    }
    // Most damage is fatal to most commands; a run whose damage went unnoticed everywhere would
    // mean the files are not read at all.
    assert!(failures > files.len() * 2 * 3, "only {failures} failures");
}

/// A run that stops before its first checkpoint strands nothing: a failed start removes its
/// folder (the same command then starts it afresh), and `report` on a folder of runs skips a run
/// killed that early with a warning and reports the others.
#[test]
fn a_run_stopped_before_its_first_checkpoint_strands_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let spec = root().join("specs/demo.lnas");
    let start = |batch: &str| {
        lightnasc(&[
            "search",
            s(&spec),
            "--data",
            "mock:fashion-mnist",
            "--epochs",
            "1",
            "--train-limit",
            "64",
            "--batch-size",
            batch,
            "--runs-dir",
            s(&runs),
            "--name",
            "w1",
        ])
    };
    // 64 images less the validation split make no batch of 64: the run fails as it starts.
    let out = start("64");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("make no batch of 64"), "{err}");
    assert!(err.contains("removed") && err.contains("the same command starts it afresh"), "{err}");
    assert!(!runs.join("w1").exists(), "the failed run's folder is gone");
    // The same name again, with a batch that fits: it runs.
    common::ok_for(&start("16"), "the same command, corrected");
    common::ok_for(&lightnasc(&["report", s(&runs.join("w1"))]), "report w1");

    // A run killed before its first checkpoint: the folder as the search makes it (config, spec
    // copy, TensorBoard's file), without `checkpoint/`.
    let killed = runs.join("ctrlc");
    let cp = std::process::Command::new("cp").arg("-r").arg(runs.join("w1")).arg(&killed).status().unwrap();
    assert!(cp.success());
    std::fs::remove_dir_all(killed.join("checkpoint")).unwrap();
    let out = lightnasc(&["report", s(&runs), "--format", "json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("warning: skipped") && err.contains("ctrlc"), "{err}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["runs"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["skipped"].as_array().unwrap().len(), 1, "{report}");
    // Named on its own, the broken run is an error, not a warning.
    let out = lightnasc(&["report", s(&killed)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no checkpoint yet"), "{err}");
}

/// With no `--data`, a new run takes the built-in dataset its space is written for: the demo's
/// 1x28x28 and 10 classes are Fashion-MNIST (the real one, as the README's main job; every run
/// without `--data` took CIFAR-100 before). Data that changes the space's input and classes is
/// named in a note; a space no built-in dataset fits is refused with the choices, and leaves no
/// run folder.
#[test]
fn a_run_without_data_takes_the_dataset_its_space_is_written_for() {
    if !common::full_tier("Debian's Fashion-MNIST") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let run = |spec: &Path, name: &str, data: &[&str]| {
        let mut args = vec!["search", s(spec), "--epochs", "1", "--train-limit", "64", "--batch-size", "16"];
        args.extend(["--runs-dir", s(&runs), "--name", name]);
        args.extend(data);
        lightnasc(&args)
    };
    let demo = root().join("specs/demo.lnas");
    let out = run(&demo, "own", &[]);
    common::ok_for(&out, "a demo search without --data");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("data: fashion-mnist (the images and classes `demo` is written for"), "{err}");
    // The summary points at the run's curves.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let curves = format!("curves: tensorboard --logdir {}", runs.join("own/tensorboard").display());
    assert!(stdout.contains(&curves), "{stdout}");
    let config = std::fs::read_to_string(runs.join("own/config.yml")).unwrap();
    assert!(config.contains("data: fashion-mnist"), "{config}");

    let out = run(&demo, "other", &["--data", "mock:cifar100"]);
    common::ok_for(&out, "a demo search on mock CIFAR-100");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("note: --data mock:cifar100 instantiates `demo` with [3, 32, 32] inputs and 100 classes (its own: 1x28x28, 10 classes)"),
        "{err}"
    );

    let wide = dir.path().join("wide.lnas");
    let text = std::fs::read_to_string(&demo).unwrap().replace("[1, 28, 28]", "[3, 64, 64]");
    std::fs::write(&wide, text).unwrap();
    let out = run(&wide, "wide", &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("`demo` takes 3x64x64 images in 10 classes, which no built-in dataset has"), "{err}");
    assert!(err.contains("--data (cifar10 | cifar100 | fashion-mnist | folder:PATH | mock:DATASET)"), "{err}");
    assert!(!runs.join("wide").exists(), "nothing made");
}

/// An exported model says how to prepare its input: onnxruntime, fed the first 300 Fashion-MNIST
/// test images normalised as the ONNX file's metadata says (and, exported with
/// `--fold-normalization`, fed the pixels / 255 alone), predicts what `lightnasc infer` predicts
/// for every one of them; the MXNet export carries the same in `-preprocess.json`.
#[test]
fn exports_carry_their_preprocessing_and_agree_with_infer() {
    if !common::full_tier("Debian's Fashion-MNIST, onnxruntime (pip)") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let mut args = vec!["search", "specs/demo.lnas", "--data", "fashion-mnist", "--epochs", "1"];
    args.extend(["--train-limit", "256", "--batch-size", "32", "--runs-dir", s(&runs), "--name", "real"]);
    common::ok_for(&lightnasc(&args), "a search on Fashion-MNIST");
    let run = runs.join("real");
    let out = lightnasc(&["infer", s(&run), "--limit", "300", "--format", "json"]);
    common::ok_for(&out, "infer");
    let inferred: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let inferred: Vec<u64> = inferred["predictions"].as_array().unwrap().iter().map(|p| p.as_u64().unwrap()).collect();
    assert_eq!(inferred.len(), 300);

    let (plain, folded) = (dir.path().join("plain"), dir.path().join("folded"));
    common::ok_for(&lightnasc(&["export", s(&run), "--format", "all", "-o", s(&plain)]), "export");
    common::ok_for(&export_onnx(&run, &folded, &["--fold-normalization"]), "export --fold-normalization");
    let pre: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("plain-preprocess.json")).unwrap()).unwrap();
    assert_eq!(pre["mean"], serde_json::json!([0.286]), "{pre}");
    let cfg = std::fs::read_to_string(run.join("config.yml")).unwrap();
    assert!(cfg.contains("# with mean [0.286] and std [0.353]; 10 classes."), "{cfg}");
    assert_eq!(pre["classes"][9], "Ankle boot", "{pre}");

    let python = common::python_venv("onnx", &["onnx==1.23.2", "onnxruntime==1.32.0", "numpy"]);
    let script = r#"
import gzip, json, sys
import numpy as np, onnxruntime as ort
with gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz") as f:
    x = np.frombuffer(f.read(), np.uint8, offset=16)[: 300 * 784].reshape(300, 1, 28, 28)
x = x.astype(np.float32) / np.float32(255.0)
def predict(path, x):
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return s, s.run(["output"], {"input": x})[0].argmax(1).tolist()
s, _ = predict(sys.argv[1], x[:1])
meta = s.get_modelmeta().custom_metadata_map
mean = np.array(json.loads(meta["lightnasc.mean"]), np.float32).reshape(1, -1, 1, 1)
std = np.array(json.loads(meta["lightnasc.std"]), np.float32).reshape(1, -1, 1, 1)
print(json.dumps({"meta": meta, "plain": predict(sys.argv[1], (x - mean) / std)[1], "folded": predict(sys.argv[2], x)[1]}))
"#;
    let out = std::process::Command::new(python)
        .args(["-c", script, &format!("{}.onnx", s(&plain)), &format!("{}.onnx", s(&folded))])
        .output()
        .unwrap();
    common::ok_for(&out, "onnxruntime");
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["meta"]["lightnasc.input_layout"], "NCHW, float32", "{}", got["meta"]);
    let preds = |k: &str| -> Vec<u64> { got[k].as_array().unwrap().iter().map(|p| p.as_u64().unwrap()).collect() };
    assert_eq!(preds("plain"), inferred, "the metadata's normalisation");
    assert_eq!(preds("folded"), inferred, "the folded normalisation");
}
