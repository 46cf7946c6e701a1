//! The distribution of one final metric per variant: every finished run as a dot (seeds and
//! hyper-parameter samples alike) over a box of its quartiles.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{err, fit, padded_range, text, tick_in, title, Draw};
use crate::stats::quantile_sorted;

/// One variant's values.
pub(crate) struct Group {
    pub label: String,
    pub colour: RGBColor,
    /// Finite final values.
    pub values: Vec<f64>,
    /// Runs that diverged or failed (no final value to draw).
    pub without_result: usize,
}

/// Box statistics of a sample: quartiles, and whiskers at the furthest values within 1.5
/// inter-quartile ranges of the box (Tukey).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxStats {
    /// Lower whisker.
    pub whisker_lo: f64,
    /// First quartile.
    pub q1: f64,
    /// Median.
    pub median: f64,
    /// Third quartile.
    pub q3: f64,
    /// Upper whisker.
    pub whisker_hi: f64,
}

/// Box statistics of non-empty `values` (quartiles as `numpy.quantile`).
pub fn box_stats(values: &[f64]) -> Option<BoxStats> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let (q1, median, q3) = (
        quantile_sorted(&v, 0.25),
        quantile_sorted(&v, 0.5),
        quantile_sorted(&v, 0.75),
    );
    let reach = 1.5 * (q3 - q1);
    let whisker_lo = v.iter().copied().find(|&x| x >= q1 - reach).unwrap_or(q1);
    let whisker_hi = v
        .iter()
        .rev()
        .copied()
        .find(|&x| x <= q3 + reach)
        .unwrap_or(q3);
    Some(BoxStats {
        whisker_lo,
        q1,
        median,
        q3,
        whisker_hi,
    })
}

/// Strip and box plot of one metric.
pub(crate) struct Distribution {
    pub title: String,
    pub y_desc: String,
    pub groups: Vec<Group>,
}

/// A fixed, even scatter of offsets in [-0.5, 0.5) (the golden-ratio sequence), so that a
/// report is the same every time it is drawn.
fn jitter(i: usize) -> f64 {
    (i as f64 * 0.618_033_988_75).fract() - 0.5
}

impl Draw for Distribution {
    fn size(&self) -> (u32, u32) {
        (760, 420)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let area = title(root, &self.title)?;
        let n = self.groups.len().max(1);
        let (y0, y1) = padded_range(
            self.groups.iter().flat_map(|g| g.values.iter().copied()),
            &[],
        );
        let mut chart = ChartBuilder::on(&area)
            .margin(8)
            .margin_right(20)
            .x_label_area_size(46)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.5..(n as f64 - 0.5), y0..y1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_labels(6)
            .y_desc(self.y_desc.as_str())
            .y_label_formatter(&|v| tick_in(*v, y1 - y0))
            .label_style(text(13))
            .axis_desc_style(text(15))
            .light_line_style(WHITE)
            .bold_line_style(super::GRID)
            .draw()
            .map_err(err)?;

        let slot_px = {
            let a = chart.backend_coord(&(0.0, y0)).0;
            let b = chart.backend_coord(&(1.0, y0)).0;
            (b - a).max(20) as u32
        };
        for (i, g) in self.groups.iter().enumerate() {
            let x = i as f64;
            if let Some(b) = box_stats(&g.values) {
                let half = 0.22;
                chart
                    .draw_series([
                        Rectangle::new(
                            [(x - half, b.q1), (x + half, b.q3)],
                            g.colour.mix(0.12).filled(),
                        ),
                        Rectangle::new(
                            [(x - half, b.q1), (x + half, b.q3)],
                            g.colour.stroke_width(1),
                        ),
                    ])
                    .map_err(err)?;
                chart
                    .draw_series([
                        PathElement::new(
                            vec![(x - half, b.median), (x + half, b.median)],
                            g.colour.stroke_width(3),
                        ),
                        PathElement::new(
                            vec![(x, b.q3), (x, b.whisker_hi)],
                            g.colour.stroke_width(1),
                        ),
                        PathElement::new(
                            vec![(x, b.q1), (x, b.whisker_lo)],
                            g.colour.stroke_width(1),
                        ),
                        PathElement::new(
                            vec![(x - 0.08, b.whisker_hi), (x + 0.08, b.whisker_hi)],
                            g.colour.stroke_width(1),
                        ),
                        PathElement::new(
                            vec![(x - 0.08, b.whisker_lo), (x + 0.08, b.whisker_lo)],
                            g.colour.stroke_width(1),
                        ),
                    ])
                    .map_err(err)?;
            }
            chart
                .draw_series(g.values.iter().enumerate().map(|(j, &v)| {
                    Circle::new((x + 0.3 * jitter(j), v), 4, g.colour.mix(0.75).filled())
                }))
                .map_err(err)?;
            // The category label under the axis, in root coordinates.
            let (px, py) = chart.backend_coord(&(x, y0));
            let style = text(14).pos(Pos::new(HPos::Center, VPos::Top));
            let label = fit(root, &g.label, &style, slot_px.saturating_sub(8));
            root.draw_text(&label, &style.color(&g.colour), (px, py + 8))
                .map_err(err)?;
            let count = match g.without_result {
                0 => format!("n = {}", g.values.len()),
                k => format!("n = {} · {k} failed", g.values.len()),
            };
            root.draw_text(
                &count,
                &text(12).pos(Pos::new(HPos::Center, VPos::Top)),
                (px, py + 27),
            )
            .map_err(err)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_statistics_match_tukeys_definition() {
        // numpy.quantile([1..=9, 100], [.25, .5, .75]) = [3.25, 5.5, 7.75]; IQR 4.5, so the
        // whiskers reach 3.25 − 6.75 and 7.75 + 6.75 = 14.5: 100 is an outlier.
        let mut v: Vec<f64> = (1..=9).map(f64::from).collect();
        v.push(100.0);
        let b = box_stats(&v).unwrap();
        assert_eq!((b.q1, b.median, b.q3), (3.25, 5.5, 7.75));
        assert_eq!((b.whisker_lo, b.whisker_hi), (1.0, 9.0));
        assert_eq!(box_stats(&[f64::NAN]), None);
    }

    #[test]
    fn jitter_stays_within_its_slot() {
        assert!((0..1000).map(jitter).all(|j| (-0.5..0.5).contains(&j)));
    }
}
