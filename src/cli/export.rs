//! `lightnasc export`: one architecture with its weights (a run's, or random) as ONNX, as an
//! MXNet symbol/params pair, and as trainable latent weights.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use burn::backend::Flex;
use lightnasc::back::mxnet;
use lightnasc::export::{ModelFormat, Preprocess, write_model};
use lightnasc::ir::Graph;
use lightnasc::ir::store::WeightStore;
use lightnasc::net::Supernet;
use lightnasc::search::run::Run;

use super::{ExportArgs, ExportFormat, fail};

pub fn run(args: &ExportArgs) -> ExitCode {
    match export(args) {
        Ok(paths) => {
            for p in paths {
                eprintln!("wrote {}", p.display());
            }
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

fn export(args: &ExportArgs) -> Result<Vec<PathBuf>, ExitCode> {
    if args.source.is_dir() {
        return export_run(args);
    }
    if args.fold_normalization {
        return Err(fail("--fold-normalization takes a run folder (its data says how to normalise)"));
    }
    if args.epoch.is_some() || args.best {
        return Err(fail("--epoch and --best take a run folder"));
    }
    let checked = super::checked(&args.source, &args.space, args.pin.as_ref())?;
    let Some((a, _)) = checked.pinned else {
        return Err(fail(format!(
            "{} is a search space: export one architecture of it with --pin (a pin file, random[:SEED], name=option,...)",
            args.source.display()
        )));
    };
    let space = checked.space;
    let stem = args.source.file_stem().map_or("model".into(), |s| s.to_string_lossy().into_owned());
    // A `-latent.params` file (our trainable export) is a weight store already.
    if let Some(file) = args.weights.as_ref().filter(|p| p.is_file()) {
        let bytes = std::fs::read(file).map_err(|e| fail(format!("{}: {e}", file.display())))?;
        let arrays = mxnet::read_params(&bytes).map_err(|e| fail(format!("{}: {e}", file.display())))?;
        let store = WeightStore { tensors: arrays.into_iter().collect() };
        let pinned = lightnasc::ir::pin::pin(&space, &a).map_err(|e| fail(e.message))?;
        return write_all(args, &pinned, store, Path::new("runs/export").join(stem), None);
    }
    let device = Default::default();
    let net = match &args.weights {
        Some(dir) => {
            let run = Run::open(dir).map_err(fail)?;
            if run.graph.choices.iter().map(|c| &c.name).ne(space.choices.iter().map(|c| &c.name)) {
                return Err(fail(format!("{}: its space is not {}'s", dir.display(), args.source.display())));
            }
            let mut net = Supernet::<Flex>::new(space.clone(), args.seed, &device);
            run.load_weights_into(&mut net, &device).map_err(fail)?;
            net
        }
        None => Supernet::<Flex>::new(space.clone(), args.seed, &device),
    };
    let fixed = net.extract(&a).map_err(|e| fail(e.message))?;
    write_all(args, &fixed.plan.graph, fixed.to_store(), Path::new("runs/export").join(stem), None)
}

/// A run's architecture (its last epoch's, `--epoch`'s or `--best`'s) with its weights; a
/// search's path with its batch norm recalibrated.
fn export_run(args: &ExportArgs) -> Result<Vec<PathBuf>, ExitCode> {
    let device = Default::default();
    let run = Run::open(&args.source).map_err(fail)?;
    let (epoch, a) = run.architecture(args.epoch, args.best).map_err(fail)?;
    weights_of(&run, epoch, args.latest_weights)?;
    let path = run.supernet::<Flex>(&device).map_err(fail)?.extract(&a).map_err(|e| fail(e.message))?;
    super::infer::recalibrate(&run, &path, args.calibration_batches, &device).map_err(fail)?;
    let pre = run.cfg.preprocess(args.fold_normalization);
    let out = run.dir.join("export").join(format!("epoch-{epoch:03}"));
    write_all(args, &path.plan.graph, path.to_store(), out, Some(&pre))
}

/// Whether the run's weights are epoch `epoch`'s (a run keeps one checkpoint, its latest), or the
/// user took the latest for an earlier epoch's architecture; a search's are shared weights.
fn weights_of(run: &Run, epoch: u32, latest: bool) -> Result<(), ExitCode> {
    let last = run.state.history.last().map_or(0, |r| r.epoch);
    if epoch != last && !latest {
        return Err(fail(format!(
            "{}: epoch {epoch}'s weights are not kept (a run keeps one checkpoint, after epoch {last}); \
             --latest-weights exports epoch {epoch}'s architecture with epoch {last}'s weights",
            run.dir.display()
        )));
    }
    if epoch != last {
        eprintln!("note: epoch {epoch}'s architecture with epoch {last}'s weights (--latest-weights)");
    }
    Ok(())
}

/// Write the formats asked for under the output prefix.
fn write_all(
    args: &ExportArgs,
    g: &Graph,
    store: WeightStore,
    default_out: PathBuf,
    pre: Option<&Preprocess>,
) -> Result<Vec<PathBuf>, ExitCode> {
    let formats = match args.format {
        ExportFormat::Onnx => vec![ModelFormat::Onnx],
        ExportFormat::Mxnet => vec![ModelFormat::Mxnet],
        ExportFormat::Params => vec![ModelFormat::Params],
        ExportFormat::All => vec![ModelFormat::Onnx, ModelFormat::Mxnet, ModelFormat::Params],
    };
    write_model(&args.output.clone().unwrap_or(default_out), &formats, g, &store, pre).map_err(fail)
}
