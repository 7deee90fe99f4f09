//! Ranking benchmarks (NAS-Bench style): a table of architectures of one space with their
//! stand-alone accuracies, and how well a search run's shared weights rank them. `lightnasc bench
//! table` makes a table from the ledger of a sweep of `train` runs; `lightnasc bench ranking`
//! scores every table architecture with a run's shared weights (as its search scored candidates)
//! and compares the two rankings, and judges the run's result against the table.

pub mod compare;
pub mod trust;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::error::Error;
use crate::ir::Graph;
use crate::ir::pin::Assignment;
use crate::ledger::{Budget, Entry};
use crate::net::device::BackendJob;
use crate::search::RunError;
use crate::search::config::SearchConfig;
use crate::search::latency::LatencyTable;
use crate::search::run::Run;
use crate::search::scoring::{BatchNormScoring, Scorer, Tally};
use crate::stats::{kendall_tau_b, mean, spearman_rho};
use crate::util::{AtPath as _, FileError};

/// One architecture of a table: its choices, costs and stand-alone accuracies per seed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TableRow {
    /// `choice=option,...` in the space's decision order.
    pub arch: String,
    pub params: u64,
    pub ops: f64,
    /// Mean over seeds.
    pub val_accuracy: f64,
    pub test_accuracy: f64,
    pub seeds: Vec<u64>,
    pub val_by_seed: Vec<f64>,
    pub test_by_seed: Vec<f64>,
    /// What every seed of the row was trained with (absent in tables made before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
}

impl TableRow {
    /// Max minus min over seeds of the test accuracy.
    pub fn seed_spread(&self) -> f64 {
        let max = self.test_by_seed.iter().copied().fold(f64::MIN, f64::max);
        let min = self.test_by_seed.iter().copied().fold(f64::MAX, f64::min);
        if self.test_by_seed.is_empty() { 0.0 } else { max - min }
    }
}

/// Read a table (JSON lines, one architecture each; `#` lines are comments).
pub fn read_table(path: &Path) -> Result<Vec<TableRow>, Error> {
    let text = std::fs::read_to_string(path).at(path)?;
    let mut rows = vec![];
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let what = |e: serde_json::Error| format!("not a table row: {e}");
        let row: TableRow =
            serde_json::from_str(line).map_err(|e| RunError::Line { path: path.into(), line: i + 1, what: what(e) })?;
        rows.push(row);
    }
    if rows.len() < 2 {
        let what = format!("a ranking table needs at least 2 architectures, found {}", rows.len());
        return Err(FileError::new(path, what).into());
    }
    Ok(rows)
}

/// The one budget of `entries`: an entry without one, or with another, is refused, naming it
/// and the difference.
pub fn one_budget<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> Result<Option<Budget>, Error> {
    let mut first: Option<(Budget, &str)> = None;
    for e in entries {
        let Some(b) = e.budget() else {
            return Err(Error::usage(format!(
                "{}: its ledger line records no budget (made before budgets were recorded); retrain it",
                e.run
            )));
        };
        match &first {
            None => first = Some((b, &e.run)),
            Some((f, run)) if *f != b => {
                let d = b.difference(f);
                return Err(Error::usage(format!("{}: trained with {d} as in {run}; one table, one budget", e.run)));
            }
            Some(_) => {}
        }
    }
    Ok(first.map(|f| f.0))
}

/// Table rows from ledger entries of `train` runs: grouped by architecture (the `arch` settings),
/// accuracies averaged over seeds, sorted by OPs. Every run must have the same budget, and no
/// architecture the same seed twice.
pub fn table_from_ledger(entries: &[Entry]) -> Result<Vec<TableRow>, Error> {
    let trains: Vec<&Entry> = entries.iter().filter(|e| e.kind == crate::search::config::RunKind::Train).collect();
    let budget = one_budget(trains.iter().copied())?;
    let mut by_arch: BTreeMap<String, Vec<&Entry>> = BTreeMap::new();
    for e in trains {
        if e.arch.is_empty() {
            let what = format!("{}: the ledger line names no architecture (made before 0.1 of the table)", e.run);
            return Err(Error::Usage(what));
        }
        let runs = by_arch.entry(e.arch.clone()).or_default();
        if let Some(twin) = runs.iter().find(|r| r.seed == e.seed) {
            let what = format!(
                "{} and {} train the same architecture with seed {}; give one of them",
                twin.run, e.run, e.seed
            );
            return Err(Error::Usage(what));
        }
        runs.push(e);
    }
    let mut rows: Vec<TableRow> = by_arch
        .into_iter()
        .map(|(arch, mut es)| {
            es.sort_by_key(|e| e.seed);
            let test: Vec<f64> = es.iter().map(|e| e.test_accuracy.unwrap_or(f64::NAN)).collect();
            let val: Vec<f64> = es.iter().map(|e| e.val_accuracy).collect();
            TableRow {
                arch,
                params: es[0].params,
                ops: es[0].ops,
                val_accuracy: mean(&val),
                test_accuracy: mean(&test),
                seeds: es.iter().map(|e| e.seed).collect(),
                val_by_seed: val,
                test_by_seed: test,
                budget: budget.clone(),
            }
        })
        .collect();
    in_cost_order(&mut rows);
    Ok(rows)
}

/// `old` (a table already made, whose ledgers may be gone) joined with `new` rows from ledgers:
/// one budget and one set of seeds for both, no architecture in both; sorted as
/// `table_from_ledger` sorts.
pub fn extend_table(old: Vec<TableRow>, new: Vec<TableRow>) -> Result<Vec<TableRow>, Error> {
    let (Some(first), Some(added)) = (old.first(), new.first()) else {
        return Ok(old.into_iter().chain(new).collect());
    };
    if added.budget != first.budget {
        let what = match (&added.budget, &first.budget) {
            (Some(a), Some(b)) => format!("trained with {}, as in the table extended", a.difference(b)),
            (None, _) => "records no budget; the table extended does".to_string(),
            (_, None) => "the table extended records no budget, so no row can be compared with it".to_string(),
        };
        return Err(Error::usage(format!("{}: {what}", added.arch)));
    }
    if let Some(r) = new.iter().find(|r| r.seeds != first.seeds) {
        return Err(Error::usage(format!(
            "{}: seeds {:?}, not {:?} as in the table extended",
            r.arch, r.seeds, first.seeds
        )));
    }
    if let Some(r) = new.iter().find(|r| old.iter().any(|o| o.arch == r.arch)) {
        return Err(Error::usage(format!("{}: already a row of the table extended", r.arch)));
    }
    let mut rows: Vec<TableRow> = old.into_iter().chain(new).collect();
    in_cost_order(&mut rows);
    Ok(rows)
}

/// A table's order: by OPs, then by the settings text (so a table's text is one for its rows).
fn in_cost_order(rows: &mut [TableRow]) {
    rows.sort_by(|a, b| a.ops.total_cmp(&b.ops).then(a.arch.cmp(&b.arch)));
}

/// Splits a table into the rows with every seed of its fullest row and the rest (a sweep still
/// running): a table's ceiling compares seeds, so its rows must share theirs.
pub fn complete_rows(rows: Vec<TableRow>) -> (Vec<TableRow>, Vec<TableRow>) {
    let full = rows.iter().max_by_key(|r| r.seeds.len()).map(|r| r.seeds.clone()).unwrap_or_default();
    rows.into_iter().partition(|r| r.seeds == full)
}

/// `n` rows at evenly spaced positions of `rows` (the first and the last included).
pub fn spread_subset(rows: &[TableRow], n: usize) -> Vec<TableRow> {
    let len = rows.len();
    if n >= len {
        return rows.to_vec();
    }
    let mut picked: Vec<usize> = (0..n).map(|i| (i * (len - 1) + (n - 1) / 2) / (n - 1).max(1)).collect();
    picked.dedup();
    picked.into_iter().map(|i| rows[i].clone()).collect()
}

/// How many of the `k` best by `x` are among the `k` best by `y` (ties broken by index).
pub fn top_k_overlap(x: &[f64], y: &[f64], k: usize) -> usize {
    let top = |v: &[f64]| {
        let mut i: Vec<usize> = (0..v.len()).collect();
        i.sort_by(|&a, &b| v[b].total_cmp(&v[a]).then(a.cmp(&b)));
        i.truncate(k);
        i
    };
    let ty = top(y);
    top(x).iter().filter(|i| ty.contains(i)).count()
}

/// The ranking of one run against a table.
#[derive(Clone, Debug, Serialize)]
pub struct Ranking {
    pub run: String,
    pub table: String,
    pub batch_norm: BatchNormScoring,
    pub architectures: usize,
    /// Per table row, in table order: the shared-weight validation accuracy (what the search's
    /// rewards are made of), and the mean log-probability of the label (a finer score).
    pub shared_weight_accuracy: Vec<f64>,
    pub shared_weight_log_likelihood: Vec<f64>,
    /// Against the table's stand-alone test accuracy (and validation accuracy).
    pub kendall_tau_b: Option<f64>,
    pub kendall_tau_b_val: Option<f64>,
    pub spearman_rho: Option<f64>,
    pub top5_overlap: usize,
    pub result: ResultJudgement,
    /// The table's ceiling, the proxies, and intervals for every tau.
    pub trust: trust::Trust,
}

/// The run's result against the table: its stand-alone accuracy (from the table, or from
/// retrains in a ledger), and its two regrets in percentage points.
#[derive(Clone, Debug, Serialize)]
pub struct ResultJudgement {
    pub arch: String,
    pub ops: f64,
    pub in_table: bool,
    /// Stand-alone test accuracy, when known.
    pub accuracy: Option<f64>,
    /// Best reward over the table minus the result's, both from stand-alone accuracy (pp).
    pub objective_regret_pp: Option<f64>,
    /// Best stand-alone accuracy among table architectures with at most the result's OPs, minus
    /// the result's (pp; negative when the result beats all of them).
    pub accuracy_regret_pp: Option<f64>,
    /// The best table architecture by the run's own reward.
    pub best_by_objective: String,
}

/// Judge `result` (settings text, OPs, stand-alone accuracy if known) against the table.
pub fn judge(
    rows: &[TableRow],
    result: (&str, f64, Option<f64>),
    reward: &dyn Fn(f64, &str) -> f64,
) -> ResultJudgement {
    let (arch, ops, retrained) = result;
    let found = rows.iter().find(|r| r.arch == arch);
    let accuracy = found.map(|r| r.test_accuracy).or(retrained);
    let best = rows
        .iter()
        .max_by(|a, b| reward(a.test_accuracy, &a.arch).total_cmp(&reward(b.test_accuracy, &b.arch)))
        .expect("a table has rows");
    let best_reward = reward(best.test_accuracy, &best.arch);
    let objective_regret_pp = accuracy.map(|acc| (best_reward - reward(acc, arch)) * 100.0);
    let within = rows
        .iter()
        .filter(|r| r.ops <= ops * (1.0 + 1e-9))
        .map(|r| r.test_accuracy)
        .fold(None, |m, a| Some(m.map_or(a, |m: f64| m.max(a))));
    let accuracy_regret_pp = match (within, accuracy) {
        (Some(w), Some(acc)) => Some((w - acc) * 100.0),
        // Nothing in the table is as cheap: no cheaper alternative to regret.
        (None, Some(_)) => Some(0.0),
        _ => None,
    };
    ResultJudgement {
        arch: arch.to_string(),
        ops,
        in_table: found.is_some(),
        accuracy,
        objective_regret_pp,
        accuracy_regret_pp,
        best_by_objective: best.arch.clone(),
    }
}

/// Scoring every table architecture with a run's shared weights.
pub struct RankingJob {
    pub run: Run,
    pub rows: Vec<TableRow>,
    pub train: Arc<Dataset>,
    pub val: Arc<Dataset>,
    /// Overrides the run's `scoring.batch_norm` (to score the same weights another way).
    pub batch_norm: Option<BatchNormScoring>,
}

impl BackendJob for RankingJob {
    type Output = Result<Vec<Tally>, Error>;

    fn run<B: burn::tensor::backend::AutodiffBackend>(self, devices: Vec<B::Device>) -> Self::Output {
        let device = devices.first().expect("run_on gives at least one device").clone();
        let cfg = &self.run.cfg;
        let mut scoring = cfg.scoring.clone();
        if let Some(bn) = self.batch_norm {
            scoring.batch_norm = bn;
        }
        let mut net = self.run.supernet::<B::InnerBackend>(&device)?;
        net.binary_kernels = cfg.binary_kernels;
        let norm = cfg.data.meta().norm;
        let scorer = Scorer::new(net, &scoring, &self.train, (&norm, cfg.batch_size), (cfg.seed, u64::MAX, 0), &device);
        let template = "{prefix} [{bar:30}] {pos}/{len} architectures, ETA {eta}";
        let mut bar =
            crate::progress::Bar::new(self.rows.len() as u64, "scoring the table".into(), "architectures", template);
        let mut out = vec![];
        for r in &self.rows {
            let a = assignment(&self.run.graph, &r.arch)?;
            out.push(scorer.tally(&a, &self.val, &norm, cfg.batch_size));
            bar.set_position(out.len() as u64);
        }
        bar.finish();
        Ok(out)
    }
}

/// The assignment that `choice=option,...` names in `g`.
pub fn assignment(g: &Graph, arch: &str) -> Result<Assignment, Error> {
    let settings: Vec<crate::ir::pin::PinSetting> = arch
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let (c, o) = s.split_once('=').ok_or_else(|| Error::usage(format!("`{s}` is not choice=option")))?;
            Ok(crate::ir::pin::PinSetting { choice: c.trim().into(), option: o.trim().into(), span: None })
        })
        .collect::<Result<_, Error>>()?;
    Assignment::from_settings(g, &settings).map_err(|e| {
        Error::usage(format!("`{arch}`: {}", e.iter().map(|e| e.message.clone()).collect::<Vec<_>>().join("; ")))
    })
}

/// The run's reward of stand-alone accuracy `acc` for `arch` (the run's latency table and
/// reward settings).
pub fn reward_fn<'a>(
    cfg: &'a SearchConfig,
    graph: &'a Graph,
    latency: &'a LatencyTable,
) -> impl Fn(f64, &str) -> f64 + 'a {
    move |acc, arch| match assignment(graph, arch) {
        Ok(a) => latency.reward(&cfg.reward, acc, &a),
        Err(_) => f64::NAN,
    }
}

/// Ranking statistics of shared-weight accuracies `shared` against the table.
pub fn statistics(rows: &[TableRow], shared: &[f64]) -> (Option<f64>, Option<f64>, Option<f64>, usize) {
    let test: Vec<f64> = rows.iter().map(|r| r.test_accuracy).collect();
    let val: Vec<f64> = rows.iter().map(|r| r.val_accuracy).collect();
    (
        kendall_tau_b(shared, &test),
        kendall_tau_b(shared, &val),
        spearman_rho(shared, &test),
        top_k_overlap(shared, &test, 5.min(rows.len())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_by_hand() {
        let x = [0.1, 0.9, 0.8, 0.2, 0.7];
        let y = [0.9, 0.8, 0.1, 0.2, 0.7];
        // Top 2 by x: {1, 2}; by y: {0, 1}.
        assert_eq!(top_k_overlap(&x, &y, 2), 1);
        assert_eq!(top_k_overlap(&x, &y, 5), 5);
    }

    fn row(arch: &str, ops: f64, acc: f64) -> TableRow {
        TableRow {
            arch: arch.into(),
            params: 0,
            ops,
            val_accuracy: acc,
            test_accuracy: acc,
            seeds: vec![1],
            val_by_seed: vec![acc],
            test_by_seed: vec![acc],
            budget: None,
        }
    }

    #[test]
    fn regrets_by_hand() {
        let rows = [row("a", 1.0, 0.70), row("b", 2.0, 0.80), row("c", 4.0, 0.82)];
        // A reward that halves the accuracy of `c`: the objective's best is `b`.
        let reward = |acc: f64, arch: &str| if arch == "c" { acc / 2.0 } else { acc };
        let j = judge(&rows, ("a", 1.0, None), &reward);
        assert!(j.in_table);
        assert_eq!(j.best_by_objective, "b");
        assert!((j.objective_regret_pp.unwrap() - 10.0).abs() < 1e-9);
        // Nothing as cheap as `a` beats it.
        assert!(j.accuracy_regret_pp.unwrap().abs() < 1e-9);
        // `c` is the most accurate but pays for it in the objective: 0.80 - 0.41.
        let j = judge(&rows, ("c", 4.0, None), &reward);
        assert!((j.objective_regret_pp.unwrap() - 39.0).abs() < 1e-9);
        assert!(j.accuracy_regret_pp.unwrap().abs() < 1e-9);
        // Not in the table, retrained to 0.75 at 3 OPs: b (0.80, 2 OPs) is cheaper and better.
        let j = judge(&rows, ("d", 3.0, Some(0.75)), &reward);
        assert!(!j.in_table);
        assert!((j.accuracy_regret_pp.unwrap() - 5.0).abs() < 1e-9);
        // Unknown accuracy: no regret can be given.
        assert_eq!(judge(&rows, ("d", 3.0, None), &reward).objective_regret_pp, None);
    }

    #[test]
    fn a_table_extends_only_with_its_budget_and_seeds_and_new_architectures() {
        let budget =
            |epochs| Some(Budget { data: "d".into(), train_limit: None, data_seed: Some(1), epochs, batch_size: 64 });
        let with = |arch, ops, epochs| TableRow { budget: budget(epochs), ..row(arch, ops, 0.5) };
        let old = vec![with("a", 1.0, 4), with("c", 3.0, 4)];
        let joined = extend_table(old.clone(), vec![with("b", 2.0, 4), with("d", 0.5, 4)]).unwrap();
        let order: Vec<&str> = joined.iter().map(|r| r.arch.as_str()).collect();
        assert_eq!(order, ["d", "a", "b", "c"], "sorted by OPs, as a table from ledgers");
        let refused = |new| extend_table(old.clone(), new).unwrap_err().to_string();
        assert_eq!(refused(vec![with("b", 2.0, 2)]), "b: trained with epochs 2, not 4, as in the table extended");
        assert_eq!(refused(vec![with("a", 1.0, 4)]), "a: already a row of the table extended");
        let unbudgeted = TableRow { budget: None, ..with("b", 2.0, 4) };
        assert_eq!(refused(vec![unbudgeted]), "b: records no budget; the table extended does");
        let two_seeds = TableRow { seeds: vec![1, 2], ..with("b", 2.0, 4) };
        assert_eq!(refused(vec![two_seeds]), "b: seeds [1, 2], not [1] as in the table extended");
    }
}
