//! The fuzz targets (fuzz/, run with `cargo +nightly fuzz run <target>`) built on stable and
//! replayed over their corpus: each input of fuzz/seeds/<target>, fuzz/regressions/<target>,
//! fuzz/corpus/<target> (what a fuzzing run kept, if any) and, for `event_parse`, the sample
//! events in events/*.json (its seeds) must return without a panic.
//! A regression found by fuzzing is added to fuzz/regressions/<target> and stays checked here.

use std::path::{Path, PathBuf};

#[path = "../../../fuzz/src/event_parse.rs"]
mod event_parse;
#[path = "../../../fuzz/src/scope_parse.rs"]
mod scope_parse;

fn inputs(target: &str) -> Vec<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let fuzz = repo.join("fuzz");
    let mut dirs: Vec<PathBuf> = ["seeds", "regressions", "corpus"]
        .iter()
        .map(|d| fuzz.join(d).join(target))
        .collect();
    if target == "event_parse" {
        dirs.push(repo.join("events"));
    }
    let mut files = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries {
            let p = e.expect("corpus entry").path();
            if p.is_file() {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

/// Runs `run` over every input of `target`; returns how many there were.
fn replay(target: &str, run: fn(&[u8])) -> usize {
    let files = inputs(target);
    for f in &files {
        let data = std::fs::read(f).expect("read corpus file");
        if std::panic::catch_unwind(|| run(&data)).is_err() {
            panic!("{target} panicked on {}", f.display());
        }
    }
    println!("{target}: {} inputs replayed", files.len());
    files.len()
}

#[test]
fn the_event_parse_target_returns_on_every_input_of_its_corpus() {
    // fuzz/regressions/event_parse holds the input that once panicked (an RFC 3339 offset
    // cut inside a multi-byte character); events/ the sample events.
    assert!(replay("event_parse", event_parse::run) >= 2);
}

#[test]
fn the_scope_parse_target_returns_on_every_input_of_its_corpus() {
    assert!(replay("scope_parse", scope_parse::run) >= 2);
}
