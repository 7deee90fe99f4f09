//! Batches: normalised f32 pixels with the standard augmentation, produced on a background thread
//! so loading never starves the trainer. Every random draw comes from a generator seeded by
//! (seed, epoch, batch index), so a batch is the same whenever it is made: a resumed run sees
//! exactly the data an uninterrupted one would.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

use super::{Dataset, Norm, shuffle};
use crate::util::SplitMix64;

/// A batch ready for a tensor: `[n, c, h, w]` f32 and one label each.
#[derive(Clone, Debug)]
pub struct Batch {
    pub pixels: Vec<f32>,
    pub labels: Vec<i64>,
    pub n: usize,
    pub shape: [usize; 3],
}

impl Batch {
    /// `k` consecutive shares of the rows, as even as they can be (the first ones take the
    /// remainder); `k` must not exceed the batch.
    pub fn split(self, k: usize) -> Vec<Batch> {
        assert!(k >= 1 && k <= self.n, "{} rows cannot make {k} shares", self.n);
        if k == 1 {
            return vec![self]; // one device: no copy on the hot path
        }
        let per_row: usize = self.shape.iter().product();
        let (base, extra) = (self.n / k, self.n % k);
        let mut start = 0;
        (0..k)
            .map(|i| {
                let n = base + usize::from(i < extra);
                let rows = start..start + n;
                start += n;
                Batch {
                    pixels: self.pixels[rows.start * per_row..rows.end * per_row].to_vec(),
                    labels: self.labels[rows].to_vec(),
                    n,
                    shape: self.shape,
                }
            })
            .collect()
    }
}

/// What an epoch's batches are made of.
#[derive(Clone, Debug)]
pub struct BatchPlan {
    pub norm: Norm,
    pub batch: usize,
    /// Random crop (with this much zero padding) and flips (where the dataset allows them).
    pub augment: bool,
    /// Drop the last incomplete batch (training) or keep it (evaluation).
    pub drop_last: bool,
    /// Shuffle with this stream's seed; `None` keeps file order.
    pub shuffle: Option<u64>,
}

const CROP_PAD: usize = 4;

/// A stream seed for (purpose, epoch, index): distinct purposes never share a generator.
pub fn stream(seed: u64, purpose: u64, epoch: u64, index: u64) -> u64 {
    let mut r = SplitMix64(seed ^ purpose.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let a = r.next_u64() ^ epoch.wrapping_mul(0xD1B5_4A32_D192_ED03);
    let mut r = SplitMix64(a);
    r.next_u64() ^ index.wrapping_mul(0xA076_1D64_78BD_642F)
}

impl BatchPlan {
    /// The order of the epoch's samples.
    pub fn order(&self, len: usize, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..len).collect();
        if let Some(seed) = self.shuffle {
            shuffle(&mut order, &mut SplitMix64(stream(seed, 1, epoch, 0)));
        }
        order
    }

    pub fn batches(&self, len: usize) -> usize {
        if self.drop_last { len / self.batch } else { len.div_ceil(self.batch) }
    }

    /// Batch `b` of `epoch`, made from its indices.
    pub fn make(&self, ds: &Dataset, indices: &[usize], epoch: u64, b: u64) -> Batch {
        let [c, h, w] = ds.shape;
        let (mean, std) = (&self.norm.mean, &self.norm.std);
        let mut rng = SplitMix64(stream(self.shuffle.unwrap_or(0), 2, epoch, b));
        let mut pixels = Vec::with_capacity(indices.len() * c * h * w);
        for &i in indices {
            let img = ds.image(i);
            let (dy, dx, flip) = if self.augment {
                let dy = rng.below(2 * CROP_PAD as u64 + 1) as i64 - CROP_PAD as i64;
                let dx = rng.below(2 * CROP_PAD as u64 + 1) as i64 - CROP_PAD as i64;
                (dy, dx, self.norm.flips && rng.below(2) == 1)
            } else {
                (0, 0, false)
            };
            for ch in 0..c {
                let (m, s) = (mean[ch.min(mean.len() - 1)], std[ch.min(std.len() - 1)]);
                for y in 0..h {
                    for x in 0..w {
                        // The crop of the zero-padded image at offset (dy, dx), then the flip.
                        let xs = if flip { w - 1 - x } else { x };
                        let (sy, sx) = (y as i64 + dy, xs as i64 + dx);
                        let v = if sy < 0 || sx < 0 || sy >= h as i64 || sx >= w as i64 {
                            0.0
                        } else {
                            img[(ch * h + sy as usize) * w + sx as usize] as f32 / 255.0
                        };
                        pixels.push((v - m) / s);
                    }
                }
            }
        }
        Batch {
            pixels,
            labels: indices.iter().map(|&i| ds.labels[i] as i64).collect(),
            n: indices.len(),
            shape: ds.shape,
        }
    }

    /// The batches of `epoch` from batch `start` on, made on a background thread a few ahead.
    pub fn stream(&self, ds: Arc<Dataset>, epoch: u64, start: usize) -> Receiver<Batch> {
        let (tx, rx) = sync_channel(4);
        let plan = self.clone();
        std::thread::spawn(move || {
            let order = plan.order(ds.len(), epoch);
            for b in start..plan.batches(ds.len()) {
                let end = ((b + 1) * plan.batch).min(order.len());
                let batch = plan.make(&ds, &order[b * plan.batch..end], epoch, b as u64);
                if tx.send(batch).is_err() {
                    return; // the consumer stopped early
                }
            }
        });
        rx
    }
}
