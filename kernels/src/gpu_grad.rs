//! A conv's weight gradient as a GEMM split over its reduction axis, as CubeCL kernels.
//!
//! `dW[o][c, ky, kx] = sum over (image, oy, ox) of dy[image, o, oy, ox] * x[image, c, oy * s +
//! ky * d - p, ox * s + kx * d - p]`: M = output channels, N = `c * kh * kw`, K = images times
//! output pixels. At MeliusNet-22's first stage at batch 64 K is 65,536 while M x N makes a few
//! dozen 16 x 16 tiles, so a GEMM over the whole of K (burn 0.21's implicit GEMM) runs as one or
//! two cubes per tile on a GPU of 132 SMs, each walking all of K in series. Here K is cut into
//! slices until the launch has [`TARGET_CUBES`] cubes: each cube sums one tile over one slice
//! into a partial, and a second launch adds the partials. Both operands are read through their
//! strides (training's maps are channels-last views), the im2col done on the fly.

use cubecl::prelude::*;
use cubecl::server::Handle;

use crate::gpu::grid;
use crate::gpu_train::{Strides, reach};

/// Tile edge (output channels x columns of `c * kh * kw`) and the K step staged per round.
const TILE: usize = 16;

/// Cubes a weight gradient is cut to launch at least: two waves of an H100's 132 SMs.
pub const TARGET_CUBES: usize = 264;

/// The least K a slice takes: its 16 staged rounds outweigh writing and adding its partial.
pub const MIN_SLICE: usize = 256;

/// How a weight gradient of M x N outputs over K products each is launched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    /// 16 x 16 tiles along M and N.
    pub tiles: [usize; 2],
    /// Slices of K, each `slice` long (the last one shorter).
    pub splits: usize,
    pub slice: usize,
}

impl Geometry {
    /// The slicing this build launches for an `m x n` gradient over `k`: as few slices as make
    /// [`TARGET_CUBES`] cubes, none shorter than [`MIN_SLICE`] (a short K launches fewer cubes).
    pub fn select(m: usize, n: usize, k: usize) -> Self {
        let tiles = [m.div_ceil(TILE), n.div_ceil(TILE)];
        let wanted = TARGET_CUBES.div_ceil(tiles[0] * tiles[1]);
        let splits = wanted.min(k.div_ceil(MIN_SLICE)).max(1);
        let slice = k.div_ceil(splits).div_ceil(TILE) * TILE;
        Geometry { m, n, k, tiles, splits: k.div_ceil(slice.max(1)).max(1), slice: slice.max(TILE) }
    }

    pub fn cubes(&self) -> usize {
        self.tiles[0] * self.tiles[1] * self.splits
    }

    /// Multiply-adds of the gradient.
    pub fn macs(&self) -> usize {
        self.m * self.n * self.k
    }
}

/// A conv's weight gradient problem: input `[n, c, h, w]`, output gradient `[n, o, ho, wo]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeightGrad {
    pub input: [usize; 4],
    pub out: usize,
    pub kernel: [usize; 2],
    pub out_size: [usize; 2],
    pub stride: usize,
    pub pad: usize,
    pub dilation: usize,
}

impl WeightGrad {
    pub fn geometry(&self) -> Geometry {
        let [n, c, _, _] = self.input;
        let [kh, kw] = self.kernel;
        Geometry::select(self.out, c * kh * kw, n * self.out_size[0] * self.out_size[1])
    }
}

#[derive(CubeType, CubeLaunch, Clone, Copy)]
struct Conv {
    c: u32,
    h: u32,
    w: u32,
    o: u32,
    kh: u32,
    kw: u32,
    ho: u32,
    wo: u32,
    stride: u32,
    pad: u32,
    dilation: u32,
    x0: u32,
    x1: u32,
    x2: u32,
    x3: u32,
    dy0: u32,
    dy1: u32,
    dy2: u32,
    dy3: u32,
}

/// Cube (tile of N, tile of M, slice of K); unit (column, row) of the tile.
#[cube(launch_unchecked)]
fn weight_grad_kernel(x: &Array<f32>, dy: &Array<f32>, part: &mut Array<f32>, p: Conv, k: u32, slice: u32) {
    let (tx, ty) = (UNIT_POS_X, UNIT_POS_Y);
    let m_total = p.o;
    let n_total = p.c * p.kh * p.kw;
    let row = CUBE_POS_Y * 16 + ty;
    let col = CUBE_POS_X * 16 + tx;
    let k0 = CUBE_POS_Z * slice;
    let mut k1 = k0 + slice;
    if k1 > k {
        k1 = k;
    }
    let pixels = p.ho * p.wo;
    // This unit's column of x: channel and tap.
    let ci = col / (p.kh * p.kw);
    let ky = (col / p.kw) % p.kh;
    let kx = col % p.kw;
    let mut a = SharedMemory::<f32>::new(256usize);
    let mut b = SharedMemory::<f32>::new(256usize);
    let mut acc = 0.0f32;
    let mut kt = k0;
    while kt < k1 {
        // dy[row of the tile ty][k = kt + tx]
        let ka = kt + tx;
        let mut av = 0.0f32;
        let m = CUBE_POS_Y * 16 + ty;
        if m < m_total && ka < k1 {
            let (img, pix) = (ka / pixels, ka % pixels);
            av = dy[(img * p.dy0 + m * p.dy1 + (pix / p.wo) * p.dy2 + (pix % p.wo) * p.dy3) as usize];
        }
        a[(ty * 16 + tx) as usize] = av;
        // x[k = kt + ty][column tx]: the input pixel under tap (ky, kx) of output pixel k.
        let kb = kt + ty;
        let mut bv = 0.0f32;
        if col < n_total && kb < k1 {
            let (img, pix) = (kb / pixels, kb % pixels);
            let iy = (pix / p.wo) * p.stride + ky * p.dilation;
            let ix = (pix % p.wo) * p.stride + kx * p.dilation;
            if iy >= p.pad && iy < p.h + p.pad && ix >= p.pad && ix < p.w + p.pad {
                bv = x[(img * p.x0 + ci * p.x1 + (iy - p.pad) * p.x2 + (ix - p.pad) * p.x3) as usize];
            }
        }
        b[(ty * 16 + tx) as usize] = bv;
        sync_cube();
        for kk in 0..16u32 {
            acc += a[(ty * 16 + kk) as usize] * b[(kk * 16 + tx) as usize];
        }
        sync_cube();
        kt += 16;
    }
    if row < m_total && col < n_total {
        part[(CUBE_POS_Z * m_total * n_total + row * n_total + col) as usize] = acc;
    }
}

#[cube(launch_unchecked)]
fn sum_slices_kernel(part: &Array<f32>, out: &mut Array<f32>, len: u32, splits: u32) {
    let i = crate::gpu::linear_pos();
    if i < len {
        let mut s = 0.0f32;
        for j in 0..splits {
            s += part[(j * len + i) as usize];
        }
        out[i as usize] = s;
    }
}

/// The weight gradient `[o, c, kh, kw]` (contiguous) of a conv from its input `x` and output
/// gradient `dy` (any strides), launched as [`WeightGrad::geometry`] says: one launch, or two
/// when K is sliced.
pub fn weight_grad<R: Runtime>(
    client: &ComputeClient<R>,
    (x, xs): (&Handle, Strides),
    (dy, dys): (&Handle, Strides),
    p: WeightGrad,
) -> Handle {
    let g = p.geometry();
    let [n, c, h, w] = p.input;
    let [ho, wo] = p.out_size;
    let len = g.m * g.n;
    let part = client.empty((len * g.splits).max(1) * 4);
    let u = |v: usize| v as u32;
    let conv = ConvLaunch::new(
        u(c),
        u(h),
        u(w),
        u(p.out),
        u(p.kernel[0]),
        u(p.kernel[1]),
        u(ho),
        u(wo),
        u(p.stride),
        u(p.pad),
        u(p.dilation),
        u(xs[0]),
        u(xs[1]),
        u(xs[2]),
        u(xs[3]),
        u(dys[0]),
        u(dys[1]),
        u(dys[2]),
        u(dys[3]),
    );
    let cubes = CubeCount::Static(u(g.tiles[1]), u(g.tiles[0]), u(g.splits));
    // SAFETY: the kernel reads `x` and `dy` only at in-range coordinates of their views and
    // writes `part` below `splits * len`; the sum reads `part` below that and writes `len`.
    unsafe {
        weight_grad_kernel::launch_unchecked::<R>(
            client,
            cubes,
            CubeDim::new_2d(TILE as u32, TILE as u32),
            ArrayArg::from_raw_parts(x.clone(), reach([n, c, h, w], xs)),
            ArrayArg::from_raw_parts(dy.clone(), reach([n, p.out, ho, wo], dys)),
            ArrayArg::from_raw_parts(part.clone(), (len * g.splits).max(1)),
            conv,
            u(g.k),
            u(g.slice),
        );
        if g.splits == 1 {
            return part;
        }
        let out = client.empty(len.max(1) * 4);
        sum_slices_kernel::launch_unchecked::<R>(
            client,
            grid(len, 256),
            CubeDim::new_1d(256),
            ArrayArg::from_raw_parts(part, len * g.splits),
            ArrayArg::from_raw_parts(out.clone(), len.max(1)),
            u(len),
            u(g.splits),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slices are multiples of the staged step, cover K, and give the target where K allows.
    #[test]
    fn geometry_covers_k_and_reaches_the_target_where_k_allows() {
        for (m, n, k) in [(64, 27, 65_536), (64, 1152, 1024), (1, 1, 16), (320, 640, 4096), (64, 9 * 500, 1024)] {
            let g = Geometry::select(m, n, k);
            assert_eq!(g.slice % TILE, 0, "{g:?}");
            assert!(g.splits * g.slice >= k && (g.splits - 1) * g.slice < k, "{g:?}");
            let reachable = TARGET_CUBES.min(g.tiles[0] * g.tiles[1] * k.div_ceil(MIN_SLICE));
            assert!(g.cubes() >= reachable, "{g:?}");
        }
        // One tile, a long K: sliced to the target exactly.
        assert_eq!(Geometry::select(16, 16, 1 << 20).cubes(), TARGET_CUBES);
    }
}
