//! Validation of a finished graph, independent of how it was built: every edge goes forward,
//! every node's shape follows from its inputs, every choice point is wired to one input per
//! option, and shared weights agree on their shapes. The lowering already reports user errors
//! as it goes; a failure here is a bug in a pass, reported instead of crashing later.

use std::collections::HashMap;

use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::ir::{Graph, Op, shape};

pub fn validate(g: &Graph, diags: &mut Diagnostics) {
    let mut fail = |node: &crate::ir::Node, msg: String| {
        diags.push(
            Diagnostic::new(Code::Shape, node.span, format!("internal: {msg} at `{}`", node.name))
                .hint("this is a bug in lightnasc; please report it with the spec"),
        );
    };
    let mut weight_shapes: HashMap<&str, Option<Vec<u32>>> = HashMap::new();
    for n in g.nodes.node_indices() {
        let node = g.node(n);
        let inputs = g.inputs(n);
        if inputs.iter().any(|&i| i >= n) {
            fail(node, "an edge goes backwards".into());
        }
        let expected_inputs = match &node.op {
            Op::Input => Some(0),
            Op::Concat => None,
            Op::Add => Some(2),
            Op::Select { choice } => Some(g.choice(*choice).options.len()),
            _ => Some(1),
        };
        if let Some(k) = expected_inputs
            && inputs.len() != k
        {
            fail(node, format!("{} inputs where {} takes {k}", inputs.len(), node.op.name()));
            continue;
        }
        if let Op::Select { choice } = node.op
            && g.choice(choice).select != n
        {
            fail(node, "the choice does not point at its select node".into());
        }
        if node.op != Op::Input {
            let shapes: Vec<_> = inputs.iter().map(|&i| g.node(i).shape).collect();
            match shape::infer(&node.op, &shapes) {
                Ok(s) if s == node.shape => {}
                Ok(s) => fail(node, format!("stored shape {} but the inputs give {s}", node.shape)),
                Err(e) => fail(node, e.message),
            }
        }
        if let (Some(key), Some(&i)) = (&node.weights, inputs.first()) {
            let shape = node.op.weight_shape(g.node(i).shape);
            if let Some(prev) = weight_shapes.insert(key, shape.clone())
                && prev != shape
            {
                fail(node, format!("weights `{key}` are shared between layers of different shapes"));
            }
        }
    }
    for c in &g.choices {
        if !g.nodes.contains_node(c.select) {
            diags.push(Diagnostic::new(
                Code::Choice,
                c.span,
                format!("internal: choice `{}` has no select node", c.name),
            ));
        }
    }
    if !matches!(g.node(g.output).op, Op::Output) || !matches!(g.node(g.input).op, Op::Input) {
        diags.push(Diagnostic::new(Code::Shape, None, "internal: the graph's input or output node is missing"));
    }
}
