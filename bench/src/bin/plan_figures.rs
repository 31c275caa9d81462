//! Prints the planner's figures: criterion's estimates for `plan_wall/10000` and
//! `plan_cpu/10000` (run `cargo bench -p bench --bench plan` first), and, when valgrind is
//! installed, the instructions one `plan` call executes at 10,000 accounts (callgrind; exact
//! and independent of machine load).
//!
//! Run: `cargo run --release -p bench --bin plan_figures`.
//! Internal modes (used under valgrind): `plan_figures --run K` builds the inputs and plans K
//! times.

use std::fmt::Write as _;
use std::hint::black_box;
use std::process::Command;

use bench::{emit, machine, verdict};
use serde_json::Value;

const N: usize = 10_000;
const TARGET_MS: f64 = 5.0;
const REPEAT: u64 = 5;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--run") {
        let k: usize = args[2].parse().expect("K");
        let (d, i, a, p) = bench::plan_inputs(N);
        for _ in 0..k {
            black_box(shared::core::plan(
                black_box(&d),
                black_box(&i),
                black_box(&a),
                black_box(&p),
            ));
        }
        return;
    }
    let (d, i, a, p) = bench::plan_inputs(N);
    let out = shared::core::plan(&d, &i, &a, &p);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "### Planning\n\nCommand: `cargo bench -p bench --bench plan && cargo run --release -p bench --bin plan_figures`. \
         Machine: {}. Inputs: {N} desired accounts in 1 region, {} existing instances: \
         one for 95% of the desired accounts (mostly CURRENT, plus FAILED with 0 to 4 earlier \
         attempts, OUTDATED, DRIFTED, RUNNING and SKIPPED_SUSPENDED_ACCOUNT) and 300 for \
         accounts out of scope. The plan: {} to create, {} to delete, {} retries, {} drift repairs, \
         {} given up, {} held, {} operations. Target: under {TARGET_MS:.0} ms.\n\n\
         | measure | estimate (95% CI) | target | ratio | verdict |\n|---|---:|---:|---:|---|",
        machine(),
        i.len(),
        out.create.iter().map(|b| b.accounts.len()).sum::<usize>(),
        out.delete.iter().map(|b| b.accounts.len()).sum::<usize>(),
        out.retry.len(),
        out.repair.len(),
        out.given_up.len(),
        out.held.len(),
        out.operation_count(),
    );
    let dir = bench::repo_root().join("target/criterion");
    for (group, what) in [
        ("plan_cpu", "CPU time of the thread (criterion, mean)"),
        ("plan_wall", "wall time (criterion, mean)"),
    ] {
        let path = dir
            .join(group)
            .join(N.to_string())
            .join("new/estimates.json");
        match std::fs::read(&path) {
            Ok(b) => {
                let v: Value = serde_json::from_slice(&b).expect("estimates.json");
                let ms = |x: &Value| x.as_f64().unwrap_or(f64::NAN) / 1e6;
                let m = &v["mean"];
                let point = ms(&m["point_estimate"]);
                let (ratio, verdict) = verdict(point, TARGET_MS);
                let _ = writeln!(
                    s,
                    "| {what} | {point:.3} ms ({:.3} to {:.3}) | {TARGET_MS:.0} ms | {ratio} | {verdict} |",
                    ms(&m["confidence_interval"]["lower_bound"]),
                    ms(&m["confidence_interval"]["upper_bound"]),
                );
            }
            Err(_) => {
                let _ = writeln!(
                    s,
                    "| {what} | not measured: run `cargo bench -p bench --bench plan` | | | |"
                );
            }
        }
    }
    match (instructions(0), instructions(REPEAT)) {
        (Some(base), Some(with)) => {
            let per = (with.saturating_sub(base)) / REPEAT;
            let _ = writeln!(
                s,
                "| instructions per call (callgrind: (setup + {REPEAT} calls) - setup, / {REPEAT}) | {per} ({:.1} per account) | | | |",
                per as f64 / N as f64
            );
        }
        _ => {
            let _ = writeln!(
                s,
                "| instructions per call | valgrind not installed | | | |"
            );
        }
    }
    s.push('\n');
    emit("plan.md", &s);
}

/// Instructions executed by `plan_figures --run k` under callgrind.
fn instructions(k: u64) -> Option<u64> {
    let me = std::env::current_exe().ok()?;
    let out = Command::new("valgrind")
        .args([
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            "--cache-sim=no",
        ])
        .arg(me)
        .args(["--run", &k.to_string()])
        .output()
        .ok()?;
    let err = String::from_utf8_lossy(&out.stderr);
    err.lines()
        .find_map(|l| l.split_once("Collected :"))
        .and_then(|(_, n)| n.trim().replace(',', "").parse().ok())
}
