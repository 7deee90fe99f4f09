//! `lightnasc bench ranking` and `lightnasc bench table`: a search run against a ranking table.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use lightnasc::error::Error;
use lightnasc::ir::cost::total;
use lightnasc::ir::pin::pin;
use lightnasc::ledger;
use lightnasc::net::device::{DeviceArg, run_on};
use lightnasc::ranking::compare;
use lightnasc::ranking::trust::{self, Tau, Trust};
use lightnasc::ranking::{self, Ranking, RankingJob, ResultJudgement, TableRow};
use lightnasc::search::config::RunKind;
use lightnasc::search::latency::LatencyTable;
use lightnasc::search::run::Run;
use lightnasc::stats::Interval;

use super::{CeilingArgs, CompareArgs, Format, RankingArgs, TableArgs, fail};
use lightnasc::util::AtPath as _;

pub fn ranking(args: &RankingArgs) -> ExitCode {
    match rank(args) {
        Ok(r) => {
            let text = match args.format {
                Format::Json => format!("{}\n", serde_json::to_string_pretty(&r).expect("serialises")),
                Format::Text => text(&r),
            };
            if args.save {
                let path = args.run.join("ranking.json");
                let json = serde_json::to_string_pretty(&r).expect("serialises");
                if let Err(e) = lightnasc::util::write_atomic(&path, json.as_bytes()) {
                    return fail(format!("{}: {e}", path.display()));
                }
            }
            super::emit(&text);
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

fn rank(args: &RankingArgs) -> Result<Ranking, Error> {
    let run = search_run(&args.run)?;
    let table = match &args.table {
        Some(t) => t.clone(),
        None => shipped_table(&run)?,
    };
    let mut rows = ranking::read_table(&table)?;
    if let Some(n) = args.limit.filter(|&n| n < rows.len()) {
        rows = ranking::spread_subset(&rows, n.max(2));
    }
    let judgement = judged(&run, &rows, &table, args.retrained.as_deref())?;
    let cfg = run.cfg.clone();
    let (splits, _) = lightnasc::data::load(&cfg.data, cfg.data_dir.as_deref(), cfg.data_mirror.as_deref(), cfg.seed)?;
    let (train, val) = lightnasc::search::split_training(&cfg, splits.train)?;
    let device: DeviceArg = cfg.device.parse::<DeviceArg>().map_err(Error::usage)?.main();
    let job =
        RankingJob { run, rows: rows.clone(), train: Arc::new(train), val: Arc::new(val), batch_norm: args.batch_norm };
    let tallies = run_on(&device, job)??;
    let shared: Vec<f64> = tallies.iter().map(|t| t.accuracy()).collect();
    let likelihood: Vec<f64> = tallies.iter().map(|t| t.mean_log_likelihood()).collect();

    let (tau, tau_val, rho, top5) = ranking::statistics(&rows, &shared);
    let scorers = [("shared weights", shared.clone()), ("shared weights, likelihood", likelihood.clone())];
    let trust = trust::analyse(&rows, &scorers, args.group_size as usize);
    Ok(Ranking {
        run: args.run.display().to_string(),
        table: table.display().to_string(),
        batch_norm: args.batch_norm.unwrap_or(cfg.scoring.batch_norm),
        architectures: rows.len(),
        shared_weight_accuracy: shared,
        shared_weight_log_likelihood: likelihood,
        kendall_tau_b: tau,
        kendall_tau_b_val: tau_val,
        spearman_rho: rho,
        top5_overlap: top5,
        result: judgement,
        trust,
    })
}

/// The table shipped for a run's space and data, `specs/bench/<space>-<data>.jsonl` (the
/// space's name with `-` for `_`), so the README's runs need no `--table`.
fn shipped_table(run: &Run) -> Result<PathBuf, Error> {
    let (space, data) = (run.graph.name.replace('_', "-"), run.cfg.data.to_string());
    let path = Path::new("specs/bench").join(format!("{space}-{data}.jsonl"));
    if path.is_file() {
        return Ok(path);
    }
    Err(Error::usage(format!(
        "no ranking table is shipped for space `{}` on `{data}` (looked for {}); make one with \
         `lightnasc bench table` (docs/search-quality.md) and pass it with --table",
        run.graph.name,
        path.display()
    )))
}

/// A search run's result judged against the table: the result's stand-alone accuracy from the table, or from retrains on the table's budget in `retrained`'s ledger, and
/// its regrets on the run's own objective (its latency table and reward settings).
fn judged(run: &Run, rows: &[TableRow], table: &Path, retrained: Option<&Path>) -> Result<ResultJudgement, Error> {
    for r in rows {
        ranking::assignment(&run.graph, &r.arch).at(table)?;
    }
    let options = lightnasc::ir::decisions::Decisions::of(&run.graph).options;
    let latency = LatencyTable::read(&run.dir.join("latency.json"), &options)?;
    let (_, result) = run.architecture(None, false)?;
    let result_graph = pin(&run.graph, &result)?;
    let result_arch: String =
        result.settings(&run.graph).iter().map(|(c, o)| format!("{c}={o}")).collect::<Vec<_>>().join(",");
    let retrained = match retrained {
        Some(ledger_dir) => retrained_accuracy(ledger_dir, &ledger::structure_hash(&result_graph), rows, table)?,
        None => None,
    };
    let judgement = {
        let reward = ranking::reward_fn(&run.cfg, &run.graph, &latency);
        ranking::judge(rows, (&result_arch, total(&result_graph).ops(), retrained), &reward)
    };
    Ok(judgement)
}

/// The search run in `dir` (a training run has one architecture and nothing to rank).
fn search_run(dir: &Path) -> Result<Run, Error> {
    let run = Run::open(dir)?;
    if !run.cfg.policy.searches() {
        return Err(Error::usage(format!("{}: a training run has one architecture; rank a search run", dir.display())));
    }
    Ok(run)
}

/// Mean stand-alone test accuracy of `train` runs of the architecture with this structure hash,
/// each trained with the table's budget: a retrain with another is refused, naming the
/// difference (a 1-epoch retrain is no measure against a 2-epoch table).
fn retrained_accuracy(dir: &Path, hash: &str, rows: &[TableRow], table: &Path) -> Result<Option<f64>, Error> {
    let Some(budget) = rows.iter().find_map(|r| r.budget.clone()) else {
        let why = "records no training budget, so no retrain can be compared with it; rebuild it with `bench table`";
        return Err(Error::usage(format!("{}: the table {why}", table.display())));
    };
    let entries = ledger::read_folder(dir)?;
    let mine: Vec<_> =
        entries.iter().filter(|e| e.kind == lightnasc::search::config::RunKind::Train && e.arch_hash == hash).collect();
    if let Some(b) = ranking::one_budget(mine.iter().copied())?.filter(|b| *b != budget) {
        let d = b.difference(&budget);
        let runs: Vec<&str> = mine.iter().map(|e| e.run.as_str()).collect();
        return Err(Error::usage(format!(
            "{}: retrained with {d} (the table's budget); retrain it so",
            runs.join(", ")
        )));
    }
    let accs: Vec<f64> = mine.iter().filter_map(|e| e.test_accuracy).collect();
    Ok((!accs.is_empty()).then(|| accs.iter().sum::<f64>() / accs.len() as f64))
}

fn text(r: &Ranking) -> String {
    let mut o = String::new();
    let f = |v: Option<f64>| v.map_or("undefined".to_string(), |v| format!("{v:.3}"));
    let _ = writeln!(
        o,
        "{} against {} ({} architectures, batch norm: {:?})",
        r.run, r.table, r.architectures, r.batch_norm
    );
    let _ = writeln!(
        o,
        "Kendall's tau-b {} (stand-alone test), {} (validation); Spearman's rho {}; top-5 overlap {}/5",
        f(r.kendall_tau_b),
        f(r.kendall_tau_b_val),
        f(r.spearman_rho),
        r.top5_overlap
    );
    let spread = |v: &[f64]| {
        let (lo, hi) = v.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        format!("{:.3} to {:.3}", lo, hi)
    };
    let _ = writeln!(o, "shared-weight validation accuracies: {}", spread(&r.shared_weight_accuracy));
    let j = &r.result;
    let pp = |v: Option<f64>| v.map_or("unknown".to_string(), |v| format!("{v:.2} pp"));
    let _ = writeln!(
        o,
        "result: {} ({:.2}M OPs; {}): stand-alone test accuracy {}",
        j.arch,
        j.ops / 1e6,
        if j.in_table { "in the table" } else { "not in the table" },
        j.accuracy.map_or("unknown (retrain it and pass --retrained)".to_string(), |a| format!("{a:.4}"))
    );
    let _ = writeln!(
        o,
        "objective regret {}, accuracy regret {} (best by the run's objective: {})",
        pp(j.objective_regret_pp),
        pp(j.accuracy_regret_pp),
        j.best_by_objective
    );
    if let Some(sd) = r.trust.regret_sd_pp {
        let _ = writeln!(o, "(a regret read off this table has a standard deviation of {sd:.2} pp from its seeds)");
    }
    o.push_str(&trust_text(&r.trust));
    o
}

/// The trust table: every tau with its interval, over all rows and within cost groups.
fn trust_text(t: &Trust) -> String {
    let mut o = String::new();
    if let Some(n) = &t.noise {
        let _ = writeln!(
            o,
            "the table: {} seeds a row, per-run sd {:.2} pp, real sd between rows {:.2} pp; {} cost groups of {} rows",
            n.seeds,
            n.per_run_sd * 100.0,
            n.between_rows_sd * 100.0,
            t.groups,
            t.group_size
        );
    }
    if t.noise.is_none() {
        o.push_str("the table has fewer than 2 seeds a row (or unequal seeds): no ceiling can be measured\n");
    }
    let ci = |i: &Option<Interval>| {
        i.map_or("undefined (all tied)".to_string(), |i| format!("{:.3} [{:.2}, {:.2}]", i.value, i.low, i.high))
    };
    o.push_str("tau-b against the table    all rows [95%]           within cost groups [95%]\n");
    let mut line = |name: &str, tau: &Tau| {
        let _ = writeln!(o, "{name:<26} {:<24} {}", ci(&tau.all), ci(&tau.within_groups));
    };
    if let Some(s) = &t.seed_vs_seed {
        line("seed vs seed", s);
    }
    if let Some(p) = &t.perfect_scorer {
        line("perfect scorer (sim.)*", p);
    }
    for (name, tau) in &t.scorers {
        line(name, tau);
    }
    if t.perfect_scorer.is_some() {
        o.push_str("* simulated tables with this noise: mean [5%, 95%]\n");
    }
    o.push_str(&margins_text(t));
    o
}

/// What a held-out seed of the table, and then each scorer, shows over each proxy, resampled
/// together with it.
fn margins_text(t: &Trust) -> String {
    let mut o = String::new();
    let signed = |i: &Option<Interval>| {
        i.map_or("undefined".to_string(), |i| format!("{:+.3} [{:+.2}, {:+.2}]", i.value, i.low, i.high))
    };
    let mut block = |title: &str, over: &[(String, Tau)]| {
        let _ = writeln!(o, "{title} minus each proxy, resampled together (above it where the interval is above 0):");
        for (name, tau) in over {
            let _ = writeln!(o, "  {name:<24} {:<24} {}", signed(&tau.all), signed(&tau.within_groups));
        }
    };
    if !t.seed_margins.is_empty() {
        block("a held-out seed (one stand-alone training each)", &t.seed_margins);
    }
    for m in &t.margins {
        block(&m.scorer, &m.over);
    }
    o
}

/// `bench compare`: each search kind's results against random search's, by seed, on the runs'
/// own objective as the table measures it.
pub fn compare(args: &CompareArgs) -> ExitCode {
    let policies = match compared(args) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    if args.format == Format::Json {
        super::emit(&format!("{}\n", serde_json::to_string_pretty(&policies).expect("serialises")));
        return ExitCode::SUCCESS;
    }
    let mut o = format!(
        "results judged against {} (stand-alone test accuracy; regret on each run's objective)\n",
        args.table.display()
    );
    let _ = writeln!(
        o,
        "{:<10} {:>5} {:>6} {:>8}   {:<24} vs random: regret diff, wins-losses, p (paired t), p (sign)",
        "policy", "seeds", "judged", "mean acc", "objective regret [95%]"
    );
    for p in &policies {
        let acc: Vec<f64> = p.accuracy.values().copied().collect();
        let regret =
            p.mean_regret_pp.map_or("undefined".into(), |i| format!("{:.2} pp [{:.2}, {:.2}]", i.value, i.low, i.high));
        let mean_acc = if acc.is_empty() { "-".into() } else { format!("{:.4}", lightnasc::stats::mean(&acc)) };
        let _ = write!(o, "{:<10} {:>5} {:>6} {mean_acc:>8}   {regret:<24}", p.kind.name(), p.seeds, acc.len());
        if let Some(d) = &p.against_random {
            let _ = write!(o, " {:+.2} pp, {}-{}, {:.3}, {:.3}", d.mean, d.wins, d.losses, d.p_t, d.p_sign);
        }
        o.push('\n');
    }
    super::emit(&o);
    ExitCode::SUCCESS
}

/// Every search in the folder's ledger (the last run of each kind and seed), judged.
fn compared(args: &CompareArgs) -> Result<Vec<compare::PolicyResults>, Error> {
    let rows = ranking::read_table(&args.table)?;
    let entries = ledger::read_folder(&args.runs)?;
    let mut last: BTreeMap<(RunKind, u64), &ledger::Entry> = BTreeMap::new();
    for e in entries.iter().filter(|e| e.kind != RunKind::Train) {
        last.insert((e.kind, e.seed), e);
    }
    if last.is_empty() {
        return Err(Error::usage(format!("{}: no searches in its ledger", args.runs.display())));
    }
    let outcomes = last
        .into_iter()
        .map(|((kind, seed), e)| {
            let j = judged(&search_run(Path::new(&e.run))?, &rows, &args.table, Some(&args.runs))?;
            Ok(compare::Outcome { kind, seed, accuracy: j.accuracy, regret_pp: j.objective_regret_pp })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(compare::compare(&outcomes))
}

/// `bench ceiling`: what a table can resolve, without a run.
pub fn ceiling(args: &CeilingArgs) -> ExitCode {
    let rows = match ranking::read_table(&args.table) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let t = trust::analyse(&rows, &[], args.group_size as usize);
    match args.format {
        Format::Json => super::emit(&format!("{}\n", serde_json::to_string_pretty(&t).expect("serialises"))),
        Format::Text => {
            super::emit(&format!("{}: {} architectures\n{}", args.table.display(), rows.len(), trust_text(&t)))
        }
    }
    ExitCode::SUCCESS
}

/// The rows `bench table` writes: the ledgers' (only the complete ones with --complete-rows),
/// joined to --extend's table.
fn table_rows(args: &TableArgs) -> Result<Vec<TableRow>, Error> {
    let mut entries = vec![];
    for dir in &args.runs {
        entries.extend(ledger::read_folder(dir)?);
    }
    let mut rows = ranking::table_from_ledger(&entries)?;
    if rows.is_empty() {
        let dirs: Vec<String> = args.runs.iter().map(|d| d.display().to_string()).collect();
        return Err(Error::usage(format!("{}: no `train` runs in their ledgers", dirs.join(", "))));
    }
    if args.complete_rows {
        let (full, partial) = ranking::complete_rows(rows);
        for p in &partial {
            eprintln!("left out (seeds {:?} of {:?}): {}", p.seeds, full[0].seeds, p.arch);
        }
        rows = full;
    }
    match &args.extend {
        Some(old) => ranking::extend_table(ranking::read_table(old)?, rows),
        None => Ok(rows),
    }
}

pub fn table(args: &TableArgs) -> ExitCode {
    let rows = match table_rows(args) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let mut text = String::new();
    for r in &rows {
        text.push_str(&serde_json::to_string::<TableRow>(r).expect("serialises"));
        text.push('\n');
    }
    if let Err(e) = lightnasc::util::write_atomic(&args.output, text.as_bytes()) {
        return fail(format!("{}: {e}", args.output.display()));
    }
    let spread: Vec<f64> = rows.iter().map(TableRow::seed_spread).collect();
    let accs: Vec<f64> = rows.iter().map(|r| r.test_accuracy).collect();
    let (lo, hi) = accs.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    eprintln!(
        "{}: {} architectures; test accuracy {:.4} to {:.4} across them; seed spread (max - min) mean {:.4}, max {:.4}",
        args.output.display(),
        rows.len(),
        lo,
        hi,
        spread.iter().sum::<f64>() / spread.len().max(1) as f64,
        spread.iter().copied().fold(0.0, f64::max)
    );
    eprint!("{}", trust_text(&trust::analyse(&rows, &[], args.group_size as usize)));
    ExitCode::SUCCESS
}
