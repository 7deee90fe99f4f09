//! Completion of layers, blocks, parameters and keywords.

use lsp_types::*;

use crate::front::ast::DefKind;
use crate::lower::builtins;
use crate::lsp::analysis::Analysis;
use crate::lsp::text::LineIndex;

use super::hover::signature;

pub(super) const KEYWORDS: &[&str] = &[
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

#[cfg(test)]
mod tests {
    /// The completion and highlighting keywords are the grammar's `keyword` rule's, no more and no
    /// fewer (the list is written out here; the grammar is the truth).
    #[test]
    fn keywords_are_the_grammars() {
        let pest = include_str!("../../../grammar/lnas.pest");
        let rule = pest.split("\nkeyword = @{").nth(1).expect("a `keyword` rule");
        let body = &rule[..rule.find('}').expect("the rule's end")];
        let mut grammar: Vec<&str> = body.split('"').skip(1).step_by(2).collect();
        let mut ours = super::KEYWORDS.to_vec();
        grammar.sort_unstable();
        ours.sort_unstable();
        assert_eq!(ours, grammar);
    }
}
