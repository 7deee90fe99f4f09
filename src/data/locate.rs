//! Which copy of a named dataset a run reads: the one `--data-dir` names; else the cache's
//! (fetched earlier); else one the user's other tools left (the working directory's `data/`,
//! gluon's `~/.mxnet/datasets`, torchvision's pickle folders, Debian's Fashion-MNIST package),
//! used only if its checksums are the published ones; else a fetch. The choice is said on stderr
//! and recorded in the run's config.yml.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::sources::{Known, md5_of, sha1_of};
use super::{DataError, Kind, fetch};

/// The copy a run read, for the record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSource {
    pub path: PathBuf,
    /// How it was found, and what its checksums say.
    pub found: String,
    /// `binary` (CIFAR's binary files, Fashion-MNIST's IDX) or `pickles` (torchvision's).
    pub format: String,
    /// Each file's checksum (`sha1:...` or `md5:...`).
    pub checksums: BTreeMap<String, String>,
}

impl DataSource {
    pub fn pickles(&self) -> bool {
        self.format == "pickles"
    }
}

/// A file's checksum against the known one: (`algo:digest`, matches).
fn check(dir: &Path, k: &Known, md5: bool) -> Option<(String, bool)> {
    let path = dir.join(k.file);
    let got = if md5 { md5_of(&path) } else { sha1_of(&path) }.ok()?;
    let ok = got == k.digest;
    Some((format!("{}:{got}", if md5 { "md5" } else { "sha1" }), ok))
}

/// A folder's files checked: (checksums, the files that differ as `FILE: GOT, published WANT`);
/// `None` when a file is missing.
fn checked(dir: &Path, files: &[Known], md5: bool) -> Option<(BTreeMap<String, String>, Vec<String>)> {
    let mut sums = BTreeMap::new();
    let mut differ = vec![];
    for k in files {
        let (sum, ok) = check(dir, k, md5)?;
        if !ok {
            differ.push(format!("{}: {sum}, published {}", dir.join(k.file).display(), k.digest));
        }
        sums.insert(k.file.to_string(), sum);
    }
    Some((sums, differ))
}

fn pickle_files(kind: Kind) -> Vec<Known> {
    kind.source().torchvision.map(|tv| [tv.train, tv.test].concat()).unwrap_or_default()
}

/// The copy of `kind` to read (fetched into the cache if none is found), said on stderr.
pub fn locate(kind: Kind, data_dir: Option<&Path>, mirror: Option<&str>) -> Result<DataSource, DataError> {
    let s = match data_dir {
        Some(d) => named(kind, d),
        None => found(kind).map_or_else(|| fetched(kind, mirror), Ok)?,
    };
    eprintln!("data: {} from {} ({})", kind.name(), s.path.display(), s.found);
    Ok(s)
}

/// A folder the user named: used as it is, with a warning for each file that is not the
/// published one (it may be a subset on purpose).
fn named(kind: Kind, d: &Path) -> DataSource {
    let src = kind.source();
    let tv = src.torchvision.map(|tv| d.join(tv.folder));
    let pickles =
        tv.into_iter().chain([d.to_path_buf()]).find(|c| pickle_files(kind).iter().all(|k| c.join(k.file).is_file()));
    let (path, files, md5, format) = match pickles {
        Some(p) => (p, pickle_files(kind), true, "pickles"),
        None => (d.to_path_buf(), src.files.to_vec(), false, "binary"),
    };
    let present: Vec<Known> = files.into_iter().filter(|k| path.join(k.file).is_file()).collect();
    let (checksums, differ) = checked(&path, &present, md5).unwrap_or_default();
    for line in &differ {
        eprintln!("warning: {line}: using it as given");
    }
    let found = if checksums.is_empty() {
        "--data-dir".to_string()
    } else if differ.is_empty() {
        "--data-dir; the published checksums".to_string()
    } else {
        format!("--data-dir; {} of {} files differ from the published ones", differ.len(), checksums.len())
    };
    DataSource { path, found, format: format.into(), checksums }
}

/// The cache's copy, else one another tool left whose checksums are the published ones.
pub fn found(kind: Kind) -> Option<DataSource> {
    if let Some(dir) = fetch::cached(kind) {
        let manifest: serde_json::Value =
            std::fs::read_to_string(dir.join(fetch::MANIFEST)).ok().and_then(|t| serde_json::from_str(&t).ok())?;
        let checksums = manifest["sha1"]
            .as_object()?
            .iter()
            .map(|(f, s)| (f.clone(), format!("sha1:{}", s.as_str().unwrap_or_default())))
            .collect();
        let from = manifest["downloads"][0]["url"].as_str().unwrap_or("?").to_string();
        return Some(DataSource {
            path: dir,
            found: format!("lightnasc's cache, fetched from {from}"),
            format: "binary".into(),
            checksums,
        });
    }
    let src = kind.source();
    let mxnet = std::env::var_os("MXNET_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".mxnet")));
    let mut places: Vec<(PathBuf, &str, bool)> =
        vec![(PathBuf::from("data").join(src.folder), "the working directory's data/", false)];
    if let Some(m) = mxnet {
        places.push((m.join("datasets").join(src.gluon), "MXNet gluon's datasets folder", false));
    }
    if let Some(tv) = src.torchvision {
        places.push((PathBuf::from(tv.folder), "torchvision's folder", true));
        places.push((PathBuf::from("data").join(tv.folder), "torchvision's folder", true));
    }
    for (dir, what, pickles) in places {
        let files = if pickles { pickle_files(kind) } else { src.files.to_vec() };
        let Some((checksums, differ)) = checked(&dir, &files, pickles) else { continue };
        if let Some(first) = differ.first() {
            eprintln!("note: not using {} ({what}): {first}", dir.display());
            continue;
        }
        let format = if pickles { "pickles" } else { "binary" };
        return Some(DataSource {
            path: std::path::absolute(&dir).unwrap_or(dir),
            found: format!("{what}; the published checksums"),
            format: format.into(),
            checksums,
        });
    }
    debian(kind)
}

/// Debian's `dataset-fashion-mnist` package: Debian recompresses the gzip files, so their
/// checksums are not the publisher's; the reader checks every record instead.
fn debian(kind: Kind) -> Option<DataSource> {
    let dir = PathBuf::from("/usr/share/datasets/fashion-mnist");
    if kind != Kind::FashionMnist || !kind.source().files.iter().all(|k| dir.join(k.file).is_file()) {
        return None;
    }
    let (checksums, _) = checked(&dir, kind.source().files, false)?;
    Some(DataSource {
        path: dir,
        found: "Debian's dataset-fashion-mnist package".into(),
        format: "binary".into(),
        checksums,
    })
}

fn fetched(kind: Kind, mirror: Option<&str>) -> Result<DataSource, DataError> {
    fetch::fetch(kind, mirror)?;
    found(kind).ok_or_else(|| DataError::new(&fetch::data_root(), "the fetched copy has no manifest", "run again"))
}
