//! Toy 2D mixtures of isotropic Gaussians: a ring or a square grid of equally likely modes.

use std::f64::consts::TAU;
use std::fmt;
use std::str::FromStr;

use rand::{Rng, RngCore};
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::Dataset;

/// Most modes a toy dataset may have. Metrics cost samples × modes and the centres are held in
/// memory, so a typo such as `modes=80000000` should be an error, not an out-of-memory kill.
pub const MAX_MODES: usize = 65_536;

/// Largest radius, spacing or standard deviation. Batches are `f32`; beyond this the samples
/// around a centre would be quantized to a handful of values.
pub const MAX_LENGTH: f64 = 1e6;

const RING_KEYS: &str = "`modes`, `radius`, `std`";
const GRID_KEYS: &str = "`side`, `spacing`, `std`";
const LENGTH_RANGE: &str = "a finite number > 0 and <= 1e6";

/// Description of a toy 2D mixture: what a sweep file names and what a checkpoint records.
///
/// The fields are public plain data, so a value can be built by hand; [`Toy2d::validate`] (called
/// by [`FromStr`], by deserialization and by [`ToyMixture::new`]) checks it. Text form: `ring8`,
/// `grid25`, `ring(modes=8,radius=1,std=0.01)`, `grid(side=5,spacing=2,std=0.05)`; [`Display`]
/// writes a form that parses back to the same value.
///
/// Serde form (externally tagged, lower case), e.g. RON `ring(modes: 8, radius: 1.0, std: 0.01)`
/// or JSON `{"grid":{"side":5,"spacing":2.0,"std":0.05}}`; unknown fields are rejected.
///
/// [`Display`]: fmt::Display
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Toy2dRepr", into = "Toy2dRepr")]
pub enum Toy2d {
    /// `modes` centres at angles 2πk/modes, k = 0..modes, on a circle of `radius` around the origin.
    Ring {
        /// Number of modes, 1..=[`MAX_MODES`].
        modes: usize,
        /// Circle radius.
        radius: f64,
        /// Standard deviation of every mode, per coordinate.
        std: f64,
    },
    /// `side`×`side` centres on a lattice with `spacing`, centred on the origin
    /// (side 5, spacing 2: {-4, -2, 0, 2, 4}²).
    Grid {
        /// Centres per row and column; side² ≤ [`MAX_MODES`].
        side: usize,
        /// Distance between neighbouring centres.
        spacing: f64,
        /// Standard deviation of every mode, per coordinate.
        std: f64,
    },
}

impl Toy2d {
    /// `ring8`: 8 modes on a circle of radius 2, σ = 0.02.
    pub const RING8: Toy2d = Toy2d::Ring {
        modes: 8,
        radius: 2.0,
        std: 0.02,
    };

    /// `grid25`: a 5×5 grid with spacing 2 (centres {-4, -2, 0, 2, 4}²), σ = 0.05.
    pub const GRID25: Toy2d = Toy2d::Grid {
        side: 5,
        spacing: 2.0,
        std: 0.05,
    };

    /// Checks every parameter; the error names the parameter, its value and the accepted range.
    pub fn validate(&self) -> Result<(), DataError> {
        let (family, std) = match *self {
            Toy2d::Ring { modes, radius, std } => {
                if !(1..=MAX_MODES).contains(&modes) {
                    return Err(invalid(
                        "ring",
                        "modes",
                        modes,
                        "an integer from 1 to 65536",
                    ));
                }
                check_length("ring", "radius", radius)?;
                ("ring", std)
            }
            Toy2d::Grid { side, spacing, std } => {
                // side <= 256 keeps side² within MAX_MODES.
                if !(1..=256).contains(&side) {
                    return Err(invalid("grid", "side", side, "an integer from 1 to 256"));
                }
                check_length("grid", "spacing", spacing)?;
                ("grid", std)
            }
        };
        check_length(family, "std", std)
    }

    /// Number of modes (ring: `modes`, grid: `side²`).
    pub fn mode_count(&self) -> usize {
        match *self {
            Toy2d::Ring { modes, .. } => modes,
            Toy2d::Grid { side, .. } => side * side,
        }
    }

    /// Standard deviation of every mode, per coordinate.
    pub fn std(&self) -> f64 {
        match *self {
            Toy2d::Ring { std, .. } | Toy2d::Grid { std, .. } => std,
        }
    }

    /// Mode centres. Ring: index k is at angle 2πk/modes, starting at (radius, 0). Grid: row-major
    /// over x then y, index `i * side + j` is at (x_i, y_j), both ascending.
    pub fn centres(&self) -> Vec<[f64; 2]> {
        match *self {
            Toy2d::Ring { modes, radius, .. } => (0..modes)
                .map(|k| {
                    let angle = TAU * k as f64 / modes as f64;
                    [radius * angle.cos(), radius * angle.sin()]
                })
                .collect(),
            Toy2d::Grid { side, spacing, .. } => {
                // Offset by half the lattice width so the grid is centred for odd and even sides.
                let half = (side as f64 - 1.0) / 2.0;
                let coord = |i: usize| (i as f64 - half) * spacing;
                (0..side)
                    .flat_map(|i| (0..side).map(move |j| [coord(i), coord(j)]))
                    .collect()
            }
        }
    }
}

fn invalid(
    family: &'static str,
    key: &'static str,
    value: impl fmt::Display,
    expected: &'static str,
) -> DataError {
    DataError::InvalidParam {
        family,
        key,
        value: value.to_string(),
        expected,
    }
}

fn check_length(family: &'static str, key: &'static str, value: f64) -> Result<(), DataError> {
    // Written so that NaN fails too.
    if value.is_finite() && value > 0.0 && value <= MAX_LENGTH {
        Ok(())
    } else {
        Err(invalid(family, key, value, LENGTH_RANGE))
    }
}

impl fmt::Display for Toy2d {
    /// Short names where they apply, else the full parameter form. `f64`'s `Display` is the
    /// shortest text that parses back to the same bits, so the output round-trips exactly.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            _ if *self == Toy2d::RING8 => f.write_str("ring8"),
            _ if *self == Toy2d::GRID25 => f.write_str("grid25"),
            Toy2d::Ring { modes, radius, std } => {
                write!(f, "ring(modes={modes},radius={radius},std={std})")
            }
            Toy2d::Grid { side, spacing, std } => {
                write!(f, "grid(side={side},spacing={spacing},std={std})")
            }
        }
    }
}

impl FromStr for Toy2d {
    type Err = DataError;

    /// Parses `ring8`, `grid25`, `ring(modes=..,radius=..,std=..)` or
    /// `grid(side=..,spacing=..,std=..)`: whitespace around tokens is ignored, keys may come in
    /// any order, all keys are required.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let text = input.trim();
        let syntax = |problem| DataError::Syntax {
            input: input.to_string(),
            problem,
        };
        let (family, args) = match text.split_once('(') {
            None => {
                return match text {
                    "ring8" => Ok(Toy2d::RING8),
                    "grid25" => Ok(Toy2d::GRID25),
                    "" => Err(syntax("the name is empty")),
                    _ => Err(DataError::UnknownDataset {
                        name: text.to_string(),
                    }),
                };
            }
            Some((family, rest)) => {
                let args = rest
                    .strip_suffix(')')
                    .ok_or_else(|| syntax("expected `)` at the end"))?;
                (family.trim(), args)
            }
        };
        if args.contains(['(', ')']) {
            return Err(syntax("unbalanced parentheses"));
        }
        let toy = match family {
            "ring" => {
                let [modes, radius, std] =
                    parse_args("ring", args, RING_KEYS, ["modes", "radius", "std"], &syntax)?;
                Toy2d::Ring {
                    modes: parse_count("ring", "modes", modes)?,
                    radius: parse_number("ring", "radius", radius)?,
                    std: parse_number("ring", "std", std)?,
                }
            }
            "grid" => {
                let [side, spacing, std] =
                    parse_args("grid", args, GRID_KEYS, ["side", "spacing", "std"], &syntax)?;
                Toy2d::Grid {
                    side: parse_count("grid", "side", side)?,
                    spacing: parse_number("grid", "spacing", spacing)?,
                    std: parse_number("grid", "std", std)?,
                }
            }
            _ => {
                return Err(DataError::UnknownDataset {
                    name: family.to_string(),
                })
            }
        };
        toy.validate()?;
        Ok(toy)
    }
}

/// Splits `k=v,k=v,...` and returns the values in the order of `keys`.
fn parse_args<'a>(
    family: &'static str,
    args: &'a str,
    accepted: &'static str,
    keys: [&'static str; 3],
    syntax: &dyn Fn(&'static str) -> DataError,
) -> Result<[&'a str; 3], DataError> {
    let mut values: [Option<&str>; 3] = [None; 3];
    for pair in args.split(',') {
        let (key, value) = pair
            .split_once('=')
            .filter(|(_, value)| !value.contains('='))
            .ok_or_else(|| syntax("expected `key=value` pairs separated by `,`"))?;
        let key = key.trim();
        let slot = keys
            .iter()
            .position(|k| *k == key)
            .ok_or_else(|| DataError::UnknownParam {
                family,
                key: key.to_string(),
                accepted,
            })?;
        if values[slot].replace(value.trim()).is_some() {
            return Err(DataError::DuplicateParam {
                family,
                key: keys[slot],
            });
        }
    }
    let mut out = [""; 3];
    for ((out, value), key) in out.iter_mut().zip(values).zip(keys) {
        *out = value.ok_or(DataError::MissingParam {
            family,
            key,
            accepted,
        })?;
    }
    Ok(out)
}

fn parse_count(family: &'static str, key: &'static str, value: &str) -> Result<usize, DataError> {
    value.parse().map_err(|_| DataError::BadValue {
        family,
        key,
        value: value.to_string(),
        expected: "a whole number",
    })
}

fn parse_number(family: &'static str, key: &'static str, value: &str) -> Result<f64, DataError> {
    value.parse().map_err(|_| DataError::BadValue {
        family,
        key,
        value: value.to_string(),
        expected: "a number",
    })
}

/// Serde mirror of [`Toy2d`]: deserializing goes through it so that invalid parameters are
/// rejected with the same messages as the text form.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
enum Toy2dRepr {
    Ring { modes: usize, radius: f64, std: f64 },
    Grid { side: usize, spacing: f64, std: f64 },
}

impl TryFrom<Toy2dRepr> for Toy2d {
    type Error = DataError;

    fn try_from(repr: Toy2dRepr) -> Result<Self, Self::Error> {
        let toy = match repr {
            Toy2dRepr::Ring { modes, radius, std } => Toy2d::Ring { modes, radius, std },
            Toy2dRepr::Grid { side, spacing, std } => Toy2d::Grid { side, spacing, std },
        };
        toy.validate()?;
        Ok(toy)
    }
}

impl From<Toy2d> for Toy2dRepr {
    fn from(toy: Toy2d) -> Self {
        match toy {
            Toy2d::Ring { modes, radius, std } => Toy2dRepr::Ring { modes, radius, std },
            Toy2d::Grid { side, spacing, std } => Toy2dRepr::Grid { side, spacing, std },
        }
    }
}

/// A validated [`Toy2d`] with its centres computed once: the [`Dataset`] the runner samples from.
#[derive(Debug, Clone, PartialEq)]
pub struct ToyMixture {
    spec: Toy2d,
    centres: Vec<[f64; 2]>,
}

impl ToyMixture {
    /// Validates `spec` and precomputes its centres.
    pub fn new(spec: Toy2d) -> Result<Self, DataError> {
        spec.validate()?;
        Ok(Self {
            spec,
            centres: spec.centres(),
        })
    }

    /// The description this mixture was built from.
    pub fn spec(&self) -> Toy2d {
        self.spec
    }

    /// Mode centres, in the order of [`Toy2d::centres`].
    pub fn centres(&self) -> &[[f64; 2]] {
        &self.centres
    }

    /// Standard deviation of every mode, per coordinate.
    pub fn std(&self) -> f64 {
        self.spec.std()
    }
}

impl Dataset for ToyMixture {
    fn name(&self) -> String {
        self.spec.to_string()
    }

    fn sample_shape(&self) -> Vec<usize> {
        vec![2]
    }

    /// Per example, in this order: the mode index (uniform, drawn as `u32` so the stream is the same
    /// on 32- and 64-bit targets), then the x noise, then the y noise (each `StandardNormal` in
    /// `f64`, scaled by σ, added to the centre, then cast to `f32`). Changing this order changes
    /// every recorded sweep's data, so a test pins the first values.
    fn sample_into(&self, rng: &mut dyn RngCore, rows: usize, out: &mut Vec<f32>) {
        let std = self.std();
        // Validation bounds the mode count by MAX_MODES, so it fits in u32.
        let modes = self.centres.len() as u32;
        out.reserve(rows * 2);
        for _ in 0..rows {
            let [cx, cy] = self.centres[rng.random_range(0..modes) as usize];
            let nx: f64 = StandardNormal.sample(rng);
            let ny: f64 = StandardNormal.sample(rng);
            out.push((cx + std * nx) as f32);
            out.push((cy + std * ny) as f32);
        }
    }

    fn as_toy(&self) -> Option<&ToyMixture> {
        Some(self)
    }
}
