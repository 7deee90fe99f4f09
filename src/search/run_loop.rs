//! The search's training loop in parts: setting up or resuming a run, one epoch of shared-weight
//! training with the policy's updates, the end of an epoch (validation, logs, the epoch's
//! artefacts, a checkpoint) and the run's result. Everything that differs by policy is asked of
//! the policy (`ArchPolicy`); `SearchJob::run_with` strings the parts together.

use std::path::Path;
use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;

use super::checkpoint::{self, EpochRecord, Finalist, Records, State};
use super::config::Init;
use super::latency::LatencyTable;
use super::policy::{self, ArchPolicy};
use super::{RunError, Scoring, SearchJob, SearchOutcome, progress, run, scoring, weights_digest};
use crate::data::loader::BatchPlan;
use crate::export::write_model;
use crate::ir::decisions::Decisions;
use crate::ir::pin::{Assignment, pin_text};
use crate::net::Supernet;
use crate::net::parallel::DataParallel;
use crate::net::train::{GroupedOptimizer, TrainOptimizer};
use crate::tensorboard::EventWriter;
use crate::util::AtPath as _;

/// A run in progress on its main device: the shared weights, the policy, the optimisers and the
/// checkpointed state.
pub(super) struct Running<B: AutodiffBackend, O> {
    pub net: Supernet<B>,
    pub policy: Box<dyn ArchPolicy<B>>,
    pub optim: GroupedOptimizer<O>,
    pub state: State,
    pub decisions: Decisions,
    pub device: B::Device,
    /// Whether it continues from a checkpoint.
    pub resumed: bool,
}

/// What the epochs share besides the run: the reward's latency table, the TensorBoard log, the
/// training batches, and when the last checkpoint was written.
pub(super) struct Epochs<B: AutodiffBackend> {
    pub latency: LatencyTable,
    pub tb: EventWriter,
    pub parallel: DataParallel<B>,
    pub plan: BatchPlan,
    pub batches: usize,
    pub total_steps: u64,
    pub last_save: Instant,
    /// Training steps taken by this process (for `stop_after`).
    pub steps_here: u64,
}

impl SearchJob {
    /// The shared weights, the policy and the optimisers, fresh or from the run's checkpoint.
    pub(super) fn start<B, O>(&self, device: B::Device, decayed: O, plain: O) -> Result<Running<B, O>, RunError>
    where
        B: AutodiffBackend,
        O: TrainOptimizer<B>,
    {
        let cfg = &self.cfg;
        let decisions = Decisions::of(&self.graph);
        let names: Vec<String> = self.graph.choices.iter().map(|c| c.name.clone()).collect();
        let mut net = Supernet::<B>::new(self.graph.clone(), cfg.seed, &device);
        net.binary_kernels = cfg.binary_kernels;
        net.packed_training = cfg.packed_training;
        let mut policy = policy::make::<B>(cfg, &decisions, &device);
        let resumed_from = if self.resume { checkpoint::find(&self.run_dir) } else { None };
        if self.resume && resumed_from.is_none() {
            // A checkpoint folder without its state is damage, not a run that never got there.
            if ["checkpoint", "checkpoint.old"].iter().any(|n| self.run_dir.join(n).exists()) {
                return Err(RunError::run(
                    &self.run_dir,
                    "no checkpoint to resume from (checkpoint/ has no state.json)",
                ));
            }
            // Stopped before its first checkpoint: nothing trained, so it starts over with the
            // config its folder holds (refusing would leave only `rm -rf`).
            let dir = self.run_dir.display();
            eprintln!("{dir}: no checkpoint yet (stopped before its first); starting it from the beginning");
        }
        let (state, optim) = match &resumed_from {
            Some(dir) => self.resume_from(dir, names, &mut net, &mut *policy, (decayed, plain), &device)?,
            None => self.fresh(names, &mut net, (decayed, plain), &device)?,
        };
        if !policy.searches() {
            eprintln!("network: {} trainable parameters in {} layers", net.param_count(), net.plan.steps.len());
        }
        Ok(Running { net, policy, optim, state, decisions, device, resumed: resumed_from.is_some() })
    }

    /// The state, weights, policy and optimiser states of the checkpoint in `dir`.
    fn resume_from<B, O>(
        &self,
        dir: &Path,
        names: Vec<String>,
        net: &mut Supernet<B>,
        policy: &mut dyn ArchPolicy<B>,
        (decayed, plain): (O, O),
        device: &B::Device,
    ) -> Result<(State, GroupedOptimizer<O>), RunError>
    where
        B: AutodiffBackend,
        O: TrainOptimizer<B>,
    {
        let mut state = checkpoint::load_state(dir)?;
        if state.decisions != names {
            let (held, now) = (state.decisions.len(), names.len());
            let why = format!("the checkpoint was made for another space ({held} decisions; the spec now has {now})");
            return Err(RunError::run(dir, why));
        }
        let record = checkpoint::load_record::<B, _>(checkpoint::read(dir, &state, "supernet.bin")?, device)?;
        net.load_weights(record).map_err(|e| RunError::corrupt(dir.join("supernet.bin"), e))?;
        policy.load(dir, &state, device)?;
        let mut optim = GroupedOptimizer::new(net, decayed, plain);
        let read = |name| checkpoint::load_record::<B, _>(checkpoint::read(dir, &state, name)?, device);
        optim.decayed = optim.decayed.load_record(read("optim-decayed.bin")?);
        optim.plain = optim.plain.load_record(read("optim-plain.bin")?);
        // `--epochs` may have been raised on resume: a finished run then goes on.
        state.finished = state.epoch >= self.cfg.epochs;
        if state.finished {
            eprintln!("{}: the run had finished; nothing to resume", self.run_dir.display());
        } else {
            eprintln!("resuming {} at epoch {}, batch {}", self.run_dir.display(), state.epoch + 1, state.batch);
        }
        Ok((state, optim))
    }

    /// A new run's state; a training run from a search run first scores its architecture with
    /// the search's shared weights (and starts from them with `init: supernet`).
    fn fresh<B, O>(
        &self,
        names: Vec<String>,
        net: &mut Supernet<B>,
        (decayed, plain): (O, O),
        device: &B::Device,
    ) -> Result<(State, GroupedOptimizer<O>), RunError>
    where
        B: AutodiffBackend,
        O: TrainOptimizer<B>,
    {
        let cfg = &self.cfg;
        let mut state = State { decisions: names, ..Default::default() };
        if let (Some(src), Some(a)) = (&cfg.source_run, &self.source_arch) {
            let source = run::Run::open(src)?.supernet::<B>(device)?;
            let scorer = self.scorer(source.valid(), 0, 0, device);
            state.shared_weight_accuracy = Some(scorer.accuracy(a, &self.val, &self.norm, cfg.batch_size));
            if cfg.init == Init::Supernet {
                let (kernels, training) = (net.binary_kernels, net.packed_training);
                *net = source.extract(a)?;
                (net.binary_kernels, net.packed_training) = (kernels, training);
            }
        }
        Ok((state, GroupedOptimizer::new(net, decayed, plain)))
    }

    /// The reward's latency table: a resumed run's own (measured latencies differ run to run),
    /// else the config's file or one built now, written into the run folder.
    pub(super) fn latency_table<B: AutodiffBackend, O>(&self, r: &Running<B, O>) -> Result<LatencyTable, RunError> {
        let path = self.run_dir.join("latency.json");
        let stored: Option<LatencyTable> = Some(&path)
            .filter(|_| r.resumed)
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|t| serde_json::from_str(&t).ok())
            .filter(|t: &LatencyTable| t.options.len() == r.decisions.options.len());
        if let Some(t) = stored {
            return Ok(t);
        }
        let t = match &self.cfg.latency_table {
            Some(file) => LatencyTable::read(file, &r.decisions.options)?,
            None => LatencyTable::build(&r.net.valid(), self.cfg.reward.latency, &r.device),
        };
        crate::util::write_atomic(&path, serde_json::to_string_pretty(&t).expect("serialises").as_bytes()).at(&path)?;
        Ok(t)
    }

    /// A checkpoint of the run as it stands.
    pub(super) fn save<B, O>(&self, r: &mut Running<B, O>) -> Result<(), RunError>
    where
        B: AutodiffBackend,
        O: TrainOptimizer<B>,
    {
        r.state.weights_digest = weights_digest(&r.net);
        let mut records: Records = vec![
            ("supernet.bin", checkpoint::module_bytes(&r.net.weights)?),
            ("optim-decayed.bin", checkpoint::record::<B, _>(r.optim.decayed.to_record())?),
            ("optim-plain.bin", checkpoint::record::<B, _>(r.optim.plain.to_record())?),
        ];
        records.extend(r.policy.records()?);
        checkpoint::save(&self.run_dir, &r.state, &records)
    }

    /// The rest of the current epoch: one architecture per batch from the policy, trained on the
    /// shared weights, the policy's updates every `update_arch_frequency` batches, checkpoints
    /// on their schedule. The architectures trained, or `None` if `stop_after` stopped it.
    pub(super) fn train_epoch<B, O>(
        &self,
        r: &mut Running<B, O>,
        e: &mut Epochs<B>,
    ) -> Result<Option<Vec<Vec<u32>>>, RunError>
    where
        B: AutodiffBackend,
        O: TrainOptimizer<B>,
    {
        let (cfg, epoch) = (&self.cfg, r.state.epoch);
        let mut bar = progress((e.batches * cfg.batch_size) as u64, epoch, cfg.epochs);
        bar.set_position((r.state.batch * cfg.batch_size) as u64);
        let mut archs: Vec<Vec<u32>> = vec![];
        for (b, batch) in (r.state.batch..e.batches).zip(e.plan.stream(self.train.clone(), epoch as u64, r.state.batch))
        {
            let arch = r.policy.sample(epoch, b);
            let a = r.decisions.assignment(&arch);
            let lr = cfg.optimizer.lr_at(r.state.global_step, e.total_steps);
            let n = batch.n;
            let stats = e
                .parallel
                .step(&mut r.net, &mut r.optim, lr, batch, &a, &r.device)
                .map_err(|source| RunError::Step { epoch: epoch + 1, batch: b, dir: self.run_dir.clone(), source })?;
            let s = &mut r.state;
            (s.epoch_loss_sum, s.epoch_correct) =
                (s.epoch_loss_sum + stats.loss * n as f64, s.epoch_correct + stats.correct as u64);
            (s.epoch_seen, s.global_step) = (s.epoch_seen + n as u64, s.global_step + 1);
            e.steps_here += 1;
            archs.push(arch);
            let step = s.global_step as i64;
            e.tb.scalar("train/loss", step, stats.loss).map_err(RunError::TensorBoard)?;
            e.tb.scalar("train/accuracy", step, stats.correct as f64 / n as f64).map_err(RunError::TensorBoard)?;
            e.tb.scalar("lr", step, lr).map_err(RunError::TensorBoard)?;
            if epoch >= cfg.warmup() && b % cfg.update_arch_frequency == 0 && r.policy.searches() {
                let at =
                    Scoring { net: &r.net, decisions: &r.decisions, latency: &e.latency, epoch, b, device: &r.device };
                r.policy.update(self, &at, &mut r.state, &mut e.tb)?;
            }
            bar.set_position(((b + 1) * cfg.batch_size) as u64);
            let seen = r.state.epoch_seen.max(1) as f64;
            bar.set_message(format!(
                "loss {:.3} acc {:.3}",
                r.state.epoch_loss_sum / seen,
                r.state.epoch_correct as f64 / seen
            ));
            r.state.batch = b + 1;
            let by_steps = cfg.checkpoint_steps.is_some_and(|k| k > 0 && r.state.global_step.is_multiple_of(k));
            let by_time = e.last_save.elapsed().as_secs_f64() > cfg.checkpoint_minutes * 60.0;
            if (by_steps || by_time) && r.state.batch < e.batches {
                self.save(r)?;
                e.tb.flush().map_err(RunError::TensorBoard)?;
                e.last_save = Instant::now();
            }
            if self.stop_after.is_some_and(|k| e.steps_here >= k) {
                bar.abandon();
                return Ok(None);
            }
        }
        bar.finish();
        Ok(Some(archs))
    }

    /// The end of an epoch: the policy's argmax validated on the whole validation split (and
    /// tested at the end), logged, written out, printed, and a checkpoint.
    pub(super) fn end_epoch<B, O>(
        &self,
        r: &mut Running<B, O>,
        e: &mut Epochs<B>,
        archs: &[Vec<u32>],
        started: Instant,
    ) -> Result<(), RunError>
    where
        B: AutodiffBackend,
        O: TrainOptimizer<B>,
    {
        let (cfg, epoch) = (&self.cfg, r.state.epoch);
        let eval_net = r.net.valid();
        let (own, probs) = r.policy.argmax(&r.state, epoch);
        // A fixed network's batch norms are its own: its running statistics are right.
        let scorer = if r.policy.searches() {
            self.scorer(r.net.valid(), epoch as u64, e.batches as u64, &r.device)
        } else {
            self.scorer_with(r.net.valid(), &scoring::ScoringConfig::legacy(), 0, 0, &r.device)
        };
        let last = epoch + 1 == cfg.epochs;
        let finalists = match last && r.policy.searches() && cfg.scoring.finalists > 1 {
            true => self.finalists(r, &scorer, &e.latency, own.clone()),
            false => vec![],
        };
        let (argmax, val_accuracy) = match pick(&finalists) {
            Some(f) => (f.arch.clone(), f.val_accuracy),
            None => {
                let v = scorer.accuracy(&r.decisions.assignment(&own), &self.val, &self.norm, cfg.batch_size);
                (own, v)
            }
        };
        let a = r.decisions.assignment(&argmax);
        let test_accuracy = ((cfg.test_each_epoch || last) && !self.test.is_empty())
            .then(|| scorer.accuracy(&a, &self.test, &self.norm, cfg.batch_size));
        let seen = r.state.epoch_seen.max(1) as f64;
        let record = EpochRecord {
            epoch: epoch + 1,
            train_loss: r.state.epoch_loss_sum / seen,
            train_accuracy: r.state.epoch_correct as f64 / seen,
            val_accuracy,
            test_accuracy,
            entropy: r.policy.entropy(&probs),
            latency: e.latency.of(&a),
            argmax,
            probs,
            seconds: started.elapsed().as_secs_f64(),
            finalists,
        };
        log_epoch(&mut e.tb, &record, &r.decisions, archs)?;
        if r.policy.searches() {
            self.epoch_artefacts(&a, epoch, &eval_net)?;
        }
        print_epoch(&record, cfg.epochs, r.policy.searches().then(|| e.latency.show(record.latency)));
        let s = &mut r.state;
        s.history.push(record);
        (s.epoch, s.batch) = (s.epoch + 1, 0);
        (s.epoch_loss_sum, s.epoch_correct, s.epoch_seen) = (0.0, 0, 0);
        s.finished = s.epoch >= cfg.epochs;
        self.save(r)?;
        e.tb.flush().map_err(RunError::TensorBoard)?;
        e.last_save = Instant::now();
        Ok(())
    }

    /// The search's end, the same for every policy: its own pick and its next best candidates
    /// (`scoring.finalists` in all), each scored on the whole validation split.
    fn finalists<B: AutodiffBackend, O>(
        &self,
        r: &Running<B, O>,
        scorer: &scoring::Scorer<B::InnerBackend>,
        latency: &LatencyTable,
        own: Vec<u32>,
    ) -> Vec<Finalist> {
        let k = self.cfg.scoring.finalists;
        let mut archs = vec![own];
        for c in r.policy.finalists(&r.state, k) {
            if archs.len() < k && !archs.contains(&c) {
                archs.push(c);
            }
        }
        let mut steps = crate::progress::Steps::new("finalists on the whole validation split", archs.len());
        let scored = archs
            .into_iter()
            .enumerate()
            .map(|(i, arch)| {
                let a = r.decisions.assignment(&arch);
                let val_accuracy = scorer.accuracy(&a, &self.val, &self.norm, self.cfg.batch_size);
                let reward = latency.reward(&self.cfg.reward, val_accuracy, &a);
                steps.done(i, &format!("{} val acc {val_accuracy:.4}, reward {reward:.4}", bits(&arch)));
                Finalist { arch, val_accuracy, reward }
            })
            .collect();
        steps.finish();
        scored
    }

    /// Each epoch's argmax as a pin and a colored graph (the SVG where Graphviz is installed),
    /// and with `export_each_epoch` as models with the current weights.
    fn epoch_artefacts<B: burn::tensor::backend::Backend>(
        &self,
        a: &Assignment,
        epoch: u32,
        net: &Supernet<B>,
    ) -> Result<(), RunError> {
        let epochs = self.run_dir.join("epochs");
        let spec_ref = run::spec_ref(&self.run_dir, &self.spec, &epochs);
        let pin = pin_text(&self.graph, a, &spec_ref, &self.space_args);
        let pin_path = epochs.join(format!("epoch-{:03}.lnas", epoch + 1));
        let write = |path: &Path, bytes: &[u8]| crate::util::write_atomic(path, bytes).at(path);
        std::fs::create_dir_all(&epochs).at(&epochs)?;
        write(&pin_path, pin.as_bytes())?;
        let title = format!("{}: argmax architecture after epoch {}", self.graph.name, epoch + 1);
        let dot_text = crate::back::dot::render(&self.graph, Some(a), &title);
        write(&pin_path.with_extension("dot"), dot_text.as_bytes())?;
        if let Ok(svg) = crate::back::graphviz::render(&dot_text, "svg") {
            write(&pin_path.with_extension("svg"), &svg.bytes)?;
        }
        if self.cfg.export_each_epoch {
            let fixed = net.extract(a)?;
            write_model(
                &pin_path.with_extension(""),
                &self.formats,
                &fixed.plan.graph,
                &fixed.to_store(),
                Some(&self.cfg.preprocess(false)),
            )?;
        }
        Ok(())
    }

    /// The run's result: a training run's model exported beside its checkpoint, `result.lnas`
    /// (the trained architecture as pinned, or the search's last argmax), and the outcome.
    pub(super) fn finish<B, O>(&self, r: &Running<B, O>) -> Result<SearchOutcome, RunError>
    where
        B: AutodiffBackend,
    {
        let last = r.state.history.last().ok_or_else(|| RunError::run(&self.run_dir, "no epoch was run"))?;
        let searched = r.policy.searches();
        if !searched {
            let store = r.net.valid().to_store();
            write_model(
                &self.run_dir.join("model"),
                &self.formats,
                &r.net.plan.graph,
                &store,
                Some(&self.cfg.preprocess(false)),
            )?;
        }
        let a = r.decisions.assignment(&last.argmax);
        let pin = match (searched, &self.cfg.spec) {
            (false, Some(spec)) => std::fs::read_to_string(spec).at(spec)?,
            _ => pin_text(&self.graph, &a, &run::spec_ref(&self.run_dir, &self.spec, &self.run_dir), &self.space_args),
        };
        let result = self.run_dir.join("result.lnas");
        crate::util::write_atomic(&result, pin.as_bytes()).at(&result)?;
        Ok(SearchOutcome {
            run_dir: self.run_dir.clone(),
            argmax: if searched { a.settings(&self.graph) } else { self.trained_arch.clone() },
            actions: last.argmax.clone(),
            val_accuracy: last.val_accuracy,
            test_accuracy: last.test_accuracy,
            weights_digest: r.state.weights_digest.clone(),
            finished: true,
            shared_weight_accuracy: r.state.shared_weight_accuracy,
        })
    }

    /// A run stopped by `stop_after` (as if killed): only where its weights stand.
    pub(super) fn stopped<B: AutodiffBackend, O>(&self, r: &Running<B, O>) -> SearchOutcome {
        SearchOutcome {
            run_dir: self.run_dir.clone(),
            argmax: vec![],
            actions: vec![],
            val_accuracy: 0.0,
            test_accuracy: None,
            weights_digest: weights_digest(&r.net),
            finished: false,
            shared_weight_accuracy: r.state.shared_weight_accuracy,
        }
    }
}

/// An epoch's scalars and images in the TensorBoard log.
fn log_epoch(
    tb: &mut EventWriter,
    record: &EpochRecord,
    decisions: &Decisions,
    archs: &[Vec<u32>],
) -> Result<(), RunError> {
    let step = record.epoch as i64;
    tb.scalar("val/accuracy", step, record.val_accuracy).map_err(RunError::TensorBoard)?;
    tb.scalar("latency/argmax", step, record.latency).map_err(RunError::TensorBoard)?;
    if let Some(h) = record.entropy {
        tb.scalar("controller/epoch_entropy", step, h).map_err(RunError::TensorBoard)?;
    }
    tb.scalar("train/epoch_accuracy", step, record.train_accuracy).map_err(RunError::TensorBoard)?;
    if let Some(t) = record.test_accuracy {
        tb.scalar("test/accuracy", step, t).map_err(RunError::TensorBoard)?;
    }
    let k = decisions.options.len();
    if k == 0 {
        return Ok(());
    }
    let width = decisions.options.iter().copied().max().unwrap_or(1);
    let mut cells = vec![0f32; k * width];
    for (i, p) in record.probs.iter().enumerate() {
        cells[i * width..i * width + p.len()].copy_from_slice(p);
    }
    tb.grey_image("controller/probabilities", step, &cells, k, width, 8).map_err(RunError::TensorBoard)?;
    if !archs.is_empty() {
        let mean: Vec<f32> =
            (0..k).map(|i| archs.iter().map(|a| a[i] as f32).sum::<f32>() / archs.len() as f32).collect();
        tb.grey_image("train/epoch_average_config", step, &mean, k, 1, 8).map_err(RunError::TensorBoard)?;
    }
    Ok(())
}

/// The finalist kept: the best on the run's objective, the first of equals (the policy's own
/// pick comes first); `None` where there were none.
fn pick(finalists: &[Finalist]) -> Option<&Finalist> {
    finalists.iter().reduce(|best, f| if f.reward > best.reward { f } else { best })
}

/// An architecture as its option indices, one digit a decision.
fn bits(arch: &[u32]) -> String {
    arch.iter().map(|a| a.to_string()).collect()
}

/// Which finalist the end kept, where there were several.
fn finalists_note(finalists: &[Finalist]) -> String {
    match finalists {
        [] | [_] => String::new(),
        [own, ..] if finalists.iter().all(|f| f.reward <= own.reward) => {
            format!(" (the policy's pick, best of {} finalists)", finalists.len())
        }
        [own, ..] => format!(
            " (best of {} finalists; the policy's pick {} scored {:.4})",
            finalists.len(),
            bits(&own.arch),
            own.reward
        ),
    }
}

/// The epoch's line on stdout; a fixed network has no architecture to show, nor latency.
fn print_epoch(record: &EpochRecord, epochs: u32, latency: Option<String>) {
    let search_part = if let Some(latency) = latency {
        format!(
            " | latency {latency}{} | {}",
            record.entropy.map_or(String::new(), |h| format!(" | entropy {h:.2}")),
            bits(&record.argmax)
        ) + &finalists_note(&record.finalists)
    } else {
        String::new()
    };
    println!(
        "epoch {}/{epochs}: train loss {:.4} acc {:.4} | val acc {:.4}{} | {:.0}s{search_part}",
        record.epoch,
        record.train_loss,
        record.train_accuracy,
        record.val_accuracy,
        record.test_accuracy.map_or(String::new(), |t| format!(" | test acc {t:.4}")),
        record.seconds,
    );
}
