//! A small thread pool for latency-bound work (batch-1 inference): helper threads that keep
//! checking for work for a couple of milliseconds after each job before they sleep, so a run of
//! short parallel steps pays about a microsecond per dispatch instead of a thread wake-up.
//! rayon's workers sleep between jobs; on a 2-core machine waking them costs 10-20 us, more than
//! a whole small conv (measured: a 4x4x512 conv 4.3 us on one thread, 27 us through rayon).
//!
//! While they wait the helpers yield the core (`sched_yield`), so other threads (burn's, gemm's
//! rayon pool) run unhindered.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a helper keeps looking for work after its last job.
const SPIN: Duration = Duration::from_millis(2);

/// One parallel call: task indices are taken from `next`; `done` counts finished tasks.
struct Job {
    /// The caller's closure; it outlives every call through this pointer (see [`for_each`]).
    f: *const (dyn Fn(usize) + Sync),
    tasks: usize,
    next: AtomicUsize,
    done: AtomicUsize,
    /// A task panicked (on a helper; the caller re-raises it).
    panicked: AtomicBool,
}

// SAFETY: `f` points to a `Sync` closure that is only called while the caller waits in `for_each`.
unsafe impl Send for Job {}
unsafe impl Sync for Job {}

impl Job {
    /// Take and run tasks until none are left.
    fn work(&self) {
        loop {
            let i = self.next.fetch_add(1, Ordering::AcqRel);
            if i >= self.tasks {
                return;
            }
            // SAFETY: a task index below `tasks` is handed out before `done` reaches `tasks`,
            // and the caller of `for_each` waits for that, so the closure is alive.
            let f = unsafe { &*self.f };
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(i))).is_err() {
                self.panicked.store(true, Ordering::Release);
            }
            self.done.fetch_add(1, Ordering::AcqRel);
        }
    }
}

struct Shared {
    epoch: AtomicU64,
    job: Mutex<Option<Arc<Job>>>,
    sleepers: AtomicUsize,
    sleep: Mutex<()>,
    wake: Condvar,
}

struct Pool {
    shared: Arc<Shared>,
    helpers: usize,
    /// One job at a time; a caller that finds the pool busy runs its tasks itself.
    busy: Mutex<()>,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let shared = Arc::new(Shared {
            epoch: AtomicU64::new(0),
            job: Mutex::new(None),
            sleepers: AtomicUsize::new(0),
            sleep: Mutex::new(()),
            wake: Condvar::new(),
        });
        // As many threads as rayon's pool (RAYON_NUM_THREADS or the cores), the caller included.
        let helpers = rayon::current_num_threads().saturating_sub(1);
        for _ in 0..helpers {
            let s = shared.clone();
            std::thread::Builder::new().name("lightnasc-spin".into()).spawn(move || helper(&s)).expect("a thread");
        }
        Pool { shared, helpers, busy: Mutex::new(()) }
    })
}

fn helper(s: &Shared) {
    let mut seen = 0;
    loop {
        let started = Instant::now();
        let mut spins = 0u32;
        while s.epoch.load(Ordering::SeqCst) == seen {
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else if started.elapsed() < SPIN {
                std::thread::yield_now();
            } else {
                let mut g = s.sleep.lock().unwrap_or_else(|e| e.into_inner());
                s.sleepers.fetch_add(1, Ordering::SeqCst);
                while s.epoch.load(Ordering::SeqCst) == seen {
                    g = s.wake.wait(g).unwrap_or_else(|e| e.into_inner());
                }
                s.sleepers.fetch_sub(1, Ordering::SeqCst);
            }
        }
        seen = s.epoch.load(Ordering::SeqCst);
        let job = s.job.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(job) = job {
            job.work();
        }
    }
}

/// Threads a [`for_each`] call may use, the caller's included.
pub fn threads() -> usize {
    pool().helpers + 1
}

/// `f(i)` for every `i` in `0..tasks`, on the calling thread and the pool's helpers; returns when
/// all are done. Tasks should be few and even (a row block each).
pub fn for_each(tasks: usize, f: &(dyn Fn(usize) + Sync)) {
    let p = pool();
    let guard = match (tasks > 1 && p.helpers > 0).then(|| p.busy.try_lock().ok()).flatten() {
        Some(g) => g,
        None => return (0..tasks).for_each(f),
    };
    // SAFETY (lifetime erasure): the job is reachable by helpers after this call returns, but
    // they only call `f` for task indices handed out before `done == tasks`, which is awaited.
    let f: *const (dyn Fn(usize) + Sync + '_) = f;
    let f: *const (dyn Fn(usize) + Sync + 'static) = unsafe { std::mem::transmute(f) };
    let job = Arc::new(Job {
        f,
        tasks,
        next: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        panicked: AtomicBool::new(false),
    });
    *p.shared.job.lock().unwrap_or_else(|e| e.into_inner()) = Some(job.clone());
    p.shared.epoch.fetch_add(1, Ordering::SeqCst);
    if p.shared.sleepers.load(Ordering::SeqCst) > 0 {
        let _g = p.shared.sleep.lock().unwrap_or_else(|e| e.into_inner());
        p.shared.wake.notify_all();
    }
    job.work();
    while job.done.load(Ordering::Acquire) < tasks {
        std::hint::spin_loop();
    }
    *p.shared.job.lock().unwrap_or_else(|e| e.into_inner()) = None;
    drop(guard);
    assert!(!job.panicked.load(Ordering::Acquire), "a parallel task panicked");
}

/// A raw pointer that parallel tasks share, each writing its own disjoint part.
#[derive(Clone, Copy)]
pub struct SharedMut<T>(pub *mut T);
// SAFETY: users write disjoint ranges from different tasks (documented at each use); the values
// written cross threads, so `T` must be `Send` (a pointer to `Rc`s, say, is refused).
unsafe impl<T: Send> Send for SharedMut<T> {}
unsafe impl<T: Send> Sync for SharedMut<T> {}

impl<T> SharedMut<T> {
    /// The pointer (a method, so closures capture the wrapper rather than its field).
    pub fn get(&self) -> *mut T {
        self.0
    }

    /// Elements `start..start + len` as a slice.
    ///
    /// # Safety
    /// The range must lie inside the allocation, and no other task may use it meanwhile.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice(&self, start: usize, len: usize) -> &mut [T] {
        // SAFETY: forwarded from the caller.
        unsafe { std::slice::from_raw_parts_mut(self.0.add(start), len) }
    }
}

/// Work (in units of about a nanosecond) below which [`for_rows`] stays on the calling thread.
pub const SERIAL_WORK: usize = 3000;

/// `f(range)` over `0..rows` split into a few blocks per thread, in parallel when `work` (about
/// nanoseconds on one core) is worth a dispatch.
pub fn for_rows(rows: usize, work: usize, f: &(dyn Fn(Range<usize>) + Sync)) {
    let threads = threads();
    if work < SERIAL_WORK || rows < 2 || threads < 2 {
        return f(0..rows);
    }
    let tasks = rows.min(threads * 4);
    let chunk = rows.div_ceil(tasks);
    let tasks = rows.div_ceil(chunk);
    for_each(tasks, &|i| f(i * chunk..rows.min((i + 1) * chunk)));
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Every task runs exactly once, call after call, also from several callers at once (a busy
    /// pool runs the late caller's tasks on its own thread).
    #[test]
    fn every_task_runs_once() {
        let callers: Vec<_> = (0..3)
            .map(|c| {
                std::thread::spawn(move || {
                    for round in 0..200 {
                        let tasks = 1 + (round * 7 + c) % 37;
                        let counts: Vec<AtomicUsize> = (0..tasks).map(|_| AtomicUsize::new(0)).collect();
                        super::for_each(tasks, &|i| {
                            counts[i].fetch_add(1, Ordering::Relaxed);
                        });
                        assert!(counts.iter().all(|c| c.load(Ordering::Relaxed) == 1), "round {round}");
                    }
                })
            })
            .collect();
        callers.into_iter().for_each(|t| t.join().unwrap());
    }
}
