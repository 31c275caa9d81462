//! Verifying a pass: which accounts did not end as the scope wants and why (the operations'
//! per-account results), and how many failed attempts each account has had.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::core::{
    advise, is_execution_role_denied, AccountId, Desired, InstanceStatus, ReconcilePlan,
    StackInstance,
};
use crate::ports::{Clock, OrganizationsApi, StackSetApi};

use super::ops::{OP_PREFIX, USER_OP_PREFIX};
use super::{Engine, EngineError, OpRecord};

/// An account that did not end as the scope wants: a desired account whose instance is not
/// CURRENT, or an account that should have lost the role and whose instance remains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountFailure {
    pub account: AccountId,
    pub region: String,
    pub reason: String,
    pub advice: String,
}

/// How the reason of an account that should have lost the role begins.
const LOST_ROLE: &str = "should have lost Port's role";

impl AccountFailure {
    /// An account the scope wants that lacks Port's role only because its StackSets execution
    /// role is denied there (a service control policy, or its setup not finished:
    /// [`is_execution_role_denied`]): it is not ready yet, the scheduled run retries it without
    /// counting an attempt, and it gets the role once the deny lifts. Never an account that
    /// should have lost the role: a role left where the scope excludes it is no wait.
    pub fn awaits_account(&self) -> bool {
        !self.reason.starts_with(LOST_ROLE) && is_execution_role_denied(&self.reason)
    }

    fn new(account: &AccountId, region: &str, reason: String) -> Self {
        Self {
            account: account.clone(),
            region: region.to_owned(),
            advice: advise(account.as_str(), &reason),
            reason,
        }
    }
}

/// A reuse of existing OIDC providers AWS refused: its accounts, and AWS's answer.
pub(super) type Rejected = (Vec<AccountId>, String);

/// Adds AWS's refusal to reuse their OIDC provider to the advice of the accounts it concerns.
pub(super) fn note_rejected(failures: &mut [AccountFailure], rejected: &[Rejected]) {
    for (accounts, why) in rejected {
        tracing::warn!(accounts = ?accounts, why = %why, "AWS refused the override CreateOIDCProvider=false");
        for f in failures
            .iter_mut()
            .filter(|f| accounts.contains(&f.account))
        {
            f.advice = format!(
                "{} Reusing it with the override CreateOIDCProvider=false was refused by \
                 AWS: {why}",
                f.advice
            );
        }
    }
}

/// Why an instance is as it is, when no operation result says.
fn instance_reason(i: &StackInstance) -> String {
    format!("stack instance is {:?}/{:?}", i.status, i.detailed)
}

impl<O: OrganizationsApi, S: StackSetApi, C: Clock> Engine<'_, O, S, C> {
    /// Failed attempts per account since the last change the user made: this project's
    /// operations, newest first, back to and including the newest custom-resource run's. A
    /// failure because the account's execution role is denied (a service control policy, or
    /// its setup not finished: [`is_execution_role_denied`]) is no attempt: the account was
    /// not ready, so waiting for it never spends the bound that gives an account up.
    pub(super) async fn failed_attempts(
        &self,
        name: &str,
    ) -> Result<BTreeMap<AccountId, u32>, EngineError> {
        let mut out: BTreeMap<AccountId, u32> = BTreeMap::new();
        let ops = self.stacksets.recent_operations(name, 20).await?;
        for op in ops
            .iter()
            .filter(|o| {
                o.id.starts_with(OP_PREFIX)
                    && matches!(o.action.as_str(), "CREATE" | "UPDATE" | "DELETE")
            })
            .take(10)
        {
            let mut per_op: BTreeSet<AccountId> = BTreeSet::new();
            for r in self.stacksets.operation_results(name, &op.id).await? {
                let not_ready = r
                    .status_reason
                    .as_deref()
                    .is_some_and(is_execution_role_denied);
                if r.status == "FAILED" && !not_ready {
                    per_op.insert(r.account);
                }
            }
            for a in per_op {
                *out.entry(a).or_default() += 1;
            }
            if op.id.starts_with(USER_OP_PREFIX) {
                break;
            }
        }
        Ok(out)
    }

    /// Each (account, region)'s reason from the operations' per-account results, for the
    /// accounts that did not succeed.
    async fn result_reasons(
        &self,
        name: &str,
        ops: &[OpRecord],
    ) -> Result<BTreeMap<(AccountId, String), String>, EngineError> {
        let mut reasons = BTreeMap::new();
        for op in ops {
            for r in self.stacksets.operation_results(name, &op.id).await? {
                if r.status != "SUCCEEDED" {
                    let reason = r.status_reason.unwrap_or_else(|| {
                        format!("{} operation {} {}", op.kind.as_str(), op.id, r.status)
                    });
                    reasons.insert((r.account, r.region), reason);
                }
            }
        }
        Ok(reasons)
    }

    /// Every account that did not end as the scope wants. Desired: an instance CURRENT in
    /// every region. Not desired (and not retained by policy): no instance left, since an
    /// instance that remains means a role Port trusts remains. Every operation's per-account
    /// results are read (deletes too: with a failure tolerance a delete ends SUCCEEDED while
    /// accounts failed).
    pub(super) async fn failures(
        &self,
        name: &str,
        desired: &Desired,
        instances: &[StackInstance],
        ops: &[OpRecord],
        the_plan: &ReconcilePlan,
    ) -> Result<Vec<AccountFailure>, EngineError> {
        let reasons = self.result_reasons(name, ops).await?;
        let reason_of = |a: &AccountId, r: &str| reasons.get(&(a.clone(), r.to_owned())).cloned();
        let have: BTreeMap<(&AccountId, &str), &StackInstance> = instances
            .iter()
            .map(|i| ((&i.account, i.region.as_str()), i))
            .collect();
        let mut out = Vec::new();
        for a in &desired.accounts {
            for r in &desired.regions {
                let reason = match have.get(&(a, r.as_str())) {
                    Some(i) if i.status == InstanceStatus::Current => continue,
                    Some(i) => reason_of(a, r)
                        .or_else(|| i.status_reason.clone())
                        .unwrap_or_else(|| instance_reason(i)),
                    None => {
                        reason_of(a, r).unwrap_or_else(|| "no stack instance was created".into())
                    }
                };
                out.push(AccountFailure::new(a, r, reason));
            }
        }
        let retained: BTreeSet<&AccountId> = the_plan.retained.iter().collect();
        for i in instances {
            let wanted =
                desired.accounts.contains(&i.account) && desired.regions.contains(&i.region);
            if wanted || retained.contains(&i.account) || i.is_busy() {
                continue;
            }
            let why = reason_of(&i.account, &i.region)
                .or_else(|| i.status_reason.clone())
                .unwrap_or_else(|| instance_reason(i));
            let reason = format!(
                "{LOST_ROLE}, but its stack instance remains ({:?}): {why}",
                i.status
            );
            out.push(AccountFailure::new(&i.account, &i.region, reason));
        }
        Ok(out)
    }

    /// After [`Engine::remove_all`]'s operations: every instance left, with its reason.
    pub(super) async fn removal_failures(
        &self,
        stack_set: &str,
        operations: &[OpRecord],
    ) -> Result<Vec<AccountFailure>, EngineError> {
        let left = self.stacksets.instances(stack_set).await?;
        let reasons = self.result_reasons(stack_set, operations).await?;
        Ok(left
            .iter()
            .map(|i| {
                let reason = reasons
                    .get(&(i.account.clone(), i.region.clone()))
                    .cloned()
                    .or_else(|| i.status_reason.clone())
                    .unwrap_or_else(|| "stack instance could not be deleted".into());
                AccountFailure::new(&i.account, &i.region, reason)
            })
            .collect())
    }
}
