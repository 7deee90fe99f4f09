//! How far a ranking figure can be trusted: the table's own ceiling (its seeds against each
//! other, and a simulated perfect scorer against a table this noisy), the zero-cost proxies a
//! scorer must beat (parameters, OPs, how many decisions take their larger option), every tau
//! with a bootstrap interval, and the same within groups of similar cost, where cost proxies
//! carry no information and a latency-aware search makes its real decisions.

use std::collections::BTreeMap;

use serde::Serialize;

use super::TableRow;
use crate::stats::{self, Interval, Noise};

/// Bootstrap resamples and simulated tables: enough for intervals stable to about 0.01.
const RESAMPLES: usize = 1000;
/// Fixed, so the same table and scores always print the same intervals.
const SEED: u64 = 0x7261_6e6b;

/// Which pairs of rows a tau counts: all, or those of one cost group.
type Keep<'a> = &'a dyn Fn(usize, usize) -> bool;

/// A scorer's tau-b against the table's test accuracy: over all rows, and within cost groups.
#[derive(Clone, Debug, Serialize)]
pub struct Tau {
    pub all: Option<Interval>,
    pub within_groups: Option<Interval>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Trust {
    pub noise: Option<Noise>,
    /// Rows per cost group (consecutive in OPs order), and how many groups.
    pub group_size: usize,
    pub groups: usize,
    /// The table's seeds ranked against each other (mean over pairs of seeds).
    pub seed_vs_seed: Option<Tau>,
    /// A scorer that knows the truth, against this table (mean and 5%-95% of simulations).
    pub perfect_scorer: Option<Tau>,
    /// Named scorers (the shared weights, when given, then the zero-cost proxies).
    pub scorers: Vec<(String, Tau)>,
    /// Each given scorer's tau minus each proxy's, both on the same resampled rows: whether a
    /// scorer beats a proxy is read from this paired interval, not from two overlapping ones.
    pub margins: Vec<Margins>,
    /// What training each architecture alone shows over each proxy: each seed's column against
    /// the mean of the other seeds, minus the proxy against that mean, averaged over held-out
    /// seeds and resampled together. Where this interval reaches below 0, stand-alone training
    /// itself is not shown above that proxy on this table (only a scorer better than one
    /// training run, nearer the perfect scorer, could be).
    pub seed_margins: Vec<(String, Tau)>,
    /// Standard deviation of a regret read off this table (a difference of two row means), pp.
    pub regret_sd_pp: Option<f64>,
}

/// One scorer's margin over each proxy.
#[derive(Clone, Debug, Serialize)]
pub struct Margins {
    pub scorer: String,
    pub over: Vec<(String, Tau)>,
}

/// The trust analysis of `rows` with `scorers` (one score per row each) and the proxies.
pub fn analyse(rows: &[TableRow], scorers: &[(&str, Vec<f64>)], group_size: usize) -> Trust {
    let test: Vec<f64> = rows.iter().map(|r| r.test_accuracy).collect();
    let ops: Vec<f64> = rows.iter().map(|r| r.ops).collect();
    let group = stats::cost_groups(&ops, group_size);
    let same = |i: usize, j: usize| group[i] == group[j];
    let both = |f: &dyn Fn(Keep) -> Option<Interval>| Tau { all: f(&|_, _| true), within_groups: f(&same) };
    let noise = stats::noise(&rows.iter().map(|r| r.test_by_seed.clone()).collect::<Vec<_>>());
    let proxies = proxies(rows);
    let over = |x: &[f64]| -> Vec<(String, Tau)> {
        proxies.iter().map(|(name, p)| (name.clone(), both(&|keep| margin(x, p, &test, keep)))).collect()
    };
    let margins = scorers.iter().map(|(scorer, x)| Margins { scorer: scorer.to_string(), over: over(x) }).collect();
    // Only where every row has the same seeds (as the ceiling's other figures).
    let seed_margins = match noise {
        Some(_) => proxies.iter().map(|(name, p)| (name.clone(), both(&|keep| seed_margin(rows, p, keep)))).collect(),
        None => Vec::new(),
    };
    let scorers = scorers
        .iter()
        .map(|(n, s)| (n.to_string(), s.clone()))
        .chain(proxies.iter().cloned())
        .map(|(name, s)| (name, both(&|keep| against(&s, &test, keep))))
        .collect();
    let perfect = noise.map(|n| both(&|keep| stats::perfect_scorer_tau(&test, &n, RESAMPLES, SEED, keep)));
    Trust {
        noise,
        group_size,
        groups: group.iter().max().map_or(0, |g| g + 1),
        seed_vs_seed: noise.map(|_| both(&|keep| seed_tau(rows, keep))),
        perfect_scorer: perfect,
        scorers,
        margins,
        seed_margins,
        regret_sd_pp: noise.map(|n| n.per_run_sd * (2.0 / n.seeds as f64).sqrt() * 100.0),
    }
}

/// Tau-b of `x` against `y` over the pairs `keep` accepts, with its bootstrap interval.
fn against(x: &[f64], y: &[f64], keep: impl Fn(usize, usize) -> bool) -> Option<Interval> {
    stats::bootstrap(x.len(), RESAMPLES, SEED, |pick| {
        let (a, b): (Vec<f64>, Vec<f64>) = pick.iter().map(|&i| (x[i], y[i])).unzip();
        stats::kendall_tau_b_within(&a, &b, |i, j| keep(pick[i], pick[j]))
    })
}

/// Tau-b of `x` minus tau-b of `p`, both against `y` on the same resampled rows.
fn margin(x: &[f64], p: &[f64], y: &[f64], keep: impl Fn(usize, usize) -> bool) -> Option<Interval> {
    stats::bootstrap(x.len(), RESAMPLES, SEED, |pick| {
        let column = |s: &[f64]| pick.iter().map(|&i| s[i]).collect::<Vec<f64>>();
        let (a, b, truth) = (column(x), column(p), column(y));
        paired_difference(&a, &b, &truth, |i, j| keep(pick[i], pick[j]))
    })
}

/// Tau-b of `a` minus tau-b of `b`, both against `truth` over the pairs `keep` accepts.
fn paired_difference(a: &[f64], b: &[f64], truth: &[f64], keep: impl Fn(usize, usize) -> bool) -> Option<f64> {
    Some(stats::kendall_tau_b_within(a, truth, &keep)? - stats::kendall_tau_b_within(b, truth, &keep)?)
}

/// Each seed's column ranked against each other seed's, averaged over the pairs of seeds.
fn seed_tau(rows: &[TableRow], keep: impl Fn(usize, usize) -> bool) -> Option<Interval> {
    let k = rows.first()?.test_by_seed.len();
    stats::bootstrap(rows.len(), RESAMPLES, SEED, |pick| {
        let column = |s: usize| pick.iter().map(|&i| rows[i].test_by_seed[s]).collect::<Vec<f64>>();
        let taus: Vec<f64> = (0..k)
            .flat_map(|a| (a + 1..k).map(move |b| (a, b)))
            .filter_map(|(a, b)| stats::kendall_tau_b_within(&column(a), &column(b), |i, j| keep(pick[i], pick[j])))
            .collect();
        (!taus.is_empty()).then(|| stats::mean(&taus))
    })
}

/// Each held-out seed's tau minus proxy `p`'s, both against the mean of the other seeds, averaged
/// over held-out seeds, on the same resampled rows (every row with the same seeds, at least 2).
fn seed_margin(rows: &[TableRow], p: &[f64], keep: impl Fn(usize, usize) -> bool) -> Option<Interval> {
    let k = rows.first()?.test_by_seed.len();
    stats::bootstrap(rows.len(), RESAMPLES, SEED, |pick| {
        let held = |s: usize| pick.iter().map(|&i| rows[i].test_by_seed[s]).collect::<Vec<f64>>();
        let rest = |s: usize| {
            let others = |r: &TableRow| (r.test_by_seed.iter().sum::<f64>() - r.test_by_seed[s]) / (k - 1) as f64;
            pick.iter().map(|&i| others(&rows[i])).collect::<Vec<f64>>()
        };
        let proxy: Vec<f64> = pick.iter().map(|&i| p[i]).collect();
        let diffs: Vec<f64> = (0..k)
            .filter_map(|s| paired_difference(&held(s), &proxy, &rest(s), |i, j| keep(pick[i], pick[j])))
            .collect();
        (!diffs.is_empty()).then(|| stats::mean(&diffs))
    })
}

/// The zero-cost proxies: parameters, OPs, and the count of decisions that take their larger
/// option (the option whose rows have the larger mean OPs in this table).
pub fn proxies(rows: &[TableRow]) -> Vec<(String, Vec<f64>)> {
    let settings = |r: &TableRow| -> Vec<(String, String)> {
        r.arch.split(',').filter_map(|s| s.split_once('=')).map(|(c, o)| (c.to_string(), o.to_string())).collect()
    };
    let mut ops_of: BTreeMap<(String, String), (f64, usize)> = BTreeMap::new();
    for r in rows {
        for key in settings(r) {
            let e = ops_of.entry(key).or_default();
            *e = (e.0 + r.ops, e.1 + 1);
        }
    }
    let mean_ops = |k: &(String, String)| ops_of.get(k).map_or(0.0, |(s, n)| s / *n as f64);
    let larger = |(c, o): &(String, String)| {
        ops_of.keys().filter(|(c2, _)| c2 == c).all(|k| mean_ops(k) <= mean_ops(&(c.clone(), o.clone())))
    };
    let count: Vec<f64> = rows.iter().map(|r| settings(r).iter().filter(|s| larger(s)).count() as f64).collect();
    vec![
        ("params".into(), rows.iter().map(|r| r.params as f64).collect()),
        ("OPs".into(), rows.iter().map(|r| r.ops).collect()),
        ("larger options".into(), count),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(arch: &str, params: u64, ops: f64, seeds: [f64; 2]) -> TableRow {
        TableRow {
            arch: arch.into(),
            params,
            ops,
            val_accuracy: 0.0,
            test_accuracy: (seeds[0] + seeds[1]) / 2.0,
            seeds: vec![1, 2],
            val_by_seed: vec![0.0, 0.0],
            test_by_seed: seeds.to_vec(),
            budget: None,
        }
    }

    #[test]
    fn proxies_count_the_larger_options() {
        let rows = [
            row("a=small,b=off", 1, 10.0, [0.1, 0.1]),
            row("a=big,b=off", 2, 30.0, [0.2, 0.2]),
            row("a=big,b=on", 3, 40.0, [0.3, 0.3]),
        ];
        // a=big rows average 35 OPs against 10; b=on 40 against b=off's 20.
        let p = proxies(&rows);
        assert_eq!(p[2].1, vec![0.0, 1.0, 2.0]);
        assert_eq!(p[0].1, vec![1.0, 2.0, 3.0]);
    }

    #[test]
    fn a_table_whose_seeds_agree_has_a_ceiling_near_one_and_proxies_are_measured_on_it() {
        // Accuracy rises with cost, seeds differ by 0.001 on a 0.01 ladder.
        let rows: Vec<TableRow> = (0..12)
            .map(|i| {
                let acc = 0.5 + 0.01 * i as f64;
                row(&format!("x={i}"), i as u64, i as f64, [acc + 0.0005, acc - 0.0005 * (i % 2) as f64])
            })
            .collect();
        let t = analyse(&rows, &[("truth", rows.iter().map(|r| r.test_accuracy).collect())], 4);
        assert_eq!(t.groups, 3);
        assert_eq!(t.seed_vs_seed.as_ref().unwrap().all.unwrap().value, 1.0);
        assert!(t.perfect_scorer.as_ref().unwrap().all.unwrap().value > 0.95);
        // The scorer that knows the means, and OPs here, rank perfectly, within groups too.
        assert_eq!(t.scorers[0].0, "truth");
        assert_eq!(t.scorers[0].1.all.unwrap().value, 1.0);
        assert_eq!(t.scorers[2].1.within_groups.unwrap().value, 1.0);
        // Paired margins of "truth" over each proxy: none over params or OPs (both perfect); over
        // the count of larger options (only x=11 is larger, so 55 of 66 pairs tie) 1 - 11 /
        // sqrt(11 * 66), by hand.
        assert_eq!((t.margins.len(), t.margins[0].scorer.as_str()), (1, "truth"));
        let margin = |k: usize| t.margins[0].over[k].1.all.unwrap();
        assert_eq!((margin(0).value, margin(1).value, margin(1).low, margin(1).high), (0.0, 0.0, 0.0, 0.0));
        assert!((margin(2).value - (1.0 - 11.0 / (11.0f64 * 66.0).sqrt())).abs() < 1e-12, "{:?}", margin(2));
        // Each seed ranks the other perfectly, so a held-out seed's margins are truth's.
        let seed_margin = |k: usize| t.seed_margins[k].1.all.unwrap().value;
        assert_eq!((seed_margin(0), seed_margin(1)), (0.0, 0.0));
        assert!((seed_margin(2) - (1.0 - 11.0 / (11.0f64 * 66.0).sqrt())).abs() < 1e-12);
        let sd = t.regret_sd_pp.unwrap();
        assert!(sd > 0.0 && sd < 0.1, "{sd}");
    }
}
