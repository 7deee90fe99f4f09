//! The CubeCL kernel on a real CubeCL runtime: wgpu, which in CI (no GPU) is Mesa's software
//! Vulkan driver (lavapipe). Its integers must equal the CPU kernels', which the `exact` tests
//! hold to a ±1 reference.

#![cfg(feature = "wgpu")]

use cubecl::Runtime;
use cubecl::wgpu::{WgpuDevice, WgpuRuntime};
use lightnasc_kernels::{ConvGeometry, Epilogue, binary_conv2d, gpu, pack_activations, pack_weights};

#[test]
fn the_cubecl_kernel_equals_the_cpu_kernel_on_wgpu() {
    let client = WgpuRuntime::client(&WgpuDevice::DefaultDevice);
    let mut seed = 0x1234_5678u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut cases = 0;
    for &(n, c, h, w, o, k, stride, pad, dilation) in &[
        (1, 3, 7, 6, 4, 3, 1, 1, 1),
        (2, 37, 8, 8, 5, 3, 2, 1, 1),
        (1, 64, 9, 9, 8, 3, 1, 2, 2),
        (1, 70, 5, 5, 13, 1, 1, 0, 1),
        (2, 130, 6, 6, 70, 3, 1, 3, 1),
        (1, 480, 8, 8, 64, 3, 1, 1, 1),
    ] {
        let mut values = |len: usize| (0..len).map(|_| (next() % 9) as f32 - 4.0).collect::<Vec<f32>>();
        let x = values(n * c * h * w);
        let wt = values(o * c * k * k);
        let g = ConvGeometry { stride, pad, dilation };
        let a = pack_activations(&x, [n, c, h, w], pad);
        let pw = pack_weights(&wt, [o, c, k, k]);
        let want = binary_conv2d(&a, &pw, g, Epilogue::Matches);
        let got = gpu::binary_conv2d(&client, &a, &pw, g);
        assert_eq!(got, want, "c {c} o {o} k {k} {g:?}");
        cases += 1;
    }
    assert_eq!(cases, 6);
}
