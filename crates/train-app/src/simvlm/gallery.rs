//! `simvlm eval --gallery`: one self-contained HTML page (images inlined as PNG) showing, per
//! evaluation set, each image as the model saw it with its generated and reference captions.

use std::fmt::Write as _;
use std::io::Cursor;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use contrastive_core::run::atomic_save::write_atomically;
use simvlm::data::CaptionedImages;
use simvlm::eval::SetReport;

/// Writes the page for the first `per_set` images of each set to `out`.
pub fn write(
    sets: &[(String, CaptionedImages)],
    reports: &std::collections::BTreeMap<String, SetReport>,
    per_set: usize,
    out: &Path,
) -> Result<()> {
    let mut page = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>SimVLM captions</title><style>\
         body{font-family:sans-serif;margin:1.5em}\
         .grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:14px}\
         figure{margin:0;border:1px solid #ddd;padding:8px;border-radius:4px}\
         img{width:100%;image-rendering:pixelated}\
         .generated{font-weight:bold}\
         .references{color:#555;font-size:0.9em;padding-left:1.2em;margin:0.3em 0 0}\
         </style></head><body>\n<h1>SimVLM captions</h1>\n",
    );
    for (name, set) in sets {
        let report = reports
            .get(name)
            .with_context(|| format!("no evaluation of set {name}"))?;
        if report.captions.len() != set.images.len() {
            bail!(
                "{name}: {} captions for {} images",
                report.captions.len(),
                set.images.len()
            );
        }
        writeln!(
            page,
            "<h2>{}</h2>\n<p>BLEU-4 {:.3}, CIDEr-D {:.3} over {} images; the first {} below.</p>\n<div class=\"grid\">",
            escape(name),
            report.bleu4,
            report.cider_d,
            report.images,
            per_set.min(set.images.len())
        )?;
        let shown = set.images.iter().zip(&report.captions).zip(&set.captions);
        for ((pixels, generated), references) in shown.take(per_set) {
            let png = png_base64(pixels, set.size)?;
            write!(
                page,
                "<figure><img alt=\"{alt}\" src=\"data:image/png;base64,{png}\">\
                 <figcaption><div class=\"generated\">{alt}</div><ul class=\"references\">",
                alt = escape(generated),
            )?;
            for reference in references {
                write!(page, "<li>{}</li>", escape(reference))?;
            }
            writeln!(page, "</ul></figcaption></figure>")?;
        }
        writeln!(page, "</div>")?;
    }
    page.push_str("</body></html>\n");
    write_atomically(out, page.as_bytes())
        .map_err(|e| anyhow!("cannot write {}: {e}", out.display()))
}

/// A `size`×`size` image in the model's input scale (channels first, [-1, 1]) as base64 PNG.
fn png_base64(pixels: &[f32], size: usize) -> Result<String> {
    let plane = size * size;
    if pixels.len() != 3 * plane {
        bail!(
            "an image of {} values is not {size}×{size} RGB",
            pixels.len()
        );
    }
    let image = image::RgbImage::from_fn(size as u32, size as u32, |x, y| {
        let at = y as usize * size + x as usize;
        image::Rgb([0, 1, 2].map(|c| {
            ((pixels[c * plane + at] + 1.0) * 127.5)
                .round()
                .clamp(0.0, 255.0) as u8
        }))
    });
    let mut png = Cursor::new(Vec::new());
    image.write_to(&mut png, image::ImageFormat::Png)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(png.into_inner()))
}

/// `text` safe inside HTML text and attribute values.
fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&#39;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixels_round_trip_through_the_inlined_png() {
        let size = 2;
        let values: Vec<u8> = (0..12).map(|i| (i * 20) as u8).collect();
        let pixels: Vec<f32> = values.iter().map(|&v| v as f32 / 127.5 - 1.0).collect();
        let png = base64::engine::general_purpose::STANDARD
            .decode(png_base64(&pixels, size).unwrap())
            .unwrap();
        let decoded = image::load_from_memory(&png).unwrap().to_rgb8();
        for c in 0..3 {
            for at in 0..4 {
                let (x, y) = ((at % size) as u32, (at / size) as u32);
                assert_eq!(decoded.get_pixel(x, y)[c], values[c * 4 + at]);
            }
        }
        assert_eq!(escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
