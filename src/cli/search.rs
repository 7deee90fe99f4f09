//! `lightnasc search`: resolve the config (defaults < YAML < flags, or the run folder's on
//! `--resume`), load the data and the space (instantiated for the data's shape and classes),
//! make the run folder, and run the search on the chosen backend.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use lightnasc::data;
use lightnasc::net::device::{DeviceArg, describe, run_on};
use lightnasc::search::SearchJob;
use lightnasc::search::config::SearchConfig;
use lightnasc::util::SplitMix64;

use super::{SearchArgs, fail};

pub fn run(args: &SearchArgs) -> ExitCode {
    let (cfg, run_dir, resume) = match resolve(args) {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    let device: DeviceArg = match cfg.device.parse() {
        Ok(d) => d,
        Err(e) => return fail(format!("config `device`: {e}")),
    };
    if let Err(e) = lightnasc::net::device::available(device) {
        return fail(e);
    }
    let Some(spec) = cfg.spec.clone() else {
        return fail("no search space: give a spec (`lightnasc search SPEC`) or `spec:` in the config");
    };
    let splits = match data::load(cfg.data, cfg.data_dir.as_deref(), cfg.seed) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    // The space is instantiated for the data: its input shape and class count.
    let kind = cfg.data.kind;
    let space_args = cfg.space_args();
    let graph = match super::load_space_with(&spec, &space_args, cfg.space.as_deref()) {
        Ok(g) => g,
        Err(code) => return code,
    };
    let mut train = splits.train;
    if let Some(limit) = cfg.train_limit.filter(|&l| l < train.len()) {
        let mut idx: Vec<usize> = (0..train.len()).collect();
        data::shuffle(&mut idx, &mut SplitMix64(cfg.seed ^ 0x6c69_6d69));
        idx.truncate(limit);
        idx.sort_unstable();
        train = train.select(&idx);
    }
    let (train, val) = data::split_validation(&train, cfg.val_fraction, cfg.seed);
    if val.is_empty() {
        return fail(format!(
            "`val_fraction` {} of {} images leaves no validation data",
            cfg.val_fraction,
            train.len()
        ));
    }
    if !resume && let Err(e) = create_run(&run_dir, &cfg, &spec) {
        return fail(e);
    }
    let spec_abs = std::fs::canonicalize(&spec).unwrap_or(spec.clone());
    let input_name = graph.node(graph.input).name.clone();
    // The same arguments, written into every pin of the run so that it checks back on its own.
    let shape = space_args.input.as_deref().unwrap_or_default();
    let space_args = vec![
        (input_name, format!("[{}]", shape.iter().map(u32::to_string).collect::<Vec<_>>().join(", "))),
        ("classes".to_string(), kind.classes().to_string()),
    ];
    eprintln!(
        "search `{}` ({} decisions) on {} ({} train / {} val / {} test images) with {}; run folder {}",
        graph.name,
        graph.choices.len(),
        cfg.data,
        train.len(),
        val.len(),
        splits.test.len(),
        describe(device),
        run_dir.display()
    );
    let job = SearchJob {
        kind,
        graph,
        train: Arc::new(train),
        val: Arc::new(val),
        test: Arc::new(splits.test),
        run_dir: run_dir.clone(),
        resume,
        spec_ref: spec_abs.display().to_string(),
        space_args,
        stop_after: args.stop_after_steps,
        cfg,
    };
    match run_on(device, job) {
        Ok(Ok(out)) if out.finished => {
            let arch: Vec<String> = out.argmax.iter().map(|(c, o)| format!("{c}={o}")).collect();
            println!("argmax architecture: {}", arch.join(","));
            println!("validation accuracy {:.4}", out.val_accuracy);
            if let Some(t) = out.test_accuracy {
                println!("test accuracy {t:.4} (chance {:.4})", 1.0 / kind.classes() as f64);
            }
            println!("pinned architecture: {}", run_dir.join("result.lnas").display());
            ExitCode::SUCCESS
        }
        Ok(Ok(out)) => {
            eprintln!("stopped early as asked; resume with `lightnasc search --resume {}`", out.run_dir.display());
            ExitCode::SUCCESS
        }
        Ok(Err(e)) | Err(e) => fail(e),
    }
}

/// The resolved config, the run folder, and whether this is a resume.
fn resolve(args: &SearchArgs) -> Result<(SearchConfig, PathBuf, bool), String> {
    if let Some(dir) = &args.resume {
        let path = dir.join("config.yml");
        if !path.is_file() {
            return Err(format!("{}: not a run folder (no config.yml)", dir.display()));
        }
        let mut cfg = SearchConfig::from_yaml_file(&path)?;
        if let Some(e) = args.epochs {
            cfg.epochs = e;
        }
        if let Some(d) = args.device {
            cfg.device = d.to_string();
        }
        cfg.validate()?;
        return Ok((cfg, dir.clone(), true));
    }
    let mut cfg = match &args.config {
        Some(p) => SearchConfig::from_yaml_file(p)?,
        None => SearchConfig::default(),
    };
    if let Some(s) = &args.spec {
        cfg.spec = Some(s.clone());
    }
    if let Some(d) = args.data {
        cfg.data = d;
    }
    if let Some(d) = &args.data_dir {
        cfg.data_dir = Some(d.clone());
    }
    if let Some(e) = args.epochs {
        cfg.epochs = e;
    }
    if let Some(b) = args.batch_size {
        cfg.batch_size = b as usize;
    }
    if let Some(d) = args.device {
        cfg.device = d.to_string();
    }
    if let Some(s) = args.seed {
        cfg.seed = s;
    }
    if let Some(l) = args.train_limit {
        cfg.train_limit = Some(l);
    }
    cfg.export_each_epoch |= args.export_each_epoch;
    cfg.validate()?;
    let spec =
        cfg.spec.clone().ok_or("no search space: give a spec (`lightnasc search SPEC`) or `spec:` in the config")?;
    // Stored absolute, so the run folder can be resumed from anywhere.
    cfg.spec = Some(std::fs::canonicalize(&spec).map_err(|e| format!("{}: {e}", spec.display()))?);
    let name = match &args.name {
        Some(n) => {
            if n.is_empty() || n.contains(['/', '\\']) || n.starts_with('.') {
                return Err(format!("`{n}` is not a run name: use letters, digits, `-` and `_`"));
            }
            let dir = args.runs_dir.join(n);
            if dir.exists() {
                return Err(format!(
                    "{} already exists; pick another --name, or continue it with --resume {}",
                    dir.display(),
                    dir.display()
                ));
            }
            n.clone()
        }
        None => {
            let stem = spec.file_stem().map_or("search".into(), |s| s.to_string_lossy().into_owned());
            let base = format!("{stem}-{}", timestamp());
            let mut n = base.clone();
            let mut k = 2;
            while args.runs_dir.join(&n).exists() {
                n = format!("{base}-{k}");
                k += 1;
            }
            n
        }
    };
    Ok((cfg, args.runs_dir.join(name), false))
}

fn create_run(dir: &Path, cfg: &SearchConfig, spec: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir.parent().unwrap_or(Path::new("."))).map_err(|e| format!("{}: {e}", dir.display()))?;
    std::fs::create_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let header = "# The resolved configuration of this run (`lightnasc search --resume` reads it).\n";
    lightnasc::util::write_atomic(&dir.join("config.yml"), format!("{header}{}", cfg.to_yaml()).as_bytes())
        .map_err(|e| format!("{}: {e}", dir.join("config.yml").display()))?;
    // A copy of the spec as it was, for the record.
    if let Ok(text) = std::fs::read(spec) {
        let _ = lightnasc::util::write_atomic(&dir.join("spec.lnas"), &text);
    }
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
