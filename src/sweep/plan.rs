//! A sweep plan (`specs/sweeps/*.yml`): many independent runs, each the command line of a
//! `lightnasc search` or `lightnasc train`, expanded from lists into one run per combination and
//! dealt round-robin into shards. A run's folder name is fixed by the plan, so any machine that
//! runs a shard finds the runs another one finished (in the ledger) or left half done (a
//! checkpoint to resume).

use std::path::{Path, PathBuf};

use crate::util::{AtPath as _, FileError};
use serde::Deserialize;
use serde_norway::{Mapping, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    name: String,
    /// Where the runs go (default `runs/sweeps/NAME`).
    #[serde(default)]
    out: Option<PathBuf>,
    /// Flags every run gets; a run's own keys override them.
    #[serde(default)]
    common: Mapping,
    runs: Vec<Mapping>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Search,
    Train,
}

impl Command {
    pub fn name(self) -> &'static str {
        match self {
            Command::Search => "search",
            Command::Train => "train",
        }
    }
}

/// One run of the sweep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unit {
    /// The run folder's name under the sweep's `out`: stable as long as the plan is.
    pub name: String,
    pub command: Command,
    /// The spec, pin file or run folder the command starts from.
    pub source: String,
    /// Its flags (`--seed 3`, ...), without the run folder, which the sweep sets.
    pub flags: Vec<String>,
    /// The GPUs one run asks for (`--device cuda:0,1` -> 2), for the cluster scripts.
    pub gpus: usize,
}

impl Unit {
    /// The command line that starts the run fresh in `out`.
    pub fn start_args(&self, out: &Path) -> Vec<String> {
        let mut a = vec![self.command.name().to_string(), self.source.clone()];
        a.extend(self.flags.iter().cloned());
        a.extend(["--runs-dir".into(), out.display().to_string(), "--name".into(), self.name.clone()]);
        a
    }
}

#[derive(Clone, Debug)]
pub struct SweepPlan {
    pub name: String,
    pub out: PathBuf,
    pub units: Vec<Unit>,
}

/// Why a plan cannot be read: its file, or what in its text is wrong (and where: `runs[k]`).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{}{what}", path.as_ref().map(|p| format!("{}: ", p.display())).unwrap_or_default())]
    Invalid { path: Option<PathBuf>, what: String },
}

fn invalid<T>(what: impl Into<String>) -> Result<T, PlanError> {
    Err(PlanError::Invalid { path: None, what: what.into() })
}

/// Flags a plan may not set: the sweep owns the run folders.
const RESERVED: [&str; 5] = ["name", "runs-dir", "resume", "ledger", "stop-after-steps"];

impl SweepPlan {
    pub fn from_file(path: &Path) -> Result<SweepPlan, PlanError> {
        let text = std::fs::read_to_string(path).at(path)?;
        SweepPlan::parse(&text).map_err(|e| match e {
            PlanError::Invalid { path: None, what } => PlanError::Invalid { path: Some(path.into()), what },
            e => e,
        })
    }

    pub fn parse(text: &str) -> Result<SweepPlan, PlanError> {
        let file: PlanFile = match serde_norway::from_str(text) {
            Ok(f) => f,
            Err(e) => return invalid(crate::util::yaml_duplicate_lines(e.to_string(), text)),
        };
        if file.name.is_empty() || !file.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return invalid(format!("`name: {}`: use letters, digits, `-` and `_`", file.name));
        }
        let mut units = vec![];
        for (k, entry) in file.runs.iter().enumerate() {
            let mut merged = file.common.clone();
            for (key, value) in entry {
                merged.insert(key.clone(), value.clone());
            }
            if let Err(e) = expand(&merged, entry, &mut units) {
                return invalid(format!("runs[{k}]: {e}"));
            }
        }
        if units.is_empty() {
            return invalid("the plan has no runs");
        }
        let out = file.out.unwrap_or_else(|| Path::new("runs/sweeps").join(&file.name));
        Ok(SweepPlan { name: file.name, out, units })
    }

    /// The units of shard `shard` of `shards` (0-based): every `shards`-th unit from `shard` on.
    pub fn shard(&self, shard: usize, shards: usize) -> Vec<&Unit> {
        self.units.iter().skip(shard).step_by(shards.max(1)).collect()
    }

    /// The most GPUs any one run asks for.
    pub fn gpus_per_shard(&self) -> usize {
        self.units.iter().map(|u| u.gpus).max().unwrap_or(0)
    }
}

/// A value as a command-line word.
fn word(v: &Value) -> Result<String, PlanError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => {
            invalid(format!("`{}` is not a flag value", serde_norway::to_string(other).unwrap_or_default().trim()))
        }
    }
}

/// Word-safe form of a value for a folder name.
fn slug(s: &str) -> String {
    let stem = Path::new(s).file_stem().map_or(s.to_string(), |f| f.to_string_lossy().into_owned());
    let base = if s.contains('/') { stem.as_str() } else { s };
    base.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '=') { c } else { '_' }).collect()
}

/// A label value short enough for a file name (a folder name may have 255 bytes): long values,
/// such as a pin's `choice=option,...`, keep their start and a hash of the whole.
fn short(s: &str) -> String {
    const MAX: usize = 40;
    if s.len() <= MAX {
        return s.to_string();
    }
    format!("{}-{:08x}", &s[..MAX - 9], fnv1a(s) as u32)
}

/// FNV-1a, 64 bits: stable across versions and platforms, unlike std's hasher.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// One entry's runs: the product of its list-valued keys, in the order written. The run's name
/// shows the values of the keys the entry sets itself (`common` ones are the same for all).
fn expand(entry: &Mapping, own: &Mapping, units: &mut Vec<Unit>) -> Result<(), PlanError> {
    let mut command = None;
    let mut axes: Vec<(String, Vec<Value>, bool)> = vec![];
    for (k, value) in entry {
        let Some(key) = k.as_str().map(|k| k.replace('_', "-")) else { return invalid("keys are flag names") };
        let named = own.contains_key(k);
        if let Some(c) = match key.as_str() {
            "search" => Some(Command::Search),
            "train" => Some(Command::Train),
            _ => None,
        } {
            if command.is_some() {
                return invalid("give one of `search:` and `train:`");
            }
            command = Some((c, word(value)?));
            continue;
        }
        if RESERVED.contains(&key.as_str()) {
            return invalid(format!("`{key}` is set by the sweep (each run's folder is named after it)"));
        }
        match value {
            Value::Sequence(vs) if vs.is_empty() => return invalid(format!("`{key}: []` makes no runs")),
            Value::Sequence(vs) => axes.push((key, vs.clone(), named)),
            v => axes.push((key, vec![v.clone()], named)),
        }
    }
    let Some((command, source)) = command else { return invalid("say what runs: `search: SPEC` or `train: SOURCE`") };
    let stem = slug(&source);
    // Odometer over the axes.
    let mut at = vec![0usize; axes.len()];
    loop {
        let mut flags = vec![];
        let mut label = vec![];
        let mut gpus = 0;
        for ((key, values, named), &i) in axes.iter().zip(&at) {
            let v = &values[i];
            if *named {
                label.push(format!("{key}={}", short(&slug(&word(v)?))));
            }
            match v {
                Value::Bool(false) => {}
                Value::Bool(true) => flags.push(format!("--{key}")),
                v => {
                    let w = word(v)?;
                    if key == "device" && w.starts_with("cuda") {
                        gpus = w.split_once(':').map_or(1, |(_, l)| l.split(',').count());
                    }
                    flags.extend([format!("--{key}"), w]);
                }
            }
        }
        let mut name = format!("{:03}-{}-{stem}", units.len(), command.name());
        for l in &label {
            name.push('-');
            name.push_str(l);
        }
        units.push(Unit { name, command, source: source.clone(), flags, gpus });
        // Next combination; done when every axis wrapped.
        let mut d = axes.len();
        loop {
            if d == 0 {
                return Ok(());
            }
            d -= 1;
            at[d] += 1;
            if at[d] < axes[d].1.len() {
                break;
            }
            at[d] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_expand_into_one_run_each_and_shards_deal_them_round_robin() {
        let plan = SweepPlan::parse(
            r#"
name: t
common: {data: fashion-mnist, epochs: 2}
runs:
  - search: specs/demo.lnas
    seed: [1, 2]
    controller: [enas, random]
  - train: specs/demo.lnas
    pin: random:1
    epochs: 3
    export_each_epoch: true
    device: cuda:0,1
"#,
        )
        .unwrap();
        assert_eq!(plan.out, Path::new("runs/sweeps/t"));
        let names: Vec<&str> = plan.units.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "000-search-demo-seed=1-controller=enas",
                "001-search-demo-seed=1-controller=random",
                "002-search-demo-seed=2-controller=enas",
                "003-search-demo-seed=2-controller=random",
                "004-train-demo-epochs=3-pin=random_1-export-each-epoch=true-device=cuda_0_1",
            ]
        );
        assert_eq!(
            plan.units[3].flags,
            ["--data", "fashion-mnist", "--epochs", "2", "--seed", "2", "--controller", "random"]
        );
        // The run's own `epochs` overrides the common one in place.
        assert_eq!(
            plan.units[4].flags,
            [
                "--data",
                "fashion-mnist",
                "--epochs",
                "3",
                "--pin",
                "random:1",
                "--export-each-epoch",
                "--device",
                "cuda:0,1"
            ]
        );
        assert_eq!((plan.units[4].gpus, plan.gpus_per_shard()), (2, 2));
        let shard = |i, n| plan.shard(i, n).iter().map(|u| u.name[..3].to_string()).collect::<Vec<_>>();
        assert_eq!(shard(0, 2), ["000", "002", "004"]);
        assert_eq!(shard(1, 2), ["001", "003"]);
        assert_eq!(shard(4, 5), ["004"]);
        assert!(shard(5, 6).is_empty());
        assert_eq!(
            plan.units[0].start_args(Path::new("out")),
            [
                "search",
                "specs/demo.lnas",
                "--data",
                "fashion-mnist",
                "--epochs",
                "2",
                "--seed",
                "1",
                "--controller",
                "enas",
                "--runs-dir",
                "out",
                "--name",
                "000-search-demo-seed=1-controller=enas"
            ]
        );
    }

    /// A pin's `choice=option,...` would make a folder name over the 255 bytes a file system
    /// allows: long values keep their start and an 8-hex-digit FNV-1a hash of the whole.
    #[test]
    fn long_values_make_short_distinct_names() {
        let long_a = "stage1.block1.dense.keep=cheap,stage1.block1.improvement.use=skip,stage2.block1.dense.keep=full";
        let long_b = "stage1.block1.dense.keep=cheap,stage1.block1.improvement.use=skip,stage2.block1.dense.keep=cheap";
        let plan = SweepPlan::parse(&format!(
            "name: t\nruns:\n  - train: specs/demo.lnas\n    pin:\n      - {long_a}\n      - {long_b}\n"
        ))
        .unwrap();
        let names: Vec<&str> = plan.units.iter().map(|u| u.name.as_str()).collect();
        assert!(names.iter().all(|n| n.len() < 80), "{names:?}");
        assert!(names[0].starts_with("000-train-demo-pin=stage1.block1.dense.keep=cheap_"), "{names:?}");
        assert_ne!(names[0][4..], names[1][4..]);
        // The published FNV-1a test vectors.
        assert_eq!(fnv1a(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(short("a"), "a");
        let h = short(&"x".repeat(41));
        assert_eq!(h, format!("{}-{:08x}", "x".repeat(31), fnv1a(&"x".repeat(41)) as u32));
        // The flags carry the whole value.
        assert_eq!(plan.units[0].flags, ["--pin", long_a]);
    }

    #[test]
    fn bad_plans_are_refused_with_the_reason() {
        for (text, wanted) in [
            ("name: t\nruns: []\n", "no runs"),
            ("name: t\nruns:\n  - seed: 1\n", "say what runs"),
            ("name: t\nruns:\n  - search: a.lnas\n    train: b.lnas\n", "one of"),
            ("name: t\nruns:\n  - search: a.lnas\n    name: x\n", "set by the sweep"),
            ("name: t\nruns:\n  - search: a.lnas\n    seed: []\n", "makes no runs"),
            ("name: t\nruns:\n  - search: a.lnas\n    seed: {a: 1}\n", "not a flag value"),
            ("name: a/b\nruns:\n  - search: a.lnas\n", "letters, digits"),
            ("name: t\nrun: []\n", "unknown field"),
            (
                "name: t\nruns:\n  - search: a.lnas\n    seed: 1\n    seed: 2\n",
                "runs[0]: line 5: duplicate key `seed` (first at line 4)",
            ),
        ] {
            let e = SweepPlan::parse(text).unwrap_err();
            assert!(matches!(e, PlanError::Invalid { path: None, .. }), "{text}: {e:?}");
            assert!(e.to_string().contains(wanted), "{text}: {e}");
        }
    }
}
