//! The STS-B reader on arbitrary text: finite scores or an error, never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(pairs) = simcse::data::sts::parse_stsb(Path::new("sts.tsv"), text) {
        assert!(pairs.iter().all(|pair| pair.score.is_finite()));
    }
});
