//! ENAS (docs/original.md §1.2, its bugs fixed): a controller sample for every training batch; at each
//! update point `controller.batch_size` samples scored with the shared weights, and REINFORCE
//! over them with an EMA baseline and an entropy bonus.

use std::path::Path;

use burn::module::{AutodiffModule, Module};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{Adam, AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Tensor, TensorData};

use super::ArchPolicy;
use crate::data::loader::stream;
use crate::ir::decisions::Decisions;
use crate::search::RunError;
use crate::search::checkpoint::{self, Records, State};
use crate::search::config::SearchConfig;
use crate::search::controller::{Controller, ControllerConfig, Pick};
use crate::search::{Scoring, SearchJob};
use crate::tensorboard::EventWriter;
use crate::util::SplitMix64;

pub struct Enas<B: AutodiffBackend> {
    ctrl: Controller<B>,
    optim: OptimizerAdaptor<Adam, Controller<B>, B>,
    cfg: ControllerConfig,
    decisions: Decisions,
    seed: u64,
}

impl<B: AutodiffBackend> Enas<B> {
    pub fn new(cfg: &SearchConfig, decisions: &Decisions, device: &B::Device) -> Self {
        Enas {
            ctrl: Controller::<B>::new(decisions, &cfg.controller, cfg.seed, device),
            optim: AdamConfig::new().with_epsilon(1e-8).init::<B, Controller<B>>(),
            cfg: cfg.controller.clone(),
            decisions: decisions.clone(),
            seed: cfg.seed,
        }
    }
}

impl<B: AutodiffBackend> ArchPolicy<B> for Enas<B> {
    fn sample(&self, epoch: u32, b: usize) -> Vec<u32> {
        let mut rng = SplitMix64(stream(self.seed, 3, epoch as u64, b as u64));
        self.ctrl.valid().rollout(&self.decisions, &self.cfg, 1, Pick::Sample(&mut rng)).actions.remove(0)
    }

    /// One REINFORCE update: sample `controller.batch_size` architectures, score them, and step
    /// the controller on the mean of -(R_i - baseline) * log p(arch_i) minus the entropy bonus.
    fn update(
        &mut self,
        job: &SearchJob,
        at: &Scoring<B>,
        state: &mut State,
        tb: &mut EventWriter,
    ) -> Result<(), RunError> {
        let n = self.cfg.batch_size;
        let mut rng = SplitMix64(stream(self.seed, 4, at.epoch as u64, at.b as u64));
        let actions = self.ctrl.valid().rollout(&self.decisions, &self.cfg, n, Pick::Sample(&mut rng)).actions;
        let rewards = job.score(at, &actions);
        let mut advantages = vec![];
        for &r in &rewards {
            let base = *state.baseline.get_or_insert(r);
            advantages.push(r - base);
            state.baseline = Some(self.cfg.baseline_decay * base + (1.0 - self.cfg.baseline_decay) * r);
        }
        let roll = self.ctrl.rollout(&self.decisions, &self.cfg, n, Pick::Given(&actions));
        let adv = Tensor::<B, 1>::from_data(
            TensorData::new(advantages.iter().map(|&v| v as f32).collect::<Vec<_>>(), [n]),
            at.device,
        );
        let entropy = roll.entropy.clone().mean();
        let loss = (roll.log_prob * adv).mean().neg() - entropy.clone() * self.cfg.entropy_weight;
        let grads = GradientsParams::from_grads(loss.backward(), &self.ctrl);
        self.ctrl = self.optim.step(self.cfg.lr, self.ctrl.clone(), grads);
        let step = super::count_update(state, tb, &rewards)?;
        tb.scalar("controller/baseline", step, state.baseline.unwrap_or(0.0)).map_err(RunError::TensorBoard)?;
        tb.scalar("controller/entropy", step, entropy.into_scalar().elem::<f64>()).map_err(RunError::TensorBoard)?;
        Ok(())
    }

    fn argmax(&self, _: &State, _: u32) -> (Vec<u32>, Vec<Vec<f32>>) {
        let roll = self.ctrl.valid().rollout(&self.decisions, &self.cfg, 1, Pick::Argmax);
        (roll.actions[0].clone(), roll.probs)
    }

    /// Distinct samples of the trained controller in the order drawn (ENAS's own end: sample
    /// several, keep the best on validation data).
    fn finalists(&self, _: &State, k: usize) -> Vec<Vec<u32>> {
        let mut rng = SplitMix64(stream(self.seed, 8, 0, 0));
        let draws = self.ctrl.valid().rollout(&self.decisions, &self.cfg, 4 * k, Pick::Sample(&mut rng)).actions;
        let mut out: Vec<Vec<u32>> = vec![];
        for a in draws {
            if out.len() < k && !out.contains(&a) {
                out.push(a);
            }
        }
        out
    }

    fn records(&self) -> Result<Records, RunError> {
        Ok(vec![
            ("controller.bin", checkpoint::module_bytes(&self.ctrl)?),
            (
                "optim-controller.bin",
                checkpoint::record::<B, _>(Optimizer::<Controller<B>, B>::to_record(&self.optim))?,
            ),
        ])
    }

    fn load(&mut self, dir: &Path, state: &State, device: &B::Device) -> Result<(), RunError> {
        let record = checkpoint::load_record::<B, _>(checkpoint::read(dir, state, "controller.bin")?, device)?;
        self.ctrl = self.ctrl.clone().load_record(record);
        let record = checkpoint::load_record::<B, _>(checkpoint::read(dir, state, "optim-controller.bin")?, device)?;
        self.optim = self.optim.clone().load_record(record);
        Ok(())
    }

    /// Entropy in nats along the argmax path, summed over decisions.
    fn entropy(&self, probs: &[Vec<f32>]) -> Option<f64> {
        Some(probs.iter().flatten().filter(|&&p| p > 0.0).map(|&p| -(p as f64) * (p as f64).ln()).sum())
    }
}
