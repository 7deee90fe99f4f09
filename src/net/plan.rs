//! The execution plan of a graph: its nodes in topological order with their inputs as step
//! indices, the alternative each belongs to, and the weight slot each reads. It is built once
//! from the IR and shared by every copy of a network, on any backend.

use std::collections::HashMap;

use crate::ir::pin::Assignment;
use crate::ir::{Alt, Graph, Op, Shape, WeightKind};

use super::weights::{Slot, SlotSpec};

#[derive(Clone, Debug)]
pub struct Step {
    /// The IR node this step runs.
    pub node: petgraph::stable_graph::NodeIndex,
    pub name: String,
    pub op: Op,
    pub shape: Shape,
    /// Steps whose outputs feed this one, in port order.
    pub inputs: Vec<usize>,
    /// The alternatives this step sits in, innermost first (empty: always runs).
    pub alts: Vec<Alt>,
    pub slot: Option<Slot>,
    /// The last step that reads this one's output (its value is dropped after it).
    pub last_use: usize,
}

#[derive(Clone, Debug)]
pub struct NetPlan {
    pub graph: Graph,
    pub steps: Vec<Step>,
    pub slots: Vec<SlotSpec>,
    pub input: usize,
    pub output: usize,
}

impl NetPlan {
    pub fn new(graph: Graph) -> NetPlan {
        let order = graph.topo_order();
        let index: HashMap<_, usize> = order.iter().enumerate().map(|(i, &n)| (n, i)).collect();
        let mut slots: Vec<SlotSpec> = vec![];
        let mut by_key: HashMap<String, usize> = HashMap::new();
        let mut counts = [0usize; 3];
        let mut steps: Vec<Step> = vec![];
        for (i, &n) in order.iter().enumerate() {
            let node = graph.node(n);
            let inputs: Vec<usize> = graph.inputs(n).iter().map(|m| index[m]).collect();
            let in_shape = inputs.first().map(|&j| steps[j].shape);
            // The layer's parameters: what they are, the main tensor's shape, and every tensor.
            let weights = in_shape.and_then(|input| {
                Some((node.op.weights()?, node.op.weight_shape(input)?, node.op.weight_tensors(input)))
            });
            let slot = match (&node.weights, weights) {
                (Some(key), Some((what, shape, tensors))) => {
                    let (kind, binary) = match what {
                        WeightKind::Conv { binary, .. } => (0, binary),
                        WeightKind::Dense { .. } => (1, false),
                        WeightKind::Norm { .. } => (2, false),
                    };
                    let s = match by_key.get(key) {
                        Some(&s) => {
                            // Shared: the validator has checked the shapes agree; merge the rest
                            // (a bias one sharer has).
                            let spec = &mut slots[s];
                            for t in tensors {
                                if !spec.has(t.0) {
                                    spec.tensors.push(t);
                                }
                            }
                            spec.binary |= binary;
                            s
                        }
                        None => {
                            let slot = match kind {
                                0 => Slot::Conv(counts[0]),
                                1 => Slot::Dense(counts[1]),
                                _ => Slot::Norm(counts[2]),
                            };
                            counts[kind] += 1;
                            by_key.insert(key.clone(), slots.len());
                            slots.push(SlotSpec {
                                key: key.clone(),
                                slot,
                                shape: shape.iter().map(|&d| d as usize).collect(),
                                tensors,
                                binary,
                            });
                            slots.len() - 1
                        }
                    };
                    Some(slots[s].slot)
                }
                _ => None,
            };
            for &j in &inputs {
                steps[j].last_use = i;
            }
            steps.push(Step {
                node: n,
                name: node.name.clone(),
                op: node.op.clone(),
                shape: node.shape,
                inputs,
                alts: graph.alt_chain(node.alt),
                slot,
                last_use: i,
            });
        }
        let (input, output) = (index[&graph.input], index[&graph.output]);
        // Slots in kind order, so `Slot::Conv(i)` is the i-th conv entry of the store.
        slots.sort_by_key(|s| match s.slot {
            Slot::Conv(i) => (0, i),
            Slot::Dense(i) => (1, i),
            Slot::Norm(i) => (2, i),
        });
        NetPlan { graph, steps, slots, input, output }
    }

    /// Whether a step runs under the assignment.
    pub fn runs(&self, step: &Step, a: &Assignment) -> bool {
        step.alts.iter().all(|alt| a.get(alt.choice) == Some(alt.option))
    }

    pub fn slot_spec(&self, key: &str) -> Option<&SlotSpec> {
        self.slots.iter().find(|s| s.key == key)
    }
}
