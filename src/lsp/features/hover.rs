//! Hover: a layer's or block's inferred shape, parameters and OPs; a choice's or space's size.

use lsp_types::*;

use crate::front::ast::{DefKind, ExprKind};
use crate::front::source::Span;
use crate::ir::Graph;
use crate::ir::cost::{cost_range_of, node_cost};
use crate::lower::builtins;
use crate::lsp::analysis::{Analysis, Hit};
use crate::lsp::text::LineIndex;
use crate::util::human_count;

fn range_text(lo: f64, hi: f64) -> String {
    if (hi - lo).abs() < 0.5 { human_count(lo) } else { format!("{} – {}", human_count(lo), human_count(hi)) }
}

pub fn hover(a: &Analysis, pos: Position) -> Option<Hover> {
    let index = LineIndex::new(&a.text);
    let offset = index.offset(pos);
    let graph = a.outcome.space.as_ref();
    let (md, span) = match a.hit(offset)? {
        Hit::Callee { name, call } => {
            let text = if let Some(def) = a.def(&name.name) {
                let mut s = format!("```lnas\n{}\n```\n{}", signature(a, def), a.doc_comment(def));
                if let Some(g) = graph {
                    s.push_str(&instances_summary(g, call.span));
                }
                s
            } else if let Some(spec) = builtins::layer(&name.name) {
                let mut s = format!("```lnas\n{}\n```\n{} (built-in layer)", spec.signature(), spec.doc);
                if let Some(g) = graph {
                    s.push_str(&layer_nodes_summary(g, call.span));
                }
                s
            } else if let Some(f) = builtins::function(&name.name) {
                format!("```lnas\n{}\n```\n(built-in function)", f.doc)
            } else {
                return None;
            };
            (text, name.span)
        }
        Hit::DefName(def) => {
            let mut s = format!("```lnas\n{}\n```\n{}", signature(a, def), a.doc_comment(def));
            if let (Some(g), DefKind::Space) = (graph, def.kind)
                && g.name == def.name.name
            {
                let r = crate::ir::cost::cost_range(g);
                s.push_str(&format!(
                    "\n\n**{} architectures**, {} choices · params {} · OPs {} · output {}",
                    g.space_size(),
                    g.choices.len(),
                    range_text(r.params_min as f64, r.params_max as f64),
                    range_text(r.ops_min, r.ops_max),
                    g.node(g.output).shape
                ));
            } else if let Some(g) = graph {
                let n = g.instances.iter().filter(|i| i.block == def.name.name).count();
                s.push_str(&format!("\n\ninstantiated {n} time(s) in `{}`", g.name));
            }
            (s, def.name.span)
        }
        Hit::Choice { name, expr } => {
            let ExprKind::Choice { alternatives, shared, .. } = &expr.kind else { return None };
            let options: Vec<&str> = alternatives.iter().map(|o| o.name.name.as_str()).collect();
            let mut s = format!(
                "choice `{}`{}: {}",
                name.name,
                if *shared { " (options share weights)" } else { "" },
                options.join(" | ")
            );
            if let Some(g) = graph {
                let here: Vec<_> = (0..g.choices.len() as u32)
                    .map(crate::ir::ChoiceId)
                    .filter(|&c| {
                        let ch = g.choice(c);
                        let within = ch.span.file == expr.span.file
                            && ch.span.start >= expr.span.start
                            && ch.span.end <= expr.span.end;
                        within && ch.name.rsplit('.').next() == Some(name.name.as_str())
                    })
                    .collect();
                s.push_str(&format!("\n\n{} instance(s) in `{}`:", here.len(), g.name));
                for &c in here.iter().take(12) {
                    s.push_str(&format!("\n- `{}`: {} architectures under it", g.choice(c).name, g.choice_size(c)));
                }
                if here.len() > 12 {
                    s.push_str(&format!("\n- ... and {} more", here.len() - 12));
                }
            }
            (s, name.span)
        }
        Hit::Var { ident, def } => {
            let param = def.params.iter().find(|p| p.name.name == ident.name);
            let s = match param {
                Some(p) => format!("parameter `{}: {}` of `{}`", p.name.name, p.ty.name(), def.name.name),
                None => format!("value `{}` in `{}`", ident.name, def.name.name),
            };
            (s, ident.span)
        }
        Hit::Import { path, span } => {
            let s = match a.db().find_name(path) {
                Some(_) => format!("`{path}`: the standard library shipped inside lightnasc"),
                None => format!("imports `{path}` (relative to this file)"),
            };
            (s, span)
        }
    };
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent { kind: MarkupKind::Markdown, value: md.trim().to_string() }),
        range: Some(index.range(span.start as usize, span.end as usize)),
    })
}

pub(super) fn signature(a: &Analysis, def: &crate::front::ast::BlockDef) -> String {
    let db = &a.db();
    let params: Vec<String> = def
        .params
        .iter()
        .map(|p| {
            db.text(p.name.span.to(p.default.as_ref().map_or(p.ty_span.unwrap_or(p.name.span), |d| d.span))).to_string()
        })
        .collect();
    let kw = if def.kind == DefKind::Space { "space" } else { "block" };
    format!("{kw} {}({})", def.name.name, params.join(", "))
}

/// Shapes and costs of the block instances a call site produced.
fn instances_summary(g: &Graph, call: Span) -> String {
    let here: Vec<_> = g.instances.iter().filter(|i| i.span == call).collect();
    if here.is_empty() {
        return String::new();
    }
    let mut s = format!("\n\n{} instance(s) in `{}`:", here.len(), g.name);
    for inst in here.iter().take(12) {
        let prefix = format!("{}.", inst.scope);
        let inside = |name: &str| name.starts_with(&prefix);
        let r = cost_range_of(g, |n| inside(&n.name));
        let last = g.topo_order().into_iter().rev().find(|&n| inside(&g.node(n).name));
        let shape = last.map(|n| g.node(n).shape.to_string()).unwrap_or_else(|| "-".into());
        let top: Vec<_> = (0..g.choices.len() as u32)
            .map(crate::ir::ChoiceId)
            .filter(|&c| {
                let ch = g.choice(c);
                inside(&ch.name) && ch.parent.is_none_or(|p| !inside(&g.choice(p.choice).name))
            })
            .collect();
        let archs: num_bigint::BigUint = top.iter().map(|&c| g.choice_size(c)).product();
        s.push_str(&format!(
            "\n- `{}` → {shape} · params {} · OPs {} · {} architectures",
            inst.scope,
            range_text(r.params_min as f64, r.params_max as f64),
            range_text(r.ops_min, r.ops_max),
            archs
        ));
    }
    if here.len() > 12 {
        s.push_str(&format!("\n- ... and {} more", here.len() - 12));
    }
    s
}

/// The layers a built-in call produced: name, shape, params and OPs of each.
fn layer_nodes_summary(g: &Graph, call: Span) -> String {
    let here: Vec<_> = g.topo_order().into_iter().filter(|&n| g.node(n).span == Some(call)).collect();
    if here.is_empty() {
        return String::new();
    }
    let mut s = format!("\n\n{} layer(s) in `{}`:", here.len(), g.name);
    for &n in here.iter().take(12) {
        let node = g.node(n);
        let input = g.inputs(n).first().map(|&i| g.node(i).shape);
        let c = node_cost(node, input);
        s.push_str(&format!(
            "\n- `{}` → {} · params {} · OPs {}",
            node.name,
            node.shape,
            human_count(c.params as f64),
            human_count(c.ops())
        ));
    }
    if here.len() > 12 {
        s.push_str(&format!("\n- ... and {} more", here.len() - 12));
    }
    s
}
