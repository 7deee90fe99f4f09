//! `lightnasc train`, `search --controller random`, the ledger and `lightnasc report`, as the
//! README runs them on Fashion-MNIST on a small budget; and `train` of the original's MeliusNet-22
//! config string building the network `check` reports.

mod common;

use std::path::Path;
use std::process::Command;

use common::{check_json, root};
use serde_json::Value;

fn run_in(dir: &Path, args: &[&str]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lightnasc")).args(args).current_dir(dir).output().unwrap();
    let (so, se) =
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(out.status.success(), "lightnasc {args:?} failed:\n{so}\n{se}");
    (so, se)
}

#[test]
fn train_of_the_melius_config_string_builds_the_network_check_reports() {
    let cfg = "DIDIDIDITDIDIDIDIDITDIDIDIDITDIDIDIDI";
    let spec = root().join("specs/meliusnet22.lnas");
    let pin = format!("melius:{cfg}");
    let (code, report) = check_json(&[spec.to_str().unwrap(), "--pin", &pin]);
    assert_eq!(code, 0);
    let params = report["pinned"]["params"].as_u64().unwrap();
    let ops = report["pinned"]["ops"].as_f64().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // One step is enough to build and run the network; the run stops as if killed.
    let (_, err) = run_in(
        dir.path(),
        &[
            "train",
            spec.to_str().unwrap(),
            "--pin",
            &pin,
            "--data",
            "mock:cifar100",
            "--batch-size",
            "4",
            "--stop-after-steps",
            "1",
            "--name",
            "m22",
        ],
    );
    assert!(err.contains(&format!("({params} params, {:.1}M OPs)", ops / 1e6)), "{err}");
    assert!(err.contains(&format!("network: {params} trainable parameters")), "{err}");
    // The run's pin is the full network: every dense block 3x3, every improvement block used.
    let arch = std::fs::read_to_string(dir.path().join("runs/m22/arch.lnas")).unwrap();
    assert_eq!(arch.matches("= full").count(), 17, "{arch}");
    assert_eq!(arch.matches("= yes").count(), 17, "{arch}");
}

fn ledger(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("runs/ledger.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn search_retrain_random_baseline_and_report() {
    if !common::full_tier("Debian's Fashion-MNIST, minutes") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let spec = root().join("specs/demo.lnas");
    let spec = spec.to_str().unwrap();
    // The README's commands, on 2000 training images.
    let budget = ["--data", "fashion-mnist", "--epochs", "2", "--train-limit", "2000", "--batch-size", "32"];
    fn with<'a>(spec: &'a str, budget: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        [&["search", spec][..], budget, extra].concat()
    }
    run_in(d, &with(spec, &budget, &["--name", "enas"]));
    run_in(d, &with(spec, &budget, &["--name", "random", "--controller", "random"]));
    run_in(d, &["train", "runs/enas", "--epochs", "1", "--name", "retrain-result"]);
    for s in 1..=4 {
        let name = format!("retrain-random-{s}");
        run_in(d, &["train", "runs/enas", "--pin", &format!("random:{s}"), "--epochs", "1", "--name", &name]);
    }
    let (md, _) = run_in(d, &["report", "runs", "--out", "report"]);

    // The ledger: every run exactly once, with what each kind records.
    let entries = ledger(d);
    let mut runs: Vec<&str> = entries.iter().map(|e| e["run"].as_str().unwrap()).collect();
    runs.sort();
    assert_eq!(
        runs,
        [
            "runs/enas",
            "runs/random",
            "runs/retrain-random-1",
            "runs/retrain-random-2",
            "runs/retrain-random-3",
            "runs/retrain-random-4",
            "runs/retrain-result"
        ]
    );
    let by = |run: &str| entries.iter().find(|e| e["run"] == run).unwrap().clone();
    let (enas, random, retrain) = (by("runs/enas"), by("runs/random"), by("runs/retrain-result"));
    assert_eq!(
        (enas["kind"].as_str(), random["kind"].as_str(), retrain["kind"].as_str()),
        (Some("search"), Some("random"), Some("train"))
    );
    // Retraining the search's result trains the same network, and scoring it with the search's
    // shared weights on the same validation split gives the search's own final number.
    assert_eq!(retrain["arch_hash"], enas["arch_hash"]);
    assert_eq!(retrain["params"], enas["params"]);
    assert_eq!(retrain["shared_weight_accuracy"], enas["val_accuracy"]);
    // Trained alone on real data, the network learns (chance is 0.1).
    assert!(retrain["test_accuracy"].as_f64().unwrap() > 0.4, "{retrain}");
    // The random baseline had the same budget: same epochs, same data.
    assert_eq!((random["epochs"].clone(), random["data"].clone()), (enas["epochs"].clone(), enas["data"].clone()));
    assert!(
        d.join("runs/retrain-result/model.onnx").is_file() && d.join("runs/retrain-result/model-symbol.json").is_file()
    );

    // The training run's result is the architecture it trained, and checks as such.
    let (out, _) = run_in(d, &["check", "runs/retrain-result/result.lnas", "--format", "json"]);
    let checked: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(checked["pinned"]["params"], retrain["params"]);

    // `infer` reproduces the run's test accuracy through the native plan (the CPU's default),
    // with the same predictions as burn's network with bit-packed convs and as the float path,
    // and reads a raw IDX image file the same way.
    let infer = |extra: &[&str]| -> Value {
        let (out, _) = run_in(d, &[&["infer", "runs/retrain-result", "--format", "json"][..], extra].concat());
        serde_json::from_str(&out).unwrap()
    };
    let native = infer(&[]);
    assert_eq!(native["engine"], "native");
    assert_eq!(native["images"], 10000);
    assert_eq!(native["accuracy"], retrain["test_accuracy"]);
    let packed = infer(&["--engine", "packed"]);
    assert_eq!(packed["binary_kernels"], true);
    assert_eq!(packed["predictions"], native["predictions"]);
    let float = infer(&["--float"]);
    assert_eq!(float["predictions"], native["predictions"]);
    let file = infer(&["--images", "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz", "--limit", "300"]);
    assert_eq!(file["accuracy"], Value::Null);
    assert_eq!(file["predictions"].as_array().unwrap()[..], native["predictions"].as_array().unwrap()[..300]);

    // On the search run, `infer` runs the result's path on the shared weights with its batch norm
    // recalibrated on training images (and says so): within 2 points of the test accuracy the
    // search printed for it (batch statistics of each 64-image batch, the search's scoring).
    let (out, err) = run_in(d, &["infer", "runs/enas", "--format", "json"]);
    assert!(err.contains("batch norm recalibrated on 512 training images"), "{err}");
    let shared: Value = serde_json::from_str(&out).unwrap();
    let (got, printed) = (shared["accuracy"].as_f64().unwrap(), enas["test_accuracy"].as_f64().unwrap());
    assert!((got - printed).abs() <= 0.02, "infer {got} against the search's {printed}");
    let (out, _) = run_in(d, &["infer", "runs/enas", "--format", "json", "--calibration-batches", "0"]);
    let running: Value = serde_json::from_str(&out).unwrap();
    eprintln!(
        "search run: infer {got} recalibrated, {} on running statistics; search printed {printed}",
        running["accuracy"]
    );

    // The report: its correlation over the five retrained architectures, recomputed here by
    // counting pairs from the ledger's numbers.
    let report: Value = serde_json::from_str(&std::fs::read_to_string(d.join("report/report.json")).unwrap()).unwrap();
    let c = &report["correlation"];
    assert_eq!(c["n"], 5);
    let trains: Vec<&Value> = entries.iter().filter(|e| e["kind"] == "train").collect();
    let (xs, ys): (Vec<f64>, Vec<f64>) = trains
        .iter()
        .map(|e| (e["shared_weight_accuracy"].as_f64().unwrap(), e["val_accuracy"].as_f64().unwrap()))
        .unzip();
    let (mut conc, mut disc, mut tx, mut ty) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for i in 0..xs.len() {
        for j in 0..i {
            let (a, b) =
                ((xs[i] - xs[j]).partial_cmp(&0.0).unwrap() as i32, (ys[i] - ys[j]).partial_cmp(&0.0).unwrap() as i32);
            match (a, b) {
                (0, 0) => {}
                (0, _) => tx += 1.0,
                (_, 0) => ty += 1.0,
                _ if a == b => conc += 1.0,
                _ => disc += 1.0,
            }
        }
    }
    let want = (conc - disc) / ((conc + disc + tx) * (conc + disc + ty)).sqrt();
    let got = c["kendall_tau_val"].as_f64().unwrap();
    assert!((got - want).abs() < 1e-12, "tau {got} vs {want}");
    assert!(md.contains(&format!("Kendall's tau-b over 5 retrained architectures: {got:.3}")), "{md}");
    // A block summary per epoch, as CSV.
    let csv = std::fs::read_to_string(d.join("report/enas-epochs.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    assert!(
        header.starts_with("epoch,argmax,val_accuracy") && header.contains("keep=full") && header.contains("use=yes"),
        "{header}"
    );
    assert_eq!(csv.lines().count(), 3);
    // The plot: one point per search epoch (2 runs x 2 epochs) and per retrained architecture.
    let svg = std::fs::read_to_string(d.join("report/accuracy_vs_ops.svg")).unwrap();
    let out = Command::new("python3")
        .args(["-c", "import sys, xml.etree.ElementTree as ET; r = ET.fromstring(sys.stdin.read()); print(sum(1 for e in r.iter() if e.tag.endswith('circle') and e.get('class')))"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write as _;
            c.stdin.take().unwrap().write_all(svg.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "9", "the SVG does not parse or has the wrong points");
}
