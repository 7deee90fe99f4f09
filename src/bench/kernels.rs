//! `lightnasc bench kernels`: the bit-packed binary conv against the float conv of the same shape
//! on the same device, at MeliusNet-22's and ResNet-18's 3x3 binary conv shapes. On the CPU the
//! baseline is burn's Flex `conv2d` (and, given a Python with onnxruntime, onnxruntime's float
//! conv) and the binary side the native plan's: packing from an NHWC float buffer and the conv
//! into one, with a chosen CPU kernel; the row also states the share of that kernel's popcount
//! ceiling it reaches (its bits a cycle per core at the clock `/proc/cpuinfo` reports). On a CubeCL device
//! (wgpu, CUDA) the baseline is burn's `conv2d` there and the binary side the network's own packed
//! path (packing on the device, the variant timed fastest for the shape). Each binary time
//! includes packing the input; weights are packed once, as for inference. Both sides read their
//! result back, which waits for the device. Medians over repeated runs.

use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Tensor, TensorData};
use lightnasc_kernels::{
    Bounds, Channels, ChannelsMut, ConvGeometry, Epilogue, Kernel, PackedActivations, binary_conv2d_into,
    pack_activations, pack_bounded, pack_weights,
};
use serde::Serialize;

use super::paired_median_ms;
use crate::error::Error;
use crate::ir::{ActQuant, BinaryConv, Conv2d, Scaling, WeightQuant};
use crate::net::device::BackendJob;
use crate::net::packed::{self, PackedCache};
use crate::net::weights::ConvWeights;
use crate::util::SplitMix64;

#[derive(Clone, Debug, Serialize)]
pub struct KernelRow {
    /// Which network the shape is from.
    pub net: String,
    /// `C_in x H x W -> C_out, k x k`.
    pub shape: String,
    pub batch: usize,
    pub binary_ms: f64,
    pub float_ms: f64,
    /// float_ms / binary_ms.
    pub speedup: f64,
    /// Input and weights, packed.
    pub binary_bytes: usize,
    /// Input and weights, f32.
    pub float_bytes: usize,
    pub kernel: String,
    /// onnxruntime's float conv of the same shape (CPU, given `--onnxruntime`), and its time over ours.
    pub onnxruntime_ms: Option<f64>,
    pub vs_onnxruntime: Option<f64>,
    /// The time the XNOR-popcounts alone would take at the kernel's popcount limit
    /// (`Kernel::ceiling_bits_per_cycle`) on every thread, and that time over ours (1.0 = at the
    /// ceiling).
    pub ceiling_ms: Option<f64>,
    pub of_ceiling: Option<f64>,
}

/// 3x3 binary convs: (network, C_in, H = W, C_out). MeliusNet-22's are the narrowest and widest
/// input of each stage (dense and improvement blocks, 64 channels out, on CIFAR's 32x32),
/// ResNet-18's the stride-1 convs of each stage.
pub const SHAPES: &[(&str, usize, usize, usize)] = &[
    ("meliusnet22", 64, 32, 64),
    ("meliusnet22", 320, 32, 64),
    ("meliusnet22", 160, 16, 64),
    ("meliusnet22", 480, 16, 64),
    ("meliusnet22", 224, 8, 64),
    ("meliusnet22", 480, 8, 64),
    ("meliusnet22", 256, 4, 64),
    ("meliusnet22", 512, 4, 64),
    ("resnet18", 64, 32, 64),
    ("resnet18", 128, 16, 128),
    ("resnet18", 256, 8, 256),
    ("resnet18", 512, 4, 512),
];

/// The rows on one device. `cpu_kernel`: the CPU kernel to time on the host (the CPU backend);
/// `None` times the backend's own packed path.
#[derive(Clone, Debug)]
pub struct KernelBench {
    pub batches: Vec<usize>,
    pub reps: usize,
    pub cpu_kernel: Option<Kernel>,
    /// A Python with onnxruntime for its column (CPU), and its threads.
    pub onnxruntime: Option<std::path::PathBuf>,
    pub threads: usize,
}

impl BackendJob for KernelBench {
    type Output = Result<Vec<KernelRow>, Error>;

    fn run<B: AutodiffBackend>(self, devices: Vec<B::Device>) -> Self::Output {
        let device = devices.into_iter().next().expect("run_on gives at least one device");
        rows::<B::InnerBackend>(&device, &self)
    }
}

/// The binary conv layer the rows time: what `net::packed` takes (±1, -1 padding, match counts).
fn layer(out: usize) -> BinaryConv {
    BinaryConv {
        conv: Conv2d { out: out as u32, kernel: 3, stride: 1, pad: 1, dilation: 1, groups: 1 },
        bits: 1,
        act: ActQuant::DetSign,
        grad_cancel: 1.0,
        weights: WeightQuant::DetSign,
        scaling: Scaling::None,
        pad_value: -1.0,
        offset: true,
    }
}

/// The CPU clock in GHz, as `/proc/cpuinfo` reports it (the first core's), if it does.
fn clock_ghz() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("cpu MHz"))?;
    Some(line.split(':').nth(1)?.trim().parse::<f64>().ok()? / 1e3)
}

fn rows<B: Backend>(device: &B::Device, bench: &KernelBench) -> Result<Vec<KernelRow>, Error> {
    let mut rng = SplitMix64(17);
    let mut rows = vec![];
    let mut progress = crate::progress::Steps::new("bench kernels", SHAPES.len() * bench.batches.len());
    for &(net, c, hw, out) in SHAPES {
        for &n in &bench.batches {
            let x: Vec<f32> = (0..n * c * hw * hw).map(|_| rng.normal() as f32).collect();
            let w: Vec<f32> = (0..out * c * 9).map(|_| rng.normal() as f32).collect();
            let g = ConvGeometry { stride: 1, pad: 1, dilation: 1 };
            let pw = pack_weights(&w, [out, c, 3, 3]);
            let packed_in = pack_activations(&x, [n, c, hw, hw], 1);
            // The native plan's side: NHWC float in, packed by bounds (the sign), NHWC out.
            let nhwc: Vec<f32> = (0..n * hw * hw * c)
                .map(|i| {
                    let (p, ch) = (i / c, i % c);
                    x[((p / (hw * hw)) * c + ch) * hw * hw + p % (hw * hw)]
                })
                .collect();
            let bounds = Bounds::sign(c);
            let mut packed = PackedActivations::zeros(n, c, hw, hw, 1);
            let mut y = vec![0f32; n * hw * hw * out];
            let xt = Tensor::<B, 4>::from_data(TensorData::new(x.clone(), [n, c, hw, hw]), device);
            let wt = Tensor::<B, 4>::from_data(TensorData::new(w.clone(), [out, c, 3, 3]), device);
            let weights = ConvWeights { weight: burn::module::Param::from_tensor(wt.clone()), bias: None };
            let b = layer(out);
            let cache = PackedCache::default();
            let (binary_ms, float_ms) = paired_median_ms(
                bench.reps,
                |_| match bench.cpu_kernel {
                    Some(kernel) => {
                        pack_bounded(Channels { data: &nhwc, stride: c, offset: 0, c }, n, &bounds, &mut packed);
                        let to = ChannelsMut { data: &mut y, stride: out, offset: 0 };
                        binary_conv2d_into(kernel, &packed, &pw, g, Epilogue::Matches, to);
                        std::hint::black_box(&y);
                    }
                    None => drop(packed::binary_conv(xt.clone(), &b, &weights, 0, &cache).into_data()),
                },
                |_| {
                    let y = conv2d(xt.clone(), wt.clone(), None, ConvOptions::new([1, 1], [1, 1], [1, 1], 1));
                    // Reading the result back waits for the work (and counts what inference needs).
                    std::hint::black_box(y.into_data());
                },
            );
            let kernel = match bench.cpu_kernel {
                Some(k) => k.name(),
                None => cache.kernels().first().copied().flatten().unwrap_or("-"),
            };
            let ort = match (&bench.onnxruntime, bench.cpu_kernel) {
                (Some(python), Some(_)) => Some(super::ort::time(
                    python,
                    &super::ort::OrtModel::Conv([c, hw, out, 3, 1]),
                    n,
                    bench.threads,
                    bench.reps,
                )?),
                _ => None,
            };
            let bitops = (n * hw * hw * out * c * 9) as f64;
            let ceiling_ms = match (bench.cpu_kernel.and_then(Kernel::ceiling_bits_per_cycle), clock_ghz()) {
                (Some(bits), Some(ghz)) => {
                    Some(bitops / (rayon::current_num_threads() as f64 * ghz * 1e9 * bits) * 1e3)
                }
                _ => None,
            };
            rows.push(KernelRow {
                onnxruntime_ms: ort.map(|o| o.ms),
                vs_onnxruntime: ort.map(|o| o.ms / binary_ms),
                ceiling_ms,
                of_ceiling: ceiling_ms.map(|c| c / binary_ms),
                net: net.into(),
                shape: format!("{c}x{hw}x{hw} -> {out}, 3x3"),
                batch: n,
                binary_ms,
                float_ms,
                speedup: float_ms / binary_ms,
                binary_bytes: packed_in.bytes() + pw.bytes(),
                float_bytes: (x.len() + w.len()) * 4,
                kernel: kernel.into(),
            });
            progress.done(rows.len() - 1, &format!("{net} {c}x{hw}x{hw} batch {n}: binary {binary_ms:.3} ms"));
        }
    }
    progress.finish();
    Ok(rows)
}
