//! Sample-quality metrics for ganbench: how well generated samples match the data.
//!
//! * Toy 2D data: the mode metrics of the PacGAN / VEEGAN protocol ([`mode_metrics`]).
//! * Classified samples (Stacked MNIST's 1,000 digit triples): modes covered and KL to the
//!   uniform class histogram ([`class_coverage`]).
//! * Images, in a feature space ([`FeatureMatrix`], produced by a [`FeatureExtractor`]): FID
//!   ([`fid`]), KID ([`kid`]), precision/recall and density/coverage ([`prdc`]), or all at once
//!   ([`ImageMetrics`]). Definitions are those of design.md, checked against the reference
//!   implementations (pytorch-fid, torch-fidelity, prdc) in `tests/it/reference.rs`. Computation is
//!   in f64; pairwise distances are computed in tiles, so 10,000 × 10,000 samples need ~20 MB.

mod classes;
mod distance;
mod features;
mod fid;
mod image;
mod kid;
mod linalg;
mod prdc;
mod toy;

pub use classes::{class_coverage, ClassCoverage, ClassCoverageError};
pub use features::{
    extract_features, ExtractorError, FeatureError, FeatureExtractor, FeatureMatrix, SampleSet,
};
pub use fid::{fid, frechet_distance, FeatureStats};
pub use image::{ImageMetrics, ImageScores, MetricFamilies, RealReference, SelectedScores};
pub use kid::{draw_subsets, kid, mmd2_on_subsets, polynomial_mmd2, Kid, KidConfig, SubsetPair};
pub use prdc::{
    density_coverage, knn_radii, prdc, precision_recall, DensityCoverage, PrdcConfig,
    PrecisionRecall, RealManifold,
};
pub use toy::{mode_metrics, mode_metrics_rows, nearest_centre, MetricsError, ModeMetrics};
