//! Which instructions the CPU has, for the kernels that pick a variant (a leaf module: every
//! kernel asks it, it asks none).
//!
//! `LIGHTNASC_NO_AVX512` hides AVX-512 and `LIGHTNASC_NO_AVX2` hides AVX2 and, as no CPU has
//! AVX-512 without AVX2, AVX-512 too: a machine with the wider instructions then times the
//! narrower variants as a CPU without them runs them.

/// x86-64's `popcnt` (not in its baseline).
pub(crate) fn has_popcnt() -> bool {
    #[cfg(target_arch = "x86_64")]
    return is_x86_feature_detected!("popcnt");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// AVX2, unless `LIGHTNASC_NO_AVX2` is set; detected once.
pub(crate) fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static DETECTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *DETECTED.get_or_init(|| std::env::var_os("LIGHTNASC_NO_AVX2").is_none() && is_x86_feature_detected!("avx2"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// AVX-512 F, VL and VPOPCNTDQ, unless `LIGHTNASC_NO_AVX512` or `LIGHTNASC_NO_AVX2` is set;
/// detected once.
pub(crate) fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static DETECTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *DETECTED.get_or_init(|| {
            std::env::var_os("LIGHTNASC_NO_AVX512").is_none()
                && has_avx2()
                && is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512vl")
                && is_x86_feature_detected!("avx512vpopcntdq")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}
