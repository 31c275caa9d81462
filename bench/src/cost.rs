//! What the org-events function costs per event, driving its real `Handler` with the
//! in-process organization and StackSet (`MemOrg`, `MemStackSet`) counting every call: used by
//! `src/bin/cost.rs` (BENCHMARKS.md's table) and `tests/cost_bounds.rs` (which asserts the
//! bounds).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use e2e::esm::Options;
use e2e::{TestBed, REGION, STACK_SET};
use org_events::handler::Disposition;
use org_events::time::{format_rfc3339, now_epoch};
use org_events::{Config, Handler, Invocation, Summary};
use serde_json::{json, Value};
use shared::core::{AccountId, AccountState};
use shared::ports::TokioClock;

use crate::{MemOrg, MemStackSet, Tree};

/// The figures of one organization's rows, for a test to assert.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    /// Accounts in the organization.
    pub accounts: usize,
    /// Organizations calls of a scheduled run over the scope with nothing to change.
    pub full_read: u32,
    /// (Organizations, CloudFormation) calls of an event moving an account between two OUs
    /// outside the scope.
    pub outside: (u32, u32),
    /// The same, for an account moved from outside into a target OU.
    pub into_scope: (u32, u32),
    /// The burst: StackSet operations that change instances, failed invocations, Organizations
    /// calls in all, and whether the StackSet then held exactly the scope.
    pub burst_operations: usize,
    pub burst_failed: usize,
    pub burst_org_calls: u32,
    pub burst_right: bool,
    /// The batches the event source mapping's poller formed, the StackSet operations each
    /// started, and the most Organizations calls one of them cost.
    pub burst_batches: usize,
    pub burst_operations_per_batch: Vec<usize>,
    pub burst_most_org_calls: u32,
    /// How long the burst took, and the batching window, in the template's time.
    pub burst_seconds: f64,
    pub batching_window_seconds: f64,
    /// Organizations calls of a scheduled run with the root as the scope, nothing to change.
    pub root_run: u32,
}

/// How long a StackSet operation of the in-process StackSet lasts (as the emulator's burst
/// test, `functions/org-events/tests/burst.rs`), and `SETTLE_SECONDS` (template.yaml leaves it
/// at its default, 0: the queue's batching window coalesces).
pub const OP_TIME: Duration = Duration::from_secs(2);
pub const SETTLE: &str = "0";
/// Real seconds per second of the template's time in the burst (its 10 s of moves and the
/// event source mapping's 20 s batching window, read from template.yaml by the emulator).
/// Real time: each move's put is an HTTP call to the emulator, which keeps pace with a move
/// every 50 ms, not with one every 25 ms on a loaded machine.
pub const TIME_SCALE: f64 = 1.0;
/// The burst: this many `MoveAccount` events, one every `BURST_GAP`, over `BURST_ACCOUNTS`.
const BURST_EVENTS: usize = 200;
const BURST_GAP: Duration = Duration::from_millis(50);
const BURST_ACCOUNTS: usize = 20;

type MemHandler = Handler<MemOrg, MemStackSet, TokioClock>;

/// A handler (a fresh Lambda instance) for `targets`, over `org` and `stackset`.
fn handler(org: &MemOrg, stackset: MemStackSet, targets: &[String]) -> MemHandler {
    let env: std::collections::BTreeMap<&str, String> = [
        ("TARGET_OU_IDS", targets.join(",")),
        ("ACCOUNT_SCOPE", "ALL".into()),
        ("TARGET_ACCOUNT_IDS", String::new()),
        ("STACK_SET_NAME", STACK_SET.into()),
        ("STACK_SET_REGIONS", REGION.into()),
        ("SETTLE_SECONDS", SETTLE.into()),
    ]
    .into();
    let config = Config::from_env(|k| env.get(k).cloned(), REGION).expect("a valid configuration");
    Handler::new(org.clone(), stackset, TokioClock, config)
}

fn sample(name: &str) -> Value {
    let path = crate::repo_root().join("events").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("sample event")).expect("JSON")
}

/// `events/move-account.json` for this move, timed now.
fn move_event(n: usize, account: &AccountId, from: &str, to: &str) -> Value {
    let mut v = sample("move-account.json");
    let now = format_rfc3339(now_epoch());
    v["id"] = json!(format!("bench-move-{n}"));
    v["time"] = json!(now);
    v["detail"]["eventTime"] = json!(now);
    let p = &mut v["detail"]["requestParameters"];
    p["accountId"] = json!(account.as_str());
    p["sourceParentId"] = json!(from);
    p["destinationParentId"] = json!(to);
    v
}

fn scheduled_event() -> Value {
    let mut v = sample("scheduled.json");
    v["time"] = json!(format_rfc3339(now_epoch()));
    v
}

fn invocation(n: usize) -> Invocation {
    Invocation {
        request_id: format!("bench-{n:06}-0000-4000-8000-000000000000"),
        deadline: Instant::now() + Duration::from_secs(600),
    }
}

/// (Organizations calls, CloudFormation calls) so far.
fn calls(h: &MemHandler) -> (u32, u32) {
    (h.org.inner.calls.total(), h.stacksets.inner.calls.total())
}

/// One invocation's calls, and its summary.
async fn invoke(h: &MemHandler, event: &Value, n: usize) -> ((u32, u32), Summary) {
    let before = calls(h);
    let s = h
        .handle(event, &invocation(n))
        .await
        .expect("the invocation");
    let after = calls(h);
    ((after.0 - before.0, after.1 - before.1), s)
}

/// The StackSet operations that change instances (drift detections left out).
fn changes(set: &MemStackSet) -> Vec<String> {
    set.operations()
        .into_iter()
        .filter(|(a, _)| a != "DETECT_DRIFT")
        .map(|(a, _)| a)
        .collect()
}

/// Active accounts under `targets`, the management account left out (StackSets never deploy
/// to it): what the StackSet must hold.
fn expected(
    tree: &Tree,
    org: &MemOrg,
    targets: &[String],
) -> std::collections::BTreeSet<AccountId> {
    tree.accounts
        .values()
        .flatten()
        .filter(|a| a.state == AccountState::Active && a.id.as_str() != tree.management)
        .filter(|a| {
            let lineage = org.lineage(&org.parent(&a.id).expect("in the organization"));
            targets.iter().any(|t| lineage.contains(t))
        })
        .map(|a| a.id.clone())
        .collect()
}

/// The per-event figures of one organization: rows of the table.
pub async fn per_event(tree: &Tree, label: &str, rows: &mut String, notes: &mut String) -> Figures {
    let mut fig = Figures {
        accounts: tree.account_count(),
        ..Figures::default()
    };
    let before_2000 = tree.account_count() == 2001;
    let before = |s: &str| {
        if before_2000 {
            s.to_owned()
        } else {
            "–".to_owned()
        }
    };
    let org = MemOrg::new(tree.clone(), Duration::ZERO);
    // Up to ten top-level OUs, the biggest left out so that accounts and OUs remain outside.
    let biggest = tree.biggest_top_level_ou();
    let tops: Vec<String> = tree.children[&tree.root]
        .iter()
        .filter(|o| **o != biggest)
        .take(10)
        .cloned()
        .collect();
    let set = MemStackSet::new(STACK_SET, org.clone(), OP_TIME);
    let h = handler(&org, set, &tops);
    let mut n = 0;
    let mut next = || {
        n += 1;
        n
    };

    // Enrol the scope, then a scheduled run with nothing to change.
    let (_, s) = invoke(&h, &scheduled_event(), next()).await;
    assert!(s.failures.is_empty(), "{:?}", s.failures);
    let in_scope = expected(tree, &org, &tops);
    assert_eq!(
        h.stacksets.inner.enrolled(),
        in_scope,
        "the scope is enrolled"
    );
    let ((sched_org, sched_cfn), s) = invoke(&h, &scheduled_event(), next()).await;
    assert_eq!(s.outcome, Disposition::NoChange, "{}", s.reason);
    let full_read = sched_org;
    fig.full_read = full_read;
    let mut row = |what: &str, o: u32, c: u32, target: &str, before: String, ok: bool| {
        writeln!(
            rows,
            "| {label} | {what} | {o} | {c} | {target} | {before} | {} |",
            if ok { "met" } else { "MISSED" }
        )
        .unwrap();
    };
    row(
        &format!(
            "scheduled run, {} top-level OUs ({} accounts in scope), nothing to change",
            tops.len(),
            in_scope.len()
        ),
        sched_org,
        sched_cfn,
        "the full, level-triggered check",
        "–".into(),
        true,
    );

    // Events long after the last operation (no burst under way), on a fresh instance.
    h.stacksets.inner.backdate(Duration::from_secs(600));
    let h = handler(&org, into_set(h), &tops);
    let in_target = |a: &AccountId| {
        let l = org.lineage(&org.parent(a).expect("parent"));
        tops.iter().any(|t| l.contains(t))
    };
    let outside_ous: Vec<String> = tree
        .nodes
        .keys()
        .filter(|n| **n != tree.root && !tops.iter().any(|t| org.lineage(n).contains(t)))
        .cloned()
        .collect();
    let movable: Vec<(AccountId, String)> = tree
        .accounts
        .values()
        .flatten()
        .filter(|a| a.state == AccountState::Active && a.parent != tree.root && !in_target(&a.id))
        .map(|a| (a.id.clone(), a.parent.clone()))
        .collect();
    assert!(
        outside_ous.len() >= 2 && movable.len() > BURST_ACCOUNTS,
        "an organization to move accounts in"
    );

    // An account moved between two OUs outside the scope.
    let (account, from) = movable[0].clone();
    let to = outside_ous
        .iter()
        .find(|o| **o != from)
        .expect("another OU")
        .clone();
    org.move_account(&account, &to);
    let ((o, c), s) = invoke(&h, &move_event(next(), &account, &from, &to), next()).await;
    assert_eq!(s.outcome, Disposition::NotRelevant, "{}", s.reason);
    fig.outside = (o, c);
    row(
        "an account moved between two OUs outside the scope",
        o,
        c,
        "≤ 12 / ≤ 2",
        before("3 / 4"),
        o <= 12 && c <= 2,
    );

    // The same account moved into a target OU.
    let target = tops[0].clone();
    org.move_account(&account, &target);
    let ((o, c), s) = invoke(&h, &move_event(next(), &account, &to, &target), next()).await;
    assert_eq!(s.outcome, Disposition::Reconciled, "{}", s.reason);
    assert_eq!(s.accounts_added, vec![account.clone()]);
    fig.into_scope = (o, c);
    row(
        "an account moved from outside into a target OU",
        o,
        c,
        "≤ 40 / –",
        before("**305** / 27"),
        o <= 40,
    );

    // A burst: 200 moves in 10 s, in and out of the scope, each event put on the default bus
    // when its move is made; template.yaml's rules put it on OrgEventsQueue (in the emulator)
    // and the event source mapping's poller (e2e::esm) hands the queue over in the batches
    // AWS's pollers form with the template's settings (BatchSize, the 20 s batching window, at
    // most MaximumConcurrency batches at once), played at TIME_SCALE. The handler is a fresh
    // instance (it does not know what a full read costs); the two pollers' batches take turns
    // on it, as invocations of one instance do.
    h.stacksets.inner.backdate(Duration::from_secs(600));
    let h = Arc::new(handler(&org, into_set(h), &tops));
    let ops_before = changes(&h.stacksets.inner).len();
    let bed = TestBed::start().await;
    let queue = bed.org_events_queue().await;
    let window = queue.settings.batching_window;
    let done = Arc::new(AtomicBool::new(false));
    let burst: Vec<(AccountId, String)> = movable[1..=BURST_ACCOUNTS].to_vec();
    let mover = {
        let org = org.clone();
        let targets = tops.clone();
        let (queue, done) = (queue.clone(), done.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            for i in 0..BURST_EVENTS {
                // Account j goes round its places: the even ones through two target OUs
                // (home, a target, another target: after 10 moves, in the first target), the
                // odd ones in and out of one (after 10 moves, home again).
                let j = i % burst.len();
                let (a, home) = &burst[j];
                let first = targets[j % targets.len()].clone();
                let places = if j.is_multiple_of(2) {
                    vec![
                        home.clone(),
                        first,
                        targets[(j + 1) % targets.len()].clone(),
                    ]
                } else {
                    vec![home.clone(), first]
                };
                let here = org.parent(a).expect("parent");
                let at = places.iter().position(|p| *p == here).unwrap_or(0);
                let to = places[(at + 1) % places.len()].clone();
                org.move_account(a, &to);
                queue
                    .put_all(&[move_event(100_000 + i, a, &here, &to)])
                    .await;
                // On schedule, whatever the put took.
                let due = started + BURST_GAP.mul_f64(TIME_SCALE * (i + 1) as f64);
                tokio::time::sleep_until(due.into()).await;
            }
            done.store(true, Ordering::SeqCst);
            started.elapsed().div_f64(TIME_SCALE)
        })
    };
    let (before_calls, t0) = (calls(&h), Instant::now());
    let poller = queue
        .lambda_poller(
            &bed,
            Options {
                time_scale: TIME_SCALE,
                ..Options::default()
            },
        )
        .await;
    let report = {
        let (h, n, turn) = (
            h.clone(),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(tokio::sync::Mutex::new(())),
        );
        poller
            .run(done, move |delivery| {
                let (h, n, turn) = (h.clone(), n.clone(), turn.clone());
                async move {
                    let _turn = turn.lock().await;
                    let b = calls(&h);
                    let i = n.fetch_add(1, Ordering::SeqCst);
                    let s = h
                        .handle(&delivery, &invocation(200_000 + i))
                        .await
                        .map_err(|e| e.to_string())?;
                    Ok((s, calls(&h).0 - b.0))
                }
            })
            .await
    };
    let invocations = report.deliveries.len();
    let delivered: usize = report.deliveries.iter().map(|d| d.message_ids.len()).sum();
    let (mut failed, mut most) = (report.failed(), 0u32);
    let mut outcomes = std::collections::BTreeMap::<&str, usize>::new();
    let mut per_batch = Vec::new();
    for d in &report.deliveries {
        if let Ok((s, org_calls)) = &d.result {
            if !s.failures.is_empty() {
                failed += 1;
            }
            *outcomes.entry(s.outcome.as_str()).or_default() += 1;
            most = most.max(*org_calls);
            per_batch.push(s.operations.len());
        }
    }
    let messages: Vec<usize> = report
        .deliveries
        .iter()
        .map(|d| d.message_ids.len())
        .collect();
    let h = Arc::try_unwrap(h)
        .ok()
        .expect("the poller is done with the handler");
    let twice: Vec<(String, Vec<u32>)> = report
        .deliveries_per_message()
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(id, _)| {
            let counts = report
                .deliveries
                .iter()
                .filter_map(|d| {
                    d.message_ids
                        .iter()
                        .position(|m| *m == id)
                        .map(|i| d.receive_counts[i])
                })
                .collect();
            (id, counts)
        })
        .collect();
    assert_eq!(
        delivered, BURST_EVENTS,
        "delivered more than once (receive counts): {twice:?}; visibility timeouts {}",
        report.visibility_timeouts
    );
    let burst_time = mover.await.expect("mover");
    let converged = t0.elapsed();
    let (o, c) = (calls(&h).0 - before_calls.0, calls(&h).1 - before_calls.1);
    let ops: Vec<String> = changes(&h.stacksets.inner)[ops_before..].to_vec();
    let want = expected(tree, &org, &tops);
    let right = h.stacksets.inner.enrolled() == want;
    fig.burst_operations = ops.len();
    fig.burst_failed = failed;
    fig.burst_org_calls = o;
    fig.burst_right = right;
    fig.burst_batches = invocations;
    fig.burst_operations_per_batch = per_batch.clone();
    fig.burst_most_org_calls = most;
    fig.burst_seconds = burst_time.as_secs_f64();
    fig.batching_window_seconds = window.as_secs_f64();
    row(
        &format!("a burst: {BURST_EVENTS} moves in {:.1} s over {BURST_ACCOUNTS} accounts, in and out of the scope, through the queue ({invocations} batch(es) of {messages:?} messages formed by the poller, {} s window, at most {} at once; StackSet operations per batch {per_batch:?}, {} in all; {failed} failed invocations; the most one invocation cost: {most} Organizations calls)", burst_time.as_secs_f64(), window.as_secs(), queue.settings.max_concurrency, ops.len()),
        o,
        c,
        &format!("≤ 2 operations per batch, 0 failed; ≤ one full read of the scope ({full_read}) per batch"),
        "–".into(),
        per_batch.iter().all(|n| *n <= 2)
            && failed == 0
            && most <= full_read
            && o <= invocations as u32 * full_read
            && right,
    );
    writeln!(
        notes,
        "- {label}: burst outcomes {outcomes:?}; operations {ops:?}; handled {:.1} s after the first move; the StackSet then {} the scope ({} accounts). Whole burst = {:.1} full reads of the scope.",
        converged.as_secs_f64(),
        if right { "held exactly" } else { "DID NOT hold" },
        want.len(),
        o as f64 / full_read as f64,
    )
    .unwrap();

    // A scheduled run with the root as the scope: the first enrols every account, the second
    // (shown) has nothing to change.
    let set = into_set(h);
    set.backdate(Duration::from_secs(600));
    let root = [tree.root.clone()];
    let h = handler(&org, set, &root);
    let (_, s) = invoke(&h, &scheduled_event(), next()).await;
    assert!(s.failures.is_empty(), "{:?}", s.failures);
    let ((o, c), s) = invoke(&h, &scheduled_event(), next()).await;
    assert_eq!(s.outcome, Disposition::NoChange, "{}", s.reason);
    let bound = tree.account_count().div_ceil(20) as u32 + 5;
    fig.root_run = o;
    row(
        &format!(
            "scheduled run, the root as the scope ({} accounts), nothing to change",
            h.stacksets.inner.instance_count()
        ),
        o,
        c,
        &format!("≤ {bound} / –"),
        before("**405** / 47"),
        o <= bound,
    );
    fig
}

fn into_set(h: MemHandler) -> MemStackSet {
    h.stacksets.inner
}
