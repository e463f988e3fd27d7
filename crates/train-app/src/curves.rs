//! Training curves as pictures: every metric burn-train logged for a run (training values per
//! step, validation values per epoch), one panel per metric, several runs on shared axes, with
//! global steps on the x axis. Written as SVG or PNG by `plotters`, after each epoch of a run
//! and at its end, and by `train-app plot`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use burn::train::logger::MetricLogger;
use burn::train::metric::store::{EpochSummary, MetricsUpdate, Split};
use burn::train::metric::{MetricDefinition, NumericEntry};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::pictures::{self, Picture, FONT};

/// Metrics left out unless asked for: they say how fast, not how well.
const HIDDEN_BY_DEFAULT: &[&str] = &["Throughput"];
/// Pixels of one panel.
const PANEL: (u32, u32) = (620, 380);

/// One metric of one run: training values at each step, validation means at each epoch's end.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct MetricCurve {
    pub train: Vec<(f64, f64)>,
    pub valid: Vec<(f64, f64)>,
}

/// The logged metrics of one run, by name.
#[derive(Debug)]
pub struct RunCurves {
    pub label: String,
    pub metrics: BTreeMap<String, MetricCurve>,
}

impl RunCurves {
    /// Reads burn-train's logs under `run` (`train/epoch-N/<Metric>.log`, one `value,count`
    /// line per step; `valid/epoch-N/…`). A step's global index counts the steps of every
    /// earlier epoch, so resumed and uninterrupted runs share an axis.
    pub fn read(run: &Path) -> Result<Self> {
        if !run.join("train").join("epoch-1").is_dir() {
            bail!(
                "{}: no training logs (expected {})",
                run.display(),
                run.join("train/epoch-1").display()
            );
        }
        let mut metrics: BTreeMap<String, MetricCurve> = BTreeMap::new();
        let mut steps_before = 0usize;
        for epoch in 1.. {
            let train_dir = run.join("train").join(format!("epoch-{epoch}"));
            if !train_dir.is_dir() {
                break;
            }
            let mut steps = 0;
            for (name, entries) in read_logs(&train_dir)? {
                steps = steps.max(entries.len());
                let curve = metrics.entry(name).or_default();
                curve
                    .train
                    .extend(entries.iter().enumerate().filter_map(|(i, entry)| {
                        entry.map(|(value, _)| ((steps_before + i + 1) as f64, value))
                    }));
            }
            steps_before += steps;
            let valid_dir = run.join("valid").join(format!("epoch-{epoch}"));
            if valid_dir.is_dir() {
                for (name, entries) in read_logs(&valid_dir)? {
                    let (sum, count) = entries
                        .iter()
                        .flatten()
                        .fold((0.0, 0.0), |(s, n), (v, c)| (s + v * c, n + c));
                    if count > 0.0 {
                        let curve = metrics.entry(name).or_default();
                        curve.valid.push((steps_before as f64, sum / count));
                    }
                }
            }
        }
        let label = run
            .canonicalize()
            .unwrap_or_else(|_| run.to_path_buf())
            .file_name()
            .map_or_else(|| run.display().to_string(), |n| n.to_string_lossy().into());
        Ok(Self { label, metrics })
    }
}

/// Each `<Metric>.log` of `dir` by metric name (burn-train writes spaces as `_`): per line,
/// `Some((value, count))`, or `None` for a step that logged no entry (count 0).
type Logs = Vec<(String, Vec<Option<(f64, f64)>>)>;

fn read_logs(dir: &Path) -> Result<Logs> {
    let mut logs = Vec::new();
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_none_or(|ext| ext != "log") {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let values = text
            .lines()
            .enumerate()
            .map(|(i, line)| {
                let (value, count) = line.split_once(',').unwrap_or((line, "1"));
                let parsed = value
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .zip(count.trim().parse::<f64>().ok());
                match parsed {
                    Some((_, 0.0)) => Ok(None),
                    Some((value, count)) if value.is_finite() => Ok(Some((value, count))),
                    Some(_) => Ok(None),
                    None => bail!(
                        "{}:{}: expected `value,count`, got {line:?}",
                        path.display(),
                        i + 1
                    ),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().replace('_', " "));
        logs.push((stem.unwrap_or_default(), values));
    }
    Ok(logs)
}

/// The metrics to draw: those named in `wanted` (exact, or a case-insensitive prefix such as
/// `loss`), or every logged one but throughput.
pub fn choose_metrics(runs: &[RunCurves], wanted: &[String]) -> Result<Vec<String>> {
    let logged: Vec<&String> = {
        let mut names: Vec<&String> = runs.iter().flat_map(|r| r.metrics.keys()).collect();
        names.sort();
        names.dedup();
        names
    };
    if wanted.is_empty() {
        return Ok(logged
            .into_iter()
            .filter(|name| !HIDDEN_BY_DEFAULT.contains(&name.as_str()))
            .cloned()
            .collect());
    }
    wanted
        .iter()
        .map(|want| {
            logged
                .iter()
                .find(|name| **name == want)
                .or_else(|| {
                    logged
                        .iter()
                        .find(|name| name.to_lowercase().starts_with(&want.to_lowercase()))
                })
                .map(|name| (*name).clone())
                .ok_or_else(|| {
                    anyhow!(
                        "--metric {want}: not logged by these runs (logged: {})",
                        logged
                            .iter()
                            .map(|n| n.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
        })
        .collect()
}

/// Draws `metrics` of `runs` and writes the picture to `out` (`.svg` or `.png`) atomically.
pub fn write(runs: &[RunCurves], metrics: &[String], out: &Path) -> Result<()> {
    if metrics.is_empty() {
        bail!("no metrics to draw: the runs logged none");
    }
    pictures::write(&Curves { runs, metrics }, out)
}

/// One panel per metric, two columns.
struct Curves<'a> {
    runs: &'a [RunCurves],
    metrics: &'a [String],
}

impl Picture for Curves<'_> {
    fn size(&self) -> (u32, u32) {
        let columns = self.metrics.len().min(2) as u32;
        let rows = self.metrics.len().div_ceil(2) as u32;
        (PANEL.0 * columns, PANEL.1 * rows)
    }

    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Result<()> {
        draw(root, self.runs, self.metrics)
    }
}

/// `curves.svg` and `curves.png` of the run in `run`, every metric but throughput.
pub fn write_for_run(run: &Path) -> Result<Vec<PathBuf>> {
    let runs = [RunCurves::read(run)?];
    let metrics = choose_metrics(&runs, &[])?;
    ["curves.svg", "curves.png"]
        .into_iter()
        .map(|name| {
            let path = run.join(name);
            write(&runs, &metrics, &path)?;
            Ok(path)
        })
        .collect()
}

/// burn-train's metric logger, redrawing the run's curves after each validation epoch. The
/// epoch's logs are complete by then: burn-train's file logger closes its files when it logs
/// an epoch's summary. A failed redraw is left to the one at the end of the run to report.
pub struct RedrawEachEpoch<L> {
    inner: L,
    run: PathBuf,
}

impl<L> RedrawEachEpoch<L> {
    pub fn new(inner: L, run: &Path) -> Self {
        Self {
            inner,
            run: run.to_path_buf(),
        }
    }
}

impl<L: MetricLogger> MetricLogger for RedrawEachEpoch<L> {
    fn log(&mut self, update: MetricsUpdate, epoch: usize, split: &Split) {
        self.inner.log(update, epoch, split);
    }

    fn read_numeric(
        &mut self,
        name: &str,
        epoch: usize,
        split: &Split,
    ) -> Result<Vec<NumericEntry>, String> {
        self.inner.read_numeric(name, epoch, split)
    }

    fn log_metric_definition(&mut self, definition: MetricDefinition) {
        self.inner.log_metric_definition(definition);
    }

    fn log_epoch_summary(&mut self, summary: EpochSummary) {
        let validated = summary.split == Split::Valid;
        self.inner.log_epoch_summary(summary);
        if validated {
            let _ = write_for_run(&self.run);
        }
    }
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    runs: &[RunCurves],
    metrics: &[String],
) -> Result<()> {
    let fail = pictures::drawing_error::<DB>;
    root.fill(&WHITE).map_err(fail)?;
    let panels = root.split_evenly((metrics.len().div_ceil(2), metrics.len().min(2)));
    for (panel, metric) in panels.iter().zip(metrics) {
        let curves: Vec<(&str, &MetricCurve)> = runs
            .iter()
            .filter_map(|run| run.metrics.get(metric).map(|c| (run.label.as_str(), c)))
            .collect();
        let points = curves
            .iter()
            .flat_map(|(_, c)| c.train.iter().chain(&c.valid));
        let (x_max, y_min, y_max) = points.fold(
            (1.0f64, f64::INFINITY, f64::NEG_INFINITY),
            |(x, lo, hi), &(px, py)| (x.max(px), lo.min(py), hi.max(py)),
        );
        let (y_min, y_max) = if y_min.is_finite() {
            let pad = ((y_max - y_min) * 0.05).max(y_max.abs() * 1e-3).max(1e-12);
            (y_min - pad, y_max + pad)
        } else {
            (0.0, 1.0)
        };
        let mut chart = ChartBuilder::on(panel)
            .caption(metric, (FONT, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..x_max, y_min..y_max)
            .map_err(fail)?;
        chart
            .configure_mesh()
            .x_desc("global step")
            .x_label_formatter(&|step| format!("{step:.0}"))
            .y_desc(unit(metric))
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .draw()
            .map_err(fail)?;
        for (i, (label, curve)) in curves.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let run = if runs.len() > 1 {
                format!("{label} ")
            } else {
                String::new()
            };
            if !curve.train.is_empty() {
                chart
                    .draw_series(LineSeries::new(
                        curve.train.iter().copied(),
                        color.stroke_width(1),
                    ))
                    .map_err(fail)?
                    .label(format!("{run}train"))
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 18, y)], color.stroke_width(1))
                    });
            }
            if !curve.valid.is_empty() {
                chart
                    .draw_series(LineSeries::new(
                        curve.valid.iter().copied(),
                        color.stroke_width(3),
                    ))
                    .map_err(fail)?
                    .label(format!("{run}validation (per epoch)"))
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 18, y)], color.stroke_width(3))
                    });
                chart
                    .draw_series(
                        curve
                            .valid
                            .iter()
                            .map(|&point| Circle::new(point, 4, color.filled())),
                    )
                    .map_err(fail)?;
            }
        }
        chart
            .configure_series_labels()
            .label_font((FONT, 13))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .position(legend_corner(&curves))
            .draw()
            .map_err(fail)?;
    }
    root.present().map_err(fail)?;
    Ok(())
}

/// Where the legend hides the least: below a curve that rises, above one that falls.
fn legend_corner(curves: &[(&str, &MetricCurve)]) -> SeriesLabelPosition {
    let rises = curves.first().is_some_and(|(_, curve)| {
        let values = if curve.valid.len() >= 2 {
            &curve.valid
        } else {
            &curve.train
        };
        matches!((values.first(), values.last()), (Some(a), Some(b)) if b.1 > a.1)
    });
    if rises {
        SeriesLabelPosition::LowerRight
    } else {
        SeriesLabelPosition::UpperRight
    }
}

/// The y axis' unit, from the names burn-train and our metrics use.
fn unit(metric: &str) -> &'static str {
    let lower = metric.to_lowercase();
    if lower.contains("accuracy") || lower.contains("top-1") {
        "%"
    } else if lower.contains("spearman") {
        "Spearman × 100"
    } else if lower.contains("loss") {
        "nats"
    } else if lower.contains("learning rate") {
        "learning rate"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(dir: &Path, split: &str, epoch: usize, name: &str, text: &str) {
        let folder = dir.join(split).join(format!("epoch-{epoch}"));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join(name), text).unwrap();
    }

    #[test]
    fn steps_count_across_epochs_and_validation_is_the_weighted_epoch_mean() {
        let dir = std::env::temp_dir().join(format!("curves-read-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        log(&dir, "train", 1, "Loss.log", "3,8\n2,8\n");
        log(&dir, "train", 2, "Loss.log", "1.5,8\n1,8\n");
        log(&dir, "valid", 1, "Loss.log", "2,3\n4,1\n");
        log(&dir, "valid", 2, "kNN_Top-1.log", "0,0\n0,0\n30,1\n");
        let run = RunCurves::read(&dir).unwrap();
        assert_eq!(
            run.metrics["Loss"],
            MetricCurve {
                train: vec![(1.0, 3.0), (2.0, 2.0), (3.0, 1.5), (4.0, 1.0)],
                valid: vec![(2.0, 2.5)],
            }
        );
        assert_eq!(run.metrics["kNN Top-1"].valid, vec![(4.0, 30.0)]);
        assert_eq!(
            choose_metrics(&[run], &["knn".into()]).unwrap(),
            ["kNN Top-1"]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_torn_log_line_is_named() {
        let dir = std::env::temp_dir().join(format!("curves-torn-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        log(&dir, "train", 1, "Loss.log", "3,8\nthree\n");
        let err = RunCurves::read(&dir).unwrap_err();
        assert!(format!("{err:#}").contains("Loss.log:2"), "{err:#}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
