//! Random search with weight sharing (Li and Talwalkar, 2019) on ENAS's budget: uniform paths
//! for training; where ENAS updates its controller, score as many uniformly drawn architectures
//! and keep the best (in the checkpoint's state).

use std::path::Path;

use burn::tensor::backend::AutodiffBackend;

use super::ArchPolicy;
use crate::data::loader::stream;
use crate::ir::decisions::Decisions;
use crate::search::RunError;
use crate::search::checkpoint::{Records, State};
use crate::search::{Scoring, SearchJob};
use crate::tensorboard::EventWriter;
use crate::util::SplitMix64;

pub struct Random {
    pub seed: u64,
    pub decisions: Decisions,
    /// Candidates per update (ENAS's controller batch).
    pub n: usize,
}

impl<B: AutodiffBackend> ArchPolicy<B> for Random {
    fn sample(&self, epoch: u32, b: usize) -> Vec<u32> {
        super::uniform_path(&self.decisions, self.seed, epoch, b)
    }

    fn update(
        &mut self,
        job: &SearchJob,
        at: &Scoring<B>,
        state: &mut State,
        tb: &mut EventWriter,
    ) -> Result<(), RunError> {
        let mut rng = SplitMix64(stream(self.seed, 4, at.epoch as u64, at.b as u64));
        let archs: Vec<Vec<u32>> = (0..self.n).map(|_| self.decisions.uniform(&mut rng)).collect();
        let rewards = job.score(at, &archs);
        for (arch, r) in archs.into_iter().zip(rewards.iter().copied()) {
            if state.random_best.as_ref().is_none_or(|best| r > best.1) {
                state.random_best = Some((arch, r));
            }
        }
        let step = super::count_update(state, tb, &rewards)?;
        tb.scalar("random/best_reward", step, state.random_best.as_ref().map_or(0.0, |b| b.1))
            .map_err(RunError::TensorBoard)?;
        Ok(())
    }

    /// The best candidate so far (a uniform draw before the first was scored).
    fn argmax(&self, state: &State, epoch: u32) -> (Vec<u32>, Vec<Vec<f32>>) {
        super::best_or_uniform(&self.decisions, self.seed, epoch, state.random_best.as_ref().map(|b| &b.0[..]))
    }

    fn records(&self) -> Result<Records, RunError> {
        Ok(vec![])
    }

    fn load(&mut self, _: &Path, _: &State, _: &B::Device) -> Result<(), RunError> {
        Ok(())
    }
}
