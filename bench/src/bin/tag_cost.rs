//! What a tag filter costs at 1,000 / 2,000 / 10,000 candidates (issue 23): Organizations calls
//! counted against the in-process organization, and their time at 5 calls/s, for a one-account
//! tag event, the custom resource's Create (slice by slice) and the scheduled sweep
//! (`bench::tags`). No emulator needed.
//!
//! Run: `cargo run -p bench --bin tag_cost` (or `scripts/bench tags`); the figures are call
//! counts, so the debug profile is enough.

use bench::tags::{render, tag_figures};
use bench::{emit, machine};

#[tokio::main]
async fn main() {
    let mut figs = Vec::new();
    for n in [1_000, 2_000, 10_000] {
        figs.push(tag_figures(n).await);
    }
    emit("tags.md", &render(&figs, &machine()));
}
