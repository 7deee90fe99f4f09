//! The graph IR: what a spec means once every block is instantiated. Nodes are typed ops with
//! inferred shapes; every choice point is explicit (a `Select` node and an entry in `choices`);
//! every node knows which alternative, if any, it belongs to. Nothing here knows about burn or
//! about any file format.

pub mod binary;
pub mod cost;
pub mod decisions;
pub mod norm;
pub mod pin;
pub mod shape;
pub mod store;

use petgraph::Direction;
use petgraph::stable_graph::{NodeIndex, StableGraph};
use petgraph::visit::EdgeRef;
use serde::Serialize;

use crate::front::source::Span;

pub use shape::Shape;

/// Index of a choice point in [`Graph::choices`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ChoiceId(pub u32);

/// Index of an option within one choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct OptionIx(pub u32);

/// An alternative of a choice: the context a node lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Alt {
    pub choice: ChoiceId,
    pub option: OptionIx,
}

/// What the alternatives of a choice are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChoiceKind {
    /// Alternative sub-graphs (`choice keep { full => ..., cheap => ... }`).
    Subgraph,
    /// Alternative parameter values (`bits = choice bits { b1 => 1, b32 => 32 }`): the rest of the
    /// enclosing block is instantiated once per value.
    Value,
}

#[derive(Clone, Debug)]
pub struct ChoiceOption {
    pub name: String,
    /// The fixed latency cost the spec gives this option, if any.
    pub cost: Option<f64>,
    /// The value of a value choice's option, as written.
    pub value: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Choice {
    /// Stable dotted name, e.g. `stage1.block1.dense.keep`.
    pub name: String,
    pub kind: ChoiceKind,
    /// Alternatives share the weights of layers at the same place (`choice ... shared`).
    pub shared: bool,
    pub options: Vec<ChoiceOption>,
    /// The alternative this choice sits in, for nested choices.
    pub parent: Option<Alt>,
    /// The `Select` node that merges the alternatives.
    pub select: NodeIndex,
    pub span: Span,
}

/// Activation quantiser of a binary conv.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActQuant {
    DetSign,
    ApproxSign,
    Relu,
    Identity,
}

/// Weight quantiser of a binary conv.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightQuant {
    DetSign,
    Identity,
}

/// Per-output-channel scaling of a binary conv.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scaling {
    None,
    /// Scale `mean|W|` with the gradient flowing through it (Bi-Real's magnitude-aware gradient).
    Binet,
    /// XNOR-Net: weight scale and input-magnitude map, both stop-gradient.
    Xnor,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Conv2d {
    pub out: u32,
    pub kernel: u32,
    pub stride: u32,
    pub pad: u32,
    pub dilation: u32,
    pub groups: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BinaryConv {
    pub conv: Conv2d,
    /// 1 for binary, 32 for the full-precision variant of the same layer.
    pub bits: u32,
    pub act: ActQuant,
    /// Straight-through gradient is cancelled where |x| > threshold (inclusive at it).
    pub grad_cancel: f64,
    pub weights: WeightQuant,
    pub scaling: Scaling,
    /// Value the input is padded with (-1 for binary inputs, so padding is a valid sign).
    pub pad_value: f64,
    /// Output (h + K) / 2, K = C_in/groups * k * k: the count of matching bits.
    pub offset: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Pool {
    pub kernel: u32,
    pub stride: u32,
    pub pad: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Op {
    Input,
    Conv {
        conv: Conv2d,
        bias: bool,
    },
    BinaryConv(BinaryConv),
    BatchNorm {
        eps: f64,
        momentum: f64,
        scale: bool,
        center: bool,
    },
    Relu,
    MaxPool(Pool),
    AvgPool(Pool),
    GlobalAvgPool,
    GlobalMaxPool,
    Dense {
        out: u32,
        bias: bool,
    },
    Flatten,
    Concat,
    Add,
    /// Channels `begin..end`.
    Slice {
        begin: u32,
        end: u32,
    },
    ChannelShuffle {
        groups: u32,
    },
    Identity,
    Dropout {
        p: f64,
    },
    /// The choice point: forwards the input of the chosen alternative (input port = option).
    Select {
        choice: ChoiceId,
    },
    Output,
}

impl Op {
    /// The op's name as written in the language and shown in reports.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Input => "input",
            Op::Conv { .. } => "conv",
            Op::BinaryConv(_) => "bconv",
            Op::BatchNorm { .. } => "bn",
            Op::Relu => "relu",
            Op::MaxPool(_) => "maxpool",
            Op::AvgPool(_) => "avgpool",
            Op::GlobalAvgPool => "global_avgpool",
            Op::GlobalMaxPool => "global_maxpool",
            Op::Dense { .. } => "dense",
            Op::Flatten => "flatten",
            Op::Concat => "concat",
            Op::Add => "add",
            Op::Slice { .. } => "slice",
            Op::ChannelShuffle { .. } => "channel_shuffle",
            Op::Identity => "identity",
            Op::Dropout { .. } => "dropout",
            Op::Select { .. } => "select",
            Op::Output => "output",
        }
    }

    /// What weights the op holds: the one place that says which layers have parameters. Every
    /// op is listed, so a new one must be decided here; weight shapes, weight-store contents,
    /// the network's weight slots and the cost model follow from the answer.
    pub fn weights(&self) -> Option<WeightKind> {
        match self {
            Op::Conv { conv, bias } => Some(WeightKind::Conv { conv: *conv, bias: *bias, binary: false }),
            Op::BinaryConv(b) => Some(WeightKind::Conv { conv: b.conv, bias: false, binary: true }),
            Op::Dense { out, bias } => Some(WeightKind::Dense { out: *out, bias: *bias }),
            Op::BatchNorm { scale, center, .. } => Some(WeightKind::Norm { scale: *scale, center: *center }),
            Op::Input
            | Op::Relu
            | Op::MaxPool(_)
            | Op::AvgPool(_)
            | Op::GlobalAvgPool
            | Op::GlobalMaxPool
            | Op::Flatten
            | Op::Concat
            | Op::Add
            | Op::Slice { .. }
            | Op::ChannelShuffle { .. }
            | Op::Identity
            | Op::Dropout { .. }
            | Op::Select { .. }
            | Op::Output => None,
        }
    }

    /// Whether the op holds weights that a `shared` choice shares between its alternatives.
    /// Batch norm never does: each alternative keeps its own statistics.
    pub fn has_shareable_weights(&self) -> bool {
        matches!(self.weights(), Some(WeightKind::Conv { .. } | WeightKind::Dense { .. }))
    }

    /// Shape of the op's main weight tensor for a given input, or `None` if it has no weights:
    /// `[out, in / groups, k, k]` for convolutions, `[out, in]` for dense, `[C]` for batch norm.
    /// Layers that share weights must agree on it.
    pub fn weight_shape(&self, input: Shape) -> Option<Vec<u32>> {
        let c = input.channels();
        Some(match self.weights()? {
            WeightKind::Conv { conv, .. } => vec![conv.out, c / conv.groups.max(1), conv.kernel, conv.kernel],
            WeightKind::Dense { out, .. } => vec![out, c],
            WeightKind::Norm { .. } => vec![c],
        })
    }

    /// Every tensor the op's weights hold, by part name (`weight`, `bias`, `gamma`, `beta`,
    /// `running_mean`, `running_var`), with its shape: what a weight store must hold under the
    /// node's key (shapes as host tensors have them).
    pub fn weight_tensors(&self, input: Shape) -> Vec<(&'static str, Vec<usize>)> {
        let (Some(kind), Some(main)) = (self.weights(), self.weight_shape(input)) else { return vec![] };
        let main: Vec<usize> = main.iter().map(|&d| d as usize).collect();
        let c = vec![main[0]];
        let mut t = vec![];
        match kind {
            WeightKind::Conv { bias, .. } | WeightKind::Dense { bias, .. } => {
                t.push(("weight", main));
                if bias {
                    t.push(("bias", c));
                }
            }
            WeightKind::Norm { scale, center } => {
                if scale {
                    t.push(("gamma", c.clone()));
                }
                if center {
                    t.push(("beta", c.clone()));
                }
                t.push(("running_mean", c.clone()));
                t.push(("running_var", c));
            }
        }
        t
    }
}

/// The parameters a layer holds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum WeightKind {
    /// `[out, in / groups, k, k]`, with a bias or not; `binary`: quantised in the forward.
    Conv { conv: Conv2d, bias: bool, binary: bool },
    /// `[out, in]`.
    Dense { out: u32, bias: bool },
    /// Batch norm: gamma and beta as asked, and the running statistics.
    Norm { scale: bool, center: bool },
}

#[derive(Clone, Debug)]
pub struct Node {
    /// Unique dotted name, e.g. `stage1.block1.dense.keep.full.bconv`.
    pub name: String,
    pub op: Op,
    pub shape: Shape,
    /// The innermost alternative this node belongs to (`None`: always present).
    pub alt: Option<Alt>,
    /// Key of the weight tensor(s); equal keys share weights. `None` for ops without weights.
    pub weights: Option<String>,
    /// Where the op was written, for diagnostics and the language server.
    pub span: Option<Span>,
}

/// Input slot of an edge at its target node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Port(pub u32);

#[derive(Clone, Debug)]
pub struct Graph {
    /// The space (or pinned architecture) name.
    pub name: String,
    pub nodes: StableGraph<Node, Port>,
    pub choices: Vec<Choice>,
    pub input: NodeIndex,
    pub output: NodeIndex,
    pub classes: Option<u32>,
    /// Every block call that was instantiated, for tools that map source back to the graph.
    pub instances: Vec<Instance>,
}

/// One instantiation of a block: where it was called and the scope its nodes are named under
/// (`stage1.block2.dense`), so the language server can sum a call's shapes and costs.
#[derive(Clone, Debug)]
pub struct Instance {
    pub block: String,
    pub span: Span,
    pub scope: String,
}

impl Graph {
    pub fn node(&self, n: NodeIndex) -> &Node {
        &self.nodes[n]
    }

    pub fn choice(&self, id: ChoiceId) -> &Choice {
        &self.choices[id.0 as usize]
    }

    pub fn choice_by_name(&self, name: &str) -> Option<ChoiceId> {
        self.choices.iter().position(|c| c.name == name).map(|i| ChoiceId(i as u32))
    }

    /// Inputs of a node ordered by port.
    pub fn inputs(&self, n: NodeIndex) -> Vec<NodeIndex> {
        let mut v: Vec<(u32, NodeIndex)> =
            self.nodes.edges_directed(n, Direction::Incoming).map(|e| (e.weight().0, e.source())).collect();
        v.sort_unstable_by_key(|p| p.0);
        v.into_iter().map(|p| p.1).collect()
    }

    /// Nodes in a topological order that follows creation order where it can (stable output).
    pub fn topo_order(&self) -> Vec<NodeIndex> {
        // Creation order is already topological (a node is created after its inputs), and the
        // lowering never rewires edges backwards; check rather than assume.
        let mut order: Vec<NodeIndex> = self.nodes.node_indices().collect();
        order.sort_unstable();
        debug_assert!(order.iter().all(|&n| self.inputs(n).iter().all(|&i| i < n)));
        order
    }

    /// The chain of alternatives a node sits in, innermost first.
    pub fn alt_chain(&self, mut alt: Option<Alt>) -> Vec<Alt> {
        let mut out = vec![];
        while let Some(a) = alt {
            out.push(a);
            alt = self.choice(a.choice).parent;
        }
        out
    }

    /// Total number of architectures in the space (nested choices counted through their parent).
    pub fn space_size(&self) -> num_bigint::BigUint {
        self.size_of(None)
    }

    /// Number of architectures a choice spans: each option with everything nested in it.
    pub fn choice_size(&self, id: ChoiceId) -> num_bigint::BigUint {
        (0..self.choice(id).options.len())
            .map(|o| self.size_of(Some(Alt { choice: id, option: OptionIx(o as u32) })))
            .sum()
    }

    fn size_of(&self, ctx: Option<Alt>) -> num_bigint::BigUint {
        let mut total = num_bigint::BigUint::from(1u32);
        for (i, c) in self.choices.iter().enumerate() {
            if c.parent == ctx {
                let mut sum = num_bigint::BigUint::from(0u32);
                for o in 0..c.options.len() {
                    sum += self.size_of(Some(Alt { choice: ChoiceId(i as u32), option: OptionIx(o as u32) }));
                }
                total *= sum;
            }
        }
        total
    }
}
