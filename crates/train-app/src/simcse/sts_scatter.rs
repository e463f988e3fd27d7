//! `simcse eval --scatter`: predicted cosine against gold score for every pair of every STS
//! set, one panel per set, so a user sees where the model's ranking goes wrong.

use std::path::Path;

use anyhow::{bail, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::commands::ScoredSet;
use crate::pictures::{self, Picture, FONT};

/// Pixels of one panel.
const PANEL: (u32, u32) = (520, 420);

/// Writes the scatter of `sets` to `out` (`.svg` or `.png`).
pub fn write(sets: &[ScoredSet], out: &Path) -> Result<()> {
    if sets.is_empty() {
        bail!("no STS set was scored: nothing to draw");
    }
    pictures::write(&Scatter(sets), out)
}

struct Scatter<'a>(&'a [ScoredSet]);

impl Picture for Scatter<'_> {
    fn size(&self) -> (u32, u32) {
        let columns = self.0.len().min(3) as u32;
        let rows = self.0.len().div_ceil(3) as u32;
        (PANEL.0 * columns, PANEL.1 * rows)
    }

    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Result<()> {
        let fail = pictures::drawing_error::<DB>;
        root.fill(&WHITE).map_err(fail)?;
        let panels = root.split_evenly((self.0.len().div_ceil(3), self.0.len().min(3)));
        for (panel, set) in panels.iter().zip(self.0) {
            let (gold_max, low) = set
                .gold_and_cosine
                .iter()
                .fold((0.0f64, 0.0f64), |(g, c), &(gold, cosine)| {
                    (g.max(gold), c.min(cosine))
                });
            let mut chart = ChartBuilder::on(panel)
                .caption(
                    format!("{}: Spearman {:.2}", set.name, 100.0 * set.score.spearman),
                    (FONT, 17),
                )
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(52)
                .build_cartesian_2d(0.0..gold_max.max(1.0) * 1.02, (low - 0.02).min(0.0)..1.02)
                .map_err(fail)?;
            chart
                .configure_mesh()
                .x_desc("gold score")
                .y_desc("cosine similarity")
                .label_style((FONT, 12))
                .axis_desc_style((FONT, 14))
                .draw()
                .map_err(fail)?;
            let color = Palette99::pick(0).to_rgba().mix(0.35);
            chart
                .draw_series(
                    set.gold_and_cosine
                        .iter()
                        .map(|&point| Circle::new(point, 2, color.filled())),
                )
                .map_err(fail)?;
        }
        root.present().map_err(fail)?;
        Ok(())
    }
}
