//! What should exist ([`Desired`], and the accounts a plan would delete) and how to plan
//! ([`PlanPolicy`]).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::StackInstance;
use crate::core::ids::AccountId;
use crate::core::scope::LeavePolicy;

/// What should exist.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Desired {
    pub accounts: BTreeSet<AccountId>,
    pub regions: BTreeSet<String>,
}

impl Desired {
    /// The accounts whose instances would be deleted: those with an instance that are no
    /// longer desired. None under RETAIN, where leaving accounts keep their instances whatever
    /// their state (so nobody needs to look their state up).
    pub fn leaving(
        &self,
        instances: &[StackInstance],
        on_leave: LeavePolicy,
    ) -> BTreeSet<AccountId> {
        if on_leave == LeavePolicy::Retain {
            return BTreeSet::new();
        }
        instances
            .iter()
            .filter(|i| !self.accounts.contains(&i.account))
            .map(|i| i.account.clone())
            .collect()
    }
}

/// How to plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanPolicy {
    pub on_leave: LeavePolicy,
    /// Retry instances whose last operation failed, at most this many attempts per account
    /// (counted by the caller from earlier operations). 0 disables retries. Instances that
    /// await their account ([`StackInstance::awaits_account`]) are not bounded by it: they are
    /// retried until the account is ready.
    pub max_retry_attempts: u32,
    /// Re-apply the template to drifted instances.
    pub repair_drift: bool,
}

impl Default for PlanPolicy {
    fn default() -> Self {
        Self {
            on_leave: LeavePolicy::Delete,
            max_retry_attempts: 3,
            repair_drift: true,
        }
    }
}
