//! The packed conv on the host: the backend's tensor is read back (on the CPU backend, a copy),
//! packed and run through the CPU kernels, and the result handed back to the backend.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use lightnasc_kernels::{Epilogue, binary_conv2d, pack_activations};

use super::{PackedCache, geometry};
use crate::ir::BinaryConv;
use crate::net::weights::ConvWeights;

pub fn binary_conv<B: Backend>(
    x: Tensor<B, 4>,
    b: &BinaryConv,
    w: &ConvWeights<B>,
    slot: usize,
    cache: &PackedCache,
) -> Tensor<B, 4> {
    let device = x.device();
    let [n, c, h, wd] = x.dims();
    let pw = cache.entry(slot, w, |_| ()).host;
    let xs = x.into_data().to_vec::<f32>().expect("f32 activations");
    let g = geometry(b);
    let a = pack_activations(&xs, [n, c, h, wd], g.pad);
    let epilogue = if b.offset { Epilogue::Matches } else { Epilogue::Dot };
    let y = binary_conv2d(&a, &pw, g, epilogue);
    let (ho, wo) = (lightnasc_kernels::cpu::out_size(h, pw.kh, g), lightnasc_kernels::cpu::out_size(wd, pw.kw, g));
    Tensor::from_data(TensorData::new(y, [n, pw.out, ho, wo]), &device)
}
