//! `lightnasc train`: train one architecture's fixed network from scratch (or from a search's
//! shared weights), with the run-folder conventions of `search`: config, checkpoints and resume,
//! TensorBoard, progress, the ledger, and the final model exported as ONNX and MXNet.

use std::path::PathBuf;
use std::process::ExitCode;

use lightnasc::check::{PinArg, check_path};
use lightnasc::ir::pin::{Assignment, pin_text};
use lightnasc::search::config::{Init, Policy, SearchConfig};
use lightnasc::search::run::Run;

use super::search::{apply_overrides, create_run, device_of, launch, resolve, run_dir_for};
use super::{TrainArgs, fail};

pub fn run(args: &TrainArgs) -> ExitCode {
    if args.run.resume.is_some() {
        if args.source.is_some() || args.pin.is_some() || args.epoch.is_some() || args.init.is_some() {
            return fail(
                "--resume continues a training run as it was set up; drop the source, --pin, --epoch and --init",
            );
        }
        // The source run's part (shared-weight score, start weights) was done at the start.
        return match resolve(&args.run, None, "train").and_then(|(cfg, dir, _)| Ok((device_of(&cfg)?, cfg, dir))) {
            Ok((device, cfg, dir)) => launch(cfg, device, dir, true, &args.run, None),
            Err(e) => fail(e),
        };
    }
    match prepare(args) {
        Ok((cfg, dir, pin, source)) => {
            let device = match device_of(&cfg) {
                Ok(d) => d,
                Err(e) => return fail(e), // before the run folder is made
            };
            if let Err(e) = create_run(&dir, &cfg, None).and_then(|_| {
                lightnasc::util::write_atomic(&dir.join("arch.lnas"), pin.as_bytes()).map_err(|e| e.to_string())
            }) {
                return fail(e);
            }
            launch(cfg, device, dir, false, &args.run, source)
        }
        Err(e) => fail(e),
    }
}

/// The run's config, its folder, the pin text of the architecture, and (from a search run) the
/// architecture in that run's space.
fn prepare(args: &TrainArgs) -> Result<(SearchConfig, PathBuf, String, Option<Assignment>), String> {
    let source =
        args.source.as_ref().ok_or("give what to train: a pin file, a search run folder, or a spec with --pin")?;
    let (mut cfg, space, a, spec_ref, source_run) = if source.is_dir() {
        // A search run: its config (data, budget) is the default, its space the architecture's.
        let run = Run::open(source)?;
        if run.cfg.policy == Policy::Fixed {
            return Err(format!(
                "{} is a training run, not a search: train its architecture again with `lightnasc train {}`",
                source.display(),
                source.join("arch.lnas").display()
            ));
        }
        let a = match &args.pin {
            Some(p) => pinned(run.cfg.spec.as_ref().ok_or("the run has no spec")?, &run.cfg, Some(p))?.0,
            None => run.architecture(args.epoch, false)?.1,
        };
        let mut cfg = run.cfg.clone();
        if let Some(c) = &args.run.config {
            cfg = SearchConfig::from_yaml_file(c)?;
            cfg.spec = run.cfg.spec.clone();
            cfg.data = run.cfg.data;
        }
        let spec_ref = run.cfg.spec.as_ref().map(|s| s.display().to_string()).unwrap_or_default();
        (cfg, run.graph, a, spec_ref, Some(std::fs::canonicalize(source).map_err(|e| e.to_string())?))
    } else {
        if args.epoch.is_some() {
            return Err("--epoch picks an epoch of a search run; the source is not a run folder".into());
        }
        let mut cfg = match &args.run.config {
            Some(c) => SearchConfig::from_yaml_file(c)?,
            None => SearchConfig::default(),
        };
        cfg.spec = Some(source.clone());
        apply_overrides(&mut cfg, &args.run)?;
        let (a, space) = pinned(source, &cfg, args.pin.as_ref())?;
        let spec_ref = match space_spec(source) {
            Some(s) => s,
            None => {
                std::fs::canonicalize(source).map_err(|e| format!("{}: {e}", source.display()))?.display().to_string()
            }
        };
        (cfg, space, a, spec_ref, None)
    };
    apply_overrides(&mut cfg, &args.run)?;
    cfg.policy = Policy::Fixed;
    cfg.init = args.init.unwrap_or(Init::Scratch);
    cfg.source_run = source_run.clone();
    cfg.export_each_epoch = false;
    let dir = run_dir_for(&args.run, &format!("train-{}", space.name))?;
    // The run trains the pin written into its folder; the config points there.
    cfg.spec = Some(std::path::absolute(dir.join("arch.lnas")).map_err(|e| e.to_string())?);
    cfg.space = None;
    cfg.validate()?;
    let pin = pin_text(&space, &a, &spec_ref, &cfg.pin_args(&space.node(space.input).name));
    Ok((cfg, dir, pin, source_run.map(|_| a)))
}

/// The assignment a pin (file, `random:S`, `melius:...`, settings) gives in a spec's space.
fn pinned(
    spec: &std::path::Path,
    cfg: &SearchConfig,
    pin: Option<&PinArg>,
) -> Result<(Assignment, lightnasc::ir::Graph), String> {
    let out = check_path(spec, &cfg.space_args(), cfg.space.as_deref(), pin);
    if !out.diags.is_empty() {
        let msgs: Vec<String> = out.diags.0.iter().map(|d| d.render(&out.db, false)).collect();
        return Err(format!("{} does not check:\n{}", spec.display(), msgs.join("\n")));
    }
    match (out.pinned, out.space) {
        (Some((a, _)), Some(space)) => Ok((a, space)),
        _ => Err(format!("{}: no architecture; give a pin file, or a spec with --pin", spec.display())),
    }
}

/// For a pin file, the spec it names (so the training run's pin refers to the space, not the pin).
fn space_spec(file: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    let from = text.split("from \"").nth(1)?.split('"').next()?;
    let base = file.parent()?;
    Some(std::fs::canonicalize(base.join(from)).ok()?.display().to_string())
}
