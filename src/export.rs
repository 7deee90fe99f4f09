//! Writing a pinned architecture with its weights in the model formats, under one file prefix.
//! This composes the back ends (which know nothing of each other) for `lightnasc export` and for
//! the search's per-epoch exports.

use std::path::{Path, PathBuf};

use crate::back::{BackError, mxnet, onnx};
use crate::ir::Graph;
use crate::ir::store::WeightStore;
use crate::util::AtPath as _;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelFormat {
    /// PREFIX.onnx
    Onnx,
    /// PREFIX-symbol.json + PREFIX-0000.params (binarised weights, stock ops)
    Mxnet,
    /// PREFIX-latent.params: the latent float weights under the IR's weight keys
    Params,
}

impl ModelFormat {
    /// Whether the format's back end lowers every op of `g` (a space or an architecture).
    pub fn supports(self, g: &Graph) -> Result<(), BackError> {
        match self {
            ModelFormat::Onnx => onnx::supports(g),
            ModelFormat::Mxnet => mxnet::supports(g),
            ModelFormat::Params => Ok(()),
        }
    }
}

/// Write `formats` of the pinned graph `g` with `store`'s weights; the files written.
pub fn write_model(
    prefix: &Path,
    formats: &[ModelFormat],
    g: &Graph,
    store: &WeightStore,
) -> Result<Vec<PathBuf>, BackError> {
    // Weights of another graph would make files that load nowhere: refuse before writing any.
    store.check(g)?;
    let p = prefix.display();
    let mut files: Vec<(PathBuf, Vec<u8>)> = vec![];
    for f in formats {
        match f {
            ModelFormat::Onnx => files.push((format!("{p}.onnx").into(), onnx::lower(g, store)?)),
            ModelFormat::Mxnet => {
                let (symbol, params) = mxnet::lower(g, store)?;
                files.push((format!("{p}-symbol.json").into(), symbol.into_bytes()));
                files.push((format!("{p}-0000.params").into(), params));
            }
            ModelFormat::Params => {
                let latent: Vec<_> = store.tensors.iter().map(|(k, t)| (k.clone(), t.clone())).collect();
                files.push((format!("{p}-latent.params").into(), mxnet::write_params(&latent)));
            }
        }
    }
    for (path, bytes) in &files {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).at(dir)?;
        }
        crate::util::write_atomic(path, bytes).at(path)?;
    }
    Ok(files.into_iter().map(|f| f.0).collect())
}
