//! The data a new run takes when none was named: the built-in dataset whose images and classes
//! are the space's own defaults (Fashion-MNIST for a 1x28x28, 10-class space), or an error
//! listing the choices; and a note when named data changes the space's input or classes.
//! Before, every run without `--data` took CIFAR-100, whatever the space was written for.

use std::path::Path;

use lightnasc::check::check_path;
use lightnasc::data::{DataArg, Kind};
use lightnasc::error::Error;
use lightnasc::ir::Shape;
use lightnasc::lower::SpaceArgs;
use lightnasc::search::config::SearchConfig;
use lightnasc::util::AtPath as _;

use super::RunOpts;

/// What `--data` takes, for messages.
const CHOICES: &str = "cifar10 | cifar100 | fashion-mnist | folder:PATH | mock:DATASET";

/// Whether the data was named: `--data`, or `data:` in the config file.
fn named(opts: &RunOpts) -> Result<bool, Error> {
    if opts.data.is_some() {
        return Ok(true);
    }
    let Some(path) = &opts.config else { return Ok(false) };
    let text = std::fs::read_to_string(path).at(path)?;
    let raw: serde_norway::Value =
        serde_norway::from_str(&text).map_err(|e| Error::usage(format!("{}: {e}", path.display())))?;
    Ok(raw.get("data").is_some())
}

/// The space's own input `[C, H, W]` and class count, when `spec` checks with its defaults.
fn own_input(spec: &Path, space: Option<&str>) -> Option<(String, [usize; 3], Option<usize>)> {
    let out = check_path(spec, &SpaceArgs::default(), space, None);
    let g = out.space.or(out.pinned.map(|p| p.1))?;
    let Shape::Map { c, h, w } = g.node(g.input).shape else { return None };
    Some((g.name.clone(), [c as usize, h as usize, w as usize], g.classes.map(|n| n as usize)))
}

/// Sets `cfg.data` for a new run on `cfg.spec` when none was named (see the module's doc).
pub(super) fn fit_data(cfg: &mut SearchConfig, opts: &RunOpts) -> Result<(), Error> {
    let Some(spec) = cfg.spec.clone() else { return Ok(()) };
    // A spec that does not check is reported, with its diagnostics, where the run loads it.
    let Some((name, input, classes)) = own_input(&spec, cfg.space.as_deref()) else { return Ok(()) };
    let [c, h, w] = input;
    let fits = |k: Kind| k.shape() == input && classes.is_none_or(|n| n == k.classes());
    if named(opts)? {
        if let DataArg::Named { kind, .. } = &cfg.data
            && !fits(*kind)
        {
            let own = classes.map_or(String::new(), |n| format!(", {n} classes"));
            eprintln!(
                "note: --data {} instantiates `{name}` with {:?} inputs and {} classes (its own: {c}x{h}x{w}{own})",
                cfg.data,
                kind.shape(),
                kind.classes()
            );
        }
        return Ok(());
    }
    let Some(kind) = [Kind::FashionMnist, Kind::Cifar10, Kind::Cifar100].into_iter().find(|&k| fits(k)) else {
        let own = classes.map_or(String::new(), |n| format!(" in {n} classes"));
        return Err(Error::usage(format!(
            "`{name}` takes {c}x{h}x{w} images{own}, which no built-in dataset has: name its data with --data ({CHOICES})"
        )));
    };
    cfg.data = DataArg::Named { kind, mock: false };
    eprintln!(
        "data: {} (the images and classes `{name}` is written for; --data picks another: {CHOICES})",
        kind.name()
    );
    Ok(())
}
