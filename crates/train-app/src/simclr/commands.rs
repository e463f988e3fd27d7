//! `simclr eval` and `simclr augment`.

use anyhow::{anyhow, Context, Result};
use contrastive_core::run::item_rng::item_rng;
use serde_json::json;
use simclr::data::augment::Augmenter;
use simclr::data::image::Image;
use simclr::eval::extract_features;
use simclr::SimclrConfig;

use super::recipe::{evaluate_encoder, report_json};
use super::{AugmentArgs, EvalArgs};
use crate::backend::{self, InferenceBackend};
use crate::config_file;
use crate::embedding_map::{self, principal_plane};
use crate::pictures;
use crate::pipeline::FinishedRun;

/// Linear probe and k-NN of a finished run's encoder (or of a random one), on the run's data
/// unless told otherwise.
pub fn eval(args: EvalArgs) -> Result<()> {
    if let Some(out) = &args.map {
        pictures::Format::of(out)?;
    }
    let run = FinishedRun::open(&args.checkpoint, &SimclrConfig::new(), "simclr", "model")?;
    let config = &run.config;
    let device = backend::device(args.device)?;
    let mut model = config.model.init::<InferenceBackend>(&device)?;
    if !args.random_init {
        model = run.load(model, &device)?;
    }
    let data = args.data.or_recorded(&run)?;
    let images = data.load(config.seed)?;
    let report = evaluate_encoder(&model, config, &images, &device)?;
    let mut summary = report_json(&report);
    summary["task"] = json!("simclr.eval");
    summary["random_init"] = json!(args.random_init);
    summary["data"] = json!(data.data());
    summary["train_images"] = json!(images.train.len());
    summary["test_images"] = json!(images.test.len());
    if let Some(out) = &args.map {
        let augmenter = Augmenter::new(config.augment.clone());
        let test = extract_features(
            &model.encoder,
            images.test.clone(),
            &augmenter,
            256,
            &device,
        );
        let dim = test.features.dims()[1];
        let features = test
            .features
            .into_data()
            .to_vec::<f32>()
            .map_err(|e| anyhow!("{e:?}"))?;
        let plane = principal_plane(&features, dim)?;
        let weights = if args.random_init {
            "random weights"
        } else {
            "trained"
        };
        let title = format!("SimCLR test representations h ({weights}), PCA");
        let classes = &images.test.class_names;
        embedding_map::write(&plane, &images.test.labels, classes, &title, out)?;
        summary["map"] = json!(out);
        summary["map_explained_variance"] = json!(plane.explained);
    }
    println!("{summary}");
    Ok(())
}

/// A PNG grid of augmented views of one image.
pub fn augment(args: AugmentArgs) -> Result<()> {
    let config = match &args.config {
        Some(path) => config_file::load(path, &SimclrConfig::new())?,
        None => SimclrConfig::new(),
    };
    let decoded = image::open(&args.image)
        .with_context(|| format!("{}: not a readable image", args.image.display()))?
        .to_rgb8();
    let source = Image::from_rgb(&decoded);
    let augmenter = Augmenter::new(config.augment.clone());
    let size = config.augment.size;
    let cells: Vec<Image> = std::iter::once(augmenter.eval_view(&source))
        .chain(
            (0..args.views as u64)
                .map(|draw| augmenter.view(&source, &mut item_rng(args.seed, 0, draw))),
        )
        .collect();
    let columns = 8.min(cells.len());
    let rows = cells.len().div_ceil(columns);
    let gap = 2;
    let mut grid = image::RgbImage::from_pixel(
        (columns * (size + gap) - gap) as u32,
        (rows * (size + gap) - gap) as u32,
        image::Rgb([255, 255, 255]),
    );
    for (i, cell) in cells.iter().enumerate() {
        let (x0, y0) = ((i % columns) * (size + gap), (i / columns) * (size + gap));
        image::imageops::replace(&mut grid, &cell.to_rgb(), x0 as i64, y0 as i64);
    }
    grid.save(&args.out)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    println!(
        "{}",
        json!({"task": "simclr.augment", "out": args.out, "views": args.views})
    );
    Ok(())
}
