//! Search policies compared on what their results are worth: each search run's result retrained
//! stand-alone (`train` runs in the same ledger, one budget for all), paired by seed against the
//! random baseline, with a paired t test and a sign test over the seeds.

use std::collections::BTreeMap;

use serde::Serialize;

use super::one_budget;
use crate::error::Error;
use crate::ledger::{Budget, Entry};
use crate::search::config::RunKind;
use crate::stats::{self, Paired};

/// One policy's results: per seed, the stand-alone test accuracy of its retrained result.
#[derive(Clone, Debug, Serialize)]
pub struct PolicyResults {
    pub kind: RunKind,
    pub seeds: usize,
    /// Seed -> mean test accuracy of the retrains of that seed's result.
    pub accuracy: BTreeMap<u64, f64>,
    /// Against the random baseline on the seeds both have (differences in accuracy).
    pub against_random: Option<Paired>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub budget: Option<Budget>,
    pub policies: Vec<PolicyResults>,
}

/// The comparison of every search kind in `entries` (the last run of each kind and seed).
pub fn compare(entries: &[Entry]) -> Result<Comparison, Error> {
    let trains: Vec<&Entry> = entries.iter().filter(|e| e.kind == RunKind::Train).collect();
    let budget = one_budget(trains.iter().copied())?;
    let mut retrained: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for e in &trains {
        retrained.entry(e.arch_hash.as_str()).or_default().extend(e.test_accuracy);
    }
    let mut results: BTreeMap<RunKind, BTreeMap<u64, &Entry>> = BTreeMap::new();
    for e in entries.iter().filter(|e| e.kind != RunKind::Train) {
        results.entry(e.kind).or_default().insert(e.seed, e);
    }
    let accuracy = |runs: &BTreeMap<u64, &Entry>| -> BTreeMap<u64, f64> {
        let of = |e: &Entry| retrained.get(e.arch_hash.as_str()).filter(|v| !v.is_empty()).map(|v| stats::mean(v));
        runs.iter().filter_map(|(&s, e)| Some((s, of(e)?))).collect()
    };
    let random = results.get(&RunKind::Random).map(accuracy).unwrap_or_default();
    let policies = results
        .iter()
        .map(|(&kind, runs)| {
            let acc = accuracy(runs);
            let diffs: Vec<f64> = acc.iter().filter_map(|(s, a)| Some(a - random.get(s)?)).collect();
            let against_random = (kind != RunKind::Random).then(|| stats::paired(&diffs)).flatten();
            PolicyResults { kind, seeds: runs.len(), accuracy: acc, against_random }
        })
        .collect();
    Ok(Comparison { budget, policies })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: RunKind, seed: u64, hash: &str, test: Option<f64>) -> Entry {
        let json = serde_json::json!({
            "time": 0, "kind": kind, "run": format!("{kind}-{seed}-{hash}"), "space": "demo",
            "arch_hash": hash, "arch": "", "seed": seed, "version": "0", "device": "cpu",
            "data": "fashion-mnist", "epochs": 2, "train_limit": 100, "data_seed": null, "batch_size": 8,
            "params": 1, "ops": 1.0, "val_accuracy": 0.0, "test_accuracy": test,
            "shared_weight_accuracy": null, "wall_seconds": 0.0
        });
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn results_are_paired_by_seed_against_random() {
        let e = [
            entry(RunKind::Random, 1, "r1", None),
            entry(RunKind::Random, 2, "r2", None),
            entry(RunKind::Random, 3, "r3", None),
            entry(RunKind::Search, 1, "s1", None),
            entry(RunKind::Search, 2, "s2", None),
            entry(RunKind::Search, 3, "s3", None),
            // Two retrains of r1 average; s3 was never retrained.
            entry(RunKind::Train, 1, "r1", Some(0.70)),
            entry(RunKind::Train, 2, "r1", Some(0.72)),
            entry(RunKind::Train, 1, "r2", Some(0.70)),
            entry(RunKind::Train, 1, "r3", Some(0.70)),
            entry(RunKind::Train, 1, "s1", Some(0.73)),
            entry(RunKind::Train, 1, "s2", Some(0.72)),
        ];
        let c = compare(&e).unwrap();
        let search = c.policies.iter().find(|p| p.kind == RunKind::Search).unwrap();
        assert_eq!(search.accuracy.len(), 2);
        // Differences by seed: 0.73 - 0.71 and 0.72 - 0.70.
        let p = search.against_random.unwrap();
        assert_eq!((p.n, p.wins, p.losses), (2, 2, 0));
        assert!((p.mean - 0.02).abs() < 1e-12);
        assert!(c.policies.iter().find(|p| p.kind == RunKind::Random).unwrap().against_random.is_none());
    }
}
