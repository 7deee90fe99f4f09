//! The standard library: blocks written in `.lnas` itself, shipped inside the binary so that
//! `import "std/melius.lnas"` works wherever `lightnasc` runs. The sources live in `specs/std/`.
//! A run folder keeps a copy of the files its spec imported ([`StdLib::Folder`]), so a run made
//! by another version of lightnasc reads the library it ran with.

use std::path::PathBuf;

const FILES: &[(&str, &str)] = &[
    ("layers.lnas", include_str!("../../specs/std/layers.lnas")),
    ("melius.lnas", include_str!("../../specs/std/melius.lnas")),
    ("resnet.lnas", include_str!("../../specs/std/resnet.lnas")),
];

/// Where `std/NAME` imports are read from.
/// Why `std/NAME` cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum StdError {
    #[error("no standard library file `std/{0}`")]
    Missing(String),
    #[error("`std/{0}` is not a standard library name")]
    BadName(String),
    #[error("cannot read `{}` (this run's copy of the standard library): {source}", path.display())]
    Copy { path: PathBuf, source: std::io::Error },
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum StdLib {
    /// The library compiled into this binary.
    #[default]
    Embedded,
    /// A folder holding `NAME` files (a run's `std/` snapshot).
    Folder(PathBuf),
}

impl StdLib {
    /// The text of `std/NAME`, or why there is none.
    pub fn get(&self, name: &str) -> Result<String, StdError> {
        match self {
            StdLib::Embedded => get(name).map(str::to_string).ok_or_else(|| StdError::Missing(name.into())),
            StdLib::Folder(dir) => {
                if !is_name(name) {
                    return Err(StdError::BadName(name.into()));
                }
                let path = dir.join(name);
                std::fs::read_to_string(&path).map_err(|source| StdError::Copy { path, source })
            }
        }
    }
}

/// Whether `NAME` (of `std/NAME`) names a file inside the library's folder: names come from
/// import strings, and must not lead out of it.
pub fn is_name(name: &str) -> bool {
    std::path::Path::new(name).components().all(|c| matches!(c, std::path::Component::Normal(_))) && !name.is_empty()
}

/// The text of `std/NAME` in this binary.
pub fn get(name: &str) -> Option<&'static str> {
    FILES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

pub fn names() -> Vec<String> {
    FILES.iter().map(|(n, _)| format!("std/{n}")).collect()
}
