//! Benchmarks that report ratios against a baseline measured in the same run.

pub mod decode;
pub mod host;
pub mod kernels;
pub mod network;
pub mod ort;
pub mod supernet;

pub use supernet::{BenchRow, SupernetBench, peak_rss_mib};

/// Median milliseconds of a candidate `a` and its baseline `b`: one untimed warm-up call of each
/// (`f(0)`: caches, thread pools, packed weights), then the same number of timed calls
/// `f(1..)` of each, one side after the other (steady state, as a kernel runs in a loop; taking
/// turns makes each side pay for the other's cache and allocator traffic). At least `reps`
/// calls, more for fast ones so that each side is timed for about a quarter second (at most
/// 2000 calls): a 0.1 ms call timed 20 times is mostly noise.
pub fn paired_median_ms(reps: usize, mut a: impl FnMut(usize), mut b: impl FnMut(usize)) -> (f64, f64) {
    let time = |f: &mut dyn FnMut(usize), i: usize| {
        let s = std::time::Instant::now();
        f(i);
        s.elapsed().as_secs_f64() * 1e3
    };
    let first = time(&mut a, 0).min(time(&mut b, 0)).max(1e-3);
    let reps = reps.max(((250.0 / first) as usize).min(2000));
    let median = |f: &mut dyn FnMut(usize)| crate::stats::median_time((1..=reps).map(|i| time(f, i)).collect());
    (median(&mut a), median(&mut b))
}
