//! The CubeCL kernels on a real CubeCL runtime: wgpu, which in CI (no GPU) is Mesa's software
//! Vulkan driver (lavapipe). Every variant's integers must equal the CPU kernels', which the
//! `exact` tests hold to a ±1 reference, and packing on the device must give the CPU's bits.

#![cfg(feature = "wgpu")]

use cubecl::Runtime;
use cubecl::wgpu::{WgpuDevice, WgpuRuntime};
use lightnasc_kernels::gpu::{self, GpuKernel};
use lightnasc_kernels::{ConvGeometry, Epilogue, binary_conv2d, pack_activations, pack_weights};

#[test]
fn every_cubecl_variant_and_the_device_packing_equal_the_cpu_on_wgpu() {
    let client = WgpuRuntime::client(&WgpuDevice::DefaultDevice);
    let checks = gpu::check_against_cpu(&client);
    let failed: Vec<_> = checks.iter().filter(|c| !c.equal).map(|c| (&c.what, c.shape)).collect();
    assert!(failed.is_empty(), "differ from the CPU: {failed:?}");
    // Packing, then each variant, at every shape.
    assert_eq!(checks.len(), gpu::CHECK_SHAPES.len() * (1 + GpuKernel::ALL.len()));
}

/// The host-in, host-out entry point on a hand-checkable case: a 1x1 conv of two channels, where
/// each output is the number of channels whose signs agree.
#[test]
fn a_one_by_one_conv_counts_agreeing_channels() {
    let client = WgpuRuntime::client(&WgpuDevice::DefaultDevice);
    // Pixels (+,+), (+,-), (-,+), (-,-); the weight is (+,-).
    let x = [1.0, 1.0, -1.0, -1.0, 1.0, -1.0, 1.0, -1.0];
    let a = pack_activations(&x, [1, 2, 1, 4], 0);
    let w = pack_weights(&[1.0, -1.0], [1, 2, 1, 1]);
    let g = ConvGeometry { stride: 1, pad: 0, dilation: 1 };
    assert_eq!(binary_conv2d(&a, &w, g, Epilogue::Matches), [1.0, 2.0, 0.0, 1.0]);
    for kernel in GpuKernel::ALL {
        assert_eq!(gpu::binary_conv2d(&client, kernel, &a, &w, g), [1.0, 2.0, 0.0, 1.0], "{}", kernel.name());
    }
}

/// The tiled variant puts pixel tiles of 16 on one grid axis of at most 65,535 cubes; past that
/// it does not claim to run (the direct one does).
#[test]
fn the_tiled_variant_fits_up_to_65535_pixel_tiles() {
    assert!(GpuKernel::Tiled.fits(16 * 65_535));
    assert!(!GpuKernel::Tiled.fits(16 * 65_535 + 1));
    assert!(GpuKernel::Direct.fits(16 * 65_535 + 1));
}
