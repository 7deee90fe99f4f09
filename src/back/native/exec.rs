//! Running a program: the arena for a batch size, and each step on its views.

use lightnasc_kernels::matmul::{self as mm, Strided};
use lightnasc_kernels::pool;
use lightnasc_kernels::{
    Bounds, Channels, ChannelsMut, Epilogue as KernelEpilogue, Kernel, PackedActivations, binary_conv2d_into,
    pack_bounded,
};

use super::{BatchStats, Epilogue, FloatConv, Nonlinearity, Post, Program, Step, View, fold};
use crate::ir::norm;

/// A program with its buffers: [`Plan::run`] allocates them for a batch size once and reuses them.
pub struct Plan {
    program: Program,
    kernel: Kernel,
    batch: usize,
    slots: Vec<Vec<f32>>,
    packs: Vec<PackedActivations>,
}

impl Plan {
    pub fn new(program: Program) -> Plan {
        Plan { program, kernel: Kernel::best(), batch: 0, slots: vec![], packs: vec![] }
    }

    /// The same plan with a given binary kernel (tests and benchmarks); the CPU must support it.
    pub fn with_kernel(mut self, kernel: Kernel) -> Plan {
        assert!(kernel.supported(), "this CPU cannot run the {} kernel", kernel.name());
        self.kernel = kernel;
        self
    }

    /// The binary kernel the plan's packed convs run.
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    pub fn program(&self) -> &Program {
        &self.program
    }

    /// The class of each of `n` NCHW images: the first index of its largest logit, as burn's
    /// `argmax` (NaN never wins).
    pub fn classify(&mut self, x: &[f32], n: usize) -> Vec<usize> {
        let logits = self.run(x, n);
        logits.chunks(self.program.outputs().max(1)).map(argmax).collect()
    }

    /// The outputs (`[n][outputs]`) of `n` NCHW images.
    pub fn run(&mut self, x: &[f32], n: usize) -> Vec<f32> {
        self.prepare(x, n);
        for step in &self.program.steps {
            run_step(step, x, n, self.kernel, &mut self.slots, &mut self.packs);
        }
        let out = self.program.output;
        self.slots[out.buf][..n * out.c].to_vec()
    }

    /// Median milliseconds of each step on `n` images `x`, each step repeated `reps` times on
    /// the values a whole run left (steps never write what they read, so a step repeats alone).
    pub fn time_steps(&mut self, x: &[f32], n: usize, reps: usize) -> Vec<f64> {
        self.run(x, n);
        let Plan { program, kernel, slots, packs, .. } = self;
        program
            .steps
            .iter()
            .map(|step| {
                let t = (0..reps.max(1)).map(|_| {
                    let start = std::time::Instant::now();
                    run_step(step, x, n, *kernel, slots, packs);
                    start.elapsed().as_secs_f64() * 1e3
                });
                crate::stats::median_time(t.collect())
            })
            .collect()
    }

    /// Check the input and allocate the buffers for a batch of `n` (once per batch size).
    fn prepare(&mut self, x: &[f32], n: usize) {
        let [c, h, w] = self.program.input;
        assert_eq!(x.len(), n * c * h * w, "the input holds {} values, not {n} images of {c}x{h}x{w}", x.len());
        if self.batch != n {
            self.slots = self.program.slots.iter().map(|&s| vec![0f32; s * n]).collect();
            self.packs = self.program.packs.iter().map(|p| PackedActivations::zeros(n, p.c, p.h, p.w, p.pad)).collect();
            self.batch = n;
        }
    }
}

/// The first index of the largest value, as burn's `argmax` (NaN never wins).
pub fn argmax(row: &[f32]) -> usize {
    (0..row.len()).fold(0, |best, i| if row[i] > row[best] { i } else { best })
}

fn run_step(step: &Step, x: &[f32], n: usize, kernel: Kernel, slots: &mut [Vec<f32>], packs: &mut [PackedActivations]) {
    if let Step::Pack { src, bounds, pack, batch } = step {
        let data = &slots[src.buf];
        let from_batch = batch.as_ref().map(|b| {
            let (s, t) = batch_affine(b, data, *src, n);
            let (lo, hi) = s.iter().zip(&t).map(|(&s, &t)| fold::sign_bounds(s, t)).unzip();
            Bounds { lo, hi }
        });
        let bounds = from_batch.as_ref().unwrap_or(bounds);
        pack_bounded(Channels { data, stride: src.stride, offset: src.offset, c: src.c }, n, bounds, &mut packs[*pack]);
        return;
    }
    let Some(&dst) = step.views().1 else { unreachable!("every other step writes a view") };
    // The destination slot is never one the step reads (their lives overlap at this step).
    let mut out = std::mem::take(&mut slots[dst.buf]);
    match step {
        Step::Pack { .. } => unreachable!("handled above"),
        Step::Input { dst } => {
            let [c, hw] = [dst.c, dst.pixels()];
            per_pixel(&mut out, *dst, n, |p, d| {
                let (img, q) = (p / hw, p % hw);
                d.iter_mut().enumerate().for_each(|(ch, d)| *d = x[(img * c + ch) * hw + q]);
            });
        }
        Step::BinaryConv { pack, weights, g, epilogue, dst } => {
            let e = match epilogue {
                Epilogue::Matches => KernelEpilogue::Matches,
                Epilogue::Dot => KernelEpilogue::Dot,
                Epilogue::Affine(scale, shift) => KernelEpilogue::Affine { scale, shift },
            };
            let to = ChannelsMut { data: &mut out, stride: dst.stride, offset: dst.offset };
            binary_conv2d_into(kernel, &packs[*pack], weights, *g, e, to);
        }
        Step::Conv(c) => float_conv(c, n, slots, &mut out),
        Step::Affine { src, scale, shift, dst, batch } => {
            let s = &slots[src.buf];
            let from_batch = batch.as_ref().map(|b| batch_affine(b, s, *src, n));
            let (scale, shift) = from_batch.as_ref().map_or((scale, shift), |(a, b)| (a, b));
            per_pixel(&mut out, *dst, n, |p, d| {
                let px = &s[p * src.stride + src.offset..][..src.c];
                for (((d, &x), &a), &b) in d.iter_mut().zip(px).zip(scale).zip(shift) {
                    *d = x * a + b;
                }
            });
        }
        Step::Relu { src, dst } => {
            let s = &slots[src.buf];
            per_pixel(&mut out, *dst, n, |p, d| {
                let px = &s[p * src.stride + src.offset..][..src.c];
                d.iter_mut().zip(px).for_each(|(d, &x)| *d = x.max(0.0));
            });
        }
        Step::Copy { src, dst } => {
            let s = &slots[src.buf];
            per_pixel(&mut out, *dst, n, |p, d| d.copy_from_slice(&s[p * src.stride + src.offset..][..src.c]));
        }
        Step::Add { srcs, dst } => {
            per_pixel(&mut out, *dst, n, |p, d| {
                let at = |v: &View| &slots[v.buf][p * v.stride + v.offset..][..v.c];
                d.copy_from_slice(at(&srcs[0]));
                for v in &srcs[1..] {
                    d.iter_mut().zip(at(v)).for_each(|(d, &x)| *d += x);
                }
            });
        }
        Step::Shuffle { src, groups, dst } => {
            let (s, per) = (&slots[src.buf], src.c / groups);
            per_pixel(&mut out, *dst, n, |p, d| {
                let px = &s[p * src.stride + src.offset..][..src.c];
                // (g, C/g) -> (C/g, g): output channel j * g + i is input channel i * C/g + j.
                for (o, d) in d.iter_mut().enumerate() {
                    *d = px[(o % groups) * per + o / groups];
                }
            });
        }
        Step::MaxPool { src, pool, dst } | Step::AvgPool { src, pool, dst } => {
            let max = matches!(step, Step::MaxPool { .. });
            let (k, s, pd) = (pool.kernel as usize, pool.stride as usize, pool.pad as usize);
            let data = &slots[src.buf];
            per_pixel(&mut out, *dst, n, |p, d| {
                let (img, oy, ox) = (p / dst.pixels(), p % dst.pixels() / dst.w, p % dst.w);
                d.fill(if max { f32::NEG_INFINITY } else { 0.0 });
                for ky in 0..k {
                    for kx in 0..k {
                        let (y, xx) = ((oy * s + ky).wrapping_sub(pd), (ox * s + kx).wrapping_sub(pd));
                        if y >= src.h || xx >= src.w {
                            continue; // padding: -inf for max, 0 (counted) for the average
                        }
                        let q = (img * src.h + y) * src.w + xx;
                        let px = &data[q * src.stride + src.offset..][..src.c];
                        if max {
                            d.iter_mut().zip(px).for_each(|(d, &x)| *d = d.max(x));
                        } else {
                            d.iter_mut().zip(px).for_each(|(d, &x)| *d += x);
                        }
                    }
                }
                if !max {
                    let area = (k * k) as f32;
                    d.iter_mut().for_each(|d| *d /= area);
                }
            });
        }
        Step::GlobalPool { src, max, dst } => {
            let data = &slots[src.buf];
            per_pixel(&mut out, *dst, n, |img, d| {
                d.fill(if *max { f32::NEG_INFINITY } else { 0.0 });
                for q in 0..src.pixels() {
                    let px = &data[(img * src.pixels() + q) * src.stride + src.offset..][..src.c];
                    if *max {
                        d.iter_mut().zip(px).for_each(|(d, &x)| *d = d.max(x));
                    } else {
                        d.iter_mut().zip(px).for_each(|(d, &x)| *d += x);
                    }
                }
                if !*max {
                    let area = src.pixels() as f32;
                    d.iter_mut().for_each(|d| *d /= area);
                }
            });
        }
        Step::Flatten { src, dst } => {
            let (data, hw) = (&slots[src.buf], src.pixels());
            per_pixel(&mut out, *dst, n, |img, d| {
                for q in 0..hw {
                    let px = &data[(img * hw + q) * src.stride + src.offset..][..src.c];
                    px.iter().enumerate().for_each(|(ch, &x)| d[ch * hw + q] = x);
                }
            });
        }
        Step::Dense { src, weight, bias, dst } => {
            let inputs = src.c * src.pixels();
            let row = if src.pixels() > 1 { src.pixels() * src.stride } else { src.stride };
            let lhs = &slots[src.buf][src.offset..];
            // SAFETY: `gemm` reads `n x inputs` of `lhs` with row stride `row` (in bounds: the
            // view lies in its slot), `inputs x dst.c` of `weight`, and writes `n x dst.c` of `out`.
            unsafe {
                matmul(n, dst.c, inputs, (out.as_mut_ptr().add(dst.offset), dst.stride), (lhs.as_ptr(), row), weight)
            };
            if let Some(b) = bias {
                per_pixel(&mut out, *dst, n, |_, d| d.iter_mut().zip(b).for_each(|(d, &b)| *d += b));
            }
        }
    }
    slots[dst.buf] = out;
}

/// Scale and shift of a batch norm on the batch's own statistics of `v` (biased variance), as
/// `net::layers::batch_norm` computes them in `Mode::Batch`: each image's channel means, then
/// their mean; sums in f64, so they differ from burn's f32 sums only in the last bits.
fn batch_affine(b: &BatchStats, data: &[f32], v: View, n: usize) -> (Vec<f32>, Vec<f32>) {
    let (c, hw) = (v.c, v.pixels());
    let stat = |f: &dyn Fn(usize, f32) -> f64| -> Vec<f32> {
        let mut acc = vec![0f64; c];
        for img in 0..n {
            let mut per = vec![0f64; c];
            for q in 0..hw {
                let px = &data[(img * hw + q) * v.stride + v.offset..][..c];
                per.iter_mut().zip(px).enumerate().for_each(|(ch, (a, &x))| *a += f(ch, x));
            }
            acc.iter_mut().zip(per).for_each(|(a, p)| *a += p / hw as f64);
        }
        acc.iter().map(|a| (a / n as f64) as f32).collect()
    };
    let mean = stat(&|_, x| x as f64);
    let var = stat(&|ch, x| {
        let d = (x - mean[ch]) as f64;
        d * d
    });
    norm::affine(b.eps, &mean, &var, b.gamma.as_deref(), b.beta.as_deref())
}

/// `f(pixel, its channels of dst)` for the `n * h * w` pixels of `dst`, in parallel when large.
fn per_pixel(out: &mut [f32], dst: View, n: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    rows(&mut out[..n * dst.pixels() * dst.stride], dst.stride, dst.c, &|p, row| {
        f(p, &mut row[dst.offset..dst.offset + dst.c])
    });
}

/// `f(i, row i)` for the rows of `len` values that `data` holds, in blocks on the kernels' pool;
/// `work` is a row's cost in values touched.
fn rows(data: &mut [f32], len: usize, work: usize, f: &(dyn Fn(usize, &mut [f32]) + Sync)) {
    let count = data.len() / len.max(1);
    let shared = pool::SharedMut(data.as_mut_ptr());
    pool::for_rows(count, count * work, &|range| {
        for i in range {
            // SAFETY: row i is this task's alone, inside `data`.
            f(i, unsafe { shared.slice(i * len, len) });
        }
    });
}

/// `dst = lhs * rhs`: `m x k` row-major with row stride `lhs.1`, `k x n` contiguous, into rows of
/// stride `dst.1`. Blocks go to the kernels' pool, each a single-threaded `gemm` call: blocks of
/// rows when there are many, else blocks of columns (gemm packs the part of `rhs` it reads on
/// every call, so splitting few rows would pack all of `rhs` once per thread).
///
/// # Safety
/// The pointers must cover the ranges described.
unsafe fn matmul(m: usize, n: usize, k: usize, dst: (*mut f32, usize), lhs: (*const f32, usize), rhs: &[f32]) {
    let (out, input, weights) = (pool::SharedMut(dst.0), pool::SharedMut(lhs.0 as *mut f32), rhs.as_ptr() as usize);
    // SAFETY (both closures): forwarded from the caller; each block writes its own part of `dst`.
    let block = |rows: std::ops::Range<usize>, cols: std::ops::Range<usize>| unsafe {
        mm::matmul(
            rows.len(),
            cols.len(),
            k,
            Strided::rows(out.get().add(rows.start * dst.1 + cols.start), dst.1),
            Strided::rows(input.get().add(rows.start * lhs.1) as *const f32, lhs.1),
            Strided::rows((weights as *const f32).add(cols.start), n),
        )
    };
    // About 16 multiply-adds a nanosecond on one core.
    let work = m * n * k / 16;
    if m >= 64 * pool::threads() {
        pool::for_rows(m, work, &|rows| block(rows, 0..n));
    } else {
        // Columns in blocks of 16 (gemm's vector width times two).
        let blocks = n.div_ceil(16);
        pool::for_rows(blocks, work, &|b| block(0..m, b.start * 16..(b.end * 16).min(n)));
    }
}

fn float_conv(c: &FloatConv, n: usize, slots: &mut [Vec<f32>], out: &mut [f32]) {
    let FloatConv { src, dst, act, pad_value, k, g, groups, weights, post, scratch } = c;
    let (cin_g, out_g) = (src.c / groups, dst.c / groups);
    let kkc = k * k * cin_g;
    let m = n * dst.pixels();
    let mut cols = scratch.map(|s| std::mem::take(&mut slots[s]));
    for grp in 0..*groups {
        let data = &slots[src.buf];
        let (lhs, row): (*const f32, usize) = match cols.as_mut() {
            None => (data[src.offset..].as_ptr(), src.stride),
            Some(cols) => {
                // im2col: row r (an output pixel) holds its window, `[ky][kx][c]`, after the
                // activation quantiser, with `pad_value` outside the image.
                let fill = |(r, row): (usize, &mut [f32])| {
                    let (img, oy, ox) = (r / dst.pixels(), r % dst.pixels() / dst.w, r % dst.w);
                    for ky in 0..*k {
                        for kx in 0..*k {
                            let at = &mut row[(ky * k + kx) * cin_g..][..cin_g];
                            let y = (oy * g.stride + ky * g.dilation).wrapping_sub(g.pad);
                            let x = (ox * g.stride + kx * g.dilation).wrapping_sub(g.pad);
                            if y >= src.h || x >= src.w {
                                at.fill(*pad_value);
                                continue;
                            }
                            let q = (img * src.h + y) * src.w + x;
                            let px = &data[q * src.stride + src.offset + grp * cin_g..][..cin_g];
                            match act {
                                Nonlinearity::Identity => at.copy_from_slice(px),
                                Nonlinearity::Sign => {
                                    at.iter_mut().zip(px).for_each(|(a, &v)| *a = if v >= 0.0 { 1.0 } else { -1.0 })
                                }
                                Nonlinearity::Relu => at.iter_mut().zip(px).for_each(|(a, &v)| *a = v.max(0.0)),
                            }
                        }
                    }
                };
                rows(&mut cols[..m * kkc], kkc, kkc, &|r, row| fill((r, row)));
                (cols.as_ptr(), kkc)
            }
        };
        let rhs = &weights[grp * kkc * out_g..][..kkc * out_g];
        // SAFETY: `lhs` covers `m` rows of `kkc` values at stride `row` (the source view, or the
        // im2col matrix); `out` holds `m` pixels of `dst.stride` values.
        unsafe { matmul(m, out_g, kkc, (out.as_mut_ptr().add(dst.offset + grp * out_g), dst.stride), (lhs, row), rhs) };
    }
    if let (Some(s), Some(cols)) = (scratch, cols) {
        slots[*s] = cols;
    }
    match post {
        Post::None => {}
        Post::Bias(b) => per_pixel(out, *dst, n, |_, d| d.iter_mut().zip(b).for_each(|(d, &b)| *d += b)),
        Post::Offset(kk) => per_pixel(out, *dst, n, |_, d| d.iter_mut().for_each(|d| *d = (*d + kk) / 2.0)),
        Post::Scale(a) => per_pixel(out, *dst, n, |_, d| d.iter_mut().zip(a).for_each(|(d, &a)| *d *= a)),
    }
}
