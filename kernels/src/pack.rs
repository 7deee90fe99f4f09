//! Packing float tensors into sign bits.
//!
//! Activations: NHWC with channels packed into `u64` words (`words = ceil(C / 64)` per pixel),
//! stored with a zero (all -1) border of `pad` pixels so the convolution never branches on
//! bounds. Weights: transposed to `[kh][kw][word][out]` so one input word meets a run of output
//! channels, which is the axis the vector kernel works along. Unused bits are zero in both, so
//! they never count as a mismatch.

use crate::cpu::Kernel;

/// Stride, padding and dilation of a square convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConvGeometry {
    pub stride: usize,
    pub pad: usize,
    pub dilation: usize,
}

#[derive(Clone, Debug)]
pub struct PackedActivations {
    pub n: usize,
    pub c: usize,
    /// Spatial size without the border.
    pub h: usize,
    pub w: usize,
    /// Border width (zero bits = -1).
    pub pad: usize,
    pub words: usize,
    /// `[n][h + 2 pad][w + 2 pad][words]`.
    pub data: Vec<u64>,
}

impl PackedActivations {
    pub fn bytes(&self) -> usize {
        self.data.len() * 8
    }
}

#[derive(Clone, Debug)]
pub struct PackedWeights {
    pub out: usize,
    pub c: usize,
    pub kh: usize,
    pub kw: usize,
    pub words: usize,
    /// `out` rounded up to a multiple of 8 (one 512-bit vector of counters); the extra
    /// channels have zero weights and are never read back.
    pub out_stride: usize,
    /// `[kh][kw][words][out_stride]`.
    pub data: Vec<u64>,
}

impl PackedWeights {
    /// `K`, the length of each output's dot product.
    pub fn fan_in(&self) -> usize {
        self.c * self.kh * self.kw
    }
    /// Bytes of the packed bits proper (without the padding of `out` to `out_stride`).
    pub fn bytes(&self) -> usize {
        self.kh * self.kw * self.words * self.out * 8
    }
}

pub fn words_for(c: usize) -> usize {
    c.div_ceil(64)
}

/// Signs of an NCHW tensor, packed with a `pad`-pixel border of -1. Rows are packed in
/// parallel; within a row, 64 channels at a time are gathered into one word per pixel, reading
/// each channel's row contiguously.
pub fn pack_activations(x: &[f32], shape: [usize; 4], pad: usize) -> PackedActivations {
    pack_activations_using(Kernel::widest(), x, shape, pad)
}

/// [`pack_activations`] without SIMD: the reference the SIMD packers are tested against.
pub fn pack_activations_portable(x: &[f32], shape: [usize; 4], pad: usize) -> PackedActivations {
    pack_activations_using(Kernel::Portable, x, shape, pad)
}

/// [`pack_activations`] with the instructions of `kernel` (AVX-512, AVX2, else none), which the
/// CPU must support (see [`Kernel::available`]).
pub fn pack_activations_using(kernel: Kernel, x: &[f32], [n, c, h, w]: [usize; 4], pad: usize) -> PackedActivations {
    use rayon::prelude::*;
    assert!(kernel.supported(), "this CPU cannot run the {} kernel", kernel.name());
    assert_eq!(x.len(), n * c * h * w, "activation data does not match its shape");
    let words = words_for(c);
    let (hp, wp) = (h + 2 * pad, w + 2 * pad);
    let mut data = vec![0u64; n * hp * wp * words];
    data.par_chunks_mut(wp * words).enumerate().for_each_init(
        || vec![0u64; w],
        |tmp, (r, out_row)| {
            let (img, yp) = (r / hp, r % hp);
            if yp < pad || yp >= pad + h {
                return; // border rows stay -1
            }
            let y = yp - pad;
            #[cfg(target_arch = "x86_64")]
            if kernel == Kernel::Avx512 {
                // SAFETY: the CPU has AVX-512 (asserted); the row slices are in bounds.
                unsafe { pack_row_avx512(x, [c, h, w], img, y, pad, words, out_row) };
                return;
            }
            for word in 0..words {
                let bits = 64.min(c - word * 64);
                let rows = |bit: usize| &x[((img * c + word * 64 + bit) * h + y) * w..][..w];
                #[cfg(target_arch = "x86_64")]
                if kernel == Kernel::Avx2 {
                    // SAFETY: the CPU has AVX2 (asserted); each row holds `w` floats, `tmp` `w` words.
                    unsafe { crate::avx2::pack_signs(rows, bits, w, tmp) };
                } else {
                    pack_signs(rows, bits, tmp);
                }
                #[cfg(not(target_arch = "x86_64"))]
                pack_signs(rows, bits, tmp);
                for (xx, &t) in tmp.iter().enumerate() {
                    out_row[(pad + xx) * words + word] = t;
                }
            }
        },
    );
    PackedActivations { n, c, h, w, pad, words, data }
}

/// Pixel `x`'s word in `out[x]`: bit `bit` set where `rows(bit)[x] >= 0` (branch-free; NaN
/// packs as -1).
fn pack_signs<'a>(rows: impl Fn(usize) -> &'a [f32], bits: usize, out: &mut [u64]) {
    out.fill(0);
    for bit in 0..bits {
        for (t, &v) in out.iter_mut().zip(rows(bit)) {
            *t |= u64::from(v >= 0.0) << bit;
        }
    }
}

/// One row of [`pack_activations`] with AVX-512: 16 pixels of a channel compared at once, their
/// sign bits OR-ed into 16 per-pixel words held in two registers.
///
/// # Safety
/// The CPU must have AVX-512F (the caller checks `features::has_avx512()`); `out` and the row index lie
/// inside `x`'s image, as [`pack_activations`] computes them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn pack_row_avx512(
    x: &[f32],
    [c, h, w]: [usize; 3],
    img: usize,
    y: usize,
    pad: usize,
    words: usize,
    out_row: &mut [u64],
) {
    use std::arch::x86_64::*;
    // SAFETY: loads are masked to the row's `w` floats; stores stay inside `out_row`.
    unsafe {
        let zero = _mm512_setzero_ps();
        let mut lanes = [0u64; 16];
        for word in 0..words {
            let bits = 64.min(c - word * 64);
            for start in (0..w).step_by(16) {
                let n16 = 16.min(w - start);
                let valid: __mmask16 = if n16 == 16 { 0xffff } else { (1u16 << n16) - 1 };
                let (mut lo, mut hi) = (_mm512_setzero_si512(), _mm512_setzero_si512());
                for bit in 0..bits {
                    let ch = word * 64 + bit;
                    let p = x.as_ptr().add(((img * c + ch) * h + y) * w + start);
                    let v = _mm512_maskz_loadu_ps(valid, p);
                    let k = _mm512_mask_cmp_ps_mask::<_CMP_GE_OQ>(valid, v, zero);
                    let b = _mm512_set1_epi64((1u64 << bit) as i64);
                    lo = _mm512_mask_or_epi64(lo, k as u8, lo, b);
                    hi = _mm512_mask_or_epi64(hi, (k >> 8) as u8, hi, b);
                }
                _mm512_storeu_si512(lanes.as_mut_ptr() as *mut _, lo);
                _mm512_storeu_si512(lanes.as_mut_ptr().add(8) as *mut _, hi);
                for (i, &t) in lanes.iter().enumerate().take(n16) {
                    *out_row.get_unchecked_mut((pad + start + i) * words + word) = t;
                }
            }
        }
    }
}

/// Signs of `[out][c][kh][kw]` weights, packed and transposed for the kernel.
pub fn pack_weights(wt: &[f32], [out, c, kh, kw]: [usize; 4]) -> PackedWeights {
    assert_eq!(wt.len(), out * c * kh * kw, "weight data does not match its shape");
    let words = words_for(c);
    let out_stride = out.next_multiple_of(8);
    let mut data = vec![0u64; kh * kw * words * out_stride];
    for o in 0..out {
        for ch in 0..c {
            for ky in 0..kh {
                for kx in 0..kw {
                    if wt[((o * c + ch) * kh + ky) * kw + kx] >= 0.0 {
                        data[((ky * kw + kx) * words + ch / 64) * out_stride + o] |= 1u64 << (ch % 64);
                    }
                }
            }
        }
    }
    PackedWeights { out, c, kh, kw, words, out_stride, data }
}
