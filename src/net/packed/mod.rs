//! The bit-packed path of a binary conv: the same integers as the float path
//! ([`layers::binary_conv`](super::layers::binary_conv)), from the XNOR-popcount kernels in
//! `kernels/`. Forward-only passes (reward scoring, validation, latency measurement, inference)
//! take it on every backend; training takes it on the CPU backend (`net::cpu_ops::conv`: the
//! packed forward with the float path's straight-through gradients), elsewhere the float path,
//! which autodiff differentiates.
//!
//! The backend decides where a step's packed conv runs, once per network and conv slot: on a
//! CubeCL backend (wgpu, CUDA) the CubeCL kernels read and write the device tensors in place
//! ([`cube`]), with the variant timed on the device at first use; on the CPU backend the CPU
//! kernels run on the host data ([`host`]), with the variant timed once per process.

#[cfg(any(feature = "wgpu", feature = "cuda"))]
mod cube;
mod host;

use std::any::Any;
use std::sync::{Arc, Mutex};

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use lightnasc_kernels::{ConvGeometry, PackedWeights, pack_weights};

use super::weights::ConvWeights;
use crate::ir::BinaryConv;

fn geometry(b: &BinaryConv) -> ConvGeometry {
    ConvGeometry { stride: b.conv.stride as usize, pad: b.conv.pad as usize, dilation: b.conv.dilation as usize }
}

/// What one conv slot keeps between passes: its packed weights, and on a CubeCL device their
/// device copy with the kernel variant chosen for it.
#[derive(Clone)]
struct SlotKernel {
    host: Arc<PackedWeights>,
    device: Option<Arc<dyn Any + Send + Sync>>,
    kernel: &'static str,
}

/// Packed weights of a network's conv slots, made on first use. Weights of a forward-only
/// network do not change, so each slot is read back and packed once per network (per reward
/// update, per `infer`), not once per batch; `Supernet::set_weights` empties it.
#[derive(Default)]
pub struct PackedCache(Mutex<Vec<Option<SlotKernel>>>);

impl std::fmt::Debug for PackedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = self.0.lock().map_or(0, |s| s.iter().flatten().count());
        write!(f, "PackedCache({held} slots packed)")
    }
}

impl PackedCache {
    /// Slot `slot`'s entry, packing its weights if they are not yet; `fill` may add the device
    /// part (it runs with the cache locked, once per slot).
    fn entry<B: Backend>(&self, slot: usize, w: &ConvWeights<B>, fill: impl FnOnce(&mut SlotKernel)) -> SlotKernel {
        let mut slots = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if slots.len() <= slot {
            slots.resize(slot + 1, None);
        }
        let e = slots[slot].get_or_insert_with(|| {
            let latent = w.weight.val();
            let dims = latent.dims();
            let host = Arc::new(pack_weights(&latent.into_data().to_vec::<f32>().expect("f32 weights"), dims));
            SlotKernel { host, device: None, kernel: lightnasc_kernels::Kernel::best().name() }
        });
        if e.device.is_none() {
            fill(e);
        }
        e.clone()
    }

    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// The kernel variant each packed slot ran with, by slot (`None`: not run packed yet).
    pub fn kernels(&self) -> Vec<Option<&'static str>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|s| s.as_ref().map(|s| s.kernel)).collect()
    }
}

/// On a CubeCL device: every GPU kernel variant and the device packing against the CPU kernels
/// ([`lightnasc_kernels::gpu::check_against_cpu`]). Empty on the host backend, whose kernels the
/// kernels crate's own tests hold to a ±1 reference.
#[allow(unused_variables)]
pub fn device_checks<B: Backend>(device: &B::Device) -> Vec<DeviceCheck> {
    #[cfg(feature = "wgpu")]
    if let Some(c) = cube::checks::<B, burn_cubecl::cubecl::wgpu::WgpuRuntime>(device) {
        return c;
    }
    #[cfg(feature = "cuda")]
    if let Some(c) = cube::checks::<B, burn_cubecl::cubecl::cuda::CudaRuntime>(device) {
        return c;
    }
    vec![]
}

/// One device check: what ran (`pack` or a variant), at which shape, and whether it equals the CPU.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DeviceCheck {
    pub what: String,
    /// `[n, c, h, w, out, k, stride, pad, dilation]`.
    pub shape: [usize; 9],
    pub equal: bool,
}

/// The layer's output through the packed kernels, on the backend's own device: the weights of
/// conv slot `slot` come from `cache`.
pub fn binary_conv<B: Backend>(
    x: Tensor<B, 4>,
    b: &BinaryConv,
    w: &ConvWeights<B>,
    slot: usize,
    cache: &PackedCache,
) -> Tensor<B, 4> {
    #[cfg(feature = "wgpu")]
    let x = match cube::binary_conv::<B, burn_cubecl::cubecl::wgpu::WgpuRuntime>(x, b, w, slot, cache) {
        Ok(y) => return y,
        Err(x) => x,
    };
    #[cfg(feature = "cuda")]
    let x = match cube::binary_conv::<B, burn_cubecl::cubecl::cuda::CudaRuntime>(x, b, w, slot, cache) {
        Ok(y) => return y,
        Err(x) => x,
    };
    host::binary_conv(x, b, w, slot, cache)
}
