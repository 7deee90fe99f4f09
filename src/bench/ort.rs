//! onnxruntime as a baseline in the same run: `scripts/bench_ort.py` (compiled into the binary)
//! run by a Python that has onnxruntime, on the ONNX that `back::onnx` writes for the same
//! network and weights, or on one float conv. One process per batch size, so each figure's
//! memory growth is its own.

use crate::error::Error;
use crate::util::AtPath as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const SCRIPT: &str = include_str!("../../scripts/bench_ort.py");

/// One timing: median milliseconds, and the process's peak memory growth over the session.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct OrtTiming {
    pub ms: f64,
    pub peak_growth_bytes: u64,
}

/// What onnxruntime runs.
pub enum OrtModel<'a> {
    /// An ONNX file's bytes.
    Model(&'a [u8]),
    /// A float conv: C_in, H = W, C_out, k, pad.
    Conv([usize; 5]),
}

/// A scratch folder for the script and the model, removed on drop.
struct Scratch(PathBuf);
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Time `model` at `batch` with `threads` threads, `python` being an interpreter with
/// onnxruntime (e.g. the tests' `venv-onnx`).
pub fn time(python: &Path, model: &OrtModel, batch: usize, threads: usize, reps: usize) -> Result<OrtTiming, Error> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "lightnasc-ort-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).at(&dir)?;
    let scratch = Scratch(dir);
    let script = scratch.0.join("bench_ort.py");
    std::fs::write(&script, SCRIPT).at(&script)?;
    let mut cmd = Command::new(python);
    cmd.arg(&script).args([
        "--batch",
        &batch.to_string(),
        "--threads",
        &threads.to_string(),
        "--reps",
        &reps.to_string(),
    ]);
    match model {
        OrtModel::Model(bytes) => {
            let path = scratch.0.join("model.onnx");
            std::fs::write(&path, bytes).at(&path)?;
            cmd.arg("--model").arg(path);
        }
        OrtModel::Conv(s) => {
            cmd.args(["--conv", &s.map(|v| v.to_string()).join(",")]);
        }
    }
    let out = cmd.output().map_err(|e| Error::Tool(format!("running {}: {e}", python.display())))?;
    if !out.status.success() {
        return Err(Error::Tool(format!(
            "onnxruntime via {} failed (does it have onnxruntime, onnx and numpy?): {}",
            python.display(),
            String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")
        )));
    }
    let tool = |what: String| Error::Tool(format!("onnxruntime's output: {what}"));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| tool(e.to_string()))?;
    let ms = v["rows"][0]["ms"].as_f64().ok_or_else(|| tool("no time".into()))?;
    Ok(OrtTiming { ms, peak_growth_bytes: v["peak_growth_bytes"].as_u64().unwrap_or(0) })
}
