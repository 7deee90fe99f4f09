//! The bit-packed path of a binary conv for forward-only passes on the CPU (reward scoring,
//! validation, latency measurement, inference): the same integers as the float path
//! ([`layers::binary_conv`](super::layers::binary_conv)), from the XNOR-popcount kernels in
//! `kernels/`. Training keeps the float path, which autodiff needs.

use std::sync::{Arc, Mutex};

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use lightnasc_kernels::{ConvGeometry, Epilogue, PackedWeights, binary_conv2d, pack_activations, pack_weights};

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

/// Packed weights of a network's conv slots, made on first use. Weights of a forward-only
/// network do not change, so each slot is read back and packed once per network (per reward
/// update, per `infer`), not once per batch; `Supernet::set_weights` empties it.
#[derive(Default)]
pub struct PackedCache(Mutex<Vec<Option<Arc<PackedWeights>>>>);

impl std::fmt::Debug for PackedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = self.0.lock().map_or(0, |s| s.iter().flatten().count());
        write!(f, "PackedCache({held} slots packed)")
    }
}

impl PackedCache {
    /// The packed weights of conv slot `slot`, packing them if they are not yet.
    fn get<B: Backend>(&self, slot: usize, w: &ConvWeights<B>) -> Arc<PackedWeights> {
        let mut slots = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if slots.len() <= slot {
            slots.resize(slot + 1, None);
        }
        slots[slot]
            .get_or_insert_with(|| {
                let latent = w.weight.val();
                let dims = latent.dims();
                Arc::new(pack_weights(&latent.into_data().to_vec::<f32>().expect("f32 weights"), dims))
            })
            .clone()
    }

    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// The layer's output through the packed kernels (the input is read back to the host; on the
/// CPU backend that is a copy); the weights of conv slot `slot` come from `cache`.
pub fn binary_conv<B: Backend>(
    x: Tensor<B, 4>,
    b: &BinaryConv,
    w: &ConvWeights<B>,
    slot: usize,
    cache: &PackedCache,
) -> Tensor<B, 4> {
    let device = x.device();
    let [n, c, h, wd] = x.dims();
    let pw = cache.get(slot, w);
    let xs = x.into_data().to_vec::<f32>().expect("f32 activations");
    let g =
        ConvGeometry { stride: b.conv.stride as usize, pad: b.conv.pad as usize, dilation: b.conv.dilation as usize };
    let a = pack_activations(&xs, [n, c, h, wd], g.pad);
    let epilogue = if b.offset { Epilogue::Matches } else { Epilogue::Dot };
    let y = binary_conv2d(&a, &pw, g, epilogue);
    let (ho, wo) = (lightnasc_kernels::cpu::out_size(h, pw.kh, g), lightnasc_kernels::cpu::out_size(wd, pw.kw, g));
    Tensor::from_data(TensorData::new(y, [n, pw.out, ho, wo]), &device)
}
