//! The fuzz target of `fuzz/src/scope_parse.rs` (its docs say what it checks). The same
//! function replays the corpus on stable in `cargo test` (functions/org-events/tests/fuzz_corpus.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../src/scope_parse.rs"]
mod body;

fuzz_target!(|data: &[u8]| body::run(data));
