//! The binary layers' sign on a CubeCL device as one autodiff op: forward one launch (the sign,
//! and for activations the -1 border the binary conv pads with), backward one (the clipped or
//! approximated straight-through gradient) or none (weights: the plain straight-through
//! gradient passes the output's gradient on unchanged). Composed from burn's ops (`quant::ste`
//! of a comparison, a cast, a scale and a shift, `pad`) it was about a dozen launches.

use std::any::TypeId;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorPrimitive};
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{BoolElement, CubeRuntime};
use lightnasc_kernels::gpu_train::{self, Dims, SignGrad, padded};

use super::{Inner, Train, channels_last, view};
use crate::net::cast;

/// The gradient the sign passes back.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ste {
    /// The output's gradient unchanged (weight binarisation; no border).
    Identity,
    /// A kernel's surrogate (activations).
    Surrogate(SignGrad),
}

/// `det_sign` of a map `[N, C, H, W]` (`>= 0` is +1) bordered by `pad` values of `border`, with
/// the straight-through gradient `ste`; or the input back where the op does not apply.
pub fn sign<B: Backend>(x: Tensor<B, 4>, pad: usize, border: f32, ste: Ste) -> Result<Tensor<B, 4>, Tensor<B, 4>> {
    if x.dtype() != DType::F32 || (ste == Ste::Identity && pad > 0) {
        return Err(x);
    }
    super::on_runtimes!(x = on::<B>(x, pad, border, ste))
}

fn on<B: Backend, R: CubeRuntime, BT: BoolElement>(
    x: Tensor<B, 4>,
    pad: usize,
    border: f32,
    ste: Ste,
) -> Result<Tensor<B, 4>, Tensor<B, 4>> {
    if TypeId::of::<B>() != TypeId::of::<Train<R, BT>>() {
        return Err(x);
    }
    let x = cast::<_, Tensor<Train<R, BT>, 4>>(x).into_primitive().tensor();
    let xp = x.primitive.clone();
    let d = Dims::of(xp.meta.shape().dims());
    let y = gpu_train::sign_pad(&xp.client, view(&xp), d, pad, border);
    let y = channels_last(&xp, padded(d, pad).shape(), y);
    let y = match SignBackward.prepare::<NoCheckpointing>([x.node.clone()]).compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish(State { x: xp, pad, ste }, y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Ok(cast(Tensor::<Train<R, BT>, 4>::from_primitive(TensorPrimitive::Float(y))))
}

#[derive(Debug)]
struct SignBackward;

#[derive(Clone, Debug)]
struct State<R: CubeRuntime> {
    x: CubeTensor<R>,
    pad: usize,
    ste: Ste,
}

impl<R: CubeRuntime, BT: BoolElement> Backward<Inner<R, BT>, 1> for SignBackward {
    type State = State<R>;

    fn backward(self, ops: Ops<State<R>, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<Inner<R, BT>>(&ops.node);
        let [Some(node)] = ops.parents else { return };
        let State { x, pad, ste } = ops.state;
        let dx = match ste {
            Ste::Identity => dy,
            Ste::Surrogate(g) => {
                let d = Dims::of(x.meta.shape().dims());
                channels_last(&x, d.shape(), gpu_train::sign_grad(&x.client, view(&x), view(&dy), d, pad, g))
            }
        };
        grads.register::<Inner<R, BT>>(node.id, dx);
    }
}
