//! The TextMate grammar (grammar/lnas.tmLanguage.json) in VS Code's own engine: npm
//! `vscode-textmate` + `vscode-oniguruma`, driven by grammar/test/tokenize.js. Every regex compiles;
//! every shipped spec and fixture tokenises with keywords, numbers, strings, comments and names in
//! the scopes the tree-sitter grammar (an independent parse) says they are; and a sample is checked
//! token by token by hand.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use common::{npm_packages, root};
use serde_json::Value;

/// (line, col) -> (text, scopes), per file.
type Tokens = HashMap<(usize, usize), (String, Vec<String>)>;

fn tokenize(files: &[PathBuf]) -> (u64, HashMap<String, Tokens>) {
    let modules = npm_packages("textmate", &["vscode-textmate@9.3.2", "vscode-oniguruma@2.0.1"]);
    let out = Command::new("node")
        .arg(root().join("grammar/test/tokenize.js"))
        .arg(root().join("grammar/lnas.tmLanguage.json"))
        .args(files)
        .env("NODE_PATH", &modules)
        .output()
        .expect("node");
    assert!(out.status.success(), "tokenize.js failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut all = HashMap::new();
    for (file, toks) in v["files"].as_object().unwrap() {
        let mut m = Tokens::new();
        for t in toks.as_array().unwrap() {
            let scopes = t[3].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect();
            m.insert(
                (t[0].as_u64().unwrap() as usize, t[1].as_u64().unwrap() as usize),
                (t[2].as_str().unwrap().to_string(), scopes),
            );
        }
        all.insert(file.clone(), m);
    }
    (v["regexes"].as_u64().unwrap(), all)
}

/// Specs and fixtures that are UTF-8 and parse.
fn sources() -> Vec<PathBuf> {
    let mut v = vec![];
    for dir in ["specs", "specs/std", "fixtures/errors"] {
        for e in std::fs::read_dir(root().join(dir)).unwrap() {
            let p = e.unwrap().path();
            let parses = std::fs::read_to_string(&p).is_ok_and(|t| lightnasc::front::fmt::format(&t).is_ok());
            if p.extension().is_some_and(|x| x == "lnas") && parses {
                v.push(p);
            }
        }
    }
    v.sort();
    v
}

/// The scope family a tree-sitter leaf must get from the TextMate grammar, if it is one we check.
fn expected_scope(node: tree_sitter::Node) -> Option<&'static str> {
    let parent = node.parent().map(|p| p.kind()).unwrap_or("");
    let field_is = |f: &str| node.parent().and_then(|p| p.child_by_field_name(f)).is_some_and(|c| c.id() == node.id());
    Some(match node.kind() {
        "comment" => "comment.line",
        "integer" | "float" => "constant.numeric",
        "string" => "string.quoted",
        "true" | "false" => "constant.language",
        "import" | "from" | "return" | "repeat" | "in" | "if" | "else" | "choice" | "and" | "or" | "not" | "as"
        | "cost" => "keyword.",
        "block" | "space" | "pin" if !node.is_named() => "storage.type",
        "shared" if node.is_named() => "storage.modifier",
        "identifier" if matches!(parent, "block_definition" | "space_definition") && field_is("name") => {
            "entity.name.function"
        }
        "identifier" if matches!(parent, "call" | "pipe_stage") && field_is("function") => "entity.name.function.call",
        "identifier" if parent == "alternative" && field_is("name") => "constant.other.option",
        "label_name" => "entity.name.tag.label",
        "identifier" if parent == "type" => "support.type",
        _ => return None,
    })
}

#[test]
fn every_spec_and_fixture_tokenizes_in_the_scopes_tree_sitter_expects() {
    if !common::full_tier("vscode-textmate (npm)") {
        return;
    }
    let files = sources();
    let (regexes, tokens) = tokenize(&files);
    assert!(regexes >= 30, "only {regexes} regexes compiled");
    let mut parser = tree_sitter::Parser::new();
    parser.set_language(&tree_sitter_lnas::LANGUAGE.into()).unwrap();
    let mut checked: HashMap<&str, usize> = HashMap::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let toks = &tokens[&file.display().to_string()];
        // Every visible character is in some scope beyond the root one.
        for ((l, c), (t, scopes)) in toks {
            assert!(scopes.len() >= 2, "{}:{l}:{c}: `{t}` has no scope", file.display());
        }
        let tree = parser.parse(&text, None).unwrap();
        let mut stack = vec![tree.root_node()];
        while let Some(n) = stack.pop() {
            let mut c = n.walk();
            stack.extend(n.children(&mut c));
            let Some(want) = expected_scope(n) else { continue };
            let pos = n.start_position();
            let line = text.lines().nth(pos.row).unwrap_or("");
            if !line.is_ascii() {
                continue; // vscode-textmate counts UTF-16 units, tree-sitter bytes
            }
            let (t, scopes) = toks.get(&(pos.row + 1, pos.column + 1)).unwrap_or_else(|| {
                panic!("{}:{}:{}: no token starts at `{}`", file.display(), pos.row + 1, pos.column + 1, n.kind())
            });
            assert!(
                scopes.iter().any(|s| s.starts_with(want)),
                "{}:{}:{}: `{t}` ({}) is {scopes:?}, wanted {want}*",
                file.display(),
                pos.row + 1,
                pos.column + 1,
                n.kind()
            );
            *checked.entry(want).or_default() += 1;
        }
    }
    for family in [
        "comment.line",
        "constant.numeric",
        "string.quoted",
        "keyword.",
        "storage.type",
        "entity.name.function",
        "entity.name.function.call",
        "constant.other.option",
        "entity.name.tag.label",
        "support.type",
    ] {
        assert!(checked.get(family).copied().unwrap_or(0) >= 3, "too few {family} tokens checked: {checked:?}");
    }
}

#[test]
fn a_sample_tokenizes_as_written_by_hand() {
    if !common::full_tier("vscode-textmate (npm)") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sample = dir.path().join("sample.lnas");
    std::fs::write(
        &sample,
        "// head\n\
         import \"std/melius.lnas\" // tail\n\
         block b(x, g: int = 2) {\n\
         \x20   y = choice keep shared { a => x |> bn, b => -1.5e3 cost 2 }\n\
         \x20   repeat i in g as block { y = conv(y, kernel: 3) }\n\
         \x20   return if true and not false { y } else { x }\n\
         }\n\
         pin p from \"s.lnas\" { stage1.block1.keep = a }\n",
    )
    .unwrap();
    let (_, tokens) = tokenize(std::slice::from_ref(&sample));
    let toks = &tokens[&sample.display().to_string()];
    let scope = |line: usize, text: &str| -> String {
        let mut hits: Vec<_> = toks.iter().filter(|((l, _), (t, _))| *l == line && t == text).collect();
        hits.sort_by_key(|((_, c), _)| *c);
        let (_, (_, scopes)) = hits.first().unwrap_or_else(|| panic!("no token `{text}` on line {line}"));
        scopes.last().unwrap().clone()
    };
    let cases: &[(usize, &str, &str)] = &[
        (1, "//", "punctuation.definition.comment.lnas"),
        (2, "import", "keyword.control.import.lnas"),
        (2, "std/melius.lnas", "string.quoted.double.lnas"),
        (2, " tail", "comment.line.double-slash.lnas"),
        (3, "block", "storage.type.block.lnas"),
        (3, "b", "entity.name.function.lnas"),
        (3, "x", "variable.parameter.lnas"),
        (3, "int", "support.type.lnas"),
        (3, "2", "constant.numeric.integer.lnas"),
        (4, "choice", "keyword.control.choice.lnas"),
        (4, "keep", "entity.name.tag.choice.lnas"),
        (4, "shared", "storage.modifier.shared.lnas"),
        (4, "a", "constant.other.option.lnas"),
        (4, "=>", "keyword.operator.arrow.lnas"),
        (4, "|>", "keyword.operator.pipe.lnas"),
        (4, "bn", "entity.name.function.call.lnas"),
        (4, "1.5e3", "constant.numeric.float.lnas"),
        (4, "cost", "keyword.other.cost.lnas"),
        (5, "repeat", "keyword.control.lnas"),
        (5, "in", "keyword.control.lnas"),
        (5, "as", "keyword.other.as.lnas"),
        (5, "block", "entity.name.tag.label.lnas"),
        (5, "conv", "entity.name.function.call.lnas"),
        (5, "kernel", "variable.parameter.name.lnas"),
        (6, "return", "keyword.control.lnas"),
        (6, "true", "constant.language.boolean.lnas"),
        (6, "and", "keyword.operator.logical.lnas"),
        (6, "not", "keyword.operator.logical.lnas"),
        (8, "pin", "storage.type.pin.lnas"),
        (8, "from", "keyword.control.import.lnas"),
        (8, "stage1.block1.keep", "entity.name.tag.choice.lnas"),
        (8, "a", "constant.other.option.lnas"),
    ];
    for &(line, text, want) in cases {
        assert_eq!(scope(line, text), want, "line {line}: `{text}`");
    }
}

#[test]
fn the_vscode_extension_points_at_the_grammar_and_the_server() {
    let dir = root().join("grammar/vscode");
    let pkg: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("package.json")).unwrap()).unwrap();
    let grammar = &pkg["contributes"]["grammars"][0];
    let tm: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(grammar["path"].as_str().unwrap())).unwrap()).unwrap();
    assert_eq!(grammar["scopeName"], tm["scopeName"]);
    assert_eq!(pkg["contributes"]["languages"][0]["extensions"][0], ".lnas");
    let conf: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("language-configuration.json")).unwrap()).unwrap();
    assert_eq!(conf["comments"]["lineComment"], "//");
    assert_eq!(conf["brackets"].as_array().unwrap().len(), 3);
    let ext = std::fs::read_to_string(dir.join(pkg["main"].as_str().unwrap())).unwrap();
    assert!(ext.contains("args: ['lsp']"), "the extension must start `lightnasc lsp`");
}
