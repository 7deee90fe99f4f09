//! `lightnasc render`: a space, a pinned architecture, or a run's per-epoch architectures as
//! Graphviz DOT, or SVG/PNG/PDF through Graphviz's `dot`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use lightnasc::back::{dot, graphviz};
use lightnasc::check::Checked;
use lightnasc::ir::Graph;
use lightnasc::ir::pin::Assignment;
use lightnasc::search::run::Run;

use super::{RenderArgs, RenderFormat, fail};

fn ext(f: RenderFormat) -> &'static str {
    match f {
        RenderFormat::Dot => "dot",
        RenderFormat::Svg => "svg",
        RenderFormat::Png => "png",
        RenderFormat::Pdf => "pdf",
    }
}

pub fn run(args: &RenderArgs) -> ExitCode {
    let result = if args.source.is_dir() { run_folder(args) } else { one_file(args) };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

fn picture(checked: Checked) -> (Graph, Option<Assignment>, String) {
    let space = checked.space;
    match checked.pinned {
        Some((a, _)) => {
            let title = format!("{}: an architecture ({} decisions pinned)", space.name, space.choices.len());
            (space, Some(a), title)
        }
        None => {
            let title = format!(
                "{}: search space, {} decisions, {} architectures",
                space.name,
                space.choices.len(),
                space.space_size()
            );
            (space, None, title)
        }
    }
}

fn one_file(args: &RenderArgs) -> Result<(), ExitCode> {
    if args.all_epochs || args.epoch.is_some() {
        return Err(fail(format!("{}: --epoch and --all-epochs take a run folder", args.source.display())));
    }
    let (g, a, title) = picture(super::checked(&args.source, &args.space, args.pin.as_ref())?);
    let text = dot::render(&g, a.as_ref(), &title);
    let stem = args.source.file_stem().map_or("graph".into(), |s| s.to_string_lossy().into_owned());
    let out = match (&args.output, args.format) {
        (Some(o), _) => Some(o.clone()),
        (None, RenderFormat::Dot) => None,
        (None, f) => Some(PathBuf::from(format!("{stem}.{}", ext(f)))),
    };
    write(&text, args.format, out.as_deref())
}

/// Render a run's argmax architectures by epoch (a training run: the architecture it trains),
/// from the run's own copy of its spec.
fn run_folder(args: &RenderArgs) -> Result<(), ExitCode> {
    let run = Run::open(&args.source).map_err(fail)?;
    let last = run.state.history.last().map_or(0, |r| r.epoch);
    let epochs: Vec<u32> = match args.epoch {
        Some(n) => vec![run.architecture(Some(n), false).map_err(fail)?.0],
        None if !run.cfg.policy.searches() => vec![last],
        None if args.all_epochs => run.state.history.iter().map(|r| r.epoch).collect(),
        None => vec![run.architecture(None, false).map_err(fail)?.0],
    };
    let out_dir = match (&args.output, args.all_epochs) {
        (Some(o), true) => o.clone(),
        _ => args.source.join("renders"),
    };
    let mut evolution: Vec<(u32, Assignment)> = vec![];
    for epoch in epochs {
        // A training run's graph is its one architecture, already pinned.
        let (a, what) = match run.cfg.policy.searches() {
            false => (None, "the trained architecture".to_string()),
            true => (
                Some(run.architecture(Some(epoch), false).map_err(fail)?.1),
                format!("argmax architecture after epoch {epoch}"),
            ),
        };
        let text = dot::render(&run.graph, a.as_ref(), &format!("{}: {what}", run.graph.name));
        let out = match (&args.output, args.all_epochs, args.format) {
            (Some(o), false, _) => Some(o.clone()),
            (None, false, RenderFormat::Dot) => None,
            _ => Some(out_dir.join(format!("epoch-{epoch:03}.{}", ext(args.format)))),
        };
        write(&text, args.format, out.as_deref())?;
        if let Some(a) = a {
            evolution.push((epoch, a));
        }
    }
    if args.all_epochs && !evolution.is_empty() {
        let g = &run.graph;
        let text = dot::evolution(g, &evolution, &format!("{}: the argmax of each decision, epoch by epoch", g.name));
        write(&text, args.format, Some(&out_dir.join(format!("evolution.{}", ext(args.format)))))?;
    }
    Ok(())
}

/// Write DOT text (to stdout when `out` is `None`), or what Graphviz renders from it.
fn write(text: &str, format: RenderFormat, out: Option<&Path>) -> Result<(), ExitCode> {
    let bytes = match format {
        RenderFormat::Dot => text.as_bytes().to_vec(),
        f => {
            let r = graphviz::render(text, ext(f)).map_err(fail)?;
            for w in &r.warnings {
                eprintln!("warning: Graphviz: {w}");
            }
            if r.warnings.iter().any(|w| w.contains("too large")) {
                eprintln!("  help: --format svg or pdf draw it at full size (vector formats have no size limit)");
            }
            r.bytes
        }
    };
    match out {
        None => {
            super::emit(text);
            Ok(())
        }
        Some(p) => {
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| fail(format!("{}: {e}", dir.display())))?;
            }
            lightnasc::util::write_atomic(p, &bytes).map_err(|e| fail(format!("{}: {e}", p.display())))?;
            eprintln!("wrote {}", p.display());
            Ok(())
        }
    }
}
