//! Adam's update of one parameter tensor on a CubeCL device in one launch (burn's `Adam` takes
//! about fifteen: a scale, a square, a root and a division each their own kernel), with burn's
//! state type, so a checkpoint's optimiser record is the same either way.

use std::any::TypeId;

use burn::optim::{AdamState, AdaptiveMomentumState};
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorPrimitive};
use burn_cubecl::CubeRuntime;
use burn_cubecl::tensor::CubeTensor;
use lightnasc_kernels::gpu_train::{self, AdamStep};

use super::{contiguous, f32_tensor};
use crate::net::cast;

/// Adam's constants (burn's `AdamConfig` keeps its own private).
#[derive(Clone, Copy, Debug)]
pub struct AdamConsts {
    pub beta_1: f32,
    pub beta_2: f32,
    pub epsilon: f32,
    pub decay: Option<f32>,
}

/// A parameter, its gradient and its state (none before its first update).
pub type Step<B, const D: usize> = (Tensor<B, D>, Tensor<B, D>, Option<AdamState<B, D>>);

/// The updated parameter and state, or the inputs back where `B` is no CubeCL backend of this build.
#[allow(clippy::type_complexity)]
pub fn step<B: Backend, const D: usize>(
    lr: f64,
    args: Step<B, D>,
    c: AdamConsts,
) -> Result<(Tensor<B, D>, AdamState<B, D>), Step<B, D>> {
    if D > 4 || args.0.dtype() != DType::F32 || args.1.dtype() != DType::F32 {
        return Err(args);
    }
    super::on_runtimes!(args = on::<B, D>(lr, args, c))
}

#[allow(clippy::type_complexity, clippy::extra_unused_type_parameters)] // `on_runtimes!` passes `BT` to every op
fn on<B: Backend, R: CubeRuntime, BT, const D: usize>(
    lr: f64,
    args: Step<B, D>,
    c: AdamConsts,
) -> Result<(Tensor<B, D>, AdamState<B, D>), Step<B, D>> {
    if TypeId::of::<B::FloatTensorPrimitive>() != TypeId::of::<CubeTensor<R>>() {
        return Err(args);
    }
    let (tensor, grad, state) = args;
    let prim = |t: Tensor<B, D>| cast::<_, CubeTensor<R>>(t.into_primitive().tensor());
    let (w, g) = (contiguous(prim(tensor)), prim(grad));
    let moments =
        state.map(|s| (s.momentum.time, contiguous(prim(s.momentum.moment_1)), contiguous(prim(s.momentum.moment_2))));
    let time = moments.as_ref().map_or(1, |m| m.0 + 1);
    let s = AdamStep::new(c.beta_1, c.beta_2, c.epsilon, lr as f32, c.decay, time as i32);
    let dims: [usize; D] = w.meta.shape().dims();
    // Rank 4, leading 1s (their strides never multiply a coordinate other than 0).
    let (mut shape, mut g_strides) = ([1; 4], [0; 4]);
    shape[4 - D..].copy_from_slice(&dims);
    g_strides[4 - D..].copy_from_slice(&g.meta.strides()[..]);
    let moments_in = moments.as_ref().map(|m| (&m.1.handle, &m.2.handle));
    let (w2, m2, v2) = gpu_train::adam(&w.client, &w.handle, (&g.handle, g_strides), moments_in, shape, s);
    let back = |h| Tensor::<B, D>::from_primitive(TensorPrimitive::Float(cast(f32_tensor(&w, dims, h))));
    let state = AdamState::new(AdaptiveMomentumState::new(time, back(m2), back(v2)));
    Ok((back(w2), state))
}
