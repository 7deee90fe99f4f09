//! A weight store: the trained tensors of a network as plain host data, keyed by the IR's weight
//! keys (`<key>.weight`, `.bias`, `.gamma`, `.beta`, `.running_mean`, `.running_var`). The search
//! fills it from burn; back ends read it with the IR and never see burn.

use std::collections::BTreeMap;

use thiserror::Error;

/// Weights that do not fit a graph: which tensor, and how.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum WeightError {
    #[error("no `{key}.{part}` in the weights")]
    Missing { key: String, part: String },
    /// `held`/`wanted` as printed: a shape, or `absent`.
    #[error("`{key}.{part}` has shape {held} in the weights; the graph needs {wanted}")]
    Shape { key: String, part: String, held: String, wanted: String },
    #[error("`{key}.{part}` holds {len} values for shape {shape:?}")]
    Length { key: String, part: String, len: usize, shape: Vec<usize> },
    /// Tensors of each kind (conv, dense, batch norm) in the weights and in the graph.
    #[error(
        "the weights hold {} conv, {} dense and {} batch-norm tensors; the graph has {}, {} and {}",
        held[0], held[1], held[2], graph[0], graph[1], graph[2]
    )]
    Counts { held: [usize; 3], graph: [usize; 3] },
    #[error("{node}: a weighted layer without a weight key")]
    NoKey { node: String },
}

impl WeightError {
    pub fn missing(key: &str, part: &str) -> Self {
        WeightError::Missing { key: key.into(), part: part.into() }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct WeightStore {
    pub tensors: BTreeMap<String, HostTensor>,
}

impl WeightStore {
    pub fn insert(&mut self, key: &str, part: &str, shape: Vec<usize>, data: Vec<f32>) {
        self.tensors.insert(format!("{key}.{part}"), HostTensor { shape, data });
    }

    pub fn get(&self, key: &str, part: &str) -> Option<&HostTensor> {
        self.tensors.get(&format!("{key}.{part}"))
    }
}

impl WeightStore {
    /// Check that the store holds every tensor `g`'s layers read, each with the shape the layer
    /// needs: a mismatch names the key and both shapes, so no back end writes a broken file.
    pub fn check(&self, g: &crate::ir::Graph) -> Result<(), WeightError> {
        for n in g.topo_order() {
            let node = g.node(n);
            let (Some(key), Some(&input)) = (&node.weights, g.inputs(n).first()) else { continue };
            let wanted = node.op.weight_tensors(g.node(input).shape);
            let held: Vec<(&str, Vec<usize>)> =
                wanted.iter().filter_map(|(part, _)| Some((*part, self.get(key, part)?.shape.clone()))).collect();
            check_tensors(key, &wanted, &held)?;
            for (part, shape) in &wanted {
                let t = self.get(key, part).expect("checked above");
                if t.data.len() != shape.iter().product::<usize>() {
                    let (key, part, len, shape) = (key.clone(), part.to_string(), t.data.len(), shape.clone());
                    return Err(WeightError::Length { key, part, len, shape });
                }
            }
        }
        Ok(())
    }
}

/// Compare the tensors held under `key` with those a layer needs, both as (part, shape): the
/// first difference names the tensor and both shapes (`absent` where one side has none). Every
/// reader of weights (checkpoints, weight stores) reports through this.
pub fn check_tensors(key: &str, wanted: &[(&str, Vec<usize>)], held: &[(&str, Vec<usize>)]) -> Result<(), WeightError> {
    let find = |list: &[(&str, Vec<usize>)], part: &str| list.iter().find(|t| t.0 == part).map(|t| t.1.clone());
    let parts = wanted.iter().chain(held).map(|t| t.0);
    for part in parts {
        let (w, h) = (find(wanted, part), find(held, part));
        if w != h {
            let show = |d: &Option<Vec<usize>>| d.as_ref().map_or("absent".to_string(), |d| format!("{d:?}"));
            let (key, part) = (key.to_string(), part.to_string());
            return Err(WeightError::Shape { key, part, held: show(&h), wanted: show(&w) });
        }
    }
    Ok(())
}
