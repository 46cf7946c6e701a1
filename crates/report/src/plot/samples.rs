//! Generated samples over time, one row per variant and one column per evaluation step: for
//! 2D data a scatter over the true mode centres, for images a grid of the first images.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{err, fit, text, title, Draw, INK};

/// What one cell shows.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Points of 2D data.
    Points(Vec<[f32; 2]>),
    /// Images, row-major `n × channels × height × width` (channels 1 or 3).
    Images {
        /// The pixel values.
        data: Vec<f32>,
        /// Number of images in `data`.
        n: usize,
        /// 1 (grey) or 3 (RGB).
        channels: usize,
        /// Rows of pixels.
        height: usize,
        /// Columns of pixels.
        width: usize,
    },
    /// Nothing to show, and why (no file at this step, unreadable file, unknown shape).
    Missing(String),
}

/// Most points drawn per scatter cell: the PacGAN protocol's 2500 evaluation samples.
pub const MAX_POINTS: usize = 2500;
/// Most images drawn per cell (a 4 × 4 grid).
pub const MAX_IMAGES: usize = 16;

impl Cell {
    /// Reads a `.npy` sample file: `n × 2` becomes points, `n × c × h × w` (c = 1 or 3) or
    /// `n × h × w` images; anything else, or an unreadable file, a [`Cell::Missing`] that says
    /// why.
    pub fn read(path: &Path) -> Cell {
        let (data, shape) = match ganbench_data::npy::read_npy(path) {
            Ok(x) => x,
            Err(e) => return Cell::Missing(e.to_string()),
        };
        Cell::from_array(data, &shape).unwrap_or_else(|| {
            Cell::Missing(format!(
                "{}: samples of shape {shape:?} cannot be drawn",
                path.display()
            ))
        })
    }

    /// Interprets an array of `shape` as points or images.
    pub fn from_array(data: Vec<f32>, shape: &[usize]) -> Option<Cell> {
        match *shape {
            [n, 2] => Some(Cell::Points(
                data.chunks_exact(2)
                    .take(n.min(MAX_POINTS))
                    .map(|p| [p[0], p[1]])
                    .collect(),
            )),
            [n, c, h, w] if c == 1 || c == 3 => {
                let keep = n.min(MAX_IMAGES);
                let mut data = data;
                data.truncate(keep * c * h * w);
                Some(Cell::Images {
                    data,
                    n: keep,
                    channels: c,
                    height: h,
                    width: w,
                })
            }
            [n, h, w] => Cell::from_array(data, &[n, 1, h, w]),
            _ => None,
        }
    }
}

/// One row of the grid: a variant (and which of its runs the samples come from).
pub(crate) struct RowLabel {
    pub label: String,
    pub detail: String,
    pub colour: RGBColor,
}

/// The grid of sample cells.
pub(crate) struct SamplesFigure {
    pub title: String,
    pub rows: Vec<RowLabel>,
    pub steps: Vec<u64>,
    /// `cells[row][column]`.
    pub cells: Vec<Vec<Cell>>,
    /// True mode centres, drawn as black crosses on scatter cells.
    pub centres: Vec<[f64; 2]>,
    /// The common axes of every scatter cell: (x range, y range).
    pub extent: ((f64, f64), (f64, f64)),
    /// Most points per scatter cell (fewer for SVG, whose size grows with every point).
    pub max_points: usize,
}

const LABEL_WIDTH: u32 = 150;
const HEADER: u32 = 26;
/// Side of one cell in pixels.
pub const CELL: u32 = 170;
const TITLE: u32 = 34;

impl SamplesFigure {
    /// The common scatter extent: the mode centres with a margin, or the 1st–99th percentile
    /// box of every point when the centres are unknown.
    pub fn extent_for(centres: &[[f64; 2]], cells: &[Vec<Cell>]) -> ((f64, f64), (f64, f64)) {
        let bounds = |values: &mut Vec<f64>| -> (f64, f64) {
            if values.is_empty() {
                return (-1.0, 1.0);
            }
            values.sort_by(f64::total_cmp);
            let lo = crate::stats::quantile_sorted(values, 0.01);
            let hi = crate::stats::quantile_sorted(values, 0.99);
            let pad = ((hi - lo) * 0.1).max(0.1);
            (lo - pad, hi + pad)
        };
        if !centres.is_empty() {
            let mut xs: Vec<f64> = centres.iter().map(|c| c[0]).collect();
            let mut ys: Vec<f64> = centres.iter().map(|c| c[1]).collect();
            let span = |v: &mut Vec<f64>| {
                v.sort_by(f64::total_cmp);
                let (lo, hi) = (v[0], v[v.len() - 1]);
                let pad = ((hi - lo) * 0.25).max(0.5);
                (lo - pad, hi + pad)
            };
            let (x, y) = (span(&mut xs), span(&mut ys));
            // Square: the same scale on both axes, so rings look round.
            let half = ((x.1 - x.0).max(y.1 - y.0)) / 2.0;
            let (cx, cy) = ((x.0 + x.1) / 2.0, (y.0 + y.1) / 2.0);
            return ((cx - half, cx + half), (cy - half, cy + half));
        }
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for cell in cells.iter().flatten() {
            if let Cell::Points(points) = cell {
                for p in points
                    .iter()
                    .filter(|p| p[0].is_finite() && p[1].is_finite())
                {
                    xs.push(f64::from(p[0]));
                    ys.push(f64::from(p[1]));
                }
            }
        }
        (bounds(&mut xs), bounds(&mut ys))
    }

    /// Whether any cell holds images (drawn as PNG whatever the format asked for).
    pub(crate) fn has_images(&self) -> bool {
        self.cells
            .iter()
            .flatten()
            .any(|c| matches!(c, Cell::Images { .. }))
    }

    /// Whether image values span [-1, 1] (a tanh output) rather than [0, 1].
    fn signed_images(&self) -> bool {
        self.cells.iter().flatten().any(|c| match c {
            Cell::Images { data, .. } => data.iter().any(|&v| v < -0.01),
            _ => false,
        })
    }
}

/// The pixel rectangle (x, y, width, height) of image `i` of a cell whose top-left corner is
/// `origin`: a square grid of tiles, each image scaled by nearest neighbour to fit its tile.
pub fn image_tile(
    origin: (i32, i32),
    i: usize,
    n: usize,
    height: usize,
    width: usize,
) -> (i32, i32, u32, u32) {
    let per_side = (n as f64).sqrt().ceil().max(1.0) as usize;
    let tile = (CELL - 8) / per_side as u32;
    let (tw, th) = if width >= height {
        (tile, (tile as usize * height / width.max(1)).max(1) as u32)
    } else {
        ((tile as usize * width / height.max(1)).max(1) as u32, tile)
    };
    let (row, col) = (i / per_side, i % per_side);
    (
        origin.0 + 4 + (col as u32 * tile) as i32,
        origin.1 + 4 + (row as u32 * tile) as i32,
        tw.saturating_sub(1).max(1),
        th.saturating_sub(1).max(1),
    )
}

/// A pixel value mapped to 0..=255 from [0, 1], or from [-1, 1] when `signed`.
pub fn to_byte(v: f32, signed: bool) -> u8 {
    let unit = if signed { (v + 1.0) / 2.0 } else { v };
    if unit.is_nan() {
        return 0;
    }
    (unit.clamp(0.0, 1.0) * 255.0).round() as u8
}

impl Draw for SamplesFigure {
    fn size(&self) -> (u32, u32) {
        (
            LABEL_WIDTH + self.steps.len().max(1) as u32 * CELL,
            TITLE + HEADER + self.rows.len().max(1) as u32 * CELL,
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        title(root, &self.title)?;
        let header = text(14).pos(Pos::new(HPos::Center, VPos::Center));
        for (j, step) in self.steps.iter().enumerate() {
            let x = (LABEL_WIDTH + j as u32 * CELL + CELL / 2) as i32;
            root.draw_text(
                &format!("step {step}"),
                &header,
                (x, (TITLE + HEADER / 2) as i32),
            )
            .map_err(err)?;
        }
        let signed = self.signed_images();
        for (i, row) in self.rows.iter().enumerate() {
            let y = (TITLE + HEADER + i as u32 * CELL) as i32;
            let style = text(14)
                .color(&row.colour)
                .pos(Pos::new(HPos::Left, VPos::Center));
            let label = fit(root, &row.label, &style, LABEL_WIDTH - 12);
            root.draw_text(&label, &style, (8, y + CELL as i32 / 2 - 9))
                .map_err(err)?;
            let detail_style = text(12).pos(Pos::new(HPos::Left, VPos::Center));
            let detail = fit(root, &row.detail, &detail_style, LABEL_WIDTH - 12);
            root.draw_text(&detail, &detail_style, (8, y + CELL as i32 / 2 + 10))
                .map_err(err)?;
            for (j, cell) in self.cells[i].iter().enumerate() {
                let origin = ((LABEL_WIDTH + j as u32 * CELL) as i32, y);
                let frame = Rectangle::new(
                    [
                        (origin.0 + 2, origin.1 + 2),
                        (origin.0 + CELL as i32 - 2, origin.1 + CELL as i32 - 2),
                    ],
                    RGBColor(0xcc, 0xcc, 0xcc).stroke_width(1),
                );
                root.draw(&frame).map_err(err)?;
                match cell {
                    Cell::Points(points) => self.draw_points(root, origin, points, row.colour)?,
                    Cell::Images {
                        data,
                        n,
                        channels,
                        height,
                        width,
                    } => draw_images(root, origin, data, *n, *channels, *height, *width, signed)?,
                    Cell::Missing(_) => {
                        let style = text(12).pos(Pos::new(HPos::Center, VPos::Center));
                        root.draw_text(
                            "no samples",
                            &style,
                            (origin.0 + CELL as i32 / 2, origin.1 + CELL as i32 / 2),
                        )
                        .map_err(err)?;
                    }
                }
            }
        }
        Ok(())
    }
}

impl SamplesFigure {
    fn draw_points<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        origin: (i32, i32),
        points: &[[f32; 2]],
        colour: RGBColor,
    ) -> Result<(), String> {
        let ((x0, x1), (y0, y1)) = self.extent;
        let inner = (CELL - 8) as f64;
        let map = |x: f64, y: f64| -> (i32, i32) {
            (
                origin.0 + 4 + ((x - x0) / (x1 - x0) * inner).round() as i32,
                origin.1 + 4 + ((y1 - y) / (y1 - y0) * inner).round() as i32,
            )
        };
        let inside = |x: f64, y: f64| (x0..=x1).contains(&x) && (y0..=y1).contains(&y);
        let style = colour.mix(0.45).filled();
        for p in points.iter().take(self.max_points) {
            let (x, y) = (f64::from(p[0]), f64::from(p[1]));
            if inside(x, y) {
                root.draw(&Circle::new(map(x, y), 1, style)).map_err(err)?;
            }
        }
        for c in &self.centres {
            if inside(c[0], c[1]) {
                root.draw(&Cross::new(map(c[0], c[1]), 4, INK.stroke_width(1)))
                    .map_err(err)?;
            }
        }
        Ok(())
    }
}

#[allow(clippy::too_many_arguments)] // the fields of Cell::Images, unpacked
fn draw_images<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    origin: (i32, i32),
    data: &[f32],
    n: usize,
    channels: usize,
    height: usize,
    width: usize,
    signed: bool,
) -> Result<(), String> {
    let plane = height * width;
    for i in 0..n {
        let (tx, ty, tw, th) = image_tile(origin, i, n, height, width);
        let image = &data[i * channels * plane..(i + 1) * channels * plane];
        for py in 0..th {
            let sy = py as usize * height / th as usize;
            for px in 0..tw {
                let sx = px as usize * width / tw as usize;
                let at = |c: usize| to_byte(image[c * plane + sy * width + sx], signed);
                let colour = if channels == 3 {
                    RGBColor(at(0), at(1), at(2))
                } else {
                    let g = at(0);
                    RGBColor(g, g, g)
                };
                root.draw_pixel((tx + px as i32, ty + py as i32), &colour)
                    .map_err(err)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::{render, ImageFormat};

    #[test]
    fn arrays_become_points_or_images_by_shape() {
        let points = Cell::from_array(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
        assert_eq!(points, Cell::Points(vec![[1.0, 2.0], [3.0, 4.0]]));
        let grey = Cell::from_array(vec![0.5; 20 * 4 * 4], &[20, 4, 4]).unwrap();
        assert!(
            matches!(grey, Cell::Images { n: 16, channels: 1, height: 4, width: 4, ref data } if data.len() == 16 * 16)
        );
        assert_eq!(Cell::from_array(vec![0.0; 6], &[2, 3]), None);
        assert_eq!(
            Cell::from_array(vec![0.0; 2 * 2 * 3 * 3], &[2, 2, 3, 3]),
            None
        );
    }

    #[test]
    fn pixel_values_map_from_unit_or_tanh_ranges() {
        assert_eq!(to_byte(0.0, false), 0);
        assert_eq!(to_byte(1.0, false), 255);
        assert_eq!(to_byte(0.0, true), 128);
        assert_eq!(to_byte(-1.0, true), 0);
        assert_eq!(to_byte(7.0, false), 255);
        assert_eq!(to_byte(f32::NAN, false), 0);
    }

    /// A synthetic `N × C × H × W` sample file, written as the runner writes samples, drawn as
    /// an image grid: every tile shows its image's value at the expected place.
    #[test]
    fn an_image_sample_file_draws_as_a_grid_of_its_images() {
        let dir = tempfile::tempdir().unwrap();
        let (n, h, w) = (16usize, 8usize, 6usize);
        // Image i is uniformly grey at level i/15; a second file holds RGB images in [-1, 1].
        let mut grey = Vec::new();
        for i in 0..n {
            grey.extend(std::iter::repeat_n(i as f32 / 15.0, h * w));
        }
        let file = dir.path().join("grey.npy");
        ganbench_data::npy::write_npy(&file, &grey, &[n, 1, h, w]).unwrap();
        let mut rgb = Vec::new();
        for _ in 0..2 {
            rgb.extend(std::iter::repeat_n(1.0f32, h * w)); // R
            rgb.extend(std::iter::repeat_n(-1.0f32, h * w)); // G
            rgb.extend(std::iter::repeat_n(0.0f32, h * w)); // B
        }
        let rgb_file = dir.path().join("rgb.npy");
        ganbench_data::npy::write_npy(&rgb_file, &rgb, &[2, 3, h, w]).unwrap();

        for (file, signed) in [(&file, false), (&rgb_file, true)] {
            let cell = Cell::read(file);
            let figure = SamplesFigure {
                title: "images".into(),
                rows: vec![RowLabel {
                    label: "vae".into(),
                    detail: "seed 0".into(),
                    colour: BLACK,
                }],
                steps: vec![100],
                cells: vec![vec![cell.clone()]],
                centres: vec![],
                extent: ((0.0, 1.0), (0.0, 1.0)),
                max_points: MAX_POINTS,
            };
            let name = render(&figure, dir.path(), "grid", ImageFormat::Png).unwrap();
            let png = image::open(dir.path().join(name)).unwrap().to_rgb8();
            assert_eq!(png.dimensions(), figure.size());
            let Cell::Images { n, .. } = cell else {
                panic!("{cell:?}")
            };
            let origin = ((LABEL_WIDTH) as i32, (TITLE + HEADER) as i32);
            for i in 0..n {
                let (x, y, tw, th) = image_tile(origin, i, n, h, w);
                let centre = png
                    .get_pixel((x + tw as i32 / 2) as u32, (y + th as i32 / 2) as u32)
                    .0;
                let want = if signed {
                    [255, 0, 128]
                } else {
                    let g = (i as f32 / 15.0 * 255.0).round() as u8;
                    [g, g, g]
                };
                assert_eq!(centre, want, "image {i} of {}", file.display());
            }
        }
    }

    #[test]
    fn a_missing_or_odd_file_becomes_a_missing_cell() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Cell::read(&dir.path().join("absent.npy")),
            Cell::Missing(_)
        ));
        let odd = dir.path().join("odd.npy");
        ganbench_data::npy::write_npy(&odd, &[0.0; 6], &[2, 3]).unwrap();
        match Cell::read(&odd) {
            Cell::Missing(why) => assert!(why.contains("[2, 3]"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_scatter_extent_is_square_around_the_centres() {
        let centres = [[2.0, 0.0], [-2.0, 0.0], [0.0, 1.0], [0.0, -1.0]];
        let ((x0, x1), (y0, y1)) = SamplesFigure::extent_for(&centres, &[]);
        assert!((x1 - x0 - (y1 - y0)).abs() < 1e-12);
        assert!(x0 < -2.0 && x1 > 2.0 && y0 < -1.0 && y1 > 1.0);
    }
}
