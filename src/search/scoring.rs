//! Scoring architectures with the shared weights: one function for the controller's rewards, the
//! random baseline, the per-epoch validation of the argmax, `train`'s shared-weight score and
//! `bench ranking`, so all of them see the same number for the same architecture.
//!
//! Single-path training leaves each batch norm's running statistics an average over every path
//! that passed through it, which is the wrong normalisation for any one path; in a binary network
//! a batch norm sits right before each sign, so a wrong mean flips activations. How batch norm
//! normalises at scoring time is therefore a choice ([`BatchNormScoring`]).
//!
//! On the CPU (burn's Flex) with `binary_kernels` on, a path is scored by the native plan of its
//! architecture (`back::native`, lowered from the path's share of the weights), on running or
//! batch statistics as the setting says; recalibration itself stays on burn (it updates the
//! running statistics the plan then reads).

use std::sync::Arc;

use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{ElementConversion as _, Int, Tensor};
use serde::{Deserialize, Serialize};

use super::RunError;
use crate::back::native;
use crate::data::loader::{Batch, BatchPlan, stream};
use crate::data::{Dataset, Norm};
use crate::ir::pin::{Assignment, pin};
use crate::net::train::{correct, to_tensors};
use crate::net::{Mode, Supernet};

/// Batch norm when a sampled path is scored.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum BatchNormScoring {
    /// The running statistics of supernet training (AutoGluon's and so LightNAS's choice).
    Running,
    /// Each scored batch's own statistics, nothing updated (ENAS's micro search).
    Batch,
    /// The path's running statistics recomputed from `calibration_batches` training batches
    /// (forward only, no gradients), then used (SPOS, NAS-BNN).
    Recalibrate,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ScoringConfig {
    pub batch_norm: BatchNormScoring,
    /// Training batches (of the search's batch size, not augmented) per recalibration.
    pub calibration_batches: usize,
    /// Validation batches each candidate of one controller update is scored on.
    pub reward_batches: usize,
    /// Every candidate of one update is scored on the same validation batches, so candidates
    /// are compared on equal data; off, candidate i takes the i-th batch (the old behaviour).
    pub same_batches: bool,
    /// Candidates the search's end scores on the whole validation split: the policy's own pick
    /// and its next best (ENAS: controller samples; random search: its best scored; evolution:
    /// its survivors). The best on the run's objective is the result, so every policy ends the
    /// same way. 1: the policy's own pick, unchecked.
    pub finalists: usize,
}

impl Default for ScoringConfig {
    fn default() -> Self {
        ScoringConfig {
            batch_norm: BatchNormScoring::Batch,
            calibration_batches: 4,
            reward_batches: 2,
            same_batches: true,
            finalists: 8,
        }
    }
}

impl ScoringConfig {
    /// What the search did before these settings existed.
    pub fn legacy() -> Self {
        ScoringConfig {
            batch_norm: BatchNormScoring::Running,
            calibration_batches: 4,
            reward_batches: 1,
            same_batches: false,
            finalists: 1,
        }
    }

    pub fn validate(&self) -> Result<(), RunError> {
        let bad = |why: &str| Err(RunError::Config(why.into()));
        if self.reward_batches == 0 {
            return bad("`scoring.reward_batches` must be at least 1");
        }
        if self.finalists == 0 {
            return bad("`scoring.finalists` must be at least 1 (1: the policy's own pick)");
        }
        if self.batch_norm == BatchNormScoring::Recalibrate && self.calibration_batches == 0 {
            return bad("`scoring.batch_norm: recalibrate` needs `scoring.calibration_batches` of at least 1");
        }
        Ok(())
    }
}

/// Up to `n` training batches of `plan.1` images (normalised by `plan.0`, not augmented),
/// drawn by `(seed, epoch, index)` so a resumed run draws the same ones.
pub fn calibration_batches(train: &Dataset, plan: (&Norm, usize), n: usize, draw: (u64, u64, u64)) -> Vec<Batch> {
    let (seed, epoch, b) = draw;
    let batches = BatchPlan {
        norm: plan.0.clone(),
        batch: plan.1,
        augment: false,
        drop_last: true,
        shuffle: Some(stream(seed, 7, epoch, b)),
    };
    let order = batches.order(train.len(), 0);
    let n = batches.batches(train.len()).clamp(1, n);
    (0..n)
        .map(|k| {
            let idx = &order[k * plan.1..((k + 1) * plan.1).min(order.len())];
            batches.make(train, idx, 0, k as u64)
        })
        .collect()
}

/// Recompute path `a`'s batch-norm running statistics as the average over `batches` (forward
/// only), so `Mode::Eval` then normalises as this path's own training would have.
pub fn recalibrate<B: Backend>(net: &Supernet<B>, a: &Assignment, batches: &[Batch], device: &B::Device) {
    for (k, b) in batches.iter().enumerate() {
        let (x, _) = to_tensors::<B>(b.clone(), device);
        drop(net.logits(x, a, Mode::Calibrate(k as u32)).into_data());
    }
}

/// A forward-only copy of the shared weights (with its own running statistics, so scoring never
/// touches the training network's), and the training batches recalibration runs on.
pub struct Scorer<B: Backend> {
    pub net: Supernet<B>,
    cfg: ScoringConfig,
    calibration: Vec<Batch>,
    device: B::Device,
    /// Score through the native plan (the CPU backend, binary kernels on).
    native: bool,
}

impl<B: Backend> Scorer<B> {
    /// `net` must be a copy of its own (`Supernet::valid()` makes one). Calibration batches come
    /// from `train`, drawn by `(seed, epoch, index)`, so they are the same on resume.
    pub fn new(
        net: Supernet<B>,
        cfg: &ScoringConfig,
        train: &Arc<Dataset>,
        plan: (&Norm, usize),
        draw: (u64, u64, u64),
        device: &B::Device,
    ) -> Self {
        let calibration = match cfg.batch_norm {
            BatchNormScoring::Recalibrate => calibration_batches(train, plan, cfg.calibration_batches, draw),
            _ => vec![],
        };
        let native = net.binary_kernels && std::any::TypeId::of::<B>() == std::any::TypeId::of::<burn::backend::Flex>();
        Scorer { net, cfg: cfg.clone(), calibration, device: device.clone(), native }
    }

    /// Prepare the network for scoring `a`: recalibrate the path's batch norms where asked.
    /// Returns the mode to score in.
    fn prepare(&self, a: &Assignment) -> Mode {
        match self.cfg.batch_norm {
            BatchNormScoring::Running => Mode::Eval,
            BatchNormScoring::Batch => Mode::Batch,
            BatchNormScoring::Recalibrate => {
                recalibrate(&self.net, a, &self.calibration, &self.device);
                Mode::Eval
            }
        }
    }

    /// The native plan of path `a` scoring in `mode`, where the plan applies (else burn scores).
    fn native_plan(&self, a: &Assignment, mode: Mode) -> Option<native::Plan> {
        let norm = match mode {
            Mode::Eval => native::NormMode::Running,
            Mode::Batch => native::NormMode::Batch,
            Mode::Train | Mode::Calibrate(_) => return None,
        };
        if !self.native {
            return None;
        }
        let g = pin(&self.net.plan.graph, a).ok()?;
        let store = self.net.store_of(&g);
        native::lower_with(&g, &store, norm).ok().map(native::Plan::new)
    }

    /// Correct predictions and images of architecture `a` over `batches`.
    pub fn hits(&self, a: &Assignment, batches: impl IntoIterator<Item = Batch>) -> (usize, usize) {
        let mode = self.prepare(a);
        if let Some(mut plan) = self.native_plan(a, mode) {
            let (mut hits, mut n) = (0, 0);
            for b in batches {
                n += b.n;
                let classes = plan.classify(&b.pixels, b.n);
                hits += classes.iter().zip(&b.labels).filter(|(c, y)| **c as i64 == **y).count();
            }
            return (hits, n);
        }
        let (mut hits, mut n) = (0, 0);
        for b in batches {
            n += b.n;
            let (x, y) = to_tensors::<B>(b, &self.device);
            hits += correct(self.net.logits(x, a, mode), y);
        }
        (hits, n)
    }

    /// Accuracy of `a` over all of `ds` (no augmentation, file order).
    pub fn accuracy(&self, a: &Assignment, ds: &Arc<Dataset>, norm: &Norm, batch: usize) -> f64 {
        let plan = BatchPlan { norm: norm.clone(), batch, augment: false, drop_last: false, shuffle: None };
        let (hits, n) = self.hits(a, plan.stream(ds.clone(), 0, 0));
        hits as f64 / n.max(1) as f64
    }

    /// Accuracy and mean log-probability of the label of `a` over all of `ds` (no
    /// augmentation, file order), in one pass. The likelihood is the finer score: every image
    /// adds a real number where accuracy adds 0 or 1, so it tells apart paths whose accuracies
    /// differ by a few images.
    pub fn tally(&self, a: &Assignment, ds: &Arc<Dataset>, norm: &Norm, batch: usize) -> Tally {
        let plan = BatchPlan { norm: norm.clone(), batch, augment: false, drop_last: false, shuffle: None };
        let mode = self.prepare(a);
        let mut t = Tally::default();
        if let Some(mut native) = self.native_plan(a, mode) {
            for b in plan.stream(ds.clone(), 0, 0) {
                let logits = native.run(&b.pixels, b.n);
                for (row, &y) in logits.chunks((logits.len() / b.n.max(1)).max(1)).zip(&b.labels) {
                    t.hits += usize::from(native::argmax(row) == y as usize);
                    t.log_likelihood += log_softmax_at(row, y as usize);
                }
                t.n += b.n;
            }
        } else {
            for b in plan.stream(ds.clone(), 0, 0) {
                t.n += b.n;
                let (x, y) = to_tensors::<B>(b, &self.device);
                let logits = self.net.logits(x, a, mode);
                t.hits += correct(logits.clone(), y.clone());
                t.log_likelihood += log_likelihood_sum(logits, y);
            }
        }
        t
    }
}

/// What scoring a path over a dataset counted.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tally {
    pub hits: usize,
    pub n: usize,
    /// The sum over images of the log-probability (natural log) of the label.
    pub log_likelihood: f64,
}

impl Tally {
    pub fn accuracy(&self) -> f64 {
        self.hits as f64 / self.n.max(1) as f64
    }

    pub fn mean_log_likelihood(&self) -> f64 {
        self.log_likelihood / self.n.max(1) as f64
    }
}

/// `log softmax(row)[y]`, in f64 with the maximum subtracted first.
fn log_softmax_at(row: &[f32], y: usize) -> f64 {
    let max = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
    let log_sum = row.iter().map(|&v| (v as f64 - max).exp()).sum::<f64>().ln();
    row[y] as f64 - max - log_sum
}

/// The sum over a batch of each image's log-probability of its label (one read to the host).
fn log_likelihood_sum<B: Backend>(logits: Tensor<B, 2>, labels: Tensor<B, 1, Int>) -> f64 {
    let n = labels.dims()[0];
    let picked = log_softmax(logits, 1).gather(1, labels.reshape([n, 1]));
    crate::net::gpu::note_read(std::mem::size_of::<B::FloatElem>());
    picked.sum().into_scalar().elem::<f64>()
}
