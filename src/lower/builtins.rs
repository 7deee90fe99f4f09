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
}

const fn p(name: &'static str, ty: Type, default: ArgDefault, doc: &'static str) -> ParamSpec {
    ParamSpec { name, ty, default, doc }
}

use ArgDefault::*;
use Type::{Bool as B, Float as F, Int as I, Str as S, Tensor as T};

const X: ParamSpec = p("x", T, Required, "input tensor");
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
        params: &[
            X,
            p("out", I, Required, "output channels"),
            p("kernel", I, Int(1), "kernel size (square)"),
            p("stride", I, Int(1), "stride"),
            p("pad", I, Int(0), "zero padding on each side"),
            p("dilation", I, Int(1), "dilation"),
            p("groups", I, Int(1), "channel groups"),
            p("bias", B, Bool(false), "learn a bias"),
        ],
    },
    LayerSpec {
        name: "bconv",
        doc: "binary convolution: quantised activations and weights, -1 padding, (h + K) / 2 offset",
        variadic: false,
        params: &[
            X,
            p("out", I, Required, "output channels"),
            p("kernel", I, Int(1), "kernel size (square)"),
            p("stride", I, Int(1), "stride"),
            p("pad", I, Int(0), "padding on each side (with `pad_value`)"),
            p("dilation", I, Int(1), "dilation"),
            p("groups", I, Int(1), "channel groups"),
            p("bits", I, Int(1), "1 (binary) or 32 (the full-precision variant)"),
            p("act", S, Derived, "activation quantiser: det_sign | approx_sign (1 bit), relu | identity (32 bit)"),
            p("grad_cancel", F, Float(1.0), "straight-through gradient is zero where |x| > this"),
            p("weights", S, Derived, "weight quantiser: det_sign (1 bit) | identity (32 bit)"),
            p("scaling", S, Str("none"), "per-channel scaling: none | binet | xnor"),
            p("pad_value", F, Derived, "padding value: -1 for 1 bit, 0 for 32 bit"),
            p("offset", B, Derived, "output (h + K) / 2; default: 1 bit without scaling"),
        ],
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
    },
    LayerSpec { name: "relu", doc: "rectified linear unit", variadic: false, params: &[X] },
    LayerSpec { name: "maxpool", doc: "max pooling", variadic: false, params: POOL_PARAMS },
    LayerSpec { name: "avgpool", doc: "average pooling (padding counted)", variadic: false, params: POOL_PARAMS },
    LayerSpec {
        name: "global_avgpool",
        doc: "average over height and width: [C, H, W] -> [C]",
        variadic: false,
        params: &[X],
    },
    LayerSpec {
        name: "global_maxpool",
        doc: "maximum over height and width: [C, H, W] -> [C]",
        variadic: false,
        params: &[X],
    },
    LayerSpec {
        name: "dense",
        doc: "fully connected layer",
        variadic: false,
        params: &[X, p("out", I, Required, "output features"), p("bias", B, Bool(true), "learn a bias")],
    },
    LayerSpec { name: "flatten", doc: "[C, H, W] -> [C * H * W]", variadic: false, params: &[X] },
    LayerSpec { name: "concat", doc: "concatenate along channels", variadic: true, params: &[X] },
    LayerSpec {
        name: "add",
        doc: "element-wise sum (also `a + b`)",
        variadic: false,
        params: &[X, p("y", T, Required, "second tensor")],
    },
    LayerSpec {
        name: "slice",
        doc: "channels begin..end",
        variadic: false,
        params: &[X, p("begin", I, Required, "first channel"), p("end", I, Required, "one past the last channel")],
    },
    LayerSpec {
        name: "channel_shuffle",
        doc: "ShuffleNet channel shuffle: reshape (g, C/g), transpose, reshape",
        variadic: false,
        params: &[X, p("groups", I, Int(16), "groups")],
    },
    LayerSpec { name: "identity", doc: "passes its input through", variadic: false, params: &[X] },
    LayerSpec {
        name: "dropout",
        doc: "dropout (training only)",
        variadic: false,
        params: &[X, p("p", F, Float(0.5), "drop probability")],
    },
];

/// Functions on values (not layers).
pub static FUNCTIONS: &[(&str, &str)] = &[
    ("channels", "channels(x): channels of a feature map, or length of a vector"),
    ("height", "height(x): height of a feature map"),
    ("width", "width(x): width of a feature map"),
    ("round", "round(v): nearest integer, ties to even (as Python's round)"),
    ("floor", "floor(v): largest integer <= v"),
    ("ceil", "ceil(v): smallest integer >= v"),
    ("min", "min(a, b, ...)"),
    ("max", "max(a, b, ...)"),
    ("abs", "abs(v)"),
];

pub fn layer(name: &str) -> Option<&'static LayerSpec> {
    LAYERS.iter().find(|l| l.name == name)
}

pub fn is_function(name: &str) -> bool {
    FUNCTIONS.iter().any(|f| f.0 == name)
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

/// Build the IR op of a layer call. Errors name the offending parameter.
pub fn build_op(name: &str, a: &dyn LayerArgs) -> Result<Op, (&'static str, String, String)> {
    let pos = |p: &'static str, min: i64| -> Result<u32, (&'static str, String, String)> {
        let v = a.int(p).unwrap_or(0);
        if v < min || v > crate::ir::shape::MAX_DIM as i64 {
            Err((p, format!("`{p}` must be at least {min}, got {v}"), format!("`{p}` is a count or size")))
        } else {
            Ok(v as u32)
        }
    };
    let conv = || -> Result<Conv2d, (&'static str, String, String)> {
        Ok(Conv2d {
            out: pos("out", 1)?,
            kernel: pos("kernel", 1)?,
            stride: pos("stride", 1)?,
            pad: pos("pad", 0)?,
            dilation: pos("dilation", 1)?,
            groups: pos("groups", 1)?,
        })
    };
    let pool = || -> Result<Pool, (&'static str, String, String)> {
        let kernel = pos("kernel", 1)?;
        let stride = match a.int("stride") {
            Some(_) => pos("stride", 1)?,
            None => kernel,
        };
        Ok(Pool { kernel, stride, pad: pos("pad", 0)? })
    };
    Ok(match name {
        "conv" => Op::Conv { conv: conv()?, bias: a.bool("bias").unwrap_or(false) },
        "bconv" => {
            let bits = a.int("bits").unwrap_or(1);
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
            let scaling = match a.str("scaling").unwrap_or("none") {
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
            let grad_cancel = a.float("grad_cancel").unwrap_or(1.0);
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
            Op::BinaryConv(BinaryConv {
                conv: conv()?,
                bits: bits as u32,
                act,
                grad_cancel,
                weights,
                scaling,
                pad_value,
                offset,
            })
        }
        "bn" => {
            let eps = a.float("eps").unwrap_or(1e-5);
            if eps.is_nan() || eps <= 0.0 {
                return Err(("eps", format!("`eps` must be positive, got {eps}"), "the default is 1e-5".into()));
            }
            let momentum = a.float("momentum").unwrap_or(0.9);
            if !(0.0..=1.0).contains(&momentum) {
                return Err((
                    "momentum",
                    format!("`momentum` must be in [0, 1], got {momentum}"),
                    "the default is 0.9".into(),
                ));
            }
            Op::BatchNorm {
                eps,
                momentum,
                scale: a.bool("scale").unwrap_or(true),
                center: a.bool("center").unwrap_or(true),
            }
        }
        "relu" => Op::Relu,
        "maxpool" => Op::MaxPool(pool()?),
        "avgpool" => Op::AvgPool(pool()?),
        "global_avgpool" => Op::GlobalAvgPool,
        "global_maxpool" => Op::GlobalMaxPool,
        "dense" => Op::Dense { out: pos("out", 1)?, bias: a.bool("bias").unwrap_or(true) },
        "flatten" => Op::Flatten,
        "concat" => Op::Concat,
        "add" => Op::Add,
        "slice" => {
            let begin = pos("begin", 0)?;
            Op::Slice { begin, end: pos("end", 0)? }
        }
        "channel_shuffle" => Op::ChannelShuffle { groups: pos("groups", 1)? },
        "identity" => Op::Identity,
        "dropout" => {
            let p = a.float("p").unwrap_or(0.5);
            if !(0.0..1.0).contains(&p) {
                return Err(("p", format!("`p` must be in [0, 1), got {p}"), "the drop probability".into()));
            }
            Op::Dropout { p }
        }
        other => unreachable!("no layer `{other}`"),
    })
}
