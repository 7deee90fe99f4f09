//! Quantisers with straight-through gradients, as BMXNet defines them (docs/original.md §3.2).
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

/// [`activation`] of a binary conv's input, then bordered by `pad` values of `border` (the conv's
/// padding): on a CubeCL device in training one op (`cube_ops::sign`) for the sign quantisers.
pub fn activation_padded<B: Backend>(
    x: Tensor<B, 4>,
    q: ActQuant,
    threshold: f64,
    pad: u32,
    border: f64,
) -> Tensor<B, 4> {
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    let x = {
        use lightnasc_kernels::gpu_train::SignGrad;
        let t = threshold as f32;
        let grad = match q {
            ActQuant::DetSign => Some(SignGrad::Clipped(t)),
            ActQuant::ApproxSign => Some(SignGrad::Approx(t)),
            ActQuant::Relu | ActQuant::Identity => None,
        };
        match grad {
            Some(g) if tracked(&x) => match sign_op(x, pad, border, super::cube_ops::sign::Ste::Surrogate(g)) {
                Ok(y) => return y,
                Err(x) => x,
            },
            _ => x,
        }
    };
    super::layers::pad(activation(x, q, threshold), pad, border)
}

/// The CubeCL sign op on a 4-d tensor (`Err` with the input on other backends or ranks).
#[cfg(any(feature = "wgpu", feature = "cuda"))]
fn sign_op<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    pad: u32,
    border: f64,
    ste: super::cube_ops::sign::Ste,
) -> Result<Tensor<B, D>, Tensor<B, D>> {
    if D != 4 {
        return Err(x);
    }
    let x4: Tensor<B, 4> = super::cast(x);
    super::cube_ops::sign::sign(x4, pad as usize, border as f32, ste).map(super::cast).map_err(super::cast)
}

/// Weight binarisation: det_sign with the plain straight-through gradient (no cancel), or the
/// identity for 32-bit layers. The latent weights stay float.
pub fn weights<B: Backend, const D: usize>(w: Tensor<B, D>, q: WeightQuant) -> Tensor<B, D> {
    match q {
        WeightQuant::DetSign if !tracked(&w) => hard_sign(w),
        WeightQuant::DetSign => {
            #[cfg(any(feature = "wgpu", feature = "cuda"))]
            let w = match sign_op(w, 0, 0.0, super::cube_ops::sign::Ste::Identity) {
                Ok(y) => return y,
                Err(w) => w,
            };
            ste(hard_sign(w.clone()), w)
        }
        WeightQuant::Identity => w,
    }
}
