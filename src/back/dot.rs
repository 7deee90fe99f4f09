//! Graphviz DOT of a space or of one architecture in it: one node per layer, a cluster per
//! top-level scope (stem, stage1, transition1, ...), labels with the op, its shape and the
//! alternative it belongs to. Fill colours follow the choices (one colour per option name, e.g.
//! cheap/full, skip/yes, b1/b32); borders tell 1-bit layers from full-precision ones; a legend
//! says which is which. A space render also draws each choice point as a diamond.

use std::collections::HashMap;
use std::fmt::Write as _;

use dot_writer::{Attributes, DotWriter, RankDirection, Scope};
use petgraph::stable_graph::NodeIndex;

use crate::ir::pin::Assignment;
use crate::ir::{Graph, Op, Shape};

/// Fill colours for option names, in order of first appearance.
const PALETTE: [&str; 8] = ["#fdd9b5", "#b9d7f7", "#c9efc4", "#f2c9f0", "#fff0a8", "#d7c9f2", "#f7c6c6", "#c6f2ee"];
const BINARY_BORDER: &str = "#1f4e9c";
const FLOAT_BORDER: &str = "#202020";
const OTHER_BORDER: &str = "#8a8a8a";

/// Escape a label for a quoted DOT string.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The colour of each option name, as a render uses them.
pub fn option_colors(g: &Graph) -> Vec<(String, &'static str)> {
    let mut out: Vec<(String, &'static str)> = vec![];
    for c in &g.choices {
        for o in &c.options {
            if !out.iter().any(|(n, _)| *n == o.name) {
                let color = PALETTE[out.len() % PALETTE.len()];
                out.push((o.name.clone(), color));
            }
        }
    }
    out
}

fn describe(op: &Op) -> String {
    match op {
        Op::Conv { conv, .. } => format!(
            "conv {}x{}{} -> {}{}",
            conv.kernel,
            conv.kernel,
            if conv.stride > 1 { format!("/{}", conv.stride) } else { String::new() },
            conv.out,
            if conv.groups > 1 { format!(" g{}", conv.groups) } else { String::new() }
        ),
        Op::BinaryConv(b) => format!(
            "bconv {}-bit {}x{}{} -> {}",
            b.bits,
            b.conv.kernel,
            b.conv.kernel,
            if b.conv.stride > 1 { format!("/{}", b.conv.stride) } else { String::new() },
            b.conv.out
        ),
        Op::MaxPool(p) | Op::AvgPool(p) => format!("{} {}/{}", op.name(), p.kernel, p.stride),
        Op::Dense { out, .. } => format!("dense -> {out}"),
        Op::Slice { begin, end } => format!("slice {begin}:{end}"),
        Op::ChannelShuffle { groups } => format!("channel_shuffle {groups}"),
        other => other.name().to_string(),
    }
}

fn border(op: &Op) -> (&'static str, &'static str) {
    match op {
        Op::BinaryConv(b) if b.bits == 1 => (BINARY_BORDER, "2.4"),
        Op::BinaryConv(_) | Op::Conv { .. } | Op::Dense { .. } => (FLOAT_BORDER, "1.4"),
        _ => (OTHER_BORDER, "1"),
    }
}

fn shape_text(s: Shape) -> String {
    match s {
        Shape::Map { c, h, w } => format!("{c}x{h}x{w}"),
        Shape::Vector { n } => format!("{n}"),
    }
}

/// DOT text of `g`, or of the architecture `a` selects in it.
pub fn render(g: &Graph, a: Option<&Assignment>, title: &str) -> String {
    let colors: HashMap<String, &str> = option_colors(g).into_iter().collect();
    let shown = |n: NodeIndex| a.is_none_or(|a| a.selects(g, g.node(n).alt));
    // With an assignment, a choice point is not drawn: its consumers read the chosen input.
    let source = |mut n: NodeIndex| -> NodeIndex {
        while let (Some(a), Op::Select { choice }) = (a, &g.node(n).op) {
            let o = a.get(*choice).map_or(0, |o| o.0 as usize);
            n = g.inputs(n)[o];
        }
        n
    };
    let order: Vec<NodeIndex> = g
        .topo_order()
        .into_iter()
        .filter(|&n| shown(n) && !(a.is_some() && matches!(g.node(n).op, Op::Select { .. })))
        .collect();
    // Group by top-level scope, in order of first appearance.
    let mut groups: Vec<(String, Vec<NodeIndex>)> = vec![];
    for &n in &order {
        let scope = g.node(n).name.split('.').next().unwrap_or("").to_string();
        match groups.iter_mut().find(|(s, _)| *s == scope) {
            Some((_, v)) => v.push(n),
            None => groups.push((scope, vec![n])),
        }
    }
    let mut out = Vec::new();
    {
        let mut w = DotWriter::from(&mut out);
        w.set_pretty_print(true);
        let mut root = w.digraph();
        root.set_rank_direction(RankDirection::TopBottom);
        root.graph_attributes().set("label", &esc(title), true).set("labelloc", "t", true).set(
            "fontname",
            "Helvetica",
            true,
        );
        root.node_attributes().set("fontname", "Helvetica", true).set("fontsize", "10", true);
        for (scope, nodes) in &groups {
            if nodes.len() > 1 {
                let mut cluster = root.cluster();
                cluster.set("label", &esc(scope), true).set("style", "rounded", true).set("color", "#b0b0b0", true);
                for &n in nodes {
                    node(&mut cluster, g, n, &colors);
                }
            } else {
                node(&mut root, g, nodes[0], &colors);
            }
        }
        for &n in &order {
            for (port, i) in g.inputs(n).into_iter().enumerate() {
                let from = source(i);
                if !shown(from) {
                    continue;
                }
                let e = root.edge(format!("n{}", from.index()), format!("n{}", n.index()));
                if let Op::Select { choice } = &g.node(n).op {
                    let opt = &g.choice(*choice).options[port].name;
                    e.attributes()
                        .set("label", &esc(opt), true)
                        .set("fontsize", "9", true)
                        .set("style", "dashed", true);
                }
            }
        }
        legend(&mut root, g, &colors);
    }
    String::from_utf8(out).expect("DOT is UTF-8")
}

fn node(scope: &mut Scope<'_, '_>, g: &Graph, n: NodeIndex, colors: &HashMap<String, &str>) {
    let node = g.node(n);
    let id = format!("n{}", n.index());
    let mut dn = scope.node_named(id);
    if let Op::Select { choice } = &node.op {
        let c = g.choice(*choice);
        let opts = c.options.iter().map(|o| o.name.as_str()).collect::<Vec<_>>().join(" | ");
        dn.set("shape", "diamond", true)
            .set("style", "filled", true)
            .set("fillcolor", "#eeeeee", true)
            .set("label", &esc(&format!("choice {}\n{opts}", c.name)), true)
            .set("tooltip", &esc(&node.name), true);
        return;
    }
    let mut label = describe(&node.op);
    let _ = write!(label, "\n{}", shape_text(node.shape));
    let mut fill = "#ffffff";
    if let Some(alt) = node.alt {
        let c = g.choice(alt.choice);
        let opt = &c.options[alt.option.0 as usize].name;
        fill = colors.get(opt).copied().unwrap_or("#ffffff");
        let short = c.name.rsplit('.').next().unwrap_or(&c.name);
        let _ = write!(label, "\n{short} = {opt}");
    }
    let (border, width) = border(&node.op);
    let shape = if matches!(node.op, Op::Input | Op::Output) { "ellipse" } else { "box" };
    dn.set("shape", shape, true)
        .set("style", "rounded,filled", true)
        .set("fillcolor", fill, true)
        .set("color", border, true)
        .set("penwidth", width, true)
        .set("label", &esc(&label), true)
        .set("tooltip", &esc(&node.name), true);
}

fn legend(root: &mut Scope<'_, '_>, g: &Graph, colors: &HashMap<String, &str>) {
    let mut cluster = root.cluster();
    cluster.set("label", "legend", true).set("style", "rounded", true).set("color", "#b0b0b0", true);
    let mut entries: Vec<(String, &str, &str, &str)> = vec![
        ("1-bit layer".into(), "#ffffff", BINARY_BORDER, "2.4"),
        ("full-precision layer".into(), "#ffffff", FLOAT_BORDER, "1.4"),
    ];
    for (name, _) in option_colors(g) {
        entries.push((format!("option {name}"), colors[&name], OTHER_BORDER, "1"));
    }
    let mut prev: Option<String> = None;
    for (i, (label, fill, border, width)) in entries.iter().enumerate() {
        let id = format!("legend{i}");
        cluster
            .node_named(id.clone())
            .set("shape", "box", true)
            .set("style", "rounded,filled", true)
            .set("fillcolor", fill, true)
            .set("color", border, true)
            .set("penwidth", width, true)
            .set("label", &esc(label), true);
        if let Some(p) = prev {
            cluster.edge(p, id.clone()).attributes().set("style", "invis", true);
        }
        prev = Some(id);
    }
}

/// One picture of how each decision's argmax changed across epochs: a table with a row per
/// decision and a column per epoch, each cell the chosen option in its colour.
pub fn evolution(g: &Graph, epochs: &[(u32, Assignment)], title: &str) -> String {
    let colors: HashMap<String, &str> = option_colors(g).into_iter().collect();
    let html = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let mut t = String::from("<<TABLE BORDER=\"0\" CELLBORDER=\"1\" CELLSPACING=\"0\" CELLPADDING=\"4\">");
    let _ = write!(t, "<TR><TD><B>decision</B></TD>");
    for (e, _) in epochs {
        let _ = write!(t, "<TD><B>{e}</B></TD>");
    }
    t.push_str("</TR>");
    for (ci, c) in g.choices.iter().enumerate() {
        let _ = write!(t, "<TR><TD ALIGN=\"LEFT\">{}</TD>", html(&c.name));
        for (_, a) in epochs {
            match a.get(crate::ir::ChoiceId(ci as u32)) {
                Some(o) => {
                    let name = &c.options[o.0 as usize].name;
                    let _ = write!(
                        t,
                        "<TD BGCOLOR=\"{}\">{}</TD>",
                        colors.get(name).copied().unwrap_or("#ffffff"),
                        html(name)
                    );
                }
                None => t.push_str("<TD>-</TD>"),
            }
        }
        t.push_str("</TR>");
    }
    t.push_str("</TABLE>>");
    let mut out = Vec::new();
    {
        let mut w = DotWriter::from(&mut out);
        w.set_pretty_print(true);
        let mut root = w.digraph();
        root.graph_attributes().set("label", &esc(title), true).set("labelloc", "t", true).set(
            "fontname",
            "Helvetica",
            true,
        );
        root.node_named("table")
            .set("shape", "plaintext", true)
            .set("fontname", "Helvetica", true)
            .set("fontsize", "10", true)
            .set("label", &t, false);
    }
    String::from_utf8(out).expect("DOT is UTF-8")
}
