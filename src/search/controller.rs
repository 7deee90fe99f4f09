//! The ENAS controller (AutoGluon's `LSTMController`, docs/original.md §1.2): an LSTM cell whose input at
//! decision k is the embedding of the option taken at decision k-1 (a zero vector at the first),
//! one linear decoder per decision, softmax with a temperature, optionally a tanh clamp of the
//! logits and an entropy bonus. Sampling draws with our own generator from the probabilities
//! read back to the host; REINFORCE re-runs the recurrence on the taken actions to get
//! differentiable log-probabilities.

use burn::module::{Module, Param};
use burn::tensor::activation::{log_softmax, sigmoid};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::ir::decisions::Decisions;
use crate::net::weights::{DenseWeights, uniform};
use crate::util::SplitMix64;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ControllerConfig {
    /// LSTM hidden size (the original's 100).
    pub hidden: usize,
    /// Logits are divided by it.
    pub temperature: f64,
    /// If set, logits become `c * tanh(logits)` (ENAS's logit clamp; off in the original).
    pub tanh_constant: Option<f64>,
    /// Weight of the entropy bonus in the REINFORCE loss (0 in the original).
    pub entropy_weight: f64,
    /// Adam learning rate (LightNAS: 3e-3).
    pub lr: f64,
    /// Architectures per controller update, one validation batch each.
    pub batch_size: usize,
    /// Decay of the exponential-moving-average reward baseline.
    pub baseline_decay: f64,
}

/// Defaults: ENAS's exploration settings (tanh clamp 1.5 as in its macro search, baseline decay
/// 0.99) and an entropy bonus, so the controller keeps sampling more than one architecture while
/// the shared weights are still learning; measured on the demo's ranking table (README).
impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            tanh_constant: Some(1.5),
            entropy_weight: 0.01,
            baseline_decay: 0.99,
            ..ControllerConfig::legacy()
        }
    }
}

impl ControllerConfig {
    /// LightNAS's settings (AutoGluon's defaults with its overrides), this project's defaults
    /// until the ranking benchmark.
    pub fn legacy() -> Self {
        ControllerConfig {
            hidden: 100,
            temperature: 1.0,
            tanh_constant: None,
            entropy_weight: 0.0,
            lr: 3e-3,
            batch_size: 10,
            baseline_decay: 0.95,
        }
    }
}

#[derive(Module, Debug)]
pub struct Controller<B: Backend> {
    /// One row per (decision, option) token.
    pub encoder: Param<Tensor<B, 2>>,
    /// Input and recurrent weights `[H, 4H]`, gates in the order input, forget, cell, output.
    pub w_ih: Param<Tensor<B, 2>>,
    pub w_hh: Param<Tensor<B, 2>>,
    pub bias: Param<Tensor<B, 1>>,
    pub decoders: Vec<DenseWeights<B>>,
}

/// How to pick each option.
pub enum Pick<'a> {
    Sample(&'a mut SplitMix64),
    Argmax,
    /// Re-run on given actions (`[sample][decision]`).
    Given(&'a [Vec<u32>]),
}

/// A pass of the controller over `n` architectures.
pub struct Rollout<B: Backend> {
    pub actions: Vec<Vec<u32>>,
    /// Sum over decisions of log p(action), per architecture.
    pub log_prob: Tensor<B, 1>,
    /// Sum over decisions of the policy's entropy, per architecture.
    pub entropy: Tensor<B, 1>,
    /// Per decision, the probabilities of its options (for the first architecture).
    pub probs: Vec<Vec<f32>>,
}

impl<B: Backend> Controller<B> {
    pub fn new(d: &Decisions, cfg: &ControllerConfig, seed: u64, device: &B::Device) -> Self {
        let h = cfg.hidden;
        let mut rng = SplitMix64(seed ^ 0x636f_6e74);
        let tokens: usize = d.options.iter().sum();
        // ENAS initialises its controller uniformly in ±0.1.
        let u2 = |shape: [usize; 2], rng: &mut SplitMix64| Param::from_tensor(uniform(rng, &shape, 0.1, device));
        let encoder = u2([tokens.max(1), h], &mut rng);
        let w_ih = u2([h, 4 * h], &mut rng);
        let w_hh = u2([h, 4 * h], &mut rng);
        let decoders = d
            .options
            .iter()
            .map(|&n| DenseWeights {
                weight: u2([n, h], &mut rng),
                bias: Some(Param::from_tensor(uniform(&mut rng, &[n], 0.1, device))),
            })
            .collect::<Vec<_>>();
        Controller { encoder, w_ih, w_hh, bias: Param::from_tensor(Tensor::zeros([4 * h], device)), decoders }
    }

    /// Run the recurrence for `n` architectures.
    pub fn rollout(&self, d: &Decisions, cfg: &ControllerConfig, n: usize, mut pick: Pick<'_>) -> Rollout<B> {
        let device = self.bias.val().device();
        let h_size = cfg.hidden;
        let mut x = Tensor::<B, 2>::zeros([n, h_size], &device);
        let mut h = Tensor::<B, 2>::zeros([n, h_size], &device);
        let mut c = Tensor::<B, 2>::zeros([n, h_size], &device);
        let mut actions = vec![Vec::with_capacity(d.options.len()); n];
        let mut log_prob = Tensor::<B, 1>::zeros([n], &device);
        let mut entropy = Tensor::<B, 1>::zeros([n], &device);
        let mut probs = vec![];
        for (k, dec) in self.decoders.iter().enumerate() {
            let gates = x.matmul(self.w_ih.val()) + h.matmul(self.w_hh.val()) + self.bias.val().unsqueeze_dim(0);
            let mut g = gates.chunk(4, 1).into_iter();
            let (i, f, cell, o) = (g.next().unwrap(), g.next().unwrap(), g.next().unwrap(), g.next().unwrap());
            c = sigmoid(f) * c + sigmoid(i) * cell.tanh();
            h = sigmoid(o) * c.clone().tanh();
            let mut logits = crate::net::layers::dense(h.clone(), dec) / cfg.temperature;
            if let Some(tc) = cfg.tanh_constant {
                logits = logits.tanh() * tc;
            }
            let logp = log_softmax(logits, 1);
            let p_host: Vec<f32> = logp.clone().exp().into_data().to_vec().expect("f32 probabilities");
            let width = d.options[k];
            probs.push(p_host[..width].to_vec());
            let chosen: Vec<u32> = (0..n)
                .map(|r| {
                    let row = &p_host[r * width..(r + 1) * width];
                    match &mut pick {
                        Pick::Argmax => argmax(row),
                        Pick::Sample(rng) => sample(row, rng.next_f64() as f32),
                        Pick::Given(a) => a[r][k],
                    }
                })
                .collect();
            let idx = Tensor::<B, 1, Int>::from_data(
                TensorData::new(chosen.iter().map(|&a| a as i64).collect::<Vec<_>>(), [n]),
                &device,
            );
            log_prob = log_prob + logp.clone().gather(1, idx.clone().reshape([n, 1])).reshape([n]);
            entropy = entropy - (logp.clone().exp() * logp).sum_dim(1).reshape([n]);
            let tokens = idx.add_scalar(d.offset(k) as i64);
            x = self.encoder.val().select(0, tokens);
            for (r, a) in chosen.into_iter().enumerate() {
                actions[r].push(a);
            }
        }
        Rollout { actions, log_prob, entropy, probs }
    }
}

/// The most probable option; ties go to the lowest index (as the original's argmax).
fn argmax(p: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in p.iter().enumerate() {
        if v > p[best] {
            best = i;
        }
    }
    best as u32
}

/// Inverse-CDF sampling with a uniform `u` in [0, 1).
fn sample(p: &[f32], u: f32) -> u32 {
    let mut acc = 0.0;
    for (i, &v) in p.iter().enumerate() {
        acc += v;
        if u < acc {
            return i as u32;
        }
    }
    (p.len() - 1) as u32
}
