//! Back ends: each lowers the IR (and, for model formats, a weight store) to one format and
//! knows nothing of the others or of the search. [`dot`] draws spaces and architectures;
//! [`graphviz`] runs Graphviz on its output.

pub mod dot;
pub mod graphviz;
pub mod mxnet;
pub mod onnx;
