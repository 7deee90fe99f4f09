//! `lightnasc fmt`: idempotent on every spec and fixture, every shipped spec already formatted,
//! refusal of files that do not parse, and formatting never changes what `check` reports.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{lightnasc, root};
use lightnasc::front::fmt::format;

/// Every .lnas file under `dir`, recursively.
fn lnas_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(lnas_files(&p));
        } else if p.extension().is_some_and(|x| x == "lnas") {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn all_sources() -> Vec<PathBuf> {
    let mut v = lnas_files(&root().join("specs"));
    v.extend(lnas_files(&root().join("fixtures")));
    v
}

#[test]
fn formatting_is_idempotent_on_every_spec_and_fixture() {
    let mut formatted = 0;
    for path in all_sources() {
        let Ok(text) = std::fs::read_to_string(&path) else { continue }; // not_utf8.lnas
        let Ok(once) = format(&text) else { continue }; // syntax-error fixtures
        let twice =
            format(&once).unwrap_or_else(|d| panic!("{}: formatted output does not parse: {d:?}", path.display()));
        assert_eq!(once, twice, "{}: formatting twice changes the text", path.display());
        // Every comment survives, in order.
        let comments =
            |t: &str| t.lines().filter_map(|l| l.find("//").map(|i| l[i..].trim_end().to_string())).collect::<Vec<_>>();
        assert_eq!(comments(&text), comments(&once), "{}: comments changed", path.display());
        formatted += 1;
    }
    assert!(formatted >= 40, "only {formatted} files formatted");
}

#[test]
fn shipped_specs_are_formatted() {
    let specs: Vec<String> = lnas_files(&root().join("specs")).iter().map(|p| common::rel(p)).collect();
    let mut args = vec!["fmt", "--check"];
    args.extend(specs.iter().map(String::as_str));
    let out = lightnasc(&args);
    assert!(out.status.success(), "not formatted:\n{}", String::from_utf8_lossy(&out.stdout));
}

/// Strip what moves when the layout changes: positions and file names.
fn without_positions(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            for k in ["line", "col", "end_line", "end_col", "file", "related"] {
                m.remove(k);
            }
            m.values_mut().for_each(without_positions);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(without_positions),
        _ => {}
    }
}

fn check_json_at(dir: &Path, file: &Path) -> (i32, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_lightnasc"))
        .args(["check", "--format", "json"])
        .arg(file)
        .current_dir(dir)
        .output()
        .unwrap();
    // Imported files are named by their absolute path: make the two trees' names agree.
    let text = String::from_utf8_lossy(&out.stdout).replace(&dir.canonicalize().unwrap().display().to_string(), "ROOT");
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    without_positions(&mut v);
    (out.status.code().unwrap(), v)
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() { copy_tree(&p, &dest) } else { std::fs::copy(&p, &dest).map(|_| ()).unwrap() }
    }
}

#[test]
fn formatting_never_changes_what_check_reports() {
    let tmp = tempfile::tempdir().unwrap();
    for sub in ["specs", "fixtures/errors"] {
        copy_tree(&root().join(sub), &tmp.path().join(sub));
    }
    // Scramble the layout of the copies first (no newline kept where a space will do, odd
    // indentation), so that fmt has real work to do; then format them with the CLI.
    let copies = lnas_files(tmp.path());
    for p in &copies {
        let Ok(text) = std::fs::read_to_string(p) else { continue };
        if format(&text).is_err() {
            continue;
        }
        let scrambled: String = text
            .lines()
            .map(|l| {
                if l.trim_start().starts_with("//") {
                    format!("{l}\n")
                } else {
                    format!("   {}  \n", l.replace(", ", " ,  "))
                }
            })
            .collect();
        std::fs::write(p, scrambled).unwrap();
    }
    let mut n = 0;
    for copy in &copies {
        let rel = copy.strip_prefix(tmp.path()).unwrap();
        let orig = &root().join(rel);
        let before_text = std::fs::read(copy).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_lightnasc")).arg("fmt").arg(copy).output().unwrap();
        if !out.status.success() {
            // Only files that do not parse are refused, and they are left byte for byte.
            assert_eq!(std::fs::read(copy).unwrap(), before_text, "{}: a refused file was changed", copy.display());
            let (code, v) = check_json_at(&root(), rel);
            let codes: Vec<_> =
                v["diagnostics"].as_array().map(|a| a.iter().map(|d| d["code"].clone()).collect()).unwrap_or_default();
            assert!(
                code == 1
                    && (codes.contains(&"E0100".into())
                        || codes.contains(&"E0004".into())
                        || codes.contains(&"E0002".into())),
                "{}: fmt refused a file check accepts: {codes:?}",
                orig.display()
            );
            continue;
        }
        let (c1, v1) = check_json_at(&root(), rel);
        let (c2, v2) = check_json_at(tmp.path(), rel);
        assert_eq!(c1, c2, "{}: exit code changed", orig.display());
        assert_eq!(v1, v2, "{}: check reports differ after formatting", orig.display());
        n += 1;
    }
    assert!(n >= 40, "only {n} files compared");
}

#[test]
fn a_file_that_does_not_parse_is_refused_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.lnas");
    let text = "space s(x: tensor = [1, 8, 8]) {\n  y = x |> conv(8, 3);\n  return y\n}\n";
    std::fs::write(&bad, text).unwrap();
    let out = lightnasc(&["fmt", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("E0100") && err.contains("bad.lnas:2:22") && err.contains("left untouched"), "{err}");
    assert_eq!(std::fs::read_to_string(&bad).unwrap(), text);
}

#[test]
fn check_mode_shows_a_diff_and_changes_nothing_then_fmt_rewrites() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("messy.lnas");
    let text = "// a space\nspace s(x:tensor=[1,8,8],classes:int=10){\ny=x|>conv(8,kernel:3) // stem\nreturn y|>global_avgpool|>dense(classes)}\n";
    std::fs::write(&f, text).unwrap();
    let out = lightnasc(&["fmt", "--check", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let diff = String::from_utf8_lossy(&out.stdout);
    assert!(
        diff.contains("-y=x|>conv(8,kernel:3) // stem") && diff.contains("+    y = x |> conv(8, kernel: 3) // stem"),
        "{diff}"
    );
    assert_eq!(std::fs::read_to_string(&f).unwrap(), text, "--check must not write");

    let out = lightnasc(&["fmt", f.to_str().unwrap()]);
    assert!(out.status.success());
    let want = "// a space\nspace s(x: tensor = [1, 8, 8], classes: int = 10) {\n    y = x |> conv(8, kernel: 3) // stem\n    return y |> global_avgpool |> dense(classes)\n}\n";
    assert_eq!(std::fs::read_to_string(&f).unwrap(), want);
    assert!(lightnasc(&["fmt", "--check", f.to_str().unwrap()]).status.success());

    // As a filter (editors): stdin to stdout.
    let mut child = Command::new(env!("CARGO_BIN_EXE_lightnasc"))
        .args(["fmt", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), want);
}
