//! `lightnasc bench network`: whole-network inference with the bit-packed binary kernels against
//! the float path, on one device, in the same run: a pinned architecture's fixed network, and
//! the supernet on a fresh sampled path per pass (what the controller's reward evaluation runs).

use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use serde::Serialize;

use super::paired_median_ms;
use crate::ir::Graph;
use crate::ir::pin::{Assignment, pin};
use crate::net::device::BackendJob;
use crate::net::{Mode, Supernet};
use crate::util::SplitMix64;

#[derive(Clone, Debug, Serialize)]
pub struct NetworkRow {
    pub what: String,
    pub shape: String,
    pub batch: usize,
    pub binary_ms: f64,
    pub float_ms: f64,
    pub speedup: f64,
}

/// `space` with `arch` pinned: the fixed network, then the supernet on sampled paths.
#[derive(Clone, Debug)]
pub struct NetworkBench {
    pub space: Graph,
    pub arch: Assignment,
    pub batches: Vec<usize>,
    pub reps: usize,
}

impl BackendJob for NetworkBench {
    type Output = Result<Vec<NetworkRow>, String>;

    fn run<B: AutodiffBackend>(self, devices: Vec<B::Device>) -> Self::Output {
        let device = devices.into_iter().next().expect("run_on gives at least one device");
        rows::<B::InnerBackend>(&device, &self)
    }
}

fn rows<B: Backend>(device: &B::Device, bench: &NetworkBench) -> Result<Vec<NetworkRow>, String> {
    let space = &bench.space;
    let fixed = Supernet::<B>::new(pin(space, &bench.arch).map_err(|e| e.message)?, 1, device);
    let supernet = Supernet::<B>::new(space.clone(), 1, device);
    let input = space.node(space.input).shape.dims().iter().map(|&d| d as usize).collect::<Vec<_>>();
    let shape = format!("{input:?}");
    let mut rows = vec![];
    for &n in &bench.batches {
        let mut rng = SplitMix64(5);
        let len = n * input.iter().product::<usize>();
        let x = Tensor::<B, 4>::from_data(
            TensorData::new(
                (0..len).map(|_| rng.normal() as f32).collect::<Vec<f32>>(),
                [n, input[0], input[1], input[2]],
            ),
            device,
        );
        // The packed network and the float one, the same weights, one row of the table.
        let mut row = |what: String, net: &Supernet<B>, paths: &dyn Fn(usize) -> Assignment| {
            let (mut packed, mut float) = (net.clone(), net.clone());
            (packed.binary_kernels, float.binary_kernels) = (true, false);
            let (binary_ms, float_ms) = paired_median_ms(
                bench.reps,
                |i| drop(packed.logits(x.clone(), &paths(i), Mode::Eval).into_data()),
                |i| drop(float.logits(x.clone(), &paths(i), Mode::Eval).into_data()),
            );
            rows.push(NetworkRow {
                what,
                shape: shape.clone(),
                batch: n,
                binary_ms,
                float_ms,
                speedup: float_ms / binary_ms,
            });
        };
        row(format!("{} (pinned)", space.name), &fixed, &|_| Assignment(vec![]));
        // The same sampled paths for both: Assignment::random is a function of its seed.
        let sampled = |i: usize| Assignment::random(space, 1000 + i as u64);
        row(format!("{} supernet, sampled paths (reward evaluation)", space.name), &supernet, &sampled);
    }
    Ok(rows)
}
