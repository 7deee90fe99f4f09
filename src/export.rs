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

/// How a model's input is prepared (the data a run trained on), carried by its exports so that
/// their user needs nothing else: NCHW float pixels scaled to [0, 1], then `(x - mean[c]) /
/// std[c]` per channel, unless `folded` into the ONNX graph (which then takes [0, 1] pixels).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Preprocess {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    /// The class of each output, in order.
    pub classes: Vec<String>,
    pub folded: bool,
}

impl Preprocess {
    /// ONNX `metadata_props` (onnxruntime: `get_modelmeta().custom_metadata_map`).
    fn props(&self) -> Vec<(String, String)> {
        let normalisation = match self.folded {
            true => "in the graph: feed pixels / 255",
            false => "(pixels / 255 - mean[c]) / std[c] per channel, before the graph",
        };
        [
            ("input_layout", "NCHW, float32".to_string()),
            ("normalization", normalisation.to_string()),
            ("mean", json(&self.mean)),
            ("std", json(&self.std)),
            ("classes", json(&self.classes)),
        ]
        .into_iter()
        .map(|(k, v)| (format!("lightnasc.{k}"), v))
        .collect()
    }
}

fn json<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).expect("plain values serialise")
}

/// Write `formats` of the pinned graph `g` with `store`'s weights, with the preprocessing of its
/// input where known (ONNX metadata, or folded into the graph; beside MXNet's files as
/// `PREFIX-preprocess.json`); the files written.
pub fn write_model(
    prefix: &Path,
    formats: &[ModelFormat],
    g: &Graph,
    store: &WeightStore,
    pre: Option<&Preprocess>,
) -> Result<Vec<PathBuf>, BackError> {
    // Weights of another graph would make files that load nowhere: refuse before writing any.
    store.check(g)?;
    let p = prefix.display();
    let mut files: Vec<(PathBuf, Vec<u8>)> = vec![];
    for f in formats {
        match f {
            ModelFormat::Onnx => {
                let props = pre.map(Preprocess::props).unwrap_or_default();
                let fold = pre.filter(|p| p.folded).map(|p| (&p.mean[..], &p.std[..]));
                files.push((format!("{p}.onnx").into(), onnx::lower(g, store, &props, fold)?))
            }
            ModelFormat::Mxnet => {
                let (symbol, params) = mxnet::lower(g, store)?;
                files.push((format!("{p}-symbol.json").into(), symbol.into_bytes()));
                files.push((format!("{p}-0000.params").into(), params));
                if let Some(pre) = pre {
                    // MXNet's graph takes normalised input: the description, never folded.
                    let json = serde_json::to_vec_pretty(&Preprocess { folded: false, ..pre.clone() });
                    files.push((format!("{p}-preprocess.json").into(), json.expect("plain values serialise")));
                }
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
