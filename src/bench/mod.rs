//! Benchmarks that report ratios against a baseline measured in the same run.

pub mod kernels;
pub mod network;
pub mod supernet;

pub use supernet::{BenchRow, SupernetBench, peak_rss_mib};

/// Median milliseconds of `reps` timed calls `f(1..=reps)` after one untimed warm-up call
/// `f(0)` (caches, thread pools, allocations).
pub fn median_ms(reps: usize, mut f: impl FnMut(usize)) -> f64 {
    f(0);
    let mut t: Vec<f64> = (1..=reps)
        .map(|i| {
            let s = std::time::Instant::now();
            f(i);
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}
