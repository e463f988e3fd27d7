//! The artifacts folder of one run: resolved config, checkpoints, burn-train logs and
//! `summary.json`, written atomically so a kill never leaves a torn file.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use contrastive_core::run::atomic_save::write_atomically;
use serde::Serialize;
use serde_json::Value;

/// One run's output folder.
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// Creates (or reuses) `root`, checking that it is writable before any work starts.
    pub fn create(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        fs::create_dir_all(&root)
            .with_context(|| format!("cannot create artifacts folder {}", root.display()))?;
        let probe = root.join(".write-test");
        fs::write(&probe, b"")
            .with_context(|| format!("artifacts folder {} is not writable", root.display()))?;
        fs::remove_file(&probe).ok();
        Ok(Self { root })
    }

    /// The folder itself.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Writes `value` as pretty JSON to `name` inside the folder, atomically.
    pub fn write_json(&self, name: &str, value: &impl Serialize) -> Result<PathBuf> {
        let path = self.root.join(name);
        let mut text = serde_json::to_string_pretty(value)?;
        text.push('\n');
        write_atomically(&path, text.as_bytes()).map_err(|e| anyhow!("{e}"))?;
        Ok(path)
    }

    /// Writes `summary.json` and prints it as one JSON line, the last line on stdout.
    pub fn finish(&self, summary: &Value) -> Result<()> {
        self.write_json("summary.json", summary)?;
        println!("{}", serde_json::to_string(summary)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_json_atomically_and_leaves_no_temporary() {
        let dir =
            std::env::temp_dir().join(format!("contrastive-artifacts-{}", std::process::id()));
        let run = RunDir::create(&dir).unwrap();
        let path = run
            .write_json("summary.json", &serde_json::json!({"task": "t", "x": 1}))
            .unwrap();
        let back: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(back["x"], 1);
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["summary.json"]);
        fs::remove_dir_all(dir).unwrap();
    }
}
