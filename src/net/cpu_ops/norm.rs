//! Batch norm in training (`Mode::Train`) on the CPU backend as one autodiff op, channels in
//! parallel: Flex runs elementwise ops on one thread, and the composed batch norm
//! ([`layers::batch_norm_composed`](crate::net::layers::batch_norm_composed): two reductions, a
//! centring, a square, a scale and a shift forward, twice as many passes back) was much of what
//! kept the second core idle in a MeliusNet step. Statistics are accumulated in f64; the values
//! equal the composed path's up to float rounding. A burn with multithreaded elementwise ops (or a
//! fused batch norm in Flex) would make it unnecessary. 2-d inputs and norms without both gamma
//! and beta take the composed path.

use burn::backend::Flex;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorData, TensorPrimitive};
use rayon::prelude::*;

use super::{Train, cast, floats, is_train, tensor, written};
use crate::net::weights::NormWeights;

/// Batch norm of a map `[N, C, H, W]` on its batch statistics, with the running statistics moved
/// by `momentum` (`Mode::Train`); or the input back where the op does not apply.
pub fn batch_norm_train<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    eps: f64,
    momentum: f64,
    w: &NormWeights<B>,
) -> Result<Tensor<B, D>, Tensor<B, D>> {
    let (Some(gamma), Some(beta)) = (&w.gamma, &w.beta) else { return Err(x) };
    if D != 4 || !is_train::<B>() || x.dtype() != DType::F32 {
        return Err(x);
    }
    let x4: Tensor<Train, 4> = cast(x);
    let (y, mean, var) = forward(x4, cast(gamma.val()), cast(beta.val()), eps);
    // The running statistics as the composed path moves them.
    let device = w.running_mean.value_sync().device();
    let c = mean.len();
    let batch = |v: Vec<f32>| Tensor::<B, 1>::from_data(TensorData::new(v, [c]), &device);
    let update = |r: Tensor<B, 1>, b: Tensor<B, 1>| r * momentum + b * (1.0 - momentum);
    w.running_mean.update(update(w.running_mean.value_sync(), batch(mean)).detach());
    w.running_var.update(update(w.running_var.value_sync(), batch(var)).detach());
    Ok(cast(y))
}

#[derive(Clone, Debug)]
struct State {
    x: FlexTensor,
    dims: [usize; 4],
    mean: Vec<f32>,
    rstd: Vec<f32>,
    gamma: Vec<f32>,
}

#[derive(Debug)]
struct NormBackward;

/// The sum of `f` over the pairs of `a` and `b` in f64, eight lanes (lane j takes the elements
/// j, j + 8, ...) added at the end: one running sum is a chain of dependent adds, 4 cycles each.
/// Over exact chunks so that it compiles to vector code (an indexing closure kept bounds checks
/// and scalar conversions in the loop: batch norm was a quarter of a MeliusNet step).
#[inline(always)]
fn sum8(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f64) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0f64; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = ca.remainder().iter().zip(cb.remainder()).map(|(&x, &y)| f(x, y)).sum();
    for (x, y) in ca.zip(cb) {
        for j in 0..8 {
            acc[j] += f(x[j], y[j]);
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// `f(c, block)` for each channel `c` and each image's block of it, channels in parallel.
fn per_channel<T: Send>(dims: [usize; 4], f: impl Fn(usize, &dyn Fn(&mut dyn FnMut(usize))) -> T + Sync) -> Vec<T> {
    let [n, c, h, w] = dims;
    let r = h * w;
    (0..c)
        .into_par_iter()
        .map(|ch| {
            let blocks = |g: &mut dyn FnMut(usize)| (0..n).for_each(|i| g((i * c + ch) * r));
            f(ch, &blocks)
        })
        .collect()
}

/// The normalised output, and the batch mean and biased variance per channel.
fn forward(
    x: Tensor<Train, 4>,
    gamma: Tensor<Train, 1>,
    beta: Tensor<Train, 1>,
    eps: f64,
) -> (Tensor<Train, 4>, Vec<f32>, Vec<f32>) {
    let dims = x.dims();
    let [n, _, h, w] = dims;
    let (r, m) = (h * w, (n * h * w) as f64);
    let x = x.into_primitive().tensor();
    let (gamma, beta) = (gamma.into_primitive().tensor(), beta.into_primitive().tensor());
    let xs = x.primitive.to_contiguous();
    let (gs, bs) = (gamma.primitive.to_contiguous(), beta.primitive.to_contiguous());
    let (xv, gv, bv) = (floats(&xs), floats(&gs), floats(&bs));
    let stats = per_channel(dims, |_, blocks| {
        let mut sum = 0f64;
        blocks(&mut |at| {
            let x = &xv[at..at + r];
            sum += sum8(x, x, |v, _| v as f64)
        });
        let mean = sum / m;
        let mut sq = 0f64;
        blocks(&mut |at| {
            let x = &xv[at..at + r];
            sq += sum8(x, x, |v, _| (v as f64 - mean).powi(2))
        });
        (mean, sq / m)
    });
    // SAFETY: each channel's blocks, which together cover the map, are written by one task.
    let (y, rstd) = unsafe {
        written(xv.len(), |out| {
            per_channel(dims, |ch, blocks| {
                let (mean, var) = stats[ch];
                let rstd = 1.0 / (var + eps).sqrt();
                let scale = (gv[ch] as f64 * rstd) as f32;
                let shift = (bv[ch] as f64 - mean * gv[ch] as f64 * rstd) as f32;
                blocks(&mut |at| {
                    let dst = out.slice(at, r);
                    dst.iter_mut().zip(&xv[at..at + r]).for_each(|(d, &v)| _ = d.write(v * scale + shift));
                });
                rstd as f32
            })
        })
    };
    let mean: Vec<f32> = stats.iter().map(|s| s.0 as f32).collect();
    let var: Vec<f32> = stats.iter().map(|s| s.1 as f32).collect();
    let y = tensor(y, dims);
    let prep = NormBackward.prepare::<NoCheckpointing>([x.node.clone(), gamma.node.clone(), beta.node.clone()]);
    let y = match prep.compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let state = State { x: xs.clone(), dims, mean: mean.clone(), rstd, gamma: gv.to_vec() };
            prep.finish(state, y)
        }
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    (Tensor::from_primitive(TensorPrimitive::Float(y)), mean, var)
}

impl Backward<Flex, 3> for NormBackward {
    type State = State;

    /// With `xh = (x - mean) * rstd`: dbeta = sum dy, dgamma = sum dy * xh, and
    /// dx = gamma * rstd * (dy - dbeta / M - xh * dgamma / M) over the channel's M values.
    fn backward(self, ops: Ops<State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node).to_contiguous();
        let State { x, dims, mean, rstd, gamma } = ops.state;
        let [n, c, h, w] = dims;
        let (r, m) = (h * w, (n * h * w) as f64);
        let (xv, dyv) = (floats(&x), floats(&dy));
        let sums = per_channel(dims, |ch, blocks| {
            let (mu, rs) = (mean[ch] as f64, rstd[ch] as f64);
            let (mut sdy, mut sdyx) = (0f64, 0f64);
            blocks(&mut |at| {
                let (g, x) = (&dyv[at..at + r], &xv[at..at + r]);
                sdy += sum8(g, g, |d, _| d as f64);
                sdyx += sum8(g, x, |d, v| d as f64 * (v as f64 - mu)) * rs;
            });
            (sdy, sdyx)
        });
        if let Some(node) = node_x {
            // SAFETY: each channel's blocks, which together cover the map, are written by one task.
            let (dx, _) = unsafe {
                written(xv.len(), |out| {
                    per_channel(dims, |ch, blocks| {
                        let (mu, rs) = (mean[ch] as f64, rstd[ch] as f64);
                        let (sdy, sdyx) = sums[ch];
                        let k = gamma[ch] as f64 * rs;
                        let (a, b) = ((k * (sdy / m)) as f32, (k * rs * (sdyx / m)) as f32);
                        let (k, mu) = (k as f32, mu as f32);
                        // dx = k dy - a - (x - mean) * b, with b = k * rstd * sdyx / M.
                        blocks(&mut |at| {
                            let dst = out.slice(at, r);
                            for ((d, &g), &v) in dst.iter_mut().zip(&dyv[at..at + r]).zip(&xv[at..at + r]) {
                                d.write(k * g - a - (v - mu) * b);
                            }
                        });
                    })
                })
            };
            grads.register::<Flex>(node.id, tensor(dx, dims));
        }
        let channel = |f: fn(&(f64, f64)) -> f64| tensor(sums.iter().map(|s| f(s) as f32).collect::<Vec<_>>(), [c]);
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, channel(|s| s.1));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, channel(|s| s.0));
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::module::{Param, RunningState};
    use burn::tensor::{Tensor, TensorData};

    use super::super::Train;
    use super::batch_norm_train;
    use crate::net::layers::{Mode, batch_norm, batch_norm_composed};
    use crate::net::weights::NormWeights;
    use crate::util::SplitMix64;

    fn vector(v: Vec<f32>) -> Tensor<Train, 1> {
        let n = v.len();
        Tensor::from_data(TensorData::new(v, [n]), &Default::default())
    }

    fn norm(rng: &mut SplitMix64, c: usize) -> NormWeights<Train> {
        let mut v = |shift: f64| vector((0..c).map(|_| (rng.normal() * 0.5 + shift) as f32).collect());
        NormWeights {
            gamma: Some(Param::from_tensor(v(1.0))),
            beta: Some(Param::from_tensor(v(0.0))),
            running_mean: RunningState::new(v(0.0)),
            running_var: RunningState::new(v(2.0)),
        }
    }

    fn host<B: burn::tensor::backend::Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
        t.into_data().to_vec().unwrap()
    }

    fn close(got: &[f32], want: &[f32], what: &str) {
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= 2e-4 * (1.0 + w.abs()), "{what}[{i}]: fused {g}, composed {w}");
        }
    }

    /// The op's output, running statistics and gradients (of `sum(y * r)` by x, gamma, beta)
    /// equal the composed batch norm's up to float rounding.
    #[test]
    fn fused_batch_norm_matches_the_composed_one() {
        let mut rng = SplitMix64(3);
        let dims = [3, 5, 4, 6];
        let len = dims.iter().product();
        let x: Vec<f32> = (0..len).map(|i| (rng.normal() * 2.0 + (i % 5) as f64) as f32).collect();
        let r: Vec<f32> = (0..len).map(|_| rng.normal() as f32).collect();
        let w0 = norm(&mut rng, 5);
        let run = |fused: bool| {
            let w = NormWeights {
                gamma: w0.gamma.as_ref().map(|g| Param::from_tensor(g.val().detach())),
                beta: w0.beta.as_ref().map(|b| Param::from_tensor(b.val().detach())),
                running_mean: RunningState::new(w0.running_mean.value_sync()),
                running_var: RunningState::new(w0.running_var.value_sync()),
            };
            let xt =
                Tensor::<Train, 4>::from_data(TensorData::new(x.clone(), dims), &Default::default()).require_grad();
            let y = match fused {
                true => batch_norm_train(xt.clone(), 1e-5, 0.9, &w).unwrap_or_else(|_| panic!("the op applies")),
                false => batch_norm_composed(xt.clone(), 1e-5, 0.9, &w, Mode::Train),
            };
            let rt = Tensor::<Train, 4>::from_data(TensorData::new(r.clone(), dims), &Default::default());
            let grads = (y.clone() * rt).sum().backward();
            let g = |t: Option<Tensor<burn::backend::Flex, 1>>| host(t.unwrap());
            [
                host(y),
                host(xt.grad(&grads).unwrap()),
                g(w.gamma.as_ref().unwrap().val().grad(&grads)),
                g(w.beta.as_ref().unwrap().val().grad(&grads)),
                host(w.running_mean.value_sync()),
                host(w.running_var.value_sync()),
            ]
        };
        let (fused, composed) = (run(true), run(false));
        // And `batch_norm` in train mode takes the op.
        let w = norm(&mut rng, 5);
        let xt = Tensor::<Train, 4>::from_data(TensorData::new(x.clone(), dims), &Default::default());
        assert!(
            host(batch_norm(xt.clone(), 1e-5, 0.9, &w, Mode::Train))
                == host(batch_norm_train(xt, 1e-5, 0.9, &w).ok().unwrap())
        );
        for (what, (f, c)) in
            ["y", "dx", "dgamma", "dbeta", "running mean", "running var"].iter().zip(fused.iter().zip(&composed))
        {
            assert!(c.iter().any(|&v| v != 0.0), "{what}: all zero tests nothing");
            close(f, c, what);
        }
    }
}
