//! `lightnasc report`: read run folders and print (and write) what they found.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use lightnasc::report;

use super::{ReportArgs, ReportFormat, emit, fail};

pub fn run(args: &ReportArgs) -> ExitCode {
    // Each run folder, and whether it was found in a folder of runs (then a broken one is skipped).
    let mut dirs: Vec<(PathBuf, bool)> = vec![];
    for p in &args.runs {
        if p.join("config.yml").is_file() {
            dirs.push((p.clone(), false));
        } else if p.is_dir() {
            // A folder of runs: every run folder in it, in name order.
            let mut inner: Vec<PathBuf> = match std::fs::read_dir(p) {
                Ok(rd) => {
                    rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|d| d.join("config.yml").is_file()).collect()
                }
                Err(e) => return fail(format!("{}: {e}", p.display())),
            };
            if inner.is_empty() {
                return fail(format!("{}: neither a run folder nor a folder of runs", p.display()));
            }
            inner.sort();
            dirs.extend(inner.into_iter().map(|d| (d, true)));
        } else {
            return fail(format!("{}: not a run folder", p.display()));
        }
    }
    let refs: Vec<(&Path, bool)> = dirs.iter().map(|(d, skip)| (d.as_path(), *skip)).collect();
    let r = match report::build(&refs) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    for s in &r.skipped {
        eprintln!("warning: skipped {}", s.why);
    }
    if r.runs.is_empty() {
        return fail("no run could be read (see the warnings above)");
    }
    let md = report::markdown(&r);
    let json = serde_json::to_string_pretty(&r).expect("serialises");
    if let Some(out) = &args.out {
        let mut files = vec![
            (out.join("report.md"), md.clone().into_bytes()),
            (out.join("report.json"), json.clone().into_bytes()),
            (out.join("accuracy_vs_ops.svg"), report::plot_svg(&r).into_bytes()),
        ];
        for run in r.runs.iter().filter(|run| !run.epochs.is_empty()) {
            let name = Path::new(&run.run).file_name().map_or("run".into(), |n| n.to_string_lossy().into_owned());
            files.push((out.join(format!("{name}-epochs.csv")), report::epochs_csv(run).into_bytes()));
        }
        if let Err(e) = std::fs::create_dir_all(out) {
            return fail(format!("{}: {e}", out.display()));
        }
        for (path, bytes) in files {
            if let Err(e) = lightnasc::util::write_atomic(&path, &bytes) {
                return fail(format!("{}: {e}", path.display()));
            }
        }
        eprintln!("wrote {}", out.display());
    }
    emit(&match args.format {
        ReportFormat::Markdown => md,
        ReportFormat::Json => json + "\n",
    });
    ExitCode::SUCCESS
}
