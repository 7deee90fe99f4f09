//! Binary kernels (bit-packed XNOR-popcount). Populated by the binary-kernels issue; the crate exists now so the workspace layout is stable.
