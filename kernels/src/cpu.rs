//! CPU kernels. Work is split over output rows with rayon; each row counts mismatches with
//! AVX-512 VPOPCNTDQ (eight output channels per vector, one broadcast input word against a run
//! of weights) where the CPU has it, else with AVX2 (a nibble table in byte shuffles, `avx2.rs`),
//! else with scalar `popcnt`. All give the same integers.

use rayon::prelude::*;

use crate::features::{has_avx2, has_avx512, has_popcnt};
use crate::pack::{ConvGeometry, PackedActivations, PackedWeights};

/// What a conv writes, from the match count `m` of each output (K = fan-in).
#[derive(Clone, Copy, Debug)]
pub enum Epilogue<'a> {
    /// `m`, which is BMXNet's `(h + K) / 2`.
    Matches,
    /// `h = 2m - K`, the plain ±1 dot product.
    Dot,
    /// `m * scale[o] + shift[o]`: a following batch norm (inference) folded in.
    Affine { scale: &'a [f32], shift: &'a [f32] },
}

/// An inner kernel. [`Kernel::best`] is what the CPU supports; the others exist for tests and
/// benchmarks (all give the same integers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    Avx512,
    Avx2,
    Popcnt,
    Portable,
}

impl Kernel {
    /// The fastest kernel on this CPU, chosen once per process by timing every available one
    /// on a MeliusNet-sized conv (128 channels, 16x16, 3x3) on this thread alone (threads would
    /// time their wake-ups); a narrower kernel must beat the widest by a tenth, so that noise in
    /// a fraction of a millisecond does not pick the slower one.
    pub fn best() -> Kernel {
        static BEST: std::sync::OnceLock<Kernel> = std::sync::OnceLock::new();
        *BEST.get_or_init(|| {
            let available = Kernel::available();
            if available.len() == 1 {
                return available[0];
            }
            let (c, hw, out) = (128, 16, 64);
            let x: Vec<f32> = (0..c * hw * hw).map(|i| if (i * 7919) % 13 < 6 { -1.0 } else { 1.0 }).collect();
            let w: Vec<f32> = (0..out * c * 9).map(|i| if (i * 104_729) % 11 < 5 { -1.0 } else { 1.0 }).collect();
            let g = ConvGeometry { stride: 1, pad: 1, dilation: 1 };
            let a = crate::pack::pack_activations(&x, [1, c, hw, hw], 1);
            let w = crate::pack::pack_weights(&w, [out, c, 3, 3]);
            let mut mis = vec![0u32; w.out_stride * hw];
            let mut time = |k: Kernel| {
                (0..7)
                    .map(|_| {
                        let t = std::time::Instant::now();
                        for oy in 0..hw {
                            row(k, Row { a: &a, w: &w, g, img: 0, oy, wo: hw }, &mut mis);
                        }
                        std::hint::black_box(&mis);
                        t.elapsed().as_secs_f64()
                    })
                    .fold(f64::INFINITY, f64::min)
            };
            let times: Vec<(Kernel, f64)> = available.iter().map(|&k| (k, time(k))).collect();
            // `available` runs narrow to wide: the last is the widest.
            let (widest, bar) = times.last().map_or((Kernel::Portable, 0.0), |&(k, t)| (k, t * 0.9));
            times.into_iter().filter(|&(_, t)| t < bar).min_by(|x, y| x.1.total_cmp(&y.1)).map_or(widest, |t| t.0)
        })
    }

    /// The kernels this CPU can run.
    pub fn available() -> Vec<Kernel> {
        [Kernel::Portable, Kernel::Popcnt, Kernel::Avx2, Kernel::Avx512].into_iter().filter(|k| k.supported()).collect()
    }

    /// The widest kernel this CPU can run, by its features alone (no timing): what the packers
    /// use.
    pub fn widest() -> Kernel {
        // Every packing call asks: found once.
        static WIDEST: std::sync::OnceLock<Kernel> = std::sync::OnceLock::new();
        *WIDEST.get_or_init(|| Kernel::available().pop().unwrap_or(Kernel::Portable))
    }

    /// The instruction set the kernel's inner loop runs on, as the benchmarks name it.
    pub fn isa(self) -> &'static str {
        match self {
            Kernel::Avx512 => "AVX-512",
            Kernel::Avx2 => "AVX2",
            Kernel::Popcnt | Kernel::Portable => "scalar",
        }
    }

    /// Whether this CPU can run the kernel.
    pub fn supported(self) -> bool {
        match self {
            Kernel::Avx512 => has_avx512(),
            Kernel::Avx2 => has_avx2(),
            Kernel::Popcnt => has_popcnt(),
            Kernel::Portable => true,
        }
    }

    /// XNOR-popcounted bits per cycle per core that the inner loop can reach at best, for a
    /// benchmark's ceiling column: AVX-512, one 512-bit VPOPCNTQ a cycle (the XOR and add on other
    /// ports); AVX2, a 256-bit vector's XOR and nibble-table count is eight vector operations
    /// (xor, two and, shift, two shuffles, two adds) over the three vector ports of current x86
    /// cores, 96 bits a cycle; scalar, one 64-bit `popcnt` a cycle. The portable loop has none.
    pub fn ceiling_bits_per_cycle(self) -> Option<f64> {
        match self {
            Kernel::Avx512 => Some(512.0),
            Kernel::Avx2 => Some(256.0 * 3.0 / 8.0),
            Kernel::Popcnt => Some(64.0),
            Kernel::Portable => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kernel::Avx512 => "avx512-vpopcntdq",
            Kernel::Avx2 => "avx2",
            Kernel::Popcnt => "popcnt",
            Kernel::Portable => "portable",
        }
    }
}

/// Output size of a convolution along one axis.
pub fn out_size(size: usize, k: usize, g: ConvGeometry) -> usize {
    (size + 2 * g.pad).saturating_sub(g.dilation * (k - 1) + 1) / g.stride + 1
}

/// Binary convolution of packed activations (packed with `g.pad` as their border) with packed
/// weights; the result is NCHW `[n][out][ho][wo]`.
pub fn binary_conv2d(a: &PackedActivations, w: &PackedWeights, g: ConvGeometry, epilogue: Epilogue) -> Vec<f32> {
    binary_conv2d_using(Kernel::best(), a, w, g, epilogue)
}

/// [`binary_conv2d`] with a given inner kernel, which the CPU must support (see
/// [`Kernel::available`]).
pub fn binary_conv2d_using(
    kernel: Kernel,
    a: &PackedActivations,
    w: &PackedWeights,
    g: ConvGeometry,
    epilogue: Epilogue,
) -> Vec<f32> {
    assert!(kernel.supported(), "this CPU cannot run the {} kernel", kernel.name());
    assert_eq!(a.c, w.c, "input channels of activations and weights differ");
    assert_eq!(a.pad, g.pad, "activations must be packed with the convolution's padding");
    assert!(g.stride >= 1 && g.dilation >= 1);
    let (ho, wo) = (out_size(a.h, w.kh, g), out_size(a.w, w.kw, g));
    let fan_in = w.fan_in() as u32;
    let mut y = vec![0f32; a.n * w.out * ho * wo];
    let out = OutPtr(y.as_mut_ptr());
    (0..a.n * ho).into_par_iter().for_each_init(
        || vec![0u32; w.out_stride * wo],
        |mis, r| {
            let (img, oy) = (r / ho, r % ho);
            row(kernel, Row { a, w, g, img, oy, wo }, mis);
            for o in 0..w.out {
                // SAFETY: row (img, oy) is the only writer of out[img][o][oy][..] for every o,
                // and that range lies inside `y`, which outlives the parallel loop.
                let dst = unsafe { std::slice::from_raw_parts_mut(out.at(((img * w.out + o) * ho + oy) * wo), wo) };
                let src = &mis[o * wo..(o + 1) * wo];
                match epilogue {
                    Epilogue::Matches => dst.iter_mut().zip(src).for_each(|(d, &m)| *d = (fan_in - m) as f32),
                    Epilogue::Dot => {
                        dst.iter_mut().zip(src).for_each(|(d, &m)| *d = (fan_in as i32 - 2 * m as i32) as f32)
                    }
                    Epilogue::Affine { scale, shift } => {
                        dst.iter_mut().zip(src).for_each(|(d, &m)| *d = (fan_in - m) as f32 * scale[o] + shift[o])
                    }
                }
            }
        },
    );
    y
}

/// The output buffer, shared by the row tasks, each of which writes its own disjoint cells.
#[derive(Clone, Copy)]
pub(crate) struct OutPtr(pub(crate) *mut f32);
// SAFETY: tasks write disjoint ranges (see `binary_conv2d_using`).
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}
impl OutPtr {
    pub(crate) fn at(self, offset: usize) -> *mut f32 {
        // SAFETY: callers pass offsets inside the buffer.
        unsafe { self.0.add(offset) }
    }
}

/// Binary dense layer: `a` packed as `[n][1][1][words]` (no border), weights as a 1x1 conv.
pub fn binary_dense(a: &PackedActivations, w: &PackedWeights, epilogue: Epilogue) -> Vec<f32> {
    assert!(a.h == 1 && a.w == 1 && w.kh == 1 && w.kw == 1, "dense layers take vectors and 1x1 weights");
    binary_conv2d(a, w, ConvGeometry { stride: 1, pad: 0, dilation: 1 }, epilogue)
}

/// One output row of one convolution: its inputs, where it is, and how wide.
#[derive(Clone, Copy)]
pub(crate) struct Row<'a> {
    pub(crate) a: &'a PackedActivations,
    pub(crate) w: &'a PackedWeights,
    pub(crate) g: ConvGeometry,
    pub(crate) img: usize,
    pub(crate) oy: usize,
    pub(crate) wo: usize,
}

/// Mismatch counts of one output row, `[out_stride][wo]` (channel-major, as NCHW wants them).
pub(crate) fn row(kernel: Kernel, r: Row, mis: &mut [u32]) {
    match kernel {
        // SAFETY: `binary_conv2d_using` checked that the CPU has the kernel's features; all
        // indices are in bounds by the shapes it asserted.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 => unsafe { row_avx512(r, mis) },
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => unsafe { crate::avx2::row(r, mis) },
        #[cfg(target_arch = "x86_64")]
        Kernel::Popcnt => unsafe { row_popcnt(r, mis) },
        _ => row_scalar(r, mis),
    }
}

/// Index of the first word of a pixel (in border coordinates).
#[inline(always)]
fn pixel(a: &PackedActivations, img: usize, y: usize, x: usize) -> usize {
    let (hp, wp) = (a.h + 2 * a.pad, a.w + 2 * a.pad);
    ((img * hp + y) * wp + x) * a.words
}

/// The scalar kernel compiled with the `popcnt` instruction (x86-64's baseline lacks it).
///
/// # Safety
/// The CPU must have `popcnt` (the caller checks `is_x86_feature_detected!`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
unsafe fn row_popcnt(r: Row, mis: &mut [u32]) {
    row_scalar(r, mis)
}

#[inline(always)]
fn row_scalar(r: Row, mis: &mut [u32]) {
    let Row { a, w, g, img, oy, wo } = r;
    let os = w.out_stride;
    let mut acc = vec![0u32; os];
    for ox in 0..wo {
        acc.fill(0);
        for ky in 0..w.kh {
            for kx in 0..w.kw {
                let p = pixel(a, img, oy * g.stride + ky * g.dilation, ox * g.stride + kx * g.dilation);
                for wi in 0..a.words {
                    let av = a.data[p + wi];
                    let ws = &w.data[((ky * w.kw + kx) * w.words + wi) * os..][..os];
                    for (c, &wv) in acc.iter_mut().zip(ws) {
                        *c += (av ^ wv).count_ones();
                    }
                }
            }
        }
        for (o, &m) in acc.iter().enumerate() {
            mis[o * wo + ox] = m;
        }
    }
}

/// # Safety
/// The CPU must have AVX-512F and VPOPCNTDQ (the caller checks `features::has_avx512()`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vpopcntdq")]
unsafe fn row_avx512(r: Row, mis: &mut [u32]) {
    // Blocks of 64 output channels (eight vectors of counters, kept in registers), then 32, 16, 8.
    let vectors = r.w.out_stride / 8;
    let mut v0 = 0;
    while v0 < vectors {
        // SAFETY: the caller checked the CPU features; `v0 + NV <= vectors`.
        unsafe {
            match vectors - v0 {
                8.. => block_avx512::<8>(r, v0, mis),
                4..=7 => block_avx512::<4>(r, v0, mis),
                2..=3 => block_avx512::<2>(r, v0, mis),
                _ => block_avx512::<1>(r, v0, mis),
            }
        }
        v0 += match vectors - v0 {
            8.. => 8,
            4..=7 => 4,
            2..=3 => 2,
            _ => 1,
        };
    }
}

/// `NV` vectors of output channels from vector `v0`, for every pixel of the row.
///
/// # Safety
/// As [`row_avx512`]; `v0 + NV` vectors lie inside the row's output channels.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vpopcntdq")]
#[inline]
unsafe fn block_avx512<const NV: usize>(r: Row, v0: usize, mis: &mut [u32]) {
    use std::arch::x86_64::*;
    let Row { a, w, g, img, oy, wo } = r;
    let os = w.out_stride;
    // SAFETY: indices stay within the packed buffers (shapes asserted by the caller); `mis` holds
    // `out_stride * wo` counters.
    unsafe {
        for ox in 0..wo {
            let mut acc = [_mm512_setzero_si512(); NV];
            for ky in 0..w.kh {
                for kx in 0..w.kw {
                    let p = pixel(a, img, oy * g.stride + ky * g.dilation, ox * g.stride + kx * g.dilation);
                    let ap = a.data.as_ptr().add(p);
                    let wbase = w.data.as_ptr().add((ky * w.kw + kx) * w.words * os + v0 * 8);
                    for wi in 0..a.words {
                        let av = _mm512_set1_epi64(*ap.add(wi) as i64);
                        let wp = wbase.add(wi * os);
                        for (j, acc_j) in acc.iter_mut().enumerate() {
                            let wv = _mm512_loadu_si512(wp.add(j * 8) as *const _);
                            *acc_j = _mm512_add_epi64(*acc_j, _mm512_popcnt_epi64(_mm512_xor_si512(av, wv)));
                        }
                    }
                }
            }
            for (j, acc_j) in acc.iter().enumerate() {
                let counts = _mm512_cvtepi64_epi32(*acc_j); // 8 x u32
                let mut lanes = [0u32; 8];
                _mm256_storeu_si256(lanes.as_mut_ptr() as *mut _, counts);
                for (l, &m) in lanes.iter().enumerate() {
                    *mis.get_unchecked_mut(((v0 + j) * 8 + l) * wo + ox) = m;
                }
            }
        }
    }
}
