//! Forward functions of the IR's ops on burn tensors. Each takes its weights from the store; none
//! owns state, so the supernet and a fixed network run the same code.

use burn::tensor::module::{avg_pool2d, conv2d, max_pool2d};
use burn::tensor::ops::{ConvOptions, PadMode};
use burn::tensor::{Tensor, backend::Backend};

use super::quant;
use super::weights::{ConvWeights, DenseWeights, NormWeights};
use crate::ir::binary::Epilogue;
use crate::ir::{BinaryConv, Conv2d, Pool};

/// How batch norm normalises, and what it updates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Batch statistics; running statistics move by the layer's momentum. Dropout is on.
    Train,
    /// Running statistics.
    Eval,
    /// Batch statistics, nothing updated: ENAS's scoring of a sampled path (forward-only).
    Batch,
    /// Batch statistics, and the running statistics become the average of the batches seen so
    /// far: `r = (k * r + batch) / (k + 1)` at the k-th batch (from 0, which discards the old
    /// value). Recalibrating a path (SPOS) is `k = 0..N` over N training batches, then `Eval`.
    Calibrate(u32),
}

fn options(c: &Conv2d, pad: u32) -> ConvOptions<2> {
    let (s, p, d) = (c.stride as usize, pad as usize, c.dilation as usize);
    ConvOptions::new([s, s], [p, p], [d, d], c.groups as usize)
}

/// A full-precision convolution (zero padding).
pub fn conv<B: Backend>(x: Tensor<B, 4>, c: &Conv2d, w: &ConvWeights<B>) -> Tensor<B, 4> {
    match super::cpu_ops::pointwise::pointwise_conv(x, c, w) {
        Ok(y) => y,
        Err(x) => conv_composed(x, c, w),
    }
}

/// A full-precision convolution on burn's conv (what [`conv`] runs where the CPU training op
/// does not apply).
pub fn conv_composed<B: Backend>(x: Tensor<B, 4>, c: &Conv2d, w: &ConvWeights<B>) -> Tensor<B, 4> {
    match &w.bias {
        Some(b) => conv2d(x, w.weight.val(), Some(b.val()), options(c, c.pad)),
        None => conv_nobias(x, w.weight.val(), options(c, c.pad)),
    }
}

/// A conv without bias: on a GPU backend with one fixed algorithm (`cube_ops`), else burn's.
fn conv_nobias<B: Backend>(x: Tensor<B, 4>, w: Tensor<B, 4>, o: ConvOptions<2>) -> Tensor<B, 4> {
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    let (x, w) = match super::cube_ops::conv2d(x, w, o.clone()) {
        Ok(y) => return y,
        Err(xw) => xw,
    };
    conv2d(x, w, None, o)
}

/// BMXNet's binary convolution block (`activated_conv` + `QConv2D`, docs/original.md §3.3-3.4):
/// quantise the input, pad it with `pad_value` (-1: a valid sign), convolve with the quantised
/// weights, then either the offset (h + K) / 2 -- the number of matching bits -- or a scaling.
pub fn binary_conv<B: Backend>(x: Tensor<B, 4>, b: &BinaryConv, w: &ConvWeights<B>) -> Tensor<B, 4> {
    let c = &b.conv;
    let a = quant::activation_padded(x.clone(), b.act, b.grad_cancel, c.pad, b.pad_value);
    let latent = w.weight.val();
    let qw = quant::weights(latent.clone(), b.weights);
    let h = conv_nobias(a, qw, options(c, 0));
    let [out, fan, kh, kw] = latent.dims();
    match b.epilogue(fan * kh * kw) {
        Epilogue::Offset { fan_in } => (h + fan_in as f64) / 2.0,
        Epilogue::None => h,
        Epilogue::ChannelScale => {
            let n = h.dims()[0];
            h * per_sample(channel_scale(latent, out), n)
        }
        Epilogue::ChannelScaleAndMagnitude => {
            // XNOR-Net: the weight scale and the input-magnitude map K = conv(mean_c |x|, 1/k^2),
            // both constants for the gradient.
            let [n, _, _, _] = x.dims();
            let mag = x.abs().mean_dim(1).detach();
            let ones = Tensor::<B, 4>::ones([1, 1, kh, kw], &mag.device()) / (kh * kw) as f64;
            let opts = ConvOptions::new([c.stride as usize; 2], [c.pad as usize; 2], [c.dilation as usize; 2], 1);
            let k_map = conv2d(mag, ones, None, opts);
            let [_, _, ho, wo] = k_map.dims();
            h * per_sample(channel_scale(latent, out).detach(), n) * k_map.reshape([n, 1, ho, wo])
        }
    }
}

/// mean |W| per output channel, shaped to broadcast over `[N, out, H, W]`.
fn channel_scale<B: Backend>(latent: Tensor<B, 4>, out: usize) -> Tensor<B, 4> {
    latent.abs().flatten::<2>(1, 3).mean_dim(1).reshape([1, out, 1, 1])
}

/// `x` bordered by `p` values of `value` on both sides of each spatial axis.
pub fn pad<B: Backend>(x: Tensor<B, 4>, p: u32, value: f64) -> Tensor<B, 4> {
    if p == 0 {
        return x;
    }
    let p = p as usize;
    x.pad((p, p, p, p), PadMode::Constant(value as f32))
}

/// Batch norm over the channel axis (dim 1) of a map or a vector batch. Statistics are the biased
/// batch variance, as MXNet's; running statistics move as `r = m * r + (1 - m) * batch`.
/// Reads use `value_sync`: burn's `RunningState::value` may lag one update behind.
pub fn batch_norm<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    eps: f64,
    momentum: f64,
    w: &NormWeights<B>,
    mode: Mode,
) -> Tensor<B, D> {
    // One op of the backend's own where it has one (see `cpu_ops`, `cube_ops`).
    match mode {
        Mode::Train => match train_op(x, eps, momentum, w) {
            Ok(y) => y,
            Err(x) => batch_norm_composed(x, eps, momentum, w, mode),
        },
        _ => batch_norm_composed(x, eps, momentum, w, mode),
    }
}

/// Batch norm in train mode as one op of the backend's own, on the CPU or a CubeCL device.
fn train_op<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    eps: f64,
    momentum: f64,
    w: &NormWeights<B>,
) -> Result<Tensor<B, D>, Tensor<B, D>> {
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    let x = match super::cube_ops::norm::batch_norm_train(x, eps, momentum, w) {
        Ok(y) => return Ok(y),
        Err(x) => x,
    };
    super::cpu_ops::norm::batch_norm_train(x, eps, momentum, w)
}

/// [`batch_norm`] in burn's tensor ops, on any backend.
pub fn batch_norm_composed<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    eps: f64,
    momentum: f64,
    w: &NormWeights<B>,
    mode: Mode,
) -> Tensor<B, D> {
    let dims = x.dims();
    let (n, c) = (dims[0], dims[1]);
    let mut bshape = [1usize; D];
    bshape[1] = c;
    let (mean, var) = match mode {
        Mode::Eval => (w.running_mean.value_sync().reshape(bshape), w.running_var.value_sync().reshape(bshape)),
        Mode::Train | Mode::Batch | Mode::Calibrate(_) => {
            // Reduce the spatial axes first, as one contiguous trailing axis, then the batch: the
            // backward of each reduction is then a per-row broadcast, which Flex vectorises
            // (reducing N first makes it broadcast over an outer axis: element by element).
            let per_channel = |t: Tensor<B, D>| -> Tensor<B, D> {
                let rest = t.shape().num_elements() / (n * c);
                t.reshape([n, c, rest]).mean_dim(2).mean_dim(0).reshape(bshape)
            };
            let mean = per_channel(x.clone());
            let centred = x.clone() - per_sample(mean.clone(), n);
            let var = per_channel(centred.clone() * centred);
            // The weight the old running value keeps.
            let keep = match mode {
                Mode::Calibrate(k) => Some(k as f64 / (k as f64 + 1.0)),
                Mode::Train => Some(momentum),
                _ => None,
            };
            if let Some(m) = keep {
                let update = |r: Tensor<B, 1>, batch: Tensor<B, D>| r * m + batch.detach().reshape([c]) * (1.0 - m);
                w.running_mean.update(update(w.running_mean.value_sync(), mean.clone()).detach());
                w.running_var.update(update(w.running_var.value_sync(), var.clone()).detach());
            }
            (mean, var)
        }
    };
    // y = x * scale + shift with scale = gamma / sqrt(var + eps), shift = beta - mean * scale:
    // two full-size operations instead of four.
    let mut scale = (var + eps).sqrt().recip();
    if let Some(g) = &w.gamma {
        scale = scale * g.val().reshape(bshape);
    }
    let mut shift = (mean * scale.clone()).neg();
    if let Some(b) = &w.beta {
        shift = shift + b.val().reshape(bshape);
    }
    x * per_sample(scale, n) + per_sample(shift, n)
}

/// A per-channel tensor `[1, C, 1, ...]` repeated to `[N, C, 1, ...]`. Broadcasting that over a
/// batch is a per-row scalar for Flex's SIMD path; broadcasting over N as well is not, and falls
/// back to an element-by-element strided loop many times slower.
fn per_sample<B: Backend, const D: usize>(t: Tensor<B, D>, n: usize) -> Tensor<B, D> {
    if n == 1 { t } else { t.repeat_dim(0, n) }
}

pub fn max_pool<B: Backend>(x: Tensor<B, 4>, p: &Pool) -> Tensor<B, 4> {
    match super::cpu_ops::pool::max_pool_train(x, p) {
        Ok(y) => y,
        Err(x) => max_pool_composed(x, p),
    }
}

/// Max pooling on burn's op (what [`max_pool`] runs where the CPU training op does not apply).
pub fn max_pool_composed<B: Backend>(x: Tensor<B, 4>, p: &Pool) -> Tensor<B, 4> {
    let (k, s, pd) = (p.kernel as usize, p.stride as usize, p.pad as usize);
    max_pool2d(x, [k, k], [s, s], [pd, pd], [1, 1], false)
}

/// Average pooling; padding counts towards the divisor, as MXNet's default.
pub fn avg_pool<B: Backend>(x: Tensor<B, 4>, p: &Pool) -> Tensor<B, 4> {
    let (k, s, pd) = (p.kernel as usize, p.stride as usize, p.pad as usize);
    avg_pool2d(x, [k, k], [s, s], [pd, pd], true, false)
}

pub fn dense<B: Backend>(x: Tensor<B, 2>, w: &DenseWeights<B>) -> Tensor<B, 2> {
    let y = x.matmul(w.weight.val().transpose());
    match &w.bias {
        Some(b) => y + b.val().unsqueeze_dim(0),
        None => y,
    }
}

/// `ChannelShuffle(g)`: reshape to (N, g, C/g, H, W), swap axes 1 and 2, reshape back.
pub fn channel_shuffle<B: Backend>(x: Tensor<B, 4>, groups: u32) -> Tensor<B, 4> {
    let [n, c, h, w] = x.dims();
    let g = groups as usize;
    x.reshape([n, g, c / g, h, w]).swap_dims(1, 2).reshape([n, c, h, w])
}

#[cfg(test)]
mod tests {
    use burn::backend::Flex;
    use burn::module::{Param, RunningState};
    use burn::tensor::{Tensor, TensorData};

    use super::{Mode, batch_norm};
    use crate::net::weights::NormWeights;

    type B = Flex;

    /// Two channels, gamma (2, 1), beta (0, 1), running statistics mean 0 and variance 1.
    fn norm() -> NormWeights<B> {
        let d = Default::default();
        let v = |x: [f32; 2]| Tensor::<B, 1>::from_data(TensorData::from(x), &d);
        NormWeights {
            gamma: Some(Param::from_tensor(v([2.0, 1.0]))),
            beta: Some(Param::from_tensor(v([0.0, 1.0]))),
            running_mean: RunningState::new(v([0.0, 0.0])),
            running_var: RunningState::new(v([1.0, 1.0])),
        }
    }

    /// A batch of 2 images, 2 channels, 1x2 pixels: channel 0 holds 1, 3 | 5, 7 (mean 4, biased
    /// variance 5), channel 1 holds 0, 0 | 2, 2 (mean 1, variance 1).
    fn batch() -> Tensor<B, 4> {
        let x = [1.0f32, 3.0, 0.0, 0.0, 5.0, 7.0, 2.0, 2.0];
        Tensor::from_data(TensorData::new(x.to_vec(), [2, 2, 1, 2]), &Default::default())
    }

    fn host<const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
        t.into_data().to_vec().unwrap()
    }

    fn close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-5, "{a:?} != {b:?}");
        }
    }

    fn running(w: &NormWeights<B>) -> (Vec<f32>, Vec<f32>) {
        (host(w.running_mean.value_sync()), host(w.running_var.value_sync()))
    }

    #[test]
    fn each_mode_against_a_hand_computation() {
        const EPS: f64 = 0.0;
        // Eval: running statistics (0, 1): y = gamma * x + beta; nothing changes.
        let w = norm();
        close(&host(batch_norm(batch(), EPS, 0.9, &w, Mode::Eval)), &[2.0, 6.0, 1.0, 1.0, 10.0, 14.0, 3.0, 3.0]);
        close(&running(&w).0, &[0.0, 0.0]);

        // Batch: the batch's statistics, nothing updated. Channel 0: 2 * (x - 4) / sqrt(5);
        // channel 1: (x - 1) / 1 + 1.
        let s = 2.0 / 5f32.sqrt();
        let by_batch = [-3.0 * s, -s, 0.0, 0.0, s, 3.0 * s, 2.0, 2.0];
        close(&host(batch_norm(batch(), EPS, 0.9, &w, Mode::Batch)), &by_batch);
        assert_eq!(running(&w), (vec![0.0, 0.0], vec![1.0, 1.0]));

        // Train: the same output, and running statistics moved by momentum 0.9:
        // mean 0.9 * 0 + 0.1 * (4, 1), variance 0.9 * 1 + 0.1 * (5, 1).
        close(&host(batch_norm(batch(), EPS, 0.9, &w, Mode::Train)), &by_batch);
        let (m, v) = running(&w);
        close(&m, &[0.4, 0.1]);
        close(&v, &[1.4, 1.0]);

        // Calibrate(0) discards the old values: the running statistics are this batch's.
        batch_norm(batch(), EPS, 0.9, &w, Mode::Calibrate(0));
        let (m, v) = running(&w);
        close(&m, &[4.0, 1.0]);
        close(&v, &[5.0, 1.0]);
        // Calibrate(1) averages in a second batch (channel 0 all 2: mean 2, variance 0; channel 1
        // all 3: mean 3, variance 0): (4 + 2) / 2, (1 + 3) / 2; (5 + 0) / 2, (1 + 0) / 2.
        let second = Tensor::<B, 4>::from_data(
            TensorData::new(vec![2.0f32, 2.0, 3.0, 3.0, 2.0, 2.0, 3.0, 3.0], [2, 2, 1, 2]),
            &Default::default(),
        );
        batch_norm(second, EPS, 0.9, &w, Mode::Calibrate(1));
        let (m, v) = running(&w);
        close(&m, &[3.0, 2.0]);
        close(&v, &[2.5, 0.5]);
        // And Eval then normalises with them: channel 0 2 * (x - 3) / sqrt(2.5), channel 1
        // (x - 2) / sqrt(0.5) + 1.
        let (a, b) = (2.0 / 2.5f32.sqrt(), 1.0 / 0.5f32.sqrt());
        close(
            &host(batch_norm(batch(), EPS, 0.9, &w, Mode::Eval)),
            &[-2.0 * a, 0.0, 1.0 - 2.0 * b, 1.0 - 2.0 * b, 2.0 * a, 4.0 * a, 1.0, 1.0],
        );
    }
}
