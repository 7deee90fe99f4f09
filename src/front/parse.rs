//! Parsing: pest turns text into a concrete tree (`grammar/lnas.pest`), this module turns that
//! into the [`ast`](super::ast). Syntax errors become diagnostics with a readable "expected ...".

use pest::Parser as _;
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;

use super::ast::*;
use super::source::{FileId, Span};
use crate::diag::{Code, Diagnostic};

#[derive(pest_derive::Parser)]
#[grammar = "grammar/lnas.pest"]
struct LnasParser;

/// The concrete tree of one file, for tools that need every token (the formatter).
pub(crate) fn concrete_tree(file: FileId, text: &str) -> Result<Pair<'_, Rule>, Diagnostic> {
    check_nesting(file, text)?;
    let mut pairs = LnasParser::parse(Rule::file, text).map_err(|e| syntax_error(file, text, e))?;
    Ok(pairs.next().expect("the file rule always yields one pair"))
}

/// Deepest bracket nesting accepted. Real specs nest a handful of levels; the limit keeps the
/// recursive-descent parser and the evaluator far from the end of the stack on hostile input.
pub const MAX_NESTING: usize = 64;

/// Parse one file. On a syntax error the file yields no items and exactly one diagnostic (pest
/// does not recover), which points at the furthest position the parser reached.
pub fn parse_file(file: FileId, text: &str) -> Result<File, Diagnostic> {
    let root = concrete_tree(file, text)?;
    let cx = Cx { file, text };
    let mut items = vec![];
    for pair in root.into_inner() {
        match pair.as_rule() {
            Rule::import => {
                let s = pair.into_inner().next().unwrap();
                items.push(Item::Import(Import { span: cx.span(&s), path: cx.string(s) }));
            }
            Rule::block_def => items.push(Item::Block(cx.def(pair, DefKind::Block)?)),
            Rule::space_def => items.push(Item::Block(cx.def(pair, DefKind::Space)?)),
            Rule::pin_def => items.push(Item::Pin(cx.pin(pair)?)),
            Rule::EOI => {}
            r => unreachable!("unexpected item rule {r:?}"),
        }
    }
    Ok(File { id: file, items })
}

fn check_nesting(file: FileId, text: &str) -> Result<(), Diagnostic> {
    let mut depth = 0usize;
    for (i, b) in brackets(text) {
        if matches!(b, b'(' | b'[' | b'{') {
            depth += 1;
            if depth > MAX_NESTING {
                return Err(Diagnostic::new(Code::TooDeep, Span::new(file, i, i + 1), "brackets nest too deeply")
                    .label(format!("nesting level {} starts here", MAX_NESTING + 1))
                    .hint(format!("at most {MAX_NESTING} levels of (), [] and {{}} are accepted; split the expression into named values")));
            }
        } else {
            depth = depth.saturating_sub(1);
        }
    }
    Ok(())
}

/// The brackets of `text` with their offsets, outside strings and comments.
fn brackets(text: &str) -> impl Iterator<Item = (usize, u8)> + '_ {
    let bytes = text.as_bytes();
    let mut i = 0usize;
    std::iter::from_fn(move || {
        while i < bytes.len() {
            let at = i;
            match bytes[i] {
                b'"' => {
                    i += 1;
                    while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                        i += if bytes[i] == b'\\' { 2 } else { 1 };
                    }
                }
                b'/' if bytes.get(i + 1) == Some(&b'/') => {
                    while i < bytes.len() && bytes[i] != b'\n' {
                        i += 1;
                    }
                }
                b @ (b'(' | b'[' | b'{' | b')' | b']' | b'}') => {
                    i += 1;
                    return Some((at, b));
                }
                _ => {}
            }
            i += 1;
        }
        None
    })
}

fn describe(rule: &Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::ident | Rule::arg_name | Rule::type_name => "a name",
        Rule::expr
        | Rule::pipe
        | Rule::logic_or
        | Rule::logic_and
        | Rule::comparison
        | Rule::sum
        | Rule::product
        | Rule::unary => "an expression",
        Rule::int | Rule::float | Rule::cost_value => "a number",
        Rule::string => "a string",
        Rule::boolean => "`true` or `false`",
        Rule::import => "`import`",
        Rule::block_def => "`block`",
        Rule::space_def => "`space`",
        Rule::pin_def => "`pin`",
        Rule::EOI => "the end of the file",
        Rule::let_stmt => "a statement (`name = ...`)",
        Rule::return_stmt => "`return`",
        Rule::repeat_stmt => "`repeat`",
        Rule::params => "a parameter list `(...)`",
        Rule::param => "a parameter",
        Rule::body | Rule::block_expr => "`{`",
        Rule::call_args => "an argument list `(...)`",
        Rule::arg => "an argument",
        Rule::alternative => "an alternative (`name => ...`)",
        Rule::alt_cost => "`cost`",
        Rule::label => "`as`",
        Rule::label_name => "a label",
        Rule::loop_var => "a loop variable",
        Rule::pipe_op => "`|>`",
        Rule::or_op => "`or`",
        Rule::and_op => "`and`",
        Rule::cmp_op => "a comparison",
        Rule::add_op | Rule::mul_op => "an operator",
        Rule::prefix_op => "`-` or `not`",
        Rule::pin_entry => "an assignment `choice.path = option`",
        Rule::path => "a choice path",
        Rule::shared => "`shared`",
        Rule::list => "a list `[...]`",
        Rule::choice_expr => "`choice`",
        Rule::if_expr => "`if`",
        Rule::call => "a call",
        _ => return None,
    })
}

fn syntax_error(file: FileId, text: &str, e: pest::error::Error<Rule>) -> Diagnostic {
    let pos = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    // Point at the whole offending token, not just its first byte.
    let rest = &text[pos.min(text.len())..];
    // The offending token: a whole word, or one character.
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let tok_len = match rest.chars().next() {
        Some(c) if word(c) => rest.find(|c| !word(c)).unwrap_or(rest.len()),
        Some(c) => c.len_utf8(),
        None => 0,
    };
    let found = if rest.is_empty() { "the end of the file".to_string() } else { format!("`{}`", &rest[..tok_len]) };
    let mut expected: Vec<&str> = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => positives.iter().filter_map(describe).collect(),
        ErrorVariant::CustomError { .. } => vec![],
    };
    expected.sort();
    expected.dedup();
    let message = match expected.len() {
        0 => format!("unexpected {found}"),
        1 => format!("expected {}, found {found}", expected[0]),
        _ => {
            let (last, init) = expected.split_last().unwrap();
            format!("expected {} or {last}, found {found}", init.join(", "))
        }
    };
    let before = text[..pos.min(text.len())].trim_end();
    let prev_word = before.rsplit(|c| !word(c)).next().unwrap_or("");
    let line_so_far = text[..pos.min(text.len())].rsplit('\n').next().unwrap_or("");
    let hint = syntax_hint(rest, prev_word, &expected).unwrap_or_else(|| {
        if line_so_far.trim().is_empty() {
            "the line before is incomplete: is a `)`, `]` or `}` missing there?".into()
        } else {
            "see the language tour in README.md for the syntax".into()
        }
    });
    let item = ["block", "space", "import", "pin"].contains(&&rest[..tok_len]) && line_so_far.trim().is_empty();
    if (item || rest.is_empty())
        && let Some(open) = unclosed_brace(&text[..pos.min(text.len())])
    {
        // What rustc says: the `{` that was never closed, not the item the parser tripped on.
        let next =
            if rest.is_empty() { "the file ends here".to_string() } else { format!("{found} starts a new item here") };
        return Diagnostic::new(Code::Syntax, Span::new(file, open, open + 1), "this `{` is never closed")
            .label("unclosed")
            .related(Span::new(file, pos, pos + tok_len), next)
            .hint("add a `}` to close it before the next item");
    }
    Diagnostic::new(Code::Syntax, Span::new(file, pos, pos + tok_len), message).label("here").hint(hint)
}

/// The offset of the last `{` in `text` without its `}` (strings and comments skipped).
fn unclosed_brace(text: &str) -> Option<usize> {
    let mut open = vec![];
    for (i, b) in brackets(text) {
        match b {
            b'{' => open.push(i),
            b'}' => {
                open.pop();
            }
            _ => {}
        }
    }
    open.pop()
}

fn syntax_hint(rest: &str, prev_word: &str, expected: &[&str]) -> Option<String> {
    let word: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    const KEYWORDS: [&str; 19] = [
        "import", "block", "space", "pin", "from", "return", "repeat", "in", "as", "choice", "shared", "cost", "if",
        "else", "and", "or", "not", "true", "false",
    ];
    if KEYWORDS.contains(&word.as_str()) && expected.contains(&"a name") {
        return Some(format!("`{word}` is a keyword and cannot be used as a name; rename it (e.g. `{word}_`)"));
    }
    if KEYWORDS.contains(&prev_word) && rest.starts_with('=') && !rest.starts_with("==") {
        return Some(format!(
            "`{prev_word}` is a keyword and cannot be used as a name; rename it (e.g. `{prev_word}_`)"
        ));
    }
    if rest.starts_with(';') {
        return Some("statements need no `;`: put each on its own line".into());
    }
    if rest.starts_with('=') && !rest.starts_with("==") && !rest.starts_with("=>") {
        return Some("named arguments are written `name: value`, not `name = value`".into());
    }
    if expected.contains(&"`{`") {
        return Some("a body is written in braces: `{ ... }`".into());
    }
    if rest.is_empty() {
        return Some("the file ends early: is a `}` or `)` missing?".into());
    }
    if expected.contains(&"the end of the file") {
        return Some("a file holds only `import`, `block`, `space` and `pin` items at the top level".into());
    }
    None
}

struct Cx<'t> {
    file: FileId,
    text: &'t str,
}

/// The end of a span without the whitespace and comments that pest's implicit whitespace folds
/// into rules ending in an optional part (`conv(8) // note` must not underline the comment).
fn trim_end(text: &str, start: usize, mut end: usize) -> usize {
    loop {
        let trimmed = text[start..end].trim_end().len() + start;
        end = trimmed;
        let line_start = text[start..end].rfind('\n').map_or(start, |i| start + i + 1);
        let line = &text[line_start..end];
        let mut in_string = false;
        let mut comment = None;
        let bytes = line.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' if in_string => i += 1,
                b'"' => in_string = !in_string,
                b'/' if !in_string && bytes.get(i + 1) == Some(&b'/') => {
                    comment = Some(i);
                    break;
                }
                _ => {}
            }
            i += 1;
        }
        match comment {
            Some(c) if line_start + c > start => end = line_start + c,
            _ => return end,
        }
    }
}

type R<T> = Result<T, Diagnostic>;

impl Cx<'_> {
    fn span(&self, p: &Pair<Rule>) -> Span {
        let s = p.as_span();
        Span::new(self.file, s.start(), trim_end(self.text, s.start(), s.end()))
    }

    fn ident(&self, p: Pair<Rule>) -> Ident {
        Ident { name: p.as_str().to_string(), span: self.span(&p) }
    }

    fn string(&self, p: Pair<Rule>) -> String {
        let inner = p.into_inner().next().map_or("", |i| i.as_str());
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(o) => out.push(o),
                    None => {}
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    fn def(&self, p: Pair<Rule>, kind: DefKind) -> R<BlockDef> {
        let span = self.span(&p);
        let mut it = p.into_inner();
        let name = self.ident(it.next().unwrap());
        let params = it.next().unwrap().into_inner().map(|p| self.param(p)).collect::<R<Vec<_>>>()?;
        let body = self.body(it.next().unwrap())?;
        Ok(BlockDef { kind, name, params, body, span })
    }

    fn param(&self, p: Pair<Rule>) -> R<Param> {
        let mut it = p.into_inner();
        let name = self.ident(it.next().unwrap());
        let (mut ty, mut ty_span, mut default) = (Type::Tensor, None, None);
        for part in it {
            match part.as_rule() {
                Rule::type_name => {
                    let id = part.into_inner().next().unwrap();
                    let sp = self.span(&id);
                    ty = Type::from_name(id.as_str()).ok_or_else(|| {
                        Diagnostic::new(Code::Type, sp, format!("unknown type `{}`", id.as_str()))
                            .label("not a type")
                            .hint("the types are tensor, int, float, bool, str and shape")
                    })?;
                    ty_span = Some(sp);
                }
                Rule::expr => default = Some(self.expr(part)?),
                r => unreachable!("param part {r:?}"),
            }
        }
        Ok(Param { name, ty, ty_span, default })
    }

    fn body(&self, p: Pair<Rule>) -> R<Vec<Stmt>> {
        p.into_inner().map(|s| self.stmt(s)).collect()
    }

    fn stmt(&self, p: Pair<Rule>) -> R<Stmt> {
        let span = self.span(&p);
        let rule = p.as_rule();
        let mut it = p.into_inner();
        Ok(match rule {
            Rule::let_stmt => {
                let name = self.ident(it.next().unwrap());
                Stmt::Let { name, value: self.expr(it.next().unwrap())? }
            }
            Rule::return_stmt => Stmt::Return { value: self.expr(it.next().unwrap())?, span },
            Rule::repeat_stmt => {
                let mut var = None;
                let mut count = None;
                let mut label = None;
                let mut body = vec![];
                for part in it {
                    match part.as_rule() {
                        Rule::loop_var => var = Some(self.ident(part.into_inner().next().unwrap())),
                        Rule::in_kw => {}
                        Rule::expr => count = Some(self.expr(part)?),
                        Rule::label => label = Some(self.ident(part.into_inner().next().unwrap())),
                        Rule::body => body = self.body(part)?,
                        r => unreachable!("repeat part {r:?}"),
                    }
                }
                Stmt::Repeat { var, count: count.expect("grammar requires a count"), label, body, span }
            }
            r => unreachable!("statement rule {r:?}"),
        })
    }

    fn expr(&self, p: Pair<Rule>) -> R<Expr> {
        let span = self.span(&p);
        match p.as_rule() {
            Rule::expr => self.expr(p.into_inner().next().unwrap()),
            Rule::pipe => {
                let mut it = p.into_inner();
                let mut acc = self.expr(it.next().unwrap())?;
                while let Some(_op) = it.next() {
                    let stage = it.next().unwrap();
                    let stage_span = self.span(&stage);
                    let mut st = stage.into_inner();
                    let callee = self.ident(st.next().unwrap());
                    let mut args = vec![];
                    let mut label = None;
                    for part in st {
                        match part.as_rule() {
                            Rule::call_args => args = self.args(part)?,
                            Rule::label => label = Some(self.ident(part.into_inner().next().unwrap())),
                            r => unreachable!("pipe stage part {r:?}"),
                        }
                    }
                    // The span is the stage (`bconv(64)`), where errors about the call belong.
                    args.insert(0, Arg { name: None, value: acc });
                    acc = Expr { kind: ExprKind::Call { callee, args, label, piped: true }, span: stage_span };
                }
                Ok(acc)
            }
            Rule::logic_or | Rule::logic_and | Rule::sum | Rule::product | Rule::comparison => {
                let mut it = p.into_inner();
                let mut acc = self.expr(it.next().unwrap())?;
                while let Some(op) = it.next() {
                    let op = match op.as_str().trim() {
                        "+" => BinOp::Add,
                        "-" => BinOp::Sub,
                        "*" => BinOp::Mul,
                        "/" => BinOp::Div,
                        "%" => BinOp::Rem,
                        "==" => BinOp::Eq,
                        "!=" => BinOp::Ne,
                        "<" => BinOp::Lt,
                        "<=" => BinOp::Le,
                        ">" => BinOp::Gt,
                        ">=" => BinOp::Ge,
                        "and" => BinOp::And,
                        "or" => BinOp::Or,
                        o => unreachable!("operator {o}"),
                    };
                    let rhs = self.expr(it.next().unwrap())?;
                    let sp = acc.span.to(rhs.span);
                    acc = Expr { kind: ExprKind::Binary { op, lhs: Box::new(acc), rhs: Box::new(rhs) }, span: sp };
                }
                Ok(acc)
            }
            Rule::unary => {
                let parts: Vec<_> = p.into_inner().collect();
                let (ops, primary) = parts.split_at(parts.len() - 1);
                let mut e = self.expr(primary[0].clone())?;
                for op in ops.iter().rev() {
                    let op_kind = if op.as_str().starts_with('-') { UnOp::Neg } else { UnOp::Not };
                    let sp = self.span(op).to(e.span);
                    // Fold `-literal` so that `-1` is a literal (useful in defaults and pins).
                    e = match (op_kind, &e.kind) {
                        (UnOp::Neg, ExprKind::Int(v)) => Expr { kind: ExprKind::Int(-v), span: sp },
                        (UnOp::Neg, ExprKind::Float(v)) => Expr { kind: ExprKind::Float(-v), span: sp },
                        _ => Expr { kind: ExprKind::Unary { op: op_kind, operand: Box::new(e) }, span: sp },
                    };
                }
                Ok(e)
            }
            Rule::int => {
                let v = p.as_str().parse::<i64>().map_err(|_| {
                    Diagnostic::new(Code::Arithmetic, span, "integer literal is too large")
                        .hint(format!("integers are 64-bit: at most {}", i64::MAX))
                })?;
                Ok(Expr { kind: ExprKind::Int(v), span })
            }
            Rule::float => {
                let v: f64 = p.as_str().parse().unwrap_or(f64::INFINITY);
                if !v.is_finite() {
                    return Err(Diagnostic::new(Code::Arithmetic, span, "float literal is out of range"));
                }
                Ok(Expr { kind: ExprKind::Float(v), span })
            }
            Rule::string => Ok(Expr { kind: ExprKind::Str(self.string(p)), span }),
            Rule::boolean => Ok(Expr { kind: ExprKind::Bool(p.as_str() == "true"), span }),
            Rule::ident => Ok(Expr { kind: ExprKind::Var(self.ident(p)), span }),
            Rule::list => {
                let items = p.into_inner().map(|e| self.expr(e)).collect::<R<Vec<_>>>()?;
                Ok(Expr { kind: ExprKind::List(items), span })
            }
            Rule::call => {
                let mut it = p.into_inner();
                let callee = self.ident(it.next().unwrap());
                let args = self.args(it.next().unwrap())?;
                let label = it.next().map(|l| self.ident(l.into_inner().next().unwrap()));
                Ok(Expr { kind: ExprKind::Call { callee, args, label, piped: false }, span })
            }
            Rule::block_expr => {
                let parts: Vec<_> = p.into_inner().collect();
                let (stmts, value) = parts.split_at(parts.len() - 1);
                let stmts = stmts.iter().cloned().map(|s| self.stmt(s)).collect::<R<Vec<_>>>()?;
                let value = Box::new(self.expr(value[0].clone())?);
                Ok(Expr { kind: ExprKind::Block { stmts, value }, span })
            }
            Rule::if_expr => {
                let mut it = p.into_inner();
                let cond = Box::new(self.expr(it.next().unwrap())?);
                let then = Box::new(self.expr(it.next().unwrap())?);
                let otherwise = Box::new(self.expr(it.next().unwrap())?);
                Ok(Expr { kind: ExprKind::If { cond, then, otherwise }, span })
            }
            Rule::choice_expr => {
                let mut it = p.into_inner();
                let name = self.ident(it.next().unwrap());
                let mut shared = false;
                let mut alternatives = vec![];
                for part in it {
                    match part.as_rule() {
                        Rule::shared => shared = true,
                        Rule::alternative => {
                            let mut a = part.into_inner();
                            let name = self.ident(a.next().unwrap());
                            let value = self.expr(a.next().unwrap())?;
                            let cost = match a.next() {
                                Some(c) => {
                                    let v = c.into_inner().next().unwrap().into_inner().next().unwrap();
                                    Some(v.as_str().parse::<f64>().unwrap_or(f64::NAN))
                                }
                                None => None,
                            };
                            alternatives.push(Alternative { name, value, cost });
                        }
                        r => unreachable!("choice part {r:?}"),
                    }
                }
                Ok(Expr { kind: ExprKind::Choice { name, shared, alternatives }, span })
            }
            r => unreachable!("expression rule {r:?}"),
        }
    }

    fn args(&self, p: Pair<Rule>) -> R<Vec<Arg>> {
        p.into_inner()
            .map(|a| {
                let mut it = a.into_inner();
                let first = it.next().unwrap();
                if first.as_rule() == Rule::arg_name {
                    let name = self.ident(first.into_inner().next().unwrap());
                    Ok(Arg { name: Some(name), value: self.expr(it.next().unwrap())? })
                } else {
                    Ok(Arg { name: None, value: self.expr(first)? })
                }
            })
            .collect()
    }

    fn pin(&self, p: Pair<Rule>) -> R<PinDef> {
        let span = self.span(&p);
        let mut it = p.into_inner();
        let space = self.ident(it.next().unwrap());
        let mut args = vec![];
        let mut from = String::new();
        let mut from_span = span;
        let mut entries = vec![];
        for part in it {
            match part.as_rule() {
                Rule::call_args => args = self.args(part)?,
                Rule::string => {
                    from_span = self.span(&part);
                    from = self.string(part);
                }
                Rule::pin_entry => {
                    let mut e = part.into_inner();
                    let path = e.next().unwrap();
                    let path_span = self.span(&path);
                    let option = self.ident(e.next().unwrap());
                    entries.push(PinEntry { path: path.as_str().to_string(), path_span, option });
                }
                r => unreachable!("pin part {r:?}"),
            }
        }
        Ok(PinDef { space, args, from, from_span, entries, span })
    }
}
