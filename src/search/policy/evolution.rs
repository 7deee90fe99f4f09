//! Evolutionary search over the shared weights, after SPOS (Guo et al., 2020): uniform paths for
//! training (the same paths as the random baseline with the same seed, so the two differ only in
//! how they choose), and where ENAS updates its controller, a population evolves on the same
//! number of scored candidates: the surviving half is scored again on the current weights (old
//! scores were earned on older weights), the other half are children of the survivors (one
//! decision in four mutated, or a uniform crossover of two), and the best half survives.

use std::path::Path;

use burn::tensor::backend::AutodiffBackend;

use super::ArchPolicy;
use crate::data::loader::stream;
use crate::ir::decisions::Decisions;
use crate::search::RunError;
use crate::search::checkpoint::{self, Records, State};
use crate::search::{Scoring, SearchJob};
use crate::tensorboard::EventWriter;
use crate::util::SplitMix64;

const RECORD: &str = "evolution.json";

pub struct Evolution {
    pub seed: u64,
    pub decisions: Decisions,
    /// Candidates scored per update (ENAS's controller batch); half of them survive.
    pub n: usize,
    /// The survivors of the last update with their scores, best first.
    population: Vec<(Vec<u32>, f64)>,
}

impl Evolution {
    pub fn new(seed: u64, decisions: &Decisions, n: usize) -> Self {
        Evolution { seed, decisions: decisions.clone(), n: n.max(2), population: vec![] }
    }

    /// This update's candidates: the survivors, then children of them (uniform draws while
    /// there are none).
    fn candidates(&self, rng: &mut SplitMix64) -> Vec<Vec<u32>> {
        let mut out: Vec<Vec<u32>> = self.population.iter().map(|p| p.0.clone()).collect();
        while out.len() < self.n {
            let child = match self.population.len() {
                0 => self.decisions.uniform(rng),
                k => {
                    let a = &self.population[rng.below(k as u64) as usize].0;
                    let b = &self.population[rng.below(k as u64) as usize].0;
                    self.child(a, b, rng)
                }
            };
            out.push(child);
        }
        out
    }

    /// A mutation of `a` (each decision redrawn with probability 1/4) or, half the time, a
    /// uniform crossover of `a` and `b`.
    fn child(&self, a: &[u32], b: &[u32], rng: &mut SplitMix64) -> Vec<u32> {
        let cross = rng.next_f64() < 0.5;
        let fresh = self.decisions.uniform(rng);
        a.iter()
            .zip(b)
            .zip(fresh)
            .map(|((&x, &y), z)| {
                let u = rng.next_f64();
                if cross {
                    if u < 0.5 { x } else { y }
                } else if u < 0.25 {
                    z
                } else {
                    x
                }
            })
            .collect()
    }
}

impl<B: AutodiffBackend> ArchPolicy<B> for Evolution {
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
        let archs = self.candidates(&mut rng);
        let scores = job.score(at, &archs);
        let mut scored: Vec<(Vec<u32>, f64)> = archs.into_iter().zip(scores.iter().copied()).collect();
        // Best first; equal scores keep their order (survivors before children).
        scored.sort_by(|x, y| y.1.total_cmp(&x.1));
        scored.truncate(self.n / 2);
        self.population = scored;
        let step = super::count_update(state, tb, &scores)?;
        tb.scalar("evolution/best_reward", step, self.population[0].1).map_err(RunError::TensorBoard)?;
        Ok(())
    }

    /// The best survivor (a uniform draw before the first update).
    fn argmax(&self, _: &State, epoch: u32) -> (Vec<u32>, Vec<Vec<f32>>) {
        super::best_or_uniform(&self.decisions, self.seed, epoch, self.population.first().map(|p| &p.0[..]))
    }

    /// The survivors, best first.
    fn finalists(&self, _: &State, k: usize) -> Vec<Vec<u32>> {
        self.population.iter().take(k).map(|p| p.0.clone()).collect()
    }

    fn records(&self) -> Result<Records, RunError> {
        Ok(vec![(RECORD, serde_json::to_vec(&self.population).expect("a population serialises"))])
    }

    fn load(&mut self, dir: &Path, state: &State, _: &B::Device) -> Result<(), RunError> {
        let bytes = checkpoint::read(dir, state, RECORD)?;
        self.population = serde_json::from_slice(&bytes).map_err(|e| RunError::corrupt(dir.join(RECORD), e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_stay_in_the_space_and_mix_their_parents() {
        let d = Decisions { options: vec![2, 3, 2, 4, 2, 2, 2, 2] };
        let mut e = Evolution::new(1, &d, 8);
        let mut rng = SplitMix64(9);
        assert_eq!(e.candidates(&mut rng).len(), 8, "uniform draws before any survivor");
        let a = vec![0, 0, 0, 0, 0, 0, 0, 0];
        let b = vec![1, 2, 1, 3, 1, 1, 1, 1];
        e.population = vec![(a.clone(), 0.9), (b.clone(), 0.8)];
        let c = e.candidates(&mut rng);
        assert_eq!(c.len(), 8);
        assert_eq!(&c[..2], &[a.clone(), b.clone()], "the survivors are scored again first");
        for child in &c[2..] {
            assert!(child.iter().zip(&d.options).all(|(&x, &k)| (x as usize) < k), "{child:?}");
        }
        // Over many children every decision takes both parents' options somewhere.
        let kids: Vec<Vec<u32>> = (0..200).map(|_| e.child(&a, &b, &mut rng)).collect();
        for i in 0..8 {
            assert!(kids.iter().any(|k| k[i] == a[i]) && kids.iter().any(|k| k[i] == b[i]), "decision {i}");
        }
    }
}
