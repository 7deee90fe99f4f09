//! The GPU runtime's settings and what it did: CubeCL's on-disk caches (compiled kernels and
//! autotune results) under lightnasc's cache folder, so that a second run starts in seconds, and
//! counts of the kernels CubeCL compiled, launched and autotuned, read from CubeCL's own loggers.
//!
//! CubeCL reads its settings once, when the first device starts; [`configure`] must come before
//! that, which [`super::device::run_on`] sees to. Counting costs a formatted message per kernel
//! launch, so it is off unless a command asks for it (`--counts`).

use std::path::PathBuf;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::Serialize;

/// What a device did over some stretch of work (see [`Counts::since`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Kernels compiled (NVRTC or the SPIR-V compiler): not found in memory or on disk.
    pub compiled: u64,
    /// Kernel launches.
    pub launched: u64,
    /// Autotune runs: a kernel family timed over its variants for a new shape.
    pub autotuned: u64,
    /// Reads from the device to the host that lightnasc made (each waits for the device).
    pub host_reads: u64,
    /// Bytes those reads copied.
    pub bytes_read: u64,
    /// Convs that the fixed GPU algorithm could not take, run on burn's direct conv instead
    /// (`net::cube_ops`; one per direction: forward, data and weight gradient).
    pub conv_fallbacks: u64,
}

impl Counts {
    /// The counts so far (zero where counting is off; reads are always counted).
    pub fn now() -> Counts {
        Counts {
            compiled: COMPILED.load(Ordering::Relaxed),
            launched: LAUNCHED.load(Ordering::Relaxed),
            autotuned: AUTOTUNED.load(Ordering::Relaxed),
            host_reads: READS.load(Ordering::Relaxed),
            bytes_read: BYTES.load(Ordering::Relaxed),
            conv_fallbacks: FALLBACKS.load(Ordering::Relaxed),
        }
    }

    /// What happened since `start` (CubeCL logs on a thread of its own: call after the work's
    /// results were read back, which waits for the device).
    pub fn since(start: Counts) -> Counts {
        settle();
        let now = Counts::now();
        Counts {
            compiled: now.compiled - start.compiled,
            launched: now.launched - start.launched,
            autotuned: now.autotuned - start.autotuned,
            host_reads: now.host_reads - start.host_reads,
            bytes_read: now.bytes_read - start.bytes_read,
            conv_fallbacks: now.conv_fallbacks - start.conv_fallbacks,
        }
    }

    /// One line: the kernel counts where counting is on, else the reads.
    pub fn brief(&self) -> String {
        match counting() {
            true => {
                format!("{} kernels compiled, {} launched, {} autotuned", self.compiled, self.launched, self.autotuned)
            }
            false => format!("{} reads from the device (kernel counts: --counts)", self.host_reads),
        }
    }

    /// Each count divided by `n` (per step), rounded up.
    pub fn per(self, n: u64) -> Counts {
        let d = |v: u64| v.div_ceil(n.max(1));
        Counts {
            compiled: d(self.compiled),
            launched: d(self.launched),
            autotuned: d(self.autotuned),
            host_reads: d(self.host_reads),
            bytes_read: d(self.bytes_read),
            conv_fallbacks: d(self.conv_fallbacks),
        }
    }
}

static COMPILED: AtomicU64 = AtomicU64::new(0);
static LAUNCHED: AtomicU64 = AtomicU64::new(0);
static AUTOTUNED: AtomicU64 = AtomicU64::new(0);
static READS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);
static FALLBACKS: AtomicU64 = AtomicU64::new(0);
static COUNTING: AtomicBool = AtomicBool::new(false);

/// Record a read of `bytes` from a device to the host.
pub fn note_read(bytes: usize) {
    READS.fetch_add(1, Ordering::Relaxed);
    BYTES.fetch_add(bytes as u64, Ordering::Relaxed);
}

/// Record a conv that fell back to burn's direct algorithm.
pub fn note_conv_fallback() {
    FALLBACKS.fetch_add(1, Ordering::Relaxed);
}

/// Whether kernels are being counted.
pub fn counting() -> bool {
    COUNTING.load(Ordering::Relaxed)
}

/// Let CubeCL's logging thread catch up with what the device thread sent it.
fn settle() {
    if counting() {
        let mut last = Counts::now();
        for _ in 0..50 {
            std::thread::sleep(std::time::Duration::from_millis(2));
            let now = Counts::now();
            if now == last {
                return;
            }
            last = now;
        }
    }
}

/// The folder of CubeCL's caches: `cubecl/` in [`crate::util::cache_root`].
pub fn cache_dir() -> PathBuf {
    crate::util::cache_root().join("cubecl")
}

/// What a command asks of the GPU runtime beyond the defaults.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// Count kernels compiled, launched and autotuned ([`Counts`]).
    pub count: bool,
    /// Time every kernel and write CubeCL's per-kernel summary (name, launches, device time,
    /// share) to this file at each device sync (each launch then waits for the device).
    pub profile: Option<PathBuf>,
}

/// Settle CubeCL's settings before its first device starts: caches on disk under
/// [`cache_dir`] (unless a `cubecl.toml` names its own), and what `settings` asks. A
/// `cubecl.toml` and `CUBECL_*` variables still apply. Later calls change nothing.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
pub fn configure(settings: &Settings) {
    use burn_cubecl::cubecl::config::{CubeClRuntimeConfig, RuntimeConfig, cache::CacheConfig};
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if CubeClRuntimeConfig::storage().lock().is_some() {
            return; // something read the settings already (a test's own device)
        }
        let mut cfg = CubeClRuntimeConfig::from_current_dir().override_from_env();
        if cfg.compilation.cache.is_none() {
            let dir = cache_dir();
            cfg.compilation.cache = Some(CacheConfig::File(dir.clone()));
            cfg.autotune.cache = CacheConfig::File(dir);
        }
        if settings.count {
            route_to_counters(&mut cfg);
        }
        if let Some(file) = &settings.profile {
            use burn_cubecl::cubecl::config::profiling::ProfilingLogLevel;
            cfg.profiling.logger.level = ProfilingLogLevel::Basic;
            cfg.profiling.logger.file = Some(file.clone());
            cfg.profiling.logger.append = false;
        }
        CubeClRuntimeConfig::set(cfg);
    });
}

#[cfg(not(any(feature = "wgpu", feature = "cuda")))]
pub fn configure(_settings: &Settings) {}

/// CubeCL's settings in force (profiling, logging, autotune, compilation caches, streams,
/// memory), as CubeCL serialises them: a run slow by configuration (a profiling level that
/// waits for every launch) shows it. `None` before a device started or without CubeCL.
pub fn settings_json() -> Option<serde_json::Value> {
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    {
        use burn_cubecl::cubecl::config::{CubeClRuntimeConfig, RuntimeConfig};
        let cfg = CubeClRuntimeConfig::storage().lock().clone()?;
        serde_json::to_value(&*cfg).ok()
    }
    #[cfg(not(any(feature = "wgpu", feature = "cuda")))]
    None
}

/// Bytes of device memory CubeCL holds reserved on `device` (its pools' pages), where `B` runs
/// on CubeCL; `None` elsewhere. Asks the device thread, so it waits for the work queued before.
pub fn reserved_bytes<B: burn::tensor::backend::Backend>(device: &B::Device) -> Option<u64> {
    #[cfg(feature = "wgpu")]
    if let Some(b) = reserved_on::<burn_cubecl::cubecl::wgpu::WgpuRuntime>(device) {
        return Some(b);
    }
    #[cfg(feature = "cuda")]
    if let Some(b) = reserved_on::<burn_cubecl::cubecl::cuda::CudaRuntime>(device) {
        return Some(b);
    }
    let _ = device;
    None
}

#[cfg(any(feature = "wgpu", feature = "cuda"))]
fn reserved_on<R: burn_cubecl::CubeRuntime>(device: &dyn std::any::Any) -> Option<u64> {
    let device = device.downcast_ref::<R::Device>()?;
    R::client(device).memory_usage().ok().map(|u| u.bytes_reserved)
}

/// Compilation logs to `log`'s info, executions to debug, autotune results to trace: one
/// record each, which [`Counter`] tells apart by level.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
fn route_to_counters(cfg: &mut burn_cubecl::cubecl::config::CubeClRuntimeConfig) {
    use burn_cubecl::cubecl::config::{
        autotune::AutotuneLogLevel, compilation::CompilationLogLevel, profiling::ProfilingLogLevel,
    };
    // The level type is not re-exported; its serde names are CubeCL's documented settings.
    let level = |name: &str| serde_json::from_value(serde_json::Value::from(name)).ok();
    cfg.compilation.logger.level = CompilationLogLevel::Basic;
    cfg.compilation.logger.log = level("info");
    cfg.profiling.logger.level = ProfilingLogLevel::Minimal;
    cfg.profiling.logger.log = level("debug");
    cfg.autotune.logger.level = AutotuneLogLevel::Minimal;
    cfg.autotune.logger.log = level("trace");
    static COUNTER: Counter = Counter;
    if log::set_logger(&COUNTER).is_ok() {
        log::set_max_level(log::LevelFilter::Trace);
        COUNTING.store(true, Ordering::Relaxed);
    }
}

/// Counts the records CubeCL's loggers forward (their target is CubeCL's logger module);
/// everything else is dropped, as without a logger.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
struct Counter;

#[cfg(any(feature = "wgpu", feature = "cuda"))]
const CUBECL_LOGGER: &str = "cubecl_common::config::logger";

#[cfg(any(feature = "wgpu", feature = "cuda"))]
impl log::Log for Counter {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.target() == CUBECL_LOGGER
    }

    fn log(&self, r: &log::Record) {
        if r.target() != CUBECL_LOGGER {
            return;
        }
        let counter = match r.level() {
            log::Level::Info => &COMPILED,
            log::Level::Debug => &LAUNCHED,
            log::Level::Trace => &AUTOTUNED,
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn flush(&self) {}
}
