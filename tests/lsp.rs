//! `lightnasc lsp` driven over stdio as an editor would: initialize, didOpen of a spec with an
//! error, didChange fixing it, hover, definition, references, completion, symbols, semantic
//! tokens, formatting, shutdown and exit. Numbers in hovers are checked against `check --format
//! json`, definitions against the files themselves.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{Value, json};

struct Client {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: i64,
    /// Notifications that arrived while waiting for a response.
    notes: Vec<Value>,
}

impl Client {
    fn start() -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lightnasc"))
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Client { child, stdin, stdout, next_id: 1, notes: vec![] }
    }

    fn send(&mut self, msg: Value) {
        let body = msg.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn read(&mut self) -> Value {
        let mut len = 0usize;
        loop {
            let mut line = String::new();
            assert!(self.stdout.read_line(&mut line).unwrap() > 0, "server closed the stream");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(v) = line.strip_prefix("Content-Length: ") {
                len = v.parse().unwrap();
            }
        }
        let mut buf = vec![0; len];
        self.stdout.read_exact(&mut buf).unwrap();
        serde_json::from_slice(&buf).unwrap()
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let m = self.read();
            if m.get("id") == Some(&json!(id)) {
                assert!(m.get("error").is_none(), "{method} failed: {m}");
                return m["result"].clone();
            }
            self.notes.push(m);
        }
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// The next publishDiagnostics for `uri`.
    fn diagnostics(&mut self, uri: &str) -> Vec<Value> {
        loop {
            let m = if let Some(i) = self.notes.iter().position(|n| n["method"] == "textDocument/publishDiagnostics") {
                self.notes.remove(i)
            } else {
                self.read()
            };
            if m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri {
                return m["params"]["diagnostics"].as_array().unwrap().clone();
            }
        }
    }
}

fn pos(line: u32, character: u32) -> Value {
    json!({"line": line, "character": character})
}

/// 0-based (line, UTF-16 column) of the `nth` occurrence of `needle` (plus `skip` characters).
fn find(text: &str, needle: &str, nth: usize, skip: usize) -> (u32, u32) {
    let at = text.match_indices(needle).nth(nth).unwrap_or_else(|| panic!("`{needle}` #{nth} not in text")).0 + skip;
    let line = text[..at].matches('\n').count();
    let col = text[..at].rsplit('\n').next().unwrap().encode_utf16().count();
    (line as u32, col as u32)
}

const BROKEN: &str = "// A test space.
import \"std/melius.lnas\"

// Two convs, then a choice between a pool and a strided conv.
block pair(x, width: int = 8) {
    y = x |> conv(width, kernel: 3, pad: 1) |> relu
    return y |> conv(width, kernel: 3, pad: 1) |> relu
}

space t(x: tensor = [1, 16, 16], classes: int = 10) {
    x = pair(x) as first
    x = pair(x, width: 16) as second
    x = choice down { pool => x |> maxpool(2), conv => x |> conv(16, kernel: 3, stride: 2, pad: 1) }
    x = melius_stage(x, blocks: 1, growth: 8) as stage
    return xx |> global_avgpool |> dense(classes)
}
";

#[test]
fn an_editor_session() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.lnas");
    let fixed = BROKEN.replace("return xx", "return x");
    std::fs::write(&path, &fixed).unwrap();
    let uri = url::Url::from_file_path(&path).unwrap().to_string();
    let doc = json!({"uri": uri});

    let mut c = Client::start();
    let init = c.request("initialize", json!({"processId": null, "rootUri": null, "capabilities": {}}));
    let caps = &init["capabilities"];
    for cap in [
        "hoverProvider",
        "definitionProvider",
        "referencesProvider",
        "completionProvider",
        "documentSymbolProvider",
        "documentFormattingProvider",
        "semanticTokensProvider",
    ] {
        assert!(!caps[cap].is_null(), "no {cap} in {caps}");
    }
    c.notify("initialized", json!({}));

    // An error: diagnostic at the right range, with the compiler's code and hint.
    c.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "lnas", "version": 1, "text": BROKEN}}),
    );
    let diags = c.diagnostics(&uri);
    assert_eq!(diags.len(), 1, "{diags:?}");
    let (l, col) = find(BROKEN, "xx", 0, 0);
    assert_eq!(diags[0]["range"], json!({"start": pos(l, col), "end": pos(l, col + 2)}));
    assert_eq!(diags[0]["code"], "E0200");
    assert!(diags[0]["message"].as_str().unwrap().contains("did you mean `x`?"), "{}", diags[0]["message"]);

    // Fixed: the diagnostics are cleared.
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": fixed}]}),
    );
    assert_eq!(c.diagnostics(&uri), Vec::<Value>::new());

    // The independent reference for the numbers: the checker's JSON report on the same file.
    let out = Command::new(env!("CARGO_BIN_EXE_lightnasc"))
        .arg("check")
        .arg(&path)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();

    let hover = |c: &mut Client, needle: &str, nth: usize| -> String {
        let (l, col) = find(&fixed, needle, nth, 1);
        let h = c.request("textDocument/hover", json!({"textDocument": doc, "position": pos(l, col)}));
        h["contents"]["value"].as_str().unwrap_or_default().to_string()
    };
    // The space: its size and cost ranges, as `check` reports them.
    let h_space = hover(&mut c, " t(x", 0);
    assert!(h_space.contains(&format!("**{} architectures**", report["space_size"].as_str().unwrap())), "{h_space}");
    assert!(h_space.contains(&format!("output [{}]", report["output_shape"][0])), "{h_space}");
    // A block call: two instances of `pair`, each with its own shape.
    let h = hover(&mut c, "pair(x, width: 16)", 0);
    assert!(h.contains("block pair(x, width: int = 8)") && h.contains("Two convs"), "{h}");
    assert!(h.contains("`second` → [16, 16, 16]"), "{h}");
    // The parameters of `second`, summed from the report's per-layer table.
    let layer_params: u64 = report["layers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["name"].as_str().unwrap().starts_with("second."))
        .map(|l| l["params"].as_u64().unwrap())
        .sum();
    assert!(layer_params > 0);
    let shown = if layer_params >= 1000 {
        format!("params {:.1}k", layer_params as f64 / 1e3)
    } else {
        format!("params {layer_params}")
    };
    assert!(h.contains(&shown), "{h} (want {shown})");
    // A layer inside the block: one node per instance.
    let h = hover(&mut c, "conv(width", 0);
    assert!(
        h.contains("2 layer(s)")
            && h.contains("`first.conv` → [8, 16, 16]")
            && h.contains("`second.conv` → [16, 16, 16]"),
        "{h}"
    );
    // A choice: the architectures under it.
    let h = hover(&mut c, "down", 0);
    assert!(h.contains("pool | conv") && h.contains("`down`: 2 architectures"), "{h}");

    // Definition: into the standard library, and of a local block.
    let (l, col) = find(&fixed, "melius_stage", 0, 2);
    let d = c.request("textDocument/definition", json!({"textDocument": doc, "position": pos(l, col)}));
    let target = url::Url::parse(d["uri"].as_str().unwrap()).unwrap().to_file_path().unwrap();
    let target_text = std::fs::read_to_string(&target).unwrap();
    assert!(target.ends_with("melius.lnas"), "{target:?}");
    let (want_line, _) = find(&target_text, "block melius_stage", 0, 0);
    assert_eq!(d["range"]["start"]["line"], want_line);
    let (l, col) = find(&fixed, "pair(x)", 0, 1);
    let d = c.request("textDocument/definition", json!({"textDocument": doc, "position": pos(l, col)}));
    assert_eq!(d["uri"], uri);
    assert_eq!(d["range"]["start"], json!(pos(find(&fixed, "pair", 0, 0).0, find(&fixed, "pair", 0, 0).1)));
    // ... and of a variable: its assignment.
    let (l, col) = find(&fixed, "y |> conv", 0, 0);
    let d = c.request("textDocument/definition", json!({"textDocument": doc, "position": pos(l, col)}));
    assert_eq!(d["range"]["start"], json!(pos(find(&fixed, "y = x", 0, 0).0, 4)));

    // References of `pair`: the definition and both calls.
    let (l, col) = find(&fixed, "pair", 0, 1);
    let r = c.request(
        "textDocument/references",
        json!({"textDocument": doc, "position": pos(l, col), "context": {"includeDeclaration": true}}),
    );
    let lines: Vec<u64> = r.as_array().unwrap().iter().map(|x| x["range"]["start"]["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, vec![4, 10, 11]);

    // Completion: a layer's parameters inside its call, layers and blocks after `|>`.
    let (l, col) = find(&fixed, "kernel: 3, stride", 0, 0);
    let items = c.request("textDocument/completion", json!({"textDocument": doc, "position": pos(l, col)}));
    let labels: Vec<&str> = items.as_array().unwrap().iter().map(|i| i["label"].as_str().unwrap()).collect();
    for want in ["kernel:", "stride:", "pad:", "groups:"] {
        assert!(labels.contains(&want), "{want} not in {labels:?}");
    }
    let (l, col) = find(&fixed, "|> relu", 0, 3);
    let items = c.request("textDocument/completion", json!({"textDocument": doc, "position": pos(l, col)}));
    let labels: Vec<&str> = items.as_array().unwrap().iter().map(|i| i["label"].as_str().unwrap()).collect();
    for want in ["relu", "bconv", "pair", "melius_stage", "dense_block"] {
        assert!(labels.contains(&want), "{want} not in completion after |>");
    }
    assert!(!labels.contains(&"return"), "keywords after |>");

    // Document symbols: the import, the block, the space with its choice and options.
    let syms = c.request("textDocument/documentSymbol", json!({"textDocument": doc}));
    let names: Vec<&str> = syms.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["std/melius.lnas", "pair", "t"]);
    let choice = &syms[2]["children"][0];
    assert_eq!(choice["name"], "down");
    assert_eq!(choice["children"].as_array().unwrap().len(), 2);

    // Semantic tokens: decode and look up a few.
    let toks = c.request("textDocument/semanticTokens/full", json!({"textDocument": doc}));
    let legend = &caps["semanticTokensProvider"]["legend"]["tokenTypes"];
    let data: Vec<u64> = toks["data"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    let (mut line, mut col) = (0u64, 0u64);
    let mut decoded = std::collections::HashMap::new();
    for t in data.chunks(5) {
        if t[0] > 0 {
            col = 0;
        }
        line += t[0];
        col += t[1];
        decoded.insert((line, col), (t[2], legend[t[3] as usize].as_str().unwrap().to_string()));
    }
    let kind_at = |needle: &str, nth: usize| {
        let (l, c) = find(&fixed, needle, nth, 0);
        decoded.get(&(l as u64, c as u64)).map(|x| x.1.clone()).unwrap_or_default()
    };
    assert_eq!(kind_at("// A test", 0), "comment");
    assert_eq!(kind_at("import", 0), "keyword");
    assert_eq!(kind_at("pair", 0), "function");
    assert_eq!(kind_at("width", 0), "parameter");
    assert_eq!(kind_at("int", 0), "type");
    assert_eq!(kind_at("kernel", 0), "property");
    assert_eq!(kind_at("first", 0), "namespace");
    assert_eq!(kind_at("down", 0), "enum");
    assert_eq!(kind_at("pool =>", 0), "enumMember");
    assert_eq!(kind_at("16, 16]", 0), "number");
    assert_eq!(kind_at("|>", 0), "operator");

    // Formatting: one edit giving exactly what `lightnasc fmt` gives.
    let messy = fixed.replace("    y = x |> conv(width, kernel: 3, pad: 1)", "  y=x|>conv(width,kernel:3,pad:1)");
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 3}, "contentChanges": [{"text": messy}]}),
    );
    assert_eq!(c.diagnostics(&uri), Vec::<Value>::new());
    let edits = c.request(
        "textDocument/formatting",
        json!({"textDocument": doc, "options": {"tabSize": 4, "insertSpaces": true}}),
    );
    assert_eq!(edits.as_array().unwrap().len(), 1);
    assert_eq!(edits[0]["newText"], fixed);

    // Shutdown, exit: the server ends cleanly.
    assert_eq!(c.request("shutdown", Value::Null), Value::Null);
    c.notify("exit", Value::Null);
    drop(c.stdin);
    let status = c.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
