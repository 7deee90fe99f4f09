//! `lightnasc bench supernet`: training throughput and peak memory of a space's supernet, against
//! the fixed network of one of its architectures measured in the same run (the baseline).

use std::time::Instant;

use burn::optim::decay::WeightDecayConfig;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor, TensorData};
use serde::Serialize;

use super::host::{ThreadClock, ThreadTime};
use crate::error::Error;
use crate::ir::Graph;
use crate::ir::pin::Assignment;
use crate::net::Supernet;
use crate::net::device::BackendJob;
use crate::net::gpu::Counts;
use crate::net::optim::FusedAdam;
use crate::net::train::{GroupedOptimizer, train_step};
use crate::progress::Steps;
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
    /// Time the fixed network alone (the row to hold against another framework).
    pub fixed_only: bool,
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
    /// Start-up: seconds from the row's start to the end of its first step (kernels compiled
    /// or loaded, autotuning), and to the end of the warm-up.
    pub first_step_s: f64,
    pub warmup_s: f64,
    /// What the device did over the warm-up steps, and per timed step (kernel counts only with
    /// `--counts`).
    pub warmup_counts: Counts,
    pub per_step: Counts,
    /// The host's account of the timed steps: CPU time per step of each group of threads, the
    /// one that drove the steps as `driver` (Linux).
    pub threads: Vec<ThreadTime>,
    /// The driver's CPU time per kernel launch, in microseconds (with `--counts`).
    pub driver_us_per_launch: Option<f64>,
    /// Device memory CubeCL held reserved after the timed steps, and what it reserved anew
    /// during them, per step (CubeCL devices only; a steady state reserves nothing).
    pub device_reserved_bytes: Option<u64>,
    pub device_reserved_per_step: Option<i64>,
}

impl BackendJob for SupernetBench {
    type Output = Result<Vec<BenchRow>, Error>;

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
        let fixed = supernet.extract(&arch)?;
        let timing = |what: &str, net, paths: &[Assignment]| {
            time_steps(what, net, &x, &y, paths, self.steps, self.warmup).map(|t| (t, peak_rss_mib()))
        };
        let base = timing("fixed network", fixed, &[Assignment(vec![])])?;
        let base_secs = base.0.secs;
        let mut rows = vec![(format!("fixed network ({named})"), base)];
        if !self.fixed_only {
            let same = timing("supernet, same path", supernet.clone(), std::slice::from_ref(&arch))?;
            rows.push(("supernet, the same architecture".into(), same));
            let sampled = timing("supernet, sampled paths", supernet, &paths)?;
            rows.push(("supernet, a sampled architecture per step".into(), sampled));
        }
        let row =
            |(what, (t, rss)): (String, (Timed, Option<f64>))| BenchRow {
                what,
                steps_per_s: self.steps as f64 / t.secs,
                images_per_s: (self.steps * n) as f64 / t.secs,
                ms_per_step: t.secs * 1e3 / self.steps as f64,
                peak_rss_mib: rss,
                cores_busy: t.cpu_secs.map(|c| c / t.secs),
                ratio: base_secs / t.secs,
                first_step_s: t.first_step_s,
                warmup_s: t.warmup_s,
                warmup_counts: t.warmup_counts,
                per_step: t.per_step,
                driver_us_per_launch: t.threads.iter().find(|g| g.name == "driver").and_then(|d| {
                    (t.per_step.launched > 0).then(|| d.cpu_ms_per_step * 1e3 / t.per_step.launched as f64)
                }),
                threads: t.threads,
                device_reserved_bytes: t.reserved.map(|r| r.1),
                device_reserved_per_step: t.reserved.map(|(a, b)| (b as i64 - a as i64) / self.steps.max(1) as i64),
            };
        // On a CubeCL device (its memory is known): a run slow by configuration shows it.
        if let (Some(_), Some(settings)) =
            (crate::net::gpu::reserved_bytes::<B>(&device), crate::net::gpu::settings_json())
        {
            eprintln!("CubeCL settings in force: {settings}");
        }
        Ok(rows.into_iter().map(row).collect())
    }
}

struct Shape3(usize, usize, usize);

fn input_shape(g: &Graph) -> Result<Shape3, Error> {
    match g.node(g.input).shape {
        crate::ir::Shape::Map { c, h, w } => Ok(Shape3(c as usize, h as usize, w as usize)),
        s => Err(Error::usage(format!("the benchmark feeds images; this space's input is {s}"))),
    }
}

/// Wall seconds of the timed steps, the process's CPU seconds meanwhile, and the start-up.
struct Timed {
    secs: f64,
    cpu_secs: Option<f64>,
    first_step_s: f64,
    warmup_s: f64,
    warmup_counts: Counts,
    per_step: Counts,
    threads: Vec<ThreadTime>,
    /// Device memory reserved before and after the timed steps.
    reserved: Option<(u64, u64)>,
}

/// Timing of `steps` training steps (Adam, the path of each step taken in turn), after `warmup`
/// (at least one: the first step compiles the device's kernels), each step's time on stderr.
fn time_steps<B: AutodiffBackend>(
    what: &str,
    mut net: Supernet<B>,
    x: &Tensor<B, 4>,
    y: &Tensor<B, 1, Int>,
    paths: &[Assignment],
    steps: usize,
    warmup: usize,
) -> Result<Timed, Error> {
    let decayed = FusedAdam::init(Some(WeightDecayConfig::new(5e-6)));
    let mut optim = GroupedOptimizer::new(&net, decayed, FusedAdam::init(None));
    let warmup = warmup.max(1);
    let begun = Counts::now();
    let mut progress = Steps::new(format!("bench supernet, {what}"), warmup + steps)
        .heartbeat(std::time::Duration::from_secs(10), move || Counts::since(begun).brief());
    let begin = Instant::now();
    let (mut start, mut cpu, mut counts, mut threads) = (begin, cpu_secs(), Counts::now(), ThreadClock::now());
    let mut reserved_before = None;
    let (mut first_step_s, mut warmup_s, mut warmup_counts) = (0.0, 0.0, Counts::default());
    for i in 0..warmup + steps {
        if i == warmup {
            // A device sync also ends a profile's table (`--profile`): warm-up, then timed steps.
            let _ = B::sync(&x.device());
            (warmup_s, warmup_counts) = (begin.elapsed().as_secs_f64(), Counts::since(counts));
            reserved_before = crate::net::gpu::reserved_bytes::<B>(&x.device());
            (start, cpu, counts, threads) = (Instant::now(), cpu_secs(), Counts::now(), ThreadClock::now());
        }
        let t = Instant::now();
        // Reading the loss waits for the device, so each step is timed to its end.
        train_step(&mut net, &mut optim, 1e-3, x.clone(), y.clone(), &paths[i % paths.len()])?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        if i == 0 {
            first_step_s = begin.elapsed().as_secs_f64();
        }
        let phase = if i < warmup { "warm-up" } else { "timed" };
        progress.done(i, &format!("{phase} step {ms:.1} ms"));
    }
    let secs = start.elapsed().as_secs_f64();
    let threads = ThreadClock::now().since(&threads, steps);
    let _ = B::sync(&x.device());
    let reserved = reserved_before.zip(crate::net::gpu::reserved_bytes::<B>(&x.device()));
    let per_step = Counts::since(counts).per(steps as u64);
    progress.finish();
    Ok(Timed {
        secs,
        cpu_secs: cpu_secs().zip(cpu).map(|(end, start)| end - start),
        first_step_s,
        warmup_s,
        warmup_counts,
        per_step,
        threads,
        reserved,
    })
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
