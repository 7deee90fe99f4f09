//! `lightnasc report`: read run folders and print (and write) what they found.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use lightnasc::report;

use super::{ReportArgs, ReportFormat, emit, fail};

pub fn run(args: &ReportArgs) -> ExitCode {
    let mut dirs: Vec<PathBuf> = vec![];
    for p in &args.runs {
        if p.join("config.yml").is_file() {
            dirs.push(p.clone());
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
            dirs.extend(inner);
        } else {
            return fail(format!("{}: not a run folder", p.display()));
        }
    }
    let refs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    let r = match report::build(&refs) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
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
