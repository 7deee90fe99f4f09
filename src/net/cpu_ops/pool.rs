//! Max pooling over tiling windows (kernel = stride, no padding: MeliusNet's transitions) in
//! training on the CPU backend as one autodiff op, planes in parallel. Flex's pool walks every
//! window tap through a generic bounds-checked loop and keeps an i64 index per output, and its
//! backward scatters on one thread; with MeliusNet's 320-480 channel maps the two were a tenth of
//! a step. Values, the window's chosen element (the first maximum in scan order, as Flex picks
//! it) and the gradient are Flex's exactly. A faster pool in Flex would make it unnecessary.

use burn::backend::Flex;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorPrimitive};

use lightnasc_kernels::pool::SharedMut;

use super::{Train, cast, chunks_written, floats, is_train, tensor};
use crate::ir::Pool;

/// Whether the op computes this pool: windows that tile the map (kernel = stride, no padding),
/// each small enough that its chosen tap fits a byte.
pub fn covers(p: &Pool) -> bool {
    p.kernel == p.stride && p.pad == 0 && (1..=16).contains(&p.kernel)
}

/// Max pooling of a map `[N, C, H, W]`, or the input back where the op does not apply.
pub fn max_pool_train<B: Backend>(x: Tensor<B, 4>, p: &Pool) -> Result<Tensor<B, 4>, Tensor<B, 4>> {
    let [_, _, h, w] = x.dims();
    let k = p.kernel as usize;
    if !is_train::<B>() || !covers(p) || x.dtype() != DType::F32 || h < k || w < k {
        return Err(x);
    }
    Ok(cast(forward(cast(x), k)))
}

#[derive(Clone, Debug)]
struct State {
    /// The input's shape.
    dims: [usize; 4],
    k: usize,
    /// Per output, the tap its maximum came from (`ky * k + kx`).
    taps: Vec<u8>,
}

#[derive(Debug)]
struct PoolBackward;

fn forward(x: Tensor<Train, 4>, k: usize) -> Tensor<Train, 4> {
    let dims = x.dims();
    let [n, c, h, w] = dims;
    let (ho, wo) = (h / k, w / k);
    let x = x.into_primitive().tensor();
    let xs = x.primitive.to_contiguous();
    let xv = floats(&xs);
    let mut taps = vec![0u8; n * c * ho * wo];
    let taps_at = SharedMut(taps.as_mut_ptr());
    // SAFETY: plane i's outputs and taps are written by task i alone, all of them.
    let y = unsafe {
        chunks_written(n * c * ho * wo, ho * wo, |i, out| {
            let plane = &xv[i * h * w..(i + 1) * h * w];
            let chosen = taps_at.slice(i * ho * wo, ho * wo);
            for oy in 0..ho {
                for ox in 0..wo {
                    let (mut best, mut at) = (plane[oy * k * w + ox * k], 0u8);
                    for ky in 0..k {
                        let row = &plane[(oy * k + ky) * w + ox * k..][..k];
                        for (kx, &v) in row.iter().enumerate() {
                            // Strictly greater: the first maximum wins, and a NaN first stays.
                            if v > best {
                                (best, at) = (v, (ky * k + kx) as u8);
                            }
                        }
                    }
                    out[oy * wo + ox].write(best);
                    chosen[oy * wo + ox] = at;
                }
            }
        })
    };
    let y = tensor(y, [n, c, ho, wo]);
    let y = match PoolBackward.prepare::<NoCheckpointing>([x.node.clone()]).compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish(State { dims, k, taps }, y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Tensor::from_primitive(TensorPrimitive::Float(y))
}

impl Backward<Flex, 1> for PoolBackward {
    type State = State;

    fn backward(self, ops: Ops<State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let Some(node) = node else { return };
        let dy = grads.consume::<Flex>(&ops.node).to_contiguous();
        let State { dims, k, taps } = ops.state;
        let [n, c, h, w] = dims;
        let (ho, wo) = (h / k, w / k);
        let dyv = floats(&dy);
        // SAFETY: every element of plane i is written below: each window's taps, then the
        // columns and rows no window covers.
        let dx = unsafe {
            chunks_written(n * c * h * w, h * w, |i, out| {
                let (g, t) = (&dyv[i * ho * wo..][..ho * wo], &taps[i * ho * wo..][..ho * wo]);
                for (y, row) in out.chunks_exact_mut(w).enumerate() {
                    let (oy, ky) = (y / k, y % k);
                    if oy == ho {
                        row.iter_mut().for_each(|d| _ = d.write(0.0));
                        continue;
                    }
                    for (o, window) in row[..wo * k].chunks_exact_mut(k).enumerate() {
                        let (tap, dy) = (t[oy * wo + o] as usize, g[oy * wo + o]);
                        for (kx, d) in window.iter_mut().enumerate() {
                            // `0 + dy`, as Flex accumulates it (a -0.0 gradient arrives as +0.0).
                            d.write(if tap == ky * k + kx { 0.0 + dy } else { 0.0 });
                        }
                    }
                    row[wo * k..].iter_mut().for_each(|d| _ = d.write(0.0));
                }
            })
        };
        grads.register::<Flex>(node.id, tensor(dx, dims));
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Tensor, TensorData};

    use super::super::Train;
    use super::max_pool_train;
    use crate::ir::Pool;
    use crate::net::layers::max_pool_composed;
    use crate::util::SplitMix64;

    fn bits<B: burn::tensor::backend::Backend, const D: usize>(t: Tensor<B, D>) -> Vec<u32> {
        t.into_data().to_vec::<f32>().unwrap().iter().map(|v| v.to_bits()).collect()
    }

    /// Maps whose sides the windows do not divide, values from a small set (windows with tied
    /// maxima), gradients with some -0.0: the op's output and input gradient are Flex's pool's
    /// bit for bit, at kernels 2 and 3.
    #[test]
    fn pool_matches_flex() {
        let mut rng = SplitMix64(7);
        for (k, dims) in [(2u32, [2usize, 3, 5, 7]), (3, [1, 2, 7, 6]), (2, [3, 4, 8, 8])] {
            let len: usize = dims.iter().product();
            let x: Vec<f32> = (0..len).map(|_| (rng.below(5) as f32 - 2.0) * 0.5).collect();
            let p = Pool { kernel: k, stride: k, pad: 0 };
            let run = |op: bool| {
                let xt =
                    Tensor::<Train, 4>::from_data(TensorData::new(x.clone(), dims), &Default::default()).require_grad();
                let y = match op {
                    true => max_pool_train(xt.clone(), &p).unwrap_or_else(|_| panic!("the op applies")),
                    false => max_pool_composed(xt.clone(), &p),
                };
                let out = y.dims();
                let r: Vec<f32> = (0..out.iter().product::<usize>())
                    .map(|i| if i % 4 == 0 { -0.0 } else { i as f32 - 3.0 })
                    .collect();
                let r = Tensor::<Train, 4>::from_data(TensorData::new(r, out), &Default::default());
                let grads = (y.clone() * r).sum().backward();
                (bits(y), bits(xt.grad(&grads).unwrap()))
            };
            let (op, flex) = (run(true), run(false));
            assert!(op.1.iter().any(|&b| f32::from_bits(b) != 0.0), "a zero gradient tests nothing");
            assert!(op == flex, "kernel {k}, {dims:?}: the op differs from Flex's pool");
        }
    }

    /// Overlapping or padded windows take Flex's pool.
    #[test]
    fn other_windows_hand_the_map_back() {
        let x = Tensor::<Train, 4>::zeros([1, 1, 4, 4], &Default::default());
        for p in [Pool { kernel: 3, stride: 2, pad: 0 }, Pool { kernel: 2, stride: 2, pad: 1 }] {
            assert!(max_pool_train(x.clone(), &p).is_err(), "{p:?}");
        }
    }
}
