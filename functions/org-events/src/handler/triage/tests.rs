//! `Triage` against an organization and a StackSet held in memory, counting the calls a
//! check makes: what it decides, and what that costs.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

use shared::core::{
    Account, AccountState, DetailedStatus, DriftStatus, InstanceStatus, OrgNode, RawList,
    StackInstance,
};
use shared::ports::{
    AwsResult, Operation, OperationResult, OrgInfo, Page, ParentRef, StackSetInfo, StackSetReader,
};

use super::*;

const TARGET: &str = "ou-ab12-11111111";
const NESTED: &str = "ou-ab12-22222222";
const OUTSIDE: &str = "ou-ab12-33333333";
const ROOT: &str = "r-ab12";

/// `ListParents` from a map (child → parent); a child it does not hold is not found.
#[derive(Default)]
struct Org {
    parents: BTreeMap<String, ParentRef>,
    list_parents: AtomicU32,
    /// `ListTagsForResource` by account; an account without an entry has no tags.
    tags: BTreeMap<String, shared::core::Tags>,
    list_tags: AtomicU32,
}

impl Org {
    /// The root holds TARGET and OUTSIDE; TARGET holds NESTED; `accounts` are placed.
    fn with(accounts: &[(&str, &str)]) -> Self {
        let mut parents = BTreeMap::new();
        let mut put = |child: &str, parent: &str| {
            let is_root = parent == ROOT;
            parents.insert(
                child.to_owned(),
                ParentRef {
                    id: parent.to_owned(),
                    is_root,
                },
            );
        };
        put(TARGET, ROOT);
        put(OUTSIDE, ROOT);
        put(NESTED, TARGET);
        for (account, parent) in accounts {
            put(account, parent);
        }
        Self {
            parents,
            ..Self::default()
        }
    }

    fn tagged(mut self, account: &str, tags: &[(&str, &str)]) -> Self {
        let t = tags
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.tags.insert(account.to_owned(), t);
        self
    }

    /// Every Organizations call made: `ListParents` and `ListTagsForResource`.
    fn calls(&self) -> u32 {
        self.list_parents.load(Ordering::Relaxed) + self.tag_calls()
    }

    fn tag_calls(&self) -> u32 {
        self.list_tags.load(Ordering::Relaxed)
    }
}

impl OrganizationsApi for Org {
    async fn describe_organization(&self) -> AwsResult<OrgInfo> {
        unimplemented!()
    }
    async fn list_ous_page(&self, _: &str, _: Option<String>) -> AwsResult<Page<OrgNode>> {
        unimplemented!()
    }
    async fn list_accounts_page(&self, _: &str, _: Option<String>) -> AwsResult<Page<Account>> {
        unimplemented!()
    }
    async fn list_all_accounts_page(&self, _: Option<String>) -> AwsResult<Page<Account>> {
        unimplemented!()
    }
    async fn parent_of(&self, child: &str) -> AwsResult<ParentRef> {
        self.list_parents.fetch_add(1, Ordering::Relaxed);
        self.parents
            .get(child)
            .cloned()
            .ok_or_else(|| AwsError::NotFound {
                what: child.to_owned(),
            })
    }
    async fn ou_name(&self, _: &str) -> AwsResult<String> {
        unimplemented!()
    }
    async fn describe_account(&self, _: &AccountId) -> AwsResult<(String, AccountState)> {
        unimplemented!()
    }
    async fn service_access_enabled(&self, _: &str) -> AwsResult<bool> {
        unimplemented!()
    }
    async fn roots(&self) -> AwsResult<Vec<OrgNode>> {
        unimplemented!()
    }
    async fn delegated_admins(&self, _: &str) -> AwsResult<Vec<AccountId>> {
        unimplemented!()
    }
    async fn tags_of(&self, account: &AccountId) -> AwsResult<shared::core::Tags> {
        self.list_tags.fetch_add(1, Ordering::Relaxed);
        if !self.parents.contains_key(account.as_str()) {
            // TargetNotFoundException (AWS Organizations API Reference, ListTagsForResource).
            return Err(AwsError::NotFound {
                what: account.as_str().to_owned(),
            });
        }
        Ok(self.tags.get(account.as_str()).cloned().unwrap_or_default())
    }
}

/// The StackSet's instances, for `ListStackInstances` filtered by account; `fail` makes
/// that call fail as a throttled one does.
#[derive(Default)]
struct StackSet {
    holding: Vec<AccountId>,
    fail: bool,
    list_instances: AtomicU32,
}

impl StackSet {
    fn holding(accounts: &[&str]) -> Self {
        Self {
            holding: accounts.iter().map(|a| id(a)).collect(),
            ..Self::default()
        }
    }

    fn calls(&self) -> u32 {
        self.list_instances.load(Ordering::Relaxed)
    }
}

impl StackSetReader for StackSet {
    fn set_call_as(&self, _: shared::core::CallAs) {}
    async fn describe(&self, _: &str) -> AwsResult<StackSetInfo> {
        unimplemented!()
    }
    async fn instances(&self, _: &str) -> AwsResult<Vec<StackInstance>> {
        unimplemented!()
    }
    async fn instances_of(&self, _: &str, accounts: &[AccountId]) -> AwsResult<Vec<StackInstance>> {
        self.list_instances.fetch_add(1, Ordering::Relaxed);
        if self.fail {
            return Err(AwsError::Throttled("Rate exceeded".into()));
        }
        Ok(self
            .holding
            .iter()
            .filter(|a| accounts.contains(a))
            .map(|a| StackInstance {
                account: a.clone(),
                region: "us-east-1".into(),
                status: InstanceStatus::Current,
                detailed: DetailedStatus::Succeeded,
                status_reason: None,
                drift: DriftStatus::InSync,
                ou: Some(TARGET.into()),
            })
            .collect())
    }
    async fn operation(&self, _: &str, _: &str) -> AwsResult<Operation> {
        unimplemented!()
    }
    async fn recent_operations(&self, _: &str, _: i32) -> AwsResult<Vec<Operation>> {
        unimplemented!()
    }
    async fn operation_results(&self, _: &str, _: &str) -> AwsResult<Vec<OperationResult>> {
        unimplemented!()
    }
}

fn id(a: &str) -> AccountId {
    AccountId::parse(a).unwrap()
}

fn scope(targets: &str, mode: &str, accounts: &str) -> Scope {
    Scope::parse(&RawList::from(targets), mode, &RawList::from(accounts)).unwrap()
}

fn event(trigger: Trigger) -> Classified {
    Classified {
        trigger,
        event_time: None,
        event_id: None,
    }
}

fn moved(account: &str, to: &str) -> Classified {
    event(Trigger::AccountMoved {
        account: id(account),
        from: OUTSIDE.into(),
        to: to.into(),
    })
}

fn left(account: &str) -> Classified {
    event(Trigger::AccountLeft {
        account: id(account),
        via: "RemoveAccountFromOrganization".into(),
    })
}

fn triage<'a>(
    org: &'a Org,
    stacksets: &'a StackSet,
    scope: &'a Scope,
    memo: &'a Memo,
) -> Triage<'a, Org, StackSet> {
    Triage {
        org,
        stacksets,
        scope,
        stack_set: "port-integration",
        memo,
    }
}

#[tokio::test]
async fn an_account_moved_under_a_target_ou_is_read_and_one_moved_outside_is_not() {
    let org = Org::with(&[("111111111111", NESTED), ("222222222222", OUTSIDE)]);
    let (ss, sc, memo) = (
        StackSet::default(),
        scope(TARGET, "ALL", ""),
        Memo::default(),
    );
    let t = triage(&org, &ss, &sc, &memo);

    let (target, why) = t.look(&[&moved("111111111111", NESTED)]).await.unwrap();
    assert_eq!(target, Target::Accounts(vec![id("111111111111")]));
    assert!(why.contains("is now under target"), "{why}");
    // The account's parent, then the nested OU's: the walk stops at the target.
    assert_eq!(org.calls(), 2);

    let why = t
        .look(&[&moved("222222222222", OUTSIDE)])
        .await
        .unwrap_err();
    assert!(why.contains("outside every target OU"), "{why}");
    assert_eq!(ss.calls(), 2, "one ListStackInstances per account");
}

#[tokio::test]
async fn an_account_with_an_instance_is_read_without_walking_the_organization() {
    let org = Org::with(&[("111111111111", OUTSIDE)]);
    let ss = StackSet::holding(&["111111111111"]);
    let (sc, memo) = (scope(TARGET, "ALL", ""), Memo::default());
    let t = triage(&org, &ss, &sc, &memo);
    for e in [moved("111111111111", OUTSIDE), left("111111111111")] {
        let (target, why) = t.look(&[&e]).await.unwrap();
        assert_eq!(target, Target::Accounts(vec![id("111111111111")]));
        assert!(why.contains("has a stack instance"), "{why}");
    }
    assert_eq!(org.calls(), 0);
}

#[tokio::test]
async fn a_departure_without_an_instance_withdraws_nothing() {
    let org = Org::with(&[]);
    let (ss, sc, memo) = (
        StackSet::default(),
        scope(TARGET, "ALL", ""),
        Memo::default(),
    );
    let why = triage(&org, &ss, &sc, &memo)
        .look(&[&left("111111111111")])
        .await
        .unwrap_err();
    assert!(why.contains("nothing to withdraw"), "{why}");
    assert_eq!((org.calls(), ss.calls()), (0, 1));
}

#[tokio::test]
async fn the_account_filter_and_a_root_target_decide_without_listparents() {
    let org = Org::with(&[("111111111111", NESTED), ("222222222222", OUTSIDE)]);
    let (ss, memo) = (StackSet::default(), Memo::default());
    let listed = scope(TARGET, "INTERSECTION", "333333333333");
    let why = triage(&org, &ss, &listed, &memo)
        .look(&[&moved("111111111111", NESTED)])
        .await
        .unwrap_err();
    assert!(
        why.contains("not in TargetAccountIds (INTERSECTION)"),
        "{why}"
    );
    let excluded = scope(TARGET, "DIFFERENCE", "111111111111");
    let why = triage(&org, &ss, &excluded, &memo)
        .look(&[&moved("111111111111", NESTED)])
        .await
        .unwrap_err();
    assert!(
        why.contains("excluded by TargetAccountIds (DIFFERENCE)"),
        "{why}"
    );
    let whole = scope(ROOT, "ALL", "");
    let (target, why) = triage(&org, &ss, &whole, &memo)
        .look(&[&moved("222222222222", OUTSIDE)])
        .await
        .unwrap();
    assert_eq!(target, Target::Accounts(vec![id("222222222222")]));
    assert!(why.contains("every account is under it"), "{why}");
    assert_eq!(org.calls(), 0);
}

#[tokio::test]
async fn an_account_no_longer_in_the_organization_is_skipped() {
    let org = Org::with(&[]);
    let (ss, sc, memo) = (
        StackSet::default(),
        scope(TARGET, "ALL", ""),
        Memo::default(),
    );
    let why = triage(&org, &ss, &sc, &memo)
        .look(&[&moved("111111111111", TARGET)])
        .await
        .unwrap_err();
    assert!(why.contains("is not in the organization"), "{why}");
}

#[tokio::test]
async fn an_account_named_by_many_events_is_checked_once() {
    let org = Org::with(&[("111111111111", TARGET)]);
    let (ss, sc, memo) = (
        StackSet::default(),
        scope(TARGET, "ALL", ""),
        Memo::default(),
    );
    let events: Vec<Classified> = (0..5).map(|_| moved("111111111111", TARGET)).collect();
    let refs: Vec<&Classified> = events.iter().collect();
    let (target, _) = triage(&org, &ss, &sc, &memo).look(&refs).await.unwrap();
    assert_eq!(target, Target::Accounts(vec![id("111111111111")]));
    assert_eq!((ss.calls(), org.calls()), (1, 1));
}

#[tokio::test]
async fn a_failed_check_looks_anyway() {
    let org = Org::with(&[("111111111111", OUTSIDE)]);
    let ss = StackSet {
        fail: true,
        ..StackSet::default()
    };
    let (sc, memo) = (scope(TARGET, "ALL", ""), Memo::default());
    let (target, why) = triage(&org, &ss, &sc, &memo)
        .look(&[&moved("111111111111", OUTSIDE)])
        .await
        .unwrap();
    assert_eq!(target, Target::Accounts(vec![id("111111111111")]));
    assert!(
        why.contains("failed") && why.contains("looking anyway"),
        "{why}"
    );
}

#[tokio::test]
async fn ou_events_a_new_ou_is_skipped_and_a_deleted_target_takes_the_whole_scope() {
    let org = Org::with(&[]);
    let (ss, sc, memo) = (
        StackSet::default(),
        scope(TARGET, "ALL", ""),
        Memo::default(),
    );
    let t = triage(&org, &ss, &sc, &memo);
    let ou = |ou: &str, created| {
        event(Trigger::OuChanged {
            ou: Some(ou.into()),
            parent: Some(ROOT.into()),
            created,
        })
    };
    let why = t.look(&[&ou(OUTSIDE, true)]).await.unwrap_err();
    assert!(why.contains("a new OU is empty"), "{why}");
    let why = t.look(&[&ou(OUTSIDE, false)]).await.unwrap_err();
    assert!(why.contains("is not a target"), "{why}");
    let (target, why) = t.look(&[&ou(TARGET, false)]).await.unwrap();
    assert_eq!(target, Target::Whole);
    assert!(why.contains("was deleted"), "{why}");
    let (target, _) = t
        .look(&[&event(Trigger::MembershipChanged {
            via: "AccountJoinedOrganization".into(),
        })])
        .await
        .unwrap();
    assert_eq!(target, Target::Whole);
    assert_eq!((org.calls(), ss.calls()), (0, 0));
}

#[tokio::test]
async fn many_accounts_take_one_full_read_once_it_is_known_to_cost_less() {
    let org = Org::with(&[]);
    let (ss, sc, memo) = (
        StackSet::default(),
        scope(TARGET, "ALL", ""),
        Memo::default(),
    );
    let batch = |n: usize| -> Vec<Classified> {
        (0..n)
            .map(|i| moved(&format!("{:012}", 100_000_000_000 + i), TARGET))
            .collect()
    };
    let t = triage(&org, &ss, &sc, &memo);
    // Unknown cost of a full read: past TARGETED_MAX_ACCOUNTS accounts.
    assert!(!t.whole_read_is_cheaper(TARGETED_MAX_ACCOUNTS));
    assert!(t.whole_read_is_cheaper(TARGETED_MAX_ACCOUNTS + 1));
    // Known: 1 + 3 per account against the full read's 10 calls.
    memo.remember_full_read(10);
    assert!(!t.whole_read_is_cheaper(1));
    assert!(!t.whole_read_is_cheaper(3));
    assert!(t.whole_read_is_cheaper(4));
    let events = batch(4);
    let refs: Vec<&Classified> = events.iter().collect();
    let (target, why) = t.look(&refs).await.unwrap();
    assert_eq!(target, Target::Whole);
    assert!(
        why.contains("one full read of the scope costs less"),
        "{why}"
    );
    assert_eq!((org.calls(), ss.calls()), (0, 0));
}

#[test]
fn an_event_is_covered_by_a_converged_read_that_started_after_it() {
    let org = Org::with(&[]);
    let (ss, sc, memo) = (
        StackSet::default(),
        scope(TARGET, "ALL", ""),
        Memo::default(),
    );
    let t = triage(&org, &ss, &sc, &memo);
    let at = |time: Option<f64>| Classified {
        event_time: time,
        ..moved("111111111111", TARGET)
    };
    assert_eq!(t.covered(&at(Some(1_000.0))), None, "no converged read yet");
    memo.remember(1_000.0 + COVER_MARGIN_SECS);
    let why = t.covered(&at(Some(1_000.0))).unwrap();
    assert!(why.starts_with("already covered"), "{why}");
    assert_eq!(t.covered(&at(Some(1_000.5))), None, "within the margin");
    assert_eq!(t.covered(&at(None)), None, "no event time");
}

fn tags_changed(account: &str) -> Classified {
    event(Trigger::AccountTagsChanged {
        account: id(account),
        via: "TagResource".into(),
    })
}

fn filtered(target: &str, excluded: &str) -> Scope {
    scope(TARGET, "ALL", "")
        .with_tag_parameters(target, excluded)
        .unwrap()
}

#[tokio::test]
async fn without_a_tag_filter_a_tag_change_costs_no_call_and_does_not_hide_a_move() {
    let org = Org::with(&[("111111111111", NESTED)]);
    let (ss, sc, memo) = (
        StackSet::holding(&["111111111111"]),
        scope(TARGET, "ALL", ""),
        Memo::default(),
    );
    let t = triage(&org, &ss, &sc, &memo);
    let why = t.look(&[&tags_changed("111111111111")]).await.unwrap_err();
    assert!(
        why.contains("no TargetAccountTags or ExcludedAccountTags is set"),
        "{why}"
    );
    assert_eq!((org.calls(), ss.calls()), (0, 0));
    // The same account's move in the same batch is still checked.
    let (target, _) = t
        .look(&[
            &tags_changed("111111111111"),
            &moved("111111111111", NESTED),
        ])
        .await
        .unwrap();
    assert_eq!(target, Target::Accounts(vec![id("111111111111")]));
}

#[tokio::test]
async fn with_a_tag_filter_a_tagged_account_under_a_target_is_read_only_if_its_tags_pass() {
    let org = Org::with(&[
        ("111111111111", NESTED),
        ("222222222222", TARGET),
        ("333333333333", TARGET),
        ("444444444444", OUTSIDE),
    ])
    .tagged("111111111111", &[("env", "prod")])
    .tagged("222222222222", &[("env", "dev")])
    .tagged("333333333333", &[("env", "prod"), ("port:exclude", "true")])
    .tagged("444444444444", &[("env", "prod")]);
    let (ss, memo) = (StackSet::default(), Memo::default());
    let sc = filtered("env=prod", "port:exclude=true");
    let t = triage(&org, &ss, &sc, &memo);

    let (target, why) = t.look(&[&tags_changed("111111111111")]).await.unwrap();
    assert_eq!(target, Target::Accounts(vec![id("111111111111")]));
    assert!(why.contains("its tags pass the tag filter"), "{why}");
    // Its ListParents, the nested OU's, then its tags.
    assert_eq!((org.calls(), org.tag_calls()), (3, 1));

    let why = t.look(&[&tags_changed("222222222222")]).await.unwrap_err();
    assert!(
        why.contains("does not meet TargetAccountTags term `env=prod`"),
        "{why}"
    );
    let why = t.look(&[&tags_changed("333333333333")]).await.unwrap_err();
    assert!(
        why.contains("matches ExcludedAccountTags term `port:exclude=true`"),
        "{why}"
    );
    // Outside every target: its tags are not read.
    let before = org.tag_calls();
    let why = t.look(&[&tags_changed("444444444444")]).await.unwrap_err();
    assert!(why.contains("outside every target OU"), "{why}");
    assert_eq!(org.tag_calls(), before);
    // A moved account is checked the same way: its tags keep it out.
    let why = t.look(&[&moved("222222222222", TARGET)]).await.unwrap_err();
    assert!(why.contains("does not meet TargetAccountTags"), "{why}");
}

#[tokio::test]
async fn with_a_tag_filter_an_enrolled_accounts_tag_change_is_read_without_walking() {
    // It may have lost the tag that kept it: the reconcile decides, from its tags now.
    let org = Org::with(&[("111111111111", TARGET)]).tagged("111111111111", &[("env", "dev")]);
    let ss = StackSet::holding(&["111111111111"]);
    let (sc, memo) = (filtered("env=prod", ""), Memo::default());
    let (target, why) = triage(&org, &ss, &sc, &memo)
        .look(&[&tags_changed("111111111111")])
        .await
        .unwrap();
    assert_eq!(target, Target::Accounts(vec![id("111111111111")]));
    assert!(why.contains("has a stack instance"), "{why}");
    assert_eq!((org.calls(), ss.calls()), (0, 1));
}
