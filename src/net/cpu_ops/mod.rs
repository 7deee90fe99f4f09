//! Training ops of the CPU backend (burn's Flex with autodiff), each one burn autodiff op
//! (`Backward`) with its own forward and backward, multithreaded: binary convs ([`conv`]: the
//! forward on the packed kernel, the backward as GEMMs over shifted views, `kernels::grad`),
//! full-precision 1x1 convs ([`pointwise`]), batch norm on batch statistics ([`norm`]), channel
//! concatenation ([`concat`]) and max pooling over tiling windows ([`pool`]).
//! Composed from burn's ops these ran mostly on one core: Flex's elementwise ops are
//! single-threaded, and its conv backward transposes and copies its operands.
//!
//! Burn's `Backend` has no hook for a custom op, so, as `packed::cube` does for CubeCL, the
//! backend is recognised by type (`B` is `Autodiff<Flex>`) and the tensors are moved across
//! through `Any`. Each op hands its input back where it does not apply (another backend, a shape
//! it does not cover), for the composed path.

pub mod concat;
pub mod conv;
pub mod norm;
pub mod pointwise;
pub mod pool;

use std::any::TypeId;
use std::mem::MaybeUninit;

use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::tensor::TensorData;
use burn::tensor::backend::Backend;
use lightnasc_kernels::pool::SharedMut;
use rayon::prelude::*;

pub(super) use crate::net::cast;

type Train = Autodiff<Flex>;

/// Whether `B` is the CPU training backend.
fn is_train<B: Backend>() -> bool {
    TypeId::of::<B>() == TypeId::of::<Train>()
}

fn floats(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("a contiguous f32 tensor")
}

fn tensor<const D: usize>(v: Vec<f32>, shape: [usize; D]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(v, shape))
}

/// A vector of `len` floats that `fill` writes through a shared pointer to its uninitialised
/// storage, and what `fill` returns: no zeroing pass first (freed maps are reused from the heap,
/// which `vec![0.0; len]` would clear again).
///
/// # Safety
/// `fill` must write every one of the `len` elements before it returns.
unsafe fn written<T>(len: usize, fill: impl FnOnce(&SharedMut<MaybeUninit<f32>>) -> T) -> (Vec<f32>, T) {
    let mut v = Vec::with_capacity(len);
    let t = fill(&SharedMut(v.spare_capacity_mut().as_mut_ptr()));
    // SAFETY: every element was written (the caller's promise).
    unsafe { v.set_len(len) };
    (v, t)
}

/// A vector of `len` floats made of chunks of `chunk` floats (the last one shorter where `chunk`
/// does not divide `len`), which `fill(i, chunk)` writes in parallel, without a zeroing pass
/// first (see [`written`]).
///
/// # Safety
/// `fill` must write every element of the chunk it is handed.
unsafe fn chunks_written(len: usize, chunk: usize, fill: impl Fn(usize, &mut [MaybeUninit<f32>]) + Sync) -> Vec<f32> {
    assert!(chunk > 0, "chunks of no floats");
    let mut v = Vec::with_capacity(len);
    v.spare_capacity_mut()[..len].par_chunks_mut(chunk).enumerate().for_each(|(i, c)| fill(i, c));
    // SAFETY: every chunk was written (the caller's promise).
    unsafe { v.set_len(len) };
    v
}
