//! NHWC entry points for an inference plan: signs packed straight from a channel range of a float
//! buffer by per-channel bounds (a folded batch norm + sign), and the binary conv writing its
//! epilogue into a channel range of an NHWC buffer, so concatenations cost no copy.
//!
//! The conv here blocks registers over pixels as well as output channels (four pixels x four
//! vectors of eight counters): each weight vector loaded meets four broadcast input words, where
//! the NCHW kernel in [`crate::cpu`] loads one weight vector per popcount.

use crate::cpu::{Epilogue, Kernel, Row, out_size};
use crate::pack::{ConvGeometry, PackedActivations, PackedWeights, words_for};

/// A channel range of an NHWC float buffer: pixel `p`'s channel `i` is `data[p * stride + offset + i]`.
#[derive(Clone, Copy, Debug)]
pub struct Channels<'a> {
    pub data: &'a [f32],
    pub stride: usize,
    pub offset: usize,
    pub c: usize,
}

/// Per-channel closed intervals: a value packs as +1 when `lo[c] <= x <= hi[c]` (NaN never does).
/// A batch norm followed by the sign is such an interval on the norm's input (see the plan's
/// folding), the plain sign `[0, +inf]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Bounds {
    pub lo: Vec<f32>,
    pub hi: Vec<f32>,
}

impl Bounds {
    /// The plain sign of `c` channels: +1 at zero and above.
    pub fn sign(c: usize) -> Bounds {
        Bounds { lo: vec![0.0; c], hi: vec![f32::INFINITY; c] }
    }
}

impl PackedActivations {
    /// An all -1 buffer of this shape (its border stays so; [`pack_bounded`] fills the interior).
    pub fn zeros(n: usize, c: usize, h: usize, w: usize, pad: usize) -> PackedActivations {
        let words = words_for(c);
        PackedActivations { n, c, h, w, pad, words, data: vec![0; n * (h + 2 * pad) * (w + 2 * pad) * words] }
    }
}

/// Pack `src` (`n` images of `h x w` pixels) into `dst`'s interior: bit set where the value lies
/// in its channel's bounds. `dst` must have the shape `[n][src.c][h][w]`.
pub fn pack_bounded(src: Channels, n: usize, bounds: &Bounds, dst: &mut PackedActivations) {
    pack_bounded_using(Kernel::widest(), src, n, bounds, dst)
}

/// [`pack_bounded`] with the instructions of `kernel` (AVX-512, AVX2, else none), which the CPU
/// must support (see [`Kernel::available`]).
pub fn pack_bounded_using(kernel: Kernel, src: Channels, n: usize, bounds: &Bounds, dst: &mut PackedActivations) {
    assert!(kernel.supported(), "this CPU cannot run the {} kernel", kernel.name());
    let (c, h, w) = (src.c, dst.h, dst.w);
    assert!(dst.n == n && dst.c == c, "packed buffer shape differs from the source");
    assert!(bounds.lo.len() == c && bounds.hi.len() == c, "one bound per channel");
    assert!(n * h * w == 0 || (n * h * w - 1) * src.stride + src.offset + c <= src.data.len());
    let (pad, words) = (dst.pad, dst.words);
    let wp = w + 2 * pad;
    let hp = h + 2 * pad;
    let row = |(r, out): (usize, &mut [u64])| {
        let (img, yp) = (r / hp, r % hp);
        if yp < pad || yp >= pad + h {
            return; // border rows stay -1
        }
        let first = (img * h + yp - pad) * w * src.stride + src.offset;
        let out = &mut out[pad * words..][..w * words];
        #[cfg(target_arch = "x86_64")]
        match kernel {
            // SAFETY: the CPU has the kernel's features (asserted); the row's pixels lie in
            // `src.data` (asserted).
            Kernel::Avx512 => return unsafe { pack_row_avx512(&src.data[first..], src.stride, c, w, bounds, out) },
            Kernel::Avx2 => {
                for x in 0..w {
                    let px = &src.data[first + x * src.stride..][..c];
                    let out = &mut out[x * words..][..words];
                    unsafe { crate::avx2::pack_pixel_bounded(px, &bounds.lo, &bounds.hi, out) };
                }
                return;
            }
            _ => {}
        }
        for x in 0..w {
            pack_pixel(&src.data[first + x * src.stride..][..c], bounds, &mut out[x * words..][..words]);
        }
    };
    // Rows of the packed buffer (border rows included, skipped by `row`), handed out in blocks.
    let out = crate::pool::SharedMut(dst.data.as_mut_ptr());
    let row_len = wp * words;
    crate::pool::for_rows(n * hp, n * h * w * c / 4, &|rows| {
        for r in rows {
            // SAFETY: row `r` is this task's alone and lies inside `dst.data`.
            row((r, unsafe { out.slice(r * row_len, row_len) }));
        }
    });
}

#[inline]
fn pack_pixel(px: &[f32], b: &Bounds, dst: &mut [u64]) {
    for (word, d) in dst.iter_mut().enumerate() {
        let mut bits = 0u64;
        for bit in 0..64.min(px.len() - word * 64) {
            let ch = word * 64 + bit;
            let v = px[ch];
            bits |= u64::from(b.lo[ch] <= v && v <= b.hi[ch]) << bit;
        }
        *d = bits;
    }
}

/// One row of `w` pixels (`stride` apart from `px[0]`) with AVX-512, 16 channels per compare.
/// A word's bounds are loaded once per row when the pixel has one word (they stay in registers),
/// else per pixel (from L1), so each pixel is read once, in order.
///
/// # Safety
/// The CPU must have AVX-512F (the caller checks `features::has_avx512()`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn pack_row_avx512(px: &[f32], stride: usize, c: usize, w: usize, b: &Bounds, out: &mut [u64]) {
    use std::arch::x86_64::*;
    struct Word {
        parts: usize,
        mask: [u16; 4],
        lo: [__m512; 4],
        hi: [__m512; 4],
    }
    let words = c.div_ceil(64);
    // SAFETY: loads are masked to the `c` channels of each pixel and of the bounds; pixel x of
    // the row starts at `x * stride` inside `px` (asserted by the caller); stores stay in `out`.
    unsafe {
        let load = |word: usize| {
            let parts = (c - word * 64).div_ceil(16).min(4);
            let mut wd = Word { parts, mask: [0; 4], lo: [_mm512_setzero_ps(); 4], hi: [_mm512_setzero_ps(); 4] };
            for part in 0..parts {
                let ch = word * 64 + part * 16;
                let n16 = 16.min(c - ch);
                wd.mask[part] = if n16 == 16 { 0xffff } else { (1u16 << n16) - 1 };
                wd.lo[part] = _mm512_maskz_loadu_ps(wd.mask[part], b.lo.as_ptr().add(ch));
                wd.hi[part] = _mm512_maskz_loadu_ps(wd.mask[part], b.hi.as_ptr().add(ch));
            }
            wd
        };
        let pack = |x: usize, word: usize, wd: &Word| {
            let p = px.as_ptr().add(x * stride + word * 64);
            let mut bits = 0u64;
            for part in 0..wd.parts {
                let v = _mm512_maskz_loadu_ps(wd.mask[part], p.add(part * 16));
                let k = _mm512_mask_cmp_ps_mask::<_CMP_GE_OQ>(wd.mask[part], v, wd.lo[part])
                    & _mm512_cmp_ps_mask::<_CMP_LE_OQ>(v, wd.hi[part]);
                bits |= u64::from(k) << (part * 16);
            }
            bits
        };
        if words == 1 {
            let wd = load(0);
            for (x, o) in out.iter_mut().enumerate().take(w) {
                *o = pack(x, 0, &wd);
            }
        } else {
            for x in 0..w {
                for word in 0..words {
                    *out.get_unchecked_mut(x * words + word) = pack(x, word, &load(word));
                }
            }
        }
    }
}

/// A channel range of an NHWC output buffer, written by [`binary_conv2d_into`].
pub struct ChannelsMut<'a> {
    pub data: &'a mut [f32],
    pub stride: usize,
    pub offset: usize,
}

/// Binary convolution into `dst`: output pixel `(img, y, x)`, channel `o` goes to
/// `dst.data[((img * ho + y) * wo + x) * dst.stride + dst.offset + o]`; other channels of the
/// buffer are left alone. Same integers as [`crate::binary_conv2d`].
pub fn binary_conv2d_into(
    kernel: Kernel,
    a: &PackedActivations,
    w: &PackedWeights,
    g: ConvGeometry,
    epilogue: Epilogue,
    dst: ChannelsMut,
) {
    assert!(kernel.supported(), "this CPU cannot run the {} kernel", kernel.name());
    assert_eq!(a.c, w.c, "input channels of activations and weights differ");
    assert_eq!(a.pad, g.pad, "activations must be packed with the convolution's padding");
    assert!(g.stride >= 1 && g.dilation >= 1);
    let (ho, wo) = (out_size(a.h, w.kh, g), out_size(a.w, w.kw, g));
    let pixels = a.n * ho * wo;
    assert!(pixels == 0 || (pixels - 1) * dst.stride + dst.offset + w.out <= dst.data.len(), "output too small");
    if let Epilogue::Affine { scale, shift } = epilogue {
        assert!(scale.len() >= w.out && shift.len() >= w.out);
    }
    let out = crate::cpu::OutPtr(dst.data.as_mut_ptr());
    let (stride, offset) = (dst.stride, dst.offset);
    let task = |r: usize, mis: &mut Vec<u32>| {
        let (img, oy) = (r / ho, r % ho);
        let row =
            RowOut { row: Row { a, w, g, img, oy, wo }, out, stride, offset: offset + (img * ho + oy) * wo * stride };
        #[cfg(target_arch = "x86_64")]
        if kernel == Kernel::Avx512 {
            // SAFETY: the CPU has the kernel's features (asserted); shapes and the output range
            // were checked above; rows write disjoint pixels.
            unsafe { row_avx512(row, epilogue) };
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if kernel == Kernel::Avx2 {
            // SAFETY: as above, with AVX2.
            unsafe { crate::avx2::row_into(row.row, epilogue, out.at(row.offset), stride) };
            return;
        }
        mis.resize(w.out_stride * wo, 0);
        crate::cpu::row(kernel, row.row, mis);
        let k = w.fan_in() as u32;
        for ox in 0..wo {
            // SAFETY: as above; this row's pixels are written by this task only.
            let px = unsafe { std::slice::from_raw_parts_mut(out.at(row.offset + ox * stride), w.out) };
            for (o, d) in px.iter_mut().enumerate() {
                *d = apply(epilogue, k, mis[o * wo + ox], o);
            }
        }
    };
    // Bit operations: about a nanosecond per 2^10 on one core.
    crate::pool::for_rows(a.n * ho, (pixels * w.out * w.fan_in()) >> 10, &|rows| {
        let mut mis = Vec::new();
        rows.for_each(|r| task(r, &mut mis));
    });
}

/// The epilogue of one output from its mismatch count.
#[inline(always)]
fn apply(e: Epilogue, k: u32, mis: u32, o: usize) -> f32 {
    let m = (k - mis) as f32;
    match e {
        Epilogue::Matches => m,
        Epilogue::Dot => (k as i32 - 2 * mis as i32) as f32,
        // Two roundings, as the float path's batch norm (`x * scale + shift`), never a fused one.
        Epilogue::Affine { scale, shift } => m * scale[o] + shift[o],
    }
}

/// One output row and where it goes.
#[derive(Clone, Copy)]
struct RowOut<'a> {
    row: Row<'a>,
    out: crate::cpu::OutPtr,
    stride: usize,
    /// Index of the row's first output channel in the buffer.
    offset: usize,
}

/// # Safety
/// The CPU must have AVX-512F, VL and VPOPCNTDQ (the caller checks `features::has_avx512()`); `r.out`
/// must point to room for the row's outputs that no other task writes meanwhile.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512vpopcntdq")]
unsafe fn row_avx512(r: RowOut, e: Epilogue) {
    let vectors = r.row.w.out_stride / 8;
    let mut v0 = 0;
    while v0 < vectors {
        let nv = (vectors - v0).min(4);
        let mut ox = 0;
        while ox < r.row.wo {
            let np = if r.row.wo - ox >= 4 { 4 } else { 1 };
            // SAFETY: forwarded from the caller; `v0 + nv <= vectors`, `ox + np <= wo`.
            unsafe {
                match (nv, np) {
                    (4, 4) => block::<4, 4>(r, e, v0, ox),
                    (4, _) => block::<4, 1>(r, e, v0, ox),
                    (3, 4) => block::<3, 4>(r, e, v0, ox),
                    (3, _) => block::<3, 1>(r, e, v0, ox),
                    (2, 4) => block::<2, 4>(r, e, v0, ox),
                    (2, _) => block::<2, 1>(r, e, v0, ox),
                    (_, 4) => block::<1, 4>(r, e, v0, ox),
                    _ => block::<1, 1>(r, e, v0, ox),
                }
            }
            ox += np;
        }
        v0 += nv;
    }
}

/// `NV` vectors of eight output channels from vector `v0`, for `NP` pixels from `ox`.
///
/// # Safety
/// As [`row_avx512`]; `v0 + NV` vectors and `ox + NP` pixels lie inside the row.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512vpopcntdq")]
#[inline]
unsafe fn block<const NV: usize, const NP: usize>(r: RowOut, e: Epilogue, v0: usize, ox: usize) {
    use std::arch::x86_64::*;
    let Row { a, w, g, img, oy, .. } = r.row;
    let os = w.out_stride;
    let (hp, wp) = (a.h + 2 * a.pad, a.w + 2 * a.pad);
    // SAFETY: every index stays inside the packed buffers (shapes asserted by the caller); stores
    // are masked to the layer's `out` channels of this row's pixels.
    unsafe {
        let mut acc = [[_mm512_setzero_si512(); NV]; NP];
        // One run of `len` input words against `len` weight words (`os` apart) per pixel.
        let mut run = |ap: [*const u64; NP], wbase: *const u64, len: usize| {
            for t in 0..len {
                let wp = wbase.add(t * os);
                let mut wv = [_mm512_setzero_si512(); NV];
                for (j, wv) in wv.iter_mut().enumerate() {
                    *wv = _mm512_loadu_si512(wp.add(j * 8) as *const _);
                }
                for p in 0..NP {
                    let av = _mm512_set1_epi64(*ap[p].add(t) as i64);
                    for j in 0..NV {
                        acc[p][j] = _mm512_add_epi64(acc[p][j], _mm512_popcnt_epi64(_mm512_xor_si512(av, wv[j])));
                    }
                }
            }
        };
        // With stride and dilation 1, a window row's pixels are consecutive in both layouts, so
        // its `kw * words` words are one run (one pointer set-up per kernel row, not per tap).
        let dense = g.stride == 1 && g.dilation == 1;
        for ky in 0..w.kh {
            let y = oy * g.stride + ky * g.dilation;
            let row_base = (img * hp + y) * wp;
            for kx in 0..if dense { 1 } else { w.kw } {
                let mut ap = [std::ptr::null::<u64>(); NP];
                for (p, ap) in ap.iter_mut().enumerate() {
                    let x = (ox + p) * g.stride + kx * g.dilation;
                    *ap = a.data.as_ptr().add((row_base + x) * a.words);
                }
                let wbase = w.data.as_ptr().add((ky * w.kw + kx) * w.words * os + v0 * 8);
                run(ap, wbase, if dense { w.kw * a.words } else { a.words });
            }
        }
        let k = _mm256_set1_epi32(w.fan_in() as i32);
        for (p, acc_p) in acc.iter().enumerate() {
            let dst = r.out.at(r.offset + (ox + p) * r.stride);
            for (j, acc_j) in acc_p.iter().enumerate() {
                let o = (v0 + j) * 8;
                let mis = _mm512_cvtepi64_epi32(*acc_j);
                let v = match e {
                    Epilogue::Dot => _mm256_sub_epi32(k, _mm256_add_epi32(mis, mis)),
                    _ => _mm256_sub_epi32(k, mis),
                };
                let mut v = _mm256_cvtepi32_ps(v);
                if let Epilogue::Affine { scale, shift } = e {
                    let n = 8.min(w.out - o);
                    let m: __mmask8 = if n == 8 { 0xff } else { (1u8 << n) - 1 };
                    let s = _mm256_maskz_loadu_ps(m, scale.as_ptr().add(o));
                    let t = _mm256_maskz_loadu_ps(m, shift.as_ptr().add(o));
                    v = _mm256_add_ps(_mm256_mul_ps(v, s), t);
                }
                let n = 8.min(w.out - o);
                let m: __mmask8 = if n == 8 { 0xff } else { (1u8 << n) - 1 };
                _mm256_mask_storeu_ps(dst.add(o), m, v);
            }
        }
    }
}
