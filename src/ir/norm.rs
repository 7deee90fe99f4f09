//! Batch norm at inference, defined once: the per-channel `scale` and `shift` that the network's
//! eval mode computes from the running statistics, in its f32 operations and their order, so that
//! `x * scale + shift` (two roundings, never fused) is the same number in the network, in the
//! exported models and in the native plan.

/// `scale = gamma / sqrt(var + eps)`, `shift = beta - mean * scale`, as `net::layers::batch_norm`
/// computes them (`gamma`, `beta` absent: 1 and 0).
pub fn affine(
    eps: f64,
    mean: &[f32],
    var: &[f32],
    gamma: Option<&[f32]>,
    beta: Option<&[f32]>,
) -> (Vec<f32>, Vec<f32>) {
    let mut s: Vec<f32> = var.iter().map(|&v| 1.0 / (v + eps as f32).sqrt()).collect();
    if let Some(g) = gamma {
        s.iter_mut().zip(g).for_each(|(s, g)| *s *= g);
    }
    let mut t: Vec<f32> = mean.iter().zip(&s).map(|(m, s)| -(m * s)).collect();
    if let Some(b) = beta {
        t.iter_mut().zip(b).for_each(|(t, b)| *t += b);
    }
    (s, t)
}
