//! A training step's elementwise work as CubeCL kernels on device buffers: Adam's update, batch
//! norm on batch statistics (forward and backward) and the sign with its straight-through
//! gradient, each one launch where burn's tensor ops take ten to sixty.
//!
//! Why: a MeliusNet-22 training step on burn's CubeCL backend launched 5,955 kernels, three in
//! four of them elementwise (Adam about fifteen per parameter tensor, a composed batch norm about
//! sixty forward and back). Inputs are read through their strides (a conv's output is a permuted
//! view) and maps are written channels-last ([`channels_last`]), the layout burn's convs compute
//! in, so that the next conv reads them without a copy. Every function allocates its outputs, so
//! the caller's memory pool reuses them step after step.

use cubecl::prelude::*;
use cubecl::server::Handle;

use crate::gpu::{grid, linear_pos};

/// Units per cube of every kernel here; the reductions' tree assumes it.
const UNITS: u32 = 256;

/// Element strides of a rank-4 tensor, outermost first.
pub type Strides = [usize; 4];

/// The strides of `[n, c, h, w]` stored channels-last (NHWC memory), which every map written
/// here has: burn's convs permute their input to it, copying unless it is already so.
pub fn channels_last([_, c, h, w]: [usize; 4]) -> Strides {
    [c * h * w, 1, w * c, c]
}

fn f32s<R: Runtime>(client: &ComputeClient<R>, len: usize) -> Handle {
    client.empty(len.max(1) * 4)
}

/// # Safety
/// `len` must not exceed the buffer's length in `f32`s.
unsafe fn arg<R: Runtime>(h: &Handle, len: usize) -> ArrayArg<R> {
    // SAFETY: the caller's promise.
    unsafe { ArrayArg::from_raw_parts(h.clone(), len.max(1)) }
}

/// The elements a view of `shape` and `strides` can reach (its buffer is at least this long).
pub(crate) fn reach(shape: [usize; 4], strides: Strides) -> usize {
    1 + shape.iter().zip(strides).map(|(&d, s)| d.saturating_sub(1) * s).sum::<usize>()
}

/// Strides as the kernels take them.
#[derive(CubeType, CubeLaunch, Clone, Copy)]
struct Strided {
    s0: u32,
    s1: u32,
    s2: u32,
    s3: u32,
}

fn strided<R: Runtime>(s: Strides) -> StridedLaunch<R> {
    StridedLaunch::new(s[0] as u32, s[1] as u32, s[2] as u32, s[3] as u32)
}

/// The offset of element `(a, b, c, d)`.
#[cube]
fn at(s: &Strided, a: u32, b: u32, c: u32, d: u32) -> usize {
    (a * s.s0 + b * s.s1 + c * s.s2 + d * s.s3) as usize
}

/// One Adam step's constants, computed on the host exactly as burn's `Adam` computes them (f32).
#[derive(Clone, Copy, Debug)]
pub struct AdamStep {
    pub beta_1: f32,
    pub beta_2: f32,
    /// `sqrt(1 - beta_2^t) / (1 - beta_1^t)`.
    pub factor: f32,
    /// `epsilon * sqrt(1 - beta_2^t)`.
    pub epsilon: f32,
    pub lr: f32,
    /// L2 penalty added to the gradient, if any.
    pub decay: Option<f32>,
}

impl AdamStep {
    /// The constants of step `time` (from 1), as burn's `AdaptiveMomentum::transform`.
    pub fn new(beta_1: f32, beta_2: f32, epsilon: f32, lr: f32, decay: Option<f32>, time: i32) -> Self {
        let correction2 = (1.0 - beta_2.powi(time)).sqrt();
        let factor = correction2 / (1.0 - beta_1.powi(time));
        AdamStep { beta_1, beta_2, factor, epsilon: epsilon * correction2, lr, decay }
    }
}

#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
fn adam_kernel(
    w: &Array<f32>,
    g: &Array<f32>,
    m: &Array<f32>,
    v: &Array<f32>,
    w_out: &mut Array<f32>,
    m_out: &mut Array<f32>,
    v_out: &mut Array<f32>,
    len: u32,
    d1: u32,
    d2: u32,
    d3: u32,
    gs: Strided,
    beta_1: f32,
    beta_2: f32,
    factor: f32,
    epsilon: f32,
    lr: f32,
    penalty: f32,
    #[comptime] first: bool,
    #[comptime] decay: bool,
) {
    let i = linear_pos();
    if i < len {
        let at_i = i as usize;
        let wi = w[at_i];
        // The gradient may be a permuted view (a conv's weight gradient is channels-last).
        let mut gi = g[at(&gs, i / (d1 * d2 * d3), (i / (d2 * d3)) % d1, (i / d3) % d2, i % d3)];
        // burn's ops in their order (`w * penalty + g`; an add is the same either way round), so
        // that the result is theirs up to the device's rounding.
        if decay {
            gi += wi * penalty;
        }
        let (f1, f2) = (1.0f32 - beta_1, 1.0f32 - beta_2);
        let mut mi = gi * f1;
        let mut vi = gi * gi * f2;
        if !first {
            mi = m[at_i] * beta_1 + gi * f1;
            vi = v[at_i] * beta_2 + gi * gi * f2;
        }
        let update = mi * factor / (f32::sqrt(vi) + epsilon);
        w_out[at_i] = wi - update * lr;
        m_out[at_i] = mi;
        v_out[at_i] = vi;
    }
}

/// Adam's update of contiguous weights `w` of `shape` (rank 4, padded with leading 1s) with the
/// gradient `g` (any strides) and contiguous moments `(m, v)` (none at the first step): the new
/// weights and moments, contiguous, in one launch.
pub fn adam<R: Runtime>(
    client: &ComputeClient<R>,
    w: &Handle,
    (g, g_strides): (&Handle, Strides),
    moments: Option<(&Handle, &Handle)>,
    shape: [usize; 4],
    s: AdamStep,
) -> (Handle, Handle, Handle) {
    let len = shape.iter().product();
    let (w_out, m_out, v_out) = (f32s(client, len), f32s(client, len), f32s(client, len));
    let (m, v) = moments.unwrap_or((g, g));
    let moments_len = if moments.is_some() { len } else { reach(shape, g_strides) };
    // SAFETY: every index the kernel forms is below `len`, the length of `w` and the outputs (and
    // of the moments, else the gradient stands in, unread), or inside the gradient's view.
    unsafe {
        adam_kernel::launch_unchecked::<R>(
            client,
            grid(len, UNITS),
            CubeDim::new_1d(UNITS),
            arg(w, len),
            arg(g, reach(shape, g_strides)),
            arg(m, moments_len),
            arg(v, moments_len),
            arg(&w_out, len),
            arg(&m_out, len),
            arg(&v_out, len),
            len as u32,
            shape[1] as u32,
            shape[2] as u32,
            shape[3] as u32,
            strided(g_strides),
            s.beta_1,
            s.beta_2,
            s.factor,
            s.epsilon,
            s.lr,
            s.decay.unwrap_or(0.0),
            moments.is_none(),
            s.decay.is_some(),
        )
    };
    (w_out, m_out, v_out)
}

/// The sum of every unit's `v` in the cube, returned to all of them.
#[cube]
fn cube_sum(sh: &mut SharedMemory<f32>, v: f32) -> f32 {
    let u = UNIT_POS_X as usize;
    sh[u] = v;
    sync_cube();
    // `CUBE_DIM_X` (= UNITS), not the constant: a loop variable must be a runtime value.
    let mut stride = CUBE_DIM_X / 2;
    while stride > 0 {
        if UNIT_POS_X < stride {
            sh[u] = sh[u] + sh[u + stride as usize];
        }
        sync_cube();
        stride /= 2;
    }
    let total = sh[0];
    sync_cube();
    total
}

/// `[n, c, h, w]`: batch norm's and the sign's maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
}

impl Dims {
    pub fn of([n, c, h, w]: [usize; 4]) -> Self {
        Dims { n, c, h, w }
    }

    pub fn shape(self) -> [usize; 4] {
        [self.n, self.c, self.h, self.w]
    }

    fn len(self) -> usize {
        self.n * self.c * self.h * self.w
    }

    fn per_channel(self) -> CubeCount {
        CubeCount::Static(self.c as u32, 1, 1)
    }
}

/// A map on the device: its buffer and strides (its dimensions are the caller's `Dims`).
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    pub handle: &'a Handle,
    pub strides: Strides,
}

impl View<'_> {
    /// # Safety
    /// The view must fit its buffer.
    unsafe fn arg<R: Runtime>(&self, d: Dims) -> ArrayArg<R> {
        // SAFETY: the caller's promise.
        unsafe { arg(self.handle, reach(d.shape(), self.strides)) }
    }
}

/// Channel `CUBE_POS_X`'s mean and biased variance (two passes: centred squares, as the composed
/// batch norm), `1 / sqrt(var + eps)`, and the running statistics moved by `keep`.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
fn norm_stats_kernel(
    x: &Array<f32>,
    running_mean: &Array<f32>,
    running_var: &Array<f32>,
    mean: &mut Array<f32>,
    rstd: &mut Array<f32>,
    mean_out: &mut Array<f32>,
    var_out: &mut Array<f32>,
    n: u32,
    h: u32,
    w: u32,
    xs: Strided,
    eps: f32,
    keep: f32,
    take: f32,
) {
    let ch = CUBE_POS_X;
    let hw = h * w;
    let count = f32::cast_from(n * hw);
    let mut sh = SharedMemory::<f32>::new(UNITS as usize);
    let mut s = 0.0f32;
    for img in 0..n {
        let mut p = UNIT_POS_X;
        while p < hw {
            s += x[at(&xs, img, ch, p / w, p % w)];
            p += UNITS;
        }
    }
    let mu = cube_sum(&mut sh, s) / count;
    let mut s2 = 0.0f32;
    for img in 0..n {
        let mut p = UNIT_POS_X;
        while p < hw {
            let d = x[at(&xs, img, ch, p / w, p % w)] - mu;
            s2 += d * d;
            p += UNITS;
        }
    }
    let var = cube_sum(&mut sh, s2) / count;
    if UNIT_POS_X == 0 {
        let c = ch as usize;
        mean[c] = mu;
        rstd[c] = 1.0f32 / f32::sqrt(var + eps);
        mean_out[c] = running_mean[c] * keep + mu * take;
        var_out[c] = running_var[c] * keep + var * take;
    }
}

/// Batch statistics of `x` and the running statistics moved toward them.
#[derive(Clone, Debug)]
pub struct NormStats {
    pub mean: Handle,
    /// `1 / sqrt(var + eps)` per channel.
    pub rstd: Handle,
    pub running_mean: Handle,
    pub running_var: Handle,
}

/// Per-channel statistics of `x` (`d`), and the running ones `r = keep * r + take * batch`.
pub fn norm_stats<R: Runtime>(
    client: &ComputeClient<R>,
    x: View,
    d: Dims,
    eps: f32,
    running: (&Handle, &Handle),
    (keep, take): (f32, f32),
) -> NormStats {
    let out = || f32s(client, d.c);
    let s = NormStats { mean: out(), rstd: out(), running_mean: out(), running_var: out() };
    // SAFETY: cube `ch < c` reads channel `ch` of the view of `x` and writes index `ch`.
    unsafe {
        norm_stats_kernel::launch_unchecked::<R>(
            client,
            d.per_channel(),
            CubeDim::new_1d(UNITS),
            x.arg(d),
            arg(running.0, d.c),
            arg(running.1, d.c),
            arg(&s.mean, d.c),
            arg(&s.rstd, d.c),
            arg(&s.running_mean, d.c),
            arg(&s.running_var, d.c),
            d.n as u32,
            d.h as u32,
            d.w as u32,
            strided(x.strides),
            eps,
            keep,
            take,
        )
    };
    s
}

/// `(image, channel, row, column)` of element `i` of a channels-last `[n, c, h, w]` buffer.
#[cube]
fn nhwc_coords(i: u32, c: u32, h: u32, w: u32) -> (u32, u32, u32, u32) {
    let pix = i / c;
    (pix / (w * h), i % c, (pix / w) % h, pix % w)
}

#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
fn norm_apply_kernel(
    x: &Array<f32>,
    gamma: &Array<f32>,
    beta: &Array<f32>,
    mean: &Array<f32>,
    rstd: &Array<f32>,
    y: &mut Array<f32>,
    len: u32,
    c: u32,
    h: u32,
    w: u32,
    xs: Strided,
) {
    let i = linear_pos();
    if i < len {
        let (img, ch, yy, xx) = nhwc_coords(i, c, h, w);
        let k = ch as usize;
        // As the composed batch norm: scale = rstd * gamma, shift = -(mean * scale) + beta.
        let scale = rstd[k] * gamma[k];
        let shift = -(mean[k] * scale) + beta[k];
        y[i as usize] = x[at(&xs, img, ch, yy, xx)] * scale + shift;
    }
}

/// `y = (x - mean) * rstd * gamma + beta` per channel, channels-last.
pub fn norm_apply<R: Runtime>(
    client: &ComputeClient<R>,
    x: View,
    d: Dims,
    gamma: &Handle,
    beta: &Handle,
    s: &NormStats,
) -> Handle {
    let len = d.len();
    let y = f32s(client, len);
    // SAFETY: `i < len` indexes `y` and its coordinates the view of `x`; `ch < c` the
    // per-channel buffers.
    unsafe {
        norm_apply_kernel::launch_unchecked::<R>(
            client,
            grid(len, UNITS),
            CubeDim::new_1d(UNITS),
            x.arg(d),
            arg(gamma, d.c),
            arg(beta, d.c),
            arg(&s.mean, d.c),
            arg(&s.rstd, d.c),
            arg(&y, len),
            len as u32,
            d.c as u32,
            d.h as u32,
            d.w as u32,
            strided(x.strides),
        )
    };
    y
}

/// Channel `CUBE_POS_X`'s `sum(dy * xhat)` (gamma's gradient) and `sum(dy)` (beta's).
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
fn norm_sums_kernel(
    x: &Array<f32>,
    dy: &Array<f32>,
    mean: &Array<f32>,
    rstd: &Array<f32>,
    dgamma: &mut Array<f32>,
    dbeta: &mut Array<f32>,
    n: u32,
    h: u32,
    w: u32,
    xs: Strided,
    dys: Strided,
) {
    let ch = CUBE_POS_X;
    let hw = h * w;
    let (mu, r) = (mean[ch as usize], rstd[ch as usize]);
    let mut sh = SharedMemory::<f32>::new(UNITS as usize);
    let mut sg = 0.0f32;
    let mut sb = 0.0f32;
    for img in 0..n {
        let mut p = UNIT_POS_X;
        while p < hw {
            let (yy, xx) = (p / w, p % w);
            let g = dy[at(&dys, img, ch, yy, xx)];
            sg += g * ((x[at(&xs, img, ch, yy, xx)] - mu) * r);
            sb += g;
            p += UNITS;
        }
    }
    let g = cube_sum(&mut sh, sg);
    let b = cube_sum(&mut sh, sb);
    if UNIT_POS_X == 0 {
        dgamma[ch as usize] = g;
        dbeta[ch as usize] = b;
    }
}

#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
fn norm_input_grad_kernel(
    x: &Array<f32>,
    dy: &Array<f32>,
    gamma: &Array<f32>,
    mean: &Array<f32>,
    rstd: &Array<f32>,
    dgamma: &Array<f32>,
    dbeta: &Array<f32>,
    dx: &mut Array<f32>,
    len: u32,
    c: u32,
    h: u32,
    w: u32,
    xs: Strided,
    dys: Strided,
    count: f32,
) {
    let i = linear_pos();
    if i < len {
        let (img, ch, yy, xx) = nhwc_coords(i, c, h, w);
        let k = ch as usize;
        let xhat = (x[at(&xs, img, ch, yy, xx)] - mean[k]) * rstd[k];
        let g = dy[at(&dys, img, ch, yy, xx)];
        dx[i as usize] = gamma[k] * rstd[k] * (g - dbeta[k] / count - xhat * dgamma[k] / count);
    }
}

/// Batch norm's gradients from the output's `dy`: `(dx, dgamma, dbeta)`, `dx` channels-last.
pub fn norm_backward<R: Runtime>(
    client: &ComputeClient<R>,
    x: View,
    dy: View,
    d: Dims,
    gamma: &Handle,
    s: &NormStats,
) -> (Handle, Handle, Handle) {
    let (len, c) = (d.len(), d.c);
    let (dgamma, dbeta, dx) = (f32s(client, c), f32s(client, c), f32s(client, len));
    // SAFETY: as `norm_stats` for the sums (per channel) and `norm_apply` for `dx` (per element).
    unsafe {
        norm_sums_kernel::launch_unchecked::<R>(
            client,
            d.per_channel(),
            CubeDim::new_1d(UNITS),
            x.arg(d),
            dy.arg(d),
            arg(&s.mean, c),
            arg(&s.rstd, c),
            arg(&dgamma, c),
            arg(&dbeta, c),
            d.n as u32,
            d.h as u32,
            d.w as u32,
            strided(x.strides),
            strided(dy.strides),
        );
        norm_input_grad_kernel::launch_unchecked::<R>(
            client,
            grid(len, UNITS),
            CubeDim::new_1d(UNITS),
            x.arg(d),
            dy.arg(d),
            arg(gamma, c),
            arg(&s.mean, c),
            arg(&s.rstd, c),
            arg(&dgamma, c),
            arg(&dbeta, c),
            arg(&dx, len),
            len as u32,
            c as u32,
            d.h as u32,
            d.w as u32,
            strided(x.strides),
            strided(dy.strides),
            (d.n * d.h * d.w) as f32,
        )
    };
    (dx, dgamma, dbeta)
}

/// `d` bordered by `pad` on both sides of each spatial axis.
pub fn padded(d: Dims, pad: usize) -> Dims {
    Dims { h: d.h + 2 * pad, w: d.w + 2 * pad, ..d }
}

#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
fn sign_pad_kernel(
    x: &Array<f32>,
    y: &mut Array<f32>,
    len: u32,
    c: u32,
    h: u32,
    w: u32,
    pad: u32,
    border: f32,
    xs: Strided,
) {
    let i = linear_pos();
    if i < len {
        let (img, ch, py, px) = nhwc_coords(i, c, h + 2 * pad, w + 2 * pad);
        let mut v = border;
        if py >= pad && py < h + pad && px >= pad && px < w + pad {
            // `>= 0` is +1 (NaN -1), as `det_sign` and the packed kernels.
            v = -1.0f32;
            if x[at(&xs, img, ch, py - pad, px - pad)] >= 0.0 {
                v = 1.0f32;
            }
        }
        y[i as usize] = v;
    }
}

/// The sign (`>= 0` is +1) of `x` (`d`), bordered by `pad` values of `border`, channels-last.
pub fn sign_pad<R: Runtime>(client: &ComputeClient<R>, x: View, d: Dims, pad: usize, border: f32) -> Handle {
    let len = padded(d, pad).len();
    let y = f32s(client, len);
    // SAFETY: `i < len` indexes `y`; an interior position's coordinates the view of `x`.
    unsafe {
        sign_pad_kernel::launch_unchecked::<R>(
            client,
            grid(len, UNITS),
            CubeDim::new_1d(UNITS),
            x.arg(d),
            arg(&y, len),
            len as u32,
            d.c as u32,
            d.h as u32,
            d.w as u32,
            pad as u32,
            border,
            strided(x.strides),
        )
    };
    y
}

/// The straight-through gradient of a sign: `[|x| <= t]` (clipped), or Bi-Real's approximation's
/// `(2 - 2|x|) [|x| <= t]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SignGrad {
    Clipped(f32),
    Approx(f32),
}

#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
fn sign_grad_kernel(
    x: &Array<f32>,
    dy: &Array<f32>,
    dx: &mut Array<f32>,
    len: u32,
    c: u32,
    h: u32,
    w: u32,
    pad: u32,
    xs: Strided,
    dys: Strided,
    threshold: f32,
    #[comptime] approx: bool,
) {
    let i = linear_pos();
    if i < len {
        let (img, ch, yy, xx) = nhwc_coords(i, c, h, w);
        let a = f32::abs(x[at(&xs, img, ch, yy, xx)]);
        let mut g = 0.0f32;
        if a <= threshold {
            g = 1.0f32;
            if approx {
                g = 2.0f32 - 2.0f32 * a;
            }
        }
        dx[i as usize] = dy[at(&dys, img, ch, yy + pad, xx + pad)] * g;
    }
}

/// The input's gradient of [`sign_pad`] from the (bordered) output's `dy`, channels-last.
pub fn sign_grad<R: Runtime>(client: &ComputeClient<R>, x: View, dy: View, d: Dims, pad: usize, g: SignGrad) -> Handle {
    let len = d.len();
    let dx = f32s(client, len);
    let (threshold, approx) = match g {
        SignGrad::Clipped(t) => (t, false),
        SignGrad::Approx(t) => (t, true),
    };
    // SAFETY: `i < len` indexes `dx`, its coordinates the view of `x` and, bordered, of `dy`.
    unsafe {
        sign_grad_kernel::launch_unchecked::<R>(
            client,
            grid(len, UNITS),
            CubeDim::new_1d(UNITS),
            x.arg(d),
            dy.arg(padded(d, pad)),
            arg(&dx, len),
            len as u32,
            d.c as u32,
            d.h as u32,
            d.w as u32,
            pad as u32,
            strided(x.strides),
            strided(dy.strides),
            threshold,
            approx,
        )
    };
    dx
}
