//! Pictures written by the commands (training curves, embedding maps): drawn once with
//! `plotters`, as SVG or PNG by the file's extension, written atomically.

use std::io::Cursor;
use std::path::Path;
use std::sync::OnceLock;

use anyhow::{anyhow, bail, Context, Result};
use contrastive_core::run::atomic_save::write_atomically;
use plotters::coord::Shift;
use plotters::prelude::*;

/// The font family every picture's text uses: DejaVu Sans, embedded, so that no system font
/// is needed (CI machines and containers often have none).
pub const FONT: &str = "sans-serif";

/// Something drawn on a plotters drawing area of its own size.
pub trait Picture {
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Result<()>;
}

/// The picture formats, by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Svg,
    Png,
}

impl Format {
    /// The format named by `path`'s extension.
    pub fn of(path: &Path) -> Result<Self> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_lowercase)
            .as_deref()
        {
            Some("svg") => Ok(Self::Svg),
            Some("png") => Ok(Self::Png),
            _ => bail!("{}: the picture must end in .svg or .png", path.display()),
        }
    }
}

/// Draws `picture` and writes it to `out` atomically, as SVG or PNG by its extension.
pub fn write(picture: &impl Picture, out: &Path) -> Result<()> {
    let format = Format::of(out)?;
    register_font()?;
    let size = picture.size();
    let bytes = match format {
        Format::Svg => {
            let mut svg = String::new();
            picture.draw(SVGBackend::with_string(&mut svg, size).into_drawing_area())?;
            svg.into_bytes()
        }
        Format::Png => {
            let mut pixels = vec![0u8; size.0 as usize * size.1 as usize * 3];
            picture.draw(BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area())?;
            let image = image::RgbImage::from_raw(size.0, size.1, pixels)
                .context("the picture's pixel buffer has the wrong size")?;
            let mut png = Cursor::new(Vec::new());
            image.write_to(&mut png, image::ImageFormat::Png)?;
            png.into_inner()
        }
    };
    write_atomically(out, &bytes).map_err(|e| anyhow!("cannot write {}: {e}", out.display()))
}

/// A plotters drawing error as ours.
pub fn drawing_error<DB: DrawingBackend>(
    error: DrawingAreaErrorKind<DB::ErrorType>,
) -> anyhow::Error {
    anyhow!("cannot draw the picture: {error:?}")
}

/// plotters lays text out with the font registered under [`FONT`].
fn register_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok()
    });
    if !ok {
        bail!("the embedded font could not be read");
    }
    Ok(())
}
