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
/// float path's logits exactly, for MeliusNet-22, ResNet-18 and the demo, after a weight swap too.
#[test]
fn cubecl_binary_kernels_give_the_float_paths_logits_exactly_on_wgpu() {
    quick_autotune();
    common::packed_logits_equal_float::<Cube>(1);
}
