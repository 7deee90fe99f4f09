//! Every kernel against a reference that multiplies ±1 floats, position by position, with -1
//! padding: equal integers, for random shapes (channel counts that are not multiples of 64 too),
//! strides, paddings and dilations.

use lightnasc_kernels::cpu::out_size;
use lightnasc_kernels::{
    ConvGeometry, Epilogue, Kernel, binary_conv2d_using, binary_dense, pack_activations, pack_activations_portable,
    pack_activations_using, pack_weights,
};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> usize {
        (self.next() % n) as usize
    }
    /// Values around zero, exact zeros included (they binarise to +1).
    fn values(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| (self.below(9) as f32 - 4.0) * 0.25).collect()
    }
}

fn sign(v: f32) -> i64 {
    if v >= 0.0 { 1 } else { -1 }
}

/// (h + K) / 2 by the definition: h = sum of sign(x) sign(w), -1 outside the image.
fn reference(x: &[f32], [n, c, h, w]: [usize; 4], wt: &[f32], [o, _, k, _]: [usize; 4], g: ConvGeometry) -> Vec<f32> {
    let (ho, wo) = (out_size(h, k, g), out_size(w, k, g));
    let mut y = vec![0f32; n * o * ho * wo];
    for img in 0..n {
        for oc in 0..o {
            for oy in 0..ho {
                for ox in 0..wo {
                    let mut dot = 0i64;
                    for ic in 0..c {
                        for ky in 0..k {
                            for kx in 0..k {
                                let iy = (oy * g.stride + ky * g.dilation) as i64 - g.pad as i64;
                                let ix = (ox * g.stride + kx * g.dilation) as i64 - g.pad as i64;
                                let xv = if iy < 0 || ix < 0 || iy >= h as i64 || ix >= w as i64 {
                                    -1
                                } else {
                                    sign(x[((img * c + ic) * h + iy as usize) * w + ix as usize])
                                };
                                dot += xv * sign(wt[((oc * c + ic) * k + ky) * k + kx]);
                            }
                        }
                    }
                    let kk = (c * k * k) as i64;
                    y[((img * o + oc) * ho + oy) * wo + ox] = ((dot + kk) / 2) as f32;
                }
            }
        }
    }
    y
}

#[test]
fn every_kernel_equals_the_reference_on_random_shapes() {
    let mut rng = Rng(7);
    let kernels = Kernel::available();
    let mut cases = 0;
    for _ in 0..150 {
        let c = [1, 3, 37, 63, 64, 65, 70, 128, 130, 200][rng.below(10)];
        let o = [1, 5, 8, 13, 64, 70][rng.below(6)];
        let k = [1, 3, 3, 5][rng.below(4)];
        let g = ConvGeometry { stride: 1 + rng.below(2), pad: rng.below(4), dilation: 1 + rng.below(2) };
        let (n, h, w) = (1 + rng.below(2), 3 + rng.below(8), 3 + rng.below(8));
        if h + 2 * g.pad < g.dilation * (k - 1) + 1 || w + 2 * g.pad < g.dilation * (k - 1) + 1 {
            continue;
        }
        let x = rng.values(n * c * h * w);
        let wt = rng.values(o * c * k * k);
        let want = reference(&x, [n, c, h, w], &wt, [o, c, k, k], g);
        let a = pack_activations(&x, [n, c, h, w], g.pad);
        let pw = pack_weights(&wt, [o, c, k, k]);
        for &kernel in &kernels {
            let got = binary_conv2d_using(kernel, &a, &pw, g, Epilogue::Matches);
            assert_eq!(got, want, "{} kernel, c {c} o {o} k {k} {g:?} n {n} {h}x{w}", kernel.name());
            let dot = binary_conv2d_using(kernel, &a, &pw, g, Epilogue::Dot);
            let kk = (c * k * k) as f32;
            assert!(dot.iter().zip(&want).all(|(d, m)| *d == 2.0 * m - kk));
        }
        cases += 1;
    }
    assert!(cases >= 100, "{cases}");
    assert!(kernels.contains(&Kernel::Portable));
}

#[test]
fn dense_and_fused_affine() {
    let mut rng = Rng(3);
    let (n, c, o) = (3, 100, 10);
    let x = rng.values(n * c);
    let wt = rng.values(o * c);
    let want = reference(&x, [n, c, 1, 1], &wt, [o, c, 1, 1], ConvGeometry { stride: 1, pad: 0, dilation: 1 });
    let a = pack_activations(&x, [n, c, 1, 1], 0);
    let pw = pack_weights(&wt, [o, c, 1, 1]);
    assert_eq!(binary_dense(&a, &pw, Epilogue::Matches), want);
    let scale: Vec<f32> = (0..o).map(|i| 0.5 + i as f32).collect();
    let shift: Vec<f32> = (0..o).map(|i| -(i as f32)).collect();
    let y = binary_dense(&a, &pw, Epilogue::Affine { scale: &scale, shift: &shift });
    for (i, (yv, m)) in y.iter().zip(&want).enumerate() {
        let oc = i % o;
        assert_eq!(*yv, m * scale[oc] + shift[oc]);
    }
}

#[test]
fn packed_sizes_are_a_32nd_of_float() {
    let (c, h, w, o) = (64, 32, 32, 64);
    let a = pack_activations(&vec![0.0; c * h * w], [1, c, h, w], 0);
    assert_eq!(a.bytes() * 32, c * h * w * 4);
    let pw = pack_weights(&vec![0.0; o * c * 9], [o, c, 3, 3]);
    assert_eq!(pw.bytes() * 32, o * c * 9 * 4);
}

#[test]
fn every_simd_packer_equals_the_portable_one() {
    let mut rng = Rng(11);
    for _ in 0..30 {
        let (n, c, h, w, pad) =
            (1 + rng.below(3), 1 + rng.below(200), 1 + rng.below(20), 1 + rng.below(40), rng.below(3));
        let mut x = rng.values(n * c * h * w);
        // Signed zeros and NaN too: -0.0 >= 0 packs as +1, NaN as -1.
        for _ in 0..4 {
            let i = rng.below(x.len() as u64);
            x[i] = [-0.0, f32::NAN, 0.0, -1e-30][rng.below(4)];
        }
        let b = pack_activations_portable(&x, [n, c, h, w], pad);
        for kernel in Kernel::available() {
            let a = pack_activations_using(kernel, &x, [n, c, h, w], pad);
            assert_eq!(a.data, b.data, "{}: n {n} c {c} {h}x{w} pad {pad}", kernel.name());
        }
        assert_eq!(pack_activations(&x, [n, c, h, w], pad).data, b.data);
    }
}

/// NCHW `[n][c][h][w]` to NHWC.
fn to_nhwc(x: &[f32], [n, c, h, w]: [usize; 4]) -> Vec<f32> {
    let mut y = vec![0f32; x.len()];
    for img in 0..n {
        for ch in 0..c {
            for p in 0..h * w {
                y[(img * h * w + p) * c + ch] = x[(img * c + ch) * h * w + p];
            }
        }
    }
    y
}

/// The NHWC path: packing a channel range of a wider buffer by per-channel bounds, and the conv
/// writing into a channel range of a wider output, equal the reference with every kernel; the
/// channels around the written range are left as they were.
#[test]
fn nhwc_packing_and_conv_into_a_channel_range_equal_the_reference() {
    use lightnasc_kernels::{
        Bounds, Channels, ChannelsMut, PackedActivations, binary_conv2d_into, pack_bounded, pack_bounded_using,
    };
    let mut rng = Rng(23);
    let mut cases = 0;
    for _ in 0..120 {
        let c = [1, 3, 37, 64, 65, 130, 200][rng.below(7)];
        let o = [1, 5, 8, 13, 33, 64, 70][rng.below(7)];
        let k = [1, 3, 3][rng.below(3)];
        let g = ConvGeometry { stride: 1 + rng.below(2), pad: rng.below(3), dilation: 1 };
        let (n, h, w) = (1 + rng.below(2), 2 + rng.below(9), 2 + rng.below(11));
        if h + 2 * g.pad < k || w + 2 * g.pad < k {
            continue;
        }
        let x = rng.values(n * c * h * w);
        let wt = rng.values(o * c * k * k);
        let want = reference(&x, [n, c, h, w], &wt, [o, c, k, k], g);
        // The input as channels 2.. of a buffer with 3 more channels per pixel, shifted by 0.25 so
        // that the bounds [0.25, inf] give the signs of `x`.
        let (stride, offset) = (c + 3, 2);
        let nhwc = to_nhwc(&x, [n, c, h, w]);
        let mut wide = vec![f32::NAN; n * h * w * stride];
        for p in 0..n * h * w {
            for ch in 0..c {
                wide[p * stride + offset + ch] = nhwc[p * c + ch] + 0.25;
            }
        }
        let bounds = Bounds { lo: vec![0.25; c], hi: vec![f32::INFINITY; c] };
        // Stale bits in the interior (a reused buffer) must all be overwritten.
        let mut a = PackedActivations::zeros(n, c, h, w, g.pad);
        let (hp, wp) = (h + 2 * g.pad, w + 2 * g.pad);
        for img in 0..n {
            for y in g.pad..g.pad + h {
                for x in g.pad..g.pad + w {
                    a.data[((img * hp + y) * wp + x) * a.words..][..a.words].fill(!0);
                }
            }
        }
        let border = pack_activations(&x, [n, c, h, w], g.pad);
        for kernel in Kernel::available() {
            let mut stale = a.clone();
            pack_bounded_using(kernel, Channels { data: &wide, stride, offset, c }, n, &bounds, &mut stale);
            assert_eq!(stale.data, border.data, "{} packing: c {c} n {n} {h}x{w} pad {}", kernel.name(), g.pad);
        }
        pack_bounded(Channels { data: &wide, stride, offset, c }, n, &bounds, &mut a);
        assert_eq!(a.data, border.data, "packing: c {c} n {n} {h}x{w} pad {}", g.pad);
        let pw = pack_weights(&wt, [o, c, k, k]);
        let (ho, wo) = (out_size(h, k, g), out_size(w, k, g));
        let (ostride, ooff) = (o + 5, 3);
        let scale: Vec<f32> = (0..o).map(|i| 0.37 * (i as f32 - 2.5)).collect();
        let shift: Vec<f32> = (0..o).map(|i| 1.0 / (1.0 + i as f32)).collect();
        let kk = (c * k * k) as f32;
        for &kernel in &Kernel::available() {
            for (name, epi) in [
                ("matches", Epilogue::Matches),
                ("dot", Epilogue::Dot),
                ("affine", Epilogue::Affine { scale: &scale, shift: &shift }),
            ] {
                let mut out = vec![-7.0f32; n * ho * wo * ostride];
                binary_conv2d_into(
                    kernel,
                    &a,
                    &pw,
                    g,
                    epi,
                    ChannelsMut { data: &mut out, stride: ostride, offset: ooff },
                );
                for img in 0..n {
                    for p in 0..ho * wo {
                        let px = &out[(img * ho * wo + p) * ostride..][..ostride];
                        for (ch, &v) in px.iter().enumerate() {
                            let expect = if ch < ooff || ch >= ooff + o {
                                -7.0
                            } else {
                                let oc = ch - ooff;
                                let m = want[(img * o + oc) * ho * wo + p];
                                match name {
                                    "matches" => m,
                                    "dot" => 2.0 * m - kk,
                                    _ => m * scale[oc] + shift[oc],
                                }
                            };
                            assert_eq!(v, expect, "{} {name}: c {c} o {o} k {k} {g:?} n {n} {h}x{w}", kernel.name());
                        }
                    }
                }
            }
        }
        cases += 1;
    }
    assert!(cases >= 80, "{cases}");
}

/// Bounds by hand: [lo, hi] per channel, NaN never inside, signed zeros equal to zero.
#[test]
fn bounded_packing_by_hand() {
    use lightnasc_kernels::{Bounds, Channels, PackedActivations, pack_bounded_using};
    let c = 70; // two words, the second partly used
    let lo: Vec<f32> = (0..c).map(|i| [0.0, -1.0, f32::NEG_INFINITY, 2.0, f32::INFINITY][i % 5]).collect();
    let hi: Vec<f32> = (0..c).map(|i| [f32::INFINITY, 1.0, -0.0, 2.0, f32::NEG_INFINITY][i % 5]).collect();
    let px: Vec<f32> = (0..c).map(|i| [-0.0, 1.0, f32::NAN, 2.0, 5.0, -3.0, 0.5][i % 7]).collect();
    let mut want = [0u64; 2];
    for ch in 0..c {
        let v = px[ch];
        if lo[ch] <= v && v <= hi[ch] {
            want[ch / 64] |= 1 << (ch % 64);
        }
    }
    // Spot checks of the rule itself: -0.0 in [0, inf]; NaN nowhere; 2.0 in [2, 2].
    assert!(want[0] & 1 == 1);
    assert!(want[0] >> 2 & 1 == 0);
    assert!(want[0] >> 3 & 1 == 1);
    // The 3x3 buffer with a border: the centre pixel holds the words, the border stays zero.
    for kernel in Kernel::available() {
        let mut a = PackedActivations::zeros(1, c, 1, 1, 1);
        let bounds = Bounds { lo: lo.clone(), hi: hi.clone() };
        pack_bounded_using(kernel, Channels { data: &px, stride: c, offset: 0, c }, 1, &bounds, &mut a);
        let centre = 4 * 2;
        assert_eq!(&a.data[centre..centre + 2], &want, "{}", kernel.name());
        assert!(a.data[..centre].iter().chain(&a.data[centre + 2..]).all(|&d| d == 0));
    }
}
