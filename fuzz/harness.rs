//! What each fuzz target checks of one input, shared by the libFuzzer targets (`fuzz_targets/`,
//! coverage-guided, `scripts/fuzz.sh`) and `tests/fuzz_corpus.rs`, which replays the kept corpus
//! (`fuzz/corpus/TARGET/`) in CI. Every target's first oracle: no panic. Readers must turn any
//! bytes into a value or an error; the front end must give diagnostics with codes and spans inside
//! the text; `fmt` must be idempotent and keep what the checker says.

#![allow(dead_code)] // each fuzz target uses one function

use std::path::PathBuf;

use lightnasc::check::{PinArg, check_text};
use lightnasc::lower::SpaceArgs;

/// A target's check of one input.
pub type Target = fn(&[u8]);

/// The targets by name, for the corpus replay.
pub const TARGETS: &[(&str, Target)] = &[
    ("spec", spec),
    ("fmt", fmt),
    ("pin", pin),
    ("config", config),
    ("idx", idx),
    ("cifar", cifar),
    ("pickle", pickle),
    ("archive", archive),
    ("mxnet_params", mxnet_params),
    ("run_files", run_files),
    ("sweep_plan", sweep_plan),
];

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// Every diagnostic has a code and a span inside its file, and renders.
fn diagnostics_are_sound(o: &lightnasc::check::Outcome) {
    for d in &o.diags.0 {
        assert!(d.code.as_str().starts_with('E'), "{}", d.message);
        if let Some(span) = d.span {
            let f = o.db.get(span.file);
            assert!(span.start <= span.end && span.end as usize <= f.text.len(), "span out of range: {}", d.message);
            let _ = d.render(&o.db, false);
        }
    }
    if o.diags.is_empty() {
        assert!(o.space.is_some(), "no diagnostics but no graph");
    }
}

/// A spec through parsing, validation and lowering.
pub fn spec(data: &[u8]) {
    let o = check_text("fuzz.lnas", &text(data), &SpaceArgs::default(), None);
    diagnostics_are_sound(&o);
}

/// `fmt`: formatting a formatted text changes nothing, and the checker says the same of both.
pub fn fmt(data: &[u8]) {
    let t = text(data);
    let Ok(once) = lightnasc::front::fmt::format(&t) else { return };
    let twice = lightnasc::front::fmt::format(&once).expect("formatted text parses");
    assert_eq!(once, twice, "fmt is not idempotent");
    let codes = |s: &str| {
        let mut c: Vec<String> = check_text("fuzz.lnas", s, &SpaceArgs::default(), None)
            .diags
            .0
            .iter()
            .map(|d| d.code.as_str().to_string())
            .collect();
        c.sort();
        c
    };
    assert_eq!(codes(&t), codes(&once), "fmt changed what the checker says");
}

/// A pin (`random:N`, `melius:CONFIG`, assignments) applied to MeliusNet-22.
pub fn pin(data: &[u8]) {
    let Ok(p) = text(data).trim().parse::<PinArg>() else { return };
    let space = include_str!("../specs/meliusnet22.lnas");
    let o = check_text("meliusnet22.lnas", space, &SpaceArgs::default(), Some(&p));
    for d in &o.diags.0 {
        assert!(d.code.as_str().starts_with('E'), "{}", d.message);
    }
}

/// A config's YAML, then `--set` lines after a NUL byte.
pub fn config(data: &[u8]) {
    let t = text(data);
    let (yaml, sets) = t.split_once('\0').unwrap_or((&t, ""));
    let Ok(mut cfg) = lightnasc::search::config::SearchConfig::from_yaml_text(yaml, std::path::Path::new("fuzz.yml"))
    else {
        return;
    };
    for kv in sets.lines() {
        let _ = cfg.set(kv);
    }
    let _ = cfg.to_yaml();
}

/// IDX images (3-d) or labels (1-d), gzip or not: the first byte picks.
pub fn idx(data: &[u8]) {
    let (ndim, rest) = match data.split_first() {
        Some((b, rest)) => (if b % 2 == 0 { 3 } else { 1 }, rest),
        None => return,
    };
    let _ = lightnasc::data::idx::parse_idx(rest, ndim, std::path::Path::new("fuzz-idx"));
}

/// CIFAR-10 or CIFAR-100 binary records: the first byte picks.
pub fn cifar(data: &[u8]) {
    let Some((b, rest)) = data.split_first() else { return };
    if let Ok(d) = lightnasc::data::cifar::parse(rest, b % 2 == 1, std::path::Path::new("fuzz.bin")) {
        assert_eq!(d.pixels.len(), d.labels.len() * 3072);
    }
}

/// A torchvision CIFAR pickle.
pub fn pickle(data: &[u8]) {
    let mut out = lightnasc::data::Dataset { pixels: vec![], labels: vec![], shape: [3, 32, 32] };
    if lightnasc::data::pickle::parse_batch(data, "labels", 10, std::path::Path::new("fuzz"), &mut out).is_ok() {
        assert_eq!(out.pixels.len(), out.labels.len() * 3072);
    }
}

/// A `.tar.gz` unpacked as CIFAR-10's archive: nothing lands outside the folder.
pub fn archive(data: &[u8]) {
    let root = scratch("archive");
    let dir = root.join("out");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&dir).unwrap();
    let src = lightnasc::data::Kind::Cifar10.source();
    let _ = lightnasc::data::fetch::unpack_from(data, src, &dir);
    for e in walk(&root) {
        assert!(e == root || e.starts_with(&dir), "{} written outside the folder", e.display());
    }
}

/// MXNet's NDArray list (`.params`).
pub fn mxnet_params(data: &[u8]) {
    let _ = lightnasc::back::mxnet::read_params(data);
}

/// A run's files: checkpoint state, ledger, latency table (the first byte picks).
pub fn run_files(data: &[u8]) {
    let Some((b, rest)) = data.split_first() else { return };
    let dir = scratch("run");
    std::fs::create_dir_all(&dir).unwrap();
    match b % 3 {
        0 => {
            std::fs::write(dir.join("state.json"), rest).unwrap();
            let _ = lightnasc::search::checkpoint::load_state(&dir);
        }
        1 => {
            std::fs::write(dir.join("ledger.jsonl"), rest).unwrap();
            let _ = lightnasc::ledger::read(&dir.join("ledger.jsonl"));
        }
        _ => {
            std::fs::write(dir.join("latency.json"), rest).unwrap();
            let _ = lightnasc::search::latency::LatencyTable::read(&dir.join("latency.json"), &[2, 2, 3]);
        }
    }
}

/// A sweep plan's YAML.
pub fn sweep_plan(data: &[u8]) {
    let _ = lightnasc::sweep::plan::SweepPlan::parse(&text(data));
}

/// A folder of this process's own under the temporary folder.
fn scratch(what: &str) -> PathBuf {
    std::env::temp_dir().join(format!("lightnasc-fuzz-{}", std::process::id())).join(what)
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}
