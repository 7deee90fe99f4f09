//! Search policies compared on what their results are worth: each search's result judged
//! against the ranking table (`judge`: its stand-alone accuracy and its regret on the run's own
//! objective), paired by seed against the random baseline, with a paired t test and a sign test
//! over the seeds.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::search::config::RunKind;
use crate::stats::{self, Interval, Paired};

/// One search's result, judged against the table.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub kind: RunKind,
    pub seed: u64,
    /// Stand-alone test accuracy and objective regret (pp), where the result's accuracy is known.
    pub accuracy: Option<f64>,
    pub regret_pp: Option<f64>,
}

/// One policy's results over its seeds.
#[derive(Clone, Debug, Serialize)]
pub struct PolicyResults {
    pub kind: RunKind,
    pub seeds: usize,
    /// Seed -> the result's stand-alone test accuracy, and its objective regret (pp).
    pub accuracy: BTreeMap<u64, f64>,
    pub regret_pp: BTreeMap<u64, f64>,
    /// The mean objective regret over seeds with its 95% interval (Student's t).
    pub mean_regret_pp: Option<Interval>,
    /// Against random search on the seeds both have: random's regret minus this policy's (pp;
    /// positive where this one's result is better on the run's objective).
    pub against_random: Option<Paired>,
}

/// Every policy in `outcomes` (one outcome per policy and seed).
pub fn compare(outcomes: &[Outcome]) -> Vec<PolicyResults> {
    let mut by_kind: BTreeMap<RunKind, Vec<&Outcome>> = BTreeMap::new();
    for o in outcomes {
        by_kind.entry(o.kind).or_default().push(o);
    }
    let known = |os: &[&Outcome], f: fn(&Outcome) -> Option<f64>| -> BTreeMap<u64, f64> {
        os.iter().filter_map(|o| Some((o.seed, f(o)?))).collect()
    };
    let random = by_kind.get(&RunKind::Random).map(|os| known(os, |o| o.regret_pp)).unwrap_or_default();
    by_kind
        .iter()
        .map(|(&kind, os)| {
            let regret_pp = known(os, |o| o.regret_pp);
            let diffs: Vec<f64> = regret_pp.iter().filter_map(|(s, r)| Some(random.get(s)? - r)).collect();
            PolicyResults {
                kind,
                seeds: os.len(),
                accuracy: known(os, |o| o.accuracy),
                mean_regret_pp: stats::t_interval(&regret_pp.values().copied().collect::<Vec<_>>()),
                regret_pp,
                against_random: (kind != RunKind::Random).then(|| stats::paired(&diffs)).flatten(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(kind: RunKind, seed: u64, regret: Option<f64>) -> Outcome {
        Outcome { kind, seed, accuracy: regret.map(|r| 0.9 - r / 100.0), regret_pp: regret }
    }

    #[test]
    fn results_are_paired_by_seed_against_random() {
        let o = [
            outcome(RunKind::Random, 1, Some(1.0)),
            outcome(RunKind::Random, 2, Some(2.0)),
            outcome(RunKind::Random, 3, Some(0.5)),
            outcome(RunKind::Search, 1, Some(0.0)),
            outcome(RunKind::Search, 2, Some(1.5)),
            // Seed 3's result was never retrained: no regret, no pair.
            outcome(RunKind::Search, 3, None),
        ];
        let c = compare(&o);
        let search = c.iter().find(|p| p.kind == RunKind::Search).unwrap();
        assert_eq!((search.seeds, search.regret_pp.len(), search.accuracy.len()), (3, 2, 2));
        // Differences by seed (random - search): 1.0 and 0.5.
        let p = search.against_random.unwrap();
        assert_eq!((p.n, p.wins, p.losses), (2, 2, 0));
        assert!((p.mean - 0.75).abs() < 1e-12);
        // Random's regrets 1, 2, 0.5: mean 7/6 with t(0.975; 2) = 4.303 times se.
        let random = c.iter().find(|p| p.kind == RunKind::Random).unwrap();
        let i = random.mean_regret_pp.unwrap();
        let se = ((1.0f64 - 7.0 / 6.0).powi(2) + (2.0f64 - 7.0 / 6.0).powi(2) + (0.5f64 - 7.0 / 6.0).powi(2)).sqrt()
            / 2f64.sqrt()
            / 3f64.sqrt();
        assert!((i.value - 7.0 / 6.0).abs() < 1e-12 && (i.high - i.value - 4.303 * se).abs() < 1e-2, "{i:?}");
        assert!(random.against_random.is_none());
    }
}
