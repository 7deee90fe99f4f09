//! The language features, each a function from an [`Analysis`] (and a position) to protocol types.

use lsp_types::*;

use super::analysis::{Analysis, Hit, walk_expr, walk_stmts};
use super::text::{LineIndex, file_uri, span_range};
use crate::front::ast::{DefKind, ExprKind, Item, Stmt};
use crate::front::source::Span;
use crate::ir::Graph;
use crate::ir::cost::{cost_range_of, node_cost};
use crate::lower::builtins;
use crate::util::human_count;

// ---- diagnostics -------------------------------------------------------------------------------

/// The compiler's diagnostics for the root file. A problem in an imported file is shown at the
/// top of this one, naming where it is.
pub fn diagnostics(a: &Analysis) -> Vec<Diagnostic> {
    let db = &a.outcome.db;
    let index = LineIndex::new(&a.text);
    a.outcome
        .diags
        .0
        .iter()
        .map(|d| {
            let (range, prefix) = match d.span {
                // The root is the first file the checker loaded.
                Some(s) if s.file.0 == 0 => (index.range(s.start as usize, s.end as usize), String::new()),
                Some(s) => (Range::default(), format!("in {}: ", db.location(s))),
                None => (Range::default(), String::new()),
            };
            let mut message = format!("{prefix}{}", d.message);
            if let Some(l) = &d.label {
                message.push_str(&format!(" ({l})"));
            }
            if let Some(h) = &d.hint {
                message.push_str(&format!("\nhint: {h}"));
            }
            let related: Vec<DiagnosticRelatedInformation> = d
                .related
                .iter()
                .filter_map(|r| {
                    Some(DiagnosticRelatedInformation {
                        location: Location::new(file_uri(db, r.span.file)?, span_range(db, r.span)),
                        message: r.message.clone(),
                    })
                })
                .collect();
            Diagnostic {
                range,
                severity: Some(DiagnosticSeverity::ERROR),
                code: Some(NumberOrString::String(d.code.as_str().to_string())),
                source: Some("lightnasc".into()),
                message,
                related_information: (!related.is_empty()).then_some(related),
                ..Default::default()
            }
        })
        .collect()
}

// ---- hover -------------------------------------------------------------------------------------

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

fn signature(a: &Analysis, def: &crate::front::ast::BlockDef) -> String {
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

// ---- navigation --------------------------------------------------------------------------------

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

fn visit_lets(stmts: &[Stmt], f: &mut dyn FnMut(&str, Span)) {
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

// ---- completion --------------------------------------------------------------------------------

const KEYWORDS: &[&str] = &[
    "import", "block", "space", "pin", "from", "return", "repeat", "in", "as", "choice", "shared", "cost", "if",
    "else", "and", "or", "not", "true", "false",
];

/// The callee whose argument list the offset is in, if any.
fn enclosing_call(text: &str, offset: usize) -> Option<&str> {
    let bytes = text.as_bytes();
    let mut depth = 0i32;
    let mut i = offset.min(bytes.len());
    while i > 0 {
        i -= 1;
        match bytes[i] {
            b')' | b']' | b'}' => depth += 1,
            b'(' | b'[' | b'{' if depth > 0 => depth -= 1,
            b'(' => {
                let end = text[..i].trim_end().len();
                let start = text[..end].rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map_or(0, |p| p + 1);
                return (start < end).then(|| &text[start..end]);
            }
            b'[' | b'{' => return None,
            _ => {}
        }
    }
    None
}

pub fn completion(a: &Analysis, pos: Position) -> Vec<CompletionItem> {
    let offset = LineIndex::new(&a.text).offset(pos);
    let before = a.text[..offset].trim_end_matches(|c: char| c.is_ascii_alphanumeric() || c == '_');
    let after_pipe = before.trim_end().ends_with("|>");
    let mut items = vec![];
    // Parameters of the call the cursor is in, first.
    if !after_pipe && let Some(callee) = enclosing_call(&a.text, offset) {
        if let Some(def) = a.def(callee) {
            for p in def.params.iter().skip(1) {
                items.push(param_item(&p.name.name, p.ty.name(), &format!("parameter of `{callee}`")));
            }
        } else if let Some(spec) = builtins::layer(callee) {
            for p in spec.params.iter().skip(1) {
                items.push(param_item(p.name, p.ty.name(), p.doc));
            }
        }
    }
    for def in a.all_defs().filter(|d| d.kind == DefKind::Block) {
        items.push(CompletionItem {
            label: def.name.name.clone(),
            kind: Some(CompletionItemKind::FUNCTION),
            detail: Some(signature(a, def)),
            documentation: Some(Documentation::String(a.doc_comment(def))),
            sort_text: Some(format!("1{}", def.name.name)),
            ..Default::default()
        });
    }
    for spec in builtins::LAYERS {
        items.push(CompletionItem {
            label: spec.name.to_string(),
            kind: Some(CompletionItemKind::FUNCTION),
            detail: Some(spec.signature()),
            documentation: Some(Documentation::String(spec.doc.to_string())),
            sort_text: Some(format!("2{}", spec.name)),
            ..Default::default()
        });
    }
    if !after_pipe {
        for &builtins::FunctionSpec { name, doc, .. } in builtins::FUNCTIONS {
            items.push(CompletionItem {
                label: name.to_string(),
                kind: Some(CompletionItemKind::FUNCTION),
                detail: Some(doc.to_string()),
                sort_text: Some(format!("3{name}")),
                ..Default::default()
            });
        }
        for kw in KEYWORDS {
            items.push(CompletionItem {
                label: kw.to_string(),
                kind: Some(CompletionItemKind::KEYWORD),
                sort_text: Some(format!("4{kw}")),
                ..Default::default()
            });
        }
    }
    items
}

fn param_item(name: &str, ty: &str, doc: &str) -> CompletionItem {
    CompletionItem {
        label: format!("{name}:"),
        kind: Some(CompletionItemKind::FIELD),
        detail: Some(ty.to_string()),
        documentation: Some(Documentation::String(doc.to_string())),
        insert_text: Some(format!("{name}: ")),
        sort_text: Some(format!("0{name}")),
        ..Default::default()
    }
}

// ---- formatting --------------------------------------------------------------------------------

/// One edit that replaces the document with its canonical layout; nothing when it does not parse
/// (the diagnostics say why) or is already formatted.
pub fn formatting(a: &Analysis) -> Vec<TextEdit> {
    match crate::front::fmt::format(&a.text) {
        Ok(out) if out != a.text => {
            let index = LineIndex::new(&a.text);
            vec![TextEdit { range: index.range(0, a.text.len()), new_text: out }]
        }
        _ => vec![],
    }
}

// ---- semantic tokens ---------------------------------------------------------------------------

pub const TOKEN_TYPES: &[SemanticTokenType] = &[
    SemanticTokenType::KEYWORD,
    SemanticTokenType::COMMENT,
    SemanticTokenType::STRING,
    SemanticTokenType::NUMBER,
    SemanticTokenType::OPERATOR,
    SemanticTokenType::FUNCTION,
    SemanticTokenType::PARAMETER,
    SemanticTokenType::VARIABLE,
    SemanticTokenType::TYPE,
    SemanticTokenType::ENUM,
    SemanticTokenType::ENUM_MEMBER,
    SemanticTokenType::NAMESPACE,
    SemanticTokenType::PROPERTY,
];
pub const TOKEN_MODIFIERS: &[SemanticTokenModifier] =
    &[SemanticTokenModifier::DECLARATION, SemanticTokenModifier::DEFAULT_LIBRARY];

#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
enum Tok {
    Keyword,
    Comment,
    String,
    Number,
    Operator,
    Function,
    Parameter,
    Variable,
    Type,
    Enum,
    EnumMember,
    Namespace,
    Property,
}
const DECLARATION: u32 = 1;
const LIBRARY: u32 = 2;

pub fn semantic_tokens(a: &Analysis) -> Vec<SemanticToken> {
    let text = &a.text;
    // byte start -> (byte len, type, modifiers); syntax-tree tokens override lexical ones.
    let mut toks: std::collections::BTreeMap<usize, (usize, Tok, u32)> = Default::default();
    lex(text, &mut toks);
    let root = a.root();
    let mut put = |s: Span, t: Tok, m: u32| {
        if s.file == root && !s.is_empty() {
            toks.insert(s.start as usize, (s.len(), t, m));
        }
    };
    for item in a.root_items() {
        let Item::Block(def) = item else { continue };
        put(def.name.span, Tok::Function, DECLARATION);
        let params: Vec<&str> = def.params.iter().map(|p| p.name.name.as_str()).collect();
        for p in &def.params {
            put(p.name.span, Tok::Parameter, DECLARATION);
            if let Some(t) = p.ty_span {
                put(t, Tok::Type, 0);
            }
        }
        let mut on_expr = |e: &crate::front::ast::Expr| match &e.kind {
            ExprKind::Call { callee, args, label, .. } => {
                let lib = if a.def(&callee.name).is_none() { LIBRARY } else { 0 };
                put(callee.span, Tok::Function, lib);
                for arg in args {
                    if let Some(n) = &arg.name {
                        put(n.span, Tok::Property, 0);
                    }
                }
                if let Some(l) = label {
                    put(l.span, Tok::Namespace, DECLARATION);
                }
            }
            ExprKind::Var(id) => {
                put(id.span, if params.contains(&id.name.as_str()) { Tok::Parameter } else { Tok::Variable }, 0)
            }
            ExprKind::Choice { name, alternatives, .. } => {
                put(name.span, Tok::Enum, DECLARATION);
                for o in alternatives {
                    put(o.name.span, Tok::EnumMember, DECLARATION);
                }
            }
            _ => {}
        };
        for d in def.params.iter().filter_map(|p| p.default.as_ref()) {
            walk_expr(d, &mut on_expr);
        }
        walk_stmts(&def.body, &mut on_expr);
        visit_lets(&def.body, &mut |_, span| put(span, Tok::Variable, DECLARATION));
        visit_labels(&def.body, &mut |span| put(span, Tok::Namespace, DECLARATION));
    }
    // Delta-encode, in UTF-16 units.
    let index = LineIndex::new(text);
    let (mut line, mut col) = (0u32, 0u32);
    let mut out = vec![];
    for (start, (len, t, m)) in toks {
        let p = index.position(start);
        let end = index.position(start + len);
        if end.line != p.line {
            continue; // tokens are single-line
        }
        let delta_line = p.line - line;
        let delta_start = if delta_line == 0 { p.character - col } else { p.character };
        out.push(SemanticToken {
            delta_line,
            delta_start,
            length: end.character - p.character,
            token_type: t as u32,
            token_modifiers_bitset: m,
        });
        (line, col) = (p.line, p.character);
    }
    out
}

fn visit_labels(stmts: &[Stmt], f: &mut dyn FnMut(Span)) {
    for s in stmts {
        if let Stmt::Repeat { label, body, .. } = s {
            if let Some(l) = label {
                f(l.span);
            }
            visit_labels(body, f);
        }
    }
}

/// Comments, strings, numbers, keywords and operators, by scanning the text.
fn lex(text: &str, out: &mut std::collections::BTreeMap<usize, (usize, Tok, u32)>) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            i = text[i..].find('\n').map_or(b.len(), |n| i + n);
            out.insert(start, (i - start, Tok::Comment, 0));
        } else if c == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(b.len());
            out.insert(start, (i - start, Tok::String, 0));
        } else if c.is_ascii_digit() {
            while i < b.len()
                && (b[i].is_ascii_alphanumeric()
                    || b[i] == b'.'
                    || ((b[i] == b'+' || b[i] == b'-') && matches!(b[i - 1], b'e' | b'E')))
            {
                i += 1;
            }
            out.insert(start, (i - start, Tok::Number, 0));
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            if KEYWORDS.contains(&&text[start..i]) {
                out.insert(start, (i - start, Tok::Keyword, 0));
            }
        } else if let Some(op) = ["|>", "=>", "==", "!=", "<=", ">="].iter().find(|op| text[i..].starts_with(**op)) {
            i += op.len();
            out.insert(start, (op.len(), Tok::Operator, 0));
        } else if b"=<>+-*/%".contains(&c) {
            i += 1;
            out.insert(start, (1, Tok::Operator, 0));
        } else {
            i += text[i..].chars().next().map_or(1, char::len_utf8);
        }
    }
}

#[cfg(test)]
mod tests {
    /// The completion and highlighting keywords are the grammar's `keyword` rule's, no more and no
    /// fewer (the list is written out here; the grammar is the truth).
    #[test]
    fn keywords_are_the_grammars() {
        let pest = include_str!("../../grammar/lnas.pest");
        let rule = pest.split("\nkeyword = @{").nth(1).expect("a `keyword` rule");
        let body = &rule[..rule.find('}').expect("the rule's end")];
        let mut grammar: Vec<&str> = body.split('"').skip(1).step_by(2).collect();
        let mut ours = super::KEYWORDS.to_vec();
        grammar.sort_unstable();
        ours.sort_unstable();
        assert_eq!(ours, grammar);
    }
}
