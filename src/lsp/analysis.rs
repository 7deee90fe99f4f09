//! One open document, analysed: its syntax trees (with imports) for navigation, and the checked
//! space (diagnostics, shapes, costs) from the same front end and lowering as `lightnasc check`.

use std::path::PathBuf;

use crate::check::{Outcome, check_unsaved};
use crate::front::ast::{BlockDef, Expr, ExprKind, File, Ident, Item, Stmt};
use crate::front::source::{FileId, SourceDb, Span};
use crate::lower::SpaceArgs;

pub struct Analysis {
    pub text: String,
    /// The check, with the syntax trees it parsed (`outcome.files`) and their sources (`outcome.db`).
    pub outcome: Outcome,
}

/// What sits under the cursor.
pub enum Hit<'a> {
    /// The name in a call or pipe stage, and the whole call expression.
    Callee { name: &'a Ident, call: &'a Expr },
    /// The name of a block or space definition.
    DefName(&'a BlockDef),
    /// The name of a `choice`, and the choice expression.
    Choice { name: &'a Ident, expr: &'a Expr },
    /// A variable use, in the definition that holds it.
    Var { ident: &'a Ident, def: &'a BlockDef },
    /// The path string of an import.
    Import { path: &'a str, span: Span },
}

impl Analysis {
    pub fn new(name: &str, path: Option<PathBuf>, text: String) -> Self {
        let outcome = check_unsaved(name, path, &text, &SpaceArgs::default());
        Analysis { text, outcome }
    }

    /// The document itself: the first file the checker loaded.
    pub fn root(&self) -> FileId {
        FileId(0)
    }

    pub fn db(&self) -> &SourceDb {
        &self.outcome.db
    }

    pub fn files(&self) -> &[File] {
        &self.outcome.files
    }

    pub fn root_items(&self) -> &[Item] {
        self.files().iter().find(|f| f.id == self.root()).map_or(&[], |f| &f.items)
    }

    /// Every definition in every loaded file.
    pub fn all_defs(&self) -> impl Iterator<Item = &BlockDef> {
        self.files().iter().flat_map(|f| f.items.iter()).filter_map(|i| match i {
            Item::Block(b) => Some(b),
            _ => None,
        })
    }

    /// The innermost thing of interest at a byte offset of the root file.
    pub fn hit(&self, offset: usize) -> Option<Hit<'_>> {
        let inside = |s: Span| s.file == self.root() && (s.start as usize) <= offset && offset <= s.end as usize;
        for item in self.root_items() {
            match item {
                Item::Import(i) if inside(i.span) => return Some(Hit::Import { path: &i.path, span: i.span }),
                Item::Block(def) if inside(def.span) => {
                    if inside(def.name.span) {
                        return Some(Hit::DefName(def));
                    }
                    let mut found = None;
                    let exprs = def.params.iter().filter_map(|p| p.default.as_ref());
                    for e in exprs {
                        walk_expr(e, &mut |e| hit_in(e, def, &inside, &mut found));
                    }
                    walk_stmts(&def.body, &mut |e| hit_in(e, def, &inside, &mut found));
                    return found;
                }
                _ => {}
            }
        }
        None
    }

    /// The definition of a block by name, in any loaded file.
    pub fn def(&self, name: &str) -> Option<&BlockDef> {
        self.all_defs().find(|d| d.name.name == name)
    }

    /// Every call of a block, in every loaded file.
    pub fn calls_of(&self, name: &str) -> Vec<Span> {
        let mut out = vec![];
        for def in self.all_defs() {
            walk_stmts(&def.body, &mut |e| {
                if let ExprKind::Call { callee, .. } = &e.kind
                    && callee.name == name
                {
                    out.push(callee.span);
                }
            });
        }
        out
    }

    /// The `//` lines right above a definition: its documentation.
    pub fn doc_comment(&self, def: &BlockDef) -> String {
        let text = &self.db().get(def.span.file).text;
        let before = &text[..def.span.start as usize];
        let mut lines: Vec<&str> = vec![];
        for line in
            before.lines().rev().skip_while(|l| l.trim().is_empty()).take_while(|l| l.trim_start().starts_with("//"))
        {
            lines.push(line.trim_start().trim_start_matches("//").trim());
        }
        lines.reverse();
        lines.join("\n")
    }
}

fn hit_in<'a>(e: &'a Expr, def: &'a BlockDef, inside: &dyn Fn(Span) -> bool, found: &mut Option<Hit<'a>>) {
    match &e.kind {
        ExprKind::Call { callee, .. } if inside(callee.span) => *found = Some(Hit::Callee { name: callee, call: e }),
        ExprKind::Choice { name, .. } if inside(name.span) => *found = Some(Hit::Choice { name, expr: e }),
        ExprKind::Var(ident) if inside(ident.span) => *found = Some(Hit::Var { ident, def }),
        _ => {}
    }
}

/// Every expression in statements, outer before inner.
pub fn walk_stmts<'a>(stmts: &'a [Stmt], f: &mut dyn FnMut(&'a Expr)) {
    for s in stmts {
        match s {
            Stmt::Let { value, .. } | Stmt::Return { value, .. } => walk_expr(value, f),
            Stmt::Repeat { count, body, .. } => {
                walk_expr(count, f);
                walk_stmts(body, f);
            }
        }
    }
}

pub fn walk_expr<'a>(e: &'a Expr, f: &mut dyn FnMut(&'a Expr)) {
    f(e);
    match &e.kind {
        ExprKind::List(items) => items.iter().for_each(|x| walk_expr(x, f)),
        ExprKind::Call { args, .. } => args.iter().for_each(|a| walk_expr(&a.value, f)),
        ExprKind::Binary { lhs, rhs, .. } => {
            walk_expr(lhs, f);
            walk_expr(rhs, f);
        }
        ExprKind::Unary { operand, .. } => walk_expr(operand, f),
        ExprKind::Choice { alternatives, .. } => alternatives.iter().for_each(|a| walk_expr(&a.value, f)),
        ExprKind::If { cond, then, otherwise } => {
            walk_expr(cond, f);
            walk_expr(then, f);
            walk_expr(otherwise, f);
        }
        ExprKind::Block { stmts, value } => {
            walk_stmts(stmts, f);
            walk_expr(value, f);
        }
        ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Str(_) | ExprKind::Bool(_) | ExprKind::Var(_) => {}
    }
}
