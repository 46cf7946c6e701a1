//! The figures, drawn with plotters into PNG (or SVG) files: shared layout, fonts, legends,
//! axis ranges and number formats; one module per kind of figure.

pub mod best;
pub mod curves;
pub mod distribution;
pub mod samples;

use std::path::Path;
use std::sync::Once;

use image::ImageEncoder as _;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::Serialize;

use crate::error::ReportError;
use crate::palette::Rgb;

/// The file format of the figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    /// PNG (the default): one file a browser, an editor or a chat shows as it is.
    #[default]
    Png,
    /// SVG: vector figures for papers. Image sample grids stay PNG.
    Svg,
}

impl ImageFormat {
    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Png => "png",
            ImageFormat::Svg => "svg",
        }
    }
    /// The MIME type, for data URIs.
    pub fn mime(self) -> &'static str {
        match self {
            ImageFormat::Png => "image/png",
            ImageFormat::Svg => "image/svg+xml",
        }
    }
}

/// Where a figure goes on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// Evaluation metrics against step.
    Curves,
    /// Losses against step.
    Losses,
    /// Other training signals against step.
    Signals,
    /// Distributions of final values.
    Distributions,
    /// Best-so-far against the number of trials.
    BestSoFar,
    /// Generated samples over time.
    Samples,
}

/// A figure written to the report directory.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// File name inside the report directory.
    pub file: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Its format.
    pub format: ImageFormat,
    /// Where it goes on the page.
    pub section: Section,
    /// A caption: what it shows and how to read it.
    pub caption: String,
}

/// Something that draws itself on any plotters backend.
pub(crate) trait Draw: Sync {
    /// Size in pixels.
    fn size(&self) -> (u32, u32);
    /// Draws on `root`, already filled white.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

/// Draws `figure` into `dir/stem.<ext>`; returns the file name.
pub(crate) fn render(
    figure: &impl Draw,
    dir: &Path,
    stem: &str,
    format: ImageFormat,
) -> Result<String, ReportError> {
    register_fonts();
    let file = format!("{stem}.{}", format.extension());
    let path = dir.join(&file);
    let size = figure.size();
    let fail = |message: String| ReportError::Draw {
        path: path.clone(),
        message,
    };
    match format {
        ImageFormat::Png => {
            // Drawn into memory and encoded here: plotters' own PNG writer would add a second,
            // older `image` crate to the build.
            let mut pixels = vec![0u8; size.0 as usize * size.1 as usize * 3];
            {
                let root = BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area();
                root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
                figure.draw(&root).map_err(fail)?;
                root.present().map_err(|e| fail(e.to_string()))?;
            }
            let file = std::fs::File::create(&path).map_err(|source| ReportError::Write {
                path: path.clone(),
                source,
            })?;
            image::codecs::png::PngEncoder::new(std::io::BufWriter::new(file))
                .write_image(&pixels, size.0, size.1, image::ExtendedColorType::Rgb8)
                .map_err(|e| fail(e.to_string()))?;
        }
        ImageFormat::Svg => {
            let root = SVGBackend::new(&path, size).into_drawing_area();
            root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
            figure.draw(&root).map_err(fail)?;
            root.present().map_err(|e| fail(e.to_string()))?;
        }
    }
    Ok(file)
}

/// The one font of the figures, bundled so that a machine without fonts draws the same text
/// (plotters' `ab_glyph` backend has no system fonts). DejaVu Sans covers Latin, Greek and
/// Cyrillic, so labels in most languages draw as written.
static DEJAVU_SANS: &[u8] = include_bytes!("../../fonts/DejaVuSans.ttf");
pub(crate) const FONT: &str = "sans-serif";

fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bundled file is a valid font; a failure here would show as missing text.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, DEJAVU_SANS);
    });
}

/// Text colour of labels and titles.
pub(crate) const INK: RGBColor = RGBColor(0x22, 0x22, 0x22);
/// Grid lines.
pub(crate) const GRID: RGBColor = RGBColor(0xe4, 0xe4, 0xe4);

pub(crate) fn text(size: u32) -> TextStyle<'static> {
    (FONT, size).into_font().color(&INK)
}

pub(crate) fn colour(c: Rgb) -> RGBColor {
    RGBColor(c.0, c.1, c.2)
}

/// Stringifies a plotters error for [`Draw::draw`]'s `?`.
pub(crate) fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Draws a centred title; returns the area below it.
pub(crate) fn title<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
) -> Result<DrawingArea<DB, Shift>, String> {
    let (w, _) = area.dim_in_pixel();
    let style = text(19).pos(Pos::new(HPos::Center, VPos::Top));
    area.draw_text(
        &fit(area, title, &style, w.saturating_sub(16)),
        &style,
        (w as i32 / 2, 8),
    )
    .map_err(err)?;
    Ok(area.split_vertically(34).1)
}

/// `text`, shortened with an ellipsis to fit `max_width` pixels in `style`.
pub(crate) fn fit<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle,
    max_width: u32,
) -> String {
    let width = |t: &str| area.estimate_text_size(t, style).map_or(0, |(w, _)| w);
    if width(text) <= max_width {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut keep = chars.len();
    while keep > 1 {
        keep -= 1;
        let candidate: String = chars[..keep].iter().collect::<String>() + "…";
        if width(&candidate) <= max_width {
            return candidate;
        }
    }
    "…".into()
}

/// One legend entry: a colour and a label, drawn as a line (or a marker).
pub(crate) struct LegendEntry<'a> {
    pub label: &'a str,
    pub colour: RGBColor,
    pub marker: bool,
}

const LEGEND_ROW: u32 = 22;

fn legend_layout<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[LegendEntry<'_>],
    width: u32,
) -> (Vec<(i32, i32, String)>, u32) {
    let style = text(14);
    let mut placed = Vec::new();
    let (mut x, mut y) = (12i32, 2i32);
    for e in entries {
        let label = fit(area, e.label, &style, width.saturating_sub(60));
        let w = area
            .estimate_text_size(&label, &style)
            .map_or(60, |(w, _)| w) as i32
            + 40;
        if x > 12 && x + w > width as i32 - 8 {
            x = 12;
            y += LEGEND_ROW as i32;
        }
        placed.push((x, y, label));
        x += w + 12;
    }
    let rows = if entries.is_empty() {
        0
    } else {
        (y as u32 - 2) / LEGEND_ROW + 1
    };
    (placed, rows * LEGEND_ROW + 4)
}

/// Draws a legend in rows across the top of `area`; returns the area below it.
pub(crate) fn legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[LegendEntry<'_>],
) -> Result<DrawingArea<DB, Shift>, String> {
    if entries.is_empty() {
        return Ok(area.clone());
    }
    let (w, _) = area.dim_in_pixel();
    let (placed, height) = legend_layout(area, entries, w);
    let style = text(14).pos(Pos::new(HPos::Left, VPos::Center));
    for (e, (x, y, label)) in entries.iter().zip(placed) {
        let cy = y + LEGEND_ROW as i32 / 2;
        if e.marker {
            area.draw(&Cross::new((x + 14, cy), 5, e.colour.stroke_width(2)))
                .map_err(err)?;
        } else {
            area.draw(&PathElement::new(
                vec![(x, cy), (x + 28, cy)],
                e.colour.stroke_width(3),
            ))
            .map_err(err)?;
        }
        area.draw_text(&label, &style, (x + 34, cy)).map_err(err)?;
    }
    Ok(area.split_vertically(height).1)
}

/// A y range covering `values` (finite ones), padded by 5%, widened when flat.
pub(crate) fn padded_range(values: impl Iterator<Item = f64>, include: &[f64]) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values
        .chain(include.iter().copied())
        .filter(|v| v.is_finite())
    {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
        let half = (hi.abs() * 0.1).max(0.5);
        return (lo - half, hi + half);
    }
    let pad = (hi - lo) * 0.05;
    (lo - pad, hi + pad)
}

/// A tick label: few digits, scientific notation for very large or small magnitudes.
pub(crate) fn tick(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if !(1e-3..1e5).contains(&a) {
        let s = format!("{v:.1e}");
        s.replace(".0e", "e")
    } else {
        let s = format!("{v:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    }
}

/// A tick label on an axis spanning `span`: a value that is zero up to the rounding of the
/// tick positions (`-2.2e-16` on an axis from -1 to 1) reads `0`.
pub(crate) fn tick_in(v: f64, span: f64) -> String {
    if v.abs() <= span.abs() * 1e-9 {
        "0".into()
    } else {
        tick(v)
    }
}

/// A step count for an axis: 12000 → "12k".
pub(crate) fn step_tick(v: f64) -> String {
    if v.abs() >= 10_000.0 && (v / 1000.0).fract() == 0.0 {
        format!("{}k", v / 1000.0)
    } else {
        tick(v)
    }
}

/// A file-name-safe form of a metric name (ASCII letters, digits, `-` and `_`).
pub(crate) fn slug(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() {
        "metric".into()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_short() {
        assert_eq!(tick(0.0), "0");
        assert_eq!(tick(0.5), "0.5");
        assert_eq!(tick(2.0), "2");
        assert_eq!(tick(0.12345), "0.1235");
        assert_eq!(tick(1.0e-5), "1e-5");
        assert_eq!(tick(250_000.0), "2.5e5");
        assert_eq!(step_tick(12_000.0), "12k");
        assert_eq!(step_tick(500.0), "500");
        assert_eq!(tick_in(-2.2e-16, 2.0), "0");
        assert_eq!(tick_in(1e-12, 1e-11), "1e-12");
    }

    #[test]
    fn ranges_pad_and_widen() {
        assert_eq!(padded_range([0.0, 10.0].into_iter(), &[]), (-0.5, 10.5));
        assert_eq!(padded_range([f64::NAN].into_iter(), &[]), (0.0, 1.0));
        let (lo, hi) = padded_range([3.0, 3.0].into_iter(), &[]);
        assert!(lo < 3.0 && hi > 3.0);
        assert_eq!(padded_range([1.0, 2.0].into_iter(), &[0.0]).0, -0.1);
    }

    #[test]
    fn slugs_are_file_name_safe() {
        assert_eq!(slug("reverse_kl"), "reverse_kl");
        assert_eq!(slug("../FID é"), "___fid__");
        assert_eq!(slug(""), "metric");
    }
}
