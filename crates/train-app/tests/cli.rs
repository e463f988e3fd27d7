//! `train-app` end to end: runs, artifacts, resume, and clear errors for bad input.

mod common;
use common::{last_json, scratch, stderr, train_app};

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
    // So is resuming on other data: the data arguments are kept in inputs.json.
    let more_images: Vec<&str> = common
        .iter()
        .map(|&arg| if arg == "8" { "16" } else { arg })
        .collect();
    let other_data = train_app(&[&more_images[..], &["--epochs", "1", "--resume"]].concat());
    assert_eq!(other_data.status.code(), Some(1));
    assert!(
        stderr(&other_data).contains("`--synthetic-images` was 8")
            && stderr(&other_data).contains("is 16"),
        "{}",
        stderr(&other_data)
    );
    let resumed = train_app(&[&common[..], &["--epochs", "1", "--resume"]].concat());
    assert!(resumed.status.success(), "{}", stderr(&resumed));

    // `eval` of the run defaults to the data it recorded: its 8 generated training images and
    // 2 test images, not the 1000 and 250 of the synthetic default.
    let map = dir.join("map.png");
    let eval = train_app(&[
        "simclr",
        "eval",
        "--checkpoint",
        artifacts.to_str().unwrap(),
        "--map",
        map.to_str().unwrap(),
    ]);
    assert!(eval.status.success(), "{}", stderr(&eval));
    let report = last_json(&eval);
    // The embedding map: a picture of the 2 test images' first two principal components.
    let picture = image::open(&map).expect("the map decodes as PNG");
    assert!(picture.width() >= 600, "{}", picture.width());
    let explained = report["map_explained_variance"].as_array().unwrap();
    let shares: Vec<f64> = explained.iter().map(|v| v.as_f64().unwrap()).collect();
    assert!(
        (shares[0] + shares[1] - 1.0).abs() < 1e-6,
        "two points span one direction: {shares:?}"
    );
    assert_eq!(report["data"], "synthetic");
    assert_eq!(
        (
            report["train_images"].clone(),
            report["test_images"].clone()
        ),
        (8.into(), 2.into())
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn simclr_trains_with_grad_cache_chunks() {
    let dir = scratch("grad-cache");
    let config = tiny_config(&dir, "");
    let artifacts = dir.join("run");
    let out = train_app(&[
        "simclr",
        "train",
        "--config",
        config.to_str().unwrap(),
        "--synthetic-images",
        "16",
        "--batch-size",
        "8",
        "--grad-cache-chunks",
        "4",
        "--epochs",
        "1",
        "--artifacts",
        artifacts.to_str().unwrap(),
        "--no-eval",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary = last_json(&out);
    assert_eq!(summary["grad_cache_chunks"], 4);
    assert_eq!(summary["steps_per_epoch"], 2);
    assert!(artifacts.join("model.mpk").is_file());
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

/// The newest epoch with model, optimizer and scheduler checkpoints all written.
fn complete_checkpoint(run: &Path) -> Option<usize> {
    (1..=16).rev().find(|epoch| {
        ["model", "optim", "scheduler"]
            .iter()
            .all(|kind| run.join(format!("checkpoint/{kind}-{epoch}.mpk")).is_file())
    })
}

/// `simclr train` on 64 generated images in batches of 16, without the final evaluation.
fn small_run_args(config: &Path, artifacts: &Path, epochs: usize) -> Vec<String> {
    let (config, artifacts) = (config.to_str().unwrap(), artifacts.to_str().unwrap());
    [
        "simclr",
        "train",
        "--config",
        config,
        "--synthetic-images",
        "64",
        "--batch-size",
        "16",
        "--no-eval",
        "--artifacts",
        artifacts,
        "--epochs",
    ]
    .map(String::from)
    .into_iter()
    .chain([epochs.to_string()])
    .collect()
}

/// Starts `train-app args` (stderr captured) and returns once `run` holds a complete checkpoint.
fn spawn_until_checkpoint(args: &[String], run: &Path) -> std::process::Child {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_train-app"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    while complete_checkpoint(run).is_none() {
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child
}

#[test]
fn a_run_killed_mid_training_resumes_to_the_same_weights() {
    let dir = scratch("kill-resume");
    // Two loader workers (the default): batches still arrive in the sampler's order.
    let config = tiny_config(&dir, "num_workers = 2");
    let run_args = |artifacts: &Path| small_run_args(&config, artifacts, 4);
    let whole = dir.join("whole");
    let out = train_app(
        &run_args(&whole)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(out.status.success(), "{}", stderr(&out));

    // SIGKILL as soon as the first epoch's checkpoint is complete.
    let killed = dir.join("killed");
    let mut child = spawn_until_checkpoint(&run_args(&killed), &killed);
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed before the end: {status:?}");
    let resumed_from = complete_checkpoint(&killed).unwrap();
    assert!(
        resumed_from <= 2,
        "the kill landed early enough to compare two epochs"
    );

    let mut resume = run_args(&killed);
    resume.push("--resume".into());
    let out = train_app(&resume.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.status.success(), "{}", stderr(&out));
    // The summary reads every epoch's monitor from that epoch's own logs.
    let monitor = last_json(&out)["knn_monitor_top1"].clone();
    let monitor = monitor.as_array().unwrap();
    assert_eq!(monitor.len(), 4);
    assert!(
        monitor.iter().all(serde_json::Value::is_number),
        "{monitor:?}"
    );
    // Same batches, same views, same optimizer and schedule state: each step's loss after the
    // resume matches the uninterrupted run's. Not bit for bit: in the gradient of a division or
    // a log, burn-ndarray takes reciprocals with x86's 12-bit `rcp` on a buffer's aligned body
    // and exactly on its unaligned head and tail, so gradients depend on allocation addresses,
    // and Adam turns such noise in near-zero gradients into whole steps. Two uninterrupted runs differ by 1e-7 to 4e-4 within two epochs of a
    // checkpoint. Resuming with the optimizer state one epoch off moves the losses by 7e-3 to
    // 2e-2 from the first updated step on; a wrong batch by more than 1e-2 at once.
    // The epochs before the kill, the first resumed epoch and the next, where the noise has had
    // the least time to grow: each filed under its own epoch's folder (burn-train alone would
    // file the first resumed epoch under `epoch-1`, over the first epoch's logs).
    let first_resumed = resumed_from + 1;
    for epoch in (1..=resumed_from).chain([first_resumed, first_resumed + 1]) {
        for split in ["train", "valid"] {
            let expected = logged_losses(&whole, &format!("{split}/epoch-{epoch}/Loss.log"));
            let got = logged_losses(&killed, &format!("{split}/epoch-{epoch}/Loss.log"));
            assert_eq!(expected.len(), got.len(), "{split} epoch {epoch}");
            for (step, (e, g)) in expected.iter().zip(&got).enumerate() {
                assert!(
                    (e - g).abs() < 2e-3,
                    "{split} epoch {epoch} step {step}: {e} uninterrupted vs {g} resumed"
                );
            }
        }
    }
    std::fs::remove_dir_all(dir).ok();
}

/// Loss values of each step in a run's burn-train log `log` (e.g. `train/epoch-1/Loss.log`).
fn logged_losses(run: &Path, log: &str) -> Vec<f64> {
    std::fs::read_to_string(run.join(log))
        .unwrap_or_else(|e| panic!("{}: {e}", run.join(log).display()))
        .lines()
        .map(|line| line.split(',').next().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn two_runs_with_one_seed_match_whatever_the_loader_workers_do() {
    let dir = scratch("same-seed");
    // Three workers racing to build 4 batches an epoch, the two runs side by side.
    let config = tiny_config(&dir, "num_workers = 3");
    let runs = [dir.join("a"), dir.join("b")];
    let children: Vec<_> = runs
        .iter()
        .map(|run| {
            std::process::Command::new(env!("CARGO_BIN_EXE_train-app"))
                .args(small_run_args(&config, run, 2))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    for epoch in 1..=2 {
        for split in ["train", "valid"] {
            let log = format!("{split}/epoch-{epoch}/Loss.log");
            let (a, b) = (logged_losses(&runs[0], &log), logged_losses(&runs[1], &log));
            assert_eq!(a.len(), b.len(), "{log}");
            // Equal but for burn-ndarray's address-dependent rounding (see the resume test).
            for (step, (x, y)) in a.iter().zip(&b).enumerate() {
                assert!((x - y).abs() < 1e-3, "{log} step {step}: {x} vs {y}");
            }
        }
    }
    let monitor = |run: &Path| {
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap())
                .unwrap();
        summary["knn_monitor_top1"].clone()
    };
    assert_eq!(monitor(&runs[0]), monitor(&runs[1]));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn sigint_stops_after_the_step_keeping_checkpoints_and_weights() {
    let dir = scratch("sigint");
    let config = tiny_config(&dir, "");
    let run = dir.join("run");
    let child = spawn_until_checkpoint(&small_run_args(&config, &run, 50), &run);
    let signal = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(signal.success());
    let out = child.wait_with_output().unwrap();
    let message = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{message}");
    assert!(
        message.contains("training stopped by SIGINT") && message.contains("--resume"),
        "{message}"
    );
    assert!(run.join("interrupted/model.mpk").is_file());
    assert!(complete_checkpoint(&run).is_some());
    assert!(
        !run.join("summary.json").exists(),
        "an unfinished run has no summary"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_diverging_run_stops_at_the_non_finite_step_or_skips_it_on_request() {
    let dir = scratch("non-finite");
    // A learning rate that sends the weights to infinity within a step or two.
    let config = tiny_config(&dir, "").to_str().unwrap().to_string();
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("base_learning_rate = 0.004", "base_learning_rate = 1e30");
    std::fs::write(&config, text).unwrap();
    let run = |extra: &[&str]| {
        let artifacts = dir.join(format!("run{}", extra.len()));
        let args = [
            "simclr",
            "train",
            "--config",
            &config,
            "--synthetic-images",
            "16",
            "--batch-size",
            "4",
            "--epochs",
            "2",
            "--no-eval",
            "--artifacts",
            artifacts.to_str().unwrap(),
        ];
        train_app(&[&args[..], extra].concat())
    };
    let stopped = run(&[]);
    let message = stderr(&stopped);
    assert_eq!(stopped.status.code(), Some(1), "{message}");
    assert!(
        message.contains("training stopped at step")
            && message.contains("(epoch 1, batch")
            && message.contains("not applied"),
        "{message}"
    );
    let skipped = run(&["--on-non-finite", "skip"]);
    assert!(skipped.status.success(), "{}", stderr(&skipped));
    let skipped_steps = last_json(&skipped)["non_finite_steps_skipped"]
        .as_u64()
        .unwrap();
    assert!(skipped_steps > 0 && skipped_steps < 8, "{skipped_steps}");
    std::fs::remove_dir_all(dir).ok();
}

/// The value at a dotted `key` of a TOML text.
fn toml_at(text: &str, key: &str) -> toml::Value {
    let table: toml::Table = toml::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    key.split('.')
        .fold(toml::Value::Table(table), |value, part| {
            value
                .get(part)
                .unwrap_or_else(|| panic!("no `{key}` in\n{text}"))
                .clone()
        })
}

#[test]
fn config_prints_toml_that_reads_back_and_set_reaches_nested_keys() {
    let dir = scratch("config");
    let cases: [(&str, [(&str, toml::Value); 2]); 3] = [
        (
            "simclr",
            [
                ("model.encoder.width_multiplier", toml::Value::Float(0.5)),
                (
                    "augment.crop_scale",
                    toml::Value::Array(vec![0.3.into(), 1.0.into()]),
                ),
            ],
        ),
        (
            "simcse",
            [
                ("model.temperature", toml::Value::Float(0.1)),
                ("learning_rate", toml::Value::Float(5e-5)),
            ],
        ),
        (
            "simvlm",
            [
                ("model.stem.stages", toml::Value::Integer(2)),
                ("decode.beam_width", toml::Value::Integer(3)),
            ],
        ),
    ];
    for (method, sets) in cases {
        let assignments: Vec<String> = sets.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut args = vec![method, "config", "--epochs", "3"];
        for assignment in &assignments {
            args.extend(["--set", assignment.as_str()]);
        }
        let out = train_app(&args);
        assert!(out.status.success(), "{method}: {}", stderr(&out));
        let printed = String::from_utf8(out.stdout).unwrap();
        for (key, value) in &sets {
            assert_eq!(&toml_at(&printed, key), value, "{method} {key}");
        }
        assert_eq!(toml_at(&printed, "epochs"), toml::Value::Integer(3));
        let file = dir.join(format!("{method}.toml"));
        std::fs::write(&file, &printed).unwrap();
        let out = train_app(&[method, "config", "--config", file.to_str().unwrap()]);
        assert!(out.status.success(), "{method}: {}", stderr(&out));
        assert_eq!(String::from_utf8(out.stdout).unwrap(), printed, "{method}");
    }
    // Without a config file on the embedded data, SimCLR's config is the quick CPU preset.
    let out = train_app(&["simclr", "config"]);
    let printed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        toml_at(&printed, "model.encoder.width_multiplier"),
        toml::Value::Float(0.25)
    );
}

#[test]
fn every_shipped_config_validates() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut checked = Vec::new();
    for method in ["simclr", "simcse", "simvlm"] {
        for entry in std::fs::read_dir(crates.join(method).join("configs")).unwrap() {
            let path = entry.unwrap().path();
            let out = train_app(&[method, "config", "--config", path.to_str().unwrap()]);
            assert!(out.status.success(), "{}: {}", path.display(), stderr(&out));
            checked.push(path);
        }
    }
    assert!(checked.len() >= 8, "{checked:?}");
}

#[test]
fn completions_cover_every_command() {
    for shell in ["bash", "zsh", "fish"] {
        let out = train_app(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = String::from_utf8(out.stdout).unwrap();
        // Fish names long options without their dashes.
        for word in [
            "simclr",
            "simcse",
            "simvlm",
            "ablate",
            "grad-cache-chunks",
            "devices",
        ] {
            assert!(script.contains(word), "{shell}: no {word}");
        }
    }
}

#[test]
fn training_leaves_curves_and_plot_draws_several_runs() {
    let dir = scratch("curves");
    let config = tiny_config(&dir, "knn_monitor_k = 2");
    let train = |name: &str, seed: &str| {
        let run = dir.join(name);
        let out = train_app(&[
            "simclr",
            "train",
            "--config",
            config.to_str().unwrap(),
            "--synthetic-images",
            "8",
            "--batch-size",
            "4",
            "--epochs",
            "2",
            "--seed",
            seed,
            "--artifacts",
            run.to_str().unwrap(),
            "--no-eval",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        run
    };
    let (first, second) = (train("run-a", "1"), train("run-b", "2"));

    let svg = std::fs::read_to_string(first.join("curves.svg")).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
    for text in [
        "Loss",
        "kNN Top-1",
        "Learning Rate",
        "global step",
        "validation",
    ] {
        assert!(svg.contains(text), "curves.svg has no {text}");
    }
    let png = image::open(first.join("curves.png")).expect("curves.png decodes");
    assert!(
        png.width() >= 600 && png.height() >= 300,
        "{}x{}",
        png.width(),
        png.height()
    );

    let out_path = dir.join("both.svg");
    let out = train_app(&[
        "plot",
        first.to_str().unwrap(),
        second.to_str().unwrap(),
        "--out",
        out_path.to_str().unwrap(),
        "--metric",
        "loss",
        "--metric",
        "knn",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        last_json(&out)["metrics"],
        serde_json::json!(["Loss", "kNN Top-1 (k=2)"])
    );
    let both = std::fs::read_to_string(&out_path).unwrap();
    for text in [
        "run-a train",
        "run-b train",
        "run-a validation",
        "run-b validation",
    ] {
        assert!(both.contains(text), "both.svg has no {text}");
    }
    assert!(
        !both.contains("Learning Rate"),
        "only the metrics asked for"
    );

    let unknown = train_app(&["plot", first.to_str().unwrap(), "--metric", "bleu"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("--metric bleu"),
        "{}",
        stderr(&unknown)
    );
    std::fs::remove_dir_all(dir).ok();
}
