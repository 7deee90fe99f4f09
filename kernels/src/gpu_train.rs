//! A training step's elementwise work as CubeCL kernels on device buffers: Adam's update, batch
//! norm on batch statistics (forward and backward) and the sign with its straight-through
//! gradient, each one launch where burn's tensor ops take ten to sixty.
//!
//! Why: a MeliusNet-22 training step on burn's CubeCL backend launched 5,955 kernels, three in
//! four of them elementwise (Adam about fifteen per parameter tensor, a composed batch norm about
//! sixty forward and back). Each buffer here is contiguous `f32`; every function allocates its
//! outputs, so the caller's memory pool reuses them step after step.

use cubecl::prelude::*;
use cubecl::server::Handle;

use crate::gpu::{grid, linear_pos};

/// Units per cube of every kernel here; the reductions' tree assumes it.
const UNITS: u32 = 256;

fn f32s<R: Runtime>(client: &ComputeClient<R>, len: usize) -> Handle {
    client.empty(len.max(1) * 4)
}

/// # Safety
/// `len` must not exceed the buffer's length in `f32`s.
unsafe fn arg<R: Runtime>(h: &Handle, len: usize) -> ArrayArg<R> {
    // SAFETY: the caller's promise.
    unsafe { ArrayArg::from_raw_parts(h.clone(), len.max(1)) }
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
        let at = i as usize;
        let wi = w[at];
        let mut gi = g[at];
        // The order of burn's ops, so that the result is theirs up to the device's rounding.
        if decay {
            gi = wi * penalty + gi;
        }
        let (f1, f2) = (1.0f32 - beta_1, 1.0f32 - beta_2);
        let mut mi = gi * f1;
        let mut vi = gi * gi * f2;
        if !first {
            mi = m[at] * beta_1 + gi * f1;
            vi = v[at] * beta_2 + gi * gi * f2;
        }
        let update = mi * factor / (f32::sqrt(vi) + epsilon);
        w_out[at] = wi - update * lr;
        m_out[at] = mi;
        v_out[at] = vi;
    }
}

/// Adam's update of `len` weights `w` with gradient `g` and moments `(m, v)` (none at the first
/// step): the new weights and moments, in one launch.
pub fn adam<R: Runtime>(
    client: &ComputeClient<R>,
    w: &Handle,
    g: &Handle,
    moments: Option<(&Handle, &Handle)>,
    len: usize,
    s: AdamStep,
) -> (Handle, Handle, Handle) {
    let (w_out, m_out, v_out) = (f32s(client, len), f32s(client, len), f32s(client, len));
    let (m, v) = moments.unwrap_or((g, g));
    // SAFETY: every index the kernel forms is below `len`, the length of every buffer.
    unsafe {
        adam_kernel::launch_unchecked::<R>(
            client,
            grid(len, UNITS),
            CubeDim::new_1d(UNITS),
            arg(w, len),
            arg(g, len),
            arg(m, len),
            arg(v, len),
            arg(&w_out, len),
            arg(&m_out, len),
            arg(&v_out, len),
            len as u32,
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
    c: u32,
    hw: u32,
    eps: f32,
    keep: f32,
    take: f32,
) {
    let ch = CUBE_POS_X;
    let count = f32::cast_from(n * hw);
    let mut sh = SharedMemory::<f32>::new(UNITS as usize);
    let mut s = 0.0f32;
    for img in 0..n {
        let base = (img * c + ch) * hw;
        let mut p = UNIT_POS_X;
        while p < hw {
            s += x[(base + p) as usize];
            p += UNITS;
        }
    }
    let mu = cube_sum(&mut sh, s) / count;
    let mut s2 = 0.0f32;
    for img in 0..n {
        let base = (img * c + ch) * hw;
        let mut p = UNIT_POS_X;
        while p < hw {
            let d = x[(base + p) as usize] - mu;
            s2 += d * d;
            p += UNITS;
        }
    }
    let var = cube_sum(&mut sh, s2) / count;
    if UNIT_POS_X == 0 {
        let at = ch as usize;
        mean[at] = mu;
        rstd[at] = 1.0f32 / f32::sqrt(var + eps);
        mean_out[at] = running_mean[at] * keep + mu * take;
        var_out[at] = running_var[at] * keep + var * take;
    }
}

/// A batch of `[n, c, hw]` floats: batch norm's dimensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NormDims {
    pub n: usize,
    pub c: usize,
    pub hw: usize,
}

impl NormDims {
    fn len(self) -> usize {
        self.n * self.c * self.hw
    }

    fn per_channel(self) -> CubeCount {
        CubeCount::Static(self.c as u32, 1, 1)
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

/// Per-channel statistics of `x` (`d`), and the running ones `r = keep * r + (1 - keep) * batch`.
pub fn norm_stats<R: Runtime>(
    client: &ComputeClient<R>,
    x: &Handle,
    d: NormDims,
    eps: f32,
    running: (&Handle, &Handle),
    keep: f32,
    take: f32,
) -> NormStats {
    let out = || f32s(client, d.c);
    let s = NormStats { mean: out(), rstd: out(), running_mean: out(), running_var: out() };
    // SAFETY: cube `ch < c` reads channel `ch` of `x` (n * c * hw floats) and writes index `ch`.
    unsafe {
        norm_stats_kernel::launch_unchecked::<R>(
            client,
            d.per_channel(),
            CubeDim::new_1d(UNITS),
            arg(x, d.len()),
            arg(running.0, d.c),
            arg(running.1, d.c),
            arg(&s.mean, d.c),
            arg(&s.rstd, d.c),
            arg(&s.running_mean, d.c),
            arg(&s.running_var, d.c),
            d.n as u32,
            d.c as u32,
            d.hw as u32,
            eps,
            keep,
            take,
        )
    };
    s
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
    hw: u32,
) {
    let i = linear_pos();
    if i < len {
        let ch = ((i / hw) % c) as usize;
        // As the composed batch norm: scale = rstd * gamma, shift = -(mean * scale) + beta.
        let scale = rstd[ch] * gamma[ch];
        let shift = -(mean[ch] * scale) + beta[ch];
        y[i as usize] = x[i as usize] * scale + shift;
    }
}

/// `y = (x - mean) * rstd * gamma + beta` per channel.
pub fn norm_apply<R: Runtime>(
    client: &ComputeClient<R>,
    x: &Handle,
    d: NormDims,
    gamma: &Handle,
    beta: &Handle,
    s: &NormStats,
) -> Handle {
    let len = d.len();
    let y = f32s(client, len);
    // SAFETY: `i < len` indexes `x` and `y`; `(i / hw) % c < c` the per-channel buffers.
    unsafe {
        norm_apply_kernel::launch_unchecked::<R>(
            client,
            grid(len, UNITS),
            CubeDim::new_1d(UNITS),
            arg(x, len),
            arg(gamma, d.c),
            arg(beta, d.c),
            arg(&s.mean, d.c),
            arg(&s.rstd, d.c),
            arg(&y, len),
            len as u32,
            d.c as u32,
            d.hw as u32,
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
    c: u32,
    hw: u32,
) {
    let ch = CUBE_POS_X;
    let (mu, r) = (mean[ch as usize], rstd[ch as usize]);
    let mut sh = SharedMemory::<f32>::new(UNITS as usize);
    let mut sg = 0.0f32;
    let mut sb = 0.0f32;
    for img in 0..n {
        let base = (img * c + ch) * hw;
        let mut p = UNIT_POS_X;
        while p < hw {
            let at = (base + p) as usize;
            sg += dy[at] * ((x[at] - mu) * r);
            sb += dy[at];
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
    hw: u32,
    count: f32,
) {
    let i = linear_pos();
    if i < len {
        let ch = ((i / hw) % c) as usize;
        let at = i as usize;
        let xhat = (x[at] - mean[ch]) * rstd[ch];
        dx[at] = gamma[ch] * rstd[ch] * (dy[at] - dbeta[ch] / count - xhat * dgamma[ch] / count);
    }
}

/// Batch norm's gradients from the output's `dy`: `(dx, dgamma, dbeta)`.
pub fn norm_backward<R: Runtime>(
    client: &ComputeClient<R>,
    x: &Handle,
    dy: &Handle,
    d: NormDims,
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
            arg(x, len),
            arg(dy, len),
            arg(&s.mean, c),
            arg(&s.rstd, c),
            arg(&dgamma, c),
            arg(&dbeta, c),
            d.n as u32,
            c as u32,
            d.hw as u32,
        );
        norm_input_grad_kernel::launch_unchecked::<R>(
            client,
            grid(len, UNITS),
            CubeDim::new_1d(UNITS),
            arg(x, len),
            arg(dy, len),
            arg(gamma, c),
            arg(&s.mean, c),
            arg(&s.rstd, c),
            arg(&dgamma, c),
            arg(&dbeta, c),
            arg(&dx, len),
            len as u32,
            c as u32,
            d.hw as u32,
            (d.n * d.hw) as f32,
        )
    };
    (dx, dgamma, dbeta)
}

/// `[planes, h, w]` maps bordered by `pad`: the sign's input and output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignDims {
    /// Images times channels.
    pub planes: usize,
    pub h: usize,
    pub w: usize,
    pub pad: usize,
}

impl SignDims {
    fn len(self) -> usize {
        self.planes * self.h * self.w
    }

    fn padded_len(self) -> usize {
        self.planes * (self.h + 2 * self.pad) * (self.w + 2 * self.pad)
    }
}

#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
fn sign_pad_kernel(x: &Array<f32>, y: &mut Array<f32>, len: u32, h: u32, w: u32, pad: u32, border: f32) {
    let i = linear_pos();
    if i < len {
        let (hp, wp) = (h + 2 * pad, w + 2 * pad);
        let px = i % wp;
        let py = (i / wp) % hp;
        let plane = i / (wp * hp);
        let mut v = border;
        if py >= pad && py < h + pad && px >= pad && px < w + pad {
            // `>= 0` is +1 (NaN -1), as `det_sign` and the packed kernels.
            v = -1.0f32;
            if x[((plane * h + py - pad) * w + px - pad) as usize] >= 0.0 {
                v = 1.0f32;
            }
        }
        y[i as usize] = v;
    }
}

/// The sign (`>= 0` is +1) of `x`, bordered by `pad` values of `border`.
pub fn sign_pad<R: Runtime>(client: &ComputeClient<R>, x: &Handle, d: SignDims, border: f32) -> Handle {
    let len = d.padded_len();
    let y = f32s(client, len);
    // SAFETY: `i < len` indexes `y`; an interior position indexes `x` (planes * h * w floats).
    unsafe {
        sign_pad_kernel::launch_unchecked::<R>(
            client,
            grid(len, UNITS),
            CubeDim::new_1d(UNITS),
            arg(x, d.len()),
            arg(&y, len),
            len as u32,
            d.h as u32,
            d.w as u32,
            d.pad as u32,
            border,
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
    h: u32,
    w: u32,
    pad: u32,
    threshold: f32,
    #[comptime] approx: bool,
) {
    let i = linear_pos();
    if i < len {
        let xx = i % w;
        let y = (i / w) % h;
        let plane = i / (w * h);
        let from = ((plane * (h + 2 * pad) + y + pad) * (w + 2 * pad) + xx + pad) as usize;
        let a = f32::abs(x[i as usize]);
        let mut g = 0.0f32;
        if a <= threshold {
            g = 1.0f32;
            if approx {
                g = 2.0f32 - 2.0f32 * a;
            }
        }
        dx[i as usize] = dy[from] * g;
    }
}

/// The input's gradient of [`sign_pad`] from the (bordered) output's `dy`.
pub fn sign_grad<R: Runtime>(client: &ComputeClient<R>, x: &Handle, dy: &Handle, d: SignDims, g: SignGrad) -> Handle {
    let len = d.len();
    let dx = f32s(client, len);
    let (threshold, approx) = match g {
        SignGrad::Clipped(t) => (t, false),
        SignGrad::Approx(t) => (t, true),
    };
    // SAFETY: `i < len` indexes `x` and `dx`; its bordered position indexes `dy`.
    unsafe {
        sign_grad_kernel::launch_unchecked::<R>(
            client,
            grid(len, UNITS),
            CubeDim::new_1d(UNITS),
            arg(x, len),
            arg(dy, d.padded_len()),
            arg(&dx, len),
            len as u32,
            d.h as u32,
            d.w as u32,
            d.pad as u32,
            threshold,
            approx,
        )
    };
    dx
}
