//! `train-app` end to end: runs, artifacts, resume, and clear errors for bad input.

mod common;
use common::{scratch, stderr, train_app};

use std::path::{Path, PathBuf};

/// A tiny SimCLR config: a 1/16-width ResNet-18 so that a CPU step takes a moment.
fn tiny_config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("tiny.toml");
    std::fs::write(
        &path,
        format!(
            "optimizer = \"Adam\"\nbase_learning_rate = 0.004\nwarmup_epochs = 0\n{extra}\n\
             [model]\nprojection_dim = 16\n[model.encoder]\nwidth_multiplier = 0.0625\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn info_names_the_backend() {
    let out = train_app(&["info"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["task"], "info");
    assert!(last["backend"].is_string());
}

#[test]
fn simclr_trains_writes_artifacts_and_resumes() {
    let dir = scratch("train");
    let config = tiny_config(&dir, "");
    let artifacts = dir.join("run");
    let common = [
        "simclr",
        "train",
        "--config",
        config.to_str().unwrap(),
        "--synthetic-images",
        "8",
        "--batch-size",
        "4",
        "--artifacts",
        artifacts.to_str().unwrap(),
        "--no-eval",
    ];
    let out = train_app(&[&common[..], &["--epochs", "1"]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap()).expect("last line is JSON");
    assert_eq!(summary["task"], "simclr.train");
    assert_eq!(summary["steps_per_epoch"], 2);
    for file in [
        "summary.json",
        "config.json",
        "model.mpk",
        "checkpoint/model-1.mpk",
        "checkpoint/optim-1.mpk",
    ] {
        assert!(artifacts.join(file).is_file(), "{file} missing");
    }

    // Resuming with a config that would change the results is refused, naming the key; with
    // the same config the run loads its checkpoint (here the last one, so nothing is left).
    let changed = train_app(&[&common[..], &["--epochs", "1", "--resume", "--seed", "7"]].concat());
    assert_eq!(changed.status.code(), Some(1));
    assert!(stderr(&changed).contains("`seed`"), "{}", stderr(&changed));
    let resumed = train_app(&[&common[..], &["--epochs", "1", "--resume"]].concat());
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn config_mistakes_are_named() {
    let dir = scratch("config");
    let typo = tiny_config(&dir, "temprature = 0.1");
    let out = train_app(&[
        "simclr",
        "train",
        "--config",
        typo.to_str().unwrap(),
        "--no-eval",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("unknown key `temprature`"),
        "{}",
        stderr(&out)
    );

    let zero = dir.join("zero.json");
    std::fs::write(&zero, r#"{"model": {"temperature": 0.0}}"#).unwrap();
    let out = train_app(&["simclr", "train", "--config", zero.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("temperature"), "{}", stderr(&out));

    let out = train_app(&["simclr", "train", "--batch-size", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("batch of 1"), "{}", stderr(&out));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn corrupt_images_are_named_or_skipped() {
    let dir = scratch("corrupt");
    let class = dir.join("data/train/shapes");
    std::fs::create_dir_all(&class).unwrap();
    let good = image::RgbImage::from_fn(8, 8, |x, y| image::Rgb([x as u8 * 30, y as u8 * 30, 90]));
    for i in 0..4 {
        good.save(class.join(format!("{i}.png"))).unwrap();
    }
    std::fs::write(class.join("broken.jpg"), b"not a jpeg").unwrap();
    let config = tiny_config(&dir, "");
    let data = dir.join("data");
    let args = [
        "simclr",
        "train",
        "--config",
        config.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--epochs",
        "1",
        "--batch-size",
        "2",
        "--no-eval",
        "--artifacts",
    ];
    let out = train_app(&[&args[..], &[dir.join("a").to_str().unwrap()]].concat());
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("broken.jpg"), "{}", stderr(&out));

    let out = train_app(
        &[
            &args[..],
            &[dir.join("b").to_str().unwrap(), "--skip-corrupt"],
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["skipped_images"], 1);
    std::fs::remove_dir_all(dir).ok();
}
