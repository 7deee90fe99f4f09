//! Reading a run folder back: its configuration, its space (instantiated for its data, as the
//! search did), its checkpoint's state and supernet weights, and the architecture of an epoch.
//! `export`, `render`, `train` and `report` start from here.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::backend::Backend;

use super::checkpoint::{self, State};
use super::config::{Policy, SearchConfig};
use super::controller::Decisions;
use crate::check::check_path;
use crate::ir::Graph;
use crate::ir::pin::Assignment;
use crate::net::Supernet;

pub struct Run {
    pub dir: PathBuf,
    pub cfg: SearchConfig,
    pub graph: Graph,
    pub state: State,
    checkpoint: PathBuf,
}

impl Run {
    pub fn open(dir: &Path) -> Result<Run, String> {
        let cfg_path = dir.join("config.yml");
        if !cfg_path.is_file() {
            return Err(format!("{}: not a run folder (no config.yml)", dir.display()));
        }
        let cfg = SearchConfig::from_run_file(&cfg_path)?;
        let spec = cfg.spec.clone().ok_or_else(|| format!("{}: no `spec`", cfg_path.display()))?;
        let out = check_path(&spec, &cfg.space_args(), cfg.space.as_deref(), None);
        // A training run (`policy: fixed`) trains its pinned architecture; a search, the space.
        let graph = if cfg.policy == Policy::Fixed { out.pinned.map(|p| p.1) } else { out.space };
        let graph = match (out.diags.is_empty(), graph) {
            (true, Some(g)) => g,
            _ => return Err(format!("{}: the run's spec no longer checks", spec.display())),
        };
        let checkpoint = checkpoint::find(dir).ok_or_else(|| format!("{}: no checkpoint yet", dir.display()))?;
        let state = checkpoint::load_state(&checkpoint)?;
        let names: Vec<String> = graph.choices.iter().map(|c| c.name.clone()).collect();
        if state.decisions != names {
            return Err(format!("{}: the spec has changed since the run was made", spec.display()));
        }
        Ok(Run { dir: dir.to_path_buf(), cfg, graph, state, checkpoint })
    }

    /// The supernet with the checkpoint's weights (the latest the run trained).
    pub fn supernet<B: Backend>(&self, device: &B::Device) -> Result<Supernet<B>, String> {
        let mut net = Supernet::<B>::new(self.graph.clone(), self.cfg.seed, device);
        let bytes = checkpoint::read(&self.checkpoint, &self.state, "supernet.bin")?;
        let loaded = net.take_weights().load_record(checkpoint::load_record::<B, _>(bytes, device)?);
        net.set_weights(loaded);
        Ok(net)
    }

    /// The argmax architecture after `epoch` (1-based), the best epoch by validation accuracy, or
    /// the last one.
    pub fn architecture(&self, epoch: Option<u32>, best: bool) -> Result<(u32, Assignment), String> {
        let h = &self.state.history;
        let record = match (epoch, best) {
            (Some(e), _) => h
                .iter()
                .find(|r| r.epoch == e)
                .ok_or_else(|| format!("{}: no epoch {e} (epochs 1 to {})", self.dir.display(), h.len()))?,
            (None, true) => h
                .iter()
                .max_by(|a, b| a.val_accuracy.total_cmp(&b.val_accuracy))
                .ok_or_else(|| format!("{}: no epoch has finished yet", self.dir.display()))?,
            (None, false) => h.last().ok_or_else(|| format!("{}: no epoch has finished yet", self.dir.display()))?,
        };
        Ok((record.epoch, Decisions::of(&self.graph).assignment(&record.argmax)))
    }
}
