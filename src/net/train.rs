//! One training step of a network on a path: the loss, its gradients, and an optimiser update in
//! two parameter groups (binary conv weights take no weight decay, as BMXNet's `wd_mult = 0`).
//! Parameters off the path get no gradient, so the optimiser leaves them and their state alone.

use burn::module::ParamId;
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::activation::log_softmax;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Int, Tensor, TensorData};

use super::NetError;
use super::layers::Mode;
use super::supernet::Supernet;
use super::weights::{Slot, Weights};
use crate::data::loader::Batch;
use crate::ir::pin::Assignment;

/// A batch as burn tensors: images `[n, c, h, w]` and labels.
pub fn to_tensors<B: Backend>(b: Batch, device: &B::Device) -> (Tensor<B, 4>, Tensor<B, 1, Int>) {
    let [c, h, w] = b.shape;
    let x = Tensor::from_data(TensorData::new(b.pixels, [b.n, c, h, w]), device);
    let y = Tensor::from_data(TensorData::new(b.labels, [b.n]), device);
    (x, y)
}

/// Mean cross-entropy of logits `[N, classes]` against labels `[N]`.
pub fn cross_entropy<B: Backend>(logits: Tensor<B, 2>, labels: Tensor<B, 1, Int>) -> Tensor<B, 1> {
    let n = labels.dims()[0];
    log_softmax(logits, 1).gather(1, labels.reshape([n, 1])).mean().neg()
}

/// Number of rows whose argmax equals the label.
pub fn correct<B: Backend>(logits: Tensor<B, 2>, labels: Tensor<B, 1, Int>) -> usize {
    let n = labels.dims()[0];
    let hits = logits.argmax(1).reshape([n]).equal(labels).int().sum().into_scalar().elem::<i64>() as usize;
    super::gpu::note_read(std::mem::size_of::<B::IntElem>());
    hits
}

/// Two optimisers of one kind: `decayed` for every parameter but the binary conv weights, which
/// `plain` (the same optimiser without weight decay) updates.
#[derive(Clone)]
pub struct GroupedOptimizer<O> {
    pub decayed: O,
    pub plain: O,
    plain_ids: Vec<ParamId>,
}

impl<O> GroupedOptimizer<O> {
    pub fn new<B: Backend>(net: &Supernet<B>, decayed: O, plain: O) -> Self {
        let plain_ids = net
            .plan
            .slots
            .iter()
            .filter_map(|s| match s.slot {
                Slot::Conv(i) if s.binary => Some(net.weights.convs[i].weight.id),
                _ => None,
            })
            .collect();
        GroupedOptimizer { decayed, plain, plain_ids }
    }

    pub fn step<B>(&mut self, lr: f64, weights: Weights<B>, mut grads: GradientsParams) -> Weights<B>
    where
        B: AutodiffBackend,
        O: Optimizer<Weights<B>, B>,
    {
        let mut plain = GradientsParams::new();
        for &id in &self.plain_ids {
            if let Some(g) = grads.remove::<B::InnerBackend, 4>(id) {
                plain.register(id, g);
            }
        }
        let weights = self.decayed.step(lr, weights, grads);
        if plain.is_empty() { weights } else { self.plain.step(lr, weights, plain) }
    }
}

/// The outcome of one step.
#[derive(Clone, Copy, Debug)]
pub struct StepStats {
    pub loss: f64,
    pub correct: usize,
}

/// Forward the batch on path `a` in train mode and backpropagate `scale` times its mean loss
/// (a data-parallel share scales by its part of the whole batch). The stats hold the unscaled
/// mean loss; `None` instead of gradients when it is not finite.
pub fn gradients<B: AutodiffBackend>(
    net: &Supernet<B>,
    x: Tensor<B, 4>,
    labels: Tensor<B, 1, Int>,
    a: &Assignment,
    scale: f64,
) -> (Option<GradientsParams>, StepStats) {
    let logits = net.logits(x, a, Mode::Train);
    let correct = correct(logits.clone().detach(), labels.clone());
    let loss = cross_entropy(logits, labels);
    let value: f64 = loss.clone().into_scalar().elem();
    super::gpu::note_read(std::mem::size_of::<B::FloatElem>());
    let grads = value.is_finite().then(|| {
        let loss = if scale == 1.0 { loss } else { loss.mul_scalar(scale) };
        GradientsParams::from_grads(loss.backward(), &net.weights)
    });
    (grads, StepStats { loss: value, correct })
}

/// An optimiser of the shared weights that a run can hold, clone for the two parameter groups
/// and hand to data-parallel replicas on other threads.
pub trait TrainOptimizer<B: AutodiffBackend>: Optimizer<Weights<B>, B> + Clone + Send + 'static {}

impl<B: AutodiffBackend, O: Optimizer<Weights<B>, B> + Clone + Send + 'static> TrainOptimizer<B> for O {}

/// Apply `grads` to the network's weights.
pub fn apply<B, O>(net: &mut Supernet<B>, optim: &mut GroupedOptimizer<O>, lr: f64, grads: GradientsParams)
where
    B: AutodiffBackend,
    O: Optimizer<Weights<B>, B>,
{
    let weights = net.take_weights();
    net.set_weights(optim.step(lr, weights, grads));
}

/// Forward the batch on path `a` in train mode, backpropagate, update. Errors (without changing
/// the weights) if the loss is not finite.
pub fn train_step<B, O>(
    net: &mut Supernet<B>,
    optim: &mut GroupedOptimizer<O>,
    lr: f64,
    x: Tensor<B, 4>,
    labels: Tensor<B, 1, Int>,
    a: &Assignment,
) -> Result<StepStats, NetError>
where
    B: AutodiffBackend,
    O: Optimizer<Weights<B>, B>,
{
    let (grads, stats) = gradients(net, x, labels, a, 1.0);
    apply(net, optim, lr, grads.ok_or(NetError::NotFinite { loss: stats.loss })?);
    Ok(stats)
}
