//! Run-time choice of backend and devices (`--device cpu|wgpu|cuda[:N]`, or several devices of
//! one backend for data-parallel training: `cuda:0,1,2,3`, `cpu:0,1`). Code that trains or runs a
//! network is generic over the backend; a [`BackendJob`] is instantiated here once per backend
//! compiled in.
//!
//! `wgpu` and `cuda` are the same backend, burn's CubeCL one (`CubeBackend<R, ..>`), over two
//! runtimes, so what CI runs on wgpu (Mesa's software Vulkan) is the code a GPU runs. It is used
//! without burn's fusion layer: fused tensors do not expose their device buffers, which the
//! packed binary convs read in place (`net::packed`).

use std::fmt;
use std::str::FromStr;

use burn::tensor::backend::AutodiffBackend;

use super::NetError;

/// The embedded CPU backend: burn's Flex (pure Rust, SIMD, multithreaded) with autodiff.
pub type CpuBackend = burn::backend::Autodiff<burn::backend::Flex>;

#[cfg(feature = "wgpu")]
pub type WgpuBackend =
    burn::backend::Autodiff<burn_cubecl::CubeBackend<burn_cubecl::cubecl::wgpu::WgpuRuntime, f32, i32, u32>>;

#[cfg(feature = "cuda")]
pub type CudaBackend =
    burn::backend::Autodiff<burn_cubecl::CubeBackend<burn_cubecl::cubecl::cuda::CudaRuntime, f32, i32, u8>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BackendKind {
    #[default]
    Cpu,
    /// The default wgpu adapter (Vulkan, Metal, DX12; lavapipe when there is no GPU).
    Wgpu,
    Cuda,
}

impl BackendKind {
    fn name(self) -> &'static str {
        match self {
            BackendKind::Cpu => "cpu",
            BackendKind::Wgpu => "wgpu",
            BackendKind::Cuda => "cuda",
        }
    }

    /// The cargo feature that compiles it in.
    fn compiled(self) -> bool {
        match self {
            BackendKind::Cpu => true,
            BackendKind::Wgpu => cfg!(feature = "wgpu"),
            BackendKind::Cuda => cfg!(feature = "cuda"),
        }
    }
}

/// One device or several of one backend; the first is the main device (the controller, the
/// evaluations and the checkpoint live there). Flex has a single CPU device, so `cpu:0,1` means
/// two replicas sharing the CPU: the data-parallel code path, runnable without GPUs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceArg {
    pub backend: BackendKind,
    /// Distinct device (or CPU replica) indices, main first; never empty.
    pub ids: Vec<usize>,
}

impl Default for DeviceArg {
    fn default() -> Self {
        DeviceArg::CPU
    }
}

impl DeviceArg {
    pub const CPU: DeviceArg = DeviceArg { backend: BackendKind::Cpu, ids: Vec::new() };

    pub fn cuda(index: usize) -> DeviceArg {
        DeviceArg { backend: BackendKind::Cuda, ids: vec![index] }
    }

    /// How many devices train in parallel.
    pub fn replicas(&self) -> usize {
        self.ids.len().max(1)
    }

    /// The main device alone.
    pub fn main(&self) -> DeviceArg {
        DeviceArg { backend: self.backend, ids: self.ids.first().map(|&i| vec![i]).unwrap_or_default() }
    }
}

impl FromStr for DeviceArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{s}` is not a device: write `cpu`, `wgpu`, `cuda` or `cuda:N` (N the GPU index), or a \
                 list for data-parallel training: `cuda:0,1,2,3` (`cpu:0,1`: CPU replicas)"
            )
        };
        let s = s.trim();
        let (name, list) = s.split_once(':').map_or((s, None), |(n, l)| (n, Some(l)));
        let backend = match name {
            "cpu" => BackendKind::Cpu,
            "wgpu" => BackendKind::Wgpu,
            "cuda" => BackendKind::Cuda,
            _ => return Err(bad()),
        };
        let ids = match list {
            None => vec![0],
            Some(l) => {
                l.split(',').map(|n| n.trim().parse::<usize>().map_err(|_| bad())).collect::<Result<Vec<_>, _>>()?
            }
        };
        if let Some(dup) = ids.iter().enumerate().find_map(|(k, i)| ids[..k].contains(i).then_some(i)) {
            return Err(format!("`{s}`: device {dup} is listed twice"));
        }
        if backend == BackendKind::Wgpu && ids != [0] {
            return Err(format!("`{s}`: wgpu runs on its default adapter alone; write `wgpu`"));
        }
        // `cpu` and `cpu:0` are the plain CPU device, written `cpu`.
        let ids = if backend == BackendKind::Cpu && ids == [0] { vec![] } else { ids };
        Ok(DeviceArg { backend, ids })
    }
}

impl fmt::Display for DeviceArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.backend.name();
        let ids: Vec<String> = self.ids.iter().map(|i| i.to_string()).collect();
        if ids.is_empty() || self.backend == BackendKind::Wgpu {
            write!(f, "{name}")
        } else {
            write!(f, "{name}:{}", ids.join(","))
        }
    }
}

/// Work generic over the backend, run on the devices the user picked (main device first).
pub trait BackendJob {
    type Output;
    fn run<B: AutodiffBackend>(self, devices: Vec<B::Device>) -> Self::Output;
}

/// Whether `device`'s backend was compiled in and its setup works (the CUDA driver, NVRTC and
/// the GPU index; a wgpu adapter), checked before a command makes anything.
pub fn available(device: &DeviceArg) -> Result<(), NetError> {
    if !device.backend.compiled() {
        let (what, feature) = match device.backend {
            BackendKind::Cuda => ("CUDA", "cuda"),
            _ => ("wgpu", "wgpu"),
        };
        return Err(NetError::NotBuilt { device: device.to_string(), what, feature });
    }
    let probed = match device.backend {
        BackendKind::Cpu => Ok(()),
        BackendKind::Cuda => device.ids.iter().try_for_each(|&i| super::probe::cuda(i).map(drop)),
        #[cfg(feature = "wgpu")]
        BackendKind::Wgpu => super::probe::wgpu().map(drop),
        #[cfg(not(feature = "wgpu"))]
        BackendKind::Wgpu => Ok(()),
    };
    probed.map_err(|source| NetError::Device { device: device.to_string(), source })
}

/// Run `job` on `device`'s backend; an error if that backend was not compiled in.
pub fn run_on<J: BackendJob>(device: &DeviceArg, job: J) -> Result<J::Output, NetError> {
    available(device)?;
    if device.backend != BackendKind::Cpu {
        super::gpu::configure(&Default::default());
    }
    match device.backend {
        BackendKind::Cpu => Ok(job.run::<CpuBackend>(vec![Default::default(); device.replicas()])),
        #[cfg(feature = "wgpu")]
        BackendKind::Wgpu => Ok(job.run::<WgpuBackend>(vec![burn_cubecl::cubecl::wgpu::WgpuDevice::DefaultDevice])),
        #[cfg(not(feature = "wgpu"))]
        BackendKind::Wgpu => unreachable!("`available` refused it"),
        #[cfg(feature = "cuda")]
        BackendKind::Cuda => Ok(
            job.run::<CudaBackend>(device.ids.iter().map(|&index| burn::backend::cuda::CudaDevice { index }).collect())
        ),
        #[cfg(not(feature = "cuda"))]
        BackendKind::Cuda => unreachable!("`available` refused it"),
    }
}

/// What the backend is, for reports.
pub fn describe(device: &DeviceArg) -> String {
    let k = device.replicas();
    let parallel = if k > 1 { format!(", data-parallel on {k}") } else { String::new() };
    match device.backend {
        BackendKind::Cpu => format!(
            "{device} (burn Flex, {} threads{parallel})",
            std::thread::available_parallelism().map_or(1, |n| n.get())
        ),
        BackendKind::Wgpu => format!("{device} (burn CubeCL on wgpu, default adapter)"),
        BackendKind::Cuda => format!("{device} (burn CubeCL on CUDA{parallel})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_lists_parse_and_print_back() {
        for (text, backend, ids, shown) in [
            ("cpu", BackendKind::Cpu, vec![], "cpu"),
            ("cpu:0", BackendKind::Cpu, vec![], "cpu"),
            ("cpu:0,1", BackendKind::Cpu, vec![0, 1], "cpu:0,1"),
            ("cuda", BackendKind::Cuda, vec![0], "cuda:0"),
            ("wgpu", BackendKind::Wgpu, vec![0], "wgpu"),
            ("wgpu:0", BackendKind::Wgpu, vec![0], "wgpu"),
            ("cuda:3", BackendKind::Cuda, vec![3], "cuda:3"),
            ("cuda:0,1,2,3", BackendKind::Cuda, vec![0, 1, 2, 3], "cuda:0,1,2,3"),
        ] {
            let d: DeviceArg = text.parse().unwrap();
            assert_eq!((d.backend, &d.ids), (backend, &ids), "{text}");
            assert_eq!(d.to_string(), shown);
            assert_eq!(shown.parse::<DeviceArg>().unwrap(), d);
        }
        assert_eq!("cuda:0,1,2,3".parse::<DeviceArg>().unwrap().replicas(), 4);
        assert_eq!("cpu".parse::<DeviceArg>().unwrap().replicas(), 1);
        assert!("cuda:1,1".parse::<DeviceArg>().unwrap_err().contains("listed twice"));
        assert!("wgpu:0,1".parse::<DeviceArg>().unwrap_err().contains("default adapter alone"));
        for bad in ["gpu", "cuda:", "cuda:x", "cpu:0,,1", "wgpu:1"] {
            assert!(bad.parse::<DeviceArg>().is_err(), "{bad}");
        }
    }
}
