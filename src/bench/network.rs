//! `lightnasc bench network`: whole-network inference with the bit-packed binary kernels against
//! the float path, on one device, in the same run: a pinned architecture's fixed network, and
//! the supernet on a fresh sampled path per pass (what the controller's reward evaluation runs).
//! On the CPU also the native plan (`back::native`) of the pinned network against the float path,
//! and, given a Python with onnxruntime, onnxruntime on the same network's ONNX export.

use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use serde::Serialize;

use super::ort::{self, OrtModel};
use super::paired_median_ms;
use crate::back::native;
use crate::error::Error;
use crate::ir::Graph;
use crate::ir::pin::{Assignment, pin};
use crate::net::device::BackendJob;
use crate::net::gpu::{Counts, note_read};
use crate::net::{Mode, Supernet};
use crate::progress::Steps;
use crate::util::SplitMix64;

#[derive(Clone, Debug, Serialize)]
pub struct NetworkRow {
    pub what: String,
    pub shape: String,
    pub batch: usize,
    pub binary_ms: f64,
    pub float_ms: f64,
    pub speedup: f64,
    /// onnxruntime on the same network's ONNX (native plan rows), and its time over ours.
    pub onnxruntime_ms: Option<f64>,
    pub vs_onnxruntime: Option<f64>,
    /// The native plan's bytes (weights, constants, activation buffers) at this batch, and
    /// onnxruntime's peak resident growth over its session.
    pub plan_bytes: Option<usize>,
    pub onnxruntime_peak_growth_bytes: Option<u64>,
    /// Start-up: seconds of the first packed pass (kernels compiled or loaded, variants timed).
    pub first_pass_s: Option<f64>,
    /// What one steady pass did on the device, packed and float (kernel counts with `--counts`).
    pub per_pass: Option<Counts>,
    pub float_per_pass: Option<Counts>,
    /// The native plan's CPU kernel and its instruction set (`avx2 (AVX2)`).
    pub cpu_kernel: Option<String>,
}

/// `space` with `arch` pinned: the fixed network, then the supernet on sampled paths.
#[derive(Clone, Debug)]
pub struct NetworkBench {
    pub space: Graph,
    pub arch: Assignment,
    pub batches: Vec<usize>,
    pub reps: usize,
    /// Time the native plan (CPU only).
    pub native: bool,
    /// A Python with onnxruntime, for its column; its threads.
    pub onnxruntime: Option<std::path::PathBuf>,
    pub threads: usize,
    /// Time the pinned network alone, not the supernet on sampled paths.
    pub pinned_only: bool,
}

impl BackendJob for NetworkBench {
    type Output = Result<Vec<NetworkRow>, Error>;

    fn run<B: AutodiffBackend>(self, devices: Vec<B::Device>) -> Self::Output {
        let device = devices.into_iter().next().expect("run_on gives at least one device");
        rows::<B::InnerBackend>(&device, &self)
    }
}

fn rows<B: Backend>(device: &B::Device, bench: &NetworkBench) -> Result<Vec<NetworkRow>, Error> {
    let space = &bench.space;
    let fixed = Supernet::<B>::new(pin(space, &bench.arch)?, 1, device);
    let supernet = Supernet::<B>::new(space.clone(), 1, device);
    let input = space.node(space.input).shape.dims().iter().map(|&d| d as usize).collect::<Vec<_>>();
    let shape = format!("{input:?}");
    let mut rows = vec![];
    // The pinned network's weights as a store: the native plan's input, and the ONNX export's.
    let store = fixed.to_store();
    // The native plan's row where it can lower the network (else the rows burn runs).
    let mut native = match bench.native && native::supports(&fixed.plan.graph).is_ok() {
        true => Some(native::Plan::new(native::lower(&fixed.plan.graph, &store)?)),
        false => None,
    };
    let onnx = match bench.onnxruntime {
        Some(_) => Some(crate::back::onnx::lower(&fixed.plan.graph, &store, &[], None)?),
        None => None,
    };
    for &n in &bench.batches {
        let mut rng = SplitMix64(5);
        let len = n * input.iter().product::<usize>();
        let x = Tensor::<B, 4>::from_data(
            TensorData::new(
                (0..len).map(|_| rng.normal() as f32).collect::<Vec<f32>>(),
                [n, input[0], input[1], input[2]],
            ),
            device,
        );
        // The packed network and the float one, the same weights, one row of the table.
        let mut row = |what: String, net: &Supernet<B>, paths: &dyn Fn(usize) -> Assignment| {
            let (mut packed, mut float) = (net.clone(), net.clone());
            (packed.binary_kernels, float.binary_kernels) = (true, false);
            let mut progress = Steps::new(format!("bench network, {what}, batch {n}"), 4);
            let pass = |net: &Supernet<B>, i: usize| {
                let logits = net.logits(x.clone(), &paths(i), Mode::Eval).into_data();
                note_read(logits.as_bytes().len());
            };
            let start = std::time::Instant::now();
            pass(&packed, 0);
            let first_pass_s = start.elapsed().as_secs_f64();
            pass(&float, 0);
            progress.done(0, &format!("first packed pass {first_pass_s:.2} s (start-up), then a float one"));
            let counted = |net: &Supernet<B>| {
                let c = Counts::now();
                pass(net, 0);
                Counts::since(c)
            };
            let per_pass = counted(&packed);
            progress.done(1, "packed pass counted");
            let float_per_pass = counted(&float);
            progress.done(2, "float pass counted");
            let (binary_ms, float_ms) = paired_median_ms(bench.reps, |i| pass(&packed, i), |i| pass(&float, i));
            progress.done(3, &format!("packed {binary_ms:.2} ms, float {float_ms:.2} ms"));
            progress.finish();
            rows.push(NetworkRow {
                what,
                shape: shape.clone(),
                batch: n,
                binary_ms,
                float_ms,
                speedup: float_ms / binary_ms,
                onnxruntime_ms: None,
                vs_onnxruntime: None,
                plan_bytes: None,
                onnxruntime_peak_growth_bytes: None,
                first_pass_s: Some(first_pass_s),
                per_pass: Some(per_pass),
                float_per_pass: Some(float_per_pass),
                cpu_kernel: None,
            });
        };
        row(format!("{} (pinned)", space.name), &fixed, &|_| Assignment(vec![]));
        if !bench.pinned_only {
            // The same sampled paths for both: Assignment::random is a function of its seed.
            let sampled = |i: usize| Assignment::random(space, 1000 + i as u64);
            row(format!("{} supernet, sampled paths (reward evaluation)", space.name), &supernet, &sampled);
        }
        if let Some(native) = native.as_mut() {
            let host: Vec<f32> =
                x.clone().into_data().to_vec().map_err(|e| Error::Tool(format!("reading back a tensor: {e:?}")))?;
            let mut float = fixed.clone();
            float.binary_kernels = false;
            let (native_ms, float_ms) = paired_median_ms(
                bench.reps,
                |_| drop(native.run(&host, n)),
                |_| drop(float.logits(x.clone(), &Assignment(vec![]), Mode::Eval).into_data()),
            );
            let ort = match (&bench.onnxruntime, &onnx) {
                (Some(python), Some(model)) => {
                    Some(ort::time(python, &OrtModel::Model(model), n, bench.threads, bench.reps)?)
                }
                _ => None,
            };
            rows.push(NetworkRow {
                what: format!("{} (pinned), native plan", space.name),
                shape: shape.clone(),
                batch: n,
                binary_ms: native_ms,
                float_ms,
                speedup: float_ms / native_ms,
                onnxruntime_ms: ort.map(|o| o.ms),
                vs_onnxruntime: ort.map(|o| o.ms / native_ms),
                plan_bytes: Some(native.program().bytes(n).total()),
                onnxruntime_peak_growth_bytes: ort.map(|o| o.peak_growth_bytes),
                first_pass_s: None,
                per_pass: None,
                float_per_pass: None,
                cpu_kernel: Some(format!("{} ({})", native.kernel().name(), native.kernel().isa())),
            });
        }
    }
    Ok(rows)
}
