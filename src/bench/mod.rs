//! Benchmarks that report ratios against a baseline measured in the same run.

pub mod kernels;
pub mod network;
pub mod supernet;

pub use supernet::{BenchRow, SupernetBench, peak_rss_mib};
