//! Run-time choice of backend and device (`--device cpu|cuda[:N]`). Code that trains or runs a
//! network is generic over the backend; a [`BackendJob`] is instantiated here once per backend
//! compiled in.

use std::fmt;
use std::str::FromStr;

use burn::tensor::backend::AutodiffBackend;

/// The embedded CPU backend: burn's Flex (pure Rust, SIMD, multithreaded) with autodiff.
pub type CpuBackend = burn::backend::Autodiff<burn::backend::Flex>;

#[cfg(feature = "cuda")]
pub type CudaBackend = burn::backend::Autodiff<burn::backend::Cuda>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DeviceArg {
    #[default]
    Cpu,
    Cuda(usize),
}

impl FromStr for DeviceArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a device: write `cpu`, `cuda` or `cuda:N` (N the GPU index)");
        match s.trim() {
            "cpu" => Ok(DeviceArg::Cpu),
            "cuda" => Ok(DeviceArg::Cuda(0)),
            other => match other.strip_prefix("cuda:") {
                Some(n) => n.parse().map(DeviceArg::Cuda).map_err(|_| bad()),
                None => Err(bad()),
            },
        }
    }
}

impl fmt::Display for DeviceArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceArg::Cpu => write!(f, "cpu"),
            DeviceArg::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// Work generic over the backend, run on the one the user picked.
pub trait BackendJob {
    type Output;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output;
}

/// Whether `device`'s backend was compiled in (checked before a command makes anything).
pub fn available(device: DeviceArg) -> Result<(), String> {
    match device {
        DeviceArg::Cuda(_) if !cfg!(feature = "cuda") => Err(format!(
            "device `{device}`: this lightnasc was built without CUDA; rebuild with `cargo build --release --features cuda`"
        )),
        _ => Ok(()),
    }
}

/// Run `job` on `device`'s backend; an error if that backend was not compiled in.
pub fn run_on<J: BackendJob>(device: DeviceArg, job: J) -> Result<J::Output, String> {
    available(device)?;
    match device {
        DeviceArg::Cpu => Ok(job.run::<CpuBackend>(Default::default())),
        #[cfg(feature = "cuda")]
        DeviceArg::Cuda(index) => Ok(job.run::<CudaBackend>(burn::backend::cuda::CudaDevice { index })),
        #[cfg(not(feature = "cuda"))]
        DeviceArg::Cuda(_) => unreachable!("`available` refused it"),
    }
}

/// What the backend is, for reports.
pub fn describe(device: DeviceArg) -> String {
    match device {
        DeviceArg::Cpu => {
            format!("cpu (burn Flex, {} threads)", std::thread::available_parallelism().map_or(1, |n| n.get()))
        }
        DeviceArg::Cuda(n) => format!("cuda:{n} (burn CUDA)"),
    }
}
