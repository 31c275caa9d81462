use super::*;
use crate::core::expand::{Entry, Reason};
use crate::core::org::AccountState;
use crate::core::plan::Batch;
use crate::core::scope::AccountScope;

fn id(n: u64) -> AccountId {
    AccountId::parse(&format!("{n:012}")).unwrap()
}

fn entry(n: u64, reason: Reason) -> Entry {
    Entry {
        id: id(n),
        name: format!("acct-{n}"),
        ou_path: "Root/Prod".into(),
        state: AccountState::Active,
        reason,
        tags_matched: Vec::new(),
    }
}

fn expansion(included: &[u64], skipped: &[(u64, Reason)]) -> Expansion {
    Expansion {
        organization_id: "o-abc".into(),
        management_account_id: None,
        mode: AccountScope::All,
        included: included
            .iter()
            .map(|n| {
                entry(
                    *n,
                    Reason::UnderTarget {
                        target: "Root/Prod".into(),
                    },
                )
            })
            .collect(),
        skipped: skipped.iter().map(|(n, r)| entry(*n, r.clone())).collect(),
    }
}

fn set(ns: &[u64]) -> BTreeSet<AccountId> {
    ns.iter().map(|n| id(*n)).collect()
}

/// The entry's size as EventBridge's user guide counts it ("Calculating Amazon EventBridge
/// PutEvents event entry size"): the UTF-8 bytes of Source, DetailType and Detail, 14 bytes
/// for a Time and the bytes of each Resource (this function sends neither). Written out
/// here rather than taken from `ChangeEvent::entry_size`, the code under test.
fn size_as_aws_counts(e: &ChangeEvent) -> usize {
    // `str::len` is the UTF-8 byte count.
    e.source.len() + e.detail_type.len() + e.detail.len()
}

/// PutEvents' limit: the entry "must be less than 256KB" (EventBridge user guide,
/// "Calculating Amazon EventBridge PutEvents event entry size"): 256 x 1,024 bytes.
const AWS_ENTRY_LIMIT: usize = 262_144;
/// The design's budget: the limit less a 1,024-byte margin (`ENTRY_BUDGET`'s doc).
const DESIGN_BUDGET: usize = 262_144 - 1_024;

fn ctx() -> ChangeContext {
    ChangeContext {
        integration_identifier: "aws-v3-multi".into(),
        function: "org-events".into(),
        trigger: "account_moved".into(),
        event_id: Some("e-1".into()),
        stack_id: None,
        stack_set_name: "Port-Integration-v3".into(),
        operation_ids: vec!["orgscope-create-1".into()],
    }
}

#[test]
fn a_finished_create_enrolls_its_accounts_and_a_failed_one_is_a_failure_with_its_advice() {
    let acted = Acted {
        created: set(&[1, 2]),
        ..Acted::default()
    };
    let failed = BTreeMap::from([(id(2), "account 000000000002: a role exists".into())]);
    let c = ScopeChange::of_pass(
        &expansion(&[1, 2], &[]),
        &ReconcilePlan::default(),
        &acted,
        &failed,
        None,
    );
    assert_eq!(c.of_kind(ChangeKind::Enrolled), vec![id(1)]);
    assert_eq!(c.of_kind(ChangeKind::Failed), vec![id(2)]);
    let first = c.accounts()[0];
    assert_eq!(first.change, ChangeKind::Failed, "failures come first");
    assert!(first.reason.contains("a role exists"));
    assert!(c.accounts()[1].reason.contains("under target Root/Prod"));
}

#[test]
fn a_delete_withdraws_and_a_drop_says_the_role_stays_in_the_unreachable_account() {
    let plan = ReconcilePlan {
        drop: vec![Batch {
            accounts: vec![id(4)],
            regions: vec!["us-east-1".into()],
            ous: vec![],
        }],
        ..ReconcilePlan::default()
    };
    let acted = Acted {
        deleted: set(&[3, 4]),
        ..Acted::default()
    };
    let c = ScopeChange::of_pass(
        &expansion(
            &[],
            &[
                (3, Reason::ExcludedByList),
                (
                    4,
                    Reason::NotActive {
                        state: AccountState::Suspended,
                    },
                ),
            ],
        ),
        &plan,
        &acted,
        &BTreeMap::new(),
        None,
    );
    assert_eq!(c.of_kind(ChangeKind::Withdrawn), vec![id(3), id(4)]);
    let by = |n| {
        c.accounts()
            .into_iter()
            .find(|a| a.account_id == id(n))
            .unwrap()
            .reason
            .clone()
    };
    assert!(by(3).contains("DIFFERENCE: excluded") && by(3).contains("deleted"));
    assert!(by(4).contains("SUSPENDED") && by(4).contains("RetainStacks"));
}

#[test]
fn a_role_permissions_rollout_counts_updated_and_failed_accounts_over_the_passs_change() {
    let a = |x: &str| AccountId::parse(x).unwrap();
    let results: BTreeSet<AccountId> = [a("111111111111"), a("222222222222")].into();
    let failed: BTreeMap<AccountId, String> = [(
        a("222222222222"),
        "account 222222222222: create the policy".to_string(),
    )]
    .into();
    let rollout = ScopeChange::role_permissions_rollout(&results, &failed, "PortRolePolicyArns");
    assert_eq!(rollout.of_kind(ChangeKind::Updated), [a("111111111111")]);
    assert_eq!(rollout.of_kind(ChangeKind::Failed), [a("222222222222")]);
    let c = rollout.counts();
    assert_eq!((c.updated, c.failed, c.total()), (1, 1, 2));
    assert_eq!(
        summary_line(&c),
        "2 account(s) changed: 1 failed, 1 updated"
    );
    // The pass said nothing of the account whose retry failed again: the rollout's word
    // stands once merged over it.
    let mut pass = ScopeChange::default();
    pass.merge(rollout);
    assert_eq!(pass.counts().failed, 1);
    // An event of an earlier version without `updated` still reads.
    let old: ChangeCounts =
        serde_json::from_str(r#"{"enrolled":1,"withdrawn":0,"failed":0,"repaired":0}"#).unwrap();
    assert_eq!(old.updated, 0);
}

#[test]
fn a_retry_that_succeeds_or_a_drift_repair_is_repaired_but_a_retry_failing_again_is_no_change() {
    let plan = ReconcilePlan {
        retry: vec![id(5), id(6)],
        repair: vec![id(7), id(8)],
        ..ReconcilePlan::default()
    };
    let acted = Acted {
        updated: set(&[5, 6, 7, 8]),
        ..Acted::default()
    };
    let failed = BTreeMap::from([(id(6), "still fails".into()), (id(8), "broke".into())]);
    let c = ScopeChange::of_pass(&expansion(&[5, 6, 7, 8], &[]), &plan, &acted, &failed, None);
    assert_eq!(c.of_kind(ChangeKind::Repaired), vec![id(5), id(7)]);
    assert_eq!(
        c.of_kind(ChangeKind::Failed),
        vec![id(8)],
        "a drifted account that failed its repair lost the role; account 6 was failed already"
    );
    assert_eq!(c.counts().total(), 3);
}

#[test]
fn a_pass_that_acted_on_nothing_changes_nothing_and_puts_no_event() {
    let failed = BTreeMap::from([(id(9), "failed long ago".into())]);
    let c = ScopeChange::of_pass(
        &expansion(&[9], &[]),
        &ReconcilePlan::default(),
        &Acted::default(),
        &failed,
        None,
    );
    assert!(c.is_empty());
    assert_eq!(change_event(&c, &ctx()), None);
}

#[test]
fn merging_keeps_the_newest_word_on_each_account() {
    let mut first = ScopeChange::of_pass(
        &expansion(&[1], &[]),
        &ReconcilePlan::default(),
        &Acted {
            created: set(&[1]),
            ..Acted::default()
        },
        &BTreeMap::new(),
        None,
    );
    let later = ScopeChange::of_pass(
        &expansion(&[], &[(1, Reason::ExcludedByList)]),
        &ReconcilePlan::default(),
        &Acted {
            deleted: set(&[1]),
            ..Acted::default()
        },
        &BTreeMap::new(),
        None,
    );
    first.merge(later);
    assert_eq!(first.of_kind(ChangeKind::Withdrawn), vec![id(1)]);
    assert_eq!(first.counts().total(), 1);
}

#[test]
fn the_event_carries_source_detail_type_context_counts_and_accounts() {
    let c = ScopeChange::of_pass(
        &expansion(&[1], &[]),
        &ReconcilePlan::default(),
        &Acted {
            created: set(&[1]),
            ..Acted::default()
        },
        &BTreeMap::new(),
        None,
    );
    let e = change_event(&c, &ctx()).unwrap();
    assert_eq!(
        (e.source.as_str(), e.detail_type.as_str()),
        (SOURCE, DETAIL_TYPE)
    );
    let d: ChangeDetail = serde_json::from_str(&e.detail).unwrap();
    assert_eq!(d.schema_version, 1);
    assert_eq!(d.trigger, "account_moved");
    assert_eq!(d.event_id.as_deref(), Some("e-1"));
    assert_eq!(d.operation_ids, vec!["orgscope-create-1".to_owned()]);
    assert_eq!(d.counts.enrolled, 1);
    assert_eq!(d.summary, "1 account(s) changed: 1 enrolled");
    assert_eq!(d.accounts.len(), 1);
    assert!(!d.accounts_truncated);
    assert_eq!(d.accounts_omitted, 0);
}

#[test]
fn ten_thousand_enrolled_accounts_fit_eventbridge_s_entry_limit_with_counts_and_a_truncated_flag() {
    let n = 10_000u64;
    let all: Vec<u64> = (1..=n).collect();
    let c = ScopeChange::of_pass(
        &expansion(&all, &[]),
        &ReconcilePlan::default(),
        &Acted {
            created: set(&all),
            ..Acted::default()
        },
        &BTreeMap::new(),
        None,
    );
    let e = change_event(&c, &ctx()).unwrap();
    assert!(
        size_as_aws_counts(&e) < AWS_ENTRY_LIMIT,
        "entry of {} bytes",
        size_as_aws_counts(&e)
    );
    let d: ChangeDetail = serde_json::from_str(&e.detail).unwrap();
    assert_eq!(d.counts.enrolled, 10_000, "the counts cover every account");
    assert!(d.accounts_truncated);
    assert!(
        d.accounts.len() > 100,
        "as many as fit: {}",
        d.accounts.len()
    );
    assert_eq!(d.accounts.len() + d.accounts_omitted, 10_000);
    println!(
        "10,000 enrolled: entry {} bytes, {} accounts listed, {} omitted",
        e.entry_size(),
        d.accounts.len(),
        d.accounts_omitted
    );
}

#[test]
fn long_failure_reasons_are_cut_and_failures_are_listed_before_the_rest_when_truncated() {
    let n = 3_000u64;
    let all: Vec<u64> = (1..=n).collect();
    let failed: BTreeMap<AccountId, String> =
        (2_001..=n).map(|k| (id(k), "x".repeat(2_000))).collect();
    let c = ScopeChange::of_pass(
        &expansion(&all, &[]),
        &ReconcilePlan::default(),
        &Acted {
            created: set(&all),
            ..Acted::default()
        },
        &failed,
        None,
    );
    let e = change_event(&c, &ctx()).unwrap();
    assert!(size_as_aws_counts(&e) <= DESIGN_BUDGET);
    let d: ChangeDetail = serde_json::from_str(&e.detail).unwrap();
    assert!(d.accounts_truncated);
    assert!(d.accounts.iter().all(|a| a.change == ChangeKind::Failed));
    assert!(d
        .accounts
        .iter()
        .all(|a| a.reason.chars().count() <= MAX_REASON_CHARS));
    assert_eq!((d.counts.failed, d.counts.enrolled), (1_000, 2_000));
}

#[test]
fn a_small_change_is_never_truncated() {
    let c = ScopeChange::of_pass(
        &expansion(&[1, 2, 3], &[]),
        &ReconcilePlan::default(),
        &Acted {
            created: set(&[1, 2, 3]),
            ..Acted::default()
        },
        &BTreeMap::new(),
        None,
    );
    let d: ChangeDetail = serde_json::from_str(&change_event(&c, &ctx()).unwrap().detail).unwrap();
    assert_eq!(d.accounts.len(), 3);
    assert!(!d.accounts_truncated);
}
