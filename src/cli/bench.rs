//! `lightnasc bench`: print a table (or JSON rows) of speeds with their ratio to the baseline.

use std::process::ExitCode;

use lightnasc::bench::{BenchRow, SupernetBench};
use lightnasc::net::device::{describe, run_on};

use super::{Format, SupernetBenchArgs};

pub fn supernet(args: &SupernetBenchArgs) -> ExitCode {
    let graph = match super::load_space(&args.spec, &args.space) {
        Ok(g) => g,
        Err(code) => return code,
    };
    let name = graph.name.clone();
    let job = SupernetBench {
        graph,
        batch: args.batch as usize,
        steps: args.steps as usize,
        warmup: args.warmup as usize,
        seed: args.seed,
    };
    let rows = match run_on(args.device, job) {
        Ok(Ok(rows)) => rows,
        Ok(Err(e)) | Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    match args.format {
        Format::Json => super::emit(&format!("{}\n", serde_json::to_string_pretty(&rows).unwrap())),
        Format::Text => super::emit(&table(&name, args, &rows)),
    }
    ExitCode::SUCCESS
}

fn table(name: &str, args: &SupernetBenchArgs, rows: &[BenchRow]) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "supernet training of `{name}` at batch {} on {}: {} timed steps after {} warm-up",
        args.batch,
        describe(args.device),
        args.steps,
        args.warmup
    );
    let _ = writeln!(
        o,
        "{:<44} {:>9} {:>9} {:>10} {:>13} {:>7}",
        "", "steps/s", "images/s", "ms/step", "peak RSS MiB", "ratio"
    );
    for r in rows {
        let rss = r.peak_rss_mib.map_or("-".into(), |m| format!("{m:.0}"));
        let _ = writeln!(
            o,
            "{:<44} {:>9.2} {:>9.1} {:>10.1} {:>13} {:>7.2}",
            r.what, r.steps_per_s, r.images_per_s, r.ms_per_step, rss, r.ratio
        );
    }
    o
}
