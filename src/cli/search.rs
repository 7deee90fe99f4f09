//! `lightnasc search`: resolve the config (defaults < YAML < flags, or the run folder's on
//! `--resume`), load the data and the space (instantiated for the data's shape and classes),
//! make the run folder, and run the search on the chosen backend.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use lightnasc::data;
use lightnasc::error::Error;
use lightnasc::front::StdLib;
use lightnasc::ir::pin::Assignment;
use lightnasc::ledger;
use lightnasc::net::device::{DeviceArg, describe, run_on};
use lightnasc::search::config::{RunKind, SearchConfig};
use lightnasc::search::{RunError, SearchJob};
use lightnasc::search::{checkpoint, run};

use super::{RunOpts, SearchArgs, fail};
use lightnasc::util::AtPath as _;

pub fn run(args: &SearchArgs) -> ExitCode {
    if args.run.resume.is_some() && (args.spec.is_some() || args.controller.is_some()) {
        return fail("--resume continues a run with its own spec and policy; drop the spec and --controller");
    }
    let (mut cfg, run_dir, resume) = match resolve(&args.run, args.spec.as_deref()) {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    if let Some(p) = args.controller {
        if !p.searches() {
            return fail("`--controller fixed` is `lightnasc train`");
        }
        cfg.policy = p;
    }
    let device = match device_of(&cfg) {
        Ok(d) => d,
        Err(e) => return fail(e), // before the run folder is made
    };
    if !resume && let Err(e) = create_run(&run_dir, &mut cfg, &StdLib::Embedded, None) {
        return fail(e);
    }
    launch(cfg, device, run_dir, resume, &args.run, None)
}

/// The config's device, if this build and machine can run it.
pub(super) fn device_of(cfg: &SearchConfig) -> Result<DeviceArg, Error> {
    let device: DeviceArg = cfg.device.parse().map_err(|e| Error::usage(format!("config `device`: {e}")))?;
    lightnasc::net::device::available(&device)?;
    warn_if_software(&device);
    Ok(device)
}

/// A wgpu run on a software adapter alone (lavapipe on a machine without a GPU) runs, but far
/// slower than on the CPU itself: say so before a long job starts.
fn warn_if_software(device: &DeviceArg) {
    #[cfg(feature = "wgpu")]
    if device.backend == lightnasc::net::device::BackendKind::Wgpu
        && let Ok(names) = lightnasc::net::probe::wgpu()
        && names.iter().all(|n| n.ends_with(lightnasc::net::probe::SOFTWARE))
    {
        eprintln!(
            "warning: the only wgpu adapter is {}; a search here takes many times longer than with --device cpu",
            names.join("; ")
        );
    }
    #[cfg(not(feature = "wgpu"))]
    let _ = device;
}

/// Load the data and the space, run the job, report, and append the result to the ledger. Shared
/// by `search` and `train` (a `policy: fixed` run trains its pinned architecture).
pub(super) fn launch(
    cfg: SearchConfig,
    device: DeviceArg,
    run_dir: PathBuf,
    resume: bool,
    opts: &RunOpts,
    source_arch: Option<Assignment>,
) -> ExitCode {
    let ledger = opts.ledger.clone().unwrap_or_else(|| ledger::path_for(&run_dir));
    match prepare(cfg, device, &run_dir, resume, opts.stop_after_steps, source_arch) {
        Ok((job, device, graph)) => {
            let code = execute(job, device, graph, &ledger);
            // A new run that failed before its first checkpoint has nothing to resume: its folder
            // would only block the same command (`already exists`) and `--resume` alike.
            if code != ExitCode::SUCCESS
                && !resume
                && checkpoint::find(&run_dir).is_none()
                && std::fs::remove_dir_all(&run_dir).is_ok()
            {
                eprintln!(
                    "removed {}: the run failed before its first checkpoint; the same command starts it afresh",
                    run_dir.display()
                );
            }
            code
        }
        Err(code) => {
            // Nothing ran: a run folder made for this run holds nothing worth keeping.
            if !resume {
                let _ = std::fs::remove_dir_all(&run_dir);
            }
            code
        }
    }
}

/// Everything up to the first training step: data, space, the job.
fn prepare(
    cfg: SearchConfig,
    device: DeviceArg,
    run_dir: &Path,
    resume: bool,
    stop_after: Option<u64>,
    source_arch: Option<Assignment>,
) -> Result<(SearchJob, DeviceArg, lightnasc::ir::Graph), ExitCode> {
    let Some(spec) = cfg.spec.clone() else {
        return Err(fail("no search space: give a spec (`lightnasc search SPEC`) or `spec:` in the config"));
    };
    let mut cfg = cfg;
    let (splits, source) =
        data::load(&cfg.data, cfg.data_dir.as_deref(), cfg.data_mirror.as_deref(), cfg.seed).map_err(fail)?;
    // The record names the copy read, for a run that reads a fetched or found dataset.
    if source.is_some() && source != cfg.data_source {
        cfg.data_source = source;
        save_config(run_dir, &cfg).map_err(fail)?;
    }
    let norm = cfg.data.meta().norm;
    let fixed = !cfg.policy.searches();
    let mut trained_arch = vec![];
    // The run's own copy of its spec, as every later reader of the run sees it.
    let outcome = run::check_spec(run_dir, &cfg, None).map_err(fail)?;
    let graph = if fixed {
        // The pinned architecture itself: its fixed network is what trains.
        match (outcome.pinned, &outcome.space) {
            (Some((a, g)), space) => {
                trained_arch = space.as_ref().map(|s| a.settings(s)).unwrap_or_default();
                g
            }
            (None, _) => return Err(fail(format!("{}: not a pinned architecture (no `pin`)", spec.display()))),
        }
    } else {
        outcome.space.ok_or_else(|| fail(format!("{}: no search space", spec.display())))?
    };
    // Which formats the run can write is known now, not after its last epoch.
    let (formats, warnings) =
        if fixed || cfg.export_each_epoch { cfg.export.usable(&graph).map_err(fail)? } else { (vec![], vec![]) };
    for w in warnings {
        eprintln!("warning: {w}");
    }
    let (train, val) = lightnasc::search::split_training(&cfg, splits.train).map_err(fail)?;
    // A resumed run reads its own copy (`latency.json`), not the file it started from.
    if let Some(t) = cfg.latency_table.as_ref().filter(|_| !resume) {
        let options = lightnasc::ir::decisions::Decisions::of(&graph).options;
        lightnasc::search::latency::LatencyTable::read(t, &options).map_err(fail)?;
    }
    let pin_args = cfg.pin_args(&graph.node(graph.input).name);
    let cost = lightnasc::ir::cost::cost_range(&graph);
    let what = match cfg.policy.run_kind() {
        RunKind::Train => {
            format!("train `{}` ({} params, {:.1}M OPs)", graph.name, cost.params_max, cost.ops_max / 1e6)
        }
        kind => format!("{} `{}` ({} decisions)", kind.verb(), graph.name, graph.choices.len()),
    };
    eprintln!(
        "{what} on {} ({} train / {} val / {}) with {}; run folder {}",
        cfg.data,
        train.len(),
        val.len(),
        match splits.test.len() {
            0 => "no test images".to_string(),
            n => format!("{n} test images"),
        },
        describe(&device),
        run_dir.display()
    );
    Ok((
        SearchJob {
            norm,
            graph: graph.clone(),
            train: Arc::new(train),
            val: Arc::new(val),
            test: Arc::new(splits.test),
            run_dir: run_dir.to_path_buf(),
            resume,
            spec: spec.clone(),
            formats,
            space_args: pin_args,
            stop_after,
            source_arch,
            trained_arch,
            cfg,
        },
        device,
        graph,
    ))
}

/// Run the job, report its result, and append it to the ledger.
fn execute(job: SearchJob, device: DeviceArg, graph: lightnasc::ir::Graph, ledger_file: &Path) -> ExitCode {
    let (cfg, run_dir) = (job.cfg.clone(), job.run_dir.clone());
    let classes = cfg.data.meta().classes.len();
    let fixed = !cfg.policy.searches();
    let started = std::time::Instant::now();
    match run_on(&device, job).map_err(RunError::from) {
        Ok(Ok(out)) if out.finished => {
            if !fixed {
                let arch: Vec<String> = out.argmax.iter().map(|(c, o)| format!("{c}={o}")).collect();
                println!("result architecture: {}", arch.join(","));
            }
            if let Some(s) = out.shared_weight_accuracy {
                println!("shared-weight validation accuracy {s:.4} (before training)");
            }
            println!("validation accuracy {:.4}", out.val_accuracy);
            if let Some(t) = out.test_accuracy {
                println!("test accuracy {t:.4} (chance {:.4})", 1.0 / classes as f64);
            }
            if fixed {
                println!("model: {}", run_dir.join("model.onnx").display());
            } else {
                println!("pinned architecture: {}", run_dir.join("result.lnas").display());
            }
            println!("curves: tensorboard --logdir {}", run_dir.join("tensorboard").display());
            let entry = ledger::Entry::new(&cfg, &run_dir, &graph, &out, describe(&device), started.elapsed());
            match entry.map_err(Error::from).and_then(|e| Ok(ledger::append(ledger_file, &e)?)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(format!("the run finished, but the ledger was not written: {e}")),
            }
        }
        Ok(Ok(out)) => {
            let cmd = if fixed { "train" } else { "search" };
            eprintln!("stopped early as asked; resume with `lightnasc {cmd} --resume {}`", out.run_dir.display());
            ExitCode::SUCCESS
        }
        Ok(Err(e)) | Err(e) => fail(e),
    }
}

/// The configuration and run folder from a config file and flags, or from the run folder when
/// resuming. A new run's default name starts with the spec's name.
pub(super) fn resolve(opts: &RunOpts, spec: Option<&Path>) -> Result<(SearchConfig, PathBuf, bool), Error> {
    if let Some(dir) = &opts.resume {
        let path = dir.join("config.yml");
        if !path.is_file() {
            return Err(Error::usage(format!("{}: not a run folder (no config.yml)", dir.display())));
        }
        let mut cfg = SearchConfig::from_run_file(&path)?;
        if let Some(e) = opts.epochs {
            cfg.epochs = e;
        }
        if let Some(d) = &opts.device {
            cfg.device = d.to_string();
        }
        cfg.validate()?;
        return Ok((cfg, dir.clone(), true));
    }
    let mut cfg = match &opts.config {
        Some(p) => SearchConfig::from_yaml_file(p)?,
        None => SearchConfig::default(),
    };
    if let Some(s) = spec {
        cfg.spec = Some(s.to_path_buf());
    }
    apply_overrides(&mut cfg, opts)?;
    super::fit::fit_data(&mut cfg, opts)?;
    cfg.validate()?;
    if let Some(spec) = &cfg.spec {
        cfg.spec = Some(std::fs::canonicalize(spec).at(spec)?);
    }
    let stem = cfg.spec.as_ref().and_then(|s| s.file_stem()).map(|s| s.to_string_lossy().into_owned());
    let base = stem.unwrap_or_else(|| "search".into());
    Ok((cfg, run_dir_for(opts, &base)?, false))
}

/// Flags over a config: data, budget, device, seed, then `--set KEY=VALUE`s.
pub(super) fn apply_overrides(cfg: &mut SearchConfig, opts: &RunOpts) -> Result<(), Error> {
    if let Some(d) = &opts.data {
        cfg.data = d.clone();
    }
    if let Some(t) = &opts.test_data {
        match &mut cfg.data {
            data::DataArg::Folder(f) => f.test = Some(t.clone()),
            other => return Err(Error::usage(format!("--test-data goes with `--data folder:PATH`, not {other}"))),
        }
    }
    if let Some(d) = &opts.data_dir {
        cfg.data_dir = Some(d.clone());
    }
    if let Some(e) = opts.epochs {
        cfg.epochs = e;
    }
    if let Some(b) = opts.batch_size {
        cfg.batch_size = b as usize;
    }
    if let Some(d) = &opts.device {
        cfg.device = d.to_string();
    }
    if let Some(s) = opts.seed {
        cfg.seed = s;
    }
    if let Some(l) = opts.train_limit {
        cfg.train_limit = Some(l);
    }
    if let Some(s) = opts.data_seed {
        cfg.data_seed = Some(s);
    }
    cfg.export_each_epoch |= opts.export_each_epoch;
    if let Some(t) = &opts.latency_table {
        cfg.latency_table =
            Some(std::fs::canonicalize(t).map_err(|e| Error::usage(format!("--latency-table {}: {e}", t.display())))?);
    }
    for kv in &opts.set {
        cfg.set(kv)?;
    }
    Ok(())
}

/// A new run folder: `--name`, which must not exist yet, or `BASE-TIMESTAMP`.
pub(super) fn run_dir_for(opts: &RunOpts, base: &str) -> Result<PathBuf, Error> {
    let name = match &opts.name {
        Some(n) => {
            if n.is_empty() || n.contains(['/', '\\']) || n.starts_with('.') {
                return Err(Error::usage(format!("`{n}` is not a run name: use letters, digits, `-` and `_`")));
            }
            let dir = opts.runs_dir.join(n);
            if dir.exists() {
                return Err(Error::usage(format!(
                    "{} already exists; pick another --name, or continue it with --resume {}",
                    dir.display(),
                    dir.display()
                )));
            }
            n.clone()
        }
        None => {
            let stamped = format!("{base}-{}", timestamp());
            let mut n = stamped.clone();
            let mut k = 2;
            while opts.runs_dir.join(&n).exists() {
                n = format!("{stamped}-{k}");
                k += 1;
            }
            n
        }
    };
    Ok(opts.runs_dir.join(name))
}

/// Make the run folder: a copy of the spec and all it imports (`source/`, `std/`), which the run
/// reads from then on, and the resolved config pointing there. `arch` writes a pin beside them
/// (`arch.lnas`, naming the copy as given) that becomes the run's spec: a training run's.
pub(super) fn create_run(
    dir: &Path,
    cfg: &mut SearchConfig,
    std: &StdLib,
    arch: Option<&dyn Fn(&str) -> String>,
) -> Result<(), Error> {
    std::fs::create_dir_all(dir.parent().unwrap_or(Path::new("."))).at(dir)?;
    std::fs::create_dir(dir).at(dir)?;
    let made = fill_run(dir, cfg, std, arch);
    if made.is_err() {
        let _ = std::fs::remove_dir_all(dir);
    }
    made
}

fn fill_run(
    dir: &Path,
    cfg: &mut SearchConfig,
    std: &StdLib,
    arch: Option<&dyn Fn(&str) -> String>,
) -> Result<(), Error> {
    let Some(origin) = cfg.spec.clone() else { return Err(Error::usage("no search space: give a spec")) };
    let mut spec = run::snapshot_spec(dir, &origin, std)?;
    if let Some(pin) = arch {
        let path = dir.join("arch.lnas");
        lightnasc::util::write_atomic(&path, pin(&run::spec_ref(dir, &spec, dir)).as_bytes()).at(&path)?;
        spec = std::path::absolute(&path).at(&path)?;
    }
    cfg.spec_origin.get_or_insert(origin);
    cfg.spec = Some(spec.clone());
    resolve_folder(cfg, std)?;
    save_config(dir, cfg)
}

/// The run's config.yml. On disk the config names the spec's copy relative to itself, so the
/// folder can move.
fn save_config(dir: &Path, cfg: &SearchConfig) -> Result<(), Error> {
    let mut on_disk = cfg.clone();
    if let Some(spec) = &cfg.spec {
        on_disk.spec = Some(PathBuf::from(run::spec_ref(dir, spec, dir)));
    }
    let meta = cfg.data.meta();
    let header = format!(
        "# The resolved configuration of this run (`lightnasc search --resume` reads it).\n\
         # Input {:?} (channels, height, width), normalised per channel as (pixels / 255 - mean) / std\n\
         # with mean {:?} and std {:?}; {} classes. Exports carry the same (ONNX metadata, -preprocess.json).\n",
        meta.shape,
        meta.norm.mean,
        meta.norm.std,
        meta.classes.len()
    );
    let path = dir.join("config.yml");
    Ok(lightnasc::util::write_atomic(&path, format!("{header}{}", on_disk.to_yaml()).as_bytes()).at(&path)?)
}

/// A folder dataset's classes, input (the space's default) and normalisation, recorded in the
/// run's config; its images decoded into the cache.
fn resolve_folder(cfg: &mut SearchConfig, std: &StdLib) -> Result<(), Error> {
    let data::DataArg::Folder(f) = &cfg.data else { return Ok(()) };
    let mut f = f.clone();
    for p in std::iter::once(&mut f.folder).chain(f.test.as_mut()) {
        *p = std::path::absolute(&*p).at(&p)?;
    }
    let spec = cfg.spec.clone().ok_or_else(|| Error::usage("no search space"))?;
    let args = lightnasc::lower::SpaceArgs { input: None, classes: None, other: vec![] };
    let out = lightnasc::check::check_path_with(&spec, std, &args, cfg.space.as_deref(), None);
    let graph = out
        .space
        .or(out.pinned.map(|p| p.1))
        .ok_or_else(|| Error::usage(format!("{}: does not check", spec.display())))?;
    let input = match graph.node(graph.input).shape {
        lightnasc::ir::Shape::Map { c, h, w } => [c as usize, h as usize, w as usize],
        other => {
            return Err(Error::usage(format!(
                "{}: the space's input is {other:?}; images need [C, H, W]",
                spec.display()
            )));
        }
    };
    let loaded = data::folder::resolve(&mut f, Some(input))?;
    loaded.report();
    cfg.data = data::DataArg::Folder(f);
    Ok(())
}

/// `YYYYmmdd-HHMMSS` in UTC.
fn timestamp() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}-{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}
