//! ENAS search (docs/original.md §1, its bugs fixed): a new sampled architecture for every training
//! batch; a controller update every `update_arch_frequency` batches on `controller.batch_size`
//! architectures, each scored on one validation batch; REINFORCE over the whole controller batch
//! with an EMA baseline; after each epoch, the argmax architecture validated on the whole
//! validation split. Rewards come from a validation split of the training set; the test set is
//! used once at the end (and each epoch if asked), never for rewards.

pub mod checkpoint;
pub mod config;
pub mod controller;
mod error;
pub mod latency;
mod policy;
pub mod run;
mod run_loop;
pub mod scoring;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use burn::optim::SgdConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::tensor::backend::{AutodiffBackend, Backend};
use serde::Serialize;

use crate::data::loader::{BatchPlan, stream};
use crate::data::{Dataset, Norm};
use crate::export::ModelFormat;
use crate::ir::Graph;
use crate::ir::decisions::Decisions;
use crate::ir::pin::Assignment;
use crate::net::device::BackendJob;
use crate::net::optim::FusedAdam;
use crate::net::parallel::DataParallel;
use crate::net::train::TrainOptimizer;
use crate::net::weights::Weights;
use crate::net::{NetError, Supernet};
use crate::tensorboard::EventWriter;
use crate::util::SplitMix64;
use config::{OptimizerKind, SearchConfig};
pub use error::RunError;
use latency::LatencyTable;
use run_loop::Epochs;
use scoring::Scorer;

/// Everything a search needs, prepared without a backend.
pub struct SearchJob {
    pub cfg: SearchConfig,
    pub graph: Graph,
    pub norm: Norm,
    pub train: Arc<Dataset>,
    pub val: Arc<Dataset>,
    pub test: Arc<Dataset>,
    pub run_dir: PathBuf,
    /// Continue from the run folder's checkpoint.
    pub resume: bool,
    /// The run's spec (its copy in the run folder), which pins written there name, and the space
    /// arguments they repeat.
    pub spec: PathBuf,
    /// The model formats the run writes, checked against its graph when it was configured.
    pub formats: Vec<ModelFormat>,
    pub space_args: Vec<(String, String)>,
    /// Stop (as if killed) after this many training steps in this process: for tests of resume.
    pub stop_after: Option<u64>,
    /// `policy: fixed` with a `source_run`: the architecture in the source run's space.
    pub source_arch: Option<Assignment>,
    /// `policy: fixed`: the trained architecture's choices in its space (for the ledger).
    pub trained_arch: Vec<(String, String)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SearchOutcome {
    pub run_dir: PathBuf,
    pub argmax: Vec<(String, String)>,
    /// The same, as option indices per decision.
    pub actions: Vec<u32>,
    pub val_accuracy: f64,
    pub test_accuracy: Option<f64>,
    pub weights_digest: String,
    /// False when stopped early by `stop_after`.
    pub finished: bool,
    /// `lightnasc train` from a search run: the architecture's shared-weight validation accuracy.
    pub shared_weight_accuracy: Option<f64>,
}

impl BackendJob for SearchJob {
    type Output = Result<SearchOutcome, RunError>;

    fn run<B: AutodiffBackend>(self, devices: Vec<B::Device>) -> Self::Output {
        let o = &self.cfg.optimizer;
        let decay = (o.weight_decay > 0.0).then(|| WeightDecayConfig::new(o.weight_decay as f32));
        match o.kind {
            OptimizerKind::Adam => {
                let decayed = FusedAdam::init::<B, Weights<B>>(decay);
                self.run_with(devices, decayed, FusedAdam::init::<B, Weights<B>>(None))
            }
            OptimizerKind::Sgd => {
                let momentum = Some(MomentumConfig { momentum: o.momentum, dampening: 0.0, nesterov: false });
                let decayed =
                    SgdConfig::new().with_momentum(momentum.clone()).with_weight_decay(decay).init::<B, Weights<B>>();
                self.run_with(devices, decayed, SgdConfig::new().with_momentum(momentum).init::<B, Weights<B>>())
            }
        }
    }
}

/// The training images a run uses (`train_limit`) split into its training and validation parts
/// (`val_fraction`), both drawn by `data_seed` or else the seed: the same for every reader of
/// the run.
pub fn split_training(cfg: &SearchConfig, mut train: Dataset) -> Result<(Dataset, Dataset), RunError> {
    let seed = cfg.data_seed.unwrap_or(cfg.seed);
    if let Some(limit) = cfg.train_limit.filter(|&l| l < train.len()) {
        let mut idx: Vec<usize> = (0..train.len()).collect();
        crate::data::shuffle(&mut idx, &mut SplitMix64(seed ^ 0x6c69_6d69));
        idx.truncate(limit);
        idx.sort_unstable();
        train = train.select(&idx);
    }
    let (train, val) = crate::data::split_validation(&train, cfg.val_fraction, seed);
    if val.is_empty() {
        let why = format!("`val_fraction` {} of {} images leaves no validation data", cfg.val_fraction, train.len());
        return Err(RunError::Config(why));
    }
    Ok((train, val))
}

/// A digest of every parameter and running statistic (the weight store, in key order).
fn weights_digest<B: Backend>(net: &Supernet<B>) -> String {
    checkpoint::digest(net.to_store().tensors.values().flat_map(|t| t.data.iter().copied()))
}

impl SearchJob {
    /// The run, in the parts of `run_loop`: set up or resume, then each epoch's training and its
    /// end, then the result.
    fn run_with<B, O>(self, devices: Vec<B::Device>, decayed: O, plain: O) -> Result<SearchOutcome, RunError>
    where
        B: AutodiffBackend,
        O: TrainOptimizer<B>,
    {
        let cfg = &self.cfg;
        // The controller, evaluations and checkpoints live on the main device; the others hold
        // data-parallel replicas of the shared weights.
        let (device, others) = devices.split_first().expect("run_on gives at least one device");
        if cfg.batch_size < devices.len() {
            return Err(NetError::Split { batch: cfg.batch_size, devices: devices.len() }.into());
        }
        let mut r = self.start::<B, O>(device.clone(), decayed, plain)?;
        let parallel = DataParallel::start(&r.net, &r.optim, &r.device, others);
        let latency = self.latency_table(&r)?;
        let tb = EventWriter::create(&self.run_dir.join("tensorboard")).map_err(RunError::TensorBoard)?;
        let plan = BatchPlan {
            norm: self.norm.clone(),
            batch: cfg.batch_size,
            augment: cfg.augment,
            drop_last: true,
            shuffle: Some(cfg.seed),
        };
        let batches = plan.batches(self.train.len());
        if batches == 0 {
            let n = self.train.len();
            let why = format!("{n} training images make no batch of {}: lower --batch-size", cfg.batch_size);
            return Err(RunError::Config(why));
        }
        let total_steps = batches as u64 * cfg.epochs as u64;
        let mut e =
            Epochs { latency, tb, parallel, plan, batches, total_steps, last_save: Instant::now(), steps_here: 0 };
        while r.state.epoch < cfg.epochs && !r.state.finished {
            let started = Instant::now();
            let Some(archs) = self.train_epoch(&mut r, &mut e)? else { return Ok(self.stopped(&r)) };
            self.end_epoch(&mut r, &mut e, &archs, started)?;
        }
        self.finish(&r)
    }
}

/// What scoring architectures needs at one training batch: the shared weights, the decisions,
/// the latency table, and where in the run it is (which fixes the validation batches drawn).
pub(crate) struct Scoring<'a, B: AutodiffBackend> {
    pub net: &'a Supernet<B>,
    pub decisions: &'a Decisions,
    pub latency: &'a LatencyTable,
    pub epoch: u32,
    pub b: usize,
    pub device: &'a B::Device,
}

impl SearchJob {
    /// A scorer on `net` with the run's scoring settings; `(epoch, b)` draws its calibration batches.
    fn scorer<B: Backend>(&self, net: Supernet<B>, epoch: u64, b: u64, device: &B::Device) -> Scorer<B> {
        self.scorer_with(net, &self.cfg.scoring, epoch, b, device)
    }

    fn scorer_with<B: Backend>(
        &self,
        net: Supernet<B>,
        cfg: &scoring::ScoringConfig,
        epoch: u64,
        b: u64,
        device: &B::Device,
    ) -> Scorer<B> {
        let plan = (&self.norm, self.cfg.batch_size);
        Scorer::new(net, cfg, &self.train, plan, (self.cfg.seed, epoch, b), device)
    }

    /// The reward of each architecture on `scoring.reward_batches` validation batches drawn for
    /// this update: the same batches for every candidate (`same_batches`), or candidate i's own.
    /// The controller's REINFORCE signal, and the random baseline's ranking, on the same budget.
    pub(crate) fn score<B: AutodiffBackend>(&self, at: &Scoring<B>, archs: &[Vec<u32>]) -> Vec<f64> {
        let cfg = &self.cfg;
        let scorer = self.scorer(at.net.valid(), at.epoch as u64, at.b as u64, at.device);
        let plan = BatchPlan {
            norm: self.norm.clone(),
            batch: cfg.batch_size,
            augment: false,
            drop_last: false,
            shuffle: Some(stream(cfg.seed, 5, at.epoch as u64, at.b as u64)),
        };
        let order = plan.order(self.val.len(), 0);
        let nb = plan.batches(self.val.len()).max(1);
        let per = cfg.scoring.reward_batches;
        let batches_from = |first: usize| -> Vec<_> {
            (first..first + per)
                .map(|j| {
                    let k = j % nb;
                    let idx = &order[k * cfg.batch_size..((k + 1) * cfg.batch_size).min(order.len())];
                    plan.make(&self.val, idx, 0, k as u64)
                })
                .collect()
        };
        // Candidates that share their batches share one copy of them.
        let shared = cfg.scoring.same_batches.then(|| batches_from(0));
        archs
            .iter()
            .enumerate()
            .map(|(i, arch)| {
                let batches = shared.clone().unwrap_or_else(|| batches_from(i * per));
                let a = at.decisions.assignment(arch);
                let (hits, n) = scorer.hits(&a, batches);
                at.latency.reward(&cfg.reward, hits as f64 / n.max(1) as f64, &a)
            })
            .collect()
    }
}

fn progress(len: u64, epoch: u32, epochs: u32) -> crate::progress::Bar {
    let template = "{prefix} [{bar:30}] {human_pos}/{human_len} images, {per_sec}, ETA {eta} | {msg}";
    crate::progress::Bar::new(len, format!("epoch {}/{epochs}", epoch + 1), "images", template)
}
