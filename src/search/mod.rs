//! ENAS search (reference §1, its bugs fixed): a new sampled architecture for every training
//! batch; a controller update every `update_arch_frequency` batches on `controller.batch_size`
//! architectures, each scored on one validation batch; REINFORCE over the whole controller batch
//! with an EMA baseline; after each epoch, the argmax architecture validated on the whole
//! validation split. Rewards come from a validation split of the training set; the test set is
//! used once at the end (and each epoch if asked), never for rewards.

pub mod checkpoint;
pub mod config;
pub mod controller;
pub mod latency;
pub mod run;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use burn::module::{AutodiffModule, Module};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, Optimizer, SgdConfig};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Int, Tensor, TensorData};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::data::loader::{Batch, BatchPlan, stream};
use crate::data::{Dataset, Kind};
use crate::export::{ModelFormat, write_model};
use crate::ir::Graph;
use crate::ir::pin::{Assignment, pin_text};
use crate::net::device::BackendJob;
use crate::net::parallel::DataParallel;
use crate::net::train::{GroupedOptimizer, correct};
use crate::net::weights::Weights;
use crate::net::{Mode, Supernet};
use crate::tensorboard::EventWriter;
use crate::util::SplitMix64;
use checkpoint::{EpochRecord, Records, State};
use config::{Init, OptimizerKind, Policy, SearchConfig};
use controller::{Controller, Decisions, Pick};
use latency::LatencyTable;

/// Everything a search needs, prepared without a backend.
pub struct SearchJob {
    pub cfg: SearchConfig,
    pub graph: Graph,
    pub kind: Kind,
    pub train: Arc<Dataset>,
    pub val: Arc<Dataset>,
    pub test: Arc<Dataset>,
    pub run_dir: PathBuf,
    /// Continue from the run folder's checkpoint.
    pub resume: bool,
    /// How pins written into the run folder refer to the spec, and the space arguments to repeat.
    pub spec_ref: String,
    pub space_args: Vec<(String, String)>,
    /// Stop (as if killed) after this many training steps in this process: for tests of resume.
    pub stop_after: Option<u64>,
    /// `policy: fixed` with a `source_run`: the architecture in the source run's space.
    pub source_arch: Option<Assignment>,
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
    type Output = Result<SearchOutcome, String>;

    fn run<B: AutodiffBackend>(self, devices: Vec<B::Device>) -> Self::Output {
        let o = &self.cfg.optimizer;
        let decay = (o.weight_decay > 0.0).then(|| WeightDecayConfig::new(o.weight_decay as f32));
        match o.kind {
            OptimizerKind::Adam => {
                let decayed = AdamConfig::new().with_weight_decay(decay).init::<B, Weights<B>>();
                self.run_with(devices, decayed, AdamConfig::new().init::<B, Weights<B>>())
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

/// A batch as burn tensors: images `[n, c, h, w]` and labels.
pub fn to_tensors<B: Backend>(b: Batch, device: &B::Device) -> (Tensor<B, 4>, Tensor<B, 1, Int>) {
    let [c, h, w] = b.shape;
    let x = Tensor::from_data(TensorData::new(b.pixels, [b.n, c, h, w]), device);
    let y = Tensor::from_data(TensorData::new(b.labels, [b.n]), device);
    (x, y)
}

/// Accuracy of architecture `a` over all of `ds` (eval mode, no augmentation).
pub fn accuracy<B: Backend>(
    net: &Supernet<B>,
    a: &Assignment,
    ds: &Arc<Dataset>,
    kind: Kind,
    batch: usize,
    device: &B::Device,
) -> f64 {
    let plan = BatchPlan { kind, batch, augment: false, drop_last: false, shuffle: None };
    let (mut hits, mut n) = (0usize, 0usize);
    for b in plan.stream(ds.clone(), 0, 0) {
        n += b.n;
        let (x, y) = to_tensors::<B>(b, device);
        hits += correct(net.logits(x, a, Mode::Eval), y);
    }
    hits as f64 / n.max(1) as f64
}

/// A digest of every parameter and running statistic (the weight store, in key order).
fn weights_digest<B: Backend>(net: &Supernet<B>) -> String {
    checkpoint::digest(net.to_store().tensors.values().flat_map(|t| t.data.iter().copied()))
}

impl SearchJob {
    fn run_with<B, O>(self, devices: Vec<B::Device>, decayed: O, plain: O) -> Result<SearchOutcome, String>
    where
        B: AutodiffBackend,
        O: Optimizer<Weights<B>, B> + Clone + Send + 'static,
    {
        let cfg = &self.cfg;
        // The controller, evaluations and checkpoints live on the main device; the others hold
        // data-parallel replicas of the shared weights.
        let (device, others) = devices.split_first().ok_or("no device")?;
        let device = device.clone();
        if cfg.batch_size < devices.len() {
            return Err(format!("a batch of {} cannot be split over {} devices", cfg.batch_size, devices.len()));
        }
        let seed = cfg.seed;
        let decisions = Decisions::of(&self.graph);
        let names: Vec<String> = self.graph.choices.iter().map(|c| c.name.clone()).collect();
        let mut net = Supernet::<B>::new(self.graph.clone(), seed, &device);
        // The packed kernels are CPU kernels: on a GPU the float path stays on the device.
        net.binary_kernels = cfg.binary_kernels && cfg.device.starts_with("cpu");
        let mut ctrl = Controller::<B>::new(&decisions, &cfg.controller, seed, &device);
        let mut state = State { decisions: names.clone(), ..Default::default() };
        let mut ctrl_optim = AdamConfig::new().with_epsilon(1e-8).init::<B, Controller<B>>();

        let resumed_from = if self.resume { checkpoint::find(&self.run_dir) } else { None };
        if self.resume && resumed_from.is_none() {
            return Err(format!("{}: no checkpoint to resume from", self.run_dir.display()));
        }
        let mut optim;
        if let Some(dir) = &resumed_from {
            state = checkpoint::load_state(dir)?;
            if state.decisions != names {
                return Err(format!(
                    "{}: the checkpoint was made for another space ({} decisions; the spec now has {})",
                    dir.display(),
                    state.decisions.len(),
                    names.len()
                ));
            }
            let record = checkpoint::load_record::<B, _>(checkpoint::read(dir, &state, "supernet.bin")?, &device)?;
            let loaded = net.take_weights().load_record(record);
            net.set_weights(loaded);
            ctrl = ctrl.load_record(checkpoint::load_record::<B, _>(
                checkpoint::read(dir, &state, "controller.bin")?,
                &device,
            )?);
            optim = GroupedOptimizer::new(&net, decayed, plain);
            optim.decayed = optim.decayed.load_record(checkpoint::load_record::<B, _>(
                checkpoint::read(dir, &state, "optim-decayed.bin")?,
                &device,
            )?);
            optim.plain = optim.plain.load_record(checkpoint::load_record::<B, _>(
                checkpoint::read(dir, &state, "optim-plain.bin")?,
                &device,
            )?);
            ctrl_optim = ctrl_optim.load_record(checkpoint::load_record::<B, _>(
                checkpoint::read(dir, &state, "optim-controller.bin")?,
                &device,
            )?);
            // `--epochs` may have been raised on resume: a finished run then goes on.
            state.finished = state.epoch >= cfg.epochs;
            if state.finished {
                eprintln!("{}: the run had finished; nothing to resume", self.run_dir.display());
            } else {
                eprintln!("resuming {} at epoch {}, batch {}", self.run_dir.display(), state.epoch + 1, state.batch);
            }
        } else {
            if let (Some(src), Some(a)) = (&cfg.source_run, &self.source_arch) {
                // Score the architecture with the search's shared weights before training it, and
                // start from those weights when asked.
                let source = run::Run::open(src)?.supernet::<B>(&device)?;
                let eval = source.valid();
                state.shared_weight_accuracy = Some(accuracy(&eval, a, &self.val, self.kind, cfg.batch_size, &device));
                if cfg.init == Init::Supernet {
                    let kernels = net.binary_kernels;
                    net = source.extract(a).map_err(|e| e.message)?;
                    net.binary_kernels = kernels;
                }
            }
            optim = GroupedOptimizer::new(&net, decayed, plain);
        }

        if cfg.policy == Policy::Fixed {
            eprintln!("network: {} trainable parameters in {} layers", net.param_count(), net.plan.steps.len());
        }
        let mut parallel = DataParallel::start(&net, &optim, &device, others);
        // A resumed run reuses the table it started with: measured latencies differ run to run.
        let latency_path = self.run_dir.join("latency.json");
        let stored: Option<LatencyTable> = resumed_from
            .as_ref()
            .and_then(|_| std::fs::read_to_string(&latency_path).ok())
            .and_then(|t| serde_json::from_str(&t).ok())
            .filter(|t: &LatencyTable| t.options.len() == decisions.options.len());
        let latency = match stored {
            Some(t) => t,
            None => {
                let t = LatencyTable::build(&net.valid(), cfg.reward.latency, &device);
                crate::util::write_atomic(
                    &latency_path,
                    serde_json::to_string_pretty(&t).expect("serialises").as_bytes(),
                )
                .map_err(|e| format!("{}: {e}", latency_path.display()))?;
                t
            }
        };
        let mut tb =
            EventWriter::create(&self.run_dir.join("tensorboard")).map_err(|e| format!("TensorBoard log: {e}"))?;
        let train_plan = BatchPlan {
            kind: self.kind,
            batch: cfg.batch_size,
            augment: cfg.augment,
            drop_last: true,
            shuffle: Some(seed),
        };
        let batches = train_plan.batches(self.train.len());
        if batches == 0 {
            return Err(format!(
                "{} training images make no batch of {}: lower --batch-size",
                self.train.len(),
                cfg.batch_size
            ));
        }
        let total_steps = batches as u64 * cfg.epochs as u64;
        let mut last_save = Instant::now();
        let mut steps_here = 0u64;
        let tb_err = |e: std::io::Error| format!("writing TensorBoard events: {e}");

        let save = |state: &mut State,
                    net: &Supernet<B>,
                    ctrl: &Controller<B>,
                    optim: &GroupedOptimizer<O>,
                    copt: &_|
         -> Result<(), String> {
            state.weights_digest = weights_digest(net);
            let records: Records = vec![
                ("supernet.bin", checkpoint::module_bytes(&net.weights)?),
                ("controller.bin", checkpoint::module_bytes(ctrl)?),
                ("optim-decayed.bin", checkpoint::record::<B, _>(optim.decayed.to_record())?),
                ("optim-plain.bin", checkpoint::record::<B, _>(optim.plain.to_record())?),
                ("optim-controller.bin", checkpoint::record::<B, _>(Optimizer::<Controller<B>, B>::to_record(copt))?),
            ];
            checkpoint::save(&self.run_dir, state, &records)
        };

        while state.epoch < cfg.epochs && !state.finished {
            let epoch = state.epoch;
            let started = Instant::now();
            let bar = progress((batches * cfg.batch_size) as u64, epoch, cfg.epochs);
            bar.set_position((state.batch * cfg.batch_size) as u64);
            let mut epoch_archs: Vec<Vec<u32>> = vec![];
            for (b, batch) in
                (state.batch..batches).zip(train_plan.stream(self.train.clone(), epoch as u64, state.batch))
            {
                // One architecture per training batch, sampled from the current policy.
                let mut rng = SplitMix64(stream(seed, 3, epoch as u64, b as u64));
                let arch = match cfg.policy {
                    Policy::Enas => {
                        ctrl.valid().rollout(&decisions, &cfg.controller, 1, Pick::Sample(&mut rng)).actions.remove(0)
                    }
                    Policy::Random => decisions.uniform(&mut rng),
                    Policy::Fixed => vec![],
                };
                let a = decisions.assignment(&arch);
                let lr = cfg.optimizer.lr_at(state.global_step, total_steps);
                let n = batch.n;
                let stats = parallel.step(&mut net, &mut optim, lr, batch, &a, &device).map_err(|e| {
                    format!(
                        "epoch {}, batch {b}: {e}; the last checkpoint in {} is intact",
                        epoch + 1,
                        self.run_dir.display()
                    )
                })?;
                state.epoch_loss_sum += stats.loss * n as f64;
                state.epoch_correct += stats.correct as u64;
                state.epoch_seen += n as u64;
                state.global_step += 1;
                steps_here += 1;
                epoch_archs.push(arch);
                tb.scalar("train/loss", state.global_step as i64, stats.loss).map_err(tb_err)?;
                tb.scalar("train/accuracy", state.global_step as i64, stats.correct as f64 / n as f64)
                    .map_err(tb_err)?;
                tb.scalar("lr", state.global_step as i64, lr).map_err(tb_err)?;

                let update = epoch >= cfg.warmup_epochs && b % cfg.update_arch_frequency == 0;
                if update && cfg.policy != Policy::Fixed {
                    let at = Scoring { net: &net, decisions: &decisions, latency: &latency, epoch, b, device: &device };
                    match cfg.policy {
                        Policy::Random => self.random_update(&at, &mut state, &mut tb)?,
                        _ => self.controller_update(&at, &mut ctrl, &mut ctrl_optim, &mut state, &mut tb)?,
                    }
                }
                bar.set_position(((b + 1) * cfg.batch_size) as u64);
                bar.set_message(format!(
                    "loss {:.3} acc {:.3}",
                    state.epoch_loss_sum / state.epoch_seen.max(1) as f64,
                    state.epoch_correct as f64 / state.epoch_seen.max(1) as f64
                ));
                state.batch = b + 1;
                let by_steps = cfg.checkpoint_steps.is_some_and(|k| k > 0 && state.global_step.is_multiple_of(k));
                let by_time = last_save.elapsed().as_secs_f64() > cfg.checkpoint_minutes * 60.0;
                if (by_steps || by_time) && state.batch < batches {
                    save(&mut state, &net, &ctrl, &optim, &ctrl_optim)?;
                    tb.flush().map_err(tb_err)?;
                    last_save = Instant::now();
                }
                if self.stop_after.is_some_and(|k| steps_here >= k) {
                    bar.abandon();
                    return Ok(SearchOutcome {
                        run_dir: self.run_dir.clone(),
                        argmax: vec![],
                        actions: vec![],
                        val_accuracy: 0.0,
                        test_accuracy: None,
                        weights_digest: weights_digest(&net),
                        finished: false,
                        shared_weight_accuracy: state.shared_weight_accuracy,
                    });
                }
            }
            bar.finish_and_clear();

            // End of epoch: validate the argmax architecture on the whole validation split.
            let eval_net = net.valid();
            let (argmax, probs) = match cfg.policy {
                Policy::Enas => {
                    let roll = ctrl.valid().rollout(&decisions, &cfg.controller, 1, Pick::Argmax);
                    (roll.actions[0].clone(), roll.probs)
                }
                // The best candidate so far (a uniform draw before the first was scored).
                Policy::Random => {
                    let best = state.random_best.as_ref().map(|b| b.0.clone());
                    let arch =
                        best.unwrap_or_else(|| decisions.uniform(&mut SplitMix64(stream(seed, 6, epoch as u64, 0))));
                    (arch, decisions.options.iter().map(|&k| vec![1.0 / k as f32; k]).collect())
                }
                Policy::Fixed => (vec![], vec![]),
            };
            let a = decisions.assignment(&argmax);
            let val_acc = accuracy(&eval_net, &a, &self.val, self.kind, cfg.batch_size, &device);
            let last = epoch + 1 == cfg.epochs;
            let test_acc = (cfg.test_each_epoch || last)
                .then(|| accuracy(&eval_net, &a, &self.test, self.kind, cfg.batch_size, &device));
            let record = EpochRecord {
                epoch: epoch + 1,
                train_loss: state.epoch_loss_sum / state.epoch_seen.max(1) as f64,
                train_accuracy: state.epoch_correct as f64 / state.epoch_seen.max(1) as f64,
                val_accuracy: val_acc,
                test_accuracy: test_acc,
                argmax: argmax.clone(),
                probs: probs.clone(),
                latency: latency.of(&a),
                seconds: started.elapsed().as_secs_f64(),
            };
            let step = (epoch + 1) as i64;
            tb.scalar("val/accuracy", step, val_acc).map_err(tb_err)?;
            tb.scalar("latency/argmax", step, record.latency).map_err(tb_err)?;
            tb.scalar("train/epoch_accuracy", step, record.train_accuracy).map_err(tb_err)?;
            if let Some(t) = test_acc {
                tb.scalar("test/accuracy", step, t).map_err(tb_err)?;
            }
            let width = decisions.options.iter().copied().max().unwrap_or(1);
            let mut cells = vec![0f32; decisions.options.len() * width];
            for (k, p) in probs.iter().enumerate() {
                cells[k * width..k * width + p.len()].copy_from_slice(p);
            }
            if !decisions.options.is_empty() {
                tb.grey_image("controller/probabilities", step, &cells, decisions.options.len(), width, 8)
                    .map_err(tb_err)?;
            }
            if !epoch_archs.is_empty() && !decisions.options.is_empty() {
                let mean: Vec<f32> = (0..decisions.options.len())
                    .map(|k| epoch_archs.iter().map(|a| a[k] as f32).sum::<f32>() / epoch_archs.len() as f32)
                    .collect();
                tb.grey_image("train/epoch_average_config", step, &mean, decisions.options.len(), 1, 8)
                    .map_err(tb_err)?;
            }
            // Each epoch's argmax as a pin and a colored graph (a training run has one
            // architecture, its `arch.lnas`).
            if cfg.policy != Policy::Fixed {
                let pin = pin_text(&self.graph, &a, &self.spec_ref, &self.space_args);
                let pin_path = self.run_dir.join("epochs").join(format!("epoch-{:03}.lnas", epoch + 1));
                std::fs::create_dir_all(pin_path.parent().expect("has a parent"))
                    .and_then(|_| crate::util::write_atomic(&pin_path, pin.as_bytes()))
                    .map_err(|e| format!("{}: {e}", pin_path.display()))?;
                // And as a colored graph; the SVG only where Graphviz is installed.
                let title = format!("{}: argmax architecture after epoch {}", self.graph.name, epoch + 1);
                let dot_text = crate::back::dot::render(&self.graph, Some(&a), &title);
                let dot_path = pin_path.with_extension("dot");
                crate::util::write_atomic(&dot_path, dot_text.as_bytes())
                    .map_err(|e| format!("{}: {e}", dot_path.display()))?;
                if let Ok(svg) = crate::back::graphviz::render(&dot_text, "svg") {
                    let svg_path = pin_path.with_extension("svg");
                    crate::util::write_atomic(&svg_path, &svg).map_err(|e| format!("{}: {e}", svg_path.display()))?;
                }
                if cfg.export_each_epoch {
                    // The argmax architecture with the current weights, as ONNX and MXNet.
                    let fixed = eval_net.extract(&a).map_err(|e| e.message)?;
                    let formats = [ModelFormat::Onnx, ModelFormat::Mxnet];
                    write_model(&pin_path.with_extension(""), &formats, &fixed.plan.graph, &fixed.to_store())?;
                }
            }
            // A fixed network has no architecture to show, nor latency to trade against.
            let search_part = match cfg.policy {
                Policy::Fixed => String::new(),
                _ => format!(
                    " | latency {:.3} | {}",
                    record.latency,
                    argmax.iter().map(|a| a.to_string()).collect::<String>()
                ),
            };
            println!(
                "epoch {}/{}: train loss {:.4} acc {:.4} | val acc {:.4}{} | {:.0}s{search_part}",
                epoch + 1,
                cfg.epochs,
                record.train_loss,
                record.train_accuracy,
                val_acc,
                test_acc.map_or(String::new(), |t| format!(" | test acc {t:.4}")),
                record.seconds,
            );
            state.history.push(record);
            state.epoch += 1;
            state.batch = 0;
            state.epoch_loss_sum = 0.0;
            state.epoch_correct = 0;
            state.epoch_seen = 0;
            state.finished = state.epoch >= cfg.epochs;
            save(&mut state, &net, &ctrl, &optim, &ctrl_optim)?;
            tb.flush().map_err(tb_err)?;
            last_save = Instant::now();
        }
        let last = state.history.last().ok_or("no epoch was run")?;
        if cfg.policy == Policy::Fixed {
            // A trained network is the product: export it beside its checkpoint.
            let formats = [ModelFormat::Onnx, ModelFormat::Mxnet];
            write_model(&self.run_dir.join("model"), &formats, &net.plan.graph, &net.valid().to_store())?;
        }
        let a = decisions.assignment(&last.argmax);
        // A training run's result is the architecture it trained, as pinned in its config.
        let pin = match (&cfg.policy, &cfg.spec) {
            (Policy::Fixed, Some(spec)) => {
                std::fs::read_to_string(spec).map_err(|e| format!("{}: {e}", spec.display()))?
            }
            _ => pin_text(&self.graph, &a, &self.spec_ref, &self.space_args),
        };
        crate::util::write_atomic(&self.run_dir.join("result.lnas"), pin.as_bytes()).map_err(|e| e.to_string())?;
        Ok(SearchOutcome {
            run_dir: self.run_dir.clone(),
            argmax: a.settings(&self.graph),
            actions: last.argmax.clone(),
            val_accuracy: last.val_accuracy,
            test_accuracy: last.test_accuracy,
            weights_digest: state.weights_digest.clone(),
            finished: true,
            shared_weight_accuracy: state.shared_weight_accuracy,
        })
    }

    /// One REINFORCE update: sample `controller.batch_size` architectures, score each on one
    /// validation batch (eval mode), and step the controller on the mean of
    /// -(R_i - baseline) * log p(arch_i) (minus the entropy bonus).
    fn controller_update<B, CO>(
        &self,
        at: &Scoring<B>,
        ctrl: &mut Controller<B>,
        optim: &mut CO,
        state: &mut State,
        tb: &mut EventWriter,
    ) -> Result<(), String>
    where
        B: AutodiffBackend,
        CO: Optimizer<Controller<B>, B>,
    {
        let cfg = &self.cfg;
        let n = cfg.controller.batch_size;
        let mut rng = SplitMix64(stream(cfg.seed, 4, at.epoch as u64, at.b as u64));
        let actions = ctrl.valid().rollout(at.decisions, &cfg.controller, n, Pick::Sample(&mut rng)).actions;
        let rewards = self.score(at, &actions);
        let mut advantages = vec![];
        for &r in &rewards {
            let base = *state.baseline.get_or_insert(r);
            advantages.push(r - base);
            state.baseline = Some(cfg.controller.baseline_decay * base + (1.0 - cfg.controller.baseline_decay) * r);
        }
        let roll = ctrl.rollout(at.decisions, &cfg.controller, n, Pick::Given(&actions));
        let adv = Tensor::<B, 1>::from_data(
            TensorData::new(advantages.iter().map(|&v| v as f32).collect::<Vec<_>>(), [n]),
            at.device,
        );
        let entropy = roll.entropy.clone().mean();
        let loss = (roll.log_prob * adv).mean().neg() - entropy.clone() * cfg.controller.entropy_weight;
        let grads = GradientsParams::from_grads(loss.backward(), ctrl);
        *ctrl = optim.step(cfg.controller.lr, ctrl.clone(), grads);
        state.controller_updates += 1;
        let step = state.controller_updates as i64;
        let err = |e: std::io::Error| format!("writing TensorBoard events: {e}");
        tb.scalar("controller/reward", step, rewards.iter().sum::<f64>() / n as f64).map_err(err)?;
        tb.scalar("controller/baseline", step, state.baseline.unwrap_or(0.0)).map_err(err)?;
        tb.scalar("controller/entropy", step, entropy.into_scalar().elem::<f64>()).map_err(err)?;
        Ok(())
    }
}

/// What scoring architectures needs at one training batch: the shared weights, the decisions,
/// the latency table, and where in the run it is (which fixes the validation batches drawn).
struct Scoring<'a, B: AutodiffBackend> {
    net: &'a Supernet<B>,
    decisions: &'a Decisions,
    latency: &'a LatencyTable,
    epoch: u32,
    b: usize,
    device: &'a B::Device,
}

impl SearchJob {
    /// The reward of each architecture, each scored on one validation batch (eval mode): the
    /// controller's REINFORCE signal, and the random baseline's ranking, on the same budget.
    fn score<B: AutodiffBackend>(&self, at: &Scoring<B>, archs: &[Vec<u32>]) -> Vec<f64> {
        let cfg = &self.cfg;
        let eval_net = at.net.valid();
        let plan = BatchPlan {
            kind: self.kind,
            batch: cfg.batch_size,
            augment: false,
            drop_last: false,
            shuffle: Some(stream(cfg.seed, 5, at.epoch as u64, at.b as u64)),
        };
        let order = plan.order(self.val.len(), 0);
        let nb = plan.batches(self.val.len()).max(1);
        archs
            .iter()
            .enumerate()
            .map(|(i, arch)| {
                let k = i % nb;
                let idx = &order[k * cfg.batch_size..((k + 1) * cfg.batch_size).min(order.len())];
                let batch = plan.make(&self.val, idx, 0, k as u64);
                let count = batch.n;
                let (x, y) = to_tensors::<B::InnerBackend>(batch, at.device);
                let a = at.decisions.assignment(arch);
                let acc = correct(eval_net.logits(x, &a, Mode::Eval), y) as f64 / count as f64;
                at.latency.reward(&cfg.reward, acc, &a)
            })
            .collect()
    }

    /// Random search with weight sharing (Li and Talwalkar, 2019) on ENAS's budget: where ENAS
    /// updates its controller, score as many uniformly drawn architectures and keep the best.
    fn random_update<B: AutodiffBackend>(
        &self,
        at: &Scoring<B>,
        state: &mut State,
        tb: &mut EventWriter,
    ) -> Result<(), String> {
        let n = self.cfg.controller.batch_size;
        let mut rng = SplitMix64(stream(self.cfg.seed, 4, at.epoch as u64, at.b as u64));
        let archs: Vec<Vec<u32>> = (0..n).map(|_| at.decisions.uniform(&mut rng)).collect();
        let rewards = self.score(at, &archs);
        for (arch, r) in archs.into_iter().zip(rewards.iter().copied()) {
            if state.random_best.as_ref().is_none_or(|best| r > best.1) {
                state.random_best = Some((arch, r));
            }
        }
        state.controller_updates += 1;
        let step = state.controller_updates as i64;
        let err = |e: std::io::Error| format!("writing TensorBoard events: {e}");
        tb.scalar("controller/reward", step, rewards.iter().sum::<f64>() / n as f64).map_err(err)?;
        tb.scalar("random/best_reward", step, state.random_best.as_ref().map_or(0.0, |b| b.1)).map_err(err)?;
        Ok(())
    }
}

fn progress(len: u64, epoch: u32, epochs: u32) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30}] {human_pos}/{human_len} images, {per_sec}, ETA {eta} | {msg}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(format!("epoch {}/{epochs}", epoch + 1));
    bar
}
