//! A float RGB image in channel-planar layout, the form augmentations work on and tensors take.

use image::RgbImage;

/// RGB pixels as `f32` in `[0, 1]`, stored channel by channel (`[3, height, width]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl Image {
    /// A black image.
    pub fn zeros(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            data: vec![0.0; 3 * width * height],
        }
    }

    /// Converts 8-bit RGB to planar floats in `[0, 1]`.
    pub fn from_rgb(rgb: &RgbImage) -> Self {
        let (width, height) = (rgb.width() as usize, rgb.height() as usize);
        let plane = width * height;
        let mut data = vec![0.0; 3 * plane];
        for (i, pixel) in rgb.pixels().enumerate() {
            for c in 0..3 {
                data[c * plane + i] = pixel[c] as f32 / 255.0;
            }
        }
        Self {
            width,
            height,
            data,
        }
    }

    /// Converts back to 8-bit RGB (values clamped to `[0, 1]`), e.g. to write a PNG.
    pub fn to_rgb(&self) -> RgbImage {
        let plane = self.width * self.height;
        RgbImage::from_fn(self.width as u32, self.height as u32, |x, y| {
            let i = y as usize * self.width + x as usize;
            image::Rgb(std::array::from_fn(|c| {
                (self.data[c * plane + i].clamp(0.0, 1.0) * 255.0).round() as u8
            }))
        })
    }

    /// Value of channel `c` at `(x, y)`.
    pub fn get(&self, c: usize, x: usize, y: usize) -> f32 {
        self.data[(c * self.height + y) * self.width + x]
    }

    /// Mutable plane of channel `c`.
    pub fn plane_mut(&mut self, c: usize) -> &mut [f32] {
        let plane = self.width * self.height;
        &mut self.data[c * plane..(c + 1) * plane]
    }

    /// Luma `0.299 R + 0.587 G + 0.114 B` of every pixel (ITU-R 601, as torchvision).
    pub fn luma(&self) -> Vec<f32> {
        let plane = self.width * self.height;
        (0..plane)
            .map(|i| {
                0.299 * self.data[i]
                    + 0.587 * self.data[plane + i]
                    + 0.114 * self.data[2 * plane + i]
            })
            .collect()
    }
}
