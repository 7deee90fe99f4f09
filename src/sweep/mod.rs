//! Sweeps: many independent runs (seeds, spaces, retrains, baselines) from one plan, split into
//! shards that any number of processes or machines run (`lightnasc sweep PLAN --shard I/N`).
//! [`plan`] reads and expands a plan; [`emit`] writes the Slurm and Kubernetes scripts that run
//! its shards. Running them is the command line's part (`cli/sweep.rs`): each shard runs its
//! units in-process and records them in its own ledger file beside the runs.

pub mod emit;
pub mod plan;

pub use plan::{PlanError, SweepPlan, Unit};
