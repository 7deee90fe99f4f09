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
mod policy;
pub mod run;
pub mod scoring;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, Optimizer, SgdConfig};
use burn::tensor::backend::{AutodiffBackend, Backend};
use serde::Serialize;

use crate::data::loader::{BatchPlan, stream};
use crate::data::{Dataset, Norm};
use crate::export::{ModelFormat, write_model};
use crate::ir::Graph;
use crate::ir::pin::{Assignment, pin_text};
use crate::net::Supernet;
use crate::net::device::BackendJob;
use crate::net::parallel::DataParallel;
use crate::net::train::GroupedOptimizer;
use crate::net::weights::Weights;
use crate::tensorboard::EventWriter;
use crate::util::SplitMix64;
use checkpoint::{EpochRecord, Records, State};
use config::{Init, OptimizerKind, Policy, SearchConfig};
use controller::Decisions;
use latency::LatencyTable;
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

/// The training images a run uses (`train_limit`, drawn by the seed) split into its training
/// and validation parts (`val_fraction`, drawn by the seed): the same for every reader of the run.
pub fn split_training(cfg: &SearchConfig, mut train: Dataset) -> Result<(Dataset, Dataset), String> {
    if let Some(limit) = cfg.train_limit.filter(|&l| l < train.len()) {
        let mut idx: Vec<usize> = (0..train.len()).collect();
        crate::data::shuffle(&mut idx, &mut SplitMix64(cfg.seed ^ 0x6c69_6d69));
        idx.truncate(limit);
        idx.sort_unstable();
        train = train.select(&idx);
    }
    let (train, val) = crate::data::split_validation(&train, cfg.val_fraction, cfg.seed);
    if val.is_empty() {
        return Err(format!("`val_fraction` {} of {} images leaves no validation data", cfg.val_fraction, train.len()));
    }
    Ok((train, val))
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
        net.binary_kernels = cfg.binary_kernels;
        net.packed_training = cfg.packed_training;
        let mut policy = policy::make::<B>(cfg, &decisions, &device);
        let mut state = State { decisions: names.clone(), ..Default::default() };

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
            net.load_weights(record).map_err(|e| format!("{}: {e}", dir.join("supernet.bin").display()))?;
            policy.load(dir, &state, &device)?;
            optim = GroupedOptimizer::new(&net, decayed, plain);
            optim.decayed = optim.decayed.load_record(checkpoint::load_record::<B, _>(
                checkpoint::read(dir, &state, "optim-decayed.bin")?,
                &device,
            )?);
            optim.plain = optim.plain.load_record(checkpoint::load_record::<B, _>(
                checkpoint::read(dir, &state, "optim-plain.bin")?,
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
                let scorer = self.scorer(source.valid(), 0, 0, &device);
                state.shared_weight_accuracy = Some(scorer.accuracy(a, &self.val, &self.norm, cfg.batch_size));
                if cfg.init == Init::Supernet {
                    let (kernels, training) = (net.binary_kernels, net.packed_training);
                    net = source.extract(a).map_err(|e| e.message)?;
                    (net.binary_kernels, net.packed_training) = (kernels, training);
                }
            }
            optim = GroupedOptimizer::new(&net, decayed, plain);
        }

        if !policy.searches() {
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
                let t = match &cfg.latency_table {
                    Some(path) => LatencyTable::read(path, &decisions.options)?,
                    None => LatencyTable::build(&net.valid(), cfg.reward.latency, &device),
                };
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
            norm: self.norm.clone(),
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
                    policy: &dyn policy::ArchPolicy<B>,
                    optim: &GroupedOptimizer<O>|
         -> Result<(), String> {
            state.weights_digest = weights_digest(net);
            let mut records: Records = vec![
                ("supernet.bin", checkpoint::module_bytes(&net.weights)?),
                ("optim-decayed.bin", checkpoint::record::<B, _>(optim.decayed.to_record())?),
                ("optim-plain.bin", checkpoint::record::<B, _>(optim.plain.to_record())?),
            ];
            records.extend(policy.records()?);
            checkpoint::save(&self.run_dir, state, &records)
        };

        while state.epoch < cfg.epochs && !state.finished {
            let epoch = state.epoch;
            let started = Instant::now();
            let mut bar = progress((batches * cfg.batch_size) as u64, epoch, cfg.epochs);
            bar.set_position((state.batch * cfg.batch_size) as u64);
            let mut epoch_archs: Vec<Vec<u32>> = vec![];
            for (b, batch) in
                (state.batch..batches).zip(train_plan.stream(self.train.clone(), epoch as u64, state.batch))
            {
                // One architecture per training batch, sampled from the current policy.
                let arch = policy.sample(epoch, b);
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

                let update = epoch >= cfg.warmup() && b % cfg.update_arch_frequency == 0;
                if update && policy.searches() {
                    let at = Scoring { net: &net, decisions: &decisions, latency: &latency, epoch, b, device: &device };
                    policy.update(&self, &at, &mut state, &mut tb)?;
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
                    save(&mut state, &net, &*policy, &optim)?;
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
            bar.finish();

            // End of epoch: validate the argmax architecture on the whole validation split.
            let eval_net = net.valid();
            let (argmax, probs) = policy.argmax(&state, epoch);
            let a = decisions.assignment(&argmax);
            // A fixed network's batch norms are its own: its running statistics are right.
            let scorer = if policy.searches() {
                self.scorer(net.valid(), epoch as u64, batches as u64, &device)
            } else {
                self.scorer_with(net.valid(), &scoring::ScoringConfig::legacy(), 0, 0, &device)
            };
            let val_acc = scorer.accuracy(&a, &self.val, &self.norm, cfg.batch_size);
            let last = epoch + 1 == cfg.epochs;
            let test_acc = ((cfg.test_each_epoch || last) && !self.test.is_empty())
                .then(|| scorer.accuracy(&a, &self.test, &self.norm, cfg.batch_size));
            let record = EpochRecord {
                epoch: epoch + 1,
                train_loss: state.epoch_loss_sum / state.epoch_seen.max(1) as f64,
                train_accuracy: state.epoch_correct as f64 / state.epoch_seen.max(1) as f64,
                val_accuracy: val_acc,
                test_accuracy: test_acc,
                argmax: argmax.clone(),
                probs: probs.clone(),
                entropy: policy.entropy(&probs),
                latency: latency.of(&a),
                seconds: started.elapsed().as_secs_f64(),
            };
            let step = (epoch + 1) as i64;
            tb.scalar("val/accuracy", step, val_acc).map_err(tb_err)?;
            tb.scalar("latency/argmax", step, record.latency).map_err(tb_err)?;
            if let Some(h) = record.entropy {
                tb.scalar("controller/epoch_entropy", step, h).map_err(tb_err)?;
            }
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
            if policy.searches() {
                let epochs = self.run_dir.join("epochs");
                let spec_ref = run::spec_ref(&self.run_dir, &self.spec, &epochs);
                let pin = pin_text(&self.graph, &a, &spec_ref, &self.space_args);
                let pin_path = epochs.join(format!("epoch-{:03}.lnas", epoch + 1));
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
                    write_model(&pin_path.with_extension(""), &self.formats, &fixed.plan.graph, &fixed.to_store())?;
                }
            }
            // A fixed network has no architecture to show, nor latency to trade against.
            let search_part = if policy.searches() {
                format!(
                    " | latency {:.3}{} | {}",
                    record.latency,
                    record.entropy.map_or(String::new(), |h| format!(" | entropy {h:.2}")),
                    argmax.iter().map(|a| a.to_string()).collect::<String>()
                )
            } else {
                String::new()
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
            save(&mut state, &net, &*policy, &optim)?;
            tb.flush().map_err(tb_err)?;
            last_save = Instant::now();
        }
        let last = state.history.last().ok_or("no epoch was run")?;
        if cfg.policy == Policy::Fixed {
            // A trained network is the product: export it beside its checkpoint.
            write_model(&self.run_dir.join("model"), &self.formats, &net.plan.graph, &net.valid().to_store())?;
        }
        let a = decisions.assignment(&last.argmax);
        // A training run's result is the architecture it trained, as pinned in its config.
        let pin = match (&cfg.policy, &cfg.spec) {
            (Policy::Fixed, Some(spec)) => {
                std::fs::read_to_string(spec).map_err(|e| format!("{}: {e}", spec.display()))?
            }
            _ => pin_text(&self.graph, &a, &run::spec_ref(&self.run_dir, &self.spec, &self.run_dir), &self.space_args),
        };
        crate::util::write_atomic(&self.run_dir.join("result.lnas"), pin.as_bytes()).map_err(|e| e.to_string())?;
        Ok(SearchOutcome {
            run_dir: self.run_dir.clone(),
            argmax: match cfg.policy {
                Policy::Fixed => self.trained_arch.clone(),
                _ => a.settings(&self.graph),
            },
            actions: last.argmax.clone(),
            val_accuracy: last.val_accuracy,
            test_accuracy: last.test_accuracy,
            weights_digest: state.weights_digest.clone(),
            finished: true,
            shared_weight_accuracy: state.shared_weight_accuracy,
        })
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
