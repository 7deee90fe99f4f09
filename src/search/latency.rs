//! The latency model of the reward (docs/original.md §1.6, without its off-by-one): each option of each
//! choice costs the spec's fixed `cost` where every option of the choice gives one, else the
//! measured time of its layers at batch 1 on the search's own backend and device (warm-up runs,
//! then the median of repeats). An architecture's latency is the sum over its choices; the
//! average latency sums each choice's mean.
//!
//! On the CPU with binary kernels on, a layer's measured time is its steps' in the native plan
//! (`back::native`, what `infer` and a deployment run), timed in the plans of the architectures
//! that take every choice's first, second, ... option; layers none of them has are timed on burn.

use std::any::TypeId;
use std::collections::HashMap;
use std::time::Instant;

use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor};
use serde::Serialize;

use super::RunError;
use super::config::{LatencySource, RewardConfig, RewardKind};
use crate::back::native;
use crate::ir::pin::{Assignment, pin};
use crate::ir::{ChoiceId, OptionIx, Shape, cost};
use crate::net::{Activations, Mode, Supernet};
use crate::util::AtPath as _;

#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct LatencyTable {
    /// Per choice, per option, in the unit of the source (spec cost units, milliseconds or OPs).
    pub options: Vec<Vec<f64>>,
    /// Per choice: "spec", "measured" (on the search's backend), "native" (measured in the native
    /// plan) or "ops".
    pub source: Vec<String>,
}

const WARMUP: usize = 3;
const REPEATS: usize = 11;

impl LatencyTable {
    pub fn build<B: Backend>(net: &Supernet<B>, source: LatencySource, device: &B::Device) -> LatencyTable {
        let source_kind = source;
        let plan = &net.plan;
        let native = match source_kind {
            LatencySource::Measured => native_times(net),
            LatencySource::Ops => None,
        };
        let mut options = vec![];
        let mut source = vec![];
        for (ci, choice) in plan.graph.choices.iter().enumerate() {
            let fixed: Option<Vec<f64>> = choice.options.iter().map(|o| o.cost).collect();
            if let Some(costs) = fixed {
                options.push(costs);
                source.push("spec".into());
                continue;
            }
            let mut per_option = vec![0.0; choice.options.len()];
            let mut all_native = true;
            for (i, step) in plan.steps.iter().enumerate() {
                if let Some(alt) = step.alts.iter().find(|a| a.choice == ChoiceId(ci as u32))
                    && !matches!(step.op, crate::ir::Op::Select { .. })
                {
                    per_option[alt.option.0 as usize] += match source_kind {
                        LatencySource::Measured => match native.as_ref().and_then(|t| t.get(&step.name)) {
                            Some(&ms) => ms,
                            None => {
                                all_native = false;
                                time_step(net, i, device)
                            }
                        },
                        LatencySource::Ops => {
                            let input = step.inputs.first().map(|&j| plan.steps[j].shape);
                            cost::node_cost(plan.graph.node(step.node), input).ops()
                        }
                    };
                }
            }
            options.push(per_option);
            source.push(
                match source_kind {
                    LatencySource::Measured if native.is_some() && all_native => "native",
                    LatencySource::Measured => "measured",
                    LatencySource::Ops => "ops",
                }
                .into(),
            );
        }
        LatencyTable { options, source }
    }

    /// `v`, a latency of this table, with its unit: milliseconds when measured, OPs from the
    /// cost model, the spec's own `cost` units (relative, no unit), or a warning if mixed.
    pub fn show(&self, v: f64) -> String {
        let unit = |s: &str| match s {
            "measured" | "native" => "ms",
            "ops" => "OPs",
            _ => "spec cost",
        };
        let units: std::collections::BTreeSet<&str> = self.source.iter().map(|s| unit(s)).collect();
        if units.len() > 1 {
            return format!("{v:.3} (mixed units: {})", Vec::from_iter(units).join(" and "));
        }
        match units.first().copied().unwrap_or("spec cost") {
            "ms" => format!("{v:.3} ms"),
            "OPs" => format!("{:.3}M OPs", v / 1e6),
            _ => format!("{v:.3} (spec cost)"),
        }
    }

    /// A saved table (a run's `latency.json`), checked against the space's option counts.
    pub fn read(path: &std::path::Path, options: &[usize]) -> Result<LatencyTable, RunError> {
        let text = std::fs::read_to_string(path).at(path)?;
        let t: LatencyTable =
            serde_json::from_str(&text).map_err(|e| RunError::corrupt(path, format!("not a latency table: {e}")))?;
        let counts: Vec<usize> = t.options.iter().map(Vec::len).collect();
        if counts != options || t.source.len() != options.len() {
            return Err(RunError::corrupt(
                path,
                format!(
                    "a latency table for another space ({} decisions with {:?} options; this space has {} with {:?})",
                    counts.len(),
                    counts,
                    options.len(),
                    options
                ),
            ));
        }
        if let Some(v) = t.options.iter().flatten().find(|v| !v.is_finite() || **v < 0.0) {
            return Err(RunError::corrupt(path, format!("latency {v} is not a finite non-negative number")));
        }
        Ok(t)
    }

    pub fn of(&self, a: &Assignment) -> f64 {
        self.options.iter().enumerate().map(|(c, o)| a.get(ChoiceId(c as u32)).map_or(0.0, |x| o[x.0 as usize])).sum()
    }

    pub fn average(&self) -> f64 {
        self.options.iter().map(|o| o.iter().sum::<f64>() / o.len().max(1) as f64).sum()
    }

    /// The reward of an architecture with accuracy `acc` (in [0, 1]).
    pub fn reward(&self, cfg: &RewardConfig, acc: f64, a: &Assignment) -> f64 {
        match cfg.kind {
            RewardKind::Accuracy => acc,
            RewardKind::Latency => {
                let lat = self.of(a);
                let target = cfg.target.unwrap_or_else(|| self.average());
                let w = if lat < target { cfg.exponent_below_target.unwrap_or(cfg.exponent) } else { cfg.exponent };
                if lat <= 0.0 || target <= 0.0 { acc } else { acc * (target / lat).powf(w) }
            }
        }
    }
}

/// Median milliseconds at batch 1 of each layer (by name) in the native plans of the
/// architectures that take every choice's o-th option (its last where it has fewer), when the
/// network runs on the CPU with binary kernels; `None` elsewhere or if a plan cannot be made.
fn native_times<B: Backend>(net: &Supernet<B>) -> Option<HashMap<String, f64>> {
    if !net.binary_kernels || TypeId::of::<B>() != TypeId::of::<burn::backend::Flex>() {
        return None;
    }
    let g = &net.plan.graph;
    let most = g.choices.iter().map(|c| c.options.len()).max().unwrap_or(1);
    let mut times: HashMap<String, f64> = HashMap::new();
    for o in 0..most {
        let a = Assignment(g.choices.iter().map(|c| Some(OptionIx(o.min(c.options.len() - 1) as u32))).collect());
        let pinned = pin(g, &a).ok()?;
        let mut plan = native::Plan::new(native::lower(&pinned, &net.store_of(&pinned)).ok()?);
        let mut rng = crate::util::SplitMix64(o as u64);
        let x: Vec<f32> = (0..plan.program().input_shape().iter().product()).map(|_| rng.normal() as f32).collect();
        for _ in 0..WARMUP {
            plan.run(&x, 1);
        }
        let mut here: HashMap<String, f64> = HashMap::new();
        let steps = plan.time_steps(&x, 1, REPEATS);
        for (owner, ms) in plan.program().step_owners().iter().zip(steps) {
            if let Some(name) = owner {
                *here.entry(name.clone()).or_default() += ms;
            }
        }
        // A layer outside the choices, or in an option several of these plans take, keeps its
        // first plan's time; a layer the plan runs as a view (identity, slice) costs nothing.
        for node in pinned.nodes.node_weights() {
            times.entry(node.name.clone()).or_insert_with(|| here.get(&node.name).copied().unwrap_or(0.0));
        }
    }
    Some(times)
}

/// Median milliseconds of one step at batch 1, in eval mode, on random inputs of its shapes.
fn time_step<B: Backend>(net: &Supernet<B>, i: usize, device: &B::Device) -> f64 {
    let plan = &net.plan;
    let step = &plan.steps[i];
    let inputs: Vec<Activations<B>> = step
        .inputs
        .iter()
        .map(|&j| match plan.steps[j].shape {
            Shape::Map { c, h, w } => Activations::Map(Tensor::random(
                [1, c as usize, h as usize, w as usize],
                Distribution::Normal(0.0, 1.0),
                device,
            )),
            Shape::Vector { n } => {
                Activations::Vector(Tensor::random([1, n as usize], Distribution::Normal(0.0, 1.0), device))
            }
        })
        .collect();
    let mut times = vec![];
    for r in 0..WARMUP + REPEATS {
        let start = Instant::now();
        let out = net.apply_step(i, inputs.clone(), Mode::Eval);
        // Reading a value back waits for the device.
        let _ = out.into_vector().sum().into_scalar();
        if r >= WARMUP {
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    crate::stats::median_time(times)
}

#[cfg(test)]
mod tests {
    use super::LatencyTable;

    #[test]
    fn a_latency_is_shown_with_its_unit() {
        let t = |s: &[&str]| LatencyTable { options: vec![], source: s.iter().map(|s| s.to_string()).collect() };
        assert_eq!(t(&["measured", "native"]).show(1.23456), "1.235 ms");
        assert_eq!(t(&["ops", "ops"]).show(24_900_000.0), "24.900M OPs");
        assert_eq!(t(&["spec"]).show(11.4614), "11.461 (spec cost)");
        assert_eq!(t(&["spec", "native"]).show(2.0), "2.000 (mixed units: ms and spec cost)");
    }
}
