//! `lightnasc train`: train one architecture's fixed network from scratch (or from a search's
//! shared weights), with the run-folder conventions of `search`: config, checkpoints and resume,
//! TensorBoard, progress, the ledger, and the final model exported as ONNX and MXNet.

use std::path::PathBuf;
use std::process::ExitCode;

use lightnasc::check::{PinArg, check_path};
use lightnasc::error::Error;
use lightnasc::front::StdLib;
use lightnasc::ir::pin::{Assignment, pin_text};
use lightnasc::search::config::{Init, SearchConfig};
use lightnasc::search::run::{self, Run};

use super::search::{apply_overrides, create_run, device_of, launch, resolve, run_dir_for};
use super::{TrainArgs, fail};
use lightnasc::util::AtPath as _;

pub fn run(args: &TrainArgs) -> ExitCode {
    if args.run.resume.is_some() {
        if args.source.is_some() || args.pin.is_some() || args.epoch.is_some() || args.init.is_some() {
            return fail(
                "--resume continues a training run as it was set up; drop the source, --pin, --epoch and --init",
            );
        }
        // The source run's part (shared-weight score, start weights) was done at the start.
        return match resolve(&args.run, None).and_then(|(cfg, dir, _)| Ok((device_of(&cfg)?, cfg, dir))) {
            Ok((device, cfg, dir)) => launch(cfg, device, dir, true, &args.run, None),
            Err(e) => fail(e),
        };
    }
    match prepare(args) {
        Ok(Prepared { mut cfg, dir, space, arch, std }) => {
            let device = match device_of(&cfg) {
                Ok(d) => d,
                Err(e) => return fail(e), // before the run folder is made
            };
            let pin_args = cfg.pin_args(&space.node(space.input).name);
            // From a search run, the job scores (and may start from) the architecture there.
            let source_arch = cfg.source_run.is_some().then(|| arch.clone());
            let pin = |spec_ref: &str| pin_text(&space, &arch, spec_ref, &pin_args);
            if let Err(e) = create_run(&dir, &mut cfg, &std, Some(&pin)) {
                return fail(e);
            }
            launch(cfg, device, dir, false, &args.run, source_arch)
        }
        Err(e) => fail(e),
    }
}

/// A training run before its folder exists.
struct Prepared {
    /// Its config; `spec` is the space's spec until the run folder holds a copy.
    cfg: SearchConfig,
    dir: PathBuf,
    space: lightnasc::ir::Graph,
    arch: Assignment,
    /// Where the space's spec reads the standard library (a search run's own copy).
    std: StdLib,
}

/// The run's config, its folder, and the architecture in its space (from a search run, that
/// run's space).
fn prepare(args: &TrainArgs) -> Result<Prepared, Error> {
    let source = args
        .source
        .as_ref()
        .ok_or_else(|| Error::usage("give what to train: a pin file, a search run folder, or a spec with --pin"))?;
    let (mut cfg, space, a, space_spec, std, source_run) = if source.is_dir() {
        // A search run: its config (data, budget) is the default, its space the architecture's.
        let run = Run::open(source)?;
        if !run.cfg.policy.searches() {
            return Err(Error::usage(format!(
                "{} is a training run, not a search: train its architecture again with `lightnasc train {}`",
                source.display(),
                source.join("arch.lnas").display()
            )));
        }
        let a = match &args.pin {
            Some(p) => {
                let out = run::check_spec(&run.dir, &run.cfg, Some(p))?;
                out.pinned.ok_or_else(|| Error::usage(format!("{}: --pin gives no architecture", source.display())))?.0
            }
            None => run.architecture(args.epoch, false)?.1,
        };
        let mut cfg = run.cfg.clone();
        if let Some(c) = &args.run.config {
            cfg = SearchConfig::from_yaml_file(c)?;
            cfg.data = run.cfg.data.clone();
        }
        let spec = run.cfg.spec.clone().ok_or_else(|| Error::usage("the run has no spec"))?;
        let std = run.std();
        (cfg, run.graph, a, spec, std, Some(std::fs::canonicalize(source).at(source)?))
    } else {
        if args.epoch.is_some() {
            return Err(Error::usage("--epoch picks an epoch of a search run; the source is not a run folder"));
        }
        let mut cfg = match &args.run.config {
            Some(c) => SearchConfig::from_yaml_file(c)?,
            None => SearchConfig::default(),
        };
        cfg.spec = Some(source.clone());
        apply_overrides(&mut cfg, &args.run)?;
        super::fit::fit_data(&mut cfg, &args.run)?;
        let (a, space) = pinned(source, &cfg, args.pin.as_ref())?;
        let spec = match space_spec(source) {
            Some(s) => s,
            None => std::fs::canonicalize(source).at(source)?,
        };
        (cfg, space, a, spec, StdLib::Embedded, None)
    };
    apply_overrides(&mut cfg, &args.run)?;
    cfg.make_training(args.init.unwrap_or(Init::Scratch), source_run);
    let dir = run_dir_for(&args.run, &format!("train-{}", space.name))?;
    // The run folder gets a copy of the space's spec and trains the pin written beside it.
    cfg.spec = Some(space_spec);
    cfg.spec_origin = Some(std::path::absolute(source).at(source)?);
    cfg.space = None;
    cfg.validate()?;
    Ok(Prepared { cfg, dir, space, arch: a, std })
}

/// The assignment a pin (file, `random:S`, `melius:...`, settings) gives in a spec's space.
fn pinned(
    spec: &std::path::Path,
    cfg: &SearchConfig,
    pin: Option<&PinArg>,
) -> Result<(Assignment, lightnasc::ir::Graph), Error> {
    let out = check_path(spec, &cfg.space_args(), cfg.space.as_deref(), pin);
    if !out.diags.is_empty() {
        let msgs: Vec<String> = out.diags.0.iter().map(|d| d.render(&out.db, false)).collect();
        return Err(Error::usage(format!("{} does not check:\n{}", spec.display(), msgs.join("\n"))));
    }
    match (out.pinned, out.space) {
        (Some((a, _)), Some(space)) => Ok((a, space)),
        _ => Err(Error::usage(format!("{}: no architecture; give a pin file, or a spec with --pin", spec.display()))),
    }
}

/// For a pin file, the spec it names (so the training run's pin refers to the space, not the pin).
fn space_spec(file: &std::path::Path) -> Option<PathBuf> {
    let mut diags = lightnasc::diag::Diagnostics::default();
    let prog = lightnasc::front::load_path(file, &mut diags)?;
    let from = &prog.pins.first()?.from;
    std::fs::canonicalize(file.parent()?.join(from)).ok()
}
