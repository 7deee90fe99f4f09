//! The error of a whole command: any layer's, as the command line renders it. Each layer keeps
//! its own enum (front end, IR weights, data, devices and training, back ends, runs, sweep
//! plans); this one only gathers them, plus what the benchmarks refuse in their own inputs.

use thiserror::Error;

use crate::back::BackError;
use crate::data::DataError;
use crate::ir::pin::PinError;
use crate::ir::store::WeightError;
use crate::net::NetError;
use crate::search::RunError;
use crate::sweep::PlanError;
use crate::util::FileError;

#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    File(#[from] FileError),
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
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// A request that cannot be carried out as given (arguments, or a table or ledger that does
    /// not fit the question), with what to change.
    #[error("{0}")]
    Usage(String),
    /// A tool this command runs beside lightnasc (Python with onnxruntime) failed.
    #[error("{0}")]
    Tool(String),
}

impl Error {
    pub fn usage(what: impl std::fmt::Display) -> Self {
        Error::Usage(what.to_string())
    }
}
