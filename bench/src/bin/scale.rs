//! Scope expansion at organization scale: 1,000 / 5,000 / 10,000 accounts in 100 / 500 / 1,000
//! OUs (at most 5 deep, every 37th account suspended), ALL / INTERSECTION / DIFFERENCE on the
//! root, plus ALL on the biggest top-level OU. For each: Organizations calls against the lower
//! bound, wall time and peak RSS of `orgscope plan --output json` on the emulator, and wall
//! time of the same read against an in-process organization with 25 ms per call, against the
//! critical-path bound.
//!
//! Needs `target/release/orgscope` (`cargo build --release -p orgscope`) and the emulator
//! (`tests/emulator/setup`). Run: `cargo run --release -p bench --bin scale`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bench::{emit, load, machine, run_measured, verdict, MemOrg, Tree};
use e2e::TestBed;
use serde_json::{json, Value};
use shared::core::{expand, RawList, Scope};
use shared::read::{read_target_subtrees, DEFAULT_CONCURRENCY};

const LATENCY: Duration = Duration::from_millis(25);
const LISTED: usize = 500;
const RSS_TARGET_MIB: f64 = 40.0;

struct Case {
    size: String,
    mode: &'static str,
    target_label: String,
    target: String,
    listed: Vec<String>,
}

struct Row {
    case: Case,
    lower: u32,
    emu_calls: usize,
    emu_throttled: usize,
    emu_other: BTreeMap<String, usize>,
    emu_wall: Duration,
    rss_kib: u64,
    rss_text_kib: u64,
    in_scope: u64,
    mem_calls: u32,
    mem_wall: Duration,
    chain: (u32, u32, u32),
    mem_in_scope: usize,
}

fn orgscope() -> PathBuf {
    let p = std::env::var_os("ORGSCOPE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| bench::repo_root().join("target/release/orgscope"));
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --release -p orgscope` first",
        p.display()
    );
    p
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if let Some(code) = bench::rss_helper() {
        std::process::exit(code);
    }
    let bin = orgscope();
    let load_before = load();
    let started = Instant::now();
    let bed = TestBed::start().await;
    let mut rows = Vec::new();
    for (accounts, ous) in [(1_000, 100), (5_000, 500), (10_000, 1_000)] {
        bed.control("reset", json!({})).await;
        bed.configure(json!({"org_page_size": 20, "operation_seconds": 0.0}))
            .await;
        let fixture = bed
            .control(
                "fixture/generate",
                json!({"accounts": accounts, "ous": ous, "max_depth": 5,
                       "suspended_every": 37, "seed": 1}),
            )
            .await;
        let tree = Tree::from_fixture(&fixture);
        let size = format!(
            "{} accounts ({} suspended), {} OUs, depth {}",
            tree.account_count(),
            tree.suspended_count(),
            tree.nodes.len() - 1,
            tree.depth()
        );
        eprintln!("{size}");
        let all: Vec<String> = tree
            .accounts_under(&tree.root)
            .iter()
            .map(|a| a.id.as_str().to_owned())
            .collect();
        let step = all.len() / LISTED;
        let pick = |offset: usize| -> Vec<String> {
            (0..LISTED)
                .map(|i| all[(i * step + offset) % all.len()].clone())
                .collect()
        };
        let top = tree.biggest_top_level_ou();
        let cases = [
            ("ALL", "root".to_owned(), tree.root.clone(), vec![]),
            ("INTERSECTION", "root".into(), tree.root.clone(), pick(0)),
            (
                "DIFFERENCE",
                "root".into(),
                tree.root.clone(),
                pick(step / 2),
            ),
            (
                "ALL",
                format!(
                    "one top-level OU ({} accounts)",
                    tree.accounts_under(&top).len()
                ),
                top.clone(),
                vec![],
            ),
        ];
        for (mode, target_label, target, listed) in cases {
            let case = Case {
                size: size.clone(),
                mode,
                target_label,
                target,
                listed,
            };
            rows.push(measure(&bed, &bin, &tree, case).await);
        }
    }
    let load_after = load();
    print_tables(&rows, &load_before, &load_after, started.elapsed());
}

async fn measure(bed: &TestBed, bin: &Path, tree: &Tree, case: Case) -> Row {
    let listed = case.listed.join(",");
    let scope = Scope::parse(
        &RawList::from(case.target.as_str()),
        case.mode,
        &RawList::from(listed.as_str()),
    )
    .expect("valid scope");

    // 1. The emulator, through the real CLI.
    bed.control("requests/clear", json!({})).await;
    let command = |output: &str| {
        let mut cmd = Command::new(bin);
        cmd.args(["plan", "--output", output])
            .env("TARGET_OU_IDS", &case.target)
            .env("ACCOUNT_SCOPE", case.mode)
            .env("TARGET_ACCOUNT_IDS", &listed)
            .env("NO_COLOR", "1");
        for (k, v) in bed.env() {
            cmd.env(k, v);
        }
        cmd
    };
    let mut cmd = command("json");
    let (code, emu_wall, rss_kib, out) =
        tokio::task::spawn_blocking(move || run_measured(&mut cmd))
            .await
            .expect("join")
            .expect("run orgscope");
    assert_eq!(code, 0, "orgscope plan failed");
    let plan: Value = serde_json::from_slice(&out).expect("orgscope JSON");
    let reqs = bed.requests().await;
    let mut emu_calls = 0;
    let mut emu_throttled = 0;
    let mut emu_other: BTreeMap<String, usize> = BTreeMap::new();
    for r in &reqs {
        if r["service"] == "organizations" {
            if r["throttled"] == true {
                emu_throttled += 1;
            } else {
                emu_calls += 1;
            }
        } else {
            *emu_other
                .entry(r["service"].as_str().unwrap_or("?").to_owned())
                .or_default() += 1;
        }
    }

    // The same plan rendered as text: where the memory goes.
    let mut cmd = command("text");
    let (code, _, rss_text_kib, _) = tokio::task::spawn_blocking(move || run_measured(&mut cmd))
        .await
        .expect("join")
        .expect("run orgscope");
    assert_eq!(code, 0, "orgscope plan --output text failed");

    // 2. The same read against an in-process organization with 25 ms per call.
    let mem = MemOrg::new(tree.clone(), LATENCY);
    let t = Instant::now();
    let (read, _stats) = read_target_subtrees(&mem, &scope, DEFAULT_CONCURRENCY)
        .await
        .expect("in-process read");
    let mem_wall = t.elapsed();
    let mem_in_scope = expand(&scope, &read).expect("expand").included.len();

    let row = Row {
        lower: tree.lower_bound(&case.target),
        chain: tree.critical_path(&case.target),
        emu_calls,
        emu_throttled,
        emu_other,
        emu_wall,
        rss_kib,
        rss_text_kib,
        in_scope: plan["summary"]["in_scope"].as_u64().unwrap_or(0),
        mem_calls: mem.calls.total(),
        mem_wall,
        mem_in_scope,
        case,
    };
    eprintln!(
        "  {} {}: calls {} (bound {}), emulator {:.0} ms, RSS {} KiB, 25 ms/call {:.0} ms",
        row.case.mode,
        row.case.target_label,
        row.emu_calls,
        row.lower,
        row.emu_wall.as_secs_f64() * 1e3,
        row.rss_kib,
        row.mem_wall.as_secs_f64() * 1e3
    );
    row
}

fn print_tables(rows: &[Row], load_before: &str, load_after: &str, took: Duration) {
    let mut s = String::new();
    let cmd = "cargo run --release -p bench --bin scale";
    let _ = writeln!(
        s,
        "### Scope expansion at scale\n\nCommand: `{cmd}` (after `cargo build --release -p orgscope`). \
         Machine: {}. Load average before {load_before}, after {load_after}; the run took {:.0} s. \
         Organizations generated by the emulator (`fixture/generate`, max_depth 5, \
         suspended_every 37, seed 1), page size 20; 500 listed accounts for INTERSECTION / \
         DIFFERENCE, spread evenly over the organization.\n",
        machine(),
        took.as_secs_f64()
    );
    let _ = writeln!(
        s,
        "#### Organizations API calls (`orgscope plan`, counted in the emulator's request log)\n\n\
         Target: ratio 1.00 to the lower bound, at most lower bound + 2.\n\n\
         | organization | mode | target | lower bound | calls (emulator) | calls (in-process) | ratio | over bound | verdict |\n\
         |---|---|---|---:|---:|---:|---:|---:|---|"
    );
    for r in rows {
        let over = r.emu_calls as i64 - r.lower as i64;
        let ok = over <= 2 && r.mem_calls as usize == r.emu_calls;
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {}{} | {} | {:.3} | +{} | {} |",
            r.case.size,
            r.case.mode,
            r.case.target_label,
            r.lower,
            r.emu_calls,
            if r.emu_throttled > 0 {
                format!(" (+{} throttled)", r.emu_throttled)
            } else {
                String::new()
            },
            r.mem_calls,
            r.emu_calls as f64 / r.lower as f64,
            over,
            if ok { "met" } else { "MISSED" }
        );
    }
    let others: Vec<String> = rows
        .iter()
        .flat_map(|r| r.emu_other.iter().map(|(k, v)| format!("{k} {v}")))
        .collect();
    let _ = writeln!(
        s,
        "\nCalls to other services during these runs: {}.\n",
        if others.is_empty() {
            "none".to_owned()
        } else {
            others.join(", ")
        }
    );
    let _ = writeln!(
        s,
        "#### Wall time with a fixed 25 ms per call (in-process organization, concurrency {DEFAULT_CONCURRENCY})\n\n\
         Bound = max(calls on the critical path, total calls / {DEFAULT_CONCURRENCY}) x 25 ms. The \
         critical path is the longest chain of calls that must follow each other: a child OU is \
         known only once the page of its parent's listing that names it has arrived, and the pages \
         of one listing follow each other. Target: at most 1.5x the bound.\n\n\
         | organization | mode | target | depth | critical path (calls) | most pages of one listing on it | total calls | bound | measured | ratio | verdict |\n\
         |---|---|---|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    for r in rows {
        let (chain, depth, widest) = r.chain;
        let per_slot = (r.mem_calls as f64 / DEFAULT_CONCURRENCY as f64).ceil();
        let bound = chain.max(per_slot as u32) as f64 * LATENCY.as_secs_f64() * 1e3;
        let measured = r.mem_wall.as_secs_f64() * 1e3;
        let (_, v) = verdict(measured, bound * 1.5);
        let _ = writeln!(
            s,
            "| {} | {} | {} | {depth} | {chain} | {widest} | {} | {bound:.0} ms | {measured:.0} ms | {:.2} | {v} |",
            r.case.size,
            r.case.mode,
            r.case.target_label,
            r.mem_calls,
            measured / bound,
        );
    }
    let _ = writeln!(
        s,
        "\n#### Wall time and peak RSS of `orgscope plan --output json` on the emulator\n\n\
         Wall time is process start to exit (the emulator is Python: it dominates). Peak RSS is \
         `ru_maxrss` from `wait4` for the orgscope process alone (taken by a small helper \
         process, so that the benchmark's own memory is not counted). Target: RSS at most \
         {RSS_TARGET_MIB:.0} MB at 10,000 accounts. In scope: accounts the plan includes \
         (the in-process read gives the same count: checked). The last column is the same plan \
         with `--output text` (not a target; it shows how much of the peak the JSON rendering \
         adds). A process that does nothing measures about 3.6 MiB this way (the helper's own \
         pages), so small figures are slight overestimates.\n\n\
         | organization | mode | target | in scope | wall time | peak RSS | RSS target | ratio | verdict | peak RSS, `--output text` |\n\
         |---|---|---|---:|---:|---:|---:|---:|---|---:|"
    );
    for r in rows {
        assert_eq!(
            r.in_scope as usize, r.mem_in_scope,
            "emulator and in-process reads disagree on the scope"
        );
        let mib = r.rss_kib as f64 / 1024.0;
        let (ratio, v) = verdict(mib, RSS_TARGET_MIB);
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:.0} ms | {mib:.1} MiB | {RSS_TARGET_MIB:.0} MB | {ratio} | {v} | {:.1} MiB |",
            r.case.size,
            r.case.mode,
            r.case.target_label,
            r.in_scope,
            r.emu_wall.as_secs_f64() * 1e3,
            r.rss_text_kib as f64 / 1024.0,
        );
    }
    s.push('\n');
    emit("scale.md", &s);
}
