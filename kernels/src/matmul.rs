//! `dst = lhs * rhs` and `dst += lhs * rhs` on strided f32 matrices on the calling thread: the
//! `gemm` crate's call with the arguments every caller here passes (no conjugation, no threads of
//! its own; callers split the work themselves).

use gemm::{Parallelism, gemm};

/// A strided matrix view: element `(i, j)` at `ptr + i * row + j * col`.
#[derive(Clone, Copy, Debug)]
pub struct Strided<P> {
    pub ptr: P,
    pub row: isize,
    pub col: isize,
}

impl<P> Strided<P> {
    /// Rows `row` elements apart, columns contiguous.
    pub fn rows(ptr: P, row: usize) -> Self {
        Strided { ptr, row: row as isize, col: 1 }
    }
}

/// `dst (m x n) = lhs (m x k) * rhs (k x n)`.
///
/// # Safety
/// Every element of the three views lies inside its allocation, and `dst` overlaps neither input.
pub unsafe fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: Strided<*mut f32>,
    lhs: Strided<*const f32>,
    rhs: Strided<*const f32>,
) {
    // SAFETY: forwarded from the caller.
    unsafe { call(m, n, k, dst, lhs, rhs, 0.0) }
}

/// `dst (m x n) += lhs (m x k) * rhs (k x n)`.
///
/// # Safety
/// As [`matmul`].
pub unsafe fn matmul_add(
    m: usize,
    n: usize,
    k: usize,
    dst: Strided<*mut f32>,
    lhs: Strided<*const f32>,
    rhs: Strided<*const f32>,
) {
    // SAFETY: forwarded from the caller.
    unsafe { call(m, n, k, dst, lhs, rhs, 1.0) }
}

/// `dst = keep * dst + lhs * rhs` (`keep` 0 or 1: gemm's alpha; at 0 dst is not read).
///
/// # Safety
/// `dst`, `lhs` and `rhs` must point to `m x n`, `m x k` and `k x n` matrices with their strides,
/// valid for the call, and `dst` must not overlap the others.
unsafe fn call(
    m: usize,
    n: usize,
    k: usize,
    dst: Strided<*mut f32>,
    lhs: Strided<*const f32>,
    rhs: Strided<*const f32>,
    keep: f32,
) {
    // SAFETY: the public functions' contract.
    unsafe {
        gemm(
            m,
            n,
            k,
            dst.ptr,
            dst.col,
            dst.row,
            keep != 0.0,
            lhs.ptr,
            lhs.col,
            lhs.row,
            rhs.ptr,
            rhs.col,
            rhs.row,
            keep,
            1.0,
            false,
            false,
            false,
            Parallelism::None,
        )
    }
}
