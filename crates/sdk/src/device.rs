//! A trial's [`Device`] to a candle device, and what the CUDA driver can say about the
//! machine's GPUs (for `ganbench doctor`).
//!
//! Nothing here falls back to the CPU: a trial that asks for `cuda:N` gets that GPU or an error
//! that says why not (no CUDA in this build, no GPU on this machine, no GPU with that number).

use candle_core::Device as CandleDevice;
use ganbench_plugin_api::Device;
use serde::Serialize;

/// Why a device cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    #[error(
        "device `{spec}` needs CUDA, but this build has no CUDA support: rebuild with \
         `cargo build --release --features cuda` (needs nvcc; see docs/cuda.md)"
    )]
    NotBuilt { spec: String },
    #[error(
        "device `{spec}`: no usable GPU on this machine: this ganbench is built with CUDA, but the \
         CUDA driver reports {code}; check `nvidia-smi`, or train on `cpu`"
    )]
    NoGpu { spec: String, code: String },
    #[error(
        "device `{spec}`: the NVIDIA driver is too old for this build's CUDA 13 ({code}); \
         install driver R580 or newer (see docs/cuda.md)"
    )]
    OldDriver { spec: String, code: String },
    #[error(
        "device `{spec}` does not exist: the CUDA driver sees {count} GPU(s), numbered from cuda:0; \
         `ganbench doctor` lists them"
    )]
    NoSuchGpu { spec: String, count: usize },
    #[error("cannot open device `{spec}`: {cause}")]
    Open { spec: String, cause: String },
}

impl From<DeviceError> for crate::Error {
    fn from(e: DeviceError) -> Self {
        crate::Error::msg(e)
    }
}

/// Whether this build has CUDA support (the `cuda` cargo feature).
pub const CUDA_BUILT: bool = cfg!(feature = "cuda");

/// Checks that the device exists, without creating a CUDA context (which would hold GPU memory
/// for as long as the caller lives): a sweep's parent process calls this for every device before
/// any trial starts, and the workers open the devices.
pub fn check_device(device: Device) -> Result<(), DeviceError> {
    if let Device::Cuda(ordinal) = device {
        let count = cuda::device_count(device)?;
        if ordinal >= count {
            return Err(DeviceError::NoSuchGpu {
                spec: device.to_string(),
                count,
            });
        }
    }
    Ok(())
}

/// The candle device for a trial's [`Device`].
///
/// Checks first as [`check_device`] does, so a missing GPU gets the same message here.
pub fn device(device: Device) -> Result<CandleDevice, DeviceError> {
    check_device(device)?;
    match device {
        Device::Cpu => Ok(CandleDevice::Cpu),
        Device::Cuda(ordinal) => CandleDevice::new_cuda(ordinal).map_err(|e| DeviceError::Open {
            spec: device.to_string(),
            cause: e.to_string(),
        }),
    }
}

/// What the CUDA driver says about this machine, for `ganbench doctor`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CudaReport {
    /// This build has CUDA support.
    pub built: bool,
    /// The CUDA version this build's bindings were compiled for, e.g. `13.0` (none without CUDA).
    pub toolkit: Option<String>,
    /// The driver's CUDA version, e.g. `13.0` (`cuDriverGetVersion`).
    pub driver: Option<String>,
    /// The GPUs the driver sees, in its numbering.
    pub gpus: Vec<GpuInfo>,
    /// The CUDA libraries this process loaded: version (where the library reports one) and file.
    pub libraries: Vec<LibraryInfo>,
    /// Why the driver could not be asked, or what it refused.
    pub problem: Option<String>,
}

/// One GPU.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpuInfo {
    /// `cuda:N`.
    pub device: String,
    pub name: String,
    pub memory_bytes: u64,
    /// `major.minor`, e.g. `9.0` for H100/H200.
    pub compute_capability: String,
}

/// One CUDA library loaded into this process.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LibraryInfo {
    /// cuda (the driver), cudart, cublas, cublasLt, curand, nvrtc.
    pub name: String,
    /// As the library reports it; `None` where it has no version call or the call failed.
    pub version: Option<String>,
    /// The file it was loaded from (symbolic links resolved), from `/proc/self/maps`.
    pub path: Option<String>,
}

/// Asks the CUDA driver and libraries what they are and what they see. Never fails: what it
/// cannot find out is `None` or explained in [`CudaReport::problem`].
pub fn cuda_report() -> CudaReport {
    cuda::report()
}

/// The file of every loaded shared library whose file name starts with one of `prefixes`
/// (`libcublas.so` …), symbolic links resolved, from this process's memory map.
#[cfg(feature = "cuda")]
fn loaded_libraries(prefixes: &[&str]) -> Vec<(String, String)> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    loaded_in_maps(&maps, prefixes)
}

#[cfg(any(feature = "cuda", test))]
fn loaded_in_maps(maps: &str, prefixes: &[&str]) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = Vec::new();
    for path in maps.lines().filter_map(|l| l.split_whitespace().nth(5)) {
        let file = path.rsplit('/').next().unwrap_or(path);
        let Some(prefix) = prefixes
            .iter()
            .find(|p| file.strip_prefix(**p).is_some_and(|r| r.starts_with(".so")))
        else {
            continue;
        };
        let real = std::fs::canonicalize(path)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| path.to_string());
        if !found.iter().any(|(p, r)| p == prefix && *r == real) {
            found.push((prefix.to_string(), real));
        }
    }
    found
}

#[cfg(feature = "cuda")]
mod cuda {
    //! The driver and library calls behind [`super::check_device`] and [`super::cuda_report`],
    //! through the cudarc that candle links.

    use std::ffi::c_int;

    use candle_core::cuda_backend::cudarc;
    use cudarc::driver::{result, sys, DriverError};

    use super::{CudaReport, Device, DeviceError, GpuInfo, LibraryInfo};

    fn code(e: &DriverError) -> String {
        format!("{:?}", e.0)
    }

    /// The number of GPUs the driver sees; an error when it sees none.
    pub fn device_count(device: Device) -> Result<usize, DeviceError> {
        let spec = device.to_string();
        let count = result::init()
            .and_then(|()| result::device::get_count())
            .map_err(|e| match e.0 {
                sys::CUresult::CUDA_ERROR_NO_DEVICE => DeviceError::NoGpu {
                    spec: spec.clone(),
                    code: code(&e),
                },
                sys::CUresult::CUDA_ERROR_SYSTEM_DRIVER_MISMATCH
                | sys::CUresult::CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE => {
                    DeviceError::OldDriver {
                        spec: spec.clone(),
                        code: code(&e),
                    }
                }
                _ => DeviceError::Open {
                    spec: spec.clone(),
                    cause: format!("the CUDA driver reports {}", code(&e)),
                },
            })?;
        if count <= 0 {
            return Err(DeviceError::NoGpu {
                spec,
                code: "0 devices".into(),
            });
        }
        Ok(count as usize)
    }

    /// `13000` → `13.0`, CUDA's encoding of versions (1000 × major + 10 × minor).
    fn cuda_version(v: c_int) -> String {
        format!("{}.{}", v / 1000, (v % 1000) / 10)
    }

    pub fn report() -> CudaReport {
        let mut report = CudaReport {
            built: true,
            toolkit: Some(toolkit_version()),
            ..CudaReport::default()
        };
        let mut driver_version: c_int = 0;
        // SAFETY: cuDriverGetVersion writes one int through its pointer, here a live local; it is
        // valid before cuInit and takes no handle.
        if unsafe { sys::cuDriverGetVersion(&mut driver_version) } == sys::CUresult::CUDA_SUCCESS {
            report.driver = Some(cuda_version(driver_version));
        }
        match device_count(Device::Cuda(0)) {
            Ok(count) => {
                for ordinal in 0..count {
                    report.gpus.push(gpu(ordinal));
                }
            }
            Err(e) => report.problem = Some(e.to_string()),
        }
        report.libraries = libraries();
        report
    }

    /// The CUDA version cudarc picked its bindings for at build time (from nvcc's version).
    fn toolkit_version() -> String {
        cuda_version(sys::CUDA_VERSION as c_int)
    }

    fn gpu(ordinal: usize) -> GpuInfo {
        let device = Device::Cuda(ordinal).to_string();
        let Ok(dev) = result::device::get(ordinal as c_int) else {
            return GpuInfo {
                device,
                name: "?".into(),
                memory_bytes: 0,
                compute_capability: "?".into(),
            };
        };
        let name = result::device::get_name(dev).unwrap_or_else(|e| format!("? ({})", code(&e)));
        // SAFETY: `dev` is a device handle that cuDeviceGet just returned (after `device_count`
        // initialized the driver), which is all cuDeviceTotalMem needs; it writes into a local.
        let memory_bytes = unsafe { result::device::total_mem(dev) }.unwrap_or(0) as u64;
        // SAFETY: as for `total_mem`: a valid `dev` and a valid attribute enum, result by value.
        let attribute = |a| unsafe { result::device::get_attribute(dev, a) }.ok();
        let compute_capability = match (
            attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
            attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR),
        ) {
            (Some(major), Some(minor)) => format!("{major}.{minor}"),
            _ => "?".into(),
        };
        GpuInfo {
            device,
            name,
            memory_bytes,
            compute_capability,
        }
    }

    /// Versions through each library's own status-returning version call (those returning a bare
    /// number are skipped: a link-time stub would answer them with garbage), files from the map.
    fn libraries() -> Vec<LibraryInfo> {
        use cudarc::{cublas, cublaslt, curand, nvrtc};
        let names = [
            "libcuda",
            "libcudart",
            "libcublas",
            "libcublasLt",
            "libcurand",
            "libnvrtc",
        ];
        let files = super::loaded_libraries(&names);
        let property = |get: &dyn Fn(c_int, &mut c_int) -> bool| -> Option<String> {
            let mut parts = [0; 3];
            for (i, part) in parts.iter_mut().enumerate() {
                if !get(i as c_int, part) {
                    return None;
                }
            }
            Some(format!("{}.{}.{}", parts[0], parts[1], parts[2]))
        };
        let lib_property = |i: c_int| match i {
            0 => cublas::sys::libraryPropertyType::MAJOR_VERSION,
            1 => cublas::sys::libraryPropertyType::MINOR_VERSION,
            _ => cublas::sys::libraryPropertyType::PATCH_LEVEL,
        };
        let lt_property = |i: c_int| match i {
            0 => cublaslt::sys::libraryPropertyType::MAJOR_VERSION,
            1 => cublaslt::sys::libraryPropertyType::MINOR_VERSION,
            _ => cublaslt::sys::libraryPropertyType::PATCH_LEVEL,
        };
        // Each call below is a version query that writes ints through pointers to live locals and
        // needs no handle or initialization.
        let versions: Vec<(&str, Option<String>)> = vec![
            ("libcuda", {
                let mut v: c_int = 0;
                // SAFETY: writes one int into the live local `v`; valid before cuInit.
                (unsafe { sys::cuDriverGetVersion(&mut v) } == sys::CUresult::CUDA_SUCCESS)
                    .then(|| cuda_version(v))
            }),
            ("libcudart", None),
            (
                "libcublas",
                // SAFETY: writes one int through `out`, a `&mut c_int` of `property`; the
                // property enum is one of the three valid values; no cuBLAS handle is needed.
                property(&|i, out| unsafe {
                    cublas::sys::cublasGetProperty(lib_property(i), out)
                        == cublas::sys::cublasStatus_t::CUBLAS_STATUS_SUCCESS
                }),
            ),
            (
                "libcublasLt",
                // SAFETY: as for cublasGetProperty: one int through a `&mut c_int`, a valid enum,
                // no handle.
                property(&|i, out| unsafe {
                    cublaslt::sys::cublasLtGetProperty(lt_property(i), out)
                        == cublaslt::sys::cublasStatus_t::CUBLAS_STATUS_SUCCESS
                }),
            ),
            ("libcurand", {
                let mut v: c_int = 0;
                // SAFETY: writes one int into the live local `v`; no generator is needed.
                (unsafe { curand::sys::curandGetVersion(&mut v) }
                    == curand::sys::curandStatus::CURAND_STATUS_SUCCESS)
                    .then(|| format!("{}.{}.{}", v / 1000, (v % 1000) / 100, v % 100))
            }),
            ("libnvrtc", {
                let (mut major, mut minor): (c_int, c_int) = (0, 0);
                // SAFETY: writes one int into each of the live locals `major` and `minor`.
                (unsafe { nvrtc::sys::nvrtcVersion(&mut major, &mut minor) }
                    == nvrtc::sys::nvrtcResult::NVRTC_SUCCESS)
                    .then(|| format!("{major}.{minor}"))
            }),
        ];
        versions
            .into_iter()
            .map(|(name, version)| LibraryInfo {
                name: name.trim_start_matches("lib").into(),
                version,
                path: files
                    .iter()
                    .find(|(prefix, _)| prefix == name)
                    .map(|(_, file)| file.clone()),
            })
            .collect()
    }
}

#[cfg(not(feature = "cuda"))]
mod cuda {
    use super::{CudaReport, Device, DeviceError};

    pub fn device_count(device: Device) -> Result<usize, DeviceError> {
        Err(DeviceError::NotBuilt {
            spec: device.to_string(),
        })
    }

    pub fn report() -> CudaReport {
        CudaReport {
            problem: Some(
                "this build has no CUDA support: rebuild with `cargo build --release --features cuda` \
                 (see docs/cuda.md)"
                    .into(),
            ),
            ..CudaReport::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_opens_without_cuda() {
        assert!(device(Device::Cpu).unwrap().is_cpu());
        assert_eq!(check_device(Device::Cpu), Ok(()));
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_feature_says_how_to_build() {
        for (gpu, spec) in [(Device::Cuda(0), "cuda:0"), (Device::Cuda(7), "cuda:7")] {
            let err = check_device(gpu).unwrap_err();
            assert_eq!(err, DeviceError::NotBuilt { spec: spec.into() });
            let text = device(gpu).unwrap_err().to_string();
            assert!(
                text.contains("--features cuda") && text.contains("docs/cuda.md"),
                "{text}"
            );
        }
        let report = cuda_report();
        assert!(!report.built && report.gpus.is_empty());
        assert!(report.problem.unwrap().contains("--features cuda"));
    }

    #[test]
    fn loaded_libraries_reads_the_map_format() {
        // Lines as the kernel writes them (proc(5)); anonymous mappings have no path.
        let maps = "\
7f00-7f01 r--p 00000000 fd:01 1 /usr/lib/x86_64-linux-gnu/libcuda.so.580.65.06
7f01-7f02 r-xp 00001000 fd:01 1 /usr/lib/x86_64-linux-gnu/libcuda.so.580.65.06
7f02-7f03 r--p 00000000 fd:01 2 /opt/nvidia/cublas/lib/libcublasLt.so.13
7f03-7f04 r--p 00000000 fd:01 3 /opt/nvidia/cublas/lib/libcublas.so.13
7f04-7f05 rw-p 00000000 00:00 0
7f05-7f06 r--p 00000000 fd:01 4 /usr/lib/libcudart_static_helper.so
7f06-7f07 r--p 00000000 fd:01 5 /usr/lib/libc.so.6
";
        let found = loaded_in_maps(maps, &["libcuda", "libcublas", "libcublasLt"]);
        assert_eq!(
            found,
            vec![
                (
                    "libcuda".into(),
                    "/usr/lib/x86_64-linux-gnu/libcuda.so.580.65.06".into()
                ),
                (
                    "libcublasLt".into(),
                    "/opt/nvidia/cublas/lib/libcublasLt.so.13".into()
                ),
                (
                    "libcublas".into(),
                    "/opt/nvidia/cublas/lib/libcublas.so.13".into()
                ),
            ]
        );
    }
}
