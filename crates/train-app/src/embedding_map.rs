//! A 2-D map of representations coloured by class: each row projected on the first two
//! principal components. PCA rather than t-SNE or UMAP: it is deterministic, has no perplexity
//! or neighbour count to tune, and is linear, so the spread of a class on the map is its spread
//! in the representation along the directions of largest variance — and it costs a few passes
//! over the features where t-SNE's cost grows with the square of the points (or needs
//! Barnes–Hut approximations). No kept Rust crate offered UMAP.

use std::path::Path;

use anyhow::{bail, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::pictures::{self, Picture, FONT};

/// Power-iteration steps per component: far more than the features' spectra need to settle
/// to plotting precision.
const ITERATIONS: usize = 300;

/// Rows projected on their first two principal components.
#[derive(Debug, Clone, PartialEq)]
pub struct PrincipalPlane {
    pub points: Vec<(f64, f64)>,
    /// Share of the total variance along each component.
    pub explained: [f64; 2],
}

/// The `n × dim` row-major `features` on their first two principal components (power
/// iteration on the covariance, the second component kept orthogonal to the first).
pub fn principal_plane(features: &[f32], dim: usize) -> Result<PrincipalPlane> {
    if dim == 0 || !features.len().is_multiple_of(dim) || features.len() / dim < 2 {
        bail!("a map needs at least two feature rows of equal width");
    }
    let n = features.len() / dim;
    let mut mean = vec![0.0f64; dim];
    for row in features.chunks(dim) {
        for (m, &x) in mean.iter_mut().zip(row) {
            *m += x as f64 / n as f64;
        }
    }
    let centred: Vec<Vec<f64>> = features
        .chunks(dim)
        .map(|row| row.iter().zip(&mean).map(|(&x, m)| x as f64 - m).collect())
        .collect();
    let total: f64 = centred.iter().flatten().map(|x| x * x).sum::<f64>() / n as f64;
    // C·v = Xᵀ(X v) / n, without forming the dim × dim covariance.
    let covariance_times = |v: &[f64]| -> Vec<f64> {
        let mut out = vec![0.0; dim];
        for row in &centred {
            let projection: f64 = row.iter().zip(v).map(|(x, w)| x * w).sum();
            for (o, x) in out.iter_mut().zip(row) {
                *o += projection * x / n as f64;
            }
        }
        out
    };
    let mut components: Vec<Vec<f64>> = Vec::new();
    let mut variances = [0.0; 2];
    for (k, variance) in variances.iter_mut().enumerate() {
        // A fixed start that is not orthogonal to any particular direction in practice.
        let mut v: Vec<f64> = (0..dim)
            .map(|j| 1.0 + ((j + k) as f64 * 0.618).fract())
            .collect();
        for _ in 0..ITERATIONS {
            if !orthonormalise(&mut v, &components) {
                // What is left of the features lies in the earlier components: no variance.
                *variance = 0.0;
                break;
            }
            let next = covariance_times(&v);
            *variance = next.iter().zip(&v).map(|(a, b)| a * b).sum();
            v = next;
        }
        if !orthonormalise(&mut v, &components) {
            v.iter_mut().for_each(|x| *x = 0.0);
        }
        components.push(v);
    }
    let points = centred
        .iter()
        .map(|row| {
            let along = |c: &[f64]| row.iter().zip(c).map(|(x, w)| x * w).sum::<f64>();
            (along(&components[0]), along(&components[1]))
        })
        .collect();
    let share = |v: f64| if total > 0.0 { v / total } else { 0.0 };
    Ok(PrincipalPlane {
        points,
        explained: [share(variances[0]), share(variances[1])],
    })
}

/// Makes `v` a unit vector orthogonal to `components`; false when what is left of it is
/// rounding error (under 1e-9 of its length), i.e. `v` lay in their span.
fn orthonormalise(v: &mut [f64], components: &[Vec<f64>]) -> bool {
    let length = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let before = length(v);
    for earlier in components {
        let along: f64 = v.iter().zip(earlier).map(|(a, b)| a * b).sum();
        v.iter_mut().zip(earlier).for_each(|(a, b)| *a -= along * b);
    }
    let after = length(v);
    if !(after > 1e-9 * before && after > 0.0) {
        return false;
    }
    v.iter_mut().for_each(|x| *x /= after);
    true
}

/// The map of `plane`'s points coloured by `labels`, named by `class_names` where known.
pub fn write(
    plane: &PrincipalPlane,
    labels: &[usize],
    class_names: &[String],
    title: &str,
    out: &Path,
) -> Result<()> {
    if labels.len() != plane.points.len() {
        bail!("{} labels for {} points", labels.len(), plane.points.len());
    }
    pictures::write(
        &Map {
            plane,
            labels,
            class_names,
            title,
        },
        out,
    )
}

struct Map<'a> {
    plane: &'a PrincipalPlane,
    labels: &'a [usize],
    class_names: &'a [String],
    title: &'a str,
}

impl Picture for Map<'_> {
    fn size(&self) -> (u32, u32) {
        (900, 720)
    }

    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Result<()> {
        let fail = pictures::drawing_error::<DB>;
        root.fill(&WHITE).map_err(fail)?;
        let range = |pick: fn(&(f64, f64)) -> f64| {
            let values = self.plane.points.iter().map(pick);
            let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            });
            let pad = ((hi - lo) * 0.05).max(1e-9);
            (lo - pad)..(hi + pad)
        };
        let mut chart = ChartBuilder::on(&root)
            .caption(self.title, (FONT, 20))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d(range(|p| p.0), range(|p| p.1))
            .map_err(fail)?;
        let [first, second] = self.plane.explained.map(|share| share * 100.0);
        chart
            .configure_mesh()
            .x_desc(format!("principal component 1 ({first:.1} % of variance)"))
            .y_desc(format!("principal component 2 ({second:.1} % of variance)"))
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 15))
            .draw()
            .map_err(fail)?;
        let classes = self.labels.iter().max().map_or(0, |m| m + 1);
        for class in 0..classes {
            let color = Palette99::pick(class).to_rgba();
            let points: Vec<(f64, f64)> = self
                .plane
                .points
                .iter()
                .zip(self.labels)
                .filter(|(_, &label)| label == class)
                .map(|(&point, _)| point)
                .collect();
            if points.is_empty() {
                continue;
            }
            let name = self
                .class_names
                .get(class)
                .cloned()
                .unwrap_or_else(|| format!("class {class}"));
            chart
                .draw_series(
                    points
                        .into_iter()
                        .map(|p| Circle::new(p, 3, color.mix(0.75).filled())),
                )
                .map_err(fail)?
                .label(name)
                .legend(move |(x, y)| Circle::new((x + 8, y), 4, color.filled()));
        }
        chart
            .configure_series_labels()
            .label_font((FONT, 13))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(fail)?;
        root.present().map_err(fail)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_the_axes_of_largest_variance_and_their_shares() {
        // Rows a·(1, 1, 0)/√2 + b·(0, 0, 1) with a = ±3, b = ±1 in every combination: variance
        // 9 along the first axis, 1 along the second, nothing else.
        let s = std::f32::consts::FRAC_1_SQRT_2;
        let coefficients: [(f64, f64); 4] = [(3.0, 1.0), (3.0, -1.0), (-3.0, 1.0), (-3.0, -1.0)];
        let mut features = Vec::new();
        for (a, b) in coefficients {
            features.extend([a as f32 * s, a as f32 * s, b as f32]);
        }
        let plane = principal_plane(&features, 3).unwrap();
        // Each component is defined up to its sign, the same for every row.
        let signs = (plane.points[0].0 / 3.0, plane.points[0].1 / 1.0);
        for (&(x, y), (a, b)) in plane.points.iter().zip(coefficients) {
            assert!((x - signs.0 * a).abs() < 1e-5, "{x} vs {a}");
            assert!((y - signs.1 * b).abs() < 1e-5, "{y} vs {b}");
        }
        assert!(
            (plane.explained[0] - 0.9).abs() < 1e-6,
            "{:?}",
            plane.explained
        );
        assert!(
            (plane.explained[1] - 0.1).abs() < 1e-6,
            "{:?}",
            plane.explained
        );
        assert!(
            principal_plane(&features[..3], 3).is_err(),
            "one row has no variance to map"
        );
    }

    #[test]
    fn rows_on_a_line_have_no_second_component() {
        let features = [
            1.0, 2.0, -1.0, 2.0, 4.0, -2.0, -3.0, -6.0, 3.0, 0.5, 1.0, -0.5,
        ];
        let plane = principal_plane(&features, 3).unwrap();
        assert!(
            (plane.explained[0] - 1.0).abs() < 1e-9,
            "{:?}",
            plane.explained
        );
        assert_eq!(plane.explained[1], 0.0);
        assert!(
            plane.points.iter().all(|&(_, y)| y == 0.0),
            "{:?}",
            plane.points
        );
    }
}
