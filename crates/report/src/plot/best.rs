//! Best result so far against the number of configurations a random search tried (Lucic et al.
//! 2018): how much search a variant needs before it is good, and how sure that is.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{colour, err, legend, padded_range, text, tick, tick_in, title, Draw, LegendEntry};
use crate::palette::Rgb;
use crate::stats::BestSoFar;

/// One variant's curve.
pub(crate) struct Curve {
    pub label: String,
    pub colour: Rgb,
    pub points: Vec<BestSoFar>,
}

/// The best-so-far figure of one metric.
pub(crate) struct BestFigure {
    pub title: String,
    pub y_desc: String,
    pub curves: Vec<Curve>,
}

impl Draw for BestFigure {
    fn size(&self) -> (u32, u32) {
        (760, 460)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let area = title(root, &self.title)?;
        let entries: Vec<LegendEntry<'_>> = self
            .curves
            .iter()
            .map(|c| LegendEntry {
                label: &c.label,
                colour: colour(c.colour),
                marker: false,
            })
            .collect();
        let area = legend(&area, &entries)?;
        let k_max = self
            .curves
            .iter()
            .map(|c| c.points.len())
            .max()
            .unwrap_or(1)
            .max(2) as f64;
        let (y0, y1) = padded_range(
            self.curves
                .iter()
                .flat_map(|c| c.points.iter().flat_map(|p| [p.low, p.median, p.high])),
            &[],
        );
        let mut chart = ChartBuilder::on(&area)
            .margin(8)
            .margin_right(20)
            .x_label_area_size(42)
            .y_label_area_size(70)
            .build_cartesian_2d(1.0..k_max, y0..y1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("number of configurations tried")
            .y_desc(self.y_desc.as_str())
            .x_labels(8)
            .y_labels(6)
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick_in(*v, y1 - y0))
            .label_style(text(13))
            .axis_desc_style(text(15))
            .light_line_style(WHITE)
            .bold_line_style(super::GRID)
            .draw()
            .map_err(err)?;
        let finite = |v: f64| v.is_finite();
        for c in &self.curves {
            let col = colour(c.colour);
            // The band where both edges are finite (a budget whose every draw diverged has none).
            let band: Vec<&BestSoFar> = c
                .points
                .iter()
                .filter(|p| finite(p.low) && finite(p.high))
                .collect();
            if band.len() > 1 {
                let mut outline: Vec<(f64, f64)> =
                    band.iter().map(|p| (p.k as f64, p.high)).collect();
                outline.extend(band.iter().rev().map(|p| (p.k as f64, p.low)));
                chart
                    .draw_series(std::iter::once(Polygon::new(outline, col.mix(0.16))))
                    .map_err(err)?;
            }
            let line: Vec<(f64, f64)> = c
                .points
                .iter()
                .filter(|p| finite(p.median))
                .map(|p| (p.k as f64, p.median))
                .collect();
            chart
                .draw_series(LineSeries::new(line.clone(), col.stroke_width(2)))
                .map_err(err)?;
            chart
                .draw_series(line.into_iter().map(|p| Circle::new(p, 3, col.filled())))
                .map_err(err)?;
        }
        Ok(())
    }
}
