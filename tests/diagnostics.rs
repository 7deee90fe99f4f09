//! Every malformed fixture gives its expected diagnostics (code and file:line:col, declared in the
//! fixture's `// expect:` lines), exit 1, and text with the location, a caret and a hint.

mod common;
use common::*;

/// Expected `CODE [file:]line:col` or `CODE` (no location) per fixture.
fn expectations(path: &std::path::Path) -> Vec<String> {
    let side = path.with_extension("lnas.expect");
    let text = if side.exists() {
        std::fs::read_to_string(side).unwrap()
    } else {
        String::from_utf8_lossy(&std::fs::read(path).unwrap())
            .lines()
            .filter_map(|l| l.strip_prefix("// expect: "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect()
}

#[test]
fn fixtures_report_the_expected_codes_and_positions() {
    let dir = root().join("fixtures/errors");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "lnas"))
        .collect();
    files.sort();
    assert!(files.len() >= 25, "fixtures missing");
    for f in files {
        let name = f.file_name().unwrap().to_str().unwrap().to_string();
        let expected = expectations(&f);
        assert!(!expected.is_empty(), "{name} declares no expectation");
        let (code, r) = check_json(&[&rel(&f)]);
        assert_eq!(code, 1, "{name}: {r}");
        let got: Vec<String> = r["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                let file = d["file"].as_str().map(|f| f.rsplit('/').next().unwrap().to_string());
                match (file, d["line"].as_u64()) {
                    (Some(file), Some(line)) if file == name => {
                        format!("{} {line}:{}", d["code"].as_str().unwrap(), d["col"])
                    }
                    (Some(file), Some(line)) => format!("{} {file}:{line}:{}", d["code"].as_str().unwrap(), d["col"]),
                    _ => d["code"].as_str().unwrap().to_string(),
                }
            })
            .collect();
        assert_eq!(got, expected, "{name}");

        // The human form: every located diagnostic shows file:line:col, a caret line and a hint.
        let out = lightnasc(&["check", &rel(&f), "--color", "never"]);
        assert_eq!(out.status.code(), Some(1));
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(!text.contains("panicked"), "{name}: {text}");
        for (d, e) in r["diagnostics"].as_array().unwrap().iter().zip(&expected) {
            assert!(text.contains(d["code"].as_str().unwrap()), "{name}: code missing in {text}");
            if let (Some(file), Some(line)) = (d["file"].as_str(), d["line"].as_u64()) {
                assert!(
                    text.contains(&format!("{file}:{line}:{}", d["col"])),
                    "{name}: {e} location missing in\n{text}"
                );
                assert!(text.contains('^'), "{name}: no caret in\n{text}");
            }
            assert!(d["hint"].is_string(), "{name}: {e} has no hint");
            assert!(text.contains("help:"), "{name}: no hint in\n{text}");
        }
    }
}

#[test]
fn binary_garbage_and_huge_files_are_diagnosed() {
    let dir = tempfile::tempdir().unwrap();
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let g = dir.path().join("garbage.lnas");
    std::fs::write(&g, &garbage).unwrap();
    let (code, r) = check_json(&[g.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_eq!(r["diagnostics"][0]["code"], "E0002");

    let huge = dir.path().join("huge.lnas");
    std::fs::write(&huge, "// padding\n".repeat(600_000)).unwrap();
    let (code, r) = check_json(&[huge.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_eq!(r["diagnostics"][0]["code"], "E0003");
}

/// An unknown callee's help: our layer by the name other frameworks give it, the standard
/// library file that has the block, or the layers there are.
#[test]
fn unknown_callees_get_the_name_they_have_here() {
    let hint = |call: &str| {
        let text = format!("space s(x: tensor = [3, 32, 32], classes: int = 10) {{\n    return x |> {call}\n}}\n");
        let o = lightnasc::check::check_text("t.lnas", &text, &lightnasc::lower::SpaceArgs::default(), None);
        o.diags.0.iter().find_map(|d| d.hint.clone()).unwrap_or_default()
    };
    assert_eq!(hint("batchnorm"), "the layer is called `bn` here");
    assert_eq!(hint("Linear(classes)"), "the layer is called `dense` here");
    assert_eq!(
        hint("melius_stage(blocks: 2)"),
        "`melius_stage` is a block of the standard library: `import \"std/melius.lnas\"`"
    );
    assert!(hint("frobnicate").starts_with("not a layer (conv, bconv, bn,"), "{}", hint("frobnicate"));
}

/// A missing argument is one error, its parameter's declaration a second label in the same
/// snippet (as rustc's "declared here"), not a second error block; in another file, a note.
#[test]
fn declared_here_is_part_of_the_error() {
    let check = |spec: &str| {
        let out = common::lightnasc(&["check", spec, "--color", "never"]);
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    let err = check("fixtures/errors/missing_block_argument.lnas");
    assert_eq!(err.lines().filter(|l| l.trim() == "E0301").count(), 1, "{err}");
    assert!(!err.contains("Error:") && !err.contains("Advice:"), "{err}");
    assert!(err.contains("`-- parameter declared here"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("std.lnas");
    let text = "import \"std/melius.lnas\"\nspace s(x: tensor = [1, 8, 8], classes: int = 10) {\n    \
                return x |> transition() |> global_avgpool |> dense(classes)\n}\n";
    std::fs::write(&spec, text).unwrap();
    let err = check(spec.to_str().unwrap());
    assert_eq!(err.lines().filter(|l| l.trim() == "E0301").count(), 1, "{err}");
    assert!(err.contains("Advice:") && err.contains("parameter declared here (std/melius.lnas:37:21)"), "{err}");
}
