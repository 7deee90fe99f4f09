//! Every kernel against a reference that multiplies ±1 floats, position by position, with -1
//! padding: equal integers, for random shapes (channel counts that are not multiples of 64 too),
//! strides, paddings and dilations.

use lightnasc_kernels::cpu::out_size;
use lightnasc_kernels::{
    ConvGeometry, Epilogue, Kernel, binary_conv2d_using, binary_dense, pack_activations, pack_activations_portable,
    pack_weights,
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
fn the_simd_packer_equals_the_portable_one() {
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
        let a = pack_activations(&x, [n, c, h, w], pad);
        let b = pack_activations_portable(&x, [n, c, h, w], pad);
        assert_eq!(a.data, b.data, "n {n} c {c} {h}x{w} pad {pad}");
    }
}
