//! A weight store: the trained tensors of a network as plain host data, keyed by the IR's weight
//! keys (`<key>.weight`, `.bias`, `.gamma`, `.beta`, `.running_mean`, `.running_var`). The search
//! fills it from burn; back ends read it with the IR and never see burn.

use std::collections::BTreeMap;

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
    pub fn check(&self, g: &crate::ir::Graph) -> Result<(), String> {
        for n in g.topo_order() {
            let node = g.node(n);
            let (Some(key), Some(&input)) = (&node.weights, g.inputs(n).first()) else { continue };
            for (part, shape) in node.op.weight_tensors(g.node(input).shape) {
                let want: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
                match self.get(key, part) {
                    None => return Err(format!("no tensor `{key}.{part}` (shape {want:?}) in the weights")),
                    Some(t) if t.shape != want => {
                        return Err(format!(
                            "`{key}.{part}` has shape {:?} in the weights; the graph needs {want:?}",
                            t.shape
                        ));
                    }
                    Some(t) if t.data.len() != want.iter().product::<usize>() => {
                        return Err(format!("`{key}.{part}` holds {} values for shape {want:?}", t.data.len()));
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(())
    }
}
