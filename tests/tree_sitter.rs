//! The tree-sitter grammar (grammar/tree-sitter-lnas) against the compiler's own parser: every
//! spec and fixture that the compiler parses parses without ERROR or MISSING nodes, every fixture
//! with a syntax error gets one, and the queries compile and capture what they should.

mod common;

use std::path::PathBuf;

use common::root;
use tree_sitter::{Node, Parser, Query, QueryCursor, StreamingIterator as _};

fn parser() -> Parser {
    let mut p = Parser::new();
    p.set_language(&tree_sitter_lnas::LANGUAGE.into()).unwrap();
    p
}

fn sources() -> Vec<PathBuf> {
    let mut v = vec![];
    for dir in ["specs", "specs/std", "fixtures/errors"] {
        for e in std::fs::read_dir(root().join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "lnas") {
                v.push(p);
            }
        }
    }
    v.sort();
    v
}

/// The first ERROR or MISSING node, as `line:col kind`.
fn first_error(n: Node) -> Option<String> {
    if n.is_error() || n.is_missing() {
        let p = n.start_position();
        return Some(format!("{}:{} {}", p.row + 1, p.column + 1, if n.is_missing() { "MISSING" } else { "ERROR" }));
    }
    if !n.has_error() {
        return None;
    }
    let mut c = n.walk();
    n.children(&mut c).find_map(first_error)
}

#[test]
fn the_grammar_agrees_with_the_compiler_on_every_spec_and_fixture() {
    let (mut clean, mut broken) = (0, 0);
    for path in sources() {
        let Ok(text) = std::fs::read_to_string(&path) else { continue }; // not UTF-8: not a syntax question
        let compiler = lightnasc::front::fmt::format(&text);
        // The nesting limit is the compiler's own rule, not syntax.
        if compiler.as_ref().is_err_and(|d| d.code.as_str() != "E0100") {
            continue;
        }
        let tree = parser().parse(&text, None).unwrap();
        let err = first_error(tree.root_node());
        match compiler {
            Ok(_) => {
                assert_eq!(err, None, "{}: tree-sitter finds an error the compiler does not", path.display());
                clean += 1;
            }
            Err(_) => {
                assert!(err.is_some(), "{}: a syntax error tree-sitter does not see", path.display());
                broken += 1;
            }
        }
    }
    assert!(clean >= 40 && broken >= 3, "{clean} clean, {broken} malformed");
}

#[test]
fn queries_compile_and_highlight_the_demo() {
    let lang: tree_sitter::Language = tree_sitter_lnas::LANGUAGE.into();
    for (name, q) in [
        ("highlights", tree_sitter_lnas::HIGHLIGHTS_QUERY),
        ("locals", tree_sitter_lnas::LOCALS_QUERY),
        ("folds", tree_sitter_lnas::FOLDS_QUERY),
        ("indents", tree_sitter_lnas::INDENTS_QUERY),
    ] {
        Query::new(&lang, q).unwrap_or_else(|e| panic!("{name}.scm: {e}"));
    }
    let text = std::fs::read_to_string(root().join("specs/demo.lnas")).unwrap();
    let tree = parser().parse(&text, None).unwrap();
    let query = Query::new(&lang, tree_sitter_lnas::HIGHLIGHTS_QUERY).unwrap();
    let mut cursor = QueryCursor::new();
    let mut caps = cursor.captures(&query, tree.root_node(), text.as_bytes());
    // The first capture of a node wins (Neovim's and Helix's rule); nodes are keyed by where they start.
    let mut first: std::collections::BTreeMap<usize, String> = Default::default();
    while let Some((m, i)) = caps.next() {
        let c = m.captures()[*i];
        let r = c.node.start_byte();
        first.entry(r).or_insert_with(|| query.capture_names()[c.index as usize].to_string());
    }
    // Occurrences are counted from the first line of code, after the header comment.
    let code = text.find("import").unwrap();
    let scope_of = |needle: &str, nth: usize| -> String {
        if needle.starts_with("//") {
            return first.get(&0).cloned().unwrap_or_default();
        }
        let at = code + text[code..].match_indices(needle).nth(nth).unwrap_or_else(|| panic!("{needle} not in demo")).0;
        first.get(&at).cloned().unwrap_or_else(|| format!("<none for {needle}>"))
    };
    assert_eq!(scope_of("// A small", 0), "comment");
    assert_eq!(scope_of("import", 0), "keyword");
    assert_eq!(scope_of("\"std/melius.lnas\"", 0), "string.special.path");
    assert_eq!(scope_of("space", 0), "keyword");
    assert_eq!(scope_of("demo", 0), "function");
    assert_eq!(scope_of("tensor", 0), "type");
    assert_eq!(scope_of("28", 0), "number");
    assert_eq!(scope_of("0.5", 0), "number.float");
    assert_eq!(scope_of("|>", 0), "operator");
    assert_eq!(scope_of("conv", 0), "function.call");
    assert_eq!(scope_of("kernel", 0), "property");
    assert_eq!(scope_of("stem", 0), "label");
    assert_eq!(scope_of("melius_stage", 0), "function.call");
    assert_eq!(scope_of("return", 0), "keyword.return");
}
