//! Where a trial trains: one type from the sweep file and the command line to the plugin.
//!
//! Its text form, `cpu` or `cuda:N`, is what `--device` takes and what [`TrialConfig`]'s JSON
//! carries across the plugin boundary (so a plugin built against an older API reads the same
//! string); in a sweep file it is written as a RON enum, `Cpu` or `Cuda(1)`.
//!
//! [`TrialConfig`]: crate::TrialConfig

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A CPU or a CUDA GPU by the driver's numbering.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Device {
    /// The CPU (the default).
    #[default]
    Cpu,
    /// A CUDA GPU by the driver's numbering (needs a build with the `cuda` cargo feature).
    Cuda(usize),
}

impl fmt::Display for Device {
    /// `cpu` or `cuda:N`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// A device text that is neither `cpu` nor `cuda[:N]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown device `{text}`: expected `cpu` or `cuda:N` with N a GPU number (e.g. `cuda:0`)")]
pub struct UnknownDevice {
    /// The text as given, trimmed.
    pub text: String,
}

impl FromStr for Device {
    type Err = UnknownDevice;

    /// `cpu`, `cuda` (= `cuda:0`) or `cuda:N`, surrounding spaces ignored.
    fn from_str(text: &str) -> Result<Self, UnknownDevice> {
        let text = text.trim();
        if text == "cpu" {
            return Ok(Device::Cpu);
        }
        let unknown = || UnknownDevice { text: text.into() };
        match text.strip_prefix("cuda") {
            Some("") => Ok(Device::Cuda(0)),
            Some(rest) => rest
                .strip_prefix(':')
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|n| n.parse().ok())
                .map(Device::Cuda)
                .ok_or_else(unknown),
            None => Err(unknown()),
        }
    }
}

/// `#[serde(with = "device::as_text")]`: a [`Device`] as its text form (`"cpu"`, `"cuda:1"`).
pub mod as_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Device;

    pub fn serialize<S: Serializer>(device: &Device, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(device)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Device, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::Device;

    #[test]
    fn text_form_round_trips_and_rejects_the_rest() {
        assert_eq!("cpu".parse(), Ok(Device::Cpu));
        assert_eq!(" cuda ".parse(), Ok(Device::Cuda(0)));
        assert_eq!("cuda:3".parse(), Ok(Device::Cuda(3)));
        for bad in [
            "gpu", "cuda:", "cuda:x", "cuda:-1", "cuda:+1", "cuda0", "CPU", "cuda:1:2", "metal", "",
        ] {
            let err = bad.parse::<Device>().unwrap_err();
            assert_eq!(err.text, bad.trim());
            assert!(err.to_string().contains("cuda:N"), "{bad}: {err}");
        }
        for device in [Device::Cpu, Device::Cuda(0), Device::Cuda(12)] {
            assert_eq!(device.to_string().parse(), Ok(device));
        }
    }
}
