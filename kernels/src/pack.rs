//! Packing float tensors into sign bits.
//!
//! Activations: NHWC with channels packed into `u64` words (`words = ceil(C / 64)` per pixel),
//! stored with a zero (all -1) border of `pad` pixels so the convolution never branches on
//! bounds. Weights: transposed to `[kh][kw][word][out]` so one input word meets a run of output
//! channels, which is the axis the vector kernel works along. Unused bits are zero in both, so
//! they never count as a mismatch.

/// Stride, padding and dilation of a square convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// Signs of an NCHW tensor, packed with a `pad`-pixel border of -1.
pub fn pack_activations(x: &[f32], [n, c, h, w]: [usize; 4], pad: usize) -> PackedActivations {
    assert_eq!(x.len(), n * c * h * w, "activation data does not match its shape");
    let words = words_for(c);
    let (hp, wp) = (h + 2 * pad, w + 2 * pad);
    let mut data = vec![0u64; n * hp * wp * words];
    for img in 0..n {
        let out = &mut data[img * hp * wp * words..(img + 1) * hp * wp * words];
        for ch in 0..c {
            let plane = &x[(img * c + ch) * h * w..(img * c + ch + 1) * h * w];
            let (word, bit) = (ch / 64, 1u64 << (ch % 64));
            for y in 0..h {
                let row = &plane[y * w..(y + 1) * w];
                let base = ((y + pad) * wp + pad) * words + word;
                for (xx, &v) in row.iter().enumerate() {
                    // Branch-free: the bit is set where v >= 0 (NaN packs as -1).
                    out[base + xx * words] |= bit * u64::from(v >= 0.0);
                }
            }
        }
    }
    PackedActivations { n, c, h, w, pad, words, data }
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
