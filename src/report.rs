//! `lightnasc report`: what runs found and how honest their numbers are. For each run (search,
//! random baseline, or `train`): the argmax architecture and a block summary per epoch, the
//! shared-weight validation accuracy, test accuracy, OPs, params and latency of the result, wall
//! time and device. Over the `train` runs that came from a search, the rank correlation (Kendall's
//! tau-b) between shared-weight and stand-alone accuracy: does the supernet rank architectures
//! the way training them alone does? Markdown, JSON, CSV, and an SVG of accuracy against OPs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::ir::cost::total;
use crate::ir::decisions::Decisions;
use crate::ir::pin::pin;
use crate::ledger::{self, Entry};
use crate::search::RunError;
use crate::search::config::RunKind;
use crate::search::run::Run;
use crate::stats::kendall_tau_b;

#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    pub run: String,
    pub kind: RunKind,
    pub space: String,
    pub device: Option<String>,
    pub wall_seconds: f64,
    pub epochs: Vec<EpochRow>,
    pub result: Option<ResultRow>,
    /// `train` runs: accuracy with the source search's shared weights, before training.
    pub shared_weight_accuracy: Option<f64>,
    /// The run against a ranking table (`bench ranking --save` writes `ranking.json`).
    pub ranking: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Serialize)]
pub struct EpochRow {
    pub epoch: u32,
    /// Option index per decision, as a string (`0110...`).
    pub argmax: String,
    /// Options taken, counted per kind of choice (`keep=full` -> 3): the block summary.
    pub blocks: BTreeMap<String, usize>,
    pub val_accuracy: f64,
    pub test_accuracy: Option<f64>,
    pub ops: f64,
    pub params: u64,
    pub latency: f64,
    /// The controller's entropy along the argmax (ENAS runs).
    pub entropy: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ResultRow {
    pub arch_hash: String,
    pub val_accuracy: f64,
    pub test_accuracy: Option<f64>,
    pub ops: f64,
    pub params: u64,
    pub latency: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Correlation {
    /// Architectures with both numbers.
    pub n: usize,
    /// Kendall's tau-b between shared-weight and stand-alone validation accuracy.
    pub kendall_tau_val: Option<f64>,
    /// The same against stand-alone test accuracy.
    pub kendall_tau_test: Option<f64>,
    pub points: Vec<(String, f64, f64, Option<f64>)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub runs: Vec<RunReport>,
    pub correlation: Correlation,
    /// Runs left out because they could not be read, with why.
    pub skipped: Vec<Skipped>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Skipped {
    pub run: String,
    pub why: String,
}

/// Read runs (each a run folder) into a report; the ledger beside each supplies wall time and
/// device for finished runs. A run flagged `true` that cannot be read (one killed before its
/// first checkpoint, a damaged file) is left out and listed in `skipped`, as TensorBoard skips a
/// broken run of a folder; one flagged `false` (named by the user) fails the report.
pub fn build(dirs: &[(&Path, bool)]) -> Result<Report, RunError> {
    let (mut runs, mut skipped) = (vec![], vec![]);
    for &(dir, skip_broken) in dirs {
        match one_run(dir) {
            Ok(r) => runs.push(r),
            Err(e) if skip_broken => skipped.push(Skipped { run: dir.display().to_string(), why: e.to_string() }),
            Err(e) => return Err(e),
        }
    }
    // Several results for one architecture (shards rerun, duplicates): each run counts once.
    let mut points = vec![];
    for r in &runs {
        if let (Some(sw), Some(res)) = (r.shared_weight_accuracy, &r.result) {
            points.push((r.run.clone(), sw, res.val_accuracy, res.test_accuracy));
        }
    }
    let xs: Vec<f64> = points.iter().map(|p| p.1).collect();
    let val: Vec<f64> = points.iter().map(|p| p.2).collect();
    let test: Option<Vec<f64>> = points.iter().map(|p| p.3).collect();
    let correlation = Correlation {
        n: points.len(),
        kendall_tau_val: kendall_tau_b(&xs, &val),
        kendall_tau_test: test.and_then(|t| kendall_tau_b(&xs, &t)),
        points,
    };
    Ok(Report { runs, correlation, skipped })
}

fn one_run(dir: &Path) -> Result<RunReport, RunError> {
    let run = Run::open(dir)?;
    let g = &run.graph;
    let decisions = Decisions::of(g);
    let folder = ledger::path_for(dir).parent().map(Path::to_path_buf).unwrap_or_default();
    let entry: Option<Entry> = ledger::read_folder(&folder).ok().and_then(|all| {
        let canon = std::fs::canonicalize(dir).ok();
        all.into_iter().rev().find(|e| std::fs::canonicalize(&e.run).ok() == canon)
    });
    let mut epochs = vec![];
    for rec in &run.state.history {
        let a = decisions.assignment(&rec.argmax);
        let arch = pin(g, &a)?;
        let cost = total(&arch);
        let mut blocks = BTreeMap::new();
        for (c, o) in a.settings(g) {
            let kind = c.rsplit('.').next().unwrap_or(&c).to_string();
            *blocks.entry(format!("{kind}={o}")).or_insert(0) += 1;
        }
        epochs.push(EpochRow {
            epoch: rec.epoch,
            argmax: rec.argmax.iter().map(u32::to_string).collect(),
            blocks,
            val_accuracy: rec.val_accuracy,
            test_accuracy: rec.test_accuracy,
            ops: cost.ops(),
            params: cost.params,
            latency: rec.latency,
            entropy: rec.entropy,
        });
    }
    let result = epochs.last().map(|last| {
        let arch = pin(g, &decisions.assignment(&run.state.history.last().expect("has epochs").argmax));
        ResultRow {
            arch_hash: arch.map(|a| ledger::structure_hash(&a)).unwrap_or_default(),
            val_accuracy: last.val_accuracy,
            test_accuracy: last.test_accuracy,
            ops: last.ops,
            params: last.params,
            latency: last.latency,
        }
    });
    Ok(RunReport {
        run: dir.display().to_string(),
        kind: run.cfg.policy.run_kind(),
        space: g.name.clone(),
        device: entry.as_ref().map(|e| e.device.clone()),
        wall_seconds: entry.map_or_else(|| run.state.history.iter().map(|r| r.seconds).sum(), |e| e.wall_seconds),
        epochs,
        result,
        shared_weight_accuracy: run.state.shared_weight_accuracy,
        ranking: std::fs::read_to_string(dir.join("ranking.json")).ok().and_then(|t| serde_json::from_str(&t).ok()),
    })
}

fn pct(v: f64) -> String {
    format!("{:.2}%", v * 100.0)
}

pub fn markdown(r: &Report) -> String {
    let mut s = String::from("# lightnasc report\n");
    for run in &r.runs {
        let _ = writeln!(s, "\n## {} ({}, space `{}`)\n", run.run, run.kind, run.space);
        let _ = writeln!(
            s,
            "Wall time {:.0} s on {}.",
            run.wall_seconds,
            run.device.as_deref().unwrap_or("an unrecorded device (unfinished run)")
        );
        if let Some(sw) = run.shared_weight_accuracy {
            let _ = writeln!(s, "Shared-weight validation accuracy before training: {}.", pct(sw));
        }
        if let Some(res) = &run.result {
            let latency =
                if run.kind == RunKind::Train { String::new() } else { format!(", latency {:.3}", res.latency) };
            let _ = writeln!(
                s,
                "Result `{}`: {} params, {:.3}M OPs{latency}, validation {}{}.",
                res.arch_hash,
                res.params,
                res.ops / 1e6,
                pct(res.val_accuracy),
                res.test_accuracy.map_or(String::new(), |t| format!(", test {}", pct(t)))
            );
        }
        if let Some(r) = &run.ranking {
            let num = |k: &str| r[k].as_f64().map_or("undefined".to_string(), |v| format!("{v:.3}"));
            let pp = |k: &str| r["result"][k].as_f64().map_or("unknown".to_string(), |v| format!("{v:.2} pp"));
            let _ = writeln!(
                s,
                "Against the ranking table `{}` ({} architectures): Kendall's tau-b {}, Spearman's rho {}, \
                 top-5 overlap {}/5; objective regret {}, accuracy regret {}.",
                r["table"].as_str().unwrap_or("?"),
                r["architectures"],
                num("kendall_tau_b"),
                num("spearman_rho"),
                r["top5_overlap"],
                pp("objective_regret_pp"),
                pp("accuracy_regret_pp")
            );
        }
        if run.kind == RunKind::Train {
            continue; // one architecture: its epochs have no argmax to show
        }
        let _ = writeln!(
            s,
            "\n| epoch | argmax | blocks | val acc | test acc | OPs | params | entropy |\n|---|---|---|---|---|---|---|---|"
        );
        for e in &run.epochs {
            let blocks: Vec<String> = e.blocks.iter().map(|(k, v)| format!("{k} {v}")).collect();
            let _ = writeln!(
                s,
                "| {} | `{}` | {} | {} | {} | {:.3}M | {} | {} |",
                e.epoch,
                e.argmax,
                blocks.join(", "),
                pct(e.val_accuracy),
                e.test_accuracy.map_or("-".into(), pct),
                e.ops / 1e6,
                e.params,
                e.entropy.map_or("-".into(), |h| format!("{h:.2}"))
            );
        }
    }
    let c = &r.correlation;
    let _ = writeln!(s, "\n## Shared-weight vs stand-alone accuracy\n");
    if c.n == 0 {
        let _ = writeln!(s, "No `train` runs from a search were given.");
    } else {
        let tau = |t: Option<f64>| t.map_or("undefined".to_string(), |t| format!("{t:.3}"));
        let _ = writeln!(
            s,
            "Kendall's tau-b over {} retrained architectures: {} (validation), {} (test).\n",
            c.n,
            tau(c.kendall_tau_val),
            tau(c.kendall_tau_test)
        );
        let _ = writeln!(s, "| run | shared-weight val | stand-alone val | stand-alone test |\n|---|---|---|---|");
        for (run, sw, val, test) in &c.points {
            let _ = writeln!(s, "| {run} | {} | {} | {} |", pct(*sw), pct(*val), test.map_or("-".into(), pct));
        }
    }
    s
}

/// One CSV per run: a row per epoch, a column per block-summary count.
pub fn epochs_csv(run: &RunReport) -> String {
    let keys: std::collections::BTreeSet<&String> = run.epochs.iter().flat_map(|e| e.blocks.keys()).collect();
    let mut s = String::from("epoch,argmax,val_accuracy,test_accuracy,ops,params,latency");
    for k in &keys {
        let _ = write!(s, ",{k}");
    }
    s.push('\n');
    for e in &run.epochs {
        let _ = write!(
            s,
            "{},{},{},{},{},{},{}",
            e.epoch,
            e.argmax,
            e.val_accuracy,
            e.test_accuracy.map_or(String::new(), |t| t.to_string()),
            e.ops,
            e.params,
            e.latency
        );
        for k in &keys {
            let _ = write!(s, ",{}", e.blocks.get(*k).copied().unwrap_or(0));
        }
        s.push('\n');
    }
    s
}

/// Accuracy against OPs for every architecture evaluated: each search epoch's argmax
/// (shared-weight validation accuracy) and each retrained architecture (stand-alone test
/// accuracy, else validation).
pub fn plot_svg(r: &Report) -> String {
    let mut pts: Vec<(f64, f64, RunKind)> = vec![];
    for run in &r.runs {
        match run.kind {
            RunKind::Train => {
                if let Some(res) = &run.result {
                    pts.push((res.ops, res.test_accuracy.unwrap_or(res.val_accuracy), RunKind::Train));
                }
            }
            kind => pts.extend(run.epochs.iter().map(|e| (e.ops, e.val_accuracy, kind))),
        }
    }
    let (w, h, m) = (640.0, 420.0, 60.0);
    let xmin = pts.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let xmax = pts.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
    let (xmin, xmax) = if pts.is_empty() {
        (0.0, 1.0)
    } else if xmax > xmin {
        (xmin, xmax)
    } else {
        (xmin * 0.9, xmax * 1.1 + 1.0)
    };
    let ymax = pts.iter().map(|p| p.1).fold(0.0, f64::max).clamp(0.1, 1.0);
    let sx = |x: f64| m + (x - xmin) / (xmax - xmin) * (w - 2.0 * m);
    let sy = |y: f64| h - m - y / ymax * (h - 2.0 * m);
    let color = RunKind::colour;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>\n"
    );
    let _ = writeln!(s, "<line x1=\"{m}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>", h - m, w - m, h - m);
    let _ = writeln!(s, "<line x1=\"{m}\" y1=\"{m}\" x2=\"{m}\" y2=\"{}\" stroke=\"black\"/>", h - m);
    for i in 0..=4 {
        let xv = xmin + (xmax - xmin) * i as f64 / 4.0;
        let yv = ymax * i as f64 / 4.0;
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{:.3}M</text>",
            sx(xv),
            h - m + 18.0,
            xv / 1e6
        );
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{:.0}%</text>",
            m - 6.0,
            sy(yv) + 4.0,
            yv * 100.0
        );
    }
    let _ =
        writeln!(s, "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">OPs (FLOPs + BOPs/64)</text>", w / 2.0, h - 15.0);
    let _ = writeln!(
        s,
        "<text x=\"15\" y=\"{}\" transform=\"rotate(-90 15 {})\" text-anchor=\"middle\">accuracy</text>",
        h / 2.0,
        h / 2.0
    );
    for (x, y, k) in &pts {
        let _ = writeln!(
            s,
            "<circle class=\"{k}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{}\" fill-opacity=\"0.8\"/>",
            sx(*x),
            sy(*y),
            color(*k)
        );
    }
    for (i, k) in RunKind::ALL.into_iter().enumerate() {
        let y = m + 16.0 * i as f64;
        let _ = writeln!(
            s,
            "<circle cx=\"{}\" cy=\"{y}\" r=\"4\" fill=\"{}\"/><text x=\"{}\" y=\"{}\">{}</text>",
            w - m - 110.0,
            color(k),
            w - m - 100.0,
            y + 4.0,
            k.label()
        );
    }
    s.push_str("</svg>\n");
    s
}
