//! AVX2 variants of the packed kernels, for the x86-64 CPUs without AVX-512 VPOPCNTDQ (Intel
//! desktop parts since Alder Lake, AMD Zen 1-3, many cloud VMs).
//!
//! AVX2 has no vector popcount, so a 256-bit vector's bits are counted a nibble at a time with a
//! 16-entry table in a `vpshufb` (Mula's method): two shuffles, three logic ops and an add give
//! 32 byte counts. The conv adds those byte counts up for up to 31 steps (8 x 31 < 256, no byte
//! overflows) before `vpsadbw` widens them into the four 64-bit counters of a vector, so the
//! widening costs one instruction per 31 steps, not one per step. Same integers as the scalar
//! kernel: the counts are exact.

use std::arch::x86_64::*;

use crate::cpu::{Epilogue, Row};

/// Steps whose byte counts (at most 8 a byte each) fit in a byte.
const STEPS_PER_FLUSH: usize = 31;

/// Output channels a block covers: two vectors of four 64-bit counters.
const NV: usize = 2;
/// Pixels a block covers where the row has that many left. Blocks of 2 vectors x 4 pixels: each
/// weight vector loaded meets four input words, and the eight byte counters, two weight vectors
/// and the table fit AVX2's sixteen registers.
const NP: usize = 4;

/// Mismatch counts of one output row, `[out_stride][wo]` channel-major, as `cpu::row` gives them.
///
/// # Safety
/// The CPU must have AVX2 (the caller checks `features::has_avx2()`); the row's shapes are the
/// ones `binary_conv2d_using` or `binary_conv2d_into` asserted, and `mis` holds
/// `out_stride * wo` counters.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn row(r: Row, mis: &mut [u32]) {
    let wo = r.wo;
    // SAFETY: forwarded from the caller; `for_blocks` keeps blocks inside the row.
    unsafe {
        for_blocks(r, |v0, ox, total: &[[__m256i; NV]]| {
            for (p, total_p) in total.iter().enumerate() {
                for (j, t) in total_p.iter().enumerate() {
                    let mut lanes = [0u64; 4];
                    _mm256_storeu_si256(lanes.as_mut_ptr() as *mut _, *t);
                    for (l, &m) in lanes.iter().enumerate() {
                        *mis.get_unchecked_mut(((v0 + j) * 4 + l) * wo + ox + p) = m as u32;
                    }
                }
            }
        })
    }
}

/// One output row written NHWC through the epilogue: pixel `ox`'s channel `o` at
/// `out[ox * stride + o]`, the row's `w.out` channels only.
///
/// # Safety
/// As [`row`]; `out` must point to room for the row's pixels that no other task writes meanwhile.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn row_into(r: Row, e: Epilogue, out: *mut f32, stride: usize) {
    let k = _mm256_set1_epi32(r.w.fan_in() as i32);
    let outs = r.w.out;
    // The two vectors' eight 64-bit counts as eight 32-bit lanes, in channel order.
    let order = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    // SAFETY: forwarded from the caller; channel loads and stores are masked to `w.out`.
    unsafe {
        for_blocks(r, |v0, ox, total: &[[__m256i; NV]]| {
            let o = v0 * 4;
            let n = 8.min(outs - o.min(outs));
            if n == 0 {
                return; // the padding of `out` to `out_stride`
            }
            let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            let (scale, shift) = match e {
                Epilogue::Affine { scale, shift } => {
                    (_mm256_maskload_ps(scale.as_ptr().add(o), mask), _mm256_maskload_ps(shift.as_ptr().add(o), mask))
                }
                _ => (_mm256_setzero_ps(), _mm256_setzero_ps()),
            };
            for (p, t) in total.iter().enumerate() {
                // Lanes 0, 2 of each 128-bit half hold the counts (they fit 32 bits): pick them.
                let lo32 = _mm256_permutevar8x32_epi32(t[0], order);
                let hi32 = _mm256_permutevar8x32_epi32(t[1], order);
                let mis = _mm256_permute2x128_si256::<0x20>(lo32, hi32);
                let v = match e {
                    Epilogue::Dot => _mm256_sub_epi32(k, _mm256_add_epi32(mis, mis)),
                    _ => _mm256_sub_epi32(k, mis),
                };
                let mut v = _mm256_cvtepi32_ps(v);
                if let Epilogue::Affine { .. } = e {
                    // Two roundings, as the float path's batch norm, never a fused one.
                    v = _mm256_add_ps(_mm256_mul_ps(v, scale), shift);
                }
                _mm256_maskstore_ps(out.add((ox + p) * stride + o), mask, v);
            }
        })
    }
}

/// Runs [`block`] over the row, `NV` vectors by `NP` pixels (one pixel at a time at the row's
/// end), handing `sink(v0, ox, totals)` each block's counts, `totals[p][j]` pixel `ox + p`'s
/// channels `(v0 + j) * 4..+4`.
///
/// # Safety
/// As [`row`].
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn for_blocks(r: Row, mut sink: impl FnMut(usize, usize, &[[__m256i; NV]])) {
    // Four output channels a vector; `out_stride` is a multiple of 8, so vectors come in pairs.
    let vectors = r.w.out_stride / 4;
    for v0 in (0..vectors).step_by(NV) {
        let mut ox = 0;
        while ox < r.wo {
            // SAFETY: forwarded from the caller; `v0 + NV <= vectors`, `ox + pixels <= wo`.
            unsafe {
                if r.wo - ox >= NP {
                    sink(v0, ox, &block::<NP>(r, v0, ox));
                    ox += NP;
                } else {
                    sink(v0, ox, &block::<1>(r, v0, ox));
                    ox += 1;
                }
            }
        }
    }
}

/// Byte-wise popcount of `v`: 32 counts of 0..=8.
#[target_feature(enable = "avx2")]
#[inline]
fn popcnt_bytes(v: __m256i, table: __m256i, low: __m256i) -> __m256i {
    let lo = _mm256_and_si256(v, low);
    let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(v), low);
    _mm256_add_epi8(_mm256_shuffle_epi8(table, lo), _mm256_shuffle_epi8(table, hi))
}

/// Mismatch counts of `NV` vectors of four output channels from vector `v0`, for `P` pixels from
/// `ox`: four 64-bit counters a vector.
///
/// # Safety
/// As [`row`]; `v0 + NV` vectors and `ox + P` pixels lie inside the row.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn block<const P: usize>(r: Row, v0: usize, ox: usize) -> [[__m256i; NV]; P] {
    let Row { a, w, g, img, oy, .. } = r;
    let os = w.out_stride;
    let (hp, wp) = (a.h + 2 * a.pad, a.w + 2 * a.pad);
    #[rustfmt::skip]
    let table = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    let low = _mm256_set1_epi8(0x0f);
    let zero = _mm256_setzero_si256();
    let mut bytes = [[zero; NV]; P];
    let mut total = [[zero; NV]; P];
    let mut pending = 0;
    // A macro, not a closure: the byte counters must stay in registers (a closure borrowing
    // them kept them on the stack, a load and a store around every add).
    macro_rules! flush {
        () => {
            for p in 0..P {
                for j in 0..NV {
                    total[p][j] = _mm256_add_epi64(total[p][j], _mm256_sad_epu8(bytes[p][j], zero));
                    bytes[p][j] = zero;
                }
            }
        };
    }
    // With stride and dilation 1, a window row's pixels are consecutive in both layouts, so its
    // `kw * words` words are one run (as in the AVX-512 NHWC kernel).
    let dense = g.stride == 1 && g.dilation == 1;
    // SAFETY: every index stays inside the packed buffers (shapes asserted by the caller).
    unsafe {
        for ky in 0..w.kh {
            let row_base = (img * hp + oy * g.stride + ky * g.dilation) * wp;
            for kx in 0..if dense { 1 } else { w.kw } {
                let ap: [*const u64; P] = std::array::from_fn(|p| {
                    let x = (ox + p) * g.stride + kx * g.dilation;
                    a.data.as_ptr().add((row_base + x) * a.words)
                });
                let wbase = w.data.as_ptr().add((ky * w.kw + kx) * w.words * os + v0 * 4);
                for t in 0..if dense { w.kw * a.words } else { a.words } {
                    if pending == STEPS_PER_FLUSH {
                        flush!();
                        pending = 0;
                    }
                    let wq = wbase.add(t * os);
                    let w0 = _mm256_loadu_si256(wq as *const _);
                    let w1 = _mm256_loadu_si256(wq.add(4) as *const _);
                    for p in 0..P {
                        let av = _mm256_set1_epi64x(*ap[p].add(t) as i64);
                        bytes[p][0] = _mm256_add_epi8(bytes[p][0], popcnt_bytes(_mm256_xor_si256(av, w0), table, low));
                        bytes[p][1] = _mm256_add_epi8(bytes[p][1], popcnt_bytes(_mm256_xor_si256(av, w1), table, low));
                    }
                    pending += 1;
                }
            }
        }
    }
    flush!();
    total
}

/// Packs one pixel's `c` channels (from `px[0]`) by per-channel bounds into `out`'s words, eight
/// channels a compare: bit set where `lo <= v <= hi` (ordered compares: NaN never).
///
/// # Safety
/// The CPU must have AVX2; `px` holds the pixel's `c` values, `lo`/`hi` `c` bounds, `out`
/// `ceil(c / 64)` words.
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) unsafe fn pack_pixel_bounded(px: &[f32], lo: &[f32], hi: &[f32], out: &mut [u64]) {
    let c = px.len();
    let full = c / 8 * 8;
    // SAFETY: loads of eight floats start at most at `full - 8`, inside all three slices.
    unsafe {
        for (word, o) in out.iter_mut().enumerate() {
            let start = word * 64;
            let end = (start + 64).min(full);
            let mut bits = 0u64;
            let mut ch = start;
            while ch < end {
                let v = _mm256_loadu_ps(px.as_ptr().add(ch));
                let l = _mm256_loadu_ps(lo.as_ptr().add(ch));
                let h = _mm256_loadu_ps(hi.as_ptr().add(ch));
                let inside = _mm256_and_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(v, l), _mm256_cmp_ps::<_CMP_LE_OQ>(v, h));
                bits |= (_mm256_movemask_ps(inside) as u32 as u64) << (ch - start);
                ch += 8;
            }
            for ch in ch.max(start)..(start + 64).min(c) {
                let v = px[ch];
                bits |= u64::from(lo[ch] <= v && v <= hi[ch]) << (ch - start);
            }
            *o = bits;
        }
    }
}

/// Packs the signs of `bits` channel rows into per-pixel words, eight pixels a compare:
/// `rows(bit)` is channel `bit`'s row of `w` floats, `out[x]` pixel x's word (overwritten).
///
/// # Safety
/// The CPU must have AVX2; every row holds `w` floats, `out` at least `w` words.
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) unsafe fn pack_signs<'a>(rows: impl Fn(usize) -> &'a [f32], bits: usize, w: usize, out: &mut [u64]) {
    let full = w / 8 * 8;
    let zero = _mm256_setzero_ps();
    // SAFETY: loads of eight floats start at most at `full - 8` of a `w`-float row; stores of
    // four words at most at `full - 4` of `out`.
    unsafe {
        for x0 in (0..full).step_by(8) {
            let (mut lo, mut hi) = (_mm256_setzero_si256(), _mm256_setzero_si256());
            for bit in 0..bits {
                let v = _mm256_loadu_ps(rows(bit).as_ptr().add(x0));
                // All ones in the lanes of pixels >= 0, widened to 64 bits, keep the bit.
                let k = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_GE_OQ>(v, zero));
                let b = _mm256_set1_epi64x((1u64 << bit) as i64);
                let k_lo = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(k));
                let k_hi = _mm256_cvtepi32_epi64(_mm256_extracti128_si256::<1>(k));
                lo = _mm256_or_si256(lo, _mm256_and_si256(k_lo, b));
                hi = _mm256_or_si256(hi, _mm256_and_si256(k_hi, b));
            }
            _mm256_storeu_si256(out.as_mut_ptr().add(x0) as *mut _, lo);
            _mm256_storeu_si256(out.as_mut_ptr().add(x0 + 4) as *mut _, hi);
        }
        for (x, o) in out.iter_mut().enumerate().take(w).skip(full) {
            *o = (0..bits).fold(0, |acc, bit| acc | u64::from(rows(bit)[x] >= 0.0) << bit);
        }
    }
}
