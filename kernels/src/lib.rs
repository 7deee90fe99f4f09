//! Bit-packed binary kernels: XNOR-popcount convolution and dense layers on ±1 values stored one
//! bit each (1 = +1, 0 = -1; a value `>= 0` packs as +1, as `det_sign` rounds it).
//!
//! A binary conv's `(h + K) / 2` output (BMXNet's offset, `h` the ±1 dot product, `K` its length)
//! is the number of positions where input and weight signs agree, so the kernels count matches
//! directly: `K - popcount(a XOR w)` summed over words, exact in integers. Padding with -1 is a
//! packed pixel of zero bits, which the packed input carries as a zero border.
//!
//! [`cpu`] holds the CPU kernels (AVX-512 VPOPCNTDQ, AVX2, or scalar `popcnt`, chosen at run time),
//! `gpu` the CubeCL kernel (features `wgpu`, `cuda`); the layout of packed tensors is in [`pack`].

#[cfg(target_arch = "x86_64")]
mod avx2;
pub mod cpu;
mod features;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
pub mod gpu;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
pub mod gpu_grad;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
pub mod gpu_train;
pub mod grad;
pub mod matmul;
pub mod nhwc;
pub mod pack;
pub mod pool;

pub use cpu::{Epilogue, Kernel, binary_conv2d, binary_conv2d_using, binary_dense};
pub use nhwc::{Bounds, Channels, ChannelsMut, binary_conv2d_into, pack_bounded, pack_bounded_using};
pub use pack::{
    ConvGeometry, PackedActivations, PackedWeights, pack_activations, pack_activations_portable,
    pack_activations_using, pack_weights,
};
