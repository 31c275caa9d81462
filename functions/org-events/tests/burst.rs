//! The coalescing target: 200 `MoveAccount` events inside 10 seconds, operations lasting 2
//! seconds, end with the right instances, few StackSet operations, and no failed invocation.
//!
//! The events reach the function as they do in AWS: each move's event is put on the default
//! bus, template.yaml's rules put it on OrgEventsQueue (the emulator applies their patterns),
//! and the event source mapping's poller (`e2e::esm`) hands the queue's messages over in the
//! batches AWS's pollers form with the template's settings: up to BatchSize messages gathered
//! within the 20 s batching window, at most MaximumConcurrency (2) pollers at once, competing
//! for the messages. Time is the template's, played faster by `scale` (real seconds per
//! second), the burst and the window alike.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{mutating, World};
use e2e::esm::Options;
use e2e::STACK_SET;
use org_events::handler::{Disposition, MAX_VERIFY_ROUNDS};

const EVENTS: usize = 200;

/// A small deterministic generator (no dependency needed).
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// One burst: `EVENTS` moves spread over `span` of the template's time, played `scale` times
/// as fast, on warm or cold instances.
struct Burst {
    span: Duration,
    scale: f64,
    cold: bool,
}

/// A 10 s burst inside the template's 20 s window: every poller's batch holds the moves that
/// reached the queue while it gathered, so the burst comes in at most MaximumConcurrency (2)
/// batches, each with at most one create and one delete.
#[tokio::test]
async fn a_burst_of_200_moves_in_10_seconds_comes_in_at_most_2_batches_of_at_most_2_operations() {
    let r = burst(Burst {
        span: Duration::from_secs(10),
        // Real time: the moves and their puts keep pace with a 10 s burst on a loaded machine.
        scale: 1.0,
        cold: false,
    })
    .await;
    assert!(
        (1..=r.max_concurrency).contains(&r.batches),
        "{} batches",
        r.batches
    );
    for (i, n) in r.per_batch.iter().enumerate() {
        assert!(
            *n <= 2,
            "batch {i}: {n} operations (all: {:?})",
            r.per_batch
        );
    }
    assert!(r.operations <= 2 * r.batches, "{} operations", r.operations);
}

/// A burst four times the window (80 s): several batches, two at once, each on a fresh
/// instance, planning from reads that overlap each other's StackSet operations. Played at a
/// quarter of real time: the emulator's 2 s StackSet operations are not scaled, so a faster
/// play would make each invocation look longer against the window than it is.
#[tokio::test]
async fn a_burst_longer_than_the_window_in_batches_two_at_once_on_cold_instances_still_ends_right()
{
    let r = burst(Burst {
        span: Duration::from_secs(80),
        scale: 0.25,
        cold: true,
    })
    .await;
    assert!(r.batches >= 3, "{} batches", r.batches);
    // Each batch: at most one create and one delete per reconcile round, and at most
    // MAX_VERIFY_ROUNDS rounds (another round when the read after its change still shows
    // changes: the burst kept moving the accounts it changed while it ran). Asserted per batch
    // (the batches' operations add up to the operations the emulator accepted: `burst`
    // asserts it).
    assert_eq!(r.per_batch.len(), r.batches);
    for (i, n) in r.per_batch.iter().enumerate() {
        assert!(
            *n <= 2 * MAX_VERIFY_ROUNDS as usize,
            "batch {i}: {n} operations (all: {:?})",
            r.per_batch
        );
    }
}

struct Ran {
    batches: usize,
    max_concurrency: usize,
    operations: usize,
    /// The StackSet operations each batch's invocation started, as it reported them.
    per_batch: Vec<usize>,
}

async fn burst(b: Burst) -> Ran {
    let Burst { span, scale, cold } = b;
    let w = World::new(&["Root/Prod"], "ALL", &[], &[], 2.0).await;
    let q = w.bed.org_events_queue().await;
    let (window, concurrency) = (q.settings.batching_window, q.settings.max_concurrency);
    // More accounts to move around: 12 new ones, in the root.
    let mut movable: Vec<String> = Vec::new();
    for i in 0..12 {
        movable.push(w.create_account(&format!("burst-{i:02}")).await);
    }
    for n in [
        "sandbox-orphan",
        "prod-web",
        "prod-data",
        "prod-eu-1",
        "prod-us-1",
        "staging-1",
        "staging-2",
    ] {
        movable.push(w.f.account(n));
    }
    let s = w.schedule().await;
    assert_eq!(s.outcome, Disposition::Reconciled, "{s:?}");

    // Where each movable account is now.
    let root = w.f.root();
    let mut at: BTreeMap<String, String> = BTreeMap::new();
    for a in &movable {
        let p = w
            .orgs
            .list_parents()
            .child_id(a)
            .send()
            .await
            .unwrap()
            .parents()[0]
            .id()
            .unwrap()
            .to_owned();
        at.insert(a.clone(), p);
    }
    let places: Vec<String> = [
        "Root/Prod",
        "Root/Prod/EU",
        "Root/Prod/EU/Payments/PCI",
        "Root/Prod/US",
        "Root/Staging",
        "Root/Sandbox",
    ]
    .iter()
    .map(|p| w.f.ou(p))
    .chain([root.clone()])
    .collect();
    w.clear_requests().await;

    let orgs = w.orgs.clone();
    let start = Instant::now();
    let done = Arc::new(AtomicBool::new(false));
    let producer = {
        let movable = movable.clone();
        let places = places.clone();
        let mut at = at.clone();
        let (q, done) = (q.clone(), done.clone());
        tokio::spawn(async move {
            let mut rng = Lcg(42);
            for i in 0..EVENTS {
                let due = start + span.mul_f64(scale * i as f64 / EVENTS as f64);
                tokio::time::sleep_until(due.into()).await;
                let a = &movable[rng.below(movable.len())];
                let from = at[a].clone();
                let mut to = places[rng.below(places.len())].clone();
                if to == from {
                    to = places
                        [(places.iter().position(|p| *p == from).unwrap() + 1) % places.len()]
                    .clone();
                }
                orgs.move_account()
                    .account_id(a)
                    .source_parent_id(&from)
                    .destination_parent_id(&to)
                    .send()
                    .await
                    .expect("MoveAccount");
                at.insert(a.clone(), to.clone());
                q.put_all(&[common::move_event(a, &from, &to)]).await;
            }
            done.store(true, Ordering::SeqCst);
            (at, start.elapsed())
        })
    };

    let w = Arc::new(w);
    let poller = q
        .lambda_poller(
            &w.bed,
            Options {
                time_scale: scale,
                ..Options::default()
            },
        )
        .await;
    let report = {
        let w = w.clone();
        poller
            .run(done, move |delivery| {
                let w = w.clone();
                async move {
                    let r = if cold {
                        w.try_invoke_cold(&delivery).await
                    } else {
                        w.try_invoke(&delivery).await
                    };
                    r.map(|s| (s.outcome, s.events, s.operation_ids.len()))
                        .map_err(|e| e.to_string())
                }
            })
            .await
    };
    let mut failed = 0;
    let mut per_batch: Vec<usize> = Vec::new();
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut handled = 0;
    let batches = report.deliveries.len();
    for d in &report.deliveries {
        match &d.result {
            Ok((outcome, events, started)) => {
                *outcomes.entry(format!("{outcome:?}")).or_default() += 1;
                handled += events;
                per_batch.push(*started);
            }
            Err(e) => {
                failed += 1;
                eprintln!("invocation failed: {e}");
            }
        }
    }
    let (final_at, burst_took) = producer.await.unwrap();
    let converged_after = start.elapsed();
    assert_eq!(handled, EVENTS);

    // The right instances: the baseline's, with the movable accounts where they ended.
    let in_prod: BTreeSet<String> = [
        "Root/Prod",
        "Root/Prod/EU",
        "Root/Prod/EU/Payments/PCI",
        "Root/Prod/US",
    ]
    .iter()
    .map(|p| w.f.ou(p))
    .collect();
    let mut want: BTreeSet<String> = w
        .ids(&["prod-eu-payments", "prod-eu-pci"])
        .into_iter()
        .collect();
    for (a, p) in &final_at {
        if in_prod.contains(p) {
            want.insert(a.clone());
        }
    }
    let got: BTreeSet<String> = w.enrolled().await.into_iter().collect();
    // Operations AWS started: a call answered OperationInProgressException (a concurrent
    // invocation's attempt while another operation ran) starts nothing.
    let accepted: Vec<(String, String)> = w
        .bed
        .requests()
        .await
        .into_iter()
        .filter(|r| r["throttled"] != true && r["status"] == 200)
        .map(|r| {
            (
                r["service"].as_str().unwrap_or_default().to_owned(),
                r["action"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let ops = mutating(&accepted);
    let rejected = mutating(&w.calls().await).len() - ops.len();
    let op_list = w
        .bed
        .requests()
        .await
        .iter()
        .filter(|r| r["service"] == "cloudformation" && r["action"] == "ListStackSetOperations")
        .count();
    // Template time: what the figures would be on AWS (the run is `scale` times as fast).
    eprintln!(
        "burst (window {:.1} s, cold: {cold}, concurrency {concurrency}): {EVENTS} events in {:.1} s, \
         {batches} batches; {} StackSet operations {ops:?}; converged {:.1} s after the first \
         move (real time); failed invocations {failed}; outcomes {outcomes:?}; ListStackSetOperations calls \
         {op_list}; rejected mutating calls {rejected}; StackSet operations per batch \
         {per_batch:?}; messages per batch {:?}; time scale {scale}",
        window.as_secs_f64(),
        burst_took.as_secs_f64() / scale,
        ops.len(),
        converged_after.as_secs_f64(),
        report
            .deliveries
            .iter()
            .map(|d| d.message_ids.len())
            .collect::<Vec<_>>()
    );
    assert_eq!(failed, 0);
    // What the invocations say they started is what AWS accepted, so the per-batch figures
    // the callers assert count every operation.
    assert_eq!(
        per_batch.iter().sum::<usize>(),
        ops.len(),
        "per batch {per_batch:?}, accepted {ops:?}"
    );
    assert_eq!(got, want, "instances differ from the scope");
    // How long the burst took is printed above, not asserted (a figure of this machine's
    // load): that the moves came as a burst shows in the batch counts the callers assert.
    for i in w.bed.instances(STACK_SET).await {
        assert_eq!(i["status"], "CURRENT", "{i}");
    }
    assert_eq!(report.visibility_timeouts, 0, "no message came back");
    assert_eq!(q.dead_letter_visible().await, 0);
    Ran {
        batches,
        max_concurrency: concurrency,
        operations: ops.len(),
        per_batch,
    }
}
