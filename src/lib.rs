//! lightnasc: a compiler-style toolchain for neural architecture search of binary neural networks.
//!
//! The pipeline (see ARCHITECTURE.md): [`front`] reads `.lnas` files into syntax trees, [`lower`]
//! evaluates a space into the graph [`ir`], [`valid`] checks the graph, and the IR's passes
//! compute costs and pin architectures.

pub mod back;
pub mod bench;
pub mod check;
pub mod data;
pub mod diag;
pub mod error;
pub mod export;
pub mod front;
pub mod ir;
pub mod ledger;
pub mod lower;
pub mod lsp;
pub mod net;
pub mod progress;
pub mod ranking;
pub mod report;
pub mod search;
pub mod selftest;
pub mod source;
pub mod stats;
pub mod sweep;
pub mod tensorboard;
pub mod util;
pub mod valid;
