//! The GPU code path without a GPU: burn's CubeCL backend on wgpu, which in CI is Mesa's software
//! Vulkan driver (lavapipe). It is the code CUDA runs apart from the runtime, so what passes here
//! leaves only the device itself untested on a GPU day. Timings on lavapipe mean nothing; these
//! tests hold the path to the CPU's results.

#![cfg(feature = "wgpu")]

mod common;

use burn::tensor::backend::AutodiffBackend;
use lightnasc::net::device::WgpuBackend;

type Cube = <WgpuBackend as AutodiffBackend>::InnerBackend;

/// burn's autotune times every conv and matmul variant at each new shape; on a software device
/// that is most of a test's time and tells nothing. The variants give the same results.
fn quick_autotune() {
    // SAFETY: set before any thread of this test binary reads the environment (CubeCL reads it
    // when the first client is made, after this).
    unsafe { std::env::set_var("CUBECL_AUTOTUNE_LEVEL", "minimal") };
}

/// On the device, the CubeCL binary kernels (packing and conv on the device tensors) give the
/// float path's logits exactly, for MeliusNet-22, ResNet-18 and the demo, after a weight swap too,
/// and every variant equals the CPU kernels.
#[test]
fn cubecl_binary_kernels_give_the_float_paths_logits_exactly_on_wgpu() {
    if !common::full_tier("Mesa's lavapipe, minutes") {
        return;
    }
    quick_autotune();
    let report = common::packed_path_equals_float::<Cube>(1);
    let variants = lightnasc_kernels::gpu::GpuKernel::ALL.len();
    assert_eq!(report.kernels.len(), lightnasc_kernels::gpu::CHECK_SHAPES.len() * (1 + variants));
}

/// The figure after `label` in a command's output (`test accuracy 0.1016 (chance ...)`).
fn figure(stdout: &str, label: &str) -> f64 {
    let line = stdout.lines().find(|l| l.starts_with(label)).unwrap_or_else(|| panic!("no `{label}` in:\n{stdout}"));
    line[label.len()..].split_whitespace().next().and_then(|v| v.parse().ok()).expect("a number")
}

/// A mock demo search, a training run and inference on wgpu finish, and agree with the CPU runs of
/// the same seed. The devices differ only in float summation order (burn Flex's convs and
/// reductions against CubeCL's), about 1e-6 relative per op; after two Adam steps that moves no
/// latent weight across zero but the rare one within that of it, so predictions can differ only
/// on near-ties. Tolerance: 2 of the 256 test images (the mock test split), and one of the
/// handful of validation images.
#[test]
fn a_mock_search_training_and_inference_on_wgpu_agree_with_the_cpu() {
    if !common::full_tier("Mesa's lavapipe, minutes") {
        return;
    }
    quick_autotune();
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().to_str().unwrap();
    let run = |command: &str, device: &str, extra: &[&str]| {
        let name = format!("{command}-{device}");
        let mut args = vec![command, "specs/demo.lnas", "--data", "mock:fashion-mnist", "--epochs", "1"];
        args.extend(["--batch-size", "32", "--train-limit", "64", "--device", device, "--runs-dir", runs]);
        args.extend(["--name", &name]);
        args.extend(extra);
        let out = common::lightnasc(&args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{command} on {device}: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
        stdout
    };
    for (command, extra) in [("search", &[][..]), ("train", &["--pin", "random:3"][..])] {
        let (cpu, gpu) = (run(command, "cpu", extra), run(command, "wgpu", extra));
        let test = (figure(&cpu, "test accuracy") - figure(&gpu, "test accuracy")).abs();
        assert!(test * 256.0 <= 2.0 + 1e-9, "{command}: test accuracy differs by {test}\ncpu:\n{cpu}\nwgpu:\n{gpu}");
        let valid = (figure(&cpu, "validation accuracy") - figure(&gpu, "validation accuracy")).abs();
        assert!(valid <= 0.17, "{command}: validation accuracy differs by {valid}\ncpu:\n{cpu}\nwgpu:\n{gpu}");
    }
    // The CPU's training run, inferred on the device: the same predictions.
    let infer = |device: &str| {
        let run_dir = dir.path().join("train-cpu");
        let out = common::lightnasc(&[
            "infer",
            run_dir.to_str().unwrap(),
            "--limit",
            "64",
            "--device",
            device,
            "--format",
            "json",
        ]);
        assert!(out.status.success(), "infer on {device}: {}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["predictions"].clone()
    };
    assert_eq!(infer("cpu"), infer("wgpu"));
}

/// `scripts/gpu-check.sh --device wgpu`: the GPU day's script end to end on a software device,
/// so that only the device itself is untested when a GPU is lent. Every step finishes and writes
/// the JSON docs/gpu.md's tables come from (figures on lavapipe say nothing about speed).
#[test]
fn the_gpu_check_script_runs_end_to_end_on_wgpu() {
    if !common::full_tier("Mesa's lavapipe, minutes") {
        return;
    }
    quick_autotune();
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("bash")
        .arg(common::root().join("scripts/gpu-check.sh"))
        .args(["--device", "wgpu", "--bin", env!("CARGO_BIN_EXE_lightnasc"), "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let json = |name: &str| -> serde_json::Value {
        let text = std::fs::read_to_string(dir.path().join(name)).unwrap_or_else(|e| panic!("{name}: {e}\n{log}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}\n{text}"))
    };
    let summary = json("summary.json");
    assert_eq!(summary["ok"], true, "{summary}");
    let steps: Vec<&str> = summary["steps"].as_array().unwrap().iter().map(|s| s["step"].as_str().unwrap()).collect();
    let mut expected = vec!["devices", "selftest", "supernet", "supernet-2", "counts", "profile"];
    // The sampled profile by thread, where `perf record` works on this machine.
    let perf = std::process::Command::new("perf").args(["record", "-q", "-o", "/dev/null", "--", "true"]).output();
    if perf.is_ok_and(|o| o.status.success()) {
        expected.push("perf");
        let text = std::fs::read_to_string(dir.path().join("perf.txt")).unwrap();
        assert!(text.contains("DSD-"), "CubeCL's device thread in the samples: {text}");
    }
    // burn's weight gradient for comparison, and CPU training on as many of 1, 4 and 16 cores
    // as this machine has.
    expected.push("burn-wgrad");
    // As the script counts them (`nproc`: the CPUs this process may run on).
    let nproc = std::process::Command::new("nproc").output().unwrap();
    let cores: usize = String::from_utf8_lossy(&nproc.stdout).trim().parse().unwrap();
    let cpu_steps: Vec<String> = [1, 4, 16].iter().filter(|&&t| t <= cores).map(|t| format!("cpu-{t}")).collect();
    expected.extend(cpu_steps.iter().map(String::as_str));
    expected.push("network");
    // PyTorch's side runs where python3 has torch (the GPU machines).
    if std::process::Command::new("python3").args(["-c", "import torch"]).output().is_ok_and(|o| o.status.success()) {
        expected.extend(["torch-train", "torch-infer"]);
    }
    expected.extend(["kernels", "search-1", "search-2"]);
    assert_eq!(steps, expected);
    let devices = json("devices.json");
    let wgpu = devices.as_array().unwrap().iter().find(|d| d["device"] == "wgpu").unwrap();
    assert!(wgpu["found"].is_string(), "lavapipe is an adapter: {devices}");

    // The host account of the training steps: the driving thread apart, the device memory known.
    for row in json("supernet-2.json").as_array().unwrap() {
        let threads = row["threads"].as_array().unwrap();
        assert!(threads.iter().any(|t| t["name"] == "driver"), "{row}");
        assert!(row["device_reserved_bytes"].as_u64().unwrap() > 0, "{row}");
        assert!(row["device_reserved_per_step"].is_i64(), "{row}");
    }

    let selftest = json("selftest.json");
    assert_eq!(selftest["ok"], true, "{selftest}");
    assert!(selftest["kernels"].as_array().unwrap().iter().all(|c| c["equal"] == true));
    let kernels = json("kernels.json");
    let rows = kernels.as_array().unwrap();
    assert_eq!(
        rows.len(),
        lightnasc::bench::kernels::SHAPES.len(),
        "one row per MeliusNet-22 and ResNet-18 shape at batch 1"
    );
    for r in rows {
        assert!(["direct-popc", "tiled-shared"].contains(&r["kernel"].as_str().unwrap()), "{r}");
        assert!(r["binary_ms"].as_f64().unwrap() > 0.0 && r["float_ms"].as_f64().unwrap() > 0.0);
    }
    let network = json("network.json");
    assert_eq!(network.as_array().unwrap().len(), 1, "the pinned network alone");
    assert!(network[0]["first_pass_s"].as_f64().unwrap() > 0.0, "{network}");
    let names = ["supernet.json", "supernet-2.json", "counts.json", "profile.json", "burn-wgrad.json"];
    for name in names.into_iter().map(String::from).chain(cpu_steps.iter().map(|s| format!("{s}.json"))) {
        let rows = json(&name);
        assert_eq!(rows.as_array().unwrap().len(), 1, "{name}: the fixed network alone");
        assert_eq!(rows[0]["what"], "fixed network (pinned architecture)");
        assert!(rows[0]["images_per_s"].as_f64().unwrap() > 0.0 && rows[0]["first_step_s"].as_f64().unwrap() > 0.0);
    }
    let counts = json("counts.json");
    assert!(counts[0]["per_step"]["launched"].as_u64().unwrap() > 0, "{counts}");
    let profile = std::fs::read_to_string(dir.path().join("profile.txt")).unwrap();
    assert!(profile.contains("Duration") && profile.contains("Num Computed"), "CubeCL's kernel table: {profile}");
    let search = json("search-1.json");
    assert_eq!(search["kind"], "search");
    assert!(search["device"].as_str().unwrap().starts_with("wgpu"), "{search}");
    assert_eq!(json("search-2.json"), serde_json::Value::Null, "one device: no data-parallel search");
}

/// The GPU backends' fixed-algorithm conv (`net::cube_ops`) is burn's conv: the same outputs and
/// the same gradients of the input and the weights (to float summation order), forward-only too,
/// on contiguous and channels-last inputs; the last shape's weight gradient is sliced over K
/// (8 images of 16x16: K = 1,568 in 7 slices). On lavapipe the input gradient runs burn's
/// fallback algorithm; the fallbacks are counted.
#[test]
fn the_fixed_algorithm_conv_equals_burns_conv_with_gradients() {
    if !common::full_tier("Mesa's lavapipe, minutes") {
        return;
    }
    use burn::tensor::module::conv2d;
    use burn::tensor::ops::ConvOptions;
    use burn::tensor::{Distribution, Tensor};
    quick_autotune();
    let device = Default::default();
    // Entries are sums of up to 1,568 products of unit normals (about 40 in size): 2e-4 of that
    // is float summation order, not a bug.
    fn close<B: burn::tensor::backend::Backend>(a: Tensor<B, 4>, b: Tensor<B, 4>, what: &str) {
        assert_eq!(a.dims(), b.dims(), "{what}");
        let (a, b) = (a.into_data().to_vec::<f32>().unwrap(), b.into_data().to_vec::<f32>().unwrap());
        let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs() / y.abs().max(1.0)).fold(0f32, f32::max);
        assert!(worst <= 2e-4, "{what}: differs by {worst}");
    }
    let shapes = [(2, 9, 5, 7, 3, 1, 0, false), (2, 9, 8, 4, 3, 2, 1, true), (2, 9, 6, 6, 1, 1, 0, false)];
    for (n, size, c, out, k, stride, pad, channels_last) in shapes.into_iter().chain([(8, 16, 3, 4, 3, 1, 0, true)]) {
        let opts = ConvOptions::new([stride; 2], [pad; 2], [1, 1], 1);
        let x = match channels_last {
            false => Tensor::<WgpuBackend, 4>::random([n, c, size, size], Distribution::Normal(0.0, 1.0), &device),
            true => Tensor::<WgpuBackend, 4>::random([n, size, size, c], Distribution::Normal(0.0, 1.0), &device)
                .permute([0, 3, 1, 2]),
        };
        let w = Tensor::<WgpuBackend, 4>::random([out, c, k, k], Distribution::Normal(0.0, 1.0), &device);
        // A loss that weighs every output differently, so each gradient entry matters.
        let side = (size + 2 * pad - k) / stride + 1;
        let weights = Tensor::<WgpuBackend, 4>::random([n, out, side, side], Distribution::Normal(0.0, 1.0), &device);
        let run = |ours: bool| {
            let (x, w) = (x.clone().require_grad(), w.clone().require_grad());
            let y = match ours {
                true => lightnasc::net::cube_ops::conv2d(x.clone(), w.clone(), opts.clone())
                    .unwrap_or_else(|_| panic!("taken on wgpu")),
                false => conv2d(x.clone(), w.clone(), None, opts.clone()),
            };
            let grads = (y.clone() * weights.clone()).sum().backward();
            (y.detach(), x.grad(&grads).unwrap(), w.grad(&grads).unwrap())
        };
        let before = lightnasc::net::gpu::Counts::now().conv_fallbacks;
        let (ours, theirs) = (run(true), run(false));
        let shape = format!("n {n} size {size} c {c} out {out} k {k} stride {stride} pad {pad} nhwc {channels_last}");
        close(ours.0, theirs.0, &format!("{shape}: output"));
        close(ours.1, theirs.1, &format!("{shape}: input gradient"));
        close(ours.2, theirs.2, &format!("{shape}: weight gradient"));
        // On lavapipe the implicit GEMM finds no tile size for the input gradient: at least it
        // fell back (other tests of this binary may run convs meanwhile).
        let fell = lightnasc::net::gpu::Counts::now().conv_fallbacks - before;
        assert!(fell >= 1, "{shape}: {fell} fallbacks");
        // Forward-only, on the backend without autodiff.
        let inner = |t: Tensor<WgpuBackend, 4>| Tensor::<Cube, 4>::from_data(t.into_data(), &device);
        let (xi, wi) = (inner(x.clone()), inner(w.clone()));
        let ours = lightnasc::net::cube_ops::conv2d(xi.clone(), wi.clone(), opts.clone())
            .unwrap_or_else(|_| panic!("taken on wgpu"));
        close(ours, conv2d(xi, wi, None, opts.clone()), &format!("{shape}: forward-only output"));
    }
}

/// The training ops of `net::cube_ops` against the composed burn ops they replace, on the device:
/// batch norm (output, running statistics, the gradients of input, gamma and beta; a permuted,
/// non-contiguous input too), the activation sign with its border and both surrogate gradients,
/// the weight sign's plain straight-through gradient, and three Adam steps with and without
/// weight decay (weights and both moments). Signs and masks are exact; the rest differ by float
/// summation order (sums over 240 values).
#[test]
fn the_fused_training_ops_equal_burns_composed_ops() {
    if !common::full_tier("Mesa's lavapipe, minutes") {
        return;
    }
    use burn::module::{Param, RunningState};
    use burn::optim::decay::WeightDecayConfig;
    use burn::optim::{AdamConfig, SimpleOptimizer};
    use burn::tensor::{Distribution, Tensor};
    use lightnasc::ir::ActQuant;
    use lightnasc::net::layers::{Mode, batch_norm, batch_norm_composed};
    use lightnasc::net::weights::NormWeights;
    use lightnasc::net::{optim::FusedAdam, quant};
    quick_autotune();
    type T<const D: usize> = Tensor<WgpuBackend, D>;
    let device = Default::default();
    let normal = |shape: [usize; 4]| T::<4>::random(shape, Distribution::Normal(0.5, 1.5), &device);
    let host = |t: Tensor<WgpuBackend, 4>| t.into_data().to_vec::<f32>().unwrap();
    fn close(a: &[f32], b: &[f32], tol: f32, what: &str) {
        assert_eq!(a.len(), b.len(), "{what}");
        let worst = a.iter().zip(b).map(|(x, y)| (x - y).abs() / y.abs().max(1.0)).fold(0f32, f32::max);
        assert!(worst <= tol, "{what}: differs by {worst}");
    }
    let vec1 = |v: Vec<f32>| T::<1>::from_data(burn::tensor::TensorData::new(v.clone(), [v.len()]), &device);
    let v1 = |t: T<1>| t.into_data().to_vec::<f32>().unwrap();

    // Batch norm: 4 images, 3 channels, 4x5 pixels; the second input is a channels-last view.
    for permuted in [false, true] {
        let x = match permuted {
            false => normal([4, 3, 4, 5]),
            true => normal([4, 4, 5, 3]).permute([0, 3, 1, 2]),
        };
        let weights = normal([4, 3, 4, 5]);
        let norm = || NormWeights::<WgpuBackend> {
            gamma: Some(Param::from_tensor(vec1(vec![0.5, 2.0, -1.0]))),
            beta: Some(Param::from_tensor(vec1(vec![0.1, 0.0, 3.0]))),
            running_mean: RunningState::new(vec1(vec![0.2, -0.3, 1.0])),
            running_var: RunningState::new(vec1(vec![1.0, 2.0, 0.5])),
        };
        let run = |fused: bool| {
            let w = norm();
            let x = x.clone().require_grad();
            let y = match fused {
                true => batch_norm(x.clone(), 1e-5, 0.9, &w, Mode::Train),
                false => batch_norm_composed(x.clone(), 1e-5, 0.9, &w, Mode::Train),
            };
            let grads = (y.clone() * weights.clone()).sum().backward();
            let (g, b) = (w.gamma.as_ref().unwrap(), w.beta.as_ref().unwrap());
            let params = [g.grad(&grads).unwrap(), b.grad(&grads).unwrap()].map(|t| v1(Tensor::from_inner(t)));
            let running = [w.running_mean.value_sync(), w.running_var.value_sync()].map(v1);
            (host(y.detach()), host(Tensor::from_inner(x.grad(&grads).unwrap())), params, running)
        };
        let (ours, theirs) = (run(true), run(false));
        let what = |s: &str| format!("batch norm (permuted: {permuted}): {s}");
        close(&ours.0, &theirs.0, 1e-5, &what("output"));
        close(&ours.1, &theirs.1, 1e-4, &what("input gradient"));
        close(&ours.2[0], &theirs.2[0], 1e-4, &what("gamma gradient"));
        close(&ours.2[1], &theirs.2[1], 1e-4, &what("beta gradient"));
        close(&ours.3[0], &theirs.3[0], 1e-6, &what("running mean"));
        close(&ours.3[1], &theirs.3[1], 1e-6, &what("running variance"));
    }

    // The activation sign bordered by -1 (and 0 for a zero-padded conv), both surrogates; values
    // near the threshold and exactly on it.
    let mut xs = host(normal([2, 3, 5, 4]));
    xs[..4].copy_from_slice(&[1.3, -1.3, 0.0, 1.3000001]);
    let x = Tensor::<WgpuBackend, 4>::from_data(burn::tensor::TensorData::new(xs, [2, 3, 5, 4]), &device);
    for (q, pad, border) in [(ActQuant::DetSign, 1, -1.0), (ActQuant::ApproxSign, 2, 0.0), (ActQuant::DetSign, 0, -1.0)]
    {
        let weights = normal([2, 3, 5 + 2 * pad as usize, 4 + 2 * pad as usize]);
        let run = |fused: bool| {
            let x = x.clone().require_grad();
            let y = match fused {
                true => quant::activation_padded(x.clone(), q, 1.3, pad, border),
                false => lightnasc::net::layers::pad(quant::activation(x.clone(), q, 1.3), pad, border),
            };
            let grads = (y.clone() * weights.clone()).sum().backward();
            (host(y.detach()), host(Tensor::from_inner(x.grad(&grads).unwrap())))
        };
        let (ours, theirs) = (run(true), run(false));
        assert_eq!(ours.0, theirs.0, "{q:?} pad {pad}: signs");
        close(&ours.1, &theirs.1, 1e-6, &format!("{q:?} pad {pad}: gradient"));
    }
    // The weight sign: the output's gradient passes through unchanged.
    let w = normal([4, 3, 3, 3]);
    let dy = normal([4, 3, 3, 3]);
    let run = |fused: bool| {
        let w = w.clone().require_grad();
        let y = match fused {
            true => quant::weights(w.clone(), lightnasc::ir::WeightQuant::DetSign),
            false => quant::ste(quant::hard_sign(w.clone()), w.clone()),
        };
        let grads = (y.clone() * dy.clone()).sum().backward();
        (host(y.detach()), host(Tensor::from_inner(w.grad(&grads).unwrap())))
    };
    assert_eq!(run(true), run(false), "weight sign and its gradient");

    // Adam: three steps on the backend without autodiff, burn's own against ours.
    let w0 = normal([5, 3, 3, 3]).inner();
    let grads: Vec<_> = (0..3).map(|_| normal([5, 3, 3, 3]).inner()).collect();
    for decay in [None, Some(1e-2f32)] {
        let theirs = AdamConfig::new().with_weight_decay(decay.map(WeightDecayConfig::new)).build();
        let ours = FusedAdam::new(decay);
        let (mut a, mut sa, mut b, mut sb) = (w0.clone(), None, w0.clone(), None);
        for g in &grads {
            (a, sa) = SimpleOptimizer::step(&theirs, 2e-3, a, g.clone(), sa);
            (b, sb) = SimpleOptimizer::step(&ours, 2e-3, b, g.clone(), sb);
        }
        let inner = |t: Tensor<Cube, 4>| t.into_data().to_vec::<f32>().unwrap();
        let (sa, sb): (burn::optim::AdamState<Cube, 4>, _) = (sa.unwrap(), sb.unwrap());
        assert_eq!(sa.momentum.time, sb.momentum.time);
        close(&inner(b), &inner(a), 1e-6, &format!("Adam (decay {decay:?}): weights"));
        close(&inner(sb.momentum.moment_1), &inner(sa.momentum.moment_1), 1e-6, "Adam: first moment");
        close(&inner(sb.momentum.moment_2), &inner(sa.momentum.moment_2), 1e-6, "Adam: second moment");
    }
}

/// Every conv weight gradient of the full MeliusNet-22 at CIFAR's 32x32 and batch 64 launches at
/// least two waves of an H100's 132 SMs (264 cubes), as `net::cube_ops` launches it on CUDA and
/// wgpu alike (the selection is `gpu_grad::WeightGrad::geometry`, the code the launch calls).
/// Binary convs see their input padded by the sign op, so their own padding is 0. The table is
/// printed (`--nocapture`) and is docs/gpu.md's.
#[test]
fn every_meliusnet22_weight_gradient_at_batch_64_launches_two_waves() {
    if !common::full_tier("Mesa's lavapipe, minutes") {
        return;
    }
    use lightnasc::ir::{Op, Shape};
    use lightnasc_kernels::gpu_grad::{TARGET_CUBES, WeightGrad};
    let args = lightnasc::lower::SpaceArgs { input: Some(vec![3, 32, 32]), classes: Some(10), other: vec![] };
    let pin = lightnasc::check::PinArg::Melius("DIDIDIDITDIDIDIDIDITDIDIDIDITDIDIDIDI".into());
    let out = lightnasc::check::check_path(&common::root().join("specs/meliusnet22.lnas"), &args, None, Some(&pin));
    let (a, _) = out.pinned.expect("pinned");
    let g = lightnasc::ir::pin::pin(&out.space.expect("space"), &a).expect("pins");
    let map = |s: &Shape| match *s {
        Shape::Map { c, h, w } => [c as usize, h as usize, w as usize],
        Shape::Vector { .. } => panic!("a conv on a vector"),
    };
    println!(
        "| conv | input | out | k | stride | M x N x K | tiles | slices | cubes |\n|---|---|---|---|---|---|---|---|---|"
    );
    let mut convs = 0;
    for n in g.nodes.node_indices() {
        let node = g.node(n);
        let (conv, pad) = match &node.op {
            Op::Conv { conv, .. } => (conv, conv.pad as usize),
            Op::BinaryConv(b) => (&b.conv, 0),
            _ => continue,
        };
        let [c, h, w] = map(&g.node(g.inputs(n)[0]).shape);
        let [out, ho, wo] = map(&node.shape);
        let border = conv.pad as usize - pad;
        let p = WeightGrad {
            input: [64, c, h + 2 * border, w + 2 * border],
            out,
            kernel: [conv.kernel as usize; 2],
            out_size: [ho, wo],
            stride: conv.stride as usize,
            pad,
            dilation: conv.dilation as usize,
        };
        let geo = p.geometry();
        println!(
            "| {} | {c}x{h}x{w} | {out} | {} | {} | {} x {} x {} | {} x {} | {} | {} |",
            node.weights.as_deref().unwrap_or("?"),
            conv.kernel,
            conv.stride,
            geo.m,
            geo.n,
            geo.k,
            geo.tiles[0],
            geo.tiles[1],
            geo.splits,
            geo.cubes()
        );
        assert!(geo.cubes() >= TARGET_CUBES, "{p:?}: {geo:?}");
        convs += 1;
    }
    assert!(convs >= 38, "{convs} convs");
}
