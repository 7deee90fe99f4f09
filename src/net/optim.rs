//! The shared weights' Adam: burn's `Adam` (its defaults, its state and record), except that on a
//! CubeCL device each parameter tensor's update is one launch (`cube_ops::adam`) instead of
//! about fifteen. Elsewhere it is burn's `Adam`, so CPU runs are unchanged bit for bit.

use burn::optim::decay::WeightDecayConfig;
use burn::optim::{Adam, AdamConfig, AdamState, LearningRate, SimpleOptimizer};
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};

/// burn's `AdamConfig` defaults, which its `Adam` keeps private.
const BETA_1: f32 = 0.9;
const BETA_2: f32 = 0.999;
const EPSILON: f32 = 1e-5;

#[derive(Clone)]
pub struct FusedAdam {
    composed: Adam,
    /// The fused step's L2 penalty (the CPU runs `composed`, which holds its own).
    #[cfg_attr(not(any(feature = "wgpu", feature = "cuda")), allow(dead_code))]
    decay: Option<f32>,
}

impl FusedAdam {
    /// Adam with burn's defaults and an optional L2 penalty.
    pub fn new(decay: Option<f32>) -> Self {
        let config = AdamConfig::new().with_beta_1(BETA_1).with_beta_2(BETA_2).with_epsilon(EPSILON);
        let composed = config.with_weight_decay(decay.map(WeightDecayConfig::new)).build();
        FusedAdam { composed, decay }
    }

    /// [`FusedAdam::new`] as an optimiser of a module (`Weights`).
    pub fn init<B: AutodiffBackend, M: burn::module::AutodiffModule<B>>(
        decay: Option<WeightDecayConfig>,
    ) -> burn::optim::adaptor::OptimizerAdaptor<FusedAdam, M, B> {
        FusedAdam::new(decay.map(|d| d.penalty)).into()
    }
}

impl<B: Backend> SimpleOptimizer<B> for FusedAdam {
    type State<const D: usize> = AdamState<B, D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<B, D>,
        grad: Tensor<B, D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<B, D>, Option<Self::State<D>>) {
        #[cfg(any(feature = "wgpu", feature = "cuda"))]
        let (tensor, grad, state) = {
            let c = super::cube_ops::adam::AdamConsts {
                beta_1: BETA_1,
                beta_2: BETA_2,
                epsilon: EPSILON,
                decay: self.decay,
            };
            match super::cube_ops::adam::step(lr, (tensor, grad, state), c) {
                Ok((t, s)) => return (t, Some(s)),
                Err(args) => args,
            }
        };
        self.composed.step(lr, tensor, grad, state)
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &B::Device) -> Self::State<D> {
        <Adam as SimpleOptimizer<B>>::to_device(state, device)
    }
}
