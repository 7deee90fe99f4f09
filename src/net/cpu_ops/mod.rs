//! Training ops of the CPU backend (burn's Flex with autodiff), each one burn autodiff op
//! (`Backward`) with its own forward and backward, multithreaded: binary convs ([`conv`]: the
//! forward on the packed kernel, the backward as GEMMs over shifted views, `kernels::grad`) and
//! batch norm on batch statistics ([`norm`]).
//! Composed from burn's ops these ran mostly on one core: Flex's elementwise ops are
//! single-threaded, and its conv backward transposes and copies its operands.
//!
//! Burn's `Backend` has no hook for a custom op, so, as `packed::cube` does for CubeCL, the
//! backend is recognised by type (`B` is `Autodiff<Flex>`) and the tensors are moved across
//! through `Any`. Each op hands its input back where it does not apply (another backend, a shape
//! it does not cover), for the composed path.

pub mod conv;
pub mod norm;

use std::any::{Any, TypeId};

use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::tensor::TensorData;
use burn::tensor::backend::Backend;

type Train = Autodiff<Flex>;

/// Whether `B` is the CPU training backend.
fn is_train<B: Backend>() -> bool {
    TypeId::of::<B>() == TypeId::of::<Train>()
}

fn cast<T: 'static, U: 'static>(t: T) -> U {
    *(Box::new(t) as Box<dyn Any>).downcast::<U>().expect("the types were compared first")
}

fn floats(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("a contiguous f32 tensor")
}

fn tensor<const D: usize>(v: Vec<f32>, shape: [usize; D]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(v, shape))
}
