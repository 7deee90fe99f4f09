//! The complete state of a search, written atomically: every file goes into `checkpoint.new/`,
//! which then replaces `checkpoint/` by renames (the old one is kept as `checkpoint.old/` until the
//! new one is in place), so a crash at any moment leaves one whole checkpoint.
//!
//! Random streams (data order, augmentation, sampling) are functions of (seed, epoch, step), so
//! the position (epoch, step) is the generators' state.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::record::{BinBytesRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

use super::RunError;
use crate::util::FileError;

/// Per-epoch results, kept in the state (and so in every checkpoint).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EpochRecord {
    pub epoch: u32,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub val_accuracy: f64,
    pub test_accuracy: Option<f64>,
    /// The argmax architecture, as option indices per decision.
    pub argmax: Vec<u32>,
    /// The controller's probabilities of each decision's options along the argmax path.
    pub probs: Vec<Vec<f32>>,
    /// Entropy (nats) of the controller's policy along the argmax path, summed over decisions:
    /// near 0 once it has settled on one architecture.
    #[serde(default)]
    pub entropy: Option<f64>,
    pub latency: f64,
    pub seconds: f64,
    /// The last epoch's candidates, scored on the whole validation split (`argmax` is the best
    /// of them on the run's objective); empty in other epochs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalists: Vec<Finalist>,
}

/// A candidate of the search's end and its score on the whole validation split.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Finalist {
    pub arch: Vec<u32>,
    pub val_accuracy: f64,
    /// The run's objective (the reward) at that accuracy.
    pub reward: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
pub struct State {
    /// Epoch in progress (0-based) and the next training batch in it.
    pub epoch: u32,
    pub batch: usize,
    /// Training steps and controller updates so far (the learning-rate position and TB steps).
    pub global_step: u64,
    pub controller_updates: u64,
    pub baseline: Option<f64>,
    /// The epoch-so-far training sums, so a resumed epoch reports what an uninterrupted one would.
    pub epoch_loss_sum: f64,
    pub epoch_correct: u64,
    pub epoch_seen: u64,
    pub history: Vec<EpochRecord>,
    /// The decision names the checkpoint was made for (a changed spec is refused on resume).
    pub decisions: Vec<String>,
    pub finished: bool,
    /// A digest of the supernet's weights (FNV-1a over the f32 bits in slot order).
    pub weights_digest: String,
    /// CRC-32C of each record file, checked before decoding (burn's decoder panics on garbage).
    pub checksums: std::collections::BTreeMap<String, u32>,
    /// `policy: random`: the best distinct architectures scored so far with their rewards, best
    /// first (`scoring.finalists` of them).
    #[serde(default)]
    pub random_top: Vec<(Vec<u32>, f64)>,
    /// `lightnasc train` from a search run: the architecture's accuracy with the run's shared
    /// weights on the validation split, measured before training.
    #[serde(default)]
    pub shared_weight_accuracy: Option<f64>,
}

/// Binary records of modules and optimiser states, by file name.
pub type Records = Vec<(&'static str, Vec<u8>)>;

pub fn record<B: Backend, R: burn::record::Record<B>>(r: R) -> Result<Vec<u8>, RunError> {
    BinBytesRecorder::<FullPrecisionSettings>::default().record(r, ()).map_err(|e| RunError::Save(e.to_string()))
}

pub fn load_record<B: Backend, R: burn::record::Record<B>>(bytes: Vec<u8>, device: &B::Device) -> Result<R, RunError> {
    BinBytesRecorder::<FullPrecisionSettings>::default()
        .load(bytes, device)
        .map_err(|e| RunError::Record(e.to_string()))
}

pub fn module_bytes<B: Backend, M: Module<B>>(m: &M) -> Result<Vec<u8>, RunError> {
    record::<B, _>(m.clone().into_record())
}

/// Write `state` and the records as the run's checkpoint.
pub fn save(run: &Path, state: &State, records: &Records) -> Result<(), RunError> {
    let fail = |path: &Path, source| RunError::Checkpoint { path: path.to_path_buf(), source };
    let new = run.join("checkpoint.new");
    let cur = run.join("checkpoint");
    let old = run.join("checkpoint.old");
    if new.exists() {
        std::fs::remove_dir_all(&new).map_err(|e| fail(&new, e))?;
    }
    std::fs::create_dir_all(&new).map_err(|e| fail(&new, e))?;
    let mut state = state.clone();
    state.checksums = records.iter().map(|(n, b)| (n.to_string(), crc32c::crc32c(b))).collect();
    let state = &state;
    for (name, bytes) in records {
        let p = new.join(name);
        crate::util::write_atomic(&p, bytes).map_err(|e| fail(&p, e))?;
    }
    let p = new.join("state.json");
    crate::util::write_atomic(&p, serde_json::to_string_pretty(state).expect("state serialises").as_bytes())
        .map_err(|e| fail(&p, e))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(|e| fail(&old, e))?;
    }
    if cur.exists() {
        std::fs::rename(&cur, &old).map_err(|e| fail(&cur, e))?;
    }
    std::fs::rename(&new, &cur).map_err(|e| fail(&new, e))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(|e| fail(&old, e))?;
    }
    Ok(())
}

/// The checkpoint folder to resume from: `checkpoint/`, or `checkpoint.old/` if a crash came
/// between the two renames.
pub fn find(run: &Path) -> Option<PathBuf> {
    ["checkpoint", "checkpoint.old"].iter().map(|n| run.join(n)).find(|p| p.join("state.json").is_file())
}

pub fn load_state(dir: &Path) -> Result<State, RunError> {
    let p = dir.join("state.json");
    let text = std::fs::read_to_string(&p).map_err(|e| FileError::new(&p, format!("cannot read: {e}")))?;
    serde_json::from_str(&text).map_err(|e| RunError::corrupt(&p, format!("corrupt checkpoint state: {e}")))
}

/// A record file, checked against the checksum the state holds for it.
pub fn read(dir: &Path, state: &State, name: &str) -> Result<Vec<u8>, RunError> {
    let p = dir.join(name);
    let bytes = std::fs::read(&p).map_err(|e| FileError::new(&p, format!("cannot read: {e}")))?;
    match state.checksums.get(name) {
        Some(&crc) if crc == crc32c::crc32c(&bytes) => Ok(bytes),
        Some(_) => Err(RunError::corrupt(p, "the checkpoint is corrupt (checksum mismatch)")),
        None => Err(RunError::corrupt(p, "the checkpoint is corrupt (no checksum for this file)")),
    }
}

/// FNV-1a over the bit patterns of `values`.
pub fn digest(values: impl Iterator<Item = f32>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for v in values {
        for b in v.to_bits().to_le_bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A resumed epoch continues from the saved sums, so they must come back bit for bit
    /// (serde_json's default parser is off by one ulp for about one value in ten).
    #[test]
    fn a_saved_state_loads_back_bit_for_bit() {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = crate::util::SplitMix64(7);
        for _ in 0..200 {
            let sum = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 5000.0;
            let state = State { epoch_loss_sum: sum, baseline: Some(sum / 3.0), ..State::default() };
            save(dir.path(), &state, &Vec::new()).unwrap();
            let back = load_state(&dir.path().join("checkpoint")).unwrap();
            assert_eq!(back.epoch_loss_sum.to_bits(), sum.to_bits(), "{sum}");
            assert_eq!(back.baseline.map(f64::to_bits), state.baseline.map(f64::to_bits));
        }
    }
}
