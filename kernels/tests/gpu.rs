//! The CubeCL kernels on a real CubeCL runtime: wgpu, which in CI (no GPU) is Mesa's software
//! Vulkan driver (lavapipe). Every variant's integers must equal the CPU kernels', which the
//! `exact` tests hold to a ±1 reference, and packing on the device must give the CPU's bits.

#![cfg(feature = "wgpu")]

use cubecl::wgpu::{WgpuDevice, WgpuRuntime};
use cubecl::{CubeElement, Runtime};
use lightnasc_kernels::gpu::{self, GpuEpilogue, GpuKernel};
use lightnasc_kernels::{ConvGeometry, Epilogue, binary_conv2d, pack_activations, pack_weights};

/// (n, c, h, w, out, k, stride, pad, dilation): odd sizes, strides, dilation, several words per
/// pixel, more than one 16-word chunk (c 600) and output channels past one tile.
const CASES: &[(usize, usize, usize, usize, usize, usize, usize, usize, usize)] = &[
    (1, 3, 7, 6, 4, 3, 1, 1, 1),
    (2, 37, 8, 8, 5, 3, 2, 1, 1),
    (1, 64, 9, 9, 8, 3, 1, 2, 2),
    (1, 70, 5, 5, 13, 1, 1, 0, 1),
    (2, 130, 6, 6, 70, 3, 1, 3, 1),
    (1, 480, 8, 8, 64, 3, 1, 1, 1),
    (3, 600, 5, 7, 33, 3, 2, 1, 1),
];

fn values(seed: &mut u64, len: usize) -> Vec<f32> {
    (0..len)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            (*seed % 9) as f32 - 4.0
        })
        .collect()
}

#[test]
fn every_cubecl_variant_equals_the_cpu_kernel_on_wgpu() {
    let client = WgpuRuntime::client(&WgpuDevice::DefaultDevice);
    let mut seed = 0x1234_5678u64;
    let mut checked = 0;
    for &(n, c, h, w, o, k, stride, pad, dilation) in CASES {
        let x = values(&mut seed, n * c * h * w);
        let wt = values(&mut seed, o * c * k * k);
        let g = ConvGeometry { stride, pad, dilation };
        let a = pack_activations(&x, [n, c, h, w], pad);
        let pw = pack_weights(&wt, [o, c, k, k]);
        let want = binary_conv2d(&a, &pw, g, Epilogue::Matches);
        for kernel in GpuKernel::ALL {
            let got = gpu::binary_conv2d(&client, kernel, &a, &pw, g);
            assert_eq!(got, want, "{} c {c} o {o} k {k} {g:?}", kernel.name());
            checked += 1;
        }
    }
    assert_eq!(checked, CASES.len() * GpuKernel::ALL.len());
}

#[test]
fn packing_on_the_device_gives_the_cpu_bits_and_the_dot_epilogue_is_2m_minus_k() {
    let client = WgpuRuntime::client(&WgpuDevice::DefaultDevice);
    let mut seed = 0x9e37_79b9u64;
    for &(n, c, h, w, o, k, stride, pad, dilation) in CASES {
        let mut x = values(&mut seed, n * c * h * w);
        // Signed zeros and NaN pack as the CPU packs them (`>= 0` is +1).
        x[0] = -0.0;
        let mid = x.len() / 2;
        x[mid] = f32::NAN;
        let host = pack_activations(&x, [n, c, h, w], pad);
        let on_device = gpu::pack_on_device(&client, client.create_from_slice(f32::as_bytes(&x)), [n, c, h, w], pad);
        assert_eq!(gpu::read_activations(&client, &on_device), host.data, "c {c} h {h} w {w} pad {pad}");

        let wt = values(&mut seed, o * c * k * k);
        let pw = pack_weights(&wt, [o, c, k, k]);
        let g = ConvGeometry { stride, pad, dilation };
        let dw = gpu::upload_weights(&client, &pw);
        let len: usize = gpu::out_shape(&on_device, &dw, g).iter().product();
        let want: Vec<f32> =
            binary_conv2d(&host, &pw, g, Epilogue::Matches).iter().map(|m| 2.0 * m - (c * k * k) as f32).collect();
        for kernel in GpuKernel::ALL {
            let y = gpu::binary_conv2d_on(&client, kernel, &on_device, &dw, g, GpuEpilogue::Dot);
            assert_eq!(gpu::read_f32(&client, y, len), want, "{} c {c}", kernel.name());
        }
    }
}
