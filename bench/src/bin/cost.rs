//! Cost in Organizations calls (issue 12), against an in-process organization with the shape
//! the emulator generates (2,000 accounts in 200 OUs at most 4 deep, as issue 12 measured; then
//! 1,000 / 5,000 / 10,000 accounts in 100 / 500 / 1,000 OUs, at most 5 deep) and 25 ms per call:
//! - a full read of a whole-organization scope (the root as the target): `ListAccounts` pages
//!   (what the functions do now) against the tree walk (what they did before, and what
//!   `orgscope plan` still does to draw the tree), against the bound ceil(accounts / 20) + 5;
//! - `orgscope plan`'s read of ten top-level OUs: calls and wall time, against Port's own
//!   discovery (`ListAccountsForParent` and `ListOrganizationalUnitsForParent` under each
//!   given OU, one call after another), target at least 3x faster.
//!
//! - what the org-events function costs per event, driving its real `Handler` with the
//!   in-process organization and StackSet (`bench::MemOrg`, `bench::MemStackSet`) counting
//!   every call: an event outside the scope, an account moved into it, a burst of 200 moves in
//!   10 s, and scheduled runs over ten top-level OUs and over the root, each beside issue 12's
//!   target and its "before" figure (measured at 2,000 accounts).
//!
//! Needs the emulator (`tests/emulator/setup`) only to generate the organizations.
//! Run: `cargo build --workspace --bin cost && target/debug/cost` (the figures are call
//! counts and 25 ms waits: the debug profile is enough).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use bench::cost::{per_event, OP_TIME, SETTLE, TIME_SCALE};
use bench::{emit, machine, MemOrg, Tree};
use e2e::TestBed;
use serde_json::json;
use shared::core::{RawList, Scope};
use shared::ports::OrganizationsApi;
use shared::read::{read_scope, read_target_subtrees, DEFAULT_CONCURRENCY};

const LATENCY: Duration = Duration::from_millis(25);

fn scope(targets: &[String]) -> Scope {
    Scope::parse(
        &RawList::from(targets.join(",").as_str()),
        "ALL",
        &RawList::from(""),
    )
    .expect("valid scope")
}

/// Port's discovery: under each given OU, every page of accounts and of child OUs, one call
/// after another, depth first.
async fn port_walk(org: &MemOrg, targets: &[String]) -> usize {
    let mut accounts = 0;
    let mut stack: Vec<String> = targets.to_vec();
    while let Some(ou) = stack.pop() {
        let mut tok = None;
        loop {
            let p = org.list_accounts_page(&ou, tok).await.expect("accounts");
            accounts += p.items.len();
            match p.next {
                Some(t) => tok = Some(t),
                None => break,
            }
        }
        let mut tok = None;
        loop {
            let p = org.list_ous_page(&ou, tok).await.expect("ous");
            stack.extend(p.items.into_iter().map(|n| n.id));
            match p.next {
                Some(t) => tok = Some(t),
                None => break,
            }
        }
    }
    accounts
}

#[tokio::main]
async fn main() {
    let mut whole = String::new();
    let mut ten = String::new();
    let mut events = String::new();
    let mut notes = String::new();
    // Issue 12's own measure (2,000 accounts in 200 OUs, 4 levels), then the scale series.
    for (accounts, ous, depth) in [
        (2000, 200, 4),
        (1000, 100, 5),
        (5000, 500, 5),
        (10000, 1000, 5),
    ] {
        let bed = TestBed::start().await;
        let f = bed
            .control(
                "fixture/generate",
                json!({"accounts": accounts, "ous": ous, "max_depth": depth, "suspended_every": 37, "seed": 1}),
            )
            .await;
        let tree = Tree::from_fixture(&f);
        let n = tree.account_count();
        let label = format!("{n} accounts, {ous} OUs, depth {depth}");

        let (from, from_notes) = (events.len(), notes.len());
        let _ = per_event(&tree, &label, &mut events, &mut notes).await;
        eprint!("{}{}", &events[from..], &notes[from_notes..]);

        // Whole organization.
        let root = scope(std::slice::from_ref(&tree.root));
        let mem = MemOrg::new(tree.clone(), LATENCY);
        let t = Instant::now();
        let (new_tree, _) = read_scope(&mem, &root, DEFAULT_CONCURRENCY)
            .await
            .expect("read");
        let new_wall = t.elapsed();
        let new_calls = mem.calls.total();
        let old = MemOrg::new(tree.clone(), LATENCY);
        let t = Instant::now();
        let (old_tree, _) = read_target_subtrees(&old, &root, DEFAULT_CONCURRENCY)
            .await
            .expect("read");
        let old_wall = t.elapsed();
        assert_eq!(
            new_tree.accounts.keys().collect::<Vec<_>>(),
            old_tree.accounts.keys().collect::<Vec<_>>(),
            "both reads see the same accounts"
        );
        let bound = n.div_ceil(20) + 5;
        writeln!(
            whole,
            "| {label} | {bound} | {new_calls} | {} | {} | {:.0} ms | {:.0} ms | {} |",
            old.calls.total(),
            format_args!("{:.2}", new_calls as f64 / old.calls.total() as f64),
            new_wall.as_secs_f64() * 1e3,
            old_wall.as_secs_f64() * 1e3,
            if new_calls as usize <= bound {
                "met"
            } else {
                "MISSED"
            },
        )
        .unwrap();

        // Ten top-level OUs.
        let tops: Vec<String> = tree.children[&tree.root].iter().take(10).cloned().collect();
        let s = scope(&tops);
        let mem = MemOrg::new(tree.clone(), LATENCY);
        let t = Instant::now();
        let (read, _) = read_target_subtrees(&mem, &s, DEFAULT_CONCURRENCY)
            .await
            .expect("read");
        let ours = t.elapsed();
        let port = MemOrg::new(tree.clone(), LATENCY);
        let t = Instant::now();
        let port_accounts = port_walk(&port, &tops).await;
        let theirs = t.elapsed();
        assert_eq!(read.accounts.len(), port_accounts, "the same accounts");
        let speedup = theirs.as_secs_f64() / ours.as_secs_f64();
        writeln!(
            ten,
            "| {label} | {} | {port_accounts} | {} | {:.0} ms | {} | {:.0} ms | {speedup:.1}x | 3x | {} |",
            tops.len(),
            mem.calls.total(),
            ours.as_secs_f64() * 1e3,
            port.calls.total(),
            theirs.as_secs_f64() * 1e3,
            if speedup >= 3.0 { "met" } else { "MISSED" },
        )
        .unwrap();
    }
    let text = format!(
        "### Cost in Organizations calls\n\n\
         Command: `cargo build --workspace --bin cost && target/debug/cost`. Machine: {}. In-process \
         organizations (`bench::MemOrg`, pages of 20, 25 ms per call, concurrency {}) with the \
         shape of the emulator's generated ones (suspended_every 37, seed 1).\n\n\
         #### A full read of a whole-organization scope (the root as the target)\n\n\
         What the functions read on a scheduled run or a custom-resource Create/Update. Target: \
         at most ceil(accounts / 20) + 5 calls. Before = the tree walk the functions used (and \
         `orgscope plan` still uses, to draw the tree). The pages of `ListAccounts` follow one \
         another, so the new read takes longer at 25 ms per call while costing a fifth of the \
         calls: the calls are what Organizations throttles.\n\n\
         | organization | target (calls) | calls now | calls before | now / before | wall now | wall before | verdict |\n\
         |---|---:|---:|---:|---:|---:|---:|---|\n{whole}\n\
         #### `orgscope plan` over ten top-level OUs, against Port's discovery walk\n\n\
         Port discovers accounts with `ListAccountsForParent` and `ListOrganizationalUnitsForParent` \
         under each OU it is given, one call after another (simulated here with the same \
         organization and latency). Target: at least 3x faster.\n\n\
         | organization | targets | accounts | calls | wall | Port's calls | Port's wall | speed-up | target | verdict |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n{ten}\n\
         #### What an event costs, through the org-events handler\n\n\
         The real `org_events::Handler` (a fresh Lambda instance for each row; the burst's events \
         put through template.yaml's rules on OrgEventsQueue in the emulator and handed over \
         by the event source mapping's poller, `e2e::esm`, in the batches AWS's pollers form \
         with the template's BatchSize, 20 s batching window and MaximumConcurrency, played at \
         {} real seconds per second) against the in-process organization and a counting in-process StackSet \
         (`bench::MemStackSet`: one operation at a time, each lasting {} s; listings counted \
         one call per page of 100, `ListStackInstances` for one account one call), \
         SETTLE_SECONDS={SETTLE}, no latency (counts, not times). Scope: up to ten top-level \
         OUs, the biggest left out (so that accounts and OUs remain outside the scope), mode \
         ALL, one region. Events come long after the last StackSet operation (no burst \
         under way) except within the burst. Before = issue 12's figures, measured through the \
         org-events binary on the emulator at 2,000 accounts (the only size it measured). The targets \
         are asserted at 1,000, 5,000 and 10,000 accounts by `cargo test -p bench --test \
         cost_bounds` (part of `scripts/test`).\n\n\
         | organization | what | Organizations calls | CloudFormation calls | target (Organizations / CloudFormation) | before | verdict |\n\
         |---|---|---:|---:|---|---|---|\n{events}\n{notes}",
        machine(),
        DEFAULT_CONCURRENCY,
        TIME_SCALE,
        OP_TIME.as_secs(),
    );
    emit("cost.md", &text);
}
