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
