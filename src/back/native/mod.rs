//! The native back end: a pinned graph and a weight store (what the ONNX and MXNet back ends
//! read) lowered into an inference plan for the CPU, in the manner of Larq Compute Engine.
//!
//! - Values are NHWC f32 buffers viewed as channel ranges (`View`); a layer whose only reader is
//!   a concatenation writes straight into its channel range of the concatenation's buffer
//!   (`lower`), so dense blocks cost no copy, and slices are views.
//! - A batch norm read only by binary convs is folded with their sign into per-channel bounds on
//!   its input (`fold`): the convs' inputs are packed straight from the previous layer's output;
//!   one right after a binary conv becomes that conv's epilogue.
//! - Binary convs run on `kernels/` (the NHWC entry points), full-precision convs and dense layers
//!   on the `gemm` crate, in the same layout.
//! - Buffers are planned once from the steps' liveness (`layout`) and allocated once per batch
//!   size (`exec`): an inference allocates nothing but its result.
//!
//! Logits equal the float path's bit for bit where the float path is exact (the ±1 arithmetic),
//! and up to float summation order elsewhere (full-precision convs, pools, dense).

mod exec;
pub mod fold;
mod layout;
mod lower;

use lightnasc_kernels::{Bounds, ConvGeometry, PackedWeights};

use super::BackError;
use crate::ir::{Graph, Op, Pool, Shape};

pub use exec::{Plan, argmax};
pub use lower::{lower, lower_with};

/// A channel range of a buffer: pixel `p` (over images, rows, columns) of the value has its
/// channel `i` at `p * stride + offset + i` of buffer `buf`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct View {
    buf: usize,
    offset: usize,
    stride: usize,
    c: usize,
    h: usize,
    w: usize,
}

impl View {
    fn pixels(&self) -> usize {
        self.h * self.w
    }
}

/// How a full-precision conv (or the full-precision route of a binary conv) treats its input
/// and output, from `ir::binary` and the layer's options.
#[derive(Clone, Debug)]
enum Post {
    None,
    Bias(Vec<f32>),
    /// `(h + K) / 2`.
    Offset(f32),
    /// `h * alpha[o]`.
    Scale(Vec<f32>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Nonlinearity {
    Identity,
    Sign,
    Relu,
}

#[derive(Clone, Debug)]
struct FloatConv {
    src: View,
    dst: View,
    act: Nonlinearity,
    pad_value: f32,
    k: usize,
    g: ConvGeometry,
    groups: usize,
    /// `[group][ky][kx][c_in / groups][c_out / groups]`.
    weights: Vec<f32>,
    post: Post,
    /// The im2col matrix's buffer, absent for a 1x1 conv read in place.
    scratch: Option<usize>,
}

#[derive(Clone, Debug)]
enum Epilogue {
    Matches,
    /// `2m - K`, the ±1 dot product (a conv without BMXNet's offset).
    Dot,
    /// `m * scale + shift`: the batch norm after the conv.
    Affine(Vec<f32>, Vec<f32>),
}

#[derive(Clone, Debug)]
enum Step {
    /// The NCHW input into its NHWC buffer.
    Input {
        dst: View,
    },
    /// Signs of `src` by per-channel bounds into packed buffer `pack`; with `batch`, the bounds
    /// of a batch norm on the batch's own statistics, computed when the step runs.
    Pack {
        src: View,
        bounds: Bounds,
        pack: usize,
        batch: Option<Box<BatchStats>>,
    },
    BinaryConv {
        pack: usize,
        weights: PackedWeights,
        g: ConvGeometry,
        epilogue: Epilogue,
        dst: View,
    },
    Conv(Box<FloatConv>),
    /// `x * scale + shift` per channel (a batch norm nothing folded); with `batch`, scale and
    /// shift from the batch's own statistics, computed when the step runs.
    Affine {
        src: View,
        scale: Vec<f32>,
        shift: Vec<f32>,
        dst: View,
        batch: Option<Box<BatchStats>>,
    },
    Relu {
        src: View,
        dst: View,
    },
    MaxPool {
        src: View,
        pool: Pool,
        dst: View,
    },
    AvgPool {
        src: View,
        pool: Pool,
        dst: View,
    },
    GlobalPool {
        src: View,
        max: bool,
        dst: View,
    },
    /// `y = x W^T + b`, `weight` as `[in][out]` with inputs in NHWC order.
    Dense {
        src: View,
        weight: Vec<f32>,
        bias: Option<Vec<f32>>,
        dst: View,
    },
    Copy {
        src: View,
        dst: View,
    },
    /// The sum of the inputs, left to right.
    Add {
        srcs: Vec<View>,
        dst: View,
    },
    /// A map flattened in NCHW order, as the float path's `flatten`.
    Flatten {
        src: View,
        dst: View,
    },
    Shuffle {
        src: View,
        groups: usize,
        dst: View,
    },
}

/// The views a step reads and the one it writes, as shared or mutable references: one match for
/// both (`views`, `views_mut`).
macro_rules! step_views {
    ($step:expr $(, $m:ident)?) => {
        match $step {
            Step::Input { dst } | Step::BinaryConv { dst, .. } => (vec![], Some(dst)),
            Step::Pack { src, .. } => (vec![src], None),
            Step::Conv(c) => (vec![&$($m)? c.src], Some(&$($m)? c.dst)),
            Step::Affine { src, dst, .. }
            | Step::Relu { src, dst }
            | Step::MaxPool { src, dst, .. }
            | Step::AvgPool { src, dst, .. }
            | Step::GlobalPool { src, dst, .. }
            | Step::Dense { src, dst, .. }
            | Step::Copy { src, dst }
            | Step::Flatten { src, dst }
            | Step::Shuffle { src, dst, .. } => (vec![src], Some(dst)),
            Step::Add { srcs, dst } => (srcs.into_iter().collect(), Some(dst)),
        }
    };
}

impl Step {
    /// The views the step reads and the one it writes (packed buffers are the step's own).
    fn views(&self) -> (Vec<&View>, Option<&View>) {
        step_views!(self)
    }

    /// [`Step::views`], to move buffers into arena slots.
    fn views_mut(&mut self) -> (Vec<&mut View>, Option<&mut View>) {
        step_views!(self, mut)
    }

    /// The scratch buffer the step uses while it runs.
    fn scratch_mut(&mut self) -> Option<&mut usize> {
        match self {
            Step::Conv(c) => c.scratch.as_mut(),
            _ => None,
        }
    }
}

/// How batch norms normalise: by their running statistics (inference; folded into bounds and
/// epilogues when the plan is made), or by each batch's own (a search's scoring of sampled paths,
/// `net::Mode::Batch`; computed per run, nothing updated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NormMode {
    Running,
    Batch,
}

/// A batch norm that normalises by the batch's statistics: what it needs besides them.
#[derive(Clone, Debug)]
struct BatchStats {
    eps: f64,
    gamma: Option<Vec<f32>>,
    beta: Option<Vec<f32>>,
}

/// The shape of a packed buffer: `[c][h][w]` per image with a border of `pad`.
#[derive(Clone, Copy, Debug)]
struct PackShape {
    c: usize,
    h: usize,
    w: usize,
    pad: usize,
}

/// A lowered network: its steps and the buffers they need, per image.
#[derive(Clone, Debug)]
pub struct Program {
    pub name: String,
    steps: Vec<Step>,
    /// The graph node each step computes (its name; `None` for the output's copy).
    owners: Vec<Option<String>>,
    /// f32s per image of each arena slot (buffers sharing a slot never live at once).
    slots: Vec<usize>,
    packs: Vec<PackShape>,
    input: [usize; 3],
    output: View,
}

impl Program {
    /// `[c, h, w]` of one input image.
    pub fn input_shape(&self) -> [usize; 3] {
        self.input
    }

    /// Outputs per image.
    pub fn outputs(&self) -> usize {
        self.output.c * self.output.pixels()
    }

    /// What the plan holds: packed weights, float weights (full-precision layers, folded
    /// constants), and the activation buffers of a batch of `n` (arena slots and packed inputs).
    pub fn bytes(&self, n: usize) -> Bytes {
        let mut b = Bytes::default();
        for s in &self.steps {
            match s {
                Step::Pack { bounds, .. } => b.constants += 8 * bounds.lo.len(),
                Step::BinaryConv { weights, epilogue, .. } => {
                    b.packed_weights += weights.data.len() * 8;
                    if let Epilogue::Affine(s, t) = epilogue {
                        b.constants += 4 * (s.len() + t.len());
                    }
                }
                Step::Conv(c) => {
                    b.float_weights += 4 * c.weights.len();
                    if let Post::Bias(v) | Post::Scale(v) = &c.post {
                        b.constants += 4 * v.len();
                    }
                }
                Step::Dense { weight, bias, .. } => {
                    b.float_weights += 4 * (weight.len() + bias.as_ref().map_or(0, Vec::len))
                }
                Step::Affine { scale, shift, .. } => b.constants += 4 * (scale.len() + shift.len()),
                _ => {}
            }
        }
        b.activations = 4 * n * self.slots.iter().sum::<usize>();
        b.packed_activations =
            self.packs.iter().map(|p| 8 * n * (p.h + 2 * p.pad) * (p.w + 2 * p.pad) * p.c.div_ceil(64)).sum();
        b
    }

    /// The bounds of every packing step that folded a batch norm, in step order: for tests that
    /// show a single wrong threshold changes the logits.
    pub fn folded_bounds_mut(&mut self) -> Vec<&mut Bounds> {
        self.steps
            .iter_mut()
            .filter_map(|s| match s {
                Step::Pack { bounds, .. } if *bounds != Bounds::sign(bounds.lo.len()) => Some(bounds),
                _ => None,
            })
            .collect()
    }

    /// The name of the graph node each step computes (a packing belongs to its conv), for
    /// attributing step times to layers.
    pub fn step_owners(&self) -> &[Option<String>] {
        &self.owners
    }

    /// What each step is, for `--explain`-style listings and tests.
    pub fn summary(&self) -> Vec<String> {
        self.steps
            .iter()
            .map(|s| match s {
                Step::Input { .. } => "input".into(),
                Step::Pack { src, .. } => format!("pack {}ch", src.c),
                Step::BinaryConv { weights, epilogue, .. } => format!(
                    "bconv {}x{} {}->{}{}",
                    weights.kh,
                    weights.kw,
                    weights.c,
                    weights.out,
                    if matches!(epilogue, Epilogue::Affine(..)) { " +bn" } else { "" }
                ),
                Step::Conv(c) => format!("conv {}x{} {}->{}", c.k, c.k, c.src.c, c.dst.c),
                Step::Affine { .. } => "bn".into(),
                Step::Relu { .. } => "relu".into(),
                Step::MaxPool { .. } => "maxpool".into(),
                Step::AvgPool { .. } => "avgpool".into(),
                Step::GlobalPool { max, .. } => if *max { "global_maxpool" } else { "global_avgpool" }.into(),
                Step::Dense { .. } => "dense".into(),
                Step::Copy { .. } => "copy".into(),
                Step::Add { .. } => "add".into(),
                Step::Flatten { .. } => "flatten".into(),
                Step::Shuffle { .. } => "channel_shuffle".into(),
            })
            .collect()
    }
}

/// Bytes a plan holds (see [`Program::bytes`]).
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Bytes {
    pub packed_weights: usize,
    pub float_weights: usize,
    pub constants: usize,
    pub activations: usize,
    pub packed_activations: usize,
}

impl Bytes {
    pub fn total(&self) -> usize {
        self.packed_weights + self.float_weights + self.constants + self.activations + self.packed_activations
    }
}

/// What the native back end cannot lower, said up front (as `back::onnx::supports`).
pub fn supports(g: &Graph) -> Result<(), BackError> {
    if !g.choices.is_empty() {
        return Err(BackError::Space { graph: g.name.clone(), runs: "the native plan runs" });
    }
    let unsupported = |node: &crate::ir::Node, what: String| BackError::Unsupported {
        node: node.name.clone(),
        what,
        format: "native",
    };
    for n in g.topo_order() {
        let node = g.node(n);
        match &node.op {
            Op::BinaryConv(b) if b.epilogue(1) == crate::ir::binary::Epilogue::ChannelScaleAndMagnitude => {
                return Err(unsupported(node, "XNOR-Net's input-magnitude scaling".into()));
            }
            Op::ChannelShuffle { .. } | Op::Conv { .. } | Op::BinaryConv(_) | Op::MaxPool(_) | Op::AvgPool(_)
                if !matches!(node.shape, Shape::Map { .. }) =>
            {
                return Err(unsupported(node, format!("`{}` of a vector", node.op.name())));
            }
            _ => {}
        }
    }
    Ok(())
}
