//! `lightnasc bench supernet`: training throughput and peak memory of a space's supernet, against
//! the fixed network of one of its architectures measured in the same run (the baseline).

use std::time::Instant;

use burn::optim::AdamConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor, TensorData};
use serde::Serialize;

use crate::ir::Graph;
use crate::ir::pin::Assignment;
use crate::net::Supernet;
use crate::net::device::BackendJob;
use crate::net::train::{GroupedOptimizer, train_step};
use crate::util::SplitMix64;

#[derive(Clone, Debug)]
pub struct SupernetBench {
    pub graph: Graph,
    pub batch: usize,
    pub steps: usize,
    pub warmup: usize,
    pub seed: u64,
    /// The baseline's architecture (and the second row's path); default: the first sampled one.
    pub pin: Option<Assignment>,
    /// Binary convs on the backend's packed training op where it has one (`net::cpu_ops::conv`).
    pub packed_training: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct BenchRow {
    pub what: String,
    pub steps_per_s: f64,
    pub images_per_s: f64,
    pub ms_per_step: f64,
    /// Peak resident memory of the process after this row ran (Linux `VmHWM`), in MiB.
    pub peak_rss_mib: Option<f64>,
    /// CPU seconds (user + system, all threads) per second of the timed steps: how many cores
    /// a step keeps busy (Linux only).
    pub cores_busy: Option<f64>,
    /// This row's speed relative to the baseline (the fixed network).
    pub ratio: f64,
}

impl BackendJob for SupernetBench {
    type Output = Result<Vec<BenchRow>, String>;

    fn run<B: AutodiffBackend>(self, devices: Vec<B::Device>) -> Self::Output {
        // One device: `lightnasc bench` refuses a list.
        let device = devices.into_iter().next().expect("run_on gives at least one device");
        let Shape3(c, h, w) = input_shape(&self.graph)?;
        let classes = self.graph.classes.unwrap_or(10) as usize;
        let mut rng = SplitMix64(self.seed);
        let n = self.batch;
        let pixels: Vec<f32> = (0..n * c * h * w).map(|_| rng.normal() as f32).collect();
        let labels: Vec<i64> = (0..n).map(|_| rng.below(classes as u64) as i64).collect();
        let x = Tensor::<B, 4>::from_data(TensorData::new(pixels, [n, c, h, w]), &device);
        let y = Tensor::<B, 1, Int>::from_data(TensorData::new(labels, [n]), &device);

        let mut supernet = Supernet::<B>::new(self.graph.clone(), self.seed, &device);
        supernet.packed_training = self.packed_training;
        let paths: Vec<Assignment> = (0..self.steps + self.warmup)
            .map(|i| Assignment::random(&supernet.plan.graph, self.seed + i as u64))
            .collect();
        let (arch, named) = match &self.pin {
            Some(a) => (a.clone(), "pinned architecture"),
            None => (paths[0].clone(), "architecture of step 1"),
        };
        // Baseline first, so its peak memory is its own.
        let fixed = supernet.extract(&arch).map_err(|e| e.message)?;
        let base = time_steps(fixed, &x, &y, &[Assignment(vec![])], self.steps, self.warmup)?;
        let base_rss = peak_rss_mib();
        let same = time_steps(supernet.clone(), &x, &y, std::slice::from_ref(&arch), self.steps, self.warmup)?;
        let same_rss = peak_rss_mib();
        let sampled = time_steps(supernet, &x, &y, &paths, self.steps, self.warmup)?;
        let row = |what: &str, t: Timed, rss| BenchRow {
            what: what.into(),
            steps_per_s: self.steps as f64 / t.secs,
            images_per_s: (self.steps * n) as f64 / t.secs,
            ms_per_step: t.secs * 1e3 / self.steps as f64,
            peak_rss_mib: rss,
            cores_busy: t.cpu_secs.map(|c| c / t.secs),
            ratio: base.secs / t.secs,
        };
        Ok(vec![
            row(&format!("fixed network ({named})"), base, base_rss),
            row("supernet, the same architecture", same, same_rss),
            row("supernet, a sampled architecture per step", sampled, peak_rss_mib()),
        ])
    }
}

struct Shape3(usize, usize, usize);

fn input_shape(g: &Graph) -> Result<Shape3, String> {
    match g.node(g.input).shape {
        crate::ir::Shape::Map { c, h, w } => Ok(Shape3(c as usize, h as usize, w as usize)),
        s => Err(format!("the benchmark feeds images; this space's input is {s}")),
    }
}

/// Wall seconds of the timed steps, and the process's CPU seconds meanwhile.
#[derive(Clone, Copy)]
struct Timed {
    secs: f64,
    cpu_secs: Option<f64>,
}

/// Timing of `steps` training steps (Adam, the path of each step taken in turn), after `warmup`.
fn time_steps<B: AutodiffBackend>(
    mut net: Supernet<B>,
    x: &Tensor<B, 4>,
    y: &Tensor<B, 1, Int>,
    paths: &[Assignment],
    steps: usize,
    warmup: usize,
) -> Result<Timed, String> {
    let adam = || AdamConfig::new().with_weight_decay(Some(WeightDecayConfig::new(5e-6))).init();
    let mut optim = GroupedOptimizer::new(&net, adam(), AdamConfig::new().init());
    let (mut start, mut cpu) = (Instant::now(), cpu_secs());
    for i in 0..warmup + steps {
        if i == warmup {
            (start, cpu) = (Instant::now(), cpu_secs());
        }
        // Reading the loss waits for the device, so each step is timed to its end.
        train_step(&mut net, &mut optim, 1e-3, x.clone(), y.clone(), &paths[i % paths.len()])?;
    }
    let secs = start.elapsed().as_secs_f64();
    Ok(Timed { secs, cpu_secs: cpu_secs().zip(cpu).map(|(end, start)| end - start) })
}

/// The process's user + system CPU time so far, in seconds (Linux: `/proc/self/stat` fields 14
/// and 15, in clock ticks of 1/100 s, which is `USER_HZ` on every Linux architecture but alpha).
fn cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut f = rest.split_whitespace().skip(11);
    let (user, system): (f64, f64) = (f.next()?.parse().ok()?, f.next()?.parse().ok()?);
    Some((user + system) / 100.0)
}

/// The process's peak resident memory so far, in MiB (Linux only).
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
