//! Buffers to arena slots: each buffer lives from the first step that touches it to the last that
//! reads it; buffers whose lives do not overlap share a slot (best fit, growing a slot when none
//! fits). Planned once per program, so an inference allocates nothing.

use super::Step;

pub struct Slots {
    /// f32s per image of each slot.
    pub sizes: Vec<usize>,
    /// The slot of the output buffer.
    pub output: usize,
}

/// Give every buffer of `steps` a slot, rewriting their views; `output` stays live to the end.
pub fn assign(steps: &mut [Step], bufs: &[usize], output: usize) -> Slots {
    let mut first = vec![usize::MAX; bufs.len()];
    let mut last = vec![0usize; bufs.len()];
    let mut touch = |b: usize, i: usize| {
        first[b] = first[b].min(i);
        last[b] = last[b].max(i);
    };
    for (i, s) in steps.iter_mut().enumerate() {
        let (reads, write) = s.views();
        reads.into_iter().chain(write).for_each(|v| touch(v.buf, i));
        if let Some(&mut b) = s.scratch_mut() {
            touch(b, i);
        }
    }
    touch(output, steps.len());
    let mut order: Vec<usize> = (0..bufs.len()).filter(|&b| first[b] != usize::MAX).collect();
    order.sort_by_key(|&b| (first[b], b));
    // (size, busy through step)
    let mut slots: Vec<(usize, usize)> = vec![];
    let mut map = vec![usize::MAX; bufs.len()];
    for b in order {
        let free = |s: &(usize, usize)| s.1 < first[b];
        let fits = (0..slots.len()).filter(|&s| free(&slots[s]) && slots[s].0 >= bufs[b]).min_by_key(|&s| slots[s].0);
        let grow = || (0..slots.len()).filter(|&s| free(&slots[s])).max_by_key(|&s| slots[s].0);
        let s = match fits.or_else(grow) {
            Some(s) => s,
            None => {
                slots.push((0, 0));
                slots.len() - 1
            }
        };
        slots[s] = (slots[s].0.max(bufs[b]), last[b]);
        map[b] = s;
    }
    for s in steps.iter_mut() {
        let (reads, write) = s.views_mut();
        for v in reads.into_iter().chain(write) {
            v.buf = map[v.buf];
        }
        if let Some(b) = s.scratch_mut() {
            *b = map[*b];
        }
    }
    Slots { sizes: slots.iter().map(|s| s.0).collect(), output: map[output] }
}
