//! Full-precision 1x1 convs (stride 1, no padding, one group: MeliusNet's transitions) in
//! training on the CPU backend as one autodiff op: per image a GEMM, images in parallel; the
//! weight gradient in fixed blocks of output channels, each summing over the images in order
//! (deterministic on any number of threads). Flex's conv backward ran on one thread, most of it
//! copying transposed operands (a fifth of a cheapest MeliusNet-22 step, the second core idle).
//! Values and gradients equal burn's conv up to the order of float summation. A conv backward
//! in Flex without the transposing copies, multithreaded, would make it unnecessary.

use burn::backend::Flex;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorPrimitive};
use lightnasc_kernels::matmul::{Strided, matmul, matmul_add};
use rayon::prelude::*;

use super::{Train, cast, chunks_written, floats, is_train, tensor};
use crate::ir::Conv2d;
use crate::net::weights::ConvWeights;

/// Whether the op computes this conv: kernel 1, stride 1, no padding, dilation 1, one group.
pub fn covers(c: &Conv2d) -> bool {
    c.kernel == 1 && c.stride == 1 && c.pad == 0 && c.dilation == 1 && c.groups == 1
}

/// The conv of a map `[N, C, H, W]`, or the input back where the op does not apply.
pub fn pointwise_conv<B: Backend>(
    x: Tensor<B, 4>,
    c: &Conv2d,
    w: &ConvWeights<B>,
) -> Result<Tensor<B, 4>, Tensor<B, 4>> {
    if !is_train::<B>() || !covers(c) || x.dtype() != DType::F32 {
        return Err(x);
    }
    let weight = cast(w.weight.val());
    Ok(cast(match &w.bias {
        Some(b) => forward::<3>(cast(x), weight, Some(cast(b.val()))),
        None => forward::<2>(cast(x), weight, None),
    }))
}

/// Blocks of output channels the weight gradient is split into (a fixed number, so that each
/// sum's order does not depend on the threads).
const WEIGHT_BLOCKS: usize = 4;

#[derive(Clone, Debug)]
struct State {
    x: FlexTensor,
    weight: FlexTensor,
    /// Images, input and output channels, and the maps' height and width.
    n: usize,
    c: usize,
    out: usize,
    hw: [usize; 2],
}

/// The op with `K` parents: the input, the weight, and the bias when `K` is 3.
#[derive(Debug)]
struct PointwiseBackward<const K: usize>;

fn forward<const K: usize>(
    x: Tensor<Train, 4>,
    weight: Tensor<Train, 4>,
    bias: Option<Tensor<Train, 1>>,
) -> Tensor<Train, 4> {
    let [n, c, h, w] = x.dims();
    let out = weight.dims()[0];
    let plane = h * w;
    let x = x.into_primitive().tensor();
    let weight = weight.into_primitive().tensor();
    let bias = bias.map(|b| b.into_primitive().tensor());
    let (xs, ws) = (x.primitive.to_contiguous(), weight.primitive.to_contiguous());
    let bs = bias.as_ref().map(|b| b.primitive.to_contiguous());
    let (xv, wv, bv) = (floats(&xs), floats(&ws), bs.as_ref().map(floats));
    // SAFETY: each image's `out x plane` block is written in full by its GEMM (dst not read).
    let y = unsafe {
        chunks_written(n * out * plane, out * plane, |i, dst| {
            let dst = dst.as_mut_ptr() as *mut f32;
            let xi = xv[i * c * plane..(i + 1) * c * plane].as_ptr();
            matmul(out, plane, c, Strided::rows(dst, plane), Strided::rows(wv.as_ptr(), c), Strided::rows(xi, plane));
            if let Some(b) = bv {
                let y = std::slice::from_raw_parts_mut(dst, out * plane);
                y.chunks_exact_mut(plane).zip(b).for_each(|(row, &b)| row.iter_mut().for_each(|v| *v += b));
            }
        })
    };
    let y = tensor(y, [n, out, h, w]);
    let mut parents = vec![x.node.clone(), weight.node.clone()];
    parents.extend(bias.map(|b| b.node.clone()));
    let parents: [_; K] = parents.try_into().expect("K parents");
    let y = match PointwiseBackward::<K>.prepare::<NoCheckpointing>(parents).compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish(State { x: xs, weight: ws, n, c, out, hw: [h, w] }, y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Tensor::from_primitive(TensorPrimitive::Float(y))
}

impl<const K: usize> Backward<Flex, K> for PointwiseBackward<K> {
    type State = State;

    fn backward(self, ops: Ops<State, K>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<Flex>(&ops.node).to_contiguous();
        let State { x, weight, n, c, out, hw: [h, w] } = ops.state;
        let plane = h * w;
        let (xv, wv, dyv) = (floats(&x), floats(&weight), floats(&dy));
        let image = |v: &[f32], rows: usize, i: usize| v[i * rows * plane..(i + 1) * rows * plane].as_ptr();
        let mut parents = ops.parents.into_iter();
        if let Some(node) = parents.next().flatten() {
            // dx_i (c x plane) = W^T (c x out) * dy_i (out x plane).
            // SAFETY: each image's block is written in full by its GEMM.
            let dx = unsafe {
                chunks_written(n * c * plane, c * plane, |i, dst| {
                    let wt = Strided { ptr: wv.as_ptr(), row: 1, col: c as isize };
                    let dst = Strided::rows(dst.as_mut_ptr() as *mut f32, plane);
                    matmul(c, plane, out, dst, wt, Strided::rows(image(dyv, out, i), plane));
                })
            };
            grads.register::<Flex>(node.id, tensor(dx, [n, c, h, w]));
        }
        if let Some(node) = parents.next().flatten() {
            // dW (out x c) = sum over images of dy_i (out x plane) * x_i^T (plane x c), by
            // blocks of rows.
            let rows = out.div_ceil(WEIGHT_BLOCKS);
            // SAFETY: each block of rows is written by its first GEMM, then accumulated.
            let dw = unsafe {
                chunks_written(out * c, rows * c, |b, dst| {
                    let m = dst.len() / c;
                    let dst = Strided::rows(dst.as_mut_ptr() as *mut f32, c);
                    for i in 0..n {
                        let lhs = Strided::rows(image(dyv, out, i).add(b * rows * plane), plane);
                        let xt = Strided { ptr: image(xv, c, i), row: 1, col: plane as isize };
                        match i {
                            0 => matmul(m, c, plane, dst, lhs, xt),
                            _ => matmul_add(m, c, plane, dst, lhs, xt),
                        }
                    }
                })
            };
            grads.register::<Flex>(node.id, tensor(dw, [out, c, 1, 1]));
        }
        if let Some(node) = parents.next().flatten() {
            let db: Vec<f32> = (0..out)
                .into_par_iter()
                .map(|o| {
                    let rows = (0..n).map(|i| &dyv[(i * out + o) * plane..(i * out + o + 1) * plane]);
                    rows.map(|r| r.iter().map(|&v| v as f64).sum::<f64>()).sum::<f64>() as f32
                })
                .collect();
            grads.register::<Flex>(node.id, tensor(db, [out]));
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::module::Param;
    use burn::tensor::{Tensor, TensorData};

    use super::super::Train;
    use super::pointwise_conv;
    use crate::ir::Conv2d;
    use crate::net::layers;
    use crate::net::weights::ConvWeights;
    use crate::util::SplitMix64;

    fn t<const D: usize>(rng: &mut SplitMix64, dims: [usize; D]) -> Tensor<Train, D> {
        let v: Vec<f32> = (0..dims.iter().product()).map(|_| rng.normal() as f32).collect();
        Tensor::from_data(TensorData::new(v, dims), &Default::default())
    }

    fn host<B: burn::tensor::backend::Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
        t.into_data().to_vec().unwrap()
    }

    /// With and without bias, output channels not a multiple of the weight blocks: the op's
    /// output and the gradients of `sum(y * r)` by input, weight and bias equal burn's conv's
    /// up to float summation order.
    #[test]
    fn pointwise_op_matches_burns_conv() {
        let mut rng = SplitMix64(11);
        for (bias, [n, c, h, w], out) in [(true, [3, 6, 4, 5], 7), (false, [2, 9, 3, 3], 4), (true, [1, 2, 1, 1], 1)] {
            let conv = Conv2d { out: out as u32, kernel: 1, stride: 1, pad: 0, dilation: 1, groups: 1 };
            let x = t(&mut rng, [n, c, h, w]);
            let weight = t(&mut rng, [out, c, 1, 1]);
            let b = t(&mut rng, [out]);
            let r = t(&mut rng, [n, out, h, w]);
            let run = |op: bool| {
                let cw = ConvWeights {
                    weight: Param::from_tensor(weight.clone().require_grad()),
                    bias: bias.then(|| Param::from_tensor(b.clone().require_grad())),
                };
                let xt = x.clone().require_grad();
                let y = match op {
                    true => pointwise_conv(xt.clone(), &conv, &cw).unwrap_or_else(|_| panic!("the op applies")),
                    false => layers::conv_composed(xt.clone(), &conv, &cw),
                };
                let grads = (y.clone() * r.clone()).sum().backward();
                let mut v = vec![host(y), host(xt.grad(&grads).unwrap()), host(cw.weight.val().grad(&grads).unwrap())];
                v.extend(cw.bias.as_ref().map(|b| host(b.val().grad(&grads).unwrap())));
                v
            };
            let (op, burn) = (run(true), run(false));
            assert_eq!(op.len(), if bias { 4 } else { 3 });
            for (k, (a, e)) in op.iter().zip(&burn).enumerate() {
                assert_eq!(a.len(), e.len());
                assert!(e.iter().any(|&v| v != 0.0), "output {k}: all zero tests nothing");
                for (i, (a, e)) in a.iter().zip(e).enumerate() {
                    assert!((a - e).abs() <= 1e-5 * (1.0 + e.abs()), "bias {bias}, output {k}[{i}]: op {a}, burn {e}");
                }
            }
        }
    }

    /// A 3x3, strided, padded or grouped conv takes burn's conv.
    #[test]
    fn other_convs_take_burns_conv() {
        let base = Conv2d { out: 2, kernel: 1, stride: 1, pad: 0, dilation: 1, groups: 1 };
        for c in [
            Conv2d { kernel: 3, ..base },
            Conv2d { stride: 2, ..base },
            Conv2d { pad: 1, ..base },
            Conv2d { groups: 2, ..base },
            Conv2d { dilation: 2, ..base },
        ] {
            assert!(!super::covers(&c), "{c:?}");
        }
        assert!(super::covers(&base));
    }
}
