//! Device strings (`cpu`, `cuda:N`) to candle devices.

use candle_core::Device;

use crate::{Error, Result};

/// The candle device for a trial's device string: `cpu`, or `cuda:N` (`cuda` means `cuda:0`).
///
/// Without the `cuda` feature, `cuda:N` fails with a message saying how to build with CUDA.
pub fn device(spec: &str) -> Result<Device> {
    let spec = spec.trim();
    if spec == "cpu" {
        return Ok(Device::Cpu);
    }
    let ordinal = match spec.strip_prefix("cuda") {
        Some("") => 0,
        Some(rest) => rest.strip_prefix(':').and_then(|n| n.parse::<usize>().ok()).ok_or_else(|| {
            Error::msg(format!("bad device `{spec}`: expected `cpu` or `cuda:N` with N a GPU number, e.g. `cuda:0`"))
        })?,
        None => {
            return Err(Error::msg(format!("unknown device `{spec}`: expected `cpu` or `cuda:N` (e.g. `cuda:0`)")));
        }
    };
    cuda(ordinal, spec)
}

#[cfg(feature = "cuda")]
fn cuda(ordinal: usize, spec: &str) -> Result<Device> {
    Device::new_cuda(ordinal).map_err(|e| Error::msg(format!("cannot open device `{spec}`: {e}")))
}

#[cfg(not(feature = "cuda"))]
fn cuda(_ordinal: usize, spec: &str) -> Result<Device> {
    Err(Error::msg(format!(
        "device `{spec}` needs CUDA, but this build has no CUDA support: rebuild with \
         `cargo build --release --features cuda` (needs nvcc; see docs/cuda.md)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_and_rejects_garbage() {
        assert!(device("cpu").unwrap().is_cpu());
        for bad in ["gpu", "cuda:x", "cuda:", "cuda0", "CPU", "metal"] {
            let err = device(bad).unwrap_err().to_string();
            assert!(err.contains("cuda:N"), "{bad}: {err}");
        }
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_feature_says_how_to_build() {
        let err = device("cuda:0").unwrap_err().to_string();
        assert!(
            err.contains("--features cuda") && err.contains("docs/cuda.md"),
            "{err}"
        );
    }
}
