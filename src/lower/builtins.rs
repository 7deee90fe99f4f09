//! The built-in layers and functions of the language: their parameters, defaults and how their
//! arguments become an IR op.

use crate::front::ast::Type;
use crate::ir::{ActQuant, BinaryConv, Conv2d, Op, Pool, Scaling, WeightQuant};

/// A parameter's default: a constant, or derived from the other arguments by the op builder.
#[derive(Clone, Copy, Debug)]
pub enum ArgDefault {
    Required,
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(&'static str),
    Derived,
}

#[derive(Clone, Copy, Debug)]
pub struct ParamSpec {
    pub name: &'static str,
    pub ty: Type,
    pub default: ArgDefault,
    pub doc: &'static str,
}

#[derive(Debug)]
pub struct LayerSpec {
    pub name: &'static str,
    pub doc: &'static str,
    pub params: &'static [ParamSpec],
    /// Takes any number of tensors after the first (`concat`).
    pub variadic: bool,
    /// The IR op of a call, from its bound arguments (constant defaults already filled in from
    /// `params`; `Derived` ones are absent and computed here).
    pub build: fn(&dyn LayerArgs) -> Result<Op, ArgError>,
}

/// A bad argument: the parameter, the message, a hint.
pub type ArgError = (&'static str, String, String);

const fn p(name: &'static str, ty: Type, default: ArgDefault, doc: &'static str) -> ParamSpec {
    ParamSpec { name, ty, default, doc }
}

use ArgDefault::*;
use Type::{Bool as B, Float as F, Int as I, Str as S, Tensor as T};

const X: ParamSpec = p("x", T, Required, "input tensor");

/// The parameters of a convolution's geometry, then the layer's own.
macro_rules! conv_params {
    ($pad_doc:expr, $($own:expr),*) => {
        &[
            X,
            p("out", I, Required, "output channels"),
            p("kernel", I, Int(1), "kernel size (square)"),
            p("stride", I, Int(1), "stride"),
            p("pad", I, Int(0), $pad_doc),
            p("dilation", I, Int(1), "dilation"),
            p("groups", I, Int(1), "channel groups"),
            $($own),*
        ]
    };
}
const POOL_PARAMS: &[ParamSpec] = &[
    X,
    p("kernel", I, Int(2), "window"),
    p("stride", I, Derived, "stride (default: kernel)"),
    p("pad", I, Int(0), "padding"),
];

pub static LAYERS: &[LayerSpec] = &[
    LayerSpec {
        name: "conv",
        doc: "full-precision 2-D convolution",
        variadic: false,
        params: conv_params!("zero padding on each side", p("bias", B, Bool(false), "learn a bias")),
        build: |a| Ok(Op::Conv { conv: conv(a)?, bias: flag(a, "bias") }),
    },
    LayerSpec {
        name: "bconv",
        doc: "binary convolution: quantised activations and weights, -1 padding, (h + K) / 2 offset",
        variadic: false,
        build: binary_conv,
        params: conv_params!(
            "padding on each side (with `pad_value`)",
            p("bits", I, Int(1), "1 (binary) or 32 (the full-precision variant)"),
            p("act", S, Derived, "activation quantiser: det_sign | approx_sign (1 bit), relu | identity (32 bit)"),
            p("grad_cancel", F, Float(1.0), "straight-through gradient is zero where |x| > this"),
            p("weights", S, Derived, "weight quantiser: det_sign (1 bit) | identity (32 bit)"),
            p("scaling", S, Str("none"), "per-channel scaling: none | binet | xnor"),
            p("pad_value", F, Derived, "padding value: -1 for 1 bit, 0 for 32 bit"),
            p("offset", B, Derived, "output (h + K) / 2; default: 1 bit without scaling")
        ),
    },
    LayerSpec {
        name: "bn",
        doc: "batch normalisation over channels",
        variadic: false,
        params: &[
            X,
            p("eps", F, Float(1e-5), "epsilon"),
            p("momentum", F, Float(0.9), "running-statistics momentum"),
            p("scale", B, Bool(true), "learn gamma"),
            p("center", B, Bool(true), "learn beta"),
        ],
        build: batch_norm,
    },
    LayerSpec { name: "relu", doc: "rectified linear unit", variadic: false, params: &[X], build: |_| Ok(Op::Relu) },
    LayerSpec {
        name: "maxpool",
        doc: "max pooling",
        variadic: false,
        params: POOL_PARAMS,
        build: |a| Ok(Op::MaxPool(pool(a)?)),
    },
    LayerSpec {
        name: "avgpool",
        doc: "average pooling (padding counted)",
        variadic: false,
        params: POOL_PARAMS,
        build: |a| Ok(Op::AvgPool(pool(a)?)),
    },
    LayerSpec {
        name: "global_avgpool",
        doc: "average over height and width: [C, H, W] -> [C]",
        variadic: false,
        params: &[X],
        build: |_| Ok(Op::GlobalAvgPool),
    },
    LayerSpec {
        name: "global_maxpool",
        doc: "maximum over height and width: [C, H, W] -> [C]",
        variadic: false,
        params: &[X],
        build: |_| Ok(Op::GlobalMaxPool),
    },
    LayerSpec {
        name: "dense",
        doc: "fully connected layer",
        variadic: false,
        params: &[X, p("out", I, Required, "output features"), p("bias", B, Bool(true), "learn a bias")],
        build: |a| Ok(Op::Dense { out: count(a, "out", 1)?, bias: flag(a, "bias") }),
    },
    LayerSpec {
        name: "flatten",
        doc: "[C, H, W] -> [C * H * W]",
        variadic: false,
        params: &[X],
        build: |_| Ok(Op::Flatten),
    },
    LayerSpec {
        name: "concat",
        doc: "concatenate along channels",
        variadic: true,
        params: &[X],
        build: |_| Ok(Op::Concat),
    },
    LayerSpec {
        name: "add",
        doc: "element-wise sum (also `a + b`)",
        variadic: false,
        params: &[X, p("y", T, Required, "second tensor")],
        build: |_| Ok(Op::Add),
    },
    LayerSpec {
        name: "slice",
        doc: "channels begin..end",
        variadic: false,
        params: &[X, p("begin", I, Required, "first channel"), p("end", I, Required, "one past the last channel")],
        build: |a| Ok(Op::Slice { begin: count(a, "begin", 0)?, end: count(a, "end", 0)? }),
    },
    LayerSpec {
        name: "channel_shuffle",
        doc: "ShuffleNet channel shuffle: reshape (g, C/g), transpose, reshape",
        variadic: false,
        params: &[X, p("groups", I, Int(16), "groups")],
        build: |a| Ok(Op::ChannelShuffle { groups: count(a, "groups", 1)? }),
    },
    LayerSpec {
        name: "identity",
        doc: "passes its input through",
        variadic: false,
        params: &[X],
        build: |_| Ok(Op::Identity),
    },
    LayerSpec {
        name: "dropout",
        doc: "dropout (training only)",
        variadic: false,
        params: &[X, p("p", F, Float(0.5), "drop probability")],
        build: |a| {
            let p = a.float("p").unwrap_or_default();
            if !(0.0..1.0).contains(&p) {
                return Err(("p", format!("`p` must be in [0, 1), got {p}"), "the drop probability".into()));
            }
            Ok(Op::Dropout { p })
        },
    },
];

/// What a built-in function computes (the lowering matches on this, never on the name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    Channels,
    Height,
    Width,
    Round,
    Floor,
    Ceil,
    Abs,
    Min,
    Max,
}

/// A function on values (not a layer): its name, its one-line documentation, what it computes.
pub struct FunctionSpec {
    pub name: &'static str,
    pub doc: &'static str,
    pub func: Func,
}

const fn f(name: &'static str, doc: &'static str, func: Func) -> FunctionSpec {
    FunctionSpec { name, doc, func }
}

/// Functions on values (not layers).
pub static FUNCTIONS: &[FunctionSpec] = &[
    f("channels", "channels(x): channels of a feature map, or length of a vector", Func::Channels),
    f("height", "height(x): height of a feature map", Func::Height),
    f("width", "width(x): width of a feature map", Func::Width),
    f("round", "round(v): nearest integer, ties to even (as Python's round)", Func::Round),
    f("floor", "floor(v): largest integer <= v", Func::Floor),
    f("ceil", "ceil(v): smallest integer >= v", Func::Ceil),
    f("min", "min(a, b, ...)", Func::Min),
    f("max", "max(a, b, ...)", Func::Max),
    f("abs", "abs(v)", Func::Abs),
];

pub fn function(name: &str) -> Option<&'static FunctionSpec> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

impl LayerSpec {
    /// `conv(x: tensor, out: int, kernel: int = 1, ...)`, as hovers, completions and argument
    /// errors show it.
    pub fn signature(&self) -> String {
        let params: Vec<String> = self
            .params
            .iter()
            .map(|p| {
                let ty = p.ty.name();
                match p.default {
                    ArgDefault::Required => format!("{}: {ty}", p.name),
                    ArgDefault::Int(v) => format!("{}: {ty} = {v}", p.name),
                    ArgDefault::Float(v) => format!("{}: {ty} = {v:?}", p.name),
                    ArgDefault::Bool(v) => format!("{}: {ty} = {v}", p.name),
                    ArgDefault::Str(v) => format!("{}: {ty} = \"{v}\"", p.name),
                    ArgDefault::Derived => format!("{}: {ty} = auto", p.name),
                }
            })
            .collect();
        format!("{}({}{})", self.name, params.join(", "), if self.variadic { ", ..." } else { "" })
    }
}

pub fn layer(name: &str) -> Option<&'static LayerSpec> {
    LAYERS.iter().find(|l| l.name == name)
}

pub fn is_function(name: &str) -> bool {
    function(name).is_some()
}

pub fn is_builtin(name: &str) -> bool {
    layer(name).is_some() || is_function(name)
}

/// Argument values of a layer call after binding, by parameter name.
pub trait LayerArgs {
    fn int(&self, name: &str) -> Option<i64>;
    fn float(&self, name: &str) -> Option<f64>;
    fn bool(&self, name: &str) -> Option<bool>;
    fn str(&self, name: &str) -> Option<&str>;
}

/// A count or size argument of at least `min`.
fn count(a: &dyn LayerArgs, p: &'static str, min: i64) -> Result<u32, ArgError> {
    let v = a.int(p).unwrap_or(0);
    if v < min || v > crate::ir::shape::MAX_DIM as i64 {
        Err((p, format!("`{p}` must be at least {min}, got {v}"), format!("`{p}` is a count or size")))
    } else {
        Ok(v as u32)
    }
}

/// A boolean argument; its default comes from the table.
fn flag(a: &dyn LayerArgs, p: &str) -> bool {
    a.bool(p).unwrap_or_default()
}

fn conv(a: &dyn LayerArgs) -> Result<Conv2d, ArgError> {
    Ok(Conv2d {
        out: count(a, "out", 1)?,
        kernel: count(a, "kernel", 1)?,
        stride: count(a, "stride", 1)?,
        pad: count(a, "pad", 0)?,
        dilation: count(a, "dilation", 1)?,
        groups: count(a, "groups", 1)?,
    })
}

fn pool(a: &dyn LayerArgs) -> Result<Pool, ArgError> {
    let kernel = count(a, "kernel", 1)?;
    // `stride` is derived: the kernel unless given.
    let stride = if a.int("stride").is_some() { count(a, "stride", 1)? } else { kernel };
    Ok(Pool { kernel, stride, pad: count(a, "pad", 0)? })
}

fn batch_norm(a: &dyn LayerArgs) -> Result<Op, ArgError> {
    let eps = a.float("eps").unwrap_or_default();
    if eps.is_nan() || eps <= 0.0 {
        return Err(("eps", format!("`eps` must be positive, got {eps}"), "the default is 1e-5".into()));
    }
    let momentum = a.float("momentum").unwrap_or_default();
    if !(0.0..=1.0).contains(&momentum) {
        return Err(("momentum", format!("`momentum` must be in [0, 1], got {momentum}"), "the default is 0.9".into()));
    }
    Ok(Op::BatchNorm { eps, momentum, scale: flag(a, "scale"), center: flag(a, "center") })
}

/// `bconv`: the derived defaults (quantisers, padding value, offset) follow from `bits` and
/// `scaling`.
fn binary_conv(a: &dyn LayerArgs) -> Result<Op, ArgError> {
    let bits = a.int("bits").unwrap_or_default();
    if bits != 1 && bits != 32 {
        return Err((
            "bits",
            format!("`bits` must be 1 or 32, got {bits}"),
            "other widths are not supported yet".into(),
        ));
    }
    let one = bits == 1;
    let act = match a.str("act").unwrap_or(if one { "det_sign" } else { "relu" }) {
        "det_sign" if one => ActQuant::DetSign,
        "approx_sign" if one => ActQuant::ApproxSign,
        "relu" if !one => ActQuant::Relu,
        "identity" if !one => ActQuant::Identity,
        other => {
            return Err((
                "act",
                format!("activation `{other}` is not valid with bits: {bits}"),
                if one {
                    "1-bit activations: \"det_sign\", \"approx_sign\""
                } else {
                    "32-bit activations: \"relu\", \"identity\""
                }
                .into(),
            ));
        }
    };
    let weights = match a.str("weights").unwrap_or(if one { "det_sign" } else { "identity" }) {
        "det_sign" if one => WeightQuant::DetSign,
        "identity" if !one => WeightQuant::Identity,
        other => {
            return Err((
                "weights",
                format!("weight quantiser `{other}` is not valid with bits: {bits}"),
                if one { "1-bit weights: \"det_sign\"" } else { "32-bit weights: \"identity\"" }.into(),
            ));
        }
    };
    let scaling = match a.str("scaling").unwrap_or_default() {
        "none" => Scaling::None,
        "binet" if one => Scaling::Binet,
        "xnor" if one => Scaling::Xnor,
        other => {
            return Err((
                "scaling",
                format!("scaling `{other}` is not valid with bits: {bits}"),
                "scalings: \"none\", \"binet\", \"xnor\" (1 bit only)".into(),
            ));
        }
    };
    let grad_cancel = a.float("grad_cancel").unwrap_or_default();
    if grad_cancel.is_nan() || grad_cancel <= 0.0 {
        return Err((
            "grad_cancel",
            format!("`grad_cancel` must be positive, got {grad_cancel}"),
            "the default is 1.0".into(),
        ));
    }
    let pad_value = a.float("pad_value").unwrap_or(if one { -1.0 } else { 0.0 });
    let offset = a.bool("offset").unwrap_or(one && scaling == Scaling::None);
    if offset && (!one || scaling != Scaling::None) {
        return Err((
            "offset",
            "the (h + K) / 2 offset applies only to unscaled 1-bit convolutions".into(),
            "drop `offset: true`".into(),
        ));
    }
    Ok(Op::BinaryConv(BinaryConv {
        conv: conv(a)?,
        bits: bits as u32,
        act,
        grad_cancel,
        weights,
        scaling,
        pad_value,
        offset,
    }))
}
