//! The sweep's `data` field: a toy 2D mixture or an image dataset, as written and as resolved.

use std::fmt;
use std::path::Path;

use ganbench_data::{DataSource, ImageSpec, Toy2d};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The training data.
///
/// In RON, a string is a toy dataset in [`Toy2d`]'s text form (`"ring8"`, `"grid25"`,
/// `"ring(modes=8,radius=2,std=0.02)"`); [`Toy2d`]'s serde form
/// (`ring(modes: 8, radius: 2.0, std: 0.02)`) is accepted too. An image dataset is written in
/// [`ImageSpec`]'s RON form: `Idx(images: "…", labels: "…")`, `ImageFolder(path: "…", size: 32,
/// channels: 3)`, `Cifar10(path: "…")`, `StackedMnist(images: "…", labels: "…")`, each with an
/// optional `held_out`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DataSpec {
    /// A toy 2D mixture.
    Toy(Toy2d),
    /// An image dataset.
    Images {
        /// As written in the file: what the spec hash covers, so that a sweep that names its
        /// data by a relative path hashes the same wherever the project is checked out.
        written: ImageSpec,
        /// With relative paths joined to the sweep file's folder and made absolute: what is
        /// checked, opened and shown.
        resolved: ImageSpec,
    },
}

impl DataSpec {
    /// The image dataset to open (paths resolved), if the data is one.
    pub fn images(&self) -> Option<&ImageSpec> {
        match self {
            DataSpec::Images { resolved, .. } => Some(resolved),
            DataSpec::Toy(_) => None,
        }
    }

    /// The data to open (paths resolved): what the runner hands its workers.
    pub fn source(&self) -> DataSource {
        match self {
            DataSpec::Toy(toy) => DataSource::Toy(*toy),
            DataSpec::Images { resolved, .. } => DataSource::Images(resolved.clone()),
        }
    }

    /// Resolves relative image paths against the folder of `sweep_file` (the current directory
    /// when it has none), making them absolute.
    pub(crate) fn resolve_paths(&mut self, sweep_file: &Path) {
        if let DataSpec::Images { written, resolved } = self {
            let folder = match sweep_file.parent() {
                Some(p) if !p.as_os_str().is_empty() => std::path::absolute(p),
                _ => std::env::current_dir(),
            };
            // Without a current directory (deleted), relative paths stay relative.
            *resolved = written.resolved_against(&folder.unwrap_or_default());
        }
    }
}

impl fmt::Display for DataSpec {
    /// [`DataSpec::source`]'s text form: a toy dataset's, or an image dataset's RON form with
    /// resolved paths.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.source().fmt(f)
    }
}

/// Prefix of the message a dataset that fails to parse gives, so that the parse-error mapping
/// can tell it from a type error (serde's custom errors carry only text).
pub(crate) const BAD_DATA: &str = "invalid dataset: ";

/// What ron's error says when `data` is neither a string nor an enum-like value; parse.rs turns it
/// into a located `WrongType` error.
const EXPECTING: &str = "a dataset such as \"ring8\", \"grid25\", \
    \"ring(modes=8,radius=2,std=0.02)\" or Idx(images: \"…\", labels: \"…\")";

/// What `data` may be written as. Untagged, because a plain string has to keep meaning a toy
/// dataset while other kinds arrive as RON enum variants: ron hands an untagged enum
/// `Idx(images: …)` as a one-entry map, here captured as JSON `{"Idx": {"images": …}}` and then
/// deserialized as a [`Toy2d`] or an [`ImageSpec`] by its tag, so that their own errors (an
/// unknown field, a missing one) reach the user instead of "matched no variant".
#[derive(Deserialize)]
#[serde(untagged)]
enum DataRepr {
    Text(String),
    Tagged(serde_json::Value),
}

impl<'de> Deserialize<'de> for DataSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bad = |e: &dyn fmt::Display| D::Error::custom(format!("{BAD_DATA}{e}"));
        let value = match DataRepr::deserialize(deserializer)? {
            DataRepr::Text(text) => {
                return text
                    .parse::<Toy2d>()
                    .map(DataSpec::Toy)
                    .map_err(|e| bad(&e))
            }
            DataRepr::Tagged(value) => value,
        };
        let tag = match &value {
            serde_json::Value::Object(map) if map.len() == 1 => {
                map.keys().next().expect("one entry").clone()
            }
            _ => return Err(D::Error::custom(EXPECTING)),
        };
        match tag.as_str() {
            "ring" | "grid" => Toy2d::deserialize(value)
                .map(DataSpec::Toy)
                .map_err(|e| bad(&e)),
            "Idx" | "ImageFolder" | "Cifar10" | "StackedMnist" => {
                let spec = ImageSpec::deserialize(value)
                    .map_err(|e| bad(&format_args!("`{tag}(…)`: {e}")))?;
                spec.validate().map_err(|e| bad(&e))?;
                Ok(DataSpec::Images {
                    written: spec.clone(),
                    resolved: spec,
                })
            }
            _ => Err(bad(&format_args!(
                "unknown dataset kind `{tag}(…)`; expected `Idx(…)`, `ImageFolder(…)`, \
                 `Cifar10(…)`, `StackedMnist(…)`, `ring(…)` or `grid(…)`"
            ))),
        }
    }
}

impl Serialize for DataSpec {
    /// A toy dataset as its text form, which parses back to the same value; an image dataset as
    /// written (relative paths unresolved), in serde's externally tagged form.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            DataSpec::Toy(_) => serializer.collect_str(self),
            DataSpec::Images { written, .. } => written.serialize(serializer),
        }
    }
}
