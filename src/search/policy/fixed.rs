//! `lightnasc train`: one pinned network, nothing to choose or learn about architectures.

use std::path::Path;

use burn::tensor::backend::AutodiffBackend;

use super::ArchPolicy;
use crate::search::checkpoint::{Records, State};
use crate::search::{RunError, Scoring, SearchJob};
use crate::tensorboard::EventWriter;

pub struct Fixed;

impl<B: AutodiffBackend> ArchPolicy<B> for Fixed {
    fn sample(&self, _epoch: u32, _b: usize) -> Vec<u32> {
        vec![]
    }

    fn update(&mut self, _: &SearchJob, _: &Scoring<B>, _: &mut State, _: &mut EventWriter) -> Result<(), RunError> {
        Ok(())
    }

    fn argmax(&self, _: &State, _: u32) -> (Vec<u32>, Vec<Vec<f32>>) {
        (vec![], vec![])
    }

    fn records(&self) -> Result<Records, RunError> {
        Ok(vec![])
    }

    fn load(&mut self, _: &Path, _: &State, _: &B::Device) -> Result<(), RunError> {
        Ok(())
    }

    fn searches(&self) -> bool {
        false
    }
}
