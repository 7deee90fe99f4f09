//! Time the parts of one packed conv (packing, kernel, whole) on one shape: `cargo run --release
//! -p lightnasc-kernels --example parts -- C HW OUT N`.
use std::time::Instant;

use lightnasc_kernels::{ConvGeometry, Epilogue, Kernel, binary_conv2d_using, pack_activations, pack_weights};

fn median(mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..400)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[0]
}

fn main() {
    let a: Vec<usize> = std::env::args().skip(1).map(|s| s.parse().unwrap()).collect();
    let (c, hw, out, n) = (a[0], a[1], a[2], a[3]);
    let x: Vec<f32> = (0..n * c * hw * hw).map(|i| ((i * 7919) % 13) as f32 - 6.0).collect();
    let w: Vec<f32> = (0..out * c * 9).map(|i| ((i * 104_729) % 11) as f32 - 5.0).collect();
    let g = ConvGeometry { stride: 1, pad: 1, dilation: 1 };
    let pw = pack_weights(&w, [out, c, 3, 3]);
    let packed = pack_activations(&x, [n, c, hw, hw], 1);
    println!(
        "pack activations: {:.1} us",
        median(|| drop(std::hint::black_box(pack_activations(&x, [n, c, hw, hw], 1))))
    );
    for k in Kernel::available() {
        println!(
            "{} conv: {:.1} us",
            k.name(),
            median(|| drop(std::hint::black_box(binary_conv2d_using(k, &packed, &pw, g, Epilogue::Matches))))
        );
    }
}
