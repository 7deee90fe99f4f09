//! Batch norm in training (`Mode::Train`) on a CubeCL device as one autodiff op: forward, the
//! statistics with the running ones moved (one launch, a cube per channel) and the normalisation
//! (one); backward, gamma's and beta's gradients (one) and the input's (one). Composed from
//! burn's ops it was about sixty launches. The values equal the composed path's up to float
//! rounding. 2-d inputs and norms without both gamma and beta take the composed path.

use std::any::TypeId;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorPrimitive};
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{BoolElement, CubeRuntime};
use lightnasc_kernels::gpu_train::{self, Dims, NormStats};

use super::{Inner, Train, channels_last, contiguous, f32_tensor, view};
use crate::net::cast;
use crate::net::weights::NormWeights;

/// Batch norm of a map `[N, C, H, W]` on its batch statistics, the running statistics moved by
/// `momentum`; or the input back where the op does not apply.
pub fn batch_norm_train<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    eps: f64,
    momentum: f64,
    w: &NormWeights<B>,
) -> Result<Tensor<B, D>, Tensor<B, D>> {
    if D != 4 || x.dtype() != DType::F32 || w.gamma.is_none() || w.beta.is_none() {
        return Err(x);
    }
    super::on_runtimes!(x = on::<B, D>(x, eps, momentum, w))
}

fn on<B: Backend, R: CubeRuntime, BT: BoolElement, const D: usize>(
    x: Tensor<B, D>,
    eps: f64,
    momentum: f64,
    w: &NormWeights<B>,
) -> Result<Tensor<B, D>, Tensor<B, D>> {
    if TypeId::of::<B>() != TypeId::of::<Train<R, BT>>() {
        return Err(x);
    }
    let (Some(gamma), Some(beta)) = (&w.gamma, &w.beta) else { return Err(x) };
    let param = |p: Tensor<B, 1>| cast::<_, Tensor<Train<R, BT>, 1>>(p).into_primitive().tensor();
    let (gamma, beta) = (param(gamma.val()), param(beta.val()));
    let x = cast::<_, Tensor<Train<R, BT>, D>>(x).into_primitive().tensor();
    let xp = x.primitive.clone();
    let d = Dims::of(xp.meta.shape().dims());
    let (g, b) = (contiguous(gamma.primitive.clone()), contiguous(beta.primitive.clone()));
    let running = |r: Tensor<B, 1>| contiguous(cast::<_, Tensor<Train<R, BT>, 1>>(r).inner().into_primitive().tensor());
    let (rm, rv) = (running(w.running_mean.value_sync()), running(w.running_var.value_sync()));
    // The running statistics as the composed path moves them: `r * m + batch * (1 - m)` in f32.
    let (keep, take) = (momentum as f32, (1.0 - momentum) as f32);
    let stats = gpu_train::norm_stats(&xp.client, view(&xp), d, eps as f32, (&rm.handle, &rv.handle), (keep, take));
    let moved = |h| {
        let t = Tensor::<Inner<R, BT>, 1>::from_primitive(TensorPrimitive::Float(f32_tensor(&xp, [d.c], h)));
        cast::<_, Tensor<B, 1>>(Tensor::<Train<R, BT>, 1>::from_inner(t))
    };
    w.running_mean.update(moved(stats.running_mean.clone()));
    w.running_var.update(moved(stats.running_var.clone()));
    let y = gpu_train::norm_apply(&xp.client, view(&xp), d, &g.handle, &b.handle, &stats);
    let y = channels_last(&xp, d.shape(), y);
    let parents = [x.node.clone(), gamma.node.clone(), beta.node.clone()];
    let y = match NormBackward.prepare::<NoCheckpointing>(parents).compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish(State { x: xp, gamma: g, stats }, y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Ok(cast(Tensor::<Train<R, BT>, D>::from_primitive(TensorPrimitive::Float(y))))
}

#[derive(Debug)]
struct NormBackward;

#[derive(Clone, Debug)]
struct State<R: CubeRuntime> {
    x: CubeTensor<R>,
    gamma: CubeTensor<R>,
    stats: NormStats,
}

impl<R: CubeRuntime, BT: BoolElement> Backward<Inner<R, BT>, 3> for NormBackward {
    type State = State<R>;

    fn backward(self, ops: Ops<State<R>, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<Inner<R, BT>>(&ops.node);
        let State { x, gamma, stats } = ops.state;
        let d = Dims::of(x.meta.shape().dims());
        let (dx, dgamma, dbeta) = gpu_train::norm_backward(&x.client, view(&x), view(&dy), d, &gamma.handle, &stats);
        let [x_node, gamma_node, beta_node] = ops.parents;
        if let Some(node) = x_node {
            grads.register::<Inner<R, BT>>(node.id, channels_last(&x, d.shape(), dx));
        }
        for (node, h) in [(gamma_node, dgamma), (beta_node, dbeta)] {
            if let Some(node) = node {
                grads.register::<Inner<R, BT>>(node.id, f32_tensor(&x, [d.c], h));
            }
        }
    }
}
