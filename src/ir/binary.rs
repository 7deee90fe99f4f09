//! BMXNet's binary convolution, defined once for the network and both model back ends: how
//! values become signs, and what follows the ±1 convolution `h` (the epilogue). The network
//! computes these on tensors, the back ends write them as stock ops; all read them from here.

use super::{ActQuant, BinaryConv, Scaling, WeightQuant};

/// What follows the convolution of quantised activations and weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Epilogue {
    /// `h` as it is.
    None,
    /// `(h + fan_in) / 2`: the number of matching bits (unscaled 1-bit convolutions).
    Offset { fan_in: usize },
    /// `h * alpha`, alpha = mean |W| per output channel (binet).
    ChannelScale,
    /// `h * alpha * K`, K = the channel mean of |x| box-filtered over each window with the conv's
    /// geometry and zero padding (XNOR-Net).
    ChannelScaleAndMagnitude,
}

impl BinaryConv {
    /// Whether bit-packed kernels compute exactly this layer: ±1 inputs and weights, -1 padding,
    /// no float scaling, one group.
    pub fn packable(&self) -> bool {
        self.bits == 1
            && matches!(self.act, ActQuant::DetSign | ActQuant::ApproxSign)
            && self.weights == WeightQuant::DetSign
            && self.scaling == Scaling::None
            && self.conv.groups == 1
            && (self.conv.pad == 0 || self.pad_value == -1.0)
    }

    /// The epilogue, for weights of `fan_in` = C_in / groups * k * k values per output channel.
    pub fn epilogue(&self, fan_in: usize) -> Epilogue {
        match self.scaling {
            Scaling::None if self.offset => Epilogue::Offset { fan_in },
            Scaling::None => Epilogue::None,
            Scaling::Binet => Epilogue::ChannelScale,
            Scaling::Xnor => Epilogue::ChannelScaleAndMagnitude,
        }
    }
}

/// The deterministic sign: +1 at zero and above (BMXNet's `det_sign`), so binary values are
/// never 0.
pub fn sign(v: f32) -> f32 {
    if v >= 0.0 { 1.0 } else { -1.0 }
}

/// Weights as the convolution uses them.
pub fn quantized_weights(q: WeightQuant, latent: &[f32]) -> Vec<f32> {
    match q {
        WeightQuant::DetSign => latent.iter().map(|&v| sign(v)).collect(),
        WeightQuant::Identity => latent.to_vec(),
    }
}

/// alpha: mean |W| of each of `out` output channels of `[out, fan_in]` latent weights.
pub fn channel_scale(latent: &[f32], out: usize) -> Vec<f32> {
    let fan = latent.len() / out.max(1);
    (0..out).map(|o| latent[o * fan..(o + 1) * fan].iter().map(|v| v.abs()).sum::<f32>() / fan as f32).collect()
}
