//! The packed conv on a CubeCL backend (burn's `CubeBackend` on wgpu or CUDA): the input's
//! device buffer is packed on the device and convolved there, and the output is a new device
//! tensor; nothing crosses to the host but the weights, once per network.
//!
//! Networks are generic over burn's `Backend`, which has no hook for custom kernels, so the
//! backend is recognised by its tensor type: `B::FloatTensorPrimitive` is `CubeTensor<R>` exactly
//! when `B` is `CubeBackend<R, ..>`, and the value is moved across through `Any` (no copy).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use burn::tensor::backend::Backend;
use burn::tensor::{DType, Shape, Tensor, TensorPrimitive};
use burn_cubecl::CubeRuntime;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use lightnasc_kernels::gpu::{self, DeviceWeights, GpuEpilogue, GpuKernel};

use super::{PackedCache, geometry};
use crate::ir::BinaryConv;
use crate::net::cast;
use crate::net::weights::ConvWeights;

/// A conv slot's weights on the device and the variant timed fastest for its shape.
struct DeviceSlot {
    weights: DeviceWeights,
    kernel: GpuKernel,
}

/// The variant timed fastest per runtime and conv shape (input dims, output channels, kernel
/// size, geometry), so each shape is timed once per process, not once per network.
type ShapeKey = (TypeId, [usize; 4], usize, usize, lightnasc_kernels::ConvGeometry);
static FASTEST: Mutex<Option<HashMap<ShapeKey, GpuKernel>>> = Mutex::new(None);

fn fastest<R: CubeRuntime>(
    client: &burn_cubecl::cubecl::prelude::ComputeClient<R>,
    a: &gpu::DeviceActivations,
    w: &DeviceWeights,
    g: lightnasc_kernels::ConvGeometry,
) -> GpuKernel {
    let key = (TypeId::of::<R>(), [a.n, a.c, a.h, a.w], w.out, w.kh, g);
    if let Some(k) = FASTEST.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert_default().get(&key) {
        return *k;
    }
    let k = gpu::fastest(client, a, w, g);
    FASTEST.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert_default().insert(key, k);
    k
}

/// The conv on runtime `R`'s device, or the input back when `B` is not `CubeBackend<R, ..>` (or
/// its floats are not `f32`, which the kernels read).
pub fn binary_conv<B: Backend, R: CubeRuntime>(
    x: Tensor<B, 4>,
    b: &BinaryConv,
    w: &ConvWeights<B>,
    slot: usize,
    cache: &PackedCache,
) -> Result<Tensor<B, 4>, Tensor<B, 4>> {
    if TypeId::of::<B::FloatTensorPrimitive>() != TypeId::of::<CubeTensor<R>>() || x.dtype() != DType::F32 {
        return Err(x);
    }
    let [n, c, h, wd] = x.dims();
    let t: CubeTensor<R> = cast(x.into_primitive().tensor());
    let t = if t.is_contiguous() { t } else { into_contiguous(t) };
    let g = geometry(b);
    let a = gpu::pack_on_device(&t.client, t.handle.clone(), [n, c, h, wd], g.pad);
    let entry = cache.entry(slot, w, |e| {
        let weights = gpu::upload_weights(&t.client, &e.host);
        let kernel = fastest(&t.client, &a, &weights, g);
        e.kernel = kernel.name();
        e.device = Some(Arc::new(DeviceSlot { weights, kernel }));
    });
    let device = entry.device.as_deref().and_then(|d| d.downcast_ref::<DeviceSlot>()).expect("filled above");
    let epilogue = if b.offset { GpuEpilogue::Matches } else { GpuEpilogue::Dot };
    let out = gpu::binary_conv2d_on(&t.client, device.kernel, &a, &device.weights, g, epilogue);
    let shape = gpu::out_shape(&a, &device.weights, g);
    let y = CubeTensor::new_contiguous(t.client.clone(), t.device.clone(), Shape::new(shape), out, DType::F32);
    Ok(Tensor::from_primitive(TensorPrimitive::Float(cast(y))))
}

/// The kernels crate's device checks, when `B` runs on runtime `R`.
pub fn checks<B: Backend, R: CubeRuntime>(device: &B::Device) -> Option<Vec<super::DeviceCheck>> {
    if TypeId::of::<B::FloatTensorPrimitive>() != TypeId::of::<CubeTensor<R>>() {
        return None;
    }
    let device = (device as &dyn Any).downcast_ref::<R::Device>()?;
    let client = R::client(device);
    let checks = gpu::check_against_cpu(&client);
    Some(checks.into_iter().map(|c| super::DeviceCheck { what: c.what, shape: c.shape, equal: c.equal }).collect())
}
