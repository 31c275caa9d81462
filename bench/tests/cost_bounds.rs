//! The per-event cost bounds BENCHMARKS.md states ("What an event costs, through the
//! org-events handler": issue 12's targets), asserted at 1,000, 5,000 and 10,000 accounts
//! with the in-process harness `bench::cost::per_event` (the real `org_events::Handler` against
//! the counting in-process organization and StackSet). `scripts/bench cost` prints the same
//! rows into BENCHMARKS.md; this test fails when one of them would read MISSED.

use bench::cost::{per_event, Figures};
use bench::Tree;
use e2e::TestBed;
use serde_json::json;

/// An organization generated as `scripts/bench cost` does (the emulator's `fixture/generate`).
async fn organization(accounts: usize, ous: usize) -> Tree {
    let bed = TestBed::start().await;
    let f = bed
        .control(
            "fixture/generate",
            json!({"accounts": accounts, "ous": ous, "max_depth": 5, "suspended_every": 37, "seed": 1}),
        )
        .await;
    Tree::from_fixture(&f)
}

async fn figures(t: &Tree) -> Figures {
    let (mut rows, mut notes) = (String::new(), String::new());
    let label = format!("{} accounts", t.account_count());
    let f = per_event(t, &label, &mut rows, &mut notes).await;
    println!("{rows}{notes}");
    f
}

fn check(f: &Figures) {
    let n = f.accounts;
    // An account moved between two OUs outside the scope: at most 12 Organizations and 2
    // CloudFormation calls (BENCHMARKS.md's target "≤ 12 / ≤ 2").
    assert!(f.outside.0 <= 12, "{n} accounts, outside: {:?}", f.outside);
    assert!(f.outside.1 <= 2, "{n} accounts, outside: {:?}", f.outside);
    // An account moved from outside into a target OU: at most 40 Organizations calls ("≤ 40").
    assert!(
        f.into_scope.0 <= 40,
        "{n} accounts, into: {:?}",
        f.into_scope
    );
    // The burst of 200 moves, in the batches the event source mapping's pollers form (at most
    // MaximumConcurrency, 2, for a burst inside the batching window; a loaded machine may
    // stretch the burst past it): per batch at most one
    // create and one delete and at most one full read of the scope in Organizations calls (so
    // the burst at most one per batch), no failed invocation, and the StackSet ends holding
    // the scope. A burst is bounded per batch, not per burst, when the pollers split it.
    if f.burst_seconds < f.batching_window_seconds {
        assert!((1..=2).contains(&f.burst_batches), "{n} accounts: {f:?}");
    }
    assert!(
        f.burst_operations_per_batch.iter().all(|n| *n <= 2),
        "{n} accounts: {f:?}"
    );
    assert_eq!(
        f.burst_operations_per_batch.iter().sum::<usize>(),
        f.burst_operations,
        "{n} accounts: {f:?}"
    );
    assert!(f.burst_operations <= 4, "{n} accounts: {f:?}");
    assert_eq!(f.burst_failed, 0, "{n} accounts: {f:?}");
    assert!(f.burst_most_org_calls <= f.full_read, "{n} accounts: {f:?}");
    assert!(
        f.burst_org_calls <= f.burst_batches as u32 * f.full_read,
        "{n} accounts: {f:?}"
    );
    assert!(
        f.burst_right,
        "{n} accounts: the StackSet does not hold the scope"
    );
    // A scheduled run over the root with nothing to change: at most ceil(accounts / 20) + 5
    // Organizations calls (the whole-organization read's target).
    let bound = n.div_ceil(20) as u32 + 5;
    assert!(
        f.root_run <= bound,
        "{n} accounts: {} > {bound}",
        f.root_run
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_event_cost_stays_within_its_bounds_from_1000_to_10000_accounts() {
    let small = organization(1000, 100).await;
    let medium = organization(5000, 500).await;
    let large = organization(10000, 1000).await;
    // The three at once: each run is mostly waiting (its burst is 10 s of moves and a 20 s
    // batching window).
    let (a, b, c) = tokio::join!(figures(&small), figures(&medium), figures(&large));
    for f in [&a, &b, &c] {
        check(f);
    }
}
