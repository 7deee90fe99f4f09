//! Asking a GPU setup whether it works before any work starts: the CUDA driver library is the
//! real one and sees the device, NVRTC is there and no newer than the driver, wgpu has an
//! adapter. Without this, CubeCL finds out on its device thread and panics, and the user reads
//! "an internal error". Plain `dlopen`, so it runs in every build (`lightnasc devices`).

use thiserror::Error;

/// Why a GPU cannot be used, each with the fix in its message.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DeviceError {
    #[error(
        "no NVIDIA driver library (libcuda.so.1) on this machine ({detail}); install the NVIDIA driver, or add the folder that holds its libcuda.so.1 to LD_LIBRARY_PATH"
    )]
    NoDriver { detail: String },
    #[error(
        "the libcuda.so.1 that was loaded ({path}) is CUDA's stub library (cuInit returned CUDA_ERROR_STUB_LIBRARY), a placeholder for linking, not the driver; remove the CUDA toolkit's `stubs` folder from LD_LIBRARY_PATH"
    )]
    StubDriver { path: String },
    #[error(
        "the CUDA driver ({path}) failed to start: cuInit returned {code} ({name}); check that the NVIDIA kernel module is loaded (`nvidia-smi` should list the GPU)"
    )]
    DriverFailed { path: String, code: i32, name: &'static str },
    #[error("the CUDA driver sees no GPU (cuInit returned {code}, {name}); `nvidia-smi` should list one")]
    NoGpu { code: i32, name: &'static str },
    #[error("device `cuda:{index}` does not exist: this machine has {count} CUDA GPU(s), cuda:0 to cuda:{}", count.saturating_sub(1))]
    NoSuchGpu { index: usize, count: i32 },
    #[error(
        "no NVRTC library (libnvrtc.so.*), which compiles lightnasc's CUDA kernels at run time; install CUDA's runtime compiler (Debian: nvidia-cuda-toolkit or libnvrtc; pip: nvidia-cuda-nvrtc) and make its folder known to the loader (ldconfig, or LD_LIBRARY_PATH)"
    )]
    NoNvrtc,
    #[error(
        "NVRTC {nvrtc_major}.{nvrtc_minor} ({path}) is newer than the driver, which supports CUDA {driver_major}.{driver_minor}: the driver cannot load what it compiles; update the NVIDIA driver, or put an NVRTC of CUDA {driver_major} first on LD_LIBRARY_PATH"
    )]
    NvrtcTooNew { path: String, nvrtc_major: i32, nvrtc_minor: i32, driver_major: i32, driver_minor: i32 },
    #[error(
        "wgpu found no adapter for {api} (no GPU driver, and no software one such as Mesa's lavapipe); install a Vulkan driver (Debian: mesa-vulkan-drivers), and check VK_ICD_FILENAMES / VK_DRIVER_FILES if set"
    )]
    NoAdapter { api: String },
}

/// What a working CUDA setup reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CudaSetup {
    pub driver_path: String,
    pub driver_version: (i32, i32),
    pub gpus: i32,
    pub nvrtc_path: String,
    pub nvrtc_version: (i32, i32),
}

/// The CUDA driver and NVRTC, and that GPU `index` exists.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn cuda(index: usize) -> Result<CudaSetup, DeviceError> {
    let driver = Lib::open(&["libcuda.so.1", "libcuda.so"]).map_err(|detail| DeviceError::NoDriver { detail })?;
    type Init = unsafe extern "C" fn(u32) -> i32;
    type GetInt = unsafe extern "C" fn(*mut i32) -> i32;
    let path = driver.path("cuInit");
    // SAFETY: the symbols are CUDA's driver API entry points with these C signatures.
    let (init, version, count) = unsafe {
        let init: Init = driver.sym("cuInit").ok_or_else(|| DeviceError::NoDriver { detail: "no cuInit".into() })?;
        let version: Option<GetInt> = driver.sym("cuDriverGetVersion");
        let count: Option<GetInt> = driver.sym("cuDeviceGetCount");
        (init, version, count)
    };
    // SAFETY: cuInit takes flags 0; the getters write one int.
    let code = unsafe { init(0) };
    match code {
        0 => {}
        34 => return Err(DeviceError::StubDriver { path }),
        100 | 101 => return Err(DeviceError::NoGpu { code, name: cuda_error_name(code) }),
        _ => return Err(DeviceError::DriverFailed { path, code, name: cuda_error_name(code) }),
    }
    let get = |f: Option<GetInt>| {
        let mut v = 0;
        // SAFETY: as above.
        f.map(|f| unsafe { f(&mut v) }).filter(|&c| c == 0).map(|_| v)
    };
    let gpus = get(count).unwrap_or(0);
    if gpus == 0 {
        return Err(DeviceError::NoGpu { code: 100, name: cuda_error_name(100) });
    }
    if index >= gpus as usize {
        return Err(DeviceError::NoSuchGpu { index, count: gpus });
    }
    let v = get(version).unwrap_or(0);
    let driver_version = (v / 1000, v % 1000 / 10);
    let (nvrtc_path, nvrtc_version) = nvrtc()?;
    if nvrtc_version > driver_version && driver_version.0 > 0 {
        return Err(DeviceError::NvrtcTooNew {
            path: nvrtc_path,
            nvrtc_major: nvrtc_version.0,
            nvrtc_minor: nvrtc_version.1,
            driver_major: driver_version.0,
            driver_minor: driver_version.1,
        });
    }
    Ok(CudaSetup { driver_path: path, driver_version, gpus, nvrtc_path, nvrtc_version })
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn cuda(_index: usize) -> Result<CudaSetup, DeviceError> {
    // Elsewhere CubeCL's own loading decides; nothing to ask here.
    Ok(CudaSetup {
        driver_path: String::new(),
        driver_version: (0, 0),
        gpus: 0,
        nvrtc_path: String::new(),
        nvrtc_version: (0, 0),
    })
}

/// The NVRTC cudarc would load (the names it tries, newest first) and its version.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn nvrtc() -> Result<(String, (i32, i32)), DeviceError> {
    let names = ["libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11", "libnvrtc.so.1"];
    let lib = Lib::open(&names).map_err(|_| DeviceError::NoNvrtc)?;
    type Version = unsafe extern "C" fn(*mut i32, *mut i32) -> i32;
    // SAFETY: nvrtcVersion(int *major, int *minor) from NVRTC's C API.
    let version: Option<Version> = unsafe { lib.sym("nvrtcVersion") };
    let (mut major, mut minor) = (0, 0);
    // SAFETY: writes two ints.
    if version.is_none_or(|f| unsafe { f(&mut major, &mut minor) } != 0) {
        return Err(DeviceError::NoNvrtc);
    }
    Ok((lib.path("nvrtcVersion"), (major, minor)))
}

fn cuda_error_name(code: i32) -> &'static str {
    match code {
        1 => "CUDA_ERROR_INVALID_VALUE",
        3 => "CUDA_ERROR_NOT_INITIALIZED",
        34 => "CUDA_ERROR_STUB_LIBRARY",
        35 => "CUDA_ERROR_INSUFFICIENT_DRIVER",
        100 => "CUDA_ERROR_NO_DEVICE",
        101 => "CUDA_ERROR_INVALID_DEVICE",
        304 => "CUDA_ERROR_OPERATING_SYSTEM",
        999 => "CUDA_ERROR_UNKNOWN",
        _ => "see CUDA's cudaError_enum",
    }
}

/// A library opened with `dlopen` (kept loaded: CubeCL loads the same one after).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
struct Lib(*mut libc::c_void);

#[cfg(all(target_os = "linux", target_env = "gnu"))]
impl Lib {
    /// The first of `names` that loads, or the loader's message for the first.
    fn open(names: &[&str]) -> Result<Lib, String> {
        let mut first = None;
        for name in names {
            let c = std::ffi::CString::new(*name).expect("no NUL in library names");
            // SAFETY: a NUL-terminated name; RTLD_NOW resolves it fully or fails.
            let h = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
            if !h.is_null() {
                return Ok(Lib(h));
            }
            // SAFETY: dlerror returns a thread-local message or null.
            let e = unsafe { libc::dlerror() };
            if first.is_none() && !e.is_null() {
                // SAFETY: a NUL-terminated string owned by the loader, copied at once.
                first = Some(unsafe { std::ffi::CStr::from_ptr(e) }.to_string_lossy().into_owned());
            }
        }
        Err(first.unwrap_or_else(|| format!("{} not found", names[0])))
    }

    /// The symbol `name` as a function pointer of type `F`.
    ///
    /// # Safety
    /// `F` must be the symbol's true (C ABI, pointer-sized) function type.
    unsafe fn sym<F: Copy>(&self, name: &str) -> Option<F> {
        let c = std::ffi::CString::new(name).expect("no NUL in symbol names");
        // SAFETY: a valid handle and a NUL-terminated name.
        let p = unsafe { libc::dlsym(self.0, c.as_ptr()) };
        // SAFETY: the caller vouches for the type; a fn pointer is pointer-sized.
        (!p.is_null()).then(|| unsafe { std::mem::transmute_copy::<*mut libc::c_void, F>(&p) })
    }

    /// The file the symbol `name` was loaded from (where the loader found the library).
    fn path(&self, name: &str) -> String {
        let c = std::ffi::CString::new(name).expect("no NUL in symbol names");
        // SAFETY: a valid handle; dladdr fills `info` for an address inside a loaded object.
        unsafe {
            let p = libc::dlsym(self.0, c.as_ptr());
            let mut info: libc::Dl_info = std::mem::zeroed();
            if p.is_null() || libc::dladdr(p, &mut info) == 0 || info.dli_fname.is_null() {
                return "unknown path".into();
            }
            std::ffi::CStr::from_ptr(info.dli_fname).to_string_lossy().into_owned()
        }
    }
}

/// The wgpu adapters CubeCL would choose from (its graphics API: Vulkan on Linux), by name.
#[cfg(feature = "wgpu")]
pub fn wgpu() -> Result<Vec<String>, DeviceError> {
    use burn_cubecl::cubecl::wgpu::{AutoGraphicsApi, GraphicsApi};
    let backend = AutoGraphicsApi::backend();
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: backend.into(),
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    let adapters = burn_cubecl::cubecl::future::block_on(instance.enumerate_adapters(backend.into()));
    let names: Vec<String> = adapters
        .iter()
        .map(|a| {
            let info = a.get_info();
            match info.device_type {
                wgpu::DeviceType::Cpu => format!("{} {SOFTWARE}", info.name),
                _ => info.name,
            }
        })
        .collect();
    if names.is_empty() {
        return Err(DeviceError::NoAdapter { api: format!("{backend:?}") });
    }
    Ok(names)
}

/// How a software adapter (Mesa's lavapipe, llvmpipe) is named: it emulates a GPU on the CPU.
pub const SOFTWARE: &str = "(software: a GPU emulated on the CPU, slower than --device cpu)";
