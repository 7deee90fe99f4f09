//! Semantic tokens: the syntax tree's classes over a lexical pass.

use lsp_types::*;

use crate::front::ast::{ExprKind, Item, Stmt};
use crate::front::source::Span;
use crate::lsp::analysis::{Analysis, walk_expr, walk_stmts};
use crate::lsp::text::LineIndex;

use super::completion::KEYWORDS;
use super::navigation::visit_lets;

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
