//! Folding a batch norm and the sign after it into per-channel bounds on the norm's input.
//!
//! The float path computes `sign(x * s + b)` in f32 (`ir::norm`). Rounding to nearest is
//! monotone, so `x * s + b >= 0` is monotone in `x` over the non-NaN floats: true on an interval
//! `[lo, hi]` whose edge bisection over the ordered floats finds exactly. Packing by the interval is
//! then the same bit for every input, integer counts and floats alike, NaN and infinities too;
//! nothing about the values is assumed.

/// An interval no value lies in (`lo > hi`).
const EMPTY: (f32, f32) = (f32::INFINITY, f32::NEG_INFINITY);

/// The closed interval of `x` where `x * s + b >= 0` in f32.
pub fn sign_bounds(s: f32, b: f32) -> (f32, f32) {
    let p = |x: f32| x * s + b >= 0.0;
    if s.is_nan() || b.is_nan() {
        return EMPTY;
    }
    if s == 0.0 {
        // x * 0 is a signed zero for finite x and NaN at the infinities: not monotone.
        return if b >= 0.0 { (-f32::MAX, f32::MAX) } else { EMPTY };
    }
    let (neg, pos) = (p(f32::NEG_INFINITY), p(f32::INFINITY));
    if s > 0.0 {
        match (neg, pos) {
            (_, false) => EMPTY,
            (true, true) => (f32::NEG_INFINITY, f32::INFINITY),
            (false, true) => {
                (from_key(first_true(key(f32::NEG_INFINITY), key(f32::INFINITY), |k| p(from_key(k)))), f32::INFINITY)
            }
        }
    } else {
        match (neg, pos) {
            (false, _) => EMPTY,
            (true, true) => (f32::NEG_INFINITY, f32::INFINITY),
            // The last true is one before the first false.
            (true, false) => (
                f32::NEG_INFINITY,
                from_key(first_true(key(f32::NEG_INFINITY), key(f32::INFINITY), |k| !p(from_key(k))) - 1),
            ),
        }
    }
}

/// The least `k` in `(lo, hi]` with `f(k)`, for `f` false at `lo`, true at `hi`, monotone between.
fn first_true(mut lo: u32, mut hi: u32, f: impl Fn(u32) -> bool) -> u32 {
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if f(mid) { hi = mid } else { lo = mid }
    }
    hi
}

/// Non-NaN floats to `u32`s in the same order (-0.0 just below +0.0).
fn key(x: f32) -> u32 {
    let b = x.to_bits();
    if b >> 31 == 1 { !b } else { b | 0x8000_0000 }
}

fn from_key(k: u32) -> f32 {
    f32::from_bits(if k >> 31 == 1 { k & 0x7fff_ffff } else { !k })
}

#[cfg(test)]
mod tests {
    use super::{from_key, key, sign_bounds};

    /// Every bound against the definition on floats around it, including exact edges, zeros and
    /// infinities.
    #[test]
    fn bounds_agree_with_the_definition() {
        let scales = [1.0f32, 0.3, -0.7, 1e-30, -3e20, f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0, f32::NAN];
        let shifts = [0.0f32, -0.0, 0.1, -2.5, 1e10, -1e-40, f32::INFINITY, f32::NEG_INFINITY, f32::NAN];
        let mut probes = vec![0.0f32, -0.0, 1.0, -1.0, 8.0, 8.333_333, -8.333_333, 1e-38, 3e38, f32::NAN];
        probes.extend([f32::INFINITY, f32::NEG_INFINITY, f32::MAX, -f32::MAX]);
        for &s in &scales {
            for &b in &shifts {
                let (lo, hi) = sign_bounds(s, b);
                let mut xs = probes.clone();
                for e in [lo, hi] {
                    if !e.is_nan() && e.is_finite() {
                        for d in 0..3u32 {
                            xs.push(from_key(key(e).wrapping_add(d)));
                            xs.push(from_key(key(e).wrapping_sub(d)));
                        }
                    }
                }
                for x in xs {
                    let want = x * s + b >= 0.0;
                    let got = lo <= x && x <= hi;
                    assert_eq!(got, want, "s {s} b {b}: x {x} in [{lo}, {hi}]");
                }
            }
        }
    }

    /// A hand case: 2 x - 5 >= 0 from x = 2.5, and -2 x + 5 >= 0 up to 2.5.
    #[test]
    fn a_hand_threshold() {
        assert_eq!(sign_bounds(2.0, -5.0), (2.5, f32::INFINITY));
        assert_eq!(sign_bounds(-2.0, 5.0), (f32::NEG_INFINITY, 2.5));
        assert_eq!(key(-0.0) + 1, key(0.0));
    }
}
