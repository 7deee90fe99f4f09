//! Back ends: each lowers the IR (and, for model formats, a weight store) to one format and
//! knows nothing of the others or of the search. [`dot`] draws spaces and architectures and
//! [`graphviz`] runs Graphviz on its output; [`onnx`] and [`mxnet`] export a pinned architecture
//! with its weights; [`native`] lowers one into an inference plan for the CPU.

pub mod dot;
pub mod graphviz;
pub mod mxnet;
pub mod native;
pub mod onnx;

use crate::ir::store::WeightError;
use crate::util::FileError;

/// Why a back end cannot write a graph, each cause its own variant so that callers (`export`,
/// the search's per-epoch files) can tell a space from an unsupported layer or a missing weight.
#[derive(Debug, thiserror::Error)]
pub enum BackError {
    /// `runs`: what runs one architecture ("export", "the native plan runs").
    #[error("`{graph}` is a search space; {runs} one architecture of it (pin it)")]
    Space { graph: String, runs: &'static str },
    #[error("{node}: {what} has no {format} lowering")]
    Unsupported { node: String, what: String, format: &'static str },
    /// A graph the validator should have refused (a choice left in a pinned graph, a layer
    /// without its input): a bug upstream, reported rather than panicking.
    #[error("{node}: {what}")]
    Malformed { node: String, what: &'static str },
    #[error(transparent)]
    Weights(#[from] WeightError),
    #[error("not an MXNet NDArray file: {0}")]
    Params(String),
    #[error("encoding the ONNX model: {0}")]
    Encode(String),
    #[error("{0}")]
    Graphviz(String),
    #[error(transparent)]
    File(#[from] FileError),
}
