//! Channel concatenation of maps in training on the CPU backend as one autodiff op, images in
//! parallel. Flex's `cat` copies on one thread, and its backward hands each input a strided slice
//! of the gradient, which the next elementwise op walks element by element (the composed path
//! makes it contiguous through a reshape: one more single-threaded copy). Here the backward
//! hands each input a contiguous gradient, copied in parallel. Values and gradients are the
//! composed path's exactly (copies only). A multithreaded `cat` in Flex, with contiguous slices
//! in its backward, would make it unnecessary.

use burn::backend::Flex;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorPrimitive};

use super::{Train, cast, chunks_written, floats, is_train, tensor};

/// The maps `[N, C_i, H, W]` concatenated along channels, or the maps back where the op does not
/// apply (another backend, another dtype, other than two or three inputs: MeliusNet's dense blocks
/// concatenate two).
pub fn concat_train<B: Backend>(maps: Vec<Tensor<B, 4>>) -> Result<Tensor<B, 4>, Vec<Tensor<B, 4>>> {
    if !is_train::<B>() || maps.iter().any(|m| m.dtype() != DType::F32) {
        return Err(maps);
    }
    let maps: Vec<Tensor<Train, 4>> = maps.into_iter().map(cast).collect();
    let y = match maps.len() {
        2 => forward::<2>(maps.try_into().expect("two maps")),
        3 => forward::<3>(maps.try_into().expect("three maps")),
        _ => return Err(maps.into_iter().map(cast).collect()),
    };
    Ok(cast(y))
}

#[derive(Clone, Debug)]
struct State<const K: usize> {
    /// Each input's channels.
    channels: [usize; K],
    /// Images, and the maps' height and width.
    n: usize,
    hw: [usize; 2],
}

#[derive(Debug)]
struct ConcatBackward<const K: usize>;

/// A vector of `len` floats made of chunks of `chunk` floats, chunks in parallel: chunk `i` is the
/// concatenation of `pieces(i)`, which must add up to `chunk` floats.
fn assemble<'a>(len: usize, chunk: usize, pieces: impl Fn(usize) -> Vec<&'a [f32]> + Sync) -> Vec<f32> {
    // SAFETY: the assertion stops any chunk the pieces do not fill.
    unsafe {
        chunks_written(len, chunk, |i, dst| {
            let mut at = 0;
            for p in pieces(i) {
                dst[at..at + p.len()].write_copy_of_slice(p);
                at += p.len();
            }
            assert_eq!(at, chunk, "the pieces fill the chunk");
        })
    }
}

fn forward<const K: usize>(maps: [Tensor<Train, 4>; K]) -> Tensor<Train, 4> {
    let [n, _, h, w] = maps[0].dims();
    let channels: [usize; K] = std::array::from_fn(|i| maps[i].dims()[1]);
    for m in &maps {
        let [mn, _, mh, mw] = m.dims();
        assert_eq!((mn, mh, mw), (n, h, w), "concatenated maps agree but in channels");
    }
    let plane = h * w;
    let total: usize = channels.iter().sum();
    let prims = maps.map(|m| m.into_primitive().tensor());
    let data: Vec<_> = prims.iter().map(|p| p.primitive.to_contiguous()).collect();
    let values: Vec<&[f32]> = data.iter().map(floats).collect();
    let y = assemble(n * total * plane, total * plane, |i| {
        values.iter().zip(&channels).map(|(v, &c)| &v[i * c * plane..(i + 1) * c * plane]).collect()
    });
    let y = tensor(y, [n, total, h, w]);
    let parents = prims.map(|p| p.node.clone());
    let y = match ConcatBackward::<K>.prepare::<NoCheckpointing>(parents).compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish(State { channels, n, hw: [h, w] }, y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Tensor::from_primitive(TensorPrimitive::Float(y))
}

impl<const K: usize> Backward<Flex, K> for ConcatBackward<K> {
    type State = State<K>;

    fn backward(self, ops: Ops<State<K>, K>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<Flex>(&ops.node).to_contiguous();
        let State { channels, n, hw: [h, w] } = ops.state;
        let plane = h * w;
        let total: usize = channels.iter().sum();
        let dyv = floats(&dy);
        let mut first = 0;
        for (node, c) in ops.parents.into_iter().zip(channels) {
            if let Some(node) = node {
                let run = c * plane;
                let at = |i: usize| (i * total + first) * plane;
                let dx = assemble(n * run, run, |i| vec![&dyv[at(i)..at(i) + run]]);
                grads.register::<Flex>(node.id, tensor(dx, [n, c, h, w]));
            }
            first += c;
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Tensor, TensorData};

    use super::super::Train;
    use super::concat_train;
    use crate::util::SplitMix64;

    fn map(rng: &mut SplitMix64, dims: [usize; 4]) -> Tensor<Train, 4> {
        let v: Vec<f32> = (0..dims.iter().product()).map(|_| rng.normal() as f32).collect();
        Tensor::from_data(TensorData::new(v, dims), &Default::default())
    }

    fn bits<B: burn::tensor::backend::Backend, const D: usize>(t: Tensor<B, D>) -> Vec<u32> {
        t.into_data().to_vec::<f32>().unwrap().iter().map(|v| v.to_bits()).collect()
    }

    /// Two and three maps (one of them not requiring a gradient, one used twice): the op's
    /// output and the gradients of `sum(y * r)` are burn's `cat`'s bit for bit.
    #[test]
    fn concat_matches_burns_cat() {
        let mut rng = SplitMix64(5);
        for widths in [&[3usize, 2][..], &[1, 4, 2]] {
            let inputs: Vec<Tensor<Train, 4>> = widths.iter().map(|&c| map(&mut rng, [2, c, 3, 5])).collect();
            let total = widths.iter().sum();
            let r = map(&mut rng, [2, total, 3, 5]);
            let run = |op: bool| {
                let xs: Vec<_> = inputs
                    .iter()
                    .enumerate()
                    .map(|(i, x)| if i == 1 { x.clone() } else { x.clone().require_grad() })
                    .collect();
                let y = match op {
                    true => concat_train(xs.clone()).unwrap_or_else(|_| panic!("the op applies")),
                    false => Tensor::cat(xs.clone(), 1),
                };
                // The first input also feeds another op, so its gradients are summed.
                let loss = (y.clone() * r.clone()).sum() + (xs[0].clone() * xs[0].clone()).sum();
                let grads = loss.backward();
                let mut out = vec![bits(y)];
                for (i, x) in xs.iter().enumerate() {
                    assert_eq!(x.grad(&grads).is_some(), i != 1, "input {i}'s gradient");
                    out.extend(x.grad(&grads).map(bits));
                }
                out
            };
            let (op, cat) = (run(true), run(false));
            assert_eq!(op.len(), widths.len());
            assert!(op == cat, "{widths:?}: the op differs from cat");
        }
    }

    /// Another backend, or more inputs than the op takes: the maps come back unchanged.
    #[test]
    fn other_cases_hand_the_maps_back() {
        let mut rng = SplitMix64(6);
        let flex: Vec<Tensor<burn::backend::Flex, 4>> = (0..2).map(|_| map(&mut rng, [1, 2, 2, 2]).inner()).collect();
        assert_eq!(concat_train(flex).err().map(|m| m.len()), Some(2));
        let four: Vec<_> = (0..4).map(|_| map(&mut rng, [1, 1, 2, 2])).collect();
        assert_eq!(concat_train(four).err().map(|m| m.len()), Some(4));
    }
}
