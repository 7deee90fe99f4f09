//! Data-parallel training of the shared weights (`--device cuda:0,1,2,3`): one replica of the
//! network and its optimiser per device, each extra one in its own thread, the main one on the
//! caller's. A step splits the batch into consecutive shares; every replica runs forward and
//! backward on its share along the same architecture, with its loss scaled by its share of the
//! batch; burn-collective's all-reduce sums the gradients; every replica applies the same update,
//! so the replicas stay equal and the main one is the network. The summed gradient is that of the
//! mean loss over the whole batch: the update one device would make on the concatenated batch, up
//! to float rounding -- except through batch norm, which in train mode normalises each share by
//! its own statistics (as burn's and PyTorch's DDP without SyncBatchNorm do). Each replica keeps
//! its own running statistics; evaluation and checkpoints use the main one's.
//!
//! With one device there are no replicas and no collective: a step is `train::train_step`.

use std::marker::PhantomData;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;

use burn::collective::{self, CollectiveConfig, PeerId, ReduceOperation};
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;

use super::NetError;
use super::supernet::Supernet;
use super::train::to_tensors;
use super::train::{GroupedOptimizer, StepStats, TrainOptimizer, apply, gradients};
use super::weights::Weights;
use crate::data::loader::Batch;
use crate::ir::pin::Assignment;
use crate::ir::store::WeightStore;

/// What the main thread asks of a replica.
enum Order {
    /// Forward and backward on a share, then wait for [`Order::Apply`].
    Compute { share: Batch, a: Assignment, scale: f64 },
    /// All shares' losses were finite (`Some(lr)`): all-reduce, step and reply; or drop the
    /// gradients without a reply.
    Apply(Option<f64>),
    /// Send back the replica's weights.
    Weights,
}

enum Reply {
    Computed(StepStats),
    Applied(Result<(), NetError>),
    Weights(WeightStore),
}

struct Replica {
    orders: Sender<Order>,
    replies: Receiver<Reply>,
    thread: Option<JoinHandle<()>>,
}

/// The main network's partners on the other devices.
pub struct DataParallel<B: AutodiffBackend> {
    replicas: Vec<Replica>,
    backend: PhantomData<fn() -> B>,
}

fn collective_error(e: collective::CollectiveError) -> NetError {
    NetError::AllReduce(format!("{e:?}"))
}

/// Sum `grads` over every peer (the gradient of the whole batch's mean loss).
fn all_reduce<B: AutodiffBackend>(grads: GradientsParams, peer: u32) -> Result<GradientsParams, NetError> {
    grads.all_reduce::<B::InnerBackend>(PeerId(peer), ReduceOperation::Sum).map_err(collective_error)
}

impl<B: AutodiffBackend> DataParallel<B> {
    /// Replicas of `net` and `optim` (their current weights and optimiser state) on `others`,
    /// the devices after the main one.
    pub fn start<O>(net: &Supernet<B>, optim: &GroupedOptimizer<O>, main: &B::Device, others: &[B::Device]) -> Self
    where
        O: TrainOptimizer<B>,
    {
        if others.is_empty() {
            return DataParallel { replicas: vec![], backend: PhantomData };
        }
        let config = CollectiveConfig::default().with_num_devices(others.len() + 1);
        collective::reset_collective::<B::InnerBackend>();
        let replicas = others
            .iter()
            .enumerate()
            .map(|(k, device)| {
                let peer = k as u32 + 1;
                let net = Supernet::from_parts(net.plan.clone(), net.weights.replica(device), false);
                let (optim, device, config) = (optim.clone(), device.clone(), config.clone());
                let (orders, their_orders) = channel();
                let (their_replies, replies) = channel();
                let thread = std::thread::Builder::new()
                    .name(format!("replica-{peer}"))
                    .spawn(move || serve::<B, O>(peer, net, optim, device, config, their_orders, their_replies))
                    .expect("spawning a replica thread");
                Replica { orders, replies, thread: Some(thread) }
            })
            .collect();
        // Registration waits for every peer, so the replicas' threads must exist first.
        collective::register::<B::InnerBackend>(PeerId(0), main.clone(), config).expect("registering the main device");
        DataParallel { replicas, backend: PhantomData }
    }

    /// Each replica's weights and running statistics (to check that they stay in lockstep).
    pub fn replica_weights(&self) -> Result<Vec<WeightStore>, NetError> {
        self.replicas
            .iter()
            .map(|r| {
                r.orders.send(Order::Weights).map_err(|_| lost())?;
                match r.replies.recv() {
                    Ok(Reply::Weights(w)) => Ok(w),
                    _ => Err(lost()),
                }
            })
            .collect()
    }

    /// How many devices train.
    pub fn devices(&self) -> usize {
        self.replicas.len() + 1
    }

    /// One step on `batch` along `a`: every device computes its share, then all update alike.
    /// Errors, with no weights changed anywhere, if any share's loss is not finite.
    pub fn step<O>(
        &mut self,
        net: &mut Supernet<B>,
        optim: &mut GroupedOptimizer<O>,
        lr: f64,
        batch: Batch,
        a: &Assignment,
        device: &B::Device,
    ) -> Result<StepStats, NetError>
    where
        O: Optimizer<Weights<B>, B>,
    {
        let total = batch.n as f64;
        if batch.n < self.devices() {
            return Err(NetError::Split { batch: batch.n, devices: self.devices() });
        }
        let mut shares = batch.split(self.devices()).into_iter();
        let mine = shares.next().expect("at least one share");
        let mut scales = vec![mine.n as f64 / total];
        for (r, share) in self.replicas.iter().zip(shares) {
            let scale = share.n as f64 / total;
            scales.push(scale);
            r.orders.send(Order::Compute { share, a: a.clone(), scale }).map_err(|_| lost())?;
        }
        let (x, y) = to_tensors::<B>(mine, device);
        let (grads, own) = gradients(net, x, y, a, scales[0]);
        let mut stats = vec![own];
        for r in &self.replicas {
            match r.replies.recv() {
                Ok(Reply::Computed(s)) => stats.push(s),
                _ => return Err(lost()),
            }
        }
        // The whole batch's mean loss and hits.
        let loss: f64 = stats.iter().zip(&scales).map(|(s, w)| s.loss * w).sum();
        let correct = stats.iter().map(|s| s.correct).sum();
        let go = grads.filter(|_| loss.is_finite());
        for r in &self.replicas {
            r.orders.send(Order::Apply(go.as_ref().map(|_| lr))).map_err(|_| lost())?;
        }
        let grads = go.ok_or(NetError::NotFinite { loss })?;
        let grads = if self.replicas.is_empty() { grads } else { all_reduce::<B>(grads, 0)? };
        apply(net, optim, lr, grads);
        for r in &self.replicas {
            match r.replies.recv() {
                Ok(Reply::Applied(result)) => result?,
                _ => return Err(lost()),
            }
        }
        Ok(StepStats { loss, correct })
    }
}

fn lost() -> NetError {
    NetError::ReplicaLost
}

/// A replica's thread: compute when told, then all-reduce and step (or not) in lockstep with the
/// main device, until the main side hangs up.
fn serve<B, O>(
    peer: u32,
    mut net: Supernet<B>,
    mut optim: GroupedOptimizer<O>,
    device: B::Device,
    config: CollectiveConfig,
    orders: Receiver<Order>,
    replies: Sender<Reply>,
) where
    B: AutodiffBackend,
    O: Optimizer<Weights<B>, B>,
{
    if collective::register::<B::InnerBackend>(PeerId(peer), device.clone(), config).is_err() {
        return; // the main side sees the hang-up
    }
    while let Ok(order) = orders.recv() {
        let (share, a, scale) = match order {
            Order::Compute { share, a, scale } => (share, a, scale),
            Order::Weights => {
                if replies.send(Reply::Weights(net.to_store())).is_err() {
                    break;
                }
                continue;
            }
            Order::Apply(_) => break, // out of order: the main side is confused; stop
        };
        let (x, y) = to_tensors::<B>(share, &device);
        let (grads, stats) = gradients(&net, x, y, &a, scale);
        if replies.send(Reply::Computed(stats)).is_err() {
            break;
        }
        let Ok(Order::Apply(decision)) = orders.recv() else { break };
        // Told to drop the gradients: nothing to report.
        let (Some(lr), Some(grads)) = (decision, grads) else { continue };
        let result = all_reduce::<B>(grads, peer).map(|g| apply(&mut net, &mut optim, lr, g));
        if replies.send(Reply::Applied(result)).is_err() {
            break;
        }
    }
    let _ = collective::finish_collective::<B::InnerBackend>(PeerId(peer));
}

impl<B: AutodiffBackend> Drop for DataParallel<B> {
    fn drop(&mut self) {
        if self.replicas.is_empty() {
            return;
        }
        // Dropping each replica's order channel ends its loop.
        let threads: Vec<_> = self.replicas.drain(..).filter_map(|mut r| r.thread.take()).collect();
        for t in threads {
            let _ = t.join();
        }
        let _ = collective::finish_collective::<B::InnerBackend>(PeerId(0));
    }
}
