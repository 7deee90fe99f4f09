//! The binary convolution as CubeCL kernels: one source for every CubeCL runtime (CUDA on NVIDIA
//! GPUs; wgpu elsewhere, and in CI on Mesa's software Vulkan).
//!
//! Packed tensors use the CPU layout ([`crate::pack`]) read as 32-bit words (WGSL has no 64-bit
//! integers): on a little-endian host a `u64` word is its low `u32` then its high one, so channel
//! `c` sits in word `c / 32`, bit `c % 32` either way, and a buffer packed on the host and one
//! packed on the device are the same bytes. Activations can be packed on the device straight
//! from a float NCHW buffer ([`pack_on_device`]), so a network never copies its maps to the host.
//!
//! Two variants, the same integers ([`GpuKernel`]): one unit per output counting mismatches with
//! `popcount` over the receptive field, and a tiled one that stages 16 pixels' and 16 output
//! channels' packed words in shared memory, so each loaded word serves 16 units. Which is faster
//! depends on the device and the shape: [`fastest`] times both on the device, as the CPU side
//! times its kernels. A 1-bit tensor-core variant (`mma` on `b1`, XOR/AND-popcount) is not here:
//! CubeCL 0.10's `cmma` takes float and 8-bit integer fragments, with no 1-bit element type.

use cubecl::prelude::*;
use cubecl::server::Handle;

use crate::cpu::out_size;
use crate::pack::{ConvGeometry, PackedActivations, PackedWeights};

/// A kernel variant (all give the same integers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GpuKernel {
    /// One unit per output, words read from global memory.
    Direct,
    /// 16 x 16 tiles of (output channel, pixel) with both operands staged in shared memory.
    Tiled,
}

impl GpuKernel {
    pub const ALL: [GpuKernel; 2] = [GpuKernel::Direct, GpuKernel::Tiled];

    pub fn name(self) -> &'static str {
        match self {
            GpuKernel::Direct => "direct-popc",
            GpuKernel::Tiled => "tiled-shared",
        }
    }

    /// Whether it can run a conv of `npix` output pixels: the tiled kernel puts pixel tiles on
    /// one grid axis, whose length is bounded; past that the direct one runs instead.
    pub fn fits(self, npix: usize) -> bool {
        self == GpuKernel::Direct || npix.div_ceil(TILE as usize) <= MAX_CUBES as usize
    }
}

/// What a conv writes, from the match count `m` of each output (K = fan-in), as `f32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GpuEpilogue {
    /// `m`, BMXNet's `(h + K) / 2`.
    Matches,
    /// `h = 2m - K`, the ±1 dot product.
    Dot,
}

/// Packed activations on a device: `[n][h + 2 pad][w + 2 pad][words]` `u32` words.
#[derive(Clone, Debug)]
pub struct DeviceActivations {
    pub handle: Handle,
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub pad: usize,
    /// `u32` words per pixel: twice the CPU's `u64` words.
    pub words: usize,
}

/// Packed weights on a device: the CPU's `[kh][kw][words64][out_stride]` `u64`s as `u32` pairs.
#[derive(Clone, Debug)]
pub struct DeviceWeights {
    pub handle: Handle,
    pub out: usize,
    pub c: usize,
    pub kh: usize,
    pub kw: usize,
    /// `u64` words per tap and output, as the CPU packs them.
    pub words64: usize,
    pub out_stride: usize,
}

impl DeviceWeights {
    pub fn fan_in(&self) -> usize {
        self.c * self.kh * self.kw
    }
}

/// Largest cube count along one axis that every runtime accepts (Vulkan's guaranteed minimum).
const MAX_CUBES: u32 = 65_535;

/// A 1-D launch of `total` units in cubes of `unit`, spread over two axes when one is not enough;
/// kernels recover the index with [`linear_pos`].
pub(crate) fn grid(total: usize, unit: u32) -> CubeCount {
    let cubes = (total as u32).div_ceil(unit).max(1);
    CubeCount::Static(cubes.min(MAX_CUBES), cubes.div_ceil(MAX_CUBES), 1)
}

#[cube]
pub(crate) fn linear_pos() -> u32 {
    (CUBE_POS_Y * CUBE_COUNT_X + CUBE_POS_X) * CUBE_DIM_X + UNIT_POS_X
}

/// Sign bits of a float NCHW map into the packed layout, a zero (-1) border of `pad`. One unit
/// per output word; consecutive units take consecutive columns, so reads are coalesced.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
fn pack_kernel(x: &Array<f32>, out: &mut Array<u32>, total: u32, c: u32, h: u32, w: u32, pad: u32, words: u32) {
    let idx = linear_pos();
    if idx < total {
        let (hp, wp) = (h + 2 * pad, w + 2 * pad);
        let px = idx % wp;
        let py = (idx / wp) % hp;
        let j = (idx / (wp * hp)) % words;
        let img = idx / (wp * hp * words);
        let mut bits = 0u32;
        if py >= pad && py < h + pad && px >= pad && px < w + pad {
            let (y, xx) = (py - pad, px - pad);
            for b in 0..32u32 {
                let ch = j * 32 + b;
                if ch < c {
                    // `>= 0` packs as +1 (NaN as -1), as the CPU packing and `det_sign` do.
                    if x[(((img * c + ch) * h + y) * w + xx) as usize] >= 0.0 {
                        bits |= 1u32 << b;
                    }
                }
            }
        }
        out[(((img * hp + py) * wp + px) * words + j) as usize] = bits;
    }
}

#[cube]
fn write_output(out: &mut Array<f32>, at: u32, matches: u32, fan_in: u32, #[comptime] dot: bool) {
    if dot {
        out[at as usize] = f32::cast_from(matches * 2) - f32::cast_from(fan_in);
    } else {
        out[at as usize] = f32::cast_from(matches);
    }
}

#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
fn direct_kernel(
    act: &Array<u32>,
    wts: &Array<u32>,
    out: &mut Array<f32>,
    total: u32,
    hp: u32,
    wp: u32,
    words64: u32,
    outc: u32,
    out_stride: u32,
    kh: u32,
    kw: u32,
    stride: u32,
    dilation: u32,
    ho: u32,
    wo: u32,
    fan_in: u32,
    #[comptime] dot: bool,
) {
    let idx = linear_pos();
    if idx < total {
        // NCHW output index -> (image, channel, row, column).
        let ox = idx % wo;
        let oy = (idx / wo) % ho;
        let o = (idx / (wo * ho)) % outc;
        let img = idx / (wo * ho * outc);
        let mut mismatches = 0u32;
        for ky in 0..kh {
            for kx in 0..kw {
                let iy = oy * stride + ky * dilation;
                let ix = ox * stride + kx * dilation;
                let p = ((img * hp + iy) * wp + ix) * words64;
                for wi in 0..words64 {
                    let wbase = (((ky * kw + kx) * words64 + wi) * out_stride + o) * 2;
                    let abase = (p + wi) * 2;
                    let lo = act[abase as usize] ^ wts[wbase as usize];
                    let hi = act[(abase + 1) as usize] ^ wts[(wbase + 1) as usize];
                    mismatches += u32::count_ones(lo) + u32::count_ones(hi);
                }
            }
        }
        write_output(out, idx, fan_in - mismatches, fan_in, dot);
    }
}

/// Tile edge: 16 pixels x 16 output channels per cube, 16 words per staged chunk.
const TILE: u32 = 16;

#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
fn tiled_kernel(
    act: &Array<u32>,
    wts: &Array<u32>,
    out: &mut Array<f32>,
    npix: u32,
    hp: u32,
    wp: u32,
    words64: u32,
    outc: u32,
    out_stride: u32,
    kh: u32,
    kw: u32,
    stride: u32,
    dilation: u32,
    ho: u32,
    wo: u32,
    fan_in: u32,
    #[comptime] dot: bool,
) {
    // x: the unit's output channel in the tile; y: its pixel.
    let tx = UNIT_POS_X;
    let ty = UNIT_POS_Y;
    let pix = CUBE_POS_X * 16 + ty;
    let o = CUBE_POS_Y * 16 + tx;
    let live = pix < npix;
    let ox = pix % wo;
    let oy = (pix / wo) % ho;
    let img = pix / (wo * ho);
    let words = words64 * 2;
    let chunks = words.div_ceil(16);
    // a[p * 16 + k]: word k of the chunk for pixel p; w[k * 16 + oc]: word k for channel oc.
    let mut a_sh = SharedMemory::<u32>::new(256usize);
    let mut w_sh = SharedMemory::<u32>::new(256usize);
    let mut mismatches = 0u32;
    for ky in 0..kh {
        for kx in 0..kw {
            let p = ((img * hp + oy * stride + ky * dilation) * wp + ox * stride + kx * dilation) * words;
            let tap = ky * kw + kx;
            for chunk in 0..chunks {
                // Every unit stores one word of each tile (zero outside the tensors, which never
                // counts as a mismatch), then all read them after the barrier.
                let ja = chunk * 16 + tx;
                let mut av = 0u32;
                if live && ja < words {
                    av = act[(p + ja) as usize];
                }
                a_sh[(ty * 16 + tx) as usize] = av;
                let jw = chunk * 16 + ty;
                let mut wv = 0u32;
                if o < outc && jw < words {
                    wv = wts[(((tap * words64 + jw / 2) * out_stride + o) * 2 + jw % 2) as usize];
                }
                w_sh[(ty * 16 + tx) as usize] = wv;
                sync_cube();
                for k in 0..16u32 {
                    mismatches += u32::count_ones(a_sh[(ty * 16 + k) as usize] ^ w_sh[(k * 16 + tx) as usize]);
                }
                sync_cube();
            }
        }
    }
    if live && o < outc {
        write_output(out, ((img * outc + o) * ho + oy) * wo + ox, fan_in - mismatches, fan_in, dot);
    }
}

fn le_bytes(words: &[u64]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// Host-packed activations copied to the device.
pub fn upload_activations<R: Runtime>(client: &ComputeClient<R>, a: &PackedActivations) -> DeviceActivations {
    DeviceActivations {
        handle: client.create_from_slice(&le_bytes(&a.data)),
        n: a.n,
        c: a.c,
        h: a.h,
        w: a.w,
        pad: a.pad,
        words: a.words * 2,
    }
}

/// Host-packed weights copied to the device (once per network, as on the CPU).
pub fn upload_weights<R: Runtime>(client: &ComputeClient<R>, w: &PackedWeights) -> DeviceWeights {
    DeviceWeights {
        handle: client.create_from_slice(&le_bytes(&w.data)),
        out: w.out,
        c: w.c,
        kh: w.kh,
        kw: w.kw,
        words64: w.words,
        out_stride: w.out_stride,
    }
}

/// Packs a contiguous `f32` NCHW buffer of `shape` on the device, bordered by `pad`.
pub fn pack_on_device<R: Runtime>(
    client: &ComputeClient<R>,
    x: Handle,
    [n, c, h, w]: [usize; 4],
    pad: usize,
) -> DeviceActivations {
    let words = crate::pack::words_for(c) * 2;
    let total = n * (h + 2 * pad) * (w + 2 * pad) * words;
    let out = client.empty(total.max(1) * 4);
    // SAFETY: the kernel checks `idx < total`, and every index it forms for an in-range `idx` is
    // inside `x` (n * c * h * w floats) and `out` (total words).
    unsafe {
        pack_kernel::launch_unchecked::<R>(
            client,
            grid(total, 256),
            CubeDim::new_1d(256),
            ArrayArg::from_raw_parts(x, (n * c * h * w).max(1)),
            ArrayArg::from_raw_parts(out.clone(), total.max(1)),
            total as u32,
            c as u32,
            h as u32,
            w as u32,
            pad as u32,
            words as u32,
        )
    };
    DeviceActivations { handle: out, n, c, h, w, pad, words }
}

/// The packed words of device activations, read back as the CPU's `u64`s (for tests).
pub fn read_activations<R: Runtime>(client: &ComputeClient<R>, a: &DeviceActivations) -> Vec<u64> {
    let bytes = client.read_one_unchecked(a.handle.clone());
    let len = a.n * (a.h + 2 * a.pad) * (a.w + 2 * a.pad) * a.words / 2;
    bytes.chunks_exact(8).take(len).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes"))).collect()
}

/// `[n, out, ho, wo]` of a conv.
pub fn out_shape(a: &DeviceActivations, w: &DeviceWeights, g: ConvGeometry) -> [usize; 4] {
    [a.n, w.out, out_size(a.h, w.kh, g), out_size(a.w, w.kw, g)]
}

/// The conv on the device: a new `f32` NCHW buffer of [`out_shape`]. Launch only; reading the
/// handle waits for it.
pub fn binary_conv2d_on<R: Runtime>(
    client: &ComputeClient<R>,
    kernel: GpuKernel,
    a: &DeviceActivations,
    w: &DeviceWeights,
    g: ConvGeometry,
    epilogue: GpuEpilogue,
) -> Handle {
    assert_eq!(a.c, w.c, "input channels of activations and weights differ");
    assert_eq!(a.words, w.words64 * 2, "activations and weights are packed with different word counts");
    assert_eq!(a.pad, g.pad, "activations must be packed with the convolution's padding");
    let [n, outc, ho, wo] = out_shape(a, w, g);
    let total = n * outc * ho * wo;
    let out = client.empty(total.max(1) * 4);
    let (hp, wp) = ((a.h + 2 * a.pad) as u32, (a.w + 2 * a.pad) as u32);
    // SAFETY: each length is the element count of the buffer its handle was made for.
    let (act, wts, dst) = unsafe {
        (
            ArrayArg::from_raw_parts(a.handle.clone(), (a.n * a.words * hp as usize * wp as usize).max(1)),
            ArrayArg::from_raw_parts(w.handle.clone(), (w.kh * w.kw * w.words64 * w.out_stride * 2).max(1)),
            ArrayArg::from_raw_parts(out.clone(), total.max(1)),
        )
    };
    let dot = epilogue == GpuEpilogue::Dot;
    let npix = n * ho * wo;
    let kernel = if kernel.fits(npix) { kernel } else { GpuKernel::Direct };
    // SAFETY: the shapes were asserted above; the kernels check their output index (`total`,
    // `npix`, `outc`) before reading or writing, and read inside the padded input and the weights.
    unsafe {
        match kernel {
            GpuKernel::Direct => direct_kernel::launch_unchecked::<R>(
                client,
                grid(total, 256),
                CubeDim::new_1d(256),
                act,
                wts,
                dst,
                total as u32,
                hp,
                wp,
                w.words64 as u32,
                outc as u32,
                w.out_stride as u32,
                w.kh as u32,
                w.kw as u32,
                g.stride as u32,
                g.dilation as u32,
                ho as u32,
                wo as u32,
                w.fan_in() as u32,
                dot,
            ),
            GpuKernel::Tiled => tiled_kernel::launch_unchecked::<R>(
                client,
                CubeCount::Static((npix as u32).div_ceil(TILE).max(1), (outc as u32).div_ceil(TILE), 1),
                CubeDim::new_2d(TILE, TILE),
                act,
                wts,
                dst,
                npix as u32,
                hp,
                wp,
                w.words64 as u32,
                outc as u32,
                w.out_stride as u32,
                w.kh as u32,
                w.kw as u32,
                g.stride as u32,
                g.dilation as u32,
                ho as u32,
                wo as u32,
                w.fan_in() as u32,
                dot,
            ),
        }
    };
    out
}

/// Reads `len` `f32`s of a device buffer.
pub fn read_f32<R: Runtime>(client: &ComputeClient<R>, h: Handle, len: usize) -> Vec<f32> {
    f32::from_bytes(&client.read_one_unchecked(h))[..len].to_vec()
}

/// Match counts `(h + K) / 2`, NCHW, from host-packed operands: the same integers as
/// [`crate::binary_conv2d`] with [`crate::Epilogue::Matches`].
pub fn binary_conv2d<R: Runtime>(
    client: &ComputeClient<R>,
    kernel: GpuKernel,
    a: &PackedActivations,
    w: &PackedWeights,
    g: ConvGeometry,
) -> Vec<f32> {
    let (da, dw) = (upload_activations(client, a), upload_weights(client, w));
    let len = out_shape(&da, &dw, g).iter().product();
    read_f32(client, binary_conv2d_on(client, kernel, &da, &dw, g, GpuEpilogue::Matches), len)
}

/// The faster variant for this conv on this device: each is run once to compile it, then timed
/// (best of three, waiting for the device each time).
pub fn fastest<R: Runtime>(
    client: &ComputeClient<R>,
    a: &DeviceActivations,
    w: &DeviceWeights,
    g: ConvGeometry,
) -> GpuKernel {
    let time = |k: GpuKernel| {
        let run = || {
            let out = binary_conv2d_on(client, k, a, w, g, GpuEpilogue::Matches);
            cubecl::future::block_on(client.sync()).expect("the device finished the conv");
            drop(out);
        };
        run();
        (0..3)
            .map(|_| {
                let t = std::time::Instant::now();
                run();
                t.elapsed()
            })
            .min()
            .unwrap_or_default()
    };
    // Only variants that run as themselves, so the one kept is the one named.
    let [n, _, ho, wo] = out_shape(a, w, g);
    let npix = n * ho * wo;
    GpuKernel::ALL.into_iter().filter(|k| k.fits(npix)).min_by_key(|&k| time(k)).unwrap_or(GpuKernel::Direct)
}

/// (n, c, h, w, out, k, stride, pad, dilation) of the exactness checks: odd sizes, strides,
/// dilation, several words per pixel, more than one 16-word chunk (c 600) and output channels
/// past one tile.
pub const CHECK_SHAPES: &[[usize; 9]] = &[
    [1, 3, 7, 6, 4, 3, 1, 1, 1],
    [2, 37, 8, 8, 5, 3, 2, 1, 1],
    [1, 64, 9, 9, 8, 3, 1, 2, 2],
    [1, 70, 5, 5, 13, 1, 1, 0, 1],
    [2, 130, 6, 6, 70, 3, 1, 3, 1],
    [1, 480, 8, 8, 64, 3, 1, 1, 1],
    [3, 600, 5, 7, 33, 3, 2, 1, 1],
];

/// One exactness check on a device: what ran and whether it equals the CPU's result.
#[derive(Clone, Debug)]
pub struct Check {
    /// `pack` or a variant's name.
    pub what: String,
    pub shape: [usize; 9],
    pub equal: bool,
}

/// Every variant (both epilogues) and the device packing against the CPU kernels and packing,
/// at [`CHECK_SHAPES`], on random values in -4..=4 with a signed zero and a NaN (`>= 0` packs as
/// +1; NaN as -1). The CPU kernels are held to a ±1 reference by this crate's `exact` tests.
pub fn check_against_cpu<R: Runtime>(client: &ComputeClient<R>) -> Vec<Check> {
    let mut seed = 0x1234_5678u64;
    let mut values = |len: usize| -> Vec<f32> {
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed % 9) as f32 - 4.0
            })
            .collect()
    };
    let mut checks = vec![];
    for &shape in CHECK_SHAPES {
        let [n, c, h, w, o, k, stride, pad, dilation] = shape;
        let mut x = values(n * c * h * w);
        x[0] = -0.0;
        let mid = x.len() / 2;
        x[mid] = f32::NAN;
        let wt = values(o * c * k * k);
        let g = ConvGeometry { stride, pad, dilation };
        let host = crate::pack::pack_activations(&x, [n, c, h, w], pad);
        let pw = crate::pack::pack_weights(&wt, [o, c, k, k]);
        let a = pack_on_device(client, client.create_from_slice(f32::as_bytes(&x)), [n, c, h, w], pad);
        checks.push(Check { what: "pack".into(), shape, equal: read_activations(client, &a) == host.data });
        let dw = upload_weights(client, &pw);
        let len: usize = out_shape(&a, &dw, g).iter().product();
        let matches = crate::binary_conv2d(&host, &pw, g, crate::Epilogue::Matches);
        let dot = crate::binary_conv2d(&host, &pw, g, crate::Epilogue::Dot);
        for kernel in GpuKernel::ALL {
            let run = |e| read_f32(client, binary_conv2d_on(client, kernel, &a, &dw, g, e), len);
            let equal = run(GpuEpilogue::Matches) == matches && run(GpuEpilogue::Dot) == dot;
            checks.push(Check { what: kernel.name().into(), shape, equal });
        }
    }
    checks
}
