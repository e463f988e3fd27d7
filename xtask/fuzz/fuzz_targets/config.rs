//! The config reader (TOML and JSON over defaults) on arbitrary text, for every method's config:
//! a config or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

// The reader lives in the `train-app` binary; it has no dependencies on the rest of it.
#[path = "../../../crates/train-app/src/config_file.rs"]
#[allow(dead_code)]
mod config_file;

fuzz_target!(|input: (bool, &str)| {
    let (is_toml, text) = input;
    let _ = config_file::parse(text, is_toml, &simclr::SimclrConfig::new());
    let _ = config_file::parse(text, is_toml, &simcse::SimcseConfig::new());
    let _ = config_file::parse(text, is_toml, &simvlm::SimvlmConfig::new());
});
