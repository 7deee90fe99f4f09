//! From a pinned graph and its weights to steps over buffer views.

use std::collections::{HashMap, HashSet};

use lightnasc_kernels::{Bounds, ConvGeometry, pack_weights};
use petgraph::stable_graph::NodeIndex;

use super::{
    BatchStats, Epilogue, FloatConv, Nonlinearity, NormMode, PackShape, Post, Program, Step, View, fold, layout,
    supports,
};
use crate::back::BackError;
use crate::ir::binary::{self, Epilogue as BinEpilogue};
use crate::ir::store::{WeightError, WeightStore};
use crate::ir::{ActQuant, BinaryConv, Graph, Op, Shape, norm};

/// The plan of a pinned graph with weights from `store` (checked against the graph first),
/// batch norms on their running statistics.
pub fn lower(g: &Graph, store: &WeightStore) -> Result<Program, BackError> {
    lower_with(g, store, NormMode::Running)
}

/// [`lower`] with batch norms normalising as `mode` says.
pub fn lower_with(g: &Graph, store: &WeightStore, mode: NormMode) -> Result<Program, BackError> {
    supports(g)?;
    store.check(g)?;
    let mut l = Lowering::new(g, store, mode);
    for n in g.topo_order() {
        l.node(n)?;
        l.owners.resize(l.steps.len(), Some(n));
    }
    let mut output = l.views[&g.output];
    if output.stride != output.c || output.offset != 0 || output.pixels() != 1 {
        let dst = l.fresh(output.c * output.pixels(), 1, 1);
        l.steps.push(Step::Flatten { src: output, dst });
        output = dst;
    }
    let input = match g.node(g.input).shape {
        Shape::Map { c, h, w } => [c as usize, h as usize, w as usize],
        Shape::Vector { n } => [n as usize, 1, 1],
    };
    let slots = layout::assign(&mut l.steps, &l.bufs, output.buf);
    let output = View { buf: slots.output, ..output };
    l.owners.resize(l.steps.len(), None);
    let owners = l.owners.iter().map(|o| o.map(|n| g.node(n).name.clone())).collect();
    Ok(Program { name: g.name.clone(), steps: l.steps, owners, slots: slots.sizes, packs: l.packs, input, output })
}

struct Lowering<'a> {
    g: &'a Graph,
    store: &'a WeightStore,
    mode: NormMode,
    views: HashMap<NodeIndex, View>,
    /// f32s per image of each buffer.
    bufs: Vec<usize>,
    steps: Vec<Step>,
    /// The node each step computes (a packing: its conv's).
    owners: Vec<Option<NodeIndex>>,
    packs: Vec<PackShape>,
    /// (node packed, batch norm folded into the bounds, padding) -> packed buffer.
    pack_of: HashMap<(NodeIndex, Option<NodeIndex>, usize), usize>,
    /// A node written straight into a concatenation: (the concat, its first channel there).
    homes: HashMap<NodeIndex, (NodeIndex, usize)>,
    /// Batch norms read only by packed binary convs: folded into their packing.
    folded: HashSet<NodeIndex>,
    /// A packed binary conv whose only reader is a batch norm: the norm is its epilogue.
    epilogue_bn: HashMap<NodeIndex, NodeIndex>,
}

fn dims(s: Shape) -> (usize, usize, usize) {
    match s {
        Shape::Map { c, h, w } => (c as usize, h as usize, w as usize),
        Shape::Vector { n } => (n as usize, 1, 1),
    }
}

impl<'a> Lowering<'a> {
    fn new(g: &'a Graph, store: &'a WeightStore, mode: NormMode) -> Self {
        let mut users: HashMap<NodeIndex, Vec<NodeIndex>> = HashMap::new();
        for n in g.topo_order() {
            for i in g.inputs(n) {
                users.entry(i).or_default().push(n);
            }
        }
        let packed = |n: &NodeIndex| matches!(&g.node(*n).op, Op::BinaryConv(b) if b.packable());
        let mut folded = HashSet::new();
        let mut epilogue_bn = HashMap::new();
        for n in g.topo_order() {
            if !matches!(g.node(n).op, Op::BatchNorm { .. }) || !matches!(g.node(n).shape, Shape::Map { .. }) {
                continue;
            }
            let readers = users.get(&n).map_or(&[][..], Vec::as_slice);
            if !readers.is_empty() && readers.iter().all(packed) {
                folded.insert(n);
                continue;
            }
            let input = g.inputs(n)[0];
            // On batch statistics the norm needs the conv's whole output first: no epilogue.
            let only_reader = users.get(&input).is_some_and(|u| u == &[n]) && mode == NormMode::Running;
            if only_reader && matches!(&g.node(input).op, Op::BinaryConv(b) if b.packable() && b.offset) {
                epilogue_bn.insert(input, n);
            }
        }
        // Layers that make a new value (not views, not folded away) and are read by one concat.
        let mut homes = HashMap::new();
        for n in g.topo_order() {
            let fresh = match &g.node(n).op {
                Op::Conv { .. }
                | Op::Relu
                | Op::MaxPool(_)
                | Op::AvgPool(_)
                | Op::Add
                | Op::Concat
                | Op::ChannelShuffle { .. } => true,
                Op::BinaryConv(_) => !epilogue_bn.contains_key(&n),
                Op::BatchNorm { .. } => !folded.contains(&n),
                _ => false,
            };
            let readers = users.get(&n).map_or(&[][..], Vec::as_slice);
            if let (true, &[cat]) = (fresh, readers)
                && matches!(g.node(cat).op, Op::Concat)
            {
                let before: usize =
                    g.inputs(cat).iter().take_while(|&&i| i != n).map(|&i| g.node(i).shape.channels() as usize).sum();
                homes.insert(n, (cat, before));
            }
        }
        Lowering {
            g,
            store,
            mode,

            views: HashMap::new(),
            bufs: vec![],
            steps: vec![],
            owners: vec![],
            packs: vec![],
            pack_of: HashMap::new(),
            homes,
            folded,
            epilogue_bn,
        }
    }

    fn fresh(&mut self, c: usize, h: usize, w: usize) -> View {
        self.bufs.push(h * w * c);
        View { buf: self.bufs.len() - 1, offset: 0, stride: c, c, h, w }
    }

    /// Where node `n`'s value goes: its channels of the concatenation it is written into, or a
    /// buffer of its own.
    fn place(&mut self, n: NodeIndex) -> View {
        if let Some(v) = self.views.get(&n) {
            return *v; // a concatenation placed by an earlier input
        }
        let (c, h, w) = dims(self.g.node(n).shape);
        let v = match self.homes.get(&n).copied() {
            Some((cat, first)) => View { offset: self.place(cat).offset + first, c, ..self.place(cat) },
            None => self.fresh(c, h, w),
        };
        if matches!(self.g.node(n).op, Op::Concat) {
            self.views.insert(n, v);
        }
        v
    }

    fn weight(&self, n: NodeIndex, part: &str) -> Result<&'a [f32], WeightError> {
        let node = self.g.node(n);
        let key = node.weights.as_deref().ok_or_else(|| WeightError::NoKey { node: node.name.clone() })?;
        self.store.get(key, part).map(|t| t.data.as_slice()).ok_or_else(|| WeightError::missing(key, part))
    }

    /// The inference affine of batch norm `n` on its running statistics.
    fn norm(&self, n: NodeIndex) -> Result<(Vec<f32>, Vec<f32>), WeightError> {
        let Op::BatchNorm { eps, scale, center, .. } = self.g.node(n).op else { unreachable!("a batch norm") };
        let gamma = if scale { Some(self.weight(n, "gamma")?) } else { None };
        let beta = if center { Some(self.weight(n, "beta")?) } else { None };
        Ok(norm::affine(eps, self.weight(n, "running_mean")?, self.weight(n, "running_var")?, gamma, beta))
    }

    /// What batch norm `n` needs on batch statistics (`None` on running statistics).
    fn batch_stats(&self, n: NodeIndex) -> Result<Option<Box<BatchStats>>, WeightError> {
        if self.mode == NormMode::Running {
            return Ok(None);
        }
        let Op::BatchNorm { eps, scale, center, .. } = self.g.node(n).op else { unreachable!("a batch norm") };
        let gamma = if scale { Some(self.weight(n, "gamma")?.to_vec()) } else { None };
        let beta = if center { Some(self.weight(n, "beta")?.to_vec()) } else { None };
        Ok(Some(Box::new(BatchStats { eps, gamma, beta })))
    }

    fn node(&mut self, n: NodeIndex) -> Result<(), BackError> {
        let g = self.g;
        let node = g.node(n);
        let ins = g.inputs(n);
        let x = ins.first().map(|i| self.views.get(i).copied());
        let missing = |what| BackError::Malformed { node: node.name.clone(), what };
        let src = || x.flatten().ok_or_else(|| missing("its input has no value"));
        match &node.op {
            Op::Input => {
                let dst = self.place(n);
                self.steps.push(Step::Input { dst });
            }
            Op::Output | Op::Identity | Op::Dropout { .. } => {
                self.views.insert(n, src()?);
            }
            Op::Slice { begin, end } => {
                let v = src()?;
                self.views.insert(n, View { offset: v.offset + *begin as usize, c: (*end - *begin) as usize, ..v });
            }
            Op::BatchNorm { .. } => {
                if self.folded.contains(&n) || self.views.contains_key(&n) {
                    return Ok(()); // folded into packing, or already the epilogue of its conv
                }
                let (scale, shift) = self.norm(n)?;
                let batch = self.batch_stats(n)?;
                let src = src()?;
                let dst = self.place(n);
                self.steps.push(Step::Affine { src, scale, shift, dst, batch });
            }
            Op::BinaryConv(b) if b.packable() => self.packed_conv(n, b)?,
            Op::BinaryConv(b) => {
                let latent = self.weight(n, "weight")?;
                let out = b.conv.out as usize;
                let fan = latent.len() / out;
                let post = match b.epilogue(fan) {
                    BinEpilogue::Offset { fan_in } => Post::Offset(fan_in as f32),
                    BinEpilogue::None => Post::None,
                    BinEpilogue::ChannelScale => Post::Scale(binary::channel_scale(latent, out)),
                    BinEpilogue::ChannelScaleAndMagnitude => unreachable!("refused by supports"),
                };
                let act = match b.act {
                    ActQuant::DetSign | ActQuant::ApproxSign => Nonlinearity::Sign,
                    ActQuant::Relu => Nonlinearity::Relu,
                    ActQuant::Identity => Nonlinearity::Identity,
                };
                let w = binary::quantized_weights(b.weights, latent);
                self.float_conv(n, src()?, &b.conv, act, b.pad_value as f32, &w, post);
            }
            Op::Conv { conv, bias } => {
                let post = if *bias { Post::Bias(self.weight(n, "bias")?.to_vec()) } else { Post::None };
                let w = self.weight(n, "weight")?;
                self.float_conv(n, src()?, conv, Nonlinearity::Identity, 0.0, w, post);
            }
            Op::Relu => {
                let (src, dst) = (src()?, self.place(n));
                self.steps.push(Step::Relu { src, dst });
            }
            Op::MaxPool(pool) | Op::AvgPool(pool) => {
                let (src, dst, pool) = (src()?, self.place(n), *pool);
                let max = matches!(node.op, Op::MaxPool(_));
                self.steps.push(if max { Step::MaxPool { src, pool, dst } } else { Step::AvgPool { src, pool, dst } });
            }
            Op::GlobalAvgPool | Op::GlobalMaxPool => {
                let (src, dst) = (src()?, self.place(n));
                self.steps.push(Step::GlobalPool { src, max: matches!(node.op, Op::GlobalMaxPool), dst });
            }
            Op::Flatten => {
                let v = src()?;
                if v.pixels() == 1 {
                    self.views.insert(n, View { h: 1, w: 1, ..v });
                } else {
                    let dst = self.place(n);
                    self.steps.push(Step::Flatten { src: v, dst });
                }
            }
            Op::Dense { out, bias } => {
                let mut v = src()?;
                if v.stride != v.c && v.pixels() > 1 {
                    // The dense layer reads each image's pixels as one row: make them contiguous.
                    let dst = self.fresh(v.c, v.h, v.w);
                    self.steps.push(Step::Copy { src: v, dst });
                    v = dst;
                }
                let (out, inputs) = (*out as usize, v.c * v.pixels());
                let w = self.weight(n, "weight")?;
                // `[out][c][h][w]` (NCHW flattening) to `[h][w][c][out]`.
                let mut weight = vec![0f32; inputs * out];
                for o in 0..out {
                    for ch in 0..v.c {
                        for p in 0..v.pixels() {
                            weight[(p * v.c + ch) * out + o] = w[o * inputs + ch * v.pixels() + p];
                        }
                    }
                }
                let bias = if *bias { Some(self.weight(n, "bias")?.to_vec()) } else { None };
                let dst = self.place(n);
                self.steps.push(Step::Dense { src: v, weight, bias, dst });
            }
            Op::Concat => {
                let dst = self.place(n);
                let mut first = 0;
                for i in ins {
                    let v = self.views.get(&i).copied().ok_or_else(|| missing("an input has no value"))?;
                    if self.homes.get(&i) != Some(&(n, first)) {
                        self.steps.push(Step::Copy { src: v, dst: View { offset: dst.offset + first, c: v.c, ..dst } });
                    }
                    first += v.c;
                }
            }
            Op::Add => {
                let srcs: Vec<View> = ins
                    .iter()
                    .map(|i| self.views.get(i).copied().ok_or_else(|| missing("an input has no value")))
                    .collect::<Result<_, _>>()?;
                let dst = self.place(n);
                self.steps.push(Step::Add { srcs, dst });
            }
            Op::ChannelShuffle { groups } => {
                let (src, dst) = (src()?, self.place(n));
                self.steps.push(Step::Shuffle { src, groups: *groups as usize, dst });
            }
            Op::Select { .. } => return Err(missing("a choice point in a pinned graph")),
        }
        if !self.views.contains_key(&n) && !self.folded.contains(&n) {
            // Steps above that write a fresh value record it here.
            if let Some(dst) = self.steps.last().and_then(|s| s.views().1.copied()) {
                self.views.insert(n, dst);
            }
        }
        Ok(())
    }

    fn packed_conv(&mut self, n: NodeIndex, b: &BinaryConv) -> Result<(), BackError> {
        let g = self.g;
        let input = g.inputs(n)[0];
        // Pack the batch norm's input by its folded bounds, or the input itself by its sign.
        let (source, bn) = if self.folded.contains(&input) { (g.inputs(input)[0], Some(input)) } else { (input, None) };
        let what = "its input has no value";
        let src =
            *self.views.get(&source).ok_or_else(|| BackError::Malformed { node: g.node(n).name.clone(), what })?;
        let pad = b.conv.pad as usize;
        let pack = match self.pack_of.get(&(source, bn, pad)) {
            Some(&p) => p,
            None => {
                let bounds = match bn {
                    Some(bn) => {
                        let (s, t) = self.norm(bn)?;
                        let (lo, hi) = s.iter().zip(&t).map(|(&s, &t)| fold::sign_bounds(s, t)).unzip();
                        Bounds { lo, hi }
                    }
                    None => Bounds::sign(src.c),
                };
                self.packs.push(PackShape { c: src.c, h: src.h, w: src.w, pad });
                let p = self.packs.len() - 1;
                self.pack_of.insert((source, bn, pad), p);
                let batch = match bn {
                    Some(bn) => self.batch_stats(bn)?,
                    None => None,
                };
                self.steps.push(Step::Pack { src, bounds, pack: p, batch });
                p
            }
        };
        let latent = self.weight(n, "weight")?;
        let k = b.conv.kernel as usize;
        let weights = pack_weights(latent, [b.conv.out as usize, src.c, k, k]);
        let gm = ConvGeometry { stride: b.conv.stride as usize, pad, dilation: b.conv.dilation as usize };
        let (epilogue, dst) = match self.epilogue_bn.get(&n).copied() {
            Some(bn) => {
                let (s, t) = self.norm(bn)?;
                let dst = self.place(bn);
                self.views.insert(bn, dst);
                (Epilogue::Affine(s, t), dst)
            }
            None if b.offset => (Epilogue::Matches, self.place(n)),
            None => (Epilogue::Dot, self.place(n)),
        };
        self.steps.push(Step::BinaryConv { pack, weights, g: gm, epilogue, dst });
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn float_conv(
        &mut self,
        n: NodeIndex,
        src: View,
        conv: &crate::ir::Conv2d,
        act: Nonlinearity,
        pad_value: f32,
        latent: &[f32],
        post: Post,
    ) {
        let (k, groups, out) = (conv.kernel as usize, conv.groups as usize, conv.out as usize);
        let (cin_g, out_g) = (src.c / groups, out / groups);
        // `[out][c_in/g][k][k]` to `[group][ky][kx][c_in/g][out/g]`.
        let mut weights = vec![0f32; latent.len()];
        for o in 0..out {
            let (grp, og) = (o / out_g, o % out_g);
            for ci in 0..cin_g {
                for ky in 0..k {
                    for kx in 0..k {
                        let to = (((grp * k + ky) * k + kx) * cin_g + ci) * out_g + og;
                        weights[to] = latent[((o * cin_g + ci) * k + ky) * k + kx];
                    }
                }
            }
        }
        let g = ConvGeometry { stride: conv.stride as usize, pad: conv.pad as usize, dilation: conv.dilation as usize };
        let dst = self.place(n);
        let direct = k == 1 && g.stride == 1 && g.pad == 0 && groups == 1 && act == Nonlinearity::Identity;
        let scratch = (!direct).then(|| {
            self.bufs.push(dst.pixels() * k * k * cin_g);
            self.bufs.len() - 1
        });
        self.steps.push(Step::Conv(Box::new(FloatConv {
            src,
            dst,
            act,
            pad_value,
            k,
            g,
            groups,
            weights,
            post,
            scratch,
        })));
    }
}
