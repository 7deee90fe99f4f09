//! How a search chooses architectures, one module per policy behind one interface: `enas` (the
//! LSTM controller and REINFORCE), `random` (uniform sampling, the best scored candidate kept),
//! `evolution` (uniform training, a population evolved on the scores, as SPOS) and `fixed` (one
//! pinned network: `lightnasc train`). The training loop in `search` calls
//! only this interface.

mod enas;
mod evolution;
mod fixed;
mod random;

use std::path::Path;

use burn::tensor::backend::AutodiffBackend;

use super::checkpoint::{Records, State};
use super::config::{Policy, SearchConfig};
use super::{RunError, Scoring, SearchJob};
use crate::data::loader::stream;
use crate::ir::decisions::Decisions;
use crate::tensorboard::EventWriter;
use crate::util::SplitMix64;

/// What a policy does at each point of the training loop.
pub(super) trait ArchPolicy<B: AutodiffBackend> {
    /// The architecture (option index per decision) of training batch `b` of `epoch`.
    fn sample(&self, epoch: u32, b: usize) -> Vec<u32>;
    /// At an update point: score candidates with the shared weights and learn from them.
    fn update(
        &mut self,
        job: &SearchJob,
        at: &Scoring<B>,
        state: &mut State,
        tb: &mut EventWriter,
    ) -> Result<(), RunError>;
    /// The architecture to validate after `epoch`, and the policy's option probabilities.
    fn argmax(&self, state: &State, epoch: u32) -> (Vec<u32>, Vec<Vec<f32>>);
    /// Up to `k` candidates for the search's end, best first by the policy's own measure (the
    /// end adds its argmax in front and scores them all on the whole validation split).
    fn finalists(&self, _state: &State, _k: usize) -> Vec<Vec<u32>> {
        vec![]
    }
    /// The policy's part of a checkpoint, and reading it back.
    fn records(&self) -> Result<Records, RunError>;
    fn load(&mut self, dir: &Path, state: &State, device: &B::Device) -> Result<(), RunError>;
    /// Whether it searches (a fixed network has no architecture to show or latency to trade).
    fn searches(&self) -> bool {
        true
    }
    /// The entropy of its choices after an epoch, where it has a distribution of its own.
    fn entropy(&self, _probs: &[Vec<f32>]) -> Option<f64> {
        None
    }
}

/// An update point's common bookkeeping: count it, and log the mean reward of its candidates;
/// the step the policy logs its own scalars at.
fn count_update(state: &mut State, tb: &mut EventWriter, rewards: &[f64]) -> Result<i64, RunError> {
    state.controller_updates += 1;
    let step = state.controller_updates as i64;
    tb.scalar("controller/reward", step, crate::stats::mean(rewards)).map_err(RunError::TensorBoard)?;
    Ok(step)
}

/// The uniform path of training batch `b` of `epoch`: random search and evolution train the
/// same paths, so with one seed they share their weights and differ only in how they choose.
fn uniform_path(decisions: &Decisions, seed: u64, epoch: u32, b: usize) -> Vec<u32> {
    decisions.uniform(&mut SplitMix64(stream(seed, 3, epoch as u64, b as u64)))
}

/// The architecture `best` names, or (before anything was scored) a uniform draw; with the
/// uniform option probabilities of a policy that has no distribution of its own.
fn best_or_uniform(decisions: &Decisions, seed: u64, epoch: u32, best: Option<&[u32]>) -> (Vec<u32>, Vec<Vec<f32>>) {
    let arch = best
        .map(<[u32]>::to_vec)
        .unwrap_or_else(|| decisions.uniform(&mut SplitMix64(stream(seed, 6, epoch as u64, 0))));
    (arch, decisions.options.iter().map(|&k| vec![1.0 / k as f32; k]).collect())
}

/// The policy a config asks for.
pub(super) fn make<B: AutodiffBackend>(
    cfg: &SearchConfig,
    decisions: &Decisions,
    device: &B::Device,
) -> Box<dyn ArchPolicy<B>> {
    match cfg.policy {
        Policy::Enas => Box::new(enas::Enas::<B>::new(cfg, decisions, device)),
        Policy::Random => Box::new(random::Random {
            seed: cfg.seed,
            decisions: decisions.clone(),
            n: cfg.controller.batch_size,
            keep: cfg.scoring.finalists,
        }),
        Policy::Evolution => Box::new(evolution::Evolution::new(cfg.seed, decisions, cfg.controller.batch_size)),
        Policy::Fixed => Box::new(fixed::Fixed),
    }
}
