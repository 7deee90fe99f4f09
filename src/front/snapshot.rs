//! A copy of the files one compilation read, for a run folder to keep: the spec and everything it
//! imports, laid out as they were relative to each other (so relative imports still resolve),
//! and the standard-library files it used. Reading the copy back needs nothing outside it.

use std::path::{Path, PathBuf};

use super::source::SourceDb;
use crate::util::{AtPath as _, FileError};

/// User files go under `DIR/source/`, standard-library files under `DIR/std/`.
pub const SOURCE_DIR: &str = "source";
pub const STD_DIR: &str = "std";

/// Copy every file of `db` into `dir`; the root file (the first loaded) is returned as a path
/// relative to `dir` (`source/NAME.lnas`). Files are written atomically; `dir` must exist.
pub fn write(db: &SourceDb, dir: &Path) -> Result<PathBuf, SnapshotError> {
    use SnapshotError::Layout;
    let user: Vec<(&Path, &str)> = db.files().filter_map(|f| Some((f.path.as_deref()?, f.text.as_str()))).collect();
    let root = user.first().ok_or(Layout("the spec was not read from a file".into()))?.0;
    // The deepest folder holding every user file: imports may climb out of the root's folder.
    let mut base = root.parent().ok_or(Layout("the spec has no folder".into()))?.to_path_buf();
    while !user.iter().all(|(p, _)| p.starts_with(&base)) {
        if !base.pop() {
            return Err(Layout("the spec's imports share no folder".into()));
        }
    }
    let mut root_rel = None;
    for (path, text) in &user {
        let outside = || Layout(format!("{}: outside {}", path.display(), base.display()));
        let rel = path.strip_prefix(&base).map_err(|_| outside())?;
        let to = dir.join(SOURCE_DIR).join(rel);
        put(&to, text)?;
        root_rel.get_or_insert_with(|| Path::new(SOURCE_DIR).join(rel));
    }
    for f in db.files().filter(|f| f.path.is_none()) {
        let Some(name) = f.name.strip_prefix("std/") else { continue };
        if !super::stdlib::is_name(name) {
            return Err(Layout(format!("`{}` is not a standard library name", f.name)));
        }
        put(&dir.join(STD_DIR).join(name), &f.text)?;
    }
    root_rel.ok_or(Layout("no spec file to copy".into()))
}

/// Why a spec's files cannot be copied: writing them, or laying them out.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{0}")]
    Layout(String),
}

fn put(path: &Path, text: &str) -> Result<(), FileError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).at(parent)?;
    }
    crate::util::write_atomic(path, text.as_bytes()).at(path)
}
