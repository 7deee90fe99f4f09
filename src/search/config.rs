//! The search configuration: defaults, a YAML file (`-c`), then command-line flags, in that order
//! of precedence from lowest to highest. The resolved configuration is written into the run
//! folder, and `--resume` reads it back from there.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::RunError;
use super::controller::ControllerConfig;
use super::scoring::ScoringConfig;
use crate::data::DataArg;
use crate::export::ModelFormat;
use crate::util::{AtPath as _, FileError};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    /// The search space. In a run folder's config, the run's own copy (`source/...`).
    pub spec: Option<PathBuf>,
    /// Where the run's spec was copied from, for the record: the run never reads it again.
    pub spec_origin: Option<PathBuf>,
    /// Which space, when the spec file defines several.
    pub space: Option<String>,
    pub data: DataArg,
    /// Folder of the dataset files (default: the cache's copy, one another tool left, or a
    /// fetch; see `data::locate`).
    pub data_dir: Option<PathBuf>,
    /// A folder (URL) with the same file names as the dataset's publisher, for fetching where
    /// the publisher cannot be reached (`LIGHTNASC_DATA_MIRROR` too).
    pub data_mirror: Option<String>,
    /// In a run folder's config: the copy of the dataset the run read, with its checksums.
    pub data_source: Option<crate::data::DataSource>,
    pub epochs: u32,
    pub batch_size: usize,
    pub device: String,
    pub seed: u64,
    /// Fraction of the training set held out for the controller's rewards and per-epoch validation.
    pub val_fraction: f64,
    /// Use at most this many training images (a random subset fixed by the seed); all if unset.
    pub train_limit: Option<usize>,
    /// Draws the training subset and the validation split instead of `seed`, which then varies
    /// only the initialisation and the batch order: a table's seeds of one architecture train
    /// on the same images and are judged on the same validation split.
    pub data_seed: Option<u64>,
    /// Epochs of shared-weight training on paths from the untrained controller (close to uniform)
    /// before it starts learning; at most half of `epochs` run (see [`SearchConfig::warmup`]).
    pub warmup_epochs: u32,
    /// One controller update every this many training batches.
    pub update_arch_frequency: usize,
    /// Random crops and flips on training batches.
    pub augment: bool,
    /// Evaluate the argmax architecture on the test set after every epoch too (always at the end).
    pub test_each_epoch: bool,
    pub optimizer: OptimizerConfig,
    pub controller: ControllerConfig,
    pub reward: RewardConfig,
    /// How candidates are scored with the shared weights (batch norm, validation batches).
    pub scoring: ScoringConfig,
    /// A latency table to use instead of building one (`--latency-table`; a run's `latency.json`).
    pub latency_table: Option<PathBuf>,
    /// Also checkpoint every this many minutes within an epoch.
    pub checkpoint_minutes: f64,
    /// Also checkpoint every this many training steps (for tests and very slow steps).
    pub checkpoint_steps: Option<u64>,
    /// Write each epoch's exports and renders into the run folder.
    pub export_each_epoch: bool,
    /// The model formats a run writes (a training run's model, per-epoch exports).
    pub export: ExportConfig,
    /// How architectures are chosen: `enas` (the controller), `random` (uniform sampling on the
    /// same budget, the baseline), `evolution` (uniform training, a population evolved on the
    /// same number of scored candidates), `fixed` (one pinned architecture: `lightnasc train`).
    pub policy: Policy,
    /// `lightnasc train`: the search run the architecture came from. Its supernet scores the
    /// architecture's shared-weight accuracy, and with `init: supernet` gives the start weights.
    pub source_run: Option<PathBuf>,
    pub init: Init,
    /// Forward-only passes (rewards, validation, latency measurement) run eligible binary convs
    /// through the bit-packed kernels of the run's device: the same numbers, sooner.
    pub binary_kernels: bool,
    /// Training steps run eligible binary convs on the backend's packed training op where it
    /// has one (the CPU: the exact packed forward, the float path's straight-through gradients
    /// up to summation order); `false` trains them in float, as before it existed.
    pub packed_training: bool,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    #[default]
    Enas,
    Random,
    Evolution,
    /// One architecture trained alone: what `lightnasc train` runs, not a `--controller`.
    #[value(skip)]
    Fixed,
}

/// What a finished run is, as the ledger and reports name it: written and compared only as this
/// enum (its serialised name is the ledger's `kind`).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// ENAS.
    Search,
    /// The random-search baseline.
    Random,
    /// Evolutionary search over the shared weights (SPOS).
    Evolution,
    /// A fixed architecture trained.
    Train,
}

impl RunKind {
    pub const ALL: [RunKind; 4] = [RunKind::Search, RunKind::Random, RunKind::Evolution, RunKind::Train];

    pub fn name(self) -> &'static str {
        self.about().0
    }

    /// (name, what a run of it does, its result in a plot, the plot's colour).
    fn about(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            RunKind::Search => ("search", "search", "ENAS argmax (shared weights)", "#1f77b4"),
            RunKind::Random => ("random", "random search", "random search (shared weights)", "#ff7f0e"),
            RunKind::Evolution => ("evolution", "evolutionary search", "evolution (shared weights)", "#9467bd"),
            RunKind::Train => ("train", "train", "retrained (stand-alone)", "#2ca02c"),
        }
    }

    /// What a run of this kind does, for its first line ("random search").
    pub fn verb(self) -> &'static str {
        self.about().1
    }

    /// Its results in a plot's legend, and their colour.
    pub fn label(self) -> &'static str {
        self.about().2
    }

    pub fn colour(self) -> &'static str {
        self.about().3
    }
}

impl std::fmt::Display for RunKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Policy {
    /// Whether it searches a space (`fixed` trains one pinned network: `lightnasc train`).
    pub fn searches(self) -> bool {
        self != Policy::Fixed
    }

    /// The kind of run this policy makes.
    pub fn run_kind(self) -> RunKind {
        match self {
            Policy::Enas => RunKind::Search,
            Policy::Random => RunKind::Random,
            Policy::Evolution => RunKind::Evolution,
            Policy::Fixed => RunKind::Train,
        }
    }
}

/// Which model formats a run writes, and what happens when one cannot lower the run's space or
/// architecture (decided before the first step, never after the last).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ExportConfig {
    pub formats: Vec<ModelFormat>,
    pub unsupported: Unsupported,
}

impl Default for ExportConfig {
    fn default() -> Self {
        ExportConfig { formats: vec![ModelFormat::Onnx, ModelFormat::Mxnet], unsupported: Unsupported::Refuse }
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Unsupported {
    /// The run is refused before it starts.
    #[default]
    Refuse,
    /// The format is left out, with a warning.
    Skip,
}

impl ExportConfig {
    /// The formats to write for `g` (the run's space, or its one architecture), each checked
    /// with its back end's `supports`; warnings for those skipped.
    pub fn usable(&self, g: &crate::ir::Graph) -> Result<(Vec<ModelFormat>, Vec<String>), RunError> {
        let (mut ok, mut warnings) = (vec![], vec![]);
        for &f in &self.formats {
            match (f.supports(g), self.unsupported) {
                (Ok(()), _) => ok.push(f),
                (Err(e), Unsupported::Skip) => warnings.push(format!("not writing {f:?} files: {e}")),
                (Err(source), Unsupported::Refuse) => return Err(RunError::ExportRefused { source }),
            }
        }
        Ok((ok, warnings))
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// Seeded initialisation, as in a search.
    #[default]
    Scratch,
    /// The source run's supernet weights for this architecture (fine-tuning).
    Supernet,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            spec: None,
            spec_origin: None,
            space: None,
            data: DataArg::Named { kind: crate::data::Kind::Cifar100, mock: false },
            data_dir: None,
            data_mirror: None,
            data_source: None,
            epochs: 10,
            batch_size: 64,
            device: "cpu".into(),
            seed: 1,
            val_fraction: 0.1,
            train_limit: None,
            data_seed: None,
            warmup_epochs: 1,
            update_arch_frequency: 5,
            augment: true,
            test_each_epoch: false,
            optimizer: OptimizerConfig::default(),
            controller: ControllerConfig::default(),
            reward: RewardConfig::default(),
            scoring: ScoringConfig::default(),
            latency_table: None,
            checkpoint_minutes: 10.0,
            checkpoint_steps: None,
            export_each_epoch: false,
            export: ExportConfig::default(),
            policy: Policy::Enas,
            source_run: None,
            init: Init::Scratch,
            binary_kernels: true,
            packed_training: true,
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    Adam,
    Sgd,
}

/// The shared weights' optimiser. Defaults: Adam at 2e-3 with a cosine decay to 0, the usual
/// recipe for binary networks (Bi-Real Net, ReActNet use Adam at 1e-3 to 5e-3); L2 weight decay
/// 1e-5 on full-precision parameters only. The original's Adam at 0.1 * B / 256 (0.05 at B = 128)
/// is an SGD learning rate and makes binary latent weights flip at random.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizerConfig {
    pub kind: OptimizerKind,
    pub lr: f64,
    /// SGD only.
    pub momentum: f64,
    pub weight_decay: f64,
    /// Cosine schedule from `lr` to this over all training steps.
    pub final_lr: f64,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        OptimizerConfig { kind: OptimizerKind::Adam, lr: 2e-3, momentum: 0.9, weight_decay: 1e-5, final_lr: 0.0 }
    }
}

impl OptimizerConfig {
    /// Cosine schedule: `final + (lr - final) * (1 + cos(pi * t / total)) / 2`.
    pub fn lr_at(&self, step: u64, total: u64) -> f64 {
        let t = (step as f64 / total.max(1) as f64).min(1.0);
        self.final_lr + (self.lr - self.final_lr) * (1.0 + (std::f64::consts::PI * t).cos()) / 2.0
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RewardKind {
    /// accuracy * (target / latency) ^ exponent (the original's).
    Latency,
    /// Plain accuracy.
    Accuracy,
}

/// Where the latency of options without a fixed `cost` in the spec comes from.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LatencySource {
    /// Timed at batch 1 on the search's backend and device (rewards then depend on timing noise,
    /// so two runs differ; a resumed run reuses its run folder's table).
    Measured,
    /// The cost model's OPs (FLOPs + BOPs / 64): deterministic.
    Ops,
}

/// The latency-aware reward, MnasNet's `acc * (target / latency) ^ w` with `w` = `exponent` above
/// the target latency and `exponent_below_target` below it.
///
/// Defaults: w = 0.07 above the target (2x the latency costs about 5% of the accuracy) and none
/// below it, so an architecture cheaper than the space's average earns no bonus. The original
/// rewarded cheapness without bound (both 0.07): while shared-weight accuracies are still close,
/// that bonus is the only difference between candidates, and the controller collapses onto the
/// cheapest architecture. `latency: ops` (the cost model) makes the reward, and so the search,
/// the same on every run; measured latencies vary from run to run (use `--latency-table`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RewardConfig {
    pub kind: RewardKind,
    pub exponent: f64,
    /// The exponent for latencies below the target (the original: the same as `exponent`).
    pub exponent_below_target: Option<f64>,
    /// Latency the reward is relative to; the space's average latency if unset.
    pub target: Option<f64>,
    pub latency: LatencySource,
}

impl Default for RewardConfig {
    fn default() -> Self {
        RewardConfig {
            kind: RewardKind::Latency,
            exponent: 0.07,
            exponent_below_target: Some(0.0),
            target: None,
            latency: LatencySource::Ops,
        }
    }
}

impl SearchConfig {
    /// This config as the training of one architecture (`lightnasc train`): the fixed policy,
    /// starting from `init` (the search run `source_run`'s weights, where given), no per-epoch
    /// exports.
    pub fn make_training(&mut self, init: Init, source_run: Option<PathBuf>) {
        self.policy = Policy::Fixed;
        self.init = init;
        self.source_run = source_run;
        self.export_each_epoch = false;
    }

    /// Read a YAML config; unknown keys are errors (a typo must not silently fall back).
    pub fn from_yaml_file(path: &Path) -> Result<SearchConfig, RunError> {
        let text = std::fs::read_to_string(path).map_err(|e| FileError::new(path, format!("cannot read: {e}")))?;
        Self::from_yaml_text(&text, path)
    }

    /// A config from its YAML text; `path` names it in errors and anchors its relative paths.
    pub fn from_yaml_text(text: &str, path: &Path) -> Result<SearchConfig, RunError> {
        let mut cfg = deserialise_keys(text).at(path)?;
        // Paths in a config file are relative to the file.
        let dir = path.parent().unwrap_or(Path::new(""));
        for p in [&mut cfg.spec, &mut cfg.data_dir, &mut cfg.latency_table] {
            if let Some(rel) = p.as_ref().filter(|p| p.is_relative()) {
                *p = Some(dir.join(rel));
            }
        }
        if let DataArg::Folder(f) = &mut cfg.data {
            for p in std::iter::once(&mut f.folder).chain(f.test.as_mut()) {
                if p.is_relative() {
                    *p = dir.join(&*p);
                }
            }
        }
        Ok(cfg)
    }

    /// A run folder's resolved config. A run made before the `scoring` section existed searched
    /// with the settings of its time, which are not today's defaults: those are filled in, so
    /// the run resumes, and is judged, as it ran.
    pub fn from_run_file(path: &Path) -> Result<SearchConfig, RunError> {
        let text = std::fs::read_to_string(path).map_err(|e| FileError::new(path, format!("cannot read: {e}")))?;
        let mut cfg = Self::from_yaml_text(&text, path)?;
        let raw: serde_norway::Value = serde_norway::from_str(&text).at(path)?;
        if raw.get("scoring").is_none() {
            cfg.scoring = ScoringConfig::legacy();
            cfg.reward.exponent_below_target = None;
            let reward = raw.get("reward");
            if reward.and_then(|r| r.get("latency")).is_none() {
                cfg.reward.latency = LatencySource::Measured;
            }
            let ctrl = raw.get("controller");
            let legacy = super::controller::ControllerConfig::legacy();
            if ctrl.and_then(|c| c.get("baseline_decay")).is_none() {
                cfg.controller.baseline_decay = legacy.baseline_decay;
            }
            if ctrl.and_then(|c| c.get("entropy_weight")).is_none() {
                cfg.controller.entropy_weight = legacy.entropy_weight;
            }
            if ctrl.and_then(|c| c.get("tanh_constant")).is_none() {
                cfg.controller.tanh_constant = legacy.tanh_constant;
            }
            if raw.get("warmup_epochs").is_none() {
                cfg.warmup_epochs = 0;
            }
        }
        Ok(cfg)
    }

    /// The space's arguments for this data: its input shape and class count. The search, and
    /// everything that reads a run back, instantiate the space with them.
    pub fn space_args(&self) -> crate::lower::SpaceArgs {
        // A folder not yet resolved takes the space's default input (`folder::resolve`).
        let unresolved = matches!(&self.data, DataArg::Folder(f) if f.input.is_none());
        let meta = self.data.meta();
        crate::lower::SpaceArgs {
            input: (!unresolved).then(|| meta.shape.iter().map(|&d| d as u32).collect()),
            classes: Some(meta.classes.len() as i64).filter(|&n| n > 0),
            other: vec![],
        }
    }

    /// How this run's data prepares a model's input, which its exports carry.
    pub fn preprocess(&self, folded: bool) -> crate::export::Preprocess {
        let m = self.data.meta();
        crate::export::Preprocess { mean: m.norm.mean, std: m.norm.std, classes: m.classes, folded }
    }

    /// The same, as a pin's header writes them (`pin demo(x: [1, 28, 28], classes: 10)`), for a
    /// space whose input parameter is named `input`.
    pub fn pin_args(&self, input: &str) -> Vec<(String, String)> {
        let meta = self.data.meta();
        let shape = meta.shape.iter().map(usize::to_string).collect::<Vec<_>>().join(", ");
        vec![(input.to_string(), format!("[{shape}]")), ("classes".to_string(), meta.classes.len().to_string())]
    }

    /// The epochs of warm-up that run: `warmup_epochs`, but at most half the run, so the
    /// controller always learns for at least as long as the warm-up lasted (`--epochs 1` has none).
    pub fn warmup(&self) -> u32 {
        self.warmup_epochs.min(self.epochs / 2)
    }

    /// `KEY=VALUE` with a dotted key (`scoring.batch_norm=batch`); the value is YAML. The
    /// result is checked like a config file: unknown keys and wrong types are errors.
    pub fn set(&mut self, kv: &str) -> Result<(), RunError> {
        use serde_norway::{Mapping, Value};
        let bad = |why: &dyn std::fmt::Display| RunError::Config(format!("--set {kv}: {why}"));
        let (key, value) =
            kv.split_once('=').ok_or_else(|| bad(&"expected KEY=VALUE, e.g. scoring.batch_norm=batch"))?;
        let key = &underscored(key);
        let value: Value = serde_norway::from_str(value).map_err(|e| bad(&e))?;
        let mut root = serde_norway::to_value(&*self).expect("a config serialises");
        let mut at = &mut root;
        for part in key.split('.') {
            let map = at.as_mapping_mut().ok_or_else(|| bad(&format!("`{part}` is not inside a section")))?;
            let k = Value::String(part.to_string());
            if !map.contains_key(&k) {
                // Optional sections serialise as null: make them a mapping to set into.
                map.insert(k.clone(), Value::Mapping(Mapping::new()));
            }
            at = map.get_mut(&k).expect("just inserted");
            if at.is_null() {
                *at = Value::Mapping(Mapping::new());
            }
        }
        *at = value;
        *self = serde_norway::from_value(root).map_err(|e| bad(&key_hint(e.to_string())))?;
        Ok(())
    }

    pub fn to_yaml(&self) -> String {
        serde_norway::to_string(self).expect("a config serialises")
    }

    /// Check the values that the types do not.
    pub fn validate(&self) -> Result<(), RunError> {
        let bad = |m: String| Err(RunError::Config(m));
        if self.epochs == 0 {
            return bad("`epochs` must be at least 1".into());
        }
        if self.batch_size == 0 {
            return bad("`batch_size` must be at least 1".into());
        }
        if !(0.0..1.0).contains(&self.val_fraction) || self.val_fraction == 0.0 {
            return bad(format!("`val_fraction` must be in (0, 1), got {}", self.val_fraction));
        }
        if self.update_arch_frequency == 0 {
            return bad("`update_arch_frequency` must be at least 1".into());
        }
        if self.controller.batch_size == 0 || self.controller.hidden == 0 {
            return bad("`controller.batch_size` and `controller.hidden` must be at least 1".into());
        }
        if self.controller.temperature.is_nan() || self.controller.temperature <= 0.0 {
            return bad("`controller.temperature` must be positive".into());
        }
        if self.optimizer.lr.is_nan() || self.optimizer.lr <= 0.0 {
            return bad(format!("`optimizer.lr` must be positive, got {}", self.optimizer.lr));
        }
        if !(0.0..1.0).contains(&self.controller.baseline_decay) {
            return bad("`controller.baseline_decay` must be in [0, 1)".into());
        }
        self.scoring.validate()?;
        if self.init == Init::Supernet && self.source_run.is_none() {
            return bad("`init: supernet` needs the search run to take the weights from (`source_run`)".into());
        }
        Ok(())
    }
}

/// A key as config files spell them: with underscores (flags use hyphens).
fn underscored(key: &str) -> String {
    let k = key.replace('-', "_");
    if k != key {
        eprintln!("note: config key `{key}` read as `{k}` (config keys are written with underscores)");
    }
    k
}

/// A config from YAML text. Where the text as written does not deserialise, its keys in the flags'
/// spelling (`train-limit`) are read as the config's (`train_limit`, with a note); an error is the
/// text's own, with its line numbers, an unknown key named with the nearest known one.
fn deserialise_keys(text: &str) -> Result<SearchConfig, String> {
    use serde_norway::Value;
    fn hyphenated(v: &Value, out: &mut Vec<String>) {
        for (k, val) in v.as_mapping().into_iter().flatten() {
            out.extend(k.as_str().filter(|s| s.contains('-')).map(String::from));
            hyphenated(val, out);
        }
    }
    fn underscore(v: &mut Value) {
        let Some(map) = v.as_mapping_mut() else { return };
        for (k, mut val) in std::mem::take(map) {
            underscore(&mut val);
            map.insert(k.as_str().map_or(k.clone(), |s| Value::String(s.replace('-', "_"))), val);
        }
    }
    let err = match serde_norway::from_str::<SearchConfig>(text) {
        Ok(cfg) => return Ok(cfg),
        Err(e) => crate::util::yaml_duplicate_lines(key_hint(e.to_string()), text),
    };
    let Ok(mut value) = serde_norway::from_str::<Value>(text) else { return Err(err) };
    let mut keys = vec![];
    hyphenated(&value, &mut keys);
    underscore(&mut value);
    let cfg = serde_norway::from_value(value).map_err(|_| err)?;
    for k in &keys {
        underscored(k); // its note, now that the keys were read so
    }
    Ok(cfg)
}

/// serde's `unknown field `X`, expected one of `a`, `b`, ... (30 names)` as one suggestion:
/// `did you mean `Y`?` with the nearest known key, the rest of the message (its place) kept.
fn key_hint(msg: String) -> String {
    let Some(start) = msg.find("unknown field `") else { return msg };
    let rest = &msg[start + "unknown field `".len()..];
    let (Some(end), Some(list)) = (rest.find('`'), rest.find("expected one of ")) else { return msg };
    let key = &rest[..end];
    let list = &rest[list..];
    let names = list.split('`').skip(1).step_by(2);
    let place = list.rfind('`').map_or("", |i| &list[i + 1..]);
    let hint = crate::util::closest(key, names).map_or(String::new(), |c| format!("; did you mean `{c}`?"));
    format!("{}unknown key `{key}`{place}{hint}", &msg[..start])
}
