//! What can stop a run, or a command that reads one: each cause its own variant, so a caller can
//! tell a missing run from a corrupt checkpoint, a bad setting, a data or device problem.

use std::path::PathBuf;

use thiserror::Error;

use crate::back::BackError;
use crate::data::DataError;
use crate::ir::pin::PinError;
use crate::ir::store::WeightError;
use crate::net::NetError;
use crate::util::FileError;

#[derive(Debug, Error)]
pub enum RunError {
    /// The folder is not a run, or not one that can do what was asked (no checkpoint yet, no
    /// such epoch, a checkpoint of another space).
    #[error("{}: {what}", dir.display())]
    Run { dir: PathBuf, what: String },
    /// A file that does not hold what it should (a checkpoint, its state, a latency table).
    #[error("{}: {what}", path.display())]
    Corrupt { path: PathBuf, what: String },
    /// A line of a line-per-record file (a ledger, a table) that does not parse.
    #[error("{}:{line}: {what}", path.display())]
    Line { path: PathBuf, line: usize, what: String },
    #[error("the checkpoint is corrupt or from another version: {0}")]
    Record(String),
    #[error("saving a record: {0}")]
    Save(String),
    #[error("writing the checkpoint {}: {source}", path.display())]
    Checkpoint { path: PathBuf, source: std::io::Error },
    /// The spec does not load or check; the diagnostics, rendered.
    #[error("{0}")]
    Spec(String),
    /// A setting the run cannot use: a config value, `--set`, a batch size for these devices.
    #[error("{0}")]
    Config(String),
    #[error(
        "{source}; set `export.unsupported: skip` to train without that format, or leave it out of `export.formats`"
    )]
    ExportRefused { source: BackError },
    #[error("writing TensorBoard events: {0}")]
    TensorBoard(std::io::Error),
    /// A training step failed; the checkpoint before it is intact.
    #[error("epoch {epoch}, batch {batch}: {source}; the last checkpoint in {} is intact", dir.display())]
    Step { epoch: u32, batch: usize, dir: PathBuf, source: NetError },
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Snapshot(#[from] crate::front::snapshot::SnapshotError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Net(#[from] NetError),
    #[error(transparent)]
    Weights(#[from] WeightError),
    #[error(transparent)]
    Pin(#[from] PinError),
    #[error(transparent)]
    Back(#[from] BackError),
}

impl RunError {
    pub fn run(dir: impl Into<PathBuf>, what: impl std::fmt::Display) -> Self {
        RunError::Run { dir: dir.into(), what: what.to_string() }
    }

    pub fn corrupt(path: impl Into<PathBuf>, what: impl std::fmt::Display) -> Self {
        RunError::Corrupt { path: path.into(), what: what.to_string() }
    }
}
