//! `lightnasc selftest`: on one device, the bit-packed binary path against its references. Each
//! GPU kernel variant and the device packing against the CPU kernels at odd shapes, and whole
//! networks in eval mode: the packed path's logits against the float path's, bit for bit (the
//! binary convs' ±1 arithmetic is exact in `f32` either way), also after a weight swap (packed
//! weights are cached per network). What a GPU day runs first (`scripts/gpu-check.sh`), and what
//! the tests run on the CPU backend and on wgpu.

use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use serde::Serialize;

use crate::ir::Graph;
use crate::ir::pin::Assignment;
use crate::net::device::BackendJob;
use crate::net::packed::{self, DeviceCheck};
use crate::net::{Mode, Supernet};
use crate::util::SplitMix64;

/// The shipped spaces a self-test runs by default, built in so that an installed binary can test
/// itself from any folder.
pub const BUILT_IN: [(&str, &str); 3] = [
    ("specs/meliusnet22.lnas", include_str!("../specs/meliusnet22.lnas")),
    ("specs/resnet18.lnas", include_str!("../specs/resnet18.lnas")),
    ("specs/demo.lnas", include_str!("../specs/demo.lnas")),
];

/// Spaces to run (name, graph), with `architectures` random paths each before the weight swap.
#[derive(Clone, Debug)]
pub struct SelfTest {
    pub nets: Vec<(String, Graph)>,
    pub architectures: u64,
    pub batch: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct NetworkCheck {
    pub net: String,
    pub architectures: u64,
    /// Eligible binary convs in the space.
    pub eligible: usize,
    /// Logits equal on every architecture.
    pub equal: bool,
    /// Logits equal after new weights replaced the packed ones.
    pub equal_after_swap: bool,
    /// The kernel variant each conv slot ran with on the packed path (empty: it never ran).
    pub kernels: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub kernels: Vec<DeviceCheck>,
    pub networks: Vec<NetworkCheck>,
    /// Every check equal, and the packed path ran in every network.
    pub ok: bool,
}

impl BackendJob for SelfTest {
    type Output = Report;

    fn run<B: AutodiffBackend>(self, devices: Vec<B::Device>) -> Report {
        let device = devices.into_iter().next().expect("run_on gives at least one device");
        run::<B::InnerBackend>(&device, &self)
    }
}

pub fn run<B: Backend>(device: &B::Device, t: &SelfTest) -> Report {
    let mut progress = crate::progress::Steps::new("selftest", 1 + t.nets.len());
    let kernels = packed::device_checks::<B>(device);
    progress.done(0, &format!("{} kernel checks", kernels.len()));
    let mut networks = vec![];
    for (i, (name, g)) in t.nets.iter().enumerate() {
        networks.push(network::<B>(device, name, g, t));
        progress.done(i + 1, name);
    }
    progress.finish();
    let ok = kernels.iter().all(|c| c.equal)
        && networks.iter().all(|n| n.equal && n.equal_after_swap && !n.kernels.is_empty());
    Report { kernels, networks, ok }
}

fn network<B: Backend>(device: &B::Device, name: &str, g: &Graph, t: &SelfTest) -> NetworkCheck {
    let eligible =
        g.nodes.node_weights().filter(|n| matches!(&n.op, crate::ir::Op::BinaryConv(b) if b.packable())).count();
    let seed = g.nodes.node_count() as u64;
    let mut net = Supernet::<B>::new(g.clone(), seed, device);
    let both = |net: &mut Supernet<B>, a: &Assignment, x: Tensor<B, 4>| {
        let values = |t: Tensor<B, 2>| t.into_data().to_vec::<f32>().expect("f32 logits");
        net.binary_kernels = false;
        let float = values(net.logits(x.clone(), a, Mode::Eval));
        net.binary_kernels = true;
        float == values(net.logits(x, a, Mode::Eval))
    };
    let equal =
        (0..t.architectures).all(|i| both(&mut net, &Assignment::random(g, seed + i), images(g, t.batch, i, device)));
    let kernels = net.packed_kernels().into_iter().flatten().map(String::from).collect();
    net.set_weights(Supernet::<B>::new(g.clone(), seed + 100, device).weights);
    let equal_after_swap = both(&mut net, &Assignment::random(g, seed + 99), images(g, t.batch, 99, device));
    NetworkCheck { net: name.into(), architectures: t.architectures, eligible, equal, equal_after_swap, kernels }
}

/// `n` normal images of the space's input shape.
fn images<B: Backend>(g: &Graph, n: usize, seed: u64, device: &B::Device) -> Tensor<B, 4> {
    let dims: Vec<usize> = g.node(g.input).shape.dims().iter().map(|&d| d as usize).collect();
    let mut rng = SplitMix64(seed);
    let len = n * dims.iter().product::<usize>();
    let v: Vec<f32> = (0..len).map(|_| rng.normal() as f32).collect();
    Tensor::from_data(TensorData::new(v, [n, dims[0], dims[1], dims[2]]), device)
}
