//! The NLI CSV parser on arbitrary text: an error names a line inside the text, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Err((line, _)) = simcse::data::nli::parse_csv(text) {
        assert!(line >= 1 && line <= text.lines().count() + 1);
    }
});
