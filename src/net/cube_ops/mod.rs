//! Training on burn's CubeCL backends (wgpu, CUDA) in fewer, larger launches: convs with one
//! fixed algorithm ([`conv`]), batch norm on batch statistics ([`norm`]), the binary layers' sign
//! with its straight-through gradient ([`sign`]), and Adam's update ([`adam`]); each op one burn
//! autodiff op whose forward and backward are a few of `lightnasc_kernels::gpu_train`'s kernels.
//!
//! Why: composed from burn's tensor ops, a MeliusNet-22 training step launched 5,955 kernels
//! (docs/gpu.md), three in four elementwise, and burn's fusion, which would merge them, hides the
//! device buffers the packed convs read. As in `cpu_ops`, the backend is recognised by type and
//! the tensors moved across through `Any`; each op hands its input back on any other backend.

pub mod adam;
pub mod conv;
pub mod norm;
pub mod sign;

pub use conv::conv2d;

use burn::backend::Autodiff;
use burn::tensor::{DType, Shape};
use burn_cubecl::cubecl::server::Handle;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::permute_nhwc_to_nchw;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{CubeBackend, CubeRuntime};
use lightnasc_kernels::gpu_train::{Strides, View};

pub(crate) type Inner<R, BT> = CubeBackend<R, f32, i32, BT>;
pub(crate) type Train<R, BT> = Autodiff<Inner<R, BT>>;

/// `$f::<B, R, BT[, D]>(args)` for each CubeCL runtime this build has, returning the first `Ok`;
/// `$back` is what each hands back (and the caller's `Err`) where `B` is not that runtime's.
macro_rules! on_runtimes {
    ($back:ident = $f:ident::<$b:ty $(, $d:ident)?>($($arg:expr),* $(,)?)) => {{
        #[cfg(feature = "wgpu")]
        let $back = match $f::<$b, burn_cubecl::cubecl::wgpu::WgpuRuntime, u32 $(, $d)?>($($arg),*) {
            Ok(y) => return Ok(y),
            Err(back) => back,
        };
        #[cfg(feature = "cuda")]
        let $back = match $f::<$b, burn_cubecl::cubecl::cuda::CudaRuntime, u8 $(, $d)?>($($arg),*) {
            Ok(y) => return Ok(y),
            Err(back) => back,
        };
        Err($back)
    }};
}
pub(crate) use on_runtimes;

/// `t` with a contiguous buffer (for kernels that index it flat).
fn contiguous<R: CubeRuntime>(t: CubeTensor<R>) -> CubeTensor<R> {
    if t.is_contiguous() { t } else { into_contiguous(t) }
}

/// A rank-4 tensor's strides.
fn strides<R: CubeRuntime>(t: &CubeTensor<R>) -> Strides {
    let s = t.meta.strides();
    [s[0], s[1], s[2], s[3]]
}

/// A rank-4 tensor's buffer as the kernels read it.
fn view<R: CubeRuntime>(t: &CubeTensor<R>) -> View<'_> {
    View { handle: &t.handle, strides: strides(t) }
}

/// A `[n, c, h, w]` tensor over `handle`, which holds it channels-last (what the kernels write).
fn channels_last<R: CubeRuntime>(like: &CubeTensor<R>, [n, c, h, w]: [usize; 4], handle: Handle) -> CubeTensor<R> {
    permute_nhwc_to_nchw(f32_tensor(like, [n, h, w, c], handle))
}

/// A contiguous `f32` tensor of `shape` over `handle`, on `like`'s device.
fn f32_tensor<R: CubeRuntime, const D: usize>(
    like: &CubeTensor<R>,
    shape: [usize; D],
    handle: Handle,
) -> CubeTensor<R> {
    CubeTensor::new_contiguous(like.client.clone(), like.device.clone(), Shape::new(shape), handle, DType::F32)
}
