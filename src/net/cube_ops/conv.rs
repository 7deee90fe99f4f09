//! Convolutions on burn's CubeCL backend (wgpu, CUDA) with one fixed algorithm, not autotuned.
//!
//! Why: burn's CubeCL conv autotunes each new problem (shape rounded up to powers of two, and
//! direction): it compiles and times 8 variants of each. MeliusNet-22's first training step met
//! dozens of such problems, compiled over 300 kernels with NVRTC and had not finished after 290 s
//! on an H200 (docs/gpu.md). Here each conv shape compiles one kernel per direction: the
//! synchronous implicit GEMM on the matrix units (CubeCL's `cmma`), one of the family the
//! autotuner chose from for MeliusNet-22's shapes, or, where it finds no tile size (on lavapipe,
//! for every gradient), burn's direct kernels, never its autotuned conv.
//!
//! As in `cpu_ops`, the backend is recognised by type and the tensors moved across through `Any`;
//! the conv hands its input back on any other backend, or with a bias or groups, for burn's `conv2d`.

use std::any::TypeId;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::tensor::backend::Backend;
use burn::tensor::ops::conv::calculate_padding_out;
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{DType, Tensor, TensorPrimitive};
use burn_cubecl::kernel::conv::{
    ConvStrategy, ConvTranspose2dStrategy, conv_data_backward, conv_forward, conv_transpose2d, conv_weight_backward,
};
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{BoolElement, CubeRuntime};

use lightnasc_kernels::gpu_grad::WeightGrad;

use super::{Inner, Train, f32_tensor, strides};
use crate::net::cast;

/// `conv2d(x, w)` without bias on the CubeCL backends this build has, trained or not, or the
/// inputs back.
pub fn conv2d<B: Backend>(
    x: Tensor<B, 4>,
    w: Tensor<B, 4>,
    options: ConvOptions<2>,
) -> Result<Tensor<B, 4>, (Tensor<B, 4>, Tensor<B, 4>)> {
    if x.dtype() != DType::F32 || autotuned() || options.groups != 1 {
        return Err((x, w));
    }
    let xw = (x, w);
    super::on_runtimes!(xw = on::<B>(xw, &options))
}

/// `LIGHTNASC_GPU_CONV=autotune` leaves convs to burn's autotuned conv (for comparisons).
fn autotuned() -> bool {
    static AUTOTUNE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AUTOTUNE.get_or_init(|| std::env::var("LIGHTNASC_GPU_CONV").is_ok_and(|v| v == "autotune"))
}

type Pair<B> = (Tensor<B, 4>, Tensor<B, 4>);

/// The conv when `B` is runtime `R`'s backend, with autodiff or without.
fn on<B: Backend, R: CubeRuntime, BT: BoolElement>(
    (x, w): Pair<B>,
    options: &ConvOptions<2>,
) -> Result<Tensor<B, 4>, Pair<B>> {
    let b = TypeId::of::<B>();
    if b == TypeId::of::<Train<R, BT>>() {
        return Ok(cast(trained::<R, BT>(cast(x), cast(w), options.clone())));
    }
    if b == TypeId::of::<Inner<R, BT>>() {
        let (x, w): (Tensor<Inner<R, BT>, 4>, _) = (cast(x), cast::<_, Tensor<Inner<R, BT>, 4>>(w));
        let y = forward(x.into_primitive().tensor(), w.into_primitive().tensor(), options);
        return Ok(cast(Tensor::<Inner<R, BT>, 4>::from_primitive(TensorPrimitive::Float(y))));
    }
    Err((x, w))
}

/// The forward conv: the implicit GEMM, else the direct conv.
fn forward<R: CubeRuntime>(x: CubeTensor<R>, w: CubeTensor<R>, options: &ConvOptions<2>) -> CubeTensor<R> {
    let gemm = conv_forward::<R, 2>(x.clone(), w.clone(), None, options.clone(), ConvStrategy::ImplicitGemm);
    if let Ok(y) = gemm {
        return y;
    }
    crate::net::gpu::note_conv_fallback();
    conv_forward::<R, 2>(x, w, None, options.clone(), ConvStrategy::Direct).expect("burn's direct conv takes any shape")
}

fn trained<R: CubeRuntime, BT: BoolElement>(
    x: Tensor<Train<R, BT>, 4>,
    w: Tensor<Train<R, BT>, 4>,
    options: ConvOptions<2>,
) -> Tensor<Train<R, BT>, 4> {
    let (x, w) = (x.into_primitive().tensor(), w.into_primitive().tensor());
    let y = forward(x.primitive.clone(), w.primitive.clone(), &options);
    let parents = [x.node.clone(), w.node.clone()];
    let y = match ConvBackward.prepare::<NoCheckpointing>(parents).compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish(State { x: x.primitive, w: w.primitive, options }, y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Tensor::from_primitive(TensorPrimitive::Float(y))
}

#[derive(Debug)]
struct ConvBackward;

#[derive(Clone, Debug)]
struct State<R: CubeRuntime> {
    x: CubeTensor<R>,
    w: CubeTensor<R>,
    options: ConvOptions<2>,
}

impl<R: CubeRuntime, BT: BoolElement> Backward<Inner<R, BT>, 2> for ConvBackward {
    type State = State<R>;

    fn backward(self, ops: Ops<State<R>, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<Inner<R, BT>>(&ops.node);
        let State { x, w, options } = ops.state;
        let [x_node, w_node] = ops.parents;
        let (x_shape, w_shape) = (x.meta.shape().dims(), w.meta.shape().dims());
        if let Some(node) = x_node {
            grads.register::<Inner<R, BT>>(node.id, data_grad::<R>(dy.clone(), w, x_shape, &options));
        }
        if let Some(node) = w_node {
            grads.register::<Inner<R, BT>>(node.id, weight_grad::<R, BT>(x, dy, w_shape, &options));
        }
    }
}

/// The input gradient: the implicit GEMM, else the transposed conv of `dy` on burn's direct
/// kernel (burn's own fallback autotunes the transposed conv, compiling its variants per shape).
fn data_grad<R: CubeRuntime>(
    dy: CubeTensor<R>,
    w: CubeTensor<R>,
    x_shape: [usize; 4],
    o: &ConvOptions<2>,
) -> CubeTensor<R> {
    let gemm = conv_data_backward::<R, 2>(dy.clone(), w.clone(), x_shape.into(), o.clone(), ConvStrategy::ImplicitGemm);
    if let Ok(dx) = gemm {
        return dx;
    }
    crate::net::gpu::note_conv_fallback();
    let [kh, kw] = [w.meta.shape()[2], w.meta.shape()[3]];
    let [oh, ow] = [dy.meta.shape()[2], dy.meta.shape()[3]];
    let out_pad =
        |i: usize, k, input, output| calculate_padding_out(k, o.stride[i], o.padding[i], o.dilation[i], input, output);
    let padding_out = [out_pad(0, kh, x_shape[2], oh), out_pad(1, kw, x_shape[3], ow)];
    let t = ConvTransposeOptions::new(o.stride, o.padding, padding_out, o.dilation, o.groups);
    conv_transpose2d(dy, w, None, t, ConvTranspose2dStrategy::Direct)
        .expect("the direct transposed conv takes any shape")
}

/// The weight gradient: a GEMM split over K (`lightnasc_kernels::gpu_grad`), which launches
/// enough cubes to fill a GPU where burn's implicit GEMM runs one or two per tile over all of K;
/// `LIGHTNASC_GPU_WGRAD=burn` (for comparisons), or non-square options, take burn's.
fn weight_grad<R: CubeRuntime, BT: BoolElement>(
    x: CubeTensor<R>,
    dy: CubeTensor<R>,
    w_shape: [usize; 4],
    o: &ConvOptions<2>,
) -> CubeTensor<R> {
    let square = o.stride[0] == o.stride[1] && o.padding[0] == o.padding[1] && o.dilation[0] == o.dilation[1];
    if !square || burn_weight_grad() {
        return burn_weight_grad_of::<R, BT>(x, dy, w_shape, o);
    }
    let dy_dims: [usize; 4] = dy.meta.shape().dims();
    let p = WeightGrad {
        input: x.meta.shape().dims(),
        out: w_shape[0],
        kernel: [w_shape[2], w_shape[3]],
        out_size: [dy_dims[2], dy_dims[3]],
        stride: o.stride[0],
        pad: o.padding[0],
        dilation: o.dilation[0],
    };
    let g =
        lightnasc_kernels::gpu_grad::weight_grad(&x.client, (&x.handle, strides(&x)), (&dy.handle, strides(&dy)), p);
    f32_tensor(&x, w_shape, g)
}

/// `LIGHTNASC_GPU_WGRAD=burn` leaves weight gradients to burn's kernels.
fn burn_weight_grad() -> bool {
    static BURN: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *BURN.get_or_init(|| std::env::var("LIGHTNASC_GPU_WGRAD").is_ok_and(|v| v == "burn"))
}

/// burn's weight gradient: the implicit GEMM, else a conv of the input by the output gradient,
/// images as channels (what burn's fallback does, there with its autotuned conv), on the direct
/// conv.
fn burn_weight_grad_of<R: CubeRuntime, BT: BoolElement>(
    x: CubeTensor<R>,
    dy: CubeTensor<R>,
    w_shape: [usize; 4],
    o: &ConvOptions<2>,
) -> CubeTensor<R> {
    let gemm =
        conv_weight_backward::<R, 2>(x.clone(), dy.clone(), w_shape.into(), o.clone(), ConvStrategy::ImplicitGemm);
    if let Ok(dw) = gemm {
        return dw;
    }
    crate::net::gpu::note_conv_fallback();
    assert_eq!(o.groups, 1, "grouped convs are not covered (`conv2d` hands them back)");
    let t = |c: CubeTensor<R>| Tensor::<Inner<R, BT>, 4>::from_primitive(TensorPrimitive::Float(c)).swap_dims(0, 1);
    let (xs, dys) = (t(x), t(dy));
    let swapped = ConvOptions::new(o.dilation, o.padding, o.stride, 1);
    let g = conv_forward::<R, 2>(
        xs.into_primitive().tensor(),
        dys.into_primitive().tensor(),
        None,
        swapped,
        ConvStrategy::Direct,
    )
    .expect("burn's direct conv takes any shape");
    let g = t(g);
    let [out, c, kh, kw] = w_shape;
    g.slice([0..out, 0..c, 0..kh, 0..kw]).into_primitive().tensor()
}
