//! The ONNX back end: a pinned architecture and its weights as a standard-ops model (opset 13,
//! IR version 7), input `input` and output `output` with a dynamic batch dimension `N`, and a
//! shape on every value. Binary convolutions lower to the sign pattern `Sign(Sign(x) + 0.5)`
//! (0 maps to +1), `Pad` with -1, `Conv` with weights already binarised, then the (h + K) / 2
//! offset; batch norm lowers to the per-channel `Mul` and `Add` our own inference computes, with
//! the same f32 constants, so both round alike.

use onnx_protobuf::tensor_proto::DataType;
use onnx_protobuf::tensor_shape_proto::{Dimension, dimension};
use onnx_protobuf::type_proto::{self, Value as TypeValue};
use onnx_protobuf::{
    AttributeProto, GraphProto, Message, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto, attribute_proto::AttributeType,
};

use super::BackError;
use crate::ir::binary::{self, Epilogue};
use crate::ir::store::{WeightError, WeightStore};
use crate::ir::{ActQuant, BinaryConv, Conv2d, Graph, Op, Pool, Shape};

pub const OPSET: i64 = 13;
/// The lowest IR version opset 13 needs.
pub const IR_VERSION: i64 = 7;

#[derive(Default)]
struct Builder {
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    infos: Vec<ValueInfoProto>,
    count: usize,
}

fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    let mut a = AttributeProto::new();
    a.name = name.into();
    a.type_ = AttributeType::INTS.into();
    a.ints = v.to_vec();
    a
}

fn attr_int(name: &str, v: i64) -> AttributeProto {
    let mut a = AttributeProto::new();
    a.name = name.into();
    a.type_ = AttributeType::INT.into();
    a.i = v;
    a
}

fn value_info(name: &str, dims: &[Option<i64>]) -> ValueInfoProto {
    let mut shape = TensorShapeProto::new();
    for d in dims {
        let mut dim = Dimension::new();
        dim.value = Some(match d {
            Some(v) => dimension::Value::DimValue(*v),
            None => dimension::Value::DimParam("N".into()),
        });
        shape.dim.push(dim);
    }
    let mut t = type_proto::Tensor::new();
    t.elem_type = DataType::FLOAT as i32;
    t.shape = Some(shape).into();
    let mut tp = TypeProto::new();
    tp.value = Some(TypeValue::TensorType(t));
    let mut v = ValueInfoProto::new();
    v.name = name.into();
    v.type_ = Some(tp).into();
    v
}

fn dims_of(s: Shape) -> Vec<Option<i64>> {
    match s {
        Shape::Map { c, h, w } => vec![None, Some(c as i64), Some(h as i64), Some(w as i64)],
        Shape::Vector { n } => vec![None, Some(n as i64)],
    }
}

impl Builder {
    fn fresh(&mut self, base: &str) -> String {
        self.count += 1;
        format!("{base}/{}", self.count)
    }

    fn node(&mut self, op: &str, inputs: &[&str], output: &str, attrs: Vec<AttributeProto>) {
        let mut n = NodeProto::new();
        n.op_type = op.into();
        n.name = output.into();
        n.input = inputs.iter().map(|s| s.to_string()).collect();
        n.output = vec![output.into()];
        n.attribute = attrs;
        self.nodes.push(n);
    }

    /// Emit `op` into a new value named after `base`; returns the value's name.
    fn op(&mut self, op: &str, inputs: &[&str], base: &str, attrs: Vec<AttributeProto>) -> String {
        let out = self.fresh(base);
        self.node(op, inputs, &out, attrs);
        out
    }

    fn f32_init(&mut self, base: &str, shape: &[usize], data: &[f32]) -> String {
        let name = self.fresh(base);
        let mut t = TensorProto::new();
        t.name = name.clone();
        t.data_type = DataType::FLOAT as i32;
        t.dims = shape.iter().map(|&d| d as i64).collect();
        t.raw_data = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.inits.push(t);
        name
    }

    fn i64_init(&mut self, base: &str, data: &[i64]) -> String {
        let name = self.fresh(base);
        let mut t = TensorProto::new();
        t.name = name.clone();
        t.data_type = DataType::INT64 as i32;
        t.dims = vec![data.len() as i64];
        t.raw_data = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.inits.push(t);
        name
    }

    fn scalar(&mut self, base: &str, v: f32) -> String {
        self.f32_init(base, &[], &[v])
    }
}

fn conv_attrs(c: &Conv2d, pad: u32) -> Vec<AttributeProto> {
    let (k, s, p, d) = (c.kernel as i64, c.stride as i64, pad as i64, c.dilation as i64);
    vec![
        attr_ints("kernel_shape", &[k, k]),
        attr_ints("strides", &[s, s]),
        attr_ints("pads", &[p, p, p, p]),
        attr_ints("dilations", &[d, d]),
        attr_int("group", c.groups as i64),
    ]
}

fn pool_attrs(p: &Pool) -> Vec<AttributeProto> {
    let (k, s, pd) = (p.kernel as i64, p.stride as i64, p.pad as i64);
    vec![attr_ints("kernel_shape", &[k, k]), attr_ints("strides", &[s, s]), attr_ints("pads", &[pd, pd, pd, pd])]
}

/// Whether this back end lowers every op of `g` (a space or one architecture), else the first
/// node it cannot: a run checks this when it is configured, so no run fails at its export.
/// (`lower` matches every op with no catch-all, so a new op is lowered there, and any case it
/// cannot lower refused here.)
pub fn supports(g: &Graph) -> Result<(), BackError> {
    for n in g.topo_order() {
        let node = g.node(n);
        match &node.op {
            Op::ChannelShuffle { .. } if !matches!(node.shape, Shape::Map { .. }) => {
                let (node, what) = (node.name.clone(), "channel_shuffle of a vector".into());
                return Err(BackError::Unsupported { node, what, format: "ONNX" });
            }
            _ => {}
        }
    }
    Ok(())
}

/// The ONNX model of a pinned graph (no choices) with weights from `store`.
/// `g` with `store`'s weights as an ONNX model; `props` go in its `metadata_props`, and `fold`
/// (per-channel mean and std) puts `(input - mean) / std` at the graph's start.
pub fn lower(
    g: &Graph,
    store: &WeightStore,
    props: &[(String, String)],
    fold: Option<(&[f32], &[f32])>,
) -> Result<Vec<u8>, BackError> {
    if !g.choices.is_empty() {
        return Err(BackError::Space { graph: g.name.clone(), runs: "export" });
    }
    supports(g)?;
    let mut b = Builder::default();
    let mut names: std::collections::HashMap<petgraph::stable_graph::NodeIndex, String> = Default::default();
    let input_info = value_info("input", &dims_of(g.node(g.input).shape));
    let get = |node: &crate::ir::Node, part: &str| -> Result<(Vec<usize>, Vec<f32>), WeightError> {
        let k = node.weights.as_deref().ok_or_else(|| WeightError::NoKey { node: node.name.clone() })?;
        store.get(k, part).map(|t| (t.shape.clone(), t.data.clone())).ok_or_else(|| WeightError::missing(k, part))
    };
    for n in g.topo_order() {
        let node = g.node(n);
        let ins: Vec<String> = g.inputs(n).iter().map(|i| names[i].clone()).collect();
        let x = ins.first().cloned().unwrap_or_default();
        let base = node.name.as_str();
        let out = match &node.op {
            Op::Input => match fold {
                Some((mean, std)) => {
                    let c = [1, mean.len(), 1, 1];
                    let (m, s) = (b.f32_init("input.mean", &c, mean), b.f32_init("input.std", &c, std));
                    let centred = b.op("Sub", &["input", &m], "input.normalized", vec![]);
                    b.op("Div", &[&centred, &s], "input.normalized", vec![])
                }
                None => "input".to_string(),
            },
            Op::Output | Op::Identity | Op::Dropout { .. } => b.op("Identity", &[&x], base, vec![]),
            Op::Conv { conv, bias } => {
                let (ws, wd) = get(node, "weight")?;
                let w = b.f32_init(&format!("{base}.weight"), &ws, &wd);
                let mut inputs = vec![x.clone(), w];
                if *bias {
                    let (bs, bd) = get(node, "bias")?;
                    inputs.push(b.f32_init(&format!("{base}.bias"), &bs, &bd));
                }
                let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
                b.op("Conv", &refs, base, conv_attrs(conv, conv.pad))
            }
            Op::BinaryConv(bc) => binary_conv(&mut b, &x, bc, get(node, "weight")?, base),
            Op::BatchNorm { eps, scale, center, .. } => {
                let c = node.shape.channels() as usize;
                let mean = get(node, "running_mean")?.1;
                let var = get(node, "running_var")?.1;
                let gamma = if *scale { Some(get(node, "gamma")?.1) } else { None };
                let beta = if *center { Some(get(node, "beta")?.1) } else { None };
                let (s, t) = crate::ir::norm::affine(*eps, &mean, &var, gamma.as_deref(), beta.as_deref());
                let shape: Vec<usize> = match node.shape {
                    Shape::Map { .. } => vec![1, c, 1, 1],
                    Shape::Vector { .. } => vec![1, c],
                };
                let si = b.f32_init(&format!("{base}.scale"), &shape, &s);
                let ti = b.f32_init(&format!("{base}.shift"), &shape, &t);
                let m = b.op("Mul", &[&x, &si], base, vec![]);
                b.op("Add", &[&m, &ti], base, vec![])
            }
            Op::Relu => b.op("Relu", &[&x], base, vec![]),
            Op::MaxPool(p) => b.op("MaxPool", &[&x], base, pool_attrs(p)),
            Op::AvgPool(p) => {
                let mut attrs = pool_attrs(p);
                attrs.push(attr_int("count_include_pad", 1));
                b.op("AveragePool", &[&x], base, attrs)
            }
            Op::GlobalAvgPool | Op::GlobalMaxPool => {
                let op = if matches!(node.op, Op::GlobalAvgPool) { "GlobalAveragePool" } else { "GlobalMaxPool" };
                let p = b.op(op, &[&x], base, vec![]);
                b.op("Flatten", &[&p], base, vec![attr_int("axis", 1)])
            }
            Op::Flatten => b.op("Flatten", &[&x], base, vec![attr_int("axis", 1)]),
            Op::Dense { bias, .. } => {
                let input_is_map = g.inputs(n).first().is_some_and(|&i| matches!(g.node(i).shape, Shape::Map { .. }));
                let v = if input_is_map { b.op("Flatten", &[&x], base, vec![attr_int("axis", 1)]) } else { x.clone() };
                let (ws, wd) = get(node, "weight")?;
                let w = b.f32_init(&format!("{base}.weight"), &ws, &wd);
                let mut inputs = vec![v, w];
                if *bias {
                    let (bs, bd) = get(node, "bias")?;
                    inputs.push(b.f32_init(&format!("{base}.bias"), &bs, &bd));
                }
                let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
                b.op("Gemm", &refs, base, vec![attr_int("transB", 1)])
            }
            Op::Concat => {
                let refs: Vec<&str> = ins.iter().map(String::as_str).collect();
                b.op("Concat", &refs, base, vec![attr_int("axis", 1)])
            }
            Op::Add => {
                let mut acc = ins[0].clone();
                for other in &ins[1..] {
                    acc = b.op("Add", &[&acc, other], base, vec![]);
                }
                acc
            }
            Op::Slice { begin, end } => {
                let s = b.i64_init(&format!("{base}.starts"), &[*begin as i64]);
                let e = b.i64_init(&format!("{base}.ends"), &[*end as i64]);
                let a = b.i64_init(&format!("{base}.axes"), &[1]);
                b.op("Slice", &[&x, &s, &e, &a], base, vec![])
            }
            Op::ChannelShuffle { groups } => {
                let Shape::Map { c, h, w } = node.shape else {
                    let (node, what) = (base.to_string(), "channel_shuffle of a vector".into());
                    return Err(BackError::Unsupported { node, what, format: "ONNX" });
                };
                let g5 = [0, *groups as i64, (c / groups) as i64, h as i64, w as i64];
                let s1 = b.i64_init(&format!("{base}.shape5"), &g5);
                let r = b.op("Reshape", &[&x, &s1], base, vec![]);
                let t = b.op("Transpose", &[&r], base, vec![attr_ints("perm", &[0, 2, 1, 3, 4])]);
                let s2 = b.i64_init(&format!("{base}.shape4"), &[0, c as i64, h as i64, w as i64]);
                b.op("Reshape", &[&t, &s2], base, vec![])
            }
            Op::Select { .. } => {
                return Err(BackError::Malformed { node: node.name.clone(), what: "a choice point in a pinned graph" });
            }
        };
        if !matches!(node.op, Op::Input) {
            b.infos.push(value_info(&out, &dims_of(node.shape)));
        }
        names.insert(n, out);
    }
    b.node("Identity", &[&names[&g.output]], "output", vec![]);
    let mut graph = GraphProto::new();
    graph.name = g.name.clone();
    graph.input = vec![input_info];
    graph.output = vec![value_info("output", &dims_of(g.node(g.output).shape))];
    graph.node = b.nodes;
    graph.initializer = b.inits;
    graph.value_info = b.infos;
    let mut model = ModelProto::new();
    model.ir_version = IR_VERSION;
    model.producer_name = "lightnasc".into();
    model.producer_version = env!("CARGO_PKG_VERSION").into();
    let mut opset = OperatorSetIdProto::new();
    opset.version = OPSET;
    model.opset_import = vec![opset];
    model.graph = Some(graph).into();
    model.metadata_props = props
        .iter()
        .map(|(k, v)| {
            let mut e = StringStringEntryProto::new();
            (e.key, e.value) = (k.clone(), v.clone());
            e
        })
        .collect();
    model.write_to_bytes().map_err(|e| BackError::Encode(e.to_string()))
}

/// BMXNet's binary conv in standard ops.
fn binary_conv(b: &mut Builder, x: &str, bc: &BinaryConv, (ws, wd): (Vec<usize>, Vec<f32>), base: &str) -> String {
    let c = &bc.conv;
    let a = match bc.act {
        ActQuant::DetSign | ActQuant::ApproxSign => {
            // sign(sign(x) + 0.5): +1 at zero, as `ir::binary::sign`.
            let s = b.op("Sign", &[x], base, vec![]);
            let half = b.scalar(&format!("{base}.half"), 0.5);
            let t = b.op("Add", &[&s, &half], base, vec![]);
            b.op("Sign", &[&t], base, vec![])
        }
        ActQuant::Relu => b.op("Relu", &[x], base, vec![]),
        ActQuant::Identity => x.to_string(),
    };
    let a = if c.pad > 0 {
        let p = c.pad as i64;
        let pads = b.i64_init(&format!("{base}.pads"), &[0, 0, p, p, 0, 0, p, p]);
        let v = b.scalar(&format!("{base}.pad_value"), bc.pad_value as f32);
        b.op("Pad", &[&a, &pads, &v], base, vec![])
    } else {
        a
    };
    let qw = binary::quantized_weights(bc.weights, &wd);
    let w = b.f32_init(&format!("{base}.weight"), &ws, &qw);
    let h = b.op("Conv", &[&a, &w], base, conv_attrs(c, 0));
    let out = ws[0];
    let fan: usize = ws[1..].iter().product();
    let alpha = |b: &mut Builder| {
        let al = b.f32_init(&format!("{base}.alpha"), &[1, out, 1, 1], &binary::channel_scale(&wd, out));
        b.op("Mul", &[&h, &al], base, vec![])
    };
    match bc.epilogue(fan) {
        Epilogue::Offset { fan_in } => {
            let k = b.scalar(&format!("{base}.offset"), fan_in as f32);
            let two = b.scalar(&format!("{base}.two"), 2.0);
            let s = b.op("Add", &[&h, &k], base, vec![]);
            b.op("Div", &[&s, &two], base, vec![])
        }
        Epilogue::None => h,
        Epilogue::ChannelScale => alpha(b),
        Epilogue::ChannelScaleAndMagnitude => {
            let s = alpha(b);
            let m = b.op("Abs", &[x], base, vec![]);
            let m = b.op("ReduceMean", &[&m], base, vec![attr_ints("axes", &[1]), attr_int("keepdims", 1)]);
            let k = c.kernel as usize;
            let ones = b.f32_init(&format!("{base}.box"), &[1, 1, k, k], &vec![1.0 / (k * k) as f32; k * k]);
            let km = b.op("Conv", &[&m, &ones], base, conv_attrs(&Conv2d { groups: 1, ..*c }, c.pad));
            b.op("Mul", &[&s, &km], base, vec![])
        }
    }
}
