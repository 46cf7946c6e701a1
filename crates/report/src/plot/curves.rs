//! Metric against step: per variant the mean over its runs with a band, and each run faint
//! behind it. Evaluation metrics share one panel (their scales are comparable); losses and
//! other training signals get one panel per variant (a WGAN critic's loss and a GAN's cross
//! entropy have nothing in common but the name).

use std::collections::BTreeMap;

use plotters::coord::Shift;
use plotters::prelude::*;
use serde::Serialize;

use super::{
    colour, err, legend, padded_range, step_tick, text, tick_in, title, Draw, LegendEntry,
};
use crate::load::{Loaded, RunSeries};
use crate::stats::quantile_sorted;

/// What the band around each variant's mean shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Band {
    /// From the lowest to the highest run (the default).
    #[default]
    MinMax,
    /// The mean ± one sample standard deviation over runs.
    Std,
}

impl Band {
    /// How the page describes the band.
    pub fn describe(self) -> &'static str {
        match self {
            Band::MinMax => "the band spans the lowest to the highest run",
            Band::Std => "the band is the mean ± one standard deviation over runs",
        }
    }
}

/// One bucket of a variant's aggregate curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    /// Step (mean step of the points in the bucket).
    pub x: f64,
    /// Mean over runs of each run's bucket mean.
    pub mean: f64,
    /// Lower edge of the band.
    pub lo: f64,
    /// Upper edge of the band.
    pub hi: f64,
    /// Runs that have a finite value in the bucket.
    pub runs: usize,
}

/// The mean over runs, bucket by bucket, with its band. A bucket counts the runs that reached
/// it, so a diverged run stops contributing where it ended.
pub fn aggregate(series: &[&RunSeries], band: Band) -> Vec<Row> {
    let mut by_bucket: BTreeMap<u32, Vec<&crate::load::Bucket>> = BTreeMap::new();
    for s in series {
        for b in &s.buckets {
            by_bucket.entry(b.index).or_default().push(b);
        }
    }
    by_bucket
        .into_values()
        .map(|buckets| {
            let n = buckets.len() as f64;
            let x = buckets.iter().map(|b| b.step()).sum::<f64>() / n;
            let means: Vec<f64> = buckets.iter().map(|b| b.mean()).collect();
            let mean = means.iter().sum::<f64>() / n;
            let (lo, hi) = match band {
                Band::MinMax => (
                    buckets
                        .iter()
                        .map(|b| b.min.1)
                        .fold(f64::INFINITY, f64::min),
                    buckets
                        .iter()
                        .map(|b| b.max.1)
                        .fold(f64::NEG_INFINITY, f64::max),
                ),
                Band::Std => {
                    let sd = if means.len() > 1 {
                        (means.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
                    } else {
                        0.0
                    };
                    (mean - sd, mean + sd)
                }
            };
            Row {
                x,
                mean,
                lo,
                hi,
                runs: buckets.len(),
            }
        })
        .collect()
}

/// One run's downsampled polyline: each bucket's minimum and maximum in step order, so that
/// spikes survive downsampling.
pub fn trace(series: &RunSeries) -> Vec<(f64, f64)> {
    let mut points = Vec::with_capacity(series.buckets.len() * 2);
    for b in &series.buckets {
        if b.n == 1 || b.min.0 == b.max.0 {
            points.push((b.step(), b.mean()));
        } else if b.min.0 < b.max.0 {
            points.push((b.min.0 as f64, b.min.1));
            points.push((b.max.0 as f64, b.max.1));
        } else {
            points.push((b.max.0 as f64, b.max.1));
            points.push((b.min.0 as f64, b.min.1));
        }
    }
    points
}

/// What one variant contributes to a curve panel.
pub(crate) struct VariantCurves {
    pub label: String,
    pub colour: RGBColor,
    pub rows: Vec<Row>,
    pub traces: Vec<Vec<(f64, f64)>>,
    /// Where diverged runs' curves end.
    pub ends: Vec<(f64, f64)>,
}

/// The curves of metric `metric` of the given variants.
pub(crate) fn variant_curves(
    loaded: &Loaded,
    metric: usize,
    variants: &[usize],
    band: Band,
) -> Vec<VariantCurves> {
    let m = &loaded.metrics[metric];
    variants
        .iter()
        .filter_map(|&v| {
            let info = &loaded.variants[v];
            let runs: Vec<(usize, &RunSeries)> = info
                .runs
                .iter()
                .filter_map(|&r| m.per_run[r].as_ref().map(|s| (r, s)))
                .filter(|(_, s)| !s.buckets.is_empty())
                .collect();
            if runs.is_empty() {
                return None;
            }
            let series: Vec<&RunSeries> = runs.iter().map(|(_, s)| *s).collect();
            Some(VariantCurves {
                label: info.label.clone(),
                colour: colour(info.colour),
                rows: aggregate(&series, band),
                traces: series.iter().map(|s| trace(s)).collect(),
                ends: runs
                    .iter()
                    .filter(|(r, _)| loaded.runs[*r].run.status == ganbench_store::Status::Diverged)
                    .filter_map(|(_, s)| s.last_finite.map(|(x, y)| (x as f64, y)))
                    .collect(),
            })
        })
        .collect()
}

/// How the y axis of a panel is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum YRange {
    /// Everything drawn, padded: the axis fits the data (a high-quality share of 0.3% is not
    /// drawn as a flat line on a 0–1 axis).
    Full,
    /// The 0.5–99.5% quantiles of the runs' points: a diverging run's last losses can be
    /// orders of magnitude off and would flatten every other curve. Points beyond are drawn
    /// at the edge.
    Robust,
}

fn y_range(curves: &[VariantCurves], range: YRange) -> (f64, f64) {
    let values = || {
        curves.iter().flat_map(|c| {
            c.traces
                .iter()
                .flatten()
                .map(|p| p.1)
                .chain(c.rows.iter().flat_map(|r| [r.lo, r.hi, r.mean]))
        })
    };
    match range {
        YRange::Full => padded_range(values(), &[]),
        YRange::Robust => {
            let mut all: Vec<f64> = values().filter(|v| v.is_finite()).collect();
            if all.is_empty() {
                return (0.0, 1.0);
            }
            all.sort_by(f64::total_cmp);
            let (lo, hi) = (quantile_sorted(&all, 0.005), quantile_sorted(&all, 0.995));
            padded_range([lo, hi].into_iter(), &[])
        }
    }
}

/// Draws one panel of curves.
fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    curves: &[VariantCurves],
    x_max: f64,
    y_desc: &str,
    range: YRange,
) -> Result<(), String> {
    let (y0, y1) = y_range(curves, range);
    let clamp = |(x, y): (f64, f64)| (x, y.clamp(y0, y1));
    let mut chart = ChartBuilder::on(area)
        .margin(8)
        .margin_right(20)
        .x_label_area_size(42)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max, y0..y1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("training step")
        .y_desc(y_desc)
        .x_labels(6)
        .y_labels(6)
        .x_label_formatter(&|v| step_tick(*v))
        .y_label_formatter(&|v| tick_in(*v, y1 - y0))
        .label_style(text(13))
        .axis_desc_style(text(15))
        .light_line_style(WHITE)
        .bold_line_style(super::GRID)
        .draw()
        .map_err(err)?;
    for c in curves {
        for t in &c.traces {
            chart
                .draw_series(LineSeries::new(
                    t.iter().copied().map(clamp),
                    c.colour.mix(0.22).stroke_width(1),
                ))
                .map_err(err)?;
        }
    }
    for c in curves {
        if c.rows.iter().any(|r| r.hi > r.lo) {
            let mut outline: Vec<(f64, f64)> = c.rows.iter().map(|r| clamp((r.x, r.hi))).collect();
            outline.extend(c.rows.iter().rev().map(|r| clamp((r.x, r.lo))));
            chart
                .draw_series(std::iter::once(Polygon::new(outline, c.colour.mix(0.16))))
                .map_err(err)?;
        }
    }
    for c in curves {
        let line = c.rows.iter().map(|r| clamp((r.x, r.mean)));
        if c.rows.len() == 1 {
            chart
                .draw_series(line.map(|p| Circle::new(p, 4, c.colour.filled())))
                .map_err(err)?;
        } else {
            chart
                .draw_series(LineSeries::new(line, c.colour.stroke_width(2)))
                .map_err(err)?;
        }
        chart
            .draw_series(
                c.ends
                    .iter()
                    .map(|&p| Cross::new(clamp(p), 6, c.colour.stroke_width(2))),
            )
            .map_err(err)?;
    }
    Ok(())
}

fn x_max(curves: &[VariantCurves]) -> f64 {
    curves
        .iter()
        .flat_map(|c| c.traces.iter().flatten().map(|p| p.0))
        .fold(1.0, f64::max)
}

/// Every variant's curves of one evaluation metric in one panel.
pub(crate) struct SharedPanel {
    pub title: String,
    pub y_desc: String,
    pub curves: Vec<VariantCurves>,
}

impl Draw for SharedPanel {
    fn size(&self) -> (u32, u32) {
        (760, 460)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let area = title(root, &self.title)?;
        let mut entries: Vec<LegendEntry<'_>> = self
            .curves
            .iter()
            .map(|c| LegendEntry {
                label: &c.label,
                colour: c.colour,
                marker: false,
            })
            .collect();
        if self.curves.iter().any(|c| !c.ends.is_empty()) {
            entries.push(LegendEntry {
                label: "diverged run ends",
                colour: super::INK,
                marker: true,
            });
        }
        let area = legend(&area, &entries)?;
        draw_panel(
            &area,
            &self.curves,
            x_max(&self.curves),
            &self.y_desc,
            YRange::Full,
        )
    }
}

/// One panel per variant for a loss or training signal, each with its own y axis.
pub(crate) struct PerVariantPanels {
    pub title: String,
    pub y_desc: String,
    pub curves: Vec<VariantCurves>,
}

const PANEL_HEIGHT: u32 = 270;

impl PerVariantPanels {
    fn columns(&self) -> usize {
        self.curves.len().clamp(1, 2)
    }
}

impl Draw for PerVariantPanels {
    fn size(&self) -> (u32, u32) {
        let rows = self.curves.len().div_ceil(self.columns()).max(1) as u32;
        (760, 34 + rows * PANEL_HEIGHT)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let area = title(root, &self.title)?;
        let cols = self.columns();
        let rows = self.curves.len().div_ceil(cols).max(1);
        let x_max = x_max(&self.curves);
        let panels = area.split_evenly((rows, cols));
        for (panel, c) in panels.iter().zip(&self.curves) {
            let style = text(15).color(&c.colour);
            let (w, _) = panel.dim_in_pixel();
            let label = super::fit(panel, &c.label, &style, w.saturating_sub(20));
            panel.draw_text(&label, &style, (76, 4)).map_err(err)?;
            let below = panel.split_vertically(22).1;
            draw_panel(
                &below,
                std::slice::from_ref(c),
                x_max,
                &self.y_desc,
                YRange::Robust,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_range_fits_small_values_without_reaching_zero_or_one() {
        // A high-quality share around 0.3%: the axis spans the values, not [0, 1].
        let s = series(&[(10, 0.002), (20, 0.003), (30, 0.004)], 10);
        let curves = vec![VariantCurves {
            label: "x".into(),
            colour: BLACK,
            rows: aggregate(&[&s], Band::MinMax),
            traces: vec![trace(&s)],
            ends: vec![],
        }];
        let (lo, hi) = y_range(&curves, YRange::Full);
        assert!(lo > 0.0015 && lo < 0.002, "{lo}");
        assert!(hi > 0.004 && hi < 0.0045, "{hi}");
    }

    fn series(points: &[(u64, f64)], width: u64) -> RunSeries {
        let mut s = RunSeries::default();
        for &(step, value) in points {
            s.push(width, step, value);
        }
        s
    }

    #[test]
    fn the_aggregate_is_the_mean_over_runs_with_min_max_or_std_bands() {
        let a = series(&[(10, 1.0), (20, 2.0)], 10);
        let b = series(&[(10, 3.0), (20, 6.0)], 10);
        let c = series(&[(10, 5.0)], 10); // stopped early
        let rows = aggregate(&[&a, &b, &c], Band::MinMax);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].x, rows[0].mean, rows[0].lo, rows[0].hi),
            (10.0, 3.0, 1.0, 5.0)
        );
        assert_eq!((rows[1].mean, rows[1].runs), (4.0, 2));
        let rows = aggregate(&[&a, &b, &c], Band::Std);
        // Values 1, 3, 5: sample std 2.
        assert_eq!((rows[0].lo, rows[0].hi), (1.0, 5.0));
        // Values 2, 6: mean 4, sample std 2√2.
        let sd = 8.0f64.sqrt();
        assert!((rows[1].hi - (4.0 + sd)).abs() < 1e-12);
    }

    #[test]
    fn a_trace_keeps_each_buckets_extremes_in_step_order() {
        // One bucket of width 100 holding a spike: the trace keeps the spike's height.
        let s = series(&[(1, 0.5), (2, 9.0), (3, 0.4), (4, 0.6)], 100);
        assert_eq!(trace(&s), vec![(2.0, 9.0), (3.0, 0.4)]);
        let s = series(&[(150, 2.0)], 100);
        assert_eq!(trace(&s), vec![(150.0, 2.0)]);
    }

    #[test]
    fn a_robust_range_ignores_a_divergence_spike() {
        let mut points: Vec<(u64, f64)> = (1..=1000).map(|s| (s, (s % 7) as f64 / 7.0)).collect();
        points.push((1001, 1e30));
        let s = series(&points, 1);
        let curves = vec![VariantCurves {
            label: "x".into(),
            colour: BLACK,
            rows: aggregate(&[&s], Band::MinMax),
            traces: vec![trace(&s)],
            ends: vec![],
        }];
        let (_, hi) = y_range(&curves, YRange::Robust);
        assert!(hi < 2.0, "{hi}");
        let (_, hi) = y_range(&curves, YRange::Full);
        assert!(hi > 1e29);
    }
}
