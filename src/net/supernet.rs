//! The weight-sharing supernet: every alternative's weights side by side, and a forward that runs
//! only the path an assignment selects. A pinned graph is a supernet with no choices, so the fixed
//! network of an architecture is the same type, built from the pinned IR with copied weights.

use std::sync::Arc;

use burn::module::AutodiffModule;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Distribution, Tensor};

use super::layers::{self, Mode};
use super::packed::PackedCache;
use super::plan::NetPlan;
use super::weights::{Slot, Weights};
use crate::ir::pin::{Assignment, PinError, pin};
use crate::ir::store::WeightError;
use crate::ir::{Graph, Op};

/// A value flowing through the network: a batch of maps or of vectors.
#[derive(Clone, Debug)]
pub enum Activations<B: Backend> {
    Map(Tensor<B, 4>),
    Vector(Tensor<B, 2>),
}

impl<B: Backend> Activations<B> {
    fn map(self, step: &str) -> Tensor<B, 4> {
        match self {
            Activations::Map(t) => t,
            Activations::Vector(_) => {
                panic!("{step}: expected a map; the IR's shape inference should have rejected this")
            }
        }
    }

    /// The tensor as a batch of vectors (maps are flattened, as `dense` does on a map).
    pub fn into_vector(self) -> Tensor<B, 2> {
        match self {
            Activations::Map(t) => t.flatten(1, 3),
            Activations::Vector(t) => t,
        }
    }
}

#[derive(Debug)]
pub struct Supernet<B: Backend> {
    pub plan: Arc<NetPlan>,
    pub weights: Weights<B>,
    /// Run eligible binary convs through the bit-packed kernels of the backend's device in
    /// forward-only passes (the same integers as the float path; see `net::packed`). Off by
    /// default.
    pub binary_kernels: bool,
    /// Run eligible binary convs of training steps on the backend's packed training op, where
    /// it has one (`net::cpu_ops::conv`). Off by default.
    pub packed_training: bool,
    /// The binary convs' packed weights, made on first use by the packed path.
    packed: PackedCache,
}

/// A deep copy: its own parameters and running statistics (the module's derived `Clone` shares
/// the statistics, which would let one copy's training move the other's).
impl<B: Backend> Clone for Supernet<B> {
    fn clone(&self) -> Self {
        let mut net = Supernet::from_parts(self.plan.clone(), self.weights.deep_copy(), self.binary_kernels);
        net.packed_training = self.packed_training;
        net
    }
}

impl<B: Backend> Supernet<B> {
    /// A supernet for the graph with fresh weights from `seed`.
    pub fn new(graph: Graph, seed: u64, device: &B::Device) -> Self {
        let plan = NetPlan::new(graph);
        let weights = Weights::init(&plan.slots, seed, device);
        Supernet::from_parts(Arc::new(plan), weights, false)
    }

    pub fn from_parts(plan: Arc<NetPlan>, weights: Weights<B>, binary_kernels: bool) -> Self {
        Supernet { plan, weights, binary_kernels, packed_training: false, packed: PackedCache::default() }
    }

    /// The kernel each conv slot ran with on the packed path so far (by slot; `None`: not yet).
    pub fn packed_kernels(&self) -> Vec<Option<&'static str>> {
        self.packed.kernels()
    }

    /// Replace the weights (and forget any packed copy of the old ones).
    pub fn set_weights(&mut self, weights: Weights<B>) {
        self.packed.clear();
        self.weights = weights;
    }

    /// Load a weight record (a checkpoint's), checked against the graph first: a mismatch names
    /// the tensor and both shapes.
    pub fn load_weights(&mut self, record: crate::net::weights::WeightsRecord<B>) -> Result<(), WeightError> {
        crate::net::weights::check_record(&record, &self.plan.slots)?;
        let loaded = burn::module::Module::load_record(self.take_weights(), record);
        self.set_weights(loaded);
        Ok(())
    }

    /// Take the weights out, leaving an empty store (to hand them to an optimiser).
    pub fn take_weights(&mut self) -> Weights<B> {
        self.packed.clear();
        std::mem::replace(&mut self.weights, Weights { convs: vec![], denses: vec![], norms: vec![] })
    }

    /// Runs the path `a` selects. `a` must assign every active choice (see
    /// [`Assignment::validate`]); a fixed network takes the empty assignment.
    pub fn forward(&self, x: Activations<B>, a: &Assignment, mode: Mode) -> Activations<B> {
        let plan = &*self.plan;
        let mut values: Vec<Option<Activations<B>>> = vec![None; plan.steps.len()];
        values[plan.input] = Some(x);
        for (i, step) in plan.steps.iter().enumerate() {
            if i == plan.input || !plan.runs(step, a) {
                continue;
            }
            let arg = |k: usize| -> Activations<B> {
                values[step.inputs[k]].clone().unwrap_or_else(|| panic!("{}: input {k} was not computed", step.name))
            };
            let out = match &step.op {
                Op::Select { choice } => {
                    let o = a.get(*choice).unwrap_or_else(|| panic!("choice of {} is not assigned", step.name));
                    arg(o.0 as usize)
                }
                op => self.apply(op, step.slot, (0..step.inputs.len()).map(arg).collect(), mode, &step.name),
            };
            for &j in &step.inputs {
                if plan.steps[j].last_use == i && j != plan.output {
                    values[j] = None;
                }
            }
            values[i] = Some(out);
        }
        values[plan.output].take().expect("the output step runs under every assignment")
    }

    /// Logits of a batch of images (or vectors) for the path `a` selects.
    pub fn logits(&self, x: Tensor<B, 4>, a: &Assignment, mode: Mode) -> Tensor<B, 2> {
        self.forward(Activations::Map(x), a, mode).into_vector()
    }

    /// Run one step of the plan on given inputs (for per-layer timing).
    pub fn apply_step(&self, i: usize, args: Vec<Activations<B>>, mode: Mode) -> Activations<B> {
        let s = &self.plan.steps[i];
        self.apply(&s.op, s.slot, args, mode, &s.name)
    }

    fn apply(&self, op: &Op, slot: Option<Slot>, args: Vec<Activations<B>>, mode: Mode, name: &str) -> Activations<B> {
        if matches!(op, Op::Concat | Op::Add) {
            return combine(op, args);
        }
        let w = &self.weights;
        let conv_slot = || match slot {
            Some(Slot::Conv(i)) => i,
            _ => panic!("{name}: no conv weights"),
        };
        let conv = || &w.convs[conv_slot()];
        let x = args.into_iter().next().expect("ops other than concat and add take one input");
        match op {
            Op::Input | Op::Output | Op::Identity => x,
            Op::Conv { conv: c, .. } => Activations::Map(layers::conv(x.map(name), c, conv())),
            Op::BinaryConv(b) => {
                let x = x.map(name);
                // Forward-only passes may take the bit-packed kernels on any backend; training
                // where the backend has a packed op with straight-through gradients.
                let forward_only = !B::ad_enabled(&x.device());
                if b.packable() && forward_only && self.binary_kernels {
                    return Activations::Map(super::packed::binary_conv(x, b, conv(), conv_slot(), &self.packed));
                }
                if b.packable() && !forward_only && self.packed_training {
                    match super::cpu_ops::conv::binary_conv(x, b, conv()) {
                        Ok(y) => return Activations::Map(y),
                        Err(x) => return Activations::Map(layers::binary_conv(x, b, conv())),
                    }
                }
                Activations::Map(layers::binary_conv(x, b, conv()))
            }
            Op::BatchNorm { eps, momentum, .. } => {
                let Some(Slot::Norm(i)) = slot else { panic!("{name}: no batch norm weights") };
                let bn = &w.norms[i];
                match x {
                    Activations::Map(t) => Activations::Map(layers::batch_norm(t, *eps, *momentum, bn, mode)),
                    Activations::Vector(t) => Activations::Vector(layers::batch_norm(t, *eps, *momentum, bn, mode)),
                }
            }
            Op::Relu => match x {
                Activations::Map(t) => Activations::Map(burn::tensor::activation::relu(t)),
                Activations::Vector(t) => Activations::Vector(burn::tensor::activation::relu(t)),
            },
            Op::MaxPool(p) => Activations::Map(layers::max_pool(x.map(name), p)),
            Op::AvgPool(p) => Activations::Map(layers::avg_pool(x.map(name), p)),
            Op::GlobalAvgPool => Activations::Vector(x.map(name).flatten::<3>(2, 3).mean_dim(2).flatten(1, 2)),
            Op::GlobalMaxPool => Activations::Vector(x.map(name).flatten::<3>(2, 3).max_dim(2).flatten(1, 2)),
            Op::Flatten => Activations::Vector(x.into_vector()),
            Op::Dense { .. } => {
                let Some(Slot::Dense(i)) = slot else { panic!("{name}: no dense weights") };
                Activations::Vector(layers::dense(x.into_vector(), &w.denses[i]))
            }
            Op::Slice { begin, end } => match x {
                Activations::Map(t) => {
                    Activations::Map(contiguous_grad(t.narrow(1, *begin as usize, (*end - *begin) as usize)))
                }
                Activations::Vector(t) => Activations::Vector(t.narrow(1, *begin as usize, (*end - *begin) as usize)),
            },
            Op::ChannelShuffle { groups } => Activations::Map(layers::channel_shuffle(x.map(name), *groups)),
            Op::Dropout { p } => match (mode, x) {
                (Mode::Train, Activations::Map(t)) if *p > 0.0 => Activations::Map(dropout(t, *p)),
                (Mode::Train, Activations::Vector(t)) if *p > 0.0 => Activations::Vector(dropout(t, *p)),
                (_, v) => v,
            },
            Op::Select { .. } | Op::Concat | Op::Add => unreachable!("handled above"),
        }
    }

    /// The weights as host data under the IR's weight keys, for the back ends.
    pub fn to_store(&self) -> crate::ir::store::WeightStore {
        self.store_where(|_| true)
    }

    /// The weights graph `g` reads (an architecture of this network's space), as host data:
    /// a path's share of a supernet's weights, for a back end that runs that path.
    pub fn store_of(&self, g: &Graph) -> crate::ir::store::WeightStore {
        let keys: std::collections::HashSet<&str> =
            g.nodes.node_weights().filter_map(|n| n.weights.as_deref()).collect();
        self.store_where(|k| keys.contains(k))
    }

    fn store_where(&self, wanted: impl Fn(&str) -> bool) -> crate::ir::store::WeightStore {
        fn host<B: Backend, const D: usize>(t: Tensor<B, D>) -> (Vec<usize>, Vec<f32>) {
            (t.dims().to_vec(), t.into_data().convert::<f32>().to_vec().expect("f32 data"))
        }
        let mut store = crate::ir::store::WeightStore::default();
        let mut put =
            |key: &str, part: &str, (shape, data): (Vec<usize>, Vec<f32>)| store.insert(key, part, shape, data);
        let w = &self.weights;
        for s in self.plan.slots.iter().filter(|s| wanted(&s.key)) {
            match s.slot {
                Slot::Conv(i) => {
                    put(&s.key, "weight", host(w.convs[i].weight.val()));
                    if let Some(b) = &w.convs[i].bias {
                        put(&s.key, "bias", host(b.val()));
                    }
                }
                Slot::Dense(i) => {
                    put(&s.key, "weight", host(w.denses[i].weight.val()));
                    if let Some(b) = &w.denses[i].bias {
                        put(&s.key, "bias", host(b.val()));
                    }
                }
                Slot::Norm(i) => {
                    let n = &w.norms[i];
                    if let Some(g) = &n.gamma {
                        put(&s.key, "gamma", host(g.val()));
                    }
                    if let Some(b) = &n.beta {
                        put(&s.key, "beta", host(b.val()));
                    }
                    put(&s.key, "running_mean", host(n.running_mean.value_sync()));
                    put(&s.key, "running_var", host(n.running_var.value_sync()));
                }
            }
        }
        store
    }

    /// Replace every weight by the store's tensor under the same key (each checked against the
    /// shape this network holds): the inverse of [`Supernet::to_store`].
    pub fn load_store(&mut self, store: &crate::ir::store::WeightStore) -> Result<(), WeightError> {
        fn load<B: Backend, const D: usize>(
            store: &crate::ir::store::WeightStore,
            key: &str,
            part: &str,
            like: Tensor<B, D>,
        ) -> Result<Tensor<B, D>, WeightError> {
            let t = store.get(key, part).ok_or_else(|| WeightError::missing(key, part))?;
            let dims = like.dims();
            if t.shape != dims {
                let (key, part) = (key.to_string(), part.to_string());
                return Err(WeightError::Shape {
                    key,
                    part,
                    held: format!("{:?}", t.shape),
                    wanted: format!("{dims:?}"),
                });
            }
            let data = burn::tensor::TensorData::new(t.data.clone(), dims);
            Ok(Tensor::from_data(data, &like.device()))
        }
        use burn::module::{Param, RunningState};
        // A copy (tensors are shared, not duplicated): a failure leaves this network as it was.
        let mut w = self.weights.clone();
        for s in &self.plan.slots {
            let k = s.key.as_str();
            match s.slot {
                Slot::Conv(i) => {
                    let c = &mut w.convs[i];
                    c.weight = Param::from_tensor(load(store, k, "weight", c.weight.val())?);
                    if let Some(b) = &c.bias {
                        c.bias = Some(Param::from_tensor(load(store, k, "bias", b.val())?));
                    }
                }
                Slot::Dense(i) => {
                    let d = &mut w.denses[i];
                    d.weight = Param::from_tensor(load(store, k, "weight", d.weight.val())?);
                    if let Some(b) = &d.bias {
                        d.bias = Some(Param::from_tensor(load(store, k, "bias", b.val())?));
                    }
                }
                Slot::Norm(i) => {
                    let n = &mut w.norms[i];
                    if let Some(g) = &n.gamma {
                        n.gamma = Some(Param::from_tensor(load(store, k, "gamma", g.val())?));
                    }
                    if let Some(b) = &n.beta {
                        n.beta = Some(Param::from_tensor(load(store, k, "beta", b.val())?));
                    }
                    n.running_mean = RunningState::new(load(store, k, "running_mean", n.running_mean.value_sync())?);
                    n.running_var = RunningState::new(load(store, k, "running_var", n.running_var.value_sync())?);
                }
            }
        }
        self.set_weights(w);
        Ok(())
    }

    /// Trainable parameters actually held by this network.
    pub fn param_count(&self) -> u64 {
        self.weights.param_count()
    }

    /// The fixed network of an architecture: the pinned graph, with copies of this supernet's
    /// weights (the pinned nodes keep their weight keys, so each finds its slot by key).
    pub fn extract(&self, a: &Assignment) -> Result<Supernet<B>, PinError> {
        let plan = NetPlan::new(pin(&self.plan.graph, a)?);
        let w = &self.weights;
        let mut weights = Weights { convs: vec![], denses: vec![], norms: vec![] };
        for s in &plan.slots {
            let from = self.plan.slot_spec(&s.key).expect("pinned nodes keep their weight keys").slot;
            match from {
                Slot::Conv(i) => weights.convs.push(w.convs[i].deep_copy()),
                Slot::Dense(i) => weights.denses.push(w.denses[i].deep_copy()),
                Slot::Norm(i) => weights.norms.push(w.norms[i].deep_copy()),
            }
        }
        let mut net = Supernet::from_parts(Arc::new(plan), weights, self.binary_kernels);
        net.packed_training = self.packed_training;
        Ok(net)
    }
}

impl<B: AutodiffBackend> Supernet<B> {
    /// The same network on the inner backend, without autodiff (for evaluation).
    pub fn valid(&self) -> Supernet<B::InnerBackend> {
        Supernet::from_parts(self.plan.clone(), self.weights.valid(), self.binary_kernels)
    }
}

fn combine<B: Backend>(op: &Op, args: Vec<Activations<B>>) -> Activations<B> {
    let maps: Option<Vec<Tensor<B, 4>>> =
        args.iter().map(|a| if let Activations::Map(t) = a { Some(t.clone()) } else { None }).collect();
    match (op, maps) {
        (Op::Concat, Some(m)) => Activations::Map(match super::cpu_ops::concat::concat_train(m) {
            Ok(y) => y,
            Err(m) => Tensor::cat(m.into_iter().map(contiguous_grad).collect(), 1),
        }),
        (Op::Add, Some(m)) => Activations::Map(m.into_iter().reduce(|a, b| a + b).expect("add has inputs")),
        (op, None) => {
            let v: Vec<Tensor<B, 2>> = args.into_iter().map(Activations::into_vector).collect();
            match op {
                Op::Concat => Activations::Vector(Tensor::cat(v, 1)),
                _ => Activations::Vector(v.into_iter().reduce(|a, b| a + b).expect("add has inputs")),
            }
        }
        _ => unreachable!("combine is called for concat and add"),
    }
}

/// The identity, through a reshape pair: a reshape of a strided tensor makes it contiguous, in the
/// forward (after a slice) and in the backward (concat hands each input a strided slice of the
/// gradient). Elementwise ops on strided tensors take an element-by-element path on the CPU
/// backend that cost about a quarter of a training step.
fn contiguous_grad<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h * w]).reshape([n, c, h, w])
}

/// Inverted dropout: zero with probability p, scale the rest by 1 / (1 - p).
fn dropout<B: Backend, const D: usize>(x: Tensor<B, D>, p: f64) -> Tensor<B, D> {
    let keep = Tensor::<B, D>::random(x.shape(), Distribution::Bernoulli(1.0 - p), &x.device());
    x * keep / (1.0 - p)
}
