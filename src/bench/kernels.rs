//! `lightnasc bench kernels`: the bit-packed binary conv against the float conv of the same shape
//! on the same device, at MeliusNet-22's and ResNet-18's 3x3 binary conv shapes. On the CPU the
//! baseline is burn's Flex `conv2d` and the binary side a chosen CPU kernel; on a CubeCL device
//! (wgpu, CUDA) the baseline is burn's `conv2d` there and the binary side the network's own packed
//! path (packing on the device, the variant timed fastest for the shape). Each binary time
//! includes packing the input; weights are packed once, as for inference. Both sides read their
//! result back, which waits for the device. Medians over repeated runs.

use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Tensor, TensorData};
use lightnasc_kernels::{ConvGeometry, Epilogue, Kernel, binary_conv2d_using, pack_activations, pack_weights};
use serde::Serialize;

use super::paired_median_ms;
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
}

/// 3x3 binary convs: (network, C_in, H = W, C_out).
pub const SHAPES: &[(&str, usize, usize, usize)] = &[
    ("meliusnet22", 64, 32, 64),
    ("meliusnet22", 128, 32, 64),
    ("meliusnet22", 256, 32, 64),
    ("meliusnet22", 480, 32, 64),
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
}

impl BackendJob for KernelBench {
    type Output = Vec<KernelRow>;

    fn run<B: AutodiffBackend>(self, devices: Vec<B::Device>) -> Vec<KernelRow> {
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

fn rows<B: Backend>(device: &B::Device, bench: &KernelBench) -> Vec<KernelRow> {
    let mut rng = SplitMix64(17);
    let mut rows = vec![];
    for &(net, c, hw, out) in SHAPES {
        for &n in &bench.batches {
            let x: Vec<f32> = (0..n * c * hw * hw).map(|_| rng.normal() as f32).collect();
            let w: Vec<f32> = (0..out * c * 9).map(|_| rng.normal() as f32).collect();
            let g = ConvGeometry { stride: 1, pad: 1, dilation: 1 };
            let pw = pack_weights(&w, [out, c, 3, 3]);
            let packed_in = pack_activations(&x, [n, c, hw, hw], 1);
            let xt = Tensor::<B, 4>::from_data(TensorData::new(x.clone(), [n, c, hw, hw]), device);
            let wt = Tensor::<B, 4>::from_data(TensorData::new(w.clone(), [out, c, 3, 3]), device);
            let weights = ConvWeights { weight: burn::module::Param::from_tensor(wt.clone()), bias: None };
            let b = layer(out);
            let cache = PackedCache::default();
            let (binary_ms, float_ms) = paired_median_ms(
                bench.reps,
                |_| match bench.cpu_kernel {
                    Some(kernel) => {
                        let a = pack_activations(&x, [n, c, hw, hw], 1);
                        std::hint::black_box(binary_conv2d_using(kernel, &a, &pw, g, Epilogue::Matches));
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
            rows.push(KernelRow {
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
        }
    }
    rows
}
