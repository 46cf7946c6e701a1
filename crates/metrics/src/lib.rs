//! Sample-quality metrics for ganbench: how well generated samples cover the true modes.
//!
//! For now: the toy 2D mode metrics of the PacGAN / VEEGAN protocol ([`mode_metrics`]).

mod toy;

pub use toy::{mode_metrics, mode_metrics_rows, nearest_centre, MetricsError, ModeMetrics};
