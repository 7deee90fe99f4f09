//! Data-parallel training (`--device cpu:0,1`): two CPU replicas make the update one device makes
//! on the concatenated batch, the replicas stay in lockstep, and a data-parallel search is
//! reproducible and resumes to the same trajectory. Everything that uses burn-collective is in
//! this one test binary's single test thread of work (the collective is process-wide).

mod common;

use burn::backend::{Autodiff, Flex};
use burn::optim::SgdConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use lightnasc::data::loader::Batch;
use lightnasc::ir::pin::Assignment;
use lightnasc::ir::store::WeightStore;
use lightnasc::net::Supernet;
use lightnasc::net::parallel::DataParallel;
use lightnasc::net::train::to_tensors;
use lightnasc::net::train::{GroupedOptimizer, train_step};

type AD = Autodiff<Flex>;

/// No batch norm: in train mode it normalises each share by its own statistics, so only without
/// it is the data-parallel update the single-device one (see `net::parallel`). Two choices, a
/// float and binary convs, biases and a dense head: every kind of parameter and both optimiser
/// groups (binary conv weights take no weight decay).
const SPACE: &str = r#"
space t(x: tensor = [2, 6, 6], classes: int = 3) {
    x = x |> conv(6, kernel: 3, pad: 1) as stem
    x = choice first {
        narrow => x |> bconv(6, kernel: 1)
        wide => x |> bconv(6, kernel: 3, pad: 1)
    }
    x = choice second {
        skip => x
        conv => x |> conv(6, kernel: 3, pad: 1)
    }
    return x |> global_avgpool |> dense(classes)
}
"#;

fn batch(n: usize, seed: u64) -> Batch {
    let pixels = common::normal(n * 2 * 6 * 6, seed);
    let labels = (0..n as i64).map(|i| (i * 7 + seed as i64) % 3).collect();
    Batch { pixels, labels, n, shape: [2, 6, 6] }
}

fn path(options: &[u32]) -> Assignment {
    Assignment(options.iter().map(|&o| Some(lightnasc::ir::OptionIx(o))).collect())
}

/// The largest difference between two stores' values, relative to the value's size (absolute
/// below 1).
fn max_difference(a: &WeightStore, b: &WeightStore) -> f32 {
    assert_eq!(a.tensors.keys().collect::<Vec<_>>(), b.tensors.keys().collect::<Vec<_>>());
    a.tensors
        .values()
        .zip(b.tensors.values())
        // Relative to the weight's size (absolute below 1): float rounding scales with it.
        .flat_map(|(x, y)| x.data.iter().zip(&y.data).map(|(p, q)| (p - q).abs() / p.abs().max(1.0)))
        .fold(0.0, f32::max)
}

#[test]
fn two_cpu_replicas_make_the_update_of_one_device_on_the_whole_batch() {
    let out = lightnasc::check::check_text("t.lnas", SPACE, &Default::default(), None);
    assert!(out.diags.is_empty(), "{:?}", out.diags);
    let g = out.space.unwrap();
    let device = Default::default();
    let optimizer = || {
        let momentum = Some(MomentumConfig { momentum: 0.9, dampening: 0.0, nesterov: false });
        let decayed = SgdConfig::new()
            .with_momentum(momentum.clone())
            .with_weight_decay(Some(WeightDecayConfig::new(1e-2)))
            .init::<AD, _>();
        (decayed, SgdConfig::new().with_momentum(momentum).init::<AD, _>())
    };
    let mut single = Supernet::<AD>::new(g.clone(), 3, &device);
    let (d, p) = optimizer();
    let mut single_optim = GroupedOptimizer::new(&single, d, p);
    let mut split = Supernet::<AD>::new(g.clone(), 3, &device);
    let (d, p) = optimizer();
    let mut split_optim = GroupedOptimizer::new(&split, d, p);
    let start = single.to_store();
    assert_eq!(max_difference(&start, &split.to_store()), 0.0, "the same seed makes the same weights");

    let mut parallel = DataParallel::start(&split, &split_optim, &device, &[device]);
    assert_eq!(parallel.devices(), 2);
    // Different paths, even and odd batches (7 rows: shares of 4 and 3, weighted 4/7 and 3/7).
    let steps = [(vec![1, 1], 8, 0.5), (vec![0, 1], 7, 0.5), (vec![1, 0], 9, 0.3), (vec![0, 0], 8, 0.3)];
    for (k, (arch, n, lr)) in steps.into_iter().enumerate() {
        let a = path(&arch);
        let whole = batch(n, k as u64 + 1);
        let (x, y) = to_tensors::<AD>(whole.clone(), &device);
        let one = train_step(&mut single, &mut single_optim, lr, x, y, &a).unwrap();
        let two = parallel.step(&mut split, &mut split_optim, lr, whole, &a, &device).unwrap();
        let tolerance = 1e-6 * one.loss.abs().max(1.0);
        assert!((one.loss - two.loss).abs() < tolerance, "step {k}: loss {} vs {}", one.loss, two.loss);
        assert_eq!(one.correct, two.correct, "step {k}");
        let diff = max_difference(&single.to_store(), &split.to_store());
        assert!(diff < 1e-5, "step {k}: the data-parallel weights differ by {diff}");
        // The replica applied the very same update.
        let replicas = parallel.replica_weights().unwrap();
        assert_eq!(replicas.len(), 1);
        assert_eq!(max_difference(&replicas[0], &split.to_store()), 0.0, "step {k}: the replica drifted");
    }
    // The steps really moved the weights (the comparison above is not of two idle networks).
    let moved = max_difference(&start, &single.to_store());
    assert!(moved > 1e-2, "the weights barely moved ({moved})");

    // A non-finite loss changes nothing on either device.
    let before = split.to_store();
    let mut bad = batch(8, 9);
    bad.pixels[0] = f32::NAN;
    let err = parallel.step(&mut split, &mut split_optim, 0.5, bad, &path(&[1, 1]), &device).unwrap_err();
    assert!(matches!(err, lightnasc::net::NetError::NotFinite { .. }), "{err:?}");
    assert!(err.to_string().contains("not updated"), "{err}");
    assert_eq!(max_difference(&before, &split.to_store()), 0.0);
    assert_eq!(max_difference(&before, &parallel.replica_weights().unwrap()[0]), 0.0);
    drop(parallel);

    // The search: the same seed gives the same result on two CPU replicas, and a run stopped
    // mid-epoch resumes to it.
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let config = "epochs: 2\nbatch_size: 32\ncheckpoint_steps: 4\nseed: 5\nreward: {latency: ops}\n";
    let search = |name: &str, extra: &[&str]| {
        let args: Vec<&str> = ["--device", "cpu:0,1"].iter().chain(extra).copied().collect();
        common::mock_demo_search(dir.path(), config, name, &args).1
    };
    let state = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(runs.join(name).join("checkpoint/state.json")).unwrap()).unwrap()
    };
    let log = search("whole", &[]);
    assert!(log.contains("data-parallel on 2"), "{log}");
    search("stopped", &["--stop-after-steps", "10"]);
    assert!(!state("stopped")["finished"].as_bool().unwrap());
    let out = common::lightnasc(&["search", "--resume", runs.join("stopped").to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (whole, resumed) = (state("whole"), state("stopped"));
    assert_eq!(whole["weights_digest"], resumed["weights_digest"]);
    let argmax = |s: &serde_json::Value| {
        s["history"].as_array().unwrap().iter().map(|e| e["argmax"].clone()).collect::<Vec<_>>()
    };
    assert_eq!(argmax(&whole), argmax(&resumed));
    let ledger = std::fs::read_to_string(runs.join("ledger.jsonl")).unwrap();
    assert!(ledger.contains("cpu:0,1"), "{ledger}");

    // A batch smaller than the device count is refused before anything runs.
    let out = common::lightnasc(&[
        "search",
        "specs/demo.lnas",
        "--data",
        "mock:fashion-mnist",
        "--device",
        "cpu:0,1,2",
        "--batch-size",
        "2",
        "--runs-dir",
        runs.to_str().unwrap(),
        "--name",
        "tiny",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be split over 3 devices"));
}
