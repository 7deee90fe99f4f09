//! Trainable networks on burn, built from the IR: binary layers ([`quant`], [`layers`]), the
//! weight store ([`weights`]), the execution plan ([`plan`]), the weight-sharing supernet and the
//! fixed networks extracted from it ([`supernet`]), a training step ([`train`]) and the run-time
//! choice of backend ([`device`]). The front end and the IR know nothing of this module.

pub mod cpu_ops;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
pub mod cube_ops;
pub mod device;
pub mod gpu;
pub mod layers;
pub mod optim;
pub mod packed;
pub mod parallel;
pub mod plan;
pub mod probe;
pub mod quant;
pub mod supernet;
pub mod train;
pub mod weights;

pub use layers::Mode;

/// Why training or a device could not go on, each cause its own variant.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error(
        "device `{device}`: this lightnasc was built without {what}; rebuild with `cargo build --release --features {feature}`"
    )]
    NotBuilt { device: String, what: &'static str, feature: &'static str },
    #[error("device `{device}`: {source}")]
    Device { device: String, source: probe::DeviceError },
    #[error("the training loss is {loss}; the weights were not updated")]
    NotFinite { loss: f64 },
    #[error("a batch of {batch} cannot be split over {devices} devices")]
    Split { batch: usize, devices: usize },
    #[error("a data-parallel replica stopped")]
    ReplicaLost,
    #[error("data-parallel all-reduce failed: {0}")]
    AllReduce(String),
}

/// `t` as `U`, which the caller has checked is `T`'s type (by `TypeId`): how the backend-specific
/// ops (`cpu_ops`, `cube_ops`, `packed::cube`) move burn's generic tensors to their concrete ones.
pub(crate) fn cast<T: 'static, U: 'static>(t: T) -> U {
    *(Box::new(t) as Box<dyn std::any::Any>).downcast::<U>().expect("the types were compared first")
}
pub use supernet::{Activations, Supernet};
