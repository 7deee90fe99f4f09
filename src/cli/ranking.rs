//! `lightnasc bench ranking` and `lightnasc bench table`: a search run against a ranking table.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use lightnasc::error::Error;
use lightnasc::ir::cost::total;
use lightnasc::ir::pin::pin;
use lightnasc::ledger;
use lightnasc::net::device::{DeviceArg, run_on};
use lightnasc::ranking::{self, Ranking, RankingJob, TableRow};
use lightnasc::search::latency::LatencyTable;
use lightnasc::search::run::Run;

use super::{Format, RankingArgs, TableArgs, fail};
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
    let mut rows = ranking::read_table(&args.table)?;
    if let Some(n) = args.limit.filter(|&n| n < rows.len()) {
        rows = ranking::spread_subset(&rows, n.max(2));
    }
    let run = Run::open(&args.run)?;
    if !run.cfg.policy.searches() {
        return Err(Error::usage(format!(
            "{}: a training run has one architecture; rank a search run",
            args.run.display()
        )));
    }
    for r in &rows {
        ranking::assignment(&run.graph, &r.arch).at(&args.table)?;
    }
    let options = lightnasc::ir::decisions::Decisions::of(&run.graph).options;
    let latency = LatencyTable::read(&args.run.join("latency.json"), &options)?;
    let (_, result) = run.architecture(None, false)?;
    let result_graph = pin(&run.graph, &result)?;
    let result_arch: String =
        result.settings(&run.graph).iter().map(|(c, o)| format!("{c}={o}")).collect::<Vec<_>>().join(",");
    let retrained = match &args.retrained {
        Some(dir) => retrained_accuracy(dir, &ledger::structure_hash(&result_graph))?,
        None => None,
    };

    let cfg = run.cfg.clone();
    let splits = lightnasc::data::load(&cfg.data, cfg.data_dir.as_deref(), cfg.seed)?;
    let (train, val) = lightnasc::search::split_training(&cfg, splits.train)?;
    let device: DeviceArg = cfg.device.parse::<DeviceArg>().map_err(Error::usage)?.main();
    let graph = run.graph.clone();
    let job =
        RankingJob { run, rows: rows.clone(), train: Arc::new(train), val: Arc::new(val), batch_norm: args.batch_norm };
    let shared = run_on(&device, job)??;

    let (tau, tau_val, rho, top5) = ranking::statistics(&rows, &shared);
    let reward = ranking::reward_fn(&cfg, &graph, &latency);
    let judgement = ranking::judge(&rows, (&result_arch, total(&result_graph).ops(), retrained), &reward);
    Ok(Ranking {
        run: args.run.display().to_string(),
        table: args.table.display().to_string(),
        batch_norm: args.batch_norm.unwrap_or(cfg.scoring.batch_norm),
        architectures: rows.len(),
        shared_weight_accuracy: shared,
        kendall_tau_b: tau,
        kendall_tau_b_val: tau_val,
        spearman_rho: rho,
        top5_overlap: top5,
        result: judgement,
    })
}

/// Mean stand-alone test accuracy of `train` runs of the architecture with this structure hash.
fn retrained_accuracy(dir: &std::path::Path, hash: &str) -> Result<Option<f64>, Error> {
    let entries = ledger::read_folder(dir)?;
    let accs: Vec<f64> = entries
        .iter()
        .filter(|e| e.kind == lightnasc::search::config::RunKind::Train && e.arch_hash == hash)
        .filter_map(|e| e.test_accuracy)
        .collect();
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
    o
}

pub fn table(args: &TableArgs) -> ExitCode {
    let rows = match ledger::read_folder(&args.runs).map_err(Error::from).and_then(|e| ranking::table_from_ledger(&e)) {
        Ok(r) if r.is_empty() => return fail(format!("{}: no `train` runs in its ledger", args.runs.display())),
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
    ExitCode::SUCCESS
}
