//! Tag reads in slices, on the in-memory organization and StackSet: a whole-scope pass with
//! a budget reads one slice of the candidates' tags; the others are undecided and keep what
//! the StackSet has; consecutive runs read every slice once; one account's pass reads its
//! tags only. Counts of calls, no timings.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use shared::core::{
    AccountId, AccountScope, PlanPolicy, Reason, Scope, TagFilter, TagReads, TagSlice, TargetId,
};
use shared::engine::{Engine, EngineConfig, Outcome, Report, Request};
use shared::metrics::ReconcileFigures;
use shared::ports::TokioClock;
use test_support::{small_tree, MemOrg, MemStackSet};

const PROD: &str = "ou-ab12-prod0001";
const DEV: &str = "ou-ab12-devv0002";
const SET: &str = "port-integration";
/// Accounts in Prod (the target): the candidates.
const N: u64 = 30;
/// Tag reads per run: 30 candidates in 3 slices of 10.
const BUDGET: u32 = 10;

fn id(n: u64) -> AccountId {
    AccountId::parse(&format!("{}", 100_000_000_000 + n)).expect("account ID")
}

/// Prod holds accounts 1-30, Dev 31-60; accounts with an even number are tagged env=prod.
fn world() -> (MemOrg, MemStackSet) {
    let org = MemOrg::new(
        small_tree(&[("Prod", PROD), ("Dev", DEV)], N as usize),
        Duration::ZERO,
    );
    for n in 1..=2 * N {
        if n % 2 == 0 {
            org.set_tags(&id(n), &[("env", "prod")]);
        }
    }
    let set = MemStackSet::new(SET, org.clone(), Duration::ZERO);
    (org, set)
}

fn tagged() -> BTreeSet<AccountId> {
    (1..=N).filter(|n| n % 2 == 0).map(id).collect()
}

fn scope() -> Scope {
    Scope {
        targets: [TargetId::parse(PROD).expect("OU")].into_iter().collect(),
        mode: AccountScope::All,
        accounts: BTreeSet::new(),
        tags: Default::default(),
    }
    .with_tags(TagFilter::parse("env=prod", "").expect("filter"))
}

fn engine<'a>(
    org: &'a MemOrg,
    set: &'a MemStackSet,
) -> Engine<'a, MemOrg, MemStackSet, TokioClock> {
    Engine {
        org,
        stacksets: set,
        clock: &TokioClock,
        config: EngineConfig {
            poll_initial: Duration::from_millis(1),
            poll_max: Duration::from_millis(1),
            ..EngineConfig::default()
        },
    }
}

async fn pass(
    org: &MemOrg,
    set: &MemStackSet,
    tag_reads: TagReads,
    only: Option<&[AccountId]>,
) -> Report {
    let scope = scope();
    let regions = ["us-east-1".to_owned()].into_iter().collect();
    let req = Request {
        scope: &scope,
        stack_set: SET,
        regions: &regions,
        policy: PlanPolicy::default(),
        seed: "seed",
        deadline: Instant::now() + Duration::from_secs(600),
        done_kinds: &[],
        user_change: false,
        tag_reads,
    };
    let e = engine(org, set);
    let outcome = match only {
        None => e.reconcile(&req).await,
        Some(a) => e.reconcile_accounts(&req, a).await,
    };
    match outcome.expect("reconcile") {
        Outcome::Done(r) => *r,
        Outcome::Pending { operation, .. } => panic!("still pending: {operation:?}"),
    }
}

/// The scheduled sweep's `tick`th run.
fn sweep(tick: u64) -> TagReads {
    TagReads::Sweep {
        budget: BUDGET,
        tick,
    }
}

#[tokio::test]
async fn a_sweep_reads_at_most_the_budget_per_run_and_every_candidate_once_in_of_runs() {
    let (org, set) = world();
    let mut slices = Vec::new();
    for tick in 0..3 {
        let before = org.tag_calls();
        let report = pass(&org, &set, sweep(tick), None).await;
        assert!(report.succeeded(), "{:?}", report.failures);
        let read = org.tag_calls() - before;
        assert!(read <= BUDGET, "run {tick} read {read} accounts' tags");
        assert_eq!(report.read_stats.list_tags, read);
        slices.push(report.tag_slice);
    }
    assert_eq!(
        slices.iter().map(|s| (s.index, s.of)).collect::<Vec<_>>(),
        [(0, 3), (1, 3), (2, 3)]
    );
    for n in 1..=N {
        assert_eq!(org.tag_calls_of(&id(n)), 1, "account {n}");
    }
    for n in N + 1..=2 * N {
        assert_eq!(
            org.tag_calls_of(&id(n)),
            0,
            "Dev account {n}: outside the target"
        );
    }
    assert_eq!(set.enrolled(), tagged(), "3 runs decided every candidate");
}

#[tokio::test]
async fn undecided_accounts_are_neither_created_nor_deleted() {
    let (org, set) = world();
    let first = pass(&org, &set, TagReads::All, None).await;
    assert!(first.succeeded());
    assert_eq!(set.enrolled(), tagged());
    // Every tag flips: the tagged ones should leave, the others enter.
    for n in 1..=N {
        let tags: &[(&str, &str)] = if n % 2 == 0 {
            &[("env", "dev")]
        } else {
            &[("env", "prod")]
        };
        org.set_tags(&id(n), tags);
    }
    let slice = TagSlice { index: 0, of: 3 };
    let report = pass(&org, &set, TagReads::Slice(slice), None).await;
    assert!(report.succeeded(), "{:?}", report.failures);
    let (read, unread): (Vec<u64>, Vec<u64>) = (1..=N).partition(|n| slice.covers(&id(*n)));
    assert_eq!(read.len(), 10);
    let touched: BTreeSet<AccountId> = report
        .operations
        .iter()
        .flat_map(|o| o.accounts.iter().cloned())
        .collect();
    for n in &unread {
        assert!(!touched.contains(&id(*n)), "undecided {n} was touched");
        assert_eq!(
            set.enrolled().contains(&id(*n)),
            n % 2 == 0,
            "undecided {n} keeps what the StackSet had"
        );
        assert!(report
            .expansion
            .skipped
            .iter()
            .any(|e| e.id == id(*n) && matches!(e.reason, Reason::Undecided { .. })));
    }
    for n in &read {
        assert_eq!(
            set.enrolled().contains(&id(*n)),
            n % 2 == 1,
            "slice account {n} decided by its new tags"
        );
    }
    let kept: BTreeSet<AccountId> = unread
        .iter()
        .filter(|n| *n % 2 == 0)
        .map(|n| id(*n))
        .collect();
    assert_eq!(
        report
            .kept_undecided
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>(),
        kept
    );
}

#[tokio::test]
async fn a_missed_tag_change_is_repaired_within_of_scheduled_runs() {
    let (org, set) = world();
    pass(&org, &set, TagReads::All, None).await;
    // The event for account 4's new exclusion was missed: only the sweep can see it.
    org.set_tags(&id(4), &[("env", "dev")]);
    let of = 3;
    let mut withdrawn_at = None;
    for tick in 100..100 + of {
        let report = pass(&org, &set, sweep(tick), None).await;
        // The in-scope gauge counts the undecided accounts the StackSet holds: it does not
        // drop to one slice's accounts on a sliced run.
        assert_eq!(
            ReconcileFigures::from_report(&report).in_scope,
            set.enrolled().len() as u64
        );
        let gone = !set.enrolled().contains(&id(4));
        if gone && withdrawn_at.is_none() {
            withdrawn_at = Some(tick);
            assert!(report.tag_slice.covers(&id(4)));
        }
        if !gone {
            assert!(!report.tag_slice.covers(&id(4)), "read but not withdrawn");
        }
    }
    assert!(withdrawn_at.is_some(), "not withdrawn within {of} runs");
    let mut want = tagged();
    want.remove(&id(4));
    assert_eq!(set.enrolled(), want);
}

#[tokio::test]
async fn an_event_for_one_account_reads_that_accounts_tags_only() {
    let (org, set) = world();
    let report = pass(&org, &set, sweep(0), Some(&[id(8)])).await;
    assert!(report.succeeded());
    assert_eq!(org.tag_calls(), 1);
    assert_eq!(org.tag_calls_of(&id(8)), 1);
    assert_eq!(set.enrolled(), [id(8)].into_iter().collect());
    assert!(
        report.read_stats.total() <= 10,
        "a one-account event costs at most 10 Organizations calls: {:?}",
        report.read_stats
    );
}

#[tokio::test]
async fn a_small_organization_reads_every_candidate_every_run() {
    let (org, set) = world();
    let report = pass(
        &org,
        &set,
        TagReads::Sweep {
            budget: N as u32,
            tick: 7,
        },
        None,
    )
    .await;
    assert_eq!(report.tag_slice, TagSlice::ALL);
    assert_eq!(org.tag_calls(), N as u32);
    assert!(report.kept_undecided.is_empty());
    assert_eq!(set.enrolled(), tagged());
}
