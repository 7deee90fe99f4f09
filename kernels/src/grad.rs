//! The backward of a convolution in training (stride 1, dilation 1, one group), as GEMMs over
//! shifted views of bordered buffers (the input is never unrolled into columns): for a binary
//! conv, whose forward is the exact XNOR-popcount count, the straight-through gradients the float
//! path computes; for a full-precision conv, the plain gradients.
//!
//! Layout. An image's padded grid is `hp x wp` (`h + 2 pad` by `w + 2 pad`); the output grid,
//! `ho x wo` = `hp - k + 1` by `wp - k + 1`, sits in its top-left corner. The batch then flattens
//! to one index `q = (n * hp + y) * wp + x` for both grids, and a tap `(ky, kx)` is the offset
//! `ky * wp + kx`: output cell `q` reads input cell `q + offset`. The output gradient is zero
//! on the cells of its grid outside `ho x wo`, so what they read adds nothing, and with
//! `hp - ho = wp - wo = k - 1` a cell `t - offset` that falls outside `t`'s image row or image
//! lands on such a zero. A lead of zeros before the first image covers the first taps.

use rayon::prelude::*;

use crate::matmul::{Strided, matmul};
use crate::pool::SharedMut;

/// A binary conv's shapes: input `[n, c, h, w]`, weights `[out, c, k, k]`, border of `pad` cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GradShape {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub out: usize,
    pub k: usize,
    pub pad: usize,
}

impl GradShape {
    fn hp(&self) -> usize {
        self.h + 2 * self.pad
    }

    fn wp(&self) -> usize {
        self.w + 2 * self.pad
    }

    pub fn ho(&self) -> usize {
        self.hp() + 1 - self.k
    }

    pub fn wo(&self) -> usize {
        self.wp() + 1 - self.k
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

    fn offset(&self, tap: usize) -> usize {
        (tap / self.k) * self.wp() + tap % self.k
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

/// Row blocks per window row of the weight gradient, the tasks it is split into.
const WEIGHT_BLOCKS: usize = 4;

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

/// What the convolution convolves.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Conv {
    /// The signs of the input (a border of `border` outside) and of the weights; the input's
    /// gradient passes the activation quantiser's straight-through derivative `act`, the
    /// weights' passes unchanged to the latent weights.
    Binary { border: f32, act: SignGrad },
    /// The input (a zero border) and the weights as they are.
    Float,
}

impl Conv {
    fn input(self, v: f32) -> f32 {
        match self {
            Conv::Binary { .. } => sign(v),
            Conv::Float => v,
        }
    }

    fn border(self) -> f32 {
        match self {
            Conv::Binary { border, .. } => border,
            Conv::Float => 0.0,
        }
    }
}

fn sign(v: f32) -> f32 {
    if v >= 0.0 { 1.0 } else { -1.0 }
}

/// The output gradient `dy` (NCHW `[n, out, ho, wo]`) times `scale`, channel-major on the batch's
/// flattened grid: `[out][lead + n * grid]`.
pub struct BorderedGrad {
    data: Vec<f32>,
    s: GradShape,
}

impl BorderedGrad {
    pub fn new(dy: &[f32], s: GradShape, scale: f32) -> Self {
        let (ho, wo, wp, grid, lead) = (s.ho(), s.wo(), s.wp(), s.grid(), s.lead());
        assert_eq!(dy.len(), s.n * s.out * ho * wo, "output gradient does not match the conv's shape");
        let row = lead + s.n * grid;
        let mut data = vec![0f32; s.out * row];
        data.par_chunks_mut(row).enumerate().for_each(|(o, dst)| {
            for img in 0..s.n {
                for y in 0..ho {
                    let src = &dy[((img * s.out + o) * ho + y) * wo..][..wo];
                    let d = &mut dst[lead + img * grid + y * wp..][..wo];
                    d.iter_mut().zip(src).for_each(|(d, &g)| *d = g * scale);
                }
            }
        });
        BorderedGrad { data, s }
    }

    fn row(&self) -> usize {
        self.s.lead() + self.s.n * self.s.grid()
    }
}

/// Gradient of the conv's weights: `dw[o][c][ky][kx] = sum over n, y, x of dy[n][o][y][x] *
/// a[n][c][y + ky][x + kx]`, `a` the conv's input made from `x` (NCHW), bordered.
pub fn weight_grad(x: &[f32], dy: &BorderedGrad, conv: Conv) -> Vec<f32> {
    let pad_value = conv.border();
    let s = dy.s;
    let (c, hp, wp, grid, lead) = (s.c, s.hp(), s.wp(), s.grid(), s.lead());
    assert_eq!(x.len(), s.n * c * s.h * s.w, "input does not match the conv's shape");
    // Signs channel-last on the flattened grid, `[n * grid + lead][c]`, which makes a
    // window row's taps one strided view (below). The trailing lead rows are read only where
    // dy is 0.
    let mut a = vec![0f32; (s.n * grid + lead) * c];
    a[..s.n * grid * c].par_chunks_mut(wp * c).enumerate().for_each(|(r, dst)| {
        let (img, yp) = (r / hp, r % hp);
        let inside = yp >= s.pad && yp < s.pad + s.h;
        if !inside {
            dst.fill(pad_value);
            return;
        }
        dst[..s.pad * c].fill(pad_value);
        dst[(s.pad + s.w) * c..].fill(pad_value);
        let y = yp - s.pad;
        // 16 channels at a time: 16 rows read in step, one run of 16 values written per pixel.
        for c0 in (0..c).step_by(16) {
            let cs = 16.min(c - c0);
            let rows: [&[f32]; 16] =
                std::array::from_fn(|j| &x[((img * c + c0 + j.min(cs - 1)) * s.h + y) * s.w..][..s.w]);
            for xi in 0..s.w {
                let d = &mut dst[(s.pad + xi) * c + c0..][..cs];
                d.iter_mut().zip(&rows).for_each(|(d, r)| *d = conv.input(r[xi]));
            }
        }
    });
    let (k, out) = (s.k, s.out);
    let q = s.n * grid;
    // The taps of one window row, ky, read input cells q + ky * wp + kx: as a matrix of rows
    // j = kx * c + ch, that is one strided view of `a` (row j at column q: element
    // (q + ky * wp) * c + j), so each window row is one GEMM, rows x output channels,
    // accumulated over the whole batch: t[ky][j][o]. Tasks take fixed blocks of rows (the
    // same sums, in the same order, on any machine) and share no output.
    let rows = k * c;
    let per = rows.div_ceil(WEIGHT_BLOCKS);
    let blocks = rows.div_ceil(per);
    let mut t = vec![0f32; k * rows * out];
    let dst = SharedMut(t.as_mut_ptr());
    (0..k * blocks).into_par_iter().for_each(|task| {
        let (ky, j0) = (task / blocks, (task % blocks) * per);
        let m = per.min(rows - j0);
        // SAFETY: dst (m x out, row-major) is this task's rows of t[ky]; lhs (m x q: element
        // (j, q) at (q + ky * wp) * c + j0 + j) lies inside `a`, whose trailing lead rows
        // cover the last window; rhs (q x out: element (q, o) at o * row + q) inside dy's data
        // after its lead.
        unsafe {
            matmul(
                m,
                out,
                q,
                Strided::rows(dst.get().add((ky * rows + j0) * out), out),
                Strided { ptr: a.as_ptr().add(ky * wp * c + j0), row: 1, col: c as isize },
                Strided { ptr: dy.data.as_ptr().add(lead), row: 1, col: dy.row() as isize },
            );
        }
    });
    // t[ky][kx * c + ch][o] -> dw[o][ch][ky][kx].
    let mut dw = vec![0f32; out * c * k * k];
    dw.par_chunks_mut(c * k * k).enumerate().for_each(|(o, dst)| {
        for ch in 0..c {
            for ky in 0..k {
                for kx in 0..k {
                    dst[(ch * k + ky) * k + kx] = t[(ky * rows + kx * c + ch) * out + o];
                }
            }
        }
    });
    dw
}

/// Gradient of the conv's input `x` (NCHW): `da[n][c][y][x] = sum over o, ky, kx of
/// dy[n][o][y + pad - ky][x + pad - kx] * w'[o][c][ky][kx]`, `w'` the weights as convolved; for a
/// binary conv times the activation quantiser's straight-through derivative at `x`.
pub fn input_grad(x: &[f32], latent: &[f32], dy: &BorderedGrad, conv: Conv) -> Vec<f32> {
    let s = dy.s;
    let (c, out, kk, wp, grid, lead) = (s.c, s.out, s.taps(), s.wp(), s.grid(), s.lead());
    assert_eq!(x.len(), s.n * c * s.h * s.w, "input does not match the conv's shape");
    assert_eq!(latent.len(), out * c * kk, "weights do not match the conv's shape");
    // Signs of the weights as a (c, taps * out) matrix.
    let mut wt = vec![0f32; c * kk * out];
    for o in 0..out {
        for ch in 0..c {
            for tap in 0..kk {
                wt[ch * kk * out + tap * out + o] = conv.input(latent[(o * c + ch) * kk + tap]);
            }
        }
    }
    let mut dx = vec![0f32; x.len()];
    let image = c * s.h * s.w;
    let dst = SharedMut(dx.as_mut_ptr());
    (0..s.n).into_par_iter().for_each_init(
        || (vec![0f32; kk * out * grid], vec![0f32; c * grid]),
        |(cols, da), img| {
            // The taps' views of this image's output gradient, stacked (taps * out, grid).
            for tap in 0..kk {
                let from = lead + img * grid - s.offset(tap);
                for o in 0..out {
                    cols[(tap * out + o) * grid..][..grid].copy_from_slice(&dy.data[o * dy.row() + from..][..grid]);
                }
            }
            // SAFETY: da is c x grid, wt c x (kk * out), cols (kk * out) x grid, all row-major.
            unsafe {
                matmul(
                    c,
                    grid,
                    kk * out,
                    Strided::rows(da.as_mut_ptr(), grid),
                    Strided::rows(wt.as_ptr(), kk * out),
                    Strided::rows(cols.as_ptr(), grid),
                );
            }
            // SAFETY: image `img`'s part of dx is written by this task alone.
            let dx = unsafe { dst.slice(img * image, image) };
            let x = &x[img * image..][..image];
            for ch in 0..c {
                for y in 0..s.h {
                    let at = ch * s.h * s.w + y * s.w;
                    let src = &da[ch * grid + (y + s.pad) * wp + s.pad..][..s.w];
                    match conv {
                        Conv::Binary { act, .. } => act.apply(&mut dx[at..at + s.w], src, &x[at..at + s.w]),
                        Conv::Float => dx[at..at + s.w].copy_from_slice(src),
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
    fn reference(x: &[f32], w: &[f32], dy: &[f32], s: GradShape, conv: Conv) -> (Vec<f32>, Vec<f32>) {
        let pad_value = conv.border();
        let (ho, wo, k, p) = (s.ho(), s.wo(), s.k, s.pad as isize);
        let a = |img: usize, ch: usize, yp: isize, xp: isize| -> f64 {
            let (y, xx) = (yp - p, xp - p);
            if y < 0 || xx < 0 || y >= s.h as isize || xx >= s.w as isize {
                pad_value as f64
            } else {
                conv.input(x[((img * s.c + ch) * s.h + y as usize) * s.w + xx as usize]) as f64
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
                                    let (yp, xp) = ((y + ky) as isize, (xx + kx) as isize);
                                    let wi = ((o * s.c + ch) * k + ky) * k + kx;
                                    dw[wi] += g * a(img, ch, yp, xp);
                                    let (yi, xi) = (yp - p, xp - p);
                                    if yi >= 0 && xi >= 0 && yi < s.h as isize && xi < s.w as isize {
                                        let at = ((img * s.c + ch) * s.h + yi as usize) * s.w + xi as usize;
                                        da[at] += g * conv.input(w[wi]) as f64;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        let ste = |v: f32| match conv {
            Conv::Binary { act, .. } => act.at(v) as f64,
            Conv::Float => 1.0,
        };
        let dx = da.iter().zip(x).map(|(&d, &v)| (d * ste(v)) as f32).collect();
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
            GradShape { n: 2, c: 5, h: 6, w: 7, out: 3, k: 3, pad: 1 },
            GradShape { n: 3, c: 70, h: 4, w: 4, out: 4, k: 3, pad: 1 },
            GradShape { n: 2, c: 3, h: 5, w: 6, out: 2, k: 3, pad: 0 },
            GradShape { n: 2, c: 4, h: 5, w: 5, out: 3, k: 1, pad: 0 },
            GradShape { n: 1, c: 2, h: 4, w: 3, out: 2, k: 5, pad: 2 },
        ];
        for (i, s) in shapes.into_iter().enumerate() {
            let x = values(s.n * s.c * s.h * s.w, 3 * i as u64);
            let w = values(s.out * s.c * s.k * s.k, 3 * i as u64 + 1);
            let dy = values(s.n * s.out * s.ho() * s.wo(), 3 * i as u64 + 2);
            let kinds = [
                Conv::Binary { border: -1.0, act: SignGrad::Clipped(1.0) },
                Conv::Binary { border: 0.0, act: SignGrad::Approx(1.2) },
                Conv::Float,
            ];
            for conv in kinds {
                let (dx_ref, dw_ref) = reference(&x, &w, &dy, s, conv);
                let b = BorderedGrad::new(&dy, s, 1.0);
                close(&weight_grad(&x, &b, conv), &dw_ref, &format!("dw {s:?} {conv:?}"));
                close(&input_grad(&x, &w, &b, conv), &dx_ref, &format!("dx {s:?} {conv:?}"));
                // The scale multiplies both (the offset epilogue's 1/2).
                let half = BorderedGrad::new(&dy, s, 0.5);
                let dw_half: Vec<f32> = dw_ref.iter().map(|v| v * 0.5).collect();
                close(&weight_grad(&x, &half, conv), &dw_half, "dw scaled");
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
        let s = GradShape { n: 4, c: 96, h: 8, w: 8, out: 16, k: 3, pad: 1 };
        let x = values(s.n * s.c * s.h * s.w, 1);
        let w = values(s.out * s.c * 9, 2);
        let b = BorderedGrad::new(&values(s.n * s.out * 64, 3), s, 0.5);
        let conv = Conv::Binary { border: -1.0, act: SignGrad::Clipped(1.0) };
        let first = (weight_grad(&x, &b, conv), input_grad(&x, &w, &b, conv));
        for _ in 0..3 {
            assert!(first == (weight_grad(&x, &b, conv), input_grad(&x, &w, &b, conv)));
        }
    }
}
