//! The results ledger (`runs/ledger.jsonl`): one JSON line per finished search or training run,
//! appended, never rewritten. Keyed by the architecture's structural hash, the seed, the version
//! and the device, so results from many runs and machines can be merged and compared.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ir::Graph;
use crate::ir::cost::total;
use crate::ir::decisions::Decisions;
use crate::ir::pin::pin;
use crate::search::RunError;
use crate::search::SearchOutcome;
use crate::search::config::{RunKind, SearchConfig};
use crate::util::{AtPath as _, FileError};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    /// Seconds since the Unix epoch when the run finished.
    pub time: u64,
    /// `search` (ENAS), `random` (the random-search baseline) or `train`.
    pub kind: RunKind,
    pub run: String,
    pub space: String,
    /// Structural hash of the architecture (the found one for a search, the trained one for
    /// `train`): equal for the same network however it was reached.
    pub arch_hash: String,
    /// The choices of the space that pick it, where known (`choice=option,...`).
    pub arch: String,
    pub seed: u64,
    pub version: String,
    pub device: String,
    pub data: String,
    pub epochs: u32,
    /// The rest of the training budget (absent in entries made before it was recorded).
    #[serde(default)]
    pub train_limit: Option<usize>,
    #[serde(default)]
    pub data_seed: Option<u64>,
    #[serde(default)]
    pub batch_size: Option<usize>,
    pub params: u64,
    pub ops: f64,
    /// Validation accuracy: with shared weights for a search, stand-alone for `train`.
    pub val_accuracy: f64,
    pub test_accuracy: Option<f64>,
    /// `train` from a search run: the same architecture's accuracy with the run's shared weights.
    pub shared_weight_accuracy: Option<f64>,
    pub wall_seconds: f64,
}

impl Entry {
    /// The entry of a finished run; `graph` is the space searched, or the architecture trained.
    pub fn new(
        cfg: &SearchConfig,
        run_dir: &Path,
        graph: &Graph,
        out: &SearchOutcome,
        device: String,
        wall: Duration,
    ) -> Result<Entry, RunError> {
        let arch = match cfg.policy.searches() {
            false => graph.clone(),
            true => pin(graph, &Decisions::of(graph).assignment(&out.actions))?,
        };
        let cost = total(&arch);
        Ok(Entry {
            time: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            kind: cfg.policy.run_kind(),
            run: run_dir.display().to_string(),
            space: graph.name.clone(),
            arch_hash: structure_hash(&arch),
            arch: out.argmax.iter().map(|(c, o)| format!("{c}={o}")).collect::<Vec<_>>().join(","),
            seed: cfg.seed,
            version: env!("CARGO_PKG_VERSION").into(),
            device,
            data: cfg.data.to_string(),
            epochs: cfg.epochs,
            train_limit: cfg.train_limit,
            data_seed: cfg.data_seed,
            batch_size: Some(cfg.batch_size),
            params: cost.params,
            ops: cost.ops(),
            val_accuracy: out.val_accuracy,
            test_accuracy: out.test_accuracy,
            shared_weight_accuracy: out.shared_weight_accuracy,
            wall_seconds: wall.as_secs_f64(),
        })
    }
}

/// What a training run was given: its data and schedule. Two stand-alone accuracies compare
/// only under the same budget.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Budget {
    pub data: String,
    /// Training images used (all when absent), drawn by `data_seed` or else the run's seed.
    pub train_limit: Option<usize>,
    pub data_seed: Option<u64>,
    pub epochs: u32,
    pub batch_size: usize,
}

impl Budget {
    /// How `self` differs from `other`, field by field ("epochs 2, not 1; ...").
    pub fn difference(&self, other: &Budget) -> String {
        let show = |v: Option<String>| v.unwrap_or_else(|| "unset".into());
        let mut d = vec![];
        let mut field = |name: &str, a: String, b: String| {
            if a != b {
                d.push(format!("{name} {a}, not {b}"));
            }
        };
        field("data", self.data.clone(), other.data.clone());
        field(
            "train_limit",
            show(self.train_limit.map(|v| v.to_string())),
            show(other.train_limit.map(|v| v.to_string())),
        );
        field("data_seed", show(self.data_seed.map(|v| v.to_string())), show(other.data_seed.map(|v| v.to_string())));
        field("epochs", self.epochs.to_string(), other.epochs.to_string());
        field("batch_size", self.batch_size.to_string(), other.batch_size.to_string());
        d.join("; ")
    }
}

impl Entry {
    /// The run's budget; `None` for an entry made before budgets were recorded.
    pub fn budget(&self) -> Option<Budget> {
        Some(Budget {
            data: self.data.clone(),
            train_limit: self.train_limit,
            data_seed: self.data_seed,
            epochs: self.epochs,
            batch_size: self.batch_size?,
        })
    }
}

/// FNV-1a over every layer of a pinned graph: name, op, shape and inputs, in topological order.
pub fn structure_hash(g: &Graph) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |s: &str| {
        for b in s.bytes().chain(std::iter::once(0)) {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for n in g.topo_order() {
        let node = g.node(n);
        feed(&node.name);
        feed(&format!("{:?}", node.op));
        feed(&node.shape.to_string());
        for i in g.inputs(n) {
            feed(&g.node(i).name);
        }
    }
    format!("{h:016x}")
}

/// The ledger beside a run folder: `<runs dir>/ledger.jsonl`.
pub fn path_for(run_dir: &Path) -> PathBuf {
    run_dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).join("ledger.jsonl")
}

/// Every ledger file in a folder of runs, in name order: `ledger.jsonl` and the sweep shards' own
/// `ledger-shard-I-of-N.jsonl` (one writer each: appends from several machines to one file on a
/// network file system are not atomic).
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    name.starts_with("ledger") && name.ends_with(".jsonl") && p.is_file()
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// The entries of every ledger file in a folder of runs.
pub fn read_folder(dir: &Path) -> Result<Vec<Entry>, RunError> {
    let mut all = vec![];
    for f in files_in(dir) {
        all.extend(read(&f)?);
    }
    Ok(all)
}

/// Append one line with a single `write` on an `O_APPEND` file, so concurrent writers (a sweep's
/// shards) never interleave within a line.
pub fn append(path: &Path, e: &Entry) -> Result<(), FileError> {
    let mut line = serde_json::to_string(e).expect("an entry serialises");
    line.push('\n');
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).at(path)?;
    f.write_all(line.as_bytes()).and_then(|_| f.sync_data()).at(path)
}

/// Every entry of a ledger; a line that does not parse (a crash mid-write) is an error naming it.
pub fn read(path: &Path) -> Result<Vec<Entry>, RunError> {
    let text = std::fs::read_to_string(path).at(path)?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| RunError::Line { path: path.into(), line: i + 1, what: e.to_string() })
        })
        .collect()
}
