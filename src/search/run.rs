//! Reading a run folder back: its configuration, its space (instantiated for its data, as the
//! search did), its checkpoint's state and supernet weights, and the architecture of an epoch.
//! `export`, `render`, `train` and `report` start from here.

use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;

use super::RunError;
use super::checkpoint::{self, State};
use super::config::SearchConfig;
use super::scoring;
use crate::check::{Outcome, PinArg, check_path_with};
use crate::front::StdLib;
use crate::front::snapshot::{self, SOURCE_DIR, STD_DIR};
use crate::ir::Graph;
use crate::ir::decisions::Decisions;
use crate::ir::pin::Assignment;
use crate::net::Supernet;
use crate::util::AtPath as _;

pub struct Run {
    pub dir: PathBuf,
    pub cfg: SearchConfig,
    pub graph: Graph,
    pub state: State,
    checkpoint: PathBuf,
}

impl Run {
    pub fn open(dir: &Path) -> Result<Run, RunError> {
        let cfg_path = dir.join("config.yml");
        if !cfg_path.is_file() {
            return Err(RunError::run(dir, "not a run folder (no config.yml)"));
        }
        let cfg = SearchConfig::from_run_file(&cfg_path)?;
        let out = check_spec(dir, &cfg, None)?;
        // A training run (`policy: fixed`) trains its pinned architecture; a search, the space.
        let graph = if !cfg.policy.searches() { out.pinned.map(|p| p.1) } else { out.space };
        let graph = graph.ok_or_else(|| RunError::run(dir, "the run's spec holds no architecture"))?;
        let checkpoint = checkpoint::find(dir).ok_or_else(|| RunError::run(dir, "no checkpoint yet"))?;
        let state = checkpoint::load_state(&checkpoint)?;
        let names: Vec<String> = graph.choices.iter().map(|c| c.name.clone()).collect();
        if state.decisions != names {
            let (held, wanted) = (state.decisions.join(", "), names.join(", "));
            return Err(RunError::run(
                dir,
                format!("the checkpoint's decisions ({held}) are not the spec's ({wanted})"),
            ));
        }
        Ok(Run { dir: dir.to_path_buf(), cfg, graph, state, checkpoint })
    }

    /// The standard library the run's spec reads.
    pub fn std(&self) -> StdLib {
        std_of(&self.dir)
    }

    /// The supernet with the checkpoint's weights (the latest the run trained).
    pub fn supernet<B: Backend>(&self, device: &B::Device) -> Result<Supernet<B>, RunError> {
        let mut net = Supernet::<B>::new(self.graph.clone(), self.cfg.seed, device);
        self.load_weights_into(&mut net, device)?;
        Ok(net)
    }

    /// A search's path extracted from the shared weights carries the supernet's running
    /// batch-norm statistics, an average over every path trained (in a binary network a wrong
    /// mean before a sign flips activations). Recompute them on `batches` training batches, as
    /// `scoring.batch_norm: recalibrate` does, so the path runs as it would have trained alone.
    /// Returns the images used: 0 for a training run (its statistics are its own) or `batches` 0.
    pub fn recalibrate<B: Backend>(
        &self,
        path: &Supernet<B>,
        batches: usize,
        device: &B::Device,
    ) -> Result<usize, RunError> {
        if !self.cfg.policy.searches() || batches == 0 {
            return Ok(0);
        }
        let cfg = &self.cfg;
        let (splits, _) = crate::data::load(&cfg.data, cfg.data_dir.as_deref(), cfg.data_mirror.as_deref(), cfg.seed)
            .map_err(|e| {
            let why = format!(
                "recalibrating batch norm reads the run's training data: {e}\n  \
                     help: --calibration-batches 0 keeps the supernet's running statistics instead"
            );
            RunError::run(&self.dir, why)
        })?;
        let norm = cfg.data.meta().norm;
        let draw = (cfg.seed, u64::MAX, 0); // its own stream: not a batch the search scored
        let b = scoring::calibration_batches(&splits.train, (&norm, cfg.batch_size), batches, draw);
        scoring::recalibrate(path, &Assignment(vec![]), &b, device);
        Ok(b.iter().map(|b| b.n).sum())
    }

    /// Load the checkpoint's weights into `net` (a supernet of this run's space, or of another
    /// space whose weights must then have the same shapes: checked, the first mismatch named).
    pub fn load_weights_into<B: Backend>(&self, net: &mut Supernet<B>, device: &B::Device) -> Result<(), RunError> {
        let bytes = checkpoint::read(&self.checkpoint, &self.state, "supernet.bin")?;
        let path = self.checkpoint.join("supernet.bin");
        net.load_weights(checkpoint::load_record::<B, _>(bytes, device)?).map_err(|e| RunError::corrupt(path, e))
    }

    /// The argmax architecture after `epoch` (1-based), the best epoch by validation accuracy, or
    /// the last one.
    pub fn architecture(&self, epoch: Option<u32>, best: bool) -> Result<(u32, Assignment), RunError> {
        let h = &self.state.history;
        let record = match (epoch, best) {
            (Some(e), _) => h
                .iter()
                .find(|r| r.epoch == e)
                .ok_or_else(|| RunError::run(&self.dir, format!("no epoch {e} (epochs 1 to {})", h.len())))?,
            (None, true) => h
                .iter()
                .max_by(|a, b| a.val_accuracy.total_cmp(&b.val_accuracy))
                .ok_or_else(|| RunError::run(&self.dir, "no epoch has finished yet"))?,
            (None, false) => h.last().ok_or_else(|| RunError::run(&self.dir, "no epoch has finished yet"))?,
        };
        Ok((record.epoch, Decisions::of(&self.graph).assignment(&record.argmax)))
    }
}

/// The standard library a run reads: its own copy when the run keeps a snapshot of its spec
/// (`source/`), else (a run made before snapshots) this binary's.
pub fn std_of(run_dir: &Path) -> StdLib {
    if run_dir.join(SOURCE_DIR).is_dir() { StdLib::Folder(run_dir.join(STD_DIR)) } else { StdLib::Embedded }
}

/// Check a run's spec (its snapshot) as the run instantiates it, with `pin` if given; any problem
/// is an error naming the run. A run made before snapshots reads the spec where it was, and is
/// refused if that file is no longer the copy the run kept (`spec.lnas`).
pub fn check_spec(run_dir: &Path, cfg: &SearchConfig, pin: Option<&PinArg>) -> Result<Outcome, RunError> {
    let spec = cfg.spec.as_ref().ok_or_else(|| RunError::run(run_dir, "the run's config has no `spec`"))?;
    let std = std_of(run_dir);
    if std == StdLib::Embedded
        && let Ok(kept) = std::fs::read(run_dir.join("spec.lnas"))
        && std::fs::read(spec).ok().as_ref() != Some(&kept)
    {
        let kept = run_dir.join("spec.lnas");
        return Err(RunError::run(
            run_dir,
            format!(
                "this run predates spec snapshots and its spec {} has changed or gone since; put back the \
                 copy it kept ({}) to read it",
                spec.display(),
                kept.display()
            ),
        ));
    }
    let out = check_path_with(spec, &std, &cfg.space_args(), cfg.space.as_deref(), pin);
    if !out.diags.is_empty() {
        let why = rendered(&out.diags, &out.db);
        return Err(RunError::run(run_dir, format!("the run's spec {} does not check:\n{why}", spec.display())));
    }
    Ok(out)
}

/// Copy `spec` and every file it imports (standard-library files read from `std`) into a new
/// run folder; the copy's root file, as an absolute path.
pub fn snapshot_spec(run_dir: &Path, spec: &Path, std: &StdLib) -> Result<PathBuf, RunError> {
    let mut diags = crate::diag::Diagnostics::default();
    let prog = crate::front::load_path_with(spec, std, &mut diags);
    match prog {
        Some(p) if diags.is_empty() => {
            let rel = snapshot::write(&p.db, run_dir)?;
            Ok(std::path::absolute(run_dir.join(rel)).at(run_dir)?)
        }
        Some(p) => Err(RunError::Spec(format!("{} does not load:\n{}", spec.display(), rendered(&diags, &p.db)))),
        None => {
            Err(RunError::Spec(format!("{} does not load:\n{}", spec.display(), rendered(&diags, &Default::default()))))
        }
    }
}

/// Diagnostics as text for an error message (the first few; `lightnasc check` shows them all).
fn rendered(diags: &crate::diag::Diagnostics, db: &crate::front::source::SourceDb) -> String {
    diags.0.iter().take(3).map(|d| d.render(db, false)).collect::<Vec<_>>().join("\n")
}

/// How a file written into `from` (a folder of the run) names the run's spec: relative inside
/// the run folder, so the folder can move; absolute otherwise (a run made before snapshots).
pub fn spec_ref(run_dir: &Path, spec: &Path, from: &Path) -> String {
    let run_abs = std::path::absolute(run_dir).unwrap_or_else(|_| run_dir.to_path_buf());
    let spec_abs = std::path::absolute(spec).unwrap_or_else(|_| spec.to_path_buf());
    match (spec_abs.strip_prefix(&run_abs), from.strip_prefix(run_dir)) {
        (Ok(rel), Ok(sub)) => {
            let up = "../".repeat(sub.components().count());
            format!("{up}{}", rel.display())
        }
        _ => spec_abs.display().to_string(),
    }
}
