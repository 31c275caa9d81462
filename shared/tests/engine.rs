//! The reconcile engine on the in-memory organization and StackSet: what a pass starts, what
//! it reports, and that a repeated or interrupted pass starts nothing twice.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use shared::core::{AccountId, AccountScope, PlanPolicy, Scope, TagFilter, TargetId};
use shared::engine::{Engine, EngineConfig, EngineError, Outcome, Report, Request};
use shared::ports::{OpKind, TokioClock};
use test_support::{small_tree, MemOrg, MemStackSet};

const PROD: &str = "ou-ab12-prod0001";
const DEV: &str = "ou-ab12-devv0002";
const SET: &str = "port-integration";

fn id(n: u64) -> AccountId {
    AccountId::parse(&format!("{}", 100_000_000_000 + n)).expect("account ID")
}

/// Prod holds accounts 1-3, Dev 4-6. Operations last `op_time`.
fn world(op_time: Duration) -> (MemOrg, MemStackSet) {
    let org = MemOrg::new(
        small_tree(&[("Prod", PROD), ("Dev", DEV)], 3),
        Duration::ZERO,
    );
    let set = MemStackSet::new(SET, org.clone(), op_time);
    (org, set)
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

struct Ask {
    scope: Scope,
    regions: BTreeSet<String>,
}

impl Ask {
    fn prod() -> Self {
        Self {
            scope: Scope {
                targets: [TargetId::parse(PROD).expect("OU")].into_iter().collect(),
                mode: AccountScope::All,
                accounts: BTreeSet::new(),
                tags: Default::default(),
            },
            regions: ["us-east-1".to_owned()].into_iter().collect(),
        }
    }

    /// Prod, narrowed by `TargetAccountTags` = `env=prod` and `ExcludedAccountTags` =
    /// `port:exclude=true`.
    fn prod_tagged() -> Self {
        let mut ask = Self::prod();
        ask.scope = ask
            .scope
            .with_tags(TagFilter::parse("env=prod", "port:exclude=true").expect("filter"));
        ask
    }

    fn request<'a>(&'a self, done_kinds: &'a [OpKind], deadline: Instant) -> Request<'a> {
        Request {
            scope: &self.scope,
            stack_set: SET,
            regions: &self.regions,
            policy: PlanPolicy::default(),
            seed: "seed",
            deadline,
            done_kinds,
            user_change: false,
            tag_reads: Default::default(),
        }
    }
}

fn far() -> Instant {
    Instant::now() + Duration::from_secs(600)
}

fn done(outcome: Outcome) -> Report {
    match outcome {
        Outcome::Done(report) => *report,
        Outcome::Pending { operation, .. } => panic!("still pending: {operation:?}"),
    }
}

#[tokio::test]
async fn a_pass_enrolls_the_scope_in_one_create_and_a_second_pass_starts_nothing() {
    let (org, set) = world(Duration::ZERO);
    let ask = Ask::prod();
    let report = done(
        engine(&org, &set)
            .reconcile(&ask.request(&[], far()))
            .await
            .expect("reconcile"),
    );
    assert!(report.succeeded(), "{:?}", report.failures);
    assert_eq!(report.operations.len(), 1);
    assert_eq!(report.operations[0].kind, OpKind::Create);
    assert!(report.operations[0].id.starts_with("orgscope-create-"));
    assert_eq!(set.enrolled(), [id(1), id(2), id(3)].into_iter().collect());
    assert_eq!(report.scope_change().counts().enrolled, 3);

    let again = done(
        engine(&org, &set)
            .reconcile(&ask.request(&[], far()))
            .await
            .expect("reconcile"),
    );
    assert!(again.succeeded());
    assert!(again.operations.is_empty());
    assert!(again.plan.is_noop());
    assert_eq!(set.operations().len(), 1, "no second operation");
}

#[tokio::test]
async fn an_account_moved_out_of_the_scope_loses_its_instance() {
    let (org, set) = world(Duration::ZERO);
    let ask = Ask::prod();
    engine(&org, &set)
        .reconcile(&ask.request(&[], far()))
        .await
        .expect("enroll");
    org.move_account(&id(2), DEV);
    let report = done(
        engine(&org, &set)
            .reconcile(&ask.request(&[], far()))
            .await
            .expect("reconcile"),
    );
    assert!(report.succeeded(), "{:?}", report.failures);
    let kinds: Vec<OpKind> = report.operations.iter().map(|o| o.kind).collect();
    assert_eq!(kinds, [OpKind::Delete]);
    assert_eq!(report.operations[0].accounts, [id(2)]);
    assert_eq!(set.enrolled(), [id(1), id(3)].into_iter().collect());
}

#[tokio::test]
async fn a_user_change_names_its_operations_orgscope_user() {
    let (org, set) = world(Duration::ZERO);
    let ask = Ask::prod();
    let req = Request {
        user_change: true,
        ..ask.request(&[], far())
    };
    let report = done(engine(&org, &set).reconcile(&req).await.expect("reconcile"));
    assert!(report.operations[0].id.starts_with("orgscope-user-create-"));
}

#[tokio::test]
async fn an_account_pass_reads_and_changes_only_its_accounts() {
    let (org, set) = world(Duration::ZERO);
    let ask = Ask::prod();
    let report = done(
        engine(&org, &set)
            .reconcile_accounts(&ask.request(&[], far()), &[id(1), id(4)])
            .await
            .expect("reconcile"),
    );
    assert!(report.succeeded(), "{:?}", report.failures);
    assert_eq!(
        set.enrolled(),
        [id(1)].into_iter().collect(),
        "Dev's 4 is out of scope"
    );
    assert_eq!(
        org.calls
            .list_accounts
            .load(std::sync::atomic::Ordering::Relaxed),
        0,
        "no OU is listed"
    );
}

#[tokio::test]
async fn an_operation_running_at_the_deadline_is_handed_back_and_never_started_twice() {
    let (org, set) = world(Duration::from_secs(3600));
    let ask = Ask::prod();
    let now = Instant::now();
    let first = engine(&org, &set)
        .reconcile(&ask.request(&[], now))
        .await
        .expect("reconcile");
    let Outcome::Pending {
        operation,
        done_kinds,
    } = first
    else {
        panic!("expected pending, got {first:?}")
    };
    assert_eq!(operation.kind, OpKind::Create);
    assert_eq!(done_kinds, [OpKind::Create]);
    let second = engine(&org, &set)
        .reconcile(&ask.request(&done_kinds, now))
        .await
        .expect("reconcile");
    let Outcome::Pending {
        operation: waited, ..
    } = second
    else {
        panic!("expected pending, got {second:?}")
    };
    assert_eq!(waited.id, operation.id, "waits on the same operation");
    assert_eq!(set.operations().len(), 1, "one operation started in all");
}

#[tokio::test]
async fn remove_all_deletes_every_instance() {
    let (org, set) = world(Duration::ZERO);
    let ask = Ask::prod();
    engine(&org, &set)
        .reconcile(&ask.request(&[], far()))
        .await
        .expect("enroll");
    let report = done(
        engine(&org, &set)
            .remove_all(SET, &[], "seed", far())
            .await
            .expect("remove"),
    );
    assert!(report.succeeded(), "{:?}", report.failures);
    assert!(set.enrolled().is_empty());
    let kinds: Vec<OpKind> = report.operations.iter().map(|o| o.kind).collect();
    assert_eq!(kinds, [OpKind::Delete]);
    assert_eq!(report.removal_change().counts().withdrawn, 3);
}

#[tokio::test]
async fn a_stack_set_of_another_name_is_reported_missing_by_name() {
    let (org, set) = world(Duration::ZERO);
    let err = engine(&org, &set)
        .check_stack_set("other-set")
        .await
        .expect_err("missing");
    assert_eq!(
        err,
        EngineError::StackSetMissing {
            name: "other-set".into()
        }
    );
    assert!(engine(&org, &set).check_stack_set(SET).await.is_ok());
}

#[tokio::test]
async fn drift_detection_started_twice_with_one_seed_is_one_operation() {
    let (org, set) = world(Duration::ZERO);
    let e = engine(&org, &set);
    let first = e.start_drift_detection(SET, "run-1").await.expect("start");
    let again = e.start_drift_detection(SET, "run-1").await.expect("start");
    assert_eq!(first, again);
    assert!(first.is_some_and(|id| id.starts_with("orgscope-drift-")));
    assert_eq!(set.operations(), [("DETECT_DRIFT".to_owned(), 0)]);
}

#[tokio::test]
async fn a_tag_filter_enrolls_the_tagged_accounts_only_and_an_excluded_tag_withdraws_one() {
    let (org, set) = world(Duration::ZERO);
    org.set_tags(&id(1), &[("env", "prod")]);
    org.set_tags(&id(2), &[("env", "prod"), ("team", "payments")]);
    org.set_tags(&id(3), &[("env", "dev")]);
    let ask = Ask::prod_tagged();
    let report = done(
        engine(&org, &set)
            .reconcile(&ask.request(&[], far()))
            .await
            .expect("reconcile"),
    );
    assert!(report.succeeded(), "{:?}", report.failures);
    assert_eq!(set.enrolled(), [id(1), id(2)].into_iter().collect());
    assert_eq!(
        org.tag_calls(),
        3,
        "one ListTagsForResource per Prod account"
    );

    org.set_tags(&id(2), &[("env", "prod"), ("port:exclude", "true")]);
    let report = done(
        engine(&org, &set)
            .reconcile(&ask.request(&[], far()))
            .await
            .expect("reconcile"),
    );
    assert!(report.succeeded(), "{:?}", report.failures);
    let kinds: Vec<OpKind> = report.operations.iter().map(|o| o.kind).collect();
    assert_eq!(kinds, [OpKind::Delete]);
    assert_eq!(report.operations[0].accounts, [id(2)]);
    assert_eq!(set.enrolled(), [id(1)].into_iter().collect());
}

#[tokio::test]
async fn an_account_pass_with_a_tag_filter_reads_the_tags_of_its_accounts_under_the_targets_only() {
    let (org, set) = world(Duration::ZERO);
    org.set_tags(&id(1), &[("env", "prod")]);
    org.set_tags(&id(4), &[("env", "prod")]);
    let ask = Ask::prod_tagged();
    let report = done(
        engine(&org, &set)
            .reconcile_accounts(&ask.request(&[], far()), &[id(1), id(4)])
            .await
            .expect("reconcile"),
    );
    assert!(report.succeeded(), "{:?}", report.failures);
    assert_eq!(set.enrolled(), [id(1)].into_iter().collect());
    assert_eq!(
        org.tag_calls(),
        1,
        "4 is in Dev, outside the target: not read"
    );
}

#[tokio::test]
async fn without_a_tag_filter_a_pass_reads_no_tags() {
    let (org, set) = world(Duration::ZERO);
    org.set_tags(&id(1), &[("port:exclude", "true")]);
    let ask = Ask::prod();
    done(
        engine(&org, &set)
            .reconcile(&ask.request(&[], far()))
            .await
            .expect("reconcile"),
    );
    engine(&org, &set)
        .reconcile_accounts(&ask.request(&[], far()), &[id(1), id(4)])
        .await
        .expect("reconcile");
    assert_eq!(org.tag_calls(), 0);
    assert_eq!(set.enrolled(), [id(1), id(2), id(3)].into_iter().collect());
}
