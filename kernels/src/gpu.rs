//! The binary convolution as a CubeCL kernel: one source for every CubeCL runtime (CUDA through
//! burn-cuda's runtime on NVIDIA GPUs; wgpu elsewhere, and in CI on Mesa's software Vulkan).
//!
//! It reads the CPU packing as 32-bit words (WGSL has no 64-bit integers): on a little-endian
//! host a `u64` word is its low `u32` then its high one, so channel `c` sits in word `c / 32`,
//! bit `c % 32` either way. One unit computes one output; it counts mismatches with `popcount`
//! over the receptive field and writes the match count, `(h + K) / 2`.

use cubecl::prelude::*;

use crate::cpu::out_size;
use crate::pack::{ConvGeometry, PackedActivations, PackedWeights};

#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
fn binary_conv_kernel(
    act: &Array<u32>,
    wts: &Array<u32>,
    out: &mut Array<u32>,
    total: u32,
    hp: u32,
    wp: u32,
    words: u32,
    outc: u32,
    out_stride: u32,
    kh: u32,
    kw: u32,
    stride: u32,
    dilation: u32,
    ho: u32,
    wo: u32,
    fan_in: u32,
) {
    let idx = ABSOLUTE_POS as u32;
    if idx < total {
        // NCHW output index -> (image, channel, row, column).
        let ox = idx % wo;
        let oy = (idx / wo) % ho;
        let o = (idx / (wo * ho)) % outc;
        let img = idx / (wo * ho * outc);
        let mut mismatches = 0u32;
        for ky in 0..kh {
            for kx in 0..kw {
                let iy = oy * stride + ky * dilation;
                let ix = ox * stride + kx * dilation;
                let p = ((img * hp + iy) * wp + ix) * words;
                for wi in 0..words {
                    let wbase = (((ky * kw + kx) * words + wi) * out_stride + o) * 2;
                    let abase = (p + wi) * 2;
                    let lo = act[abase as usize] ^ wts[wbase as usize];
                    let hi = act[(abase + 1) as usize] ^ wts[(wbase + 1) as usize];
                    mismatches += u32::count_ones(lo) + u32::count_ones(hi);
                }
            }
        }
        out[idx as usize] = fan_in - mismatches;
    }
}

fn le_bytes(words: &[u64]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// Match counts `(h + K) / 2`, NCHW, computed on a CubeCL device: the same integers as
/// [`crate::binary_conv2d`] with [`crate::Epilogue::Matches`].
pub fn binary_conv2d<R: Runtime>(
    client: &ComputeClient<R>,
    a: &PackedActivations,
    w: &PackedWeights,
    g: ConvGeometry,
) -> Vec<f32> {
    assert_eq!(a.c, w.c, "input channels of activations and weights differ");
    assert_eq!(a.pad, g.pad, "activations must be packed with the convolution's padding");
    let (ho, wo) = (out_size(a.h, w.kh, g), out_size(a.w, w.kw, g));
    let total = a.n * w.out * ho * wo;
    let act = client.create_from_slice(&le_bytes(&a.data));
    let wts = client.create_from_slice(&le_bytes(&w.data));
    let out = client.empty(total.max(1) * 4);
    let unit = 256u32;
    let cubes = (total as u32).div_ceil(unit).max(1);
    // SAFETY: every index the kernel reads is inside the buffers: the shapes were asserted above
    // and the kernel checks `idx < total` before touching anything.
    unsafe {
        binary_conv_kernel::launch_unchecked::<R>(
            client,
            CubeCount::Static(cubes, 1, 1),
            CubeDim::new_1d(unit),
            ArrayArg::from_raw_parts(act, a.data.len() * 2),
            ArrayArg::from_raw_parts(wts, w.data.len() * 2),
            ArrayArg::from_raw_parts(out.clone(), total.max(1)),
            total as u32,
            (a.h + 2 * a.pad) as u32,
            (a.w + 2 * a.pad) as u32,
            a.words as u32,
            w.out as u32,
            w.out_stride as u32,
            w.kh as u32,
            w.kw as u32,
            g.stride as u32,
            g.dilation as u32,
            ho as u32,
            wo as u32,
            w.fan_in() as u32,
        )
    };
    let bytes = client.read_one_unchecked(out);
    u32::from_bytes(&bytes)[..total].iter().map(|&m| m as f32).collect()
}
