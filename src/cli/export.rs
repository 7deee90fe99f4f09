//! `lightnasc export`: one architecture with its weights (a run's, or random) as ONNX.

use std::path::PathBuf;
use std::process::ExitCode;

use burn::backend::Flex;
use lightnasc::back::onnx;
use lightnasc::check::check_path;
use lightnasc::net::Supernet;
use lightnasc::search::run::Run;

use super::{ExportArgs, ExportFormat};

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(1)
}

pub fn run(args: &ExportArgs) -> ExitCode {
    if args.format != ExportFormat::Onnx {
        let name = if args.format == ExportFormat::Mxnet { "mxnet" } else { "params" };
        eprintln!("error: `--format {name}` is not built yet (tracked in issue 5); `--format onnx` is");
        return ExitCode::from(3);
    }
    match export(args) {
        Ok(path) => {
            eprintln!("wrote {}", path.display());
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

fn export(args: &ExportArgs) -> Result<PathBuf, ExitCode> {
    let device = Default::default();
    let (net, a, default_out) = if args.source.is_dir() {
        let run = Run::open(&args.source).map_err(fail)?;
        let (epoch, a) = run.architecture(args.epoch, args.best).map_err(fail)?;
        let net = run.supernet::<Flex>(&device).map_err(fail)?;
        (net, a, run.dir.join("export").join(format!("epoch-{epoch:03}.onnx")))
    } else {
        if args.epoch.is_some() || args.best {
            return Err(fail("--epoch and --best take a run folder"));
        }
        let outcome = check_path(&args.source, &args.space.args(), args.space.space.as_deref(), args.pin.as_ref());
        if !outcome.diags.is_empty() {
            super::print_diagnostics(&outcome, &args.source, super::use_color(super::Color::Auto));
            return Err(ExitCode::from(1));
        }
        let Some((a, _)) = outcome.pinned else {
            return Err(fail(format!(
                "{} is a search space: export one architecture of it with --pin (a pin file, random[:SEED], name=option,...)",
                args.source.display()
            )));
        };
        let space = outcome.space.expect("no diagnostics means a graph");
        let net = match &args.weights {
            Some(dir) => {
                let run = Run::open(dir).map_err(fail)?;
                if run.graph.choices.iter().map(|c| &c.name).ne(space.choices.iter().map(|c| &c.name)) {
                    return Err(fail(format!("{}: its space is not {}'s", dir.display(), args.source.display())));
                }
                run.supernet::<Flex>(&device).map_err(fail)?
            }
            None => Supernet::<Flex>::new(space.clone(), args.seed, &device),
        };
        let stem = args.source.file_stem().map_or("model".into(), |s| s.to_string_lossy().into_owned());
        (net, a, PathBuf::from(format!("{stem}.onnx")))
    };
    let fixed = net.extract(&a).map_err(|e| fail(e.message))?;
    let bytes = onnx::lower(&fixed.plan.graph, &fixed.to_store()).map_err(fail)?;
    let out = args.output.clone().unwrap_or(default_out);
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| fail(format!("{}: {e}", dir.display())))?;
    }
    lightnasc::util::write_atomic(&out, &bytes).map_err(|e| fail(format!("{}: {e}", out.display())))?;
    Ok(out)
}
