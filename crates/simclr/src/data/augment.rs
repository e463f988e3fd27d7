//! SimCLR's stochastic augmentation `t ~ T`: random resized crop with flip,
//! colour jitter, random grayscale, Gaussian blur, then normalisation. Every transform can be
//! switched off, so the paper's composition ablation is a matter of configuration.

use burn::config::Config;
use rand::seq::SliceRandom;
use rand::Rng;

use super::image::Image;

/// Configuration of [`Augmenter`]; defaults follow the paper's CIFAR-10 recipe.
#[derive(Config, Debug)]
pub struct AugmentConfig {
    /// Side of the square output view, in pixels.
    #[config(default = 32)]
    pub size: usize,
    /// Random resized crop (back to `size`).
    #[config(default = true)]
    pub crop: bool,
    /// Smallest and largest crop area, as fractions of the image.
    #[config(default = "[0.08, 1.0]")]
    pub crop_scale: [f64; 2],
    /// Smallest and largest crop aspect ratio (width / height), sampled log-uniformly.
    #[config(default = "[0.75, 1.3333333333333333]")]
    pub crop_ratio: [f64; 2],
    /// Horizontal flip with probability 0.5.
    #[config(default = true)]
    pub flip: bool,
    /// Colour jitter (brightness, contrast, saturation 0.8 s; hue 0.2 s; in random order).
    #[config(default = true)]
    pub color_jitter: bool,
    /// Jitter strength `s` (the paper: 1.0 on ImageNet, 0.5 on CIFAR-10).
    #[config(default = 0.5)]
    pub jitter_strength: f64,
    /// Probability of applying the jitter.
    #[config(default = 0.8)]
    pub jitter_probability: f64,
    /// Random grayscale.
    #[config(default = true)]
    pub grayscale: bool,
    /// Probability of grayscale.
    #[config(default = 0.2)]
    pub grayscale_probability: f64,
    /// Gaussian blur (σ ∈ [0.1, 2], kernel ≈ 10 % of the side); off by default at 32 px.
    #[config(default = false)]
    pub blur: bool,
    /// Probability of blur.
    #[config(default = 0.5)]
    pub blur_probability: f64,
    /// Per-channel mean subtracted at the end (CIFAR-10's).
    #[config(default = "[0.4914, 0.4822, 0.4465]")]
    pub mean: [f32; 3],
    /// Per-channel standard deviation divided by at the end (CIFAR-10's).
    #[config(default = "[0.2470, 0.2435, 0.2616]")]
    pub std: [f32; 3],
}

/// A crop rectangle in source pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CropBox {
    pub left: usize,
    pub top: usize,
    pub width: usize,
    pub height: usize,
}

/// Draws views of images according to an [`AugmentConfig`].
#[derive(Clone, Debug)]
pub struct Augmenter {
    config: AugmentConfig,
}

impl Augmenter {
    /// An augmenter for `config`.
    pub fn new(config: AugmentConfig) -> Self {
        Self { config }
    }

    /// The configuration.
    pub fn config(&self) -> &AugmentConfig {
        &self.config
    }

    /// One random view of `image`, values still in `[0, 1]` (see [`Augmenter::normalize`]).
    pub fn view(&self, image: &Image, rng: &mut impl Rng) -> Image {
        let c = &self.config;
        let crop = if c.crop {
            sample_crop(image.width, image.height, c.crop_scale, c.crop_ratio, rng)
        } else {
            CropBox {
                left: 0,
                top: 0,
                width: image.width,
                height: image.height,
            }
        };
        let mut view = resized_crop(image, crop, c.size);
        if c.flip && rng.random_bool(0.5) {
            view = hflip(&view);
        }
        if c.color_jitter && rng.random_bool(c.jitter_probability) {
            color_jitter(&mut view, c.jitter_strength, rng);
        }
        if c.grayscale && rng.random_bool(c.grayscale_probability) {
            grayscale(&mut view);
        }
        if c.blur && rng.random_bool(c.blur_probability) {
            let sigma = rng.random_range(0.1..=2.0);
            view = gaussian_blur(&view, blur_kernel_size(c.size), sigma);
        }
        view
    }

    /// The deterministic evaluation view: resize to `size`, no randomness.
    pub fn eval_view(&self, image: &Image) -> Image {
        resized_crop(
            image,
            CropBox {
                left: 0,
                top: 0,
                width: image.width,
                height: image.height,
            },
            self.config.size,
        )
    }

    /// `(x − mean) / std` per channel, in place.
    pub fn normalize(&self, image: &mut Image) {
        for c in 0..3 {
            let (mean, std) = (self.config.mean[c], self.config.std[c]);
            for v in image.plane_mut(c) {
                *v = (*v - mean) / std;
            }
        }
    }
}

/// torchvision's `RandomResizedCrop.get_params`: up to ten draws of an area fraction in
/// `scale` and a log-uniform aspect ratio in `ratio` that fit, else a centred crop.
pub fn sample_crop(
    width: usize,
    height: usize,
    scale: [f64; 2],
    ratio: [f64; 2],
    rng: &mut impl Rng,
) -> CropBox {
    let area = (width * height) as f64;
    let (log_lo, log_hi) = (ratio[0].ln(), ratio[1].ln());
    for _ in 0..10 {
        let target = area * rng.random_range(scale[0]..=scale[1]);
        let aspect = rng.random_range(log_lo..=log_hi).exp();
        let w = (target * aspect).sqrt().round() as usize;
        let h = (target / aspect).sqrt().round() as usize;
        if w > 0 && h > 0 && w <= width && h <= height {
            return CropBox {
                left: rng.random_range(0..=width - w),
                top: rng.random_range(0..=height - h),
                width: w,
                height: h,
            };
        }
    }
    let in_ratio = width as f64 / height as f64;
    let (w, h) = if in_ratio < ratio[0] {
        (width, ((width as f64 / ratio[0]).round() as usize).max(1))
    } else if in_ratio > ratio[1] {
        (((height as f64 * ratio[1]).round() as usize).max(1), height)
    } else {
        (width, height)
    };
    CropBox {
        left: (width - w) / 2,
        top: (height - h) / 2,
        width: w,
        height: h,
    }
}

/// Bilinear resampling of `crop` to `size × size` (half-pixel centres, edges clamped).
pub fn resized_crop(image: &Image, crop: CropBox, size: usize) -> Image {
    let mut out = Image::zeros(size, size);
    let sx = crop.width as f32 / size as f32;
    let sy = crop.height as f32 / size as f32;
    let max_x = (image.width - 1) as f32;
    let max_y = (image.height - 1) as f32;
    for y in 0..size {
        let src_y = ((y as f32 + 0.5) * sy - 0.5 + crop.top as f32).clamp(0.0, max_y);
        let (y0, fy) = (src_y.floor() as usize, src_y.fract());
        let y1 = (y0 + 1).min(image.height - 1);
        for x in 0..size {
            let src_x = ((x as f32 + 0.5) * sx - 0.5 + crop.left as f32).clamp(0.0, max_x);
            let (x0, fx) = (src_x.floor() as usize, src_x.fract());
            let x1 = (x0 + 1).min(image.width - 1);
            for c in 0..3 {
                let top = image.get(c, x0, y0) * (1.0 - fx) + image.get(c, x1, y0) * fx;
                let bottom = image.get(c, x0, y1) * (1.0 - fx) + image.get(c, x1, y1) * fx;
                out.data[(c * size + y) * size + x] = top * (1.0 - fy) + bottom * fy;
            }
        }
    }
    out
}

/// Mirror image left to right.
pub fn hflip(image: &Image) -> Image {
    let mut out = image.clone();
    for c in 0..3 {
        for y in 0..image.height {
            for x in 0..image.width {
                out.data[(c * image.height + y) * image.width + x] =
                    image.get(c, image.width - 1 - x, y);
            }
        }
    }
    out
}

/// Replaces every channel by the pixel's luma.
pub fn grayscale(image: &mut Image) {
    let luma = image.luma();
    for c in 0..3 {
        image.plane_mut(c).copy_from_slice(&luma);
    }
}

/// torchvision's `ColorJitter(0.8s, 0.8s, 0.8s, 0.2s)`: the four adjustments, each with a
/// uniformly drawn factor, in a random order. At `s = 0` it is the identity.
pub fn color_jitter(image: &mut Image, strength: f64, rng: &mut impl Rng) {
    let amount = 0.8 * strength;
    let hue_amount = (0.2 * strength).min(0.5);
    let mut order = [0, 1, 2, 3];
    order.shuffle(rng);
    for op in order {
        match op {
            0 if amount > 0.0 => adjust_brightness(image, factor(amount, rng)),
            1 if amount > 0.0 => adjust_contrast(image, factor(amount, rng)),
            2 if amount > 0.0 => adjust_saturation(image, factor(amount, rng)),
            3 if hue_amount > 0.0 => {
                adjust_hue(image, rng.random_range(-hue_amount..=hue_amount) as f32)
            }
            _ => {}
        }
    }
}

fn factor(amount: f64, rng: &mut impl Rng) -> f32 {
    rng.random_range((1.0 - amount).max(0.0)..=1.0 + amount) as f32
}

/// Blends `image` with `other` (`f · image + (1 − f) · other`), clamped to `[0, 1]`.
fn blend(image: &mut Image, factor: f32, other: impl Fn(usize) -> f32) {
    let plane = image.width * image.height;
    for (i, v) in image.data.iter_mut().enumerate() {
        *v = (factor * *v + (1.0 - factor) * other(i % plane)).clamp(0.0, 1.0);
    }
}

/// Scales intensities by `factor`.
pub fn adjust_brightness(image: &mut Image, factor: f32) {
    blend(image, factor, |_| 0.0);
}

/// Moves intensities towards (factor < 1) or away from the mean luma.
pub fn adjust_contrast(image: &mut Image, factor: f32) {
    let luma = image.luma();
    let mean = luma.iter().sum::<f32>() / luma.len() as f32;
    blend(image, factor, |_| mean);
}

/// Moves colours towards (factor < 1) or away from their own gray.
pub fn adjust_saturation(image: &mut Image, factor: f32) {
    let luma = image.luma();
    blend(image, factor, |i| luma[i]);
}

/// Rotates the hue of every pixel by `shift` turns (in `[-0.5, 0.5]`).
pub fn adjust_hue(image: &mut Image, shift: f32) {
    let plane = image.width * image.height;
    for i in 0..plane {
        let rgb = [
            image.data[i],
            image.data[plane + i],
            image.data[2 * plane + i],
        ];
        let [h, s, v] = rgb_to_hsv(rgb);
        let rotated = hsv_to_rgb([(h + shift).rem_euclid(1.0), s, v]);
        for (c, value) in rotated.into_iter().enumerate() {
            image.data[c * plane + i] = value;
        }
    }
}

fn rgb_to_hsv([r, g, b]: [f32; 3]) -> [f32; 3] {
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let delta = max - min;
    let s = if max > 0.0 { delta / max } else { 0.0 };
    if delta <= 0.0 {
        return [0.0, s, max];
    }
    let h = if max == r {
        ((g - b) / delta).rem_euclid(6.0)
    } else if max == g {
        (b - r) / delta + 2.0
    } else {
        (r - g) / delta + 4.0
    };
    [h / 6.0, s, max]
}

fn hsv_to_rgb([h, s, v]: [f32; 3]) -> [f32; 3] {
    let h6 = h * 6.0;
    let sector = h6.floor() as i32 % 6;
    let f = h6 - h6.floor();
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f)));
    match sector {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

/// The paper's blur kernel: about 10 % of the side, odd, at least 3.
pub fn blur_kernel_size(side: usize) -> usize {
    let k = ((side as f64) * 0.1).round() as usize;
    (k | 1).max(3)
}

/// Separable Gaussian blur with reflected borders.
pub fn gaussian_blur(image: &Image, kernel_size: usize, sigma: f64) -> Image {
    let radius = (kernel_size / 2) as isize;
    let weights: Vec<f32> = (-radius..=radius)
        .map(|d| (-(d * d) as f64 / (2.0 * sigma * sigma)).exp() as f32)
        .collect();
    let total: f32 = weights.iter().sum();
    let weights: Vec<f32> = weights.iter().map(|w| w / total).collect();
    let reflect = |i: isize, n: usize| -> usize {
        let n = n as isize;
        let mut i = i;
        if i < 0 {
            i = -i;
        }
        if i >= n {
            i = 2 * (n - 1) - i;
        }
        i.clamp(0, n - 1) as usize
    };
    let (w, h) = (image.width, image.height);
    let mut horizontal = image.clone();
    let mut out = image.clone();
    for c in 0..3 {
        for y in 0..h {
            for x in 0..w {
                horizontal.data[(c * h + y) * w + x] = weights
                    .iter()
                    .enumerate()
                    .map(|(k, wt)| {
                        wt * image.get(c, reflect(x as isize + k as isize - radius, w), y)
                    })
                    .sum();
            }
        }
        for y in 0..h {
            for x in 0..w {
                out.data[(c * h + y) * w + x] = weights
                    .iter()
                    .enumerate()
                    .map(|(k, wt)| {
                        wt * horizontal.get(c, x, reflect(y as isize + k as isize - radius, h))
                    })
                    .sum();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    /// A 3-channel test pattern with distinct values everywhere.
    fn pattern(width: usize, height: usize) -> Image {
        let mut image = Image::zeros(width, height);
        for c in 0..3 {
            for y in 0..height {
                for x in 0..width {
                    image.data[(c * height + y) * width + x] =
                        ((x * 7 + y * 13 + c * 29) % 97) as f32 / 96.0;
                }
            }
        }
        image
    }

    #[test]
    fn crop_scale_and_aspect_follow_the_configured_ranges() {
        let mut rng = StdRng::seed_from_u64(0);
        let (w, h) = (256, 256);
        let draws = 20_000;
        let (mut area_sum, mut log_ratio_sum) = (0.0, 0.0);
        for _ in 0..draws {
            let b = sample_crop(w, h, [0.08, 1.0], [0.75, 4.0 / 3.0], &mut rng);
            assert!(
                b.left + b.width <= w && b.top + b.height <= h,
                "{b:?} outside the image"
            );
            let area = (b.width * b.height) as f64 / (w * h) as f64;
            let ratio = b.width as f64 / b.height as f64;
            assert!((0.075..=1.0).contains(&area), "area fraction {area}");
            assert!((0.74..=1.35).contains(&ratio), "aspect {ratio}");
            area_sum += area;
            log_ratio_sum += ratio.ln();
        }
        // Areas are uniform on [0.08, 1] before rejection of crops that do not fit (mostly large
        // ones with extreme aspect), so the mean sits a little under 0.54.
        let mean_area = area_sum / draws as f64;
        assert!(
            (0.45..0.56).contains(&mean_area),
            "mean area fraction {mean_area}"
        );
        let mean_log_ratio = log_ratio_sum / draws as f64;
        assert!(
            mean_log_ratio.abs() < 0.01,
            "aspect ratios not log-symmetric: {mean_log_ratio}"
        );
    }

    #[test]
    fn crop_falls_back_to_centre_for_extreme_shapes() {
        let mut rng = StdRng::seed_from_u64(1);
        // A 100×4 strip: no crop of area ≥ 8 % with aspect ≤ 4/3 fits 10 times in a row reliably,
        // and the fallback keeps the height and the largest allowed width, centred.
        let b = sample_crop(100, 4, [0.9, 1.0], [0.75, 4.0 / 3.0], &mut rng);
        assert_eq!(
            b,
            CropBox {
                left: 47,
                top: 0,
                width: 5,
                height: 4
            }
        );
    }

    #[test]
    fn full_crop_at_the_same_size_is_the_identity() {
        let image = pattern(9, 7);
        let same = resized_crop(
            &image,
            CropBox {
                left: 0,
                top: 0,
                width: 9,
                height: 7,
            },
            9,
        );
        // The square output of a 9×7 source is resampled; a square source must come back exactly.
        let square = pattern(8, 8);
        let back = resized_crop(
            &square,
            CropBox {
                left: 0,
                top: 0,
                width: 8,
                height: 8,
            },
            8,
        );
        assert_eq!(back, square);
        assert_eq!((same.width, same.height), (9, 9));
    }

    #[test]
    fn flip_mirrors_columns_and_is_an_involution() {
        let image = pattern(5, 3);
        let flipped = hflip(&image);
        for c in 0..3 {
            for y in 0..3 {
                for x in 0..5 {
                    assert_eq!(flipped.get(c, x, y), image.get(c, 4 - x, y));
                }
            }
        }
        assert_eq!(hflip(&flipped), image);
    }

    #[test]
    fn grayscale_makes_channels_equal() {
        let mut image = pattern(6, 6);
        grayscale(&mut image);
        for y in 0..6 {
            for x in 0..6 {
                assert_eq!(image.get(0, x, y), image.get(1, x, y));
                assert_eq!(image.get(1, x, y), image.get(2, x, y));
            }
        }
    }

    #[test]
    fn jitter_at_zero_strength_is_the_identity() {
        let image = pattern(6, 6);
        let mut jittered = image.clone();
        color_jitter(&mut jittered, 0.0, &mut StdRng::seed_from_u64(3));
        assert_eq!(jittered, image);
    }

    #[test]
    fn hue_rotation_by_a_third_turns_red_into_green() {
        let mut image = Image::zeros(1, 1);
        image.data = vec![1.0, 0.0, 0.0];
        adjust_hue(&mut image, 1.0 / 3.0);
        let expected = [0.0, 1.0, 0.0];
        for (v, e) in image.data.iter().zip(expected) {
            assert!((v - e).abs() < 1e-5, "{:?}", image.data);
        }
    }

    #[test]
    fn brightness_contrast_saturation_factors_of_one_change_nothing() {
        let image = pattern(4, 4);
        let mut adjusted = image.clone();
        adjust_brightness(&mut adjusted, 1.0);
        adjust_contrast(&mut adjusted, 1.0);
        adjust_saturation(&mut adjusted, 1.0);
        assert_eq!(adjusted, image);
        // Saturation 0 is grayscale.
        let mut desaturated = image.clone();
        adjust_saturation(&mut desaturated, 0.0);
        let mut gray = image;
        grayscale(&mut gray);
        for (a, b) in desaturated.data.iter().zip(&gray.data) {
            assert!((a - b).abs() < 1e-6);
        }
    }

    #[test]
    fn blur_keeps_constant_images_and_sizes_its_kernel() {
        let mut image = Image::zeros(8, 8);
        image.data.iter_mut().for_each(|v| *v = 0.4);
        let blurred = gaussian_blur(&image, 3, 1.5);
        assert!(blurred.data.iter().all(|v| (v - 0.4).abs() < 1e-6));
        assert_eq!(blur_kernel_size(32), 3);
        assert_eq!(blur_kernel_size(224), 23);
    }

    #[test]
    fn views_are_seeded_in_range_and_sized() {
        let augmenter = Augmenter::new(AugmentConfig::new().with_blur(true).with_size(16));
        let image = pattern(40, 30);
        let a = augmenter.view(&image, &mut StdRng::seed_from_u64(7));
        let b = augmenter.view(&image, &mut StdRng::seed_from_u64(7));
        let c = augmenter.view(&image, &mut StdRng::seed_from_u64(8));
        assert_eq!(a, b, "same seed, same view");
        assert_ne!(a, c, "another seed, another view");
        assert_eq!((a.width, a.height), (16, 16));
        assert!(a.data.iter().all(|v| (0.0..=1.0).contains(v)));
    }

    #[test]
    fn normalize_uses_mean_and_std() {
        let augmenter =
            Augmenter::new(AugmentConfig::new().with_mean([0.5; 3]).with_std([0.25; 3]));
        let mut image = Image::zeros(1, 1);
        image.data = vec![1.0, 0.5, 0.0];
        augmenter.normalize(&mut image);
        assert_eq!(image.data, vec![2.0, 0.0, -2.0]);
    }

    proptest::proptest! {
        #[test]
        fn random_crops_lie_inside_any_image(
            width in 1usize..400,
            height in 1usize..400,
            min_scale in 0.01f64..1.0,
            seed in proptest::num::u64::ANY,
        ) {
            let mut rng = StdRng::seed_from_u64(seed);
            let crop = sample_crop(width, height, [min_scale, 1.0], [3.0 / 4.0, 4.0 / 3.0], &mut rng);
            proptest::prop_assert!(crop.width >= 1 && crop.height >= 1);
            proptest::prop_assert!(crop.left + crop.width <= width);
            proptest::prop_assert!(crop.top + crop.height <= height);
        }

        #[test]
        fn resized_crops_have_the_requested_size_and_stay_in_range(
            width in 1usize..40,
            height in 1usize..40,
            size in 1usize..24,
            seed in proptest::num::u64::ANY,
        ) {
            let image = pattern(width, height);
            let mut rng = StdRng::seed_from_u64(seed);
            let crop = sample_crop(width, height, [0.08, 1.0], [3.0 / 4.0, 4.0 / 3.0], &mut rng);
            let view = resized_crop(&image, crop, size);
            proptest::prop_assert_eq!((view.width, view.height), (size, size));
            let (lo, hi) = image.data.iter().fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            proptest::prop_assert!(view.data.iter().all(|&v| v >= lo - 1e-5 && v <= hi + 1e-5));
        }

        #[test]
        fn flipping_twice_is_the_identity(width in 1usize..30, height in 1usize..30) {
            let image = pattern(width, height);
            proptest::prop_assert_eq!(hflip(&hflip(&image)).data, image.data);
        }
    }
}
