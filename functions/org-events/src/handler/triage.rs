//! Whether a batch's events can touch the scope, cheaply: an event a converged reconcile of
//! this instance already read past costs nothing (`covered`); the others are checked once per
//! distinct account (`look`, `relevance`, `walk_up`), unless one full read of the scope costs
//! less (`whole_read_is_cheaper`).

use std::collections::BTreeSet;

use shared::core::{AccountId, Filtered, Scope};
use shared::ports::{AwsError, OrganizationsApi, StackSetApi};

use super::memo::Memo;
use super::summary::first_few;
use super::{COVER_MARGIN_SECS, MAX_DEPTH, TARGETED_CALLS_PER_ACCOUNT, TARGETED_MAX_ACCOUNTS};
use crate::time::format_rfc3339;
use crate::trigger::{Classified, Trigger};

/// Whether to look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Decision {
    Reconcile(String),
    Skip(String),
}

/// What a batch's events make the run read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Target {
    /// The whole scope.
    Whole,
    /// These accounts only.
    Accounts(Vec<AccountId>),
}

/// The cheap check of a batch's events against the scope, borrowing only what it reads: the
/// Organizations client (for `ListParents`), the StackSet client (for one account's
/// instances), the scope and what this warm instance remembers.
pub(super) struct Triage<'a, O, S> {
    pub org: &'a O,
    pub stacksets: &'a S,
    pub scope: &'a Scope,
    pub stack_set: &'a str,
    pub memo: &'a Memo,
}

impl<O: OrganizationsApi, S: StackSetApi> Triage<'_, O, S> {
    /// The cheap check of a batch's events, once per distinct account: `Ok` with what to read
    /// (the accounts that can touch the scope, or the whole scope), `Err` with why none can.
    /// An event that names no account (a membership event without one, a target OU deleted)
    /// takes the whole scope; so does a batch about more accounts than a full read costs.
    pub(super) async fn look(&self, events: &[&Classified]) -> Result<(Target, String), String> {
        let accounts = named_in(events.iter().copied());
        if self.whole_read_is_cheaper(accounts.len()) {
            return Ok((
                Target::Whole,
                format!(
                    "{} events name {} accounts: one full read of the scope costs less than \
                     reading them one by one",
                    events.len(),
                    accounts.len()
                ),
            ));
        }
        let mut seen = BTreeSet::new();
        let (mut touch, mut skipped, mut reasons) = (BTreeSet::new(), Vec::new(), Vec::new());
        for e in events {
            // Once per account; a departure is checked apart (it looks at the instances only,
            // and the same account may have joined again within the batch).
            if let Some(a) = e.trigger.account() {
                let left = matches!(e.trigger, Trigger::AccountLeft { .. });
                if !seen.insert((a.clone(), left)) {
                    continue;
                }
            }
            let decision = match self.relevance(&e.trigger).await {
                Ok(d) => d,
                Err(err) => {
                    tracing::warn!(error = %err, "relevance check failed; reconciling anyway");
                    Decision::Reconcile(format!(
                        "the check of a {} event failed ({err}): looking anyway",
                        e.trigger.kind()
                    ))
                }
            };
            match (decision, e.trigger.account()) {
                (Decision::Skip(why), _) => skipped.push(why),
                (Decision::Reconcile(why), Some(a)) => {
                    touch.insert(a.clone());
                    reasons.push(why);
                }
                (Decision::Reconcile(why), None) => return Ok((Target::Whole, why)),
            }
        }
        if touch.is_empty() {
            return Err(match skipped.as_slice() {
                [one] => one.clone(),
                many => format!(
                    "none of the {} events can touch the scope ({} checked): {}",
                    events.len(),
                    many.len(),
                    first_few(many)
                ),
            });
        }
        Ok((
            Target::Accounts(touch.into_iter().collect()),
            first_few(&reasons),
        ))
    }

    /// Whether one full read (and one after the change) costs fewer Organizations calls than
    /// reading `accounts` one by one (twice).
    fn whole_read_is_cheaper(&self, accounts: usize) -> bool {
        if accounts <= 1 {
            return false;
        }
        let known = self.memo.full_read_calls();
        match known {
            Some(full) => 1 + accounts * TARGETED_CALLS_PER_ACCOUNT > full as usize,
            None => accounts > TARGETED_MAX_ACCOUNTS,
        }
    }

    pub(super) fn covered(&self, c: &Classified) -> Option<String> {
        let at = c.event_time?;
        let read = self.memo.converged_read_at()?;
        (at + COVER_MARGIN_SECS <= read).then(|| {
            format!(
                "already covered: a reconcile that read the organization at {} (after this \
                 change at {}) brought the StackSet in line",
                format_rfc3339(read),
                format_rfc3339(at)
            )
        })
    }

    /// The cheap check: can this event change which accounts should have an instance, or
    /// which instances should exist? One `ListStackInstances` for the event's account and a
    /// few `ListParents`.
    async fn relevance(&self, t: &Trigger) -> Result<Decision, AwsError> {
        let scope = self.scope;
        let is_target = |id: &str| scope.targets.iter().any(|x| x.as_str() == id);
        match t {
            Trigger::Schedule => Ok(Decision::Reconcile("scheduled".into())),
            Trigger::MembershipChanged { via } => Ok(Decision::Reconcile(format!(
                "{via} names no account this code can read: the whole scope is checked"
            ))),
            Trigger::Ignored { why } => Ok(Decision::Skip(why.clone())),
            Trigger::OuChanged {
                ou, created: true, ..
            } => Ok(Decision::Skip(format!(
                "OU {} was created; a new OU is empty, and accounts moved into it send their \
                 own events",
                ou.as_deref().unwrap_or("(unknown)")
            ))),
            Trigger::OuChanged {
                ou, created: false, ..
            } => match ou.as_deref() {
                Some(o) if is_target(o) => {
                    Ok(Decision::Reconcile(format!("target OU {o} was deleted")))
                }
                _ => Ok(Decision::Skip(
                    "a deleted OU is empty and is not a target: no account moved".into(),
                )),
            },
            Trigger::AccountMoved { account, .. }
            | Trigger::AccountJoined { account, .. }
            | Trigger::AccountLeft { account, .. } => {
                // Only this account's instances: one call, whatever the StackSet's size.
                let instances = self
                    .stacksets
                    .instances_of(self.stack_set, std::slice::from_ref(account))
                    .await?;
                if instances.iter().any(|i| &i.account == account) {
                    return Ok(Decision::Reconcile(format!(
                        "account {account} has a stack instance"
                    )));
                }
                if let Trigger::AccountLeft { .. } = t {
                    return Ok(Decision::Skip(format!(
                        "account {account} left and has no stack instance: nothing to withdraw"
                    )));
                }
                // The account filter is the scope's own rule (`Scope::filter`), as in the
                // expansion: nothing re-decided here.
                match scope.filter(account) {
                    Filtered::NotListed => {
                        return Ok(Decision::Skip(format!(
                            "account {account} is not in TargetAccountIds (INTERSECTION) and \
                             has no stack instance"
                        )))
                    }
                    Filtered::ExcludedByList => {
                        return Ok(Decision::Skip(format!(
                            "account {account} is excluded by TargetAccountIds (DIFFERENCE) \
                             and has no stack instance"
                        )))
                    }
                    Filtered::Selected => {}
                }
                if let Some(root) = scope.targets.iter().find(|x| x.is_root()) {
                    return Ok(Decision::Reconcile(format!(
                        "the root {root} is a target: every account is under it"
                    )));
                }
                self.walk_up(account).await
            }
        }
    }

    /// Where the account is now: up the `ListParents` chain until a target or the root.
    async fn walk_up(&self, account: &AccountId) -> Result<Decision, AwsError> {
        let scope = self.scope;
        let mut node = match self.org.parent_of(account.as_str()).await {
            Ok(p) => p,
            Err(AwsError::NotFound { .. }) => {
                return Ok(Decision::Skip(format!(
                    "account {account} is not in the organization and has no stack instance"
                )))
            }
            Err(e) => return Err(e),
        };
        let first = node.id.clone();
        for _ in 0..MAX_DEPTH {
            if let Some(t) = scope.targets.iter().find(|t| t.as_str() == node.id) {
                return Ok(Decision::Reconcile(format!(
                    "account {account} is now under target {t}"
                )));
            }
            if node.is_root {
                return Ok(Decision::Skip(format!(
                    "account {account} is in {first}, outside every target OU, and has no \
                     stack instance"
                )));
            }
            node = self.org.parent_of(&node.id).await?;
        }
        Ok(Decision::Reconcile(format!(
            "account {account}: the OU chain is deeper than expected"
        )))
    }
}

/// The distinct accounts the events name.
pub(super) fn named_in<'a>(events: impl Iterator<Item = &'a Classified>) -> BTreeSet<AccountId> {
    events
        .filter_map(|e| e.trigger.account().cloned())
        .collect()
}

#[cfg(test)]
mod tests {
    //! `Triage` against an organization and a StackSet held in memory, counting the calls a
    //! check makes: what it decides, and what that costs.

    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicU32, Ordering};

    use shared::core::{
        Account, AccountState, DetailedStatus, DriftStatus, InstanceStatus, OrgNode, RawList,
        StackInstance,
    };
    use shared::ports::{
        AwsResult, OpKind, Operation, OperationResult, OrgInfo, Page, ParentRef, StackSetInfo,
        Targets,
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
                list_parents: AtomicU32::new(0),
            }
        }

        fn calls(&self) -> u32 {
            self.list_parents.load(Ordering::Relaxed)
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

    impl StackSetApi for StackSet {
        fn set_call_as(&self, _: shared::core::CallAs) {}
        async fn describe(&self, _: &str) -> AwsResult<StackSetInfo> {
            unimplemented!()
        }
        async fn instances(&self, _: &str) -> AwsResult<Vec<StackInstance>> {
            unimplemented!()
        }
        async fn instances_of(
            &self,
            _: &str,
            accounts: &[AccountId],
        ) -> AwsResult<Vec<StackInstance>> {
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
        async fn start(
            &self,
            _: &str,
            _: OpKind,
            _: &Targets,
            _: &[String],
            _: &str,
        ) -> AwsResult<String> {
            unimplemented!()
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
}
