//! The preview of a scope change, for review: which accounts would gain Port's role, which
//! would lose it, and which stay as they are, each with its reason.
//!
//! Pure. The diff is the reconcile plan's ([`super::plan::plan_reaching`]), never recomputed
//! here: an account gains the role when the plan creates its first stack instance, and loses
//! it when the plan deletes (or drops) the instances of an account the scope no longer wants.
//! The reason is the expansion's verdict ([`super::expand::Reason`]): which target OU and
//! which `AccountScope` rule put the account in or left it out.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::expand::{Entry, Expansion};
use super::ids::AccountId;
use super::plan::{ReconcilePlan, StackInstance};

/// What the change does to one account's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Port's role would be created in the account: it enters the scope.
    Gain,
    /// Port's role would be removed from the account (or, for an account StackSets can no
    /// longer reach, its instance dropped and the account no longer listed by Port).
    Loss,
    /// The change does not touch the account: it keeps the role, or stays without it.
    Unchanged,
}

/// One account of the preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewRow {
    pub account: AccountId,
    /// Empty when the account could not be looked up.
    pub name: String,
    /// `Root/Prod/EU (ou-...)`; empty when unknown.
    pub ou_path: String,
    pub effect: Effect,
    /// Whether the account has Port's role (a stack instance of the StackSet) after the
    /// change.
    pub has_role_after: bool,
    pub reason: String,
}

/// Every account the scope decides or the StackSet holds, by effect; each list sorted by
/// account name, then ID.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preview {
    pub gain: Vec<PreviewRow>,
    pub loss: Vec<PreviewRow>,
    pub unchanged: Vec<PreviewRow>,
}

impl Preview {
    /// True when some account would gain or lose the role.
    pub fn has_changes(&self) -> bool {
        !self.gain.is_empty() || !self.loss.is_empty()
    }
}

/// Where an account outside the expansion lives: `(name, path)`; a path of
/// [`NOT_IN_ORGANIZATION`] when the organization no longer holds it.
pub type Outside = BTreeMap<AccountId, (String, String)>;

/// The path [`Outside`] gives an account the organization no longer holds.
pub const NOT_IN_ORGANIZATION: &str = "not in this organization";

/// The preview of `plan`, the plan from `expansion` (desired) and `instances` (what the
/// StackSet has now). `outside` names the accounts with an instance that the expansion does
/// not hold (they are outside every target OU, or gone).
pub fn preview(
    expansion: &Expansion,
    plan: &ReconcilePlan,
    instances: &[StackInstance],
    outside: &Outside,
) -> Preview {
    let verdict: BTreeMap<&AccountId, &Entry> = expansion
        .included
        .iter()
        .chain(&expansion.skipped)
        .map(|e| (&e.id, e))
        .collect();
    let desired: BTreeSet<&AccountId> = expansion.included.iter().map(|e| &e.id).collect();
    let holding: BTreeSet<&AccountId> = instances.iter().map(|i| &i.account).collect();
    let accounts_of = |batches: &[super::plan::Batch]| -> BTreeSet<AccountId> {
        batches
            .iter()
            .flat_map(|b| b.accounts.iter().cloned())
            .collect()
    };
    let created = accounts_of(&plan.create);
    let deleted = accounts_of(&plan.delete);
    let dropped = accounts_of(&plan.drop);
    let retained: BTreeSet<&AccountId> = plan.retained.iter().collect();
    let held: BTreeMap<&AccountId, &str> = plan
        .held
        .iter()
        .map(|h| (&h.account, h.why.as_str()))
        .collect();

    let every: BTreeSet<&AccountId> = verdict.keys().copied().chain(holding.clone()).collect();
    let mut out = Preview::default();
    for a in every {
        let (name, ou_path) = match (verdict.get(a), outside.get(a)) {
            (Some(e), _) => (e.name.clone(), e.ou_path.clone()),
            (None, Some((n, p))) => (n.clone(), p.clone()),
            (None, None) => (String::new(), String::new()),
        };
        // Why the scope wants the account, or does not (where it is: the row's `ou_path`).
        let why = match verdict.get(a) {
            Some(e) => e.why(),
            None if ou_path == NOT_IN_ORGANIZATION => "no longer in the organization".to_owned(),
            None => "not under any target OU".to_owned(),
        };
        let has = holding.contains(a);
        let (effect, has_role_after, reason) = if desired.contains(a) {
            if created.contains(a) && !has {
                (Effect::Gain, true, format!("{why}: Port's role is created"))
            } else {
                let note = held
                    .get(a)
                    .map(|h| format!("; left alone now: {h}"))
                    .unwrap_or_default();
                (
                    Effect::Unchanged,
                    true,
                    format!("{why}: keeps Port's role{note}"),
                )
            }
        } else if dropped.contains(a) {
            (
                Effect::Loss,
                false,
                format!(
                    "{why}, and StackSets can no longer reach it (suspended, closed or gone): \
                     its instance is removed with RetainStacks; the role stays inside the \
                     account and Port stops listing it"
                ),
            )
        } else if deleted.contains(a) {
            (
                Effect::Loss,
                false,
                format!("{why}: Port's role is deleted"),
            )
        } else if retained.contains(a) {
            (
                Effect::Unchanged,
                true,
                format!("{why}: keeps Port's role (OnAccountLeavesScope is RETAIN)"),
            )
        } else if let Some(h) = held.get(a) {
            (
                Effect::Loss,
                false,
                format!("{why}: Port's role is deleted once this ends: {h}"),
            )
        } else {
            (Effect::Unchanged, false, why)
        };
        let row = PreviewRow {
            account: a.clone(),
            name,
            ou_path,
            effect,
            has_role_after,
            reason,
        };
        match effect {
            Effect::Gain => out.gain.push(row),
            Effect::Loss => out.loss.push(row),
            Effect::Unchanged => out.unchanged.push(row),
        }
    }
    for rows in [&mut out.gain, &mut out.loss, &mut out.unchanged] {
        rows.sort_by(|x, y| (&x.name, &x.account).cmp(&(&y.name, &y.account)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::expand::Reason;
    use crate::core::plan::{
        plan_reaching, Desired, DetailedStatus, DriftStatus, InstanceStatus, PlanPolicy,
    };
    use crate::core::scope::{AccountScope, LeavePolicy};
    use crate::core::AccountState;

    fn id(n: u64) -> AccountId {
        AccountId::parse(&format!("{n:012}")).unwrap()
    }

    fn entry(n: u64, reason: Reason) -> Entry {
        Entry {
            id: id(n),
            name: format!("acct-{n}"),
            ou_path: "Root/Prod (ou-ab12-aaaaaaaa)".into(),
            state: AccountState::Active,
            reason,
            tags_matched: Vec::new(),
        }
    }

    fn under() -> Reason {
        Reason::UnderTarget {
            target: "Root/Prod (ou-ab12-aaaaaaaa)".into(),
        }
    }

    fn inst(n: u64, detailed: DetailedStatus) -> StackInstance {
        StackInstance {
            account: id(n),
            region: "us-east-1".into(),
            status: InstanceStatus::Current,
            detailed,
            status_reason: None,
            drift: DriftStatus::NotChecked,
            ou: None,
        }
    }

    /// Accounts 1, 2 wanted (1 already has its instance), 3 excluded by the list (has one),
    /// 4 excluded (has none), 5 has one but is outside every target, 6 is gone.
    /// The preview of `exp` against `instances`, planned as the stack's Update plans.
    fn planned(
        exp: &Expansion,
        instances: &[StackInstance],
        policy: &PlanPolicy,
        unreachable: &BTreeSet<AccountId>,
        outside: &Outside,
    ) -> Preview {
        let desired = Desired {
            accounts: exp.account_ids(),
            regions: ["us-east-1".to_owned()].into(),
        };
        let plan = plan_reaching(&desired, instances, &BTreeMap::new(), policy, unreachable);
        preview(exp, &plan, instances, outside)
    }

    fn run(on_leave: LeavePolicy, unreachable: &[u64]) -> Preview {
        let exp = Expansion {
            organization_id: "o-x".into(),
            management_account_id: None,
            mode: AccountScope::Difference,
            included: vec![entry(1, under()), entry(2, under())],
            skipped: vec![
                entry(3, Reason::ExcludedByList),
                entry(4, Reason::ExcludedByList),
            ],
        };
        let instances: Vec<StackInstance> = [1, 3, 5, 6]
            .iter()
            .map(|n| inst(*n, DetailedStatus::Succeeded))
            .collect();
        let policy = PlanPolicy {
            on_leave,
            ..PlanPolicy::default()
        };
        let outside: Outside = [
            (
                id(5),
                (
                    "acct-5".to_owned(),
                    "Root/Staging (ou-ab12-bbbbbbbb)".to_owned(),
                ),
            ),
            (id(6), (String::new(), NOT_IN_ORGANIZATION.to_owned())),
        ]
        .into();
        let unreachable = unreachable.iter().map(|n| id(*n)).collect();
        planned(&exp, &instances, &policy, &unreachable, &outside)
    }

    fn ids(rows: &[PreviewRow]) -> Vec<AccountId> {
        rows.iter().map(|r| r.account.clone()).collect()
    }

    #[test]
    fn gain_loss_and_unchanged_come_from_the_plan_with_the_scope_rule_as_reason() {
        let p = run(LeavePolicy::Delete, &[6]);
        assert!(p.has_changes());
        assert_eq!(ids(&p.gain), vec![id(2)]);
        assert!(
            p.gain[0].reason.contains("under target Root/Prod"),
            "{:?}",
            p.gain[0]
        );
        // Sorted by name: "" (the gone account) first.
        assert_eq!(ids(&p.loss), vec![id(6), id(3), id(5)]);
        let loss = |n: u64| p.loss.iter().find(|r| r.account == id(n)).unwrap();
        assert!(loss(3)
            .reason
            .contains("DIFFERENCE: excluded by TargetAccountIds"));
        assert!(loss(3).reason.contains("role is deleted"));
        assert_eq!(
            loss(5).reason,
            "not under any target OU: Port's role is deleted"
        );
        assert_eq!(loss(5).ou_path, "Root/Staging (ou-ab12-bbbbbbbb)");
        assert!(loss(6).reason.contains("RetainStacks"), "{:?}", loss(6));
        assert!(loss(6).reason.contains("no longer in the organization"));
        assert_eq!(ids(&p.unchanged), vec![id(1), id(4)]);
        assert!(p.unchanged[0].has_role_after);
        assert!(!p.unchanged[1].has_role_after);
        assert_eq!(
            p.unchanged[1].reason,
            "DIFFERENCE: excluded by TargetAccountIds"
        );
    }

    #[test]
    fn under_retain_a_leaving_account_keeps_the_role_and_is_no_change() {
        let p = run(LeavePolicy::Retain, &[]);
        assert_eq!(ids(&p.gain), vec![id(2)]);
        assert!(p.loss.is_empty(), "{:?}", p.loss);
        let kept: Vec<&PreviewRow> = p.unchanged.iter().filter(|r| r.has_role_after).collect();
        assert_eq!(kept.len(), 4, "{kept:?}");
        assert!(kept
            .iter()
            .filter(|r| r.account != id(1))
            .all(|r| r.reason.contains("OnAccountLeavesScope is RETAIN")));
    }

    #[test]
    fn an_instance_an_operation_is_working_on_is_listed_with_that_reason() {
        let exp = Expansion {
            organization_id: "o-x".into(),
            management_account_id: None,
            mode: AccountScope::Difference,
            included: vec![entry(1, under())],
            skipped: vec![entry(2, Reason::ExcludedByList)],
        };
        let instances = vec![
            inst(1, DetailedStatus::Running),
            inst(2, DetailedStatus::Running),
        ];
        let p = planned(
            &exp,
            &instances,
            &PlanPolicy::default(),
            &BTreeSet::new(),
            &Outside::new(),
        );
        assert_eq!(ids(&p.loss), vec![id(2)]);
        assert!(
            p.loss[0].reason.ends_with(
                "deleted once this ends: an operation is still working on this instance"
            ),
            "{:?}",
            p.loss[0]
        );
        assert_eq!(ids(&p.unchanged), vec![id(1)]);
        assert!(p.gain.is_empty());
    }

    #[test]
    fn the_same_scope_as_the_stack_set_has_no_change() {
        let exp = Expansion {
            organization_id: "o-x".into(),
            management_account_id: None,
            mode: AccountScope::All,
            included: vec![entry(1, under())],
            skipped: vec![],
        };
        let instances = vec![inst(1, DetailedStatus::Succeeded)];
        let p = planned(
            &exp,
            &instances,
            &PlanPolicy::default(),
            &BTreeSet::new(),
            &Outside::new(),
        );
        assert!(!p.has_changes());
        assert_eq!(ids(&p.unchanged), vec![id(1)]);
    }
}
