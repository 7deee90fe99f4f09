//! Random search with weight sharing (Li and Talwalkar, 2019) on ENAS's budget: uniform paths
//! for training; where ENAS updates its controller, score as many uniformly drawn architectures
//! and keep the best few (in the checkpoint's state) for the search's end.

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
    /// How many of the best scored to keep (`scoring.finalists`).
    pub keep: usize,
}

/// `top` with `arch` at `reward` (an architecture scored again keeps its higher reward), best
/// first, equal rewards in the order seen, at most `keep`.
fn remember(top: &mut Vec<(Vec<u32>, f64)>, arch: Vec<u32>, reward: f64, keep: usize) {
    match top.iter_mut().find(|t| t.0 == arch) {
        Some(t) => t.1 = t.1.max(reward),
        None => top.push((arch, reward)),
    }
    top.sort_by(|x, y| y.1.total_cmp(&x.1));
    top.truncate(keep.max(1));
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
            remember(&mut state.random_top, arch, r, self.keep);
        }
        let step = super::count_update(state, tb, &rewards)?;
        tb.scalar("random/best_reward", step, state.random_top.first().map_or(0.0, |b| b.1))
            .map_err(RunError::TensorBoard)?;
        Ok(())
    }

    /// The best candidate so far (a uniform draw before the first was scored).
    fn argmax(&self, state: &State, epoch: u32) -> (Vec<u32>, Vec<Vec<f32>>) {
        super::best_or_uniform(&self.decisions, self.seed, epoch, state.random_top.first().map(|b| &b.0[..]))
    }

    fn finalists(&self, state: &State, k: usize) -> Vec<Vec<u32>> {
        state.random_top.iter().take(k).map(|t| t.0.clone()).collect()
    }

    fn records(&self) -> Result<Records, RunError> {
        Ok(vec![])
    }

    fn load(&mut self, _: &Path, _: &State, _: &B::Device) -> Result<(), RunError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::remember;

    #[test]
    fn the_best_distinct_are_kept_best_first() {
        let mut top = vec![];
        for (arch, r) in
            [(vec![0], 0.5), (vec![1], 0.7), (vec![0], 0.9), (vec![2], 0.6), (vec![1], 0.2), (vec![3], 0.1)]
        {
            remember(&mut top, arch, r, 3);
        }
        // [0] scored again at 0.9 keeps 0.9; [1]'s lower second score does not replace 0.7;
        // [3] at 0.1 does not make the three.
        assert_eq!(top, vec![(vec![0], 0.9), (vec![1], 0.7), (vec![2], 0.6)]);
    }
}
