//! The bit-packed path of a binary conv for forward-only passes on the CPU (reward scoring,
//! validation, latency measurement, inference): the same integers as the float path
//! ([`layers::binary_conv`](super::layers::binary_conv)), from the XNOR-popcount kernels in
//! `kernels/`. Training keeps the float path, which autodiff needs.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use lightnasc_kernels::{ConvGeometry, Epilogue, binary_conv2d, pack_activations, pack_weights};

use super::weights::ConvWeights;
use crate::ir::{ActQuant, BinaryConv, Scaling, WeightQuant};

/// Whether the packed path computes exactly what the float path does for this layer: ±1 inputs
/// and weights, -1 padding, no float scaling, one group.
pub fn eligible(b: &BinaryConv) -> bool {
    b.bits == 1
        && matches!(b.act, ActQuant::DetSign | ActQuant::ApproxSign)
        && b.weights == WeightQuant::DetSign
        && b.scaling == Scaling::None
        && b.conv.groups == 1
        && (b.conv.pad == 0 || b.pad_value == -1.0)
}

/// The layer's output through the packed kernels (the input is read back to the host; on the
/// CPU backend that is a copy).
pub fn binary_conv<B: Backend>(x: Tensor<B, 4>, b: &BinaryConv, w: &ConvWeights<B>) -> Tensor<B, 4> {
    let device = x.device();
    let [n, c, h, wd] = x.dims();
    let latent = w.weight.val();
    let [out, fan, kh, kw] = latent.dims();
    let xs = x.into_data().to_vec::<f32>().expect("f32 activations");
    let ws = latent.into_data().to_vec::<f32>().expect("f32 weights");
    let g =
        ConvGeometry { stride: b.conv.stride as usize, pad: b.conv.pad as usize, dilation: b.conv.dilation as usize };
    let a = pack_activations(&xs, [n, c, h, wd], g.pad);
    let pw = pack_weights(&ws, [out, fan, kh, kw]);
    let epilogue = if b.offset { Epilogue::Matches } else { Epilogue::Dot };
    let y = binary_conv2d(&a, &pw, g, epilogue);
    let (ho, wo) = (lightnasc_kernels::cpu::out_size(h, kh, g), lightnasc_kernels::cpu::out_size(wd, kw, g));
    Tensor::from_data(TensorData::new(y, [n, out, ho, wo]), &device)
}
