//! The embedded default dataset: procedurally drawn shapes, generated from a seed, so that
//! `train-app simclr train` needs no download and still has something real to learn.
//!
//! Ten classes of shape or texture, each drawn with foreground and background colours from a
//! small palette, random position, size, rotation and pixel noise. Colour carries no class
//! information and, with few colours, barely tells images apart either, so a useful
//! representation must be colour-invariant and shape-sensitive — what SimCLR's colour
//! distortion and cropping teach.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::dataset::ImageDataset;
use super::image::Image;

/// The classes, by label id.
pub const CLASS_NAMES: [&str; 10] = [
    "disk", "square", "triangle", "ring", "cross", "stripes", "checker", "diagonal", "dots",
    "frame",
];

/// `count` images of side `size` drawn from `seed`, classes balanced and interleaved.
pub fn generate(count: usize, size: usize, seed: u64) -> ImageDataset {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut dataset = ImageDataset {
        class_names: CLASS_NAMES.map(String::from).to_vec(),
        ..Default::default()
    };
    for i in 0..count {
        let label = i % CLASS_NAMES.len();
        dataset.images.push(draw(label, size, &mut rng));
        dataset.labels.push(label);
    }
    dataset
}

/// Whether point `(u, v)` (shape-centred coordinates, radius ≈ 1) is inside shape `label`.
fn inside(label: usize, u: f32, v: f32, frequency: f32) -> bool {
    let r = (u * u + v * v).sqrt();
    match label {
        0 => r < 0.9,
        1 => u.abs() < 0.75 && v.abs() < 0.75,
        2 => v < 0.7 && v > 1.5 * u.abs() - 0.8,
        3 => (0.55..0.9).contains(&r),
        4 => (u.abs() < 0.25 && v.abs() < 0.9) || (v.abs() < 0.25 && u.abs() < 0.9),
        5 => r < 1.0 && (v * frequency).rem_euclid(2.0) < 1.0,
        6 => {
            r < 1.0
                && (((u * frequency).floor() + (v * frequency).floor()) as i32).rem_euclid(2) == 0
        }
        7 => (u - v).abs() < 0.3 && r < 1.0,
        8 => {
            let d1 = ((u - 0.45).powi(2) + (v - 0.45).powi(2)).sqrt();
            let d2 = ((u + 0.45).powi(2) + (v + 0.45).powi(2)).sqrt();
            d1 < 0.35 || d2 < 0.35
        }
        _ => {
            let m = u.abs().max(v.abs());
            (0.65..0.9).contains(&m)
        }
    }
}

/// The colours shapes and backgrounds are drawn in.
const PALETTE: [[f32; 3]; 8] = [
    [0.9, 0.15, 0.1],
    [0.1, 0.6, 0.2],
    [0.15, 0.25, 0.85],
    [0.95, 0.85, 0.2],
    [0.1, 0.1, 0.1],
    [0.95, 0.95, 0.95],
    [0.6, 0.3, 0.7],
    [0.2, 0.75, 0.8],
];

fn luma(c: [f32; 3]) -> f32 {
    0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]
}

fn draw(label: usize, size: usize, rng: &mut StdRng) -> Image {
    // Foreground and background differ enough in luma to stay visible in grayscale too.
    let (background, foreground) = loop {
        let b = PALETTE[rng.random_range(0..PALETTE.len())];
        let f = PALETTE[rng.random_range(0..PALETTE.len())];
        if (luma(f) - luma(b)).abs() >= 0.2 {
            break (b, f);
        }
    };
    let scale = rng.random_range(0.28..0.45) * size as f32;
    let cx = size as f32 * rng.random_range(0.35..0.65);
    let cy = size as f32 * rng.random_range(0.35..0.65);
    let angle: f32 = if matches!(label, 0 | 3) {
        0.0
    } else {
        rng.random_range(-0.5..0.5)
    };
    let (sin, cos) = angle.sin_cos();
    let frequency = rng.random_range(2.0..3.0);
    let noise = 0.06;
    let mut image = Image::zeros(size, size);
    let plane = size * size;
    for y in 0..size {
        for x in 0..size {
            let (dx, dy) = ((x as f32 + 0.5 - cx) / scale, (y as f32 + 0.5 - cy) / scale);
            let (u, v) = (cos * dx + sin * dy, -sin * dx + cos * dy);
            let color = if inside(label, u, v, frequency) {
                foreground
            } else {
                background
            };
            for (c, value) in color.into_iter().enumerate() {
                let jitter: f32 = rng.random_range(-noise..noise);
                image.data[c * plane + y * size + x] = (value + jitter).clamp(0.0, 1.0);
            }
        }
    }
    image
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_seeded_balanced_and_in_range() {
        let a = generate(40, 32, 5);
        let b = generate(40, 32, 5);
        assert_eq!(a.images, b.images);
        assert_ne!(a.images, generate(40, 32, 6).images);
        assert_eq!(a.num_classes(), 10);
        for class in 0..10 {
            assert_eq!(a.labels.iter().filter(|&&l| l == class).count(), 4);
        }
        assert!(a
            .images
            .iter()
            .all(|im| im.width == 32 && im.data.iter().all(|v| (0.0..=1.0).contains(v))));
    }

    #[test]
    fn every_class_draws_a_visible_shape() {
        let data = generate(10, 32, 1);
        for (image, label) in data.images.iter().zip(&data.labels) {
            // A shape covers a real share of the image but not all of it.
            let luma = image.luma();
            let mean = luma.iter().sum::<f32>() / luma.len() as f32;
            let spread = luma.iter().map(|v| (v - mean).abs()).sum::<f32>() / luma.len() as f32;
            assert!(
                spread > 0.03,
                "class {} is not visible (spread {spread})",
                CLASS_NAMES[*label]
            );
        }
    }
}
