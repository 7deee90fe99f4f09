//! `lightnasc bench kernels`: the bit-packed binary conv against the float conv of the same shape
//! (burn's Flex `conv2d`, the fastest float conv in this binary), at MeliusNet-22's and
//! ResNet-18's 3x3 binary conv shapes. Each binary time includes packing the input (sign and bit
//! packing fused); weights are packed once, as for inference. Medians over repeated runs.

use burn::backend::Flex;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Tensor, TensorData};
use lightnasc_kernels::{ConvGeometry, Epilogue, Kernel, binary_conv2d_using, pack_activations, pack_weights};
use serde::Serialize;

use super::paired_median_ms;
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

pub fn run(batches: &[usize], reps: usize, kernel: Kernel) -> Vec<KernelRow> {
    let device = Default::default();
    let mut rng = SplitMix64(17);
    let mut rows = vec![];
    for &(net, c, hw, out) in SHAPES {
        for &n in batches {
            let x: Vec<f32> = (0..n * c * hw * hw).map(|_| rng.normal() as f32).collect();
            let w: Vec<f32> = (0..out * c * 9).map(|_| rng.normal() as f32).collect();
            let g = ConvGeometry { stride: 1, pad: 1, dilation: 1 };
            let pw = pack_weights(&w, [out, c, 3, 3]);
            let packed_in = pack_activations(&x, [n, c, hw, hw], 1);
            let xt = Tensor::<Flex, 4>::from_data(TensorData::new(x.clone(), [n, c, hw, hw]), &device);
            let wt = Tensor::<Flex, 4>::from_data(TensorData::new(w.clone(), [out, c, 3, 3]), &device);
            let (binary_ms, float_ms) = paired_median_ms(
                reps,
                |_| {
                    let a = pack_activations(&x, [n, c, hw, hw], 1);
                    std::hint::black_box(binary_conv2d_using(kernel, &a, &pw, g, Epilogue::Matches));
                },
                |_| {
                    let y = conv2d(xt.clone(), wt.clone(), None, ConvOptions::new([1, 1], [1, 1], [1, 1], 1));
                    // Reading the result back waits for the work (and counts what inference needs).
                    std::hint::black_box(y.into_data());
                },
            );
            rows.push(KernelRow {
                net: net.into(),
                shape: format!("{c}x{hw}x{hw} -> {out}, 3x3"),
                batch: n,
                binary_ms,
                float_ms,
                speedup: float_ms / binary_ms,
                binary_bytes: packed_in.bytes() + pw.bytes(),
                float_bytes: (x.len() + w.len()) * 4,
                kernel: kernel.name().into(),
            });
        }
    }
    rows
}
