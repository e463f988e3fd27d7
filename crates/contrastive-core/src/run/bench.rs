//! Bookkeeping shared by the `cargo bench` targets, so that every case is timed, named and
//! reported the same way as the PyTorch peer (`shared/peers/bench_steps.py`): warm-up steps
//! excluded, the median of the timed steps, peak resident memory, one JSON object per case.
//!
//! Environment (set by `cargo xtask bench`): `CONTRASTIVE_BENCH_BACKENDS` (comma-separated,
//! e.g. `flex`), `CONTRASTIVE_BENCH_CASES` (case names to run), `CONTRASTIVE_BENCH_JSON` (a file
//! that receives one JSON line per case).

use std::io::Write;
use std::time::Instant;

/// The backends to measure: `CONTRASTIVE_BENCH_BACKENDS`, else `default`.
pub fn backends(default: &[&str]) -> Vec<String> {
    match std::env::var("CONTRASTIVE_BENCH_BACKENDS") {
        Ok(list) => list.split(',').map(|b| b.trim().to_string()).collect(),
        Err(_) => default.iter().map(|b| b.to_string()).collect(),
    }
}

/// Whether `case` is selected by `CONTRASTIVE_BENCH_CASES` (all are when it is unset).
pub fn selected(case: &str) -> bool {
    std::env::var("CONTRASTIVE_BENCH_CASES")
        .map(|list| list.split(',').any(|c| c.trim() == case))
        .unwrap_or(true)
}

/// Set in the child process that [`measured_here`] starts for one case.
const ISOLATED: &str = "CONTRASTIVE_BENCH_ISOLATED";

/// Whether to measure `case` on `backend` in this process. Peak memory is a process's
/// high-water mark, and freed memory stays with the allocator
/// ([`super::allocator::keep_freed_memory`]), so a case whose peak is compared with another's
/// runs alone: unless this process is already that case's child, this starts the same
/// benchmark for `case` and `backend` only, lets it report, and returns false.
pub fn measured_here(case: &str, backend: &str) -> bool {
    if std::env::var_os(ISOLATED).is_some() {
        return true;
    }
    let started = std::env::current_exe().and_then(|exe| {
        std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env(ISOLATED, "1")
            .env("CONTRASTIVE_BENCH_CASES", case)
            .env("CONTRASTIVE_BENCH_BACKENDS", backend)
            .status()
    });
    let failure = match started {
        Ok(status) if status.success() => return false,
        Ok(status) => format!("its process failed ({status})"),
        Err(e) => format!("cannot start its process: {e}"),
    };
    eprintln!("{case} on {backend}: {failure}");
    std::process::exit(1)
}

/// Runs `step` `warmup` times untimed, then `timed` times; the seconds of each timed step.
/// `step` must synchronise the device before returning (e.g. by reading the loss).
pub fn time_steps(warmup: usize, timed: usize, mut step: impl FnMut()) -> Vec<f64> {
    for _ in 0..warmup {
        step();
    }
    (0..timed)
        .map(|_| {
            let start = Instant::now();
            step();
            start.elapsed().as_secs_f64()
        })
        .collect()
}

/// Resets the process's peak resident memory (Linux: `/proc/self/clear_refs`), so that
/// [`peak_rss_mb`] measures the case that follows.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident memory in MiB since the last [`reset_peak_rss`] (Linux `VmHWM`).
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// One measured case.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// The case's name; the peer's name when the shapes are the peer's (e.g. `simcse_minilm_b64`).
    pub case: String,
    pub backend: String,
    /// What `items_per_step` counts, e.g. `sentences`.
    pub unit: String,
    pub items_per_step: usize,
    pub step_seconds: Vec<f64>,
    pub peak_rss_mb: Option<f64>,
    /// The architecture and shapes, in words.
    pub arch: String,
}

impl Measurement {
    pub fn median_step_s(&self) -> f64 {
        let mut times = self.step_seconds.clone();
        times.sort_by(f64::total_cmp);
        times.get(times.len() / 2).copied().unwrap_or(f64::NAN)
    }

    pub fn items_per_s(&self) -> f64 {
        self.items_per_step as f64 / self.median_step_s()
    }

    /// One JSON object (no dependency on a JSON crate: the fields are plain).
    pub fn to_json(&self) -> String {
        let times: Vec<String> = self
            .step_seconds
            .iter()
            .map(|t| format!("{t:.6}"))
            .collect();
        let peak = self
            .peak_rss_mb
            .map_or("null".to_string(), |mb| format!("{mb:.1}"));
        format!(
            "{{\"case\":{},\"backend\":{},\"unit\":{},\"items_per_step\":{},\"median_step_s\":{:.6},\"throughput_median\":{:.4},\"timed_steps\":{},\"step_times_s\":[{}],\"peak_rss_mb\":{},\"arch\":{}}}",
            json_string(&self.case),
            json_string(&self.backend),
            json_string(&self.unit),
            self.items_per_step,
            self.median_step_s(),
            self.items_per_s(),
            self.step_seconds.len(),
            times.join(","),
            peak,
            json_string(&self.arch),
        )
    }

    /// Prints the case and appends its JSON line to `CONTRASTIVE_BENCH_JSON` when set.
    pub fn report(&self) {
        let peak = self
            .peak_rss_mb
            .map_or(String::new(), |mb| format!(", peak RSS {mb:.0} MiB"));
        println!(
            "{:>8} {:<22} {:>9.2} {}/s (median of {} steps: {:.3} s{peak})",
            self.backend,
            self.case,
            self.items_per_s(),
            self.unit,
            self.step_seconds.len(),
            self.median_step_s(),
        );
        if let Ok(path) = std::env::var("CONTRASTIVE_BENCH_JSON") {
            let written = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .and_then(|mut file| writeln!(file, "{}", self.to_json()));
            if let Err(e) = written {
                eprintln!("cannot append to {path}: {e}");
            }
        }
    }
}

fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_measurement_is_one_valid_json_object_with_the_median() {
        let m = Measurement {
            case: "tiny".into(),
            backend: "ndarray".into(),
            unit: "items".into(),
            items_per_step: 4,
            step_seconds: vec![0.5, 0.1, 0.2],
            peak_rss_mb: Some(12.0),
            arch: "a \"quoted\"\nshape".into(),
        };
        let value: serde_json::Value = serde_json::from_str(&m.to_json()).unwrap();
        assert_eq!(value["median_step_s"], 0.2);
        assert_eq!(value["throughput_median"], 20.0);
        assert_eq!(value["arch"], "a \"quoted\"\nshape");
        assert_eq!(value["step_times_s"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn warm_up_steps_are_not_timed() {
        let mut calls = 0;
        let times = time_steps(2, 3, || calls += 1);
        assert_eq!((calls, times.len()), (5, 3));
        reset_peak_rss();
        if cfg!(target_os = "linux") {
            assert!(peak_rss_mb().unwrap() > 0.0);
        }
    }
}
