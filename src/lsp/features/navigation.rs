//! Navigation: go to definition, references and document symbols.

use lsp_types::*;

use crate::front::ast::{DefKind, ExprKind, Item, Stmt};
use crate::front::source::Span;
use crate::lsp::analysis::{Analysis, Hit, walk_stmts};
use crate::lsp::text::{LineIndex, file_uri, span_range};

fn location(a: &Analysis, span: Span) -> Option<Location> {
    Some(Location::new(file_uri(a.db(), span.file)?, span_range(a.db(), span)))
}

pub fn definition(a: &Analysis, pos: Position) -> Option<Location> {
    let offset = LineIndex::new(&a.text).offset(pos);
    match a.hit(offset)? {
        Hit::Callee { name, .. } => location(a, a.def(&name.name)?.name.span),
        Hit::DefName(def) => location(a, def.name.span),
        Hit::Import { path, .. } => {
            let file = a.files().iter().map(|f| f.id).find(|&id| {
                let f = a.db().get(id);
                f.name == path
                    || f.name.ends_with(&format!("/{path}"))
                    || f.path.as_ref().is_some_and(|p| p.ends_with(path))
            })?;
            Some(Location::new(file_uri(a.db(), file)?, Range::default()))
        }
        Hit::Var { ident, def } => {
            // The last assignment before the use, else the parameter.
            let mut best: Option<Span> = None;
            visit_lets(&def.body, &mut |name, span| {
                if name == ident.name && span.start < ident.span.start {
                    best = Some(span);
                }
            });
            let span = best.or_else(|| def.params.iter().find(|p| p.name.name == ident.name).map(|p| p.name.span))?;
            location(a, span)
        }
        Hit::Choice { name, .. } => location(a, name.span),
    }
}

pub(super) fn visit_lets(stmts: &[Stmt], f: &mut dyn FnMut(&str, Span)) {
    for s in stmts {
        match s {
            Stmt::Let { name, .. } => f(&name.name, name.span),
            Stmt::Repeat { var, body, .. } => {
                if let Some(v) = var {
                    f(&v.name, v.span);
                }
                visit_lets(body, f);
            }
            Stmt::Return { .. } => {}
        }
    }
}

pub fn references(a: &Analysis, pos: Position, include_declaration: bool) -> Vec<Location> {
    let offset = LineIndex::new(&a.text).offset(pos);
    let name = match a.hit(offset) {
        Some(Hit::Callee { name, .. }) => name.name.clone(),
        Some(Hit::DefName(def)) => def.name.name.clone(),
        Some(Hit::Import { path, .. }) => {
            // Every import of the same file, in every loaded file.
            let mut out = vec![];
            for f in a.files() {
                for item in &f.items {
                    if let Item::Import(i) = item
                        && i.path == path
                    {
                        out.extend(location(a, i.span));
                    }
                }
            }
            return out;
        }
        _ => return vec![],
    };
    let mut spans = a.calls_of(&name);
    if include_declaration && let Some(def) = a.def(&name) {
        spans.insert(0, def.name.span);
    }
    spans.into_iter().filter_map(|s| location(a, s)).collect()
}

#[allow(deprecated)] // DocumentSymbol::deprecated is a required field
pub fn symbols(a: &Analysis) -> Vec<DocumentSymbol> {
    let index = LineIndex::new(&a.text);
    let range = |s: Span| index.range(s.start as usize, s.end as usize);
    let mut out = vec![];
    for item in a.root_items() {
        let sym = |name: String, detail: Option<String>, kind, full: Span, sel: Span, children: Vec<DocumentSymbol>| {
            DocumentSymbol {
                name,
                detail,
                kind,
                tags: None,
                deprecated: None,
                range: range(full),
                selection_range: range(sel),
                children: (!children.is_empty()).then_some(children),
            }
        };
        match item {
            Item::Import(i) => {
                out.push(sym(i.path.clone(), Some("import".into()), SymbolKind::MODULE, i.span, i.span, vec![]))
            }
            Item::Block(def) => {
                let mut children = vec![];
                walk_stmts(&def.body, &mut |e| {
                    if let ExprKind::Choice { name, alternatives, .. } = &e.kind {
                        let opts = alternatives
                            .iter()
                            .map(|o| {
                                sym(
                                    o.name.name.clone(),
                                    None,
                                    SymbolKind::ENUM_MEMBER,
                                    o.name.span.to(o.value.span),
                                    o.name.span,
                                    vec![],
                                )
                            })
                            .collect();
                        children.push(sym(
                            name.name.clone(),
                            Some("choice".into()),
                            SymbolKind::ENUM,
                            e.span,
                            name.span,
                            opts,
                        ));
                    }
                });
                let (kind, detail) = match def.kind {
                    DefKind::Space => (SymbolKind::CLASS, "space"),
                    DefKind::Block => (SymbolKind::FUNCTION, "block"),
                };
                out.push(sym(def.name.name.clone(), Some(detail.into()), kind, def.span, def.name.span, children));
            }
            Item::Pin(p) => out.push(sym(
                p.space.name.clone(),
                Some(format!("pin from {}", p.from)),
                SymbolKind::OBJECT,
                p.span,
                p.space.span,
                vec![],
            )),
        }
    }
    out
}
