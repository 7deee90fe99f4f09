//! Binary layers and the supernet against hand computations and independent references.

mod common;

use burn::backend::{Autodiff, Flex};
use burn::optim::{SgdConfig, decay::WeightDecayConfig};
use burn::tensor::{Int, Tensor, TensorData};

use common::{check_json, images, space};
use lightnasc::check::PinArg;
use lightnasc::ir::pin::Assignment;
use lightnasc::ir::{ActQuant, BinaryConv, Conv2d, Scaling, WeightQuant};
use lightnasc::lower::SpaceArgs;
use lightnasc::net::layers::{self, Mode};
use lightnasc::net::train::{GroupedOptimizer, train_step};
use lightnasc::net::weights::{ConvWeights, NormWeights, Slot};
use lightnasc::net::{Supernet, quant};
use lightnasc::util::SplitMix64;

type B = Flex;
type AD = Autodiff<Flex>;

fn dev() -> burn::backend::flex::FlexDevice {
    Default::default()
}

fn t1<Bk: burn::tensor::backend::Backend>(v: &[f32]) -> Tensor<Bk, 1> {
    Tensor::from_data(TensorData::new(v.to_vec(), [v.len()]), &Default::default())
}

fn values<Bk: burn::tensor::backend::Backend, const D: usize>(t: Tensor<Bk, D>) -> Vec<f32> {
    t.into_data().to_vec::<f32>().unwrap()
}

const XS: [f32; 7] = [-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5];

/// Value and gradient of `f` at each of `xs` (the gradient of the sum, so elementwise).
fn value_and_grad(f: impl Fn(Tensor<AD, 1>) -> Tensor<AD, 1>, xs: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let x = t1::<AD>(xs).require_grad();
    let y = f(x.clone());
    let grads = y.clone().sum().backward();
    (values(y), values(x.grad(&grads).unwrap()))
}

#[test]
fn det_sign_has_the_clipped_straight_through_gradient() {
    let (y, g) = value_and_grad(|x| quant::det_sign(x, 1.0), &XS);
    assert_eq!(y, [-1.0, -1.0, -1.0, 1.0, 1.0, 1.0, 1.0], "0 maps to +1");
    assert_eq!(g, [0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0], "inclusive at the threshold");
    let (_, g) = value_and_grad(|x| quant::det_sign(x, 0.5), &XS);
    assert_eq!(g, [0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0]);
}

#[test]
fn approx_sign_gradient_is_two_plus_minus_two_x() {
    // No cancel (threshold above every x): 2 + 2x below 0, 2 - 2x from 0 on, unclamped.
    let (y, g) = value_and_grad(|x| quant::approx_sign(x, 10.0), &XS);
    assert_eq!(y, [-1.0, -1.0, -1.0, 1.0, 1.0, 1.0, 1.0]);
    assert_eq!(g, [-1.0, 0.0, 1.0, 2.0, 1.0, 0.0, -1.0]);
    // With the default cancel at 1.
    let (_, g) = value_and_grad(|x| quant::approx_sign(x, 1.0), &XS);
    assert_eq!(g, [0.0, 0.0, 1.0, 2.0, 1.0, 0.0, 0.0]);
}

#[test]
fn weight_binarisation_passes_the_gradient_unclipped() {
    let (y, g) = value_and_grad(|w| quant::weights(w, WeightQuant::DetSign), &XS);
    assert_eq!(y, [-1.0, -1.0, -1.0, 1.0, 1.0, 1.0, 1.0]);
    assert_eq!(g, [1.0; 7]);
}

fn bconv(out: u32, kernel: u32, stride: u32, pad: u32, dilation: u32, scaling: Scaling) -> BinaryConv {
    BinaryConv {
        conv: Conv2d { out, kernel, stride, pad, dilation, groups: 1 },
        bits: 1,
        act: ActQuant::DetSign,
        grad_cancel: 1.0,
        weights: WeightQuant::DetSign,
        scaling,
        pad_value: -1.0,
        offset: scaling == Scaling::None,
    }
}

fn conv_weights<Bk: burn::tensor::backend::Backend>(w: Tensor<Bk, 4>) -> ConvWeights<Bk> {
    ConvWeights { weight: burn::module::Param::from_tensor(w), bias: None }
}

/// Scaled 1x1 binary conv, one output channel, input x = (0.5, -2) at one pixel, latent weights
/// W = (0.5, -0.25). By hand: signs (1, -1) and (1, -1) give h = 2; alpha = mean|W| = 0.375.
/// binet: y = h * alpha = 0.75, dy/dW = alpha * sign(x) + h * sign(W) / 2 = (1.375, -1.375).
/// xnor: K = mean_c |x| = 1.25; y = h * alpha * K = 0.9375; alpha and K are constants, so
/// dy/dW = alpha * K * sign(x) = (0.46875, -0.46875) and dy/dx = alpha * K * sign(W) * [|x| <= 1]
/// = (0.46875, 0).
#[test]
fn scaling_with_and_without_stop_gradient() {
    let run = |scaling| {
        let x = Tensor::<AD, 4>::from_data(TensorData::new(vec![0.5f32, -2.0], [1, 2, 1, 1]), &dev()).require_grad();
        let w = conv_weights(Tensor::<AD, 4>::from_data(TensorData::new(vec![0.5f32, -0.25], [1, 2, 1, 1]), &dev()));
        let y = layers::binary_conv(x.clone(), &bconv(1, 1, 1, 0, 1, scaling), &w);
        let grads = y.clone().sum().backward();
        (values(y), values(w.weight.val().grad(&grads).unwrap()), values(x.grad(&grads).unwrap()))
    };
    let (y, gw, _) = run(Scaling::Binet);
    assert_eq!(y, [0.75]);
    assert_eq!(gw, [1.375, -1.375]);
    let (y, gw, gx) = run(Scaling::Xnor);
    assert_eq!(y, [0.9375]);
    assert_eq!(gw, [0.46875, -0.46875]);
    assert_eq!(gx, [0.46875, 0.0]);
    // Unscaled: (h + K) / 2 with K = 2 counts the matching signs: both match.
    let (y, gw, _) = run(Scaling::None);
    assert_eq!(y, [2.0]);
    assert_eq!(gw, [0.5, -0.5], "d/dW of (sum sign(x) sign(W) + K) / 2 is sign(x) / 2");
}

/// Matching signs between the -1-padded input and the weights, counted one position at a time.
#[allow(clippy::too_many_arguments)]
fn xnor_popcount(
    x: &[f32],
    w: &[f32],
    (n, c, h, wd): (usize, usize, usize, usize),
    (o, k): (usize, usize),
    stride: usize,
    pad: usize,
    dil: usize,
) -> (Vec<f32>, usize, usize) {
    let sign = |v: f32| v >= 0.0;
    let ho = (h + 2 * pad - dil * (k - 1) - 1) / stride + 1;
    let wo = (wd + 2 * pad - dil * (k - 1) - 1) / stride + 1;
    let mut out = vec![0f32; n * o * ho * wo];
    for b in 0..n {
        for oc in 0..o {
            for i in 0..ho {
                for j in 0..wo {
                    let mut count = 0u32;
                    for ic in 0..c {
                        for ki in 0..k {
                            for kj in 0..k {
                                let (y, xx) = (
                                    (i * stride + ki * dil) as i64 - pad as i64,
                                    (j * stride + kj * dil) as i64 - pad as i64,
                                );
                                let xs = if y < 0 || xx < 0 || y >= h as i64 || xx >= wd as i64 {
                                    false // padding is -1
                                } else {
                                    sign(x[((b * c + ic) * h + y as usize) * wd + xx as usize])
                                };
                                count += u32::from(xs == sign(w[((oc * c + ic) * k + ki) * k + kj]));
                            }
                        }
                    }
                    out[((b * o + oc) * ho + i) * wo + j] = count as f32;
                }
            }
        }
    }
    (out, ho, wo)
}

#[test]
fn binary_conv_counts_matching_bits_with_minus_one_padding() {
    let mut rng = SplitMix64(11);
    // (n, c, h, w), (out, k), stride, pad, dilation; C_in not a multiple of 32 or 64.
    let cases = [
        ((2, 3, 7, 6), (4, 3), 1, 1, 1),
        ((1, 37, 8, 8), (5, 3), 2, 1, 1),
        ((2, 5, 9, 9), (3, 3), 1, 2, 2),
        ((1, 70, 5, 5), (6, 1), 1, 0, 1),
        ((1, 4, 6, 6), (2, 1), 2, 0, 1),
        ((1, 6, 5, 5), (2, 3), 1, 3, 1),
    ];
    for ((n, c, h, w), (o, k), stride, pad, dil) in cases {
        // Values with either sign, zeros included (0 counts as +1).
        let mut draw = |len| (0..len).map(|_| (rng.below(5) as f32 - 2.0) * 0.5).collect::<Vec<f32>>();
        let xv = draw(n * c * h * w);
        let wv = draw(o * c * k * k);
        let (expected, ho, wo) = xnor_popcount(&xv, &wv, (n, c, h, w), (o, k), stride, pad, dil);
        let x = Tensor::<B, 4>::from_data(TensorData::new(xv, [n, c, h, w]), &dev());
        let wt = conv_weights(Tensor::<B, 4>::from_data(TensorData::new(wv, [o, c, k, k]), &dev()));
        let spec = bconv(o as u32, k as u32, stride as u32, pad as u32, dil as u32, Scaling::None);
        let y = layers::binary_conv(x.clone(), &spec, &wt);
        assert_eq!(y.dims(), [n, o, ho, wo]);
        assert_eq!(values(y), expected, "case c={c} k={k} stride={stride} pad={pad} dilation={dil}");
        // The bit-packed kernels give the same integers, with the offset and without.
        assert!(spec.packable());
        assert_eq!(
            values(lightnasc::net::packed::binary_conv(x.clone(), &spec, &wt, 0, &Default::default())),
            expected
        );
        let plain = BinaryConv { offset: false, ..spec };
        assert_eq!(
            values(lightnasc::net::packed::binary_conv(x.clone(), &plain, &wt, 0, &Default::default())),
            values(layers::binary_conv(x, &plain, &wt))
        );
    }
}

/// Whole networks in eval mode: the same logits, bit for bit, with the packed kernels as
/// without, and the kernels really run (most binary convs are eligible).
#[test]
fn binary_kernels_give_the_float_paths_logits_exactly() {
    let report = common::packed_path_equals_float::<Flex>(2);
    // The CPU backend has no device kernels to check; its kernels are held to a ±1 reference
    // in the kernels crate.
    assert!(report.kernels.is_empty());
}

/// x = (1, 2, 3, 4) as a batch of four 1-vectors: mean 2.5, biased variance 1.25. Running
/// statistics after one step with momentum 0.9: mean 0.25, variance 0.9 + 0.125 = 1.025.
#[test]
fn batch_norm_train_uses_batch_statistics_and_eval_the_running_ones() {
    let norm = NormWeights::<B> {
        gamma: Some(burn::module::Param::from_tensor(t1(&[2.0]))),
        beta: Some(burn::module::Param::from_tensor(t1(&[0.5]))),
        running_mean: burn::module::RunningState::new(t1(&[0.0])),
        running_var: burn::module::RunningState::new(t1(&[1.0])),
    };
    let x = || Tensor::<B, 2>::from_data(TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [4, 1]), &dev());
    let eps = 1e-5;
    let y = values(layers::batch_norm(x(), eps, 0.9, &norm, Mode::Train));
    for (yi, xi) in y.iter().zip([1.0f64, 2.0, 3.0, 4.0]) {
        let want = 2.0 * (xi - 2.5) / (1.25 + eps).sqrt() + 0.5;
        assert!((*yi as f64 - want).abs() < 1e-5, "{yi} vs {want}");
    }
    assert!((values(norm.running_mean.value_sync())[0] - 0.25).abs() < 1e-6);
    assert!((values(norm.running_var.value_sync())[0] - 1.025).abs() < 1e-6);
    let y = values(layers::batch_norm(x(), eps, 0.9, &norm, Mode::Eval));
    for (yi, xi) in y.iter().zip([1.0f64, 2.0, 3.0, 4.0]) {
        let want = 2.0 * (xi - 0.25) / (1.025 + eps).sqrt() + 0.5;
        assert!((*yi as f64 - want).abs() < 1e-5, "{yi} vs {want}");
    }
    assert!((values(norm.running_mean.value_sync())[0] - 0.25).abs() < 1e-6, "eval leaves the statistics alone");
}

fn max_abs_diff<Bk: burn::tensor::backend::Backend>(a: Tensor<Bk, 2>, b: Tensor<Bk, 2>) -> f32 {
    values(a).iter().zip(values(b)).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn extracted_network_matches_the_supernet_path() {
    let cases: [(&str, &[u32], i64); 4] = [
        ("specs/meliusnet22.lnas", &[3, 32, 32], 100),
        ("specs/meliusnet22.lnas", &[1, 28, 28], 10),
        ("specs/resnet18.lnas", &[3, 32, 32], 10),
        ("specs/resnet18.lnas", &[1, 28, 28], 10),
    ];
    for (spec, input, classes) in cases {
        for seed in [1u64, 2] {
            let pin = PinArg::Random(seed);
            let (g, a) = space(spec, input, classes, Some(pin));
            let a = a.expect("pinned");
            let net = Supernet::<B>::new(g, 42, &dev());
            // Move the running statistics off their initial values along another path first.
            let other = Assignment::random(&net.plan.graph, seed + 100);
            net.logits(images(4, input, 5), &other, Mode::Train);
            let fixed = net.extract(&a).expect("extract");
            assert!(fixed.plan.graph.choices.is_empty());
            for mode in [Mode::Eval, Mode::Train] {
                let x = images(3, input, seed);
                let d = max_abs_diff(net.logits(x.clone(), &a, mode), fixed.logits(x, &Assignment(vec![]), mode));
                assert!(d < 1e-5, "{spec} {input:?} seed {seed} {mode:?}: max abs diff {d}");
            }
            // The parameters held equal what `lightnasc check --pin` reports.
            let shape = input.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
            let (code, report) = check_json(&[
                spec,
                "--pin",
                &format!("random:{seed}"),
                "--input",
                &shape,
                "--classes",
                &classes.to_string(),
            ]);
            assert_eq!(code, 0);
            assert_eq!(Some(fixed.param_count()), report["pinned"]["params"].as_u64(), "{spec} {input:?} seed {seed}");
        }
    }
}

/// Snapshot of every slot's tensors and statistics, keyed by weight key.
fn snapshot(net: &Supernet<AD>) -> Vec<(String, Vec<f32>)> {
    let w = &net.weights;
    net.plan
        .slots
        .iter()
        .map(|s| {
            let v = match s.slot {
                Slot::Conv(i) => values(w.convs[i].weight.val()),
                Slot::Dense(i) => values(w.denses[i].weight.val()),
                Slot::Norm(i) => {
                    let n = &w.norms[i];
                    let mut v = n.gamma.as_ref().map(|p| values(p.val())).unwrap_or_default();
                    v.extend(values(n.running_mean.value_sync()));
                    v
                }
            };
            (s.key.clone(), v)
        })
        .collect()
}

#[test]
fn an_optimiser_step_changes_only_the_sampled_path() {
    let input = [3u32, 16, 16];
    let (g, _) = space("specs/resnet18.lnas", &input, 10, None);
    let mut net = Supernet::<AD>::new(g, 3, &dev());
    let a = Assignment::random(&net.plan.graph, 9);
    // Which weight keys the path reads.
    let used: std::collections::HashSet<String> = net
        .plan
        .steps
        .iter()
        .filter(|s| net.plan.runs(s, &a))
        .filter_map(|s| s.slot)
        .map(|slot| net.plan.slots.iter().find(|s| s.slot == slot).unwrap().key.clone())
        .collect();
    let before = snapshot(&net);
    let mut optim = GroupedOptimizer::new(&net, SgdConfig::new().init(), SgdConfig::new().init());
    let labels = Tensor::<AD, 1, Int>::from_data(TensorData::new(vec![1i64, 4, 7, 2], [4]), &dev());
    train_step(&mut net, &mut optim, 0.1, images(4, &input, 1), labels, &a).unwrap();
    let after = snapshot(&net);
    let mut changed = 0;
    for ((key, b), (_, af)) in before.iter().zip(&after) {
        if used.contains(key) {
            changed += usize::from(b != af);
        } else {
            assert_eq!(b, af, "{key} is off the path but changed");
        }
    }
    assert!(changed * 10 >= used.len() * 9, "only {changed} of {} path slots changed", used.len());
    // ResNet's 1-bit and 32-bit variants share conv weights: the path's convs are the same slots
    // whichever variant runs, while each variant has its own batch norms.
    let mut flipped = a.clone();
    for c in &mut flipped.0 {
        *c = c.map(|o| lightnasc::ir::OptionIx(1 - o.0));
    }
    let conv_slots = |a: &Assignment| -> std::collections::BTreeSet<usize> {
        net.plan
            .steps
            .iter()
            .filter(|s| net.plan.runs(s, a))
            .filter_map(|s| match s.slot {
                Some(Slot::Conv(i)) => Some(i),
                _ => None,
            })
            .collect()
    };
    assert_eq!(conv_slots(&a), conv_slots(&flipped));
}

#[test]
fn binary_conv_weights_take_no_weight_decay() {
    // One float conv and one binary conv; SGD with and without weight decay from the same start.
    let src = r#"
space t(x: tensor = [2, 5, 5], classes: int = 3) {
    x = x |> conv(4, kernel: 3, pad: 1) as stem |> bn
    return x |> bconv(4, kernel: 3, pad: 1) as body |> bn |> global_avgpool |> dense(classes)
}
"#;
    let args = SpaceArgs::default();
    let out = lightnasc::check::check_text("t.lnas", src, &args, None);
    assert!(out.diags.is_empty(), "{:?}", out.diags);
    let g = out.space.unwrap();
    let (lr, wd) = (0.5f64, 0.25f32);
    let run = |decay: Option<f32>| {
        let mut net = Supernet::<AD>::new(g.clone(), 7, &dev());
        let decayed = SgdConfig::new().with_weight_decay(decay.map(WeightDecayConfig::new)).init();
        let mut optim = GroupedOptimizer::new(&net, decayed, SgdConfig::new().init());
        let labels = Tensor::<AD, 1, Int>::from_data(TensorData::new(vec![0i64, 2], [2]), &dev());
        let x = images(2, &[2, 5, 5], 3);
        train_step(&mut net, &mut optim, lr, x, labels, &Assignment(vec![])).unwrap();
        net
    };
    let start = Supernet::<AD>::new(g.clone(), 7, &dev());
    let (plain, decayed) = (run(None), run(Some(wd)));
    let slot = |key: &str| start.plan.slots.iter().find(|s| s.key.ends_with(key)).unwrap().slot;
    let conv = |net: &Supernet<AD>, key: &str| match slot(key) {
        Slot::Conv(i) => values(net.weights.convs[i].weight.val()),
        _ => unreachable!(),
    };
    // Float conv: the decayed update differs by lr * wd * w0.
    for ((p, d), w0) in conv(&plain, "stem").iter().zip(conv(&decayed, "stem")).zip(conv(&start, "stem")) {
        assert!((p - d - (lr as f32) * wd * w0).abs() < 1e-5, "{p} {d} {w0}");
    }
    // Binary conv: identical updates.
    assert_eq!(conv(&plain, "body"), conv(&decayed, "body"));
}

#[test]
fn bench_supernet_reports_rows_and_rejects_bad_devices() {
    let out = common::lightnasc(&[
        "bench",
        "supernet",
        "specs/demo.lnas",
        "--batch",
        "4",
        "--steps",
        "1",
        "--warmup",
        "0",
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for r in rows {
        assert!(r["steps_per_s"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["ms_per_step"].as_f64().unwrap() > 0.0, "{r}");
        // CPU time per wall second of the steps, from /proc/self/stat.
        assert!(r["cores_busy"].as_f64().is_some_and(|c| c >= 0.0), "{r}");
    }
    assert_eq!(rows[0]["ratio"].as_f64(), Some(1.0), "the baseline row is the reference");
    // A device that does not parse is a usage error; CUDA in a CPU-only build a clear error.
    let out = common::lightnasc(&["bench", "supernet", "specs/demo.lnas", "--device", "gpu"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`gpu` is not a device"));
    if !cfg!(feature = "cuda") {
        let out = common::lightnasc(&["bench", "supernet", "specs/demo.lnas", "--device", "cuda:1"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("built without CUDA"));
    }
    // A spec with errors reports them and runs nothing.
    let out = common::lightnasc(&["bench", "supernet", "fixtures/errors/unknown_block_typo.lnas"]);
    assert_eq!(out.status.code(), Some(1));
}

/// `LIGHTNASC_NO_AVX512` and `LIGHTNASC_NO_AVX2` hide the wider kernels, as a CPU without them
/// has none: `best` then picks a narrower one and naming a hidden one is refused. The rows say
/// which kernel ran and, with a popcount limit, how close to it.
#[test]
fn the_instruction_set_variables_hide_the_wider_kernels() {
    let bench = |var: &str, kernel: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_lightnasc"))
            .args(["bench", "kernels", "--batch", "1", "--reps", "1", "--format", "json", "--kernel", kernel])
            .env(var, "1")
            .current_dir(common::root())
            .output()
            .unwrap()
    };
    for (var, hidden, narrower) in [
        ("LIGHTNASC_NO_AVX512", &["avx512"][..], &["avx2", "popcnt", "portable"][..]),
        ("LIGHTNASC_NO_AVX2", &["avx512", "avx2"], &["popcnt", "portable"]),
    ] {
        for kernel in hidden {
            let out = bench(var, kernel);
            assert_eq!(out.status.code(), Some(1), "{var} {kernel}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("this CPU cannot run the") && err.contains(" kernel"), "{err}");
        }
        let rows: serde_json::Value = serde_json::from_str(&common::ok(&bench(var, "best"))).unwrap();
        for r in rows.as_array().unwrap() {
            let k = r["kernel"].as_str().unwrap();
            assert!(narrower.iter().any(|n| k.starts_with(n)), "{var}: {k}");
            // A kernel with a popcount limit states its share of it (where /proc/cpuinfo gives a
            // clock); the portable loop has none.
            if k == "portable" {
                assert!(r["of_ceiling"].is_null(), "{r}");
            } else if let Some(ceiling) = r["ceiling_ms"].as_f64() {
                let share = ceiling / r["binary_ms"].as_f64().unwrap();
                assert!((r["of_ceiling"].as_f64().unwrap() - share).abs() < 1e-9, "{r}");
            }
        }
    }
}

/// `bench kernels --format json`: a row per shape and batch with both timings, and packed
/// sizes a 32nd of float (plus the rounding of channels up to whole words).
#[test]
fn bench_kernels_reports_rows_with_both_paths() {
    let out = common::lightnasc(&["bench", "kernels", "--batch", "1", "--reps", "1", "--format", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), lightnasc::bench::kernels::SHAPES.len());
    for r in rows {
        assert!(r["binary_ms"].as_f64().unwrap() > 0.0 && r["float_ms"].as_f64().unwrap() > 0.0, "{r}");
        let ratio = r["speedup"].as_f64().unwrap() * r["binary_ms"].as_f64().unwrap() / r["float_ms"].as_f64().unwrap();
        assert!((ratio - 1.0).abs() < 1e-9);
        // Every shape has C_in a multiple of 64, so the packed size is exactly 1/32 (input with its
        // one-pixel border of -1).
        let (b, f) = (r["binary_bytes"].as_u64().unwrap() as f64, r["float_bytes"].as_u64().unwrap() as f64);
        assert!(b * 32.0 >= f && b * 32.0 < f * 1.3, "{r}");
        assert!(r["shape"].as_str().unwrap().ends_with("3x3"));
    }
}
