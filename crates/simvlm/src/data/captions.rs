//! Image–caption pairs in the Flickr8k TSV layout: a header naming at least `image` and
//! `caption` (and optionally a split column, `flickr8k_split` or `split`), one row per caption,
//! image files relative to the TSV's `images/` folder (or its own folder). The TSV may be
//! gzip-compressed; fields are taken verbatim (no quoting), as Flickr8k's captions are written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use contrastive_core::run::csv_records::{is_blank, parse_tsv};
use contrastive_core::run::text_file::read_text;
use rayon::prelude::*;

use super::{CaptionedImages, DataError, Pixels};

/// Decodes `path` and resizes it to `size`×`size` RGB in [-1, 1].
pub fn load_image(path: &Path, size: usize) -> Result<Pixels, DataError> {
    let image = image::open(path).map_err(|e| DataError::Image {
        path: path.into(),
        reason: e.to_string(),
    })?;
    let rgb = image
        .resize_exact(
            size as u32,
            size as u32,
            image::imageops::FilterType::Triangle,
        )
        .to_rgb8();
    let mut pixels = vec![0.0f32; 3 * size * size];
    for (x, y, pixel) in rgb.enumerate_pixels() {
        for c in 0..3 {
            pixels[c * size * size + y as usize * size + x as usize] =
                pixel[c] as f32 / 127.5 - 1.0;
        }
    }
    Ok(pixels)
}

/// The captions of `split` (every row when `None`) grouped by image, images decoded in
/// parallel. Errors name the file and line.
pub fn read_captions(
    tsv: &Path,
    split: Option<&str>,
    size: usize,
) -> Result<CaptionedImages, DataError> {
    let by_image = parse_captions(tsv, &read_text(tsv)?, split)?;
    let folder = tsv.parent().unwrap_or(Path::new("."));
    let image_path = |name: &str| -> PathBuf {
        let in_images = folder.join("images").join(name);
        if in_images.is_file() {
            in_images
        } else {
            folder.join(name)
        }
    };
    let names: Vec<&String> = by_image.keys().collect();
    let images = names
        .par_iter()
        .map(|name| load_image(&image_path(name), size))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CaptionedImages {
        images,
        captions: by_image.into_values().collect(),
        questions: Vec::new(),
        size,
    })
}

/// The captions TSV's rows of `split`, grouped by image file name (`tsv` names the file in
/// errors).
pub fn parse_captions(
    tsv: &Path,
    text: &str,
    split: Option<&str>,
) -> Result<BTreeMap<String, Vec<String>>, DataError> {
    let mut records = parse_tsv(text).into_iter();
    let header = records.next().map(|(_, h)| h).unwrap_or_default();
    let column = |names: &[&str]| header.iter().position(|h| names.contains(&h.trim()));
    let (Some(image_column), Some(caption_column)) = (column(&["image"]), column(&["caption"]))
    else {
        return Err(DataError::Row {
            path: tsv.into(),
            line: 1,
            reason: format!("header {header:?} lacks `image` and `caption` columns"),
        });
    };
    let split_column = column(&["flickr8k_split", "split"]);
    let mut by_image: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (line, fields) in records {
        if is_blank(&fields) {
            continue;
        }
        if fields.len() != header.len() {
            return Err(DataError::Row {
                path: tsv.into(),
                line,
                reason: format!(
                    "{} tab-separated fields, the header has {}",
                    fields.len(),
                    header.len()
                ),
            });
        }
        if let (Some(wanted), Some(c)) = (split, split_column) {
            if fields[c].trim() != wanted {
                continue;
            }
        }
        let caption = fields[caption_column].trim();
        if caption.is_empty() {
            return Err(DataError::Row {
                path: tsv.into(),
                line,
                reason: "empty caption".into(),
            });
        }
        by_image
            .entry(fields[image_column].trim().to_string())
            .or_default()
            .push(caption.to_string());
    }
    if by_image.is_empty() {
        return Err(DataError::Invalid {
            path: tsv.into(),
            reason: format!(
                "no captions{}",
                split
                    .map(|s| format!(" in split `{s}`"))
                    .unwrap_or_default()
            ),
        });
    }
    Ok(by_image)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("simvlm-captions-{name}-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("images")).unwrap();
        dir
    }

    #[test]
    fn captions_are_grouped_by_image_and_filtered_by_split() {
        let dir = folder("ok");
        image::RgbImage::from_pixel(6, 4, image::Rgb([255, 0, 0]))
            .save(dir.join("images/a.png"))
            .unwrap();
        image::RgbImage::from_pixel(4, 4, image::Rgb([0, 0, 255]))
            .save(dir.join("images/b.png"))
            .unwrap();
        let tsv = dir.join("captions.tsv");
        std::fs::write(
            &tsv,
            "image\tcaption_idx\tflickr8k_split\tcaption\na.png\t0\ttrain\tA red \"thing\" .\n\
             a.png\t1\ttrain\tSomething red\nb.png\t0\tdev\tA blue one\n",
        )
        .unwrap();
        let train = read_captions(&tsv, Some("train"), 8).unwrap();
        assert_eq!(
            train.captions,
            vec![vec![
                "A red \"thing\" .".to_string(),
                "Something red".into()
            ]]
        );
        assert_eq!(train.images[0].len(), 3 * 8 * 8);
        assert!(
            (train.images[0][0] - 1.0).abs() < 1e-6 && (train.images[0][128] + 1.0).abs() < 1e-6
        );
        assert_eq!(read_captions(&tsv, None, 8).unwrap().len(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_rows_and_images_are_errors_naming_them() {
        let dir = folder("bad");
        let tsv = dir.join("captions.tsv");
        std::fs::write(&tsv, "image\tcaption\na.png\tfine\nb.png\n").unwrap();
        let message = read_captions(&tsv, None, 8).unwrap_err().to_string();
        assert!(
            message.ends_with("captions.tsv:3: 1 tab-separated fields, the header has 2"),
            "{message}"
        );
        std::fs::write(&tsv, "image\tcaption\nbroken.jpg\tfine\n").unwrap();
        std::fs::write(dir.join("images/broken.jpg"), b"not a jpeg").unwrap();
        let message = read_captions(&tsv, None, 8).unwrap_err().to_string();
        assert!(
            message.contains("broken.jpg: not a readable image"),
            "{message}"
        );
        std::fs::write(&tsv, "file\ttext\n").unwrap();
        let message = read_captions(&tsv, None, 8).unwrap_err().to_string();
        assert!(message.contains("lacks `image` and `caption`"), "{message}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    proptest::proptest! {
        #[test]
        fn any_captions_text_parses_or_names_a_line_within_it(
            text in "(?s)(image\tcaption\tsplit\n)?[a-z .\t\n]{0,200}",
        ) {
            match parse_captions(Path::new("c.tsv"), &text, Some("train")) {
                Ok(by_image) => {
                    proptest::prop_assert!(by_image.values().flatten().all(|c| !c.trim().is_empty()));
                }
                Err(DataError::Row { line, .. }) => {
                    proptest::prop_assert!(line >= 1 && line <= text.lines().count().max(1));
                }
                Err(_) => {}
            }
        }
    }
}
