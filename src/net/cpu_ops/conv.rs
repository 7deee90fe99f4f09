//! Binary convs in training on the CPU backend, dilation 1, as one autodiff op: the
//! forward is the exact XNOR-popcount kernel (the float path's integers); the backward is
//! `kernels::grad`'s, the float path's straight-through gradients (the input's through the
//! activation quantiser's derivative, the latent weights' through the sign(x) it convolved),
//! equal to the float path's up to the order of float summation. The weight gradient reads the
//! signs from the forward's packed input (kept in the state, 1 bit a value), not from `x`.
//!
//! Full-precision 1x1 convs have an op of their own ([`pointwise`](super::pointwise)); other
//! full-precision convs stay on burn's conv.

use burn::backend::Flex;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorPrimitive};
use lightnasc_kernels::grad::{BorderedGrad, GradShape, SignGrad, input_grad, weight_grad};
use lightnasc_kernels::{ConvGeometry, Epilogue, PackedActivations, binary_conv2d, pack_activations, pack_weights};

use super::{Train, cast, floats, is_train, tensor};
use crate::ir::{ActQuant, BinaryConv};
use crate::net::weights::ConvWeights;

/// Whether the op computes this binary layer: a packable conv (±1 input and weights, -1 border,
/// no scaling, one group) with dilation 1, which the gradient kernels assume.
pub fn covers(b: &BinaryConv) -> bool {
    b.packable() && b.conv.dilation == 1
}

/// The binary layer on the packed forward with straight-through gradients, or the input back
/// when `B` is not the CPU training backend or the layer is not [`covers`]ed.
pub fn binary_conv<B: Backend>(
    x: Tensor<B, 4>,
    b: &BinaryConv,
    w: &ConvWeights<B>,
) -> Result<Tensor<B, 4>, Tensor<B, 4>> {
    if !is_train::<B>() || !covers(b) || x.dtype() != DType::F32 {
        return Err(x);
    }
    let act = match b.act {
        ActQuant::DetSign => SignGrad::Clipped(b.grad_cancel as f32),
        ActQuant::ApproxSign => SignGrad::Approx(b.grad_cancel as f32),
        ActQuant::Relu | ActQuant::Identity => return Err(x),
    };
    let g = ConvGeometry { stride: b.conv.stride as usize, pad: b.conv.pad as usize, dilation: 1 };
    Ok(cast(forward(cast(x), cast(w.weight.val()), g, b.offset, act)))
}

/// What the backward needs: the forward's input (contiguous, and its packed signs), weights
/// (contiguous), and the layer.
#[derive(Clone, Debug)]
struct State {
    x: FlexTensor,
    signs: PackedActivations,
    latent: FlexTensor,
    shape: GradShape,
    act: SignGrad,
    /// The output's derivative by the conv's sum: 1/2 with the binary offset `(h + K) / 2`.
    scale: f32,
}

#[derive(Debug)]
struct ConvBackward;

fn forward(
    x: Tensor<Train, 4>,
    latent: Tensor<Train, 4>,
    g: ConvGeometry,
    offset: bool,
    act: SignGrad,
) -> Tensor<Train, 4> {
    let [n, c, h, w] = x.dims();
    let [out, _, k, _] = latent.dims();
    let shape = GradShape { n, c, h, w, out, k, pad: g.pad, stride: g.stride };
    let x = x.into_primitive().tensor();
    let latent = latent.into_primitive().tensor();
    let xs = x.primitive.to_contiguous();
    let ws = latent.primitive.to_contiguous();
    let a = pack_activations(floats(&xs), [n, c, h, w], g.pad);
    let pw = pack_weights(floats(&ws), [out, c, k, k]);
    let epilogue = if offset { Epilogue::Matches } else { Epilogue::Dot };
    let y = tensor(binary_conv2d(&a, &pw, g, epilogue), [n, out, shape.ho(), shape.wo()]);
    let scale = if offset { 0.5 } else { 1.0 };
    let y =
        match ConvBackward.prepare::<NoCheckpointing>([x.node.clone(), latent.node.clone()]).compute_bound().stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(State { x: xs, signs: a, latent: ws, shape, act, scale }, y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        };
    Tensor::from_primitive(TensorPrimitive::Float(y))
}

impl Backward<Flex, 2> for ConvBackward {
    type State = State;

    fn backward(self, ops: Ops<State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node).to_contiguous();
        let State { x, signs, latent, shape: s, act, scale } = ops.state;
        let dy = BorderedGrad::new(floats(&dy), s, scale);
        if let Some(node) = node_x {
            let dx = input_grad(floats(&x), floats(&latent), &dy, act);
            grads.register::<Flex>(node.id, tensor(dx, [s.n, s.c, s.h, s.w]));
        }
        if let Some(node) = node_w {
            let dw = weight_grad(&signs, &dy);
            grads.register::<Flex>(node.id, tensor(dw, [s.out, s.c, s.k, s.k]));
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::module::Param;
    use burn::tensor::{Tensor, TensorData};

    use super::super::Train;
    use super::binary_conv;
    use crate::ir::{ActQuant, BinaryConv, Conv2d, Scaling, WeightQuant};
    use crate::net::layers;
    use crate::net::weights::ConvWeights;
    use crate::util::SplitMix64;

    fn layer(act: ActQuant, k: u32, pad: u32, stride: u32, offset: bool) -> BinaryConv {
        BinaryConv {
            conv: Conv2d { out: 5, kernel: k, stride, pad, dilation: 1, groups: 1 },
            bits: 1,
            act,
            grad_cancel: 1.0,
            weights: WeightQuant::DetSign,
            scaling: Scaling::None,
            pad_value: -1.0,
            offset,
        }
    }

    fn random(shape: [usize; 4], rng: &mut SplitMix64) -> Tensor<Train, 4> {
        // Normal values, with exact zeros and values on the cancel threshold (±1) mixed in.
        let v: Vec<f32> = (0..shape.iter().product())
            .map(|i| match i % 11 {
                0 => 0.0,
                1 => 1.0,
                2 => -1.0,
                _ => rng.normal() as f32,
            })
            .collect();
        Tensor::from_data(TensorData::new(v, shape), &Default::default())
    }

    fn host(t: Tensor<Train, 4>) -> Vec<f32> {
        t.into_data().to_vec().unwrap()
    }

    /// Output, input gradient and weight gradient of `sum(y * r)`, through the packed op or the
    /// float path.
    fn run(
        packed: bool,
        b: &BinaryConv,
        x: &Tensor<Train, 4>,
        w: &Tensor<Train, 4>,
        r: &Tensor<Train, 4>,
    ) -> [Vec<f32>; 3] {
        let x = x.clone().require_grad();
        let weights = ConvWeights { weight: Param::from_tensor(w.clone()), bias: None };
        let y = match packed {
            true => binary_conv(x.clone(), b, &weights).unwrap_or_else(|_| panic!("the op covers {b:?}")),
            false => layers::binary_conv(x.clone(), b, &weights),
        };
        let grads = (y.clone() * r.clone()).sum().backward();
        let dx = x.grad(&grads).expect("input gradient");
        let dw = weights.weight.val().grad(&grads).expect("weight gradient");
        [host(y), dx.into_data().to_vec().unwrap(), dw.into_data().to_vec().unwrap()]
    }

    /// The packed forward gives the float path's values bit for bit, and its gradients equal the
    /// float path's up to float summation order, for each quantiser, border, stride and epilogue.
    #[test]
    fn packed_training_op_matches_the_float_path() {
        let mut rng = SplitMix64(7);
        for (act, k, pad, stride, offset) in [
            (ActQuant::DetSign, 3, 1, 1, true),
            (ActQuant::ApproxSign, 3, 1, 1, true),
            (ActQuant::DetSign, 3, 0, 1, false),
            (ActQuant::DetSign, 1, 0, 1, true),
            (ActQuant::ApproxSign, 5, 2, 1, false),
            (ActQuant::DetSign, 3, 1, 2, true),
            (ActQuant::ApproxSign, 1, 0, 2, false),
            (ActQuant::DetSign, 3, 0, 3, true),
        ] {
            let b = layer(act, k, pad, stride, offset);
            let (k, pad, stride) = (k as usize, pad as usize, stride as usize);
            let x = random([3, 70, 6, 7], &mut rng);
            let w = random([5, 70, k, k], &mut rng);
            let out = |size: usize| (size + 2 * pad - k) / stride + 1;
            let r = random([3, 5, out(6), out(7)], &mut rng);
            let [y0, dx0, dw0] = run(false, &b, &x, &w, &r);
            let [y1, dx1, dw1] = run(true, &b, &x, &w, &r);
            assert!(y0 == y1, "{b:?}: the packed forward differs from the float path");
            for (what, got, want) in [("dx", dx1, dx0), ("dw", dw1, dw0)] {
                assert!(want.iter().any(|&v| v != 0.0), "{what}: an all-zero gradient tests nothing");
                for (i, (g, f)) in got.iter().zip(&want).enumerate() {
                    assert!((g - f).abs() <= 1e-4 * (1.0 + f.abs()), "{b:?} {what}[{i}]: packed {g}, float {f}");
                }
            }
        }
    }

    /// Layers the op does not cover are handed back for the float path.
    #[test]
    fn dilated_layers_take_the_float_path() {
        let mut b = layer(ActQuant::DetSign, 3, 1, 1, true);
        b.conv.dilation = 2;
        let mut rng = SplitMix64(1);
        let weights = ConvWeights { weight: Param::from_tensor(random([5, 4, 3, 3], &mut rng)), bias: None };
        assert!(binary_conv(random([1, 4, 5, 5], &mut rng), &b, &weights).is_err());
    }
}
