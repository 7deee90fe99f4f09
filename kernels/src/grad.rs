//! The backward of a binary convolution in training (dilation 1, one group), whose forward is
//! the exact XNOR-popcount count: the straight-through gradients the float path computes, as
//! GEMMs.
//!
//! Layout at stride 1 (the input is never unrolled into columns). An image's padded grid is `hp x wp` (`h + 2 pad` by `w + 2 pad`); the output grid,
//! `ho x wo` = `hp - k + 1` by `wp - k + 1`, sits in its top-left corner. The batch then flattens
//! to one index `q = (n * hp + y) * wp + x` for both grids, and a tap `(ky, kx)` is the offset
//! `ky * wp + kx`: output cell `q` reads input cell `q + offset`. The output gradient is zero
//! on the cells of its grid outside `ho x wo`, so what they read adds nothing, and with
//! `hp - ho = wp - wo = k - 1` a cell `t - offset` that falls outside `t`'s image row or image
//! lands on such a zero. A lead of zeros before the first image covers the first taps.
//!
//! At a larger stride the output cells are packed (`[n][ho][wo]`, and one row of zeros), the
//! weight gradient unrolls each chunk of them into the taps' columns of signs, and the input
//! gradient gathers, for each input cell, the output cells whose taps reach it.

use std::ops::Range;

use rayon::prelude::*;

use crate::matmul::{Strided, matmul, matmul_add};
use crate::pack::PackedActivations;
use crate::pool::SharedMut;

/// A binary conv's shapes: input `[n, c, h, w]`, weights `[out, c, k, k]`, border of `pad` cells,
/// `stride`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GradShape {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub out: usize,
    pub k: usize,
    pub pad: usize,
    pub stride: usize,
}

impl GradShape {
    fn hp(&self) -> usize {
        self.h + 2 * self.pad
    }

    fn wp(&self) -> usize {
        self.w + 2 * self.pad
    }

    pub fn ho(&self) -> usize {
        (self.hp() - self.k) / self.stride + 1
    }

    pub fn wo(&self) -> usize {
        (self.wp() - self.k) / self.stride + 1
    }

    /// Output cells of the batch.
    fn cells(&self) -> usize {
        self.n * self.ho() * self.wo()
    }

    /// Cells of one image's padded grid.
    fn grid(&self) -> usize {
        self.hp() * self.wp()
    }

    /// The largest tap offset: zeros before the first image (and after the last input image).
    fn lead(&self) -> usize {
        (self.k - 1) * (self.wp() + 1)
    }

    fn taps(&self) -> usize {
        self.k * self.k
    }
}

/// The activation quantiser's straight-through derivative, which the input gradient is
/// multiplied by. A value outside `[-t, t]` passes nothing; NaN passes (as clamp's gradient does).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SignGrad {
    /// `det_sign` with the clipped straight-through estimator: 1 inside.
    Clipped(f32),
    /// Bi-Real's ApproxSign: `2 - 2|x|` inside.
    Approx(f32),
}

impl SignGrad {
    pub fn at(self, x: f32) -> f32 {
        let (SignGrad::Clipped(t) | SignGrad::Approx(t)) = self;
        if x > t || x < -t {
            return 0.0;
        }
        match self {
            SignGrad::Clipped(_) => 1.0,
            SignGrad::Approx(_) => 2.0 - 2.0 * x.abs(),
        }
    }
}

/// Row blocks of the weight gradient, the tasks it is split into: fixed, so that the sums are
/// the same, in the same order, on any machine.
const WEIGHT_BLOCKS: usize = 4;

/// Cells of the batch grid a weight-gradient chunk unpacks at least, and the bytes of signs it
/// aims at: enough columns that each GEMM's accumulation into the task's rows pays for itself,
/// few enough that the signs stay in L2 while the window rows' GEMMs read them.
const CHUNK_CELLS: usize = 256;
const CHUNK_BYTES: usize = 512 << 10;

/// Rows of the input gradient's GEMM at least: images are taken together until their grids
/// reach it, so that a small grid does not repack the weights for every image.
const INPUT_ROWS: usize = 256;

impl SignGrad {
    /// `d = g * self.at(x)` elementwise, one branch-free loop per quantiser.
    fn apply(self, d: &mut [f32], g: &[f32], x: &[f32]) {
        let out = |x: f32, t: f32| x > t || x < -t;
        match self {
            SignGrad::Clipped(t) => {
                for ((d, &g), &x) in d.iter_mut().zip(g).zip(x) {
                    *d = if out(x, t) { 0.0 } else { g };
                }
            }
            SignGrad::Approx(t) => {
                for ((d, &g), &x) in d.iter_mut().zip(g).zip(x) {
                    *d = if out(x, t) { 0.0 } else { g * (2.0 - 2.0 * x.abs()) };
                }
            }
        }
    }
}

fn sign(v: f32) -> f32 {
    if v >= 0.0 { 1.0 } else { -1.0 }
}

/// The output gradient `dy` (NCHW `[n, out, ho, wo]`) times `scale`, channel-last: at stride 1
/// on the batch's flattened grid, `[lead + n * grid][out]`; at a larger stride packed,
/// `[n * ho * wo + 1][out]` (the last row zeros). Channel-last because both GEMMs read it so:
/// the weight gradient as its right-hand side (rows q, columns o: with columns contiguous the
/// GEMM packs it 4-10x faster than from a channel-major copy, measured on 1x1 and 3x3 layers),
/// the input gradient as the taps' runs of `out` values.
pub struct BorderedGrad {
    data: Vec<f32>,
    s: GradShape,
}

impl BorderedGrad {
    pub fn new(dy: &[f32], s: GradShape, scale: f32) -> Self {
        let (ho, wo, out) = (s.ho(), s.wo(), s.out);
        assert_eq!(dy.len(), s.n * out * ho * wo, "output gradient does not match the conv's shape");
        let (first, rows, row_cells) = if s.stride == 1 { (s.lead(), s.n * s.hp(), s.wp()) } else { (0, s.n * ho, wo) };
        let mut data = vec![0f32; (first + rows * row_cells + usize::from(s.stride > 1)) * out];
        // One task per grid row (an output row and, at stride 1, the grid's cells past it); 16
        // channels at a time: 16 rows read in step, one run of 16 values written per pixel.
        let per_image = rows / s.n;
        data[first * out..][..rows * row_cells * out].par_chunks_mut(row_cells * out).enumerate().for_each(
            |(r, dst)| {
                let (img, y) = (r / per_image, r % per_image);
                if y >= ho {
                    return;
                }
                for o0 in (0..out).step_by(16) {
                    let os = 16.min(out - o0);
                    let rows: [&[f32]; 16] =
                        std::array::from_fn(|j| &dy[((img * out + o0 + j.min(os - 1)) * ho + y) * wo..][..wo]);
                    for x in 0..wo {
                        let d = &mut dst[x * out + o0..][..os];
                        d.iter_mut().zip(&rows).for_each(|(d, r)| *d = r[x] * scale);
                    }
                }
            },
        );
        BorderedGrad { data, s }
    }

    /// The row of the output cell that tap `(ky, kx)` of input cell `(y, x)` (without border)
    /// of image `img` belongs to; at a larger stride the zero row where there is none.
    fn tap_row(&self, img: usize, y: usize, x: usize, ky: usize, kx: usize) -> usize {
        let s = self.s;
        let (yp, xp) = (y + s.pad, x + s.pad);
        if s.stride == 1 {
            return s.lead() + img * s.grid() + yp * s.wp() + xp - (ky * s.wp() + kx);
        }
        let (ho, wo) = (s.ho(), s.wo());
        let at = |p: usize, t: usize, size: usize| {
            (p >= t && (p - t).is_multiple_of(s.stride) && (p - t) / s.stride < size).then(|| (p - t) / s.stride)
        };
        match (at(yp, ky, ho), at(xp, kx, wo)) {
            (Some(oy), Some(ox)) => (img * ho + oy) * wo + ox,
            _ => s.cells(),
        }
    }
}

/// Signs of channels `chans` of `pixels` consecutive cells of the packed batch grid from cell
/// `from`, channel-last floats; cells past the grid's end (read only where dy is 0) as -1.
fn unpack(a: &PackedActivations, from: usize, pixels: usize, chans: Range<usize>, dst: &mut [f32]) {
    let width = chans.len();
    let cells = a.data.len() / a.words;
    for (p, d) in dst[..pixels * width].chunks_exact_mut(width).enumerate() {
        if from + p >= cells {
            d.fill(-1.0);
            continue;
        }
        let bits = &a.data[(from + p) * a.words..][..a.words];
        for (v, ch) in d.iter_mut().zip(chans.clone()) {
            *v = if (bits[ch / 64] >> (ch % 64)) & 1 == 1 { 1.0 } else { -1.0 };
        }
    }
}

/// Gradient of the binary conv's latent weights: `dw[o][c][ky][kx] = sum over n, y, x of
/// dy[n][o][y][x] * a[n][c][s y + ky][s x + kx]`, `a` the signs the forward convolved (its packed
/// input, border -1), `s` the stride.
pub fn weight_grad(a: &PackedActivations, dy: &BorderedGrad) -> Vec<f32> {
    let s = dy.s;
    assert_eq!(
        (a.n, a.c, a.h, a.w, a.pad),
        (s.n, s.c, s.h, s.w, s.pad),
        "packed input does not match the conv's shape"
    );
    // t[ky][kx * c + ch][o], filled by fixed blocks of rows j = (ky * k + kx) * c + ch, one task
    // each (the same sums, in the same order, on any machine).
    let (c, k, out) = (s.c, s.k, s.out);
    let rows = k * k * c;
    let per = rows.div_ceil(WEIGHT_BLOCKS);
    let mut t = vec![0f32; rows * out];
    t.par_chunks_mut(per * out).enumerate().for_each(|(block, dst)| {
        let j0 = block * per;
        let m = dst.len() / out;
        if s.stride == 1 { grid_rows(a, dy, j0, m, dst) } else { unrolled_rows(a, dy, j0, m, dst) }
    });
    // t -> dw[o][ch][ky][kx], 16 output channels a task: each read is a run of 16 (one cache
    // line), the writes stay inside the block's rows (read one by one, a large layer's t would
    // miss the cache on every element).
    let kk = k * k;
    let mut dw = vec![0f32; out * c * kk];
    dw.par_chunks_mut(16 * c * kk).enumerate().for_each(|(block, dst)| {
        let o0 = block * 16;
        let os = 16.min(out - o0);
        for tap in 0..kk {
            for ch in 0..c {
                let src = &t[(tap * c + ch) * out + o0..][..os];
                for (i, &v) in src.iter().enumerate() {
                    dst[(i * c + ch) * kk + tap] = v;
                }
            }
        }
    });
    dw
}

/// Rows `j0..j0 + m` of the weight gradient at stride 1. The taps of one window row, ky, read
/// input cells q + ky * wp + kx: with the signs channel-last, as a matrix of rows kx * c + ch
/// that is one strided view (row kx * c + ch at column q: element (q + ky * wp) * c + kx * c +
/// ch), so each window row is one GEMM, rows x output channels. The task walks the grid in
/// chunks, whose signs (with the lead cells the taps reach past them) it unpacks from the
/// forward's bits into a buffer that stays in cache while the GEMMs read it.
fn grid_rows(a: &PackedActivations, dy: &BorderedGrad, j0: usize, m: usize, dst: &mut [f32]) {
    let s = dy.s;
    let (c, k, out, wp, lead) = (s.c, s.k, s.out, s.wp(), s.lead());
    let q = s.n * s.grid();
    let chunk = (CHUNK_BYTES / (4 * c)).max(CHUNK_CELLS);
    // A 1x1 conv's block of rows is a block of channels, all the task unpacks; a larger
    // window's rows reach all channels.
    let chans = if k == 1 { j0..j0 + m } else { 0..c };
    let width = chans.len();
    let mut buf = vec![0f32; (chunk + lead) * width];
    for q0 in (0..q).step_by(chunk) {
        let len = chunk.min(q - q0);
        unpack(a, q0, len + lead, chans.clone(), &mut buf);
        // The window rows the block meets, and its rows within each.
        for ky in j0 / (k * c)..(j0 + m).div_ceil(k * c) {
            let lo = j0.max(ky * k * c);
            let hi = (j0 + m).min((ky + 1) * k * c);
            let within = if k == 1 { 0 } else { lo - ky * k * c };
            // SAFETY: dst rows lo - j0.. (row-major, out wide) are this task's; lhs ((hi - lo)
            // x len: element (j, q) at (q + ky * wp) * width + within + j) lies inside buf's
            // len + lead cells; rhs (len x out, row-major) is dy's rows q0.. after its lead.
            unsafe {
                matmul_add(
                    hi - lo,
                    out,
                    len,
                    Strided::rows(dst.as_mut_ptr().add((lo - j0) * out), out),
                    Strided { ptr: buf.as_ptr().add(ky * wp * width + within), row: 1, col: width as isize },
                    Strided::rows(dy.data.as_ptr().add((lead + q0) * out), out),
                );
            }
        }
    }
}

/// Rows `j0..j0 + m` of the weight gradient at a larger stride: chunks of output cells
/// unrolled into the block's columns of signs (`m` per cell), one GEMM each.
fn unrolled_rows(a: &PackedActivations, dy: &BorderedGrad, j0: usize, m: usize, dst: &mut [f32]) {
    let s = dy.s;
    let (c, k, out, ho, wo, st) = (s.c, s.k, s.out, s.ho(), s.wo(), s.stride);
    let cells = s.cells();
    let chunk = (CHUNK_BYTES / (4 * m)).max(CHUNK_CELLS);
    let mut buf = vec![0f32; chunk * m];
    for v0 in (0..cells).step_by(chunk) {
        let len = chunk.min(cells - v0);
        for (v, cols) in buf[..len * m].chunks_exact_mut(m).enumerate() {
            let cell = v0 + v;
            let (img, y, x) = (cell / (ho * wo), cell / wo % ho, cell % wo);
            for (col, j) in cols.iter_mut().zip(j0..) {
                let (tap, ch) = (j / c, j % c);
                let (yp, xp) = (st * y + tap / k, st * x + tap % k);
                let bits = a.data[((img * s.hp() + yp) * s.wp() + xp) * a.words + ch / 64];
                *col = if (bits >> (ch % 64)) & 1 == 1 { 1.0 } else { -1.0 };
            }
        }
        // SAFETY: dst is m x out, row-major; lhs (m x len: element (j, v) at v * m + j) is
        // buf; rhs (len x out, row-major) is dy's packed rows v0...
        unsafe {
            matmul_add(
                m,
                out,
                len,
                Strided::rows(dst.as_mut_ptr(), out),
                Strided { ptr: buf.as_ptr(), row: 1, col: m as isize },
                Strided::rows(dy.data.as_ptr().add(v0 * out), out),
            );
        }
    }
}

/// Gradient of the binary conv's input `x` (NCHW): `da[n][c][y][x] = sum over o, ky, kx of
/// dy[n][o][oy][ox] * sign(w[o][c][ky][kx])` over the output cells with `s oy + ky = y + pad`
/// and `s ox + kx = x + pad` (`s` the stride), times the activation
/// quantiser's straight-through derivative `act` at `x`.
pub fn input_grad(x: &[f32], latent: &[f32], dy: &BorderedGrad, act: SignGrad) -> Vec<f32> {
    let s = dy.s;
    let (c, out, kk, grid, lead) = (s.c, s.out, s.taps(), s.grid(), s.lead());
    assert_eq!(x.len(), s.n * c * s.h * s.w, "input does not match the conv's shape");
    assert_eq!(latent.len(), out * c * kk, "weights do not match the conv's shape");
    // The weights' signs, a (taps * out, c) matrix, a row a task.
    let mut wt = vec![0f32; kk * out * c];
    wt.par_chunks_mut(c).enumerate().for_each(|(r, row)| {
        let (tap, o) = (r / out, r % out);
        row.iter_mut().enumerate().for_each(|(ch, v)| *v = sign(latent[(o * c + ch) * kk + tap]));
    });
    let mut dx = vec![0f32; x.len()];
    let image = c * s.h * s.w;
    let dst = SharedMut(dx.as_mut_ptr());
    // A single tap at offset 0 (a 1x1 conv without border or stride) reads dy as it lies.
    let direct = kk == 1 && s.pad == 0 && s.stride == 1;
    // Tasks take `group` consecutive images, whose cells without border stack into one GEMM of
    // m rows (the padded grid would be more work: a 4x4 map's is 6x6, and its border cells'
    // gradients are not wanted). Without border that is the grid itself, which `direct` reads.
    let per_image = s.h * s.w;
    let group = INPUT_ROWS.div_ceil(per_image).min(s.n);
    let m_max = group * per_image;
    (0..s.n.div_ceil(group)).into_par_iter().for_each_init(
        || (vec![0f32; if direct { 0 } else { m_max * kk * out }], vec![0f32; c * m_max]),
        |(cols, da), task| {
            let (first, imgs) = (task * group, group.min(s.n - task * group));
            let m = imgs * per_image;
            // Row r of the lhs: the taps' runs of dy that the r-th cell meets, (m, taps * out).
            let lhs = if direct {
                dy.data[(lead + first * grid) * out..].as_ptr()
            } else {
                for r in 0..m {
                    let (img, y, x) = (first + r / per_image, r % per_image / s.w, r % s.w);
                    for tap in 0..kk {
                        let from = dy.tap_row(img, y, x, tap / s.k, tap % s.k) * out;
                        cols[(r * kk + tap) * out..][..out].copy_from_slice(&dy.data[from..][..out]);
                    }
                }
                cols.as_ptr()
            };
            // da is written channel-major (c x m), which the epilogue reads in runs.
            // SAFETY: da's view (m x c: element (r, ch) at ch * m + r), lhs m x (kk * out) and
            // wt (kk * out) x c, row-major, lie inside their buffers.
            unsafe {
                matmul(
                    m,
                    c,
                    kk * out,
                    Strided { ptr: da.as_mut_ptr(), row: 1, col: m as isize },
                    Strided::rows(lhs, kk * out),
                    Strided::rows(wt.as_ptr(), c),
                );
            }
            for i in 0..imgs {
                let img = first + i;
                // SAFETY: image `img`'s part of dx is written by this task alone.
                let dx = unsafe { dst.slice(img * image, image) };
                let x = &x[img * image..][..image];
                for ch in 0..c {
                    for y in 0..s.h {
                        let at = ch * s.h * s.w + y * s.w;
                        let src = &da[ch * m + i * per_image + y * s.w..][..s.w];
                        act.apply(&mut dx[at..at + s.w], src, &x[at..at + s.w]);
                    }
                }
            }
        },
    );
    dx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pack::pack_activations;

    /// A small deterministic generator, so the tests need no dependency.
    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 3.0 - 1.5
            })
            .collect()
    }

    /// The gradients by the definition, in f64: the conv `h[n][o][y][x] = sum a_pad[n][c][y + ky]
    /// [x + kx] * sign(w[o][c][ky][kx])` differentiated entry by entry.
    fn reference(x: &[f32], w: &[f32], dy: &[f32], s: GradShape, act: SignGrad) -> (Vec<f32>, Vec<f32>) {
        let (ho, wo, k, p) = (s.ho(), s.wo(), s.k, s.pad as isize);
        let a = |img: usize, ch: usize, yp: isize, xp: isize| -> f64 {
            let (y, xx) = (yp - p, xp - p);
            if y < 0 || xx < 0 || y >= s.h as isize || xx >= s.w as isize {
                -1.0
            } else {
                sign(x[((img * s.c + ch) * s.h + y as usize) * s.w + xx as usize]) as f64
            }
        };
        let mut dw = vec![0f64; s.out * s.c * k * k];
        let mut da = vec![0f64; x.len()];
        for img in 0..s.n {
            for o in 0..s.out {
                for y in 0..ho {
                    for xx in 0..wo {
                        let g = dy[((img * s.out + o) * ho + y) * wo + xx] as f64;
                        for ch in 0..s.c {
                            for ky in 0..k {
                                for kx in 0..k {
                                    let (yp, xp) = ((s.stride * y + ky) as isize, (s.stride * xx + kx) as isize);
                                    let wi = ((o * s.c + ch) * k + ky) * k + kx;
                                    dw[wi] += g * a(img, ch, yp, xp);
                                    let (yi, xi) = (yp - p, xp - p);
                                    if yi >= 0 && xi >= 0 && yi < s.h as isize && xi < s.w as isize {
                                        let at = ((img * s.c + ch) * s.h + yi as usize) * s.w + xi as usize;
                                        da[at] += g * sign(w[wi]) as f64;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        let dx = da.iter().zip(x).map(|(&d, &v)| (d * act.at(v) as f64) as f32).collect();
        (dx, dw.into_iter().map(|v| v as f32).collect())
    }

    fn close(got: &[f32], want: &[f32], what: &str) {
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= 1e-4 * (1.0 + w.abs()), "{what}[{i}]: {g} != {w}");
        }
    }

    #[test]
    fn gradients_match_the_definition() {
        let shapes = [
            GradShape { n: 2, c: 5, h: 6, w: 7, out: 3, k: 3, pad: 1, stride: 1 },
            GradShape { n: 3, c: 70, h: 4, w: 4, out: 4, k: 3, pad: 1, stride: 1 },
            GradShape { n: 2, c: 3, h: 5, w: 6, out: 2, k: 3, pad: 0, stride: 1 },
            GradShape { n: 2, c: 4, h: 5, w: 5, out: 3, k: 1, pad: 0, stride: 1 },
            GradShape { n: 1, c: 2, h: 4, w: 3, out: 2, k: 5, pad: 2, stride: 1 },
            // Several chunks per block of the weight gradient.
            GradShape { n: 2, c: 600, h: 14, w: 14, out: 3, k: 3, pad: 1, stride: 1 },
            // Strides (odd and even sizes, with and without border, windows that miss cells).
            GradShape { n: 2, c: 5, h: 7, w: 8, out: 3, k: 3, pad: 1, stride: 2 },
            GradShape { n: 3, c: 70, h: 6, w: 6, out: 4, k: 1, pad: 0, stride: 2 },
            GradShape { n: 1, c: 3, h: 9, w: 7, out: 2, k: 2, pad: 0, stride: 3 },
            GradShape { n: 2, c: 200, h: 16, w: 16, out: 5, k: 3, pad: 1, stride: 2 },
            GradShape { n: 2, c: 4, h: 16, w: 16, out: 3, k: 1, pad: 0, stride: 2 },
        ];
        for (i, s) in shapes.into_iter().enumerate() {
            let x = values(s.n * s.c * s.h * s.w, 3 * i as u64);
            let w = values(s.out * s.c * s.k * s.k, 3 * i as u64 + 1);
            let dy = values(s.n * s.out * s.ho() * s.wo(), 3 * i as u64 + 2);
            let a = pack_activations(&x, [s.n, s.c, s.h, s.w], s.pad);
            for act in [SignGrad::Clipped(1.0), SignGrad::Approx(1.2)] {
                let (dx_ref, dw_ref) = reference(&x, &w, &dy, s, act);
                let b = BorderedGrad::new(&dy, s, 1.0);
                close(&weight_grad(&a, &b), &dw_ref, &format!("dw {s:?}"));
                close(&input_grad(&x, &w, &b, act), &dx_ref, &format!("dx {s:?} {act:?}"));
                // The scale multiplies both (the offset epilogue's 1/2).
                let half = BorderedGrad::new(&dy, s, 0.5);
                let dw_half: Vec<f32> = dw_ref.iter().map(|v| v * 0.5).collect();
                close(&weight_grad(&a, &half), &dw_half, "dw scaled");
            }
        }
    }

    #[test]
    fn the_straight_through_derivatives() {
        let c = SignGrad::Clipped(1.0);
        assert_eq!([c.at(-1.0), c.at(1.0), c.at(0.3), c.at(1.01), c.at(-7.0)], [1.0, 1.0, 1.0, 0.0, 0.0]);
        assert_eq!(c.at(f32::NAN), 1.0);
        let a = SignGrad::Approx(1.0);
        assert_eq!([a.at(0.0), a.at(0.25), a.at(-0.75), a.at(1.0), a.at(1.5)], [2.0, 1.5, 0.5, 0.0, 0.0]);
    }

    /// Parallel runs give the same bits as each other (the search's reproducibility needs it).
    #[test]
    fn repeatable_to_the_bit() {
        for stride in [1, 2] {
            let s = GradShape { n: 4, c: 96, h: 8, w: 8, out: 16, k: 3, pad: 1, stride };
            let x = values(s.n * s.c * s.h * s.w, 1);
            let w = values(s.out * s.c * 9, 2);
            let b = BorderedGrad::new(&values(s.n * s.out * s.ho() * s.wo(), 3), s, 0.5);
            let (a, act) = (pack_activations(&x, [s.n, s.c, s.h, s.w], 1), SignGrad::Clipped(1.0));
            let first = (weight_grad(&a, &b), input_grad(&x, &w, &b, act));
            for _ in 0..3 {
                assert!(first == (weight_grad(&a, &b), input_grad(&x, &w, &b, act)));
            }
        }
    }
}
