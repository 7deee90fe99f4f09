//! Quantisers with straight-through gradients, as BMXNet defines them (reference §3.2).
//!
//! Every quantiser is written as `ste(value, surrogate)`: the forward value is exactly `value`
//! (so signs are exactly ±1 and binary convolutions compute exact integer counts), and the
//! gradient is the surrogate's. `value + (surrogate - surrogate.detach())` has that property:
//! `s - s` is exactly 0 for finite `s`, while the usual `s + (value - s).detach()` can round.

use burn::tensor::{Tensor, backend::Backend};

use crate::ir::{ActQuant, WeightQuant};

/// Forward `value`, backward through `surrogate`.
pub fn ste<B: Backend, const D: usize>(value: Tensor<B, D>, surrogate: Tensor<B, D>) -> Tensor<B, D> {
    value.detach() + (surrogate.clone() - surrogate.detach())
}

/// The sign with 0 mapped to +1 (BMXNet's `det_sign`), without gradient.
pub fn hard_sign<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    x.greater_equal_elem(0.0).float() * 2.0 - 1.0
}

/// Whether gradients can flow at all: without autodiff (evaluation, reward scoring) the
/// surrogates are skipped and only the forward values computed.
fn tracked<B: Backend, const D: usize>(x: &Tensor<B, D>) -> bool {
    B::ad_enabled(&x.device())
}

/// det_sign with the clipped straight-through gradient: d/dx = [|x| <= threshold]. The surrogate
/// is `clamp(x, -t, t)`, whose gradient is exactly that mask (inclusive at the bounds).
pub fn det_sign<B: Backend, const D: usize>(x: Tensor<B, D>, threshold: f64) -> Tensor<B, D> {
    if !tracked(&x) {
        return hard_sign(x);
    }
    ste(hard_sign(x.clone()), x.clamp(-threshold, threshold))
}

/// approx_sign (Bi-Real's ApproxSign): det_sign forward, backward 2 + 2x for x < 0 and 2 - 2x
/// otherwise (unclamped, as BMXNet's op), after the gradient cancel.
pub fn approx_sign<B: Backend, const D: usize>(x: Tensor<B, D>, threshold: f64) -> Tensor<B, D> {
    if !tracked(&x) {
        return hard_sign(x);
    }
    let s = x.clone().clamp(-threshold, threshold);
    // 2s - s|s| has derivative 2 - 2|s|: 2 + 2s below zero, 2 - 2s above.
    let surrogate = s.clone() * 2.0 - s.clone() * s.abs();
    ste(hard_sign(x), surrogate)
}

/// The activation quantiser of a binary conv. The gradient cancel applies to the sign
/// quantisers; the 32-bit ones (relu, identity) take none, as the original's 32-bit blocks
/// effectively did (threshold 2^31).
pub fn activation<B: Backend, const D: usize>(x: Tensor<B, D>, q: ActQuant, threshold: f64) -> Tensor<B, D> {
    match q {
        ActQuant::DetSign => det_sign(x, threshold),
        ActQuant::ApproxSign => approx_sign(x, threshold),
        ActQuant::Relu => burn::tensor::activation::relu(x),
        ActQuant::Identity => x,
    }
}

/// Weight binarisation: det_sign with the plain straight-through gradient (no cancel), or the
/// identity for 32-bit layers. The latent weights stay float.
pub fn weights<B: Backend, const D: usize>(w: Tensor<B, D>, q: WeightQuant) -> Tensor<B, D> {
    match q {
        WeightQuant::DetSign if !tracked(&w) => hard_sign(w),
        WeightQuant::DetSign => ste(hard_sign(w.clone()), w),
        WeightQuant::Identity => w,
    }
}
