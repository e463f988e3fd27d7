//! Helpers shared by the `train-app` end-to-end tests.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs the `train-app` binary with `args`.
pub fn train_app(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_train-app"))
        .args(args)
        .output()
        .expect("train-app runs")
}

/// An empty folder under the system temporary folder, unique to `name` and this process.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("contrastive-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The command's standard error as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The last stdout line (every command's JSON summary), parsed.
pub fn last_json(output: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.lines().last().expect("a summary line")).unwrap()
}
