//! The cost model: trainable parameters, FLOPs (multiply-accumulates of full-precision layers),
//! BOPs (multiply-accumulates of 1-bit layers) and OPs = FLOPs + BOPs / 64, the measure of
//! Bethge et al. (MeliusNet) and Liu et al. (Bi-Real Net). Batch norm, activations and pooling are
//! not counted, as in those papers (batch norm folds into the previous layer at inference).

use std::collections::{HashMap, HashSet};

use petgraph::visit::NodeIndexable;
use serde::Serialize;

use super::{Alt, BinaryConv, ChoiceId, Graph, Node, Op, OptionIx, Shape, WeightKind};

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Cost {
    pub params: u64,
    pub flops: u64,
    pub bops: u64,
}

impl Cost {
    pub fn ops(&self) -> f64 {
        self.flops as f64 + self.bops as f64 / 64.0
    }
}

impl std::ops::Add for Cost {
    type Output = Cost;
    fn add(self, o: Cost) -> Cost {
        Cost {
            params: self.params.saturating_add(o.params),
            flops: self.flops.saturating_add(o.flops),
            bops: self.bops.saturating_add(o.bops),
        }
    }
}

/// Parameters and multiply-accumulates of one node, given the shape of its (first) input.
pub fn node_cost(node: &Node, input: Option<Shape>) -> Cost {
    let in_c = input.map_or(0, |s| s.channels() as u64);
    let out_px = match node.shape {
        Shape::Map { h, w, .. } => h as u64 * w as u64,
        Shape::Vector { .. } => 1,
    };
    // Only layers with weights cost anything here (see the module comment).
    match node.op.weights() {
        Some(WeightKind::Conv { conv, bias, .. }) => {
            let w = conv.out as u64 * (in_c / conv.groups as u64) * (conv.kernel as u64).pow(2);
            let macs = w.saturating_mul(out_px);
            let params = w + if bias { conv.out as u64 } else { 0 };
            // A 32-bit `bconv` is a full-precision conv.
            match node.op {
                Op::BinaryConv(BinaryConv { bits: 1, .. }) => Cost { params, flops: 0, bops: macs },
                _ => Cost { params, flops: macs, bops: 0 },
            }
        }
        Some(WeightKind::Norm { scale, center }) => {
            Cost { params: in_c * (scale as u64 + center as u64), flops: 0, bops: 0 }
        }
        Some(WeightKind::Dense { out, bias }) => {
            let w = in_c * out as u64;
            Cost { params: w + if bias { out as u64 } else { 0 }, flops: w, bops: 0 }
        }
        None => Cost::default(),
    }
}

/// Cost of every node, indexed by node index.
pub fn node_costs(g: &Graph) -> Vec<Cost> {
    let mut out = vec![Cost::default(); g.nodes.node_bound()];
    for n in g.nodes.node_indices() {
        let input = g.inputs(n).first().map(|&i| g.node(i).shape);
        out[n.index()] = node_cost(g.node(n), input);
    }
    out
}

/// The range of costs over all architectures of a space.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct CostRange {
    pub params_min: u64,
    pub params_max: u64,
    pub ops_min: f64,
    pub ops_max: f64,
    /// Parameters stored by the supernet: every alternative, shared weights once.
    pub supernet_params: u64,
}

pub fn cost_range(g: &Graph) -> CostRange {
    cost_range_of(g, |_| true)
}

/// The range over all architectures of the cost of the nodes `part` selects (a block instance's,
/// for the language server's hover).
pub fn cost_range_of(g: &Graph, part: impl Fn(&Node) -> bool) -> CostRange {
    let mut costs = node_costs(g);
    for n in g.nodes.node_indices() {
        if !part(g.node(n)) {
            costs[n.index()] = Cost::default();
        }
    }
    let tree = ChoiceTree::new(g, &costs);
    let (params_min, params_max) = tree.extremes(None, &|c| c.params as f64);
    let (ops_min, ops_max) = tree.extremes(None, &Cost::ops);
    let mut seen = HashSet::new();
    let mut supernet_params = 0u64;
    for n in g.nodes.node_indices() {
        let node = g.node(n);
        let key = node.weights.clone().unwrap_or_else(|| node.name.clone());
        if seen.insert(key) {
            supernet_params += costs[n.index()].params;
        }
    }
    CostRange { params_min: params_min as u64, params_max: params_max as u64, ops_min, ops_max, supernet_params }
}

/// The space as a tree of contexts (the root and every option), with the cost of the nodes each
/// context holds directly and the choices nested in it.
struct ChoiceTree<'g> {
    graph: &'g Graph,
    own: HashMap<Option<Alt>, Cost>,
    children: HashMap<Option<Alt>, Vec<ChoiceId>>,
}

impl<'g> ChoiceTree<'g> {
    fn new(graph: &'g Graph, costs: &[Cost]) -> Self {
        let mut own: HashMap<Option<Alt>, Cost> = HashMap::new();
        for n in graph.nodes.node_indices() {
            let e = own.entry(graph.node(n).alt).or_default();
            *e = *e + costs[n.index()];
        }
        let mut children: HashMap<Option<Alt>, Vec<ChoiceId>> = HashMap::new();
        for (i, c) in graph.choices.iter().enumerate() {
            children.entry(c.parent).or_default().push(ChoiceId(i as u32));
        }
        ChoiceTree { graph, own, children }
    }

    /// (min, max) of a measure over the architectures below a context. Choices are independent
    /// of each other, so the extremes decompose: each choice adds its cheapest / dearest option.
    fn extremes(&self, ctx: Option<Alt>, f: &dyn Fn(&Cost) -> f64) -> (f64, f64) {
        let own = self.own.get(&ctx).map_or(0.0, f);
        let (mut lo, mut hi) = (own, own);
        for &choice in self.children.get(&ctx).map_or(&[][..], Vec::as_slice) {
            let options = self.graph.choice(choice).options.len();
            let per_option: Vec<(f64, f64)> =
                (0..options).map(|o| self.extremes(Some(Alt { choice, option: OptionIx(o as u32) }), f)).collect();
            lo += per_option.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
            hi += per_option.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
        }
        (lo, hi)
    }
}

/// Total cost of a graph without choices (a pinned architecture).
pub fn total(g: &Graph) -> Cost {
    node_costs(g).into_iter().fold(Cost::default(), |a, b| a + b)
}
