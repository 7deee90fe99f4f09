//! A space's choices as a list of option counts: what the ledger, reports, latency tables and
//! every search policy index architectures by (option index per decision). Pure description,
//! beside the IR; the LSTM controller that samples them lives in `search::controller`.

use super::pin::Assignment;
use super::{Graph, OptionIx};
use crate::util::SplitMix64;

/// A space's decisions as a search sees them: the option counts of its choices, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decisions {
    pub options: Vec<usize>,
}

impl Decisions {
    pub fn of(g: &Graph) -> Decisions {
        Decisions { options: g.choices.iter().map(|c| c.options.len()).collect() }
    }

    /// Where decision `k`'s options start in a flat list of every decision's options.
    pub fn offset(&self, k: usize) -> usize {
        self.options[..k].iter().sum()
    }

    /// One option per decision, uniformly (the random-search baseline).
    pub fn uniform(&self, rng: &mut SplitMix64) -> Vec<u32> {
        self.options.iter().map(|&k| rng.below(k as u64) as u32).collect()
    }

    pub fn assignment(&self, actions: &[u32]) -> Assignment {
        Assignment(actions.iter().map(|&a| Some(OptionIx(a))).collect())
    }
}
