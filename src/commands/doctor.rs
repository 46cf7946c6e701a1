//! `ganbench doctor`: what this build is and what it can train on — features, build id, CPUs,
//! and, in a CUDA build, the driver, the GPUs and the CUDA libraries this process loaded.

use std::process::ExitCode;

use anyhow::Result;
use ganbench_sdk::CudaReport;
use serde::Serialize;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print one JSON object on stdout instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Doctor {
    version: &'static str,
    /// Plugin libraries must have this build id to load.
    build_id: &'static str,
    features: Features,
    /// CPUs this process may use (`run --jobs` defaults to this).
    cpus: usize,
    /// CPU threads per training process (`--threads`).
    threads: usize,
    cuda: CudaReport,
}

#[derive(Serialize)]
struct Features {
    cuda: bool,
}

pub fn run(threads: usize, args: Args) -> Result<ExitCode> {
    let doctor = Doctor {
        version: env!("CARGO_PKG_VERSION"),
        build_id: ganbench_sdk::BUILD_ID,
        features: Features {
            cuda: cfg!(feature = "cuda"),
        },
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        threads,
        cuda: ganbench_sdk::cuda_report(),
    };
    if args.json {
        outln!("{}", serde_json::to_string(&doctor)?)?;
    } else {
        out!("{}", text(&doctor))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn text(d: &Doctor) -> String {
    let mut out = format!("ganbench {}\nbuild id   {}\n", d.version, d.build_id);
    let cuda = &d.cuda;
    out += &format!(
        "features   cuda {}\n",
        if d.features.cuda {
            "on"
        } else {
            "off (CPU only)"
        }
    );
    out += &format!("cpus       {} (threads per trial: {})\n", d.cpus, d.threads);
    if let Some(v) = &cuda.toolkit {
        out += &format!("cuda       built for CUDA {v}\n");
    }
    if let Some(v) = &cuda.driver {
        out += &format!("driver     CUDA {v}\n");
    }
    if d.features.cuda {
        out += &format!("gpus       {}\n", cuda.gpus.len());
    }
    for gpu in &cuda.gpus {
        out += &format!(
            "  {:<8} {}, {:.1} GiB, compute capability {}\n",
            gpu.device,
            gpu.name,
            gpu.memory_bytes as f64 / (1u64 << 30) as f64,
            gpu.compute_capability
        );
    }
    if !cuda.libraries.is_empty() {
        out += "libraries\n";
    }
    for lib in &cuda.libraries {
        out += &format!(
            "  {:<10} {:<10} {}\n",
            lib.name,
            lib.version.as_deref().unwrap_or("-"),
            lib.path.as_deref().unwrap_or("(not loaded)")
        );
    }
    if let Some(problem) = &cuda.problem {
        out += &format!("problem    {problem}\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ganbench_sdk::{GpuInfo, LibraryInfo};

    #[test]
    fn text_lists_gpus_and_libraries() {
        let d = Doctor {
            version: "0.1.0",
            build_id: "rustc 1.90; x86_64; release; candle-0.11.1",
            features: Features { cuda: true },
            cpus: 16,
            threads: 1,
            cuda: CudaReport {
                built: true,
                toolkit: Some("13.0".into()),
                driver: Some("13.0".into()),
                gpus: vec![GpuInfo {
                    device: "cuda:0".into(),
                    name: "NVIDIA H200".into(),
                    memory_bytes: 150_122_151_936,
                    compute_capability: "9.0".into(),
                }],
                libraries: vec![LibraryInfo {
                    name: "cublas".into(),
                    version: Some("13.0.2".into()),
                    path: Some("/x/libcublas.so.13".into()),
                }],
                problem: None,
            },
        };
        let t = text(&d);
        assert!(t.contains("features   cuda on\n"), "{t}");
        assert!(
            t.contains("  cuda:0   NVIDIA H200, 139.8 GiB, compute capability 9.0\n"),
            "{t}"
        );
        assert!(
            t.contains("  cublas     13.0.2     /x/libcublas.so.13\n"),
            "{t}"
        );
        assert!(!t.contains("problem"), "{t}");
    }
}
