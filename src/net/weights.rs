//! The weight store of a network: one slot per distinct weight key of the IR (equal keys share a
//! slot, which is how `choice ... shared` alternatives share conv weights), as a burn module so
//! that autodiff, optimisers and device moves work on it as a whole.

use burn::module::{Module, Param, RunningState};
use burn::tensor::{Tensor, TensorData, backend::Backend};

use crate::ir::store::WeightError;
use crate::util::SplitMix64;

/// Weights of a convolution (float or binary): `[out, in / groups, k, k]`, plus an optional bias.
#[derive(Module, Debug)]
pub struct ConvWeights<B: Backend> {
    pub weight: Param<Tensor<B, 4>>,
    pub bias: Option<Param<Tensor<B, 1>>>,
}

/// Weights of a dense layer: `[out, in]` (MXNet's layout), plus an optional bias.
#[derive(Module, Debug)]
pub struct DenseWeights<B: Backend> {
    pub weight: Param<Tensor<B, 2>>,
    pub bias: Option<Param<Tensor<B, 1>>>,
}

/// A batch norm's affine parameters (absent when `scale`/`center` is off) and running statistics.
#[derive(Module, Debug)]
pub struct NormWeights<B: Backend> {
    pub gamma: Option<Param<Tensor<B, 1>>>,
    pub beta: Option<Param<Tensor<B, 1>>>,
    pub running_mean: RunningState<Tensor<B, 1>>,
    pub running_var: RunningState<Tensor<B, 1>>,
}

#[derive(Module, Debug)]
pub struct Weights<B: Backend> {
    pub convs: Vec<ConvWeights<B>>,
    pub denses: Vec<DenseWeights<B>>,
    pub norms: Vec<NormWeights<B>>,
}

/// Which slot of the store a node's weights live in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Slot {
    Conv(usize),
    Dense(usize),
    Norm(usize),
}

/// What a slot holds, derived from the IR: the shape of its main tensor and every tensor it
/// holds (`ir::Op::weight_tensors`, merged over the layers sharing it).
#[derive(Clone, Debug, PartialEq)]
pub struct SlotSpec {
    pub key: String,
    pub slot: Slot,
    /// `[out, in/groups, k, k]`, `[out, in]` or `[C]`.
    pub shape: Vec<usize>,
    /// (part, shape): `weight` and `bias`, or `gamma`, `beta` and the running statistics.
    pub tensors: Vec<(&'static str, Vec<usize>)>,
    /// Used by a binary conv (no weight decay for it, as BMXNet's `wd_mult = 0`).
    pub binary: bool,
}

impl SlotSpec {
    /// Whether the slot holds tensor `part` (`bias`, `gamma`, `beta`).
    pub fn has(&self, part: &str) -> bool {
        self.tensors.iter().any(|t| t.0 == part)
    }
}

impl<B: Backend> Weights<B> {
    /// Fresh weights for the slots, deterministic in `seed` and independent of the backend:
    /// convolutions and dense layers He-uniform (bound sqrt(6 / fan_in)); dense biases
    /// uniform(±1/sqrt(fan_in)); conv biases 0; batch norm gamma 1, beta 0, statistics 0 and 1.
    /// (The original's Uniform(±0.07) ignores fan-in; see docs/original.md §9 (4).)
    pub fn init(slots: &[SlotSpec], seed: u64, device: &B::Device) -> Self {
        let mut rng = SplitMix64(seed);
        let mut convs = vec![];
        let mut denses = vec![];
        let mut norms = vec![];
        for s in slots {
            match s.slot {
                Slot::Conv(_) => {
                    let fan_in = s.shape[1..].iter().product::<usize>().max(1);
                    let weight = uniform(&mut rng, &s.shape, (6.0 / fan_in as f64).sqrt(), device);
                    let bias = s.has("bias").then(|| Param::from_tensor(Tensor::zeros([s.shape[0]], device)));
                    convs.push(ConvWeights { weight: Param::from_tensor(weight), bias });
                }
                Slot::Dense(_) => {
                    let fan_in = s.shape[1].max(1);
                    let weight = uniform(&mut rng, &s.shape, (6.0 / fan_in as f64).sqrt(), device);
                    let bias = s.has("bias").then(|| {
                        Param::from_tensor(uniform(&mut rng, &s.shape[..1], 1.0 / (fan_in as f64).sqrt(), device))
                    });
                    denses.push(DenseWeights { weight: Param::from_tensor(weight), bias });
                }
                Slot::Norm(_) => {
                    let c = s.shape[0];
                    norms.push(NormWeights {
                        gamma: s.has("gamma").then(|| Param::from_tensor(Tensor::ones([c], device))),
                        beta: s.has("beta").then(|| Param::from_tensor(Tensor::zeros([c], device))),
                        running_mean: RunningState::new(Tensor::zeros([c], device)),
                        running_var: RunningState::new(Tensor::ones([c], device)),
                    });
                }
            }
        }
        Weights { convs, denses, norms }
    }

    pub fn deep_copy(&self) -> Self {
        Weights {
            convs: self.convs.iter().map(ConvWeights::deep_copy).collect(),
            denses: self.denses.iter().map(DenseWeights::deep_copy).collect(),
            norms: self.norms.iter().map(NormWeights::deep_copy).collect(),
        }
    }

    /// A copy on `device` whose parameters keep their ids (so gradients and optimiser state
    /// match across data-parallel replicas), with its own running statistics.
    pub fn replica(&self, device: &B::Device) -> Self {
        fn same<B: Backend, const D: usize>(p: &Param<Tensor<B, D>>, device: &B::Device) -> Param<Tensor<B, D>> {
            let v = p.val();
            let require_grad = v.is_require_grad();
            Param::initialized(p.id, v.to_device(device).detach().set_require_grad(require_grad))
        }
        let opt = |p: &Option<Param<Tensor<B, 1>>>| p.as_ref().map(|p| same(p, device));
        Weights {
            convs: self
                .convs
                .iter()
                .map(|c| ConvWeights { weight: same(&c.weight, device), bias: opt(&c.bias) })
                .collect(),
            denses: self
                .denses
                .iter()
                .map(|d| DenseWeights { weight: same(&d.weight, device), bias: opt(&d.bias) })
                .collect(),
            norms: self
                .norms
                .iter()
                .map(|n| NormWeights {
                    gamma: opt(&n.gamma),
                    beta: opt(&n.beta),
                    running_mean: RunningState::new(n.running_mean.value_sync().to_device(device)),
                    running_var: RunningState::new(n.running_var.value_sync().to_device(device)),
                })
                .collect(),
        }
    }

    /// Trainable parameters actually held (running statistics excluded).
    pub fn param_count(&self) -> u64 {
        fn n<B: Backend, const D: usize>(p: &Param<Tensor<B, D>>) -> u64 {
            p.val().shape().num_elements() as u64
        }
        let opt = |p: &Option<Param<Tensor<B, 1>>>| p.as_ref().map_or(0, n);
        self.convs.iter().map(|c| n(&c.weight) + opt(&c.bias)).sum::<u64>()
            + self.denses.iter().map(|d| n(&d.weight) + opt(&d.bias)).sum::<u64>()
            + self.norms.iter().map(|b| opt(&b.gamma) + opt(&b.beta)).sum::<u64>()
    }
}

/// Check a weight record (a checkpoint's) against the slots before loading it: burn loads a
/// tensor of any shape into a parameter, and asserts on a list of another length.
pub fn check_record<B: Backend>(record: &WeightsRecord<B>, slots: &[SlotSpec]) -> Result<(), WeightError> {
    let count = |f: fn(&Slot) -> bool| slots.iter().filter(|s| f(&s.slot)).count();
    let graph = [
        count(|s| matches!(s, Slot::Conv(_))),
        count(|s| matches!(s, Slot::Dense(_))),
        count(|s| matches!(s, Slot::Norm(_))),
    ];
    let held = [record.convs.len(), record.denses.len(), record.norms.len()];
    if held != graph {
        return Err(WeightError::Counts { held, graph });
    }
    fn dims<B: Backend, const D: usize>(p: &Param<Tensor<B, D>>) -> Vec<usize> {
        p.val().dims().to_vec()
    }
    fn opt<B: Backend, const D: usize>(
        part: &'static str,
        p: &Option<Param<Tensor<B, D>>>,
    ) -> Option<(&'static str, Vec<usize>)> {
        p.as_ref().map(|p| (part, dims(p)))
    }
    for s in slots {
        let held: Vec<(&str, Vec<usize>)> = match s.slot {
            Slot::Conv(i) => {
                let r = &record.convs[i];
                [Some(("weight", dims(&r.weight))), opt("bias", &r.bias)].into_iter().flatten().collect()
            }
            Slot::Dense(i) => {
                let r = &record.denses[i];
                [Some(("weight", dims(&r.weight))), opt("bias", &r.bias)].into_iter().flatten().collect()
            }
            Slot::Norm(i) => {
                let r = &record.norms[i];
                [
                    opt("gamma", &r.gamma),
                    opt("beta", &r.beta),
                    Some(("running_mean", dims(&r.running_mean))),
                    Some(("running_var", dims(&r.running_var))),
                ]
                .into_iter()
                .flatten()
                .collect()
            }
        };
        crate::ir::store::check_tensors(&s.key, &s.tensors, &held)?;
    }
    Ok(())
}

pub fn uniform<B: Backend, const D: usize>(
    rng: &mut SplitMix64,
    shape: &[usize],
    bound: f64,
    device: &B::Device,
) -> Tensor<B, D> {
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|_| ((rng.next_f64() * 2.0 - 1.0) * bound) as f32).collect();
    Tensor::from_data(TensorData::new(values, shape.to_vec()), device)
}

/// A copy of a parameter as a new parameter (its own id and optimiser state), detached from any
/// autodiff graph.
pub fn copy_param<B: Backend, const D: usize>(p: &Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
    Param::from_tensor(p.val().detach())
}

impl<B: Backend> ConvWeights<B> {
    pub fn deep_copy(&self) -> Self {
        ConvWeights { weight: copy_param(&self.weight), bias: self.bias.as_ref().map(copy_param) }
    }
}

impl<B: Backend> DenseWeights<B> {
    pub fn deep_copy(&self) -> Self {
        DenseWeights { weight: copy_param(&self.weight), bias: self.bias.as_ref().map(copy_param) }
    }
}

impl<B: Backend> NormWeights<B> {
    /// A copy with its own parameters and statistics (a derived `Clone` would share the running
    /// statistics, which live behind an `Arc`).
    pub fn deep_copy(&self) -> Self {
        NormWeights {
            gamma: self.gamma.as_ref().map(copy_param),
            beta: self.beta.as_ref().map(copy_param),
            running_mean: RunningState::new(self.running_mean.value_sync()),
            running_var: RunningState::new(self.running_var.value_sync()),
        }
    }
}
