//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn lightnasc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lightnasc")).args(args).current_dir(root()).output().expect("running lightnasc")
}

/// A command's stdout, after asserting it succeeded (its stdout and stderr in the failure).
#[track_caller]
pub fn ok(out: &Output) -> String {
    ok_for(out, "lightnasc")
}

/// [`ok`], naming `what` was run in the failure.
#[track_caller]
pub fn ok_for(out: &Output, what: &str) -> String {
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{what}: exit {:?}\nstdout: {stdout}\nstderr: {stderr}", out.status.code());
    stdout.into_owned()
}

/// `lightnasc check ... --format json`, parsed, with the exit code.
pub fn check_json(args: &[&str]) -> (i32, serde_json::Value) {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let out = lightnasc(&all);
    let text = String::from_utf8_lossy(&out.stdout);
    let v = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {text}\nstderr: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), v)
}

pub fn specs() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("specs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "lnas"))
        .collect();
    v.sort();
    v
}

pub fn rel(p: &Path) -> String {
    p.strip_prefix(root()).unwrap_or(p).display().to_string()
}

/// A Python virtual environment with `packages`, made once per target directory and reused (the
/// interop tests judge our files with the real Python clients).
pub fn python_venv(name: &str, packages: &[&str]) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"));
    let venv = target.join(format!("venv-{name}"));
    let python = venv.join("bin/python");
    let marker = venv.join(".installed");
    let wanted = packages.join(" ");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(wanted.as_str()) {
        return python;
    }
    let ok = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().expect("python3").success();
    assert!(ok, "python3 -m venv failed");
    let out = Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
        .args(packages)
        .output()
        .expect("pip");
    assert!(out.status.success(), "pip install {wanted} failed: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(&marker, wanted).unwrap();
    python
}

/// npm `packages` in a folder of their own under the target directory, installed once and reused
/// (the editor tests judge our grammar with VS Code's own engine). Returns its `node_modules`.
pub fn npm_packages(name: &str, packages: &[&str]) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"));
    let dir = target.join(format!("npm-{name}"));
    let marker = dir.join(".installed");
    let wanted = packages.join(" ");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(wanted.as_str()) {
        return dir.join("node_modules");
    }
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("package.json"), "{\"private\": true}\n").unwrap();
    let out = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--silent"])
        .args(packages)
        .current_dir(&dir)
        .output()
        .expect("npm (install Node.js: apt-get install nodejs npm)");
    assert!(out.status.success(), "npm install {wanted} failed: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(&marker, wanted).unwrap();
    dir.join("node_modules")
}

/// A small demo search on mock Fashion-MNIST (`config` is the YAML), in `dir/runs/NAME`.
pub fn mock_demo_run(dir: &Path, config: &str, name: &str) -> PathBuf {
    mock_demo_search(dir, config, name, &[]).0
}

/// [`mock_demo_run`] with more flags; also returns what the search printed on stderr.
pub fn mock_demo_search(dir: &Path, config: &str, name: &str, extra: &[&str]) -> (PathBuf, String) {
    let runs = dir.join("runs");
    let cfg = dir.join(format!("{name}.yml"));
    std::fs::write(&cfg, config).unwrap();
    let mut args = vec![
        "search",
        "specs/demo.lnas",
        "-c",
        cfg.to_str().unwrap(),
        "--data",
        "mock:fashion-mnist",
        "--runs-dir",
        runs.to_str().unwrap(),
        "--name",
        name,
    ];
    args.extend_from_slice(extra);
    let out = lightnasc(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (runs.join(name), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Standard normal values from a seed.
pub fn normal(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = lightnasc::util::SplitMix64(seed);
    (0..n).map(|_| rng.normal() as f32).collect()
}

/// One architecture of a shipped space (pinned `random:SEED`) as a fixed network whose batch
/// norms' statistics have moved off 0/1, with a batch of `n` inputs and its logits in eval mode.
pub struct Exported {
    pub fixed: lightnasc::net::Supernet<burn::backend::Flex>,
    pub x: Vec<f32>,
    pub x_shape: [usize; 4],
    pub y: Vec<f32>,
}

pub fn exported(spec: &str, input: [u32; 3], classes: i64, seed: u64, n: usize) -> Exported {
    use burn::backend::Flex;
    use burn::tensor::{Tensor, TensorData};
    use lightnasc::net::{Mode, Supernet};
    let args = lightnasc::lower::SpaceArgs { input: Some(input.to_vec()), classes: Some(classes), other: vec![] };
    let out =
        lightnasc::check::check_path(&root().join(spec), &args, None, Some(&lightnasc::check::PinArg::Random(seed)));
    let (space, (a, _)) = (out.space.unwrap(), out.pinned.unwrap());
    let dev = Default::default();
    let net = Supernet::<Flex>::new(space, seed, &dev);
    let [c, h, w] = input.map(|d| d as usize);
    let warm = Tensor::<Flex, 4>::from_data(TensorData::new(normal(8 * c * h * w, seed + 10), [8, c, h, w]), &dev);
    net.logits(warm, &a, Mode::Train);
    let fixed = net.extract(&a).unwrap();
    let x = normal(n * c * h * w, seed + 20);
    let xt = Tensor::<Flex, 4>::from_data(TensorData::new(x.clone(), [n, c, h, w]), &dev);
    let y = fixed.logits(xt, &lightnasc::ir::pin::Assignment(vec![]), Mode::Eval).into_data().to_vec().unwrap();
    Exported { fixed, x, x_shape: [n, c, h, w], y }
}

/// A spec's space checked with this input shape and class count (and an optional pin).
pub fn space(
    spec: &str,
    input: &[u32],
    classes: i64,
    pin: Option<lightnasc::check::PinArg>,
) -> (lightnasc::ir::Graph, Option<lightnasc::ir::pin::Assignment>) {
    let args = lightnasc::lower::SpaceArgs { input: Some(input.to_vec()), classes: Some(classes), other: vec![] };
    let out = lightnasc::check::check_path(&root().join(spec), &args, None, pin.as_ref());
    assert!(out.diags.is_empty(), "{spec} does not check: {:?}", out.diags);
    (out.space.expect("a space"), out.pinned.map(|p| p.0))
}

/// `n` normal images of `shape` from `seed`, on the backend's default device.
pub fn images<B: burn::tensor::backend::Backend>(n: usize, shape: &[u32], seed: u64) -> burn::tensor::Tensor<B, 4> {
    let [c, h, w] = [shape[0] as usize, shape[1] as usize, shape[2] as usize];
    let v = normal(n * c * h * w, seed);
    burn::tensor::Tensor::from_data(burn::tensor::TensorData::new(v, [n, c, h, w]), &Default::default())
}

/// On backend `B`: MeliusNet-22, ResNet-18 and the demo in eval mode give the same logits, bit
/// for bit, with the packed binary kernels as with the float path, also after a weight swap (the
/// packed weights are cached per network), and the packed kernels really ran; on a CubeCL device
/// every kernel variant and the device packing equal the CPU kernels too.
pub fn packed_path_equals_float<B: burn::tensor::backend::Backend>(architectures: u64) -> lightnasc::selftest::Report {
    let nets = [
        ("specs/meliusnet22.lnas", [3u32, 32, 32], 100),
        ("specs/resnet18.lnas", [3, 32, 32], 10),
        ("specs/demo.lnas", [1, 28, 28], 10),
    ]
    .map(|(spec, input, classes)| (spec.to_string(), space(spec, &input, classes, None).0))
    .to_vec();
    let job = lightnasc::selftest::SelfTest { nets, architectures, batch: 3 };
    let report = lightnasc::selftest::run::<B>(&Default::default(), &job);
    for n in &report.networks {
        assert!(n.eligible > 0, "{}: no binary conv takes the packed path", n.net);
        assert!(!n.kernels.is_empty(), "{}: the packed path never ran", n.net);
        assert!(n.equal, "{}: logits differ with the binary kernels", n.net);
        assert!(n.equal_after_swap, "{}: stale packed weights after set_weights", n.net);
    }
    let differ: Vec<_> = report.kernels.iter().filter(|c| !c.equal).collect();
    assert!(differ.is_empty(), "kernel checks differ from the CPU: {differ:?}");
    assert!(report.ok);
    report
}

/// Every entry of every ledger file in the sweep folder, by run-folder name.
pub fn sweep_ledger(out: &Path) -> Vec<(String, serde_json::Value)> {
    let mut all = vec![];
    for f in std::fs::read_dir(out).unwrap().map(|e| e.unwrap().path()) {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("ledger") && name.ends_with(".jsonl") {
            for line in std::fs::read_to_string(&f).unwrap().lines() {
                let e: serde_json::Value = serde_json::from_str(line).unwrap();
                let run = Path::new(e["run"].as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned();
                all.push((run, e));
            }
        }
    }
    all
}

/// The full tier: a test that needs what plain `cargo test` must not (the network for a client's
/// first install, a Debian dataset, package or service, or minutes of work) runs when
/// `LIGHTNASC_TESTS=full`, which `.ci/run` sets; without it the test says what it skipped and
/// passes, so a clone builds and tests offline in minutes.
pub fn full_tier(needs: &str) -> bool {
    let on = std::env::var("LIGHTNASC_TESTS").is_ok_and(|v| v == "full" || v == "long");
    if !on {
        eprintln!("skipped: needs {needs}; LIGHTNASC_TESTS=full runs it (.ci/run sets it)");
    }
    on
}

/// The long tier, above the full one (`LIGHTNASC_TESTS=long`): the long versions of checks whose
/// reduced version CI runs, kept out of CI's time.
pub fn long_tier(what: &str) -> bool {
    let on = std::env::var("LIGHTNASC_TESTS").is_ok_and(|v| v == "long");
    if !on {
        eprintln!("left to LIGHTNASC_TESTS=long: {what}");
    }
    on
}

/// A run's checkpoint state (`checkpoint/state.json`).
pub fn checkpoint_state(run: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(run.join("checkpoint/state.json")).expect("a checkpoint");
    serde_json::from_str(&text).unwrap()
}

/// A state's per-epoch history without the wall times, which differ between runs.
pub fn history_without_times(state: &serde_json::Value) -> Vec<serde_json::Value> {
    let mut h = state["history"].as_array().unwrap().clone();
    h.iter_mut().for_each(|e| drop(e.as_object_mut().unwrap().remove("seconds")));
    h
}

/// Every file under `dir`, by path relative to it, with its bytes.
pub fn files(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}
