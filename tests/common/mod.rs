//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn lightnasc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lightnasc")).args(args).current_dir(root()).output().expect("running lightnasc")
}

/// `lightnasc check ... --format json`, parsed, with the exit code.
pub fn check_json(args: &[&str]) -> (i32, serde_json::Value) {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let out = lightnasc(&all);
    let text = String::from_utf8_lossy(&out.stdout);
    let v = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {text}\nstderr: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), v)
}

pub fn specs() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("specs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "lnas"))
        .collect();
    v.sort();
    v
}

pub fn rel(p: &Path) -> String {
    p.strip_prefix(root()).unwrap_or(p).display().to_string()
}

/// A Python virtual environment with `packages`, made once per target directory and reused (the
/// interop tests judge our files with the real Python clients).
pub fn python_venv(name: &str, packages: &[&str]) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"));
    let venv = target.join(format!("venv-{name}"));
    let python = venv.join("bin/python");
    let marker = venv.join(".installed");
    let wanted = packages.join(" ");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(wanted.as_str()) {
        return python;
    }
    let ok = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().expect("python3").success();
    assert!(ok, "python3 -m venv failed");
    let out = Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
        .args(packages)
        .output()
        .expect("pip");
    assert!(out.status.success(), "pip install {wanted} failed: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(&marker, wanted).unwrap();
    python
}
