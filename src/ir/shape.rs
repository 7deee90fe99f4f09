//! Shapes (per sample, without the batch dimension) and the shape rule of every op. The lowering
//! calls these as it builds the graph (a spec may ask `channels(x)`), and validation calls them
//! again over the finished graph.

use std::fmt;

use serde::Serialize;

use super::{Conv2d, Op, Pool};

/// Largest dimension accepted anywhere.
pub const MAX_DIM: u64 = 1 << 24;
/// Largest feature map per sample (elements); with MAX_DIM this keeps costs far from overflow.
pub const MAX_ELEMENTS: u64 = 1 << 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shape {
    /// A feature map: channels, height, width.
    Map { c: u32, h: u32, w: u32 },
    /// A flat vector of features.
    Vector { n: u32 },
}

impl Shape {
    pub fn dims(self) -> Vec<u32> {
        match self {
            Shape::Map { c, h, w } => vec![c, h, w],
            Shape::Vector { n } => vec![n],
        }
    }
    /// Channels of a map, features of a vector.
    pub fn channels(self) -> u32 {
        match self {
            Shape::Map { c, .. } => c,
            Shape::Vector { n } => n,
        }
    }
    /// Elements per sample, saturating (dimensions up to `u32::MAX` cannot overflow it).
    pub fn elements(self) -> u64 {
        self.dims().iter().fold(1u64, |acc, &d| acc.saturating_mul(d as u64))
    }

    /// Check the limits every shape in the IR respects (see [`MAX_DIM`] and [`MAX_ELEMENTS`]).
    pub fn within_limits(self) -> Result<Shape, ShapeError> {
        if self.dims().iter().any(|&d| d as u64 > MAX_DIM) {
            return err(format!("{self} has a dimension over {MAX_DIM}"), "is the input shape right?");
        }
        if self.elements() > MAX_ELEMENTS {
            return err(
                format!("{self} has more than {MAX_ELEMENTS} elements per sample"),
                format!("feature maps are limited to {MAX_ELEMENTS} elements; is the input shape right?"),
            );
        }
        Ok(self)
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Map { c, h, w } => write!(f, "[{c}, {h}, {w}]"),
            Shape::Vector { n } => write!(f, "[{n}]"),
        }
    }
}

impl Serialize for Shape {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.dims().serialize(s)
    }
}

/// Why an op cannot take the shapes it was given: a message and a hint.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapeError {
    pub message: String,
    pub hint: String,
}

fn err<T>(message: impl Into<String>, hint: impl Into<String>) -> Result<T, ShapeError> {
    Err(ShapeError { message: message.into(), hint: hint.into() })
}

fn map(s: Shape, op: &str) -> Result<(u32, u32, u32), ShapeError> {
    match s {
        Shape::Map { c, h, w } => Ok((c, h, w)),
        Shape::Vector { n } => err(
            format!("`{op}` needs a feature map [C, H, W], got a vector [{n}]"),
            "spatial layers must come before `flatten` or a global pool",
        ),
    }
}

/// Output size of a sliding window: floor((in + 2p - d(k-1) - 1) / s) + 1, or an error when the
/// window does not fit (the map would pool or convolve to nothing).
fn window(input: u32, kernel: u32, stride: u32, pad: u32, dilation: u32, what: &str) -> Result<u32, ShapeError> {
    let span = dilation as u64 * (kernel as u64 - 1) + 1;
    let padded = input as u64 + 2 * pad as u64;
    if padded < span {
        return err(
            format!("the {what} window ({span} wide) is larger than the padded input ({padded} wide)"),
            "the map has shrunk too far: remove a downsampling step, or use a larger input",
        );
    }
    Ok(((padded - span) / stride as u64 + 1) as u32)
}

fn conv_shape(conv: &Conv2d, input: Shape, op: &str) -> Result<Shape, ShapeError> {
    let (c, h, w) = map(input, op)?;
    if conv.groups == 0 || c % conv.groups != 0 || !conv.out.is_multiple_of(conv.groups) {
        return err(
            format!("{c} input and {} output channels cannot be split into {} groups", conv.out, conv.groups),
            "both channel counts must be multiples of `groups`",
        );
    }
    let h2 = window(h, conv.kernel, conv.stride, conv.pad, conv.dilation, "kernel")?;
    let w2 = window(w, conv.kernel, conv.stride, conv.pad, conv.dilation, "kernel")?;
    Ok(Shape::Map { c: conv.out, h: h2, w: w2 })
}

fn pool_shape(p: &Pool, input: Shape, op: &str) -> Result<Shape, ShapeError> {
    let (c, h, w) = map(input, op)?;
    if p.pad * 2 > p.kernel {
        return err(
            format!("padding {} is more than half the pooling window {}", p.pad, p.kernel),
            "use pad <= kernel / 2",
        );
    }
    let h2 = window(h, p.kernel, p.stride, p.pad, 1, "pooling")?;
    let w2 = window(w, p.kernel, p.stride, p.pad, 1, "pooling")?;
    Ok(Shape::Map { c, h: h2, w: w2 })
}

/// The output shape of `op` applied to `inputs`.
pub fn infer(op: &Op, inputs: &[Shape]) -> Result<Shape, ShapeError> {
    infer_unchecked(op, inputs)?.within_limits()
}

fn infer_unchecked(op: &Op, inputs: &[Shape]) -> Result<Shape, ShapeError> {
    let one =
        || inputs.first().copied().ok_or_else(|| ShapeError { message: "missing input".into(), hint: String::new() });
    let out = match op {
        Op::Input => one()?,
        Op::Output | Op::Identity | Op::Relu | Op::Dropout { .. } => one()?,
        Op::Conv { conv, .. } => conv_shape(conv, one()?, "conv")?,
        Op::BinaryConv(b) => conv_shape(&b.conv, one()?, "bconv")?,
        Op::BatchNorm { .. } => one()?,
        Op::MaxPool(p) => pool_shape(p, one()?, "maxpool")?,
        Op::AvgPool(p) => pool_shape(p, one()?, "avgpool")?,
        Op::GlobalAvgPool | Op::GlobalMaxPool => {
            let (c, _, _) = map(one()?, op.name())?;
            Shape::Vector { n: c }
        }
        Op::Flatten => Shape::Vector { n: checked_dim(one()?.elements())? },
        Op::Dense { out, .. } => match one()? {
            Shape::Vector { .. } => Shape::Vector { n: *out },
            s @ Shape::Map { .. } => {
                return err(
                    format!("`dense` needs a vector, got a feature map {s}"),
                    "insert `flatten` or `global_avgpool` before `dense`",
                );
            }
        },
        Op::Concat => {
            let first = one()?;
            match first {
                Shape::Map { h, w, .. } => {
                    let mut c_total = 0u64;
                    for (i, s) in inputs.iter().enumerate() {
                        match *s {
                            Shape::Map { c, h: h2, w: w2 } if h2 == h && w2 == w => c_total += c as u64,
                            other => {
                                return err(
                                    format!("cannot concatenate {other} (input {}) with {first} along channels", i + 1),
                                    "all inputs of `concat` need the same height and width",
                                );
                            }
                        }
                    }
                    Shape::Map { c: checked_dim(c_total)?, h, w }
                }
                Shape::Vector { .. } => {
                    let mut n_total = 0u64;
                    for (i, s) in inputs.iter().enumerate() {
                        match *s {
                            Shape::Vector { n } => n_total += n as u64,
                            other => {
                                return err(
                                    format!("cannot concatenate {other} (input {}) with vector {first}", i + 1),
                                    "all inputs of `concat` must be vectors or all feature maps",
                                );
                            }
                        }
                    }
                    Shape::Vector { n: checked_dim(n_total)? }
                }
            }
        }
        Op::Add => {
            let first = one()?;
            for s in &inputs[1..] {
                if *s != first {
                    return err(
                        format!("cannot add {first} and {s}"),
                        "both sides of `+` need the same shape; a residual with another width needs a 1x1 conv",
                    );
                }
            }
            first
        }
        Op::Slice { begin, end } => {
            let s = one()?;
            let c = s.channels();
            if begin >= end || *end > c {
                return err(
                    format!("channel slice {begin}..{end} is not inside the {c} channels of {s}"),
                    "a slice needs 0 <= begin < end <= channels",
                );
            }
            match s {
                Shape::Map { h, w, .. } => Shape::Map { c: end - begin, h, w },
                Shape::Vector { .. } => Shape::Vector { n: end - begin },
            }
        }
        Op::ChannelShuffle { groups } => {
            let s = one()?;
            let (c, _, _) = map(s, "channel_shuffle")?;
            if *groups == 0 || c % groups != 0 {
                return err(
                    format!("{c} channels cannot be shuffled in {groups} groups"),
                    "channels must be a multiple of `groups`",
                );
            }
            s
        }
        Op::Select { .. } => {
            let first = one()?;
            for (i, s) in inputs.iter().enumerate() {
                if *s != first {
                    return err(
                        format!("alternative {} gives {s}, but alternative 1 gives {first}", i + 1),
                        "every alternative of a choice must produce the same shape",
                    );
                }
            }
            first
        }
    };
    Ok(out)
}

fn checked_dim(v: u64) -> Result<u32, ShapeError> {
    if v > MAX_DIM {
        return err(format!("a dimension of {v} is too large"), format!("dimensions are limited to {MAX_DIM}"));
    }
    Ok(v as u32)
}
