//! The MXNet back end: `PREFIX-symbol.json` and `PREFIX-0000.params` as stock MXNet 1.9.1 writes
//! and reads them (docs/original.md §8). Stock ops only, so `SymbolBlock.imports` loads the pair: det_sign
//! becomes `_greater_equal_scalar(0) * 2 - 1`, the weights are stored binarised (±1), padding is
//! `Pad` with -1, and the offset is `_plus_scalar(K)` then `_div_scalar(2)`.

use serde_json::{Value, json};

use super::BackError;
use crate::ir::binary::{self, Epilogue};
use crate::ir::store::{HostTensor, WeightError, WeightStore};
use crate::ir::{ActQuant, Graph, Op};

const LIST_MAGIC: u64 = 0x112;
const NDARRAY_V2_MAGIC: u32 = 0xF993_FAC9;

/// An NDArray list file (`.params`, `.nd`): the arrays with their names (empty for a list save).
pub fn write_params(arrays: &[(String, HostTensor)]) -> Vec<u8> {
    let mut out = vec![];
    out.extend(LIST_MAGIC.to_le_bytes());
    out.extend(0u64.to_le_bytes());
    out.extend((arrays.len() as u64).to_le_bytes());
    for (_, t) in arrays {
        out.extend(NDARRAY_V2_MAGIC.to_le_bytes());
        out.extend(0i32.to_le_bytes()); // dense storage
        out.extend((t.shape.len() as i32).to_le_bytes());
        for &d in &t.shape {
            out.extend((d as i64).to_le_bytes());
        }
        out.extend(1i32.to_le_bytes()); // cpu
        out.extend(0i32.to_le_bytes()); // device 0
        out.extend(0i32.to_le_bytes()); // float32
        for v in &t.data {
            out.extend(v.to_le_bytes());
        }
    }
    out.extend((arrays.len() as u64).to_le_bytes());
    for (name, _) in arrays {
        out.extend((name.len() as u64).to_le_bytes());
        out.extend(name.as_bytes());
    }
    out
}

/// Read an NDArray list file of dense float32 arrays (version-2 records).
pub fn read_params(bytes: &[u8]) -> Result<Vec<(String, HostTensor)>, BackError> {
    read_params_(bytes).map_err(BackError::Params)
}

fn read_params_(bytes: &[u8]) -> Result<Vec<(String, HostTensor)>, String> {
    let mut at = 0usize;
    // Sizes come from the file: checked, so a crafted header is an error, not an overflow.
    let mut take = |n: usize| -> Result<&[u8], String> {
        let end = at.checked_add(n).filter(|&e| e <= bytes.len());
        let s = end.map(|e| &bytes[at..e]).ok_or_else(|| format!("truncated at byte {at} (wanted {n} more)"))?;
        at += n;
        Ok(s)
    };
    let u64_ = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
    let i32_ = |b: &[u8]| i32::from_le_bytes(b.try_into().expect("4 bytes"));
    if u64_(take(8)?) != LIST_MAGIC {
        return Err("no list magic 0x112".into());
    }
    take(8)?;
    let n = u64_(take(8)?) as usize;
    let mut tensors = vec![];
    for i in 0..n {
        let magic = u32::from_le_bytes(take(4)?.try_into().expect("4 bytes"));
        if magic != NDARRAY_V2_MAGIC {
            return Err(format!("array {i}: magic {magic:#x}, only version 2 (0xf993fac9) is read"));
        }
        if i32_(take(4)?) != 0 {
            return Err(format!("array {i}: sparse storage is not supported"));
        }
        let ndim = i32_(take(4)?);
        let shape: Vec<usize> = (0..ndim).map(|_| take(8).map(|b| u64_(b) as usize)).collect::<Result<_, _>>()?;
        take(8)?; // context
        let dtype = i32_(take(4)?);
        if dtype != 0 {
            return Err(format!("array {i}: dtype flag {dtype}, only float32 (0) is read"));
        }
        let bytes_of = shape.iter().try_fold(4usize, |n, &d| n.checked_mul(d));
        let bytes_of = bytes_of.ok_or_else(|| format!("array {i}: shape {shape:?} is too large"))?;
        let data =
            take(bytes_of)?.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
        tensors.push(HostTensor { shape, data });
    }
    let names = u64_(take(8)?) as usize;
    if names != 0 && names != n {
        return Err(format!("{names} names for {n} arrays"));
    }
    let mut out = vec![];
    for (i, t) in tensors.into_iter().enumerate() {
        let name = if names == 0 {
            String::new()
        } else {
            let len = u64_(take(8)?) as usize;
            String::from_utf8(take(len)?.to_vec()).map_err(|_| format!("name {i} is not UTF-8"))?
        };
        out.push((name, t));
    }
    if at != bytes.len() {
        return Err(format!("{} bytes after the last name", bytes.len() - at));
    }
    Ok(out)
}

fn tuple(v: &[u32]) -> String {
    format!("({})", v.iter().map(u32::to_string).collect::<Vec<_>>().join(", "))
}

struct Sym {
    nodes: Vec<Value>,
    outputs: Vec<u32>,
    params: Vec<(String, HostTensor)>,
}

impl Sym {
    fn push(&mut self, op: &str, name: &str, attrs: Value, inputs: &[usize], outputs: u32) -> usize {
        let ins: Vec<Value> = inputs.iter().map(|&i| json!([i, 0, 0])).collect();
        let mut node = json!({"op": op, "name": name, "inputs": ins});
        if attrs.as_object().is_some_and(|o| !o.is_empty()) {
            node["attrs"] = attrs;
        }
        self.nodes.push(node);
        self.outputs.push(outputs);
        self.nodes.len() - 1
    }

    fn var(&mut self, name: &str, kind: &str, t: HostTensor, wd: bool) -> usize {
        let shape: Vec<u32> = t.shape.iter().map(|&d| d as u32).collect();
        let attrs = json!({
            "__dtype__": "0", "__lr_mult__": "1.0", "__shape__": tuple(&shape),
            "__storage_type__": "0", "__wd_mult__": if wd { "1.0" } else { "0.0" },
        });
        self.params.push((format!("{kind}:{name}"), t));
        self.push("null", name, attrs, &[], 1)
    }
}

/// Whether this back end lowers every op of `g` (a space or one architecture), else the first
/// node it cannot: a run checks this when it is configured, so no run fails at its export. Stock
/// MXNet expresses every op today (`lower` matches them all, with no catch-all: a new op must be
/// lowered there, and any case it cannot lower refused here).
pub fn supports(_g: &Graph) -> Result<(), BackError> {
    Ok(())
}

/// The symbol JSON and `.params` bytes of a pinned graph with weights from `store`.
pub fn lower(g: &Graph, store: &WeightStore) -> Result<(String, Vec<u8>), BackError> {
    if !g.choices.is_empty() {
        return Err(BackError::Space { graph: g.name.clone(), runs: "export" });
    }
    supports(g)?;
    let mut s = Sym { nodes: vec![], outputs: vec![], params: vec![] };
    let mut ids: std::collections::HashMap<petgraph::stable_graph::NodeIndex, usize> = Default::default();
    let get = |node: &crate::ir::Node, part: &str| -> Result<HostTensor, WeightError> {
        let k = node.weights.as_deref().ok_or_else(|| WeightError::NoKey { node: node.name.clone() })?;
        store.get(k, part).cloned().ok_or_else(|| WeightError::missing(k, part))
    };
    for n in g.topo_order() {
        let node = g.node(n);
        let ins: Vec<usize> = g.inputs(n).iter().map(|i| ids[i]).collect();
        let x = ins.first().copied().unwrap_or(0);
        let name = node.name.replace('.', "_");
        let id = match &node.op {
            Op::Input => s.push("null", "data", json!({}), &[], 1),
            Op::Output | Op::Identity | Op::Dropout { .. } => x,
            Op::Conv { conv, bias } => {
                let w = s.var(&format!("{name}_weight"), "arg", get(node, "weight")?, true);
                let mut inputs = vec![x, w];
                if *bias {
                    inputs.push(s.var(&format!("{name}_bias"), "arg", get(node, "bias")?, true));
                }
                let attrs = conv_attrs(&conv.clone(), conv.pad, !*bias);
                s.push("Convolution", &format!("{name}_fwd"), attrs, &inputs, 1)
            }
            Op::BinaryConv(b) => {
                let c = &b.conv;
                let mut a = x;
                match b.act {
                    ActQuant::DetSign | ActQuant::ApproxSign => {
                        // sign(x) = 2 * (x >= 0) - 1: +1 at zero, as `ir::binary::sign`.
                        a = s.push("_greater_equal_scalar", &format!("{name}_ge"), json!({"scalar": "0"}), &[a], 1);
                        a = s.push("_mul_scalar", &format!("{name}_mul"), json!({"scalar": "2"}), &[a], 1);
                        a = s.push("_minus_scalar", &format!("{name}_sign"), json!({"scalar": "1"}), &[a], 1);
                    }
                    ActQuant::Relu => {
                        a = s.push("Activation", &format!("{name}_relu"), json!({"act_type": "relu"}), &[a], 1)
                    }
                    ActQuant::Identity => {}
                }
                if c.pad > 0 {
                    let p = c.pad;
                    let attrs = json!({"constant_value": format!("{}", b.pad_value), "mode": "constant",
                        "pad_width": format!("(0, 0, 0, 0, {p}, {p}, {p}, {p})")});
                    a = s.push("Pad", &format!("{name}_pad"), attrs, &[a], 1);
                }
                let latent = get(node, "weight")?;
                let (out, fan) = (latent.shape[0], latent.shape[1..].iter().product::<usize>());
                let w = HostTensor {
                    shape: latent.shape.clone(),
                    data: binary::quantized_weights(b.weights, &latent.data),
                };
                let wv = s.var(&format!("{name}_weight"), "arg", w, false);
                let h = s.push("Convolution", &format!("{name}_fwd"), conv_attrs(c, 0, true), &[a, wv], 1);
                let alpha = |s: &mut Sym| {
                    let t = HostTensor { shape: vec![1, out, 1, 1], data: binary::channel_scale(&latent.data, out) };
                    let al = s.var(&format!("{name}_alpha"), "arg", t, false);
                    s.push("broadcast_mul", &format!("{name}_scaled"), json!({}), &[h, al], 1)
                };
                match b.epilogue(fan) {
                    Epilogue::None => h,
                    Epilogue::Offset { fan_in } => {
                        let attrs = json!({"scalar": fan_in.to_string()});
                        let p = s.push("_plus_scalar", &format!("{name}_plus"), attrs, &[h], 1);
                        s.push("_div_scalar", &format!("{name}_count"), json!({"scalar": "2"}), &[p], 1)
                    }
                    Epilogue::ChannelScale => alpha(&mut s),
                    Epilogue::ChannelScaleAndMagnitude => {
                        let scaled = alpha(&mut s);
                        let m = s.push("abs", &format!("{name}_abs"), json!({}), &[x], 1);
                        let attrs = json!({"axis": "1", "keepdims": "True"});
                        let m = s.push("mean", &format!("{name}_magnitude"), attrs, &[m], 1);
                        let k = c.kernel as usize;
                        let t = HostTensor { shape: vec![1, 1, k, k], data: vec![1.0 / (k * k) as f32; k * k] };
                        let bx = s.var(&format!("{name}_box"), "arg", t, false);
                        let one = crate::ir::Conv2d { out: 1, groups: 1, ..*c };
                        let km =
                            s.push("Convolution", &format!("{name}_k"), conv_attrs(&one, c.pad, true), &[m, bx], 1);
                        s.push("broadcast_mul", &format!("{name}_xnor"), json!({}), &[scaled, km], 1)
                    }
                }
            }
            Op::BatchNorm { eps, momentum, scale, center } => {
                let c = node.shape.channels() as usize;
                let ones = HostTensor { shape: vec![c], data: vec![1.0; c] };
                let zeros = HostTensor { shape: vec![c], data: vec![0.0; c] };
                let gamma = if *scale { get(node, "gamma")? } else { ones };
                let beta = if *center { get(node, "beta")? } else { zeros };
                let gi = s.var(&format!("{name}_gamma"), "arg", gamma, true);
                let bi = s.var(&format!("{name}_beta"), "arg", beta, true);
                let mi = s.var(&format!("{name}_running_mean"), "aux", get(node, "running_mean")?, true);
                let vi = s.var(&format!("{name}_running_var"), "aux", get(node, "running_var")?, true);
                let attrs = json!({"axis": "1", "eps": format!("{eps:e}"), "fix_gamma": if *scale { "False" } else { "True" },
                    "momentum": format!("{momentum}"), "use_global_stats": "False"});
                s.push("BatchNorm", &format!("{name}_fwd"), attrs, &[x, gi, bi, mi, vi], 3)
            }
            Op::Relu => s.push("Activation", &format!("{name}_fwd"), json!({"act_type": "relu"}), &[x], 1),
            Op::MaxPool(p) | Op::AvgPool(p) => {
                let avg = matches!(node.op, Op::AvgPool(_));
                let mut attrs = json!({"global_pool": "False", "kernel": tuple(&[p.kernel, p.kernel]), "pad": tuple(&[p.pad, p.pad]),
                    "pool_type": if avg { "avg" } else { "max" }, "pooling_convention": "valid", "stride": tuple(&[p.stride, p.stride])});
                if avg {
                    attrs["count_include_pad"] = "True".into();
                }
                s.push("Pooling", &format!("{name}_fwd"), attrs, &[x], 1)
            }
            Op::GlobalAvgPool | Op::GlobalMaxPool => {
                let t = if matches!(node.op, Op::GlobalAvgPool) { "avg" } else { "max" };
                let attrs = json!({"global_pool": "True", "kernel": "(1, 1)", "pool_type": t});
                let p = s.push("Pooling", &format!("{name}_fwd"), attrs, &[x], 1);
                s.push("Flatten", &format!("{name}_flatten"), json!({}), &[p], 1)
            }
            Op::Flatten => s.push("Flatten", &format!("{name}_fwd"), json!({}), &[x], 1),
            Op::Dense { out, bias } => {
                let w = s.var(&format!("{name}_weight"), "arg", get(node, "weight")?, true);
                let mut inputs = vec![x, w];
                if *bias {
                    inputs.push(s.var(&format!("{name}_bias"), "arg", get(node, "bias")?, true));
                }
                let attrs = json!({"flatten": "True", "no_bias": if *bias { "False" } else { "True" }, "num_hidden": out.to_string()});
                s.push("FullyConnected", &format!("{name}_fwd"), attrs, &inputs, 1)
            }
            Op::Concat => {
                let attrs = json!({"dim": "1", "num_args": ins.len().to_string()});
                s.push("Concat", &format!("{name}_fwd"), attrs, &ins, 1)
            }
            Op::Add => {
                let mut acc = ins[0];
                for (k, &other) in ins[1..].iter().enumerate() {
                    acc = s.push("elemwise_add", &format!("{name}_plus{k}"), json!({}), &[acc, other], 1);
                }
                acc
            }
            Op::Slice { begin, end } => {
                let attrs = json!({"axis": "1", "begin": begin.to_string(), "end": end.to_string()});
                s.push("slice_axis", &format!("{name}_fwd"), attrs, &[x], 1)
            }
            Op::ChannelShuffle { groups } => {
                let r = s.push(
                    "Reshape",
                    &format!("{name}_split"),
                    json!({"shape": format!("(0, -4, {groups}, -1, -2)")}),
                    &[x],
                    1,
                );
                let t = s.push("SwapAxis", &format!("{name}_swap"), json!({"dim1": "1", "dim2": "2"}), &[r], 1);
                s.push("Reshape", &format!("{name}_merge"), json!({"shape": "(0, -3, -2)"}), &[t], 1)
            }
            Op::Select { .. } => {
                return Err(BackError::Malformed { node: node.name.clone(), what: "a choice point in a pinned graph" });
            }
        };
        ids.insert(n, id);
    }
    let arg_nodes: Vec<usize> = s.nodes.iter().enumerate().filter(|(_, n)| n["op"] == "null").map(|(i, _)| i).collect();
    let mut row_ptr = vec![0u32];
    for o in &s.outputs {
        row_ptr.push(row_ptr.last().expect("starts at 0") + o);
    }
    let symbol = json!({
        "nodes": s.nodes,
        "arg_nodes": arg_nodes,
        "node_row_ptr": row_ptr,
        "heads": [[ids[&g.output], 0, 0]],
        "attrs": {"mxnet_version": ["int", 10901]},
    });
    let text = serde_json::to_string_pretty(&symbol).expect("JSON");
    Ok((text, write_params(&s.params)))
}

fn conv_attrs(c: &crate::ir::Conv2d, pad: u32, no_bias: bool) -> Value {
    json!({
        "dilate": tuple(&[c.dilation, c.dilation]), "kernel": tuple(&[c.kernel, c.kernel]), "layout": "NCHW",
        "no_bias": if no_bias { "True" } else { "False" }, "num_filter": c.out.to_string(),
        "num_group": c.groups.to_string(), "pad": tuple(&[pad, pad]), "stride": tuple(&[c.stride, c.stride]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sizes read from a crafted file (an array's shape, a name's length) that overflow are
    /// errors, in debug builds too.
    #[test]
    fn sizes_from_the_file_are_checked() {
        let record = |dims: &[u64]| {
            let mut b = vec![];
            b.extend(LIST_MAGIC.to_le_bytes());
            b.extend(0u64.to_le_bytes());
            b.extend(1u64.to_le_bytes());
            b.extend(NDARRAY_V2_MAGIC.to_le_bytes());
            b.extend(0i32.to_le_bytes());
            b.extend((dims.len() as i32).to_le_bytes());
            dims.iter().for_each(|d| b.extend(d.to_le_bytes()));
            b.extend([0u8; 8]);
            b.extend(0i32.to_le_bytes());
            b
        };
        let e = read_params(&record(&[u64::MAX / 2, 4, 4])).unwrap_err().to_string();
        assert!(e.contains("is too large"), "{e}");
        // One 1-element array, then a name whose length runs past the end of usize.
        let mut b = record(&[1]);
        b.extend(1.5f32.to_le_bytes());
        b.extend(1u64.to_le_bytes());
        b.extend(u64::MAX.to_le_bytes());
        let e = read_params(&b).unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
        // The same with a real name reads.
        let mut b = record(&[1]);
        b.extend(1.5f32.to_le_bytes());
        b.extend(1u64.to_le_bytes());
        b.extend(3u64.to_le_bytes());
        b.extend(b"w:x");
        let read = read_params(&b).unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].1.data, vec![1.5]);
    }
}
