//! Back ends: each lowers the IR (and, for model formats, a weight store) to one format and
//! knows nothing of the others or of the search. [`dot`] draws spaces and architectures and
//! [`graphviz`] runs Graphviz on its output; [`onnx`] and [`mxnet`] export a pinned architecture
//! with its weights; [`native`] lowers one into an inference plan for the CPU.

pub mod dot;
pub mod graphviz;
pub mod mxnet;
pub mod native;
pub mod onnx;
