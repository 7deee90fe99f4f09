//! Name resolution over the syntax tree, before anything is evaluated: every variable is bound
//! before use, every callee exists, every named argument names a parameter, and `return` sits at
//! the end of each block. It walks every definition, called or not, and reports every problem.

use std::collections::HashSet;

use super::builtins;
use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::front::SourceTree;
use crate::front::ast::{BlockDef, Expr, ExprKind, Stmt};
use crate::util::closest;

pub fn check(prog: &SourceTree, diags: &mut Diagnostics) {
    let mut names: Vec<&String> = prog.defs.keys().collect();
    names.sort(); // report in a stable order
    for name in names {
        let def = &prog.defs[name];
        if builtins::is_builtin(name) {
            diags.push(
                Diagnostic::new(Code::Duplicate, def.name.span, format!("`{name}` is a built-in layer or function"))
                    .hint("choose another name for the block"),
            );
        }
        check_def(prog, def, diags);
    }
}

fn check_def(prog: &SourceTree, def: &BlockDef, diags: &mut Diagnostics) {
    let mut scope: Vec<String> = vec![];
    for p in &def.params {
        if scope.contains(&p.name.name) {
            diags.push(Diagnostic::new(
                Code::Duplicate,
                p.name.span,
                format!("parameter `{}` is declared twice", p.name.name),
            ));
        }
        if let Some(d) = &p.default {
            // Defaults may use the parameters before them.
            expr(prog, d, &scope, diags);
        }
        scope.push(p.name.name.clone());
    }
    // A misplaced `return` is reported where it is; only a body without any gets this one.
    match def.body.iter().any(|s| matches!(s, Stmt::Return { .. })) {
        true => {}
        false => diags.push(
            Diagnostic::new(
                Code::ReturnPlacement,
                def.name.span,
                format!("`{}` does not end with `return`", def.name.name),
            )
            .hint("a block's last statement returns its output: `return x`"),
        ),
    }
    stmts(prog, &def.body, &mut scope, true, diags);
}

fn stmts(prog: &SourceTree, body: &[Stmt], scope: &mut Vec<String>, is_block_body: bool, diags: &mut Diagnostics) {
    for (i, s) in body.iter().enumerate() {
        match s {
            Stmt::Let { name, value } => {
                expr(prog, value, scope, diags);
                scope.push(name.name.clone());
            }
            Stmt::Repeat { var, count, body, .. } => {
                expr(prog, count, scope, diags);
                if let Some(v) = var {
                    scope.push(v.name.clone());
                }
                stmts(prog, body, scope, false, diags);
            }
            Stmt::Return { value, span } => {
                expr(prog, value, scope, diags);
                if !is_block_body {
                    diags.push(
                        Diagnostic::new(Code::ReturnPlacement, *span, "`return` is only allowed at the end of a block")
                            .hint("inside `repeat` and `{ }`, rebind names instead (`x = ...`)"),
                    );
                } else if i + 1 != body.len() {
                    diags.push(
                        Diagnostic::new(Code::ReturnPlacement, *span, "statements after `return` are never run")
                            .hint("`return` must be the last statement of the block"),
                    );
                }
            }
        }
    }
}

fn expr(prog: &SourceTree, e: &Expr, scope: &[String], diags: &mut Diagnostics) {
    match &e.kind {
        ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Str(_) | ExprKind::Bool(_) => {}
        ExprKind::List(items) => items.iter().for_each(|i| expr(prog, i, scope, diags)),
        ExprKind::Var(id) => {
            if !scope.contains(&id.name) {
                let mut d = Diagnostic::new(Code::UnknownName, id.span, format!("unknown name `{}`", id.name))
                    .label("not defined here");
                let candidates: HashSet<&str> = scope.iter().map(String::as_str).collect();
                d = if let Some(c) = closest(&id.name, candidates.into_iter()) {
                    d.hint(format!("did you mean `{c}`?"))
                } else if builtins::layer(&id.name).is_some() || prog.def(&id.name).is_some() {
                    d.hint(format!(
                        "`{0}` is a layer or block: call it, `{0}(x, ...)`, or pipe into it, `x |> {0}`",
                        id.name
                    ))
                } else {
                    d.hint("names are parameters or values bound earlier with `name = ...`")
                };
                diags.push(d);
            }
        }
        ExprKind::Unary { operand, .. } => expr(prog, operand, scope, diags),
        ExprKind::Binary { lhs, rhs, .. } => {
            expr(prog, lhs, scope, diags);
            expr(prog, rhs, scope, diags);
        }
        ExprKind::If { cond, then, otherwise } => {
            expr(prog, cond, scope, diags);
            expr(prog, then, scope, diags);
            expr(prog, otherwise, scope, diags);
        }
        ExprKind::Block { stmts: body, value } => {
            let mut inner = scope.to_vec();
            stmts(prog, body, &mut inner, false, diags);
            expr(prog, value, &inner, diags);
        }
        ExprKind::Choice { alternatives, .. } => {
            for a in alternatives {
                expr(prog, &a.value, scope, diags);
            }
        }
        ExprKind::Call { callee, args, .. } => {
            for a in args {
                expr(prog, &a.value, scope, diags);
            }
            let params: Option<Vec<&str>> = if let Some(l) = builtins::layer(&callee.name) {
                Some(l.params.iter().map(|p| p.name).collect())
            } else if builtins::is_function(&callee.name) {
                None
            } else if let Some(def) = prog.def(&callee.name) {
                Some(def.params.iter().map(|p| p.name.name.as_str()).collect())
            } else {
                let all = builtins::LAYERS
                    .iter()
                    .map(|l| l.name)
                    .chain(builtins::FUNCTIONS.iter().map(|f| f.name))
                    .chain(prog.defs.keys().map(String::as_str));
                let hint = unknown_callee_hint(&callee.name, all);
                diags.push(
                    Diagnostic::new(
                        Code::UnknownBlock,
                        callee.span,
                        format!("unknown layer or block `{}`", callee.name),
                    )
                    .label("not defined")
                    .hint(hint),
                );
                return;
            };
            if let Some(params) = params {
                for a in args {
                    if let Some(n) = &a.name
                        && !params.contains(&n.name.as_str())
                    {
                        let hint = match closest(&n.name, params.iter().copied()) {
                            Some(c) => format!("did you mean `{c}`?"),
                            None => format!("`{}` takes: {}", callee.name, params.join(", ")),
                        };
                        diags.push(
                            Diagnostic::new(
                                Code::UnknownArgument,
                                n.span,
                                format!("`{}` has no parameter `{}`", callee.name, n.name),
                            )
                            .hint(hint),
                        );
                    }
                }
            }
        }
    }
}

/// Other frameworks' names for our layers (PyTorch, Keras, MXNet), which edit distance misses.
const SYNONYMS: &[(&str, &str)] = &[
    ("batchnorm", "bn"),
    ("batch_norm", "bn"),
    ("batchnorm2d", "bn"),
    ("batchnormalization", "bn"),
    ("linear", "dense"),
    ("fc", "dense"),
    ("fully_connected", "dense"),
    ("conv2d", "conv"),
    ("convolution", "conv"),
    ("binary_conv", "bconv"),
    ("qconv2d", "bconv"),
    ("quantconv2d", "bconv"),
    ("maxpool2d", "maxpool"),
    ("avgpool2d", "avgpool"),
    ("adaptive_avg_pool", "global_avgpool"),
    ("globalaveragepooling2d", "global_avgpool"),
    ("cat", "concat"),
    ("concatenate", "concat"),
];

/// The help for a call to an unknown name: our layer by its other name, a close spelling, the
/// standard library file that defines a block of that name, or where blocks come from.
fn unknown_callee_hint<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> String {
    let lower = name.to_ascii_lowercase();
    if let Some((_, ours)) = SYNONYMS.iter().find(|(other, _)| *other == lower) {
        return format!("the layer is called `{ours}` here");
    }
    if let Some(c) = closest(name, known) {
        return format!("did you mean `{c}`?");
    }
    let defines = |text: &str| {
        text.lines().any(|l| l.trim_start().strip_prefix("block ").is_some_and(|r| r.starts_with(&format!("{name}("))))
    };
    match crate::front::stdlib::names().into_iter().find(|f| crate::front::stdlib::get(&f[4..]).is_some_and(defines)) {
        Some(file) => format!("`{name}` is a block of the standard library: `import \"{file}\"`"),
        None => {
            let layers: Vec<&str> = builtins::LAYERS.iter().map(|l| l.name).collect();
            format!("not a layer ({}), nor a block of this file or its imports", layers.join(", "))
        }
    }
}
